//! Machinery every flow shares: request ids, the one request in flight and how
//! long the flow waits for its answer, when the next request may go, the
//! transient-failure counter with its backoff, time arithmetic that cannot
//! overflow, and the event queue.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use http::header::{CONTENT_TYPE, HeaderValue};
use serde::Serialize;

use crate::endpoint::Endpoint;
use crate::error::{
    ApiMisuse, DecodeError, ErrorCode, FlowError, ServiceError, TransportErrorKind,
};
use crate::flow::{Event, RequestId, Transmit};
use crate::operation::Operation;
use crate::secret::{AccessToken, RefreshToken};
use crate::token::Registration;
use crate::wire;

/// Longest duration taken from the wire; larger values are clamped so that no
/// time arithmetic can overflow (ten years is far beyond any real lifetime).
pub(crate) const MAX_WIRE_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long a flow waits for the answer to a request before it counts the
/// request as lost and may send again. Longer than any transport's own
/// timeouts (ours: 10 s to connect, 30 s to read), so a working driver always
/// reports first; this only rescues a driver that dropped a [`Transmit`].
pub(crate) const ANSWER_WAIT_LIMIT: Duration = Duration::from_secs(120);

/// Seconds from the wire as a duration, clamped to `0..=MAX_WIRE_DURATION`.
pub(crate) fn wire_seconds(secs: i64) -> Duration {
    let secs = u64::try_from(secs).unwrap_or(0);
    Duration::from_secs(secs).min(MAX_WIRE_DURATION)
}

/// `t + d`, or `t` itself when the sum is not representable.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

/// `t + d` on the wall clock, or `t` itself when the sum is not representable.
pub(crate) fn wall_later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d).unwrap_or(t)
}

/// The transient failure last seen, kept so that a flow that gives up can say why.
#[derive(Debug, Clone)]
pub(crate) enum Trouble {
    Decode(DecodeError),
    Other(String),
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: RequestId,
    op: Operation,
    sent_at: Instant,
}

/// Request bookkeeping shared by every machine.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) endpoint: Endpoint,
    next_id: u64,
    in_flight: Option<InFlight>,
    /// The last request the flow stopped waiting for, so its late answer gets a clear error.
    given_up: Option<RequestId>,
    /// The next request may be sent at or after this instant.
    pub(crate) ready_at: Instant,
    /// Consecutive transient failures (reset by any well-formed answer).
    pub(crate) failures: u32,
    pub(crate) trouble: Option<Trouble>,
    /// An answer to a single-use grant may have been lost since the service
    /// last confirmed the grant unspent: a later `invalid_grant` is then most
    /// likely that lost answer's doing.
    pub(crate) answer_lost: bool,
    pub(crate) events: VecDeque<Event>,
    /// The latest `now` seen; an earlier one is treated as this (times never decrease).
    latest: Instant,
}

impl Exchange {
    pub(crate) fn new(endpoint: Endpoint, now: Instant) -> Self {
        Exchange {
            endpoint,
            next_id: 0,
            in_flight: None,
            given_up: None,
            ready_at: now,
            failures: 0,
            trouble: None,
            answer_lost: false,
            events: VecDeque::new(),
            latest: now,
        }
    }

    /// Takes a caller's `now`, never letting time run backwards.
    pub(crate) fn observe(&mut self, now: Instant) -> Instant {
        self.latest = self.latest.max(now);
        self.latest
    }

    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// When the flow stops waiting for the request in flight, if one is.
    pub(crate) fn answer_deadline(&self) -> Option<Instant> {
        self.in_flight.map(|f| later(f.sent_at, ANSWER_WAIT_LIMIT))
    }

