//! The three operations (and every path that is none of them): the body is
//! read whole, within a size and time limit, and handed to the simulated
//! service, whose [`Reply`] is carried out here.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use ssoflow_core::{ErrorCode, ServiceError};
use ssoflow_test_transport::Reply;

use crate::Shared;

/// How much of an oversized body is read and discarded so that the client
/// gets to see its 413; beyond this the connection is simply closed.
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;
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

/// The whole body, or the error the client gets instead: 413 over the limit,
/// 408 when it stops arriving, 400 when the connection breaks mid-body.
///
/// An oversized body is still read to its end (and thrown away) up to
/// [`DRAIN_LIMIT`], because most HTTP clients only read the answer once they
/// have sent the whole request: answering early and closing would show them a
/// broken pipe instead of the 413. Bodies announced larger than that are
/// refused at once.
async fn read_body(
    headers: &http::HeaderMap,
    mut body: Body,
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
    if announced.is_some_and(|length| length > DRAIN_LIMIT) {
        return Err(too_large());
    }
    let mut collected = Vec::new();
    let mut received: u64 = 0;
    let read = async {
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else {
                continue; // trailers
            };
            received = received.saturating_add(data.len() as u64);
            if received > DRAIN_LIMIT {
                break;
            }
            if received <= limit as u64 {
                collected.extend_from_slice(&data);
            }
        }
        Ok::<(), axum::Error>(())
    };
    match tokio::time::timeout(read_timeout, read).await {
        Ok(Ok(())) if received > limit as u64 => Err(too_large()),
        Ok(Ok(())) => Ok(collected),
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
