//! The simulated SSO OIDC service: a sans-IO request handler that keeps its
//! registrations, device authorizations and refresh tokens in memory and is
//! told the time with every call.
//!
//! The same [`Service`] answers the in-memory transport and (in a later crate)
//! real HTTP, so it has no test-only shortcuts: what it sends is what the real
//! service sends, as far as `wire-protocol.md` knows it. Error texts are our
//! own except the two the spec quotes ("Authorization is still pending",
//! "Invalid grant provided"), which are kept as prefixes.

// The handlers return `Result<Response, ServiceError>`: the error *is* the
// reply, built at most once per request, so boxing it would buy nothing.
#![allow(
    clippy::result_large_err,
    reason = "a ServiceError is a reply, not a propagated failure"
)]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ssoflow_core::portal::portal_error_response;
use ssoflow_core::secret::{AccessToken, ClientSecret, DeviceCode, RefreshToken};
use ssoflow_core::server::{REQUEST_ID_HEADER, error_response};
use ssoflow_core::wire::{
    self, CLIENT_TYPE_PUBLIC, CONTENT_TYPE_JSON, CreateTokenRequest, CreateTokenResponse,
    DecodeError, GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN,
    RegisterClientRequest, RegisterClientResponse, StartDeviceAuthorizationRequest,
    StartDeviceAuthorizationResponse, TOKEN_TYPE_BEARER,
};
use ssoflow_core::{ErrorCode, Operation, ServiceError};

use crate::random::{self, RandomUnavailable};

mod authorize;
mod portal;

use authorize::{AuthorizationRequest, CodeGrant};
pub use authorize::{
    AuthorizeRefusal, AuthorizeStep, Decided, PendingAuthorization, PendingRequest,
};
pub use portal::PortalAccount;

type Response = http::Response<Vec<u8>>;

/// Seconds added to a device code's interval by each `slow_down` (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// How long an expired device code is kept so that late polls still get
/// `expired_token` rather than `invalid_grant`; older ones are forgotten.
const EXPIRED_CODE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// How often the long-expired codes are swept out (at most).
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// How many fresh user codes are drawn before giving up on finding one that no
/// live authorization holds (with 20^8 codes, one draw nearly always suffices).
const USER_CODE_ATTEMPTS: u32 = 16;

/// The grants a registration may name in `grantTypes`.
const KNOWN_GRANTS: [&str; 3] = [
    GRANT_DEVICE_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_AUTHORIZATION_CODE,
];

/// The body sent for [`Fault::MalformedBody`]: a token response cut short.
const MALFORMED_BODY: &[u8] = br#"{"accessTok"#;

/// The `x-amzn-ErrorType` shape of the 404 answer to a path that names no operation.
const UNKNOWN_OPERATION: &str = "UnknownOperationException";

/// The `x-amzn-ErrorType` shape of the 415 answer to a body sent with a
/// `Content-Type` other than JSON. The real service's answer is unconfirmed
/// (`wire-protocol.md` §14); this is what Smithy's restJson1 malformed-request
/// tests require of every AWS service with a JSON body.
const UNSUPPORTED_MEDIA_TYPE: &str = "UnsupportedMediaTypeException";

/// The `x-amzn-ErrorType` shape of the 405 answer to a known path with a method
/// other than POST. The real service's answer is not documented; this follows
/// the pattern of the 404 and RFC 9110 §15.5.6 (with an `Allow: POST` header).
const METHOD_NOT_ALLOWED: &str = "MethodNotAllowedException";

/// Knobs for every behaviour the real service shows; [`Default`] gives the
/// real service's values (`wire-protocol.md` §12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Minimum time between polls of one device code; sent as `interval`
    /// (whole seconds, rounded up so a client never polls early). Default 1 s.
    pub interval: Duration,
    /// Lifetime of a device code and its user code; sent as `expiresIn`. Default 600 s.
    pub device_code_ttl: Duration,
    /// Lifetime of an access token; sent as `expiresIn`. Default 3600 s.
    pub token_ttl: Duration,
    /// Lifetime of a registration: `clientSecretExpiresAt` = now + this. Default 90 days.
    pub registration_ttl: Duration,
    /// Whether tokens come with a refresh token (only ever for registrations
    /// made with scopes, as on the real service). Default true.
    pub issue_refresh_tokens: bool,
    /// Whether a refresh returns a new refresh token and revokes the old one
    /// (true, the default), or returns none and leaves the old one valid.
    pub rotate_refresh_tokens: bool,
    /// Approve pending device codes without a person; default `None` (wait for
    /// [`Service::approve`]). Any rule also approves every `/authorize` request
    /// at once ([`AuthorizeStep::Redirect`]): that request has no polls to count
    /// or wait for.
    pub auto_approve: Option<AutoApprove>,
    /// How many polls of one device code that arrive sooner than its interval
    /// after the previous poll are answered `authorization_pending` before such
    /// polls get `slow_down`. Default 1, because the AWS CLI polls twice back
    /// to back (`device-flow.md` §3 step 7).
    pub early_poll_tolerance: u32,
    /// The page where a person enters the user code; `verificationUriComplete`
    /// adds `?user_code=XXXX-XXXX`.
    pub verification_uri: String,
    /// How long a person has to allow or deny an `/authorize` request before
    /// it expires, like a device code's lifetime. Default 600 s, as long as
    /// the AWS CLI waits for the redirect (`device-flow.md` §6.2).
    pub authorization_request_ttl: Duration,
    /// Lifetime of an authorization code, from the person's approval to its
    /// exchange. Default 600 s, RFC 6749 §4.1.2's upper bound; the real
    /// service's value is unconfirmed.
    pub authorization_code_ttl: Duration,
    /// The signed-in person's assignments: the accounts ListAccounts lists,
    /// each with the roles ListAccountRoles lists and GetRoleCredentials
    /// accepts. Every access token this service issues belongs to this one
    /// person. Default: two accounts with two roles each, one role shared:
    /// `111122223333` "Dev" (dev@example.com) with `AdministratorAccess` and
    /// `ReadOnlyAccess`; `444455556666` "Prod" (prod@example.com) with
    /// `ReadOnlyAccess` and `Billing`.
    pub accounts: Vec<PortalAccount>,
    /// Lifetime of role credentials from GetRoleCredentials, though never
    /// beyond the expiry of the access token that asked for them. Default
    /// 1 h, the default session duration of a permission set.
    pub role_session_ttl: Duration,
    /// The page size of ListAccounts and ListAccountRoles when a request has
    /// no `max_result` (clamped to 1–100). Default 20: the real default is
    /// unconfirmed (`portal-api.md` §17), and a small one makes a client that
    /// ignores `nextToken` miss accounts in tests rather than in production.
    pub portal_page_size: u32,
    /// At most this many portal requests are answered in any one second;
    /// more get 429 `TooManyRequestsException`, as the real portal throttles
    /// (tools cite 20 per second, §8.3). Default `None`: no limit, so tests
    /// stay deterministic unless they ask for one.
    pub portal_rate_limit: Option<u32>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            interval: Duration::from_secs(1),
            device_code_ttl: Duration::from_secs(600),
            token_ttl: Duration::from_secs(3600),
            registration_ttl: Duration::from_secs(90 * 24 * 60 * 60),
            issue_refresh_tokens: true,
            rotate_refresh_tokens: true,
            auto_approve: None,
            early_poll_tolerance: 1,
            verification_uri: "https://device.sso.us-east-1.amazonaws.com/".to_owned(),
            authorization_request_ttl: Duration::from_secs(600),
            authorization_code_ttl: Duration::from_secs(600),
            accounts: portal::default_accounts(),
            role_session_ttl: Duration::from_secs(3600),
            portal_page_size: 20,
            portal_rate_limit: None,
        }
    }
}

