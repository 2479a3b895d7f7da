//! The default transport and clock (feature `tokio-reqwest`): reqwest with
//! rustls and tokio's timer, with the settings of the blocking ureq
//! transport ([`TransportConfig`]): timeouts, a response size limit, proxies
//! from the environment but never for loopback hosts, no redirects, 4xx/5xx
//! returned as responses.

use std::future::Future;
use std::time::{Instant, SystemTime};

use ssoflow_core::drive::{TransportConfig, TransportError};
use ssoflow_core::{Endpoint, TransportErrorKind};

use crate::{AsyncClock, AsyncTransport};

/// Sends requests with a reqwest client, which keeps connections alive.
/// Loopback hosts (an emulator) are reached directly, never through a proxy:
/// plain HTTP is allowed only because those bytes never leave the machine.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    direct: reqwest::Client,
    body_limit: u64,
}

impl ReqwestTransport {
    /// A transport with [`TransportConfig::default`]; fails only if the TLS
    /// backend cannot start.
    pub fn new() -> Result<ReqwestTransport, TransportError> {
        ReqwestTransport::with_config(TransportConfig::default())
    }

    /// A transport with explicit settings; fails on an unusable proxy URL.
    pub fn with_config(config: TransportConfig) -> Result<ReqwestTransport, TransportError> {
        let build = |proxied: bool| -> Result<reqwest::Client, TransportError> {
            let mut builder = reqwest::Client::builder()
                // Redirects are not part of this protocol; following one could move secrets.
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(config.connect_timeout)
                .read_timeout(config.read_timeout)
                .timeout(config.connect_timeout.saturating_add(config.read_timeout))
                .user_agent(config.user_agent.as_str());
            builder = match (&config.proxy, proxied) {
                (_, false) => builder.no_proxy(),
                (None, true) => builder, // HTTPS_PROXY, ALL_PROXY, NO_PROXY from the environment
                (Some(url), true) => builder.proxy(reqwest::Proxy::all(url).map_err(|error| {
                    TransportError::new(
                        TransportErrorKind::Other,
                        format!("the proxy URL is unusable: {error}"),
                    )
                })?),
            };
            builder
                .build()
                .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))
        };
        Ok(ReqwestTransport {
            client: build(true)?,
            direct: build(false)?,
            body_limit: config.body_limit,
        })
    }

    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let client = match request.uri().host() {
            Some(host) if Endpoint::is_loopback_host(host) => &self.direct,
            _ => &self.client,
        };
        let request = reqwest::Request::try_from(request)
            .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))?;
        let mut response = client.execute(request).await.map_err(translate)?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(translate)? {
            if (body.len() + chunk.len()) as u64 > self.body_limit {
                return Err(TransportError::new(
                    TransportErrorKind::BodyTooLarge,
                    format!("the response body is larger than {} bytes", self.body_limit),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = response.status();
        *answer.headers_mut() = response.headers().clone();
        Ok(answer)
    }
}

impl AsyncTransport for ReqwestTransport {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        self.exchange(request)
    }
}

/// reqwest's error in the core's terms; the message names no request content.
fn translate(error: reqwest::Error) -> TransportError {
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportErrorKind::ConnectionLost
    } else {
        TransportErrorKind::Other
    };
    TransportError::new(kind, error.without_url().to_string())
}

/// The real clocks and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl AsyncClock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }
}
