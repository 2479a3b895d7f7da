//! The async driver of ssoflow: runs the sans-IO [`DeviceFlow`],
//! [`AuthCodeFlow`](ssoflow_core::AuthCodeFlow) (with an
//! [`AsyncCallbackListener`] for the browser's redirect) and [`RefreshFlow`]
//! of `ssoflow-core` to their end on any runtime. The transport
//! ([`AsyncTransport`]) and the clock ([`AsyncClock`]) are the caller's; with
//! the default feature `tokio-reqwest` they can be [`ReqwestTransport`] and
//! [`TokioClock`], and the listener `TokioLoopbackListener`.
//!
//! **In scope:** sending, sleeping, an overall time limit, the same events
//! and errors as the blocking driver (both are shells around the core's
//! [`Drive`](ssoflow_core::drive::Drive)), and a token provider
//! ([`AsyncTokenProvider`]) with one refresh however many tasks ask.
//! **Out of scope:** every protocol decision (core), the file formats
//! (`ssoflow-files`).
//!
//! Cancelling is dropping the future: nothing is written until a flow has
//! ended, and the provider writes its token file atomically.
//!
//! ```no_run
//! # #[cfg(feature = "tokio-reqwest")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use ssoflow_async::{AsyncDriver, ReqwestTransport, TokioClock};
//! use ssoflow_core::{DeviceFlow, Endpoint, EndpointVariant, FlowConfig};
//! use std::time::{Duration, Instant};
//!
//! let endpoint = Endpoint::for_region("us-east-1", EndpointVariant::default())?;
//! let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start")?;
//! let flow = DeviceFlow::new(config, Instant::now());
//! let driver = AsyncDriver::new(ReqwestTransport::new()?, TokioClock)
//!     .with_time_limit(Duration::from_secs(15 * 60));
//! let signed_in = driver
//!     .sign_in(flow, |prompt| println!("Open {} and enter {}", prompt.verification_uri, prompt.user_code))
//!     .await?;
//! println!("valid until {:?}", signed_in.token.expires_at);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod credentials;
mod driver;
#[cfg(feature = "tokio-reqwest")]
mod loopback;
mod provider;
#[cfg(feature = "tokio-reqwest")]
mod reqwest_transport;

use std::future::Future;
use std::time::{Instant, SystemTime};

use ssoflow_core::CallbackReply;
use ssoflow_core::pkce::PkceSecrets;

pub use credentials::AsyncCredentialsProvider;
pub use driver::AsyncDriver;
#[cfg(feature = "tokio-reqwest")]
pub use loopback::TokioLoopbackListener;
pub use provider::AsyncTokenProvider;
#[cfg(feature = "tokio-reqwest")]
pub use reqwest_transport::{ReqwestTransport, TokioClock};
pub use ssoflow_core::drive::{DriveError as Error, SignIn, TransportConfig, TransportError};
pub use ssoflow_files::{CredentialsError, ProvidedToken, ProviderError};

#[cfg(doc)]
use ssoflow_core::{DeviceFlow, RefreshFlow};

/// Sends one HTTP request and returns its response, whatever the status.
/// Implementations must not treat 4xx/5xx as errors: the flow needs those
/// answers. `Err` only when no HTTP response was received in full.
pub trait AsyncTransport {
    /// Sends `request`.
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send;
}

/// Where the driver gets the time and how it waits, on the caller's runtime;
/// a virtual clock makes whole flows run in milliseconds in tests.
pub trait AsyncClock {
    /// The monotonic now.
    fn now(&self) -> Instant;
    /// The wall-clock now: read when each answer arrives, to stamp expiries.
    fn wall_now(&self) -> SystemTime;
    /// Completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send;
}

/// Where the browser comes back in the authorization-code flow: something
/// that receives the requests sent to `http://127.0.0.1:<port>/…` and
/// answers each as the flow decides. The real one (feature `tokio-reqwest`)
/// is `TokioLoopbackListener`; tests put a simulated browser here.
pub trait AsyncCallbackListener {
    /// The port the redirect URI names.
    fn port(&self) -> u16;
    /// Completes with the next request's target (path and query), or `None`
    /// once `until` has passed.
    fn wait(&mut self, until: Instant) -> impl Future<Output = Option<String>> + Send;
    /// Answers the request [`AsyncCallbackListener::wait`] returned last;
    /// completes once the answer is written (or could not be), so a flow
    /// that ends with this request does not exit before the browser has its page.
    fn respond(&mut self, reply: &CallbackReply) -> impl Future<Output = ()> + Send;
}

/// Fresh [`PkceSecrets`] for an [`AuthCodeFlow`](ssoflow_core::AuthCodeFlow),
/// from the operating system's secure random source; an error only if that
/// source fails.
pub fn fresh_pkce_secrets() -> std::io::Result<PkceSecrets> {
    let mut bytes = [0u8; ssoflow_core::pkce::RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(PkceSecrets::from_random(bytes))
}

impl<T: AsyncTransport + Sync> AsyncTransport for &T {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        (**self).send(request)
    }
}

impl<C: AsyncClock + Sync> AsyncClock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn wall_now(&self) -> SystemTime {
        (**self).wall_now()
    }
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        (**self).sleep_until(deadline)
    }
}

/// The crate README's example, compiled and run as a doc test so it cannot rot.
#[cfg(all(doctest, feature = "tokio-reqwest"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;
