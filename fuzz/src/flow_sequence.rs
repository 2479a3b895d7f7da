//! Target `flow_sequence`: an arbitrary sequence of operations on one flow —
//! answers (a menu of realistic ones plus raw bytes), transport errors of
//! every kind, time steps, sends with a stale clock, answers to settled
//! requests, cancel — checked after every step against the invariants of the
//! property tests (`crates/core/tests/properties.rs`), written anew and tightened:
//!
//! * one request in flight at most; each of the kind the state calls for,
//!   a JSON `POST` to the endpoint, whose `Debug` shows no secret;
//! * a poll never comes sooner than the interval after the previous poll of
//!   the same device code, and never at or after its deadline;
//! * `slow_down` adds exactly 5 s (announced by `IntervalChanged`),
//!   `authorization_pending` waits exactly one interval, nothing else
//!   changes the interval or the deadline; a device code lives at most 3600 s;
//! * `poll_timeout` is `None` exactly in terminal states (and while a setup
//!   request is in flight); when nothing is due it lies in the future, and at
//!   it a request is due or the flow has ended;
//! * setup requests give up after five attempts, a refresh after four;
//!   retry waits stay under their caps;
//! * terminal states absorb everything: no request, no event, no change;
//!   entering one emits exactly one terminal event, matching the state;
//! * an answer to a settled request is refused without effect; an answer to
//!   a request abandoned by cancel or expiry is accepted and ignored;
//! * no canned secret shows in any event; every flow ends within a bounded
//!   number of further steps.
//!
//! Input: byte 0 picks the machine (bit 0: refresh), a cached registration
//! (bit 1) and a legacy configuration without scopes (bit 2); then one
//! operation per opcode byte with its operands (see [`Op::read`]).

use std::time::{Duration, Instant};

use ssoflow_core::wire::{self, Operation};
use ssoflow_core::{
    DeviceFlow, ErrorCode, Event, Flow, NextStep, RefreshFlow, RequestId, ServiceError, StateKind,
    Transmit, TransportErrorKind,
};

use crate::canned::{self, SECRET_MARKER};
use crate::input::{self, Bytes};

/// Longest sequence taken from one input; the rest is ignored.
const MAX_OPS: usize = 256;

pub fn run(data: &[u8]) {
    play(data);
}

/// Runs the sequence and the checks; returns the state the flow ended in.
fn play(data: &[u8]) -> StateKind {
    let mut bytes = Bytes::new(data);
    let mode = bytes.byte();
    let marker = input::contains(data, SECRET_MARKER.as_bytes());
    let mut ops = Vec::new();
    while !bytes.is_empty() && ops.len() < MAX_OPS {
        ops.push(Op::read(&mut bytes));
    }
    if mode & 1 == 0 {
        let mut c = DeviceChecker::new(mode & 2 != 0, mode & 4 != 0, marker);
        for op in &ops {
            c.apply(op);
        }
        c.finish();
        let end = c.flow.state();
        for op in &ops {
            c.apply(op);
        }
        c.flow.cancel();
        assert_eq!(c.flow.state(), end, "a terminal state changed");
        assert!(c.flow.poll_event().is_none(), "an event after the end");
        end
    } else {
        let mut c = RefreshChecker::new(marker);
        for op in &ops {
            c.apply(op);
        }
        c.finish();
        let end = c.flow.state();
        for op in &ops {
            c.apply(op);
        }
        end
    }
}

/// One step of a sequence.
#[derive(Debug, Clone)]
enum Op {
    /// Let this much time pass (`handle_timeout`).
    Advance(Duration),
    /// Go to `poll_timeout` and send what is due there.
    Wake,
    /// Send the request due now, if none is in flight, and answer the one in flight.
    Answer(Reply),
    /// Send the request due now, if any, and leave it in flight.
    Send,
    /// The same with a clock that went back this far (the flow must treat it as the latest time).
    SendStaleClock(Duration),
    /// Answer a request that was already settled.
    AnswerSettled(Reply),
    /// `handle_timeout` at the current time.
    Timeout,
    Cancel,
}

