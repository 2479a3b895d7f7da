//! The invariants of every flow, checked as a flow runs: the one oracle that
//! the property tests and the flow fuzz targets share (compiled only for
//! tests and under `--cfg fuzzing`, like quinn-proto's `fuzzing` module).
//!
//! [`Checked`] wraps a flow and offers the same methods; each call is passed
//! on and then checked against a model of what the flow may do, with the
//! flow's own constants. A broken invariant panics with a message that names
//! it. The invariants:
//! - at most one request in flight, and none after the flow has ended;
//! - each request is the one its state calls for, a JSON POST to the endpoint
//!   whose body has the members the operation needs (the grant's own included);
//! - device-code polls never come sooner than the interval in force, nor at
//!   or after the deadline; each `slow_down` adds 5 s for good; a new device
//!   code's interval is at least the floor and its deadline within the
//!   lifetime cap, and the deadline never moves while the code is polled;
//! - a 2xx to a CreateToken ends the flow, and so does an answer to it too
//!   large to read: a grant is never sent twice;
//! - an unanswered request is given up only after the answer wait limit,
//!   and while it is in flight the wake-up time is exactly that moment;
//! - an answer the flow refuses (not the request in flight) changes nothing;
//! - retry waits and attempts stay within the flow's budgets;
//! - a live flow always has a wake-up time, never in the past once nothing
//!   is due, and kept: once it has come, with nothing in flight, a request
//!   is due or the flow ends; an ended one has none, holds its outcome, and
//!   takes no input;
//! - the ending fits its cause: a token only from a 2xx to CreateToken, a
//!   denial only from `access_denied`, an expiry only from `expired_token`
//!   or the deadline, a cancel only from `cancel`; time alone never ends a
//!   flow that has a request in flight (its answer is still used);
//! - an answer that rejects the registration in use is reported by a
//!   `RegistrationRejected` event (with `user_code_void` when a code was
//!   shown), and a flow registers again once at most;
//! - the token's and the code's expiries are the answer's wall clock plus
//!   their lifetimes;
//! - every flow ends within a bounded number of wake-ups (see [`Checked::run_out`]).

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use crate::authcode::{AuthCodeFlow, CallbackReply};
use crate::device::{self, DeviceFlow};
use crate::endpoint::Endpoint;
use crate::error::{ApiMisuse, ErrorCode, FlowError, NextStep, ServiceError, TransportErrorKind};
use crate::exchange;
use crate::exchange::ANSWER_WAIT_LIMIT;
use crate::flow::{Event, Flow, Outcome, RequestId, StateKind, Transmit};
use crate::operation::Operation;
use crate::refresh::{self, RefreshFlow};
use crate::wire;

/// What the oracle reads from inside a flow; implemented for every flow of this crate.
pub trait Inspect: Flow<Ending = Outcome> {
    /// The poll interval in force (device flow, while pending).
    fn interval(&self) -> Option<Duration>;
    /// The device code's deadline (device flow, while pending).
    fn deadline(&self) -> Option<Instant>;
    /// Where the flow sends its requests.
    fn endpoint(&self) -> &Endpoint;
    /// True for the refresh grant's machine.
    fn is_refresh(&self) -> bool;
    /// True for the authorization-code grant's machine.
    fn is_auth_code(&self) -> bool {
        false
    }
}

impl Inspect for DeviceFlow {
    fn interval(&self) -> Option<Duration> {
        match &self.phase {
            device::Phase::Pending(p) => Some(p.interval),
            _ => None,
        }
    }
    fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            device::Phase::Pending(p) => Some(p.deadline),
            _ => None,
        }
    }
    fn endpoint(&self) -> &Endpoint {
        &self.exchange.endpoint
    }
    fn is_refresh(&self) -> bool {
        false
    }
}

impl Inspect for RefreshFlow {
    fn interval(&self) -> Option<Duration> {
        None
    }
    fn deadline(&self) -> Option<Instant> {
        None
    }
    fn endpoint(&self) -> &Endpoint {
        &self.exchange.endpoint
    }
    fn is_refresh(&self) -> bool {
        true
    }
}

