//! Target `flow_response`: one answer — any status, any headers (among them
//! `x-amzn-ErrorType`), any body — handed to `DeviceFlow::handle_response` or
//! `RefreshFlow::handle_response` in a state the input picks, reached first
//! with canned valid answers.
//!
//! Input: byte 0 picks the machine and state (see [`SETUPS`]); byte 1 how
//! long the answer took ([`canned::delay`]); the rest is a response head, as
//! text: a status line, `name: value` lines, a blank line, the body. The
//! wall clock of the answer runs [`SLEPT`] ahead of the monotonic one (the
//! laptop slept while the answer was on its way).
//!
//! Every call goes through `ssoflow_core::oracle::Checked`, the invariant
//! checker the core's property tests use, so the flow's general invariants
//! (listed in its module docs and in `fuzz/README.md`) are checked on the
//! setup and on the answer: the request each state sends and its shape, one
//! request in flight, the interval and `slow_down` arithmetic, a deadline
//! that does not move, grants never sent twice, retry bounds, the
//! device-code lifetime cap, wake-up times, endings that fit their cause,
//! `RegistrationRejected` when owed (with `user_code_void`), registering
//! again once at most, expiries stamped from the answer's wall clock,
//! terminal states absorbing everything, a refused answer changing nothing.
//!
//! Checked here on top, for this one answer: the answer to a settled request
//! is refused; only transitions the state diagram allows, and only for the
//! kinds of answer that allow them (a 2xx never denies nor drops the
//! registration, an error never authorizes nor advances; `Denied` never on
//! a KMS denial; registering again only on `invalid_client`); each
//! transition with its events (`Registered` with the configured scopes,
//! `UserCode`, `RegistrationRejected` naming the registration in use, which
//! is no longer offered for persisting, `IntervalChanged` only on
//! `slow_down`, `Retrying` exactly when the failure is transient and the
//! budget lasts); the outcome matches the answer (the token's members and
//! registration, a refreshed token keeping or replacing its refresh token;
//! an unreadable 2xx to CreateToken spending the grant; `invalid_grant`
//! after a lost poll answer ending in `AnswerLost`, and only then; a
//! service error carried with its operation, as sent); no secret shows in
//! any event, the outcome (`Debug` and `Display`) or the flow's `Debug` —
//! neither the canned ones nor the ones in the fuzzed body (checked by
//! running the body twice with the secret members' values swapped and
//! comparing the renderings).

use std::time::{Duration, Instant, SystemTime};

use ssoflow_core::oracle::{Checked, Inspect};
use ssoflow_core::wire;
use ssoflow_core::{
    DeviceFlow, ErrorCode, Event, FlowError, Operation, Outcome, RefreshFlow, RequestId,
    ServiceError, StateKind, Transmit, TransportErrorKind,
};

use crate::canned::{self, SECRET_MARKER, Step};
use crate::input::{self, Bytes, Head};

/// Device-flow setups, then refresh setups; byte 0 modulo their number picks one.
pub const SETUPS: [&str; 24] = [
    "device: unregistered",
    "device: unregistered, after a transport error",
    "device: unregistered, after four 500s (one more failure exhausts the retries)",
    "device: registered from the cache",
    "device: registered by RegisterClient",
    "device: registered again after invalid_client (no second time)",
    "device: pending, first poll",
    "device: pending, after slow_down",
    "device: pending, after a transport error",
    "device: pending, after registering again",
    "device: pending, 5 s code lifetime",
    "device: pending, legacy (no scopes), default interval",
    "device: authorized (the answer is stale)",
    "device: pending, a poll in flight as the 5 s code runs out (its answer still counts)",
    "device: denied",
    "device: cancelled with a request in flight",
    "device: failed on invalid_grant",
    "refresh: pending",
    "refresh: pending, after a 503",
    "refresh: pending, after three failures (one more exhausts the retries)",
    "refresh: authorized (the answer is stale)",
    "refresh: cancelled with the request in flight",
    "refresh: not refreshable (failed at once)",
    "refresh: registration expired (failed at once)",
];
const DEVICE_SETUPS: u8 = 17;

/// How much further the wall clock has moved than the monotonic one when the
/// fuzzed answer arrives: expiries must be stamped from the wall clock.
pub const SLEPT: Duration = Duration::from_secs(7 * 3600);

