#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use ssoflow_core::pkce;
use ssoflow_core::secret::{
    AuthorizationCode, ClientSecret, CodeVerifier, DeviceCode, RefreshToken,
};
use ssoflow_core::wire::{
    self, CreateTokenRequest, CreateTokenResponse, DEFAULT_SCOPE, ErrorBody,
    RegisterClientResponse, StartDeviceAuthorizationResponse,
};
use ssoflow_core::{ErrorCode, ServiceError};

use super::*;
use crate::random::USER_CODE_ALPHABET;

mod portal;

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazonaws.sso.oidc/";

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn request(method: &str, uri: &str, body: impl Into<Vec<u8>>) -> http::Request<Vec<u8>> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

fn post(path: &str, body: impl Into<Vec<u8>>) -> http::Request<Vec<u8>> {
    request(
        "POST",
        &format!("https://oidc.us-east-1.amazonaws.com{path}"),
        body,
    )
}

/// Sends and unwraps an immediate answer, checking the headers every reply has.
fn send(service: &mut Service, now: SystemTime, req: &http::Request<Vec<u8>>) -> Response {
    match service.handle(now, req) {
        Reply::Respond(response) => {
            assert_common_headers(&response);
            response
        }
        other => panic!("expected an immediate answer, got {other:?}"),
    }
}

fn assert_common_headers(response: &Response) {
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = response.headers()["x-amzn-RequestId"].to_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert_eq!(id.as_bytes()[14], b'4', "{id}");
}

fn ok<T: DeserializeOwned>(response: &Response) -> T {
    assert_eq!(
        response.status(),
        200,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    assert!(response.headers().get("x-amzn-ErrorType").is_none());
    wire::decode(response.body()).unwrap()
}

/// Checks status, the `x-amzn-ErrorType` shape, the body's `error`, and that
/// the description contains `says`; returns the parsed error.
fn assert_error(response: &Response, code: ErrorCode, status: u16, says: &str) -> ServiceError {
    assert_eq!(response.status().as_u16(), status);
    let header = response.headers()["x-amzn-ErrorType"].to_str().unwrap();
    assert_eq!(header, format!("{}:{NAMESPACE}", code.shape()));
    let body: ErrorBody = wire::decode(response.body()).unwrap();
    assert_eq!(body.error.as_deref(), Some(code.oauth_error()));
    let error = ServiceError::from_response(response).unwrap();
    assert_eq!(error.code, code);
    assert_eq!(error.status, status);
    let description = error.description.clone().unwrap_or_default();
    assert!(description.contains(says), "{description:?} lacks {says:?}");
    error
}

struct Client {
    id: String,
    secret: ClientSecret,
}

fn register_body(name: &str, scopes: &[&str]) -> String {
    let mut body = serde_json::json!({"clientName": name, "clientType": "public"});
    if !scopes.is_empty() {
        body["scopes"] = serde_json::json!(scopes);
    }
    body.to_string()
}

fn register(service: &mut Service, now: SystemTime, scopes: &[&str]) -> Client {
    let response = send(
        service,
        now,
        &post(
            "/client/register",
            register_body("botocore-client-test", scopes),
        ),
    );
    let r: RegisterClientResponse = ok(&response);
    Client {
        id: r.client_id.unwrap(),
        secret: r.client_secret.unwrap(),
    }
}

fn start_body(client: &Client) -> String {
    serde_json::json!({
        "clientId": client.id,
        "clientSecret": client.secret.secret(),
        "startUrl": START_URL,
    })
    .to_string()
}

fn start(
    service: &mut Service,
    now: SystemTime,
    client: &Client,
) -> StartDeviceAuthorizationResponse {
    ok(&send(
        service,
        now,
        &post("/device_authorization", start_body(client)),
    ))
}

fn token_request(body: &CreateTokenRequest) -> http::Request<Vec<u8>> {
    post("/token", wire::encode(body))
}

fn poll(service: &mut Service, now: SystemTime, client: &Client, code: &DeviceCode) -> Response {
    send(
        service,
        now,
        &token_request(&CreateTokenRequest::device_code(
            &client.id,
            &client.secret,
            code,
        )),
    )
}

fn refresh(
    service: &mut Service,
    now: SystemTime,
    client: &Client,
    token: &RefreshToken,
) -> Response {
    send(
        service,
        now,
        &token_request(&CreateTokenRequest::refresh_token(
            &client.id,
            &client.secret,
            token,
        )),
    )
}

/// A registered client (with the default scope) and an approved device code.
fn signed_in_setup(config: ServiceConfig) -> (Service, Client, CreateTokenResponse) {
    let mut service = Service::new(config);
    let client = register(&mut service, t0(), &[DEFAULT_SCOPE]);
    let started = start(&mut service, t0(), &client);
    service
        .approve(started.user_code.as_deref().unwrap(), t0())
        .unwrap();
    let token: CreateTokenResponse = ok(&poll(
        &mut service,
        t0() + secs(1),
        &client,
        started.device_code.as_ref().unwrap(),
    ));
    (service, client, token)
}

// ---------------------------------------------------------------- RegisterClient

#[test]
fn register_client_issues_a_realistic_registration() {
    let mut service = Service::new(ServiceConfig::default());
    let response = send(
        &mut service,
        t0(),
        &post(
            "/client/register",
            // botocore's spaced JSON with every member the model has.
            r#"{"clientName": "botocore-client-my-sso", "clientType": "public", "scopes": ["sso:account:access"], "grantTypes": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"], "redirectUris": ["http://127.0.0.1/oauth/callback"], "issuerUrl": "https://my-sso-portal.awsapps.com/start"}"#,
        ),
    );
    let r: RegisterClientResponse = ok(&response);
    assert_eq!(r.client_id.as_ref().unwrap().len(), 34);
    assert!(r.client_secret.unwrap().secret().len() > 1000);
    assert_eq!(r.client_id_issued_at, Some(1_767_225_600));
    assert_eq!(
        r.client_secret_expires_at,
        Some(1_767_225_600 + 90 * 24 * 3600)
    );
}

#[test]
fn register_client_refuses_a_non_public_client_type() {
    let mut service = Service::new(ServiceConfig::default());
    let response = send(
        &mut service,
        t0(),
        &post(
            "/client/register",
            r#"{"clientName":"n","clientType":"confidential"}"#,
        ),
    );
    assert_error(
        &response,
        ErrorCode::InvalidClientMetadata,
        400,
        "\"confidential\"",
    );
}

#[test]
fn register_client_refuses_unknown_grant_types() {
    let mut service = Service::new(ServiceConfig::default());
    let response = send(
        &mut service,
        t0(),
        &post(
            "/client/register",
            r#"{"clientName":"n","clientType":"public","grantTypes":["refresh_token","password"]}"#,
        ),
    );
    assert_error(
        &response,
        ErrorCode::UnsupportedGrantType,
        400,
        "\"password\"",
    );
}

#[test]
fn register_client_names_a_missing_member_or_a_bad_body() {
    let mut service = Service::new(ServiceConfig::default());
    for (body, says) in [
        (r#"{"clientType":"public"}"#, "clientName"),
        (r#"{"clientName":"n"}"#, "clientType"),
        (r#"{"clientName":5,"clientType":"public"}"#, "invalid type"),
        ("not json", "expected a JSON object"),
        ("", "expected a JSON object"),
        ("[]", "expected a JSON object"),
        ("{", "EOF"),
    ] {
        let response = send(&mut service, t0(), &post("/client/register", body));
        let error = assert_error(&response, ErrorCode::InvalidRequest, 400, says);
        assert!(error.description.unwrap().contains("RegisterClient"));
    }
}

#[test]
fn a_64_kib_client_name_is_accepted() {
    let mut service = Service::new(ServiceConfig::default());
    let name = "n".repeat(64 * 1024);
    let response = send(
        &mut service,
        t0(),
        &post("/client/register", register_body(&name, &[])),
    );
    let r: RegisterClientResponse = ok(&response);
    let client = Client {
        id: r.client_id.unwrap(),
        secret: r.client_secret.unwrap(),
    };
    start(&mut service, t0(), &client);
    assert_eq!(service.pending(t0())[0].client_name, name);
}

// ------------------------------------------------------ StartDeviceAuthorization

#[test]
fn start_device_authorization_returns_every_member_the_cli_reads() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let r = start(&mut service, t0(), &client);
    assert_eq!(r.device_code.unwrap().secret().len(), 86);
    let user_code = r.user_code.unwrap();
    assert_eq!(
        r.verification_uri.as_deref(),
        Some("https://device.sso.us-east-1.amazonaws.com/")
    );
    assert_eq!(
        r.verification_uri_complete.unwrap(),
        format!("https://device.sso.us-east-1.amazonaws.com/?user_code={user_code}")
    );
    assert_eq!(r.expires_in, Some(600));
    assert_eq!(r.interval, Some(1));
}

#[test]
fn user_codes_are_two_dashed_halves_over_the_rfc_alphabet() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let mut codes = std::collections::HashSet::new();
    for _ in 0..200 {
        let code = start(&mut service, t0(), &client).user_code.unwrap();
        let (left, right) = code.split_once('-').unwrap();
        assert_eq!((left.len(), right.len()), (4, 4), "{code}");
        assert!(
            left.bytes()
                .chain(right.bytes())
                .all(|b| USER_CODE_ALPHABET.contains(&b)),
            "{code}"
        );
        codes.insert(code);
    }
    assert_eq!(codes.len(), 200);
}

#[test]
fn start_refuses_unknown_wrong_and_expired_clients_with_401() {
    let config = ServiceConfig {
        registration_ttl: secs(100),
        ..ServiceConfig::default()
    };
    let mut service = Service::new(config);
    let client = register(&mut service, t0(), &[]);
    let unknown = Client {
        id: "nope".into(),
        secret: client.secret.clone(),
    };
    let wrong_secret = Client {
        id: client.id.clone(),
        secret: ClientSecret::new("guess"),
    };
    for (who, now, says) in [
        (&unknown, t0(), "Unknown client id"),
        (&wrong_secret, t0(), "Invalid client secret"),
        // The registration's own lifetime runs out.
        (&client, t0() + secs(100), "expired"),
    ] {
        let response = send(
            &mut service,
            now,
            &post("/device_authorization", start_body(who)),
        );
        assert_error(&response, ErrorCode::InvalidClient, 401, says);
    }
    // expire_registration makes a live registration fail at once.
    let client = register(&mut service, t0(), &[]);
    assert!(service.expire_registration(&client.id));
    assert!(!service.expire_registration("nope"));
    let response = send(
        &mut service,
        t0(),
        &post("/device_authorization", start_body(&client)),
    );
    assert_error(&response, ErrorCode::InvalidClient, 401, "expired");
}

#[test]
fn start_names_a_missing_member() {
    let mut service = Service::new(ServiceConfig::default());
    let response = send(
        &mut service,
        t0(),
        &post(
            "/device_authorization",
            r#"{"clientId":"c","clientSecret":"s"}"#,
        ),
    );
    assert_error(&response, ErrorCode::InvalidRequest, 400, "startUrl");
}

#[test]
fn verification_uri_with_a_query_gets_an_ampersand() {
    let config = ServiceConfig {
        verification_uri: "https://x.awsapps.com/start/?tab=device".into(),
        ..ServiceConfig::default()
    };
    let mut service = Service::new(config);
    let client = register(&mut service, t0(), &[]);
    let r = start(&mut service, t0(), &client);
    let complete = r.verification_uri_complete.unwrap();
    assert!(
        complete.starts_with("https://x.awsapps.com/start/?tab=device&user_code="),
        "{complete}"
    );
}

#[test]
fn a_sub_second_interval_is_announced_rounded_up() {
    let config = ServiceConfig {
        interval: Duration::from_millis(1500),
        ..ServiceConfig::default()
    };
    let mut service = Service::new(config);
    let client = register(&mut service, t0(), &[]);
    assert_eq!(start(&mut service, t0(), &client).interval, Some(2));
}

// ------------------------------------------------------- CreateToken: device code

#[test]
fn device_code_grant_from_pending_to_token_to_spent() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[DEFAULT_SCOPE]);
    let started = start(&mut service, t0(), &client);
    let code = started.device_code.unwrap();

    let response = poll(&mut service, t0() + secs(1), &client, &code);
    assert_error(
        &response,
        ErrorCode::AuthorizationPending,
        400,
        "Authorization is still pending",
    );
    // Byte for byte the real service's body (§9.1).
    assert_eq!(
        response.body(),
        br#"{"error":"authorization_pending","error_description":"Authorization is still pending"}"#
    );

    service
        .approve(started.user_code.as_deref().unwrap(), t0() + secs(1))
        .unwrap();
    let response = poll(&mut service, t0() + secs(2), &client, &code);
    let token: CreateTokenResponse = ok(&response);
    assert!(token.access_token.unwrap().secret().starts_with("aoa"));
    assert!(token.refresh_token.unwrap().secret().starts_with("aor"));
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    assert_eq!(token.expires_in, Some(3600));

    let response = poll(&mut service, t0() + secs(3), &client, &code);
    assert_error(&response, ErrorCode::InvalidGrant, 400, "already been used");
}

