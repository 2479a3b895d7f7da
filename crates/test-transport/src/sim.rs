//! The in-memory transport: a [`Service`] reached by [`Simulation::send`], on
//! a virtual clock that moves only when a driver sleeps
//! ([`Simulation::sleep_until`]), a request travels, or a test says so.
//! It knows no driver: each driver's tests carry a few lines that put a
//! simulation behind that driver's transport and clock traits.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ssoflow_core::drive::TransportError;
use ssoflow_core::{Endpoint, Operation, TransportErrorKind};

use crate::service::{Reply, Service, ServiceConfig, operation_of};

/// Where virtual wall-clock time starts: 2026-01-01T00:00:00Z.
const WALL_CLOCK_START: Duration = Duration::from_secs(1_767_225_600);

/// The read timeout a simulation starts with, a typical HTTP client default.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The base URL handed to flows; the transport never looks at the host.
const SIMULATED_ENDPOINT: &str = "http://127.0.0.1:1";

/// A hook run before the service handles each request.
type RequestHook = Box<dyn FnMut(&mut Service, SystemTime, &Exchange) + Send>;

/// One request as the service received it, for assertions about what a flow
/// sent and when; it holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// When the service received it (after the one-way latency).
    pub at: Instant,
    /// Which operation it called, of SSO OIDC or of the portal API; `None`
    /// for an unknown path, another method or CreateTokenWithIAM.
    pub operation: Option<Operation>,
    /// The CreateToken `grantType`, when the body has one.
    pub grant_type: Option<String>,
    /// The status the client received; `None` when the connection was dropped
    /// or the client timed out, and always `None` while an `on_request` hook runs.
    pub status: Option<u16>,
}

/// A simulated SSO OIDC service and SSO portal on a virtual clock: a driver that sends
/// through [`Simulation::send`] and sleeps through [`Simulation::sleep_until`]
/// runs whole flows in microseconds. Clones share the same service, clock
/// and log.
#[derive(Clone)]
pub struct Simulation {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    service: Service,
    /// The virtual clocks are these origins plus `elapsed`, so they move together.
    instant_origin: Instant,
    wall_origin: SystemTime,
    elapsed: Duration,
    /// How far the wall clock has jumped ahead of the monotonic one (a suspend).
    wall_shift: Duration,
    latency: Duration,
    read_timeout: Duration,
    log: Vec<Exchange>,
    hooks: Vec<RequestHook>,
}

impl Shared {
    fn now(&self) -> Instant {
        // `advance` only accepts an `elapsed` that fits, so this never falls back.
        self.instant_origin
            .checked_add(self.elapsed)
            .unwrap_or(self.instant_origin)
    }

    fn wall_now(&self) -> SystemTime {
        self.wall_origin
            .checked_add(self.elapsed.saturating_add(self.wall_shift))
            .unwrap_or(self.wall_origin)
    }

    /// Moves both clocks to `elapsed` since the origin, never backwards and
    /// never past what `Instant`/`SystemTime` can represent.
    fn set_elapsed(&mut self, elapsed: Duration) {
        let fits = self.instant_origin.checked_add(elapsed).is_some()
            && self.wall_origin.checked_add(elapsed).is_some();
        if fits && elapsed > self.elapsed {
            self.elapsed = elapsed;
        }
    }

    fn advance(&mut self, by: Duration) {
        self.set_elapsed(self.elapsed.saturating_add(by));
    }
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = self.lock();
        f.debug_struct("Simulation")
            .field("elapsed", &shared.elapsed)
            .field("latency", &shared.latency)
            .field("read_timeout", &shared.read_timeout)
            .field("exchanges", &shared.log.len())
            .field("service", &shared.service)
            .finish_non_exhaustive()
    }
}

impl Simulation {
    /// A fresh service with this configuration. Virtual time starts at
    /// `Instant::now()` and at the wall-clock time 2026-01-01T00:00:00Z, with
    /// no latency and a 30 s read timeout.
    pub fn new(config: ServiceConfig) -> Simulation {
        Simulation {
            shared: Arc::new(Mutex::new(Shared {
                service: Service::new(config),
                instant_origin: Instant::now(),
                wall_origin: UNIX_EPOCH + WALL_CLOCK_START,
                elapsed: Duration::ZERO,
                wall_shift: Duration::ZERO,
                latency: Duration::ZERO,
                read_timeout: DEFAULT_READ_TIMEOUT,
                log: Vec::new(),
                hooks: Vec::new(),
            })),
        }
    }

    /// The endpoint to configure flows with (`http://127.0.0.1:1`); the
    /// transport answers every request itself, whatever its host.
    pub fn endpoint(&self) -> Endpoint {
        // A literal loopback URL that `Endpoint::from_url` accepts (a unit test
        // checks it), so this cannot fail.
        #[allow(clippy::expect_used)]
        Endpoint::from_url(SIMULATED_ENDPOINT).expect("the simulated endpoint URL is valid")
    }

    /// The virtual monotonic time.
    pub fn now(&self) -> Instant {
        self.lock().now()
    }

