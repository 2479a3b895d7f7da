//! The authorization-code grant with PKCE as a sans-IO state machine
//! (`device-flow.md` §6): the AWS CLI's default sign-in since 2.22.

use std::time::{Duration, Instant, SystemTime};

use crate::device::{SETUP_BACKOFF_BASE, SETUP_BACKOFF_CAP, SETUP_MAX_ATTEMPTS};
use crate::error::{
    ApiMisuse, DecodeError, ErrorCode, FlowError, NextStep, ServiceError, TransportErrorKind,
};
use crate::exchange::{self, Exchange, Trouble, backoff, later, lost_answer, wall_later};
use crate::flow::{Event, Flow, FlowConfig, Outcome, RequestId, StateKind, Transmit, sealed};
use crate::operation::Operation;
use crate::pkce::{self, PkceSecrets, QueryError};
use crate::refresh;
use crate::secret::AuthorizationCode;
use crate::token::{Registration, Token};
use crate::wire;

/// How long the flow waits for the browser to come back, as the AWS CLI
/// does (`device-flow.md` §6.2).
pub(crate) const DEFAULT_CALLBACK_WAIT: Duration = Duration::from_secs(600);

/// How [`FlowError::GrantSpent`] and [`FlowError::AnswerLost`] name this flow's grant.
const AUTHORIZATION_CODE: &str = "authorization code";

/// Waiting for the browser to come back to the loopback listener.
#[derive(Debug)]
pub(crate) struct Awaiting {
    pub(crate) registration: Registration,
    /// When the authorization URL was handed out; the wait runs from here.
    pub(crate) since: Instant,
    /// Callbacks refused so far (wrong or missing `state`, unreadable query).
    pub(crate) refused: u32,
}

#[derive(Debug)]
pub(crate) enum Phase {
    Unregistered,
    Awaiting(Awaiting),
    Exchanging {
        registration: Registration,
        code: AuthorizationCode,
    },
    Done(Outcome),
}

/// What to open in the browser, and where the browser will come back.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorizationPrompt {
    /// The `/authorize` URL to open. It carries the `state`, so show it only
    /// where the person needs it (when no browser could be opened).
    pub url: String,
    /// The redirect URI the listener must serve, `http://127.0.0.1:<port>/oauth/callback`.
    pub redirect_uri: String,
    /// How long the flow waits for the browser to come back.
    pub wait: Duration,
}

impl std::fmt::Debug for AuthorizationPrompt {
    /// The URL without its query: the `state` stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let without_query = self.url.split('?').next().unwrap_or_default();
        f.debug_struct("AuthorizationPrompt")
            .field("url", &format_args!("{without_query}?[redacted]"))
            .field("redirect_uri", &self.redirect_uri)
            .field("wait", &self.wait)
            .finish()
    }
}

/// Why a request to the callback path was refused while the flow goes on
/// waiting: whoever sent it did not start this sign-in (RFC 6749 §10.12),
/// so it must neither end the flow nor be exchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackRefusal {
    /// The callback has no `state`.
    MissingState,
    /// The callback reports an `error` (e.g. `access_denied`) but carries no
    /// `state`, so it cannot be told from a forged one; the sign-in goes on
    /// waiting, and the person sees what the server said.
    ErrorWithoutState(String),
    /// The callback's `state` is not the one this flow sent.
    StateMismatch,
    /// The query could not be read (a bad `%` escape, a repeated parameter…).
    Unreadable(QueryError),
}

impl std::fmt::Display for CallbackRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallbackRefusal::MissingState => f.write_str("the callback has no state parameter"),
            CallbackRefusal::ErrorWithoutState(error) => write!(
                f,
                "the authorization server reported the error {error:?}, but without the state \
                 that would show it is about this sign-in"
            ),
            CallbackRefusal::StateMismatch => {
                f.write_str("the callback's state does not match this sign-in")
            }
            CallbackRefusal::Unreadable(error) => write!(f, "the callback is unreadable: {error}"),
        }
    }
}

/// What the flow made of one request to the loopback listener, and so what
/// the listener answers the browser ([`loopback::response`](crate::loopback::response)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackReply {
    /// The awaited callback: its code is exchanged next.
    Accepted,
    /// The person refused (`error=access_denied`); the flow ended `Denied`.
    Denied,
    /// The callback ended the flow with an error (another `error`, or no code).
    Failed(FlowError),
    /// Not the callback path (e.g. `/favicon.ico`): ignored.
    NotFound,
    /// Refused; the flow goes on waiting for the real callback.
    Refused(CallbackRefusal),
    /// The flow is not waiting for a callback (it has its code, or has ended).
    NotWaiting,
}

