//! For those who write a driver: the run loop without the I/O, and what
//! every transport shares.
//!
//! [`Drive`] says what to do next (send this request, hand out this event,
//! sleep until then, stop with this result) and is told what happened. The
//! blocking and the async drivers of ssoflow are thin shells around it, so
//! they send the same requests, report the same events and end with the same
//! errors, by construction. A driver of your own (another runtime, another
//! HTTP client) is the same shell:
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use ssoflow_core::drive::{Action, Drive, DriveError, TransportError};
//! use ssoflow_core::{Ending, Flow};
//!
//! /// Runs any machine: a sign-in (its value is a token), a refresh, a portal call.
//! fn run<F: Flow>(
//!     flow: &mut F,
//!     mut send: impl FnMut(http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, TransportError>,
//!     mut sleep_until: impl FnMut(Instant),
//! ) -> Result<<F::Ending as Ending>::Value, DriveError> {
//!     let mut drive = Drive::new(flow, Instant::now(), None);
//!     loop {
//!         match drive.next(Instant::now(), false) {
//!             Action::Send(transmit) => {
//!                 let answer = send(transmit.request);
//!                 drive.sent(Instant::now(), SystemTime::now(), transmit.id, answer);
//!             }
//!             Action::Event(event) => println!("{event:?}"),
//!             Action::SleepUntil(wake) => sleep_until(wake),
//!             Action::Done(result) => return result,
//!             _ => {}
//!         }
//!     }
//! }
//! ```

use std::time::{Duration, Instant, SystemTime};

use crate::authcode::{AuthCodeFlow, CallbackReply};
use crate::error::{ApiMisuse, FlowError, TransportErrorKind};
use crate::flow::{Ending, Event, Flow, RequestId, StateKind, Transmit};
use crate::net::{ProxyConfig, TrustRoots};
use crate::operation::Operation;
use crate::token::{Registration, Token};

/// A failure below HTTP, as a transport reports it: what kind, and a message
/// for people (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// The kind, as the flows understand it.
    pub kind: TransportErrorKind,
    /// What happened, e.g. "connection refused by 127.0.0.1:9".
    pub message: String,
}

impl TransportError {
    /// A transport error of `kind` with a human-readable message.
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> TransportError {
        TransportError {
            kind,
            message: message.into(),
        }
    }
}

impl TransportError {
    /// The failure for a server certificate that `trust` refused, with what
    /// to do about it; `host` is the server, `detail` the TLS library's reason.
    pub fn certificate(
        host: &str,
        detail: impl std::fmt::Display,
        trust: &TrustRoots,
    ) -> TransportError {
        let hint = match trust {
            TrustRoots::Bundle(bundle) => format!(
                "the CA bundle {} does not hold the certificate authority that signed it; \
                 add that CA's PEM certificate to the bundle",
                bundle.source()
            ),
            TrustRoots::System => "the operating system does not trust the certificate authority \
                 that signed it; if your network inspects TLS or the service uses a private CA, \
                 point AWS_CA_BUNDLE (or `ca_bundle` in the profile) at that CA's PEM file"
                .to_owned(),
            TrustRoots::BuiltIn => "only the built-in (Mozilla) roots are trusted; use the \
                 operating system's trust store or a CA bundle for a private CA"
                .to_owned(),
        };
        TransportError::new(
            TransportErrorKind::Certificate,
            format!("the TLS certificate of {host} was refused ({detail}): {hint}"),
        )
    }
}