/// A rule that approves pending device codes by itself, for tests and demos
/// that have no person to click "Allow".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoApprove {
    /// Approve on the n-th poll of the code, which then already gets the token
    /// (0 and 1 both mean the first poll).
    AfterPolls(u32),
    /// Approve on the first poll arriving at least this long after the code was issued.
    AfterDelay(Duration),
}

/// A failure to inject instead of (or on top of) the normal answer; see
/// [`Service::inject_faults`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An `InternalServerException` error reply with this HTTP status (e.g. 500,
    /// 503); a number that is no HTTP status (outside 100–999) is sent as 400.
    Status(u16),
    /// The error reply of this code with its own status, whatever the request
    /// (e.g. `SlowDown` on RegisterClient, which the real service may send).
    Error(ErrorCode),
    /// A 200 whose body is truncated, non-JSON (`{"accessTok`).
    MalformedBody,
    /// No answer at all: the connection breaks.
    DropConnection,
    /// The normal answer, but only after this delay.
    Delay(Duration),
}

/// What the service does with a request: what the HTTP layer or the in-memory
/// transport must carry out. Its `Debug` shows statuses, not bodies, which hold tokens.
pub enum Reply {
    /// Send this response now.
    Respond(http::Response<Vec<u8>>),
    /// Send this response after the delay.
    Delayed(Duration, http::Response<Vec<u8>>),
    /// Close the connection without answering.
    Drop,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |r: &http::Response<Vec<u8>>| {
            format!("{} [body redacted, {} bytes]", r.status(), r.body().len())
        };
        match self {
            Reply::Respond(r) => f
                .debug_tuple("Respond")
                .field(&format_args!("{}", redacted(r)))
                .finish(),
            Reply::Delayed(d, r) => f
                .debug_tuple("Delayed")
                .field(d)
                .field(&format_args!("{}", redacted(r)))
                .finish(),
            Reply::Drop => f.write_str("Drop"),
        }
    }
}

/// How many requests the service received, per operation, faulted ones included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// `POST …/client/register`.
    pub register_client: u64,
    /// `POST …/device_authorization`.
    pub start_device_authorization: u64,
    /// `POST …/token` (without `?aws_iam=t`).
    pub create_token: u64,
    /// `GET /authorize`, the browser-facing start of the authorization-code
    /// grant ([`Service::authorize`]), refused ones included.
    pub authorize: u64,
    /// Portal: `GET …/federation/credentials`.
    pub get_role_credentials: u64,
    /// Portal: `GET …/assignment/accounts`.
    pub list_accounts: u64,
    /// Portal: `GET …/assignment/roles`.
    pub list_account_roles: u64,
    /// Portal: `POST …/logout`.
    pub logout: u64,
    /// Portal requests answered 429 by [`ServiceConfig::portal_rate_limit`]
    /// (injected faults not included); each is also counted under its operation.
    pub portal_throttled: u64,
    /// Everything else: unknown paths, other methods, CreateTokenWithIAM,
    /// requests the HTTP layer refused ([`Service::refuse`]).
    pub other: u64,
}

/// A device authorization waiting for a person's decision, as a verification
/// page would list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingInfo {
    /// The code the person compares and confirms, e.g. `PMPJ-VZCJ`.
    pub user_code: String,
    /// The `clientName` of the registration that asked.
    pub client_name: String,
    /// The registration's scopes.
    pub scopes: Vec<String>,
    /// When the code stops being usable.
    pub expires_at: SystemTime,
}

/// Why a person's approval or denial of a user code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// No device authorization has this user code.
    #[error("no device authorization has this user code")]
    UnknownCode,
    /// No `/authorize` request has this id.
    #[error("no authorization request has this id")]
    UnknownRequest,
    /// The user code has expired.
    #[error("this user code has expired")]
    Expired,
    /// The user code was already decided the other way, or its token was
    /// already issued; for an `/authorize` request, it was already decided.
    #[error("this user code has already been used")]
    AlreadyUsed,
    /// The operating system's random source failed while minting an
    /// authorization code; nothing was decided, so the person can try again.
    #[error("the service could not draw a random authorization code; try again")]
    RandomUnavailable,
}

/// The simulated SSO OIDC service. Feed it requests with [`Service::handle`];
/// act as the person at the verification page with [`Service::approve`] and
/// [`Service::deny`]; break it on purpose with [`Service::inject_faults`].
pub struct Service {
    config: ServiceConfig,
    state: State,
    faults: VecDeque<Fault>,
    /// Faults for portal requests only ([`Service::inject_portal_faults`]).
    portal_faults: VecDeque<Fault>,
    /// When the portal requests of the last second were accepted, for
    /// [`ServiceConfig::portal_rate_limit`].
    portal_window: VecDeque<SystemTime>,
    counters: Counters,
    /// No sweep of long-expired codes before this time: a sweep walks every
    /// authorization, and under load it ran on every StartDeviceAuthorization.
    next_sweep: SystemTime,
}

