//! What a token provider decides, without sending anything: the blocking and
//! the async providers run the same steps through [`TokenSource`] and differ
//! only in how they wait for the lock and send the refresh.
//!
//! 1. [`TokenSource::check`]: memory, else the file; usable as it is, or due.
//! 2. Under the cross-process lock, [`TokenSource::plan_refresh`]: read the file
//!    again (someone may have refreshed it), respect the last attempt, and
//!    build the [`RefreshFlow`].
//! 3. [`TokenSource::finish_refresh`]: write the refreshed token back, or
//!    serve the old one if it is still valid.

use std::time::{Duration, Instant, SystemTime};

use ssoflow_core::drive::DriveError;
use ssoflow_core::secret::AccessToken;
use ssoflow_core::{Endpoint, RefreshFlow, Token};

use crate::cache::{CacheError, RefreshLock, TokenCache, TokenKey};
use crate::timestamp;
use crate::token_file::CachedToken;

/// How long a provider waits for another process's refresh before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a credentials provider waits for another process's fetch of
/// the same role, which may include a sign-in, before giving up.
pub const FETCH_LOCK_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The token a provider hands out, with what happened on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedToken {
    /// The bearer token to use.
    pub access_token: AccessToken,
    /// When it expires.
    pub expires_at: SystemTime,
    /// Whether this call refreshed it.
    pub refreshed: bool,
    /// A refresh was due but failed; the old, still valid token is served.
    /// Worth a warning: it will not be refreshed again for a while.
    pub refresh_failed: Option<String>,
}

/// Why no valid token could be provided. Every message ends in what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// There is no usable token file for this session.
    #[error("not signed in: {detail}; sign in with `ssoflow login`")]
    NotSignedIn {
        /// Why: no file, or what is wrong with the file (naming it).
        detail: String,
    },
    /// The token expired and cannot be refreshed (no refresh token, an
    /// expired registration, or a refresh tried moments ago).
    #[error(
        "the token expired at {expired_at} and cannot be refreshed; sign in again with `ssoflow login`"
    )]
    Expired {
        /// When it expired, as written in the cache.
        expired_at: String,
    },
    /// The token expired and refreshing it failed.
    #[error(
        "the token expired and refreshing it failed ({source}); sign in again with `ssoflow login`"
    )]
    RefreshFailed {
        /// Why the refresh failed.
        source: DriveError,
    },
    /// The cache could not be read or written, or its lock not taken.
    #[error(transparent)]
    Cache(CacheError),
    /// A service refused the token before its expiry (signed out, or
    /// revoked) and it cannot be refreshed.
    #[error(
        "the SSO session was ended (the token was refused) and cannot be refreshed; sign in again with `ssoflow login`"
    )]
    Rejected,
}

/// Why a credentials provider (blocking or async) could not provide role
/// credentials. Every message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No valid token to ask the portal with.
    #[error("{0}")]
    Token(ProviderError),
    /// The portal refused, or could not be reached.
    #[error("{0}")]
    Portal(DriveError),
    /// The role cache or its lock could not be used.
    #[error(transparent)]
    Cache(CacheError),
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

/// One session's token: where it is stored, where it is refreshed, and when.
#[derive(Debug, Clone)]
pub struct TokenSource {
    key: TokenKey,
    endpoint: Endpoint,
    cache: TokenCache,
    policy: RefreshPolicy,
}

/// The outcome of [`TokenSource::check`].
#[derive(Debug)]
pub enum Check {
    /// Use this.
    Ready(ProvidedToken),
    /// Take the refresh lock, then [`TokenSource::plan_refresh`].
    RefreshDue,
}

/// The outcome of [`TokenSource::plan_refresh`].
#[derive(Debug)]
pub enum RefreshPlan {
    /// No refresh after all (another process did it): use this.
    Ready(ProvidedToken),
    /// Drive `flow`, then hand its result and `pending` to
    /// [`TokenSource::finish_refresh`].
    Refresh {
        /// The refresh to drive (boxed: a flow is large and this is rare).
        flow: Box<RefreshFlow>,
        /// What `finish_refresh` needs to know about it.
        pending: PendingRefresh,
    },
}

/// A refresh being sent: the token it replaces.
#[derive(Debug)]
pub struct PendingRefresh {
    cached: CachedToken,
    old_still_valid: bool,
}

impl TokenSource {
    /// The token stored under `key` in `cache`, refreshed through `endpoint`.
    pub fn new(key: TokenKey, endpoint: Endpoint, cache: TokenCache) -> TokenSource {
        TokenSource {
            key,
            endpoint,
            cache,
            policy: RefreshPolicy::default(),
        }
    }

    /// Replaces the default policy (refresh within 5 minutes of expiry, at
    /// most one attempt per 30 seconds).
    pub fn with_policy(mut self, policy: RefreshPolicy) -> TokenSource {
        self.policy = policy;
        self
    }

    /// The cache this source reads and writes.
    pub fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// The key of its token file.
    pub fn key(&self) -> &TokenKey {
        &self.key
    }

    /// Step 1. Memory serves only while no refresh can be due; otherwise the
    /// file is read (another process may have refreshed it) into `memory`.
    pub fn check(
        &self,
        memory: &mut Option<CachedToken>,
        now: SystemTime,
    ) -> Result<Check, ProviderError> {
        if let Some(token) = memory.as_ref()
            && token
                .expires_at
                .duration_since(now)
                .is_ok_and(|left| left > self.policy.refresh_within)
        {
            tracing::debug!(key = ?self.key, "token from memory");
            return Ok(Check::Ready(provided(token, false, None)));
        }
        let cached = self.read()?;
        *memory = Some(cached.clone());
        let step = self.step(&cached, None, now);
        tracing::debug!(
            path = %self.cache.token_path(&self.key).display(),
            expires_at = %crate::format_timestamp(cached.expires_at),
            step = ?step,
            "token file read"
        );
        match step {
            TokenStep::Use => Ok(Check::Ready(provided(&cached, false, None))),
            TokenStep::SignInAgain => Err(expired(&cached)),
            TokenStep::Refresh { .. } => Ok(Check::RefreshDue),
        }
    }

