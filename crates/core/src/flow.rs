//! The device authorization flow as a sans-IO state machine (`device-flow.md` §5).

use std::time::{Duration, Instant, SystemTime};

use crate::endpoint::{ConfigError, Endpoint};
use crate::error::{
    ApiMisuse, DecodeError, ErrorCode, FlowError, NextStep, ServiceError, TransportErrorKind,
};
use crate::exchange::{self, Exchange, TimeAnchor, Trouble, backoff, later, wire_seconds};
use crate::secret::DeviceCode;
use crate::token::{Registration, Token};
use crate::wire::{self, Operation};

/// Poll interval when the service names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The smallest interval honoured; 0 would busy-poll.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// What each `slow_down` adds, for the rest of the flow (RFC 8628 §3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Longest device-code lifetime honoured (the real service sends 600 s): a
/// hostile `expiresIn` cannot keep a client polling for years.
const MAX_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest wait between polls after transport failures or 5xx.
const MAX_POLL_BACKOFF: Duration = Duration::from_secs(60);
/// First wait, and cap, for retries of RegisterClient and StartDeviceAuthorization.
const SETUP_BACKOFF_BASE: Duration = Duration::from_secs(1);
const SETUP_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Attempts of one setup request before the flow gives up (no deadline bounds them).
const SETUP_MAX_ATTEMPTS: u32 = 5;

/// What to sign in to, and how the client presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowConfig {
    endpoint: Endpoint,
    start_url: String,
    scopes: Vec<String>,
    client_name: String,
}

impl FlowConfig {
    /// A configuration with the default scope (`sso:account:access`, which makes
    /// tokens refreshable) and client name `ssoflow`. The start URL must be an
    /// `https://` URL (or `http://` on loopback, for emulators).
    pub fn new(endpoint: Endpoint, start_url: &str) -> Result<FlowConfig, ConfigError> {
        let start_url = start_url.trim();
        if Endpoint::from_url(start_url).is_err() {
            return Err(ConfigError::InvalidStartUrl(start_url.to_owned()));
        }
        Ok(FlowConfig {
            endpoint,
            start_url: start_url.to_owned(),
            scopes: vec![wire::DEFAULT_SCOPE.to_owned()],
            client_name: "ssoflow".to_owned(),
        })
    }

    /// Replaces the scopes; an empty list registers a legacy, non-refreshable client.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> FlowConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the `clientName` the approval page shows (the AWS CLI uses `botocore-client-<session>`).
    pub fn with_client_name(mut self, name: impl Into<String>) -> FlowConfig {
        self.client_name = name.into();
        self
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The AWS access portal URL.
    pub fn start_url(&self) -> &str {
        &self.start_url
    }

    /// The scopes registered.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Identifies a request so its answer can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub(crate) u64);

/// A request for the driver to send.
pub struct Transmit {
    /// Hand this back with the response or transport error.
    pub id: RequestId,
    /// Which operation it is.
    pub operation: Operation,
    /// The HTTP request; the body carries secrets, so never log it.
    pub request: http::Request<Vec<u8>>,
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transmit")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("uri", self.request.uri())
            .field(
                "body",
                &format_args!("[redacted {} bytes]", self.request.body().len()),
            )
            .finish()
    }
}

/// What to show the person who approves the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrompt {
    /// The code to compare and type, e.g. `PMPJ-VZCJ`.
    pub user_code: String,
    /// The page to open.
    pub verification_uri: String,
    /// The page with the code filled in, when the service sends it.
    pub verification_uri_complete: Option<String>,
    /// When the codes expire (wall clock).
    pub expires_at: SystemTime,
    /// How long the codes live, from the moment they were issued.
    pub expires_in: Duration,
}