impl TransportError {
    /// The failure when the operating system's trust store cannot be used
    /// ([`TrustRoots::System`]), e.g. a container without CA certificates.
    pub fn system_roots_unusable(reason: impl std::fmt::Display) -> TransportError {
        TransportError::new(
            TransportErrorKind::Certificate,
            format!(
                "the operating system's trust store cannot be used ({reason}): install its CA \
                 certificates (Debian: the ca-certificates package) or point AWS_CA_BUNDLE at a PEM bundle"
            ),
        )
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TransportError {}

/// What every HTTP transport of ssoflow honours (ureq in the blocking crate,
/// reqwest in the async one), so both behave alike; the defaults suit the
/// SSO OIDC service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// Time to resolve, connect and finish TLS. Default 10 s.
    pub connect_timeout: Duration,
    /// Time from sending the request to having the whole response. Default 30 s.
    pub read_timeout: Duration,
    /// Largest response body accepted; real answers are under 10 KiB. Default 1 MiB.
    pub body_limit: u64,
    /// Which proxy requests take. Default: `HTTPS_PROXY` and `NO_PROXY`
    /// from the environment ([`ProxyConfig::FromEnvironment`]). Loopback
    /// hosts are always reached directly.
    pub proxy: ProxyConfig,
    /// Which certificate authorities HTTPS trusts. Default: the operating
    /// system's ([`TrustRoots::System`]).
    pub trust: TrustRoots,
    /// The `User-Agent` header. Default `ssoflow/<version>`.
    pub user_agent: String,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            proxy: ProxyConfig::default(),
            trust: TrustRoots::default(),
            user_agent: concat!("ssoflow/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why a driven flow returned without a token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriveError {
    /// The person refused the request on the approval page.
    Denied,
    /// The user code (or the authorization code) expired before the sign-in
    /// completed; start a new sign-in.
    Expired,
    /// The network kept failing until the flow gave up.
    Transport {
        /// The last transport failure.
        source: TransportError,
        /// How many requests failed in a row.
        attempts: u32,
    },
    /// The service refused, answered nonsense, or the flow was cancelled.
    Flow(FlowError),
    /// The driver's own time limit ran out.
    TimedOut(Duration),
    /// The core reported a driver bug; please report it.
    Misuse(ApiMisuse),
}

impl std::fmt::Display for DriveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DriveError::Denied => {
                f.write_str("the sign-in request was denied on the approval page")
            }
            DriveError::Expired => f.write_str(
                "the sign-in request expired before it was completed; start the sign-in again",
            ),
            DriveError::Transport {
                source,
                attempts: 1,
            } => {
                write!(f, "could not reach the service: {source}")
            }
            DriveError::Transport { source, attempts } => write!(
                f,
                "could not reach the service after {attempts} attempts: {source}"
            ),
            DriveError::Flow(error) => error.fmt(f),
            DriveError::TimedOut(limit) => write!(f, "gave up after the time limit of {limit:?}"),
            DriveError::Misuse(misuse) => write!(f, "internal error in the driver: {misuse}"),
        }
    }
}

impl DriveError {
    /// Whether the SSO portal refused the access token (401): a caller may
    /// get one replacement token (a refresh) and try once more.
    pub fn is_portal_unauthorized(&self) -> bool {
        matches!(
            self,
            DriveError::Flow(FlowError::Portal { error, .. })
                if error.code == crate::portal::PortalErrorCode::Unauthorized
        )
    }
}

impl std::error::Error for DriveError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DriveError::Transport { source, .. } => Some(source),
            DriveError::Flow(error) => error.source(),
            DriveError::Misuse(misuse) => Some(misuse),
            _ => None,
        }
    }
}

impl From<ApiMisuse> for DriveError {
    fn from(misuse: ApiMisuse) -> Self {
        DriveError::Misuse(misuse)
    }
}

/// What the driver does next; see [`Drive::next`]. `T` is what the machine
/// yields: a [`Token`] for the sign-in and refresh flows.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action<T = Token> {
    /// Send this request and report the answer with [`Drive::sent`].
    Send(Transmit),
    /// Hand this event to the caller.
    Event(Event),
    /// Wait until then (a driver may wake earlier, e.g. to check a cancel flag).
    SleepUntil(Instant),
    /// The flow is over: the token (or other value), or why there is none
    /// (a denial, an expiry, a failure, a stop or the time limit).
    Done(Result<T, DriveError>),
}

