//! One scenario table, two drivers: every scenario runs once with the
//! blocking driver and once with the async driver, each against a fresh
//! simulation set up the same way, and both must end the same way after the
//! same requests at the same virtual times.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ssoflow_async::AsyncDriver;
use ssoflow_blocking::Driver;
use ssoflow_core::drive::{DriveError, SignIn};
use ssoflow_core::pkce::{PkceSecrets, RANDOM_BYTES};
use ssoflow_core::wire::GRANT_DEVICE_CODE;
use ssoflow_core::{
    AuthCodeFlow, CallbackReply, DeviceFlow, ErrorCode, Event, FlowConfig, FlowError, Operation,
    RefreshFlow, Token,
};
use ssoflow_test_transport::{AutoApprove, Fault, ServiceConfig, Simulation};
use support::AsyncSimExt;
use support::blocking::{Plan, SimBrowser, SimExt};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// What a scenario asks of the driver.
#[derive(Clone, Copy)]
enum Run {
    /// A device-flow sign-in, with an optional time limit.
    SignIn(Option<Duration>),
    /// A refresh of a token obtained beforehand (by the blocking driver, the
    /// same way in both runs).
    Refresh,
}

struct Scenario {
    name: &'static str,
    config: ServiceConfig,
    /// Faults, hooks: applied to the fresh simulation before the run.
    setup: fn(&Simulation),
    run: Run,
}

/// How a run ended, without the random parts (tokens, ids).
#[derive(Debug, PartialEq)]
enum Ending {
    SignedIn {
        lifetime: Duration,
        refreshable: bool,
        registered: bool,
    },
    Refreshed {
        lifetime: Duration,
        new_refresh_token: bool,
    },
    Failed(DriveError),
}

/// One request as the service saw it, timed from the run's start.
type Trace = Vec<(Duration, Option<Operation>, Option<String>, Option<u16>)>;

fn approve_on_poll(sim: &Simulation, k: u32) {
    let polls = AtomicU32::new(0);
    sim.on_request(move |service, now, exchange| {
        let device_poll = exchange.operation == Some(Operation::CreateToken)
            && exchange.grant_type.as_deref() == Some(GRANT_DEVICE_CODE);
        if device_poll && polls.fetch_add(1, Ordering::SeqCst) + 1 == k {
            for pending in service.pending(now) {
                service.approve(&pending.user_code, now).unwrap();
            }
        }
    });
}

fn deny_on_poll(sim: &Simulation, k: u32) {
    let polls = AtomicU32::new(0);
    sim.on_request(move |service, now, exchange| {
        let device_poll = exchange.grant_type.as_deref() == Some(GRANT_DEVICE_CODE);
        if device_poll && polls.fetch_add(1, Ordering::SeqCst) + 1 == k {
            for pending in service.pending(now) {
                service.deny(&pending.user_code, now).unwrap();
            }
        }
    });
}

