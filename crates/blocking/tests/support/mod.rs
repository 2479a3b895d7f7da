//! The blocking driver's adapter for the simulated service: a
//! [`Simulation`] behind this crate's [`Transport`] and [`Clock`] seams.
//! (The simulation knows no driver; each driver's tests carry these lines.)
#![allow(dead_code, unreachable_pub)]

use std::time::{Instant, SystemTime};

use ssoflow_blocking::{Clock, Transport, TransportError};
use ssoflow_test_transport::Simulation;

/// Requests go to the simulation's service, in virtual time.
#[derive(Debug, Clone)]
pub struct SimTransport(pub Simulation);

impl Transport for SimTransport {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.0.send(request)
    }
}

/// Sleeping moves the simulation's virtual clock; waits cost nothing.
#[derive(Debug, Clone)]
pub struct VirtualClock(pub Simulation);

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.0.now()
    }
    fn wall_now(&self) -> SystemTime {
        self.0.wall_now()
    }
    fn sleep_until(&mut self, deadline: Instant) {
        self.0.sleep_until(deadline);
    }
}

/// `sim.transport()` and `sim.clock()` for the blocking driver.
pub trait SimExt {
    /// A transport to this simulation.
    fn transport(&self) -> SimTransport;
    /// This simulation's virtual clock.
    fn clock(&self) -> VirtualClock;
}

impl SimExt for Simulation {
    fn transport(&self) -> SimTransport {
        SimTransport(self.clone())
    }
    fn clock(&self) -> VirtualClock {
        VirtualClock(self.clone())
    }
}
