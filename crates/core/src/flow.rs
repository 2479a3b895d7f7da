//! What every flow shares: its configuration, the request it asks to be sent,
//! the events it reports, its state and outcome, and the [`Flow`] trait that
//! holds the run-loop surface.

use std::time::{Duration, Instant, SystemTime};

use crate::authcode::{AuthorizationPrompt, CallbackRefusal};
use crate::endpoint::{ConfigError, Endpoint};
use crate::error::{ApiMisuse, FlowError, TransportErrorKind};
use crate::operation::Operation;
use crate::token::{Registration, Token};
use crate::wire;

/// What to sign in to, and how the client presents itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowConfig {
    pub(crate) endpoint: Endpoint,
    pub(crate) start_url: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) client_name: String,
}

impl FlowConfig {
    /// A configuration with the default scope (`sso:account:access`, which makes
    /// tokens refreshable) and client name `ssoflow`. The start URL must be an
    /// `https://` URL (or `http://` on loopback, for emulators).
    pub fn new(endpoint: Endpoint, start_url: &str) -> Result<FlowConfig, ConfigError> {
        let start_url = start_url.trim();
        if Endpoint::from_url(start_url).is_err() {
            return Err(ConfigError::InvalidStartUrl(start_url.to_owned()));
        }
        Ok(FlowConfig {
            endpoint,
            start_url: start_url.to_owned(),
            scopes: vec![wire::DEFAULT_SCOPE.to_owned()],
            client_name: "ssoflow".to_owned(),
        })
    }

    /// Replaces the scopes; an empty list registers a legacy, non-refreshable client.
    pub fn with_scopes<I, S>(mut self, scopes: I) -> FlowConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the `clientName` the approval page shows (the AWS CLI uses `botocore-client-<session>`).
    pub fn with_client_name(mut self, name: impl Into<String>) -> FlowConfig {
        self.client_name = name.into();
        self
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The AWS access portal URL.
    pub fn start_url(&self) -> &str {
        &self.start_url
    }

    /// The scopes registered.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }
}

/// Identifies a request so its answer can be matched to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub(crate) u64);

/// A request for the driver to send. Hand its answer back with
/// [`Flow::handle_response`] (any status) or, when no answer came,
/// [`Flow::handle_transport_error`]. A transmit that is dropped unanswered
/// keeps the flow waiting until its answer deadline (see [`Flow::poll_timeout`]).
#[must_use = "send the request and hand its answer back to the flow, or the flow waits for it"]
pub struct Transmit {
    /// Hand this back with the response or transport error.
    pub id: RequestId,
    /// Which operation it is.
    pub operation: Operation,
    /// The HTTP request; the body carries secrets, so never log it.
    pub request: http::Request<Vec<u8>>,
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transmit")
            .field("id", &self.id)
            .field("operation", &self.operation)
            .field("uri", self.request.uri())
            .field(
                "body",
                &format_args!("[redacted {} bytes]", self.request.body().len()),
            )
            .finish()
    }
}

/// What to show the person who approves the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrompt {
    /// The code to compare and type, e.g. `PMPJ-VZCJ`.
    pub user_code: String,
    /// The page to open.
    pub verification_uri: String,
    /// The page with the code filled in, when the service sends it.
    pub verification_uri_complete: Option<String>,
    /// When the codes expire (wall clock at the answer, plus their lifetime).
    pub expires_at: SystemTime,
    /// How long the codes live, from the moment they were issued.
    pub expires_in: Duration,
}

