//! The device authorization flow as a sans-IO state machine (`device-flow.md` §5).

use std::time::{Duration, Instant, SystemTime};

use crate::error::{
    ApiMisuse, DecodeError, ErrorCode, FlowError, NextStep, ServiceError, TransportErrorKind,
};
use crate::exchange::{
    self, Exchange, Trouble, backoff, later, lost_answer, wall_later, wire_seconds,
};
use crate::flow::{
    Event, Flow, FlowConfig, Outcome, RequestId, StateKind, Transmit, UserPrompt, sealed,
};
use crate::operation::Operation;
use crate::secret::DeviceCode;
use crate::token::{Registration, Token};
use crate::wire;

/// Poll interval when the service names none (RFC 8628 §3.2).
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The smallest interval honoured; 0 would busy-poll.
pub(crate) const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// What each `slow_down` adds, for the rest of the flow (RFC 8628 §3.5).
pub(crate) const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);
/// Longest device-code lifetime honoured (the real service sends 600 s): a
/// hostile `expiresIn` cannot keep a client polling for years.
pub(crate) const MAX_DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(3600);
/// Longest wait between polls after transport failures or 5xx.
pub(crate) const MAX_POLL_BACKOFF: Duration = Duration::from_secs(60);
/// First wait, and cap, for retries of RegisterClient and StartDeviceAuthorization.
pub(crate) const SETUP_BACKOFF_BASE: Duration = Duration::from_secs(1);
pub(crate) const SETUP_BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Attempts of one setup request before the flow gives up (no deadline bounds them).
pub(crate) const SETUP_MAX_ATTEMPTS: u32 = 5;

/// How [`FlowError::GrantSpent`] and [`FlowError::AnswerLost`] name this flow's grant.
const DEVICE_CODE: &str = "device code";

/// A device code that is waiting for approval.
#[derive(Debug)]
pub(crate) struct PendingAuth {
    registration: Registration,
    device_code: DeviceCode,
    pub(crate) deadline: Instant,
    pub(crate) interval: Duration,
}

#[derive(Debug)]
pub(crate) enum Phase {
    Unregistered,
    Registered(Registration),
    Pending(PendingAuth),
    Done(Outcome),
}

/// The device authorization grant: RegisterClient (unless a cached registration
/// is reused) → StartDeviceAuthorization → CreateToken polls until approval,
/// refusal, expiry or failure. It performs no I/O and reads no clock; drive it
/// through the [`Flow`] methods.
///
/// ```text
///  Unregistered ──RegisterClient──► Registered ──StartDeviceAuthorization──► Pending ──CreateToken──► Authorized(token)
///       ▲                               │                                     │  │ authorization_pending, slow_down: poll again
///       └──────── invalid_client (once) ┴─────────────────────────────────────┘  ├─► Expired (expired_token, deadline)
///                                                                                ├─► Denied  (access_denied)
///        any state ── unauthorized_client, an error no retry fixes, retries spent, cancel ─► Failed(error)
/// ```
///
/// What each state holds: `Registered` the registration; `Pending` the
/// registration, the device code (secret), the deadline and the poll
/// interval in force; the terminal states their [`Outcome`].
#[derive(Debug)]
pub struct DeviceFlow {
    config: FlowConfig,
    pub(crate) phase: Phase,
    pub(crate) exchange: Exchange,
    registered_again: bool,
    /// The registration obtained by this flow's RegisterClient, if any.
    obtained: Option<Registration>,
    /// 5 s per `slow_down` so far; kept for a new device code after registering again.
    slow_down_penalty: Duration,
}

impl DeviceFlow {
    /// A flow that starts by registering a client, at `now`.
    pub fn new(config: FlowConfig, now: Instant) -> DeviceFlow {
        DeviceFlow {
            exchange: Exchange::new(config.endpoint.clone(), now),
            config,
            phase: Phase::Unregistered,
            registered_again: false,
            obtained: None,
            slow_down_penalty: Duration::ZERO,
        }
    }

    /// A flow that reuses a cached registration when it has at least 15
    /// minutes left at `wall_now` (the AWS CLI's margin), was made for the
    /// same scopes, and not for the authorization-code grant (the AWS CLI's
    /// rule, `aws-cli-compat.md` §5.3); otherwise it registers anew (and
    /// emits [`Event::Registered`] with the replacement).
    pub fn with_registration(
        config: FlowConfig,
        registration: Registration,
        now: Instant,
        wall_now: SystemTime,
    ) -> DeviceFlow {
        let fits = registration.is_reusable_at(wall_now)
            && registration.scopes == config.scopes
            && !registration.is_for_authorization_code();
        let mut flow = DeviceFlow::new(config, now);
        if fits {
            flow.phase = Phase::Registered(registration);
        }
        flow
    }

    /// The configuration the flow runs with.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The registration this flow obtained from RegisterClient, if it
    /// registered (the latest, if it registered twice): persist it so the next
    /// sign-in can skip RegisterClient.
    pub fn new_registration(&self) -> Option<&Registration> {
        self.obtained.as_ref()
    }

    fn finish(&mut self, outcome: Outcome) {
        self.phase = Phase::Done(outcome);
        self.exchange.abandon();
    }

