//! The default transport and clock (feature `tokio-reqwest`): reqwest with
//! rustls and tokio's timer, with the settings of the blocking ureq
//! transport ([`TransportConfig`]): the same trust (the system's store or a
//! CA bundle), timeouts, a response size limit, the same proxy rule (never
//! for loopback hosts), no redirects, 4xx/5xx returned as responses.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use ssoflow_core::TransportErrorKind;
use ssoflow_core::drive::{TransportConfig, TransportError};
use ssoflow_core::net::{ProxyRoute, TrustRoots};

use crate::{AsyncClock, AsyncTransport};

/// Sends requests with a reqwest client, which keeps connections alive.
///
/// Which proxy a request takes is decided by
/// [`ProxyRoute::applies_to`](ssoflow_core::net::ProxyRoute::applies_to),
/// the rule the blocking transport follows too: loopback hosts (an
/// emulator) are always reached directly; plain HTTP is allowed only
/// because those bytes never leave the machine. Certificates are checked
/// against [`TransportConfig::trust`] by a rustls configuration built here;
/// the operating system's store is loaded at the first request, not before.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: TransportConfig,
    route: Option<ProxyRoute>,
    /// Built at the first request: loading the system's roots takes
    /// milliseconds that a cached token should not pay.
    clients: OnceLock<Result<Clients, TransportError>>,
}

#[derive(Debug)]
struct Clients {
    proxied: Option<reqwest::Client>,
    direct: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with [`TransportConfig::default`]: the system's trust
    /// store, proxies from the environment; fails on an unusable proxy variable.
    pub fn new() -> Result<ReqwestTransport, TransportError> {
        ReqwestTransport::with_config(TransportConfig::default())
    }

    /// A transport with explicit settings. Fails on an unusable proxy URL
    /// and on a CA bundle with a certificate that cannot be parsed, before
    /// any request.
    pub fn with_config(config: TransportConfig) -> Result<ReqwestTransport, TransportError> {
        let route = config
            .proxy
            .resolve(|name| std::env::var(name).ok())
            .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))?;
        let clients = OnceLock::new();
        if !matches!(config.trust, TrustRoots::System) {
            // Cheap without the system's store, and checks the bundle now.
            let _ = clients.set(Ok(build_clients(&config, route.as_ref())?));
        }
        Ok(ReqwestTransport {
            inner: Arc::new(Inner {
                config,
                route,
                clients,
            }),
        })
    }

    fn clients(&self) -> Result<&Clients, TransportError> {
        self.inner
            .clients
            .get_or_init(|| build_clients(&self.inner.config, self.inner.route.as_ref()))
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn exchange(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let uri = request.uri().clone();
        let host = uri.host().unwrap_or_default();
        let clients = self.clients()?;
        let client = match (&self.inner.route, &clients.proxied) {
            (Some(route), Some(proxied)) if route.applies_to_uri(&uri) => proxied,
            _ => &clients.direct,
        };
        let trust = &self.inner.config.trust;
        let request = reqwest::Request::try_from(request)
            .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))?;
        let mut response = client
            .execute(request)
            .await
            .map_err(|error| translate(error, host, trust))?;
        let mut body = Vec::new();
        let body_limit = self.inner.config.body_limit;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|error| translate(error, host, trust))?
        {
            if (body.len() + chunk.len()) as u64 > body_limit {
                return Err(TransportError::new(
                    TransportErrorKind::BodyTooLarge,
                    format!("the response body is larger than {body_limit} bytes"),
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

/// The proxied (if a proxy is set) and the direct client, sharing one
/// rustls configuration.
fn build_clients(
    config: &TransportConfig,
    route: Option<&ProxyRoute>,
) -> Result<Clients, TransportError> {
    let tls = tls_config(&config.trust)?;
    let build = |proxy: Option<&ProxyRoute>| -> Result<reqwest::Client, TransportError> {
        let builder = reqwest::Client::builder()
            // Redirects are not part of this protocol; following one could move secrets.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .timeout(config.connect_timeout.saturating_add(config.read_timeout))
            .user_agent(config.user_agent.as_str())
            .use_preconfigured_tls(tls.clone())
            // Every request's route is decided above, never by reqwest.
            .no_proxy();
        let builder = match proxy {
            None => builder,
            Some(route) => builder.proxy(reqwest::Proxy::all(route.url()).map_err(|error| {
                TransportError::new(
                    TransportErrorKind::Other,
                    format!("the proxy {} is unusable: {error}", route.redacted_url()),
                )
            })?),
        };
        builder
            .build()
            .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))
    };
    Ok(Clients {
        proxied: route.map(|route| build(Some(route))).transpose()?,
        direct: build(None)?,
    })
}

/// The rustls client configuration for `trust`, with the ring provider
/// (the one ureq uses: one crypto library in a program that links both).
fn tls_config(trust: &TrustRoots) -> Result<rustls::ClientConfig, TransportError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TransportError::new(TransportErrorKind::Other, error.to_string()))?;
    let config = match trust {
        TrustRoots::Bundle(bundle) => {
            let mut store = rustls::RootCertStore::empty();
            for (index, der) in bundle.certificates().iter().enumerate() {
                store
                    .add(rustls_pki_types::CertificateDer::from(der.clone()))
                    .map_err(|error| bundle.invalid_certificate(index, error))?;
            }
            builder.with_root_certificates(store).with_no_client_auth()
        }
        TrustRoots::BuiltIn => {
            let store = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder.with_root_certificates(store).with_no_client_auth()
        }
        _ => builder
            .with_platform_verifier()
            .map_err(TransportError::system_roots_unusable)?
            .with_no_client_auth(),
    };
    Ok(config)
}

/// The rustls error `error` is or wraps, looking through io::Errors, which
/// hyper-rustls nests two deep.
fn rustls_error_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e rustls::Error> {
    if let Some(found) = error.downcast_ref::<rustls::Error>() {
        return Some(found);
    }
    let inner = error.downcast_ref::<std::io::Error>()?.get_ref()?;
    rustls_error_in(inner)
}

/// reqwest's error in the core's terms; the message names no request content.
fn translate(error: reqwest::Error, host: &str, trust: &TrustRoots) -> TransportError {
    // A refused certificate is a rustls error deep in the source chain,
    // inside io::Errors (whose source() skips what they wrap).
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let rustls_error = rustls_error_in(cause);
        match rustls_error {
            Some(rustls::Error::InvalidCertificate(reason)) => {
                return TransportError::certificate(host, format!("{reason:?}"), trust);
            }
            Some(rustls::Error::General(reason)) if *trust == TrustRoots::System => {
                return TransportError::system_roots_unusable(reason);
            }
            _ => {}
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportErrorKind::ConnectionLost
    } else {
        TransportErrorKind::Other
    };
    // reqwest's own message ("error sending request") hides the cause.
    let mut message = error.without_url().to_string();
    for cause in causes {
        message.push_str(": ");
        message.push_str(&cause);
    }
    TransportError::new(kind, message)
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
