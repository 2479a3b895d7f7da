//! Target `flow_response`: one answer — any status, any headers (among them
//! `x-amzn-ErrorType`), any body — handed to `DeviceFlow::handle_response` or
//! `RefreshFlow::handle_response` in a state the input picks, reached first
//! with canned valid answers.
//!
//! Input: byte 0 picks the machine and state (see [`SETUPS`]); byte 1 how
//! long the answer took ([`canned::delay`]); the rest is a response head, as
//! text: a status line, `name: value` lines, a blank line, the body.
//!
//! Checked: no panic; `handle_response` accepts the id in flight and refuses a
//! stale one without changing anything; only transitions the state diagram
//! allows, each with its event (exactly one terminal event, matching the
//! state); `slow_down` adds exactly 5 s, nothing else changes the interval or
//! deadline; a live flow always has a wake-up time at which a request of the
//! right kind is due; terminal states absorb the answer; no secret shows in
//! any event's `Debug` or error's `Display` — neither the canned ones nor the
//! ones in the fuzzed body (checked by running the body twice with the
//! secret members' values swapped and comparing the renderings).

use std::time::{Duration, Instant};

use ssoflow_core::wire::Operation;
use ssoflow_core::{
    DeviceFlow, ErrorCode, Event, Flow, NextStep, RefreshFlow, RequestId, ServiceError, StateKind,
    Transmit,
};

use crate::canned::{self, SECRET_MARKER};
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
    "device: expired with a poll in flight",
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

/// The top-level members that hold secrets in any SSO OIDC answer.
const SECRET_MEMBERS: [&str; 4] = ["clientSecret", "deviceCode", "accessToken", "refreshToken"];