fn scenarios() -> Vec<Scenario> {
    let default = ServiceConfig::default;
    vec![
        Scenario {
            name: "approved on the third poll",
            config: default(),
            setup: |sim| approve_on_poll(sim, 3),
            run: Run::SignIn(None),
        },
        Scenario {
            name: "denied on the second poll",
            config: default(),
            setup: |sim| deny_on_poll(sim, 2),
            run: Run::SignIn(None),
        },
        Scenario {
            name: "nobody approves: expired",
            config: default(),
            setup: |_| {},
            run: Run::SignIn(None),
        },
        Scenario {
            name: "time limit",
            config: default(),
            setup: |_| {},
            run: Run::SignIn(Some(Duration::from_secs(30))),
        },
        Scenario {
            name: "slow_down three times, then approved",
            config: default(),
            setup: |sim| {
                sim.on_request({
                    let polls = AtomicU32::new(0);
                    move |service, _, exchange| {
                        if exchange.grant_type.as_deref() == Some(GRANT_DEVICE_CODE)
                            && polls.fetch_add(1, Ordering::SeqCst) < 3
                        {
                            service.inject_faults(Fault::Error(ErrorCode::SlowDown), 1);
                        }
                    }
                });
                approve_on_poll(sim, 5);
            },
            run: Run::SignIn(None),
        },
        Scenario {
            name: "a burst of 503s at the start",
            config: ServiceConfig {
                auto_approve: Some(AutoApprove::AfterPolls(2)),
                ..default()
            },
            setup: |sim| sim.with_service(|s, _| s.inject_faults(Fault::Status(503), 3)),
            run: Run::SignIn(None),
        },
        Scenario {
            name: "dropped connections and a malformed body",
            config: ServiceConfig {
                auto_approve: Some(AutoApprove::AfterPolls(1)),
                ..default()
            },
            setup: |sim| {
                sim.with_service(|s, _| {
                    s.inject_faults(Fault::DropConnection, 2);
                    s.inject_faults(Fault::MalformedBody, 1);
                })
            },
            run: Run::SignIn(None),
        },
        Scenario {
            name: "a delay past the read timeout",
            config: ServiceConfig {
                auto_approve: Some(AutoApprove::AfterPolls(1)),
                ..default()
            },
            setup: |sim| {
                sim.set_read_timeout(Duration::from_secs(5));
                sim.with_service(|s, _| s.inject_faults(Fault::Delay(Duration::from_secs(10)), 1));
            },
            run: Run::SignIn(None),
        },
        Scenario {
            name: "registration expires while polling: registered again",
            config: default(),
            setup: |sim| {
                let polls = AtomicU32::new(0);
                sim.on_request(move |service, _, exchange| {
                    if exchange.grant_type.as_deref() == Some(GRANT_DEVICE_CODE)
                        && polls.fetch_add(1, Ordering::SeqCst) == 1
                    {
                        for id in service.registrations() {
                            service.expire_registration(&id);
                        }
                    }
                });
                approve_on_poll(sim, 4);
            },
            run: Run::SignIn(None),
        },
        Scenario {
            name: "503s until the retries run out",
            config: default(),
            setup: |sim| sim.with_service(|s, _| s.inject_faults(Fault::Status(503), 5)),
            run: Run::SignIn(None),
        },
        Scenario {
            name: "dropped connections until the retries run out",
            config: default(),
            setup: |sim| sim.with_service(|s, _| s.inject_faults(Fault::DropConnection, 5)),
            run: Run::SignIn(None),
        },
        Scenario {
            name: "refresh with rotation",
            config: default(),
            setup: |_| {},
            run: Run::Refresh,
        },
        Scenario {
            name: "refresh without rotation",
            config: ServiceConfig {
                rotate_refresh_tokens: false,
                ..default()
            },
            setup: |_| {},
            run: Run::Refresh,
        },
        Scenario {
            name: "refresh through two 500s",
            config: default(),
            setup: |sim| sim.with_service(|s, _| s.inject_faults(Fault::Status(500), 2)),
            run: Run::Refresh,
        },
        Scenario {
            name: "refresh with a revoked refresh token",
            config: default(),
            setup: |sim| {
                sim.with_service(|s, _| {
                    // Revoke every refresh token issued so far (the one to refresh).
                    s.inject_faults(Fault::Error(ErrorCode::InvalidGrant), 1);
                })
            },
            run: Run::Refresh,
        },
    ]
}

/// A token to refresh, obtained the same way for both runs.
fn signed_in(sim: &Simulation) -> Token {
    let flow = DeviceFlow::new(
        FlowConfig::new(sim.endpoint(), START_URL).unwrap(),
        sim.now(),
    );
    approve_on_poll(sim, 1);
    Driver::new(sim.transport(), sim.clock())
        .sign_in(flow, |_| {})
        .unwrap()
        .token
}

fn prepare(scenario: &Scenario) -> (Simulation, Option<Token>, Instant, usize) {
    let sim = Simulation::new(scenario.config.clone());
    let token = matches!(scenario.run, Run::Refresh).then(|| signed_in(&sim));
    (scenario.setup)(&sim);
    let start = sim.now();
    let skip = sim.log().len();
    (sim, token, start, skip)
}

