//! Approval to token: how soon a waiting sign-in notices that the person
//! approved, and whether it ever polls too soon. Run by a person, not by CI:
//!
//! ```text
//! cargo bench -p ssoflow-blocking --bench approval
//! SSOFLOW_APPROVAL_FLOWS=200 SSOFLOW_APPROVAL_PARALLEL=20 cargo bench -p ssoflow-blocking --bench approval
//! ```
//!
//! One emulator (interval 1 s, no auto-approval) serves every flow over real
//! HTTP. Each device flow runs in the blocking driver with the ureq
//! transport and the real clock; when its user code appears, another thread
//! waits a random 0–3 s and approves the code in the emulator, noting the
//! moment. The driver's answer then marks the end: approval → token. A
//! transport wrapper notes when each CreateToken poll was sent and what
//! came back, so a poll sent sooner than the interval after the previous one,
//! or answered `slow_down`, counts as wasted.
//!
//! Aims (issue 14): no wasted poll; approval → token ≤ interval + 50 ms at
//! the median (the approval lands at a random point of an interval, so the
//! median is about half an interval plus one round trip).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ssoflow_blocking::{Driver, SystemClock, Transport, UreqTransport};
use ssoflow_core::drive::TransportError;
use ssoflow_core::{DeviceFlow, Endpoint, FlowConfig};
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const INTERVAL: Duration = Duration::from_secs(1);
/// Approvals come at a random moment within this long after the code appears.
const APPROVAL_WINDOW_MS: u32 = 3000;

/// What the transport saw of one flow's polls.
#[derive(Default)]
struct Polls {
    sent: Vec<Instant>,
    slow_down: usize,
}

/// The ureq transport, noting each CreateToken poll.
struct Recording {
    inner: UreqTransport,
    polls: Arc<Mutex<Polls>>,
}

impl Transport for Recording {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let is_poll = request.uri().path().ends_with("/token");
        if is_poll {
            self.polls.lock().unwrap().sent.push(Instant::now());
        }
        let answer = self.inner.send(request)?;
        if is_poll && String::from_utf8_lossy(answer.body()).contains("slow_down") {
            self.polls.lock().unwrap().slow_down += 1;
        }
        Ok(answer)
    }
}

struct FlowResult {
    approval_to_token: Duration,
    polls: usize,
    too_soon: usize,
    slow_down: usize,
}

fn one_flow(emulator: &EmulatorThread) -> FlowResult {
    let polls = Arc::new(Mutex::new(Polls::default()));
    let transport = Recording {
        inner: UreqTransport::new(),
        polls: Arc::clone(&polls),
    };
    let endpoint = Endpoint::from_url(emulator.base_url()).unwrap();
    let config = FlowConfig::new(endpoint, START_URL).unwrap();
    let flow = DeviceFlow::new(config, Instant::now());
    let approved_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    // The approver thread is joined when the scope ends, after the token.
    let done = std::thread::scope(|scope| {
        let result = Driver::new(transport, SystemClock).sign_in(flow, |prompt| {
            let code = prompt.user_code.clone();
            let approved_at = Arc::clone(&approved_at);
            let delay = Duration::from_millis(u64::from(random_below(APPROVAL_WINDOW_MS)));
            scope.spawn(move || {
                std::thread::sleep(delay);
                emulator
                    .with_service(|service| service.approve(&code, SystemTime::now()))
                    .unwrap();
                *approved_at.lock().unwrap() = Some(Instant::now());
            });
        });
        let done = Instant::now();
        let _signed_in = result.unwrap();
        done
    });
    let approved = approved_at.lock().unwrap().expect("approved");
    let polls = polls.lock().unwrap();
    let too_soon = polls
        .sent
        .windows(2)
        .filter(|pair| pair[1].duration_since(pair[0]) < INTERVAL)
        .count();
    FlowResult {
        approval_to_token: done.duration_since(approved),
        polls: polls.sent.len(),
        too_soon,
        slow_down: polls.slow_down,
    }
}

fn random_below(bound: u32) -> u32 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).unwrap();
    u32::from_le_bytes(bytes) % bound
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; a name filter means another bench was asked for.
    if std::env::args().skip(1).any(|arg| !arg.starts_with("--")) {
        return ExitCode::SUCCESS;
    }
    let flows = setting("SSOFLOW_APPROVAL_FLOWS", 50);
    let parallel = setting("SSOFLOW_APPROVAL_PARALLEL", 10).max(1);
    let mut config = EmulatorConfig::default();
    config.service.interval = INTERVAL;
    let emulator = EmulatorThread::start(config).unwrap();
    println!(
        "approval to token: {flows} device flows, {parallel} at a time, interval {} ms, approval 0–{APPROVAL_WINDOW_MS} ms after the code appears",
        INTERVAL.as_millis()
    );
    let started = Instant::now();
    let results: Mutex<Vec<FlowResult>> = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..parallel {
            scope.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < flows {
                    let result = one_flow(&emulator);
                    results.lock().unwrap().push(result);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    let mut latencies: Vec<Duration> = results.iter().map(|r| r.approval_to_token).collect();
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p90 = latencies[latencies.len() * 9 / 10];
    let max = *latencies.last().unwrap();
    let polls: usize = results.iter().map(|r| r.polls).sum();
    let too_soon: usize = results.iter().map(|r| r.too_soon).sum();
    let slow_down: usize = results.iter().map(|r| r.slow_down).sum();
    let wasted = too_soon + slow_down;
    let counters = emulator.with_service(|service| service.counters());
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "approval → token   median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        ms(median),
        ms(p90),
        ms(max)
    );
    println!(
        "polls              {polls} sent ({:.2} per flow; the emulator counted {} CreateToken calls, polls and exchanges)",
        polls as f64 / results.len() as f64,
        counters.create_token
    );
    println!(
        "wasted polls       {wasted} ({too_soon} sooner than the interval, {slow_down} answered slow_down)"
    );
    let aim = INTERVAL + Duration::from_millis(50);
    println!(
        "aims               median ≤ {:.0} ms: {}; no wasted poll: {}",
        ms(aim),
        if median <= aim { "met" } else { "missed" },
        if wasted == 0 { "met" } else { "missed" }
    );
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    emulator.stop().unwrap();
    if results.len() == flows {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