/// Everything the service has issued; persisted through [`ServiceSnapshot`],
/// but kept private: its shape is not an API.
#[derive(Clone, Default, Serialize, Deserialize)]
struct State {
    /// By client id.
    registrations: HashMap<String, Registration>,
    /// By device code.
    authorizations: HashMap<String, DeviceAuthorization>,
    /// Normalised user code (see [`normalize_user_code`]) → device code.
    user_codes: HashMap<String, String>,
    /// By refresh token; a revoked or rotated token is removed.
    refresh_tokens: HashMap<String, RefreshGrant>,
    /// `/authorize` requests by their id (a random handle, not the code).
    /// Absent from format-1 snapshots, hence the default.
    #[serde(default)]
    authorization_requests: HashMap<String, AuthorizationRequest>,
    /// Authorization codes of approved requests, by code; kept after their
    /// exchange so that a second use is recognised (RFC 6749 §4.1.2).
    #[serde(default)]
    authorization_codes: HashMap<String, CodeGrant>,
    /// Every access token issued, until it expires (and a day longer) or its
    /// session logs out. A refresh does not revoke the access token it
    /// replaces, as on the real service. Absent from snapshots before format 3.
    #[serde(default)]
    access_tokens: HashMap<String, AccessGrant>,
}

/// What an access token is good for: the portal API, until it expires or
/// its session ends.
#[derive(Clone, Serialize, Deserialize)]
struct AccessGrant {
    client_id: String,
    /// The sign-in it comes from (see [`RefreshGrant::session`]).
    session: String,
    expires_at: SystemTime,
}

#[derive(Clone, Serialize, Deserialize)]
struct Registration {
    client_secret: String,
    client_name: String,
    scopes: Vec<String>,
    grant_types: Vec<String>,
    /// Where `/authorize` may send the browser back to (validated at registration).
    #[serde(default)]
    redirect_uris: Vec<String>,
    /// Kept as sent; nothing checks it (the real service's use is not documented).
    #[serde(default)]
    issuer_url: Option<String>,
    issued_at: SystemTime,
    /// Set to the epoch by [`Service::expire_registration`].
    expires_at: SystemTime,
}

#[derive(Clone, Serialize, Deserialize)]
struct DeviceAuthorization {
    client_id: String,
    /// As shown to the person, with the dash.
    user_code: String,
    start_url: String,
    issued_at: SystemTime,
    expires_at: SystemTime,
    /// Grows by 5 s with each `slow_down`, for good.
    interval: Duration,
    last_poll: Option<SystemTime>,
    polls: u32,
    /// What is left of [`ServiceConfig::early_poll_tolerance`] for this code.
    early_polls_left: u32,
    decision: Decision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Decision {
    Pending,
    Approved,
    Denied,
    /// Approved and the token was issued: the code is spent.
    Redeemed,
}

#[derive(Clone, Serialize, Deserialize)]
struct RefreshGrant {
    client_id: String,
    /// The authorization code this token descends from (through rotations),
    /// so that a reused code revokes it; `None` for device-code tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from_code: Option<String>,
    /// The sign-in (device code or authorization code redeemed) this token
    /// descends from through refreshes; a portal Logout with any access token
    /// of the session revokes it. `None` in snapshots before format 3; such a
    /// token starts a new session when refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session: Option<String>,
}

impl std::fmt::Debug for Service {
    /// Counts only: the state holds secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("config", &self.config)
            .field("registrations", &self.state.registrations.len())
            .field("authorizations", &self.state.authorizations.len())
            .field("refresh_tokens", &self.state.refresh_tokens.len())
            .field(
                "authorization_requests",
                &self.state.authorization_requests.len(),
            )
            .field("authorization_codes", &self.state.authorization_codes.len())
            .field("access_tokens", &self.state.access_tokens.len())
            .field("faults", &self.faults)
            .field("portal_faults", &self.portal_faults)
            .field("counters", &self.counters)
            .finish()
    }
}

/// Everything a [`Service`] has issued (registrations, device authorizations
/// and `/authorize` requests with their decisions, authorization codes,
/// refresh tokens, access tokens and their sessions), detached from it so that an emulator
/// can write it to disk and a restarted one can carry on. Faults, counters and
/// the configuration are not part of it. The serialized form is versioned but
/// otherwise private; its `Debug` shows counts only, as it holds secrets.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServiceSnapshot {
    /// Bumped whenever the shape of `state` changes incompatibly.
    version: u32,
    state: State,
}

/// The [`ServiceSnapshot`] format this build writes. Format 2 added the
/// authorization-code grant's records, format 3 the access tokens and the
/// sessions Logout ends; formats 1 and 2 (without them) are still read, and
/// their access tokens, never recorded, are unknown to the portal API.
const SNAPSHOT_VERSION: u32 = 3;

/// The oldest [`ServiceSnapshot`] format this build reads.
const OLDEST_SNAPSHOT_VERSION: u32 = 1;

impl ServiceSnapshot {
    /// Whether this build can restore the snapshot; one written by a newer
    /// format would silently lose data, so [`Service::restore`] refuses it.
    pub fn version(&self) -> u32 {
        self.version
    }
}

impl std::fmt::Debug for ServiceSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSnapshot")
            .field("version", &self.version)
            .field("registrations", &self.state.registrations.len())
            .field("authorizations", &self.state.authorizations.len())
            .field("refresh_tokens", &self.state.refresh_tokens.len())
            .field(
                "authorization_requests",
                &self.state.authorization_requests.len(),
            )
            .field("authorization_codes", &self.state.authorization_codes.len())
            .field("access_tokens", &self.state.access_tokens.len())
            .finish()
    }
}

/// A [`ServiceSnapshot`] of a format this build does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "snapshot format {found} is not supported (this build reads formats \
     {OLDEST_SNAPSHOT_VERSION} to {SNAPSHOT_VERSION})"
)]
pub struct UnsupportedSnapshot {
    /// The version the snapshot carries.
    pub found: u32,
}

impl Service {
    /// A service with nothing registered yet.
    pub fn new(config: ServiceConfig) -> Service {
        Service {
            config,
            state: State::default(),
            faults: VecDeque::new(),
            portal_faults: VecDeque::new(),
            portal_window: VecDeque::new(),
            counters: Counters::default(),
            next_sweep: UNIX_EPOCH,
        }
    }