fn trace(sim: &Simulation, start: Instant, skip: usize) -> Trace {
    sim.log()
        .into_iter()
        .skip(skip)
        .map(|e| (e.at - start, e.operation, e.grant_type, e.status))
        .collect()
}

fn flow(sim: &Simulation) -> DeviceFlow {
    DeviceFlow::new(
        FlowConfig::new(sim.endpoint(), START_URL).unwrap(),
        sim.now(),
    )
}

fn ending_of_sign_in(sim: &Simulation, result: Result<SignIn, DriveError>) -> Ending {
    match result {
        Ok(signed_in) => Ending::SignedIn {
            lifetime: signed_in.token.remaining_at(sim.wall_now()),
            refreshable: signed_in.token.refresh_token.is_some(),
            registered: signed_in.new_registration.is_some(),
        },
        Err(error) => Ending::Failed(error),
    }
}

fn ending_of_refresh(sim: &Simulation, old: &Token, result: Result<Token, DriveError>) -> Ending {
    match result {
        Ok(token) => Ending::Refreshed {
            lifetime: token.remaining_at(sim.wall_now()),
            new_refresh_token: token.refresh_token != old.refresh_token,
        },
        Err(error) => Ending::Failed(error),
    }
}

fn blocking(scenario: &Scenario) -> (Ending, Trace) {
    let (sim, token, start, skip) = prepare(scenario);
    let mut driver = Driver::new(sim.transport(), sim.clock());
    let ending = match (scenario.run, token) {
        (Run::SignIn(limit), _) => {
            if let Some(limit) = limit {
                driver = driver.with_time_limit(limit);
            }
            ending_of_sign_in(&sim, driver.sign_in(flow(&sim), |_| {}))
        }
        (Run::Refresh, Some(old)) => {
            let refresh = RefreshFlow::new(sim.endpoint(), old.clone(), sim.now(), sim.wall_now());
            ending_of_refresh(&sim, &old, driver.refresh(refresh))
        }
        (Run::Refresh, None) => unreachable!("a refresh scenario signs in first"),
    };
    (ending, trace(&sim, start, skip))
}

fn asynchronous(scenario: &Scenario) -> (Ending, Trace) {
    let (sim, token, start, skip) = prepare(scenario);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut driver = AsyncDriver::new(sim.async_transport(), sim.async_clock());
    let ending = runtime.block_on(async {
        match (scenario.run, token) {
            (Run::SignIn(limit), _) => {
                if let Some(limit) = limit {
                    driver = driver.with_time_limit(limit);
                }
                ending_of_sign_in(&sim, driver.sign_in(flow(&sim), |_| {}).await)
            }
            (Run::Refresh, Some(old)) => {
                let refresh =
                    RefreshFlow::new(sim.endpoint(), old.clone(), sim.now(), sim.wall_now());
                ending_of_refresh(&sim, &old, driver.refresh(refresh).await)
            }
            (Run::Refresh, None) => unreachable!("a refresh scenario signs in first"),
        }
    });
    (ending, trace(&sim, start, skip))
}

#[test]
fn both_drivers_end_alike_after_the_same_requests() {
    let mut endings = Vec::new();
    for scenario in scenarios() {
        let (blocking_ending, blocking_trace) = blocking(&scenario);
        let (async_ending, async_trace) = asynchronous(&scenario);
        assert_eq!(
            blocking_ending, async_ending,
            "{}: endings differ",
            scenario.name
        );
        assert_eq!(
            blocking_trace, async_trace,
            "{}: requests differ",
            scenario.name
        );
        assert!(
            !blocking_trace.is_empty(),
            "{}: nothing was sent",
            scenario.name
        );
        endings.push((scenario.name, blocking_ending));
    }
    // The table covers every way a run can end.
    let has = |pattern: fn(&Ending) -> bool| endings.iter().any(|(_, ending)| pattern(ending));
    assert!(has(|e| matches!(e, Ending::SignedIn { .. })));
    assert!(has(|e| matches!(
        e,
        Ending::Refreshed {
            new_refresh_token: true,
            ..
        }
    )));
    assert!(has(|e| matches!(
        e,
        Ending::Refreshed {
            new_refresh_token: false,
            ..
        }
    )));
    assert!(has(|e| matches!(e, Ending::Failed(DriveError::Denied))));
    assert!(has(|e| matches!(e, Ending::Failed(DriveError::Expired))));
    assert!(has(|e| matches!(
        e,
        Ending::Failed(DriveError::TimedOut(_))
    )));
    assert!(has(|e| matches!(
        e,
        Ending::Failed(DriveError::Transport { .. })
    )));
    assert!(has(|e| matches!(e, Ending::Failed(DriveError::Flow(_)))));
}