/// The top-level members that hold secrets in any SSO OIDC answer.
const SECRET_MEMBERS: [&str; 4] = ["clientSecret", "deviceCode", "accessToken", "refreshToken"];

pub fn run(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let setup = bytes.byte() % SETUPS.len() as u8;
    let delay = canned::delay(bytes.byte());
    let head = input::split_head(bytes.rest());
    let marker = input::contains(data, SECRET_MARKER.as_bytes());
    // One start for every play, so that the flows' `Debug` can be compared.
    let t0 = Instant::now();
    play(t0, setup, delay, build(&head, head.body), marker);

    // Secrets in the fuzzed body must not reach any rendering: the same answer
    // with the secret values swapped must render identically.
    if let Some((original, swapped)) = secret_variants(head.body) {
        let a = play(t0, setup, delay, build(&head, &original), true);
        let b = play(t0, setup, delay, build(&head, &swapped), true);
        assert_eq!(
            (a.before, a.after),
            (b.before, b.after),
            "the flow went elsewhere when only the secret values in the body differ"
        );
        assert_eq!(
            a.rendered, b.rendered,
            "the renderings differ when only the secret values in the body differ"
        );
    }
}

fn build(head: &Head<'_>, body: &[u8]) -> http::Response<Vec<u8>> {
    let mut response = http::Response::new(body.to_vec());
    *response.status_mut() = input::status_of(head.first_line);
    input::add_headers(response.headers_mut(), head);
    response
}

/// The body re-encoded, and re-encoded with every secret member's value
/// replaced by another of the same length; `None` if it has no such member.
/// Only plain ASCII alphanumeric values are swapped, so that both encodings
/// have the same length and serde's error positions cannot differ.
fn secret_variants(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let serde_json::Value::Object(mut members) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let original = serde_json::to_vec(&members).ok()?;
    let mut swapped_any = false;
    for name in SECRET_MEMBERS {
        if let Some(serde_json::Value::String(value)) = members.get_mut(name)
            && !value.is_empty()
            && value.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            *value = value
                .chars()
                .map(|c| if c == 'Q' { 'R' } else { 'Q' })
                .collect();
            swapped_any = true;
        }
    }
    swapped_any.then(|| (original, serde_json::to_vec(&members).unwrap_or_default()))
}

/// How an answer was classified before it was handed in.
struct Answer {
    success: bool,
    error: Option<ServiceError>,
    /// A 2xx body as CreateToken's output, when it decodes as one.
    token: Option<wire::CreateTokenResponse>,
}

impl Answer {
    fn of(response: &http::Response<Vec<u8>>) -> Answer {
        let success = response.status().is_success();
        Answer {
            success,
            error: ServiceError::from_response(response),
            token: success
                .then(|| wire::decode(response.body()).ok())
                .flatten(),
        }
    }

    fn step(&self) -> Option<Step> {
        self.error.as_ref().map(canned::step)
    }

    /// An error answer the flow retries: a 5xx or 429, or `slow_down` to a
    /// request other than a device-code poll.
    fn transient(&self, polling: bool) -> bool {
        match self.step() {
            Some(Step::Retry) => true,
            Some(Step::SlowDown) => !polling,
            _ => false,
        }
    }
}

/// The state before and after the answer, and what the secret check compares.
#[derive(Debug)]
struct Played {
    before: StateKind,
    after: StateKind,
    /// The renderings of the events and the outcome, and the flow's `Debug`.
    rendered: Vec<String>,
}

/// The wall clock that moves with the monotonic one from `t0`.
fn wall_at(t0: Instant, t: Instant) -> SystemTime {
    canned::wall0() + t.saturating_duration_since(t0)
}

/// The outcome's `Debug` and `Display`, checked for canned secrets.
fn render_outcome(outcome: Option<&Outcome>, marker: bool) -> Option<String> {
    let text = canned::render_outcome(outcome?);
    canned::assert_no_canned_secret(&text, marker, "outcome");
    Some(text)
}

/// The flow's `Debug`, checked for canned secrets.
fn render_flow(flow: &impl std::fmt::Debug, marker: bool) -> String {
    let text = format!("{flow:?}");
    canned::assert_no_canned_secret(&text, marker, "flow's Debug");
    text
}