/// An answer to whatever request is in flight.
#[derive(Debug, Clone)]
enum Reply {
    /// The right success body for the operation, varied by the byte.
    Success(u8),
    /// A modelled error: code, then form (header, body, status variants).
    Error(u8, u8),
    /// Any status with any bytes.
    Raw(u16, Vec<u8>),
    Transport(TransportErrorKind),
}

impl Op {
    fn read(b: &mut Bytes<'_>) -> Op {
        let opcode = b.byte();
        match opcode % 12 {
            0 => Op::Advance(Duration::from_millis(50 * u64::from(b.byte()))),
            1 => Op::Advance(canned::delay(b.byte())),
            2 => Op::Wake,
            3..=5 => Op::Answer(Reply::read(opcode % 12 - 3, b)),
            6 => Op::Answer(Reply::read(3, b)),
            7 => Op::Send,
            8 => Op::SendStaleClock(canned::delay(b.byte())),
            9 => Op::AnswerSettled(Reply::read(b.byte() % 4, b)),
            // Cancel ends everything, so it is one opcode value of 256.
            10 if opcode == 10 => Op::Cancel,
            10 => Op::Timeout,
            _ => Op::Answer(Reply::read(1, b)),
        }
    }
}

impl Reply {
    fn read(kind: u8, b: &mut Bytes<'_>) -> Reply {
        match kind {
            0 => Reply::Success(b.byte()),
            1 => Reply::Error(b.byte(), b.byte()),
            2 => {
                const STATUSES: [u16; 16] = [
                    200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503, 504, 100, 599, 999,
                ];
                let status = STATUSES[usize::from(b.byte() & 15)];
                let len = usize::from(b.byte() % 64);
                Reply::Raw(status, b.take(len).to_vec())
            }
            _ => Reply::Transport(canned::transport_kind(b.byte())),
        }
    }

    fn render(&self, op: Operation) -> Result<http::Response<Vec<u8>>, TransportErrorKind> {
        Ok(match self {
            Reply::Success(v) => canned::response(200, success_body(op, *v)),
            Reply::Error(code, form) => error_response(canned::code(*code), *form),
            Reply::Raw(status, body) => canned::response(*status, body.clone()),
            Reply::Transport(kind) => return Err(*kind),
        })
    }
}

