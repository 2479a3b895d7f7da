//! The async driver's adapter for the simulated service: a [`Simulation`]
//! behind this crate's [`AsyncTransport`] and [`AsyncClock`] seams. Answers
//! are ready at once and sleeps complete at once, the virtual clock having
//! moved. (The simulation knows no driver; each driver's tests carry these lines.)
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::{Instant, SystemTime};

use ssoflow_async::{AsyncClock, AsyncTransport, TransportError};
use ssoflow_test_transport::Simulation;

/// The blocking driver's adapter, for the tests that compare the two drivers.
#[path = "../../../blocking/tests/support/mod.rs"]
pub mod blocking;

/// Requests go to the simulation's service, in virtual time.
#[derive(Debug, Clone)]
pub struct AsyncSimTransport(pub Simulation);

impl AsyncTransport for AsyncSimTransport {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        std::future::ready(self.0.send(request))
    }
}

/// Sleeping moves the simulation's virtual clock and completes at once.
#[derive(Debug, Clone)]
pub struct AsyncVirtualClock(pub Simulation);

impl AsyncClock for AsyncVirtualClock {
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn wall_now(&self) -> SystemTime {
        self.0.wall_now()
    }
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        self.0.sleep_until(deadline);
        std::future::ready(())
    }
}

/// `sim.async_transport()` and `sim.async_clock()` for the async driver.
pub trait AsyncSimExt {
    /// A transport to this simulation.
    fn async_transport(&self) -> AsyncSimTransport;
    /// This simulation's virtual clock.
    fn async_clock(&self) -> AsyncVirtualClock;
}

impl AsyncSimExt for Simulation {
    fn async_transport(&self) -> AsyncSimTransport {
        AsyncSimTransport(self.clone())
    }
    fn async_clock(&self) -> AsyncVirtualClock {
        AsyncVirtualClock(self.clone())
    }
}

impl ssoflow_async::AsyncCallbackListener for blocking::SimBrowser {
    fn port(&self) -> u16 {
        self.port_number()
    }
    fn wait(&mut self, until: Instant) -> impl Future<Output = Option<String>> + Send {
        std::future::ready(self.next_request(until))
    }
    fn respond(&mut self, reply: &ssoflow_core::CallbackReply) -> impl Future<Output = ()> + Send {
        self.record(reply);
        std::future::ready(())
    }
}
