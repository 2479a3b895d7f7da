//! What a server of this protocol needs and a client does not: the error
//! response as the service renders it, and the request-id header. The
//! simulated service and the emulator use these, so the client's parser
//! ([`ServiceError::from_response`]) and the server can never disagree.

use crate::error::{ErrorCode, ServiceError};
use crate::wire::{self, ERROR_TYPE_HEADER, ErrorBody};

/// The namespace the service appends to the shape name in `x-amzn-ErrorType`.
pub const ERROR_TYPE_NAMESPACE: &str = "http://internal.amazon.com/coral/com.amazonaws.sso.oidc/";

/// The header that carries the request id on every response.
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// The HTTP status the service sends with `code` (400 for unknown codes).
pub fn status_of(code: &ErrorCode) -> u16 {
    code.status()
}

/// The response a server sends for `error`: its status, the JSON content
/// type, `x-amzn-ErrorType` and the OAuth body.
pub fn error_response(error: &ServiceError) -> http::Response<Vec<u8>> {
    let body = ErrorBody {
        error: Some(error.code.oauth_error().to_owned()),
        error_description: error.description.clone(),
        reason: error.reason.clone(),
        endpoint: error.endpoint.clone(),
        region: error.region.clone(),
    };
    let mut response = http::Response::new(wire::encode(&body));
    *response.status_mut() =
        http::StatusCode::from_u16(error.status).unwrap_or(http::StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(wire::CONTENT_TYPE_JSON),
    );
    if let Ok(value) =
        http::HeaderValue::from_str(&format!("{}:{ERROR_TYPE_NAMESPACE}", error.code.shape()))
    {
        headers.insert(ERROR_TYPE_HEADER, value);
    }
    response
}