/// What a flow tells the application while it runs; drain with
/// [`Flow::poll_event`]. How it ended is not an event: read [`Flow::outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new registration was obtained: persist it for reuse (it replaces any cached one).
    Registered(Registration),
    /// The service rejected the registration in use (`invalid_client` or
    /// `unauthorized_client`): drop any cached copy of it. A user code shown
    /// under it is void. After a first `invalid_client` a device flow
    /// registers again ([`Event::Registered`] and a new [`Event::UserCode`]
    /// follow); otherwise, and in a refresh, the flow fails.
    RegistrationRejected {
        /// The rejected registration's `clientId`.
        client_id: String,
        /// A user code had been shown for it: tell the person it no longer works.
        user_code_void: bool,
    },
    /// Show the user code and URL.
    UserCode(UserPrompt),
    /// Open this URL in a browser on this machine (authorization-code
    /// flow); the browser comes back to the loopback listener.
    AuthorizationUrl(AuthorizationPrompt),
    /// A request to the callback path was refused (a wrong or missing
    /// `state`: not this sign-in's browser); the flow goes on waiting.
    CallbackRefused(CallbackRefusal),
    /// The service asked to slow down: polls now come this far apart.
    IntervalChanged(Duration),
    /// A transient failure; the same request goes again after `wait`.
    Retrying {
        /// The operation that failed.
        operation: Operation,
        /// Consecutive failures so far.
        attempt: u32,
        /// How long until the next try.
        wait: Duration,
    },
}

/// The state of a flow, as a plain value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateKind {
    /// Needs a client registration.
    Unregistered,
    /// Has a registration; about to start a device authorization.
    Registered,
    /// Waiting for the person (device flow) or for the refresh answer.
    Pending,
    /// Done: a token was issued. Terminal.
    Authorized,
    /// The device code ran out. Terminal.
    Expired,
    /// The person refused. Terminal.
    Denied,
    /// Failed or cancelled. Terminal.
    Failed,
    /// A portal call has its answer. Terminal.
    Answered,
}

impl StateKind {
    /// True for the states that absorb every further input.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StateKind::Authorized
                | StateKind::Expired
                | StateKind::Denied
                | StateKind::Failed
                | StateKind::Answered
        )
    }
}

/// How a flow ended, held by its terminal state; see [`Flow::outcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A token was issued (for [`RefreshFlow`](crate::RefreshFlow), the refreshed token).
    Authorized(Token),
    /// The person refused on the approval page.
    Denied,
    /// The device code ran out before anyone approved it.
    Expired,
    /// The flow failed for good, or was cancelled.
    Failed(FlowError),
}

impl Outcome {
    /// The terminal state this outcome is.
    pub fn state(&self) -> StateKind {
        match self {
            Outcome::Authorized(_) => StateKind::Authorized,
            Outcome::Denied => StateKind::Denied,
            Outcome::Expired => StateKind::Expired,
            Outcome::Failed(_) => StateKind::Failed,
        }
    }
}

pub(crate) mod sealed {
    /// Only this crate's machines are flows: the trait may grow methods.
    pub trait Sealed {}
}

/// How a machine of this crate ends, as its terminal state holds it:
/// [`Outcome`] for the sign-in and refresh flows,
/// [`PortalOutcome`](crate::PortalOutcome) for a portal call. Sealed; the
/// drivers turn it into their result with [`Ending::into_result`].
pub trait Ending: Clone + std::fmt::Debug + sealed::Sealed {
    /// What a successful machine yields: a [`Token`], role credentials, a list…
    type Value: Clone + std::fmt::Debug;

    /// The terminal state this ending is.
    fn state(&self) -> StateKind;

    /// The value, or why there is none: [`DriveError::Denied`],
    /// [`DriveError::Expired`] or [`DriveError::Flow`].
    ///
    /// [`DriveError::Denied`]: crate::drive::DriveError::Denied
    /// [`DriveError::Expired`]: crate::drive::DriveError::Expired
    /// [`DriveError::Flow`]: crate::drive::DriveError::Flow
    fn into_result(self) -> Result<Self::Value, crate::drive::DriveError>;
}

impl sealed::Sealed for Outcome {}

impl Ending for Outcome {
    type Value = Token;

    fn state(&self) -> StateKind {
        Outcome::state(self)
    }

    fn into_result(self) -> Result<Token, crate::drive::DriveError> {
        match self {
            Outcome::Authorized(token) => Ok(token),
            Outcome::Denied => Err(crate::drive::DriveError::Denied),
            Outcome::Expired => Err(crate::drive::DriveError::Expired),
            Outcome::Failed(error) => Err(crate::drive::DriveError::Flow(error)),
        }
    }
}