#[derive(Debug)]
enum Phase<T> {
    /// Let timers fire, then send.
    Start,
    /// Sending whatever is due.
    Sending,
    /// Handing out events; the stop that ended the flow, if one did.
    Draining {
        stop: Option<DriveError>,
    },
    Finished(Result<T, DriveError>),
}

/// What a driven machine yields.
type ValueOf<F> = <<F as Flow>::Ending as Ending>::Value;

/// A flow being driven: the run-loop contract of [`Flow`] with the stop
/// checks and error translation every driver needs. Nothing is sent after a
/// stop (cancel or time limit) is seen, a user code of a flow that already
/// ended is not handed out, and transport failures that exhaust the retries
/// come back as [`DriveError::Transport`] with the last transport error.
///
/// It also reports what happens as [`tracing`] events at debug level, in a
/// span `flow` (field `flow`: [`Flow::NAME`]) with a span `request` per
/// request (`operation`, `attempt`, then `status` and the service's
/// `request_id`): state changes, waits, retries, the end. Events name
/// operations, statuses, durations and states, never a request or answer
/// body, so no secret can reach a log through them.
#[derive(Debug)]
pub struct Drive<'f, F: Flow> {
    flow: &'f mut F,
    started: Instant,
    time_limit: Option<Duration>,
    last_transport: Option<(TransportError, u32)>,
    phase: Phase<ValueOf<F>>,
    log: DriveLog,
}

/// What the drive has logged, so that each change is reported once.
#[derive(Debug)]
struct DriveLog {
    span: tracing::Span,
    in_flight: Vec<LoggedRequest>,
    sends: Vec<(Operation, u32)>,
    state: StateKind,
    wake: Option<Instant>,
}

#[derive(Debug)]
struct LoggedRequest {
    id: RequestId,
    sent_at: Instant,
    span: tracing::Span,
}

/// The header that carries the service's request id (the AWS services and
/// the emulator set it).
const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

impl DriveLog {
    fn new(name: &'static str, state: StateKind) -> DriveLog {
        let span = tracing::debug_span!("flow", flow = name);
        tracing::debug!(parent: &span, state = ?state, "flow started");
        DriveLog {
            span,
            in_flight: Vec::new(),
            sends: Vec::new(),
            state,
            wake: None,
        }
    }

