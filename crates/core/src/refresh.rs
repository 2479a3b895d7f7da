//! The `refresh_token` grant as its own small machine (`device-flow.md` §7.3).

use std::time::{Duration, Instant, SystemTime};

use crate::endpoint::Endpoint;
use crate::error::{ApiMisuse, DecodeError, FlowError, NextStep, ServiceError, TransportErrorKind};
use crate::exchange::{self, Exchange, Trouble, backoff, later, lost_answer, wall_later};
use crate::flow::{Event, Flow, Outcome, RequestId, StateKind, Transmit, sealed};
use crate::operation::Operation;
use crate::token::Token;
use crate::wire;

/// Attempts before a refresh gives up on 5xx and transport failures.
pub(crate) const MAX_ATTEMPTS: u32 = 4;
pub(crate) const BACKOFF_BASE: Duration = Duration::from_secs(1);
pub(crate) const BACKOFF_CAP: Duration = Duration::from_secs(8);

/// How [`FlowError::GrantSpent`] and [`FlowError::AnswerLost`] name this flow's grant.
const REFRESH_TOKEN: &str = "refresh token";

#[derive(Debug)]
pub(crate) enum Phase {
    Pending,
    Done(Outcome),
}

/// Exchanges a refresh token for a new access token; drive it through the
/// [`Flow`] methods. A new refresh token in the answer replaces the old one;
/// an answer without one keeps the old.
///
/// `invalid_grant` ends it at once with an error whose
/// [`needs_sign_in`](FlowError::needs_sign_in) is true ([`FlowError::AnswerLost`]
/// when an earlier answer was lost, which most likely spent the token); 5xx
/// and transport failures are retried a few times with a doubling wait. A
/// 2xx whose body cannot be read ends it at once with
/// [`FlowError::GrantSpent`]: the service may have rotated the refresh token,
/// so sending the old one again could only fail. `invalid_client` and
/// `unauthorized_client` emit [`Event::RegistrationRejected`].
///
/// ```text
///  Pending ──CreateToken (refresh_token)──► Authorized(refreshed token)
///     │ 5xx, transport error: again, up to 4 attempts
///     └─► Failed(error)  (invalid_grant, unreadable answer, retries spent, no refresh token, cancel)
/// ```
#[derive(Debug)]
pub struct RefreshFlow {
    token: Token,
    pub(crate) phase: Phase,
    pub(crate) exchange: Exchange,
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
        self.phase = Phase::Done(Outcome::Failed(error));
        self.exchange.abandon();
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

    fn refreshed(&mut self, wall_now: SystemTime, body: &[u8]) -> Result<(), DecodeError> {
        let issued = exchange::issued_token(body)?;
        let token = Token {
            access_token: issued.access_token,
            // No new refresh token means the old one stays valid (RFC 6749 §6).
            refresh_token: issued
                .refresh_token
                .or_else(|| self.token.refresh_token.clone()),
            expires_at: wall_later(wall_now, issued.expires_in),
            registration: self.token.registration.clone(),
        };
        self.phase = Phase::Done(Outcome::Authorized(token));
        self.exchange.abandon();
        Ok(())
    }
}

impl sealed::Sealed for RefreshFlow {}

impl Flow for RefreshFlow {
    type Ending = Outcome;
    const NAME: &'static str = "refresh";

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let now = self.exchange.observe(now);
        self.handle_timeout(now);
        if !matches!(self.phase, Phase::Pending)
            || self.exchange.in_flight()
            || now < self.exchange.ready_at
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
        self.exchange.transmit(now, Operation::CreateToken, &body)
    }

    fn handle_response(
        &mut self,
        now: Instant,
        wall_now: SystemTime,
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
            None => match self.refreshed(wall_now, response.body()) {
                Ok(()) => {}
                Err(error) => self.fail(FlowError::GrantSpent {
                    grant: REFRESH_TOKEN,
                    error,
                }),
            },
            Some(error) => match error.next_step() {
                NextStep::Retry | NextStep::SlowDown => {
                    self.transient(now, Trouble::Other(error.to_string()))
                }
                _ => {
                    if error.rejects_registration() {
                        self.exchange.events.push_back(Event::RegistrationRejected {
                            client_id: self.token.registration.client_id.clone(),
                            user_code_void: false,
                        });
                    }
                    let failure =
                        self.exchange
                            .refused(Operation::CreateToken, REFRESH_TOKEN, error);
                    self.fail(failure);
                }
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
        match self.exchange.transport_failed(Operation::CreateToken, kind) {
            Some(error) => self.fail(FlowError::GrantSpent {
                grant: REFRESH_TOKEN,
                error,
            }),
            None => self.transient(now, Trouble::Other(format!("transport error: {kind:?}"))),
        }
        Ok(())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done(_) => None,
            Phase::Pending if self.exchange.in_flight() => self.exchange.answer_deadline(),
            Phase::Pending => Some(self.exchange.ready_at),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.exchange.observe(now);
        if self.exchange.give_up_if_unanswered(now).is_some() {
            self.transient(now, lost_answer());
        }
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.exchange.events.pop_front()
    }

    fn state(&self) -> StateKind {
        match &self.phase {
            Phase::Pending => StateKind::Pending,
            Phase::Done(outcome) => outcome.state(),
        }
    }

    fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Done(outcome) => Some(outcome),
            Phase::Pending => None,
        }
    }

    fn cancel(&mut self) {
        if matches!(self.phase, Phase::Pending) {
            self.fail(FlowError::Cancelled);
        }
    }
}
