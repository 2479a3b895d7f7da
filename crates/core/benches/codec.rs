//! Encoding every request and decoding every answer and error, through the
//! public API the flows use: a machine in the right state is made outside the
//! timed part, then one `poll_transmit` (the whole `http::Request`: JSON
//! body, URI, headers) or one `handle_response` (status, headers, JSON,
//! the state change) is timed. The `*_body` groups time `wire::encode` /
//! `wire::decode` alone and the `error_parse` group the public error parsers,
//! so a slow operation shows whether its time goes to JSON or to the rest.
//!
//! Opaque values have the real service's sizes (a ~1 KiB client secret,
//! 259-character tokens, a 1,000-character session token), since copying
//! and escaping them is much of the work.
//!
//! `cargo bench -p ssoflow-core`; short: `-- --warm-up-time 1 --measurement-time 2`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ssoflow_core::pkce::{PkceSecrets, RANDOM_BYTES};
use ssoflow_core::portal::{
    GetRoleCredentials, ListAccountRoles, ListAccounts, Logout, PortalError, PortalErrorCode,
    PortalRequest, portal_error_response,
};
use ssoflow_core::secret::{
    AccessToken, AuthorizationCode, ClientSecret, CodeVerifier, DeviceCode, RefreshToken,
};
use ssoflow_core::server::{REQUEST_ID_HEADER, error_response};
use ssoflow_core::wire::{
    self, CLIENT_TYPE_PUBLIC, CreateTokenRequest, CreateTokenResponse, DEFAULT_SCOPE,
    GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GetRoleCredentialsResponse,
    ListAccountRolesResponse, ListAccountsResponse, RegisterClientRequest, RegisterClientResponse,
    StartDeviceAuthorizationRequest, StartDeviceAuthorizationResponse,
};
use ssoflow_core::{
    AuthCodeFlow, DeviceFlow, Endpoint, EndpointVariant, ErrorCode, Event, Flow, FlowConfig,
    PortalCall, RefreshFlow, Registration, RequestId, ServiceError, Token,
};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const REGION: &str = "us-east-1";
const PORT: u16 = 49152;

/// `len` characters of base64url, deterministic.
fn opaque(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::from(prefix);
    let mut x: u32 = 0x9e37_79b9;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.push(char::from(ALPHABET[(x % 64) as usize]));
    }
    s
}

/// Values shaped like the real service's.
struct Values {
    client_id: String,
    client_secret: String,
    device_code: String,
    access_token: String,
    refresh_token: String,
    auth_code: String,
    session_token: String,
}

impl Values {
    fn new() -> Values {
        let secret = format!(
            "eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0.{}.{}",
            opaque("", 960),
            opaque("", 64)
        );
        Values {
            client_id: opaque("", 34),
            client_secret: secret,
            device_code: opaque("", 86),
            access_token: opaque("aoa", 259),
            refresh_token: opaque("aor", 259),
            auth_code: opaque("", 43),
            session_token: format!("IQoJb3JpZ2luX2Vj{}", opaque("", 1000)),
        }
    }

    fn registration(&self, auth_code: bool) -> Registration {
        Registration {
            client_id: self.client_id.clone(),
            client_secret: ClientSecret::new(self.client_secret.clone()),
            expires_at: wall() + Duration::from_secs(90 * 86_400),
            scopes: vec![DEFAULT_SCOPE.to_owned()],
            grant_types: if auth_code {
                vec![GRANT_AUTHORIZATION_CODE.into(), GRANT_REFRESH_TOKEN.into()]
            } else {
                Vec::new()
            },
        }
    }

    fn token(&self) -> Token {
        Token {
            access_token: AccessToken::new(self.access_token.clone()),
            refresh_token: Some(RefreshToken::new(self.refresh_token.clone())),
            expires_at: wall() + Duration::from_secs(60),
            registration: self.registration(false),
        }
    }