/// One authorization-code scenario: the service's settings, what the
/// browser does, and how the sign-in must end.
struct BrowserScenario {
    name: &'static str,
    config: ServiceConfig,
    plan: Plan,
    /// The listener's wait, shortened where the scenario runs it out.
    wait: Duration,
    expect: fn(&Result<SignIn, DriveError>) -> bool,
}

fn browser_scenarios() -> Vec<BrowserScenario> {
    let short_codes = ServiceConfig {
        authorization_code_ttl: Duration::from_secs(60),
        ..ServiceConfig::default()
    };
    let service_refused = |result: &Result<SignIn, DriveError>| matches!(result, Err(DriveError::Flow(FlowError::Service { error, .. })) if error.code == ErrorCode::InvalidGrant);
    vec![
        BrowserScenario {
            name: "approve",
            config: ServiceConfig::default(),
            plan: Plan::Approve(Duration::from_secs(20)),
            wait: Duration::from_secs(600),
            expect: |r| {
                r.as_ref()
                    .is_ok_and(|s| s.token.refresh_token.is_some() && s.new_registration.is_some())
            },
        },
        BrowserScenario {
            name: "deny",
            config: ServiceConfig::default(),
            plan: Plan::Deny,
            wait: Duration::from_secs(600),
            expect: |r| matches!(r, Err(DriveError::Denied)),
        },
        BrowserScenario {
            name: "a forged callback, then the real one",
            config: ServiceConfig::default(),
            plan: Plan::ForgedThenApprove,
            wait: Duration::from_secs(600),
            expect: |r| r.is_ok(),
        },
        BrowserScenario {
            name: "wrong state only: refused, then the listener's deadline",
            config: ServiceConfig::default(),
            plan: Plan::ForgedOnly,
            wait: Duration::from_secs(120),
            expect: |r| {
                matches!(
                    r,
                    Err(DriveError::Flow(FlowError::NoCallback { refused: 1, .. }))
                )
            },
        },
        BrowserScenario {
            name: "missing code",
            config: ServiceConfig::default(),
            plan: Plan::MissingCode,
            wait: Duration::from_secs(600),
            expect: |r| matches!(r, Err(DriveError::Flow(FlowError::MissingCode))),
        },
        BrowserScenario {
            name: "an error parameter",
            config: ServiceConfig::default(),
            plan: Plan::ErrorParam,
            wait: Duration::from_secs(600),
            expect: |r| matches!(r, Err(DriveError::Flow(FlowError::AuthorizationError { error, .. })) if error == "server_error"),
        },
        BrowserScenario {
            name: "expired code",
            config: short_codes,
            // The code lives 60 s; the browser comes back after 90.
            plan: Plan::Approve(Duration::from_secs(90)),
            wait: Duration::from_secs(600),
            expect: service_refused,
        },
        BrowserScenario {
            name: "reused code: the first exchange's answer is lost",
            config: ServiceConfig::default(),
            plan: Plan::ApproveThen(Fault::Delay(Duration::from_secs(45))),
            wait: Duration::from_secs(600),
            expect: |r| {
                matches!(
                    r,
                    Err(DriveError::Flow(FlowError::AnswerLost {
                        grant: "authorization code",
                        ..
                    }))
                )
            },
        },
        BrowserScenario {
            name: "wrong verifier: an injected code",
            config: ServiceConfig::default(),
            plan: Plan::InjectedCode,
            wait: Duration::from_secs(600),
            expect: service_refused,
        },
        BrowserScenario {
            name: "unreadable 2xx to the exchange",
            config: ServiceConfig::default(),
            plan: Plan::ApproveThen(Fault::MalformedBody),
            wait: Duration::from_secs(600),
            expect: |r| {
                matches!(
                    r,
                    Err(DriveError::Flow(FlowError::GrantSpent {
                        grant: "authorization code",
                        ..
                    }))
                )
            },
        },
        BrowserScenario {
            name: "the browser never comes back",
            config: ServiceConfig::default(),
            plan: Plan::Never,
            wait: Duration::from_secs(600),
            expect: |r| {
                matches!(
                    r,
                    Err(DriveError::Flow(FlowError::NoCallback { refused: 0, .. }))
                )
            },
        },
    ]
}

