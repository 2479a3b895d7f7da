//! The admin API under `/_emulator/`, over HTTP, as a script uses it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use serde_json::{Value, json};
use ssoflow_core::ErrorCode;
use ssoflow_core::pkce;
use ssoflow_core::secret::{AuthorizationCode, CodeVerifier};
use ssoflow_core::wire::CreateTokenResponse;
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};

fn admin(emulator: &EmulatorThread, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/_emulator{path}", emulator.base_url());
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let response = send(method, &url, Some("application/json"), body).unwrap();
    let value = serde_json::from_slice(response.body()).unwrap();
    (response.status().as_u16(), value)
}

#[test]
fn pending_approve_and_deny_by_user_code() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let base = emulator.base_url().to_owned();
    let client = register(&base, "scripted", &["sso:account:access"]);
    let first = start_authorization(&base, &client);
    let second = start_authorization(&base, &client);
    let (first_code, second_code) = (first.user_code.unwrap(), second.user_code.unwrap());

    let (status, pending) = admin(&emulator, "GET", "/pending", None);
    assert_eq!(status, 200);
    let codes: Vec<&str> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 2);
    assert!(codes.contains(&first_code.as_str()) && codes.contains(&second_code.as_str()));
    assert_eq!(pending[0]["clientName"], "scripted");
    assert_eq!(pending[0]["scopes"], json!(["sso:account:access"]));
    assert!(pending[0]["expiresAt"].as_u64().unwrap() > 1_700_000_000);

    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": first_code})),
    );
    assert_eq!((status, body["decision"].as_str()), (200, Some("approved")));
    let (status, _) = admin(
        &emulator,
        "POST",
        "/deny",
        Some(json!({"userCode": second_code})),
    );
    assert_eq!(status, 200);
    let (_, pending) = admin(&emulator, "GET", "/pending", None);
    assert_eq!(pending, json!([]));

    std::thread::sleep(Duration::from_secs(1));
    let token: CreateTokenResponse = ok(&poll(&base, &client, &first.device_code.unwrap()));
    assert!(token.access_token.is_some());
    let denied = poll(&base, &client, &second.device_code.unwrap());
    assert_eq!(error_of(&denied).code, ErrorCode::AccessDenied);

    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": second_code})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_used"))
    );
    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": "BCDF-GHJK"})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_code"))
    );
    let (status, body) = admin(&emulator, "POST", "/approve", Some(json!({"code": "x"})));
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("userCode"),
        "{body}"
    );
}

#[test]
fn an_expired_code_cannot_be_approved() {
    let mut config = EmulatorConfig::default();
    config.service.device_code_ttl = Duration::from_secs(1);
    let emulator = EmulatorThread::start(config).unwrap();
    let client = register(emulator.base_url(), "late", &[]);
    let code = start_authorization(emulator.base_url(), &client)
        .user_code
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": code})),
    );
    assert_eq!((status, body["error"].as_str()), (410, Some("expired")));
}

#[test]
fn registrations_can_be_listed_and_expired() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let client = register(emulator.base_url(), "to-expire", &[]);
    let (_, list) = admin(&emulator, "GET", "/registrations", None);
    assert_eq!(list, json!([client.id]));

    let (status, _) = admin(
        &emulator,
        "POST",
        "/registrations/expire",
        Some(json!({"clientId": client.id})),
    );
    assert_eq!(status, 200);
    let body = serde_json::json!({"clientId": client.id, "clientSecret": client.secret.secret(), "startUrl": START_URL});
    let refused = post_json(
        &format!("{}/device_authorization", emulator.base_url()),
        body.to_string(),
    );
    assert_eq!(
        (refused.status().as_u16(), error_of(&refused).code),
        (401, ErrorCode::InvalidClient)
    );

    let (status, _) = admin(
        &emulator,
        "POST",
        "/registrations/expire",
        Some(json!({"clientId": "nobody"})),
    );
    assert_eq!(status, 404);
}

