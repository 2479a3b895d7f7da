//! The AWS CLI's files, as ssoflow reads and writes them: `~/.aws/config`
//! (profiles, sso-sessions, endpoint overrides), the SSO token cache and the
//! client-registration cache in `~/.aws/sso/cache/`, and the lock file that
//! lets one process refresh a token while others wait.
//!
//! **In scope:** parsing and resolving configuration as botocore does
//! (`aws-cli-compat.md` §3, §8), file names, formats and atomic writes
//! (§4, §5, §7), lenient reading (§12). **Out of scope:** HTTP, the flows
//! themselves (`ssoflow-core`), the role-credential cache.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod atomic;
mod cache;
pub mod config;
mod provider;
mod python_json;
mod registration_file;
mod timestamp;
mod token_file;

pub use atomic::{create_private_dir, write_atomically};
pub use cache::{CacheError, RefreshLock, TokenCache, TokenKey};
pub use provider::{
    Check, LOCK_TIMEOUT, PendingRefresh, ProvidedToken, ProviderError, RefreshPlan, RefreshPolicy,
    TokenSource, TokenStep,
};
pub use registration_file::{CachedRegistration, RegistrationKey};
pub use token_file::CachedToken;

/// Renders a time as the AWS CLI writes `expiresAt`: `YYYY-MM-DDTHH:MM:SSZ`
/// in UTC, for messages that should match what is in the files.
pub fn format_timestamp(time: std::time::SystemTime) -> String {
    timestamp::format(time)
}
