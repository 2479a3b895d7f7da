//! A simulated AWS SSO OIDC service for testing ssoflow: a sans-IO [`Service`]
//! that answers RegisterClient, StartDeviceAuthorization and CreateToken (with
//! the device-code, authorization-code and refresh grants) and the browser's
//! `GET /authorize` as the real service does (status codes, `x-amzn-ErrorType`, OAuth error bodies,
//! value shapes), and the SSO portal API that the access tokens it issues are
//! good for (GetRoleCredentials, ListAccounts, ListAccountRoles, Logout), plus [`Simulation`], which serves it on a virtual clock so
//! whole sign-in flows, including ten-minute expiries, run in milliseconds.
//! The HTTP emulator serves the same [`Service`] over real HTTP, so it reads
//! no clock (time is always an argument) and does no I/O. It depends on
//! `ssoflow-core` alone: each driver's tests carry the few lines that put a
//! [`Simulation`] behind that driver's transport and clock traits.
//!
//! **In scope:** the three operations with every error path of
//! `wire-protocol.md` §9.3; the person at the verification page
//! ([`Service::approve`], [`Service::deny`], [`Service::pending`], or
//! [`AutoApprove`]); the authorization-code grant with PKCE: redirect URIs
//! checked at registration, `/authorize` ([`Service::authorize`]) with the
//! person's consent ([`Service::decide_authorization`]), the code's exchange
//! with the verifier checked, single-use codes whose reuse revokes their
//! tokens; both kinds of pending sign-in listed and decided together
//! ([`Service::pending_requests`], [`Service::decide_pending`]); `slow_down` for early polls; refresh-token rotation and
//! revocation; expiring registrations; the portal API (`portal-api.md`
//! §2–§8): access tokens checked for issue, expiry and Logout, the person's
//! assignments ([`PortalAccount`], [`ServiceConfig::accounts`]) listed a
//! page at a time, `ASIA…` role credentials that never outlive the token,
//! 401/403/400/429 in the portal's error format, an optional rate limit;
//! injected faults ([`Fault`]: 5xx,
//! malformed bodies, dropped connections, delays; portal-only ones with
//! [`Service::inject_portal_faults`]); request [`Counters`] and a
//! secret-free log of [`Exchange`]s; latency and read timeouts in virtual time;
//! a wall clock that can jump while the monotonic one stands still.
//!
//! **Out of scope:** the sign-in itself at `/authorize` (a person is assumed
//! signed in, only consent is asked), CreateTokenWithIAM (refused with `invalid_request`),
//! checking the role credentials it issues (nothing consumes them), SigV4, HTTP itself (the `ssoflow-emulator` crate
//! serves this service over HTTP).
//!
//! # Example: one sign-in, request by request
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use ssoflow_core::wire::{self, CreateTokenRequest, CreateTokenResponse,
//!     RegisterClientResponse, StartDeviceAuthorizationResponse};
//! use ssoflow_test_transport::{Reply, Service, ServiceConfig};
//!
//! fn call(service: &mut Service, now: SystemTime, path: &str, body: Vec<u8>) -> Vec<u8> {
//!     let request = http::Request::post(format!("https://oidc.us-east-1.amazonaws.com{path}"))
//!         .body(body)
//!         .unwrap();
//!     match service.handle(now, &request) {
//!         Reply::Respond(response) => response.into_body(),
//!         other => panic!("no fault was injected, yet got {other:?}"),
//!     }
//! }
//!
//! let mut service = Service::new(ServiceConfig::default());
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
//!
//! let body = br#"{"clientName":"my-tool","clientType":"public","scopes":["sso:account:access"]}"#;
//! let registration: RegisterClientResponse =
//!     wire::decode(&call(&mut service, now, "/client/register", body.to_vec()))?;
//! let (client_id, client_secret) =
//!     (registration.client_id.unwrap(), registration.client_secret.unwrap());
//!
//! let body = serde_json::json!({
//!     "clientId": client_id,
//!     "clientSecret": client_secret.secret(),
//!     "startUrl": "https://d-1234567890.awsapps.com/start",
//! });
//! let started: StartDeviceAuthorizationResponse =
//!     wire::decode(&call(&mut service, now, "/device_authorization", body.to_string().into()))?;
//! let user_code = started.user_code.unwrap();
//! assert_eq!(started.interval, Some(1));
//!
//! // The person types the code at the verification page, in any case and spacing.
//! service.approve(&user_code.to_lowercase(), now)?;
//!
//! let poll = CreateTokenRequest::device_code(&client_id, &client_secret, &started.device_code.unwrap());
//! let later = now + Duration::from_secs(1);
//! let token: CreateTokenResponse = wire::decode(&call(&mut service, later, "/token", wire::encode(&poll)))?;
//! assert!(token.access_token.unwrap().secret().starts_with("aoa"));
//! assert!(token.refresh_token.is_some());
//! assert_eq!(token.token_type.as_deref(), Some("Bearer"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod random;
mod service;
mod sim;

pub use service::{
    ApprovalError, AuthorizeRefusal, AuthorizeStep, AutoApprove, Counters, Decided, Fault,
    PendingAuthorization, PendingInfo, PendingRequest, PortalAccount, Reply, Service,
    ServiceConfig, ServiceSnapshot, UnsupportedSnapshot,
};
pub use sim::{Exchange, Simulation};

/// The crate README's example, compiled and run as a doc test so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;