/// What a flow tells the application; drain with [`Flow::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new registration was obtained: persist it for reuse (replaces any cached one).
    Registered(Registration),
    /// Show the user code and URL.
    UserCode(UserPrompt),
    /// The service asked to slow down: polls now come this far apart.
    IntervalChanged(Duration),
    /// A transient failure; the same request goes again after `wait`.
    Retrying {
        /// The operation that failed.
        operation: Operation,
        /// Consecutive failures so far.
        attempt: u32,
        /// How long until the next try.
        wait: Duration,
    },
    /// Success: the token (for [`RefreshFlow`](crate::RefreshFlow), the refreshed token).
    Authorized(Token),
    /// The person refused.
    Denied,
    /// The device code ran out before approval.
    Expired,
    /// The flow failed for good.
    Failed(FlowError),
}

/// The state of a flow, as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateKind {
    /// Needs a client registration.
    Unregistered,
    /// Has a registration; about to start a device authorization.
    Registered,
    /// Waiting for the person (device flow) or for the refresh answer.
    Pending,
    /// Done: a token was issued. Terminal.
    Authorized,
    /// The device code ran out. Terminal.
    Expired,
    /// The person refused. Terminal.
    Denied,
    /// Failed or cancelled. Terminal.
    Failed,
}

impl StateKind {
    /// True for the states that absorb every further input.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateKind::Authorized | StateKind::Expired | StateKind::Denied | StateKind::Failed
        )
    }
}

/// The four method families every flow offers (getters, `handle_*` inputs,
/// commands, `poll_*` outputs), so one driver loop runs both machines.
///
/// Times passed in must never decrease; an earlier `now` is treated as the latest one seen.
///
/// The run-loop contract, repeated until [`StateKind::is_terminal`]:
/// 1. `handle_timeout(now)`;
/// 2. `poll_transmit(now)`: send what it returns (one request at a time);
/// 3. feed the answer with `handle_response` or `handle_transport_error`, then go back to 2;
/// 4. drain `poll_event` and act on each event;
/// 5. sleep until `poll_timeout()` (no sleep when it is `None` with a request in flight is not possible: the
///    blocking driver always has its answer before it sleeps).
pub trait Flow {
    /// The next request to send, if one is due at `now`. Returns `None` while a
    /// request is in flight, before the next poll is due, and in terminal states.
    /// Poll again after every `handle_*` call.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;

    /// Feeds the answer (any status) to the request `id`. `Err` only when `id`
    /// was never handed out or is not the one in flight: a caller bug.
    fn handle_response(
        &mut self,
        now: Instant,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse>;

    /// Reports that request `id` failed below HTTP; the flow backs off and retries.
    fn handle_transport_error(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(), ApiMisuse>;

    /// When to call `handle_timeout` and `poll_transmit` next: the next request
    /// time or the device code's deadline. `None` in terminal states. Poll again
    /// after every `handle_*` call.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Lets time pass: expires the flow at the deadline even if no request is due.
    fn handle_timeout(&mut self, now: Instant);

    /// The next event for the application; drain after every `handle_*` call.
    fn poll_event(&mut self) -> Option<Event>;

    /// The current state.
    fn state(&self) -> StateKind;

    /// Stops the flow: nothing is sent afterwards; it ends `Failed(Cancelled)`.
    fn cancel(&mut self);
}

/// A device code that is waiting for approval.
#[derive(Debug)]
struct PendingAuth {
    registration: Registration,
    device_code: DeviceCode,
    deadline: Instant,
    interval: Duration,
}

#[derive(Debug)]
enum Phase {
    Unregistered,
    Registered(Registration),
    Pending(PendingAuth),
    Authorized,
    Expired,
    Denied,
    Failed,
}

/// The device authorization grant: RegisterClient (unless a cached registration
/// is reused) → StartDeviceAuthorization → CreateToken polls until approval,
/// refusal, expiry or failure. It performs no I/O and reads no clock.
///
/// ```text
///  Unregistered ──RegisterClient──► Registered ──StartDeviceAuthorization──► Pending ──CreateToken──► Authorized
///       ▲                               │                                     │  │ authorization_pending, slow_down: poll again
///       └──── invalid_client / unauthorized_client (once) ────────────────────┘  ├─► Expired (expired_token, deadline)
///                                                                                ├─► Denied  (access_denied)
///                        any state ── error no retry fixes, retries spent, cancel ─► Failed
/// ```
#[derive(Debug)]
pub struct DeviceFlow {
    config: FlowConfig,
    anchor: TimeAnchor,
    phase: Phase,
    exchange: Exchange,
    registered_again: bool,
    /// 5 s per `slow_down` so far; kept for a new device code after registering again.
    slow_down_penalty: Duration,
}

impl DeviceFlow {
    /// A flow that starts by registering a client. `now` and `wall_now` are the
    /// same moment on the monotonic and the wall clock; the wall time is needed
    /// only to stamp expiries.
    pub fn new(config: FlowConfig, now: Instant, wall_now: SystemTime) -> DeviceFlow {
        DeviceFlow {
            exchange: Exchange::new(config.endpoint.clone(), now),
            config,
            anchor: TimeAnchor::new(now, wall_now),
            phase: Phase::Unregistered,
            registered_again: false,
            slow_down_penalty: Duration::ZERO,
        }
    }

    /// A flow that reuses a cached registration when it has more than 15 minutes
    /// left and was made for the same scopes; otherwise it registers anew (and
    /// emits [`Event::Registered`] with the replacement).
    pub fn with_registration(
        config: FlowConfig,
        registration: Registration,
        now: Instant,
        wall_now: SystemTime,
    ) -> DeviceFlow {
        let fits = registration.is_reusable_at(wall_now) && registration.scopes == config.scopes;
        let mut flow = DeviceFlow::new(config, now, wall_now);
        if fits {
            flow.phase = Phase::Registered(registration);
        }
        flow
    }

    /// The configuration the flow runs with.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// When the device code expires (monotonic), once the flow is `Pending`.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Pending(p) => Some(p.deadline),
            _ => None,
        }
    }