/// The authorization-code grant with PKCE: RegisterClient (unless a cached
/// registration made for this grant is reused) → the person approves in a
/// browser on this machine, which comes back to a loopback listener with a
/// code → CreateToken exchanges the code, once, with the PKCE verifier. It
/// performs no I/O and reads no clock: the caller binds the listener, hands
/// each request it receives to [`AuthCodeFlow::handle_callback`], and
/// drives the rest through the [`Flow`] methods.
///
/// ```text
///  Unregistered ──RegisterClient──► Awaiting callback ──valid callback──► Exchanging ──CreateToken──► Authorized(token)
///                                    │ │ wrong/missing state: refused, still waiting      │ 5xx, transport: again, up to 4 attempts
///                                    │ ├─► Denied (error=access_denied)                    ├─► Expired (expired_token)
///                                    │ └─► Failed (another error, no code, no callback in time)
///        any state ── an error no retry fixes, retries spent, cancel ─► Failed(error)
/// ```
///
/// What each state holds: `Awaiting` the registration, when the wait began
/// and how many callbacks were refused; `Exchanging` the registration and
/// the code (secret); the terminal states their [`Outcome`]. The verifier
/// and `state` come from [`PkceSecrets`], made from randomness the caller
/// passes in. Unlike the device flow, a registration the service rejects
/// at the exchange is not replaced within the flow: the code is bound to
/// it, so only a new approval in the browser could help, and the flow
/// fails with [`Event::RegistrationRejected`] so that the next sign-in
/// registers anew.
///
/// ```
/// use std::time::{Instant, SystemTime};
/// use ssoflow_core::pkce::{PkceSecrets, RANDOM_BYTES};
/// use ssoflow_core::{AuthCodeFlow, CallbackReply, Endpoint, Event, Flow, FlowConfig, Outcome};
///
/// fn answer(body: &str) -> http::Response<Vec<u8>> {
///     http::Response::new(body.as_bytes().to_vec())
/// }
///
/// let endpoint = Endpoint::from_url("https://oidc.us-east-1.amazonaws.com")?;
/// let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start")?;
/// let (t0, wall) = (Instant::now(), SystemTime::now());
/// // The port of the listener the caller bound on 127.0.0.1, and fresh randomness.
/// let secrets = PkceSecrets::from_random([7; RANDOM_BYTES]);
/// let mut flow = AuthCodeFlow::new(config, 49152, secrets, t0);
///
/// let tx = flow.poll_transmit(t0).expect("RegisterClient");
/// flow.handle_response(t0, wall, tx.id, answer(
///     r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#))?;
/// let prompt = loop {
///     match flow.poll_event() {
///         Some(Event::AuthorizationUrl(prompt)) => break prompt,
///         Some(_) => continue,
///         None => panic!("no URL to open"),
///     }
/// };
/// assert!(prompt.url.starts_with("https://oidc.us-east-1.amazonaws.com/authorize?response_type=code&client_id=cid&"));
/// assert_eq!(prompt.redirect_uri, "http://127.0.0.1:49152/oauth/callback");
///
/// // The browser asks for a favicon, then comes back with a code and the right state.
/// assert_eq!(flow.handle_callback(t0, "/favicon.ico"), CallbackReply::NotFound);
/// let state = prompt.url.split("state=").nth(1).unwrap().split('&').next().unwrap();
/// let target = format!("/oauth/callback?code=c0de&state={state}");
/// assert_eq!(flow.handle_callback(t0, &target), CallbackReply::Accepted);
///
/// let tx = flow.poll_transmit(t0).expect("CreateToken");
/// flow.handle_response(t0, wall, tx.id, answer(r#"{"accessToken":"aoa","expiresIn":3600}"#))?;
/// assert!(matches!(flow.outcome(), Some(Outcome::Authorized(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AuthCodeFlow {
    config: FlowConfig,
    secrets: PkceSecrets,
    redirect_uri: String,
    callback_wait: Duration,
    pub(crate) phase: Phase,
    pub(crate) exchange: Exchange,
    /// The registration obtained by this flow's RegisterClient, if any.
    obtained: Option<Registration>,
}