    /// A service that carries on from `snapshot`, under a possibly different
    /// configuration (new lifetimes apply to what is issued from now on).
    pub fn restore(
        config: ServiceConfig,
        snapshot: ServiceSnapshot,
    ) -> Result<Service, UnsupportedSnapshot> {
        if !(OLDEST_SNAPSHOT_VERSION..=SNAPSHOT_VERSION).contains(&snapshot.version) {
            return Err(UnsupportedSnapshot {
                found: snapshot.version,
            });
        }
        Ok(Service {
            state: snapshot.state,
            ..Service::new(config)
        })
    }

    /// A copy of everything issued so far, for [`Service::restore`].
    pub fn snapshot(&self) -> ServiceSnapshot {
        ServiceSnapshot {
            version: SNAPSHOT_VERSION,
            state: self.state.clone(),
        }
    }

    /// The knobs this service was built with.
    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    /// The answer to a request that the HTTP layer refused before it could
    /// reach [`Service::handle`] (a body over the size limit, one that never
    /// finished arriving), in the service's own error format with a request
    /// id, so that every error leaves the emulator in one shape. Counted under
    /// [`Counters::other`].
    pub fn refuse(&mut self, error: &ServiceError) -> http::Response<Vec<u8>> {
        self.counters.other += 1;
        with_request_id(error_response(error), false)
    }

    /// Answers one request received at `now`, of the SSO OIDC service or of
    /// the portal API, whatever the host. Routing goes by the method and the
    /// path's suffix (`…/client/register`, `…/device_authorization`,
    /// `…/token`; `…/federation/credentials`, `…/assignment/accounts`,
    /// `…/assignment/roles`, `…/logout`), so an endpoint with a path prefix
    /// works. OIDC operations read their input from the JSON body alone;
    /// portal operations from the query and the `x-amz-sso_bearer_token`
    /// header (any case), and answer in the portal's error format. Every
    /// response has `Content-Type: application/json` and a fresh
    /// `x-amzn-RequestId`; portal responses also carry the same id as
    /// `RequestId`, which is what the real portal sends.
    pub fn handle(&mut self, now: SystemTime, request: &http::Request<Vec<u8>>) -> Reply {
        let route = route(request);
        let counter = match route {
            Route::Operation(Operation::RegisterClient) => &mut self.counters.register_client,
            Route::Operation(Operation::StartDeviceAuthorization) => {
                &mut self.counters.start_device_authorization
            }
            Route::Operation(Operation::CreateToken) => &mut self.counters.create_token,
            Route::Operation(Operation::GetRoleCredentials) => {
                &mut self.counters.get_role_credentials
            }
            Route::Operation(Operation::ListAccounts) => &mut self.counters.list_accounts,
            Route::Operation(Operation::ListAccountRoles) => &mut self.counters.list_account_roles,
            Route::Operation(Operation::Logout) => &mut self.counters.logout,
            Route::Operation(_)
            | Route::CreateTokenWithIam
            | Route::WrongMethod(_)
            | Route::Unknown => &mut self.counters.other,
        };
        *counter += 1;
        let portal = route.is_portal();
        // A portal request takes a portal-only fault first, then a general one.
        let fault = if portal {
            self.portal_faults
                .pop_front()
                .or_else(|| self.faults.pop_front())
        } else {
            self.faults.pop_front()
        };
        let response = match fault {
            None => self.answer(now, route, request),
            Some(Fault::Status(status)) if portal => {
                portal_error_response(&portal::injected_status(status))
            }
            Some(Fault::Error(code)) if portal => {
                portal_error_response(&portal::injected_error(&code))
            }
            Some(Fault::Status(status)) => error_response(&ServiceError {
                status,
                ..ServiceError::new(
                    ErrorCode::InternalServer,
                    format!("The service failed to process the request (injected HTTP {status})"),
                )
            }),
            Some(Fault::Error(code)) => {
                let description = format!("{} (injected fault)", code.shape());
                error_response(&ServiceError::new(code, description))
            }
            Some(Fault::MalformedBody) => {
                json_response(http::StatusCode::OK, MALFORMED_BODY.to_vec())
            }
            Some(Fault::DropConnection) => return Reply::Drop,
            Some(Fault::Delay(delay)) => {
                let response = self.answer(now, route, request);
                return Reply::Delayed(delay, with_request_id(response, portal));
            }
        };
        Reply::Respond(with_request_id(response, portal))
    }

    /// Approves the pending authorization with this user code, as the person
    /// at the verification page would. The code is compared after removing
    /// dashes and whitespace and upper-casing (RFC 8628 §6.1). Approving an
    /// approved code again succeeds (a double click); approving a denied or
    /// already redeemed code is [`ApprovalError::AlreadyUsed`].
    pub fn approve(&mut self, user_code: &str, now: SystemTime) -> Result<(), ApprovalError> {
        self.decide(user_code, now, Decision::Approved)
    }

    /// Denies the pending authorization with this user code; its next poll gets
    /// `access_denied`. Same matching and repeat rules as [`Service::approve`].
    pub fn deny(&mut self, user_code: &str, now: SystemTime) -> Result<(), ApprovalError> {
        self.decide(user_code, now, Decision::Denied)
    }

    /// The pending authorization with this user code (matched as by
    /// [`Service::approve`]), for a verification page to show before the
    /// person decides; otherwise why it cannot be decided: unknown, expired,
    /// or already decided or redeemed ([`ApprovalError::AlreadyUsed`]).
    pub fn lookup(&self, user_code: &str, now: SystemTime) -> Result<PendingInfo, ApprovalError> {
        let auth = self
            .state
            .user_codes
            .get(&normalize_user_code(user_code))
            .and_then(|device_code| self.state.authorizations.get(device_code))
            .ok_or(ApprovalError::UnknownCode)?;
        match auth.decision {
            Decision::Pending if now >= auth.expires_at => Err(ApprovalError::Expired),
            Decision::Pending => Ok(self.pending_info(auth)),
            Decision::Approved | Decision::Denied | Decision::Redeemed => {
                Err(ApprovalError::AlreadyUsed)
            }
        }
    }

    /// The authorizations still waiting for a decision at `now`, soonest to expire first.
    pub fn pending(&self, now: SystemTime) -> Vec<PendingInfo> {
        let mut pending: Vec<PendingInfo> = self
            .state
            .authorizations
            .values()
            .filter(|auth| auth.decision == Decision::Pending && now < auth.expires_at)
            .map(|auth| self.pending_info(auth))
            .collect();
        pending.sort_by(|a, b| (a.expires_at, &a.user_code).cmp(&(b.expires_at, &b.user_code)));
        pending
    }

