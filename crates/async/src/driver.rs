//! The run loop: the core's [`Drive`] with `.await` where the blocking
//! driver blocks.

use std::future::Future;
use std::time::{Duration, Instant};

use ssoflow_core::drive::{Action, Drive, DriveError, SignIn};
use ssoflow_core::{AuthCodeFlow, DeviceFlow, Ending, Event, Flow, RefreshFlow, Token, UserPrompt};

use crate::{AsyncCallbackListener, AsyncClock, AsyncTransport};

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
        let token = self
            .run(&mut flow, |event| {
                if let Event::UserCode(p) = &event {
                    prompt(p);
                }
            })
            .await?;
        Ok(SignIn {
            token,
            new_registration: flow.new_registration().cloned(),
        })
    }

    /// Runs a refresh to its end and returns the refreshed token.
    pub async fn refresh(&self, mut flow: RefreshFlow) -> Result<Token, DriveError> {
        self.run(&mut flow, |_| {}).await
    }

    /// Runs an authorization-code flow to its end: while it waits, each
    /// request `listener` receives goes to the flow, and the listener answers
    /// the browser as the flow decides. `on_event` gets every event; the
    /// first is [`Event::AuthorizationUrl`] with the URL to open. The
    /// listener must be the one whose port the flow was made with.
    pub async fn sign_in_with_browser<L: AsyncCallbackListener>(
        &self,
        mut flow: AuthCodeFlow,
        listener: &mut L,
        mut on_event: impl FnMut(Event),
    ) -> Result<SignIn, DriveError> {
        let token = self
            .run_loop(&mut flow, &mut on_event, Listen(listener))
            .await?;
        Ok(SignIn {
            token,
            new_registration: flow.new_registration().cloned(),
        })
    }

    /// Runs any flow to its end, handing every event to `on_event`, and
    /// returns its token, or why there is none: the flow's
    /// [`outcome`](Flow::outcome), except that the time limit (which ends the
    /// flow `Failed(Cancelled)`) and a driver bug ([`DriveError::Misuse`]) are
    /// reported as such. Dropping the future stops the flow where it is.
    pub async fn run<F: Flow>(
        &self,
        flow: &mut F,
        mut on_event: impl FnMut(Event),
    ) -> Result<<F::Ending as Ending>::Value, DriveError> {
        self.run_loop(flow, &mut on_event, Sleep).await
    }

    /// The one run loop: `wait` passes the time until each wake-up.
    async fn run_loop<F: Flow, W: PassTime<F>>(
        &self,
        flow: &mut F,
        on_event: &mut impl FnMut(Event),
        mut wait: W,
    ) -> Result<<F::Ending as Ending>::Value, DriveError> {
        let mut drive = Drive::new(flow, self.clock.now(), self.time_limit);
        loop {
            match drive.next(self.clock.now(), false) {
                Action::Send(transmit) => {
                    let result = self.transport.send(transmit.request).await;
                    drive.sent(self.clock.now(), self.clock.wall_now(), transmit.id, result);
                }
                Action::Event(event) => on_event(event),
                Action::SleepUntil(wake) if wake > self.clock.now() => {
                    wait.pass_time(&mut drive, &self.clock, wake).await;
                }
                Action::Done(result) => return result,
                // A wake-up already past, or an action a newer core may add.
                _ => {}
            }
        }
    }
}

/// How the run loop lets time pass until a wake-up.
trait PassTime<F: Flow> {
    fn pass_time<C: AsyncClock>(
        &mut self,
        drive: &mut Drive<'_, F>,
        clock: &C,
        until: Instant,
    ) -> impl Future<Output = ()>;
}

/// Sleeps on the clock.
struct Sleep;

impl<F: Flow> PassTime<F> for Sleep {
    async fn pass_time<C: AsyncClock>(&mut self, _: &mut Drive<'_, F>, clock: &C, until: Instant) {
        clock.sleep_until(until).await;
    }
}

/// Waits on the loopback listener, handing each request to the flow.
struct Listen<'l, L>(&'l mut L);

impl<L: AsyncCallbackListener> PassTime<AuthCodeFlow> for Listen<'_, L> {
    async fn pass_time<C: AsyncClock>(
        &mut self,
        drive: &mut Drive<'_, AuthCodeFlow>,
        clock: &C,
        until: Instant,
    ) {
        if let Some(target) = self.0.wait(until).await {
            let reply = drive.callback(clock.now(), &target);
            self.0.respond(&reply).await;
        }
    }
}
