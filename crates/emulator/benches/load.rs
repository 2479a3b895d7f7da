//! Load benchmark for the emulator, to be run by a person rather than by CI:
//!
//! ```text
//! cargo bench -p ssoflow-emulator --bench load
//! cargo bench -p ssoflow-emulator --bench load -- --flows 200 --polls 3 --saturation-secs 10
//! ```
//!
//! One emulator is started in this process. Phase one runs many device flows
//! (1,000 by default), each on one kept-alive HTTP/1.1 connection of its
//! own, as every AWS client does: RegisterClient, StartDeviceAuthorization,
//! then CreateToken polls one announced interval apart until the token comes
//! (the emulator approves on the n-th poll). The flows start evenly over a
//! ramp (10 s by default; 0 starts them all in one instant), as sign-ins
//! arrive in real life, and poll long enough (20 polls) that all of them are
//! polling at once after the ramp: the polls of that window are reported as
//! the steady state, apart from those sent while flows were still starting.
//! Phase two calls the SSO portal API with each flow's token
//! (ListAccounts, ListAccountRoles, GetRoleCredentials, spread over 5 s).
//! Phase three, "saturation", sends StartDeviceAuthorization back to back on
//! the same connections for a fixed time. Every request's latency is
//! measured on the client side, from sending the request to having its
//! whole body.
//!
//! Settings, by argument or environment variable (arguments win):
//! `--flows N` / `SSOFLOW_LOAD_FLOWS` (default 1000), `--polls N` /
//! `SSOFLOW_LOAD_POLLS` (the poll that gets the token, default 20),
//! `--ramp-secs N` / `SSOFLOW_LOAD_RAMP_SECS` (default 10), and
//! `--saturation-secs N` / `SSOFLOW_LOAD_SATURATION_SECS` (default 5, 0 skips
//! phase two).
//!
//! Each flow holds two sockets (client and server side), so the soft limit on
//! open files must exceed twice the flow count; the program checks it up front
//! and asks for `ulimit -n 8192` when it is too low, since std offers no safe
//! way to raise it. The exit status is non-zero when any flow fails.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use ssoflow_core::Operation;
use ssoflow_core::portal::{GetRoleCredentials, ListAccountRoles, ListAccounts, PortalCall};
use ssoflow_core::secret::{AccessToken, ClientSecret};
use ssoflow_core::wire::{
    self, CLIENT_TYPE_PUBLIC, CONTENT_TYPE_JSON, CreateTokenRequest, CreateTokenResponse,
    DEFAULT_SCOPE, ErrorBody, RegisterClientRequest, RegisterClientResponse,
    StartDeviceAuthorizationRequest, StartDeviceAuthorizationResponse,
};
use ssoflow_core::{Endpoint, Flow, Transmit};
use ssoflow_emulator::{AutoApprove, Emulator, EmulatorConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The start URL every flow signs in to.
const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// The emulator's built-in account and one of its roles (phase two).
const PORTAL_ACCOUNT: &str = "111122223333";
const PORTAL_ROLE: &str = "AdministratorAccess";

/// The interval the emulator announces.
const INTERVAL: Duration = Duration::from_secs(1);

/// A request that takes longer than this counts as failed rather than hanging the run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// File descriptors needed beyond the two sockets per flow (runtime, stdio, listener).
const FD_SLACK: u64 = 64;

/// `EMFILE` on Linux: the process is out of file descriptors.
const EMFILE: i32 = 24;

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux's ABI).
const USER_HZ: f64 = 100.0;

struct Settings {
    flows: usize,
    polls: u32,
    ramp: Duration,
    saturation: Duration,
}

/// How long the portal calls of phase two are spread over.
const PORTAL_RAMP: Duration = Duration::from_secs(5);

impl Settings {
    fn from_env_and_args() -> Result<Settings, String> {
        let mut flows = env_number("SSOFLOW_LOAD_FLOWS")?.unwrap_or(1000);
        let mut polls = env_number("SSOFLOW_LOAD_POLLS")?.unwrap_or(20);
        let mut ramp_secs = env_number("SSOFLOW_LOAD_RAMP_SECS")?.unwrap_or(10);
        let mut saturation_secs = env_number("SSOFLOW_LOAD_SATURATION_SECS")?.unwrap_or(5);
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let target = match name.as_str() {
                // `cargo bench` passes this to every harness-less bench.
                "--bench" => continue,
                "--flows" => &mut flows,
                "--polls" => &mut polls,
                "--ramp-secs" => &mut ramp_secs,
                "--saturation-secs" => &mut saturation_secs,
                _ => {
                    return Err(format!(
                        "unknown argument {arg:?}; expected --flows N, --polls N, --ramp-secs N, --saturation-secs N"
                    ));
                }
            };
            let value = inline
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a number"))?;
            *target = parse_number(&name, &value)?;
        }
        if flows == 0 {
            return Err("--flows must be at least 1".to_owned());
        }
        Ok(Settings {
            flows: usize::try_from(flows).map_err(|_| "--flows is too large".to_owned())?,
            polls: u32::try_from(polls).map_err(|_| "--polls is too large".to_owned())?,
            ramp: Duration::from_secs(ramp_secs),
            saturation: Duration::from_secs(saturation_secs),
        })
    }
}

