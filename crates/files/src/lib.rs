//! The AWS CLI's files, as ssoflow reads and writes them: `~/.aws/config`
//! (profiles, sso-sessions, roles, endpoint overrides), the SSO token cache
//! and the client-registration cache in `~/.aws/sso/cache/`, the
//! role-credential cache in `~/.aws/cli/cache/`, and the lock files that let
//! one process refresh a token or fetch a role's credentials while others wait.
//!
//! **In scope:** parsing and resolving configuration as botocore does
//! (`aws-cli-compat.md` §3, §8; `portal-api.md` §3.4, §9), file names,
//! formats and atomic writes (§4–§7; `portal-api.md` §10), lenient reading
//! (§12). **Out of scope:** HTTP, the flows and the portal calls themselves
//! (`ssoflow-core`).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod atomic;
mod ca_bundle;
mod cache;
pub mod config;
mod provider;
mod python_json;
mod registration_file;
mod role_cache;
mod timestamp;
mod token_file;

pub use atomic::{create_private_dir, write_atomically};
pub use ca_bundle::{CA_BUNDLE_VARIABLE, CaBundleError, CaBundleSetting, read_ca_bundle};
pub use cache::{CacheError, RefreshLock, SignInLock, TokenCache, TokenKey};
pub use provider::{
    Check, CredentialsError, FETCH_LOCK_TIMEOUT, LOCK_TIMEOUT, PendingRefresh, ProvidedToken,
    ProviderError, RefreshPlan, RefreshPolicy, TokenSource, TokenStep,
};
pub use registration_file::{CachedRegistration, RegistrationKey};
pub use role_cache::{
    CachedRoleCredentials, ROLE_REUSE_MARGIN, RoleCache, RoleCacheEntry, RoleCacheKey,
    RoleFetchLock, RoleSource,
};
pub use token_file::CachedToken;

/// Renders a time as the AWS CLI writes `expiresAt`: `YYYY-MM-DDTHH:MM:SSZ`
/// in UTC, for messages that should match what is in the files.
pub fn format_timestamp(time: std::time::SystemTime) -> String {
    timestamp::format(time)
}