    fn register_body(&self) -> String {
        format!(
            r#"{{"clientId":"{}","clientIdIssuedAt":1767225600,"clientSecret":"{}","clientSecretExpiresAt":1774998000}}"#,
            self.client_id, self.client_secret
        )
    }

    fn start_body(&self) -> String {
        format!(
            r#"{{"deviceCode":"{}","expiresIn":600,"interval":1,"userCode":"PMPJ-VZCJ","verificationUri":"https://device.sso.us-east-1.amazonaws.com/","verificationUriComplete":"https://device.sso.us-east-1.amazonaws.com/?user_code=PMPJ-VZCJ"}}"#,
            self.device_code
        )
    }

    fn token_body(&self) -> String {
        format!(
            r#"{{"accessToken":"{}","expiresIn":3600,"idToken":null,"refreshToken":"{}","tokenType":"Bearer"}}"#,
            self.access_token, self.refresh_token
        )
    }

    fn role_credentials_body(&self) -> String {
        format!(
            r#"{{"roleCredentials":{{"accessKeyId":"ASIAQWERTYUIOPASDFGH","secretAccessKey":"{}","sessionToken":"{}","expiration":1767229200000}}}}"#,
            opaque("", 40),
            self.session_token
        )
    }
}

/// A page of 20 accounts (the simulated portal's default page size), the last page.
fn accounts_body() -> String {
    let accounts: Vec<String> = (0..20)
        .map(|i| {
            format!(
                r#"{{"accountId":"{:012}","accountName":"Account {i}","emailAddress":"aws+account{i}@example.com"}}"#,
                111_122_223_333_u64 + i
            )
        })
        .collect();
    format!(r#"{{"accountList":[{}]}}"#, accounts.join(","))
}

/// Three roles of one account, the last page.
fn roles_body() -> String {
    r#"{"roleList":[{"roleName":"AdministratorAccess","accountId":"111122223333"},{"roleName":"ReadOnlyAccess","accountId":"111122223333"},{"roleName":"Billing","accountId":"111122223333"}]}"#.to_owned()
}

fn t0() -> Instant {
    // One origin for the whole run; machines only compare and add.
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

/// A success as the service sends it: JSON, with a request id.
fn ok(body: &str) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.as_bytes().to_vec());
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(wire::CONTENT_TYPE_JSON),
    );
    h.insert(
        REQUEST_ID_HEADER,
        http::HeaderValue::from_static("5b0c8b8e-1c47-4b4c-9d25-0f8e0c1f6a3e"),
    );
    r
}

/// An SSO OIDC error as the service renders it (`x-amzn-ErrorType`, OAuth body).
fn oidc_error(code: ErrorCode, description: &str) -> http::Response<Vec<u8>> {
    error_response(&ServiceError::new(code, description))
}

fn portal_error(code: PortalErrorCode, message: &str) -> http::Response<Vec<u8>> {
    portal_error_response(&PortalError::new(code, message))
}

fn oidc_endpoint() -> Endpoint {
    Endpoint::for_region(REGION, EndpointVariant::default()).unwrap()
}

fn portal_endpoint() -> Endpoint {
    Endpoint::portal_for_region(REGION, EndpointVariant::default()).unwrap()
}

fn config() -> FlowConfig {
    FlowConfig::new(oidc_endpoint(), START_URL).unwrap()
}

fn secrets() -> PkceSecrets {
    PkceSecrets::from_random([7; RANDOM_BYTES])
}

// Machines in the state where the request of interest is next.

fn fresh_device() -> DeviceFlow {
    DeviceFlow::new(config(), t0())
}

fn registered_device(v: &Values) -> DeviceFlow {
    DeviceFlow::with_registration(config(), v.registration(false), t0(), wall())
}

/// A device flow whose first poll is due at the returned instant.
fn polling_device(v: &Values) -> (DeviceFlow, Instant) {
    let mut flow = registered_device(v);
    let tx = flow.poll_transmit(t0()).unwrap();
    flow.handle_response(t0(), wall(), tx.id, ok(&v.start_body()))
        .unwrap();
    while flow.poll_event().is_some() {}
    let due = flow.poll_timeout().unwrap();
    (flow, due)
}