fn env_number(name: &str) -> Result<Option<u64>, String> {
    match std::env::var(name) {
        Ok(value) => parse_number(name, &value).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid text")),
    }
}

fn parse_number(name: &str, value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be a whole number, not {value:?}"))
}

fn main() -> ExitCode {
    let settings = match Settings::from_env_and_args() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    if let Err(message) = check_fd_limit(settings.flows) {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the tokio runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(settings)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// Refuses to start when the soft limit on open files cannot hold a client and
/// a server socket per flow; raising it needs `setrlimit`, which std does not offer.
fn check_fd_limit(flows: usize) -> Result<(), String> {
    let needed = (flows as u64).saturating_mul(2).saturating_add(FD_SLACK);
    let Some((soft, hard)) = fd_limits() else {
        println!("file descriptors: limit unknown (no /proc/self/limits), {needed} needed");
        return Ok(());
    };
    println!("file descriptors: soft limit {soft}, hard limit {hard}, about {needed} needed");
    if soft < needed {
        return Err(format!(
            "the soft limit on open files is {soft}, but {flows} flows need about {needed} \
             (a client and a server socket each); raise it in this shell first, e.g. \
             `ulimit -n 8192` (the hard limit is {hard}), or run fewer flows with --flows"
        ));
    }
    Ok(())
}

/// The soft and hard `Max open files` ("unlimited" as `u64::MAX`).
fn fd_limits() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    let mut values = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .map(|value| match value {
            "unlimited" => Some(u64::MAX),
            number => number.parse().ok(),
        });
    Some((values.next()??, values.next()??))
}

async fn run(settings: Settings) -> Result<bool, BoxError> {
    let workers = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("ssoflow-emulator load benchmark");
    println!(
        "note: the emulator and every client connection run in this one process, on one tokio \
         runtime with {workers} worker threads on {workers} CPUs; client and server share those \
         cores, so the server alone would do better than these figures"
    );
    println!(
        "settings: {} flows started over {} s, interval {} s, auto-approve on poll {}, saturation {} s",
        settings.flows,
        settings.ramp.as_secs(),
        INTERVAL.as_secs(),
        settings.polls,
        settings.saturation.as_secs()
    );

    let mut config = EmulatorConfig::default();
    config.service.interval = INTERVAL;
    config.service.auto_approve = Some(AutoApprove::AfterPolls(settings.polls));
    let emulator = Emulator::start(config).await?;
    let addr = emulator.local_addr();
    println!("emulator: {}", emulator.base_url());

    let (clients, all_ok) = flow_phase(&settings, addr, &emulator).await?;
    let (clients, portal_ok) = portal_phase(clients, &emulator).await;
    let all_ok = all_ok && portal_ok;

    if settings.saturation.is_zero() {
        println!();
        println!("saturation phase skipped (--saturation-secs 0)");
    } else if clients.is_empty() {
        println!();
        println!("saturation phase skipped: no connection survived the flows");
    } else {
        saturation_phase(&settings, clients, &emulator).await;
    }

    emulator.stop().await?;
    if all_ok {
        println!();
        println!("result: all {} flows completed", settings.flows);
    } else {
        println!();
        println!("result: FAILED, not every flow completed (see above)");
    }
    Ok(all_ok)
}

/// Phase one; returns the connections of the flows that completed, and
/// whether all of them did.
async fn flow_phase(
    settings: &Settings,
    addr: SocketAddr,
    emulator: &Emulator,
) -> Result<(Vec<Client>, bool), BoxError> {
    println!();
    println!(
        "== phase 1: {} device flows, started evenly over {} s ==",
        settings.flows,
        settings.ramp.as_secs()
    );
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let flows = u32::try_from(settings.flows).unwrap_or(u32::MAX);
    let tasks: Vec<_> = (0..settings.flows)
        .map(|index| {
            let offset = settings.ramp * u32::try_from(index).unwrap_or(u32::MAX) / flows;
            tokio::spawn(run_flow(index, addr, started, started + offset))
        })
        .collect();
    let mut clients = Vec::with_capacity(settings.flows);
    let mut samples = Samples::default();
    let mut connects = Vec::with_capacity(settings.flows);
    let mut errors = Errors::default();
    let mut failed = 0usize;
    let mut out_of_fds = false;
    for task in tasks {
        match task.await {
            Ok(outcome) => {
                samples.merge(outcome.samples);
                connects.extend(outcome.connect);
                errors.merge(outcome.errors);
                match outcome.result {
                    Ok(client) => clients.push(client),
                    Err(failure) => {
                        failed += 1;
                        out_of_fds |= failure.out_of_fds;
                    }
                }
            }
            Err(join) => {
                failed += 1;
                errors.add(format!("flow task ended abnormally: {join}"));
            }
        }
    }
    let wall = started.elapsed();
    let cpu = cpu_since(cpu_before);
    let completed = clients.len();
    let requests = samples.total();

    println!("flows completed: {completed}, failed: {failed}");
    println!(
        "requests: {requests} ({} RegisterClient, {} StartDeviceAuthorization, {} CreateToken)",
        samples.register.len(),
        samples.start.len(),
        samples.polls()
    );
    println!("wall time: {:.3} s", wall.as_secs_f64());
    println!(
        "throughput: {:.1} requests/s, {:.1} flows/s",
        per_second(requests, wall),
        per_second(completed, wall)
    );
    print_cpu(cpu, wall);
    println!("connect (TCP handshake, not counted as a request):");
    print_header();
    print_row("connect", &mut connects);
    println!("request latency, client side (send to whole body received):");
    print_header();
    let mut polls = samples.all_polls();
    let mut all = samples.all();
    print_row("RegisterClient", &mut samples.register);
    print_row("StartDeviceAuthorization", &mut samples.start);
    print_row("CreateToken", &mut polls);
    print_row("  authorization_pending", &mut samples.pending.clone());
    print_row("  token issued", &mut samples.token);
    print_row("all operations", &mut all);
    // All flows poll at once from the last flow's first poll until the
    // first flow's last one.
    let steady_from = settings.ramp + INTERVAL;
    let steady_until = INTERVAL * settings.polls.saturating_sub(1);
    let (mut starting, mut steady): (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());
    for (&latency, &sent) in samples.pending.iter().zip(&samples.pending_sent) {
        let sent = Duration::from_millis(u64::from(sent));
        if sent < settings.ramp {
            starting.push(latency);
        } else if sent >= steady_from && sent <= steady_until {
            steady.push(latency);
        }
    }
    println!(
        "authorization_pending polls by when they were sent (steady state: all {} flows polling, {:.0}–{:.0} s):",
        settings.flows,
        steady_from.as_secs_f64(),
        steady_until.as_secs_f64()
    );
    print_header();
    print_row("  while flows start", &mut starting);
    if steady_until > steady_from {
        print_row("  steady state", &mut steady);
    } else {
        println!("  steady state: none (raise --polls above the ramp in seconds + 2)");
    }
    if !samples.other.is_empty() {
        print_row("failed requests (any op)", &mut samples.other);
    }
    let counters = emulator.with_service(|service| service.counters());
    println!(
        "server counters: register_client={} start_device_authorization={} create_token={} other={}",
        counters.register_client,
        counters.start_device_authorization,
        counters.create_token,
        counters.other
    );
    errors.print();
    print_rss();
    if out_of_fds {
        return Err(format!(
            "ran out of file descriptors (EMFILE); raise the limit first, e.g. `ulimit -n 8192`, \
             or run fewer flows with --flows (this run asked for {})",
            settings.flows
        )
        .into());
    }
    Ok((clients, failed == 0))
}

/// Phase two: each signed-in client calls the portal API with its token,
/// the calls spread over [`PORTAL_RAMP`]: ListAccounts, ListAccountRoles,
/// GetRoleCredentials (the emulator's built-in account and role). Returns
/// the clients for phase three, and whether every call answered 200.
async fn portal_phase(clients: Vec<Client>, emulator: &Emulator) -> (Vec<Client>, bool) {
    let count = clients.len();
    println!();
    println!(
        "== phase 2: the portal API, {count} clients, 3 calls each, spread over {} s ==",
        PORTAL_RAMP.as_secs()
    );
    let Ok(endpoint) = Endpoint::from_url(emulator.base_url()) else {
        println!("portal phase skipped: the base URL is not an endpoint");
        return (clients, false);
    };
    let cpu_before = cpu_seconds();
    let origin = Instant::now();
    let per_client = u32::try_from(count).unwrap_or(u32::MAX).max(1);
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let start =
                origin + PORTAL_RAMP * u32::try_from(index).unwrap_or(u32::MAX) / per_client;
            tokio::spawn(portal_calls(client, endpoint.clone(), start))
        })
        .collect();
    let mut latencies: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    let mut errors = Errors::default();
    let mut clients = Vec::with_capacity(count);
    for task in tasks {
        match task.await {
            Ok((client, samples, task_errors)) => {
                for (name, latency) in samples {
                    latencies.entry(name).or_default().push(latency);
                }
                errors.merge(task_errors);
                clients.push(client);
            }
            Err(join) => errors.add(format!("portal task ended abnormally: {join}")),
        }
    }
    let wall = origin.elapsed();
    print_cpu(cpu_since(cpu_before), wall);
    println!("portal request latency, client side:");
    print_header();
    for (name, values) in &mut latencies {
        print_row(name, values);
    }
    let counters = emulator.with_service(|service| service.counters());
    println!(
        "server counters: list_accounts={} list_account_roles={} get_role_credentials={} throttled={}",
        counters.list_accounts,
        counters.list_account_roles,
        counters.get_role_credentials,
        counters.portal_throttled
    );
    let ok = errors.0.is_empty() && clients.len() == count;
    errors.print();
    (clients, ok)
}

