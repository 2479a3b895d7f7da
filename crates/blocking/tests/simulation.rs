//! Whole flows through the blocking driver against the simulated service, in
//! virtual time: every outcome, in milliseconds of real time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

mod support;

use ssoflow_blocking::{Driver, Error, SignIn};
use ssoflow_core::{
    DeviceFlow, ErrorCode, Flow, FlowConfig, FlowError, Operation, RefreshFlow, Registration,
    TransportErrorKind, UserPrompt,
};
use ssoflow_test_transport::{AutoApprove, Exchange, Fault, ServiceConfig, Simulation};
use support::{SimExt, SimTransport, VirtualClock};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const S: fn(u64) -> Duration = Duration::from_secs;

fn flow(sim: &Simulation) -> DeviceFlow {
    DeviceFlow::new(
        FlowConfig::new(sim.endpoint(), START_URL).unwrap(),
        sim.now(),
    )
}

fn flow_with(sim: &Simulation, reg: Registration) -> DeviceFlow {
    DeviceFlow::with_registration(
        FlowConfig::new(sim.endpoint(), START_URL).unwrap(),
        reg,
        sim.now(),
        sim.wall_now(),
    )
}

fn driver(sim: &Simulation) -> Driver<SimTransport, VirtualClock> {
    Driver::new(sim.transport(), sim.clock())
}

/// Approves the pending code when the k-th device-code poll arrives.
fn approve_on_poll(sim: &Simulation, k: u32) {
    let polls = AtomicU32::new(0);
    sim.on_request(move |service, now, exchange: &Exchange| {
        if exchange.operation == Some(Operation::CreateToken)
            && exchange.grant_type.as_deref() == Some(ssoflow_core::wire::GRANT_DEVICE_CODE)
            && polls.fetch_add(1, Ordering::SeqCst) + 1 == k
        {
            for p in service.pending(now) {
                service.approve(&p.user_code, now).unwrap();
            }
        }
    });
}

fn operations(sim: &Simulation) -> Vec<&'static str> {
    sim.log()
        .iter()
        .filter_map(|e| e.operation.map(|op| op.name()))
        .collect()
}

fn sign_in(sim: &Simulation, f: DeviceFlow) -> (Result<SignIn, Error>, Vec<UserPrompt>) {
    let mut prompts = vec![];
    let result = driver(sim).sign_in(f, |p| prompts.push(p.clone()));
    (result, prompts)
}

#[test]
fn approve_after_k_polls() {
    for k in [1, 2, 7] {
        let sim = Simulation::new(ServiceConfig::default());
        approve_on_poll(&sim, k);
        let t0 = sim.now();
        let (result, prompts) = sign_in(&sim, flow(&sim));
        let signed_in = result.unwrap();
        assert_eq!(prompts.len(), 1);
        assert!(signed_in.token.refresh_token.is_some());
        assert!(signed_in.new_registration.is_some());
        let counters = sim.with_service(|s, _| s.counters());
        assert_eq!(
            (
                counters.register_client,
                counters.start_device_authorization,
                counters.create_token
            ),
            (1, 1, u64::from(k))
        );
        // One interval (1 s) before each poll, nothing else.
        assert_eq!(sim.now() - t0, S(u64::from(k)));
    }
}

#[test]
fn the_user_code_has_the_real_format() {
    let sim = Simulation::new(ServiceConfig::default());
    approve_on_poll(&sim, 1);
    let (_, prompts) = sign_in(&sim, flow(&sim));
    let code = &prompts[0].user_code;
    assert_eq!(code.len(), 9);
    assert_eq!(&code[4..5], "-");
    assert!(
        code.chars()
            .filter(|c| *c != '-')
            .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
        "{code}"
    );
    assert_eq!(
        prompts[0].verification_uri_complete.as_deref(),
        Some(format!("{}?user_code={code}", prompts[0].verification_uri).as_str())
    );
}

#[test]
fn a_cached_registration_skips_register_client() {
    let sim = Simulation::new(ServiceConfig::default());
    approve_on_poll(&sim, 1);
    let first = sign_in(&sim, flow(&sim)).0.unwrap();
    let reg = first.new_registration.unwrap();
    let sim2 = sim.clone();
    approve_on_poll(&sim2, 2);
    let second = sign_in(&sim, flow_with(&sim, reg.clone())).0.unwrap();
    assert_eq!(second.new_registration, None);
    assert_eq!(second.token.registration, reg);
    assert_eq!(sim.with_service(|s, _| s.counters()).register_client, 1);
}