impl AuthCodeFlow {
    /// A flow that starts by registering a client for this grant, at `now`.
    /// `port` is the one the caller's loopback listener on 127.0.0.1 is bound
    /// to; `secrets` must come from a cryptographically secure source.
    pub fn new(config: FlowConfig, port: u16, secrets: PkceSecrets, now: Instant) -> AuthCodeFlow {
        AuthCodeFlow {
            exchange: Exchange::new(config.endpoint.clone(), now),
            redirect_uri: pkce::redirect_uri(port),
            config,
            secrets,
            callback_wait: DEFAULT_CALLBACK_WAIT,
            phase: Phase::Unregistered,
            obtained: None,
        }
    }

    /// A flow that reuses a cached registration when it was made for the
    /// authorization-code grant (its `grantTypes` name it), for the same
    /// scopes, and has at least 15 minutes left at `wall_now` — the AWS
    /// CLI's rule (`aws-cli-compat.md` §5.3); otherwise it registers anew.
    /// With a reused registration the first event is
    /// [`Event::AuthorizationUrl`], at once.
    pub fn with_registration(
        config: FlowConfig,
        registration: Registration,
        port: u16,
        secrets: PkceSecrets,
        now: Instant,
        wall_now: SystemTime,
    ) -> AuthCodeFlow {
        let mut flow = AuthCodeFlow::new(config, port, secrets, now);
        let fits = registration.is_reusable_at(wall_now)
            && registration.is_for_authorization_code()
            && registration.scopes == flow.registered_scopes();
        if fits {
            flow.await_callback(now, registration);
        }
        flow
    }

    /// Waits `wait` for the browser to come back instead of 600 s (the AWS
    /// CLI's limit). Call before driving the flow.
    pub fn with_callback_wait(mut self, wait: Duration) -> AuthCodeFlow {
        self.callback_wait = wait;
        if let Some(Event::AuthorizationUrl(prompt)) = self.exchange.events.back_mut() {
            prompt.wait = wait;
        }
        self
    }

    /// The configuration the flow runs with.
    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The redirect URI the loopback listener serves.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The registration this flow obtained from RegisterClient, if it
    /// registered: persist it so the next sign-in can skip RegisterClient.
    pub fn new_registration(&self) -> Option<&Registration> {
        self.obtained.as_ref()
    }

    /// Hands the flow one request the loopback listener received: its
    /// request target (path and query, e.g. `/oauth/callback?code=…&state=…`).
    /// The answer says what to reply to the browser. Only a callback with
    /// this flow's `state` counts: one with a wrong or missing `state` is
    /// refused (and reported by [`Event::CallbackRefused`]) and the flow
    /// goes on waiting; other paths are ignored.
    pub fn handle_callback(&mut self, now: Instant, target: &str) -> CallbackReply {
        let now = self.exchange.observe(now);
        self.handle_timeout(now);
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        if path != pkce::CALLBACK_PATH {
            return CallbackReply::NotFound;
        }
        let Phase::Awaiting(awaiting) = &mut self.phase else {
            return CallbackReply::NotWaiting;
        };
        let refusal = match pkce::parse_query(query) {
            Err(error) => Err(CallbackRefusal::Unreadable(error)),
            Ok(pairs) => {
                let state = pairs.iter().find(|(n, _)| n == "state").map(|(_, v)| v);
                match state {
                    None => Err(match pairs.iter().find(|(n, _)| n == "error") {
                        Some((_, error)) => CallbackRefusal::ErrorWithoutState(error.clone()),
                        None => CallbackRefusal::MissingState,
                    }),
                    Some(state) if !same_secret(state, self.secrets.state()) => {
                        Err(CallbackRefusal::StateMismatch)
                    }
                    Some(_) => Ok(pairs),
                }
            }
        };
        let pairs = match refusal {
            Ok(pairs) => pairs,
            Err(refusal) => {
                awaiting.refused = awaiting.refused.saturating_add(1);
                self.exchange
                    .events
                    .push_back(Event::CallbackRefused(refusal.clone()));
                return CallbackReply::Refused(refusal);
            }
        };
        let param = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        if let Some(error) = param("error") {
            if error == "access_denied" {
                self.finish(Outcome::Denied);
                return CallbackReply::Denied;
            }
            // The authorization server refused the client itself: no later
            // sign-in may reuse this registration.
            if matches!(error.as_str(), "unauthorized_client" | "invalid_client") {
                let client_id = awaiting.registration.client_id.clone();
                if self
                    .obtained
                    .as_ref()
                    .is_some_and(|r| r.client_id == client_id)
                {
                    self.obtained = None;
                }
                self.exchange.events.push_back(Event::RegistrationRejected {
                    client_id,
                    user_code_void: false,
                });
            }
            let failure = FlowError::AuthorizationError {
                error,
                description: param("error_description"),
            };
            self.fail(failure.clone());
            return CallbackReply::Failed(failure);
        }
        let Some(code) = param("code").filter(|c| !c.is_empty()) else {
            self.fail(FlowError::MissingCode);
            return CallbackReply::Failed(FlowError::MissingCode);
        };
        let registration = match std::mem::replace(&mut self.phase, Phase::Unregistered) {
            Phase::Awaiting(awaiting) => awaiting.registration,
            other => {
                self.phase = other;
                return CallbackReply::NotWaiting;
            }
        };
        self.exchange.ready_at = now;
        self.phase = Phase::Exchanging {
            registration,
            code: AuthorizationCode::new(code),
        };
        CallbackReply::Accepted
    }

