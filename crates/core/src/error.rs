//! The service's errors (`wire-protocol.md` §9), the flow's outcomes, and the
//! separate family of caller mistakes.

use std::time::Duration;

use crate::operation::Operation;
use crate::portal::{PortalError, PortalErrorCode};
use crate::wire::{self, ERROR_TYPE_HEADER, ErrorBody};

/// Every error code of the service model (§9.3), plus unknown codes kept as data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `AccessDeniedException` / `access_denied`: the person said no (or a KMS denial).
    AccessDenied,
    /// `AuthorizationPendingException` / `authorization_pending`: not approved yet.
    AuthorizationPending,
    /// `ExpiredTokenException` / `expired_token`: the device code ran out.
    ExpiredToken,
    /// `InternalServerException` / `server_error` (500).
    InternalServer,
    /// `InvalidClientException` / `invalid_client` (401): unknown or expired registration.
    InvalidClient,
    /// `InvalidClientMetadataException` / `invalid_client_metadata`.
    InvalidClientMetadata,
    /// `InvalidGrantException` / `invalid_grant`: unknown, used or revoked code or token.
    InvalidGrant,
    /// `InvalidRedirectUriException` / `invalid_redirect_uri`.
    InvalidRedirectUri,
    /// `InvalidRequestException` / `invalid_request`.
    InvalidRequest,
    /// `InvalidRequestRegionException` / `invalid_request` with `endpoint` and `region`.
    InvalidRequestRegion,
    /// `InvalidScopeException` / `invalid_scope`.
    InvalidScope,
    /// `SlowDownException` / `slow_down`: poll less often.
    SlowDown,
    /// `UnauthorizedClientException` / `unauthorized_client`.
    UnauthorizedClient,
    /// `UnsupportedGrantTypeException` / `unsupported_grant_type`.
    UnsupportedGrantType,
    /// A code this version does not know, exactly as received.
    Other(String),
}

/// What a client does after an error, decided by the code (and a 5xx status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextStep {
    /// Wait one interval and poll again (`authorization_pending`).
    Wait,
    /// Add 5 s to the interval for good, then poll again (`slow_down`).
    SlowDown,
    /// Drop the registration and register again, once (`invalid_client`).
    RegisterAgain,
    /// A transient fault: retry after a growing, capped wait.
    Retry,
    /// Nothing a retry can fix.
    Stop,
}

/// (code, model shape, OAuth `error`, HTTP status) for every known code.
const CODES: [(ErrorCode, &str, &str, u16); 14] = [
    (
        ErrorCode::AccessDenied,
        "AccessDeniedException",
        "access_denied",
        400,
    ),
    (
        ErrorCode::AuthorizationPending,
        "AuthorizationPendingException",
        "authorization_pending",
        400,
    ),
    (
        ErrorCode::ExpiredToken,
        "ExpiredTokenException",
        "expired_token",
        400,
    ),
    (
        ErrorCode::InternalServer,
        "InternalServerException",
        "server_error",
        500,
    ),
    (
        ErrorCode::InvalidClient,
        "InvalidClientException",
        "invalid_client",
        401,
    ),
    (
        ErrorCode::InvalidClientMetadata,
        "InvalidClientMetadataException",
        "invalid_client_metadata",
        400,
    ),
    (
        ErrorCode::InvalidGrant,
        "InvalidGrantException",
        "invalid_grant",
        400,
    ),
    (
        ErrorCode::InvalidRedirectUri,
        "InvalidRedirectUriException",
        "invalid_redirect_uri",
        400,
    ),
    (
        ErrorCode::InvalidRequest,
        "InvalidRequestException",
        "invalid_request",
        400,
    ),
    (
        ErrorCode::InvalidRequestRegion,
        "InvalidRequestRegionException",
        "invalid_request",
        400,
    ),
    (
        ErrorCode::InvalidScope,
        "InvalidScopeException",
        "invalid_scope",
        400,
    ),
    (ErrorCode::SlowDown, "SlowDownException", "slow_down", 400),
    (
        ErrorCode::UnauthorizedClient,
        "UnauthorizedClientException",
        "unauthorized_client",
        400,
    ),
    (
        ErrorCode::UnsupportedGrantType,
        "UnsupportedGrantTypeException",
        "unsupported_grant_type",
        400,
    ),
];