/// One client's three portal calls, each built by the core's `PortalCall`.
async fn portal_calls(
    mut client: Client,
    endpoint: Endpoint,
    start: Instant,
) -> (Client, Vec<(&'static str, u32)>, Errors) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let mut samples = Vec::new();
    let mut errors = Errors::default();
    let now = Instant::now();
    let token = client.access_token.clone();
    let transmits = [
        PortalCall::new(endpoint.clone(), token.clone(), ListAccounts::new(), now, 1)
            .poll_transmit(now),
        PortalCall::new(
            endpoint.clone(),
            token.clone(),
            ListAccountRoles::new(PORTAL_ACCOUNT),
            now,
            1,
        )
        .poll_transmit(now),
        PortalCall::new(
            endpoint,
            token,
            GetRoleCredentials::new(PORTAL_ACCOUNT, PORTAL_ROLE),
            now,
            1,
        )
        .poll_transmit(now),
    ];
    for transmit in transmits.into_iter().flatten() {
        let name = transmit.operation.name();
        let (took, result) = client.conn.send_transmit(transmit).await;
        match result {
            Ok(answer) if answer.status == 200 => samples.push((name, micros(took))),
            Ok(answer) => errors.add(format!("{name}: HTTP {}", answer.status)),
            Err(error) => errors.add(error.message),
        }
    }
    (client, samples, errors)
}

/// Phase three: back-to-back StartDeviceAuthorization on every connection.
async fn saturation_phase(settings: &Settings, clients: Vec<Client>, emulator: &Emulator) {
    let connections = clients.len();
    println!();
    println!(
        "== phase 3: saturation, {connections} connections sending StartDeviceAuthorization \
         back to back for {} s ==",
        settings.saturation.as_secs()
    );
    println!(
        "note: client and server share the same {} cores of this process; the figures are the \
         emulator's throughput while also running {connections} busy clients",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    );
    let authorizations_before = emulator
        .with_service(|service| service.counters())
        .start_device_authorization;
    let cpu_before = cpu_seconds();
    let origin = Instant::now();
    let deadline = origin + settings.saturation;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|client| tokio::spawn(saturate(client, origin, deadline)))
        .collect();
    let mut latencies = Vec::new();
    let mut buckets: Vec<u64> = Vec::new();
    let mut errors = Errors::default();
    let mut last_done = origin;
    for task in tasks {
        match task.await {
            Ok(result) => {
                latencies.extend(result.latencies);
                if buckets.len() < result.buckets.len() {
                    buckets.resize(result.buckets.len(), 0);
                }
                for (total, count) in buckets.iter_mut().zip(result.buckets) {
                    *total += count;
                }
                errors.merge(result.errors);
                last_done = last_done.max(result.finished);
            }
            Err(join) => errors.add(format!("saturation task ended abnormally: {join}")),
        }
    }
    let elapsed = last_done.duration_since(origin);
    let cpu = cpu_since(cpu_before);
    let requests = latencies.len();
    let full_seconds = usize::try_from(settings.saturation.as_secs()).unwrap_or(usize::MAX);
    let best = buckets
        .iter()
        .take(full_seconds)
        .copied()
        .max()
        .unwrap_or(0);
    println!(
        "requests: {requests} in {:.3} s (the last ones finish after the {} s deadline)",
        elapsed.as_secs_f64(),
        settings.saturation.as_secs()
    );
    println!(
        "throughput: {:.1} requests/s on average, {best} requests/s in the best whole second",
        per_second(requests, elapsed)
    );
    let per_second_line: Vec<String> = buckets
        .iter()
        .enumerate()
        .map(|(second, count)| {
            let tail = if second >= full_seconds {
                " (tail)"
            } else {
                ""
            };
            format!("s{}: {count}{tail}", second + 1)
        })
        .collect();
    println!("completed per second: {}", per_second_line.join(", "));
    print_cpu(cpu, elapsed);
    println!("StartDeviceAuthorization latency under saturation:");
    print_header();
    print_row("StartDeviceAuthorization", &mut latencies);
    let counters = emulator.with_service(|service| service.counters());
    println!(
        "server: {} StartDeviceAuthorization received in this phase; pending authorizations now held: {}",
        counters.start_device_authorization - authorizations_before,
        emulator.with_service(|service| service.pending(std::time::SystemTime::now()).len())
    );
    errors.print();
    print_rss();
}