    fn pending_info(&self, auth: &DeviceAuthorization) -> PendingInfo {
        let registration = self.state.registrations.get(&auth.client_id);
        PendingInfo {
            user_code: auth.user_code.clone(),
            client_name: registration
                .map(|r| r.client_name.clone())
                .unwrap_or_default(),
            scopes: registration.map(|r| r.scopes.clone()).unwrap_or_default(),
            expires_at: auth.expires_at,
        }
    }

    /// The client ids of every registration, expired ones included, sorted;
    /// e.g. to expire whatever registration a flow under test obtained.
    pub fn registrations(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.state.registrations.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Revokes a refresh token, as when the portal session ends; later refreshes
    /// with it get `invalid_grant`. Returns whether it was valid.
    pub fn revoke_refresh_token(&mut self, refresh_token: &str) -> bool {
        self.state.refresh_tokens.remove(refresh_token).is_some()
    }

    /// Makes a registration expire now: every later call with its client id gets
    /// `invalid_client` (401). Returns whether the client id was known.
    pub fn expire_registration(&mut self, client_id: &str) -> bool {
        match self.state.registrations.get_mut(client_id) {
            Some(registration) => {
                registration.expires_at = UNIX_EPOCH;
                true
            }
            None => false,
        }
    }

    /// Queues `fault` for the next `count` requests, after any faults already
    /// queued; each request consumes one queued fault before normal handling.
    /// On a portal request, [`Fault::Status`] and [`Fault::Error`] answer in
    /// the portal's format: `Fault::Status(429)` is its
    /// `TooManyRequestsException` "HTTP 429 Unknown Code", 401 its
    /// `UnauthorizedException`, and so on.
    pub fn inject_faults(&mut self, fault: Fault, count: u32) {
        self.faults
            .extend(std::iter::repeat_n(fault, count as usize));
    }

    /// Queues `fault` for the next `count` portal requests only, after any
    /// portal faults already queued; OIDC requests (a refresh, say) pass
    /// untouched. A portal request consumes one of these before any fault
    /// queued by [`Service::inject_faults`]. E.g. `Fault::Status(429)` five
    /// times is a burst of throttling; `Fault::Status(401)` once makes the
    /// next portal call fail as with an expired token while the refresh the
    /// client then makes succeeds.
    pub fn inject_portal_faults(&mut self, fault: Fault, count: u32) {
        self.portal_faults
            .extend(std::iter::repeat_n(fault, count as usize));
    }

    /// Revokes one access token, as if it had expired: later portal calls
    /// with it get 401. Its session, refresh token and other access tokens
    /// stay valid (a portal Logout ends them all). Returns whether it was known.
    pub fn revoke_access_token(&mut self, access_token: &str) -> bool {
        self.state.access_tokens.remove(access_token).is_some()
    }

    /// Revokes every access token issued so far (refresh tokens stay valid,
    /// so a client refreshes and goes on); returns how many were still valid
    /// at `now`.
    pub fn revoke_all_access_tokens(&mut self, now: SystemTime) -> usize {
        let live = self.live_access_tokens(now);
        self.state.access_tokens.clear();
        live
    }

    /// How many access tokens are valid at `now` (issued, unexpired, not revoked).
    pub fn live_access_tokens(&self, now: SystemTime) -> usize {
        self.state
            .access_tokens
            .values()
            .filter(|grant| now < grant.expires_at)
            .count()
    }

    /// How many requests the service received so far, per operation.
    pub fn counters(&self) -> Counters {
        self.counters.clone()
    }

    /// The normal answer (no fault), without the request id.
    fn answer(
        &mut self,
        now: SystemTime,
        route: Route,
        request: &http::Request<Vec<u8>>,
    ) -> Response {
        let result = match route {
            Route::Operation(operation) if portal::is_portal(operation) => {
                return self.portal(now, operation, request);
            }
            Route::WrongMethod(operation) if portal::is_portal(operation) => {
                return portal::wrong_method(operation, request.method());
            }
            Route::WrongMethod(operation) => {
                let mut response = error_response(&ServiceError {
                    status: 405,
                    ..ServiceError::new(
                        ErrorCode::Other(METHOD_NOT_ALLOWED.to_owned()),
                        format!("{} takes POST, not {}", operation.name(), request.method()),
                    )
                });
                response
                    .headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
                return response;
            }
            Route::CreateTokenWithIam => Err(invalid_request(
                "CreateTokenWithIAM is not supported by this emulator",
            )),
            Route::Operation(operation) if !is_json_or_absent(request) => Err(ServiceError {
                status: 415,
                ..ServiceError::new(
                    ErrorCode::Other(UNSUPPORTED_MEDIA_TYPE.to_owned()),
                    format!(
                        "{} takes a JSON body with Content-Type: {CONTENT_TYPE_JSON}",
                        operation.name()
                    ),
                )
            }),
            Route::Operation(Operation::RegisterClient) => {
                self.register_client(now, request.body())
            }
            Route::Operation(Operation::StartDeviceAuthorization) => {
                self.start_device_authorization(now, request.body())
            }
            Route::Operation(Operation::CreateToken) => self.create_token(now, request.body()),
            Route::Unknown | Route::Operation(_) => Err(ServiceError {
                status: 404,
                ..ServiceError::new(
                    ErrorCode::Other(UNKNOWN_OPERATION.to_owned()),
                    format!("No operation is served at {}", request.uri().path()),
                )
            }),
        };
        result.unwrap_or_else(|error| error_response(&error))
    }

    fn register_client(&mut self, now: SystemTime, body: &[u8]) -> Result<Response, ServiceError> {
        let input: RegisterClientRequest = decode_input(Operation::RegisterClient, body)?;
        if input.client_type != CLIENT_TYPE_PUBLIC {
            return Err(ServiceError::new(
                ErrorCode::InvalidClientMetadata,
                format!(
                    "Invalid client type {:?}: only \"{CLIENT_TYPE_PUBLIC}\" is supported",
                    input.client_type
                ),
            ));
        }
        let grant_types = input.grant_types.unwrap_or_default();
        if let Some(unknown) = grant_types
            .iter()
            .find(|g| !KNOWN_GRANTS.contains(&g.as_str()))
        {
            return Err(unsupported_grant_type(unknown));
        }
        let redirect_uris = input.redirect_uris.unwrap_or_default();
        for uri in &redirect_uris {
            authorize::check_redirect_uri(uri).map_err(|why| {
                ServiceError::new(
                    ErrorCode::InvalidRedirectUri,
                    format!("Invalid redirect URI {uri:?}: {why}"),
                )
            })?;
        }
        // A registration for the authorization-code grant without a place to
        // send the browser back to could never complete one.
        if grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE) && redirect_uris.is_empty() {
            return Err(invalid_request(format!(
                "redirectUris is required when grantTypes includes {GRANT_AUTHORIZATION_CODE}"
            )));
        }
        let client_id = random::client_id()?;
        let client_secret = random::client_secret()?;
        let expires_at = later(now, self.config.registration_ttl);
        self.state.registrations.insert(
            client_id.clone(),
            Registration {
                client_secret: client_secret.clone(),
                client_name: input.client_name,
                scopes: input.scopes.unwrap_or_default(),
                grant_types,
                redirect_uris,
                issuer_url: input.issuer_url,
                issued_at: now,
                expires_at,
            },
        );
        Ok(success(&RegisterClientResponse {
            client_id: Some(client_id),
            client_secret: Some(ClientSecret::new(client_secret)),
            client_id_issued_at: Some(epoch_seconds(now)),
            client_secret_expires_at: Some(epoch_seconds(expires_at)),
            authorization_endpoint: None,
            token_endpoint: None,
        }))
    }

