//! Property tests: the device flow's invariants hold over arbitrary sequences of
//! (time step, answer), whatever the service says and whenever it says it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use proptest::prelude::*;
use ssoflow_core::wire::Operation;
use ssoflow_core::{
    DeviceFlow, ErrorCode, Event, Flow, RefreshFlow, StateKind, TransportErrorKind,
};

/// One answer the test service can give to whatever request is in flight.
#[derive(Debug, Clone)]
enum Answer {
    /// The right success body for the operation in flight, with these numbers.
    Success {
        interval: Option<i64>,
        expires_in: Option<i64>,
    },
    /// A modeled error with the `x-amzn-ErrorType` header.
    Error(ErrorCode),
    /// An error known only from the body's `error` member (no header).
    BodyOnlyError(ErrorCode),
    /// Any status with any bytes.
    Raw(u16, Vec<u8>),
    /// No HTTP answer at all.
    Transport(TransportErrorKind),
}

fn codes() -> impl Strategy<Value = ErrorCode> {
    prop_oneof![
        4 => Just(ErrorCode::AuthorizationPending),
        3 => Just(ErrorCode::SlowDown),
        1 => Just(ErrorCode::ExpiredToken),
        1 => Just(ErrorCode::AccessDenied),
        1 => Just(ErrorCode::InvalidClient),
        1 => Just(ErrorCode::UnauthorizedClient),
        1 => Just(ErrorCode::InvalidGrant),
        1 => Just(ErrorCode::InternalServer),
        1 => Just(ErrorCode::InvalidRequest),
        1 => "[A-Za-z]{1,12}".prop_map(ErrorCode::Other),
    ]
}

fn answers() -> impl Strategy<Value = Answer> {
    prop_oneof![
        4 => (prop::option::of(-2i64..12), prop::option::of(-5i64..3600))
            .prop_map(|(interval, expires_in)| Answer::Success { interval, expires_in }),
        6 => codes().prop_map(Answer::Error),
        1 => codes().prop_map(Answer::BodyOnlyError),
        2 => (prop_oneof![Just(200u16), Just(400), Just(401), Just(429), Just(500), Just(502), Just(503), 100u16..600],
              prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(s, b)| Answer::Raw(s, b)),
        2 => prop_oneof![Just(TransportErrorKind::Timeout), Just(TransportErrorKind::Connect), Just(TransportErrorKind::ConnectionLost)]
            .prop_map(Answer::Transport),
    ]
}

