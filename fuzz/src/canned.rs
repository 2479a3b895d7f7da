//! Canned, valid service answers that bring a flow to the state a fuzz input
//! asks for, and the secrets they carry. Every canned secret holds the marker
//! [`SECRET_MARKER`], so a harness can tell whether one leaked into `Debug`.

use std::time::{Duration, Instant, SystemTime};

use ssoflow_core::secret::{AccessToken, ClientSecret, RefreshToken};
use ssoflow_core::{
    Endpoint, ErrorCode, Event, FlowConfig, Outcome, Registration, ServiceError, Token, Transmit,
    TransportErrorKind,
};

pub(crate) const START_URL: &str = "https://d-1234567890.awsapps.com/start";
pub(crate) const ENDPOINT: &str = "https://oidc.us-east-1.amazonaws.com";

/// Part of every canned secret, and of nothing else the harnesses produce.
pub(crate) const SECRET_MARKER: &str = "SECRETzq";
pub(crate) const CLIENT_SECRET: &str = "SECRETzq-client-secret";
pub(crate) const DEVICE_CODE: &str = "SECRETzq-device-code";
pub(crate) const ACCESS_TOKEN: &str = "SECRETzq-access-token";
pub(crate) const REFRESH_TOKEN: &str = "SECRETzq-refresh-token";
pub(crate) const OLD_ACCESS_TOKEN: &str = "SECRETzq-old-access-token";
pub(crate) const OLD_REFRESH_TOKEN: &str = "SECRETzq-old-refresh-token";

/// 2026-01-01T00:00:00Z, the wall time every flow starts at.
pub(crate) fn wall0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub(crate) fn endpoint() -> Endpoint {
    Endpoint::from_url(ENDPOINT).expect("the canned endpoint is valid")
}

/// The flow configuration: the default scope, or none (a legacy profile).
pub(crate) fn config(legacy: bool) -> FlowConfig {
    let config = FlowConfig::new(endpoint(), START_URL).expect("the canned start URL is valid");
    if legacy {
        config.with_scopes(Vec::<String>::new())
    } else {
        config
    }
}

/// A cached registration good for a day from [`wall0`].
pub(crate) fn registration(legacy: bool) -> Registration {
    Registration {
        client_id: "cid-cached".into(),
        client_secret: ClientSecret::new(CLIENT_SECRET),
        expires_at: wall0() + Duration::from_secs(86_400),
        scopes: if legacy {
            Vec::new()
        } else {
            vec!["sso:account:access".into()]
        },
        grant_types: Vec::new(),
    }
}

/// A token to refresh, with or without its refresh token, and a registration
/// that is live or already expired at [`wall0`].
pub(crate) fn token(refreshable: bool, registration_expired: bool) -> Token {
    let mut registration = registration(false);
    if registration_expired {
        registration.expires_at = wall0() - Duration::from_secs(1);
    }
    Token {
        access_token: AccessToken::new(OLD_ACCESS_TOKEN),
        refresh_token: refreshable.then(|| RefreshToken::new(OLD_REFRESH_TOKEN)),
        expires_at: wall0() + Duration::from_secs(60),
        registration,
    }
}

pub(crate) fn response(status: u16, body: impl Into<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.into());
    *r.status_mut() = http::StatusCode::from_u16(status).expect("a canned status is valid");
    r
}

pub(crate) fn error(code: ErrorCode) -> http::Response<Vec<u8>> {
    ssoflow_core::server::error_response(&ServiceError::new(code, "canned"))
}

pub(crate) fn clone_response(r: &http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
    let mut c = http::Response::new(r.body().clone());
    *c.status_mut() = r.status();
    *c.headers_mut() = r.headers().clone();
    c
}

pub(crate) fn registered_body() -> String {
    format!(
        r#"{{"clientId":"cid-new","clientSecret":"{CLIENT_SECRET}","clientIdIssuedAt":1767225600,"clientSecretExpiresAt":1775001600}}"#
    )
}

pub(crate) fn started_body(interval: u64, expires_in: u64) -> String {
    format!(
        r#"{{"deviceCode":"{DEVICE_CODE}","userCode":"BCDF-GHJK","verificationUri":"https://device.sso.us-east-1.amazonaws.com/","verificationUriComplete":"https://device.sso.us-east-1.amazonaws.com/?user_code=BCDF-GHJK","expiresIn":{expires_in},"interval":{interval}}}"#
    )
}

