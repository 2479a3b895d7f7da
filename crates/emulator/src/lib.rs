//! An AWS SSO OIDC and SSO portal emulator: the simulated [`Service`] of
//! `ssoflow-test-transport` (the same code, not a copy) served over real HTTP
//! on a loopback port, close enough to the real services that botocore and the
//! AWS CLI cannot tell the difference, plus the pages where a person approves
//! or denies a sign-in, and an admin API for scripts.
//!
//! **In scope:** `POST …/client/register`, `…/device_authorization` and
//! `…/token` (device-code, authorization-code and refresh grants) under any
//! path prefix, with the real service's statuses, `x-amzn-ErrorType` and
//! `x-amzn-RequestId` headers and OAuth error bodies; answers to malformed,
//! oversized, slow and misdirected requests; the verification page
//! (`/device`, with CSRF protection and a lockout after repeated wrong
//! codes); `GET /authorize` for the authorization-code grant with PKCE, at
//! the root whatever the API's prefix, with the same consent page and a
//! redirect to the application's loopback listener; the SSO portal API on
//! the same port and under the same prefixes (`GET …/federation/credentials`,
//! `…/assignment/accounts`, `…/assignment/roles`, `POST …/logout`) for the
//! access tokens it issued, with the accounts of
//! [`ServiceConfig::accounts`] (or an [`AccountsFile`]); the admin API under
//! `/_emulator/` (see the crate's README); a state file that survives
//! restarts; HTTPS instead of HTTP on request ([`EmulatorConfig::tls`]),
//! with a certificate from a CA made at start-up or the user's own; each
//! request logged as a `tracing` event at info level (request id, method,
//! path, status, latency; never a body, token, code or secret), seen by
//! whoever installs a subscriber. **Out of scope:** HTTP/2,
//! CreateTokenWithIAM (refused plainly), a sign-in step before consent, AWS
//! services that would accept the role credentials it hands out.
//!
//! # Example: a client registers over real HTTP
//!
//! ```
//! use ssoflow_emulator::{EmulatorConfig, EmulatorThread};
//!
//! let emulator = EmulatorThread::start(EmulatorConfig::default())?;
//! let response = ureq::post(format!("{}/client/register", emulator.base_url()))
//!     .content_type("application/json")
//!     .send(r#"{"clientName":"my-tool","clientType":"public","scopes":["sso:account:access"]}"#)?;
//! assert_eq!(response.status(), 200);
//! assert!(response.headers().contains_key("x-amzn-requestid"));
//! emulator.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: HTTPS, with the generated CA trusted by the client
//!
//! ```
//! use ssoflow_emulator::{EmulatorConfig, EmulatorThread, TlsSettings};
//!
//! let emulator = EmulatorThread::start(EmulatorConfig {
//!     tls: Some(TlsSettings::Generated { extra_hosts: Vec::new() }),
//!     ..EmulatorConfig::default()
//! })?;
//! assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
//! // Write it to a file for AWS_CA_BUNDLE, or give it to the client directly:
//! let ca_pem = emulator.tls_ca_pem().expect("a generated CA");
//! let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes())?;
//! let agent: ureq::Agent = ureq::Agent::config_builder()
//!     .tls_config(
//!         ureq::tls::TlsConfig::builder()
//!             .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
//!             .build(),
//!     )
//!     .build()
//!     .into();
//! let response = agent
//!     .post(format!("{}/client/register", emulator.base_url()))
//!     .content_type("application/json")
//!     .send(r#"{"clientName":"my-tool","clientType":"public","scopes":["sso:account:access"]}"#)?;
//! assert_eq!(response.status(), 200);
//! emulator.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The drivers' own tests sign in against it (`ssoflow-blocking`'s
//! `tests/emulator.rs`, `ssoflow-async`'s `tests/reqwest_emulator.rs`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod accounts;
mod admin;
mod api;
mod args;
mod connect_proxy;
mod foreground;
mod page;
mod server;
mod state_file;
mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ssoflow_test_transport::Service;

/// The simulated service's knobs, re-exported so a user of the emulator needs no other crate.
pub use ssoflow_test_transport::{AutoApprove, Fault, PortalAccount, ServiceConfig};
use tokio::sync::{Notify, watch};