    /// The poll interval in force, once the flow is `Pending`.
    pub fn interval(&self) -> Option<Duration> {
        match &self.phase {
            Phase::Pending(p) => Some(p.interval),
            _ => None,
        }
    }

    fn finish(&mut self, phase: Phase, event: Event) {
        self.phase = phase;
        self.exchange.abandon();
        self.exchange.events.push_back(event);
    }

    fn fail(&mut self, error: FlowError) {
        self.finish(Phase::Failed, Event::Failed(error));
    }

    /// A transient failure: wait longer and send the same kind of request again.
    fn transient(&mut self, now: Instant, op: Operation, trouble: Trouble) {
        let failures = self.exchange.note_failure(trouble);
        let wait = match &self.phase {
            Phase::Pending(p) => backoff(
                p.interval,
                failures.saturating_add(1),
                MAX_POLL_BACKOFF.max(p.interval),
            ),
            _ => {
                if failures >= SETUP_MAX_ATTEMPTS {
                    let error = self.exchange.exhausted(op);
                    self.fail(error);
                    return;
                }
                backoff(SETUP_BACKOFF_BASE, failures, SETUP_BACKOFF_CAP)
            }
        };
        self.exchange.ready_at = later(now, wait);
        self.exchange.events.push_back(Event::Retrying {
            operation: op,
            attempt: failures,
            wait,
        });
    }

    fn on_success(&mut self, now: Instant, op: Operation, body: &[u8]) {
        let result = match op {
            Operation::RegisterClient => self.registered(body),
            Operation::StartDeviceAuthorization => self.started(now, body),
            Operation::CreateToken => self.authorized(now, body),
        };
        match result {
            Ok(()) => self.exchange.reset_failures(),
            Err(e) => self.transient(now, op, Trouble::Decode(e)),
        }
    }

    fn registered(&mut self, body: &[u8]) -> Result<(), DecodeError> {
        let r: wire::RegisterClientResponse = wire::decode(body)?;
        let client_id = r
            .client_id
            .filter(|s| !s.is_empty())
            .ok_or(DecodeError::MissingMember("clientId"))?;
        let client_secret = r
            .client_secret
            .ok_or(DecodeError::MissingMember("clientSecret"))?;
        let expires = r
            .client_secret_expires_at
            .ok_or(DecodeError::MissingMember("clientSecretExpiresAt"))?;
        // An absolute time, so not clamped like the relative durations.
        let expires_at = u64::try_from(expires)
            .ok()
            .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
            .ok_or(DecodeError::InvalidMember("clientSecretExpiresAt"))?;
        let registration = Registration {
            client_id,
            client_secret,
            expires_at,
            scopes: self.config.scopes.clone(),
        };
        self.exchange
            .events
            .push_back(Event::Registered(registration.clone()));
        self.phase = Phase::Registered(registration);
        Ok(())
    }