#[test]
fn device_code_grant_refuses_invalid_clients_with_401() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let code = start(&mut service, t0(), &client).device_code.unwrap();
    let wrong = Client {
        id: client.id.clone(),
        secret: ClientSecret::new("wrong"),
    };
    let response = poll(&mut service, t0() + secs(1), &wrong, &code);
    assert_error(&response, ErrorCode::InvalidClient, 401, "secret");
    service.expire_registration(&client.id);
    let response = poll(&mut service, t0() + secs(2), &client, &code);
    assert_error(&response, ErrorCode::InvalidClient, 401, "expired");
}

#[test]
fn unknown_or_foreign_device_codes_are_invalid_grants() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let other = register(&mut service, t0(), &[]);
    let code = start(&mut service, t0(), &client).device_code.unwrap();
    let response = poll(&mut service, t0(), &client, &DeviceCode::new("made-up"));
    assert_error(
        &response,
        ErrorCode::InvalidGrant,
        400,
        "unknown device code",
    );
    let response = poll(&mut service, t0(), &other, &code);
    assert_error(&response, ErrorCode::InvalidGrant, 400, "another client");
}

#[test]
fn a_device_code_grant_without_a_device_code_is_an_invalid_request() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let mut body =
        CreateTokenRequest::device_code(&client.id, &client.secret, &DeviceCode::new("x"));
    body.device_code = None;
    let response = send(&mut service, t0(), &token_request(&body));
    assert_error(&response, ErrorCode::InvalidRequest, 400, "deviceCode");
}

#[test]
fn an_expired_device_code_gets_expired_token() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let started = start(&mut service, t0(), &client);
    let code = started.device_code.unwrap();
    let response = poll(&mut service, t0() + secs(600), &client, &code);
    assert_error(&response, ErrorCode::ExpiredToken, 400, "expired");
    // Even an approval cannot revive it.
    assert_eq!(
        service.approve(started.user_code.as_deref().unwrap(), t0() + secs(600)),
        Err(ApprovalError::Expired)
    );
    // Still answered `expired_token` long after, even when new codes are issued.
    start(&mut service, t0() + secs(3600), &client);
    let response = poll(&mut service, t0() + secs(3600), &client, &code);
    assert_error(&response, ErrorCode::ExpiredToken, 400, "expired");
}

#[test]
fn codes_expired_for_a_day_are_swept_out_at_most_once_a_minute() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let code = start(&mut service, t0(), &client).device_code.unwrap();
    let day = secs(24 * 3600);
    // This start sweeps (the first one did too), but the code is not a day past expiry yet.
    let just_before = t0() + secs(600) + day - secs(30);
    start(&mut service, just_before, &client);
    // 40 s later it is, but a minute has not passed since the last sweep.
    start(&mut service, just_before + secs(40), &client);
    let response = poll(&mut service, just_before + secs(40), &client, &code);
    assert_error(&response, ErrorCode::ExpiredToken, 400, "expired");
    start(&mut service, just_before + secs(61), &client);
    let response = poll(&mut service, just_before + secs(61), &client, &code);
    assert_error(
        &response,
        ErrorCode::InvalidGrant,
        400,
        "unknown device code",
    );
}

#[test]
fn a_denied_device_code_gets_access_denied() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let started = start(&mut service, t0(), &client);
    service
        .deny(started.user_code.as_deref().unwrap(), t0())
        .unwrap();
    let code = started.device_code.unwrap();
    for n in 1..=2 {
        let response = poll(&mut service, t0() + secs(n), &client, &code);
        assert_error(&response, ErrorCode::AccessDenied, 400, "denied");
    }
}

#[test]
fn refresh_tokens_only_for_scoped_registrations_and_when_enabled() {
    // No scopes: a legacy, non-refreshable registration.
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let started = start(&mut service, t0(), &client);
    service
        .approve(started.user_code.as_deref().unwrap(), t0())
        .unwrap();
    let response = poll(&mut service, t0(), &client, &started.device_code.unwrap());
    let token: CreateTokenResponse = ok(&response);
    assert!(token.refresh_token.is_none());
    assert!(token.access_token.is_some());

    let (_, _, token) = signed_in_setup(ServiceConfig {
        issue_refresh_tokens: false,
        ..ServiceConfig::default()
    });
    assert!(token.refresh_token.is_none());
}

// ------------------------------------------------------------------- slow_down