    fn sending(&mut self, now: Instant, transmit: &Transmit) {
        let attempt = match self
            .sends
            .iter_mut()
            .find(|(op, _)| *op == transmit.operation)
        {
            Some((_, count)) => {
                *count = count.saturating_add(1);
                *count
            }
            None => {
                self.sends.push((transmit.operation, 1));
                1
            }
        };
        let span = tracing::debug_span!(
            parent: &self.span,
            "request",
            operation = ?transmit.operation,
            attempt,
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        tracing::debug!(
            parent: &span,
            method = %transmit.request.method(),
            path = transmit.request.uri().path(),
            "sending"
        );
        self.in_flight.push(LoggedRequest {
            id: transmit.id,
            sent_at: now,
            span,
        });
    }

    fn answered(
        &mut self,
        now: Instant,
        id: RequestId,
        result: &Result<http::Response<Vec<u8>>, TransportError>,
    ) {
        let Some(at) = self.in_flight.iter().position(|r| r.id == id) else {
            return;
        };
        let request = self.in_flight.swap_remove(at);
        let elapsed_ms = now.saturating_duration_since(request.sent_at).as_millis() as u64;
        match result {
            Ok(response) => {
                let request_id = response
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or("-");
                request.span.record("status", response.status().as_u16());
                request.span.record("request_id", request_id);
                // Status and request id are the span's fields, shown with it.
                tracing::debug!(parent: &request.span, elapsed_ms, "answered");
            }
            Err(error) => tracing::debug!(
                parent: &request.span,
                kind = ?error.kind,
                error = %error.message,
                elapsed_ms,
                "no answer"
            ),
        }
    }

    fn state(&mut self, state: StateKind) {
        if state != self.state {
            tracing::debug!(parent: &self.span, from = ?self.state, to = ?state, "state changed");
            self.state = state;
        }
    }

    fn event(&self, event: &Event) {
        let span = &self.span;
        match event {
            Event::Registered(_) => tracing::debug!(parent: span, "client registered"),
            Event::RegistrationRejected { .. } => {
                tracing::debug!(parent: span, "registration rejected; registering again")
            }
            Event::UserCode(_) => tracing::debug!(parent: span, "user code ready"),
            Event::AuthorizationUrl(_) => tracing::debug!(parent: span, "authorization URL ready"),
            Event::CallbackRefused(refusal) => {
                tracing::debug!(parent: span, refusal = ?refusal, "callback refused")
            }
            Event::IntervalChanged(interval) => tracing::debug!(
                parent: span,
                interval_s = interval.as_secs(),
                "polling interval changed"
            ),
            Event::Retrying {
                operation,
                attempt,
                wait,
            } => tracing::debug!(
                parent: span,
                operation = ?operation,
                attempt,
                wait_ms = wait.as_millis() as u64,
                "retrying"
            ),
        }
    }

    fn waiting(&mut self, now: Instant, wake: Instant) {
        if self.wake != Some(wake) {
            self.wake = Some(wake);
            tracing::debug!(
                parent: &self.span,
                wait_ms = wake.saturating_duration_since(now).as_millis() as u64,
                "waiting"
            );
        }
    }

    fn done<T>(&self, result: &Result<T, DriveError>) {
        match result {
            Ok(_) => tracing::debug!(parent: &self.span, "flow finished"),
            Err(error) => tracing::debug!(parent: &self.span, error = %error, "flow failed"),
        }
    }
}

impl<'f, F: Flow> Drive<'f, F> {
    /// Starts driving `flow` at `now`, giving up after `time_limit` if one is set.
    pub fn new(flow: &'f mut F, now: Instant, time_limit: Option<Duration>) -> Self {
        let log = DriveLog::new(F::NAME, flow.state());
        Drive {
            log,
            flow,
            started: now,
            time_limit,
            last_transport: None,
            phase: Phase::Start,
        }
    }