/// Drives a checked device flow through its setup with canned answers.
struct Device {
    c: Checked<DeviceFlow>,
    t0: Instant,
    now: Instant,
    /// The last request answered.
    last_id: Option<RequestId>,
    /// A request the setup left in flight.
    held: Option<Transmit>,
    /// The `clientId` of the registration in use.
    client_id: Option<String>,
    /// A poll's answer was lost (a transport error after it was sent), so a
    /// later `invalid_grant` most likely means that answer spent the code.
    lost: bool,
    legacy: bool,
}

impl Device {
    fn new(t0: Instant, cached: bool, legacy: bool) -> Device {
        let config = canned::config(legacy);
        let flow = if cached {
            DeviceFlow::with_registration(config, canned::registration(legacy), t0, canned::wall0())
        } else {
            DeviceFlow::new(config, t0)
        };
        Device {
            c: Checked::new(flow, t0),
            t0,
            now: t0,
            last_id: None,
            held: None,
            client_id: cached.then(|| canned::registration(legacy).client_id),
            lost: false,
            legacy,
        }
    }

    fn send(&mut self) -> Transmit {
        let tx = self
            .c
            .poll_transmit(self.now)
            .expect("setup: a request is due");
        canned::check_transmit_debug(&tx);
        tx
    }

    fn answer(&mut self, response: http::Response<Vec<u8>>) {
        let tx = self.send();
        let wall = wall_at(self.t0, self.now);
        self.c
            .handle_response(self.now, wall, tx.id, response)
            .expect("setup: the id is in flight");
        self.last_id = Some(tx.id);
        self.drain();
    }

    /// A timeout: the request may have arrived, its answer is lost. (No
    /// setup answers a poll after this, so `lost` stays as it is set here.)
    fn transport_error(&mut self) {
        let tx = self.send();
        self.c
            .handle_transport_error(self.now, tx.id, TransportErrorKind::Timeout)
            .expect("setup: the id is in flight");
        self.lost |= tx.operation == Operation::CreateToken;
        self.last_id = Some(tx.id);
        self.drain();
    }

    fn wake(&mut self) {
        if let Some(t) = self.c.poll_timeout() {
            self.now = self.now.max(t);
        }
        self.c.handle_timeout(self.now);
        self.drain();
    }

    fn drain(&mut self) {
        for event in self.c.drain() {
            canned::assert_no_canned_secret(&canned::render_event(&event), false, "events");
            if let Event::Registered(registration) = event {
                self.client_id = Some(registration.client_id);
            }
        }
    }

    fn start(&mut self, interval: u64, expires_in: u64) {
        self.answer(canned::response(
            200,
            canned::started_body(interval, expires_in),
        ));
        self.wake();
    }

    fn register_again(&mut self) {
        self.answer(canned::error(ErrorCode::InvalidClient));
        self.answer(canned::response(200, canned::registered_body()));
    }

    fn setup(t0: Instant, n: u8) -> Device {
        let cached = matches!(n, 3 | 5..=10 | 12..=16);
        let mut d = Device::new(t0, cached, n == 11);
        match n {
            1 => {
                d.transport_error();
                d.wake();
            }
            2 => {
                for _ in 0..4 {
                    d.answer(canned::error(ErrorCode::InternalServer));
                    d.wake();
                }
            }
            4 | 11 => {
                d.answer(canned::response(200, canned::registered_body()));
                if n == 11 {
                    d.answer(canned::response(
                        200,
                        r#"{"deviceCode":"SECRETzq-device-code","userCode":"U","verificationUri":"https://device.sso.us-east-1.amazonaws.com/","expiresIn":600}"#,
                    ));
                    d.wake();
                }
            }
            5 => d.register_again(),
            6..=9 | 12 | 14..=16 => {
                d.start(1, 600);
                match n {
                    7 => {
                        d.answer(canned::error(ErrorCode::SlowDown));
                        d.wake();
                    }
                    8 => {
                        d.transport_error();
                        d.wake();
                    }
                    9 => {
                        d.register_again();
                        d.start(1, 600);
                    }
                    12 => d.answer(canned::response(200, canned::token_body(true))),
                    14 => d.answer(canned::error(ErrorCode::AccessDenied)),
                    15 => {
                        let tx = d.send();
                        d.last_id = Some(tx.id);
                        d.c.cancel();
                        d.drain();
                    }
                    16 => d.answer(canned::error(ErrorCode::InvalidGrant)),
                    _ => {}
                }
            }
            10 => d.start(1, 5),
            13 => {
                d.start(1, 5);
                d.held = Some(d.send());
                // The code runs out with the poll unanswered: the flow waits for it.
                let deadline = d.c.flow().deadline().expect("pending has a deadline");
                d.now = d.now.max(deadline);
                d.c.handle_timeout(d.now);
                d.drain();
                assert_eq!(
                    d.c.state(),
                    StateKind::Pending,
                    "setup: expired with a poll in flight"
                );
            }
            _ => {}
        }
        d
    }
}