fn auth_code_flow(sim: &Simulation, browser: &SimBrowser, wait: Duration) -> AuthCodeFlow {
    let config = FlowConfig::new(sim.endpoint(), START_URL).unwrap();
    let secrets = PkceSecrets::from_random([3; RANDOM_BYTES]);
    AuthCodeFlow::new(config, browser.port_number(), secrets, sim.now()).with_callback_wait(wait)
}

/// The fresh simulation and browser of a scenario.
fn browser_setup(scenario: &BrowserScenario) -> (Simulation, SimBrowser) {
    let sim = Simulation::new(scenario.config.clone());
    let browser = SimBrowser::new(&sim, scenario.plan.clone(), 49152);
    (sim, browser)
}

fn on_url(browser: &SimBrowser) -> impl FnMut(Event) + '_ {
    move |event| {
        if let Event::AuthorizationUrl(prompt) = event {
            browser.visit(&prompt.url);
        }
    }
}

#[test]
fn both_drivers_end_alike_in_the_authorization_code_flow() {
    for scenario in browser_scenarios() {
        let (sim, browser) = browser_setup(&scenario);
        let start = sim.now();
        let mut listener = browser.clone();
        let result = Driver::new(sim.transport(), sim.clock()).sign_in_with_browser(
            auth_code_flow(&sim, &browser, scenario.wait),
            &mut listener,
            on_url(&browser),
        );
        let blocking = (
            format!(
                "{:?}",
                result
                    .as_ref()
                    .map(|s| s.token.registration.grant_types.clone())
            ),
            browser.replies(),
            trace(&sim, start, 0),
        );
        assert!(
            (scenario.expect)(&result),
            "{}: blocking driver: {result:?}",
            scenario.name
        );

        let (sim, browser) = browser_setup(&scenario);
        let start = sim.now();
        let mut listener = browser.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let result = runtime.block_on(
            AsyncDriver::new(sim.async_transport(), sim.async_clock()).sign_in_with_browser(
                auth_code_flow(&sim, &browser, scenario.wait),
                &mut listener,
                on_url(&browser),
            ),
        );
        assert!(
            (scenario.expect)(&result),
            "{}: async driver: {result:?}",
            scenario.name
        );
        let asynchronous = (
            format!(
                "{:?}",
                result
                    .as_ref()
                    .map(|s| s.token.registration.grant_types.clone())
            ),
            browser.replies(),
            trace(&sim, start, 0),
        );
        assert_eq!(
            blocking.0, asynchronous.0,
            "{}: endings differ",
            scenario.name
        );
        assert_eq!(
            blocking.1, asynchronous.1,
            "{}: the listener answered differently",
            scenario.name
        );
        assert_eq!(
            blocking.2, asynchronous.2,
            "{}: requests differ",
            scenario.name
        );
        if scenario.name.starts_with("a forged") {
            assert!(
                matches!(
                    blocking.1.as_slice(),
                    [CallbackReply::Refused(_), CallbackReply::Accepted]
                ),
                "{:?}",
                blocking.1
            );
        }
    }
}
