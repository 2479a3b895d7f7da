//! The blocking driver of ssoflow: runs the sans-IO
//! [`DeviceFlow`](ssoflow_core::DeviceFlow),
//! [`AuthCodeFlow`](ssoflow_core::AuthCodeFlow) (with a [`LoopbackListener`]
//! for the browser's redirect) and [`RefreshFlow`](ssoflow_core::RefreshFlow)
//! of `ssoflow-core` to their end over a [`Transport`] (ureq 3 by default),
//! sleeping on a [`Clock`] that tests can replace with a virtual one.
//!
//! **In scope:** sending requests, sleeping, cancelling, an overall time limit,
//! translating transport failures into the core's terms, returning the token and
//! any new registration for the caller to persist. **Out of scope:** every
//! protocol decision (those are in core), files, terminals, browsers.
//!
//! The loop is the core's [`Drive`](ssoflow_core::drive::Drive), the run-loop
//! contract of [`Flow`](ssoflow_core::Flow) with stop checks, so this driver
//! and the async one behave alike by construction.
//!
//! ```no_run
//! use ssoflow_blocking::{Driver, SystemClock, UreqTransport};
//! use ssoflow_core::{DeviceFlow, Endpoint, EndpointVariant, FlowConfig};
//! use std::time::Instant;
//!
//! let endpoint = Endpoint::for_region("us-east-1", EndpointVariant::default())?;
//! let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start")?;
//! let flow = DeviceFlow::new(config, Instant::now());
//! let mut driver = Driver::new(UreqTransport::new(), SystemClock);
//! let signed_in = driver.sign_in(flow, |prompt| {
//!     println!("Open {} and enter the code {}", prompt.verification_uri, prompt.user_code);
//! })?;
//! println!("token valid until {:?}", signed_in.token.expires_at);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod credentials;
mod driver;
mod loopback;
mod provider;
mod transport;
mod ureq_transport;

pub use credentials::{CredentialsProvider, ProvidedCredentials};
pub use driver::{Driver, Error};
pub use loopback::{CallbackListener, LoopbackListener};
pub use provider::TokenProvider;
pub use ssoflow_core::drive::{SignIn, TransportError};
pub use ssoflow_files::{CredentialsError, FETCH_LOCK_TIMEOUT, ProvidedToken, ProviderError};
pub use transport::{Clock, SystemClock, Transport};
pub use ureq_transport::{UreqConfig, UreqTransport};

/// Fresh [`PkceSecrets`](ssoflow_core::pkce::PkceSecrets) for an
/// [`AuthCodeFlow`](ssoflow_core::AuthCodeFlow), from the operating
/// system's secure random source; an error only if that source fails.
pub fn fresh_pkce_secrets() -> std::io::Result<ssoflow_core::pkce::PkceSecrets> {
    let mut bytes = [0u8; ssoflow_core::pkce::RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(ssoflow_core::pkce::PkceSecrets::from_random(bytes))
}

/// The crate README's examples, compiled and run as doc tests so they
/// cannot rot. (The project README's example is a copy of the second one,
/// which `.ci/run` checks: a path outside the package would break the
/// published crate's doc tests.)
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeExample;
