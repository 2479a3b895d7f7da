#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ssoflow_core::wire::{self, GRANT_DEVICE_CODE, RegisterClientResponse};
use ssoflow_core::{
    DeviceFlow, ErrorCode, Event, Flow, FlowConfig, Outcome, ServiceError, StateKind, Token,
};

use super::*;
use crate::service::{AutoApprove, Fault};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn register_request(sim: &Simulation) -> http::Request<Vec<u8>> {
    http::Request::post(sim.endpoint().uri(Operation::RegisterClient).unwrap())
        .body(br#"{"clientName":"n","clientType":"public"}"#.to_vec())
        .unwrap()
}

/// The run-loop contract of the core, over the simulation's transport and
/// clock: what every driver does, written out so these tests need no driver.
fn run(sim: &Simulation, flow: &mut DeviceFlow) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..10_000 {
        flow.handle_timeout(sim.now());
        while let Some(tx) = flow.poll_transmit(sim.now()) {
            match sim.send(tx.request) {
                Ok(response) => flow
                    .handle_response(sim.now(), sim.wall_now(), tx.id, response)
                    .unwrap(),
                Err(error) => flow
                    .handle_transport_error(sim.now(), tx.id, error.kind)
                    .unwrap(),
            }
        }
        events.extend(std::iter::from_fn(|| flow.poll_event()));
        if flow.state().is_terminal() {
            return events;
        }
        if let Some(deadline) = flow.poll_timeout() {
            sim.sleep_until(deadline);
        }
    }
    panic!("the flow did not finish");
}

fn new_flow(sim: &Simulation) -> DeviceFlow {
    let config = FlowConfig::new(sim.endpoint(), "https://d-1234567890.awsapps.com/start").unwrap();
    DeviceFlow::new(config, sim.now())
}

fn token_of(flow: &DeviceFlow) -> Option<&Token> {
    match flow.outcome() {
        Some(Outcome::Authorized(token)) => Some(token),
        _ => None,
    }
}

#[test]
fn the_endpoint_is_loopback_and_the_host_is_ignored() {
    let sim = Simulation::new(ServiceConfig::default());
    assert_eq!(sim.endpoint().base_url(), "http://127.0.0.1:1");
    let request = http::Request::post("https://elsewhere.example/x/client/register")
        .body(br#"{"clientName":"n","clientType":"public"}"#.to_vec())
        .unwrap();
    let response = sim.send(request).unwrap();
    let _: RegisterClientResponse = wire::decode(response.body()).unwrap();
}

#[test]
fn virtual_time_starts_in_2026_and_both_clocks_move_together() {
    let sim = Simulation::new(ServiceConfig::default());
    let (t0, w0) = (sim.now(), sim.wall_now());
    assert_eq!(w0, UNIX_EPOCH + secs(1_767_225_600));
    sim.advance(secs(90));
    assert_eq!(sim.now() - t0, secs(90));
    assert_eq!(sim.wall_now().duration_since(w0).unwrap(), secs(90));
    sim.sleep_until(t0 + secs(200));
    assert_eq!(sim.now() - t0, secs(200));
    assert_eq!(sim.wall_now(), w0 + secs(200));
    // Never backwards.
    sim.sleep_until(t0 + secs(10));
    assert_eq!(sim.now() - t0, secs(200));
    sim.with_service(|_, now| assert_eq!(now, w0 + secs(200)));
}

#[test]
fn the_wall_clock_can_jump_while_the_monotonic_one_stands_still() {
    let sim = Simulation::new(ServiceConfig::default());
    let (t0, w0) = (sim.now(), sim.wall_now());
    sim.jump_wall_clock(secs(3600));
    assert_eq!(sim.now(), t0);
    assert_eq!(sim.wall_now(), w0 + secs(3600));
    sim.advance(secs(5));
    assert_eq!(sim.wall_now(), w0 + secs(3605));
    sim.with_service(|_, now| assert_eq!(now, w0 + secs(3605)));
}

#[test]
fn a_token_issued_after_a_suspend_expires_by_the_wall_clock() {
    // The person approves, the laptop sleeps an hour before the next poll:
    // Instant stood still, the wall clock did not, and the token's expiry
    // follows the wall clock the driver hands in with the answer. (The
    // service's codes live two hours here, so the jump does not expire them.)
    let sim = Simulation::new(ServiceConfig {
        device_code_ttl: secs(7200),
        ..ServiceConfig::default()
    });
    let mut flow = new_flow(&sim);
    sim.on_request(|service, now, exchange| {
        if exchange.operation == Some(Operation::CreateToken) {
            for pending in service.pending(now) {
                service.approve(&pending.user_code, now).unwrap();
            }
        }
    });
    let mut suspended = false;
    for _ in 0..100 {
        flow.handle_timeout(sim.now());
        while let Some(tx) = flow.poll_transmit(sim.now()) {
            if tx.operation == Operation::CreateToken && !suspended {
                sim.jump_wall_clock(secs(3600));
                suspended = true;
            }
            let response = sim.send(tx.request).unwrap();
            flow.handle_response(sim.now(), sim.wall_now(), tx.id, response)
                .unwrap();
        }
        if flow.state().is_terminal() {
            break;
        }
        sim.sleep_until(flow.poll_timeout().unwrap());
    }
    let token = token_of(&flow).unwrap();
    let issued_in = sim.with_service(|service, _| service.config().token_ttl);
    assert_eq!(token.expires_at, sim.wall_now() + issued_in);
    assert!(token.expires_at > UNIX_EPOCH + secs(1_767_225_600) + secs(3600));
}

#[test]
fn latency_advances_time_both_ways_and_is_logged() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.set_latency(Duration::from_millis(40));
    let t0 = sim.now();
    let response = sim.send(register_request(&sim)).unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sim.now() - t0, Duration::from_millis(80));
    assert_eq!(
        sim.log(),
        [Exchange {
            at: t0 + Duration::from_millis(40),
            operation: Some(Operation::RegisterClient),
            grant_type: None,
            status: Some(200),
        }]
    );
}

