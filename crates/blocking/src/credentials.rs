//! Role credentials on demand, blocking: memory, then the AWS CLI's role
//! cache (`~/.aws/cli/cache`), then a token from the [`TokenProvider`], then
//! GetRoleCredentials through the [`Driver`] — one fetch at a time across
//! the threads of this process (a mutex) and across processes (the cache
//! entry's lock file).

use std::sync::{Mutex, PoisonError};

use ssoflow_core::drive::DriveError;
use ssoflow_core::portal::{GetRoleCredentials, RoleCredentials};
use ssoflow_core::{Endpoint, PortalCall};
use ssoflow_files::{
    CredentialsError, FETCH_LOCK_TIMEOUT, ProviderError, RoleCache, RoleCacheKey, RoleSource,
};

use crate::driver::Driver;
use crate::provider::TokenProvider;
use crate::transport::{Clock, Transport};

/// Credentials a provider hands out, with whether this call fetched them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedCredentials {
    /// The credentials.
    pub credentials: RoleCredentials,
    /// Whether this call asked the portal (false: memory or the cache).
    pub fetched: bool,
}

/// Serves one role's credentials. Share it between threads (`&self`).
pub struct CredentialsProvider<T, C> {
    source: RoleSource,
    portal: Endpoint,
    tokens: TokenProvider<T, C>,
    state: Mutex<State<T, C>>,
}

struct State<T, C> {
    driver: Driver<T, C>,
    memory: Option<RoleCredentials>,
}

impl<T, C> std::fmt::Debug for CredentialsProvider<T, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialsProvider")
            .field("source", &self.source)
            .field("portal", &self.portal)
            .finish_non_exhaustive()
    }
}

impl<T: Transport, C: Clock> CredentialsProvider<T, C> {
    /// A provider for the role `key` names, cached in `roles`, fetched from
    /// the portal at `portal` with tokens from `tokens` through `driver`.
    pub fn new(
        key: RoleCacheKey,
        portal: Endpoint,
        roles: RoleCache,
        tokens: TokenProvider<T, C>,
        driver: Driver<T, C>,
    ) -> Self {
        CredentialsProvider {
            source: RoleSource::new(key, roles),
            portal,
            tokens,
            state: Mutex::new(State {
                driver,
                memory: None,
            }),
        }
    }

    /// Credentials with at least 15 minutes left (the AWS CLI's margin).
    pub fn credentials(&self) -> Result<ProvidedCredentials, CredentialsError> {
        self.credentials_or_sign_in(|_| false)
    }

    /// As [`CredentialsProvider::credentials`]; when there is no usable
    /// token, `sign_in` is called (holding this role's fetch lock, so other
    /// processes asking for it wait for the result instead of signing in
    /// too) and, if it returns true, the token is read again.
    pub fn credentials_or_sign_in(
        &self,
        sign_in: impl FnOnce(&ProviderError) -> bool,
    ) -> Result<ProvidedCredentials, CredentialsError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { driver, memory } = &mut *state;
        if let Some(credentials) = self.source.check(memory, driver.clock().wall_now()) {
            return Ok(provided(credentials, false));
        }
        let _lock = self
            .source
            .cache()
            .lock_fetch(self.source.key(), FETCH_LOCK_TIMEOUT)
            .map_err(CredentialsError::Cache)?;
        // Another process may have fetched while this one waited.
        if let Some(credentials) = self.source.check(memory, driver.clock().wall_now()) {
            return Ok(provided(credentials, false));
        }
        let token = match self.tokens.token() {
            Ok(token) => token,
            // Only what a sign-in can fix: not a cache or lock problem.
            Err(error)
                if matches!(
                    error,
                    ProviderError::NotSignedIn { .. }
                        | ProviderError::Expired { .. }
                        | ProviderError::RefreshFailed { .. }
                        | ProviderError::Rejected
                ) && sign_in(&error) =>
            {
                self.tokens.token().map_err(CredentialsError::Token)?
            }
            Err(error) => return Err(CredentialsError::Token(error)),
        };
        let credentials = match self.fetch(driver, &token.access_token) {
            Err(error) if error.is_portal_unauthorized() => {
                // The portal no longer takes this token: refresh once, then
                // ask again; a second refusal means signing in again.
                let replacement = self
                    .tokens
                    .token_rejected(&token.access_token)
                    .map_err(CredentialsError::Token)?;
                self.fetch(driver, &replacement.access_token)
            }
            other => other,
        }
        .map_err(CredentialsError::Portal)?;
        self.source
            .store(&credentials, memory)
            .map_err(CredentialsError::Cache)?;
        Ok(provided(credentials, true))
    }

    fn fetch(
        &self,
        driver: &mut Driver<T, C>,
        access_token: &ssoflow_core::secret::AccessToken,
    ) -> Result<RoleCredentials, DriveError> {
        let key = self.source.key();
        let request = GetRoleCredentials::new(&key.account_id, &key.role_name);
        let mut call = PortalCall::new(
            self.portal.clone(),
            access_token.clone(),
            request,
            driver.clock().now(),
            seed(),
        );
        driver.run(&mut call, |_| {})
    }
}

fn provided(credentials: RoleCredentials, fetched: bool) -> ProvidedCredentials {
    ProvidedCredentials {
        credentials,
        fetched,
    }
}

/// Randomness for the retry jitter: each process waits differently.
pub(crate) fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // The clock's nanoseconds are a poorer but adequate spread.
        return u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        );
    }
    u64::from_le_bytes(bytes)
}
