//! The SSO portal API (`portal-api.md`): what a signed-in person's access
//! token buys — role credentials, the accounts and roles they may use, and
//! logging the portal session out. The models and the service's errors live
//! here; [`PortalCall`] is the machine that calls it.

use std::time::{Duration, SystemTime};

use crate::secret::{SecretAccessKey, SessionToken};
use crate::wire::{self, ERROR_TYPE_HEADER, PORTAL_ERROR_NAMESPACE, PortalErrorBody};

/// Temporary AWS credentials for one account and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret key.
    pub secret_access_key: SecretAccessKey,
    /// The session token.
    pub session_token: SessionToken,
    /// When they stop working.
    pub expiration: SystemTime,
    /// The account they are for.
    pub account_id: String,
}

impl RoleCredentials {
    /// Time left at `wall_now`; zero once expired.
    pub fn remaining_at(&self, wall_now: SystemTime) -> Duration {
        self.expiration
            .duration_since(wall_now)
            .unwrap_or(Duration::ZERO)
    }
}

/// An account the signed-in person may use (ListAccounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The 12-digit id.
    pub account_id: String,
    /// The display name, when the service has one.
    pub account_name: Option<String>,
    /// The root email address, when the service has one.
    pub email_address: Option<String>,
}

/// A role (permission set) the person may use in an account (ListAccountRoles).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountRole {
    /// The account.
    pub account_id: String,
    /// The permission set name, e.g. `AdministratorAccess`.
    pub role_name: String,
}

/// The portal's error codes (`portal-api.md` §8.1), plus unknown ones kept as data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortalErrorCode {
    /// 401 `UnauthorizedException`: the access token is expired, revoked or unknown.
    Unauthorized,
    /// 403 `ForbiddenException` (not in the model): no such assignment.
    Forbidden,
    /// 429 `TooManyRequestsException`: throttled.
    TooManyRequests,
    /// 404 `ResourceNotFoundException`.
    ResourceNotFound,
    /// 400 `InvalidRequestException`.
    InvalidRequest,
    /// Anything else, by its shape name or, without one, its HTTP status.
    Other(String),
}

/// (code, shape, status)
const PORTAL_CODES: [(PortalErrorCode, &str, u16); 5] = [
    (PortalErrorCode::Unauthorized, "UnauthorizedException", 401),
    (PortalErrorCode::Forbidden, "ForbiddenException", 403),
    (
        PortalErrorCode::TooManyRequests,
        "TooManyRequestsException",
        429,
    ),
    (
        PortalErrorCode::ResourceNotFound,
        "ResourceNotFoundException",
        404,
    ),
    (
        PortalErrorCode::InvalidRequest,
        "InvalidRequestException",
        400,
    ),
];

impl PortalErrorCode {
    /// The shape name, e.g. `UnauthorizedException`.
    pub fn shape(&self) -> &str {
        match self {
            PortalErrorCode::Other(code) => code,
            known => PORTAL_CODES
                .iter()
                .find(|(c, _, _)| c == known)
                .map_or("", |(_, shape, _)| shape),
        }
    }

    /// The HTTP status the service sends it with (500 for unknown codes).
    pub fn status(&self) -> u16 {
        PORTAL_CODES
            .iter()
            .find(|(c, _, _)| c == self)
            .map_or(500, |(_, _, status)| *status)
    }

    fn from_shape(shape: &str) -> PortalErrorCode {
        PORTAL_CODES
            .iter()
            .find(|(_, s, _)| *s == shape)
            .map_or_else(
                || PortalErrorCode::Other(shape.to_owned()),
                |(c, _, _)| c.clone(),
            )
    }
}

/// An error answer of the portal: the code, the status and the message as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalError {
    /// Which error.
    pub code: PortalErrorCode,
    /// The HTTP status.
    pub status: u16,
    /// The body's `message` (or `Message`), if any.
    pub message: Option<String>,
}

impl PortalError {
    /// An error of `code` with its usual status.
    pub fn new(code: PortalErrorCode, message: impl Into<String>) -> PortalError {
        PortalError {
            status: code.status(),
            code,
            message: Some(message.into()),
        }
    }