pub(crate) fn token_body(with_refresh_token: bool) -> String {
    let refresh = if with_refresh_token {
        format!(r#","refreshToken":"{REFRESH_TOKEN}""#)
    } else {
        String::new()
    };
    format!(r#"{{"accessToken":"{ACCESS_TOKEN}","tokenType":"Bearer","expiresIn":3600{refresh}}}"#)
}

/// Every error code the service model has, and two it does not.
pub(crate) fn code(n: u8) -> ErrorCode {
    const CODES: [ErrorCode; 14] = [
        ErrorCode::AuthorizationPending,
        ErrorCode::SlowDown,
        ErrorCode::ExpiredToken,
        ErrorCode::AccessDenied,
        ErrorCode::InvalidClient,
        ErrorCode::UnauthorizedClient,
        ErrorCode::InvalidGrant,
        ErrorCode::InternalServer,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidRequestRegion,
        ErrorCode::InvalidScope,
        ErrorCode::InvalidClientMetadata,
        ErrorCode::InvalidRedirectUri,
        ErrorCode::UnsupportedGrantType,
    ];
    match CODES.get(usize::from(n) % (CODES.len() + 2)) {
        Some(code) => code.clone(),
        None if n & 1 == 0 => ErrorCode::Other("ThrottlingException".into()),
        None => ErrorCode::Other(String::new()),
    }
}

/// What an error answer asks of the client, read from the spec
/// (`wire-protocol.md` §9.4, `device-flow.md` §5) rather than taken from the
/// core, so that the harnesses cross-check the core's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// `authorization_pending`: poll again after one interval.
    Wait,
    /// `slow_down`: poll 5 s less often (a setup request or a refresh retries it).
    SlowDown,
    /// `invalid_client`: register again, once.
    RegisterAgain,
    /// A 5xx or 429, whatever the code: retry after a growing wait.
    Retry,
    /// Nothing a retry fixes.
    Stop,
}

pub(crate) fn step(error: &ServiceError) -> Step {
    if error.status >= 500 || error.status == 429 {
        return Step::Retry;
    }
    match error.code {
        ErrorCode::AuthorizationPending => Step::Wait,
        ErrorCode::SlowDown => Step::SlowDown,
        ErrorCode::InvalidClient => Step::RegisterAgain,
        ErrorCode::InternalServer => Step::Retry,
        _ => Step::Stop,
    }
}

pub(crate) fn transport_kind(n: u8) -> TransportErrorKind {
    match n % 5 {
        0 => TransportErrorKind::Timeout,
        1 => TransportErrorKind::Connect,
        2 => TransportErrorKind::ConnectionLost,
        3 => TransportErrorKind::BodyTooLarge,
        _ => TransportErrorKind::Other,
    }
}

/// A time step from one byte: small and boundary values around the 1 s
/// interval, 5 s slow-down step, 60 s backoff cap and 600 s / 3600 s lifetimes.
pub(crate) fn delay(n: u8) -> Duration {
    const SECS: [u64; 16] = [
        0, 1, 4, 5, 6, 29, 30, 59, 60, 599, 600, 601, 3599, 3600, 3601, 86_400,
    ];
    match SECS.get(usize::from(n & 0x0f)) {
        // The high nibble adds up to 15 × 250 ms, to land between the seconds.
        Some(secs) => Duration::from_secs(*secs) + Duration::from_millis(250 * u64::from(n >> 4)),
        None => Duration::ZERO,
    }
}

/// `t + d`, saturating at `t` (a harness must not panic on its own arithmetic).
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

/// Checks that no canned secret shows in `text` (a `Debug` or `Display`
/// rendering), unless the fuzz input itself contained the marker.
pub(crate) fn assert_no_canned_secret(text: &str, input_has_marker: bool, what: &str) {
    if !input_has_marker {
        assert!(
            !text.contains(SECRET_MARKER),
            "a secret shows in the {what}: {text}"
        );
    }
}

/// The `Debug` of a transmit never shows its body, whatever it holds.
pub(crate) fn check_transmit_debug(tx: &Transmit) {
    let debug = format!("{tx:?}");
    assert!(
        !debug.contains(SECRET_MARKER),
        "a secret shows in a transmit's Debug: {debug}"
    );
}

/// Renders an event for the leak checks.
pub(crate) fn render_event(event: &Event) -> String {
    format!("{event:?}")
}

/// Renders an outcome for the leak checks: `Debug`, and `Display` of an error.
pub(crate) fn render_outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(error) => format!("{outcome:?} / {error}"),
        _ => format!("{outcome:?}"),
    }
}
