//! The blocking driver's adapter for the simulated service: a
//! [`Simulation`] behind this crate's [`Transport`] and [`Clock`] seams.
//! (The simulation knows no driver; each driver's tests carry these lines.)
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::time::{Instant, SystemTime};

use ssoflow_blocking::{Clock, Transport, TransportError};
use ssoflow_test_transport::Simulation;

/// Requests go to the simulation's service, in virtual time.
#[derive(Debug, Clone)]
pub struct SimTransport(pub Simulation);

impl Transport for SimTransport {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.0.send(request)
    }
}

/// Sleeping moves the simulation's virtual clock; waits cost nothing.
#[derive(Debug, Clone)]
pub struct VirtualClock(pub Simulation);

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn wall_now(&self) -> SystemTime {
        self.0.wall_now()
    }
    fn sleep_until(&mut self, deadline: Instant) {
        self.0.sleep_until(deadline);
    }
}

/// `sim.transport()` and `sim.clock()` for the blocking driver.
pub trait SimExt {
    /// A transport to this simulation.
    fn transport(&self) -> SimTransport;
    /// This simulation's virtual clock.
    fn clock(&self) -> VirtualClock;
}

impl SimExt for Simulation {
    fn transport(&self) -> SimTransport {
        SimTransport(self.clone())
    }
    fn clock(&self) -> VirtualClock {
        VirtualClock(self.clone())
    }
}

/// What the person (and anyone else) does in the simulated browser of an
/// authorization-code sign-in.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Opens the URL and clicks Allow after this long.
    Approve(std::time::Duration),
    /// Clicks Deny.
    Deny,
    /// Approves; then the service's next answer suffers this fault.
    ApproveThen(ssoflow_test_transport::Fault),
    /// A forged callback (another `state`) reaches the listener first; then
    /// the person approves.
    ForgedThenApprove,
    /// Only a forged callback ever comes.
    ForgedOnly,
    /// The browser comes back with the right `state` and nothing else.
    MissingCode,
    /// The browser comes back with `error=server_error`.
    ErrorParam,
    /// A code obtained by someone else's `/authorize` (another challenge),
    /// delivered with the right `state`: PKCE must stop it.
    InjectedCode,
    /// The browser never comes back.
    Never,
}

struct BrowserState {
    plan: Plan,
    port: u16,
    /// Requests the listener will receive, by virtual time.
    queue: std::collections::VecDeque<(Instant, String)>,
    /// What the listener answered each.
    replies: Vec<ssoflow_core::CallbackReply>,
}

/// A browser and a loopback listener in virtual time: it visits the
/// authorization URL at the simulated service, decides as its [`Plan`] says,
/// and brings the redirect back to the flow as a real listener would.
#[derive(Clone)]
pub struct SimBrowser {
    sim: Simulation,
    state: std::sync::Arc<std::sync::Mutex<BrowserState>>,
}

