//! The sans-IO core of ssoflow: everything about signing in to AWS IAM Identity
//! Center (AWS SSO) with the OAuth 2.0 device authorization grant or the
//! authorization code with PKCE, as the SSO OIDC service speaks them, except the I/O. It is told the time and handed responses;
//! it asks for requests to be sent and to be woken at a given time, and reports
//! events. Drivers (`ssoflow-blocking`, `ssoflow-async`, or your own loop) are
//! thin shells around it, so every protocol decision is written and tested
//! once, deterministically, in virtual time.
//!
//! **In scope:** the device flow ([`DeviceFlow`]), the authorization-code
//! flow with PKCE ([`AuthCodeFlow`], with its pieces in [`pkce`] and the
//! loopback listener's HTTP in [`loopback`]) and the refresh grant
//! ([`RefreshFlow`]) as state machines that hold their outcome; the service's
//! errors and what each means for the client ([`ErrorCode`], [`FlowError`]);
//! endpoints for every partition and safe overrides ([`Endpoint`]); the token
//! and registration models; secrets that never print ([`secret`]); the wire
//! format ([`wire`]); the run loop shared by drivers ([`drive`]); what a server
//! of the protocol needs ([`server`]).
//!
//! **Out of scope:** sockets, TLS, clocks, sleeping, files, environment
//! variables, browsers, terminals. Those belong to the drivers and the CLI.
//!
//! # States of the device flow
//!
//! ```text
//!  Unregistered ──RegisterClient──► Registered ──StartDeviceAuthorization──► Pending ──CreateToken──► Authorized(token)
//!       ▲                               │                                     │  │ authorization_pending / slow_down: poll again
//!       └──────── invalid_client (once) ┴─────────────────────────────────────┘  ├─► Expired (expired_token or deadline)
//!                                                                                └─► Denied  (access_denied)
//!        any state ── unauthorized_client, an error no retry fixes, retries spent, cancel ─► Failed(error)
//! ```
//!
//! Each state holds its data: `Registered` the registration; `Pending` the
//! registration, the device code, the deadline and the poll interval; the
//! terminal states their [`Outcome`], which [`Flow::outcome`] returns. A
//! [`RefreshFlow`] goes `Pending` → `Authorized(refreshed token)` or `Failed(error)`.
//! An [`AuthCodeFlow`] goes `Unregistered` → `Pending` (waiting for the
//! browser, then exchanging the code once) → a terminal state; its diagram
//! is on its page.
//!
//! # The run-loop contract
//!
//! Every flow implements [`Flow`] (sealed). A driver repeats, until
//! [`Flow::outcome`] is `Some`:
//! 1. [`poll_transmit`](Flow::poll_transmit)`(now)` and send what it returns —
//!    at most one request is in flight;
//! 2. hand the answer to [`handle_response`](Flow::handle_response)`(now,
//!    wall_now, id, response)` (every status, 4xx included) or
//!    [`handle_transport_error`](Flow::handle_transport_error), then go back to 1;
//! 3. drain [`poll_event`](Flow::poll_event) and act on each event (persist a
//!    registration, show the user code);
//! 4. sleep until [`poll_timeout`](Flow::poll_timeout), call
//!    [`handle_timeout`](Flow::handle_timeout)`(now)`, and go back to 1.
//!
//! Times passed in never decrease. Wall-clock facts (a token's `expiresAt`)
//! come from the `wall_now` handed in with each answer, never from the
//! monotonic clock, which stops while a laptop sleeps.
//!
//! # Example: one whole flow, with the service's answers written by hand
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use ssoflow_core::{DeviceFlow, Endpoint, EndpointVariant, Event, Flow, FlowConfig, Outcome};
//!
//! fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
//!     let mut r = http::Response::new(body.as_bytes().to_vec());
//!     *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
//!     r
//! }
//!
//! let endpoint = Endpoint::for_region("us-east-1", EndpointVariant::default())?;
//! let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start")?;
//! let (t0, wall) = (Instant::now(), SystemTime::now());
//! let mut flow = DeviceFlow::new(config, t0);
//!
//! // RegisterClient.
//! let tx = flow.poll_transmit(t0).expect("a request is due at once");
//! assert_eq!(tx.request.uri(), "https://oidc.us-east-1.amazonaws.com/client/register");
//! flow.handle_response(t0, wall, tx.id, answer(200,
//!     r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#))?;
//! assert!(matches!(flow.poll_event(), Some(Event::Registered(_))));
//!
//! // StartDeviceAuthorization: the user code to show.
//! let tx = flow.poll_transmit(t0).unwrap();
//! flow.handle_response(t0, wall, tx.id, answer(200, r#"{"deviceCode":"dc","userCode":"PMPJ-VZCJ",
//!     "verificationUri":"https://device.sso.us-east-1.amazonaws.com/","expiresIn":600,"interval":1}"#))?;
//! let Some(Event::UserCode(prompt)) = flow.poll_event() else { panic!() };
//! assert_eq!(prompt.user_code, "PMPJ-VZCJ");
//!
//! // Nothing is due before the interval has passed; then the first poll.
//! assert!(flow.poll_transmit(t0).is_none());
//! let t1 = flow.poll_timeout().unwrap();
//! assert_eq!(t1, t0 + Duration::from_secs(1));
//! let tx = flow.poll_transmit(t1).unwrap();
//! flow.handle_response(t1, wall, tx.id, answer(400, r#"{"error":"authorization_pending"}"#))?;
//!
//! // The person approves; the next poll gets the token, which the final state holds.
//! let t2 = flow.poll_timeout().unwrap();
//! let tx = flow.poll_transmit(t2).unwrap();
//! let wall2 = wall + Duration::from_secs(2);
//! flow.handle_response(t2, wall2, tx.id, answer(200,
//!     r#"{"accessToken":"aoa","refreshToken":"aor","expiresIn":3600,"tokenType":"Bearer"}"#))?;
//! let Some(Outcome::Authorized(token)) = flow.outcome() else { panic!() };
//! assert_eq!(token.access_token.secret(), "aoa");
//! assert_eq!(token.expires_at, wall2 + Duration::from_secs(3600));
//! assert!(flow.poll_transmit(t2).is_none() && flow.poll_timeout().is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]
#![warn(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod authcode;
mod device;
pub mod drive;
mod endpoint;
mod error;
mod exchange;
mod flow;
pub mod loopback;
pub mod net;
mod operation;
pub mod pkce;
pub mod portal;
mod refresh;
pub mod secret;
pub mod server;
mod token;
pub mod wire;

#[cfg(any(test, fuzzing))]
pub mod oracle;

pub use authcode::{AuthCodeFlow, AuthorizationPrompt, CallbackRefusal, CallbackReply};
pub use device::DeviceFlow;
pub use endpoint::{ConfigError, Endpoint, EndpointVariant};
pub use error::{ApiMisuse, ErrorCode, FlowError, ServiceError, TransportErrorKind};
pub use flow::{
    Ending, Event, Flow, FlowConfig, Outcome, RequestId, StateKind, Transmit, UserPrompt,
};
pub use operation::Operation;
pub use portal::{PortalCall, PortalOutcome};
pub use refresh::RefreshFlow;
pub use token::{Registration, Token};

#[cfg(test)]
mod properties;

/// The crate README's example, compiled and run as a doc test so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;