/// Polls at the given offsets (seconds after t0) and returns the error codes.
fn poll_at(config: ServiceConfig, offsets: &[u64]) -> Vec<ErrorCode> {
    let mut service = Service::new(config);
    let client = register(&mut service, t0(), &[]);
    let code = start(&mut service, t0(), &client).device_code.unwrap();
    offsets
        .iter()
        .map(|&at| {
            let response = poll(&mut service, t0() + secs(at), &client, &code);
            ServiceError::from_response(&response).unwrap().code
        })
        .collect()
}

#[test]
fn the_first_back_to_back_poll_is_tolerated_then_slow_down_adds_five_seconds() {
    use ErrorCode::{AuthorizationPending as Pending, SlowDown};
    // Like the AWS CLI: two polls back to back at 0 (the second is tolerated),
    // then one per interval. The next early poll (the second one at 2) gets
    // slow_down and the interval becomes 6 s, so a poll 5 s later is early
    // again (now 11 s), and polls 11 s apart are fine.
    let codes = poll_at(ServiceConfig::default(), &[0, 0, 1, 2, 2, 7, 18, 29]);
    assert_eq!(
        codes,
        [
            Pending, Pending, Pending, Pending, SlowDown, SlowDown, Pending, Pending
        ]
    );
}

#[test]
fn without_tolerance_the_first_early_poll_gets_slow_down() {
    use ErrorCode::{AuthorizationPending as Pending, SlowDown};
    let config = ServiceConfig {
        early_poll_tolerance: 0,
        ..ServiceConfig::default()
    };
    let codes = poll_at(config, &[0, 0, 6, 7, 18]);
    assert_eq!(codes, [Pending, SlowDown, Pending, SlowDown, Pending]);
    let response = {
        let mut service = Service::new(ServiceConfig {
            early_poll_tolerance: 0,
            ..ServiceConfig::default()
        });
        let client = register(&mut service, t0(), &[]);
        let code = start(&mut service, t0(), &client).device_code.unwrap();
        poll(&mut service, t0(), &client, &code);
        poll(&mut service, t0(), &client, &code)
    };
    assert_error(&response, ErrorCode::SlowDown, 400, "6 seconds");
}

#[test]
fn a_larger_tolerance_is_used_up_by_early_polls_only() {
    use ErrorCode::{AuthorizationPending as Pending, SlowDown};
    let config = ServiceConfig {
        early_poll_tolerance: 2,
        interval: secs(5),
        ..ServiceConfig::default()
    };
    // 0 first; 1 early (tolerated); 6 on time; 7 early (tolerated); 8 early → slow_down.
    let codes = poll_at(config, &[0, 1, 6, 7, 8]);
    assert_eq!(codes, [Pending, Pending, Pending, Pending, SlowDown]);
}

// ---------------------------------------------------------------- auto-approve

#[test]
fn auto_approve_after_polls_hands_out_the_token_on_the_nth_poll() {
    let mut service = Service::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterPolls(3)),
        ..ServiceConfig::default()
    });
    let client = register(&mut service, t0(), &[]);
    let code = start(&mut service, t0(), &client).device_code.unwrap();
    for n in 1..=2 {
        let response = poll(&mut service, t0() + secs(n), &client, &code);
        assert_error(&response, ErrorCode::AuthorizationPending, 400, "pending");
    }
    let _: CreateTokenResponse = ok(&poll(&mut service, t0() + secs(3), &client, &code));
}

#[test]
fn auto_approve_after_a_delay() {
    let mut service = Service::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterDelay(secs(10))),
        ..ServiceConfig::default()
    });
    let client = register(&mut service, t0(), &[]);
    let code = start(&mut service, t0(), &client).device_code.unwrap();
    let response = poll(&mut service, t0() + secs(9), &client, &code);
    assert_error(&response, ErrorCode::AuthorizationPending, 400, "pending");
    let _: CreateTokenResponse = ok(&poll(&mut service, t0() + secs(10), &client, &code));
}

// --------------------------------------------------------- CreateToken: refresh

#[test]
fn refresh_with_rotation_replaces_the_refresh_token() {
    let (mut service, client, token) = signed_in_setup(ServiceConfig::default());
    let first = token.refresh_token.unwrap();
    let response = refresh(&mut service, t0() + secs(10), &client, &first);
    let renewed: CreateTokenResponse = ok(&response);
    let second = renewed.refresh_token.unwrap();
    assert_ne!(second, first);
    assert_eq!(renewed.token_type.as_deref(), Some("Bearer"));
    assert_eq!(renewed.expires_in, Some(3600));
    // The old one is revoked, the new one works.
    let response = refresh(&mut service, t0() + secs(11), &client, &first);
    assert_error(&response, ErrorCode::InvalidGrant, 400, "revoked");
    let _: CreateTokenResponse = ok(&refresh(&mut service, t0() + secs(12), &client, &second));
}

#[test]
fn refresh_without_rotation_omits_the_member_and_keeps_the_old_token() {
    let (mut service, client, token) = signed_in_setup(ServiceConfig {
        rotate_refresh_tokens: false,
        ..ServiceConfig::default()
    });
    let refresh_token = token.refresh_token.unwrap();
    for n in 0..2 {
        let response = refresh(&mut service, t0() + secs(10 + n), &client, &refresh_token);
        let renewed: CreateTokenResponse = ok(&response);
        assert!(renewed.access_token.is_some());
        let raw = String::from_utf8(response.body().clone()).unwrap();
        assert!(!raw.contains("refreshToken"), "{raw}");
    }
}

#[test]
fn a_revoked_or_foreign_refresh_token_is_an_invalid_grant() {
    let (mut service, client, token) = signed_in_setup(ServiceConfig::default());
    let refresh_token = token.refresh_token.unwrap();
    let other = register(&mut service, t0(), &[DEFAULT_SCOPE]);
    let response = refresh(&mut service, t0(), &other, &refresh_token);
    assert_error(&response, ErrorCode::InvalidGrant, 400, "another client");
    assert!(service.revoke_refresh_token(refresh_token.secret()));
    assert!(!service.revoke_refresh_token(refresh_token.secret()));
    let response = refresh(&mut service, t0(), &client, &refresh_token);
    assert_error(
        &response,
        ErrorCode::InvalidGrant,
        400,
        "unknown or revoked",
    );
}

#[test]
fn refresh_refuses_invalid_clients_and_missing_tokens() {
    let (mut service, client, token) = signed_in_setup(ServiceConfig::default());
    let refresh_token = token.refresh_token.unwrap();
    let mut body = CreateTokenRequest::refresh_token(&client.id, &client.secret, &refresh_token);
    body.refresh_token = None;
    let response = send(&mut service, t0(), &token_request(&body));
    assert_error(&response, ErrorCode::InvalidRequest, 400, "refreshToken");
    service.expire_registration(&client.id);
    let response = refresh(&mut service, t0(), &client, &refresh_token);
    assert_error(&response, ErrorCode::InvalidClient, 401, "expired");
}

// ------------------------------------------------------- CreateToken: other grants

#[test]
fn other_grants_are_refused() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let mut body =
        CreateTokenRequest::device_code(&client.id, &client.secret, &DeviceCode::new("x"));
    body.grant_type = "urn:ietf:params:oauth:grant-type:device-code".into();
    let response = send(&mut service, t0(), &token_request(&body));
    assert_error(
        &response,
        ErrorCode::UnsupportedGrantType,
        400,
        "with an underscore",
    );
    body.grant_type = "password".into();
    let response = send(&mut service, t0(), &token_request(&body));
    assert_error(
        &response,
        ErrorCode::UnsupportedGrantType,
        400,
        "\"password\"",
    );
    body.grant_type = "authorization_code".into();
    let response = send(&mut service, t0(), &token_request(&body));
    assert_error(
        &response,
        ErrorCode::InvalidRequest,
        400,
        "code is required for the authorization_code grant",
    );
}