fn success_body(op: Operation, v: u8) -> String {
    const INTERVALS: [Option<i64>; 8] = [
        None,
        Some(1),
        Some(5),
        Some(0),
        Some(-1),
        Some(30),
        Some(1000),
        Some(i64::MAX),
    ];
    const LIFETIMES: [Option<i64>; 8] = [
        Some(600),
        Some(1),
        Some(5),
        Some(0),
        None,
        Some(-5),
        Some(7200),
        Some(i64::MAX),
    ];
    let interval = INTERVALS[usize::from(v & 7)];
    let lifetime = LIFETIMES[usize::from((v >> 3) & 7)];
    let mut members: Vec<String> = match op {
        Operation::RegisterClient => vec![
            r#""clientId":"cid-new""#.into(),
            format!(r#""clientSecret":"{}""#, canned::CLIENT_SECRET),
            format!(
                r#""clientSecretExpiresAt":{}"#,
                if v & 0x80 == 0 { 1_775_001_600 } else { -1 }
            ),
        ],
        Operation::StartDeviceAuthorization => vec![
            format!(r#""deviceCode":"{}""#, canned::DEVICE_CODE),
            r#""userCode":"BCDF-GHJK""#.into(),
            r#""verificationUri":"https://device.sso.us-east-1.amazonaws.com/""#.into(),
        ],
        Operation::CreateToken => {
            let mut m = vec![format!(r#""accessToken":"{}""#, canned::ACCESS_TOKEN)];
            if v & 0x40 != 0 {
                m.push(format!(r#""refreshToken":"{}""#, canned::REFRESH_TOKEN));
            }
            m
        }
    };
    if let Some(i) = interval.filter(|_| op == Operation::StartDeviceAuthorization) {
        members.push(format!(r#""interval":{i}"#));
    }
    if let Some(e) = lifetime {
        members.push(format!(r#""expiresIn":{e}"#));
    }
    format!("{{{}}}", members.join(","))
}

/// A modelled error in one of the forms a server (or a proxy) may send it.
fn error_response(code: ErrorCode, form: u8) -> http::Response<Vec<u8>> {
    let mut error = ServiceError::new(code, "fuzzed");
    if form & 0x10 != 0 {
        error.reason = Some("KMS_AccessDeniedException".into());
    }
    let mut r = error.to_response();
    match form % 6 {
        1 => {
            r.headers_mut().remove(wire::ERROR_TYPE_HEADER);
        }
        2 => *r.body_mut() = Vec::new(),
        3 => {
            let value = format!(
                "aws.protocols#{}:{}",
                error.code.shape(),
                wire::ERROR_TYPE_NAMESPACE
            );
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                r.headers_mut().insert(wire::ERROR_TYPE_HEADER, value);
            }
        }
        4 => *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR,
        5 => *r.status_mut() = http::StatusCode::TOO_MANY_REQUESTS,
        _ => {}
    }
    r
}

/// What every request must look like.
fn check_request(tx: &Transmit) {
    canned::check_transmit_debug(tx);
    assert_eq!(tx.request.method(), http::Method::POST);
    let uri = canned::endpoint()
        .uri(tx.operation)
        .expect("the endpoint joins");
    assert_eq!(tx.request.uri(), &uri);
    assert_eq!(
        tx.request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(wire::CONTENT_TYPE_JSON.as_bytes())
    );
    let body: serde_json::Value =
        serde_json::from_slice(tx.request.body()).expect("a request body is JSON");
    let needs: &[&str] = match tx.operation {
        Operation::RegisterClient => &["clientName", "clientType"],
        Operation::StartDeviceAuthorization => &["clientId", "clientSecret", "startUrl"],
        Operation::CreateToken => &["clientId", "clientSecret", "grantType"],
    };
    for member in needs {
        assert!(
            body.get(member).is_some(),
            "{:?} lacks {member}",
            tx.operation
        );
    }
}

fn expected_operation(state: StateKind) -> Operation {
    match state {
        StateKind::Unregistered => Operation::RegisterClient,
        StateKind::Registered => Operation::StartDeviceAuthorization,
        _ => Operation::CreateToken,
    }
}

/// The step an answer calls for, read the way the flows read it.
fn step_of(reply: &Result<http::Response<Vec<u8>>, TransportErrorKind>) -> Option<NextStep> {
    match reply {
        Ok(r) => ServiceError::from_response(r).map(|e| e.next_step()),
        Err(_) => Some(NextStep::Retry),
    }
}

fn is_terminal_event(event: &Event) -> Option<StateKind> {
    match event {
        Event::Authorized(_) => Some(StateKind::Authorized),
        Event::Denied => Some(StateKind::Denied),
        Event::Expired => Some(StateKind::Expired),
        Event::Failed(_) => Some(StateKind::Failed),
        _ => None,
    }
}

/// The polls of one device code.
struct Series {
    deadline: Instant,
    last_poll: Option<Instant>,
}

struct DeviceChecker {
    flow: DeviceFlow,
    now: Instant,
    marker: bool,
    in_flight: Option<Transmit>,
    settled: Option<RequestId>,
    series: Option<Series>,
    terminal: Option<StateKind>,
    /// Consecutive transient failures of the current setup request.
    setup_failures: u32,
}

impl DeviceChecker {
    fn new(cached: bool, legacy: bool, marker: bool) -> Self {
        let now = Instant::now();
        let flow = if cached {
            DeviceFlow::with_registration(
                canned::config(legacy),
                canned::registration(legacy),
                now,
                canned::wall0(),
            )
        } else {
            DeviceFlow::new(canned::config(legacy), now, canned::wall0())
        };
        DeviceChecker {
            flow,
            now,
            marker,
            in_flight: None,
            settled: None,
            series: None,
            terminal: None,
            setup_failures: 0,
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Advance(d) => {
                self.now = canned::later(self.now, *d);
                self.flow.handle_timeout(self.now);
            }
            Op::Wake => self.wake(),
            Op::Answer(reply) => self.answer(reply),
            Op::Send => self.send(self.now),
            Op::SendStaleClock(d) => {
                let clock = self.now.checked_sub(*d).unwrap_or(self.now);
                self.send(clock);
            }
            Op::AnswerSettled(reply) => self.answer_settled(reply),
            Op::Timeout => self.flow.handle_timeout(self.now),
            Op::Cancel => {
                let was_terminal = self.flow.state().is_terminal();
                self.flow.cancel();
                if !was_terminal {
                    assert_eq!(self.flow.state(), StateKind::Failed);
                }
            }
        }
        self.drain();
    }

    /// Sends what is due at `clock` (which may lie before `now`) and checks it.
    fn send(&mut self, clock: Instant) {
        if self.in_flight.is_some() {
            assert!(
                self.flow.poll_transmit(clock).is_none(),
                "a second request while one is in flight"
            );
            return;
        }
        let Some(tx) = self.flow.poll_transmit(clock) else {
            if !self.flow.state().is_terminal() {
                let wake = self
                    .flow
                    .poll_timeout()
                    .expect("a live flow with nothing in flight has a wake-up time");
                assert!(
                    wake > self.now,
                    "nothing is due, yet the wake-up time has come"
                );
            }
            return;
        };
        assert!(self.terminal.is_none(), "a request after the end: {tx:?}");
        let state = self.flow.state();
        assert!(!state.is_terminal(), "a request in {state:?}");
        assert_eq!(
            tx.operation,
            expected_operation(state),
            "wrong request in {state:?}"
        );
        check_request(&tx);
        if tx.operation == Operation::CreateToken {
            let interval = self.flow.interval().expect("pending has an interval");
            let deadline = self.flow.deadline().expect("pending has a deadline");
            let series = self.series.as_mut().expect("a poll without a device code");
            assert_eq!(series.deadline, deadline, "the deadline moved");
            if let Some(last) = series.last_poll {
                assert!(
                    self.now - last >= interval,
                    "polled {:?} after the previous poll; interval {interval:?}",
                    self.now - last
                );
            }
            assert!(self.now < deadline, "polled at or after the deadline");
            series.last_poll = Some(self.now);
        }
        assert!(
            self.flow.poll_transmit(clock).is_none(),
            "a second request while one is in flight"
        );
        let expected = self.flow.deadline();
        assert_eq!(
            self.flow.poll_timeout(),
            expected,
            "with a request in flight the only wake-up is the deadline"
        );
        self.in_flight = Some(tx);
    }

    fn wake(&mut self) {
        let Some(wake) = self.flow.poll_timeout() else {
            return;
        };
        self.now = self.now.max(wake);
        self.flow.handle_timeout(self.now);
        self.drain();
        if self.in_flight.is_none() && !self.flow.state().is_terminal() {
            self.send(self.now);
            assert!(
                self.in_flight.is_some(),
                "nothing is due at the wake-up time"
            );
        }
    }

    fn answer(&mut self, reply: &Reply) {
        if self.in_flight.is_none() {
            self.send(self.now);
        }
        let Some(tx) = self.in_flight.take() else {
            return;
        };
        let before = self.flow.state();
        let (interval, deadline) = (self.flow.interval(), self.flow.deadline());
        let rendered = reply.render(tx.operation);
        let step = step_of(&rendered);
        let result = match rendered {
            Ok(response) => self.flow.handle_response(self.now, tx.id, response),
            Err(kind) => self.flow.handle_transport_error(self.now, tx.id, kind),
        };
        result.expect("an answer to the request in flight (or an abandoned one) is accepted");
        self.settled = Some(tx.id);
        let after = self.flow.state();
        if before.is_terminal() {
            assert_eq!(
                after, before,
                "an abandoned request's answer changed the state"
            );
            return;
        }
        if before == StateKind::Pending && after == StateKind::Pending {
            assert_eq!(self.flow.deadline(), deadline, "the deadline moved");
            let interval = interval.expect("pending has an interval");
            match step {
                Some(NextStep::SlowDown) => assert_eq!(
                    self.flow.interval(),
                    Some(interval + Duration::from_secs(5)),
                    "slow_down must add exactly 5 s"
                ),
                Some(NextStep::Wait) => {
                    assert_eq!(self.flow.interval(), Some(interval));
                    let due = canned::later(self.now, interval);
                    assert_eq!(
                        self.flow.poll_timeout(),
                        deadline.map(|d| d.min(due)),
                        "authorization_pending waits exactly one interval"
                    );
                }
                _ => assert_eq!(self.flow.interval(), Some(interval), "the interval changed"),
            }
        }
        if before == StateKind::Pending {
            self.setup_failures = 0;
        } else {
            let transient = after == before;
            self.setup_failures = if transient {
                self.setup_failures + 1
            } else {
                0
            };
            assert!(
                self.setup_failures <= 4,
                "a setup request was tried a sixth time"
            );
        }
    }

    fn answer_settled(&mut self, reply: &Reply) {
        let Some(id) = self.settled else {
            return;
        };
        let state = self.flow.state();
        let result = match reply.render(Operation::CreateToken) {
            Ok(response) => self.flow.handle_response(self.now, id, response),
            Err(kind) => self.flow.handle_transport_error(self.now, id, kind),
        };
        if state.is_terminal() {
            assert!(
                result.is_ok(),
                "a late answer after the end is ignored, not refused"
            );
        } else {
            assert!(result.is_err(), "an answer to a settled request was taken");
        }
        assert_eq!(
            self.flow.state(),
            state,
            "a settled request's answer changed the state"
        );
        assert!(
            self.flow.poll_event().is_none(),
            "a settled request's answer made an event"
        );
    }

    fn drain(&mut self) {
        let mut terminal_event = None;
        while let Some(event) = self.flow.poll_event() {
            assert!(self.terminal.is_none(), "event {event:?} after the end");
            assert!(
                terminal_event.is_none(),
                "event {event:?} after the terminal event"
            );
            canned::assert_no_canned_secret(&canned::render_event(&event), self.marker, "events");
            match &event {
                Event::UserCode(prompt) => {
                    assert!(prompt.expires_in <= Duration::from_secs(3600));
                    let deadline = self.flow.deadline();
                    // The code may already have expired in the same step.
                    if let Some(deadline) = deadline {
                        assert!(deadline <= canned::later(self.now, Duration::from_secs(3600)));
                        assert!(
                            self.flow
                                .interval()
                                .is_some_and(|i| i >= Duration::from_secs(1))
                        );
                        self.series = Some(Series {
                            deadline,
                            last_poll: None,
                        });
                    }
                }
                Event::IntervalChanged(i) => {
                    if self.flow.state() == StateKind::Pending {
                        assert_eq!(Some(*i), self.flow.interval());
                    }
                }
                Event::Retrying {
                    operation,
                    attempt,
                    wait,
                } => {
                    assert!(*attempt >= 1);
                    if *operation == Operation::CreateToken {
                        let cap =
                            Duration::from_secs(60).max(self.flow.interval().unwrap_or_default());
                        assert!(*wait <= cap, "poll backoff {wait:?} over {cap:?}");
                    } else {
                        assert!(*attempt <= 4, "setup attempt {attempt}");
                        assert!(*wait <= Duration::from_secs(30), "setup backoff {wait:?}");
                    }
                }
                other => terminal_event = is_terminal_event(other),
            }
        }
        let state = self.flow.state();
        match self.terminal {
            Some(seen) => assert_eq!(state, seen, "a terminal state changed"),
            None if state.is_terminal() => {
                assert_eq!(
                    terminal_event,
                    Some(state),
                    "entered {state:?} without its event"
                );
                self.terminal = Some(state);
            }
            None => assert!(terminal_event.is_none(), "a terminal event in {state:?}"),
        }
        if state.is_terminal() {
            assert!(
                self.flow.poll_timeout().is_none(),
                "a wake-up time after the end"
            );
            assert!(
                self.flow.poll_transmit(self.now).is_none(),
                "a request after the end"
            );
        } else if self.in_flight.is_none() {
            assert!(
                self.flow.poll_timeout().is_some(),
                "a live flow without a wake-up time"
            );
        }
    }

    /// Answers `slow_down` at each wake-up until the flow ends: with the
    /// interval growing 5 s a time, a 3600 s code runs out within ~40 polls,
    /// and setup requests give up after five.
    fn finish(&mut self) {
        for _ in 0..500 {
            if self.flow.state().is_terminal() {
                return;
            }
            if self.in_flight.is_none() {
                self.apply(&Op::Wake);
            }
            self.apply(&Op::Answer(Reply::Error(1, 0)));
        }
        panic!("the flow did not end: {:?}", self.flow.state());
    }
}

struct RefreshChecker {
    flow: RefreshFlow,
    now: Instant,
    marker: bool,
    in_flight: Option<Transmit>,
    settled: Option<RequestId>,
    terminal: Option<StateKind>,
    sends: u32,
    /// The refresh token a success body carried, if any.
    new_refresh_token: Option<String>,
}

impl RefreshChecker {
    fn new(marker: bool) -> Self {
        let now = Instant::now();
        let flow = RefreshFlow::new(
            canned::endpoint(),
            canned::token(true, false),
            now,
            canned::wall0(),
        );
        RefreshChecker {
            flow,
            now,
            marker,
            in_flight: None,
            settled: None,
            terminal: None,
            sends: 0,
            new_refresh_token: None,
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Advance(d) => {
                self.now = canned::later(self.now, *d);
                self.flow.handle_timeout(self.now);
            }
            Op::Wake => {
                if let Some(wake) = self.flow.poll_timeout() {
                    self.now = self.now.max(wake);
                    self.flow.handle_timeout(self.now);
                    self.send(self.now);
                    assert!(
                        self.in_flight.is_some(),
                        "nothing is due at the wake-up time"
                    );
                }
            }
            Op::Answer(reply) => self.answer(reply),
            Op::Send => self.send(self.now),
            Op::SendStaleClock(d) => self.send(self.now.checked_sub(*d).unwrap_or(self.now)),
            Op::AnswerSettled(reply) => {
                if let Some(id) = self.settled {
                    let state = self.flow.state();
                    let result = match reply.render(Operation::CreateToken) {
                        Ok(r) => self.flow.handle_response(self.now, id, r),
                        Err(kind) => self.flow.handle_transport_error(self.now, id, kind),
                    };
                    assert_eq!(result.is_ok(), state.is_terminal());
                    assert_eq!(self.flow.state(), state);
                }
            }
            Op::Timeout => self.flow.handle_timeout(self.now),
            Op::Cancel => self.flow.cancel(),
        }
        self.drain();
    }

    fn send(&mut self, clock: Instant) {
        let tx = self.flow.poll_transmit(clock);
        if self.in_flight.is_some() {
            assert!(tx.is_none(), "a second request while one is in flight");
            return;
        }
        let Some(tx) = tx else {
            if !self.flow.state().is_terminal() {
                let wake = self
                    .flow
                    .poll_timeout()
                    .expect("a live refresh has a wake-up time");
                assert!(
                    wake > self.now,
                    "nothing is due, yet the wake-up time has come"
                );
            }
            return;
        };
        assert!(self.terminal.is_none() && !self.flow.state().is_terminal());
        assert_eq!(tx.operation, Operation::CreateToken);
        check_request(&tx);
        let body: serde_json::Value = serde_json::from_slice(tx.request.body()).unwrap_or_default();
        assert_eq!(
            body.get("refreshToken").and_then(|v| v.as_str()),
            Some(canned::OLD_REFRESH_TOKEN)
        );
        self.sends += 1;
        assert!(self.sends <= 4, "a refresh sends at most 4 requests");
        assert!(
            self.flow.poll_timeout().is_none(),
            "a wake-up time with a refresh in flight"
        );
        self.in_flight = Some(tx);
    }

    fn answer(&mut self, reply: &Reply) {
        if self.in_flight.is_none() {
            self.send(self.now);
        }
        let Some(tx) = self.in_flight.take() else {
            return;
        };
        let before = self.flow.state();
        let result = match reply.render(tx.operation) {
            Ok(response) => {
                self.new_refresh_token =
                    serde_json::from_slice::<serde_json::Value>(response.body())
                        .ok()
                        .and_then(|v| v.get("refreshToken")?.as_str().map(str::to_owned))
                        .filter(|t| !t.is_empty());
                self.flow.handle_response(self.now, tx.id, response)
            }
            Err(kind) => self.flow.handle_transport_error(self.now, tx.id, kind),
        };
        result.expect("an answer to the request in flight (or an abandoned one) is accepted");
        self.settled = Some(tx.id);
        if before.is_terminal() {
            assert_eq!(self.flow.state(), before);
        }
    }

    fn drain(&mut self) {
        let mut terminal_event = None;
        while let Some(event) = self.flow.poll_event() {
            assert!(self.terminal.is_none(), "event {event:?} after the end");
            assert!(
                terminal_event.is_none(),
                "event {event:?} after the terminal event"
            );
            canned::assert_no_canned_secret(&canned::render_event(&event), self.marker, "events");
            match &event {
                Event::Retrying { attempt, wait, .. } => {
                    assert!((1..=3).contains(attempt), "refresh attempt {attempt}");
                    assert_eq!(
                        *wait,
                        Duration::from_secs(1 << (attempt - 1)),
                        "refresh backoff"
                    );
                    assert_eq!(
                        self.flow.poll_timeout(),
                        Some(canned::later(self.now, *wait)),
                        "the retry is due after the announced wait"
                    );
                }
                Event::Authorized(token) => {
                    let kept = token.refresh_token.as_ref().map(|t| t.secret().to_owned());
                    let expected = self
                        .new_refresh_token
                        .clone()
                        .or_else(|| Some(canned::OLD_REFRESH_TOKEN.to_owned()));
                    assert_eq!(kept, expected, "the refresh token was not kept or replaced");
                    terminal_event = Some(StateKind::Authorized);
                }
                Event::Failed(_) => terminal_event = Some(StateKind::Failed),
                other => panic!("a refresh emitted {other:?}"),
            }
        }
        let state = self.flow.state();
        assert!(matches!(
            state,
            StateKind::Pending | StateKind::Authorized | StateKind::Failed
        ));
        match self.terminal {
            Some(seen) => assert_eq!(state, seen, "a terminal state changed"),
            None if state.is_terminal() => {
                assert_eq!(
                    terminal_event,
                    Some(state),
                    "entered {state:?} without its event"
                );
                self.terminal = Some(state);
            }
            None => assert!(terminal_event.is_none()),
        }
        if state.is_terminal() {
            assert!(self.flow.poll_timeout().is_none());
            assert!(
                self.flow.poll_transmit(self.now).is_none(),
                "a request after the end"
            );
        }
    }

    fn finish(&mut self) {
        for _ in 0..10 {
            if self.flow.state().is_terminal() {
                return;
            }
            if self.in_flight.is_none() {
                self.apply(&Op::Wake);
            }
            self.apply(&Op::Answer(Reply::Raw(503, Vec::new())));
        }
        panic!("the refresh did not end: {:?}", self.flow.state());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds do what their names say (so the opcode table in
    /// `make-seeds.sh` matches [`Op::read`]).
    #[test]
    fn seeds_end_where_their_names_say() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/flow_sequence/");
        for (seed, end) in [
            ("device-fresh-happy-path", StateKind::Authorized),
            ("device-cached-approved-first-poll", StateKind::Authorized),
            ("device-legacy-no-refresh-token", StateKind::Authorized),
            ("device-register-again-on-poll", StateKind::Authorized),
            ("device-code-expires-while-waiting", StateKind::Expired),
            ("device-setup-transport-errors", StateKind::Failed),
            ("device-cancel-in-flight", StateKind::Failed),
            ("device-denied-after-pending", StateKind::Denied),
            ("device-kms-denial-fails", StateKind::Failed),
            ("refresh-happy-path", StateKind::Authorized),
            ("refresh-retries-exhausted", StateKind::Failed),
            ("refresh-invalid-grant", StateKind::Failed),
            ("refresh-slow-down-then-ok", StateKind::Authorized),
        ] {
            let data = std::fs::read(format!("{dir}{seed}.ops")).expect("the seed exists");
            assert_eq!(play(&data), end, "{seed}");
        }
    }
}