#[test]
fn a_dropped_connection_is_connection_lost() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.with_service(|service, _| service.inject_faults(Fault::DropConnection, 1));
    let error = sim.send(register_request(&sim)).unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::ConnectionLost);
    assert_eq!(sim.log()[0].status, None);
    assert_eq!(
        sim.with_service(|service, _| service.counters().register_client),
        1
    );
}

#[test]
fn a_delay_past_the_read_timeout_is_a_timeout_after_the_timeout() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.set_read_timeout(secs(10));
    sim.with_service(|service, _| {
        service.inject_faults(Fault::Delay(secs(11)), 1);
        service.inject_faults(Fault::Delay(secs(9)), 1);
    });
    let t0 = sim.now();
    let error = sim.send(register_request(&sim)).unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Timeout);
    assert_eq!(sim.now() - t0, secs(10));
    // Within the timeout, the answer simply arrives late.
    let response = sim.send(register_request(&sim)).unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(sim.now() - t0, secs(19));
    let statuses: Vec<_> = sim.log().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [None, Some(200)]);
}

#[test]
fn latency_counts_towards_the_read_timeout() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.set_read_timeout(secs(10));
    sim.set_latency(secs(6));
    let t0 = sim.now();
    let error = sim.send(register_request(&sim)).unwrap_err();
    assert_eq!(error.kind, TransportErrorKind::Timeout);
    assert_eq!(sim.now() - t0, secs(10));
    assert_eq!(sim.log()[0].at, t0 + secs(6));
}

#[test]
fn a_whole_device_flow_runs_in_virtual_time() {
    let sim = Simulation::new(ServiceConfig::default());
    // The person approves just before the fourth poll arrives.
    let mut polls = 0;
    sim.on_request(move |service, now, exchange| {
        assert_eq!(exchange.status, None);
        if exchange.operation == Some(Operation::CreateToken) {
            polls += 1;
            if polls == 4 {
                let code = service.pending(now)[0].user_code.clone();
                service.approve(&code, now).unwrap();
            }
        }
    });
    let t0 = sim.now();
    let mut flow = new_flow(&sim);
    let events = run(&sim, &mut flow);
    assert_eq!(flow.state(), StateKind::Authorized, "{events:?}");
    let token = token_of(&flow).unwrap();
    assert!(token.access_token.secret().starts_with("aoa"));
    assert!(
        token.refresh_token.is_some(),
        "the default scope makes it refreshable"
    );

    let log = sim.log();
    let operations: Vec<_> = log.iter().map(|e| e.operation.unwrap()).collect();
    assert_eq!(
        operations[..2],
        [
            Operation::RegisterClient,
            Operation::StartDeviceAuthorization
        ]
    );
    assert_eq!(operations.len(), 6);
    assert!(
        log[2..]
            .iter()
            .all(|e| e.grant_type.as_deref() == Some(GRANT_DEVICE_CODE))
    );
    assert_eq!(log.last().unwrap().status, Some(200));
    // Four polls one interval apart, the first one interval after the start.
    assert_eq!(sim.now() - t0, secs(4));
    let counters = sim.with_service(|service, _| service.counters());
    assert_eq!(counters.create_token, 4);
}