#[test]
fn create_token_names_a_missing_member() {
    let mut service = Service::new(ServiceConfig::default());
    let response = send(
        &mut service,
        t0(),
        &post("/token", r#"{"clientId":"c","clientSecret":"s"}"#),
    );
    assert_error(&response, ErrorCode::InvalidRequest, 400, "grantType");
}

// --------------------------------------------------------------------- routing

#[test]
fn any_path_prefix_is_accepted() {
    let mut service = Service::new(ServiceConfig::default());
    let response = send(
        &mut service,
        t0(),
        &request(
            "POST",
            "http://127.0.0.1:8080/prefix/client/register",
            register_body("n", &[]),
        ),
    );
    let _: RegisterClientResponse = ok(&response);
}

#[test]
fn unknown_paths_get_404_and_other_methods_405() {
    let mut service = Service::new(ServiceConfig::default());
    let unknown = ErrorCode::Other("UnknownOperationException".into());
    for path in [
        "/",
        "/authorize",
        "/tokens",
        "/token/extra",
        "/client/registerx",
    ] {
        let response = send(&mut service, t0(), &post(path, "{}"));
        assert_error(&response, unknown.clone(), 404, path);
    }
    let not_allowed = ErrorCode::Other("MethodNotAllowedException".into());
    for method in ["GET", "PUT", "DELETE"] {
        let response = send(
            &mut service,
            t0(),
            &request(method, "http://h/device_authorization", ""),
        );
        assert_error(&response, not_allowed.clone(), 405, method);
        assert_eq!(response.headers()["allow"], "POST");
    }
}

#[test]
fn create_token_with_iam_is_refused() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let body = CreateTokenRequest::device_code(&client.id, &client.secret, &DeviceCode::new("x"));
    for uri in ["http://h/token?aws_iam=t", "http://h/token?x=1&aws_iam=t"] {
        let response = send(
            &mut service,
            t0(),
            &request("POST", uri, wire::encode(&body)),
        );
        assert_error(
            &response,
            ErrorCode::InvalidRequest,
            400,
            "CreateTokenWithIAM is not supported by this emulator",
        );
    }
    // Any other query is ignored.
    let response = send(
        &mut service,
        t0(),
        &request("POST", "http://h/token?aws_iam=f", wire::encode(&body)),
    );
    assert_error(
        &response,
        ErrorCode::InvalidGrant,
        400,
        "unknown device code",
    );
}

// -------------------------------------------------------------- approve / deny

#[test]
fn approval_matches_user_codes_loosely() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(start(&mut service, t0(), &client).user_code.unwrap());
    }
    let without_dash = codes[0].replace('-', "");
    let lower = codes[1].to_lowercase();
    let spaced = format!(" {} ", codes[2].replace('-', " "));
    let lower_no_dash = codes[3].replace('-', "").to_lowercase();
    service.approve(&without_dash, t0()).unwrap();
    service.approve(&lower, t0()).unwrap();
    service.deny(&spaced, t0()).unwrap();
    service.deny(&lower_no_dash, t0()).unwrap();
    assert!(service.pending(t0()).is_empty());
    assert_eq!(
        service.approve("BCDF-GHJK", t0()),
        Err(ApprovalError::UnknownCode)
    );
    assert_eq!(service.approve("", t0()), Err(ApprovalError::UnknownCode));
}

#[test]
fn a_decision_is_final_but_repeating_it_is_harmless() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[]);
    let started = start(&mut service, t0(), &client);
    let user_code = started.user_code.unwrap();
    service.approve(&user_code, t0()).unwrap();
    service.approve(&user_code, t0()).unwrap();
    assert_eq!(
        service.deny(&user_code, t0()),
        Err(ApprovalError::AlreadyUsed)
    );
    let _: CreateTokenResponse = ok(&poll(
        &mut service,
        t0(),
        &client,
        &started.device_code.unwrap(),
    ));
    assert_eq!(
        service.approve(&user_code, t0()),
        Err(ApprovalError::AlreadyUsed)
    );

    let started = start(&mut service, t0(), &client);
    let user_code = started.user_code.unwrap();
    service.deny(&user_code, t0()).unwrap();
    service.deny(&user_code, t0()).unwrap();
    assert_eq!(
        service.approve(&user_code, t0()),
        Err(ApprovalError::AlreadyUsed)
    );
    assert_eq!(
        ApprovalError::AlreadyUsed.to_string(),
        "this user code has already been used"
    );
}

#[test]
fn pending_lists_undecided_live_codes_with_their_registration() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register(&mut service, t0(), &[DEFAULT_SCOPE]);
    let first = start(&mut service, t0(), &client).user_code.unwrap();
    let second = start(&mut service, t0() + secs(10), &client)
        .user_code
        .unwrap();
    let decided = start(&mut service, t0(), &client).user_code.unwrap();
    service.approve(&decided, t0()).unwrap();
    let pending = service.pending(t0() + secs(20));
    assert_eq!(
        pending,
        [
            PendingInfo {
                user_code: first,
                client_name: "botocore-client-test".into(),
                scopes: vec![DEFAULT_SCOPE.into()],
                expires_at: t0() + secs(600),
            },
            PendingInfo {
                user_code: second.clone(),
                client_name: "botocore-client-test".into(),
                scopes: vec![DEFAULT_SCOPE.into()],
                expires_at: t0() + secs(610),
            },
        ]
    );
    let pending = service.pending(t0() + secs(600));
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].user_code, second);
}

// ---------------------------------------------------------------------- faults

#[test]
fn a_status_fault_is_an_internal_server_error_with_that_status() {
    let mut service = Service::new(ServiceConfig::default());
    service.inject_faults(Fault::Status(503), 1);
    service.inject_faults(Fault::Status(500), 1);
    let response = send(
        &mut service,
        t0(),
        &post("/client/register", register_body("n", &[])),
    );
    assert_error(
        &response,
        ErrorCode::InternalServer,
        503,
        "injected HTTP 503",
    );
    let response = send(
        &mut service,
        t0(),
        &post("/client/register", register_body("n", &[])),
    );
    assert_error(
        &response,
        ErrorCode::InternalServer,
        500,
        "injected HTTP 500",
    );
    // The queue is empty again; faulted requests registered nothing.
    register(&mut service, t0(), &[]);
    assert_eq!(service.state.registrations.len(), 1);
}

#[test]
fn an_error_fault_is_that_code_with_its_own_status() {
    let mut service = Service::new(ServiceConfig::default());
    service.inject_faults(Fault::Error(ErrorCode::SlowDown), 1);
    service.inject_faults(Fault::Error(ErrorCode::InvalidClient), 1);
    let response = send(
        &mut service,
        t0(),
        &post("/client/register", register_body("n", &[])),
    );
    assert_error(&response, ErrorCode::SlowDown, 400, "injected");
    let response = send(&mut service, t0(), &post("/token", "{}"));
    assert_error(&response, ErrorCode::InvalidClient, 401, "injected");
    assert!(service.registrations().is_empty());
}

#[test]
fn registrations_lists_every_client_id() {
    let mut service = Service::new(ServiceConfig::default());
    let a = register(&mut service, t0(), &[]);
    let b = register(&mut service, t0(), &[]);
    service.expire_registration(&a.id);
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(service.registrations(), expected);
}