/// An authorization-code flow whose browser came back with a code.
fn exchanging_auth_code(v: &Values) -> AuthCodeFlow {
    let mut flow = AuthCodeFlow::with_registration(
        config(),
        v.registration(true),
        PORT,
        secrets(),
        t0(),
        wall(),
    );
    let mut state = None;
    while let Some(event) = flow.poll_event() {
        if let Event::AuthorizationUrl(prompt) = event {
            let query = prompt.url.split_once('?').unwrap().1.to_owned();
            let pairs = ssoflow_core::pkce::parse_query(&query).unwrap();
            state = pairs.into_iter().find(|(n, _)| n == "state").map(|p| p.1);
        }
    }
    let target = format!(
        "/oauth/callback?code={}&state={}",
        v.auth_code,
        state.unwrap()
    );
    flow.handle_callback(t0(), &target);
    flow
}

fn refresh(v: &Values) -> RefreshFlow {
    RefreshFlow::new(oidc_endpoint(), v.token(), t0(), wall())
}

fn portal<R: PortalRequest>(v: &Values, request: R) -> PortalCall<R> {
    PortalCall::new(
        portal_endpoint(),
        AccessToken::new(v.access_token.clone()),
        request,
        t0(),
        42,
    )
}

/// Times `poll_transmit(at)` on machines made by `setup`.
fn bench_transmit<F: Flow>(c: &mut Criterion, name: &str, mut setup: impl FnMut() -> (F, Instant)) {
    c.bench_function(name, |b| {
        b.iter_batched(
            &mut setup,
            |(mut flow, at)| {
                let tx = flow.poll_transmit(black_box(at)).expect("a request is due");
                (flow, tx)
            },
            BatchSize::SmallInput,
        );
    });
}

/// Times `handle_response` of `response` on machines made by `setup`, each
/// with its request in flight (sent at the returned instant).
fn bench_answer<F: Flow>(
    c: &mut Criterion,
    name: &str,
    mut setup: impl FnMut() -> (F, Instant),
    response: &http::Response<Vec<u8>>,
) {
    c.bench_function(name, |b| {
        b.iter_batched(
            || {
                let (mut flow, at) = setup();
                let id: RequestId = flow.poll_transmit(at).expect("a request is due").id;
                (flow, at, id, response.clone())
            },
            |(mut flow, at, id, response)| {
                flow.handle_response(at, wall(), id, black_box(response))
                    .unwrap();
                flow
            },
            BatchSize::SmallInput,
        );
    });
}

fn encode(c: &mut Criterion) {
    let v = Values::new();
    bench_transmit(c, "encode/RegisterClient", || (fresh_device(), t0()));
    bench_transmit(c, "encode/StartDeviceAuthorization", || {
        (registered_device(&v), t0())
    });
    bench_transmit(c, "encode/CreateToken device_code", || polling_device(&v));
    bench_transmit(c, "encode/CreateToken authorization_code", || {
        (exchanging_auth_code(&v), t0())
    });
    bench_transmit(c, "encode/CreateToken refresh_token", || {
        (refresh(&v), t0())
    });
    bench_transmit(c, "encode/GetRoleCredentials", || {
        (
            portal(
                &v,
                GetRoleCredentials::new("111122223333", "AdministratorAccess"),
            ),
            t0(),
        )
    });
    bench_transmit(c, "encode/ListAccounts", || {
        (portal(&v, ListAccounts::new()), t0())
    });
    bench_transmit(c, "encode/ListAccountRoles", || {
        (portal(&v, ListAccountRoles::new("111122223333")), t0())
    });
    bench_transmit(c, "encode/Logout", || (portal(&v, Logout::new()), t0()));
}