    fn start_device_authorization(
        &mut self,
        now: SystemTime,
        body: &[u8],
    ) -> Result<Response, ServiceError> {
        let input: StartDeviceAuthorizationRequest =
            decode_input(Operation::StartDeviceAuthorization, body)?;
        self.authenticate(
            now,
            &input.client_id,
            &input.client_secret,
            GRANT_DEVICE_CODE,
        )?;
        self.forget_long_expired_codes(now);
        let device_code = random::device_code()?;
        let user_code = self.fresh_user_code()?;
        let expires_at = later(now, self.config.device_code_ttl);
        self.state
            .user_codes
            .insert(normalize_user_code(&user_code), device_code.clone());
        self.state.authorizations.insert(
            device_code.clone(),
            DeviceAuthorization {
                client_id: input.client_id,
                user_code: user_code.clone(),
                start_url: input.start_url,
                issued_at: now,
                expires_at,
                interval: self.config.interval,
                last_poll: None,
                polls: 0,
                early_polls_left: self.config.early_poll_tolerance,
                decision: Decision::Pending,
            },
        );
        let uri = &self.config.verification_uri;
        let separator = if uri.contains('?') { '&' } else { '?' };
        Ok(success(&StartDeviceAuthorizationResponse {
            device_code: Some(DeviceCode::new(device_code)),
            verification_uri_complete: Some(format!("{uri}{separator}user_code={user_code}")),
            user_code: Some(user_code),
            verification_uri: Some(uri.clone()),
            expires_in: Some(whole_seconds(self.config.device_code_ttl)),
            // Rounded up: a client that waits the announced interval is never early.
            interval: Some(whole_seconds_rounded_up(self.config.interval)),
        }))
    }

    fn create_token(&mut self, now: SystemTime, body: &[u8]) -> Result<Response, ServiceError> {
        let input: CreateTokenRequest = decode_input(Operation::CreateToken, body)?;
        // Client authentication comes first for every grant, as in RFC 6749 §5.2.
        self.authenticate(
            now,
            &input.client_id,
            &input.client_secret,
            &input.grant_type,
        )?;
        match input.grant_type.as_str() {
            GRANT_DEVICE_CODE => self.redeem_device_code(now, &input),
            GRANT_REFRESH_TOKEN => self.redeem_refresh_token(now, &input),
            GRANT_AUTHORIZATION_CODE => self.redeem_authorization_code(now, &input),
            other => Err(unsupported_grant_type(other)),
        }
    }

    fn redeem_device_code(
        &mut self,
        now: SystemTime,
        input: &CreateTokenRequest,
    ) -> Result<Response, ServiceError> {
        let Some(device_code) = &input.device_code else {
            return Err(invalid_request(
                "deviceCode is required for the device_code grant",
            ));
        };
        let auto_approve = self.config.auto_approve;
        let auth = self
            .state
            .authorizations
            .get_mut(device_code.secret())
            .ok_or_else(|| invalid_grant("unknown device code"))?;
        if auth.client_id != input.client_id {
            return Err(invalid_grant(
                "the device code was issued to another client",
            ));
        }
        if auth.decision == Decision::Redeemed {
            return Err(invalid_grant("the device code has already been used"));
        }
        if now >= auth.expires_at {
            return Err(ServiceError::new(
                ErrorCode::ExpiredToken,
                "The device code has expired",
            ));
        }
        auth.polls = auth.polls.saturating_add(1);
        // The first poll has no previous poll, so it is never early; a clock
        // that went backwards counts as no gap at all.
        let early = auth.last_poll.is_some_and(|previous| {
            now.duration_since(previous)
                .map_or(true, |gap| gap < auth.interval)
        });
        auth.last_poll = Some(now);
        if auth.decision == Decision::Pending {
            let approve = match auto_approve {
                Some(AutoApprove::AfterPolls(n)) => auth.polls >= n,
                Some(AutoApprove::AfterDelay(delay)) => now
                    .duration_since(auth.issued_at)
                    .is_ok_and(|waited| waited >= delay),
                None => false,
            };
            if approve {
                auth.decision = Decision::Approved;
            }
        }
        match auth.decision {
            Decision::Denied => Err(ServiceError::new(
                ErrorCode::AccessDenied,
                "The user denied the authorization request",
            )),
            Decision::Approved => {
                let client_id = auth.client_id.clone();
                let session = random::session_id()?;
                let response = self.issue_token(now, &client_id, true, None, session)?;
                // Spent only once the token exists: a failure to mint one
                // leaves the approval in place for the next poll.
                if let Some(auth) = self.state.authorizations.get_mut(device_code.secret()) {
                    auth.decision = Decision::Redeemed;
                }
                Ok(response)
            }
            Decision::Pending if early && auth.early_polls_left > 0 => {
                auth.early_polls_left -= 1;
                Err(authorization_pending())
            }
            Decision::Pending if early => {
                auth.interval = auth.interval.saturating_add(SLOW_DOWN_STEP);
                Err(ServiceError::new(
                    ErrorCode::SlowDown,
                    format!(
                        "Polling too fast; wait at least {} seconds between polls",
                        whole_seconds_rounded_up(auth.interval)
                    ),
                ))
            }
            Decision::Pending => Err(authorization_pending()),
            // Ruled out above; answered the same way for completeness.
            Decision::Redeemed => Err(invalid_grant("the device code has already been used")),
        }
    }