#[test]
fn a_revoked_refresh_token_is_an_invalid_grant() {
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(ssoflow_test_transport::AutoApprove::AfterDelay(
        Duration::ZERO,
    ));
    let emulator = EmulatorThread::start(config).unwrap();
    let base = emulator.base_url().to_owned();
    let client = register(&base, "revoked", &["sso:account:access"]);
    let device_code = start_authorization(&base, &client).device_code.unwrap();
    let token: CreateTokenResponse = ok(&poll(&base, &client, &device_code));
    let refresh_token = token.refresh_token.unwrap();

    let (status, body) = admin(
        &emulator,
        "POST",
        "/refresh-tokens/revoke",
        Some(json!({"refreshToken": refresh_token.secret()})),
    );
    assert_eq!((status, body["revoked"].as_bool()), (200, Some(true)));
    let (status, _) = admin(
        &emulator,
        "POST",
        "/refresh-tokens/revoke",
        Some(json!({"refreshToken": refresh_token.secret()})),
    );
    assert_eq!(status, 404);

    let request = ssoflow_core::wire::CreateTokenRequest::refresh_token(
        &client.id,
        &client.secret,
        &refresh_token,
    );
    let refused = post_json(
        &format!("{base}/token"),
        ssoflow_core::wire::encode(&request),
    );
    assert_eq!(error_of(&refused).code, ErrorCode::InvalidGrant);
}

#[test]
fn faults_are_queued_for_the_next_requests_and_counters_count() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let register_url = format!("{}/client/register", emulator.base_url());
    let body = r#"{"clientName":"faulty","clientType":"public"}"#;

    let (status, queued) = admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "status", "status": 503, "count": 2})),
    );
    assert_eq!((status, queued["queued"].as_u64()), (200, Some(2)));
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "error", "code": "slow_down"})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "error", "code": "InvalidScopeException"})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "malformed-body"})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "delay", "millis": 50})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "drop-connection"})),
    );

    assert_eq!(post_json(&register_url, body).status(), 503);
    assert_eq!(post_json(&register_url, body).status(), 503);
    assert_eq!(
        error_of(&post_json(&register_url, body)).code,
        ErrorCode::SlowDown
    );
    assert_eq!(
        error_of(&post_json(&register_url, body)).code,
        ErrorCode::InvalidScope
    );
    assert_eq!(post_json(&register_url, body).body(), br#"{"accessTok"#);
    assert_eq!(post_json(&register_url, body).status(), 200);
    assert!(send("POST", &register_url, Some("application/json"), body).is_err());
    assert_eq!(post_json(&register_url, body).status(), 200);
    post_json(&format!("{}/nowhere", emulator.base_url()), "{}");

    let (status, counters) = admin(&emulator, "GET", "/counters", None);
    assert_eq!(status, 200);
    assert_eq!(
        counters,
        json!({
            "registerClient": 8, "startDeviceAuthorization": 0, "createToken": 0, "authorize": 0,
            "getRoleCredentials": 0, "listAccounts": 0, "listAccountRoles": 0, "logout": 0,
            "portalThrottled": 0, "other": 1
        })
    );

    let (status, body) = admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "status", "status": 42})),
    );
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("42"));
    let (status, _) = admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "meteor"})),
    );
    assert_eq!(status, 400);
}

#[test]
fn unknown_admin_routes_say_where_to_look() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let (status, body) = admin(&emulator, "GET", "/approvals", None);
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/_emulator/approvals"),
        "{body}"
    );
}

/// Registers for the PKCE flow and opens `/authorize` as the AWS CLI does;
/// returns the client and the pending request's id.
fn pending_authorization(emulator: &EmulatorThread, name: &str) -> (Client, String) {
    let base = emulator.base_url();
    let body = json!({
        "clientName": name, "clientType": "public",
        "grantTypes": ["authorization_code", "refresh_token"],
        "redirectUris": [pkce::REGISTERED_REDIRECT_URI],
        "scopes": ["sso:account:access"],
    });
    let registered: ssoflow_core::wire::RegisterClientResponse = ok(&post_json(
        &format!("{base}/client/register"),
        body.to_string(),
    ));
    let client = Client {
        id: registered.client_id.unwrap(),
        secret: registered.client_secret.unwrap(),
    };
    let page = get(&format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&state=st\
         &code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess&code_challenge={}",
        client.id,
        pkce::percent_encode(CALLBACK),
        pkce::code_challenge(VERIFIER),
    ));
    assert_eq!(page.status(), 200);
    let pending = emulator.with_service(|s| s.pending_authorizations(SystemTime::now()));
    let id = pending.last().unwrap().id.clone();
    (client, id)
}