impl Inspect for AuthCodeFlow {
    fn interval(&self) -> Option<Duration> {
        None
    }
    fn deadline(&self) -> Option<Instant> {
        self.callback_deadline()
    }
    fn endpoint(&self) -> &Endpoint {
        &self.exchange.endpoint
    }
    fn is_refresh(&self) -> bool {
        false
    }
    fn is_auth_code(&self) -> bool {
        true
    }
}

/// How many wake-ups [`Checked::run_out`] allows before calling the flow stuck.
pub const MAX_WAKE_UPS: usize = 5_000;

#[derive(Debug, Clone, Copy)]
struct Sent {
    id: RequestId,
    op: Operation,
    at: Instant,
}

/// A flow whose every call is checked against the invariants; see the module docs.
#[derive(Debug)]
pub struct Checked<F: Inspect> {
    flow: F,
    now: Instant,
    in_flight: Option<Sent>,
    given_up: Vec<RequestId>,
    /// The last device-code poll sent, in the current series (one device code).
    last_poll: Option<Instant>,
    /// The interval the current device code started with, and `slow_down`s since.
    base_interval: Option<Duration>,
    slow_downs: u32,
    /// The current device code's deadline.
    series_deadline: Option<Instant>,
    /// The interval in force after the last call that had one.
    last_interval: Option<Duration>,
    /// The wake-up time the flow named after the last call, with nothing in flight.
    promised: Option<Instant>,
    /// The terminal state, once seen, and whether its events have been drained.
    ended: Option<StateKind>,
    drained_after_end: bool,
    sends: u32,
    /// Whether the device flow was polling after the previous call.
    was_polling: bool,
    /// What the current call fed the flow, to judge the ending it causes.
    cause: Cause,
    /// `RegistrationRejected` events owed, by their `user_code_void`.
    owed_rejections: VecDeque<bool>,
    /// Registrations obtained (`Registered` events).
    registrations: u32,
    /// The wall-clock time of the answer that started the current device code.
    prompt_wall: Option<SystemTime>,
    /// CreateToken requests of an authorization-code flow (one code, retried at most).
    exchanges: u32,
}

/// What a call fed the flow.
#[derive(Debug, Clone)]
enum Cause {
    /// Construction.
    Start,
    /// Time passed (`poll_transmit`, `handle_timeout`).
    Time,
    /// An HTTP answer to a request of `op`; `code` is its error, if it was one.
    Answer {
        op: Operation,
        success: bool,
        code: Option<ErrorCode>,
    },
    /// A transport failure.
    Transport,
    /// A request to the loopback listener.
    Callback,
    /// `cancel`.
    Cancel,
}

impl<F: Inspect> Checked<F> {
    /// Starts checking `flow`, created at `now`.
    pub fn new(flow: F, now: Instant) -> Checked<F> {
        let mut checked = Checked {
            flow,
            now,
            in_flight: None,
            given_up: Vec::new(),
            last_poll: None,
            base_interval: None,
            slow_downs: 0,
            series_deadline: None,
            last_interval: None,
            promised: None,
            ended: None,
            drained_after_end: false,
            sends: 0,
            was_polling: false,
            cause: Cause::Start,
            owed_rejections: VecDeque::new(),
            registrations: 0,
            prompt_wall: None,
            exchanges: 0,
        };
        checked.after_call();
        checked
    }

    /// The flow itself, for reads.
    pub fn flow(&self) -> &F {
        &self.flow
    }

    /// The latest time seen.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// How many requests the flow has sent.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    /// The operation in flight, if a request is.
    pub fn in_flight(&self) -> Option<(RequestId, Operation)> {
        self.in_flight.map(|s| (s.id, s.op))
    }

    /// The current state.
    pub fn state(&self) -> StateKind {
        self.flow.state()
    }