#[test]
fn a_malformed_body_fault_is_a_truncated_200() {
    let mut service = Service::new(ServiceConfig::default());
    service.inject_faults(Fault::MalformedBody, 1);
    let response = send(&mut service, t0(), &post("/token", "{}"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), br#"{"accessTok"#);
    assert!(wire::decode::<CreateTokenResponse>(response.body()).is_err());
}

#[test]
fn a_drop_fault_answers_nothing_and_changes_nothing() {
    let mut service = Service::new(ServiceConfig::default());
    service.inject_faults(Fault::DropConnection, 2);
    for _ in 0..2 {
        let reply = service.handle(t0(), &post("/client/register", register_body("n", &[])));
        assert!(matches!(reply, Reply::Drop), "{reply:?}");
    }
    assert!(service.state.registrations.is_empty());
    register(&mut service, t0(), &[]);
}

#[test]
fn a_delay_fault_answers_normally_later() {
    let mut service = Service::new(ServiceConfig::default());
    service.inject_faults(Fault::Delay(secs(45)), 1);
    let reply = service.handle(t0(), &post("/client/register", register_body("n", &[])));
    let Reply::Delayed(delay, response) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(delay, secs(45));
    assert_common_headers(&response);
    let _: RegisterClientResponse = ok(&response);
    assert_eq!(service.state.registrations.len(), 1);
}

#[test]
fn counters_count_every_request_faulted_or_not() {
    let mut service = Service::new(ServiceConfig::default());
    service.inject_faults(Fault::DropConnection, 1);
    service.handle(t0(), &post("/client/register", "{}"));
    let client = register(&mut service, t0(), &[]);
    start(&mut service, t0(), &client);
    for _ in 0..3 {
        send(&mut service, t0(), &post("/token", "{}"));
    }
    send(&mut service, t0(), &post("/token?aws_iam=t", "{}"));
    send(&mut service, t0(), &post("/nope", "{}"));
    send(&mut service, t0(), &request("GET", "http://h/token", ""));
    assert_eq!(
        service.counters(),
        Counters {
            register_client: 2,
            start_device_authorization: 1,
            create_token: 3,
            other: 3,
            ..Counters::default()
        }
    );
}

// ---------------------------------------------------------------------- misc

#[test]
fn a_restored_snapshot_keeps_registrations_codes_and_refresh_tokens() {
    let (service, client, token) = signed_in_setup(ServiceConfig::default());
    let mut service = service;
    let started = start(&mut service, t0(), &client);
    let json = serde_json::to_string(&service.snapshot()).unwrap();
    let snapshot: ServiceSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(snapshot.version(), 3);

    let mut restored = Service::restore(ServiceConfig::default(), snapshot).unwrap();
    assert_eq!(restored.registrations(), service.registrations());
    let user_code = started.user_code.unwrap();
    assert_eq!(
        restored.lookup(&user_code, t0()).unwrap().user_code,
        user_code
    );
    let refreshed: CreateTokenResponse = ok(&refresh(
        &mut restored,
        t0(),
        &client,
        &token.refresh_token.unwrap(),
    ));
    assert!(refreshed.access_token.is_some());
    // Counters are not state: the restored service starts from zero.
    assert_eq!(restored.counters().create_token, 1);
}

#[test]
fn a_snapshot_of_another_format_is_refused() {
    let service = Service::new(ServiceConfig::default());
    let mut json = serde_json::to_value(service.snapshot()).unwrap();
    json["version"] = serde_json::json!(4);
    let snapshot: ServiceSnapshot = serde_json::from_value(json).unwrap();
    let error = Service::restore(ServiceConfig::default(), snapshot).unwrap_err();
    assert_eq!(error, UnsupportedSnapshot { found: 4 });
    assert!(error.to_string().contains("format 4"), "{error}");
}

#[test]
fn lookup_tells_pending_from_unknown_expired_and_used() {
    let config = ServiceConfig::default();
    let ttl = config.device_code_ttl;
    let mut service = Service::new(config);
    let client = register(&mut service, t0(), &["sso:account:access"]);
    let started = start(&mut service, t0(), &client);
    let code = started.device_code.unwrap();
    let user_code = started.user_code.unwrap();

    let info = service.lookup(&user_code.to_lowercase(), t0()).unwrap();
    assert_eq!(info.client_name, "botocore-client-test");
    assert_eq!(info.scopes, ["sso:account:access"]);
    assert_eq!(
        service.lookup("BBBB-BBBB", t0()),
        Err(ApprovalError::UnknownCode)
    );
    assert_eq!(
        service.lookup(&user_code, t0() + ttl),
        Err(ApprovalError::Expired)
    );

    service.approve(&user_code, t0()).unwrap();
    assert_eq!(
        service.lookup(&user_code, t0()),
        Err(ApprovalError::AlreadyUsed)
    );
    ok::<CreateTokenResponse>(&poll(&mut service, t0() + secs(1), &client, &code));
    assert_eq!(
        service.lookup(&user_code, t0()),
        Err(ApprovalError::AlreadyUsed)
    );
}

#[test]
fn a_body_of_another_content_type_gets_415() {
    let mut service = Service::new(ServiceConfig::default());
    let body = register_body("c", &[]);
    let mut wrong = post("/client/register", body.clone());
    wrong.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let response = send(&mut service, t0(), &wrong);
    let error = assert_error(
        &response,
        ErrorCode::Other("UnsupportedMediaTypeException".into()),
        415,
        "application/json",
    );
    assert_eq!(error.code.shape(), "UnsupportedMediaTypeException");

    // Parameters and case do not matter; a missing header is let through.
    let mut charset = post("/client/register", body.clone());
    charset.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("Application/JSON; charset=utf-8"),
    );
    ok::<RegisterClientResponse>(&send(&mut service, t0(), &charset));
    let mut bare = post("/client/register", body);
    bare.headers_mut().remove("content-type");
    ok::<RegisterClientResponse>(&send(&mut service, t0(), &bare));
}

#[test]
fn a_refused_request_gets_the_error_format_and_counts_as_other() {
    let mut service = Service::new(ServiceConfig::default());
    let error = ServiceError {
        status: 413,
        ..ServiceError::new(
            ErrorCode::Other("RequestEntityTooLargeException".into()),
            "too big",
        )
    };
    let response = service.refuse(&error);
    assert_common_headers(&response);
    assert_eq!(ServiceError::from_response(&response), Some(error));
    assert_eq!(service.counters().other, 1);
}

#[test]
fn debug_shows_no_secrets() {
    let (service, client, token) = signed_in_setup(ServiceConfig::default());
    let debug = format!("{service:?}");
    assert!(!debug.contains(client.secret.secret()));
    assert!(!debug.contains(token.refresh_token.unwrap().secret()));
    assert!(!debug.contains(&client.id));
}

#[test]
fn user_code_normalisation() {
    assert_eq!(normalize_user_code(" pmpj-vzcj\t"), "PMPJVZCJ");
    assert_eq!(normalize_user_code("PMPJ VZCJ"), "PMPJVZCJ");
    assert_eq!(normalize_user_code("PMPJVZCJ"), "PMPJVZCJ");
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic_and_get_a_parsable_4xx(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        path in prop::sample::select(vec![
            "/client/register", "/device_authorization", "/token", "/token?aws_iam=t", "/other",
        ]),
    ) {
        let mut service = Service::new(ServiceConfig::default());
        let response = send(&mut service, t0(), &post(path, body));
        prop_assert!(response.status().is_client_error(), "{}", response.status());
        let error = ServiceError::from_response(&response).unwrap();
        prop_assert!(!error.code.shape().is_empty());
        let parsed: ErrorBody = wire::decode(response.body()).unwrap();
        prop_assert!(parsed.error.is_some() && parsed.error_description.is_some());
    }

    #[test]
    fn json_objects_with_wrong_members_get_a_parsable_4xx(
        members in proptest::collection::btree_map(
            prop::sample::select(vec![
                "clientName", "clientType", "clientId", "clientSecret", "startUrl",
                "grantType", "deviceCode", "refreshToken", "scopes", "x",
            ]),
            prop_oneof![
                Just(serde_json::Value::Null),
                any::<i64>().prop_map(serde_json::Value::from),
                "[a-z]{0,8}".prop_map(serde_json::Value::from),
                Just(serde_json::json!(["a"])),
            ],
            0..6,
        ),
        path in prop::sample::select(vec!["/client/register", "/device_authorization", "/token"]),
    ) {
        let mut service = Service::new(ServiceConfig::default());
        let body = serde_json::to_vec(&members).unwrap();
        let response = send(&mut service, t0(), &post(path, body));
        // A random object can be a valid RegisterClient input; anything else is a 4xx.
        if response.status().is_success() {
            prop_assert_eq!(path, "/client/register");
        } else {
            prop_assert!(response.status().is_client_error());
            let parsed: ErrorBody = wire::decode(response.body()).unwrap();
            prop_assert!(parsed.error.is_some());
        }
    }
}

#[test]
fn a_registration_limited_to_other_grants_is_an_unauthorized_client() {
    let mut service = Service::new(ServiceConfig::default());
    let body = r#"{"clientName":"pkce-only","clientType":"public","grantTypes":["authorization_code","refresh_token"],"redirectUris":["http://127.0.0.1/oauth/callback"]}"#;
    let r: RegisterClientResponse = ok(&send(&mut service, t0(), &post("/client/register", body)));
    let client = Client {
        id: r.client_id.unwrap(),
        secret: r.client_secret.unwrap(),
    };
    let response = send(
        &mut service,
        t0(),
        &post("/device_authorization", start_body(&client)),
    );
    assert_error(&response, ErrorCode::UnauthorizedClient, 400, "device_code");
    // A registration that names no grants may use every grant.
    let open = register(&mut service, t0(), &[]);
    let started = start(&mut service, t0(), &open);
    let pending = poll(
        &mut service,
        t0() + secs(1),
        &open,
        started.device_code.as_ref().unwrap(),
    );
    assert_error(&pending, ErrorCode::AuthorizationPending, 400, "pending");
}

// ------------------------------------------- the authorization-code grant (PKCE)

/// RFC 7636 Appendix B: this verifier hashes to this challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const STATE: &str = "8f14e45f-ceea-467f-a0e8-5b1f7c2a9e10";
/// The redirect URI a listener on port 49152 uses; registered without the port.
const CALLBACK: &str = "http://127.0.0.1:49152/oauth/callback";

/// Registers as the AWS CLI does for the PKCE flow (`wire-protocol.md` §3).
fn register_pkce(service: &mut Service, now: SystemTime, scopes: &[&str]) -> Client {
    let body = serde_json::json!({
        "clientName": "botocore-client-my-sso",
        "clientType": "public",
        "grantTypes": ["authorization_code", "refresh_token"],
        "redirectUris": [pkce::REGISTERED_REDIRECT_URI],
        "issuerUrl": START_URL,
        "scopes": scopes,
    });
    let r: RegisterClientResponse = ok(&send(
        service,
        now,
        &post("/client/register", body.to_string()),
    ));
    Client {
        id: r.client_id.unwrap(),
        secret: r.client_secret.unwrap(),
    }
}

