//! The two seams of the blocking driver: how a request is sent and how time passes.

use std::time::{Duration, Instant, SystemTime};

use ssoflow_core::drive::TransportError;

/// Sends one HTTP request and returns its response, whatever the status.
/// Implementations must not treat 4xx/5xx as errors: the flow needs those answers.
pub trait Transport {
    /// Sends `request`; `Err` only when no HTTP response was received in full.
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        (**self).send(request)
    }
}

/// Where the driver gets the time and how it waits; a virtual clock makes whole
/// flows run in milliseconds in tests.
pub trait Clock {
    /// The monotonic now.
    fn now(&self) -> Instant;
    /// The wall-clock now: read when each answer arrives, to stamp expiries.
    fn wall_now(&self) -> SystemTime;
    /// Waits until `deadline` (or returns at once if it has passed). The driver
    /// calls this in slices of at most a quarter second so cancellation is prompt.
    fn sleep_until(&mut self, deadline: Instant);
}

impl<C: Clock + ?Sized> Clock for &mut C {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn wall_now(&self) -> SystemTime {
        (**self).wall_now()
    }
    fn sleep_until(&mut self, deadline: Instant) {
        (**self).sleep_until(deadline);
    }
}

/// The real clocks and `std::thread::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep_until(&mut self, deadline: Instant) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left > Duration::ZERO {
            std::thread::sleep(left);
        }
    }
}