const CALLBACK: &str = "http://127.0.0.1:50000/oauth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[test]
fn pending_lists_both_kinds_and_both_are_decided_by_id() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let base = emulator.base_url().to_owned();
    let device_client = register(&base, "device", &["sso:account:access"]);
    let started = start_authorization(&base, &device_client);
    let user_code = started.user_code.unwrap();
    let (client, id) = pending_authorization(&emulator, "browser");

    let (status, pending) = admin(&emulator, "GET", "/pending", None);
    assert_eq!(status, 200);
    let pending = pending.as_array().unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    // The device code was issued first, so it expires first.
    assert_eq!(pending[0]["kind"], "device_code");
    assert_eq!(pending[0]["id"], user_code.as_str());
    assert_eq!(pending[0]["userCode"], user_code.as_str());
    assert_eq!(pending[1]["kind"], "authorization_code");
    assert_eq!(pending[1]["id"], id.as_str());
    assert_eq!(pending[1]["clientName"], "browser");
    assert_eq!(pending[1]["scopes"], json!(["sso:account:access"]));
    assert_eq!(pending[1]["redirectUri"], CALLBACK);
    assert!(pending[1]["userCode"].is_null());
    assert!(pending[0]["redirectUri"].is_null());
    assert!(pending[1]["expiresAt"].as_u64().unwrap() > 1_700_000_000);

    // By id, either kind; the device code's id is its user code.
    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"id": user_code})),
    );
    assert_eq!(status, 200);
    assert_eq!(
        (body["kind"].as_str(), body["decision"].as_str()),
        (Some("device_code"), Some("approved"))
    );
    let (status, body) = admin(&emulator, "POST", "/approve", Some(json!({"id": id})));
    assert_eq!(status, 200);
    assert_eq!(body["kind"], "authorization_code");
    assert_eq!(body["decision"], "approved");
    let location = body["location"].as_str().unwrap();
    let query = location.strip_prefix(&format!("{CALLBACK}?")).unwrap();
    let params = pkce::parse_query(query).unwrap();
    assert_eq!(params[0].0, "code");
    assert_eq!(params[1], ("state".to_owned(), "st".to_owned()));
    let (_, pending) = admin(&emulator, "GET", "/pending", None);
    assert_eq!(pending, json!([]));

    // The code a script gets this way works like the browser's.
    let exchange = ssoflow_core::wire::CreateTokenRequest::authorization_code(
        &client.id,
        &client.secret,
        &AuthorizationCode::new(params[0].1.clone()),
        CALLBACK,
        &CodeVerifier::new(VERIFIER),
    );
    ok::<CreateTokenResponse>(&post_json(
        &format!("{base}/token"),
        ssoflow_core::wire::encode(&exchange),
    ));
    std::thread::sleep(Duration::from_secs(1));
    ok::<CreateTokenResponse>(&poll(&base, &device_client, &started.device_code.unwrap()));

    // Decided is decided; unknown is unknown; one of the two fields, not both.
    let (status, body) = admin(&emulator, "POST", "/deny", Some(json!({"id": id})));
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_used"))
    );
    let (status, body) = admin(
        &emulator,
        "POST",
        "/deny",
        Some(json!({"id": "nothing-like-it"})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_code"))
    );
    let (status, _) = admin(
        &emulator,
        "POST",
        "/deny",
        Some(json!({"id": id, "userCode": user_code})),
    );
    assert_eq!(status, 400);
}

#[test]
fn deny_by_id_sends_access_denied_and_counters_count_authorize() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let (_, id) = pending_authorization(&emulator, "refused");
    let (status, body) = admin(&emulator, "POST", "/deny", Some(json!({"id": id})));
    assert_eq!(status, 200);
    assert_eq!(body["decision"], "denied");
    assert_eq!(
        body["location"],
        format!("{CALLBACK}?error=access_denied&state=st")
    );
    get(&format!("{}/authorize", emulator.base_url()));
    let (_, counters) = admin(&emulator, "GET", "/counters", None);
    assert_eq!(counters["authorize"], 2);
    assert_eq!(counters["other"], 0);
}
