//! Role credentials on demand, blocking: memory, then the AWS CLI's role
//! cache (`~/.aws/cli/cache`), then a token from the [`TokenProvider`], then
//! GetRoleCredentials through the [`Driver`] — one fetch at a time across
//! the threads of this process (a mutex) and across processes (the cache
//! entry's lock file).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ssoflow_core::drive::DriveError;
use ssoflow_core::portal::{GetRoleCredentials, PortalErrorCode, RoleCredentials};
use ssoflow_core::{Endpoint, FlowError, PortalCall};
use ssoflow_files::{CacheError, CachedRoleCredentials, ProviderError, RoleCache, RoleCacheKey};

use crate::driver::Driver;
use crate::provider::TokenProvider;
use crate::transport::{Clock, Transport};

/// How long a caller waits for another process's fetch (which may include
/// a sign-in) before giving up.
pub const FETCH_LOCK_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Credentials a provider hands out, with whether this call fetched them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvidedCredentials {
    /// The credentials.
    pub credentials: RoleCredentials,
    /// Whether this call asked the portal (false: memory or the cache).
    pub fetched: bool,
}

/// Why no credentials could be provided. Every message says what to do.
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

/// Serves one role's credentials. Share it between threads (`&self`).
pub struct CredentialsProvider<T, C> {
    key: RoleCacheKey,
    portal: Endpoint,
    roles: RoleCache,
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
            .field("key", &self.key)
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
            key,
            portal,
            roles,
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
        let wall_now = state.driver.clock().wall_now();
        if let Some(credentials) = state.memory.as_ref().filter(|c| fresh(c, wall_now)) {
            return Ok(provided(credentials.clone(), false));
        }
        if let Some(cached) = self.roles.read_fresh(&self.key, wall_now) {
            let credentials = cached.to_credentials(&self.key.account_id);
            state.memory = Some(credentials.clone());
            return Ok(provided(credentials, false));
        }
        let _lock = self
            .roles
            .lock_fetch(&self.key, FETCH_LOCK_TIMEOUT)
            .map_err(CredentialsError::Cache)?;
        // Another process may have fetched while this one waited.
        let wall_now = state.driver.clock().wall_now();
        if let Some(cached) = self.roles.read_fresh(&self.key, wall_now) {
            let credentials = cached.to_credentials(&self.key.account_id);
            state.memory = Some(credentials.clone());
            return Ok(provided(credentials, false));
        }
        let token = match self.tokens.token() {
            Ok(token) => token,
            Err(error) if sign_in(&error) => {
                self.tokens.token().map_err(CredentialsError::Token)?
            }
            Err(error) => return Err(CredentialsError::Token(error)),
        };
        let credentials = match self.fetch(&mut state.driver, &token.access_token) {
            Err(error) if unauthorized(&error) => {
                // The portal no longer takes this token: refresh once, then
                // ask again; a second refusal means signing in again.
                let replacement = self
                    .tokens
                    .token_rejected(&token.access_token)
                    .map_err(CredentialsError::Token)?;
                self.fetch(&mut state.driver, &replacement.access_token)
            }
            other => other,
        }
        .map_err(CredentialsError::Portal)?;
        self.roles
            .write(
                &self.key,
                &CachedRoleCredentials::from_credentials(&credentials),
            )
            .map_err(CredentialsError::Cache)?;
        state.memory = Some(credentials.clone());
        Ok(provided(credentials, true))
    }

    fn fetch(
        &self,
        driver: &mut Driver<T, C>,
        access_token: &ssoflow_core::secret::AccessToken,
    ) -> Result<RoleCredentials, DriveError> {
        let request = GetRoleCredentials::new(&self.key.account_id, &self.key.role_name);
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

fn fresh(credentials: &RoleCredentials, now: std::time::SystemTime) -> bool {
    credentials.remaining_at(now) >= ssoflow_files::ROLE_REUSE_MARGIN
}

fn provided(credentials: RoleCredentials, fetched: bool) -> ProvidedCredentials {
    ProvidedCredentials {
        credentials,
        fetched,
    }
}

fn unauthorized(error: &DriveError) -> bool {
    matches!(error, DriveError::Flow(FlowError::Portal { error, .. }) if error.code == PortalErrorCode::Unauthorized)
}

/// Randomness for the retry jitter: each process waits differently.
fn seed() -> u64 {
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
