//! The run loop: drives one flow to its end over a transport and a clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ssoflow_core::drive::{Action, Drive, DriveError, SignIn};
use ssoflow_core::{AuthCodeFlow, DeviceFlow, Ending, Event, Flow, RefreshFlow, Token, UserPrompt};

use crate::loopback::CallbackListener;

use crate::transport::{Clock, Transport};

/// Why a blocking flow returned without a token: the core's [`DriveError`],
/// the same for every driver.
pub type Error = DriveError;

/// The longest single sleep, so a cancel flag is noticed within this time.
const SLEEP_SLICE: Duration = Duration::from_millis(250);

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

    /// Stops the flow (with [`ssoflow_core::FlowError::Cancelled`]) soon after `flag` becomes true, e.g. from a Ctrl-C handler.
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
        let token = self.run(&mut flow, |event| {
            if let Event::UserCode(p) = &event {
                prompt(p);
            }
        })?;
        Ok(SignIn {
            token,
            new_registration: flow.new_registration().cloned(),
        })
    }

    /// Runs a refresh to its end and returns the refreshed token.
    pub fn refresh(&mut self, mut flow: RefreshFlow) -> Result<Token, Error> {
        self.run(&mut flow, |_| {})
    }

    /// Runs any flow to its end, handing every event to `on_event`, and
    /// returns its token, or why there is none: the flow's
    /// [`outcome`](Flow::outcome), except that a stop (the cancel flag or
    /// the time limit, which end the flow `Failed(Cancelled)`) and a driver
    /// bug ([`Error::Misuse`]) are reported as such.
    pub fn run<F: Flow>(
        &mut self,
        flow: &mut F,
        on_event: impl FnMut(Event),
    ) -> Result<<F::Ending as Ending>::Value, Error> {
        self.run_loop(flow, on_event, |clock, _, until| clock.sleep_until(until))
    }

    /// Runs an authorization-code flow to its end: while it waits, each
    /// request `listener` receives goes to the flow, and the listener answers
    /// the browser as the flow decides. `on_event` gets every event; the
    /// first is [`Event::AuthorizationUrl`] with the URL to open. The
    /// listener must be the one whose port the flow was made with.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use ssoflow_blocking::{
    ///     CallbackListener, Driver, LoopbackListener, SystemClock, UreqTransport, fresh_pkce_secrets,
    /// };
    /// use ssoflow_core::{AuthCodeFlow, Endpoint, Event, FlowConfig};
    /// # use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread};
    /// # let mut emulator = EmulatorConfig::default();
    /// # emulator.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    /// # let emulator = EmulatorThread::start(emulator)?;
    /// # let open_in_browser = |url: String| {
    /// #     // A stand-in for the person's browser: the emulator approves at once
    /// #     // and redirects to the listener.
    /// #     std::thread::spawn(move || {
    /// #         let agent: ureq::Agent = ureq::Agent::config_builder().max_redirects(0).build().into();
    /// #         let answer = agent.get(&url).call().unwrap();
    /// #         let location = answer.headers()["location"].to_str().unwrap().to_owned();
    /// #         agent.get(&location).call().unwrap();
    /// #     });
    /// # };
    ///
    /// // Against AWS: Endpoint::for_region("us-east-1", EndpointVariant::default())?
    /// let endpoint = Endpoint::from_url(emulator.base_url())?;
    /// let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start")?;
    /// let mut listener = LoopbackListener::bind(None)?;
    /// let flow = AuthCodeFlow::new(config, listener.port(), fresh_pkce_secrets()?, Instant::now());
    /// let mut driver = Driver::new(UreqTransport::new(), SystemClock);
    /// let signed_in = driver.sign_in_with_browser(flow, &mut listener, |event| {
    ///     if let Event::AuthorizationUrl(prompt) = event {
    ///         open_in_browser(prompt.url);
    ///     }
    /// })?;
    /// assert!(signed_in.new_registration.unwrap().is_for_authorization_code());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_in_with_browser<L: CallbackListener>(
        &mut self,
        mut flow: AuthCodeFlow,
        listener: &mut L,
        on_event: impl FnMut(Event),
    ) -> Result<SignIn, Error> {
        let token = self.run_loop(&mut flow, on_event, |clock, drive, until| {
            if let Some(target) = listener.wait(until) {
                let reply = drive.callback(clock.now(), &target);
                listener.respond(&reply);
            }
        })?;
        Ok(SignIn {
            token,
            new_registration: flow.new_registration().cloned(),
        })
    }

    /// The one run loop: `wait(clock, drive, until)` passes the time until
    /// `until` (or less).
    fn run_loop<F: Flow>(
        &mut self,
        flow: &mut F,
        mut on_event: impl FnMut(Event),
        mut wait: impl FnMut(&mut C, &mut Drive<'_, F>, Instant),
    ) -> Result<<F::Ending as Ending>::Value, Error> {
        let mut drive = Drive::new(flow, self.clock.now(), self.time_limit);
        loop {
            let cancelled = self
                .cancel
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed));
            match drive.next(self.clock.now(), cancelled) {
                Action::Send(transmit) => {
                    let result = self.transport.send(transmit.request);
                    drive.sent(self.clock.now(), self.clock.wall_now(), transmit.id, result);
                }
                Action::Event(event) => on_event(event),
                Action::SleepUntil(wake) => {
                    let now = self.clock.now();
                    // With a cancel flag, wake up regularly to look at it.
                    let until = match self.cancel {
                        Some(_) => wake.min(now.checked_add(SLEEP_SLICE).unwrap_or(wake)),
                        None => wake,
                    };
                    if until > now {
                        wait(&mut self.clock, &mut drive, until);
                    }
                }
                Action::Done(result) => return result,
                // Actions a newer core may add: nothing to do here yet.
                _ => {}
            }
        }
    }
}