/// The run-loop surface every flow of this crate offers, so one driver loop
/// runs them all. The trait is sealed: it may grow, and only this crate
/// implements it. What differs between flows (how one is built, what it
/// obtained along the way) is in inherent methods; what a driver calls is here.
///
/// The methods fall in quinn-proto's four families: getters ([`state`],
/// [`outcome`]), inputs (`handle_*`), commands ([`cancel`]) and outputs
/// (`poll_*`). Times passed in must never decrease; an earlier `now` is
/// treated as the latest one seen.
///
/// # The run-loop contract
///
/// Repeat until [`outcome`] is `Some`:
/// 1. [`poll_transmit`]`(now)`: send what it returns. At most one request is
///    in flight; it returns `None` until its answer is in.
/// 2. Hand the answer to [`handle_response`] (every status, 4xx included) or
///    [`handle_transport_error`], then go back to 1.
/// 3. Drain [`poll_event`] and act on each event (persist a registration,
///    show the user code).
/// 4. Sleep until [`poll_timeout`], then call [`handle_timeout`]`(now)` and go
///    back to 1.
///
/// Time moves the state in one place, [`handle_timeout`]; every other method
/// that takes `now` applies it first, so a driver that forgets step 4's call
/// still sends nothing past a deadline. A request whose answer never comes
/// (a dropped [`Transmit`]) is given up after a limit that
/// [`poll_timeout`] reports, and the flow goes on as after a timeout.
///
/// [`state`]: Flow::state
/// [`outcome`]: Flow::outcome
/// [`cancel`]: Flow::cancel
/// [`poll_transmit`]: Flow::poll_transmit
/// [`handle_response`]: Flow::handle_response
/// [`handle_transport_error`]: Flow::handle_transport_error
/// [`poll_event`]: Flow::poll_event
/// [`poll_timeout`]: Flow::poll_timeout
/// [`handle_timeout`]: Flow::handle_timeout
pub trait Flow: sealed::Sealed {
    /// How it ends: [`Outcome`] for the flows that sign in or refresh.
    type Ending: Ending;

    /// The flow's name in log events: `device_code`, `authorization_code`,
    /// `refresh` or `portal`.
    const NAME: &'static str;

    /// The next request to send, if one is due at `now`. `None` while a
    /// request is in flight, before the next one is due, and once the flow
    /// has ended. Call again after every `handle_*` call.
    #[must_use = "send the request and hand its answer back, or the flow waits for it"]
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;

    /// Feeds the answer (any status) to the request `id`. `wall_now` is the
    /// wall-clock time the answer arrived: expiries (a token's `expiresAt`, a
    /// user code's) are stamped from it, never extrapolated from `now`, which
    /// stops while a laptop sleeps. `Err` only for a caller bug: `id` was never
    /// handed out, is not the one in flight, or was given up on.
    fn handle_response(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse>;

    /// Reports that request `id` failed below HTTP; the flow backs off and
    /// retries within its budget. `Err` as for [`Flow::handle_response`].
    fn handle_transport_error(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(), ApiMisuse>;

    /// When to call [`Flow::handle_timeout`] and [`Flow::poll_transmit`]
    /// next: the next request time, the device code's deadline, or, with a
    /// request in flight, when the flow stops waiting for its answer. `None`
    /// only once the flow has ended. Call again after every other call.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Lets time pass: expires the flow at its deadline (unless an answer is
    /// still awaited, which is used if it comes) and gives up on an answer
    /// that is overdue.
    fn handle_timeout(&mut self, now: Instant);

    /// The next event for the application; drain after every call that takes `now`.
    fn poll_event(&mut self) -> Option<Event>;

    /// The current state.
    fn state(&self) -> StateKind;

    /// How the flow ended, once it has: the token, a denial, an expiry or
    /// the error. `None` while it runs.
    fn outcome(&self) -> Option<&Self::Ending>;

    /// Stops the flow: nothing is sent afterwards; it ends `Failed(Cancelled)`.
    fn cancel(&mut self);
}
