//! The three operations (and every path that is none of them): the body is
//! read whole, within a size and time limit, and handed to the simulated
//! service, whose [`Reply`] is carried out here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ssoflow_core::{ErrorCode, ServiceError};
use ssoflow_test_transport::Reply;

use crate::Shared;
use crate::server::DropConnection;

/// Answers any request that no page or admin route took.
pub(crate) async fn operation(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(
        &parts.headers,
        body,
        shared.body_limit,
        shared.body_read_timeout,
    )
    .await
    {
        Ok(body) => body,
        Err(error) => return into_axum(shared.with_service(|service| service.refuse(&error))),
    };
    let request = http::Request::from_parts(parts, body);
    let reply = shared.with_service(|service| service.handle(SystemTime::now(), &request));
    match reply {
        Reply::Respond(response) => into_axum(response),
        Reply::Delayed(delay, response) => {
            tokio::time::sleep(delay).await;
            into_axum(response)
        }
        Reply::Drop => {
            let mut response = ().into_response();
            response.extensions_mut().insert(DropConnection);
            response
        }
    }
}

/// The whole body, or the error the client gets instead: 413 over the limit
/// (checked against `Content-Length` first, so a huge upload is refused before
/// it is read), 408 when it stops arriving, 400 when the connection breaks
/// mid-body.
async fn read_body(
    headers: &http::HeaderMap,
    body: Body,
    limit: usize,
    read_timeout: Duration,
) -> Result<Vec<u8>, ServiceError> {
    let too_large = || ServiceError {
        status: 413,
        ..ServiceError::new(
            ErrorCode::Other("RequestEntityTooLargeException".to_owned()),
            format!("The request body is larger than this emulator's limit of {limit} bytes"),
        )
    };
    let announced = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(read_timeout, Limited::new(body, limit).collect());
    match collected.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(error)) => Err(ServiceError::new(
            ErrorCode::InvalidRequest,
            format!("The request body could not be read: {error}"),
        )),
        Err(_) => Err(ServiceError {
            status: 408,
            ..ServiceError::new(
                ErrorCode::Other("RequestTimeoutException".to_owned()),
                format!(
                    "The request body did not arrive within {} ms",
                    read_timeout.as_millis()
                ),
            )
        }),
    }
}

fn into_axum(response: http::Response<Vec<u8>>) -> Response {
    response.map(Body::from)
}