pub use accounts::{AccountsFile, AccountsFileError};
pub use args::{DurationArg, EmulatorArgs};
pub use connect_proxy::ConnectProxy;
pub use foreground::run_until_stopped;
pub use state_file::StateFileError;
pub use tls::{TlsError, TlsSettings};

/// Where the verification page is served, relative to the base URL.
pub const VERIFICATION_PATH: &str = "/device";

/// Where the authorization-code grant's browser-facing endpoint is served:
/// always at the root of the host, as the AWS CLI builds its URL from the
/// endpoint's scheme and host only (`wire-protocol.md` §7). Its consent form
/// posts to `/authorize/decide`.
pub const AUTHORIZE_PATH: &str = "/authorize";

/// Where the admin API is served, relative to the base URL.
pub const ADMIN_PREFIX: &str = "/_emulator";

/// How the emulator listens and behaves. [`Default`] gives a free port on
/// 127.0.0.1, the real service's lifetimes (see [`ServiceConfig`]), no state
/// file, a 256 KiB body limit with 10 s to send it, a one-minute lockout
/// after five wrong codes, and plain HTTP.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// The address to listen on; port 0 picks a free one. Only loopback
    /// addresses unless [`EmulatorConfig::allow_non_loopback`].
    pub bind: SocketAddr,
    /// Whether `bind` may be an address other hosts reach. The emulator hands
    /// tokens to anyone who asks, so this must be chosen on purpose.
    pub allow_non_loopback: bool,
    /// The simulated service's knobs. Its `verification_uri` is replaced by
    /// this emulator's own page once the port is known.
    pub service: ServiceConfig,
    /// Where registrations, pending authorizations, refresh and access tokens
    /// are kept across restarts; `None` keeps them in memory only.
    pub state_file: Option<PathBuf>,
    /// The largest request body accepted; larger ones get 413. The largest
    /// realistic body (a refresh with an 8 KiB token and a ~1 KiB secret) is
    /// far below the default of 256 KiB.
    pub body_limit: usize,
    /// How long a request body may take to arrive in full; a client that
    /// announces more bytes than it sends gets 408 after this, not a hang.
    /// Default 10 s.
    pub body_read_timeout: Duration,
    /// How many unknown user codes one address may enter at the verification
    /// page before it is locked out for [`EmulatorConfig::wrong_code_lockout`].
    pub wrong_code_limit: u32,
    /// How long an address that entered too many unknown codes must wait.
    pub wrong_code_lockout: Duration,
    /// Serve HTTPS (HTTP/1.1 over TLS) instead of HTTP on the same port;
    /// `None` serves plain HTTP. With TLS the base URL starts with
    /// `https://`, and every page and API is served over it alone.
    pub tls: Option<TlsSettings>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            allow_non_loopback: false,
            service: ServiceConfig::default(),
            state_file: None,
            body_limit: 256 * 1024,
            body_read_timeout: Duration::from_secs(10),
            wrong_code_limit: 5,
            wrong_code_lockout: Duration::from_secs(60),
            tls: None,
        }
    }
}

/// Why an emulator could not start, or could not save its state when stopping.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The bind address is not loopback and the configuration did not allow that.
    #[error(
        "refusing to listen on {0}: the emulator issues tokens to anyone who asks, so it listens \
         on loopback only unless told otherwise (pass --bind {0} explicitly, or set \
         allow_non_loopback)"
    )]
    NotLoopback(SocketAddr),
    /// Listening failed (address in use, no permission).
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The state file could not be read, parsed or written.
    #[error(transparent)]
    StateFile(#[from] StateFileError),
    /// HTTPS was asked for and could not be set up (a certificate or key
    /// file that cannot be used, an extra host no certificate can name).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The runtime thread of an [`EmulatorThread`] could not be started or ended abnormally.
    #[error("the emulator thread failed: {0}")]
    Thread(String),
}

/// What every request handler shares: the simulated service and the
/// verification page's guards. The service's lock is held only for one
/// synchronous `handle` call, never across an await.
pub(crate) struct Shared {
    service: Mutex<Service>,
    pub(crate) page: page::PageGuard,
    pub(crate) body_limit: usize,
    pub(crate) body_read_timeout: Duration,
    /// Woken after every change, when a state file is kept.
    state_changed: Option<Arc<Notify>>,
}