#[test]
fn a_flow_against_a_faulty_slow_service_still_ends_with_a_token() {
    let sim = Simulation::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterDelay(secs(30))),
        ..ServiceConfig::default()
    });
    sim.set_latency(Duration::from_millis(50));
    sim.with_service(|service, _| {
        service.inject_faults(Fault::Status(503), 1);
        service.inject_faults(Fault::DropConnection, 1);
        service.inject_faults(Fault::Delay(secs(60)), 1);
    });
    let mut flow = new_flow(&sim);
    let events = run(&sim, &mut flow);
    assert_eq!(flow.state(), StateKind::Authorized, "{events:?}");
    // The service never answered slow_down to this well-behaved client.
    let log = sim.log();
    assert!(
        log.iter()
            .all(|e| e.status != Some(400) || e.operation == Some(Operation::CreateToken))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::IntervalChanged(_))),
        "{events:?}"
    );
}

#[test]
fn an_unapproved_flow_expires() {
    let sim = Simulation::new(ServiceConfig {
        device_code_ttl: secs(20),
        ..ServiceConfig::default()
    });
    let t0 = sim.now();
    let mut flow = new_flow(&sim);
    let events = run(&sim, &mut flow);
    assert_eq!(flow.state(), StateKind::Expired, "{events:?}");
    assert!(sim.now() - t0 >= secs(20));
    assert!(sim.now() - t0 < secs(25));
}

#[test]
fn the_hook_can_deny() {
    let sim = Simulation::new(ServiceConfig::default());
    sim.on_request(|service, now, _| {
        if let Some(pending) = service.pending(now).first() {
            service.deny(&pending.user_code, now).unwrap();
        }
    });
    let mut flow = new_flow(&sim);
    let events = run(&sim, &mut flow);
    assert_eq!(flow.state(), StateKind::Denied, "{events:?}");
    let last = sim.log().last().cloned().unwrap();
    assert_eq!(last.status, Some(400));
}

#[test]
fn an_expired_registration_is_refused_with_401() {
    let sim = Simulation::new(ServiceConfig::default());
    let response = sim.send(register_request(&sim)).unwrap();
    let registration: RegisterClientResponse = wire::decode(response.body()).unwrap();
    let client_id = registration.client_id.unwrap();
    assert!(sim.with_service(|service, _| service.expire_registration(&client_id)));
    let body = serde_json::json!({
        "clientId": client_id,
        "clientSecret": registration.client_secret.unwrap().secret(),
        "startUrl": "https://d-1234567890.awsapps.com/start",
    });
    let request = http::Request::post(
        sim.endpoint()
            .uri(Operation::StartDeviceAuthorization)
            .unwrap(),
    )
    .body(body.to_string().into_bytes())
    .unwrap();
    let response = sim.send(request).unwrap();
    let error = ServiceError::from_response(&response).unwrap();
    assert_eq!((error.code, error.status), (ErrorCode::InvalidClient, 401));
}

#[test]
fn debug_output_is_safe_and_clones_share_state() {
    let sim = Simulation::new(ServiceConfig::default());
    let other = sim.clone();
    other.advance(secs(5));
    sim.send(register_request(&sim)).unwrap();
    assert_eq!(other.log().len(), 1);
    let debug = format!("{sim:?}");
    assert!(debug.contains("Simulation"), "{debug}");
}

#[test]
fn a_signed_in_flows_token_buys_role_credentials_until_it_expires_in_virtual_time() {
    let sim = Simulation::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterPolls(1)),
        ..ServiceConfig::default()
    });
    let mut flow = new_flow(&sim);
    run(&sim, &mut flow);
    let token = token_of(&flow).unwrap().access_token.clone();
    let credentials = |sim: &Simulation| {
        let request = http::Request::get(format!(
            "{}/federation/credentials?role_name=ReadOnlyAccess&account_id=111122223333",
            sim.endpoint().base_url()
        ))
        .header(wire::BEARER_TOKEN_HEADER, token.secret())
        .body(Vec::new())
        .unwrap();
        sim.send(request).unwrap().status().as_u16()
    };
    assert_eq!(credentials(&sim), 200);
    sim.advance(secs(3600));
    assert_eq!(credentials(&sim), 401);
    let log = sim.log();
    let portal: Vec<(Option<Operation>, Option<u16>)> = log
        .iter()
        .rev()
        .take(2)
        .map(|e| (e.operation, e.status))
        .collect();
    assert_eq!(
        portal,
        [
            (Some(Operation::GetRoleCredentials), Some(401)),
            (Some(Operation::GetRoleCredentials), Some(200))
        ]
    );
    let counters = sim.with_service(|service, _| service.counters());
    assert_eq!(counters.get_role_credentials, 2);
}