    /// The scopes this flow registers: the configured ones, or the AWS CLI's
    /// default when none are (it always registers some for this grant).
    fn registered_scopes(&self) -> Vec<String> {
        if self.config.scopes.is_empty() {
            vec![wire::DEFAULT_SCOPE.to_owned()]
        } else {
            self.config.scopes.clone()
        }
    }

    /// Hands out the URL to open and starts waiting for the browser.
    fn await_callback(&mut self, now: Instant, registration: Registration) {
        let url = pkce::authorization_url(
            &self.config.endpoint.authorize_url(),
            &registration.client_id,
            &self.redirect_uri,
            self.secrets.state(),
            &self.secrets.challenge(),
            &registration.scopes,
        );
        self.exchange
            .events
            .push_back(Event::AuthorizationUrl(AuthorizationPrompt {
                url,
                redirect_uri: self.redirect_uri.clone(),
                wait: self.callback_wait,
            }));
        self.phase = Phase::Awaiting(Awaiting {
            registration,
            since: now,
            refused: 0,
        });
    }

    /// When the wait for the browser ends, while it lasts.
    pub(crate) fn callback_deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Awaiting(a) => Some(later(a.since, self.callback_wait)),
            _ => None,
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        self.phase = Phase::Done(outcome);
        self.exchange.abandon();
    }

    fn fail(&mut self, error: FlowError) {
        self.finish(Outcome::Failed(error));
    }

    /// A transient failure: wait longer and send the same request again,
    /// within the budget of the request's kind (setup as in the device
    /// flow, the exchange as a refresh).
    fn transient(&mut self, now: Instant, op: Operation, trouble: Trouble) {
        let failures = self.exchange.note_failure(trouble);
        let (limit, base, cap) = match self.phase {
            Phase::Exchanging { .. } => (
                refresh::MAX_ATTEMPTS,
                refresh::BACKOFF_BASE,
                refresh::BACKOFF_CAP,
            ),
            _ => (SETUP_MAX_ATTEMPTS, SETUP_BACKOFF_BASE, SETUP_BACKOFF_CAP),
        };
        if failures >= limit {
            let error = self.exchange.exhausted(op);
            self.fail(error);
            return;
        }
        let wait = backoff(base, failures, cap);
        self.exchange.ready_at = later(now, wait);
        self.exchange.events.push_back(Event::Retrying {
            operation: op,
            attempt: failures,
            wait,
        });
    }

    fn on_success(&mut self, now: Instant, wall_now: SystemTime, op: Operation, body: &[u8]) {
        let result = match op {
            Operation::CreateToken => self.authorized(wall_now, body),
            _ => self.registered(now, body),
        };
        match result {
            Ok(()) => self.exchange.reset_failures(),
            Err(e) if op.may_resend_after_success() => self.transient(now, op, Trouble::Decode(e)),
            Err(error) => self.fail(FlowError::GrantSpent {
                grant: AUTHORIZATION_CODE,
                error,
            }),
        }
    }

    fn registered(&mut self, now: Instant, body: &[u8]) -> Result<(), DecodeError> {
        let mut registration = exchange::registration(body, self.registered_scopes())?;
        registration.grant_types = vec![
            wire::GRANT_AUTHORIZATION_CODE.to_owned(),
            wire::GRANT_REFRESH_TOKEN.to_owned(),
        ];
        if !matches!(self.phase, Phase::Unregistered) {
            return Ok(());
        }
        self.exchange
            .events
            .push_back(Event::Registered(registration.clone()));
        self.obtained = Some(registration.clone());
        self.await_callback(now, registration);
        Ok(())
    }

    fn authorized(&mut self, wall_now: SystemTime, body: &[u8]) -> Result<(), DecodeError> {
        let issued = exchange::issued_token(body)?;
        let Phase::Exchanging { registration, .. } = &self.phase else {
            return Ok(());
        };
        let token = Token {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            expires_at: wall_later(wall_now, issued.expires_in),
            registration: registration.clone(),
        };
        self.finish(Outcome::Authorized(token));
        Ok(())
    }

    fn on_error(&mut self, now: Instant, op: Operation, error: ServiceError) {
        if error.rejects_registration()
            && let Phase::Exchanging { registration, .. } = &self.phase
        {
            let client_id = registration.client_id.clone();
            if self
                .obtained
                .as_ref()
                .is_some_and(|r| r.client_id == client_id)
            {
                self.obtained = None;
            }
            self.exchange.events.push_back(Event::RegistrationRejected {
                client_id,
                user_code_void: false,
            });
        }
        let exchanging = matches!(self.phase, Phase::Exchanging { .. });
        match error.next_step() {
            NextStep::Retry | NextStep::SlowDown => {
                self.transient(now, op, Trouble::Other(error.to_string()));
            }
            _ if exchanging && error.code == ErrorCode::ExpiredToken => {
                self.finish(Outcome::Expired)
            }
            _ if exchanging && error.code == ErrorCode::AccessDenied && error.reason.is_none() => {
                self.finish(Outcome::Denied)
            }
            _ => {
                let failure = self.exchange.refused(op, AUTHORIZATION_CODE, error);
                self.fail(failure);
            }
        }
    }
}