    fn fail(&mut self, error: FlowError) {
        self.finish(Outcome::Failed(error));
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

    fn on_success(&mut self, now: Instant, wall_now: SystemTime, op: Operation, body: &[u8]) {
        let result = match op {
            Operation::RegisterClient => self.registered(body),
            Operation::StartDeviceAuthorization => self.started(now, wall_now, body),
            // A device flow sends nothing else.
            _ => self.authorized(wall_now, body),
        };
        match result {
            Ok(()) => self.exchange.reset_failures(),
            Err(e) if op.may_resend_after_success() => self.transient(now, op, Trouble::Decode(e)),
            Err(error) => self.fail(FlowError::GrantSpent {
                grant: DEVICE_CODE,
                error,
            }),
        }
    }

    fn registered(&mut self, body: &[u8]) -> Result<(), DecodeError> {
        let registration = exchange::registration(body, self.config.scopes.clone())?;
        self.exchange
            .events
            .push_back(Event::Registered(registration.clone()));
        self.obtained = Some(registration.clone());
        self.phase = Phase::Registered(registration);
        Ok(())
    }

    fn started(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        body: &[u8],
    ) -> Result<(), DecodeError> {
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
            expires_at: wall_later(wall_now, expires_in),
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

    fn authorized(&mut self, wall_now: SystemTime, body: &[u8]) -> Result<(), DecodeError> {
        let issued = exchange::issued_token(body)?;
        let Phase::Pending(pending) = &self.phase else {
            return Ok(());
        };
        let token = Token {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            expires_at: wall_later(wall_now, issued.expires_in),
            registration: pending.registration.clone(),
        };
        self.finish(Outcome::Authorized(token));
        Ok(())
    }

    fn on_error(&mut self, now: Instant, op: Operation, error: ServiceError) {
        if error.rejects_registration() {
            let rejected = match &self.phase {
                Phase::Registered(r) => Some((r.client_id.clone(), false)),
                Phase::Pending(p) => Some((p.registration.client_id.clone(), true)),
                _ => None,
            };
            if let Some((client_id, user_code_void)) = rejected {
                // Nobody should persist a registration the service refuses.
                if self
                    .obtained
                    .as_ref()
                    .is_some_and(|r| r.client_id == client_id)
                {
                    self.obtained = None;
                }
                self.exchange.events.push_back(Event::RegistrationRejected {
                    client_id,
                    user_code_void,
                });
            }
        }
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
                self.finish(Outcome::Expired)
            }
            // A KMS denial is the service's problem, not the person's refusal (§9.4):
            // it fails with the code and reason instead.
            (_, Phase::Pending(_))
                if error.code == ErrorCode::AccessDenied && error.reason.is_none() =>
            {
                self.finish(Outcome::Denied)
            }
            _ => {
                let failure = self.exchange.refused(op, DEVICE_CODE, error);
                self.fail(failure);
            }
        }
    }

    /// Expires a pending flow whose deadline has passed with nothing in flight.
    fn expire_if_due(&mut self, now: Instant) {
        if let Phase::Pending(p) = &self.phase
            && now >= p.deadline
            && !self.exchange.in_flight()
        {
            self.finish(Outcome::Expired);
        }
    }
}

impl sealed::Sealed for DeviceFlow {}

impl Flow for DeviceFlow {
    type Ending = Outcome;
    const NAME: &'static str = "device_code";

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
                self.exchange
                    .transmit(now, Operation::RegisterClient, &body)
            }
            Phase::Registered(reg) => {
                let body = wire::StartDeviceAuthorizationRequest {
                    client_id: reg.client_id.clone(),
                    client_secret: reg.client_secret.clone(),
                    start_url: self.config.start_url.clone(),
                };
                self.exchange
                    .transmit(now, Operation::StartDeviceAuthorization, &body)
            }
            Phase::Pending(p) => {
                let body = wire::CreateTokenRequest::device_code(
                    &p.registration.client_id,
                    &p.registration.client_secret,
                    &p.device_code,
                );
                self.exchange.transmit(now, Operation::CreateToken, &body)
            }
            Phase::Done(_) => None,
        }
    }

    fn handle_response(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        let Some(op) = self.exchange.settle(id, self.state().is_terminal())? else {
            return Ok(());
        };
        match ServiceError::from_response(&response) {
            None => self.on_success(now, wall_now, op, response.body()),
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
        match self.exchange.transport_failed(op, kind) {
            Some(error) => self.fail(FlowError::GrantSpent {
                grant: DEVICE_CODE,
                error,
            }),
            None => self.transient(
                now,
                op,
                Trouble::Other(format!("transport error: {kind:?}")),
            ),
        }
        self.handle_timeout(now);
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Done(_) => None,
            _ if self.exchange.in_flight() => self.exchange.answer_deadline(),
            Phase::Pending(p) => Some(self.exchange.ready_at.min(p.deadline)),
            Phase::Unregistered | Phase::Registered(_) => Some(self.exchange.ready_at),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.exchange.observe(now);
        if let Some(op) = self.exchange.give_up_if_unanswered(now) {
            self.transient(now, op, lost_answer());
        }
        self.expire_if_due(now);
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.exchange.events.pop_front()
    }

    fn state(&self) -> StateKind {
        match &self.phase {
            Phase::Unregistered => StateKind::Unregistered,
            Phase::Registered(_) => StateKind::Registered,
            Phase::Pending(_) => StateKind::Pending,
            Phase::Done(outcome) => outcome.state(),
        }
    }

    fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    fn cancel(&mut self) {
        if !self.state().is_terminal() {
            self.fail(FlowError::Cancelled);
        }
    }
}
