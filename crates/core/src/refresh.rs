//! The `refresh_token` grant as its own small machine (`device-flow.md` §7.3).

use std::time::{Duration, Instant, SystemTime};

use crate::endpoint::Endpoint;
use crate::error::{ApiMisuse, DecodeError, FlowError, NextStep, ServiceError, TransportErrorKind};
use crate::exchange::{self, Exchange, TimeAnchor, Trouble, backoff, later};
use crate::flow::{Event, Flow, RequestId, StateKind, Transmit};
use crate::token::Token;
use crate::wire::{self, Operation};

/// Attempts before a refresh gives up on 5xx and transport failures.
const MAX_ATTEMPTS: u32 = 4;
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(8);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Done,
    Failed,
}

/// Exchanges a refresh token for a new access token. A new refresh token in the
/// answer replaces the old one; an answer without one keeps the old.
/// `invalid_grant` ends it at once with an error whose
/// [`needs_sign_in`](FlowError::needs_sign_in) is true; 5xx and transport
/// failures are retried a few times with a doubling wait.
///
/// States: `Pending` → `Authorized` (event [`Event::Authorized`] with the new
/// token) or `Failed` (event [`Event::Failed`]).
#[derive(Debug)]
pub struct RefreshFlow {
    token: Token,
    anchor: TimeAnchor,
    phase: Phase,
    exchange: Exchange,
}

impl RefreshFlow {
    /// Refreshes `token` through `endpoint`. A token without a refresh token, or
    /// whose registration has expired at `wall_now`, fails at once (before any
    /// request) with an error that says to sign in again.
    pub fn new(
        endpoint: Endpoint,
        token: Token,
        now: Instant,
        wall_now: SystemTime,
    ) -> RefreshFlow {
        let mut flow = RefreshFlow {
            token,
            anchor: TimeAnchor::new(now, wall_now),
            phase: Phase::Pending,
            exchange: Exchange::new(endpoint, now),
        };
        let unusable = if flow.token.refresh_token.is_none() {
            Some(FlowError::NotRefreshable)
        } else if flow.token.registration.expires_at <= wall_now {
            Some(FlowError::RegistrationExpired)
        } else {
            None
        };
        if let Some(error) = unusable {
            flow.fail(error);
        }
        flow
    }

    fn fail(&mut self, error: FlowError) {
        self.phase = Phase::Failed;
        self.exchange.abandon();
        self.exchange.events.push_back(Event::Failed(error));
    }

    fn transient(&mut self, now: Instant, trouble: Trouble) {
        let failures = self.exchange.note_failure(trouble);
        if failures >= MAX_ATTEMPTS {
            let error = self.exchange.exhausted(Operation::CreateToken);
            self.fail(error);
            return;
        }
        let wait = backoff(BACKOFF_BASE, failures, BACKOFF_CAP);
        self.exchange.ready_at = later(now, wait);
        self.exchange.events.push_back(Event::Retrying {
            operation: Operation::CreateToken,
            attempt: failures,
            wait,
        });
    }

    fn refreshed(&mut self, now: Instant, body: &[u8]) -> Result<(), DecodeError> {
        let issued = exchange::issued_token(body)?;
        let token = Token {
            access_token: issued.access_token,
            // No new refresh token means the old one stays valid (RFC 6749 §6).
            refresh_token: issued
                .refresh_token
                .or_else(|| self.token.refresh_token.clone()),
            expires_at: self.anchor.wall_after(now, issued.expires_in),
            registration: self.token.registration.clone(),
        };
        self.phase = Phase::Done;
        self.exchange.abandon();
        self.exchange.events.push_back(Event::Authorized(token));
        Ok(())
    }
}

impl Flow for RefreshFlow {
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let now = self.exchange.observe(now);
        if self.phase != Phase::Pending || self.exchange.in_flight() || now < self.exchange.ready_at
        {
            return None;
        }
        let refresh_token = self.token.refresh_token.as_ref()?;
        let reg = &self.token.registration;
        let body = wire::CreateTokenRequest::refresh_token(
            &reg.client_id,
            &reg.client_secret,
            refresh_token,
        );
        self.exchange.transmit(Operation::CreateToken, &body)
    }

    fn handle_response(
        &mut self,
        now: Instant,
        id: RequestId,
        response: http::Response<Vec<u8>>,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        if self
            .exchange
            .settle(id, self.state().is_terminal())?
            .is_none()
        {
            return Ok(());
        }
        match ServiceError::from_response(&response) {
            None => {
                if let Err(e) = self.refreshed(now, response.body()) {
                    self.transient(now, Trouble::Decode(e));
                }
            }
            Some(error) => match error.next_step() {
                NextStep::Retry | NextStep::SlowDown => {
                    self.transient(now, Trouble::Other(error.to_string()))
                }
                _ => self.fail(FlowError::Service {
                    operation: Operation::CreateToken.name(),
                    error: Box::new(error),
                }),
            },
        }
        Ok(())
    }

    fn handle_transport_error(
        &mut self,
        now: Instant,
        id: RequestId,
        kind: TransportErrorKind,
    ) -> Result<(), ApiMisuse> {
        let now = self.exchange.observe(now);
        if self
            .exchange
            .settle(id, self.state().is_terminal())?
            .is_none()
        {
            return Ok(());
        }
        self.transient(now, Trouble::Other(format!("transport error: {kind:?}")));
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        (self.phase == Phase::Pending && !self.exchange.in_flight())
            .then_some(self.exchange.ready_at)
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.exchange.observe(now);
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.exchange.events.pop_front()
    }

    fn state(&self) -> StateKind {
        match self.phase {
            Phase::Pending => StateKind::Pending,
            Phase::Done => StateKind::Authorized,
            Phase::Failed => StateKind::Failed,
        }
    }

    fn cancel(&mut self) {
        if self.phase == Phase::Pending {
            self.fail(FlowError::Cancelled);
        }
    }
}