impl Shared {
    /// Runs `f` on the service, then schedules a state-file write. A handler
    /// that panicked while holding the lock left the service in a state that is
    /// still consistent (every mutation is a single insert or field write), so a
    /// poisoned lock is taken over rather than turned into a second panic.
    pub(crate) fn with_service<R>(&self, f: impl FnOnce(&mut Service) -> R) -> R {
        let result = f(&mut self.lock_service());
        if let Some(notify) = &self.state_changed {
            notify.notify_one();
        }
        result
    }

    /// Reads the service without scheduling a write.
    pub(crate) fn read_service<R>(&self, f: impl FnOnce(&Service) -> R) -> R {
        f(&self.lock_service())
    }

    fn lock_service(&self) -> MutexGuard<'_, Service> {
        self.service.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running emulator on the caller's tokio runtime. Dropping it stops the
/// server (without waiting for the state file's last write; call
/// [`Emulator::stop`] for that).
pub struct Emulator {
    base_url: String,
    local_addr: SocketAddr,
    tls_ca_pem: Option<String>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<Result<(), EmulatorError>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts listening, restoring the state file if one is configured and
    /// exists. Must be called inside a tokio runtime with the time and I/O
    /// drivers enabled. A corrupt state file, or a TLS certificate or key
    /// that cannot be used, is an error here, at start-up, naming the file
    /// and what is wrong with it.
    pub async fn start(mut config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        if !config.bind.ip().is_loopback() && !config.allow_non_loopback {
            return Err(EmulatorError::NotLoopback(config.bind));
        }
        // Before binding, so that a bad certificate file leaves no port taken.
        let tls = config
            .tls
            .as_ref()
            .map(|settings| tls::configure(settings, config.bind.ip()))
            .transpose()?;
        let listener = listen(config.bind).map_err(|source| EmulatorError::Bind {
            address: config.bind,
            source,
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                address: config.bind,
                source,
            })?;
        let base_url = base_url(local_addr, tls.is_some());
        config.service.verification_uri = format!("{base_url}{VERIFICATION_PATH}");

        let service = match &config.state_file {
            Some(path) => state_file::load(path, config.service.clone())?,
            None => None,
        }
        .unwrap_or_else(|| Service::new(config.service.clone()));

        let state_changed = config.state_file.as_ref().map(|_| Arc::new(Notify::new()));
        let shared = Arc::new(Shared {
            service: Mutex::new(service),
            page: page::PageGuard::new(config.wrong_code_limit, config.wrong_code_lockout),
            body_limit: config.body_limit,
            body_read_timeout: config.body_read_timeout,
            state_changed: state_changed.clone(),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let writer = match (&config.state_file, state_changed) {
            (Some(path), Some(notify)) => Some(state_file::Writer::spawn(
                path.clone(),
                Arc::clone(&shared),
                notify,
            )),
            _ => None,
        };
        let router = server::router(Arc::clone(&shared));
        let (acceptor, tls_ca_pem) = match tls {
            Some(tls) => (Some(tls.acceptor), tls.ca_pem),
            None => (None, None),
        };
        let server = tokio::spawn(async move {
            server::serve(listener, router, acceptor, shutdown_rx).await;
            match writer {
                Some(writer) => writer.finish().await,
                None => Ok(()),
            }
        });
        Ok(Emulator {
            base_url,
            local_addr,
            tls_ca_pem,
            shared,
            shutdown,
            server,
        })
    }

    /// The endpoint URL to give clients, e.g. `http://127.0.0.1:40123`
    /// (`https://…` with [`EmulatorConfig::tls`]); the API also answers
    /// under any path prefix of it.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The PEM certificate of the CA the emulator generated for
    /// [`TlsSettings::Generated`]: what a client must trust to reach it,
    /// e.g. written to a file named by `AWS_CA_BUNDLE`. `None` over plain
    /// HTTP and with [`TlsSettings::FromFiles`], where the user holds the CA.
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls_ca_pem.as_deref()
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Acts on the simulated service directly (approve a code, inject faults,
    /// read counters), as the admin API does over HTTP. The server waits while
    /// `f` runs, so keep it short.
    pub fn with_service<R>(&self, f: impl FnOnce(&mut Service) -> R) -> R {
        self.shared.with_service(f)
    }

    /// Stops accepting connections, lets requests in flight finish (a few
    /// seconds at most), and writes the state file one last time.
    pub async fn stop(self) -> Result<(), EmulatorError> {
        let _ = self.shutdown.send(true);
        match self.server.await {
            Ok(result) => result,
            Err(join) => Err(EmulatorError::Thread(join.to_string())),
        }
    }
}

/// A running emulator on a thread of its own, for blocking programs and
/// tests: [`EmulatorThread::start`] returns once the port is open. Dropping it
/// stops the emulator and waits for the thread.
pub struct EmulatorThread {
    base_url: String,
    local_addr: SocketAddr,
    tls_ca_pem: Option<String>,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), EmulatorError>>>,
}

impl std::fmt::Debug for EmulatorThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorThread")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl EmulatorThread {
    /// Starts an emulator on a new thread with a two-worker tokio runtime.
    pub fn start(config: EmulatorConfig) -> Result<EmulatorThread, EmulatorError> {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ssoflow-emulator".to_owned())
            .spawn(move || -> Result<(), EmulatorError> {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|error| EmulatorError::Thread(error.to_string()))?;
                runtime.block_on(async move {
                    let emulator = match Emulator::start(config).await {
                        Ok(emulator) => emulator,
                        Err(error) => {
                            let _ = started_tx.send(Err(error));
                            return Ok(());
                        }
                    };
                    let handle = Started {
                        base_url: emulator.base_url.clone(),
                        local_addr: emulator.local_addr,
                        tls_ca_pem: emulator.tls_ca_pem.clone(),
                        shared: Arc::clone(&emulator.shared),
                    };
                    let _ = started_tx.send(Ok(handle));
                    // A dropped sender (the handle was dropped) also means stop.
                    let _ = stop_rx.await;
                    emulator.stop().await
                })
            })
            .map_err(|error| EmulatorError::Thread(error.to_string()))?;
        match started_rx.recv() {
            Ok(Ok(started)) => Ok(EmulatorThread {
                base_url: started.base_url,
                local_addr: started.local_addr,
                tls_ca_pem: started.tls_ca_pem,
                shared: started.shared,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(match thread.join() {
                Ok(Err(error)) => error,
                _ => EmulatorError::Thread("the emulator thread ended before starting".into()),
            }),
        }
    }

    /// The endpoint URL to give clients, e.g. `http://127.0.0.1:40123`
    /// (`https://…` with [`EmulatorConfig::tls`]).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The generated CA's PEM certificate; see [`Emulator::tls_ca_pem`].
    pub fn tls_ca_pem(&self) -> Option<&str> {
        self.tls_ca_pem.as_deref()
    }

    /// The address the emulator listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Acts on the simulated service directly; see [`Emulator::with_service`].
    pub fn with_service<R>(&self, f: impl FnOnce(&mut Service) -> R) -> R {
        self.shared.with_service(f)
    }

    /// Stops the emulator, waits for its thread and reports whether the last
    /// state-file write succeeded.
    pub fn stop(mut self) -> Result<(), EmulatorError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), EmulatorError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(EmulatorError::Thread("the emulator thread panicked".into())),
        }
    }
}