    /// The error a non-2xx answer carries, derived as botocore does
    /// (`portal-api.md` §8.2): the `x-amzn-ErrorType` header, else the body's
    /// `code`, else its `__type`, else the HTTP status; cut at the first `:`
    /// and after the last `#`. `None` for a 2xx.
    pub fn from_response(response: &http::Response<Vec<u8>>) -> Option<PortalError> {
        let status = response.status().as_u16();
        if response.status().is_success() {
            return None;
        }
        let body: PortalErrorBody = wire::decode(response.body()).unwrap_or_default();
        let header = response
            .headers()
            .get(ERROR_TYPE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let raw = header
            .or(body.code)
            .or(body.error_type)
            .unwrap_or_else(|| status.to_string());
        let shape = raw.split(':').next().unwrap_or(&raw);
        let shape = shape.rsplit('#').next().unwrap_or(shape).trim();
        // A bare status with no name still says what happened.
        let code = match shape.parse::<u16>() {
            Ok(401) => PortalErrorCode::Unauthorized,
            Ok(403) => PortalErrorCode::Forbidden,
            Ok(429) => PortalErrorCode::TooManyRequests,
            Ok(404) => PortalErrorCode::ResourceNotFound,
            _ => PortalErrorCode::from_shape(shape),
        };
        let message = body.message.or_else(|| {
            serde_json::from_slice::<serde_json::Value>(response.body())
                .ok()
                .and_then(|v| v.get("Message")?.as_str().map(str::to_owned))
        });
        Some(PortalError {
            code,
            status,
            message,
        })
    }

    /// Whether a later try may succeed: throttling and server errors.
    pub(crate) fn is_transient(&self) -> bool {
        // A bare 429 counts too: throttling may come from a layer in front
        // of the portal that names no code (`portal-api.md` §2).
        self.code == PortalErrorCode::TooManyRequests || self.status == 429 || self.status >= 500
    }
}

impl std::fmt::Display for PortalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.code.shape(), self.status)?;
        match &self.message {
            Some(message) => write!(f, ": {message}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for PortalError {}

/// The response a server of the portal sends for `error`: its status, the
/// JSON content type, `x-amzn-ErrorType`, and a body with `__type` and
/// `message` — both forms, so every SDK reads the code (`portal-api.md` §8.2).
pub fn portal_error_response(error: &PortalError) -> http::Response<Vec<u8>> {
    let shape = error.code.shape();
    let body = PortalErrorBody {
        error_type: Some(format!("{PORTAL_ERROR_NAMESPACE}#{shape}")),
        code: None,
        message: error.message.clone(),
    };
    let mut response = http::Response::new(wire::encode(&body));
    *response.status_mut() =
        http::StatusCode::from_u16(error.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(wire::CONTENT_TYPE_JSON),
    );
    if let Ok(value) = http::HeaderValue::from_str(shape) {
        headers.insert(ERROR_TYPE_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, header: Option<&str>, body: &str) -> http::Response<Vec<u8>> {
        let mut r = http::Response::new(body.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        if let Some(h) = header {
            r.headers_mut()
                .insert(ERROR_TYPE_HEADER, http::HeaderValue::from_str(h).unwrap());
        }
        r
    }

    #[test]
    fn codes_are_derived_as_botocore_derives_them() {
        // portal-api.md §8.2, the table checked with botocore.
        let cases = [
            (
                answer(
                    401,
                    Some("UnauthorizedException:http://internal.amazon.com/coral/x/"),
                    r#"{"message":"Session token not found or invalid"}"#,
                ),
                PortalErrorCode::Unauthorized,
                Some("Session token not found or invalid"),
            ),
            (
                answer(
                    401,
                    None,
                    r#"{"__type":"com.amazonaws.switchboard.portal#UnauthorizedException","message":"x"}"#,
                ),
                PortalErrorCode::Unauthorized,
                Some("x"),
            ),
            (
                answer(401, None, r#"{"message":"m"}"#),
                PortalErrorCode::Unauthorized,
                Some("m"),
            ),
            (
                answer(
                    403,
                    Some("ForbiddenException"),
                    r#"{"message":"No access"}"#,
                ),
                PortalErrorCode::Forbidden,
                Some("No access"),
            ),
            (
                answer(
                    400,
                    None,
                    r#"{"code":"InvalidRequestException","message":"bad"}"#,
                ),
                PortalErrorCode::InvalidRequest,
                Some("bad"),
            ),
            (
                answer(400, Some("InvalidRequestException"), r#"{"Message":"bad"}"#),
                PortalErrorCode::InvalidRequest,
                Some("bad"),
            ),
            (
                answer(
                    429,
                    None,
                    r#"{"message":"HTTP 429 Unknown Code","__type":"com.amazonaws.switchboard.portal#TooManyRequestsException"}"#,
                ),
                PortalErrorCode::TooManyRequests,
                Some("HTTP 429 Unknown Code"),
            ),
            (
                answer(500, None, ""),
                PortalErrorCode::Other("500".into()),
                None,
            ),
        ];
        for (response, code, message) in cases {
            let error = PortalError::from_response(&response).unwrap();
            assert_eq!(error.code, code);
            assert_eq!(error.message.as_deref(), message);
        }
        assert!(PortalError::from_response(&answer(200, None, "{}")).is_none());
    }

    #[test]
    fn a_server_error_reads_back_as_sent() {
        let sent = PortalError::new(PortalErrorCode::Forbidden, "No access");
        let response = portal_error_response(&sent);
        assert_eq!(response.status(), 403);
        assert_eq!(PortalError::from_response(&response), Some(sent));
    }
}

mod call;

pub use call::{
    GetRoleCredentials, ListAccountRoles, ListAccounts, Logout, PortalCall, PortalOutcome,
    PortalRequest,
};