impl ErrorCode {
    fn row(&self) -> Option<&'static (ErrorCode, &'static str, &'static str, u16)> {
        CODES.iter().find(|row| row.0 == *self)
    }

    /// The code for a model shape name such as `SlowDownException`; unknown names become `Other`.
    pub fn from_shape(shape: &str) -> ErrorCode {
        CODES
            .iter()
            .find(|row| row.1 == shape)
            .map_or_else(|| ErrorCode::Other(shape.to_owned()), |row| row.0.clone())
    }

    /// The code for an OAuth `error` value such as `slow_down`; unknown values become `Other`.
    /// `invalid_request` maps to [`ErrorCode::InvalidRequest`].
    pub fn from_oauth(error: &str) -> ErrorCode {
        CODES
            .iter()
            .find(|row| row.2 == error)
            .map_or_else(|| ErrorCode::Other(error.to_owned()), |row| row.0.clone())
    }

    /// The model shape name (the `x-amzn-ErrorType` value before `:`).
    pub fn shape(&self) -> &str {
        match self {
            ErrorCode::Other(code) => code,
            known => known.row().map_or("", |row| row.1),
        }
    }

    /// The OAuth `error` member the service puts in the body.
    pub fn oauth_error(&self) -> &str {
        match self {
            ErrorCode::Other(code) => code,
            known => known.row().map_or("", |row| row.2),
        }
    }

    /// The HTTP status the service sends with this code (400 for unknown codes).
    pub(crate) fn status(&self) -> u16 {
        self.row().map_or(400, |row| row.3)
    }

    /// What the client does next (`wire-protocol.md` §9.4, `device-flow.md` §5).
    /// `unauthorized_client` stops: a new registration would ask for the same
    /// grant types, which the service has just refused.
    pub(crate) fn next_step(&self) -> NextStep {
        match self {
            ErrorCode::AuthorizationPending => NextStep::Wait,
            ErrorCode::SlowDown => NextStep::SlowDown,
            ErrorCode::InvalidClient => NextStep::RegisterAgain,
            ErrorCode::InternalServer => NextStep::Retry,
            _ => NextStep::Stop,
        }
    }
}

/// An error answer from the service: the code, the status it came with, and the
/// body's text members as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// Which error.
    pub code: ErrorCode,
    /// The HTTP status of the response.
    pub status: u16,
    /// The body's `error_description`.
    pub description: Option<String>,
    /// The body's `reason` (KMS problems).
    pub reason: Option<String>,
    /// The body's `endpoint` (CreateTokenWithIAM's region redirect).
    pub endpoint: Option<String>,
    /// The body's `region` (CreateTokenWithIAM's region redirect).
    pub region: Option<String>,
}