fn allowed(before: StateKind, after: StateKind) -> bool {
    use StateKind::*;
    match before {
        Unregistered => matches!(after, Unregistered | Registered | Failed),
        // Expired at once: a device code whose lifetime is already over.
        Registered => matches!(
            after,
            Registered | Pending | Expired | Unregistered | Failed
        ),
        Pending => !matches!(after, Registered),
        terminal => after == terminal,
    }
}

fn play(
    t0: Instant,
    setup: u8,
    delay: Duration,
    response: http::Response<Vec<u8>>,
    marker: bool,
) -> Played {
    if setup < DEVICE_SETUPS {
        play_device(t0, setup, delay, response, marker)
    } else {
        play_refresh(t0, setup - DEVICE_SETUPS, delay, response, marker)
    }
}

fn play_device(
    t0: Instant,
    setup: u8,
    delay: Duration,
    response: http::Response<Vec<u8>>,
    marker: bool,
) -> Played {
    let mut d = Device::setup(t0, setup);
    let before = d.c.state();
    let t = canned::later(d.now, delay);
    let wall = wall_at(t0, t) + SLEPT;

    if before.is_terminal() {
        // The oracle checks that nothing moves; here, that the answer is taken.
        let id = d.last_id.expect("every terminal setup sent a request");
        d.c.handle_response(t, wall, id, response)
            .expect("an answer to an abandoned request is accepted and ignored");
        assert!(d.c.poll_event().is_none(), "an event after the end");
        assert!(d.c.poll_transmit(t).is_none(), "a request after the end");
        let rendered = [
            render_outcome(d.c.outcome(), false),
            Some(render_flow(d.c.flow(), false)),
        ];
        return Played {
            before,
            after: d.c.state(),
            rendered: rendered.into_iter().flatten().collect(),
        };
    }

    let answer = Answer::of(&response);
    let client_id = d.client_id.clone();
    let stale = d.last_id;
    let tx = match d.held.take() {
        Some(tx) => tx,
        None => d.send(),
    };
    // An answer to an earlier, settled request is a caller bug: refused (the
    // oracle checks it changes nothing), and it makes no event.
    if let Some(stale) = stale {
        assert!(
            d.c.handle_response(t, wall, stale, canned::clone_response(&response))
                .is_err(),
            "an answer to a settled request was taken"
        );
        assert!(d.c.poll_event().is_none(), "a refused answer made an event");
    }
    d.c.handle_response(t, wall, tx.id, response)
        .expect("the answer to the request in flight is accepted");
    let after = d.c.state();
    assert!(allowed(before, after), "{before:?} -> {after:?}");

    // What kind of answer allows what.
    if answer.success {
        assert!(
            after != StateKind::Denied
                && !(after == StateKind::Unregistered && before != StateKind::Unregistered),
            "a 2xx answer led {before:?} -> {after:?}"
        );
    } else {
        assert!(
            !(after == StateKind::Authorized
                || (before, after) == (StateKind::Unregistered, StateKind::Registered)
                || (before, after) == (StateKind::Registered, StateKind::Pending)),
            "an error answer led {before:?} -> {after:?}"
        );
    }
    // (The oracle checks that a flow registers again once at most.)
    if after == StateKind::Unregistered && before != StateKind::Unregistered {
        assert_eq!(answer.step(), Some(Step::RegisterAgain));
    }
    let polling = before == StateKind::Pending;
    let exhausted = check_device_outcome(&d, &tx, &answer, before);

    // Events: the ones this transition calls for, and no secret in any.
    let mut rendered = Vec::new();
    let mut retrying = 0;
    while let Some(event) = d.c.poll_event() {
        let text = canned::render_event(&event);
        canned::assert_no_canned_secret(&text, marker, "events");
        match &event {
            Event::Registered(reg) => {
                assert_eq!(
                    (before, after),
                    (StateKind::Unregistered, StateKind::Registered)
                );
                assert!(!reg.client_id.is_empty());
                assert_eq!(reg.scopes, canned::config(d.legacy).scopes());
            }
            // The oracle checks that one comes exactly when the answer
            // rejects the registration, and its `user_code_void`.
            Event::RegistrationRejected {
                client_id: rejected_id,
                ..
            } => {
                assert_eq!(
                    Some(rejected_id),
                    client_id.as_ref(),
                    "another client rejected"
                );
                assert!(
                    d.c.flow()
                        .new_registration()
                        .is_none_or(|r| r.client_id != *rejected_id),
                    "a rejected registration is still offered for persisting"
                );
                assert!(matches!(after, StateKind::Unregistered | StateKind::Failed));
            }
            // The oracle checks the code's lifetime and expiry.
            Event::UserCode(prompt) => {
                assert_eq!(before, StateKind::Registered);
                assert!(matches!(after, StateKind::Pending | StateKind::Expired));
                assert!(!prompt.user_code.is_empty() && !prompt.verification_uri.is_empty());
            }
            // The oracle checks the new interval; the answer may come after
            // the deadline, and then the flow expires at once.
            Event::IntervalChanged(_) => {
                assert_eq!(answer.step(), Some(Step::SlowDown));
                assert!(polling && matches!(after, StateKind::Pending | StateKind::Expired));
            }
            Event::Retrying { operation, .. } => {
                retrying += 1;
                assert_eq!(*operation, tx.operation, "a retry of another operation");
            }
            other => panic!("an event this harness does not know: {other:?}"),
        }
        rendered.push(text);
    }
    // A transient failure is announced, unless it spent the budget. A 2xx
    // to a setup request that left the state as it was could not be read.
    let unreadable = answer.success && after == before;
    let transient = answer.transient(polling) || unreadable;
    assert_eq!(
        retrying,
        usize::from(transient && !exhausted),
        "Retrying after {before:?} -> {after:?}"
    );
    rendered.extend(render_outcome(d.c.outcome(), marker));

    // A live flow wakes up when something is due: the oracle checks that a
    // request (of the right kind) goes, or the flow ends.
    if let Some(wake) = d.c.poll_timeout() {
        // A wake-up time already past means "now" (an answer that came late).
        let wake = wake.max(t);
        d.c.handle_timeout(wake);
        if let Some(next) = d.c.poll_transmit(wake) {
            canned::check_transmit_debug(&next);
        }
        for event in d.c.drain() {
            let text = canned::render_event(&event);
            canned::assert_no_canned_secret(&text, marker, "events");
            rendered.push(text);
        }
        rendered.extend(render_outcome(d.c.outcome(), marker));
    }
    rendered.push(render_flow(d.c.flow(), marker));
    Played {
        before,
        after,
        rendered,
    }
}