    /// The virtual wall-clock time; it moves in step with [`Simulation::now`],
    /// and ahead of it by whatever [`Simulation::jump_wall_clock`] added.
    pub fn wall_now(&self) -> SystemTime {
        self.lock().wall_now()
    }

    /// Moves virtual time forward, e.g. to let a device code expire.
    pub fn advance(&self, by: Duration) {
        self.lock().advance(by);
    }

    /// Moves the wall clock forward by `by` while the monotonic clock stands
    /// still, as when a laptop wakes from sleep (`Instant` stops during a
    /// suspend on Linux and macOS). The service sees the new wall time.
    pub fn jump_wall_clock(&self, by: Duration) {
        let mut shared = self.lock();
        let shift = shared.wall_shift.saturating_add(by);
        if shared
            .wall_origin
            .checked_add(shared.elapsed.saturating_add(shift))
            .is_some()
        {
            shared.wall_shift = shift;
        }
    }

    /// Sleeps in virtual time: moves the clocks to `deadline` at once (never
    /// backwards), so waits cost nothing.
    pub fn sleep_until(&self, deadline: Instant) {
        let mut shared = self.lock();
        let target = deadline.saturating_duration_since(shared.instant_origin);
        shared.set_elapsed(target);
    }

    /// Sets the one-way network latency: each request advances virtual time by
    /// this before the service sees it and again before the answer arrives.
    pub fn set_latency(&self, one_way: Duration) {
        self.lock().latency = one_way;
    }

    /// Sets how long the client waits for an answer (default 30 s). When the
    /// latency there and back plus a [`Fault::Delay`](crate::Fault::Delay) exceed
    /// it, time advances by the timeout and the send fails with
    /// [`TransportErrorKind::Timeout`].
    pub fn set_read_timeout(&self, timeout: Duration) {
        self.lock().read_timeout = timeout;
    }

    /// Runs `f` with the service and the current virtual wall-clock time, for
    /// administration: approve a code, inject faults, read counters.
    pub fn with_service<R>(&self, f: impl FnOnce(&mut Service, SystemTime) -> R) -> R {
        let mut shared = self.lock();
        let now = shared.wall_now();
        f(&mut shared.service, now)
    }

    /// Every request the service received so far, in order.
    pub fn log(&self) -> Vec<Exchange> {
        self.lock().log.clone()
    }

    /// Adds a hook that runs before the service handles each request, with the
    /// service, the virtual wall-clock time and the request's [`Exchange`]
    /// (status still `None`), e.g. to approve the user code after k polls.
    /// Hooks run in the order they were added. A hook must not call back into
    /// this simulation (that would deadlock): it already has the service.
    pub fn on_request(
        &self,
        hook: impl FnMut(&mut Service, SystemTime, &Exchange) + Send + 'static,
    ) {
        self.lock().hooks.push(Box::new(hook));
    }

    /// The shared state; a hook that panicked does not make it unusable.
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends `request` to the service, in virtual time: the latency there and
    /// back and any [`Fault::Delay`](crate::Fault::Delay) advance the clock; a
    /// dropped connection becomes [`TransportErrorKind::ConnectionLost`], an
    /// answer slower than the read timeout [`TransportErrorKind::Timeout`].
    /// Any status is an `Ok` answer, as a driver's transport must return it.
    pub fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let mut shared = self.lock();
        let sent_at = shared.elapsed;
        let latency = shared.latency;
        shared.advance(latency);
        let operation = operation_of(&request);
        let mut exchange = Exchange {
            at: shared.now(),
            operation,
            grant_type: if operation == Some(Operation::CreateToken) {
                grant_type(request.body())
            } else {
                None
            },
            status: None,
        };
        let wall_now = shared.wall_now();
        let Shared { service, hooks, .. } = &mut *shared;
        for hook in hooks.iter_mut() {
            hook(service, wall_now, &exchange);
        }
        let (delay, response) = match shared.service.handle(wall_now, &request) {
            Reply::Respond(response) => (Duration::ZERO, response),
            Reply::Delayed(delay, response) => (delay, response),
            Reply::Drop => {
                // The client learns of the broken connection one trip later.
                shared.advance(latency);
                shared.log.push(exchange);
                return Err(TransportError::new(
                    TransportErrorKind::ConnectionLost,
                    "the simulated service closed the connection without answering",
                ));
            }
        };
        let round_trip = latency.saturating_mul(2).saturating_add(delay);
        if round_trip > shared.read_timeout {
            let gave_up_at = sent_at.saturating_add(shared.read_timeout);
            shared.set_elapsed(gave_up_at);
            shared.log.push(exchange);
            return Err(TransportError::new(
                TransportErrorKind::Timeout,
                format!(
                    "the simulated service did not answer within {:?}",
                    shared.read_timeout
                ),
            ));
        }
        shared.advance(delay.saturating_add(latency));
        exchange.status = Some(response.status().as_u16());
        shared.log.push(exchange);
        Ok(response)
    }
}

/// The CreateToken `grantType` of a body, read without keeping any other member.
fn grant_type(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct GrantOnly {
        #[serde(rename = "grantType")]
        grant_type: Option<String>,
    }
    serde_json::from_slice::<GrantOnly>(body).ok()?.grant_type
}

#[cfg(test)]
mod tests;