#[test]
fn denial() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.on_request(|service, now, e: &Exchange| {
        if e.operation == Some(Operation::CreateToken) {
            for p in service.pending(now) {
                service.deny(&p.user_code, now).unwrap();
            }
        }
    });
    assert_eq!(sign_in(&sim, flow(&sim)).0, Err(Error::Denied));
}

#[test]
fn expiry_at_the_deadline_without_another_request() {
    let sim = Simulation::new(ServiceConfig {
        interval: S(5),
        device_code_ttl: S(60),
        ..ServiceConfig::default()
    });
    let t0 = sim.now();
    assert_eq!(sign_in(&sim, flow(&sim)).0, Err(Error::Expired));
    let log = sim.log();
    let last = log.last().unwrap();
    assert_eq!(last.operation, Some(Operation::CreateToken));
    assert!(last.at < t0 + S(60));
    assert_eq!(sim.now(), t0 + S(60));
    // Polls at 5, 10, …, 55: eleven, all answered authorization_pending.
    assert_eq!(sim.with_service(|s, _| s.counters()).create_token, 11);
}

#[test]
fn a_storm_of_slow_down() {
    let sim = Simulation::new(ServiceConfig::default());
    // Register and start pass; then ten slow_downs in a row, then approval.
    let calls = AtomicU32::new(0);
    sim.on_request(move |service, now, e: &Exchange| {
        if e.operation == Some(Operation::CreateToken) {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                service.inject_faults(Fault::Error(ErrorCode::SlowDown), 10);
            }
            if n == 11 {
                for p in service.pending(now) {
                    service.approve(&p.user_code, now).unwrap();
                }
            }
        }
    });
    let t0 = sim.now();
    let mut intervals = vec![];
    let mut f = flow(&sim);
    let mut d = driver(&sim);
    d.run(&mut f, |e| {
        if let ssoflow_core::Event::IntervalChanged(i) = e {
            intervals.push(i.as_secs());
        }
    })
    .unwrap();
    assert_eq!(intervals, [6, 11, 16, 21, 26, 31, 36, 41, 46, 51]);
    // 1 s to the first poll, then 6 + 11 + … + 51 s, then 51 s more.
    let waited: u64 = 1 + intervals.iter().sum::<u64>() + 51;
    assert_eq!(sim.now() - t0, S(waited));
    let gaps: Vec<Duration> = sim
        .log()
        .windows(2)
        .filter(|w| w[0].operation == Some(Operation::CreateToken))
        .map(|w| w[1].at - w[0].at)
        .collect();
    assert!(gaps.windows(2).all(|g| g[1] >= g[0]), "{gaps:?}");
}

#[test]
fn the_service_never_needs_to_slow_us_down() {
    // No tolerance for early polls, and 150 ms of latency each way.
    let sim = Simulation::new(ServiceConfig {
        early_poll_tolerance: 0,
        ..ServiceConfig::default()
    });
    sim.set_latency(Duration::from_millis(150));
    approve_on_poll(&sim, 30);
    let mut f = flow(&sim);
    let mut slow_downs = 0;
    driver(&sim)
        .run(&mut f, |e| {
            if let ssoflow_core::Event::IntervalChanged(_) = e {
                slow_downs += 1;
            }
        })
        .unwrap();
    assert_eq!(slow_downs, 0);
    let polls: Vec<_> = sim
        .log()
        .into_iter()
        .filter(|e| e.operation == Some(Operation::CreateToken))
        .collect();
    assert_eq!(polls.len(), 30);
    assert!(polls.windows(2).all(|w| w[1].at - w[0].at >= S(1)));
}

#[test]
fn a_registration_that_expires_mid_flow_is_replaced_once() {
    let sim = Simulation::new(ServiceConfig::default());
    let expired = AtomicBool::new(false);
    let polls = AtomicU32::new(0);
    sim.on_request(move |service, now, e: &Exchange| {
        if e.operation != Some(Operation::CreateToken) {
            return;
        }
        let n = polls.fetch_add(1, Ordering::SeqCst);
        if n == 2 && !expired.swap(true, Ordering::SeqCst) {
            let ids: Vec<String> = service.registrations().into_iter().collect();
            for id in ids {
                service.expire_registration(&id);
            }
        }
        if n == 5 {
            for p in service.pending(now) {
                service.approve(&p.user_code, now).unwrap();
            }
        }
    });
    let (result, prompts) = sign_in(&sim, flow(&sim));
    let signed_in = result.unwrap();
    assert_eq!(prompts.len(), 2, "a new user code after registering again");
    assert_ne!(prompts[0].user_code, prompts[1].user_code);
    assert_eq!(
        signed_in.token.registration,
        signed_in.new_registration.unwrap()
    );
    assert_eq!(
        operations(&sim),
        [
            "RegisterClient",
            "StartDeviceAuthorization",
            "CreateToken",
            "CreateToken",
            "CreateToken",
            "RegisterClient",
            "StartDeviceAuthorization",
            "CreateToken",
            "CreateToken",
            "CreateToken"
        ]
    );
}