    /// Step 2, holding `lock`: reads the file again and either finds it
    /// refreshed, finds a refresh tried too recently (by any process), or
    /// records this attempt and returns the flow to drive.
    pub fn plan_refresh(
        &self,
        lock: &mut RefreshLock,
        memory: &mut Option<CachedToken>,
        now: Instant,
        wall_now: SystemTime,
    ) -> Result<RefreshPlan, ProviderError> {
        let cached = self.read()?;
        *memory = Some(cached.clone());
        let step = self.step(&cached, lock.last_attempt(), wall_now);
        tracing::debug!(step = ?step, "token file read again under the refresh lock");
        let old_still_valid = match step {
            TokenStep::Use => return Ok(RefreshPlan::Ready(provided(&cached, false, None))),
            TokenStep::SignInAgain => return Err(expired(&cached)),
            TokenStep::Refresh { old_still_valid } => old_still_valid,
        };
        let Some(token) = cached.refreshable() else {
            return Err(expired(&cached));
        };
        // Best effort: failing to record the attempt only loses the spacing.
        let _ = lock.record_attempt(wall_now);
        Ok(RefreshPlan::Refresh {
            flow: Box::new(RefreshFlow::new(
                self.endpoint.clone(),
                token,
                now,
                wall_now,
            )),
            pending: PendingRefresh {
                cached,
                old_still_valid,
            },
        })
    }

    /// Step 2 after a service refused `rejected` (the portal's 401), holding
    /// `lock`: the stored token if it is another one by now (someone
    /// refreshed or signed in), else a refresh whatever the policy says, as
    /// long as the token is refreshable; otherwise sign in again.
    pub fn plan_replacement(
        &self,
        lock: &mut RefreshLock,
        memory: &mut Option<CachedToken>,
        rejected: &AccessToken,
        now: Instant,
        wall_now: SystemTime,
    ) -> Result<RefreshPlan, ProviderError> {
        let cached = self.read()?;
        *memory = Some(cached.clone());
        if cached.access_token != *rejected && cached.expires_at > wall_now {
            return Ok(RefreshPlan::Ready(provided(&cached, false, None)));
        }
        // Once per rejection, across processes: a refresh tried moments
        // ago already produced the token that was refused again.
        let tried_recently = lock.last_attempt().is_some_and(|at| {
            wall_now
                .duration_since(at)
                .is_ok_and(|since| since < self.policy.retry_after)
        });
        let Some(token) = cached
            .refreshable()
            .filter(|_| cached.refreshable_at(wall_now) && !tried_recently)
        else {
            return Err(ProviderError::Rejected);
        };
        let _ = lock.record_attempt(wall_now);
        Ok(RefreshPlan::Refresh {
            flow: Box::new(RefreshFlow::new(
                self.endpoint.clone(),
                token,
                now,
                wall_now,
            )),
            pending: PendingRefresh {
                cached,
                old_still_valid: false,
            },
        })
    }

    /// Step 3: the refreshed token written back, or the old one while it is
    /// still valid, or the error.
    pub fn finish_refresh(
        &self,
        pending: PendingRefresh,
        result: Result<Token, DriveError>,
        memory: &mut Option<CachedToken>,
    ) -> Result<ProvidedToken, ProviderError> {
        match result {
            Ok(token) => {
                let updated = pending.cached.refreshed_with(&token);
                self.cache
                    .write_token(&self.key, &updated)
                    .map_err(ProviderError::Cache)?;
                *memory = Some(updated.clone());
                Ok(provided(&updated, true, None))
            }
            Err(error) if pending.old_still_valid => {
                tracing::debug!(error = %error, "refresh failed; the old token is still valid");
                Ok(provided(&pending.cached, false, Some(error.to_string())))
            }
            Err(source) => Err(ProviderError::RefreshFailed { source }),
        }
    }

    fn read(&self) -> Result<CachedToken, ProviderError> {
        match self.cache.read_token(&self.key) {
            Ok(Some(token)) => Ok(token),
            Ok(None) => Err(ProviderError::NotSignedIn {
                detail: format!(
                    "there is no token at {}",
                    self.cache.token_path(&self.key).display()
                ),
            }),
            Err(CacheError::Unusable { path, detail }) => Err(ProviderError::NotSignedIn {
                detail: format!("{} is not a usable token ({detail})", path.display()),
            }),
            Err(other) => Err(ProviderError::Cache(other)),
        }
    }

    fn step(
        &self,
        token: &CachedToken,
        last_attempt: Option<SystemTime>,
        now: SystemTime,
    ) -> TokenStep {
        let refreshable = token.refreshable_at(now);
        self.policy
            .step(token.expires_at, refreshable, last_attempt, now)
    }
}

fn provided(token: &CachedToken, refreshed: bool, refresh_failed: Option<String>) -> ProvidedToken {
    ProvidedToken {
        access_token: token.access_token.clone(),
        expires_at: token.expires_at,
        refreshed,
        refresh_failed,
    }
}

fn expired(token: &CachedToken) -> ProviderError {
    ProviderError::Expired {
        expired_at: timestamp::format(token.expires_at),
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