/// Compares a received `state` with ours in time independent of where they
/// differ, so a local attacker timing the listener learns nothing.
fn same_secret(received: &str, ours: &str) -> bool {
    received.len() == ours.len()
        && received
            .bytes()
            .zip(ours.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

impl sealed::Sealed for AuthCodeFlow {}

impl Flow for AuthCodeFlow {
    type Ending = Outcome;
    const NAME: &'static str = "authorization_code";

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
                    grant_types: Some(vec![
                        wire::GRANT_AUTHORIZATION_CODE.to_owned(),
                        wire::GRANT_REFRESH_TOKEN.to_owned(),
                    ]),
                    redirect_uris: Some(vec![pkce::REGISTERED_REDIRECT_URI.to_owned()]),
                    issuer_url: Some(self.config.start_url.clone()),
                    scopes: Some(self.registered_scopes()),
                    entitled_application_arn: None,
                };
                self.exchange
                    .transmit(now, Operation::RegisterClient, &body)
            }
            Phase::Exchanging { registration, code } => {
                let body = wire::CreateTokenRequest::authorization_code(
                    &registration.client_id,
                    &registration.client_secret,
                    code,
                    &self.redirect_uri,
                    self.secrets.verifier(),
                );
                self.exchange.transmit(now, Operation::CreateToken, &body)
            }
            Phase::Awaiting(_) | Phase::Done(_) => None,
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
                grant: AUTHORIZATION_CODE,
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
            Phase::Awaiting(_) => self.callback_deadline(),
            Phase::Unregistered | Phase::Exchanging { .. } => Some(self.exchange.ready_at),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.exchange.observe(now);
        if let Some(op) = self.exchange.give_up_if_unanswered(now) {
            self.transient(now, op, lost_answer());
        }
        if let (Some(deadline), Phase::Awaiting(awaiting)) = (self.callback_deadline(), &self.phase)
            && now >= deadline
        {
            let refused = awaiting.refused;
            self.fail(FlowError::NoCallback {
                waited: self.callback_wait,
                refused,
            });
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.exchange.events.pop_front()
    }

    fn state(&self) -> StateKind {
        match &self.phase {
            Phase::Unregistered => StateKind::Unregistered,
            Phase::Awaiting(_) | Phase::Exchanging { .. } => StateKind::Pending,
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::oracle::Checked;
    use crate::pkce::RANDOM_BYTES;
    use crate::{DeviceFlow, Endpoint, ErrorCode, ServiceError};

    const RANDOM: [u8; RANDOM_BYTES] = [5; RANDOM_BYTES];
    const REGISTERED: &str =
        r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#;
    const TOKEN: &str = r#"{"accessToken":"aoa","refreshToken":"aor","expiresIn":3600}"#;

    fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
        let mut r = http::Response::new(body.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    }

    fn error(code: ErrorCode) -> http::Response<Vec<u8>> {
        crate::server::error_response(&ServiceError::new(code, "canned"))
    }

    fn config() -> FlowConfig {
        let endpoint = Endpoint::from_url("http://127.0.0.1:8080/prefix").unwrap();
        FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start").unwrap()
    }

    fn state() -> String {
        PkceSecrets::from_random(RANDOM).state().to_owned()
    }

    /// Registered and waiting for the browser; returns the URL handed out.
    fn waiting(t0: Instant) -> (Checked<AuthCodeFlow>, AuthorizationPrompt) {
        let flow = AuthCodeFlow::new(config(), 49152, PkceSecrets::from_random(RANDOM), t0);
        let mut c = Checked::new(flow, t0);
        let tx = c.poll_transmit(t0).unwrap();
        let body: wire::RegisterClientRequest = wire::decode(tx.request.body()).unwrap();
        assert_eq!(
            String::from_utf8(tx.request.body().clone()).unwrap(),
            r#"{"clientName":"ssoflow","clientType":"public","grantTypes":["authorization_code","refresh_token"],"redirectUris":["http://127.0.0.1/oauth/callback"],"issuerUrl":"https://d-1234567890.awsapps.com/start","scopes":["sso:account:access"]}"#
        );
        assert_eq!(body.client_type, "public");
        c.handle_response(t0, SystemTime::UNIX_EPOCH, tx.id, answer(200, REGISTERED))
            .unwrap();
        let events = c.drain();
        let Some(Event::Registered(registration)) = events.first() else {
            panic!("{events:?}")
        };
        assert!(registration.is_for_authorization_code());
        let Some(Event::AuthorizationUrl(prompt)) = events.get(1) else {
            panic!("{events:?}")
        };
        (c, prompt.clone())
    }

    fn exchange(c: &mut Checked<AuthCodeFlow>, now: Instant) -> Transmit {
        let tx = c.poll_transmit(now).expect("the exchange is due");
        assert_eq!(tx.operation, Operation::CreateToken);
        tx
    }

    #[test]
    fn approve_the_url_and_exchange_the_code_once() {
        let t0 = Instant::now();
        let (mut c, prompt) = waiting(t0);
        let challenge = PkceSecrets::from_random(RANDOM).challenge();
        assert_eq!(
            prompt.url,
            format!(
                "http://127.0.0.1:8080/authorize?response_type=code&client_id=cid&redirect_uri=http%3A%2F%2F127.0.0.1%3A49152%2Foauth%2Fcallback&state={}&code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess&code_challenge={challenge}",
                state()
            )
        );
        assert!(!format!("{prompt:?}").contains(&state()), "{prompt:?}");
        assert_eq!(c.poll_timeout(), Some(t0 + DEFAULT_CALLBACK_WAIT));
        assert!(
            c.poll_transmit(t0).is_none(),
            "nothing is sent while waiting"
        );
        assert_eq!(
            c.handle_callback(t0, "/favicon.ico"),
            CallbackReply::NotFound
        );
        let forged = "/oauth/callback?code=forged&state=ffffffff-ffff-4fff-bfff-ffffffffffff";
        assert_eq!(
            c.handle_callback(t0, forged),
            CallbackReply::Refused(CallbackRefusal::StateMismatch)
        );
        assert_eq!(
            c.drain(),
            vec![Event::CallbackRefused(CallbackRefusal::StateMismatch)]
        );
        let real = format!("/oauth/callback?code=the-code&state={}", state());
        assert_eq!(c.handle_callback(t0, &real), CallbackReply::Accepted);
        assert_eq!(c.handle_callback(t0, &real), CallbackReply::NotWaiting);
        let tx = exchange(&mut c, t0);
        assert_eq!(tx.request.uri(), "http://127.0.0.1:8080/prefix/token");
        let body: wire::CreateTokenRequest = wire::decode(tx.request.body()).unwrap();
        assert_eq!(body.code.unwrap().secret(), "the-code");
        assert_eq!(
            body.redirect_uri.as_deref(),
            Some("http://127.0.0.1:49152/oauth/callback")
        );
        assert_eq!(
            pkce::code_challenge(body.code_verifier.unwrap().secret()),
            challenge
        );
        c.handle_response(t0, SystemTime::UNIX_EPOCH, tx.id, answer(200, TOKEN))
            .unwrap();
        let Some(Outcome::Authorized(token)) = c.outcome() else {
            panic!("{:?}", c.outcome())
        };
        assert_eq!(token.refresh_token.as_ref().unwrap().secret(), "aor");
        assert!(token.registration.is_for_authorization_code());
    }

    #[test]
    fn the_callback_decides_denied_and_failed_endings() {
        let t0 = Instant::now();
        let cases = [
            (
                format!("error=access_denied&state={}", state()),
                StateKind::Denied,
            ),
            (
                format!(
                    "error=invalid_scope&error_description=no+such+scope&state={}",
                    state()
                ),
                StateKind::Failed,
            ),
            (format!("state={}", state()), StateKind::Failed),
        ];
        for (query, end) in cases {
            let (mut c, _) = waiting(t0);
            let reply = c.handle_callback(t0, &format!("/oauth/callback?{query}"));
            assert_eq!(c.state(), end, "{query}");
            match (reply, c.outcome()) {
                (CallbackReply::Denied, Some(Outcome::Denied)) => {}
                (CallbackReply::Failed(e), Some(Outcome::Failed(f))) => {
                    assert_eq!(&e, f);
                    let text = e.to_string();
                    assert!(
                        text.contains("invalid_scope (no such scope)")
                            || text.contains("without a code"),
                        "{text}"
                    );
                }
                other => panic!("{query}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_without_state_is_shown_but_does_not_end_the_flow() {
        let t0 = Instant::now();
        let (mut c, _) = waiting(t0);
        let reply = c.handle_callback(t0, "/oauth/callback?error=access_denied");
        assert_eq!(
            reply,
            CallbackReply::Refused(CallbackRefusal::ErrorWithoutState("access_denied".into()))
        );
        assert!(reply_text(&reply).contains("access_denied"));
        assert_eq!(c.state(), StateKind::Pending);
    }

    fn reply_text(reply: &CallbackReply) -> String {
        String::from_utf8(crate::loopback::response(Some(reply))).unwrap()
    }

    #[test]
    fn a_client_refused_at_authorize_is_a_rejected_registration() {
        let t0 = Instant::now();
        let (mut c, _) = waiting(t0);
        let target = format!(
            "/oauth/callback?error=unauthorized_client&state={}",
            state()
        );
        assert!(matches!(
            c.handle_callback(t0, &target),
            CallbackReply::Failed(FlowError::AuthorizationError { .. })
        ));
        assert_eq!(
            c.drain(),
            vec![Event::RegistrationRejected {
                client_id: "cid".into(),
                user_code_void: false
            }]
        );
        assert!(c.flow().new_registration().is_none());
    }

    #[test]
    fn no_callback_in_time_names_the_refused_ones_and_the_way_out() {
        let t0 = Instant::now();
        let (mut c, _) = waiting(t0);
        c.handle_callback(t0, "/oauth/callback?code=x");
        c.handle_callback(t0, "/oauth/callback?code=x&state=1&state=2");
        let deadline = c.poll_timeout().unwrap();
        c.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(c.state(), StateKind::Pending);
        c.handle_timeout(deadline);
        let Some(Outcome::Failed(error)) = c.outcome() else {
            panic!()
        };
        assert_eq!(
            error,
            &FlowError::NoCallback {
                waited: DEFAULT_CALLBACK_WAIT,
                refused: 2
            }
        );
        let text = error.to_string();
        assert!(
            text.contains("600 s") && text.contains("device code"),
            "{text}"
        );
    }

    #[test]
    fn service_refusals_of_the_code() {
        let t0 = Instant::now();
        let real = format!("/oauth/callback?code=c&state={}", state());
        let cases = [
            (error(ErrorCode::InvalidGrant), StateKind::Failed),
            (error(ErrorCode::ExpiredToken), StateKind::Expired),
            (error(ErrorCode::AccessDenied), StateKind::Denied),
            (answer(200, "{\"accessTok"), StateKind::Failed),
        ];
        for (response, end) in cases {
            let (mut c, _) = waiting(t0);
            c.handle_callback(t0, &real);
            let tx = exchange(&mut c, t0);
            c.handle_response(t0, SystemTime::UNIX_EPOCH, tx.id, response)
                .unwrap();
            assert_eq!(c.state(), end);
        }
        // An unreadable 2xx spends the code: it is not sent again.
        let (mut c, _) = waiting(t0);
        c.handle_callback(t0, &real);
        let tx = exchange(&mut c, t0);
        c.handle_response(t0, SystemTime::UNIX_EPOCH, tx.id, answer(200, "{}"))
            .unwrap();
        assert!(matches!(
            c.outcome(),
            Some(Outcome::Failed(FlowError::GrantSpent {
                grant: "authorization code",
                ..
            }))
        ));
    }

    #[test]
    fn a_lost_answer_then_invalid_grant_says_the_code_was_spent() {
        let t0 = Instant::now();
        let (mut c, _) = waiting(t0);
        c.handle_callback(t0, &format!("/oauth/callback?code=c&state={}", state()));
        let tx = exchange(&mut c, t0);
        c.handle_transport_error(t0, tx.id, TransportErrorKind::Timeout)
            .unwrap();
        let events = c.drain();
        assert!(matches!(
            events.as_slice(),
            [Event::Retrying { attempt: 1, .. }]
        ));
        let later = c.poll_timeout().unwrap();
        let tx = exchange(&mut c, later);
        c.handle_response(
            later,
            SystemTime::UNIX_EPOCH,
            tx.id,
            error(ErrorCode::InvalidGrant),
        )
        .unwrap();
        assert!(matches!(
            c.outcome(),
            Some(Outcome::Failed(FlowError::AnswerLost {
                grant: "authorization code",
                ..
            }))
        ));
    }

    #[test]
    fn a_rejected_registration_is_reported_and_ends_the_flow() {
        let t0 = Instant::now();
        let (mut c, _) = waiting(t0);
        c.handle_callback(t0, &format!("/oauth/callback?code=c&state={}", state()));
        let tx = exchange(&mut c, t0);
        c.handle_response(
            t0,
            SystemTime::UNIX_EPOCH,
            tx.id,
            error(ErrorCode::InvalidClient),
        )
        .unwrap();
        assert_eq!(
            c.drain(),
            vec![Event::RegistrationRejected {
                client_id: "cid".into(),
                user_code_void: false
            }]
        );
        assert_eq!(c.state(), StateKind::Failed);
        assert!(c.flow().new_registration().is_none());
    }

    #[test]
    fn registrations_are_reused_only_by_the_grant_they_were_made_for() {
        let t0 = Instant::now();
        let wall = SystemTime::UNIX_EPOCH;
        let device_made = Registration {
            client_id: "dev".into(),
            client_secret: crate::secret::ClientSecret::new("s"),
            expires_at: wall + Duration::from_secs(86_400),
            scopes: vec![wire::DEFAULT_SCOPE.into()],
            grant_types: Vec::new(),
        };
        let pkce_made = Registration {
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            ..device_made.clone()
        };
        let secrets = || PkceSecrets::from_random(RANDOM);
        let mut reused =
            AuthCodeFlow::with_registration(config(), pkce_made.clone(), 1, secrets(), t0, wall);
        assert_eq!(reused.state(), StateKind::Pending);
        assert!(matches!(
            reused.poll_event(),
            Some(Event::AuthorizationUrl(_))
        ));
        let fresh =
            AuthCodeFlow::with_registration(config(), device_made.clone(), 1, secrets(), t0, wall);
        assert_eq!(fresh.state(), StateKind::Unregistered);
        let device = DeviceFlow::with_registration(config(), pkce_made, t0, wall);
        assert_eq!(device.state(), StateKind::Unregistered);
        let device = DeviceFlow::with_registration(config(), device_made, t0, wall);
        assert_eq!(device.state(), StateKind::Registered);
    }

    #[test]
    fn the_exchange_retries_5xx_within_a_budget() {
        let t0 = Instant::now();
        let (mut c, _) = waiting(t0);
        c.handle_callback(t0, &format!("/oauth/callback?code=c&state={}", state()));
        let mut now = t0;
        for _ in 0..refresh::MAX_ATTEMPTS {
            let tx = exchange(&mut c, now);
            c.handle_response(now, SystemTime::UNIX_EPOCH, tx.id, answer(503, ""))
                .unwrap();
            c.drain();
            if let Some(next) = c.poll_timeout() {
                now = next;
            }
        }
        assert!(matches!(
            c.outcome(),
            Some(Outcome::Failed(FlowError::RetriesExhausted {
                attempts: 4,
                ..
            }))
        ));
    }
}
