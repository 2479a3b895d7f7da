//! What a sign-in produces and what must be kept: the client registration and
//! the token. Wall-clock times appear only here, computed from the
//! `SystemTime` the caller passed in; nothing in core reads a clock.

use std::time::{Duration, SystemTime};

use crate::secret::{AccessToken, ClientSecret, RefreshToken};

/// A registration is reused only while at least this much of it is left (the
/// AWS CLI's margin, `aws-cli-compat.md` §5.3).
pub const REGISTRATION_REUSE_MARGIN: Duration = Duration::from_secs(15 * 60);

/// A client registration (RegisterClient's result), worth caching for reuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `clientId`.
    pub client_id: String,
    /// `clientSecret`.
    pub client_secret: ClientSecret,
    /// When id and secret stop working (`clientSecretExpiresAt`).
    pub expires_at: SystemTime,
    /// The scopes registered; tokens carry these.
    pub scopes: Vec<String>,
}

impl Registration {
    /// True while at least [`REGISTRATION_REUSE_MARGIN`] is left at `wall_now`.
    pub fn is_reusable_at(&self, wall_now: SystemTime) -> bool {
        self.expires_at
            .duration_since(wall_now)
            .is_ok_and(|left| left >= REGISTRATION_REUSE_MARGIN)
    }
}

/// An access token with what it takes to refresh it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The bearer token.
    pub access_token: AccessToken,
    /// Present when the registration has scopes; `None` means "sign in again at expiry".
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (receipt time + `expiresIn`).
    pub expires_at: SystemTime,
    /// The registration that obtained the token; refresh needs it.
    pub registration: Registration,
}

impl Token {
    /// Time left at `wall_now`; zero once expired.
    pub fn remaining_at(&self, wall_now: SystemTime) -> Duration {
        self.expires_at
            .duration_since(wall_now)
            .unwrap_or(Duration::ZERO)
    }
}

/// When a stored access token is used as it is, refreshed first, or given up
/// on: the one rule both token providers (blocking and async) follow. Pure
/// time arithmetic; the caller supplies the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Refresh once less than this is left. Default 5 minutes.
    pub refresh_within: Duration,
    /// After a refresh attempt, wait this long before the next. Default 30 s.
    pub retry_after: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            refresh_within: Duration::from_secs(5 * 60),
            retry_after: Duration::from_secs(30),
        }
    }
}

/// What to do with a stored token now; see [`RefreshPolicy::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStep {
    /// Enough time is left, or it cannot be refreshed yet and has not expired: use it.
    Use,
    /// Refresh it. If that fails and `old_still_valid`, use the old token
    /// anyway (it has not expired); otherwise the caller must sign in again.
    Refresh {
        /// Whether the old token has not expired yet.
        old_still_valid: bool,
    },
    /// It has expired and cannot be refreshed now: sign in again.
    SignInAgain,
}

impl RefreshPolicy {
    /// The step for a token expiring at `expires_at`, at `now`.
    /// `refreshable` says whether it has a refresh token and a live
    /// registration; `last_attempt` is when a refresh was last tried.
    pub fn step(
        &self,
        expires_at: SystemTime,
        refreshable: bool,
        last_attempt: Option<SystemTime>,
        now: SystemTime,
    ) -> TokenStep {
        let left = expires_at.duration_since(now).unwrap_or(Duration::ZERO);
        if left > self.refresh_within {
            return TokenStep::Use;
        }
        let waited_enough = last_attempt.is_none_or(|attempt| {
            now.duration_since(attempt)
                .map_or(true, |since| since >= self.retry_after)
        });
        match (refreshable && waited_enough, left > Duration::ZERO) {
            (true, valid) => TokenStep::Refresh {
                old_still_valid: valid,
            },
            (false, true) => TokenStep::Use,
            (false, false) => TokenStep::SignInAgain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    fn at(offset: i64) -> SystemTime {
        let base = SystemTime::UNIX_EPOCH + NOW;
        if offset >= 0 {
            base + Duration::from_secs(offset.unsigned_abs())
        } else {
            base - Duration::from_secs(offset.unsigned_abs())
        }
    }

    #[test]
    fn refresh_policy_steps() {
        let policy = RefreshPolicy::default();
        let now = at(0);
        let step = |expires: i64, refreshable: bool, last: Option<i64>| {
            policy.step(at(expires), refreshable, last.map(at), now)
        };
        assert_eq!(step(301, true, None), TokenStep::Use);
        assert_eq!(
            step(300, true, None),
            TokenStep::Refresh {
                old_still_valid: true
            }
        );
        assert_eq!(
            step(0, true, None),
            TokenStep::Refresh {
                old_still_valid: false
            }
        );
        assert_eq!(
            step(-5, true, Some(-30)),
            TokenStep::Refresh {
                old_still_valid: false
            }
        );
        // Tried 29 s ago: not again yet; the old token serves until it expires.
        assert_eq!(step(100, true, Some(-29)), TokenStep::Use);
        assert_eq!(step(-1, true, Some(-29)), TokenStep::SignInAgain);
        assert_eq!(step(100, false, None), TokenStep::Use);
        assert_eq!(step(0, false, None), TokenStep::SignInAgain);
        // A last attempt in the future (clock stepped back) does not block forever.
        assert_eq!(
            step(100, true, Some(60)),
            TokenStep::Refresh {
                old_still_valid: true
            }
        );
    }
}
