//! Role credentials on demand, async: the steps of
//! [`ssoflow_files::RoleSource`] behind an async mutex (many tasks, one
//! fetch), the cache entry's lock file for other processes (waited for on
//! the caller's clock), a token from the [`AsyncTokenProvider`], and
//! GetRoleCredentials through the [`AsyncDriver`].

use std::time::Duration;

use ssoflow_core::drive::DriveError;
use ssoflow_core::portal::{GetRoleCredentials, RoleCredentials};
use ssoflow_core::secret::AccessToken;
use ssoflow_core::{Endpoint, PortalCall};
use ssoflow_files::{
    CacheError, CredentialsError, FETCH_LOCK_TIMEOUT, RoleCache, RoleCacheKey, RoleFetchLock,
    RoleSource,
};
use tokio::sync::Mutex;

use crate::provider::AsyncTokenProvider;
use crate::{AsyncClock, AsyncDriver, AsyncTransport};

/// How often a task retries a fetch lock another process holds.
const LOCK_RETRY: Duration = Duration::from_millis(25);

/// Serves one role's credentials to any number of tasks: one fetch at a
/// time (single flight), and processes sharing the cache take turns through
/// its lock file.
pub struct AsyncCredentialsProvider<T, C> {
    source: RoleSource,
    portal: Endpoint,
    tokens: AsyncTokenProvider<T, C>,
    driver: AsyncDriver<T, C>,
    memory: Mutex<Option<RoleCredentials>>,
}

impl<T, C> std::fmt::Debug for AsyncCredentialsProvider<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncCredentialsProvider")
            .field("source", &self.source)
            .field("portal", &self.portal)
            .finish_non_exhaustive()
    }
}

impl<T: AsyncTransport, C: AsyncClock> AsyncCredentialsProvider<T, C> {
    /// A provider for the role `key` names, cached in `roles`, fetched from
    /// the portal at `portal` with tokens from `tokens` through `driver`.
    pub fn new(
        key: RoleCacheKey,
        portal: Endpoint,
        roles: RoleCache,
        tokens: AsyncTokenProvider<T, C>,
        driver: AsyncDriver<T, C>,
    ) -> Self {
        AsyncCredentialsProvider {
            source: RoleSource::new(key, roles),
            portal,
            tokens,
            driver,
            memory: Mutex::new(None),
        }
    }

    /// Credentials with at least 15 minutes left (the AWS CLI's margin).
    /// Dropping the future gives up without writing anything.
    pub async fn credentials(&self) -> Result<RoleCredentials, CredentialsError> {
        let mut memory = self.memory.lock().await;
        let clock = self.driver.clock();
        if let Some(credentials) = self.source.check(&mut memory, clock.wall_now()) {
            return Ok(credentials);
        }
        let _lock = self.lock().await.map_err(CredentialsError::Cache)?;
        if let Some(credentials) = self.source.check(&mut memory, clock.wall_now()) {
            return Ok(credentials);
        }
        let token = self.tokens.token().await.map_err(CredentialsError::Token)?;
        let credentials = match self.fetch(&token.access_token).await {
            Err(error) if error.is_portal_unauthorized() => {
                let replacement = self
                    .tokens
                    .token_rejected(&token.access_token)
                    .await
                    .map_err(CredentialsError::Token)?;
                self.fetch(&replacement.access_token).await
            }
            other => other,
        }
        .map_err(CredentialsError::Portal)?;
        self.source
            .store(&credentials, &mut memory)
            .map_err(CredentialsError::Cache)?;
        Ok(credentials)
    }

    async fn fetch(&self, access_token: &AccessToken) -> Result<RoleCredentials, DriveError> {
        let key = self.source.key();
        let request = GetRoleCredentials::new(&key.account_id, &key.role_name);
        let mut seed = [0u8; 8];
        let _ = getrandom::fill(&mut seed);
        let mut call = PortalCall::new(
            self.portal.clone(),
            access_token.clone(),
            request,
            self.driver.clock().now(),
            u64::from_le_bytes(seed),
        );
        self.driver.run(&mut call, |_| {}).await
    }

    /// The cross-process lock, waited for by sleeping on the clock.
    async fn lock(&self) -> Result<RoleFetchLock, CacheError> {
        let clock = self.driver.clock();
        let started = clock.now();
        loop {
            if let Some(lock) = self.source.cache().try_lock_fetch(self.source.key())? {
                return Ok(lock);
            }
            let waited = clock.now().saturating_duration_since(started);
            if waited >= FETCH_LOCK_TIMEOUT {
                return Err(CacheError::LockTimeout {
                    path: self.source.cache().lock_path(self.source.key()),
                    waited,
                });
            }
            clock.sleep_until(clock.now() + LOCK_RETRY).await;
        }
    }
}