impl ServiceError {
    /// An error with the code's own status and a description, as a server sends it.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> ServiceError {
        ServiceError {
            status: code.status(),
            code,
            description: Some(description.into()),
            reason: None,
            endpoint: None,
            region: None,
        }
    }

    /// Parses a non-2xx response as §9.2 says: the sanitised `x-amzn-ErrorType`
    /// header first, then the body's `error`, then the status. Returns `None` for
    /// a 2xx status. Never fails: any body gives an error value.
    pub fn from_response(response: &http::Response<Vec<u8>>) -> Option<ServiceError> {
        let status = response.status().as_u16();
        if response.status().is_success() {
            return None;
        }
        let body: ErrorBody = wire::decode(response.body()).unwrap_or_default();
        let from_header = response
            .headers()
            .get(ERROR_TYPE_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(sanitize_error_type)
            .filter(|s| !s.is_empty())
            .map(ErrorCode::from_shape);
        let code = from_header
            .or_else(|| {
                body.error
                    .as_deref()
                    .filter(|e| !e.is_empty())
                    .map(ErrorCode::from_oauth)
            })
            // With neither header nor body code, the status decides where the
            // model gives it only one meaning: 500 and 401.
            .unwrap_or_else(|| match status {
                500 => ErrorCode::InternalServer,
                401 => ErrorCode::InvalidClient,
                _ => ErrorCode::Other(status.to_string()),
            });
        Some(ServiceError {
            code,
            status,
            description: body.error_description,
            reason: body.reason,
            endpoint: body.endpoint,
            region: body.region,
        })
    }

    /// What the client does next: a 5xx is always retried, whatever its code.
    pub(crate) fn next_step(&self) -> NextStep {
        if self.status >= 500 || self.status == 429 {
            NextStep::Retry
        } else {
            self.code.next_step()
        }
    }

    /// Whether this refuses the registration in use (`invalid_client`,
    /// `unauthorized_client`, not as a retriable 5xx): the flows report it
    /// with `Event::RegistrationRejected`.
    pub(crate) fn rejects_registration(&self) -> bool {
        self.next_step() != NextStep::Retry
            && matches!(
                self.code,
                ErrorCode::InvalidClient | ErrorCode::UnauthorizedClient
            )
    }
}

/// Strips what botocore strips: everything from the first `:` and up to the last `#`.
fn sanitize_error_type(raw: &str) -> &str {
    let before_colon = raw.split(':').next().unwrap_or(raw);
    let after_hash = before_colon.rsplit('#').next().unwrap_or(before_colon);
    after_hash.trim()
}

/// A response body that does not hold what the flow needs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not JSON of the expected shape.
    Json(String),
    /// A member the flow needs is absent or `null`.
    MissingMember(&'static str),
    /// A member is present but unusable (e.g. an empty string).
    InvalidMember(&'static str),
    /// The body was larger than the transport accepts, so it was not read.
    TooLarge,
}

/// How a request failed below HTTP; drivers translate their own errors into this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, DNS, a TLS handshake cut short).
    Connect,
    /// The server's certificate was refused: an unknown issuer, another
    /// host's name, expired. No retry fixes it, so a driven flow ends at once
    /// ([`TransportError::certificate`](crate::drive::TransportError::certificate)
    /// says what to do).
    Certificate,
    /// The connect or read timeout ran out.
    Timeout,
    /// The connection broke mid-exchange.
    ConnectionLost,
    /// The response was larger than the driver accepts.
    BodyTooLarge,
    /// Anything else.
    Other,
}

/// Why a flow failed; comparable so tests can assert on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// The service refused in a way no retry fixes (invalid grant, scope, request, unknown codes…).
    Service {
        /// The operation that was refused.
        operation: Operation,
        /// The service's answer (boxed: it is large and this path is rare).
        error: Box<ServiceError>,
    },
    /// Transient failures went on until the retry budget ran out.
    RetriesExhausted {
        /// The operation that kept failing.
        operation: Operation,
        /// How many requests were sent.
        attempts: u32,
        /// The last failure, in words.
        last: String,
    },
    /// A success response lacked what the flow needs, on every attempt.
    Decode {
        /// The operation whose response it was.
        operation: Operation,
        /// What is wrong with it.
        error: DecodeError,
    },
    /// The service accepted a single-use grant but its answer could not be
    /// read. The grant is spent (a device code yields one token; a refresh
    /// token may have been rotated), so the request is not sent again: that
    /// could only fail with `invalid_grant` and hide this cause.
    GrantSpent {
        /// Which grant: `"device code"` or `"refresh token"`.
        grant: &'static str,
        /// What is wrong with the answer.
        error: DecodeError,
    },
    /// The answer to an earlier request with a single-use grant was lost (a
    /// timeout or a broken connection after it was sent), and the service
    /// now refuses the grant with `invalid_grant`: the lost answer most
    /// likely spent it.
    AnswerLost {
        /// Which grant: `"device code"` or `"refresh token"`.
        grant: &'static str,
        /// The service's refusal.
        error: Box<ServiceError>,
    },
    /// The registration's secret expired; a new sign-in is needed.
    RegistrationExpired,
    /// The token has no refresh token (a legacy registration without scopes).
    NotRefreshable,
    /// The caller cancelled the flow.
    Cancelled,
    /// No valid callback reached the loopback listener in time: the browser
    /// never came back (it runs on another machine, or the person closed
    /// the tab). The device flow works without a local browser.
    NoCallback {
        /// How long the flow waited.
        waited: Duration,
        /// Callbacks refused meanwhile (a wrong or missing `state`).
        refused: u32,
    },
    /// The browser came back with the right `state` and an `error` other
    /// than `access_denied` (which ends the flow `Denied`).
    AuthorizationError {
        /// The `error` parameter, e.g. `invalid_scope`.
        error: String,
        /// The `error_description` parameter, if any.
        description: Option<String>,
    },
    /// The browser came back with the right `state` but neither a `code`
    /// nor an `error`.
    MissingCode,
    /// The SSO portal refused a call in a way no retry fixes.
    Portal {
        /// The portal operation.
        operation: Operation,
        /// What it was about, e.g. "role ReadOnly in account 111122223333".
        target: String,
        /// The portal's answer.
        error: Box<PortalError>,
    },
    /// The portal sent the same page token twice: following it would loop.
    RepeatedPageToken {
        /// The listing operation.
        operation: Operation,
    },
}