    /// Builds and records the one request in flight, a JSON POST sent at `now`.
    pub(crate) fn transmit(
        &mut self,
        now: Instant,
        op: Operation,
        body: &impl Serialize,
    ) -> Option<Transmit> {
        let uri = self.endpoint.uri(op).ok()?;
        let mut request = http::Request::new(wire::encode(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = uri;
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static(wire::CONTENT_TYPE_JSON),
        );
        self.transmit_request(now, op, request)
    }

    /// Records `request`, built by the caller, as the one in flight, sent at `now`.
    pub(crate) fn transmit_request(
        &mut self,
        now: Instant,
        op: Operation,
        request: http::Request<Vec<u8>>,
    ) -> Option<Transmit> {
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.in_flight = Some(InFlight {
            id,
            op,
            sent_at: now,
        });
        Some(Transmit {
            id,
            operation: op,
            request,
        })
    }

    /// Takes the in-flight request matching `id`. `Ok(None)` means the answer is
    /// for a request abandoned by a terminal state or `cancel` and is ignored.
    pub(crate) fn settle(
        &mut self,
        id: RequestId,
        terminal: bool,
    ) -> Result<Option<Operation>, ApiMisuse> {
        match self.in_flight {
            Some(current) if current.id == id => {
                self.in_flight = None;
                Ok(if terminal { None } else { Some(current.op) })
            }
            _ if terminal && id.0 < self.next_id => Ok(None),
            _ if self.given_up == Some(id) => Err(ApiMisuse::AnswerTooLate {
                id: id.0,
                waited: ANSWER_WAIT_LIMIT,
            }),
            _ => Err(ApiMisuse::UnknownRequest(id.0)),
        }
    }

    /// Stops waiting for the request in flight once [`ANSWER_WAIT_LIMIT`] has
    /// passed at `now`; returns its operation so the flow can count the failure.
    pub(crate) fn give_up_if_unanswered(&mut self, now: Instant) -> Option<Operation> {
        let in_flight = self.in_flight?;
        if self
            .answer_deadline()
            .is_some_and(|deadline| now < deadline)
        {
            return None;
        }
        self.in_flight = None;
        self.given_up = Some(in_flight.id);
        if !in_flight.op.may_resend_after_success() {
            self.answer_lost = true;
        }
        Some(in_flight.op)
    }

    /// Notes a transport failure of a request of `op`. For a single-use
    /// grant, a failure after the request may have arrived (anything but a
    /// failed connect) means its answer may be lost; a body too large to read
    /// is an answer that could not be read, returned as such.
    pub(crate) fn transport_failed(
        &mut self,
        op: Operation,
        kind: TransportErrorKind,
    ) -> Option<DecodeError> {
        if op.may_resend_after_success() {
            return None;
        }
        match kind {
            TransportErrorKind::BodyTooLarge => Some(DecodeError::TooLarge),
            // Nothing reached the service before the handshake failed.
            TransportErrorKind::Connect | TransportErrorKind::Certificate => None,
            _ => {
                self.answer_lost = true;
                None
            }
        }
    }

    /// Forgets the request in flight (terminal state or cancel).
    pub(crate) fn abandon(&mut self) {
        self.in_flight = None;
    }

    /// The failure for a refusal no retry fixes: `AnswerLost` when the service
    /// refuses a single-use `grant` after an answer to it was lost (that
    /// answer most likely spent it), else the service's error as it is.
    pub(crate) fn refused(
        &self,
        op: Operation,
        grant: &'static str,
        error: ServiceError,
    ) -> FlowError {
        let lost = self.answer_lost
            && !op.may_resend_after_success()
            && error.code == ErrorCode::InvalidGrant;
        match lost {
            true => FlowError::AnswerLost {
                grant,
                error: Box::new(error),
            },
            false => FlowError::Service {
                operation: op,
                error: Box::new(error),
            },
        }
    }

    /// A well-formed answer arrived: the backoff starts over, and the grant
    /// is known to be unspent (or replaced).
    pub(crate) fn reset_failures(&mut self) {
        self.failures = 0;
        self.trouble = None;
        self.answer_lost = false;
    }

    /// Counts one transient failure; returns the count.
    pub(crate) fn note_failure(&mut self, trouble: Trouble) -> u32 {
        self.failures = self.failures.saturating_add(1);
        self.trouble = Some(trouble);
        self.failures
    }

    /// The error to end with once the retry budget is spent.
    pub(crate) fn exhausted(&self, op: Operation) -> FlowError {
        match &self.trouble {
            Some(Trouble::Decode(error)) => FlowError::Decode {
                operation: op,
                error: error.clone(),
            },
            Some(Trouble::Other(last)) => FlowError::RetriesExhausted {
                operation: op,
                attempts: self.failures,
                last: last.clone(),
            },
            None => FlowError::RetriesExhausted {
                operation: op,
                attempts: self.failures,
                last: String::new(),
            },
        }
    }
}

/// The trouble recorded when the flow stops waiting for an answer.
pub(crate) fn lost_answer() -> Trouble {
    Trouble::Other(format!(
        "no answer within {} s (the request was dropped or the transport hung)",
        ANSWER_WAIT_LIMIT.as_secs()
    ))
}

/// `base * 2^(failures-1)`, capped at `cap`.
pub(crate) fn backoff(base: Duration, failures: u32, cap: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(failures.saturating_sub(1))
        .unwrap_or(u32::MAX);
    base.checked_mul(factor).unwrap_or(cap).min(cap)
}

/// The registration a RegisterClient success describes, for `scopes` (the
/// ones sent; the answer does not repeat them). Grant types are the caller's
/// to fill in.
pub(crate) fn registration(body: &[u8], scopes: Vec<String>) -> Result<Registration, DecodeError> {
    let r: wire::RegisterClientResponse = wire::decode(body)?;
    let client_id = r
        .client_id
        .filter(|s| !s.is_empty())
        .ok_or(DecodeError::MissingMember("clientId"))?;
    let client_secret = r
        .client_secret
        .ok_or(DecodeError::MissingMember("clientSecret"))?;
    let expires = r
        .client_secret_expires_at
        .ok_or(DecodeError::MissingMember("clientSecretExpiresAt"))?;
    // An absolute time, so not clamped like the relative durations.
    let expires_at = u64::try_from(expires)
        .ok()
        .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)))
        .ok_or(DecodeError::InvalidMember("clientSecretExpiresAt"))?;
    Ok(Registration {
        client_id,
        client_secret,
        expires_at,
        scopes,
        grant_types: Vec::new(),
    })
}