/// The `/authorize` query exactly as the AWS CLI builds it (`wire-protocol.md`
/// §7), encoded with the core's encoder.
fn authorize_query(client: &Client, state: &str) -> String {
    format!(
        "response_type=code&client_id={}&redirect_uri={}&state={}&code_challenge_method=S256\
         &scopes={}&code_challenge={CHALLENGE}",
        pkce::percent_encode(&client.id),
        pkce::percent_encode(CALLBACK),
        pkce::percent_encode(state),
        pkce::percent_encode(DEFAULT_SCOPE),
    )
}

fn consent(service: &mut Service, now: SystemTime, query: &str) -> PendingAuthorization {
    match service.authorize(now, query) {
        Ok(AuthorizeStep::Consent(pending)) => pending,
        other => panic!("expected a consent page, got {other:?}"),
    }
}

/// The query of a Location, decoded (with the core's decoder, the other side
/// of the cross-check).
fn location_params(location: &str) -> Vec<(String, String)> {
    let (base, query) = location.split_once('?').unwrap();
    assert_eq!(base, CALLBACK);
    pkce::parse_query(query).unwrap()
}

/// The code a Location carries, checking that `state` came back unchanged.
fn code_in(location: &str, state: &str) -> AuthorizationCode {
    let params = location_params(location);
    assert_eq!(params.len(), 2, "{params:?}");
    assert_eq!(params[0].0, "code");
    assert_eq!(params[1], ("state".to_owned(), state.to_owned()));
    AuthorizationCode::new(params[0].1.clone())
}

fn exchange(
    service: &mut Service,
    now: SystemTime,
    client: &Client,
    code: &AuthorizationCode,
    redirect_uri: &str,
    verifier: &str,
) -> Response {
    send(
        service,
        now,
        &token_request(&CreateTokenRequest::authorization_code(
            &client.id,
            &client.secret,
            code,
            redirect_uri,
            &CodeVerifier::new(verifier),
        )),
    )
}

/// A PKCE client and the code of an approved `/authorize` request.
fn approved_code(service: &mut Service) -> (Client, AuthorizationCode) {
    let client = register_pkce(service, t0(), &[DEFAULT_SCOPE]);
    let pending = consent(service, t0(), &authorize_query(&client, STATE));
    let location = service
        .decide_authorization(t0(), &pending.id, true)
        .unwrap();
    (client, code_in(&location, STATE))
}

#[test]
fn register_client_keeps_redirect_uris_and_the_issuer_url() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let registration = &service.state.registrations[&client.id];
    assert_eq!(
        registration.redirect_uris,
        ["http://127.0.0.1/oauth/callback"]
    );
    assert_eq!(registration.issuer_url.as_deref(), Some(START_URL));
    assert_eq!(
        registration.grant_types,
        ["authorization_code", "refresh_token"]
    );
}

#[test]
fn register_client_refuses_redirect_uris_that_are_neither_loopback_nor_https() {
    let mut service = Service::new(ServiceConfig::default());
    for (uri, says) in [
        ("http://app.example/cb", "use https"),
        ("http://localhost/oauth/callback", "127.0.0.1"),
        ("http://127.0.0.1/oauth/callback?x=1", "query"),
        ("https://app.example/cb#top", "fragment"),
        ("myapp:/callback", "absolute URI"),
    ] {
        let body = serde_json::json!({
            "clientName": "n", "clientType": "public",
            "grantTypes": ["authorization_code"], "redirectUris": [pkce::REGISTERED_REDIRECT_URI, uri],
        });
        let response = send(
            &mut service,
            t0(),
            &post("/client/register", body.to_string()),
        );
        let error = assert_error(&response, ErrorCode::InvalidRedirectUri, 400, says);
        assert!(error.description.unwrap().contains(uri));
    }
    assert!(service.state.registrations.is_empty());
    // https may carry a query; the Location then continues it with `&`.
    let body = r#"{"clientName":"n","clientType":"public","grantTypes":["authorization_code"],"redirectUris":["https://app.example/cb?tenant=1"]}"#;
    ok::<RegisterClientResponse>(&send(&mut service, t0(), &post("/client/register", body)));
}

#[test]
fn a_pkce_registration_without_redirect_uris_is_an_invalid_request() {
    let mut service = Service::new(ServiceConfig::default());
    for body in [
        r#"{"clientName":"n","clientType":"public","grantTypes":["authorization_code","refresh_token"]}"#,
        r#"{"clientName":"n","clientType":"public","grantTypes":["authorization_code"],"redirectUris":[]}"#,
    ] {
        let response = send(&mut service, t0(), &post("/client/register", body));
        assert_error(&response, ErrorCode::InvalidRequest, 400, "redirectUris");
    }
    // Other grants need none, as before.
    let body = r#"{"clientName":"n","clientType":"public","grantTypes":["urn:ietf:params:oauth:grant-type:device_code","refresh_token"]}"#;
    ok::<RegisterClientResponse>(&send(&mut service, t0(), &post("/client/register", body)));
}

#[test]
fn authorization_code_grant_from_consent_to_token_to_refresh() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);

    let pending = consent(&mut service, t0(), &authorize_query(&client, STATE));
    assert_eq!(pending.client_name, "botocore-client-my-sso");
    assert_eq!(pending.scopes, [DEFAULT_SCOPE]);
    assert_eq!(pending.redirect_uri, CALLBACK);
    assert_eq!(pending.redirect_host, "127.0.0.1:49152");
    assert_eq!(pending.expires_at, t0() + secs(600));
    assert_eq!(pending.id.len(), 22);
    assert_eq!(
        service.pending_authorizations(t0()),
        std::slice::from_ref(&pending)
    );
    assert_eq!(
        service.lookup_authorization(t0(), &pending.id),
        Ok(pending.clone())
    );
    assert!(service.pending(t0()).is_empty(), "not a device code");
    assert!(
        service.state.authorization_codes.is_empty(),
        "no code before consent"
    );

    let later = t0() + secs(20);
    let location = service
        .decide_authorization(later, &pending.id, true)
        .unwrap();
    let code = code_in(&location, STATE);
    assert!(location.starts_with(&format!("{CALLBACK}?code=")));
    assert!(location.ends_with(&format!("&state={STATE}")));
    assert!(service.pending_authorizations(later).is_empty());

    let token: CreateTokenResponse = ok(&exchange(
        &mut service,
        later,
        &client,
        &code,
        CALLBACK,
        VERIFIER,
    ));
    assert!(token.access_token.unwrap().secret().starts_with("aoa"));
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    assert_eq!(token.expires_in, Some(3600));
    let refreshed: CreateTokenResponse = ok(&refresh(
        &mut service,
        later,
        &client,
        &token.refresh_token.unwrap(),
    ));
    assert!(refreshed.access_token.is_some());
    assert_eq!(service.counters().authorize, 1);
    assert_eq!(service.counters().create_token, 2);
}

#[test]
fn the_state_survives_the_round_trip_encoded_whatever_it_holds() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let state = "a b+c/é&d=e%";
    let pending = consent(&mut service, t0(), &authorize_query(&client, state));
    let location = service
        .decide_authorization(t0(), &pending.id, true)
        .unwrap();
    assert!(
        location.contains("&state=a%20b%2Bc%2F%C3%A9%26d%3De%25"),
        "{location}"
    );
    code_in(&location, state);
}

#[test]
fn without_a_state_the_location_has_none() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let query = authorize_query(&client, STATE).replace(&format!("&state={STATE}"), "");
    let pending = consent(&mut service, t0(), &query);
    let location = service
        .decide_authorization(t0(), &pending.id, false)
        .unwrap();
    assert_eq!(location, format!("{CALLBACK}?error=access_denied"));
}

#[test]
fn a_denied_request_redirects_with_access_denied_and_never_has_a_code() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let pending = consent(&mut service, t0(), &authorize_query(&client, STATE));
    let location = service
        .decide_authorization(t0(), &pending.id, false)
        .unwrap();
    assert_eq!(
        location,
        format!("{CALLBACK}?error=access_denied&state={STATE}")
    );
    assert!(service.state.authorization_codes.is_empty());
    // Final either way.
    for approve in [true, false] {
        assert_eq!(
            service.decide_authorization(t0(), &pending.id, approve),
            Err(ApprovalError::AlreadyUsed)
        );
    }
    assert_eq!(
        service.lookup_authorization(t0(), &pending.id),
        Err(ApprovalError::AlreadyUsed)
    );
    assert_eq!(
        service.decide_authorization(t0(), "no-such-id", true),
        Err(ApprovalError::UnknownRequest)
    );
}

