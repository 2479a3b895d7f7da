//! The run loop: the core's [`Drive`] with `.await` where the blocking
//! driver blocks.

use std::time::Duration;

use ssoflow_core::{
    Action, DeviceFlow, Drive, DriveError, Event, Flow, RefreshFlow, SignIn, SignInOutcome, Token,
    UserPrompt,
};

use crate::{AsyncClock, AsyncTransport};

/// Runs flows over an [`AsyncTransport`], sleeping on an [`AsyncClock`];
/// optionally time-limited. Methods take `&self`, so one driver serves many
/// tasks.
#[derive(Debug, Clone)]
pub struct AsyncDriver<T, C> {
    transport: T,
    clock: C,
    time_limit: Option<Duration>,
}

impl<T: AsyncTransport, C: AsyncClock> AsyncDriver<T, C> {
    /// A driver over `transport`, sleeping on `clock`.
    pub fn new(transport: T, clock: C) -> Self {
        AsyncDriver {
            transport,
            clock,
            time_limit: None,
        }
    }

    /// Gives up with [`DriveError::TimedOut`] after `limit`, even if the flow would go on.
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// Runs a device flow to its end. `prompt` is called with the user code and
    /// URLs to show (again if the flow had to start over with a new registration).
    pub async fn sign_in(
        &self,
        mut flow: DeviceFlow,
        mut prompt: impl FnMut(&UserPrompt),
    ) -> Result<SignIn, DriveError> {
        let mut outcome = SignInOutcome::default();
        let drive = self
            .run(&mut flow, |event| {
                outcome.observe(&event);
                if let Event::UserCode(p) = &event {
                    prompt(p);
                }
            })
            .await;
        outcome.finish(drive)
    }

    /// Runs a refresh to its end and returns the refreshed token.
    pub async fn refresh(&self, mut flow: RefreshFlow) -> Result<Token, DriveError> {
        let mut outcome = SignInOutcome::default();
        let drive = self.run(&mut flow, |event| outcome.observe(&event)).await;
        outcome.finish_refresh(drive)
    }

    /// Runs any flow to a terminal state, handing every event to `on_event`.
    /// `Ok` means the flow ended without failing (Authorized, Denied or
    /// Expired); a failure comes back as an error. Dropping the future stops
    /// the flow where it is.
    pub async fn run<F: Flow>(
        &self,
        flow: &mut F,
        mut on_event: impl FnMut(Event),
    ) -> Result<(), DriveError> {
        let mut drive = Drive::new(flow, self.clock.now(), self.time_limit);
        loop {
            match drive.next(self.clock.now(), false) {
                Action::Send(transmit) => {
                    let result = self.transport.send(transmit.request).await;
                    drive.sent(self.clock.now(), transmit.id, result);
                }
                Action::Event(event) => on_event(event),
                Action::SleepUntil(wake) => {
                    if wake > self.clock.now() {
                        self.clock.sleep_until(wake).await;
                    }
                }
                Action::Done(result) => return result,
            }
        }
    }
}