/// What a CreateToken success must hold, for either grant: the access token,
/// the refresh token if one came, and the lifetime.
pub(crate) struct IssuedToken {
    pub(crate) access_token: AccessToken,
    pub(crate) refresh_token: Option<RefreshToken>,
    pub(crate) expires_in: Duration,
}

pub(crate) fn issued_token(body: &[u8]) -> Result<IssuedToken, DecodeError> {
    let r: wire::CreateTokenResponse = wire::decode(body)?;
    let access_token = r
        .access_token
        .filter(|t| !t.secret().is_empty())
        .ok_or(DecodeError::MissingMember("accessToken"))?;
    let expires_in = wire_seconds(
        r.expires_in
            .ok_or(DecodeError::MissingMember("expiresIn"))?,
    );
    Ok(IssuedToken {
        access_token,
        refresh_token: r.refresh_token.filter(|t| !t.secret().is_empty()),
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 1, s(30)), s(1));
        assert_eq!(backoff(s(1), 2, s(30)), s(2));
        assert_eq!(backoff(s(1), 5, s(30)), s(16));
        assert_eq!(backoff(s(1), 6, s(30)), s(30));
        assert_eq!(backoff(s(1), 400, s(30)), s(30));
        assert_eq!(backoff(MAX_WIRE_DURATION, 40, s(60)), s(60));
    }

    #[test]
    fn wire_seconds_clamp() {
        assert_eq!(wire_seconds(-5), Duration::ZERO);
        assert_eq!(wire_seconds(i64::MAX), MAX_WIRE_DURATION);
        assert_eq!(wire_seconds(600), Duration::from_secs(600));
    }
}
