//! The ureq 3 transport: rustls, per-phase timeouts, a response size limit,
//! proxies from the environment, and 4xx/5xx returned as responses.

use ssoflow_core::drive::{TransportConfig, TransportError};
use ssoflow_core::{Endpoint, TransportErrorKind};

use crate::transport::Transport;

/// Settings of [`UreqTransport`]: the core's [`TransportConfig`], which the
/// async crate's reqwest transport honours too.
pub type UreqConfig = TransportConfig;

/// Sends requests with a ureq 3 agent, which keeps one connection alive per host.
/// Loopback hosts (an emulator) are reached directly, never through a proxy:
/// plain HTTP is allowed only because those bytes never leave the machine.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    direct: ureq::Agent,
    body_limit: u64,
}

impl Default for UreqTransport {
    fn default() -> Self {
        UreqTransport::new()
    }
}

impl UreqTransport {
    /// A transport with [`UreqConfig::default`].
    pub fn new() -> UreqTransport {
        UreqTransport::build(&UreqConfig::default(), None)
    }

    /// A transport with explicit settings; fails only on an unusable proxy URL.
    pub fn with_config(config: UreqConfig) -> Result<UreqTransport, TransportError> {
        let proxy = match &config.proxy {
            None => None,
            Some(url) => Some(ureq::Proxy::new(url).map_err(|e| {
                TransportError::new(
                    TransportErrorKind::Other,
                    format!("the proxy URL is unusable: {e}"),
                )
            })?),
        };
        Ok(UreqTransport::build(&config, proxy))
    }

    /// Both agents; without an explicit proxy the main one keeps ureq's
    /// default, which reads HTTPS_PROXY, ALL_PROXY and NO_PROXY.
    fn build(config: &UreqConfig, proxy: Option<ureq::Proxy>) -> UreqTransport {
        let agent = match proxy {
            None => agent_config(config).build().into(),
            Some(proxy) => agent_config(config).proxy(Some(proxy)).build().into(),
        };
        UreqTransport {
            agent,
            direct: agent_config(config).proxy(None).build().into(),
            body_limit: config.body_limit,
        }
    }
}

/// The agent settings shared by the proxied and the direct agent.
fn agent_config(config: &UreqConfig) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        // The flow needs the 400 that carries authorization_pending as a response.
        .http_status_as_error(false)
        // Redirects are not part of this protocol; following one could move secrets.
        .max_redirects(0)
        .timeout_connect(Some(config.connect_timeout))
        .timeout_recv_response(Some(config.read_timeout))
        .timeout_recv_body(Some(config.read_timeout))
        .user_agent(config.user_agent.as_str())
}

impl Transport for UreqTransport {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let agent = match request.uri().host() {
            Some(host) if Endpoint::is_loopback_host(host) => &self.direct,
            _ => &self.agent,
        };
        let mut response = agent.run(request).map_err(translate)?;
        let body = response
            .body_mut()
            .with_config()
            .limit(self.body_limit)
            .read_to_vec()
            .map_err(translate)?;
        let (parts, _) = response.into_parts();
        Ok(http::Response::from_parts(parts, body))
    }
}

/// ureq's error in the core's terms; the message names no request content.
fn translate(e: ureq::Error) -> TransportError {
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