pub fn run(data: &[u8]) {
    let mut bytes = Bytes::new(data);
    let setup = bytes.byte() % SETUPS.len() as u8;
    let delay = canned::delay(bytes.byte());
    let head = input::split_head(bytes.rest());
    let marker = input::contains(data, SECRET_MARKER.as_bytes());
    play(setup, delay, build(&head, head.body), marker);

    // Secrets in the fuzzed body must not reach any rendering: the same answer
    // with the secret values swapped must render identically.
    if let Some((original, swapped)) = secret_variants(head.body) {
        let a = play(setup, delay, build(&head, &original), true);
        let b = play(setup, delay, build(&head, &swapped), true);
        assert_eq!(
            a, b,
            "events render differently when only the secret values in the body differ"
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
    /// `refreshToken` of a success body, when it is a non-empty string.
    refresh_token: Option<String>,
}

impl Answer {
    fn of(response: &http::Response<Vec<u8>>) -> Answer {
        let refresh_token = serde_json::from_slice::<serde_json::Value>(response.body())
            .ok()
            .and_then(|v| v.get("refreshToken")?.as_str().map(str::to_owned))
            .filter(|t| !t.is_empty());
        Answer {
            success: response.status().is_success(),
            error: ServiceError::from_response(response),
            refresh_token,
        }
    }

    fn step(&self) -> Option<NextStep> {
        self.error.as_ref().map(ServiceError::next_step)
    }

    fn code(&self) -> Option<&ErrorCode> {
        self.error.as_ref().map(|e| &e.code)
    }
}

/// Drives a device flow through its setup with canned answers.
struct Device {
    flow: DeviceFlow,
    now: Instant,
    last_id: Option<RequestId>,
    registered_again: bool,
    legacy: bool,
}

impl Device {
    fn new(cached: bool, legacy: bool) -> Device {
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
        Device {
            flow,
            now,
            last_id: None,
            registered_again: false,
            legacy,
        }
    }

    fn send(&mut self) -> Transmit {
        let tx = self
            .flow
            .poll_transmit(self.now)
            .expect("setup: a request is due");
        canned::check_transmit_debug(&tx);
        self.last_id = Some(tx.id);
        tx
    }

    fn answer(&mut self, response: http::Response<Vec<u8>>) {
        let tx = self.send();
        self.flow
            .handle_response(self.now, tx.id, response)
            .expect("setup: the id is in flight");
        self.drain();
    }

    fn transport_error(&mut self) {
        let tx = self.send();
        self.flow
            .handle_transport_error(self.now, tx.id, canned::transport_kind(0))
            .expect("setup: the id is in flight");
        self.drain();
    }

    fn wake(&mut self) {
        if let Some(t) = self.flow.poll_timeout() {
            self.now = self.now.max(t);
        }
        self.flow.handle_timeout(self.now);
    }

    fn drain(&mut self) {
        while self.flow.poll_event().is_some() {}
    }

    fn start(&mut self, interval: u64, expires_in: u64) {
        self.answer(canned::response(
            200,
            canned::started_body(interval, expires_in),
        ));
        self.wake();
    }

    fn setup(n: u8) -> Device {
        let cached = matches!(n, 3 | 5..=10 | 12..=16);
        let mut d = Device::new(cached, n == 11);
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
            5 => {
                d.answer(canned::error(ErrorCode::InvalidClient));
                d.registered_again = true;
                d.answer(canned::response(200, canned::registered_body()));
            }
            6..=9 | 12..=16 => {
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
                        d.answer(canned::error(ErrorCode::InvalidClient));
                        d.registered_again = true;
                        d.answer(canned::response(200, canned::registered_body()));
                        d.start(1, 600);
                    }
                    12 => d.answer(canned::response(200, canned::token_body(true))),
                    13 => {
                        d.last_id = Some(d.send().id);
                        d.now = canned::later(d.now, Duration::from_secs(600));
                        d.flow.handle_timeout(d.now);
                        d.drain();
                    }
                    14 => d.answer(canned::error(ErrorCode::AccessDenied)),
                    15 => {
                        d.last_id = Some(d.send().id);
                        d.flow.cancel();
                        d.drain();
                    }
                    16 => d.answer(canned::error(ErrorCode::InvalidGrant)),
                    _ => {}
                }
            }
            10 => d.start(1, 5),
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

fn expected_operation(state: StateKind) -> Operation {
    match state {
        StateKind::Unregistered => Operation::RegisterClient,
        StateKind::Registered => Operation::StartDeviceAuthorization,
        _ => Operation::CreateToken,
    }
}

/// The renderings of the events the answer produced: what the secret check compares.
type Rendered = Vec<String>;

fn play(setup: u8, delay: Duration, response: http::Response<Vec<u8>>, marker: bool) -> Rendered {
    if setup < DEVICE_SETUPS {
        play_device(setup, delay, response, marker)
    } else {
        play_refresh(setup - DEVICE_SETUPS, delay, response, marker)
    }
}

fn play_device(
    setup: u8,
    delay: Duration,
    response: http::Response<Vec<u8>>,
    marker: bool,
) -> Rendered {
    let mut d = Device::setup(setup);
    let before = d.flow.state();
    let t = canned::later(d.now, delay);

    if before.is_terminal() {
        let id = d.last_id.expect("every terminal setup sent a request");
        d.flow
            .handle_response(t, id, response)
            .expect("an answer to an abandoned request is accepted and ignored");
        assert_eq!(d.flow.state(), before, "a terminal state changed");
        assert!(d.flow.poll_event().is_none(), "an event after the end");
        assert!(d.flow.poll_timeout().is_none());
        assert!(d.flow.poll_transmit(t).is_none(), "a request after the end");
        return Vec::new();
    }

    let answer = Answer::of(&response);
    let stale = d.last_id;
    let tx = d.send();
    assert_eq!(tx.operation, expected_operation(before));
    let (interval, deadline) = (d.flow.interval(), d.flow.deadline());
    // An answer to an earlier, settled request is a caller bug: refused, no effect.
    if let Some(stale) = stale {
        assert!(
            d.flow
                .handle_response(t, stale, canned::clone_response(&response))
                .is_err(),
            "an answer to a settled request was taken"
        );
        assert_eq!(d.flow.state(), before);
        assert!(d.flow.poll_event().is_none());
    }
    d.flow
        .handle_response(t, tx.id, response)
        .expect("the answer to the request in flight is accepted");
    let after = d.flow.state();
    assert!(allowed(before, after), "{before:?} -> {after:?}");

    // What kind of answer allows what.
    if answer.success {
        // A body it cannot use is retried: the state stays, or ends in Failed.
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
    if after == StateKind::Denied {
        let e = answer.error.as_ref().expect("denied on an error");
        assert_eq!(e.code, ErrorCode::AccessDenied);
        assert!(
            e.reason.is_none(),
            "a KMS denial is not the person's refusal"
        );
    }
    if after == StateKind::Expired {
        let past_deadline = deadline.is_some_and(|dl| t >= dl);
        let born_dead = before == StateKind::Registered && answer.success;
        assert!(
            past_deadline || born_dead || answer.code() == Some(&ErrorCode::ExpiredToken),
            "expired without expired_token or the deadline"
        );
    }
    if after == StateKind::Unregistered && before != StateKind::Unregistered {
        assert_eq!(answer.step(), Some(NextStep::RegisterAgain));
        assert!(!d.registered_again, "registered again a second time");
    }
    if (before, after) == (StateKind::Pending, StateKind::Pending) {
        assert_eq!(d.flow.deadline(), deadline, "the deadline moved");
        let expected = match answer.step() {
            Some(NextStep::SlowDown) => interval.map(|i| i + Duration::from_secs(5)),
            _ => interval,
        };
        assert_eq!(d.flow.interval(), expected, "the interval changed wrongly");
    }

    // Events: the ones this transition calls for, and no secret in any.
    let mut rendered = Vec::new();
    let mut terminal_events = 0;
    while let Some(event) = d.flow.poll_event() {
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
            Event::UserCode(prompt) => {
                assert_eq!(before, StateKind::Registered);
                assert!(matches!(after, StateKind::Pending | StateKind::Expired));
                assert!(!prompt.user_code.is_empty() && !prompt.verification_uri.is_empty());
                assert!(prompt.expires_in <= Duration::from_secs(3600));
                if after == StateKind::Pending {
                    assert!(
                        d.flow
                            .interval()
                            .is_some_and(|i| i >= Duration::from_secs(1))
                    );
                    assert!(
                        d.flow
                            .deadline()
                            .is_some_and(|dl| dl <= canned::later(t, Duration::from_secs(3600)))
                    );
                }
            }
            // The answer may come after the deadline: then the flow expires next.
            Event::IntervalChanged(i) => match after {
                StateKind::Pending => assert_eq!(Some(*i), d.flow.interval()),
                other => assert_eq!(other, StateKind::Expired),
            },
            Event::Retrying { attempt, wait, .. } => {
                assert!(*attempt >= 1);
                assert!(
                    *wait <= Duration::from_secs(60).max(d.flow.interval().unwrap_or_default())
                );
            }
            Event::Authorized(token) => {
                terminal_events += 1;
                assert_eq!(after, StateKind::Authorized);
                assert!(!token.access_token.secret().is_empty());
            }
            Event::Denied => {
                terminal_events += 1;
                assert_eq!(after, StateKind::Denied);
            }
            Event::Expired => {
                terminal_events += 1;
                assert_eq!(after, StateKind::Expired);
            }
            Event::Failed(_) => {
                terminal_events += 1;
                assert_eq!(after, StateKind::Failed);
            }
            _ => {}
        }
        rendered.push(text);
    }
    assert_eq!(
        terminal_events,
        usize::from(after.is_terminal()),
        "a terminal state comes with exactly one terminal event"
    );

    // A live flow wakes up when a request of the right kind is due (or it ends).
    match d.flow.poll_timeout() {
        None => assert!(after.is_terminal(), "a live flow without a wake-up time"),
        Some(wake) => {
            assert!(!after.is_terminal(), "a wake-up time after the end");
            // A wake-up time already past means "now" (a request answered
            // after the time it was due).
            let wake = wake.max(t);
            d.flow.handle_timeout(wake);
            let state = d.flow.state();
            match d.flow.poll_transmit(wake) {
                Some(next) => {
                    canned::check_transmit_debug(&next);
                    assert_eq!(next.operation, expected_operation(state));
                }
                None => assert_eq!(state, StateKind::Expired, "nothing due at the wake-up time"),
            }
        }
    }
    rendered
}

fn play_refresh(
    setup: u8,
    delay: Duration,
    response: http::Response<Vec<u8>>,
    marker: bool,
) -> Rendered {
    let t0 = Instant::now();
    let original = canned::token(setup != 5, setup == 6);
    let mut flow = RefreshFlow::new(canned::endpoint(), original.clone(), t0, canned::wall0());
    let mut now = t0;
    let mut last_id = None;
    let mut exchange =
        |flow: &mut RefreshFlow, now: &mut Instant, r: Option<http::Response<Vec<u8>>>| {
            let tx = flow.poll_transmit(*now).expect("setup: a refresh is due");
            canned::check_transmit_debug(&tx);
            last_id = Some(tx.id);
            if let Some(r) = r {
                flow.handle_response(*now, tx.id, r)
                    .expect("setup: in flight");
                while flow.poll_event().is_some() {}
                if let Some(wake) = flow.poll_timeout() {
                    *now = (*now).max(wake);
                }
            }
        };
    match setup {
        1 => exchange(&mut flow, &mut now, Some(canned::response(503, "busy"))),
        2 => {
            for _ in 0..3 {
                exchange(
                    &mut flow,
                    &mut now,
                    Some(canned::error(ErrorCode::InternalServer)),
                );
            }
        }
        3 => exchange(
            &mut flow,
            &mut now,
            Some(canned::response(200, canned::token_body(false))),
        ),
        4 => {
            exchange(&mut flow, &mut now, None);
            flow.cancel();
        }
        _ => {}
    }
    while flow.poll_event().is_some() {}
    let before = flow.state();
    let t = canned::later(now, delay);

    if before.is_terminal() {
        match last_id {
            Some(id) => flow
                .handle_response(t, id, response)
                .expect("an answer to an abandoned request is accepted and ignored"),
            None => assert!(
                flow.poll_transmit(t).is_none(),
                "a failed refresh sent a request"
            ),
        }
        assert_eq!(flow.state(), before);
        assert!(flow.poll_event().is_none() && flow.poll_timeout().is_none());
        return Vec::new();
    }

    let answer = Answer::of(&response);
    let tx = flow.poll_transmit(now).expect("a refresh is due");
    canned::check_transmit_debug(&tx);
    assert_eq!(tx.operation, Operation::CreateToken);
    flow.handle_response(t, tx.id, response)
        .expect("the answer to the request in flight is accepted");
    let after = flow.state();
    assert!(
        matches!(
            after,
            StateKind::Pending | StateKind::Authorized | StateKind::Failed
        ),
        "a refresh in {after:?}"
    );
    if after == StateKind::Authorized {
        assert!(answer.success, "refreshed on an error answer");
    }
    let mut rendered = Vec::new();
    let mut terminal_events = 0;
    while let Some(event) = flow.poll_event() {
        let text = canned::render_event(&event);
        canned::assert_no_canned_secret(&text, marker, "events");
        match &event {
            Event::Authorized(token) => {
                terminal_events += 1;
                assert_eq!(after, StateKind::Authorized);
                assert!(!token.access_token.secret().is_empty());
                assert_eq!(token.registration, original.registration);
                let refresh = token.refresh_token.as_ref().map(|r| r.secret().to_owned());
                let expected = answer
                    .refresh_token
                    .clone()
                    .or_else(|| Some(canned::OLD_REFRESH_TOKEN.to_owned()));
                assert_eq!(
                    refresh, expected,
                    "the refresh token was not kept or replaced"
                );
            }
            Event::Failed(error) => {
                terminal_events += 1;
                assert_eq!(after, StateKind::Failed);
                if answer.code() == Some(&ErrorCode::InvalidGrant)
                    && answer.step() == Some(NextStep::Stop)
                {
                    assert!(
                        error.needs_sign_in(),
                        "invalid_grant must ask for a sign-in"
                    );
                }
            }
            Event::Retrying { attempt, wait, .. } => {
                assert!((1..=3).contains(attempt), "attempt {attempt}");
                assert!(*wait <= Duration::from_secs(8));
            }
            other => panic!("a refresh emitted {other:?}"),
        }
        rendered.push(text);
    }
    assert_eq!(terminal_events, usize::from(after.is_terminal()));
    match flow.poll_timeout() {
        None => assert!(after.is_terminal()),
        Some(wake) => {
            let wake = wake.max(t);
            let next = flow
                .poll_transmit(wake)
                .expect("a retry is due at the wake-up time");
            canned::check_transmit_debug(&next);
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("poll-truncated-body", Pending, Pending),
            ("poll-pending-at-the-deadline", Pending, Expired),
            ("poll-legacy-token-without-refresh", Pending, Authorized),
            ("authorized-then-late-answer", Authorized, Authorized),
            ("refresh-ok-without-new-refresh-token", Pending, Authorized),
            ("refresh-invalid-grant-real", Pending, Failed),
            ("refresh-server-error-html", Pending, Failed),
            ("refresh-internal-server-error", Pending, Pending),
        ] {
            let data = std::fs::read(format!("{dir}{seed}.http")).expect("the seed exists");
            let mut bytes = Bytes::new(&data);
            let setup = bytes.byte() % SETUPS.len() as u8;
            let delay = canned::delay(bytes.byte());
            let head = input::split_head(bytes.rest());
            assert_eq!(
                states(setup, delay, build(&head, head.body)),
                (before, after),
                "{seed}"
            );
        }
    }

    /// The state before and after the answer, without the checks.
    fn states(
        setup: u8,
        delay: Duration,
        response: http::Response<Vec<u8>>,
    ) -> (StateKind, StateKind) {
        if setup < DEVICE_SETUPS {
            let mut d = Device::setup(setup);
            let before = d.flow.state();
            let t = canned::later(d.now, delay);
            if !before.is_terminal() {
                let tx = d.send();
                d.flow
                    .handle_response(t, tx.id, response)
                    .expect("in flight");
            }
            (before, d.flow.state())
        } else {
            let t0 = Instant::now();
            let mut flow = RefreshFlow::new(
                canned::endpoint(),
                canned::token(true, false),
                t0,
                canned::wall0(),
            );
            let mut t = t0;
            let failures = match setup - DEVICE_SETUPS {
                2 => 3,
                n => usize::from(n),
            };
            for _ in 0..failures {
                let tx = flow.poll_transmit(t).expect("due");
                flow.handle_response(t, tx.id, canned::response(503, ""))
                    .expect("in flight");
                t += Duration::from_secs(60);
            }
            let before = flow.state();
            let tx = flow.poll_transmit(t).expect("due");
            flow.handle_response(t, tx.id, response).expect("in flight");
            (before, flow.state())
        }
    }
}