impl FlowError {
    /// True when only a new interactive sign-in can help (e.g. `invalid_grant` on refresh).
    pub fn needs_sign_in(&self) -> bool {
        match self {
            FlowError::Service { error, .. } => matches!(
                error.code,
                ErrorCode::InvalidGrant
                    | ErrorCode::InvalidClient
                    | ErrorCode::UnauthorizedClient
                    | ErrorCode::ExpiredToken
                    | ErrorCode::AccessDenied
            ),
            FlowError::Portal { error, .. } => error.code == PortalErrorCode::Unauthorized,
            FlowError::GrantSpent { .. }
            | FlowError::AnswerLost { .. }
            | FlowError::NoCallback { .. }
            | FlowError::AuthorizationError { .. }
            | FlowError::MissingCode
            | FlowError::RegistrationExpired
            | FlowError::NotRefreshable => true,
            _ => false,
        }
    }
}

/// A mistake in how the caller drives a machine, kept apart from untrusted input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// A response or transport error was handed in for a request that is not in flight.
    UnknownRequest(u64),
    /// The answer came after the flow had stopped waiting for it (it waits
    /// this long, then counts the request as lost and may send again). A
    /// driver must time its requests out sooner.
    AnswerTooLate {
        /// The request's id.
        id: u64,
        /// How long the flow waited.
        waited: Duration,
    },
}