#[test]
fn an_expired_cached_registration_registers_again() {
    let sim = Simulation::new(ServiceConfig::default());
    approve_on_poll(&sim, 1);
    let reg = sign_in(&sim, flow(&sim))
        .0
        .unwrap()
        .new_registration
        .unwrap();
    let client_id = reg.client_id.clone();
    sim.with_service(|s, _| assert!(s.expire_registration(&client_id)));
    let sim2 = sim.clone();
    approve_on_poll(&sim2, 2);
    let (result, prompts) = sign_in(&sim, flow_with(&sim, reg.clone()));
    let new = result.unwrap().new_registration.unwrap();
    assert_ne!(new.client_id, reg.client_id);
    assert_eq!(prompts.len(), 1);
}

#[test]
fn a_burst_of_5xx_is_ridden_out() {
    for op in [0u32, 1, 2] {
        let sim = Simulation::new(ServiceConfig::default());
        approve_on_poll(&sim, 1);
        // Fail the (op+1)-th request of the flow and the three after it.
        let seen = AtomicU32::new(0);
        sim.on_request(move |service, _, _| {
            if seen.fetch_add(1, Ordering::SeqCst) == op {
                service.inject_faults(Fault::Status(503), 4);
            }
        });
        let (result, _) = sign_in(&sim, flow(&sim));
        assert!(result.is_ok(), "{op}: {result:?}");
        assert_eq!(
            sim.log().iter().filter(|e| e.status == Some(503)).count(),
            4
        );
    }
}

#[test]
fn setup_gives_up_after_five_5xx_and_says_so() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.with_service(|s, _| s.inject_faults(Fault::Status(500), 100));
    let (result, _) = sign_in(&sim, flow(&sim));
    let Err(Error::Flow(FlowError::RetriesExhausted {
        operation,
        attempts,
        last,
    })) = result
    else {
        panic!("{result:?}")
    };
    assert_eq!((operation, attempts), (Operation::RegisterClient, 5));
    assert!(last.contains("InternalServerException"), "{last}");
}

#[test]
fn malformed_bodies_dropped_connections_and_delays() {
    for fault in [
        Fault::MalformedBody,
        Fault::DropConnection,
        Fault::Delay(S(45)),
    ] {
        let sim = Simulation::new(ServiceConfig::default());
        approve_on_poll(&sim, 2);
        sim.with_service(|s, _| s.inject_faults(fault.clone(), 2));
        let (result, _) = sign_in(&sim, flow(&sim));
        assert!(result.is_ok(), "{fault:?}: {result:?}");
    }
    // A delay longer than the read timeout is a timeout, and is retried.
    let sim = Simulation::new(ServiceConfig::default());
    sim.set_read_timeout(S(10));
    approve_on_poll(&sim, 1);
    sim.with_service(|s, _| s.inject_faults(Fault::Delay(S(45)), 1));
    assert!(sign_in(&sim, flow(&sim)).0.is_ok());
    assert_eq!(
        sim.log().first().unwrap().operation,
        Some(Operation::RegisterClient)
    );
}

#[test]
fn transport_failures_until_the_end_are_reported_as_transport_errors() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.with_service(|s, _| s.inject_faults(Fault::DropConnection, 100));
    match sign_in(&sim, flow(&sim)).0 {
        Err(Error::Transport {
            source,
            attempts: 5,
        }) => assert_eq!(source.kind, TransportErrorKind::ConnectionLost),
        other => panic!("{other:?}"),
    }
}

#[test]
fn polling_failures_end_in_expiry_not_failure() {
    let sim = Simulation::new(ServiceConfig {
        device_code_ttl: S(120),
        ..ServiceConfig::default()
    });
    let armed = AtomicBool::new(false);
    sim.on_request(move |service, _, e: &Exchange| {
        // From the first poll on, every request gets a 502.
        if e.operation == Some(Operation::CreateToken) && !armed.swap(true, Ordering::SeqCst) {
            service.inject_faults(Fault::Status(502), 1000);
        }
    });
    let t0 = sim.now();
    assert_eq!(sign_in(&sim, flow(&sim)).0, Err(Error::Expired));
    assert_eq!(sim.now() - t0, S(120));
    // Doubling from 1 s: polls at 1, 3, 7, 15, 31, 63, then every 60 s: 123 is past the deadline.
    assert_eq!(sim.with_service(|s, _| s.counters()).create_token, 6);
}