    /// The next thing to do at `now`; `cancelled` is whether the caller wants
    /// the flow stopped (it is, with [`FlowError::Cancelled`]).
    #[must_use = "an action must be carried out for the flow to go on"]
    pub fn next(&mut self, now: Instant, cancelled: bool) -> Action<ValueOf<F>> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Start) {
                Phase::Start => {
                    self.flow.handle_timeout(now);
                    self.log.state(self.flow.state());
                    self.phase = Phase::Sending;
                }
                Phase::Sending => {
                    if self.stop_reason(now, cancelled).is_none()
                        && let Some(transmit) = self.flow.poll_transmit(now)
                    {
                        self.phase = Phase::Sending;
                        self.log.sending(now, &transmit);
                        return Action::Send(transmit);
                    }
                    // A flow that just finished keeps its result even if a stop
                    // came at the same moment.
                    let stop = match self.flow.outcome() {
                        Some(_) => None,
                        None => self.stop_reason(now, cancelled),
                    };
                    if stop.is_some() {
                        self.flow.cancel();
                        self.log.state(self.flow.state());
                    }
                    self.phase = Phase::Draining { stop };
                }
                Phase::Draining { stop } => {
                    if let Some(event) = self.flow.poll_event() {
                        let ended = self.flow.outcome().is_some();
                        self.phase = Phase::Draining { stop };
                        // A code whose flow has already ended cannot be used,
                        // and a retry or a new interval it announced will not happen.
                        if ended
                            && matches!(
                                event,
                                Event::UserCode(_)
                                    | Event::AuthorizationUrl(_)
                                    | Event::Retrying { .. }
                                    | Event::IntervalChanged(_)
                            )
                        {
                            continue;
                        }
                        self.log.event(&event);
                        return Action::Event(event);
                    }
                    let result = match (stop, self.flow.outcome().cloned()) {
                        (Some(stop), _) => Some(Err(stop)),
                        (None, Some(outcome)) => Some(self.result_of(outcome)),
                        (None, None) => None,
                    };
                    if let Some(result) = result {
                        self.log.done(&result);
                        self.phase = Phase::Finished(result.clone());
                        return Action::Done(result);
                    }
                    let Some(wake) = self.flow.poll_timeout() else {
                        // Only an ended flow has no wake-up time; end it rather than spin.
                        self.flow.cancel();
                        continue;
                    };
                    let limit_at = self
                        .time_limit
                        .and_then(|limit| self.started.checked_add(limit));
                    let wake = limit_at.map_or(wake, |at| wake.min(at));
                    self.log.waiting(now, wake);
                    return Action::SleepUntil(wake);
                }
                Phase::Finished(result) => {
                    self.phase = Phase::Finished(result.clone());
                    return Action::Done(result);
                }
            }
        }
    }

    /// Reports the answer to the request [`Action::Send`] handed out:
    /// `wall_now` is the wall-clock time it arrived (expiries are stamped from it).
    pub fn sent(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
        id: RequestId,
        result: Result<http::Response<Vec<u8>>, TransportError>,
    ) {
        self.log.answered(now, id, &result);
        let handled = match result {
            // A refused certificate stays refused: end now, with what to do,
            // rather than retry for a minute.
            Err(error) if error.kind == TransportErrorKind::Certificate => {
                self.flow.cancel();
                self.log.state(self.flow.state());
                let result = Err(DriveError::Transport {
                    source: error,
                    attempts: 1,
                });
                self.log.done(&result);
                self.phase = Phase::Finished(result);
                return;
            }
            Ok(response) => {
                self.last_transport = None;
                self.flow.handle_response(now, wall_now, id, response)
            }
            Err(error) => {
                let attempts = self
                    .last_transport
                    .as_ref()
                    .map_or(1, |(_, n)| n.saturating_add(1));
                let handled = self.flow.handle_transport_error(now, id, error.kind);
                self.last_transport = Some((error, attempts));
                handled
            }
        };
        self.log.state(self.flow.state());
        if let Err(misuse) = handled {
            self.phase = Phase::Finished(Err(DriveError::Misuse(misuse)));
        }
    }

    /// Why the loop must stop now, if it must.
    fn stop_reason(&self, now: Instant, cancelled: bool) -> Option<DriveError> {
        if cancelled {
            return Some(DriveError::Flow(FlowError::Cancelled));
        }
        let limit = self.time_limit?;
        (now.saturating_duration_since(self.started) >= limit)
            .then_some(DriveError::TimedOut(limit))
    }

    /// The flow's outcome as the driver's result: the one place an outcome
    /// becomes a token or an error.
    fn result_of(&mut self, ending: F::Ending) -> Result<ValueOf<F>, DriveError> {
        // Only when every attempt failed below HTTP is it the network's
        // fault; a mix of 5xx and timeouts is the flow's error, which
        // counts them all.
        ending
            .into_result()
            .map_err(|error| match (error, self.last_transport.take()) {
                (
                    DriveError::Flow(FlowError::RetriesExhausted { attempts, .. }),
                    Some((source, seen)),
                ) if seen == attempts => DriveError::Transport { source, attempts },
                (error, _) => error,
            })
    }
}

impl Drive<'_, AuthCodeFlow> {
    /// Hands the flow a request its loopback listener received (see
    /// [`AuthCodeFlow::handle_callback`]) and returns what to answer the
    /// browser ([`loopback::response`](crate::loopback::response)). Call
    /// [`Drive::next`] afterwards: an accepted code is exchanged at once.
    pub fn callback(&mut self, now: Instant, target: &str) -> CallbackReply {
        self.flow.handle_callback(now, target)
    }
}

