//! The admin API under `/_emulator/`: JSON in, JSON out, for scripts and
//! tests that act as the person at the verification page or the consent page
//! of `/authorize`, revoke tokens, read the portal's assignments, or break
//! the service on purpose. Documented, with
//! examples, in the crate's README.

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
use ssoflow_test_transport::{ApprovalError, Counters, Decided, Fault, PendingRequest, Service};

use crate::{ADMIN_PREFIX, Shared};

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/pending", get(pending))
        .route("/approve", post(approve))
        .route("/deny", post(deny))
        .route("/registrations", get(registrations))
        .route("/registrations/expire", post(expire_registration))
        .route("/refresh-tokens/revoke", post(revoke_refresh_token))
        .route("/access-tokens/revoke", post(revoke_access_token))
        .route("/accounts", get(accounts))
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

/// `kind` of a pending sign-in started by StartDeviceAuthorization.
const KIND_DEVICE_CODE: &str = "device_code";

/// `kind` of a pending sign-in started at `/authorize`.
const KIND_AUTHORIZATION_CODE: &str = "authorization_code";

/// One pending sign-in of either kind. `id` decides it; a device code's `id`
/// is its user code, also sent as `userCode` as before there were two kinds.
/// Every entry has every member (`null` where it does not apply), so a
/// script written for device codes alone still finds `userCode`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PendingEntry {
    kind: &'static str,
    id: String,
    user_code: Option<String>,
    client_name: String,
    scopes: Vec<String>,
    /// Where the browser goes once decided (authorization-code requests only).
    redirect_uri: Option<String>,
    /// Seconds since the epoch.
    expires_at: u64,
}

async fn pending(State(shared): State<Arc<Shared>>) -> Response {
    let pending = shared.read_service(|service| service.pending_requests(SystemTime::now()));
    let entries: Vec<PendingEntry> = pending
        .into_iter()
        .map(|request| match request {
            PendingRequest::DeviceCode(info) => PendingEntry {
                kind: KIND_DEVICE_CODE,
                id: info.user_code.clone(),
                user_code: Some(info.user_code),
                client_name: info.client_name,
                scopes: info.scopes,
                redirect_uri: None,
                expires_at: epoch_seconds(info.expires_at),
            },
            PendingRequest::AuthorizationCode(pending) => PendingEntry {
                kind: KIND_AUTHORIZATION_CODE,
                id: pending.id,
                user_code: None,
                client_name: pending.client_name,
                scopes: pending.scopes,
                redirect_uri: Some(pending.redirect_uri),
                expires_at: epoch_seconds(pending.expires_at),
            },
        })
        .collect();
    Json(entries).into_response()
}

/// `{"userCode": "…"}` (a device code, as before there were two kinds) or
/// `{"id": "…"}` (either kind, as `GET pending` lists it).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DecisionInput {
    #[serde(default)]
    user_code: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

async fn approve(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<DecisionInput>, JsonRejection>,
) -> Response {
    decide(&shared, input, true)
}

async fn deny(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<DecisionInput>, JsonRejection>,
) -> Response {
    decide(&shared, input, false)
}

