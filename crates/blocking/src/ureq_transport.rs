//! The ureq 3 transport: rustls with the operating system's trust store (or
//! a CA bundle), per-phase timeouts, a response size limit, proxies, and
//! 4xx/5xx returned as responses.

use ssoflow_core::TransportErrorKind;
use ssoflow_core::drive::{TransportConfig, TransportError};
use ssoflow_core::net::{ProxyRoute, TrustRoots};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

use crate::transport::Transport;

/// Settings of [`UreqTransport`]: the core's [`TransportConfig`], which the
/// async crate's reqwest transport honours too.
pub type UreqConfig = TransportConfig;

/// Sends requests with a ureq 3 agent, which keeps one connection alive per host.
///
/// Which proxy a request takes is decided by
/// [`ProxyRoute::applies_to`](ssoflow_core::net::ProxyRoute::applies_to)
/// (the same rule as the async transport's): loopback hosts (an emulator)
/// are always reached directly; plain HTTP is allowed only because those
/// bytes never leave the machine. Certificates are checked against
/// [`TransportConfig::trust`]; ureq loads the operating system's store at
/// the first HTTPS connection, not before, so a program that finds its
/// token in the cache pays nothing for it.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    route: Option<ProxyRoute>,
    proxied: Option<ureq::Agent>,
    direct: ureq::Agent,
    trust: TrustRoots,
    body_limit: u64,
}

impl Default for UreqTransport {
    fn default() -> Self {
        UreqTransport::new()
    }
}

impl UreqTransport {
    /// A transport with [`UreqConfig::default`]: the system's trust store,
    /// proxies from the environment. An unusable proxy variable is ignored
    /// with a warning event; [`UreqTransport::with_config`] reports it instead.
    pub fn new() -> UreqTransport {
        let config = UreqConfig::default();
        let route = config
            .proxy
            .resolve(|name| std::env::var(name).ok())
            .unwrap_or_else(|error| {
                tracing::warn!(error = %error, "ignoring the proxy settings");
                None
            });
        UreqTransport::build(&config, route, RootCerts::PlatformVerifier)
    }

    /// A transport with explicit settings. Fails on an unusable proxy URL
    /// and on a CA bundle with a certificate that cannot be parsed, before
    /// any request.
    pub fn with_config(config: UreqConfig) -> Result<UreqTransport, TransportError> {
        let route = config
            .proxy
            .resolve(|name| std::env::var(name).ok())
            .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))?;
        let roots = match &config.trust {
            TrustRoots::Bundle(bundle) => {
                for (index, der) in bundle.certificates().iter().enumerate() {
                    check_root(der).map_err(|error| bundle.invalid_certificate(index, error))?;
                }
                RootCerts::from(
                    bundle
                        .certificates()
                        .iter()
                        .map(|der| Certificate::from_der(der).to_owned()),
                )
            }
            TrustRoots::BuiltIn => RootCerts::WebPki,
            _ => RootCerts::PlatformVerifier,
        };
        Ok(UreqTransport::build(&config, route, roots))
    }

    fn build(config: &UreqConfig, route: Option<ProxyRoute>, roots: RootCerts) -> UreqTransport {
        let proxied = route.as_ref().and_then(|route| {
            // The URL was checked when the route was made; should ureq's own
            // parser still refuse it, say so rather than go direct silently.
            match ureq::Proxy::new(route.url()) {
                Ok(proxy) => Some(agent_config(config, roots.clone()).proxy(Some(proxy)).build().into()),
                Err(error) => {
                    tracing::warn!(proxy = %route.redacted_url(), error = %error, "proxy unusable; going direct");
                    None
                }
            }
        });
        UreqTransport {
            route,
            proxied,
            direct: agent_config(config, roots).proxy(None).build().into(),
            trust: config.trust.clone(),
            body_limit: config.body_limit,
        }
    }
}

/// Whether `der` is a certificate rustls can use as a root.
fn check_root(der: &[u8]) -> Result<(), rustls::Error> {
    rustls::RootCertStore::empty().add(rustls_pki_types::CertificateDer::from(der))
}

/// The read and write buffer of each connection.
const BUFFER_SIZE: usize = 16 * 1024;

/// The agent settings shared by the proxied and the direct agent.
fn agent_config(
    config: &UreqConfig,
    roots: RootCerts,
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        // The flow needs the 400 that carries authorization_pending as a response.
        .http_status_as_error(false)
        // Redirects are not part of this protocol; following one could move secrets.
        .max_redirects(0)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_recv_response(Some(config.read_timeout))
        .timeout_recv_body(Some(config.read_timeout))
        .user_agent(config.user_agent.as_str())
        // ureq's default buffers are 128 KiB each way, zeroed for every new
        // connection: a quarter of a whole sign-in's instructions (callgrind)
        // for answers under 10 KiB. 16 KiB holds any header block the
        // services send; longer bodies are read in several chunks.
        .input_buffer_size(BUFFER_SIZE)
        .output_buffer_size(BUFFER_SIZE)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
}

impl Transport for UreqTransport {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let uri = request.uri().clone();
        let host = uri.host().unwrap_or_default();
        let agent = match (&self.route, &self.proxied) {
            (Some(route), Some(proxied)) if route.applies_to_uri(&uri) => proxied,
            _ => &self.direct,
        };
        let mut response = agent
            .run(request)
            .map_err(|error| translate(error, host, &self.trust))?;
        let body = response
            .body_mut()
            .with_config()
            .limit(self.body_limit)
            .read_to_vec()
            .map_err(|error| translate(error, host, &self.trust))?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// ureq's error in the core's terms; the message names no request content.
fn translate(e: ureq::Error, host: &str, trust: &TrustRoots) -> TransportError {
    let rustls_error = match &e {
        ureq::Error::Rustls(error) => Some(error),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(reason)) => {
            return TransportError::certificate(host, format!("{reason:?}"), trust);
        }
        // The platform verifier could not start: no roots on this system.
        Some(rustls::Error::General(reason)) if *trust == TrustRoots::System => {
            return TransportError::system_roots_unusable(reason);
        }
        _ => {}
    }
    let kind = match &e {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) => {
            TransportErrorKind::Connect
        }
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable => {
                TransportErrorKind::Connect
            }
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                TransportErrorKind::Timeout
            }
            _ => TransportErrorKind::ConnectionLost,
        },
        ureq::Error::Protocol(_) => TransportErrorKind::ConnectionLost,
        _ => TransportErrorKind::Other,
    };
    TransportError::new(kind, e.to_string())
}