#[test]
fn an_undecided_request_expires() {
    let config = ServiceConfig {
        authorization_request_ttl: secs(60),
        ..ServiceConfig::default()
    };
    let mut service = Service::new(config);
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let pending = consent(&mut service, t0(), &authorize_query(&client, STATE));
    assert_eq!(pending.expires_at, t0() + secs(60));
    let at_expiry = t0() + secs(60);
    assert!(service.pending_authorizations(at_expiry).is_empty());
    assert_eq!(
        service.lookup_authorization(at_expiry, &pending.id),
        Err(ApprovalError::Expired)
    );
    assert_eq!(
        service.decide_authorization(at_expiry, &pending.id, true),
        Err(ApprovalError::Expired)
    );
    assert!(service.state.authorization_codes.is_empty());
}

#[test]
fn every_bad_authorize_request_is_refused_naming_its_parameter() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let body = r#"{"clientName":"n","clientType":"public","grantTypes":["urn:ietf:params:oauth:grant-type:device_code"],"redirectUris":["http://127.0.0.1/oauth/callback"]}"#;
    let r: RegisterClientResponse = ok(&send(&mut service, t0(), &post("/client/register", body)));
    let device_only = Client {
        id: r.client_id.unwrap(),
        secret: r.client_secret.unwrap(),
    };
    let expired = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    service.expire_registration(&expired.id);
    let good = authorize_query(&client, STATE);
    let encoded_callback = pkce::percent_encode(CALLBACK);
    let with = |from: &str, to: &str| {
        assert!(good.contains(from), "{from}");
        good.replace(from, to)
    };
    let cases: Vec<(String, AuthorizeRefusal)> = vec![
        (
            format!("{good}&state=again"),
            AuthorizeRefusal::Repeated("state".into()),
        ),
        (
            format!("{good}&code_challenge={CHALLENGE}"),
            AuthorizeRefusal::Repeated("code_challenge".into()),
        ),
        (
            with(&format!("client_id={}&", client.id), ""),
            AuthorizeRefusal::Missing("client_id"),
        ),
        (with(&client.id, ""), AuthorizeRefusal::Missing("client_id")),
        (
            with(&client.id, "nobody"),
            AuthorizeRefusal::UnknownClient("nobody".into()),
        ),
        (
            with(&client.id, &expired.id),
            AuthorizeRefusal::ExpiredClient,
        ),
        (
            with(&client.id, &device_only.id),
            AuthorizeRefusal::GrantNotRegistered,
        ),
        (
            with(&format!("redirect_uri={encoded_callback}&"), ""),
            AuthorizeRefusal::Missing("redirect_uri"),
        ),
        (
            with(
                &encoded_callback,
                &pkce::percent_encode("http://127.0.0.1:49152/other"),
            ),
            AuthorizeRefusal::RedirectUriNotRegistered("http://127.0.0.1:49152/other".into()),
        ),
        (
            with(
                &encoded_callback,
                &pkce::percent_encode("https://evil.example/oauth/callback"),
            ),
            AuthorizeRefusal::RedirectUriNotRegistered(
                "https://evil.example/oauth/callback".into(),
            ),
        ),
        (
            with(
                &encoded_callback,
                &pkce::percent_encode("http://localhost:49152/oauth/callback"),
            ),
            AuthorizeRefusal::RedirectUriNotRegistered(
                "http://localhost:49152/oauth/callback".into(),
            ),
        ),
        (
            with("response_type=code&", ""),
            AuthorizeRefusal::Missing("response_type"),
        ),
        (
            with("response_type=code", "response_type=token"),
            AuthorizeRefusal::UnsupportedResponseType("token".into()),
        ),
        (
            with("code_challenge_method=S256&", ""),
            AuthorizeRefusal::Missing("code_challenge_method"),
        ),
        (
            with("code_challenge_method=S256", "code_challenge_method=plain"),
            AuthorizeRefusal::UnsupportedChallengeMethod("plain".into()),
        ),
        (
            with(&format!("&code_challenge={CHALLENGE}"), ""),
            AuthorizeRefusal::Missing("code_challenge"),
        ),
        (
            with(CHALLENGE, "tooshort"),
            AuthorizeRefusal::InvalidCodeChallenge("tooshort".into()),
        ),
        (
            with(CHALLENGE, &format!("{CHALLENGE}%3D")),
            AuthorizeRefusal::InvalidCodeChallenge(format!("{CHALLENGE}=")),
        ),
        (
            with(CHALLENGE, &CHALLENGE.replace('-', "+")),
            AuthorizeRefusal::InvalidCodeChallenge(CHALLENGE.replace('-', " ")),
        ),
        (
            with(
                "scopes=sso%3Aaccount%3Aaccess",
                "scopes=sso%3Aaccount%3Aaccess%20codewhisperer%3Acompletions",
            ),
            AuthorizeRefusal::ScopeNotRegistered("codewhisperer:completions".into()),
        ),
        (
            format!("{good}&x={}", "y".repeat(pkce::MAX_QUERY_LEN)),
            AuthorizeRefusal::QueryTooLong,
        ),
    ];
    for (query, expected) in cases {
        let refusal = service.authorize(t0(), &query).unwrap_err();
        assert_eq!(refusal, expected, "{query}");
        let message = refusal.to_string();
        if let Some(parameter) = refusal.parameter() {
            assert!(message.contains(parameter), "{message}");
        }
    }
    assert!(service.state.authorization_requests.is_empty());
    assert!(service.pending_requests(t0()).is_empty());
    assert_eq!(service.counters().authorize, 21);
}

#[test]
fn unknown_parameters_are_ignored_and_scopes_default_to_the_registrations() {
    let mut service = Service::new(ServiceConfig::default());
    let client = register_pkce(
        &mut service,
        t0(),
        &[DEFAULT_SCOPE, "codewhisperer:completions"],
    );
    let query = authorize_query(&client, STATE).replace("scopes=sso%3Aaccount%3Aaccess&", "");
    let pending = consent(&mut service, t0(), &format!("{query}&prompt=login"));
    assert_eq!(pending.scopes, [DEFAULT_SCOPE, "codewhisperer:completions"]);
    // A subset, in any order, with `+` for the space, is fine.
    let query = authorize_query(&client, STATE).replace(
        "scopes=sso%3Aaccount%3Aaccess",
        "scopes=codewhisperer%3Acompletions+sso%3Aaccount%3Aaccess",
    );
    let pending = consent(&mut service, t0(), &query);
    assert_eq!(pending.scopes, ["codewhisperer:completions", DEFAULT_SCOPE]);
}

#[test]
fn auto_approve_redirects_at_once_with_a_working_code() {
    let mut service = Service::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterPolls(1)),
        ..ServiceConfig::default()
    });
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let step = service
        .authorize(t0(), &authorize_query(&client, STATE))
        .unwrap();
    assert_eq!(format!("{step:?}"), "Redirect([redacted])");
    let AuthorizeStep::Redirect(location) = step else {
        panic!()
    };
    let code = code_in(&location, STATE);
    assert!(service.pending_requests(t0()).is_empty());
    ok::<CreateTokenResponse>(&exchange(
        &mut service,
        t0(),
        &client,
        &code,
        CALLBACK,
        VERIFIER,
    ));
    // A bad request is still refused, never redirected.
    let refusal = service.authorize(t0(), "response_type=code").unwrap_err();
    assert_eq!(refusal, AuthorizeRefusal::Missing("client_id"));
}

#[test]
fn a_wrong_verifier_or_redirect_uri_is_an_invalid_grant_that_leaves_the_code_usable() {
    let mut service = Service::new(ServiceConfig::default());
    let (client, code) = approved_code(&mut service);
    let other_verifier = "x".repeat(43);
    for (redirect_uri, verifier, says) in [
        (
            CALLBACK,
            other_verifier.as_str(),
            "does not match the code_challenge",
        ),
        (CALLBACK, "short", "43 to 128 characters"),
        (CALLBACK, &format!("{VERIFIER} "), "43 to 128 characters"),
        (
            "http://127.0.0.1:49153/oauth/callback",
            VERIFIER,
            "redirectUri differs",
        ),
        (
            pkce::REGISTERED_REDIRECT_URI,
            VERIFIER,
            "redirectUri differs",
        ),
    ] {
        let response = exchange(&mut service, t0(), &client, &code, redirect_uri, verifier);
        assert_error(&response, ErrorCode::InvalidGrant, 400, says);
    }
    ok::<CreateTokenResponse>(&exchange(
        &mut service,
        t0(),
        &client,
        &code,
        CALLBACK,
        VERIFIER,
    ));
}

#[test]
fn missing_members_of_the_exchange_are_invalid_requests() {
    let mut service = Service::new(ServiceConfig::default());
    let (client, code) = approved_code(&mut service);
    let full = CreateTokenRequest::authorization_code(
        &client.id,
        &client.secret,
        &code,
        CALLBACK,
        &CodeVerifier::new(VERIFIER),
    );
    for (member, strip) in [
        (
            "code",
            (|r: &mut CreateTokenRequest| r.code = None) as fn(&mut CreateTokenRequest),
        ),
        ("redirectUri", |r| r.redirect_uri = None),
        ("codeVerifier", |r| r.code_verifier = None),
    ] {
        let mut body = full.clone();
        strip(&mut body);
        let response = send(&mut service, t0(), &token_request(&body));
        assert_error(&response, ErrorCode::InvalidRequest, 400, member);
    }
}

