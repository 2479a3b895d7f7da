//! A valid access token on demand, async: the steps of
//! [`ssoflow_files::TokenSource`] behind an async mutex (many tasks, one
//! refresh), the cache's lock file for other processes (waited for on the
//! caller's clock), and the [`AsyncDriver`] for the refresh.
//!
//! The token file is small and read or written once per call at most, so it
//! is done in place rather than on a blocking-thread pool the caller may not have.

use std::time::Duration;

use ssoflow_core::Endpoint;
use ssoflow_files::{
    CacheError, CachedToken, Check, LOCK_TIMEOUT, ProvidedToken, ProviderError, RefreshLock,
    RefreshPlan, RefreshPolicy, TokenCache, TokenKey, TokenSource,
};
use tokio::sync::Mutex;

use crate::{AsyncClock, AsyncDriver, AsyncTransport};

/// How often a task retries a refresh lock another process holds.
const LOCK_RETRY: Duration = Duration::from_millis(25);

/// Serves one session's token to any number of tasks: while one refreshes,
/// the others wait for it and get its result (single flight), and processes
/// sharing the cache take turns through its lock file.
pub struct AsyncTokenProvider<T, C> {
    source: TokenSource,
    driver: AsyncDriver<T, C>,
    memory: Mutex<Option<CachedToken>>,
}

impl<T, C> std::fmt::Debug for AsyncTokenProvider<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncTokenProvider")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<T: AsyncTransport, C: AsyncClock> AsyncTokenProvider<T, C> {
    /// A provider for the token stored under `key` in `cache`, refreshed
    /// through `endpoint` with `driver`.
    pub fn new(
        key: TokenKey,
        endpoint: Endpoint,
        cache: TokenCache,
        driver: AsyncDriver<T, C>,
    ) -> Self {
        AsyncTokenProvider {
            source: TokenSource::new(key, endpoint, cache),
            driver,
            memory: Mutex::new(None),
        }
    }

    /// Replaces the default policy (refresh within 5 minutes of expiry, at
    /// most one attempt per 30 seconds).
    pub fn with_policy(mut self, policy: RefreshPolicy) -> Self {
        self.source = self.source.with_policy(policy);
        self
    }

    /// A token valid now, refreshing it first when it is due. Dropping the
    /// future gives up without writing anything.
    pub async fn token(&self) -> Result<ProvidedToken, ProviderError> {
        let mut memory = self.memory.lock().await;
        let clock = self.driver.clock();
        if let Check::Ready(token) = self.source.check(&mut memory, clock.wall_now())? {
            return Ok(token);
        }
        let mut lock = self.lock().await.map_err(ProviderError::Cache)?;
        match self
            .source
            .plan_refresh(&mut lock, &mut memory, clock.now(), clock.wall_now())?
        {
            RefreshPlan::Ready(token) => Ok(token),
            RefreshPlan::Refresh { flow, pending } => {
                let result = self.driver.refresh(*flow).await;
                self.source.finish_refresh(pending, result, &mut memory)
            }
        }
    }

    /// A replacement for `rejected`, which a service refused (the portal's
    /// 401): the stored token if another process already replaced it, else
    /// a refresh now whatever the policy says; an error that says to sign
    /// in again when neither is possible.
    pub async fn token_rejected(
        &self,
        rejected: &ssoflow_core::secret::AccessToken,
    ) -> Result<ProvidedToken, ProviderError> {
        let mut memory = self.memory.lock().await;
        let clock = self.driver.clock();
        let mut lock = self.lock().await.map_err(ProviderError::Cache)?;
        match self.source.plan_replacement(
            &mut lock,
            &mut memory,
            rejected,
            clock.now(),
            clock.wall_now(),
        )? {
            RefreshPlan::Ready(token) => Ok(token),
            RefreshPlan::Refresh { flow, pending } => {
                let result = self.driver.refresh(*flow).await;
                self.source.finish_refresh(pending, result, &mut memory)
            }
        }
    }

    /// The cross-process lock, waited for by sleeping on the clock.
    async fn lock(&self) -> Result<RefreshLock, CacheError> {
        let clock = self.driver.clock();
        let started = clock.now();
        loop {
            if let Some(lock) = self.source.cache().try_lock_refresh(self.source.key())? {
                return Ok(lock);
            }
            let waited = clock.now().saturating_duration_since(started);
            if waited >= LOCK_TIMEOUT {
                return Err(CacheError::LockTimeout {
                    path: self.source.cache().token_path(self.source.key()),
                    waited,
                });
            }
            clock.sleep_until(clock.now() + LOCK_RETRY).await;
        }
    }
}
