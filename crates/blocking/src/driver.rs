//! The run loop: drives one flow to its end over a transport and a clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ssoflow_core::{
    ApiMisuse, DeviceFlow, Event, Flow, FlowError, RefreshFlow, Registration, Token, UserPrompt,
};

use crate::transport::{Clock, Transport, TransportError};

/// The longest single sleep, so a cancel flag is noticed within this time.
const SLEEP_SLICE: Duration = Duration::from_millis(250);

/// The result of a successful sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the token and any new registration should be stored"]
pub struct SignIn {
    /// The new token.
    pub token: Token,
    /// A registration obtained during this flow: persist it so the next sign-in can skip RegisterClient.
    pub new_registration: Option<Registration>,
}

/// Why a blocking flow returned without a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The person refused the request on the approval page.
    #[error("the sign-in request was denied on the approval page")]
    Denied,
    /// The user code expired before anyone approved it; start a new sign-in.
    #[error("the user code expired before it was approved; start the sign-in again")]
    Expired,
    /// The network kept failing until the flow gave up.
    #[error("could not reach the SSO OIDC service after {attempts} attempts: {source}")]
    Transport {
        /// The last transport failure.
        source: TransportError,
        /// How many requests failed in a row.
        attempts: u32,
    },
    /// The service refused, answered nonsense, or the flow was cancelled.
    #[error(transparent)]
    Flow(FlowError),
    /// The driver's own time limit ran out.
    #[error("gave up after the time limit of {0:?}")]
    TimedOut(Duration),
    /// The core reported a driver bug; please report it.
    #[error("internal error in the driver: {0}")]
    Misuse(#[from] ApiMisuse),
}

/// Runs flows with a transport and a clock; optionally cancellable and time-limited.
#[derive(Debug)]
pub struct Driver<T, C> {
    transport: T,
    clock: C,
    cancel: Option<Arc<AtomicBool>>,
    time_limit: Option<Duration>,
}

impl<T: Transport, C: Clock> Driver<T, C> {
    /// A driver over `transport`, sleeping on `clock`.
    pub fn new(transport: T, clock: C) -> Self {
        Driver {
            transport,
            clock,
            cancel: None,
            time_limit: None,
        }
    }

    /// Stops the flow (with [`FlowError::Cancelled`]) soon after `flag` becomes true, e.g. from a Ctrl-C handler.
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Gives up with [`Error::TimedOut`] after `limit`, even if the flow would go on.
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// The transport, e.g. to inspect a test transport after a run.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs a device flow to its end. `prompt` is called with the user code and
    /// URLs to show (again if the flow had to start over with a new registration).
    pub fn sign_in(
        &mut self,
        mut flow: DeviceFlow,
        mut prompt: impl FnMut(&UserPrompt),
    ) -> Result<SignIn, Error> {
        let mut new_registration = None;
        let mut token = None;
        let mut ended = None;
        self.run(&mut flow, |event| match event {
            Event::Registered(reg) => new_registration = Some(reg),
            Event::UserCode(p) => prompt(&p),
            Event::Authorized(t) => token = Some(t),
            Event::Denied => ended = Some(Error::Denied),
            Event::Expired => ended = Some(Error::Expired),
            _ => {}
        })?;
        match (token, ended) {
            (Some(token), _) => Ok(SignIn {
                token,
                new_registration,
            }),
            (None, Some(e)) => Err(e),
            (None, None) => Err(Error::Flow(FlowError::Cancelled)),
        }
    }

    /// Runs a refresh to its end and returns the refreshed token.
    pub fn refresh(&mut self, mut flow: RefreshFlow) -> Result<Token, Error> {
        let mut token = None;
        self.run(&mut flow, |event| {
            if let Event::Authorized(t) = event {
                token = Some(t);
            }
        })?;
        token.ok_or(Error::Flow(FlowError::Cancelled))
    }

    /// Runs any flow to a terminal state, handing every event to `on_event`.
    /// `Ok` means the flow ended without failing (Authorized, Denied or Expired);
    /// a failure comes back as an error.
    pub fn run<F: Flow>(
        &mut self,
        flow: &mut F,
        mut on_event: impl FnMut(Event),
    ) -> Result<(), Error> {
        let started = self.clock.now();
        let mut last_transport: Option<(TransportError, u32)> = None;
        loop {
            flow.handle_timeout(self.clock.now());
            // The stop check comes before every request, so nothing goes out
            // after a cancel or past the time limit.
            while self.stop_requested(started).is_none() {
                let Some(transmit) = flow.poll_transmit(self.clock.now()) else {
                    break;
                };
                let result = self.transport.send(transmit.request);
                let now = self.clock.now();
                match result {
                    Ok(response) => {
                        last_transport = None;
                        flow.handle_response(now, transmit.id, response)?;
                    }
                    Err(e) => {
                        let attempts = last_transport
                            .as_ref()
                            .map_or(1, |(_, n)| n.saturating_add(1));
                        flow.handle_transport_error(now, transmit.id, e.kind)?;
                        last_transport = Some((e, attempts));
                    }
                }
            }
            // A flow that just finished keeps its result even if a stop came at the same moment.
            let stop = match flow.state().is_terminal() {
                true => None,
                false => self.stop_requested(started),
            };
            if stop.is_some() {
                flow.cancel();
            }
            let mut failure = None;
            while let Some(event) = flow.poll_event() {
                match &event {
                    Event::Failed(e) => failure = Some(e.clone()),
                    // A code whose flow has already ended cannot be used: don't show it.
                    Event::UserCode(_) if flow.state().is_terminal() => continue,
                    _ => {}
                }
                on_event(event);
            }
            if let Some(stop) = stop {
                return Err(stop);
            }
            if let Some(e) = failure {
                return Err(match (e, last_transport) {
                    (FlowError::RetriesExhausted { .. }, Some((source, attempts))) => {
                        Error::Transport { source, attempts }
                    }
                    (e, _) => Error::Flow(e),
                });
            }
            if flow.state().is_terminal() {
                return Ok(());
            }
            let Some(wake) = flow.poll_timeout() else {
                // Not terminal, nothing in flight, no timer: cannot happen with the
                // core's machines; end it rather than spin.
                flow.cancel();
                continue;
            };
            let now = self.clock.now();
            let mut until = wake;
            if self.cancel.is_some() {
                until = until.min(now.checked_add(SLEEP_SLICE).unwrap_or(wake));
            }
            if let Some(limit_at) = self.time_limit.and_then(|l| started.checked_add(l)) {
                until = until.min(limit_at);
            }
            if until > now {
                self.clock.sleep_until(until);
            }
        }
    }

    /// Why the loop must stop now, if it must: the cancel flag or the time limit.
    fn stop_requested(&self, started: Instant) -> Option<Error> {
        if self
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Some(Error::Flow(FlowError::Cancelled));
        }
        let limit = self.time_limit?;
        (self.clock.now().saturating_duration_since(started) >= limit)
            .then_some(Error::TimedOut(limit))
    }
}