    fn redeem_refresh_token(
        &mut self,
        now: SystemTime,
        input: &CreateTokenRequest,
    ) -> Result<Response, ServiceError> {
        let Some(refresh_token) = &input.refresh_token else {
            return Err(invalid_request(
                "refreshToken is required for the refresh_token grant",
            ));
        };
        let grant = self
            .state
            .refresh_tokens
            .get(refresh_token.secret())
            .ok_or_else(|| invalid_grant("unknown or revoked refresh token"))?;
        if grant.client_id != input.client_id {
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        // A rotated token stays in its code's lineage, so a reused code
        // revokes whatever token the lineage has reached.
        let from_code = grant.from_code.clone();
        let session = match &grant.session {
            Some(session) => session.clone(),
            None => random::session_id()?,
        };
        let rotate = self.config.rotate_refresh_tokens;
        // The access token this refresh replaces stays valid until it
        // expires, as on the real service: only a Logout revokes it.
        let response = self.issue_token(now, &input.client_id, rotate, from_code, session)?;
        if rotate {
            self.state.refresh_tokens.remove(refresh_token.secret());
        }
        Ok(response)
    }

    /// A token response for the client; with a new refresh token when
    /// `with_refresh_token`, refresh tokens are enabled and the registration has
    /// scopes (only scoped registrations are refreshable on the real service).
    /// Every grant issues its tokens here, and the access token is recorded
    /// for the portal API until `now` + the token lifetime. `from_code` is
    /// the authorization code the token descends from, if any (see
    /// [`RefreshGrant::from_code`]); `session` the sign-in it belongs to.
    fn issue_token(
        &mut self,
        now: SystemTime,
        client_id: &str,
        with_refresh_token: bool,
        from_code: Option<String>,
        session: String,
    ) -> Result<Response, ServiceError> {
        self.forget_long_expired_codes(now);
        let has_scopes = self
            .state
            .registrations
            .get(client_id)
            .is_some_and(|r| !r.scopes.is_empty());
        // Both drawn before anything is recorded, so a failing random source
        // leaves no half-issued token behind.
        let access_token = random::access_token()?;
        let refresh_token = if with_refresh_token && self.config.issue_refresh_tokens && has_scopes
        {
            Some(random::refresh_token()?)
        } else {
            None
        };
        if let Some(token) = &refresh_token {
            self.state.refresh_tokens.insert(
                token.clone(),
                RefreshGrant {
                    client_id: client_id.to_owned(),
                    from_code,
                    session: Some(session.clone()),
                },
            );
        }
        self.state.access_tokens.insert(
            access_token.clone(),
            AccessGrant {
                client_id: client_id.to_owned(),
                session,
                expires_at: later(now, self.config.token_ttl),
            },
        );
        Ok(success(&CreateTokenResponse {
            access_token: Some(AccessToken::new(access_token)),
            token_type: Some(TOKEN_TYPE_BEARER.to_owned()),
            expires_in: Some(whole_seconds(self.config.token_ttl)),
            refresh_token: refresh_token.map(RefreshToken::new),
        }))
    }

    /// Ends a sign-in: every access token and refresh token of `session` is
    /// revoked. A portal Logout does this. The real service's effect on
    /// refresh tokens is unconfirmed; its model says Logout "invalidates the
    /// server-side sign-in session", and a refresh token is that session's
    /// way to mint new access tokens, so it ends with it (a client that
    /// logged out and could still refresh would not be logged out). Role
    /// credentials already issued stay valid, as the model says.
    fn end_session(&mut self, session: &str) {
        self.state
            .access_tokens
            .retain(|_, grant| grant.session != session);
        self.state
            .refresh_tokens
            .retain(|_, grant| grant.session.as_deref() != Some(session));
    }

    /// `invalid_client` (401) unless the id is registered, the secret matches
    /// and the registration has not expired; then `unauthorized_client` when the
    /// registration named its `grantTypes` and `grant` is not among them (a
    /// PKCE-only registration cannot run the device flow, §9.4).
    fn authenticate(
        &self,
        now: SystemTime,
        client_id: &str,
        client_secret: &ClientSecret,
        grant: &str,
    ) -> Result<(), ServiceError> {
        let registration = self
            .state
            .registrations
            .get(client_id)
            .ok_or_else(|| invalid_client("Unknown client id"))?;
        if !constant_time_eq(
            registration.client_secret.as_bytes(),
            client_secret.secret().as_bytes(),
        ) {
            return Err(invalid_client("Invalid client secret"));
        }
        if now >= registration.expires_at {
            return Err(invalid_client("The client registration has expired"));
        }
        // Unknown grants are left for the grant dispatch to refuse as unsupported.
        if KNOWN_GRANTS.contains(&grant)
            && !registration.grant_types.is_empty()
            && !registration.grant_types.iter().any(|g| g == grant)
        {
            return Err(ServiceError::new(
                ErrorCode::UnauthorizedClient,
                format!("This client is not registered for the {grant} grant"),
            ));
        }
        Ok(())
    }

    fn decide(
        &mut self,
        user_code: &str,
        now: SystemTime,
        decision: Decision,
    ) -> Result<(), ApprovalError> {
        let auth = self
            .state
            .user_codes
            .get(&normalize_user_code(user_code))
            .and_then(|device_code| self.state.authorizations.get_mut(device_code))
            .ok_or(ApprovalError::UnknownCode)?;
        match auth.decision {
            Decision::Redeemed => Err(ApprovalError::AlreadyUsed),
            same if same == decision => Ok(()),
            Decision::Approved | Decision::Denied => Err(ApprovalError::AlreadyUsed),
            Decision::Pending if now >= auth.expires_at => Err(ApprovalError::Expired),
            Decision::Pending => {
                auth.decision = decision;
                Ok(())
            }
        }
    }

    fn fresh_user_code(&self) -> Result<String, ServiceError> {
        for _ in 0..USER_CODE_ATTEMPTS {
            let code = random::user_code()?;
            if !self
                .state
                .user_codes
                .contains_key(&normalize_user_code(&code))
            {
                return Ok(code);
            }
        }
        Err(ServiceError::new(
            ErrorCode::InternalServer,
            "Could not allocate a unique user code",
        ))
    }

    /// Drops device authorizations, `/authorize` requests, authorization
    /// codes and access tokens that expired more than a day ago, so a
    /// long-running emulator does not grow without bound.
    fn forget_long_expired_codes(&mut self, now: SystemTime) {
        if now < self.next_sweep {
            return;
        }
        self.next_sweep = later(now, SWEEP_INTERVAL);
        let live = |expires_at: SystemTime| now < later(expires_at, EXPIRED_CODE_RETENTION);
        let authorizations = &mut self.state.authorizations;
        self.state.user_codes.retain(|_, device_code| {
            authorizations
                .get(device_code.as_str())
                .is_some_and(|auth| live(auth.expires_at))
        });
        authorizations.retain(|_, auth| live(auth.expires_at));
        self.state
            .authorization_requests
            .retain(|_, request| live(request.expires_at));
        self.state
            .authorization_codes
            .retain(|_, grant| live(grant.expires_at));
        self.state
            .access_tokens
            .retain(|_, grant| live(grant.expires_at));
    }
}

impl From<RandomUnavailable> for ServiceError {
    fn from(error: RandomUnavailable) -> Self {
        ServiceError::new(ErrorCode::InternalServer, error.to_string())
    }
}

/// Where a request goes, decided by method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Operation(Operation),
    /// `POST …/token?aws_iam=t`, which this emulator refuses.
    CreateTokenWithIam,
    /// A known path with a method other than its operation's.
    WrongMethod(Operation),
    Unknown,
}

