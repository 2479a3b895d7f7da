//! The sans-IO core of ssoflow: everything about signing in to AWS IAM Identity
//! Center (AWS SSO) with the OAuth 2.0 device authorization grant, as the SSO OIDC
//! service speaks it, except the I/O. It is told the time and handed responses;
//! it asks for requests to be sent and to be woken at a given time, and reports
//! events. Drivers (`ssoflow-blocking`, `ssoflow-async`, the in-memory
//! `ssoflow-test-transport`) are thin loops around it, so every protocol decision
//! is written and tested once, deterministically, in virtual time.
//!
//! **In scope:** the wire format of RegisterClient, StartDeviceAuthorization and
//! CreateToken ([`wire`]); the service's errors and what each one means for the
//! client ([`ErrorCode`], [`NextStep`]); endpoints for every partition and safe
//! overrides ([`Endpoint`]); the device flow ([`DeviceFlow`]) and the refresh
//! grant ([`RefreshFlow`]); the token and registration models; secrets that
//! never print.
//!
//! **Out of scope:** sockets, TLS, clocks, sleeping, files, environment
//! variables, browsers, terminals. Those belong to the drivers and the CLI.
//!
//! # States of the device flow
//!
//! ```text
//!  Unregistered ──RegisterClient──► Registered ──StartDeviceAuthorization──► Pending ──CreateToken──► Authorized
//!       ▲                               │                                     │  │ pending / slow_down: poll again
//!       └──── invalid_client / unauthorized_client (once) ────────────────────┘  ├─► Expired (expired_token or deadline)
//!                                                                                └─► Denied  (access_denied)
//!                      any state ── an error no retry fixes, retries spent, cancel ─► Failed
//! ```
//!
//! # The run-loop contract
//!
//! A driver repeats, until [`Flow::state`] is terminal:
//! 1. `handle_timeout(now)`;
//! 2. `poll_transmit(now)` and send what it returns — at most one request is in flight;
//! 3. hand the answer to `handle_response(now, id, response)` (every status,
//!    4xx included) or `handle_transport_error(now, id, kind)`, then go back to 2;
//! 4. drain `poll_event()` and act on each event (persist a registration, show
//!    the user code, keep the token);
//! 5. sleep until `poll_timeout()`.
//!
//! Times passed in never decrease. Method families follow quinn-proto: getters
//! (`state`), inputs (`handle_*`), commands (`cancel`), outputs (`poll_*`).
//!
//! # Example: one whole flow, with the service's answers written by hand
//!
//! ```
//! use std::time::{Duration, Instant, SystemTime};
//! use ssoflow_core::{DeviceFlow, Endpoint, EndpointVariant, Event, Flow, FlowConfig, StateKind};
//!
//! fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
//!     let mut r = http::Response::new(body.as_bytes().to_vec());
//!     *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
//!     r
//! }
//!
//! let endpoint = Endpoint::for_region("us-east-1", EndpointVariant::default())?;
//! let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start")?;
//! let t0 = Instant::now();
//! let mut flow = DeviceFlow::new(config, t0, SystemTime::now());
//!
//! // RegisterClient.
//! let tx = flow.poll_transmit(t0).expect("a request is due at once");
//! assert_eq!(tx.request.uri(), "https://oidc.us-east-1.amazonaws.com/client/register");
//! flow.handle_response(t0, tx.id, answer(200,
//!     r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#))?;
//! assert!(matches!(flow.poll_event(), Some(Event::Registered(_))));
//!
//! // StartDeviceAuthorization: the user code to show.
//! let tx = flow.poll_transmit(t0).unwrap();
//! flow.handle_response(t0, tx.id, answer(200, r#"{"deviceCode":"dc","userCode":"PMPJ-VZCJ",
//!     "verificationUri":"https://device.sso.us-east-1.amazonaws.com/","expiresIn":600,"interval":1}"#))?;
//! let Some(Event::UserCode(prompt)) = flow.poll_event() else { panic!() };
//! assert_eq!(prompt.user_code, "PMPJ-VZCJ");
//!
//! // Nothing is due before the interval has passed; then the first poll.
//! assert!(flow.poll_transmit(t0).is_none());
//! let t1 = flow.poll_timeout().unwrap();
//! assert_eq!(t1, t0 + Duration::from_secs(1));
//! let tx = flow.poll_transmit(t1).unwrap();
//! flow.handle_response(t1, tx.id, answer(400, r#"{"error":"authorization_pending"}"#))?;
//!
//! // The person approves; the next poll gets the token.
//! let t2 = flow.poll_timeout().unwrap();
//! let tx = flow.poll_transmit(t2).unwrap();
//! flow.handle_response(t2, tx.id, answer(200,
//!     r#"{"accessToken":"aoa","refreshToken":"aor","expiresIn":3600,"tokenType":"Bearer"}"#))?;
//! let Some(Event::Authorized(token)) = flow.poll_event() else { panic!() };
//! assert_eq!(token.access_token.secret(), "aoa");
//! assert_eq!(flow.state(), StateKind::Authorized);
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

mod drive;
mod endpoint;
mod error;
mod exchange;
mod flow;
mod refresh;
mod secret;
mod token;
pub mod wire;

pub use drive::{
    Action, Drive, DriveError, SignIn, SignInOutcome, TransportConfig, TransportError,
};
pub use endpoint::{ConfigError, Endpoint, EndpointVariant, is_loopback_host};
pub use error::{
    ApiMisuse, DecodeError, ErrorCode, FlowError, NextStep, ServiceError, TransportErrorKind,
};
pub use flow::{DeviceFlow, Event, Flow, FlowConfig, RequestId, StateKind, Transmit, UserPrompt};
pub use refresh::RefreshFlow;
pub use secret::{AccessToken, ClientSecret, CodeVerifier, DeviceCode, RefreshToken};
pub use token::{REGISTRATION_REUSE_MARGIN, RefreshPolicy, Registration, Token, TokenStep};
