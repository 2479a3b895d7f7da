//! Property tests: the invariants of [`crate::oracle`] hold over arbitrary
//! sequences of (time step, answer), whatever the service says and whenever
//! it says it, for both flows.

use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;

use crate::oracle::{Checked, Inspect, pending_answer};
use crate::secret::{AccessToken, ClientSecret, RefreshToken};
use crate::{
    AuthCodeFlow, DeviceFlow, Endpoint, ErrorCode, FlowConfig, Operation, RefreshFlow,
    Registration, ServiceError, Token, TransportErrorKind,
};

/// 2026-01-01T00:00:00Z
fn wall0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn config() -> FlowConfig {
    FlowConfig::new(
        Endpoint::from_url("https://oidc.us-east-1.amazonaws.com").unwrap(),
        "https://d-1234567890.awsapps.com/start",
    )
    .unwrap()
}

fn registration(valid_for: Duration) -> Registration {
    Registration {
        client_id: "cid".into(),
        client_secret: ClientSecret::new("client-secret-value"),
        expires_at: wall0() + valid_for,
        scopes: vec!["sso:account:access".into()],
        grant_types: Vec::new(),
    }
}

fn status(code: u16, body: &str) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.as_bytes().to_vec());
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
    r
}

fn err(code: ErrorCode) -> http::Response<Vec<u8>> {
    crate::server::error_response(&ServiceError::new(code, "canned"))
}

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
    /// The driver loses the request: it is never answered.
    Drop,
    /// The answer comes this many milliseconds later, time having passed
    /// (and `handle_timeout` having been called) in between.
    Late(u64, Box<Answer>),
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
        4 => (prop::option::of(-2i64..12), prop::option::of(prop_oneof![-5i64..40, -5i64..3600]))
            .prop_map(|(interval, expires_in)| Answer::Success { interval, expires_in }),
        6 => codes().prop_map(Answer::Error),
        1 => codes().prop_map(Answer::BodyOnlyError),
        2 => (prop_oneof![Just(200u16), Just(400), Just(401), Just(429), Just(500), Just(502), Just(503), 100u16..600],
              prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(s, b)| Answer::Raw(s, b)),
        2 => transport_kinds().prop_map(Answer::Transport),
        1 => Just(Answer::Drop),
        1 => (prop_oneof![0u64..20_000, 100_000u64..200_000], prop_oneof![
                codes().prop_map(Answer::Error),
                Just(Answer::Success { interval: Some(1), expires_in: Some(600) }),
            ]).prop_map(|(ms, answer)| Answer::Late(ms, Box::new(answer))),
    ]
}