fn decide(
    shared: &Shared,
    input: Result<Json<DecisionInput>, JsonRejection>,
    approve: bool,
) -> Response {
    let Json(input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    let decision = if approve { "approved" } else { "denied" };
    let now = SystemTime::now();
    match (input.user_code, input.id) {
        (Some(user_code), None) => {
            let result = shared.with_service(|service| {
                if approve {
                    service.approve(&user_code, now)
                } else {
                    service.deny(&user_code, now)
                }
            });
            match result {
                Ok(()) => Json(json!({
                    "kind": KIND_DEVICE_CODE,
                    "userCode": user_code,
                    "decision": decision,
                }))
                .into_response(),
                Err(refused) => approval_error(refused),
            }
        }
        (None, Some(id)) => {
            match shared.with_service(|service| service.decide_pending(now, &id, approve)) {
                Ok(Decided::DeviceCode { user_code }) => Json(json!({
                    "kind": KIND_DEVICE_CODE,
                    "id": id,
                    "userCode": user_code,
                    "decision": decision,
                }))
                .into_response(),
                // The Location carries the code: a script plays the browser
                // and sends it to the application's listener.
                Ok(Decided::AuthorizationCode { location }) => Json(json!({
                    "kind": KIND_AUTHORIZATION_CODE,
                    "id": id,
                    "decision": decision,
                    "location": location,
                }))
                .into_response(),
                // Said of either kind, as the id may name either.
                Err(ApprovalError::UnknownCode | ApprovalError::UnknownRequest) => error(
                    StatusCode::NOT_FOUND,
                    "unknown_code",
                    "no pending sign-in has this id (a user code or an authorization request id)",
                ),
                Err(ApprovalError::Expired) => {
                    error(StatusCode::GONE, "expired", "this sign-in has expired")
                }
                Err(ApprovalError::AlreadyUsed) => error(
                    StatusCode::CONFLICT,
                    "already_used",
                    "this sign-in was already allowed or denied",
                ),
                Err(refused) => approval_error(refused),
            }
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give exactly one of userCode (a device code) or id (as GET pending lists it)",
        ),
    }
}

fn approval_error(refused: ApprovalError) -> Response {
    let (status, code) = match refused {
        ApprovalError::UnknownCode | ApprovalError::UnknownRequest => {
            (StatusCode::NOT_FOUND, "unknown_code")
        }
        ApprovalError::Expired => (StatusCode::GONE, "expired"),
        ApprovalError::AlreadyUsed => (StatusCode::CONFLICT, "already_used"),
        ApprovalError::RandomUnavailable => {
            (StatusCode::INTERNAL_SERVER_ERROR, "random_unavailable")
        }
    };
    error(status, code, refused.to_string())
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

/// `{"fault": "status", "status": 503, "count": 2}` and its siblings; the
/// body may also carry `"target": "any"` (the default) or `"portal"`, which
/// is taken out before this is parsed.
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

/// Which requests a fault is queued for.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Target {
    /// The next requests, whatever they are.
    Any,
    /// The next portal requests only ([`Service::inject_portal_faults`]).
    Portal,
}

async fn inject_faults(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<serde_json::Value>, JsonRejection>,
) -> Response {
    let Json(mut input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    let target = input
        .as_object_mut()
        .and_then(|fields| fields.remove("target"))
        .map_or(Ok(Target::Any), serde_json::from_value::<Target>);
    let target = match target {
        Ok(target) => target,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "target must be \"any\" or \"portal\"",
            );
        }
    };
    let input = match serde_json::from_value::<FaultInput>(input) {
        Ok(input) => input,
        Err(refused) => return error(StatusCode::BAD_REQUEST, "bad_request", refused.to_string()),
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
    shared.with_service(|service| match target {
        Target::Any => service.inject_faults(fault, count),
        Target::Portal => service.inject_portal_faults(fault, count),
    });
    let target = match target {
        Target::Any => "any",
        Target::Portal => "portal",
    };
    Json(json!({ "queued": count, "target": target })).into_response()
}

/// `{"accessToken": "aoa…"}` (that token) or `{"all": true}` (every one).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AccessTokenInput {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    all: bool,
}

async fn revoke_access_token(
    State(shared): State<Arc<Shared>>,
    input: Result<Json<AccessTokenInput>, JsonRejection>,
) -> Response {
    let Json(input) = match input {
        Ok(input) => input,
        Err(rejection) => return bad_body(&rejection),
    };
    match (input.access_token, input.all) {
        (Some(token), false) => {
            if shared.with_service(|service| service.revoke_access_token(&token)) {
                Json(json!({ "revoked": 1 })).into_response()
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    "unknown_access_token",
                    "no access token matches (unknown, expired and swept out, logged out or \
                     already revoked)",
                )
            }
        }
        (None, true) => {
            let now = SystemTime::now();
            let revoked = shared.with_service(|service| service.revoke_all_access_tokens(now));
            Json(json!({ "revoked": revoked })).into_response()
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "give exactly one of accessToken or \"all\": true",
        ),
    }
}

/// The portal's assignments, as the emulator serves them.
async fn accounts(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.read_service(|service| service.config().accounts.clone())).into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CountersOutput {
    register_client: u64,
    start_device_authorization: u64,
    create_token: u64,
    authorize: u64,
    get_role_credentials: u64,
    list_accounts: u64,
    list_account_roles: u64,
    logout: u64,
    portal_throttled: u64,
    other: u64,
}

async fn counters(State(shared): State<Arc<Shared>>) -> Response {
    // Destructured whole, so a new counter cannot be forgotten here.
    let Counters {
        register_client,
        start_device_authorization,
        create_token,
        authorize,
        get_role_credentials,
        list_accounts,
        list_account_roles,
        logout,
        portal_throttled,
        other,
    } = shared.read_service(Service::counters);
    Json(CountersOutput {
        register_client,
        start_device_authorization,
        create_token,
        authorize,
        get_role_credentials,
        list_accounts,
        list_account_roles,
        logout,
        portal_throttled,
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
