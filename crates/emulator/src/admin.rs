//! The admin API under `/_emulator/`: JSON in, JSON out, for scripts and
//! tests that act as the person at the verification page or break the service
//! on purpose. Documented, with examples, in the crate's README.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use ssoflow_core::ErrorCode;
use ssoflow_test_transport::{ApprovalError, Counters, Fault, Service};

use crate::{ADMIN_PREFIX, Shared};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/pending", get(pending))
        .route("/approve", post(approve))
        .route("/deny", post(deny))
        .route("/registrations", get(registrations))
        .route("/registrations/expire", post(expire_registration))
        .route("/refresh-tokens/revoke", post(revoke_refresh_token))
        .route("/faults", post(inject_faults))
        .route("/counters", get(counters))
        .fallback(unknown)
}

/// An admin error: a status and `{"error": "...", "message": "..."}`.
fn error(status: StatusCode, error: &str, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(json!({ "error": error, "message": message }))).into_response()
}

fn bad_body(rejection: &JsonRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        rejection.body_text(),
    )
}

fn epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PendingEntry {
    user_code: String,
    client_name: String,
    scopes: Vec<String>,
    /// Seconds since the epoch.
    expires_at: u64,
}

async fn pending(State(shared): State<Arc<Shared>>) -> Response {
    let pending = shared.read_service(|service| service.pending(SystemTime::now()));
    let entries: Vec<PendingEntry> = pending
        .into_iter()
        .map(|info| PendingEntry {
            expires_at: epoch_seconds(info.expires_at),
            user_code: info.user_code,
            client_name: info.client_name,
            scopes: info.scopes,
        })
        .collect();
    Json(entries).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserCodeInput {
    user_code: String,
}

async fn approve(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<UserCodeInput>, JsonRejection>,
) -> Response {
    decide(&shared, input, Service::approve, "approved")
}

async fn deny(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<UserCodeInput>, JsonRejection>,
) -> Response {
    decide(&shared, input, Service::deny, "denied")
}

fn decide(
    shared: &Shared,
    input: Result<Json<UserCodeInput>, JsonRejection>,
    act: fn(&mut Service, &str, SystemTime) -> Result<(), ApprovalError>,
    decision: &str,
) -> Response {
    let Json(input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    match shared.with_service(|service| act(service, &input.user_code, SystemTime::now())) {
        Ok(()) => {
            Json(json!({ "userCode": input.user_code, "decision": decision })).into_response()
        }
        Err(ApprovalError::UnknownCode) => error(
            StatusCode::NOT_FOUND,
            "unknown_code",
            ApprovalError::UnknownCode.to_string(),
        ),
        Err(ApprovalError::Expired) => error(
            StatusCode::GONE,
            "expired",
            ApprovalError::Expired.to_string(),
        ),
        Err(ApprovalError::AlreadyUsed) => error(
            StatusCode::CONFLICT,
            "already_used",
            ApprovalError::AlreadyUsed.to_string(),
        ),
    }
}

async fn registrations(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.read_service(Service::registrations)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientIdInput {
    client_id: String,
}

async fn expire_registration(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<ClientIdInput>, JsonRejection>,
) -> Response {
    let Json(input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    if shared.with_service(|service| service.expire_registration(&input.client_id)) {
        Json(json!({ "clientId": input.client_id, "expired": true })).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            "unknown_client",
            "no registration has this client id",
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshTokenInput {
    refresh_token: String,
}

async fn revoke_refresh_token(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<RefreshTokenInput>, JsonRejection>,
) -> Response {
    let Json(input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    if shared.with_service(|service| service.revoke_refresh_token(&input.refresh_token)) {
        Json(json!({ "revoked": true })).into_response()
    } else {
        error(
            StatusCode::NOT_FOUND,
            "unknown_refresh_token",
            "no live refresh token matches (unknown, rotated or already revoked)",
        )
    }
}

/// `{"fault": "status", "status": 503, "count": 2}` and its siblings.
#[derive(Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case", deny_unknown_fields)]
enum FaultInput {
    Status {
        status: u16,
        #[serde(default = "one")]
        count: u32,
    },
    Error {
        /// A shape (`SlowDownException`) or an OAuth code (`slow_down`).
        code: String,
        #[serde(default = "one")]
        count: u32,
    },
    MalformedBody {
        #[serde(default = "one")]
        count: u32,
    },
    DropConnection {
        #[serde(default = "one")]
        count: u32,
    },
    Delay {
        millis: u64,
        #[serde(default = "one")]
        count: u32,
    },
}

fn one() -> u32 {
    1
}

async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<FaultInput>, JsonRejection>,
) -> Response {
    let Json(input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    let (fault, count) = match input {
        FaultInput::Status { status, count } if (100..=999).contains(&status) => {
            (Fault::Status(status), count)
        }
        FaultInput::Status { status, .. } => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("{status} is not an HTTP status (100-999)"),
            );
        }
        FaultInput::Error { code, count } => {
            let parsed = if code.ends_with("Exception") {
                ErrorCode::from_shape(&code)
            } else {
                ErrorCode::from_oauth(&code)
            };
            (Fault::Error(parsed), count)
        }
        FaultInput::MalformedBody { count } => (Fault::MalformedBody, count),
        FaultInput::DropConnection { count } => (Fault::DropConnection, count),
        FaultInput::Delay { millis, count } => (Fault::Delay(Duration::from_millis(millis)), count),
    };
    shared.with_service(|service| service.inject_faults(fault, count));
    Json(json!({ "queued": count })).into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountersOutput {
    register_client: u64,
    start_device_authorization: u64,
    create_token: u64,
    other: u64,
}

async fn counters(State(shared): State<Arc<Shared>>) -> Response {
    let Counters {
        register_client,
        start_device_authorization,
        create_token,
        other,
    } = shared.read_service(Service::counters);
    Json(CountersOutput {
        register_client,
        start_device_authorization,
        create_token,
        other,
    })
    .into_response()
}

async fn unknown(request: axum::extract::Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "unknown_admin_route",
        format!(
            "{} {ADMIN_PREFIX}{} is not part of the admin API; see the ssoflow-emulator README",
            request.method(),
            request.uri().path()
        ),
    )
}
