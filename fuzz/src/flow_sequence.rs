//! Target `flow_sequence`: an arbitrary sequence of operations on one flow —
//! answers (a menu of realistic ones plus raw bytes), transport errors of
//! every kind, time steps, sends with a stale clock, answers to settled or
//! given-up requests, requests left unanswered, cancel — driven through
//! `ssoflow_core::oracle::Checked`, the invariant checker the core's
//! property tests use, which checks the flow after every call (the list is
//! in its module docs and in `fuzz/README.md`): requests, their shape and
//! their timing against the interval and the deadline; the `slow_down`
//! arithmetic; grants never sent twice; retry budgets; given-up requests
//! and wake-up times; refused answers changing nothing; endings that fit
//! their cause; `RegistrationRejected` when owed; expiries stamped from the
//! answer's wall clock; terminal states absorbing everything; every flow
//! ending within a bounded number of wake-ups.
//!
//! Checked here on top:
//!
//! * the request bodies carry the canned grant (a refresh sends the token's
//!   own refresh token), and no request's `Debug` shows a secret;
//! * after `authorization_pending` or `slow_down` the next poll is due
//!   exactly one interval later (or at the deadline); after a `Retrying`
//!   event the same request is due exactly its `wait` later (or at the
//!   deadline);
//! * the answer to the request in flight is taken; to one the flow gave up,
//!   refused as too late; to a settled one, refused without an event; after
//!   the end, any late answer is accepted and ignored;
//! * an answer that ends the flow in failure ends it as it says: `GrantSpent`
//!   only on a 2xx or a body too large to read to CreateToken, `AnswerLost`
//!   only on `invalid_grant` after a CreateToken answer was lost, a service
//!   error with its operation and as it was sent;
//! * a token keeps or replaces its refresh token as the answer says; cancel
//!   ends a live flow with `Cancelled`;
//! * no canned secret shows in any event, the outcome (`Debug` and
//!   `Display`) or the flow's `Debug`.
//!
//! Input: byte 0 picks the machine (bit 0: refresh), a cached registration
//! (bit 1) and a legacy configuration without scopes (bit 2); then one
//! operation per opcode byte with its operands (see [`Op::read`]).

use std::time::{Duration, Instant, SystemTime};

use ssoflow_core::oracle::{Checked, Inspect};
use ssoflow_core::{
    ApiMisuse, DeviceFlow, ErrorCode, Event, FlowError, Operation, Outcome, RefreshFlow, RequestId,
    ServiceError, StateKind, Transmit, TransportErrorKind, server, wire,
};