    fn started(&mut self, now: Instant, body: &[u8]) -> Result<(), DecodeError> {
        let r: wire::StartDeviceAuthorizationResponse = wire::decode(body)?;
        let device_code = r
            .device_code
            .filter(|c| !c.secret().is_empty())
            .ok_or(DecodeError::MissingMember("deviceCode"))?;
        let user_code = r
            .user_code
            .filter(|c| !c.is_empty())
            .ok_or(DecodeError::MissingMember("userCode"))?;
        let verification_uri = r
            .verification_uri
            .filter(|u| !u.is_empty())
            .ok_or(DecodeError::MissingMember("verificationUri"))?;
        let expires_in = wire_seconds(
            r.expires_in
                .ok_or(DecodeError::MissingMember("expiresIn"))?,
        )
        .min(MAX_DEVICE_CODE_LIFETIME);
        // slow_down penalties earned under an earlier device code still apply.
        let interval = r
            .interval
            .map_or(DEFAULT_INTERVAL, wire_seconds)
            .max(MIN_INTERVAL)
            .saturating_add(self.slow_down_penalty);
        // Only a flow still in Registered can be answering StartDeviceAuthorization.
        let registration = match std::mem::replace(&mut self.phase, Phase::Unregistered) {
            Phase::Registered(registration) => registration,
            other => {
                self.phase = other;
                return Ok(());
            }
        };
        let prompt = UserPrompt {
            user_code,
            verification_uri,
            verification_uri_complete: r.verification_uri_complete.filter(|u| !u.is_empty()),
            expires_at: self.anchor.wall_after(now, expires_in),
            expires_in,
        };
        self.exchange.events.push_back(Event::UserCode(prompt));
        // The first poll waits one interval: a code issued a moment ago cannot be approved yet.
        self.exchange.ready_at = later(now, interval);
        self.phase = Phase::Pending(PendingAuth {
            registration,
            device_code,
            deadline: later(now, expires_in),
            interval,
        });
        Ok(())
    }

    fn authorized(&mut self, now: Instant, body: &[u8]) -> Result<(), DecodeError> {
        let issued = exchange::issued_token(body)?;
        let pending = match std::mem::replace(&mut self.phase, Phase::Unregistered) {
            Phase::Pending(pending) => pending,
            other => {
                self.phase = other;
                return Ok(());
            }
        };
        let token = Token {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            expires_at: self.anchor.wall_after(now, issued.expires_in),
            registration: pending.registration,
        };
        self.finish(Phase::Authorized, Event::Authorized(token));
        Ok(())
    }

    fn on_error(&mut self, now: Instant, op: Operation, error: ServiceError) {
        match (error.next_step(), &mut self.phase) {
            (NextStep::Wait, Phase::Pending(p)) => {
                self.exchange.reset_failures();
                self.exchange.ready_at = later(now, p.interval);
            }
            (NextStep::SlowDown, Phase::Pending(p)) => {
                self.exchange.reset_failures();
                p.interval = p.interval.saturating_add(SLOW_DOWN_STEP);
                self.slow_down_penalty = self.slow_down_penalty.saturating_add(SLOW_DOWN_STEP);
                let interval = p.interval;
                self.exchange.ready_at = later(now, interval);
                self.exchange
                    .events
                    .push_back(Event::IntervalChanged(interval));
            }
            (NextStep::Retry | NextStep::SlowDown, _) => {
                self.transient(now, op, Trouble::Other(error.to_string()));
            }
            (NextStep::RegisterAgain, Phase::Registered(_) | Phase::Pending(_))
                if !self.registered_again =>
            {
                // The registration is unknown or expired: drop it and start over, once.
                self.registered_again = true;
                self.exchange.reset_failures();
                self.exchange.ready_at = now;
                self.phase = Phase::Unregistered;
            }
            (_, Phase::Pending(_)) if error.code == ErrorCode::ExpiredToken => {
                self.finish(Phase::Expired, Event::Expired)
            }
            // A KMS denial is the service's problem, not the person's refusal (§9.4):
            // it fails with the code and reason instead.
            (_, Phase::Pending(_))
                if error.code == ErrorCode::AccessDenied && error.reason.is_none() =>
            {
                self.finish(Phase::Denied, Event::Denied)
            }
            _ => self.fail(FlowError::Service {
                operation: op.name(),
                error: Box::new(error),
            }),
        }
    }
}