    /// The outcome, once the flow has ended.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.flow.outcome()
    }

    /// [`Flow::poll_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.flow.poll_timeout()
    }

    /// Moves the model's clock, mirroring how the flow gives up on an overdue
    /// answer whenever time passes.
    fn advance(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if let Some(sent) = self.in_flight
            && self.now >= sent.at + ANSWER_WAIT_LIMIT
            && self.ended.is_none()
        {
            self.given_up.push(sent.id);
            self.in_flight = None;
        }
    }

    /// [`Flow::poll_transmit`], checked.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.advance(now);
        self.cause = Cause::Time;
        self.check_no_end_in_flight(|flow| flow.state());
        let before = self.flow.state();
        let promised = self.promised.filter(|_| self.in_flight.is_none());
        let transmit = self.flow.poll_transmit(now);
        match &transmit {
            Some(tx) => self.check_request(tx, before),
            None => {
                if let Some(wake) = promised
                    && self.now >= wake
                {
                    assert!(
                        self.flow.state().is_terminal(),
                        "the wake-up time {wake:?} has come, yet nothing was sent in {:?}",
                        self.flow.state()
                    );
                }
                if self.in_flight.is_none()
                    && let Some(wake) = self.flow.poll_timeout()
                {
                    assert!(
                        wake > self.now,
                        "nothing was due, yet the wake-up {wake:?} is not after now {:?}",
                        self.now
                    );
                }
            }
        }
        self.after_call();
        transmit
    }

    fn check_request(&mut self, tx: &Transmit, before: StateKind) {
        assert!(self.ended.is_none(), "a request after the end: {tx:?}");
        assert!(
            self.in_flight.is_none(),
            "a second request while one is in flight: {tx:?}"
        );
        let state = self.flow.state();
        assert!(!state.is_terminal(), "a request in {state:?}");
        let expected = match (self.flow.is_refresh(), state) {
            (true, _) => Operation::CreateToken,
            (false, StateKind::Unregistered) => Operation::RegisterClient,
            (false, StateKind::Registered) => Operation::StartDeviceAuthorization,
            (false, _) => Operation::CreateToken,
        };
        if self.flow.is_auth_code() && tx.operation == Operation::CreateToken {
            assert!(
                self.flow.deadline().is_none(),
                "the code was exchanged while the flow still waits for the browser"
            );
        }
        assert_eq!(
            tx.operation, expected,
            "{state:?} (was {before:?}) sent the wrong operation"
        );
        assert_eq!(tx.request.method(), http::Method::POST);
        assert_eq!(
            tx.request.headers().get(http::header::CONTENT_TYPE),
            Some(&http::HeaderValue::from_static("application/json"))
        );
        assert_eq!(
            Some(tx.request.uri()),
            self.flow.endpoint().uri(tx.operation).ok().as_ref(),
            "the request went somewhere else"
        );
        self.check_body(tx);
        if !self.flow.is_refresh()
            && !self.flow.is_auth_code()
            && tx.operation == Operation::CreateToken
        {
            let interval = self
                .flow
                .interval()
                .expect("a polling flow has an interval");
            let deadline = self.flow.deadline().expect("a polling flow has a deadline");
            if let Some(last) = self.last_poll {
                assert!(
                    self.now - last >= interval,
                    "polled {:?} after the previous poll; the interval is {interval:?}",
                    self.now - last
                );
            }
            assert!(self.now < deadline, "polled at or after the deadline");
            self.last_poll = Some(self.now);
        }
        self.sends += 1;
        if self.flow.is_auth_code() && tx.operation == Operation::CreateToken {
            self.exchanges += 1;
            assert!(
                self.exchanges <= refresh::MAX_ATTEMPTS,
                "a code is sent at most {} times",
                refresh::MAX_ATTEMPTS
            );
        }
        if self.flow.is_refresh() {
            assert!(
                self.sends <= refresh::MAX_ATTEMPTS,
                "a refresh sends at most {} requests",
                refresh::MAX_ATTEMPTS
            );
        }
        self.in_flight = Some(Sent {
            id: tx.id,
            op: tx.operation,
            at: self.now,
        });
    }

    /// The body decodes as the operation's input, with the grant's own member.
    fn check_body(&self, tx: &Transmit) {
        fn decoded<T: serde::de::DeserializeOwned>(tx: &Transmit) -> T {
            wire::decode(tx.request.body())
                .unwrap_or_else(|e| panic!("the {:?} body does not decode: {e}", tx.operation))
        }
        match tx.operation {
            Operation::RegisterClient => {
                let r: wire::RegisterClientRequest = decoded(tx);
                if self.flow.is_auth_code() {
                    assert_eq!(
                        r.grant_types.as_deref(),
                        Some(
                            &[
                                wire::GRANT_AUTHORIZATION_CODE.to_owned(),
                                wire::GRANT_REFRESH_TOKEN.to_owned()
                            ][..]
                        )
                    );
                    assert_eq!(
                        r.redirect_uris.as_deref(),
                        Some(&[crate::pkce::REGISTERED_REDIRECT_URI.to_owned()][..])
                    );
                    assert!(r.scopes.is_some_and(|s| !s.is_empty()), "no scopes");
                }
            }
            Operation::StartDeviceAuthorization => {
                decoded::<wire::StartDeviceAuthorizationRequest>(tx);
            }
            Operation::CreateToken => {
                let r: wire::CreateTokenRequest = decoded(tx);
                if self.flow.is_refresh() {
                    assert_eq!(r.grant_type, wire::GRANT_REFRESH_TOKEN);
                    assert!(r.refresh_token.is_some(), "a refresh without its token");
                } else if self.flow.is_auth_code() {
                    assert_eq!(r.grant_type, wire::GRANT_AUTHORIZATION_CODE);
                    assert!(r.code.is_some(), "an exchange without its code");
                    let verifier = r.code_verifier.expect("an exchange without its verifier");
                    assert!(crate::pkce::is_valid_verifier(verifier.secret()));
                    let redirect = r
                        .redirect_uri
                        .expect("an exchange without its redirect URI");
                    assert!(
                        crate::pkce::redirect_uri_matches(
                            crate::pkce::REGISTERED_REDIRECT_URI,
                            &redirect
                        ),
                        "redirect URI {redirect}"
                    );
                } else {
                    assert_eq!(r.grant_type, wire::GRANT_DEVICE_CODE);
                    assert!(r.device_code.is_some(), "a poll without its device code");
                }
            }
            other => panic!("a flow sent the portal operation {other:?}"),
        }
    }

    /// What a flow shows of itself that a refused answer must leave alone.
    fn looks(
        &self,
    ) -> (
        StateKind,
        Option<Duration>,
        Option<Instant>,
        Option<Instant>,
    ) {
        (
            self.flow.state(),
            self.flow.interval(),
            self.flow.deadline(),
            self.flow.poll_timeout(),
        )
    }

    /// [`Flow::handle_response`], checked.
    pub fn handle_response(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        // The flow takes an answer before it applies time, and applies none
        // to an answer it refuses: nothing is given up here.
        let answered = self.take_answered(id);
        self.now = self.now.max(now);
        let before = (self.flow.state(), self.flow.interval());
        let looks = self.looks();
        let success = response.status().is_success();
        let error = ServiceError::from_response(&response);
        let issued = exchange::issued_token(response.body()).ok();
        let result = self.flow.handle_response(now, wall_now, id, response);
        if let Some(sent) = answered {
            self.cause = Cause::Answer {
                op: sent.op,
                success,
                code: error.as_ref().map(|e| e.code.clone()),
            };
            self.owe_rejection(before.0, error.as_ref());
            self.check_stamps(before.0, sent.op, wall_now, issued);
        }
        self.check_settled(id, answered, &result);
        if result.is_err() {
            assert_eq!(self.looks(), looks, "a refused answer changed the flow");
        }
        if let Some(sent) = answered
            && self.ended.is_none()
        {
            if success && sent.op == Operation::CreateToken {
                assert!(
                    self.flow.state().is_terminal(),
                    "a 2xx to CreateToken left the flow in {:?}: a grant would be sent twice",
                    self.flow.state()
                );
            }
            if let Some(error) = error {
                self.check_error_answer(before, &error);
            }
        }
        self.after_call();
        result
    }

    /// [`Flow::handle_transport_error`], checked.
    pub fn handle_transport_error(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(), ApiMisuse> {
        let answered = self.take_answered(id);
        self.now = self.now.max(now);
        let before = self.flow.interval();
        let looks = self.looks();
        let result = self.flow.handle_transport_error(now, id, kind);
        if answered.is_some() {
            self.cause = Cause::Transport;
        }
        self.check_settled(id, answered, &result);
        if result.is_err() {
            assert_eq!(self.looks(), looks, "a refused answer changed the flow");
        }
        if answered.is_some() && self.flow.state() == StateKind::Pending {
            assert_eq!(
                self.flow.interval(),
                before,
                "a transport error changed the interval"
            );
        }
        if let Some(sent) = answered
            && sent.op == Operation::CreateToken
            && kind == TransportErrorKind::BodyTooLarge
        {
            assert!(
                self.flow.state().is_terminal(),
                "an answer to CreateToken too large to read left the flow in {:?}: \
                 a grant would be sent twice",
                self.flow.state()
            );
        }
        self.after_call();
        result
    }

    fn take_answered(&mut self, id: RequestId) -> Option<Sent> {
        match self.in_flight {
            Some(sent) if sent.id == id => {
                self.in_flight = None;
                Some(sent)
            }
            _ => None,
        }
    }

    fn check_settled(&self, id: RequestId, answered: Option<Sent>, result: &Result<(), ApiMisuse>) {
        match (answered, result) {
            (Some(_), Ok(())) => {}
            (Some(_), Err(misuse)) => {
                panic!("the answer to the request in flight was refused: {misuse}")
            }
            (None, Ok(())) => assert!(
                self.ended.is_some(),
                "an answer to request {id:?}, which is not in flight, was taken"
            ),
            (None, Err(ApiMisuse::AnswerTooLate { .. })) => assert!(
                self.given_up.contains(&id),
                "{id:?} was called too late, yet the flow never gave up on it"
            ),
            (None, Err(_)) => {}
        }
    }

    /// The interval arithmetic after an error answer to a device-code poll.
    fn check_error_answer(
        &mut self,
        (state, interval): (StateKind, Option<Duration>),
        error: &ServiceError,
    ) {
        if state != StateKind::Pending || self.flow.state() != StateKind::Pending {
            return;
        }
        let Some(before) = interval else { return };
        let after = self.flow.interval();
        if error.next_step() == NextStep::SlowDown {
            assert_eq!(
                after,
                Some(before + device::SLOW_DOWN_STEP),
                "slow_down did not add {:?}",
                device::SLOW_DOWN_STEP
            );
            self.slow_downs += 1;
        } else {
            assert_eq!(after, Some(before), "{:?} changed the interval", error.code);
        }
    }

    /// [`Flow::handle_timeout`], checked.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.cause = Cause::Time;
        self.check_no_end_in_flight(|flow| {
            flow.handle_timeout(now);
            flow.state()
        });
        self.after_call();
    }

    /// [`Flow::cancel`], checked.
    pub fn cancel(&mut self) {
        let ended = self.ended;
        self.cause = Cause::Cancel;
        self.flow.cancel();
        if ended.is_none() {
            self.in_flight = None;
            assert_eq!(
                self.flow.state(),
                StateKind::Failed,
                "cancel did not end it"
            );
        }
        self.after_call();
    }

    /// [`Flow::poll_event`], checked.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.flow.poll_event();
        if event.is_none() {
            assert!(
                self.owed_rejections.is_empty(),
                "the service rejected the registration, yet no RegistrationRejected was reported"
            );
        }
        match &event {
            None if self.ended.is_some() => self.drained_after_end = true,
            None => {}
            Some(event) => {
                assert!(
                    !self.drained_after_end,
                    "event {event:?} after the end was drained"
                );
                self.check_event(event);
            }
        }
        event
    }

    /// Drains every event, checking each; returns them.
    pub fn drain(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.poll_event()).collect()
    }

    fn check_event(&mut self, event: &Event) {
        match event {
            Event::UserCode(prompt) => {
                assert!(
                    prompt.expires_in <= device::MAX_DEVICE_CODE_LIFETIME,
                    "a device code lives {:?}",
                    prompt.expires_in
                );
                if let Some(wall) = self.prompt_wall {
                    assert_eq!(
                        prompt.expires_at,
                        exchange::wall_later(wall, prompt.expires_in),
                        "the code's expiry is not the answer's wall clock plus its lifetime"
                    );
                }
            }
            Event::IntervalChanged(interval) => {
                if self.flow.state() == StateKind::Pending {
                    assert_eq!(Some(*interval), self.flow.interval());
                }
            }
            Event::Retrying {
                operation,
                attempt,
                wait,
            } => {
                assert!(*attempt >= 1, "attempt {attempt}");
                let exchange = self.flow.is_auth_code() && *operation == Operation::CreateToken;
                if self.flow.is_refresh() || exchange {
                    assert!(
                        *attempt < refresh::MAX_ATTEMPTS,
                        "refresh attempt {attempt}"
                    );
                    assert!(*wait <= refresh::BACKOFF_CAP, "refresh backoff {wait:?}");
                } else if *operation == Operation::CreateToken {
                    // The flow may have ended (or dropped its code) in the call
                    // that emitted the event: then the interval it had counts.
                    let cap = self
                        .flow
                        .interval()
                        .or(self.last_interval)
                        .map_or(device::MAX_POLL_BACKOFF, |i| {
                            device::MAX_POLL_BACKOFF.max(i)
                        });
                    assert!(*wait <= cap, "poll backoff {wait:?} over {cap:?}");
                } else {
                    assert!(
                        *attempt < device::SETUP_MAX_ATTEMPTS,
                        "setup attempt {attempt}"
                    );
                    assert!(*wait <= device::SETUP_BACKOFF_CAP, "setup backoff {wait:?}");
                }
            }
            Event::RegistrationRejected { user_code_void, .. } => {
                let owed = self
                    .owed_rejections
                    .pop_front()
                    .expect("RegistrationRejected without a rejection");
                assert_eq!(*user_code_void, owed, "user_code_void");
            }
            Event::AuthorizationUrl(prompt) => {
                assert!(self.flow.is_auth_code(), "a URL to open from another flow");
                let base = self.flow.endpoint().authorize_url();
                assert!(
                    prompt
                        .url
                        .starts_with(&format!("{base}?response_type=code&client_id=")),
                    "the URL does not go to {base}"
                );
                assert!(
                    prompt.url.contains("&code_challenge_method=S256&"),
                    "no S256 challenge"
                );
            }
            Event::CallbackRefused(_) => {
                assert!(
                    self.flow.is_auth_code(),
                    "a callback refused by another flow"
                );
            }
            Event::Registered(_) => {
                self.registrations += 1;
                assert!(
                    self.registrations <= 2,
                    "{} registrations: a flow registers again once at most",
                    self.registrations
                );
            }
        }
    }

    /// A device flow that is waiting must not end by time alone (a poll in
    /// flight is still answered), nor any flow with a request in flight.
    fn check_no_end_in_flight(&mut self, call: impl FnOnce(&mut F) -> StateKind) {
        let in_flight = self.in_flight.map(|sent| sent.op);
        let state = call(&mut self.flow);
        if let Some(op) = in_flight
            && self.ended.is_none()
        {
            assert!(
                !state.is_terminal(),
                "the flow ended ({state:?}) by time alone with {op:?} in flight"
            );
        }
    }

    /// An answer that rejects the registration in use owes an event.
    fn owe_rejection(&mut self, before: StateKind, error: Option<&ServiceError>) {
        let Some(error) = error else { return };
        let rejects = error.rejects_registration();
        let holds_one = match self.flow.is_refresh() || self.flow.is_auth_code() {
            true => before == StateKind::Pending,
            false => matches!(before, StateKind::Registered | StateKind::Pending),
        };
        if rejects && holds_one {
            let device = !self.flow.is_refresh() && !self.flow.is_auth_code();
            self.owed_rejections
                .push_back(device && before == StateKind::Pending);
        }
    }

    /// Expiries come from the answer's wall clock: the token's, and the
    /// prompt's of a code the answer started.
    fn check_stamps(
        &mut self,
        before: StateKind,
        op: Operation,
        wall_now: SystemTime,
        issued: Option<exchange::IssuedToken>,
    ) {
        // A code whose lifetime is already over ends the flow at once (Expired),
        // yet its prompt is still reported.
        if op == Operation::StartDeviceAuthorization
            && before == StateKind::Registered
            && matches!(self.flow.state(), StateKind::Pending | StateKind::Expired)
        {
            self.prompt_wall = Some(wall_now);
        }
        if self.ended.is_none()
            && let Some(Outcome::Authorized(token)) = self.flow.outcome()
        {
            let issued = issued.expect("a token came from an answer that holds one");
            assert_eq!(
                token.expires_at,
                exchange::wall_later(wall_now, issued.expires_in),
                "the token's expiry is not the answer's wall clock plus expiresIn"
            );
        }
    }

    /// The ending fits what caused it.
    fn check_ending(&self, outcome: &Outcome) {
        let past_deadline = self.series_deadline.is_some_and(|d| self.now >= d);
        let fits = match (outcome, &self.cause) {
            (
                Outcome::Authorized(_),
                Cause::Answer {
                    op: Operation::CreateToken,
                    success: true,
                    ..
                },
            ) => true,
            (
                Outcome::Denied,
                Cause::Answer {
                    code: Some(ErrorCode::AccessDenied),
                    ..
                },
            ) => true,
            (
                Outcome::Expired,
                Cause::Answer {
                    code: Some(ErrorCode::ExpiredToken),
                    ..
                },
            ) => true,
            // A code may come with no lifetime at all (`expiresIn` 0).
            (
                Outcome::Expired,
                Cause::Answer {
                    op: Operation::StartDeviceAuthorization,
                    success: true,
                    ..
                },
            ) => true,
            (Outcome::Expired, _) => past_deadline,
            (Outcome::Denied, Cause::Callback) => true,
            (Outcome::Failed(FlowError::Cancelled), cause) => matches!(cause, Cause::Cancel),
            (Outcome::Failed(_), Cause::Cancel) => false,
            (Outcome::Failed(error), Cause::Callback) => matches!(
                error,
                FlowError::AuthorizationError { .. } | FlowError::MissingCode
            ),
            // Time alone fails a flow only when a lost answer used up its
            // retries, or the browser never came back.
            (Outcome::Failed(error), Cause::Time) => matches!(
                error,
                FlowError::RetriesExhausted { .. } | FlowError::NoCallback { .. }
            ),
            (Outcome::Failed(_), _) => true,
            _ => false,
        };
        assert!(fits, "{outcome:?} after {:?}", self.cause);
    }

    /// What holds after every call.
    fn after_call(&mut self) {
        let state = self.flow.state();
        let outcome = self.flow.outcome();
        assert_eq!(
            state.is_terminal(),
            outcome.is_some(),
            "{state:?} with outcome {outcome:?}"
        );
        if let Some(outcome) = outcome {
            assert_eq!(outcome.state(), state, "the outcome and the state disagree");
            assert!(
                self.flow.poll_timeout().is_none(),
                "an ended flow wants a wake-up"
            );
        } else {
            assert!(
                self.flow.poll_timeout().is_some(),
                "a live flow in {state:?} has no wake-up time"
            );
        }
        match self.ended {
            Some(seen) => assert_eq!(state, seen, "a terminal state changed"),
            None if state.is_terminal() => {
                if let Some(outcome) = self.flow.outcome() {
                    self.check_ending(outcome);
                }
                self.ended = Some(state);
                self.in_flight = None;
            }
            None => {}
        }
        // Entering Pending means a new device code: a new polling series.
        let polling = state == StateKind::Pending && self.flow.interval().is_some();
        if polling && !self.was_polling {
            self.base_interval = self.flow.interval();
            self.slow_downs = 0;
            self.last_poll = None;
            self.series_deadline = self.flow.deadline();
            assert!(
                self.flow.interval() >= Some(device::MIN_INTERVAL),
                "a device code polled every {:?}",
                self.flow.interval()
            );
            let deadline = self.flow.deadline().expect("a polling flow has a deadline");
            assert!(
                deadline <= self.now + device::MAX_DEVICE_CODE_LIFETIME,
                "a device code runs out {:?} from now",
                deadline - self.now
            );
        }
        if polling {
            assert_eq!(
                self.flow.deadline(),
                self.series_deadline,
                "the device code's deadline moved"
            );
        }
        self.was_polling = polling;
        self.last_interval = self.flow.interval().or(self.last_interval);
        if let Some(sent) = self.in_flight {
            assert_eq!(
                self.flow.poll_timeout(),
                Some(sent.at + ANSWER_WAIT_LIMIT),
                "with {:?} in flight, the wake-up is not when its answer is given up",
                sent.op
            );
        }
        self.promised = match self.in_flight {
            None => self.flow.poll_timeout(),
            Some(_) => None,
        };
        if let (Some(base), Some(interval)) = (self.base_interval, self.flow.interval()) {
            assert!(
                interval >= base + device::SLOW_DOWN_STEP * self.slow_downs,
                "{} slow_downs, yet the interval is {interval:?}",
                self.slow_downs
            );
        }
    }

    /// Lets the flow run to its end, answering each request with `answer`
    /// (a response, or a transport error) at each wake-up; panics if it has
    /// not ended after [`MAX_WAKE_UPS`] wake-ups. The wall clock moves with
    /// the monotonic one from `wall_at_now`.
    pub fn run_out(
        &mut self,
        wall_at_now: SystemTime,
        mut answer: impl FnMut(&Transmit) -> Result<http::Response<Vec<u8>>, TransportErrorKind>,
    ) {
        let start = self.now;
        for _ in 0..MAX_WAKE_UPS {
            self.drain();
            if self.flow.state().is_terminal() {
                self.drain();
                return;
            }
            let wake = self.flow.poll_timeout().expect("a live flow has a wake-up");
            self.handle_timeout(wake);
            while let Some(tx) = self.poll_transmit(self.now) {
                let wall = wall_at_now + (self.now - start);
                match answer(&tx) {
                    Ok(response) => self.handle_response(self.now, wall, tx.id, response),
                    Err(kind) => self.handle_transport_error(self.now, tx.id, kind),
                }
                .expect("the answer to the request in flight is taken");
            }
        }
        panic!(
            "the flow did not end within {MAX_WAKE_UPS} wake-ups: {:?}",
            self.flow.state()
        );
    }
}