impl Route {
    /// Whether the request is for the portal API, and so answered in its format.
    fn is_portal(self) -> bool {
        match self {
            Route::Operation(operation) | Route::WrongMethod(operation) => {
                portal::is_portal(operation)
            }
            Route::CreateTokenWithIam | Route::Unknown => false,
        }
    }
}

fn route(request: &http::Request<Vec<u8>>) -> Route {
    let path = request.uri().path();
    let Some(operation) = Operation::ALL
        .into_iter()
        .chain(Operation::PORTAL)
        .find(|op| path.ends_with(op.path()))
    else {
        return Route::Unknown;
    };
    if request.method().as_str() != operation.method() {
        return Route::WrongMethod(operation);
    }
    let is_iam = request
        .uri()
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "aws_iam=t"));
    if operation == Operation::CreateToken && is_iam {
        Route::CreateTokenWithIam
    } else {
        Route::Operation(operation)
    }
}

/// The operation a request calls, OIDC or portal, or `None` for anything that
/// is none of them (unknown path, other method, CreateTokenWithIAM).
pub(crate) fn operation_of(request: &http::Request<Vec<u8>>) -> Option<Operation> {
    match route(request) {
        Route::Operation(operation) => Some(operation),
        Route::CreateTokenWithIam | Route::WrongMethod(_) | Route::Unknown => None,
    }
}

/// Whether the request's `Content-Type` is `application/json` (any parameters,
/// any case) or missing. Every AWS SDK sends it; a missing one is let through
/// because the real service's answer to that is unconfirmed (§14), while a
/// wrong one (such as the form encoding `curl -d` sends) is surely a mistake.
fn is_json_or_absent(request: &http::Request<Vec<u8>>) -> bool {
    let Some(value) = request.headers().get(http::header::CONTENT_TYPE) else {
        return true;
    };
    value.to_str().is_ok_and(|value| {
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(CONTENT_TYPE_JSON)
    })
}

/// The user code as compared: dashes and whitespace removed, upper-cased (RFC 8628 §6.1).
fn normalize_user_code(user_code: &str) -> String {
    user_code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Decodes an operation's input; a body that is not JSON or lacks a required
/// member is `invalid_request`, with serde's text (which names the member).
fn decode_input<T: DeserializeOwned>(operation: Operation, body: &[u8]) -> Result<T, ServiceError> {
    wire::decode(body).map_err(|error| {
        let detail = match error {
            DecodeError::Json(detail) => detail,
            other => other.to_string(),
        };
        invalid_request(format!(
            "The {} request body is invalid: {detail}",
            operation.name()
        ))
    })
}

fn invalid_request(description: impl Into<String>) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidRequest, description)
}

fn invalid_client(description: &str) -> ServiceError {
    ServiceError::new(ErrorCode::InvalidClient, description)
}

fn invalid_grant(why: &str) -> ServiceError {
    ServiceError::new(
        ErrorCode::InvalidGrant,
        format!("Invalid grant provided: {why}"),
    )
}

fn unsupported_grant_type(grant_type: &str) -> ServiceError {
    // The model's own example writes the device grant with a hyphen (§8); say so.
    let hint = if grant_type == "urn:ietf:params:oauth:grant-type:device-code" {
        format!(" (the device grant is {GRANT_DEVICE_CODE}, with an underscore)")
    } else {
        String::new()
    };
    ServiceError::new(
        ErrorCode::UnsupportedGrantType,
        format!("Unsupported grant type {grant_type:?}{hint}"),
    )
}

fn authorization_pending() -> ServiceError {
    ServiceError::new(
        ErrorCode::AuthorizationPending,
        "Authorization is still pending",
    )
}

fn success<T: Serialize>(body: &T) -> Response {
    json_response(http::StatusCode::OK, wire::encode(body))
}

fn json_response(status: http::StatusCode, body: Vec<u8>) -> Response {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(CONTENT_TYPE_JSON),
    );
    response
}

/// Adds `x-amzn-RequestId`, and for a portal answer the portal's headers
/// (`RequestId` with the same id among them). Should the random source fail,
/// the id is left out rather than faked: no client depends on it.
fn with_request_id(mut response: Response, portal: bool) -> Response {
    let id = random::request_id()
        .ok()
        .and_then(|id| http::HeaderValue::from_str(&id).ok());
    if portal {
        portal::add_portal_headers(&mut response, id.as_ref());
    }
    if let Some(value) = id {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// `from + duration`, saturating at a time about 136 years later if the sum
/// does not fit: such a far expiry means "never" here.
fn later(from: SystemTime, duration: Duration) -> SystemTime {
    from.checked_add(duration)
        .or_else(|| from.checked_add(Duration::from_secs(u64::from(u32::MAX))))
        .unwrap_or(from)
}

fn epoch_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    })
}

fn whole_seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

fn whole_seconds_rounded_up(duration: Duration) -> i64 {
    let extra = u64::from(duration.subsec_nanos() > 0);
    i64::try_from(duration.as_secs().saturating_add(extra)).unwrap_or(i64::MAX)
}

/// Compares secrets without an early exit, so response timing over real HTTP
/// does not reveal how much of a guessed secret was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