fn encode_body(c: &mut Criterion) {
    let v = Values::new();
    let secret = ClientSecret::new(v.client_secret.clone());
    let register = RegisterClientRequest {
        client_name: "botocore-client-my-sso".into(),
        client_type: CLIENT_TYPE_PUBLIC.into(),
        grant_types: None,
        redirect_uris: None,
        issuer_url: None,
        scopes: Some(vec![DEFAULT_SCOPE.into()]),
        entitled_application_arn: None,
    };
    let start = StartDeviceAuthorizationRequest {
        client_id: v.client_id.clone(),
        client_secret: secret.clone(),
        start_url: START_URL.into(),
    };
    let device = CreateTokenRequest::device_code(
        &v.client_id,
        &secret,
        &DeviceCode::new(v.device_code.clone()),
    );
    let refresh = CreateTokenRequest::refresh_token(
        &v.client_id,
        &secret,
        &RefreshToken::new(v.refresh_token.clone()),
    );
    let auth_code = CreateTokenRequest::authorization_code(
        &v.client_id,
        &secret,
        &AuthorizationCode::new(v.auth_code.clone()),
        &ssoflow_core::pkce::redirect_uri(PORT),
        &CodeVerifier::new(opaque("", 64)),
    );
    c.bench_function("encode_body/RegisterClient", |b| {
        b.iter(|| wire::encode(black_box(&register)));
    });
    c.bench_function("encode_body/StartDeviceAuthorization", |b| {
        b.iter(|| wire::encode(black_box(&start)));
    });
    c.bench_function("encode_body/CreateToken device_code", |b| {
        b.iter(|| wire::encode(black_box(&device)));
    });
    c.bench_function("encode_body/CreateToken authorization_code", |b| {
        b.iter(|| wire::encode(black_box(&auth_code)));
    });
    c.bench_function("encode_body/CreateToken refresh_token", |b| {
        b.iter(|| wire::encode(black_box(&refresh)));
    });
}

fn decode(c: &mut Criterion) {
    let v = Values::new();
    let start = || (fresh_device(), t0());
    bench_answer(c, "decode/RegisterClient", start, &ok(&v.register_body()));
    bench_answer(
        c,
        "decode/StartDeviceAuthorization",
        || (registered_device(&v), t0()),
        &ok(&v.start_body()),
    );
    bench_answer(
        c,
        "decode/CreateToken device_code",
        || polling_device(&v),
        &ok(&v.token_body()),
    );
    bench_answer(
        c,
        "decode/CreateToken authorization_code",
        || (exchanging_auth_code(&v), t0()),
        &ok(&v.token_body()),
    );
    bench_answer(
        c,
        "decode/CreateToken refresh_token",
        || (refresh(&v), t0()),
        &ok(&v.token_body()),
    );
    bench_answer(
        c,
        "decode/GetRoleCredentials",
        || {
            (
                portal(
                    &v,
                    GetRoleCredentials::new("111122223333", "AdministratorAccess"),
                ),
                t0(),
            )
        },
        &ok(&v.role_credentials_body()),
    );
    bench_answer(
        c,
        "decode/ListAccounts (20 accounts)",
        || (portal(&v, ListAccounts::new()), t0()),
        &ok(&accounts_body()),
    );
    bench_answer(
        c,
        "decode/ListAccountRoles (3 roles)",
        || (portal(&v, ListAccountRoles::new("111122223333")), t0()),
        &ok(&roles_body()),
    );
    bench_answer(
        c,
        "decode/Logout",
        || (portal(&v, Logout::new()), t0()),
        &ok(""),
    );

    // Errors, each where the flows meet it.
    bench_answer(
        c,
        "decode_error/authorization_pending (device poll)",
        || polling_device(&v),
        &oidc_error(
            ErrorCode::AuthorizationPending,
            "Authorization is still pending",
        ),
    );
    bench_answer(
        c,
        "decode_error/slow_down (device poll)",
        || polling_device(&v),
        &oidc_error(ErrorCode::SlowDown, "Client is polling too quickly"),
    );
    bench_answer(
        c,
        "decode_error/invalid_grant (refresh)",
        || (refresh(&v), t0()),
        &oidc_error(ErrorCode::InvalidGrant, "Invalid grant provided"),
    );
    bench_answer(
        c,
        "decode_error/500 InternalServerException (device poll, retried)",
        || polling_device(&v),
        &oidc_error(ErrorCode::InternalServer, "An internal error occurred"),
    );
    bench_answer(
        c,
        "decode_error/503 without body (StartDeviceAuthorization, retried)",
        || (registered_device(&v), t0()),
        &{
            let mut r = http::Response::new(Vec::new());
            *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
            r
        },
    );
    bench_answer(
        c,
        "decode_error/portal 401 UnauthorizedException (GetRoleCredentials)",
        || {
            (
                portal(
                    &v,
                    GetRoleCredentials::new("111122223333", "AdministratorAccess"),
                ),
                t0(),
            )
        },
        &portal_error(
            PortalErrorCode::Unauthorized,
            "Session token not found or invalid",
        ),
    );
    bench_answer(
        c,
        "decode_error/portal 429 TooManyRequestsException (ListAccounts, retried)",
        || (portal(&v, ListAccounts::new()), t0()),
        &portal_error(PortalErrorCode::TooManyRequests, "HTTP 429 Unknown Code"),
    );
}