/// Checks how the device flow ended, if it did, beyond what the oracle
/// checks (that the ending fits its cause, the token's expiry); returns
/// whether it failed because the retry budget was spent.
fn check_device_outcome(d: &Device, tx: &Transmit, answer: &Answer, before: StateKind) -> bool {
    let Some(outcome) = d.c.outcome() else {
        return false;
    };
    match outcome {
        Outcome::Authorized(token) => {
            let issued = answer.token.as_ref().expect("authorized by a token answer");
            assert_eq!(
                Some(&token.access_token),
                issued.access_token.as_ref(),
                "not the access token the answer carried"
            );
            assert!(!token.access_token.secret().is_empty());
            let refresh = issued
                .refresh_token
                .as_ref()
                .filter(|r| !r.secret().is_empty());
            assert_eq!(token.refresh_token.as_ref(), refresh, "the refresh token");
            assert_eq!(
                Some(&token.registration.client_id),
                d.client_id.as_ref(),
                "the token names another registration"
            );
            assert_eq!(token.registration.scopes, canned::config(d.legacy).scopes());
            false
        }
        Outcome::Denied => {
            let e = answer.error.as_ref().expect("denied on an error");
            assert_eq!(canned::step(e), Step::Stop);
            assert!(
                e.reason.is_none(),
                "a KMS denial is not the person's refusal"
            );
            false
        }
        Outcome::Expired => false,
        Outcome::Failed(error) => match error {
            FlowError::GrantSpent { grant, .. } => {
                assert!(
                    answer.success && tx.operation == Operation::CreateToken,
                    "a grant spent without a 2xx to CreateToken"
                );
                assert_eq!(*grant, "device code");
                false
            }
            FlowError::Service { operation, error } => {
                assert_eq!(
                    *operation, tx.operation,
                    "the error names another operation"
                );
                assert_eq!(Some(error.as_ref()), answer.error.as_ref());
                assert!(!answer.transient(before == StateKind::Pending));
                assert!(
                    !(d.lost && error.code == ErrorCode::InvalidGrant),
                    "invalid_grant after a lost answer is not AnswerLost"
                );
                false
            }
            FlowError::AnswerLost { grant, error } => {
                assert!(d.lost, "AnswerLost, yet no answer was lost");
                assert_eq!(*grant, "device code");
                assert_eq!(error.code, ErrorCode::InvalidGrant);
                assert_eq!(Some(error.as_ref()), answer.error.as_ref());
                false
            }
            FlowError::RetriesExhausted { operation, .. } | FlowError::Decode { operation, .. } => {
                assert_eq!(
                    *operation, tx.operation,
                    "the error names another operation"
                );
                assert_ne!(before, StateKind::Pending, "polls have no retry budget");
                true
            }
            other => panic!("the answer ended the flow with {other:?}"),
        },
        other => panic!("an outcome this harness does not know: {other:?}"),
    }
}