#[test]
fn unknown_foreign_and_expired_codes_are_invalid_grants() {
    let mut service = Service::new(ServiceConfig {
        authorization_code_ttl: secs(30),
        ..ServiceConfig::default()
    });
    let (client, code) = approved_code(&mut service);
    let other = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let response = exchange(&mut service, t0(), &other, &code, CALLBACK, VERIFIER);
    assert_error(&response, ErrorCode::InvalidGrant, 400, "another client");
    let unknown = AuthorizationCode::new("not-a-code");
    let response = exchange(&mut service, t0(), &client, &unknown, CALLBACK, VERIFIER);
    assert_error(
        &response,
        ErrorCode::InvalidGrant,
        400,
        "unknown authorization code",
    );
    let response = exchange(
        &mut service,
        t0() + secs(30),
        &client,
        &code,
        CALLBACK,
        VERIFIER,
    );
    assert_error(&response, ErrorCode::InvalidGrant, 400, "expired");
    // Client authentication still comes first.
    let wrong = Client {
        id: client.id.clone(),
        secret: ClientSecret::new("wrong"),
    };
    let response = exchange(&mut service, t0(), &wrong, &code, CALLBACK, VERIFIER);
    assert_error(&response, ErrorCode::InvalidClient, 401, "secret");
}

#[test]
fn a_reused_code_is_refused_and_revokes_the_refresh_token_it_issued() {
    let mut service = Service::new(ServiceConfig::default());
    let (client, code) = approved_code(&mut service);
    let token: CreateTokenResponse = ok(&exchange(
        &mut service,
        t0(),
        &client,
        &code,
        CALLBACK,
        VERIFIER,
    ));
    // The refresh token rotates once; the rotated one descends from the code too.
    let rotated: CreateTokenResponse = ok(&refresh(
        &mut service,
        t0(),
        &client,
        &token.refresh_token.unwrap(),
    ));
    let rotated = rotated.refresh_token.unwrap();
    // A device-code token of the same client is not of this lineage.
    let device_client = register(&mut service, t0(), &[DEFAULT_SCOPE]);
    let started = start(&mut service, t0(), &device_client);
    service
        .approve(started.user_code.as_deref().unwrap(), t0())
        .unwrap();
    let device_token: CreateTokenResponse = ok(&poll(
        &mut service,
        t0(),
        &device_client,
        started.device_code.as_ref().unwrap(),
    ));

    let again = exchange(&mut service, t0(), &client, &code, CALLBACK, VERIFIER);
    assert_error(&again, ErrorCode::InvalidGrant, 400, "already been used");
    let response = refresh(&mut service, t0(), &client, &rotated);
    assert_error(
        &response,
        ErrorCode::InvalidGrant,
        400,
        "unknown or revoked",
    );
    ok::<CreateTokenResponse>(&refresh(
        &mut service,
        t0(),
        &device_client,
        &device_token.refresh_token.unwrap(),
    ));
}

#[test]
fn a_device_only_registration_cannot_exchange_a_code() {
    let mut service = Service::new(ServiceConfig::default());
    let (_, code) = approved_code(&mut service);
    let body = r#"{"clientName":"n","clientType":"public","grantTypes":["urn:ietf:params:oauth:grant-type:device_code"]}"#;
    let r: RegisterClientResponse = ok(&send(&mut service, t0(), &post("/client/register", body)));
    let device_only = Client {
        id: r.client_id.unwrap(),
        secret: r.client_secret.unwrap(),
    };
    let response = exchange(&mut service, t0(), &device_only, &code, CALLBACK, VERIFIER);
    assert_error(
        &response,
        ErrorCode::UnauthorizedClient,
        400,
        "authorization_code",
    );
}

#[test]
fn pending_requests_of_both_kinds_are_listed_and_decided_by_id() {
    let mut service = Service::new(ServiceConfig::default());
    let device_client = register(&mut service, t0(), &[DEFAULT_SCOPE]);
    let started = start(&mut service, t0(), &device_client);
    let user_code = started.user_code.unwrap();
    let client = register_pkce(&mut service, t0(), &[DEFAULT_SCOPE]);
    let pending = consent(
        &mut service,
        t0() + secs(1),
        &authorize_query(&client, STATE),
    );

    let all = service.pending_requests(t0() + secs(1));
    assert_eq!(all.len(), 2);
    // The device code was issued first, so it expires first.
    assert!(matches!(&all[0], PendingRequest::DeviceCode(info) if info.user_code == user_code));
    assert_eq!(all[0].id(), user_code);
    assert_eq!(all[1], PendingRequest::AuthorizationCode(pending.clone()));
    assert_eq!(all[1].id(), pending.id);
    assert_eq!(all[1].expires_at(), pending.expires_at);

    let decided = service
        .decide_pending(t0(), &user_code.to_lowercase(), true)
        .unwrap();
    assert_eq!(
        decided,
        Decided::DeviceCode {
            user_code: user_code.clone()
        }
    );
    let decided = service.decide_pending(t0(), &pending.id, true).unwrap();
    let Decided::AuthorizationCode { location } = &decided else {
        panic!("{decided:?}")
    };
    code_in(location, STATE);
    assert!(!format!("{decided:?}").contains("code="), "{decided:?}");
    assert!(service.pending_requests(t0()).is_empty());
    assert_eq!(
        service.decide_pending(t0(), &pending.id, false),
        Err(ApprovalError::AlreadyUsed)
    );
    assert_eq!(
        service.decide_pending(t0(), "BCDF-GHJK", true),
        Err(ApprovalError::UnknownCode)
    );
}

#[test]
fn a_snapshot_keeps_pending_requests_and_codes() {
    let mut service = Service::new(ServiceConfig::default());
    let (client, code) = approved_code(&mut service);
    let pending = consent(&mut service, t0(), &authorize_query(&client, STATE));
    let json = serde_json::to_string(&service.snapshot()).unwrap();
    assert!(!json.contains(VERIFIER), "the verifier is never stored");
    let mut restored = Service::restore(
        ServiceConfig::default(),
        serde_json::from_str(&json).unwrap(),
    )
    .unwrap();
    assert_eq!(
        restored.pending_authorizations(t0()),
        std::slice::from_ref(&pending)
    );
    let location = restored
        .decide_authorization(t0(), &pending.id, true)
        .unwrap();
    let second = code_in(&location, STATE);
    for code in [code, second] {
        ok::<CreateTokenResponse>(&exchange(
            &mut restored,
            t0(),
            &client,
            &code,
            CALLBACK,
            VERIFIER,
        ));
    }
    let debug = format!("{:?}", restored.snapshot());
    assert!(debug.contains("authorization_requests: 2"), "{debug}");
}

#[test]
fn a_format_1_snapshot_without_the_new_records_still_restores() {
    let (service, client, token) = signed_in_setup(ServiceConfig::default());
    let mut json = serde_json::to_value(service.snapshot()).unwrap();
    json["version"] = serde_json::json!(1);
    let state = json["state"].as_object_mut().unwrap();
    state.remove("authorization_requests");
    state.remove("authorization_codes");
    state.remove("access_tokens");
    for registration in state["registrations"].as_object_mut().unwrap().values_mut() {
        let registration = registration.as_object_mut().unwrap();
        registration.remove("redirect_uris");
        registration.remove("issuer_url");
    }
    for grant in state["refresh_tokens"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        grant.as_object_mut().unwrap().remove("session");
    }
    let snapshot: ServiceSnapshot = serde_json::from_value(json).unwrap();
    assert_eq!(snapshot.version(), 1);
    let mut restored = Service::restore(ServiceConfig::default(), snapshot).unwrap();
    ok::<CreateTokenResponse>(&refresh(
        &mut restored,
        t0(),
        &client,
        &token.refresh_token.unwrap(),
    ));
    assert_eq!(restored.snapshot().version(), 3);
}

#[test]
fn long_expired_requests_and_codes_are_swept_out() {
    let mut service = Service::new(ServiceConfig::default());
    let (client, _code) = approved_code(&mut service);
    consent(&mut service, t0(), &authorize_query(&client, STATE));
    assert_eq!(service.state.authorization_requests.len(), 2);
    let much_later = t0() + secs(600) + EXPIRED_CODE_RETENTION;
    // The registration lives 90 days, so this /authorize is still fine.
    consent(&mut service, much_later, &authorize_query(&client, STATE));
    assert_eq!(service.state.authorization_requests.len(), 1);
    assert!(service.state.authorization_codes.is_empty());
}