impl Flow for DeviceFlow {
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let now = self.exchange.observe(now);
        self.handle_timeout(now);
        if self.exchange.in_flight() || now < self.exchange.ready_at {
            return None;
        }
        match &self.phase {
            Phase::Unregistered => {
                let body = wire::RegisterClientRequest {
                    client_name: self.config.client_name.clone(),
                    client_type: wire::CLIENT_TYPE_PUBLIC.to_owned(),
                    scopes: (!self.config.scopes.is_empty()).then(|| self.config.scopes.clone()),
                    redirect_uris: None,
                    grant_types: None,
                    issuer_url: None,
                    entitled_application_arn: None,
                };
                self.exchange.transmit(Operation::RegisterClient, &body)
            }
            Phase::Registered(reg) => {
                let body = wire::StartDeviceAuthorizationRequest {
                    client_id: reg.client_id.clone(),
                    client_secret: reg.client_secret.clone(),
                    start_url: self.config.start_url.clone(),
                };
                self.exchange
                    .transmit(Operation::StartDeviceAuthorization, &body)
            }
            Phase::Pending(p) => {
                let body = wire::CreateTokenRequest::device_code(
                    &p.registration.client_id,
                    &p.registration.client_secret,
                    &p.device_code,
                );
                self.exchange.transmit(Operation::CreateToken, &body)
            }
            Phase::Authorized | Phase::Expired | Phase::Denied | Phase::Failed => None,
        }
    }

    fn handle_response(
        &mut self,
        now: Instant,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        let Some(op) = self.exchange.settle(id, self.state().is_terminal())? else {
            return Ok(());
        };
        match ServiceError::from_response(&response) {
            None => self.on_success(now, op, response.body()),
            Some(error) => self.on_error(now, op, error),
        }
        self.handle_timeout(now);
        Ok(())
    }

    fn handle_transport_error(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        let Some(op) = self.exchange.settle(id, self.state().is_terminal())? else {
            return Ok(());
        };
        self.transient(
            now,
            op,
            Trouble::Other(format!("transport error: {kind:?}")),
        );
        self.handle_timeout(now);
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Pending(p) if self.exchange.in_flight() => Some(p.deadline),
            Phase::Pending(p) => Some(self.exchange.ready_at.min(p.deadline)),
            _ if self.exchange.in_flight() => None,
            Phase::Unregistered | Phase::Registered(_) => Some(self.exchange.ready_at),
            Phase::Authorized | Phase::Expired | Phase::Denied | Phase::Failed => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.exchange.observe(now);
        if let Phase::Pending(p) = &self.phase
            && now >= p.deadline
        {
            self.finish(Phase::Expired, Event::Expired);
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.exchange.events.pop_front()
    }

    fn state(&self) -> StateKind {
        match self.phase {
            Phase::Unregistered => StateKind::Unregistered,
            Phase::Registered(_) => StateKind::Registered,
            Phase::Pending(_) => StateKind::Pending,
            Phase::Authorized => StateKind::Authorized,
            Phase::Expired => StateKind::Expired,
            Phase::Denied => StateKind::Denied,
            Phase::Failed => StateKind::Failed,
        }
    }

    fn cancel(&mut self) {
        if !self.state().is_terminal() {
            self.fail(FlowError::Cancelled);
        }
    }
}