#[test]
fn an_unreadable_refresh_answer_is_not_sent_again() {
    // The service rotates refresh tokens: after a 200 it could not read, the
    // old refresh token is dead, so one CreateToken and a clear error.
    let sim = Simulation::new(ServiceConfig {
        rotate_refresh_tokens: true,
        ..ServiceConfig::default()
    });
    approve_on_poll(&sim, 1);
    let token = sign_in(&sim, flow(&sim)).0.unwrap().token;
    let before = sim.log().len();
    sim.with_service(|s, _| s.inject_faults(Fault::MalformedBody, 1));
    let error = driver(&sim)
        .refresh(RefreshFlow::new(
            sim.endpoint(),
            token,
            sim.now(),
            sim.wall_now(),
        ))
        .unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Flow(FlowError::GrantSpent {
                grant: "refresh token",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("refresh token is spent"),
        "{error}"
    );
    assert_eq!(sim.log().len() - before, 1, "the refresh was sent again");
}

#[test]
fn refresh_with_and_without_rotation_and_revoked() {
    for rotate in [true, false] {
        let sim = Simulation::new(ServiceConfig {
            rotate_refresh_tokens: rotate,
            ..ServiceConfig::default()
        });
        approve_on_poll(&sim, 1);
        let token = sign_in(&sim, flow(&sim)).0.unwrap().token;
        let old = token.refresh_token.clone().unwrap();
        sim.advance(S(3000));
        let refreshed = driver(&sim)
            .refresh(RefreshFlow::new(
                sim.endpoint(),
                token.clone(),
                sim.now(),
                sim.wall_now(),
            ))
            .unwrap();
        assert_ne!(refreshed.access_token, token.access_token);
        assert_eq!(refreshed.expires_at, sim.wall_now() + S(3600));
        let new = refreshed.refresh_token.clone().unwrap();
        assert_eq!(new != old, rotate, "rotation {rotate}");
        // The old refresh token: revoked by rotation, still good without it.
        let again = driver(&sim).refresh(RefreshFlow::new(
            sim.endpoint(),
            token.clone(),
            sim.now(),
            sim.wall_now(),
        ));
        assert_eq!(again.is_ok(), !rotate, "{again:?}");
        // The current one works.
        driver(&sim)
            .refresh(RefreshFlow::new(
                sim.endpoint(),
                refreshed,
                sim.now(),
                sim.wall_now(),
            ))
            .unwrap();
    }
    let sim = Simulation::new(ServiceConfig::default());
    approve_on_poll(&sim, 1);
    let token = sign_in(&sim, flow(&sim)).0.unwrap().token;
    let secret = token.refresh_token.as_ref().unwrap().secret().to_owned();
    assert!(sim.with_service(|s, _| s.revoke_refresh_token(&secret)));
    match driver(&sim).refresh(RefreshFlow::new(
        sim.endpoint(),
        token,
        sim.now(),
        sim.wall_now(),
    )) {
        Err(Error::Flow(e)) => {
            assert!(e.needs_sign_in(), "{e}");
            assert_eq!(
                sim.with_service(|s, _| s.counters()).create_token,
                2,
                "invalid_grant is not retried"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_refresh_token_without_scopes_or_when_disabled() {
    let sim = Simulation::new(ServiceConfig {
        issue_refresh_tokens: false,
        ..ServiceConfig::default()
    });
    approve_on_poll(&sim, 1);
    let token = sign_in(&sim, flow(&sim)).0.unwrap().token;
    assert!(token.refresh_token.is_none());
    let r = driver(&sim).refresh(RefreshFlow::new(
        sim.endpoint(),
        token,
        sim.now(),
        sim.wall_now(),
    ));
    assert_eq!(r, Err(Error::Flow(FlowError::NotRefreshable)));

    let sim = Simulation::new(ServiceConfig::default());
    approve_on_poll(&sim, 1);
    let legacy = FlowConfig::new(sim.endpoint(), START_URL)
        .unwrap()
        .with_scopes(Vec::<String>::new());
    let f = DeviceFlow::new(legacy, sim.now());
    assert!(sign_in(&sim, f).0.unwrap().token.refresh_token.is_none());
}

#[test]
fn auto_approve_after_a_delay() {
    let sim = Simulation::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterDelay(S(10))),
        ..ServiceConfig::default()
    });
    let t0 = sim.now();
    assert!(
        sign_in(&sim, flow(&sim))
            .0
            .unwrap()
            .token
            .refresh_token
            .is_some()
    );
    assert_eq!(sim.now() - t0, S(10));
}

#[test]
fn nothing_is_sent_when_already_cancelled_or_out_of_time() {
    let sim = Simulation::new(ServiceConfig::default());
    let mut prompts = 0;
    let mut d = driver(&sim).with_cancel_flag(Arc::new(AtomicBool::new(true)));
    assert_eq!(
        d.sign_in(flow(&sim), |_| prompts += 1),
        Err(Error::Flow(FlowError::Cancelled))
    );
    let mut d = driver(&sim).with_time_limit(Duration::ZERO);
    assert_eq!(
        d.sign_in(flow(&sim), |_| prompts += 1),
        Err(Error::TimedOut(Duration::ZERO))
    );
    assert_eq!(prompts, 0);
    assert!(sim.log().is_empty());
}

#[test]
fn a_cancel_during_start_shows_no_user_code() {
    let sim = Simulation::new(ServiceConfig::default());
    let flag = Arc::new(AtomicBool::new(false));
    let raise = flag.clone();
    sim.on_request(move |_, _, e: &Exchange| {
        if e.operation == Some(Operation::StartDeviceAuthorization) {
            raise.store(true, Ordering::SeqCst);
        }
    });
    let mut events = vec![];
    let mut f = flow(&sim);
    let result = driver(&sim)
        .with_cancel_flag(flag)
        .run(&mut f, |e| events.push(e));
    assert_eq!(result, Err(Error::Flow(FlowError::Cancelled)));
    assert!(
        matches!(events.as_slice(), [ssoflow_core::Event::Registered(_)]),
        "{events:?}"
    );
    assert_eq!(
        f.outcome(),
        Some(&ssoflow_core::Outcome::Failed(FlowError::Cancelled))
    );
    assert_eq!(
        operations(&sim),
        ["RegisterClient", "StartDeviceAuthorization"]
    );
}

#[test]
fn cancel_flag_and_time_limit() {
    let sim = Simulation::new(ServiceConfig::default());
    let flag = Arc::new(AtomicBool::new(false));
    let raise = flag.clone();
    let polls = AtomicU32::new(0);
    sim.on_request(move |_, _, e: &Exchange| {
        if e.operation == Some(Operation::CreateToken) && polls.fetch_add(1, Ordering::SeqCst) == 3
        {
            raise.store(true, Ordering::SeqCst);
        }
    });
    let mut d = driver(&sim).with_cancel_flag(flag);
    assert_eq!(
        d.sign_in(flow(&sim), |_| {}),
        Err(Error::Flow(FlowError::Cancelled))
    );
    assert_eq!(
        sim.with_service(|s, _| s.counters()).create_token,
        4,
        "nothing is sent after cancel"
    );

    let sim = Simulation::new(ServiceConfig::default());
    let mut d = driver(&sim).with_time_limit(S(30));
    let t0 = sim.now();
    assert_eq!(d.sign_in(flow(&sim), |_| {}), Err(Error::TimedOut(S(30))));
    assert!(sim.now() - t0 <= S(31));
}

#[test]
fn nothing_the_caller_can_print_shows_a_secret() {
    let sim = Simulation::new(ServiceConfig::default());
    approve_on_poll(&sim, 1);
    let mut d = driver(&sim);
    let signed_in = d.sign_in(flow(&sim), |_| {}).unwrap();
    let token = &signed_in.token;
    let secrets = [
        token.access_token.secret().to_owned(),
        token.refresh_token.as_ref().unwrap().secret().to_owned(),
        token.registration.client_secret.secret().to_owned(),
    ];
    let refreshed = d
        .refresh(RefreshFlow::new(
            sim.endpoint(),
            token.clone(),
            sim.now(),
            sim.wall_now(),
        ))
        .unwrap();
    let request = http::Request::post("https://x/token")
        .body(b"{}".to_vec())
        .unwrap();
    let reply = sim.with_service(|s, now| s.handle(now, &request));
    let printed = format!(
        "{signed_in:?} {refreshed:?} {d:?} {sim:?} {:?} {:?} {reply:?} {:?}",
        sim.log(),
        sim.with_service(|s, now| s.pending(now)),
        Error::Flow(FlowError::Cancelled)
    );
    for secret in &secrets {
        assert!(!printed.contains(secret.as_str()), "a secret was printed");
    }
    assert!(printed.contains("[redacted]"));
}