/// What the emulator thread hands back once it listens.
struct Started {
    base_url: String,
    local_addr: SocketAddr,
    tls_ca_pem: Option<String>,
    shared: Arc<Shared>,
}

impl Drop for EmulatorThread {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// How many connections may wait to be accepted. tokio's default of 128
/// made a burst of 1,000 clients (the load benchmark) lose SYNs and wait a
/// second for the kernel's retransmit.
const LISTEN_BACKLOG: u32 = 1024;

fn listen(address: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match address {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As std and tokio do on Unix: a restarted emulator can take its port
    // back while old connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// `http://IP:PORT` (`https://` with TLS), with brackets for IPv6 and
/// 127.0.0.1 / ::1 in place of an unspecified address, which no client can
/// connect to (and which the generated certificate names).
fn base_url(addr: SocketAddr, tls: bool) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn base_urls_are_connectable() {
        let v4: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(base_url(v4, false), "http://127.0.0.1:8080");
        let v6: SocketAddr = "[::]:9".parse().unwrap();
        assert_eq!(base_url(v6, false), "http://[::1]:9");
        let lan: SocketAddr = "192.168.1.2:80".parse().unwrap();
        assert_eq!(base_url(lan, false), "http://192.168.1.2:80");
        assert_eq!(base_url(v4, true), "https://127.0.0.1:8080");
    }
}