/// A registered client on its own kept-alive connection.
struct Client {
    conn: Conn,
    client_id: String,
    client_secret: ClientSecret,
    access_token: AccessToken,
}

/// One HTTP/1.1 connection; its driver runs as a task of its own.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

/// A response that arrived whole.
struct Answer {
    status: u16,
    body: Bytes,
}

/// Why a request gave no answer.
struct RequestError {
    message: String,
    out_of_fds: bool,
}

impl Conn {
    async fn connect(addr: SocketAddr) -> Result<Conn, RequestError> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|error| RequestError {
                out_of_fds: error.raw_os_error() == Some(EMFILE),
                message: format!("connect: {error}"),
            })?;
        stream.set_nodelay(true).map_err(|error| RequestError {
            out_of_fds: false,
            message: format!("set_nodelay: {error}"),
        })?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|error| RequestError {
                out_of_fds: false,
                message: format!("HTTP handshake: {error}"),
            })?;
        tokio::spawn(async move {
            // A broken connection shows up as the next request's error.
            let _ = connection.await;
        });
        let host = HeaderValue::from_str(&addr.to_string()).map_err(|error| RequestError {
            out_of_fds: false,
            message: format!("Host header: {error}"),
        })?;
        Ok(Conn { sender, host })
    }

    /// Sends one SSO OIDC request and reads the whole answer; the duration covers both.
    async fn call(
        &mut self,
        operation: Operation,
        body: Bytes,
    ) -> (Duration, Result<Answer, RequestError>) {
        let request = hyper::Request::post(operation.path())
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, CONTENT_TYPE_JSON)
            .body(Full::new(body));
        self.send(operation, request).await
    }

    /// Sends a request a core machine built (a portal call), as the drivers
    /// would: its method, path and query, headers and body.
    async fn send_transmit(
        &mut self,
        transmit: Transmit,
    ) -> (Duration, Result<Answer, RequestError>) {
        let (parts, body) = transmit.request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned();
        let mut request = hyper::Request::builder()
            .method(parts.method)
            .uri(path)
            .header(HOST, self.host.clone());
        for (name, value) in &parts.headers {
            request = request.header(name, value);
        }
        self.send(
            transmit.operation,
            request.body(Full::new(Bytes::from(body))),
        )
        .await
    }

    async fn send(
        &mut self,
        operation: Operation,
        request: Result<hyper::Request<Full<Bytes>>, hyper::http::Error>,
    ) -> (Duration, Result<Answer, RequestError>) {
        let started = Instant::now();
        let result = match request {
            Ok(request) => tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request)).await,
            Err(error) => Ok(Err(format!("building the request: {error}"))),
        };
        let took = started.elapsed();
        let result = match result {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(message)) => Err(RequestError {
                message: format!("{}: {message}", operation.name()),
                out_of_fds: false,
            }),
            Err(_) => Err(RequestError {
                message: format!(
                    "{}: no answer within {} s",
                    operation.name(),
                    REQUEST_TIMEOUT.as_secs()
                ),
                out_of_fds: false,
            }),
        };
        (took, result)
    }

    async fn exchange(&mut self, request: hyper::Request<Full<Bytes>>) -> Result<Answer, String> {
        self.sender
            .ready()
            .await
            .map_err(|error| format!("connection not ready: {error}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|error| format!("sending: {error}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|error| format!("reading the body: {error}"))?
            .to_bytes();
        Ok(Answer { status, body })
    }
}

