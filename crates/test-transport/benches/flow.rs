//! One whole device flow (RegisterClient, StartDeviceAuthorization, one
//! CreateToken poll that the service approves) and one refresh, against the
//! simulated service on its virtual clock, so no time is spent waiting.
//!
//! Why here and not `crates/blocking/benches/` with the blocking `Driver`:
//! the flows are driven by `ssoflow_core::drive::Drive`, the run loop the
//! blocking and the async drivers are thin shells around (the blocking one
//! adds a cancel-flag load and a trait call per step), so this measures the
//! same ssoflow code with less around it, and builds without ureq and rustls.
//!
//! Each run is timed twice:
//! - `flow/... against the simulated service`: client and service together
//!   (the service draws its secrets from the OS's random source and encodes
//!   and decodes its own JSON, so its share is large);
//! - `flow/... client only (recorded answers)`: the same answers, recorded
//!   from one such run, handed back in order: ssoflow's client side alone
//!   (machine, run loop, encoding and decoding), what a program embedding
//!   ssoflow pays in CPU per flow besides the network.
//!
//! Making the service (and, for the refresh, signing in first) is outside
//! the timed part.
//!
//! `cargo bench -p ssoflow-test-transport`; short: `-- --warm-up-time 1 --measurement-time 2`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::cell::Cell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::time::{Instant, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ssoflow_core::drive::{Action, Drive, TransportError};
use ssoflow_core::{DeviceFlow, Ending, Flow, FlowConfig, RefreshFlow, Token};
use ssoflow_test_transport::{AutoApprove, ServiceConfig, Simulation};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

type Answer = Result<http::Response<Vec<u8>>, TransportError>;

/// The run loop of `ssoflow_blocking::Driver::run` without its cancel flag:
/// `send` carries a request out, `now`/`wall_now`/`sleep_until` are the clock.
fn run<F: Flow>(
    flow: &mut F,
    mut send: impl FnMut(http::Request<Vec<u8>>) -> Answer,
    now: impl Fn() -> Instant,
    wall_now: impl Fn() -> SystemTime,
    mut sleep_until: impl FnMut(Instant),
) -> <F::Ending as Ending>::Value {
    let mut drive = Drive::new(flow, now(), None);
    loop {
        match drive.next(now(), false) {
            Action::Send(transmit) => {
                let answer = send(transmit.request);
                drive.sent(now(), wall_now(), transmit.id, answer);
            }
            Action::Event(event) => {
                black_box(event);
            }
            Action::SleepUntil(wake) => sleep_until(wake),
            Action::Done(result) => return result.expect("the flow succeeds"),
            _ => {}
        }
    }
}

/// A service that approves a device code on its first poll.
fn simulation() -> Simulation {
    Simulation::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterPolls(1)),
        ..ServiceConfig::default()
    })
}

fn config(sim: &Simulation) -> FlowConfig {
    FlowConfig::new(sim.endpoint(), START_URL).unwrap()
}

/// Runs `flow` against `sim`, keeping each answer in `record` if given.
fn run_on_sim<F: Flow>(
    sim: &Simulation,
    flow: &mut F,
    mut record: Option<&mut Vec<Answer>>,
) -> <F::Ending as Ending>::Value {
    run(
        flow,
        |request| {
            let answer = sim.send(request);
            if let Some(record) = record.as_deref_mut() {
                record.push(answer.clone());
            }
            answer
        },
        || sim.now(),
        || sim.wall_now(),
        |wake| sim.sleep_until(wake),
    )
}

/// Runs `flow` on recorded answers and a clock that is only a variable.
fn run_on_record<F: Flow>(
    flow: &mut F,
    mut answers: VecDeque<Answer>,
    start: Instant,
    wall: SystemTime,
) -> <F::Ending as Ending>::Value {
    let clock = Cell::new(start);
    run(
        flow,
        |_request| answers.pop_front().expect("a recorded answer"),
        || clock.get(),
        || wall,
        |wake| clock.set(clock.get().max(wake)),
    )
}

/// A signed-in service and its token, to refresh.
fn signed_in() -> (Simulation, Token) {
    let sim = simulation();
    let mut flow = DeviceFlow::new(config(&sim), sim.now());
    let token = run_on_sim(&sim, &mut flow, None);
    (sim, token)
}

fn flows(c: &mut Criterion) {
    c.bench_function(
        "flow/device flow (3 requests) against the simulated service",
        |b| {
            b.iter_batched(
                simulation,
                |sim| {
                    let mut flow = DeviceFlow::new(config(&sim), sim.now());
                    let token = run_on_sim(&sim, &mut flow, None);
                    (sim, flow, token)
                },
                BatchSize::SmallInput,
            );
        },
    );
    c.bench_function(
        "flow/refresh (1 request) against the simulated service",
        |b| {
            b.iter_batched(
                signed_in,
                |(sim, token)| {
                    let mut flow =
                        RefreshFlow::new(sim.endpoint(), token, sim.now(), sim.wall_now());
                    let token = run_on_sim(&sim, &mut flow, None);
                    (sim, flow, token)
                },
                BatchSize::SmallInput,
            );
        },
    );

    // The answers of one device flow and one refresh, for the client-only runs.
    let sim = simulation();
    let (start, wall) = (sim.now(), sim.wall_now());
    let mut device_answers = Vec::new();
    let mut flow = DeviceFlow::new(config(&sim), start);
    let token = run_on_sim(&sim, &mut flow, Some(&mut device_answers));
    let mut refresh_answers = Vec::new();
    let mut flow = RefreshFlow::new(sim.endpoint(), token.clone(), sim.now(), sim.wall_now());
    run_on_sim(&sim, &mut flow, Some(&mut refresh_answers));
    assert_eq!((device_answers.len(), refresh_answers.len()), (3, 1));
    let flow_config = config(&sim);
    let endpoint = sim.endpoint();

    c.bench_function(
        "flow/device flow (3 requests) client only (recorded answers)",
        |b| {
            b.iter_batched(
                || VecDeque::from(device_answers.clone()),
                |answers| {
                    let mut flow = DeviceFlow::new(flow_config.clone(), start);
                    let token = run_on_record(&mut flow, answers, start, wall);
                    (flow, token)
                },
                BatchSize::SmallInput,
            );
        },
    );
    c.bench_function(
        "flow/refresh (1 request) client only (recorded answers)",
        |b| {
            b.iter_batched(
                || (VecDeque::from(refresh_answers.clone()), token.clone()),
                |(answers, token)| {
                    let mut flow = RefreshFlow::new(endpoint.clone(), token, start, wall);
                    let token = run_on_record(&mut flow, answers, start, wall);
                    (flow, token)
                },
                BatchSize::SmallInput,
            );
        },
    );
}

criterion_group!(benches, flows);
criterion_main!(benches);
