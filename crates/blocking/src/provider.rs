//! A valid access token on demand: from memory, else from the AWS CLI's
//! cache, refreshed when due and written back, with one refresh at a time per
//! token across threads (a mutex) and across processes (the cache's lock file).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use ssoflow_core::{AccessToken, Endpoint, RefreshFlow, RefreshPolicy, TokenStep};
use ssoflow_files::{CacheError, CachedToken, TokenCache, TokenKey};

use crate::driver::{Driver, Error};
use crate::transport::{Clock, Transport};

/// How long a process waits for another one's refresh before giving up.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);

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
        source: Error,
    },
    /// The cache could not be read or written, or its lock not taken.
    #[error(transparent)]
    Cache(CacheError),
}

/// Serves one session's token. Share it between threads (`&self`); calls made
/// while a refresh runs wait for it and get its result.
pub struct TokenProvider<T, C> {
    key: TokenKey,
    endpoint: Endpoint,
    cache: TokenCache,
    policy: RefreshPolicy,
    state: Mutex<State<T, C>>,
}

struct State<T, C> {
    driver: Driver<T, C>,
    memory: Option<CachedToken>,
}

impl<T, C> std::fmt::Debug for TokenProvider<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("key", &self.key)
            .field("endpoint", &self.endpoint)
            .field("cache", &self.cache)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<T: Transport, C: Clock> TokenProvider<T, C> {
    /// A provider for the token stored under `key` in `cache`, refreshed
    /// through `endpoint` with `driver`.
    pub fn new(key: TokenKey, endpoint: Endpoint, cache: TokenCache, driver: Driver<T, C>) -> Self {
        TokenProvider {
            key,
            endpoint,
            cache,
            policy: RefreshPolicy::default(),
            state: Mutex::new(State {
                driver,
                memory: None,
            }),
        }
    }

    /// Replaces the default policy (refresh within 5 minutes of expiry, at
    /// most one attempt per 30 seconds).
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// A token valid now, refreshing it first when it is due.
    pub fn token(&self) -> Result<ProvidedToken, ProviderError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = state.driver.clock().wall_now();
        // Memory serves only while no refresh can be due; near expiry the
        // file is read again, since another process may have refreshed it.
        if let Some(memory) = &state.memory
            && memory
                .expires_at
                .duration_since(now)
                .is_ok_and(|left| left > self.policy.refresh_within)
        {
            return Ok(provided(memory, false, None));
        }
        let cached = self.read()?;
        state.memory = Some(cached.clone());
        match self.step(&cached, None, now) {
            TokenStep::Use => Ok(provided(&cached, false, None)),
            TokenStep::SignInAgain => Err(expired(&cached)),
            TokenStep::Refresh { .. } => self.refresh(&mut state, now),
        }
    }

    /// Refreshes under the cross-process lock. Another process may have
    /// refreshed while this one waited, and a failed attempt moments ago (by
    /// any process) is not repeated, so the file is read again first.
    fn refresh(
        &self,
        state: &mut State<T, C>,
        now: SystemTime,
    ) -> Result<ProvidedToken, ProviderError> {
        let mut lock = self
            .cache
            .lock_refresh(&self.key, LOCK_TIMEOUT)
            .map_err(ProviderError::Cache)?;
        let cached = self.read()?;
        state.memory = Some(cached.clone());
        let old_still_valid = match self.step(&cached, lock.last_attempt(), now) {
            TokenStep::Use => return Ok(provided(&cached, false, None)),
            TokenStep::SignInAgain => return Err(expired(&cached)),
            TokenStep::Refresh { old_still_valid } => old_still_valid,
        };
        let Some(token) = cached.refreshable() else {
            return Err(expired(&cached));
        };
        // Best effort: failing to record the attempt only loses the spacing.
        let _ = lock.record_attempt(now);
        let clock = state.driver.clock();
        let flow = RefreshFlow::new(self.endpoint.clone(), token, clock.now(), clock.wall_now());
        match state.driver.refresh(flow) {
            Ok(token) => {
                let updated = cached.refreshed_with(&token);
                self.cache
                    .write_token(&self.key, &updated)
                    .map_err(ProviderError::Cache)?;
                state.memory = Some(updated.clone());
                Ok(provided(&updated, true, None))
            }
            Err(error) if old_still_valid => Ok(provided(&cached, false, Some(error.to_string()))),
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
        let refreshable = token.refreshable().is_some()
            && token
                .registration_expires_at
                .is_some_and(|expiry| expiry > now);
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
        expired_at: ssoflow_files::format_timestamp(token.expires_at),
    }
}