fn decode_body(c: &mut Criterion) {
    let v = Values::new();
    let register = v.register_body();
    let start = v.start_body();
    let token = v.token_body();
    let role = v.role_credentials_body();
    let accounts = accounts_body();
    let roles = roles_body();
    c.bench_function("decode_body/RegisterClient", |b| {
        b.iter(|| wire::decode::<RegisterClientResponse>(black_box(register.as_bytes())).unwrap());
    });
    c.bench_function("decode_body/StartDeviceAuthorization", |b| {
        b.iter(|| {
            wire::decode::<StartDeviceAuthorizationResponse>(black_box(start.as_bytes())).unwrap()
        });
    });
    c.bench_function("decode_body/CreateToken", |b| {
        b.iter(|| wire::decode::<CreateTokenResponse>(black_box(token.as_bytes())).unwrap());
    });
    c.bench_function("decode_body/GetRoleCredentials", |b| {
        b.iter(|| wire::decode::<GetRoleCredentialsResponse>(black_box(role.as_bytes())).unwrap());
    });
    c.bench_function("decode_body/ListAccounts (20 accounts)", |b| {
        b.iter(|| wire::decode::<ListAccountsResponse>(black_box(accounts.as_bytes())).unwrap());
    });
    c.bench_function("decode_body/ListAccountRoles (3 roles)", |b| {
        b.iter(|| wire::decode::<ListAccountRolesResponse>(black_box(roles.as_bytes())).unwrap());
    });
}

fn error_parse(c: &mut Criterion) {
    let oidc = [
        (
            "authorization_pending",
            oidc_error(
                ErrorCode::AuthorizationPending,
                "Authorization is still pending",
            ),
        ),
        (
            "slow_down",
            oidc_error(ErrorCode::SlowDown, "Client is polling too quickly"),
        ),
        (
            "invalid_grant",
            oidc_error(ErrorCode::InvalidGrant, "Invalid grant provided"),
        ),
        (
            "500 InternalServerException",
            oidc_error(ErrorCode::InternalServer, "An internal error occurred"),
        ),
    ];
    for (name, response) in &oidc {
        c.bench_function(&format!("error_parse/ServiceError {name}"), |b| {
            b.iter(|| ServiceError::from_response(black_box(response)).unwrap());
        });
    }
    let unauthorized = portal_error(
        PortalErrorCode::Unauthorized,
        "Session token not found or invalid",
    );
    c.bench_function("error_parse/PortalError 401 UnauthorizedException", |b| {
        b.iter(|| PortalError::from_response(black_box(&unauthorized)).unwrap());
    });
}

criterion_group!(
    benches,
    encode,
    encode_body,
    decode,
    decode_body,
    error_parse
);
criterion_main!(benches);