/// Latencies in microseconds, by operation and CreateToken outcome.
#[derive(Default)]
struct Samples {
    register: Vec<u32>,
    start: Vec<u32>,
    pending: Vec<u32>,
    /// When each `pending` poll was sent, in ms since the phase started.
    pending_sent: Vec<u32>,
    token: Vec<u32>,
    /// Requests that failed, whatever the operation.
    other: Vec<u32>,
}

impl Samples {
    fn merge(&mut self, other: Samples) {
        self.register.extend(other.register);
        self.start.extend(other.start);
        self.pending.extend(other.pending);
        self.pending_sent.extend(other.pending_sent);
        self.token.extend(other.token);
        self.other.extend(other.other);
    }

    fn polls(&self) -> usize {
        self.pending.len() + self.token.len()
    }

    fn all_polls(&self) -> Vec<u32> {
        [&self.pending, &self.token]
            .into_iter()
            .flatten()
            .copied()
            .collect()
    }

    fn total(&self) -> usize {
        self.register.len()
            + self.start.len()
            + self.pending.len()
            + self.token.len()
            + self.other.len()
    }

    fn all(&self) -> Vec<u32> {
        [
            &self.register,
            &self.start,
            &self.pending,
            &self.token,
            &self.other,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect()
    }
}

/// Error messages with how often each occurred.
#[derive(Default)]
struct Errors(BTreeMap<String, u64>);

impl Errors {
    fn add(&mut self, message: String) {
        *self.0.entry(message).or_default() += 1;
    }