fn transport_kinds() -> impl Strategy<Value = TransportErrorKind> {
    prop_oneof![
        Just(TransportErrorKind::Timeout),
        Just(TransportErrorKind::Connect),
        Just(TransportErrorKind::ConnectionLost),
        Just(TransportErrorKind::BodyTooLarge),
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
                _ => vec![r#""accessToken":"access-token-value""#.to_owned()],
            };
            if let Some(i) = interval {
                members.push(format!(r#""interval":{i}"#));
            }
            if let Some(e) = expires_in {
                members.push(format!(r#""expiresIn":{e}"#));
            }
            status(200, &format!("{{{}}}", members.join(",")))
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
        Answer::Drop => return Err(TransportErrorKind::Other),
        Answer::Late(_, inner) => return render(inner, op),
    })
}

/// Plays `steps` against a checked flow: at each step time passes, then the
/// request due (if any) gets the step's answer.
fn play<F: Inspect>(c: &mut Checked<F>, t0: Instant, steps: &[(u64, Answer)]) {
    for (delay_ms, answer) in steps {
        play_one(c, t0, *delay_ms, answer);
    }
}

/// One step of [`play`].
fn play_one<F: Inspect>(c: &mut Checked<F>, t0: Instant, delay_ms: u64, answer: &Answer) {
    {
        let now = c.now() + Duration::from_millis(delay_ms);
        c.handle_timeout(now);
        let Some(tx) = c.poll_transmit(now) else {
            c.drain();
            return;
        };
        let at = match answer {
            Answer::Drop => {
                // Lost: the flow must give it up by itself.
                c.drain();
                return;
            }
            Answer::Late(ms, _) => {
                // Time passes with the request in flight, as a driver that
                // sleeps on one task and waits for the answer on another sees it.
                let later = now + Duration::from_millis(*ms);
                c.handle_timeout(later);
                later
            }
            _ => now,
        };
        let wall = wall0() + (at - t0);
        let result = match render(answer, tx.operation) {
            Ok(response) => c.handle_response(at, wall, tx.id, response),
            Err(kind) => c.handle_transport_error(at, tx.id, kind),
        };
        match result {
            Ok(()) => {}
            // Later than the flow waits: it gave the request up (the oracle
            // checks that it really did).
            Err(crate::ApiMisuse::AnswerTooLate { .. }) => {}
            Err(other) => panic!("the answer to the request in flight was refused: {other}"),
        }
        c.drain();
    }
}

/// What the browser (or someone else) sends the loopback listener.
#[derive(Debug, Clone)]
enum Callback {
    /// The real callback, with a code.
    Code,
    /// The right state, `error=…`.
    Error(&'static str),
    /// The right state, nothing else.
    NoCode,
    /// A code with another state, or none.
    WrongState,
    MissingState,
    /// Another path.
    Favicon,
    /// Any target at all.
    Raw(String),
}

#[derive(Debug, Clone)]
enum AuthStep {
    Answer(Answer),
    Callback(Callback),
}

fn callbacks() -> impl Strategy<Value = Callback> {
    prop_oneof![
        3 => Just(Callback::Code),
        1 => prop_oneof![Just("access_denied"), Just("invalid_scope"), Just("unauthorized_client"), Just("")].prop_map(Callback::Error),
        1 => Just(Callback::NoCode),
        2 => Just(Callback::WrongState),
        1 => Just(Callback::MissingState),
        1 => Just(Callback::Favicon),
        1 => "/oauth/callback\\?[a-z=&%+0-9]{0,40}".prop_map(Callback::Raw),
    ]
}

fn auth_steps() -> impl Strategy<Value = (u64, AuthStep)> {
    (
        prop_oneof![0u64..20_000, 100_000u64..700_000],
        prop_oneof![
            3 => answers().prop_map(AuthStep::Answer),
            2 => callbacks().prop_map(AuthStep::Callback),
        ],
    )
}

/// The randomness every authorization-code flow of these tests gets.
const RANDOM: [u8; crate::pkce::RANDOM_BYTES] = [9; crate::pkce::RANDOM_BYTES];

fn target(callback: &Callback) -> String {
    let state = crate::pkce::PkceSecrets::from_random(RANDOM)
        .state()
        .to_owned();
    match callback {
        Callback::Code => format!("/oauth/callback?code=authorization-code-value&state={state}"),
        Callback::Error(e) => format!("/oauth/callback?error={e}&state={state}"),
        Callback::NoCode => format!("/oauth/callback?state={state}"),
        Callback::WrongState => "/oauth/callback?code=forged&state=0000".to_owned(),
        Callback::MissingState => "/oauth/callback?code=forged".to_owned(),
        Callback::Favicon => "/favicon.ico".to_owned(),
        Callback::Raw(raw) => raw.clone(),
    }
}

fn auth_code_flow(cached_registration: Option<bool>, now: Instant) -> AuthCodeFlow {
    let secrets = crate::pkce::PkceSecrets::from_random(RANDOM);
    match cached_registration {
        Some(for_auth_code) => {
            let mut cached = registration(Duration::from_secs(86_400));
            if for_auth_code {
                cached.grant_types = vec!["authorization_code".into(), "refresh_token".into()];
            }
            AuthCodeFlow::with_registration(config(), cached, 49152, secrets, now, wall0())
        }
        None => AuthCodeFlow::new(config(), 49152, secrets, now),
    }
}

/// After the end, nothing moves: no request, no event, the same state.
fn absorbs<F: Inspect>(c: &mut Checked<F>, t0: Instant, steps: &[(u64, Answer)]) {
    let end = c.state();
    play(c, t0, steps);
    c.cancel();
    assert_eq!(c.state(), end);
    assert!(c.poll_event().is_none());
}

fn device_flow(cached_registration: bool, now: Instant) -> DeviceFlow {
    if cached_registration {
        DeviceFlow::with_registration(
            config(),
            registration(Duration::from_secs(86_400)),
            now,
            wall0(),
        )
    } else {
        DeviceFlow::new(config(), now)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn device_flow_invariants(
        cached in any::<bool>(),
        steps in prop::collection::vec((0u64..20_000, answers()), 0..120),
    ) {
        let t0 = Instant::now();
        let mut c = Checked::new(device_flow(cached, t0), t0);
        play(&mut c, t0, &steps);
        // Then the person never approves: every flow ends, by the deadline at the latest.
        c.run_out(wall0(), |_| Ok(pending_answer()));
        absorbs(&mut c, t0, &steps);
    }

    #[test]
    fn auth_code_flow_invariants(
        cached in prop::option::of(any::<bool>()),
        steps in prop::collection::vec(auth_steps(), 0..60),
    ) {
        let t0 = Instant::now();
        let mut c = Checked::new(auth_code_flow(cached, t0), t0);
        for (delay_ms, step) in &steps {
            match step {
                AuthStep::Answer(answer) => play_one(&mut c, t0, *delay_ms, answer),
                AuthStep::Callback(callback) => {
                    let now = c.now() + Duration::from_millis(*delay_ms);
                    c.handle_callback(now, &target(callback));
                    c.drain();
                }
            }
        }
        // Then the browser never comes back, or the service keeps failing:
        // every flow ends, by the callback deadline at the latest.
        c.run_out(wall0(), |_| Ok(status(503, "")));
        let end = c.state();
        c.handle_callback(c.now(), &target(&Callback::Code));
        c.cancel();
        assert_eq!(c.state(), end);
        assert!(c.poll_event().is_none());
    }

    #[test]
    fn refresh_flow_invariants(steps in prop::collection::vec((0u64..20_000, answers()), 1..40)) {
        let t0 = Instant::now();
        let token = Token {
            access_token: AccessToken::new("a"),
            refresh_token: Some(RefreshToken::new("r")),
            expires_at: wall0(),
            registration: registration(Duration::from_secs(86_400)),
        };
        let flow = RefreshFlow::new(config().endpoint().clone(), token, t0, wall0());
        let mut c = Checked::new(flow, t0);
        play(&mut c, t0, &steps);
        c.run_out(wall0(), |_| Ok(status(503, "")));
        absorbs(&mut c, t0, &steps);
    }

    #[test]
    fn dropped_requests_never_wedge_a_flow(
        cached in any::<bool>(),
        drops in prop::collection::vec(any::<bool>(), 1..12),
    ) {
        // A driver that loses requests (sends them, never answers) and only
        // sleeps until the wake-up time: the flow gives them up and goes on,
        // and ends by its deadline at the latest.
        let t0 = Instant::now();
        let mut c = Checked::new(device_flow(cached, t0), t0);
        let mut drops = drops.into_iter();
        for _ in 0..crate::oracle::MAX_WAKE_UPS {
            c.drain();
            if c.outcome().is_some() {
                break;
            }
            let wake = c.poll_timeout().expect("a live flow has a wake-up");
            c.handle_timeout(wake);
            let Some(tx) = c.poll_transmit(wake) else { continue };
            if drops.next().unwrap_or(false) {
                continue;
            }
            let body = match tx.operation {
                Operation::RegisterClient => Some(r#"{"clientId":"cid","clientSecret":"s","clientSecretExpiresAt":4102444800}"#),
                Operation::StartDeviceAuthorization => Some(r#"{"deviceCode":"d","userCode":"BCDF-GHJK","verificationUri":"https://x/","expiresIn":600,"interval":1}"#),
                _ => None,
            };
            let response = body.map_or_else(pending_answer, |b| status(200, b));
            c.handle_response(wake, wall0() + (wake - t0), tx.id, response).unwrap();
        }
        prop_assert!(c.outcome().is_some(), "still {:?}", c.state());
    }
}

#[test]
fn a_dropped_transmit_is_given_up_not_waited_for_forever() {
    let t0 = Instant::now();
    let mut c = Checked::new(device_flow(true, t0), t0);
    let lost = c.poll_transmit(t0).unwrap();
    assert_eq!(lost.operation, Operation::StartDeviceAuthorization);
    drop(lost);
    // The driver only sleeps and wakes: the flow gives the request up and sends anew.
    let wake = c.poll_timeout().unwrap();
    c.handle_timeout(wake);
    c.drain();
    let wake = c.poll_timeout().unwrap();
    assert!(c.poll_transmit(wake).is_some());
}

#[test]
fn huge_and_hostile_numbers_do_not_overflow() {
    for (interval, expires_in) in [
        (i64::MAX, i64::MAX),
        (i64::MIN, i64::MIN),
        (0, 0),
        (1, i64::MAX),
    ] {
        let t0 = Instant::now();
        let mut c = Checked::new(device_flow(true, t0), t0);
        play(
            &mut c,
            t0,
            &[(
                0,
                Answer::Success {
                    interval: Some(interval),
                    expires_in: Some(expires_in),
                },
            )],
        );
        let answer = Answer::Success {
            interval: None,
            expires_in: Some(i64::MAX),
        };
        c.run_out(wall0(), |tx| render(&answer, tx.operation));
    }
}