/// The result of a successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the token and any new registration should be stored"]
pub struct SignIn {
    /// The new token.
    pub token: Token,
    /// A registration obtained during this flow: persist it so the next sign-in can skip RegisterClient.
    pub new_registration: Option<Registration>,
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::{DeviceFlow, Endpoint, FlowConfig};

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn answer(status: u16, body: &str) -> http::Response<Vec<u8>> {
        let mut r = http::Response::new(body.as_bytes().to_vec());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        r
    }

    const REGISTERED: &str =
        r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#;
    const TOKEN: &str = r#"{"accessToken":"aoa","expiresIn":3600}"#;

    fn started(expires_in: u64) -> String {
        format!(
            r#"{{"deviceCode":"dc","userCode":"BCDF-GHJK","verificationUri":"https://x/","expiresIn":{expires_in},"interval":1}}"#
        )
    }

    fn flow(t0: Instant) -> DeviceFlow {
        let endpoint = Endpoint::from_url("https://oidc.us-east-1.amazonaws.com").unwrap();
        DeviceFlow::new(
            FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start").unwrap(),
            t0,
        )
    }

    /// Drives to the next `Send`, answering nothing; returns the transmit and the events on the way.
    fn until_send(drive: &mut Drive<'_, DeviceFlow>, now: Instant) -> (Transmit, Vec<Event>) {
        let mut events = Vec::new();
        loop {
            match drive.next(now, false) {
                Action::Send(tx) => return (tx, events),
                Action::Event(e) => events.push(e),
                Action::SleepUntil(_) => panic!("nothing due at {now:?}"),
                Action::Done(r) => panic!("ended early: {r:?}"),
            }
        }
    }

    fn done(
        drive: &mut Drive<'_, DeviceFlow>,
        now: Instant,
        cancelled: bool,
    ) -> (Result<Token, DriveError>, Vec<Event>) {
        let mut events = Vec::new();
        loop {
            match drive.next(now, cancelled) {
                Action::Done(result) => return (result, events),
                Action::Event(e) => events.push(e),
                other => panic!("expected the end, got {other:?}"),
            }
        }
    }

    /// Registered and started; the first poll is due at `t0 + 1 s`.
    fn polling(drive: &mut Drive<'_, DeviceFlow>, t0: Instant, expires_in: u64) {
        let wall = SystemTime::UNIX_EPOCH;
        let (tx, _) = until_send(drive, t0);
        drive.sent(t0, wall, tx.id, Ok(answer(200, REGISTERED)));
        let (tx, _) = until_send(drive, t0);
        drive.sent(t0, wall, tx.id, Ok(answer(200, &started(expires_in))));
        let mut events = Vec::new();
        while let Action::Event(e) = drive.next(t0, false) {
            events.push(e);
        }
        assert!(
            matches!(events.last(), Some(Event::UserCode(_))),
            "{events:?}"
        );
    }

