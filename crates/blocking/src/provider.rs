//! A valid access token on demand, blocking: the steps of
//! [`ssoflow_files::TokenSource`] with a mutex for the threads of this
//! process, the cache's lock file for other processes, and the [`Driver`]
//! for the refresh.

use std::sync::{Mutex, PoisonError};

use ssoflow_core::Endpoint;
use ssoflow_files::{
    CachedToken, Check, LOCK_TIMEOUT, ProvidedToken, ProviderError, RefreshPlan, RefreshPolicy,
    TokenCache, TokenKey, TokenSource,
};

use crate::driver::Driver;
use crate::transport::{Clock, Transport};

/// Serves one session's token. Share it between threads (`&self`); calls made
/// while a refresh runs wait for it and get its result.
pub struct TokenProvider<T, C> {
    source: TokenSource,
    state: Mutex<State<T, C>>,
}

struct State<T, C> {
    driver: Driver<T, C>,
    memory: Option<CachedToken>,
}

impl<T, C> std::fmt::Debug for TokenProvider<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<T: Transport, C: Clock> TokenProvider<T, C> {
    /// A provider for the token stored under `key` in `cache`, refreshed
    /// through `endpoint` with `driver`.
    pub fn new(key: TokenKey, endpoint: Endpoint, cache: TokenCache, driver: Driver<T, C>) -> Self {
        TokenProvider {
            source: TokenSource::new(key, endpoint, cache),
            state: Mutex::new(State {
                driver,
                memory: None,
            }),
        }
    }

    /// Replaces the default policy (refresh within 5 minutes of expiry, at
    /// most one attempt per 30 seconds).
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        self.source = self.source.with_policy(policy);
        self
    }

    /// A replacement for `rejected`, which a service refused (the portal's
    /// 401): the stored token if another process already replaced it, else
    /// a refresh now whatever the policy says; an error that says to sign in
    /// again when neither is possible.
    pub fn token_rejected(
        &self,
        rejected: &ssoflow_core::secret::AccessToken,
    ) -> Result<ProvidedToken, ProviderError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { driver, memory } = &mut *state;
        let mut lock = self
            .source
            .cache()
            .lock_refresh(self.source.key(), LOCK_TIMEOUT)
            .map_err(ProviderError::Cache)?;
        let (now, wall_now) = (driver.clock().now(), driver.clock().wall_now());
        match self
            .source
            .plan_replacement(&mut lock, memory, rejected, now, wall_now)?
        {
            RefreshPlan::Ready(token) => Ok(token),
            RefreshPlan::Refresh { flow, pending } => {
                let result = driver.refresh(*flow);
                self.source.finish_refresh(pending, result, memory)
            }
        }
    }

    /// A token valid now, refreshing it first when it is due.
    pub fn token(&self) -> Result<ProvidedToken, ProviderError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { driver, memory } = &mut *state;
        if let Check::Ready(token) = self.source.check(memory, driver.clock().wall_now())? {
            return Ok(token);
        }
        let mut lock = self
            .source
            .cache()
            .lock_refresh(self.source.key(), LOCK_TIMEOUT)
            .map_err(ProviderError::Cache)?;
        let (now, wall_now) = (driver.clock().now(), driver.clock().wall_now());
        match self.source.plan_refresh(&mut lock, memory, now, wall_now)? {
            RefreshPlan::Ready(token) => Ok(token),
            RefreshPlan::Refresh { flow, pending } => {
                let result = driver.refresh(*flow);
                self.source.finish_refresh(pending, result, memory)
            }
        }
    }
}