// Display and Error are hand-written rather than derived with thiserror: it
// keeps two proc-macro crates out of the core's dependency tree.

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (HTTP {})", self.code.shape(), self.status)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(r) = &self.reason {
            write!(f, " [reason: {r}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Json(why) => write!(f, "the body is not the expected JSON: {why}"),
            DecodeError::MissingMember(m) => write!(f, "the response has no `{m}` member"),
            DecodeError::InvalidMember(m) => write!(f, "the response's `{m}` member is unusable"),
            DecodeError::TooLarge => f.write_str("the body is larger than the transport accepts"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowError::Service { operation, error } => {
                write!(
                    f,
                    "the SSO OIDC service refused {}: {error}",
                    operation.name()
                )?;
                match error.code {
                    ErrorCode::UnauthorizedClient => f.write_str(
                        "; this client registration may not use this grant, so it must not be \
                         reused: sign in again to register a new client, and if that is refused \
                         too, ask the administrator of IAM Identity Center",
                    ),
                    ErrorCode::InvalidClient => f.write_str(
                        "; the client registration is unknown or has expired: sign in again",
                    ),
                    _ => Ok(()),
                }
            }
            FlowError::RetriesExhausted {
                operation,
                attempts,
                last,
            } => {
                write!(
                    f,
                    "{} kept failing ({attempts} attempts); last problem: {last}",
                    operation.name()
                )
            }
            FlowError::Decode { operation, error } => {
                write!(f, "the {} response is unusable: {error}", operation.name())
            }
            FlowError::GrantSpent { grant, error } => write!(
                f,
                "the service accepted the {grant} but its answer could not be read ({error}); \
                 the {grant} is spent, so it was not sent again: sign in again"
            ),
            FlowError::AnswerLost { grant, error } => write!(
                f,
                "the answer to an earlier request with the {grant} was lost, and now the \
                 service refuses the {grant} ({error}): the lost answer most likely spent it, \
                 so sign in again"
            ),
            FlowError::RegistrationExpired => {
                f.write_str("the client registration has expired; sign in again")
            }
            FlowError::NotRefreshable => f.write_str(
                "the token cannot be refreshed (it has no refresh token); sign in again",
            ),
            FlowError::Cancelled => f.write_str("the flow was cancelled"),
            FlowError::NoCallback { waited, refused } => {
                write!(
                    f,
                    "no sign-in came back from the browser within {} s",
                    waited.as_secs()
                )?;
                if *refused > 0 {
                    write!(
                        f,
                        " ({refused} callback(s) without this sign-in's state were refused)"
                    )?;
                }
                f.write_str(
                    "; if the browser runs on another machine, sign in with the device code instead",
                )
            }
            FlowError::AuthorizationError { error, description } => {
                write!(f, "the authorization server refused the sign-in: {error}")?;
                match description {
                    Some(text) => write!(f, " ({text})"),
                    None => Ok(()),
                }
            }
            FlowError::MissingCode => f.write_str(
                "the browser came back from the authorization server without a code or an error",
            ),
            FlowError::Portal {
                operation,
                target,
                error,
            } => {
                let name = operation.name();
                match error.code {
                    PortalErrorCode::Unauthorized => write!(
                        f,
                        "the SSO session is no longer valid (the portal answered {name} with \
                         {error}): sign in again"
                    ),
                    PortalErrorCode::Forbidden => write!(
                        f,
                        "no access to {target} ({error}): check that this account and role are \
                         assigned to you in IAM Identity Center; an assignment made after you \
                         signed in needs a new sign-in"
                    ),
                    PortalErrorCode::ResourceNotFound => write!(
                        f,
                        "the portal found no {target} ({error}): check the account id and role name"
                    ),
                    PortalErrorCode::TooManyRequests => write!(
                        f,
                        "the portal throttled {name} for {target} ({error}); try again in a minute"
                    ),
                    PortalErrorCode::InvalidRequest => {
                        write!(
                            f,
                            "the portal refused {name} for {target} as invalid ({error})"
                        )
                    }
                    _ => write!(f, "the portal refused {name} for {target}: {error}"),
                }
            }
            FlowError::RepeatedPageToken { operation } => write!(
                f,
                "the portal sent the same {} page token twice; stopped rather than loop",
                operation.name()
            ),
        }
    }
}

impl std::error::Error for FlowError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FlowError::Service { error, .. } | FlowError::AnswerLost { error, .. } => {
                Some(error.as_ref())
            }
            FlowError::Decode { error, .. } | FlowError::GrantSpent { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl std::fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiMisuse::UnknownRequest(id) => write!(f, "no request with id {id} is in flight"),
            ApiMisuse::AnswerTooLate { id, waited } => write!(
                f,
                "the answer to request {id} came after the flow stopped waiting for it \
                 ({} s); time requests out sooner",
                waited.as_secs()
            ),
        }
    }
}

impl std::error::Error for ApiMisuse {}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, header: Option<&str>, body: &str) -> http::Response<Vec<u8>> {
        let mut r = http::Response::new(body.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        if let Some(h) = header {
            r.headers_mut()
                .insert("X-Amzn-ErrorType", h.parse().unwrap());
        }
        r
    }