fn render(answer: &Answer, op: Operation) -> Result<http::Response<Vec<u8>>, TransportErrorKind> {
    Ok(match answer {
        Answer::Success {
            interval,
            expires_in,
        } => {
            let mut members = match op {
                Operation::RegisterClient => vec![
                    r#""clientId":"cid""#.to_owned(),
                    r#""clientSecret":"client-secret-value""#.to_owned(),
                    r#""clientSecretExpiresAt":1775001600"#.to_owned(),
                ],
                Operation::StartDeviceAuthorization => vec![
                    r#""deviceCode":"device-code-value""#.to_owned(),
                    r#""userCode":"BCDF-GHJK""#.to_owned(),
                    r#""verificationUri":"https://device.sso.us-east-1.amazonaws.com/""#.to_owned(),
                ],
                Operation::CreateToken => vec![r#""accessToken":"access-token-value""#.to_owned()],
            };
            if let Some(i) = interval {
                members.push(format!(r#""interval":{i}"#));
            }
            if let Some(e) = expires_in {
                members.push(format!(r#""expiresIn":{e}"#));
            }
            ok(&format!("{{{}}}", members.join(",")))
        }
        Answer::Error(code) => err(code.clone()),
        Answer::BodyOnlyError(code) => {
            let mut r = err(code.clone());
            r.headers_mut().remove("x-amzn-errortype");
            r
        }
        Answer::Raw(s, body) => {
            let mut r = http::Response::new(body.clone());
            *r.status_mut() = http::StatusCode::from_u16(*s).unwrap();
            r
        }
        Answer::Transport(kind) => return Err(*kind),
    })
}

/// Runs `steps` against a flow and checks every invariant along the way.
struct Checker {
    flow: DeviceFlow,
    now: Instant,
    last_poll: Option<Instant>,
    base_interval: Option<Duration>,
    slow_downs: u32,
    terminal_seen: Option<StateKind>,
    requests: usize,
}

impl Checker {
    fn new(cached_registration: bool) -> Checker {
        let now = Instant::now();
        let flow = if cached_registration {
            DeviceFlow::with_registration(
                config(),
                registration(Duration::from_secs(86_400)),
                now,
                wall0(),
            )
        } else {
            DeviceFlow::new(config(), now, wall0())
        };
        Checker {
            flow,
            now,
            last_poll: None,
            base_interval: None,
            slow_downs: 0,
            terminal_seen: None,
            requests: 0,
        }
    }

    fn step(&mut self, delay: Duration, answer: &Answer) {
        self.now += delay;
        self.flow.handle_timeout(self.now);
        if let Some(tx) = self.flow.poll_transmit(self.now) {
            self.requests += 1;
            assert!(
                self.terminal_seen.is_none(),
                "request after a terminal state"
            );
            if tx.operation == Operation::CreateToken {
                let interval = self.flow.interval().unwrap();
                if let Some(last) = self.last_poll {
                    assert!(
                        self.now - last >= interval,
                        "polled {:?} after the previous poll; interval {interval:?}",
                        self.now - last
                    );
                }
                assert!(
                    self.now < self.flow.deadline().unwrap(),
                    "polled at or after the deadline"
                );
                self.last_poll = Some(self.now);
            }
            assert!(
                self.flow.poll_transmit(self.now).is_none(),
                "two requests in flight"
            );
            let code = match render(answer, tx.operation) {
                Ok(response) => {
                    let code = ErrorCode::from_shape(
                        response
                            .headers()
                            .get("x-amzn-errortype")
                            .map_or("", |v| v.to_str().unwrap().split(':').next().unwrap()),
                    );
                    self.flow
                        .handle_response(self.now, tx.id, response)
                        .unwrap();
                    Some(code)
                }
                Err(kind) => {
                    self.flow
                        .handle_transport_error(self.now, tx.id, kind)
                        .unwrap();
                    None
                }
            };
            if tx.operation == Operation::CreateToken
                && code == Some(ErrorCode::SlowDown)
                && self.flow.state() == StateKind::Pending
            {
                self.slow_downs += 1;
            }
        } else if !self.flow.state().is_terminal() {
            // Nothing was due: the next wake-up lies in the future.
            let t = self
                .flow
                .poll_timeout()
                .expect("a live flow always has a wake-up time");
            assert!(
                t > self.now,
                "poll_timeout {t:?} is not after now {:?}",
                self.now
            );
        }
        self.drain();
        if let Some(base) = self.base_interval
            && let Some(interval) = self.flow.interval()
        {
            assert!(
                interval >= base + Duration::from_secs(5) * self.slow_downs,
                "{} slow_downs but interval {interval:?}",
                self.slow_downs
            );
        }
    }

    fn drain(&mut self) {
        while let Some(event) = self.flow.poll_event() {
            assert!(
                self.terminal_seen.is_none(),
                "event {event:?} after the terminal state"
            );
            if let Event::UserCode(_) = event {
                // A new device code (first, or after registering again) starts a new polling series.
                self.base_interval = self.flow.interval();
                self.slow_downs = 0;
                self.last_poll = None;
            }
        }
        let state = self.flow.state();
        match self.terminal_seen {
            Some(seen) => assert_eq!(state, seen, "a terminal state changed"),
            None if state.is_terminal() => self.terminal_seen = Some(state),
            None => {}
        }
        if state.is_terminal() {
            assert!(self.flow.poll_timeout().is_none());
        }
    }

    /// After the arbitrary prefix, keep answering `authorization_pending` at each
    /// wake-up: every flow must end within a bounded number of steps.
    fn finish(&mut self) {
        for _ in 0..5_000 {
            if self.flow.state().is_terminal() {
                return;
            }
            let wake = self.flow.poll_timeout().unwrap();
            let delay = wake.saturating_duration_since(self.now);
            self.step(delay, &Answer::Error(ErrorCode::AuthorizationPending));
        }
        panic!(
            "the flow did not end within 5000 steps: {:?}",
            self.flow.state()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn device_flow_invariants(
        cached in any::<bool>(),
        steps in prop::collection::vec((0u64..20_000, answers()), 0..120),
    ) {
        let mut c = Checker::new(cached);
        for (delay_ms, answer) in &steps {
            c.step(Duration::from_millis(*delay_ms), answer);
        }
        c.finish();
        // Terminal states absorb everything afterwards.
        let end = c.flow.state();
        for (delay_ms, answer) in &steps {
            c.step(Duration::from_millis(*delay_ms), answer);
            if let Some(tx) = c.flow.poll_transmit(c.now) {
                panic!("terminal flow sent {tx:?}");
            }
        }
        c.flow.cancel();
        prop_assert_eq!(c.flow.state(), end);
        prop_assert!(c.flow.poll_event().is_none());
    }

    #[test]
    fn refresh_flow_always_ends(steps in prop::collection::vec((0u64..20_000, answers()), 1..40)) {
        let t0 = Instant::now();
        let token = ssoflow_core::Token {
            access_token: ssoflow_core::AccessToken::new("a"),
            refresh_token: Some(ssoflow_core::RefreshToken::new("r")),
            expires_at: wall0(),
            registration: registration(Duration::from_secs(86_400)),
        };
        let mut f = RefreshFlow::new(config().endpoint().clone(), token, t0, wall0());
        let mut now = t0;
        let mut sent = 0;
        for (delay_ms, answer) in steps.iter().cycle().take(200) {
            now += Duration::from_millis(*delay_ms);
            f.handle_timeout(now);
            if let Some(tx) = f.poll_transmit(now) {
                sent += 1;
                match render(answer, Operation::CreateToken) {
                    Ok(r) => f.handle_response(now, tx.id, r).unwrap(),
                    Err(kind) => f.handle_transport_error(now, tx.id, kind).unwrap(),
                }
            }
            while f.poll_event().is_some() {}
            if f.state().is_terminal() {
                break;
            }
            now = now.max(f.poll_timeout().unwrap());
        }
        prop_assert!(f.state().is_terminal());
        prop_assert!(sent <= 4, "a refresh sends at most 4 requests, sent {}", sent);
    }
}

#[test]
fn huge_and_hostile_numbers_do_not_overflow() {
    for (interval, expires_in) in [
        (i64::MAX, i64::MAX),
        (i64::MIN, i64::MIN),
        (0, 0),
        (1, i64::MAX),
    ] {
        let mut c = Checker::new(true);
        c.step(
            Duration::ZERO,
            &Answer::Success {
                interval: Some(interval),
                expires_in: Some(expires_in),
            },
        );
        for _ in 0..20 {
            if c.flow.state().is_terminal() {
                break;
            }
            let wake = c.flow.poll_timeout().unwrap();
            c.step(
                wake.saturating_duration_since(c.now),
                &Answer::Success {
                    interval: None,
                    expires_in: Some(i64::MAX),
                },
            );
        }
    }
}