    #[test]
    fn an_answer_to_an_unknown_request_ends_the_drive_with_a_misuse_error() {
        let t0 = Instant::now();
        let mut f = flow(t0);
        let mut drive = Drive::new(&mut f, t0, None);
        let (tx, _) = until_send(&mut drive, t0);
        let wrong = RequestId(tx.id.0 + 7);
        drive.sent(
            t0,
            SystemTime::UNIX_EPOCH,
            wrong,
            Ok(answer(200, REGISTERED)),
        );
        let (result, _) = done(&mut drive, t0, false);
        assert!(
            matches!(
                result,
                Err(DriveError::Misuse(ApiMisuse::UnknownRequest(_)))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn a_token_that_arrives_with_a_cancel_is_kept() {
        let t0 = Instant::now();
        let mut f = flow(t0);
        let mut drive = Drive::new(&mut f, t0, None);
        polling(&mut drive, t0, 600);
        let (tx, _) = until_send(&mut drive, t0 + S(1));
        drive.sent(
            t0 + S(1),
            SystemTime::UNIX_EPOCH,
            tx.id,
            Ok(answer(200, TOKEN)),
        );
        let (result, _) = done(&mut drive, t0 + S(1), true);
        assert_eq!(result.unwrap().access_token.secret(), "aoa");
    }

    #[test]
    fn a_mix_of_5xx_and_timeouts_is_the_flow_s_error_counting_every_attempt() {
        let t0 = Instant::now();
        let mut f = flow(t0);
        let mut drive = Drive::new(&mut f, t0, None);
        let mut now = t0;
        for attempt in 0..5 {
            let (tx, _) = until_send(&mut drive, now);
            let result = match attempt {
                4 => Err(TransportError::new(
                    TransportErrorKind::Timeout,
                    "timed out",
                )),
                _ => Ok(answer(503, "")),
            };
            drive.sent(now, SystemTime::UNIX_EPOCH, tx.id, result);
            now += S(60);
        }
        let (result, _) = done(&mut drive, now, false);
        assert!(
            matches!(
                result,
                Err(DriveError::Flow(FlowError::RetriesExhausted {
                    attempts: 5,
                    ..
                }))
            ),
            "{result:?}"
        );
    }

    #[test]
    fn only_transport_failures_are_the_network_s_fault() {
        let t0 = Instant::now();
        let mut f = flow(t0);
        let mut drive = Drive::new(&mut f, t0, None);
        let mut now = t0;
        for _ in 0..5 {
            let (tx, _) = until_send(&mut drive, now);
            let error = TransportError::new(TransportErrorKind::Connect, "refused");
            drive.sent(now, SystemTime::UNIX_EPOCH, tx.id, Err(error));
            now += S(60);
        }
        let (result, _) = done(&mut drive, now, false);
        assert!(
            matches!(result, Err(DriveError::Transport { attempts: 5, .. })),
            "{result:?}"
        );
    }

    #[test]
    fn a_refused_certificate_ends_the_drive_at_once_with_what_to_do() {
        let t0 = Instant::now();
        let mut f = flow(t0);
        let mut drive = Drive::new(&mut f, t0, None);
        let (tx, _) = until_send(&mut drive, t0);
        let error = TransportError::certificate(
            "oidc.us-east-1.amazonaws.com",
            "invalid peer certificate: UnknownIssuer",
            &TrustRoots::System,
        );
        drive.sent(t0, SystemTime::UNIX_EPOCH, tx.id, Err(error.clone()));
        let (result, events) = done(&mut drive, t0, false);
        assert_eq!(
            result,
            Err(DriveError::Transport {
                source: error,
                attempts: 1
            })
        );
        assert!(events.is_empty(), "no retry is announced: {events:?}");
        let message = result.unwrap_err().to_string();
        assert!(message.contains("AWS_CA_BUNDLE"), "{message}");
        assert!(!message.contains("attempts"), "{message}");
        assert_eq!(f.state(), StateKind::Failed);
    }

    #[test]
    fn a_retry_announced_by_a_flow_that_then_ended_is_not_handed_out() {
        // The poll fails after the deadline has passed: the flow announces a
        // retry and expires in the same call; nobody should read "trying again".
        let t0 = Instant::now();
        let mut f = flow(t0);
        let mut drive = Drive::new(&mut f, t0, None);
        polling(&mut drive, t0, 2);
        let (tx, _) = until_send(&mut drive, t0 + S(1));
        let error = TransportError::new(TransportErrorKind::Timeout, "timed out");
        drive.sent(t0 + S(3), SystemTime::UNIX_EPOCH, tx.id, Err(error));
        let (result, events) = done(&mut drive, t0 + S(3), false);
        assert_eq!(result, Err(DriveError::Expired));
        assert!(events.is_empty(), "{events:?}");
    }
}