impl Checked<AuthCodeFlow> {
    /// [`AuthCodeFlow::handle_callback`], checked: a callback never sends
    /// anything by itself; a refused or ignored one changes nothing but the
    /// count of refusals; an accepted one makes the exchange due at once;
    /// one that ends the flow ends it as a callback may.
    pub fn handle_callback(&mut self, now: Instant, target: &str) -> CallbackReply {
        self.advance(now);
        self.cause = Cause::Time;
        let in_flight = self.in_flight;
        self.flow.handle_timeout(now);
        self.after_call();
        let before = self.flow.state();
        self.cause = Cause::Callback;
        let reply = self.flow.handle_callback(now, target);
        assert_eq!(
            self.in_flight.map(|s| s.id),
            in_flight.filter(|_| self.ended.is_none()).map(|s| s.id),
            "a callback changed the request in flight"
        );
        match &reply {
            CallbackReply::Accepted => {
                assert_eq!(before, StateKind::Pending);
                assert_eq!(self.flow.state(), StateKind::Pending);
                assert!(
                    self.flow.deadline().is_none(),
                    "still waiting after a code came"
                );
                assert_eq!(
                    self.flow.poll_timeout(),
                    Some(self.now),
                    "the exchange is not due at once"
                );
            }
            CallbackReply::Denied => assert_eq!(self.flow.state(), StateKind::Denied),
            CallbackReply::Failed(error) => {
                assert_eq!(self.flow.state(), StateKind::Failed);
                // A refusal of the client itself rejects the registration.
                if let FlowError::AuthorizationError { error, .. } = error
                    && matches!(error.as_str(), "unauthorized_client" | "invalid_client")
                {
                    self.owed_rejections.push_back(false);
                }
            }
            CallbackReply::Refused(_) | CallbackReply::NotFound | CallbackReply::NotWaiting => {
                assert_eq!(
                    self.flow.state(),
                    before,
                    "an ignored callback moved the flow"
                );
            }
        }
        self.after_call();
        reply
    }
}

/// The service's `authorization_pending` answer, for [`Checked::run_out`].
pub fn pending_answer() -> http::Response<Vec<u8>> {
    crate::server::error_response(&ServiceError::new(
        ErrorCode::AuthorizationPending,
        "pending",
    ))
}