fn play_refresh(
    t0: Instant,
    setup: u8,
    delay: Duration,
    response: http::Response<Vec<u8>>,
    marker: bool,
) -> Played {
    let original = canned::token(setup != 5, setup == 6);
    let flow = RefreshFlow::new(canned::endpoint(), original.clone(), t0, canned::wall0());
    let mut c = Checked::new(flow, t0);
    let mut now = t0;
    let mut last_id = None;
    let mut exchange =
        |c: &mut Checked<RefreshFlow>, now: &mut Instant, r: Option<http::Response<Vec<u8>>>| {
            let tx = c.poll_transmit(*now).expect("setup: a refresh is due");
            canned::check_transmit_debug(&tx);
            last_id = Some(tx.id);
            if let Some(r) = r {
                c.handle_response(*now, wall_at(t0, *now), tx.id, r)
                    .expect("setup: in flight");
                c.drain();
                if let Some(wake) = c.poll_timeout() {
                    *now = (*now).max(wake);
                }
            }
        };
    match setup {
        1 => exchange(&mut c, &mut now, Some(canned::response(503, "busy"))),
        2 => {
            for _ in 0..3 {
                exchange(
                    &mut c,
                    &mut now,
                    Some(canned::error(ErrorCode::InternalServer)),
                );
            }
        }
        3 => exchange(
            &mut c,
            &mut now,
            Some(canned::response(200, canned::token_body(false))),
        ),
        4 => {
            exchange(&mut c, &mut now, None);
            c.cancel();
        }
        _ => {}
    }
    for event in c.drain() {
        canned::assert_no_canned_secret(&canned::render_event(&event), false, "events");
    }
    let before = c.state();
    let t = canned::later(now, delay);
    let wall = wall_at(t0, t) + SLEPT;

    if before.is_terminal() {
        match last_id {
            Some(id) => c
                .handle_response(t, wall, id, response)
                .expect("an answer to an abandoned request is accepted and ignored"),
            None => {
                assert!(
                    c.poll_transmit(t).is_none(),
                    "a failed refresh sent a request"
                );
                let expected = match setup {
                    5 => FlowError::NotRefreshable,
                    _ => FlowError::RegistrationExpired,
                };
                assert_eq!(c.outcome(), Some(&Outcome::Failed(expected)));
                assert!(
                    c.outcome()
                        .is_some_and(|o| matches!(o, Outcome::Failed(e) if e.needs_sign_in())),
                    "an unusable token must ask for a sign-in"
                );
            }
        }
        assert!(c.poll_event().is_none(), "an event after the end");
        let rendered = [
            render_outcome(c.outcome(), false),
            Some(render_flow(c.flow(), false)),
        ];
        return Played {
            before,
            after: c.state(),
            rendered: rendered.into_iter().flatten().collect(),
        };
    }

    let answer = Answer::of(&response);
    let tx = c.poll_transmit(now).expect("a refresh is due");
    canned::check_transmit_debug(&tx);
    let body: wire::CreateTokenRequest =
        wire::decode(tx.request.body()).expect("the oracle checked the body");
    assert_eq!(
        body.refresh_token.as_ref().map(|r| r.secret()),
        Some(canned::OLD_REFRESH_TOKEN),
        "not the token's own refresh token"
    );
    if let Some(stale) = last_id {
        assert!(
            c.handle_response(t, wall, stale, canned::clone_response(&response))
                .is_err(),
            "an answer to a settled request was taken"
        );
        assert!(c.poll_event().is_none(), "a refused answer made an event");
    }
    c.handle_response(t, wall, tx.id, response)
        .expect("the answer to the request in flight is accepted");
    let after = c.state();
    assert!(
        matches!(
            after,
            StateKind::Pending | StateKind::Authorized | StateKind::Failed
        ),
        "a refresh in {after:?}"
    );
    let exhausted = match c.outcome() {
        None => false,
        Some(Outcome::Authorized(token)) => {
            assert!(answer.success, "refreshed on an error answer");
            let issued = answer.token.as_ref().expect("refreshed by a token answer");
            assert_eq!(Some(&token.access_token), issued.access_token.as_ref());
            assert_eq!(token.registration, original.registration);
            let refresh = token.refresh_token.as_ref().map(|r| r.secret().to_owned());
            let expected = issued
                .refresh_token
                .as_ref()
                .map(|r| r.secret().to_owned())
                .filter(|r| !r.is_empty())
                .or_else(|| Some(canned::OLD_REFRESH_TOKEN.to_owned()));
            assert_eq!(
                refresh, expected,
                "the refresh token was not kept or replaced"
            );
            false
        }
        Some(Outcome::Failed(error)) => match error {
            FlowError::GrantSpent { grant, .. } => {
                assert!(answer.success, "a grant spent without a 2xx");
                assert_eq!(*grant, "refresh token");
                assert!(error.needs_sign_in());
                false
            }
            FlowError::Service {
                operation,
                error: e,
            } => {
                assert_eq!(*operation, Operation::CreateToken);
                assert_eq!(Some(e.as_ref()), answer.error.as_ref());
                assert!(!answer.transient(false));
                if e.code == ErrorCode::InvalidGrant {
                    assert!(
                        error.needs_sign_in(),
                        "invalid_grant must ask for a sign-in"
                    );
                }
                false
            }
            FlowError::RetriesExhausted { operation, .. } => {
                assert_eq!(*operation, Operation::CreateToken);
                assert!(answer.transient(false));
                true
            }
            other => panic!("the answer ended the refresh with {other:?}"),
        },
        Some(other) => panic!("a refresh ended {other:?}"),
    };
    let mut rendered = Vec::new();
    let mut retrying = 0;
    while let Some(event) = c.poll_event() {
        let text = canned::render_event(&event);
        canned::assert_no_canned_secret(&text, marker, "events");
        match &event {
            Event::Retrying { operation, .. } => {
                assert_eq!(*operation, Operation::CreateToken);
                retrying += 1;
            }
            // The oracle checks that one comes exactly when the answer
            // rejects the registration.
            Event::RegistrationRejected { client_id, .. } => {
                assert_eq!(*client_id, original.registration.client_id);
                assert_eq!(after, StateKind::Failed);
            }
            other => panic!("a refresh emitted {other:?}"),
        }
        rendered.push(text);
    }
    assert_eq!(
        retrying,
        usize::from(answer.transient(false) && !exhausted),
        "Retrying"
    );
    rendered.extend(render_outcome(c.outcome(), marker));
    if let Some(wake) = c.poll_timeout() {
        let wake = wake.max(t);
        c.handle_timeout(wake);
        let next = c
            .poll_transmit(wake)
            .expect("a retry is due at the wake-up time");
        canned::check_transmit_debug(&next);
    }
    rendered.push(render_flow(c.flow(), marker));
    Played {
        before,
        after,
        rendered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay(data: &[u8]) -> Played {
        let mut bytes = Bytes::new(data);
        let setup = bytes.byte() % SETUPS.len() as u8;
        let delay = canned::delay(bytes.byte());
        let head = input::split_head(bytes.rest());
        play(Instant::now(), setup, delay, build(&head, head.body), false)
    }

    /// The seeds reach the state their names say (so the formats in
    /// `make-seeds.sh` match the harness).
    #[test]
    fn seeds_end_where_their_names_say() {
        use StateKind::*;
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/flow_response/");
        for (seed, before, after) in [
            ("register-ok-model-example", Unregistered, Registered),
            ("register-ok-after-retries", Unregistered, Registered),
            ("register-slow-down", Unregistered, Unregistered),
            ("register-invalid-client-metadata", Unregistered, Failed),
            ("start-ok-observed-2021", Registered, Pending),
            ("start-ok-model-example", Registered, Pending),
            ("start-invalid-client-401", Registered, Unregistered),
            ("start-unauthorized-client-second-time", Registered, Failed),
            ("poll-token-smithy-fixture", Pending, Authorized),
            ("poll-token-model-example", Pending, Authorized),
            ("poll-authorization-pending-real", Pending, Pending),
            ("poll-pending-body-only", Pending, Pending),
            ("poll-slow-down-hash-form", Pending, Pending),
            ("poll-expired-token", Pending, Expired),
            ("poll-access-denied", Pending, Denied),
            ("poll-access-denied-kms", Pending, Failed),
            ("poll-invalid-request-kms", Pending, Failed),
            ("poll-invalid-request-region", Pending, Failed),
            ("poll-invalid-client-again", Pending, Failed),
            // A 2xx to a poll spends the device code: unreadable, it ends the flow.
            ("poll-truncated-body", Pending, Failed),
            ("poll-pending-at-the-deadline", Pending, Expired),
            ("poll-legacy-token-without-refresh", Pending, Authorized),
            ("authorized-then-late-answer", Authorized, Authorized),
            ("refresh-ok-without-new-refresh-token", Pending, Authorized),
            ("refresh-invalid-grant-real", Pending, Failed),
            ("refresh-server-error-html", Pending, Failed),
            ("refresh-internal-server-error", Pending, Pending),
        ] {
            let data = std::fs::read(format!("{dir}{seed}.http")).expect("the seed exists");
            let played = replay(&data);
            assert_eq!((played.before, played.after), (before, after), "{seed}");
        }
    }

    /// What core v2 changed, one input each: `unauthorized_client` fails at
    /// once (in a refresh too, refusing the registration), a poll in flight
    /// at the deadline still counts, an unreadable 2xx to CreateToken spends
    /// the grant, `invalid_grant` after a lost answer is `AnswerLost` (the
    /// harness checks which error each ends with).
    #[test]
    fn core_v2_endings() {
        use StateKind::*;
        let pending = "400\nx-amzn-ErrorType: AuthorizationPendingException:x\n\n{}";
        let token = "200\n\n{\"accessToken\":\"a\",\"expiresIn\":60}";
        let invalid_grant = "400\n\n{\"error\":\"invalid_grant\"}";
        for (setup, answer, before, after) in [
            (8, invalid_grant, Pending, Failed),
            (6, invalid_grant, Pending, Failed),
            (17, "401\n\n{}", Pending, Failed),
            (
                17,
                "400\n\n{\"error\":\"unauthorized_client\"}",
                Pending,
                Failed,
            ),
            (
                3u8,
                "400\n\n{\"error\":\"unauthorized_client\"}",
                Registered,
                Failed,
            ),
            (
                6,
                "400\n\n{\"error\":\"unauthorized_client\"}",
                Pending,
                Failed,
            ),
            (13, token, Pending, Authorized),
            (13, pending, Pending, Expired),
            (13, "200\n\n{\"accessTok", Pending, Failed),
            (17, "200\n\n{\"accessTok", Pending, Failed),
            (17, "200\n\n{}", Pending, Failed),
        ] {
            let mut data = vec![setup, 0];
            data.extend_from_slice(answer.as_bytes());
            let played = replay(&data);
            assert_eq!(
                (played.before, played.after),
                (before, after),
                "setup {setup}: {answer}"
            );
        }
    }
}