    #[test]
    fn header_wins_and_is_sanitised() {
        let r = response(
            400,
            Some(
                "AuthorizationPendingException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/",
            ),
            r#"{"error":"slow_down","error_description":"Authorization is still pending"}"#,
        );
        let e = ServiceError::from_response(&r).unwrap();
        assert_eq!(e.code, ErrorCode::AuthorizationPending);
        assert_eq!(
            e.description.as_deref(),
            Some("Authorization is still pending")
        );
        let r = response(400, Some("aws.protocoltests#SlowDownException:x"), "{}");
        assert_eq!(
            ServiceError::from_response(&r).unwrap().code,
            ErrorCode::SlowDown
        );
    }

    #[test]
    fn body_then_status() {
        let r = response(
            400,
            None,
            r#"{"error":"access_denied","reason":"KMS_AccessDeniedException"}"#,
        );
        let e = ServiceError::from_response(&r).unwrap();
        assert_eq!(e.code, ErrorCode::AccessDenied);
        assert_eq!(e.reason.as_deref(), Some("KMS_AccessDeniedException"));
        let e = ServiceError::from_response(&response(400, None, "<html>")).unwrap();
        assert_eq!(e.code, ErrorCode::Other("400".into()));
        assert_eq!(e.next_step(), NextStep::Stop);
        let e = ServiceError::from_response(&response(503, None, "")).unwrap();
        assert_eq!(e.next_step(), NextStep::Retry);
        let e = ServiceError::from_response(&response(500, None, "")).unwrap();
        assert_eq!(e.code, ErrorCode::InternalServer);
        // 401 has one meaning in the model: the registration is unknown or expired.
        let e = ServiceError::from_response(&response(401, None, "")).unwrap();
        assert_eq!(
            (e.code.clone(), e.next_step()),
            (ErrorCode::InvalidClient, NextStep::RegisterAgain)
        );
        assert!(ServiceError::from_response(&response(200, None, "")).is_none());
    }

    #[test]
    fn unknown_codes_are_kept_as_data() {
        let r = response(
            400,
            Some("BrandNewException:ns"),
            r#"{"error":"brand_new","error_description":"d"}"#,
        );
        let e = ServiceError::from_response(&r).unwrap();
        assert_eq!(e.code, ErrorCode::Other("BrandNewException".into()));
        assert_eq!(e.next_step(), NextStep::Stop);
        let e =
            ServiceError::from_response(&response(400, None, r#"{"error":"brand_new"}"#)).unwrap();
        assert_eq!(e.code, ErrorCode::Other("brand_new".into()));
    }

    #[test]
    fn every_code_round_trips_through_a_response() {
        for (code, shape, oauth, status) in CODES.iter() {
            assert_eq!(ErrorCode::from_shape(shape), *code);
            assert_eq!(code.shape(), *shape);
            assert_eq!(code.oauth_error(), *oauth);
            let sent = ServiceError::new(code.clone(), "why");
            let r = crate::server::error_response(&sent);
            assert_eq!(r.status().as_u16(), *status);
            assert_eq!(r.headers()["content-type"], "application/json");
            assert_eq!(
                r.headers()["x-amzn-ErrorType"],
                format!("{shape}:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/")
                    .as_str()
            );
            assert_eq!(ServiceError::from_response(&r).unwrap(), sent);
        }
    }

    #[test]
    fn next_steps() {
        use ErrorCode::*;
        assert_eq!(AuthorizationPending.next_step(), NextStep::Wait);
        assert_eq!(SlowDown.next_step(), NextStep::SlowDown);
        assert_eq!(InvalidClient.next_step(), NextStep::RegisterAgain);
        assert_eq!(InternalServer.next_step(), NextStep::Retry);
        for stop in [
            UnauthorizedClient,
            AccessDenied,
            ExpiredToken,
            InvalidGrant,
            InvalidScope,
            InvalidRequest,
            UnsupportedGrantType,
        ] {
            assert_eq!(stop.next_step(), NextStep::Stop);
        }
        assert_eq!(ErrorCode::from_oauth("invalid_request"), InvalidRequest);
    }
}