impl SimBrowser {
    /// A browser acting out `plan`, its listener on `port`.
    pub fn new(sim: &Simulation, plan: Plan, port: u16) -> SimBrowser {
        SimBrowser {
            sim: sim.clone(),
            state: std::sync::Arc::new(std::sync::Mutex::new(BrowserState {
                plan,
                port,
                queue: std::collections::VecDeque::new(),
                replies: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BrowserState> {
        self.state.lock().unwrap()
    }

    /// What the listener answered, in order.
    pub fn replies(&self) -> Vec<ssoflow_core::CallbackReply> {
        self.lock().replies.clone()
    }

    /// The person opens `url` (the flow's [`ssoflow_core::Event::AuthorizationUrl`]).
    pub fn visit(&self, url: &str) {
        use ssoflow_test_transport::AuthorizeStep;
        let query = url.split_once('?').map_or("", |(_, q)| q).to_owned();
        let pairs = ssoflow_core::pkce::parse_query(&query).unwrap();
        let state = pairs.iter().find(|(n, _)| n == "state").unwrap().1.clone();
        let plan = self.lock().plan.clone();
        let now = self.sim.now();
        let authorize = |query: &str, approve: bool| -> String {
            let step = self
                .sim
                .with_service(|service, wall| service.authorize(wall, query))
                .unwrap();
            let location = match step {
                AuthorizeStep::Redirect(location) => location,
                AuthorizeStep::Consent(pending) => self
                    .sim
                    .with_service(|service, wall| {
                        service.decide_authorization(wall, &pending.id, approve)
                    })
                    .unwrap(),
            };
            // The target the listener receives: the Location without its origin.
            let origin = format!("http://127.0.0.1:{}", self.lock().port);
            location.strip_prefix(&origin).unwrap().to_owned()
        };
        let at = |secs: u64| now + std::time::Duration::from_secs(secs);
        let forged = "/oauth/callback?code=forged&state=00000000-0000-4000-8000-000000000000";
        let mut requests = Vec::new();
        match plan {
            Plan::Approve(after) => requests.push((now + after, authorize(&query, true))),
            Plan::Deny => requests.push((at(3), authorize(&query, false))),
            Plan::ApproveThen(fault) => {
                let target = authorize(&query, true);
                self.sim
                    .with_service(|service, _| service.inject_faults(fault, 1));
                requests.push((at(3), target));
            }
            Plan::ForgedThenApprove => {
                requests.push((at(1), forged.to_owned()));
                requests.push((at(4), authorize(&query, true)));
            }
            Plan::ForgedOnly => requests.push((at(1), forged.to_owned())),
            Plan::MissingCode => requests.push((at(2), format!("/oauth/callback?state={state}"))),
            Plan::ErrorParam => requests.push((
                at(2),
                format!(
                    "/oauth/callback?error=server_error&error_description=try+later&state={state}"
                ),
            )),
            Plan::InjectedCode => {
                // Someone else's authorization: same client, another challenge.
                let other = ssoflow_core::pkce::code_challenge(
                    "another-verifier-of-forty-three-characters-x",
                );
                let theirs: Vec<String> = pairs
                    .iter()
                    .map(|(n, v)| {
                        let v = if n == "code_challenge" { &other } else { v };
                        format!(
                            "{}={}",
                            ssoflow_core::pkce::percent_encode(n),
                            ssoflow_core::pkce::percent_encode(v)
                        )
                    })
                    .collect();
                let stolen = authorize(&theirs.join("&"), true);
                let code = stolen
                    .split("code=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap()
                    .to_owned();
                requests.push((at(2), format!("/oauth/callback?code={code}&state={state}")));
            }
            Plan::Never => {}
        }
        self.lock().queue.extend(requests);
    }

    /// The next request by `until`, moving virtual time to it (or to `until`).
    pub fn next_request(&self, until: Instant) -> Option<String> {
        let next = {
            let mut state = self.lock();
            match state.queue.front() {
                Some((at, _)) if *at <= until => state.queue.pop_front(),
                _ => None,
            }
        };
        match next {
            Some((at, target)) => {
                self.sim.sleep_until(at);
                Some(target)
            }
            None => {
                self.sim.sleep_until(until);
                None
            }
        }
    }

    /// Records the listener's answer.
    pub fn record(&self, reply: &ssoflow_core::CallbackReply) {
        self.lock().replies.push(reply.clone());
    }

    /// The listener's port.
    pub fn port_number(&self) -> u16 {
        self.lock().port
    }
}

impl ssoflow_blocking::CallbackListener for SimBrowser {
    fn port(&self) -> u16 {
        self.port_number()
    }
    fn wait(&mut self, until: Instant) -> Option<String> {
        self.next_request(until)
    }
    fn respond(&mut self, reply: &ssoflow_core::CallbackReply) {
        self.record(reply);
    }
}

/// A name no resolver knows: only the test proxy (`ConnectProxy`) reaches it.
pub const PROXIED_HOST: &str = "sso.emulator.test";
/// An address from the benchmarking range (RFC 2544), routed nowhere here.
pub const PROXIED_IP: &str = "198.18.0.1";

/// An auto-approving emulator over HTTPS with a CA of its own, whose
/// certificate also names [`PROXIED_HOST`] and [`PROXIED_IP`].
pub fn https_emulator() -> ssoflow_emulator::EmulatorThread {
    let mut config = ssoflow_emulator::EmulatorConfig::default();
    config.service.auto_approve = Some(ssoflow_emulator::AutoApprove::AfterDelay(
        std::time::Duration::ZERO,
    ));
    config.tls = Some(ssoflow_emulator::TlsSettings::Generated {
        extra_hosts: vec![PROXIED_HOST.into(), PROXIED_IP.into()],
    });
    ssoflow_emulator::EmulatorThread::start(config).unwrap()
}

/// The emulator's CA, written to a file under `name` and read back as a
/// user's AWS_CA_BUNDLE would be.
pub fn ca_bundle(
    emulator: &ssoflow_emulator::EmulatorThread,
    name: &str,
) -> ssoflow_core::net::TrustRoots {
    let dir = std::env::temp_dir().join(format!("ssoflow-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, emulator.tls_ca_pem().unwrap()).unwrap();
    ssoflow_files::CaBundleSetting::new(&path, "AWS_CA_BUNDLE")
        .trust()
        .unwrap()
}