    fn merge(&mut self, other: Errors) {
        for (message, count) in other.0 {
            *self.0.entry(message).or_default() += count;
        }
    }

    fn print(&self) {
        let total: u64 = self.0.values().sum();
        if total == 0 {
            println!("errors: none");
            return;
        }
        println!("errors: {total}");
        for (message, count) in &self.0 {
            println!("  {count} x {message}");
        }
    }
}

/// What one flow task hands back.
struct FlowOutcome {
    samples: Samples,
    connect: Option<u32>,
    errors: Errors,
    result: Result<Client, FlowFailure>,
}

struct FlowFailure {
    out_of_fds: bool,
}

async fn run_flow(index: usize, addr: SocketAddr, origin: Instant, start: Instant) -> FlowOutcome {
    tokio::time::sleep_until(tokio::time::Instant::from_std(start)).await;
    let mut outcome = FlowOutcome {
        samples: Samples::default(),
        connect: None,
        errors: Errors::default(),
        result: Err(FlowFailure { out_of_fds: false }),
    };
    let connect_started = Instant::now();
    let conn = match Conn::connect(addr).await {
        Ok(conn) => conn,
        Err(error) => {
            outcome.errors.add(error.message);
            outcome.result = Err(FlowFailure {
                out_of_fds: error.out_of_fds,
            });
            return outcome;
        }
    };
    outcome.connect = Some(micros(connect_started.elapsed()));
    outcome.result = match device_flow(index, conn, origin, &mut outcome.samples).await {
        Ok(client) => Ok(client),
        Err(message) => {
            outcome.errors.add(message);
            Err(FlowFailure { out_of_fds: false })
        }
    };
    outcome
}

/// RegisterClient, StartDeviceAuthorization, then CreateToken every interval
/// until the token comes. Any answer but success or `authorization_pending`
/// ends the flow; its message (without the secrets) is the error.
async fn device_flow(
    index: usize,
    mut conn: Conn,
    origin: Instant,
    samples: &mut Samples,
) -> Result<Client, String> {
    let register = RegisterClientRequest {
        client_name: format!("ssoflow-load-{index}"),
        client_type: CLIENT_TYPE_PUBLIC.to_owned(),
        scopes: Some(vec![DEFAULT_SCOPE.to_owned()]),
        redirect_uris: None,
        grant_types: None,
        issuer_url: Some(START_URL.to_owned()),
        entitled_application_arn: None,
    };
    let answer = timed(
        &mut conn,
        Operation::RegisterClient,
        wire::encode(&register),
        &mut samples.register,
        &mut samples.other,
    )
    .await?;
    let registered: RegisterClientResponse = decode(Operation::RegisterClient, &answer.body)?;
    let (Some(client_id), Some(client_secret)) = (registered.client_id, registered.client_secret)
    else {
        return Err("RegisterClient: 200 without clientId or clientSecret".to_owned());
    };

    let start = StartDeviceAuthorizationRequest {
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        start_url: START_URL.to_owned(),
    };
    let answer = timed(
        &mut conn,
        Operation::StartDeviceAuthorization,
        wire::encode(&start),
        &mut samples.start,
        &mut samples.other,
    )
    .await?;
    let started: StartDeviceAuthorizationResponse =
        decode(Operation::StartDeviceAuthorization, &answer.body)?;
    let Some(device_code) = started.device_code else {
        return Err("StartDeviceAuthorization: 200 without deviceCode".to_owned());
    };
    let interval = started
        .interval
        .and_then(|seconds| u64::try_from(seconds).ok())
        .filter(|seconds| *seconds > 0)
        .map(Duration::from_secs)
        .ok_or("StartDeviceAuthorization: no positive interval")?;

    let poll = Bytes::from(wire::encode(&CreateTokenRequest::device_code(
        &client_id,
        &client_secret,
        &device_code,
    )));
    loop {
        tokio::time::sleep(interval).await;
        let sent = u32::try_from(origin.elapsed().as_millis()).unwrap_or(u32::MAX);
        let (took, result) = conn.call(Operation::CreateToken, poll.clone()).await;
        let answer = match result {
            Ok(answer) => answer,
            Err(error) => {
                samples.other.push(micros(took));
                return Err(error.message);
            }
        };
        if answer.status == 200 {
            let token: CreateTokenResponse = decode(Operation::CreateToken, &answer.body)?;
            let Some(access_token) = token.access_token else {
                samples.other.push(micros(took));
                return Err("CreateToken: 200 without accessToken".to_owned());
            };
            samples.token.push(micros(took));
            return Ok(Client {
                conn,
                client_id,
                client_secret,
                access_token,
            });
        }
        let error: ErrorBody = wire::decode(&answer.body).unwrap_or_default();
        if error.error.as_deref() == Some("authorization_pending") {
            samples.pending.push(micros(took));
            samples.pending_sent.push(sent);
            continue;
        }
        samples.other.push(micros(took));
        return Err(describe_error(Operation::CreateToken, &answer));
    }
}

/// Sends a request whose only acceptable answer is 200, recording its latency.
async fn timed(
    conn: &mut Conn,
    operation: Operation,
    body: Vec<u8>,
    ok: &mut Vec<u32>,
    failed: &mut Vec<u32>,
) -> Result<Answer, String> {
    let (took, result) = conn.call(operation, Bytes::from(body)).await;
    match result {
        Ok(answer) if answer.status == 200 => {
            ok.push(micros(took));
            Ok(answer)
        }
        Ok(answer) => {
            failed.push(micros(took));
            Err(describe_error(operation, &answer))
        }
        Err(error) => {
            failed.push(micros(took));
            Err(error.message)
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(operation: Operation, body: &[u8]) -> Result<T, String> {
    wire::decode(body)
        .map_err(|error| format!("{}: undecodable 200 body: {error}", operation.name()))
}

/// `Operation: status error: description`, for grouping equal errors.
fn describe_error(operation: Operation, answer: &Answer) -> String {
    let body: ErrorBody = wire::decode(&answer.body).unwrap_or_default();
    let hint = if body.error.as_deref() == Some("slow_down") {
        " (the client polled early)"
    } else {
        ""
    };
    format!(
        "{}: HTTP {} {}: {}{hint}",
        operation.name(),
        answer.status,
        body.error.as_deref().unwrap_or("(no error code)"),
        body.error_description
            .as_deref()
            .unwrap_or("(no description)")
    )
}

/// What one saturation task hands back.
struct SaturationResult {
    latencies: Vec<u32>,
    /// Completed requests per second since the phase began.
    buckets: Vec<u64>,
    errors: Errors,
    finished: Instant,
}

async fn saturate(mut client: Client, origin: Instant, deadline: Instant) -> SaturationResult {
    let body = Bytes::from(wire::encode(&StartDeviceAuthorizationRequest {
        client_id: client.client_id.clone(),
        client_secret: client.client_secret.clone(),
        start_url: START_URL.to_owned(),
    }));
    let mut result = SaturationResult {
        latencies: Vec::new(),
        buckets: Vec::new(),
        errors: Errors::default(),
        finished: origin,
    };
    while Instant::now() < deadline {
        let (took, answer) = client
            .conn
            .call(Operation::StartDeviceAuthorization, body.clone())
            .await;
        let now = Instant::now();
        result.finished = now;
        result.latencies.push(micros(took));
        let second = usize::try_from(now.duration_since(origin).as_secs()).unwrap_or(usize::MAX);
        if result.buckets.len() <= second {
            result.buckets.resize(second + 1, 0);
        }
        if let Some(bucket) = result.buckets.get_mut(second) {
            *bucket += 1;
        }
        match answer {
            Ok(answer) if answer.status == 200 => {}
            Ok(answer) => result
                .errors
                .add(describe_error(Operation::StartDeviceAuthorization, &answer)),
            Err(error) => {
                result.errors.add(error.message);
                break;
            }
        }
    }
    result
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn print_header() {
    println!(
        "  {:<26} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "(ms)", "count", "p50", "p90", "p99", "max"
    );
}

/// One latency line; sorts `values` in place.
fn print_row(label: &str, values: &mut [u32]) {
    values.sort_unstable();
    let ms = |value: Option<u32>| {
        value.map_or_else(
            || "-".to_owned(),
            |us| format!("{:.3}", f64::from(us) / 1000.0),
        )
    };
    println!(
        "  {:<26} {:>8} {:>10} {:>10} {:>10} {:>10}",
        label,
        values.len(),
        ms(percentile(values, 50)),
        ms(percentile(values, 90)),
        ms(percentile(values, 99)),
        ms(values.last().copied())
    );
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[u32], percent: usize) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// The process's user and system CPU time so far, in seconds.
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user / USER_HZ, system / USER_HZ))
}

/// CPU time spent since `before`, as (user, system) seconds.
fn cpu_since(before: Option<(f64, f64)>) -> Option<(f64, f64)> {
    let ((user, system), (user_before, system_before)) = cpu_seconds().zip(before)?;
    Some((user - user_before, system - system_before))
}

fn print_cpu(cpu: Option<(f64, f64)>, wall: Duration) {
    let Some((user, system)) = cpu else {
        println!("CPU time: unknown (no /proc/self/stat)");
        return;
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let busy = user + system;
    let available = wall.as_secs_f64() * cores as f64;
    let share = if available > 0.0 {
        100.0 * busy / available
    } else {
        0.0
    };
    println!(
        "CPU time (client + server): {user:.2} s user, {system:.2} s system, \
         {share:.0}% of {cores} cores over the wall time"
    );
}

/// Peak and current resident set size, client and server together.
fn print_rss() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    match (field("VmHWM:"), field("VmRSS:")) {
        (Some(peak), Some(now)) => println!(
            "peak RSS (VmHWM, client + server): {:.1} MiB (now {:.1} MiB)",
            peak as f64 / 1024.0,
            now as f64 / 1024.0
        ),
        _ => println!("peak RSS: unknown (no VmHWM in /proc/self/status)"),
    }
}