use crate::canned::{self, SECRET_MARKER, Step};
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
    let t0 = Instant::now();
    if mode & 1 == 0 {
        let (cached, legacy) = (mode & 2 != 0, mode & 4 != 0);
        let config = canned::config(legacy);
        let flow = if cached {
            DeviceFlow::with_registration(config, canned::registration(legacy), t0, canned::wall0())
        } else {
            DeviceFlow::new(config, t0)
        };
        // Then slow_down at every wake-up: the interval grows 5 s a time
        // until the code runs out, and setup requests give up after five.
        Runner::new(flow, t0, marker).play(&ops, &Reply::Error(1, 0))
    } else {
        let flow = RefreshFlow::new(
            canned::endpoint(),
            canned::token(true, false),
            t0,
            canned::wall0(),
        );
        Runner::new(flow, t0, marker).play(&ops, &Reply::Raw(503, Vec::new()))
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
        _ => {
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
    let mut r = server::error_response(&error);
    match form % 6 {
        1 => {
            r.headers_mut().remove(wire::ERROR_TYPE_HEADER);
        }
        2 => *r.body_mut() = Vec::new(),
        3 => {
            let value = format!(
                "aws.protocols#{}:{}",
                error.code.shape(),
                server::ERROR_TYPE_NAMESPACE
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

/// Plays a sequence on one checked flow.
struct Runner<F: Inspect + std::fmt::Debug> {
    c: Checked<F>,
    t0: Instant,
    marker: bool,
    /// The last request sent, unless it has been answered.
    held: Option<Transmit>,
    /// A request that was answered (or given up, or replaced).
    settled: Option<RequestId>,
    /// The `refreshToken` of the last 2xx answer, when a non-empty string.
    refresh_token: Option<String>,
    /// The answer to a CreateToken was lost at some point (a transport error
    /// after it was sent, or the flow gave the request up).
    lost_grant: bool,
    outcome_checked: bool,
}

impl<F: Inspect + std::fmt::Debug> Runner<F> {
    fn new(flow: F, t0: Instant, marker: bool) -> Self {
        Runner {
            c: Checked::new(flow, t0),
            t0,
            marker,
            held: None,
            settled: None,
            refresh_token: None,
            lost_grant: false,
            outcome_checked: false,
        }
    }

    /// The wall clock, moving with the monotonic one from the start.
    fn wall(&self, now: Instant) -> SystemTime {
        canned::wall0() + now.saturating_duration_since(self.t0)
    }

    /// Applies `ops`, lets the flow run out answering `last` at each
    /// wake-up, then applies `ops` again to the ended flow.
    fn play(mut self, ops: &[Op], last: &Reply) -> StateKind {
        for op in ops {
            self.apply(op);
        }
        if self.held.is_some() {
            self.apply(&Op::Answer(last.clone()));
        }
        let wall = self.wall(self.c.now());
        self.c.run_out(wall, |tx| last.render(tx.operation));
        self.drain();
        let end = self.c.state();
        assert!(end.is_terminal());
        for op in ops {
            self.apply(op);
        }
        self.c.cancel();
        assert_eq!(self.c.state(), end, "a terminal state changed");
        assert!(self.c.poll_event().is_none(), "an event after the end");
        end
    }

    fn apply(&mut self, op: &Op) {
        let now = self.c.now();
        match op {
            Op::Advance(d) => self.c.handle_timeout(canned::later(now, *d)),
            Op::Wake => {
                if let Some(wake) = self.c.poll_timeout() {
                    self.c.handle_timeout(wake);
                    self.drain();
                    // The oracle checks that a request is due now, unless
                    // the flow ended or the wake-up gave one up.
                    self.send(self.c.now());
                }
            }
            Op::Answer(reply) => self.answer(reply),
            Op::Send => self.send(now),
            Op::SendStaleClock(d) => self.send(now.checked_sub(*d).unwrap_or(now)),
            Op::AnswerSettled(reply) => self.answer_settled(reply),
            Op::Timeout => self.c.handle_timeout(now),
            Op::Cancel => {
                let live = !self.c.state().is_terminal();
                self.c.cancel();
                if live {
                    assert_eq!(
                        self.c.outcome(),
                        Some(&Outcome::Failed(FlowError::Cancelled))
                    );
                }
            }
        }
        self.drain();
    }

    /// Sends what is due at `clock` (which may lie before now).
    fn send(&mut self, clock: Instant) {
        let Some(tx) = self.c.poll_transmit(clock) else {
            return;
        };
        canned::check_transmit_debug(&tx);
        if self.c.flow().is_refresh() {
            let body: wire::CreateTokenRequest =
                wire::decode(tx.request.body()).expect("the oracle checked the body");
            assert_eq!(
                body.refresh_token.as_ref().map(|t| t.secret()),
                Some(canned::OLD_REFRESH_TOKEN),
                "not the token's own refresh token"
            );
        }
        // The oracle checked that a request held before was given up.
        if let Some(old) = self.held.replace(tx) {
            self.lost_grant |= old.operation == Operation::CreateToken;
            self.settled = Some(old.id);
        }
    }

    fn answer(&mut self, reply: &Reply) {
        if self.held.is_none() {
            self.send(self.c.now());
        }
        let Some(tx) = self.held.take() else {
            return;
        };
        let now = self.c.now();
        let live = self.c.in_flight().map(|(id, _)| id) == Some(tx.id);
        let ended = self.c.state().is_terminal();
        let polling = self.c.state() == StateKind::Pending && !self.c.flow().is_refresh();
        let rendered = reply.render(tx.operation);
        let error = rendered.as_ref().ok().and_then(ServiceError::from_response);
        let step = match &rendered {
            Ok(_) => error.as_ref().map(canned::step),
            Err(_) => Some(Step::Retry),
        };
        let grant_unread = match &rendered {
            Ok(response) => response.status().is_success(),
            Err(kind) => *kind == TransportErrorKind::BodyTooLarge,
        };
        let lost_now = matches!(
            &rendered,
            Err(kind) if !matches!(kind, TransportErrorKind::Connect | TransportErrorKind::BodyTooLarge)
        );
        if live && let Ok(response) = &rendered {
            self.refresh_token = serde_json::from_slice::<serde_json::Value>(response.body())
                .ok()
                .and_then(|v| v.get("refreshToken")?.as_str().map(str::to_owned))
                .filter(|t| !t.is_empty());
        }
        let result = match rendered {
            Ok(response) => self.c.handle_response(now, self.wall(now), tx.id, response),
            Err(kind) => self.c.handle_transport_error(now, tx.id, kind),
        };
        self.settled = Some(tx.id);
        match result {
            Ok(()) => {}
            Err(ApiMisuse::AnswerTooLate { .. }) if !live && !ended => {}
            Err(misuse) => panic!("the answer to {:?} was refused: {misuse}", tx.id),
        }
        let grant = tx.operation == Operation::CreateToken;
        if live && let Some(Outcome::Failed(failure)) = self.c.outcome() {
            // How the answer ended the flow matches the answer.
            match failure {
                FlowError::GrantSpent { .. } => assert!(
                    grant && grant_unread,
                    "GrantSpent without an unreadable answer to CreateToken"
                ),
                FlowError::AnswerLost { error: e, .. } => {
                    assert!(
                        grant && self.lost_grant,
                        "AnswerLost, yet no answer was lost"
                    );
                    assert_eq!(e.code, ErrorCode::InvalidGrant);
                    assert_eq!(Some(e.as_ref()), error.as_ref());
                }
                FlowError::Service {
                    operation,
                    error: e,
                    ..
                } => {
                    assert_eq!(
                        *operation, tx.operation,
                        "the error names another operation"
                    );
                    assert_eq!(Some(e.as_ref()), error.as_ref());
                }
                _ => {}
            }
        }
        self.lost_grant |= grant && (lost_now && live || !live && !ended);
        // After authorization_pending or slow_down, the next poll is due one
        // interval later (the new one after slow_down), unless the code
        // runs out first.
        if live
            && polling
            && matches!(step, Some(Step::Wait | Step::SlowDown))
            && self.c.state() == StateKind::Pending
        {
            let interval = self.c.flow().interval().expect("pending has an interval");
            let deadline = self.c.flow().deadline().expect("pending has a deadline");
            assert_eq!(
                self.c.poll_timeout(),
                Some(deadline.min(canned::later(now, interval))),
                "the next poll is not due one interval later"
            );
        }
    }

    fn answer_settled(&mut self, reply: &Reply) {
        let Some(id) = self.settled else {
            return;
        };
        let now = self.c.now();
        let ended = self.c.state().is_terminal();
        // The oracle checks a refusal: not the request in flight, or too
        // late only if given up, and nothing changes.
        let result = match reply.render(Operation::CreateToken) {
            Ok(response) => self.c.handle_response(now, self.wall(now), id, response),
            Err(kind) => self.c.handle_transport_error(now, id, kind),
        };
        if ended {
            result.expect("a late answer after the end is ignored, not refused");
        }
        assert!(
            self.c.poll_event().is_none(),
            "a settled request's answer made an event"
        );
    }

    fn drain(&mut self) {
        for event in self.c.drain() {
            canned::assert_no_canned_secret(&canned::render_event(&event), self.marker, "events");
            match &event {
                // The same request goes again after `wait`, or the code runs out first.
                Event::Retrying { wait, .. } => {
                    if !self.c.state().is_terminal() && self.c.in_flight().is_none() {
                        let due = canned::later(self.c.now(), *wait);
                        let due = self.c.flow().deadline().map_or(due, |d| d.min(due));
                        assert_eq!(
                            self.c.poll_timeout(),
                            Some(due),
                            "the retry is not due after the announced wait"
                        );
                    }
                }
                // The oracle checks these.
                Event::Registered(_)
                | Event::RegistrationRejected { .. }
                | Event::UserCode(_)
                | Event::IntervalChanged(_) => {}
                other => panic!("an event this harness does not know: {other:?}"),
            }
        }
        if !self.outcome_checked
            && let Some(outcome) = self.c.outcome()
        {
            self.outcome_checked = true;
            canned::assert_no_canned_secret(
                &canned::render_outcome(outcome),
                self.marker,
                "outcome",
            );
            if let Outcome::Authorized(token) = outcome {
                let kept = token.refresh_token.as_ref().map(|t| t.secret().to_owned());
                let expected = match self.c.flow().is_refresh() {
                    true => self
                        .refresh_token
                        .clone()
                        .or_else(|| Some(canned::OLD_REFRESH_TOKEN.to_owned())),
                    false => self.refresh_token.clone(),
                };
                assert_eq!(kept, expected, "the refresh token was not kept or replaced");
            }
            if self.c.flow().is_refresh()
                && let Outcome::Failed(FlowError::Service { error, .. }) = outcome
                && error.code == ErrorCode::InvalidGrant
            {
                assert!(
                    outcome_needs_sign_in(outcome),
                    "invalid_grant must ask for a sign-in"
                );
            }
            let debug = format!("{:?}", self.c.flow());
            canned::assert_no_canned_secret(&debug, self.marker, "flow's Debug");
        }
    }
}

fn outcome_needs_sign_in(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Failed(e) if e.needs_sign_in())
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
