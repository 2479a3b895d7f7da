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
//!
//! # Example: from an sso-session to its token file
//!
//! ```
//! use std::path::Path;
//! use std::time::{Duration, SystemTime};
//! use ssoflow_files::config::{ConfigFile, Environment, Selector};
//! use ssoflow_files::{CachedToken, TokenCache, TokenKey};
//!
//! let text = "\
//! [sso-session my-sso]
//! sso_region = eu-west-1
//! sso_start_url = https://my-sso-portal.awsapps.com/start
//! ";
//! let config = ConfigFile::parse(text, "~/.aws/config")?;
//!
//! // `aws sso login --sso-session my-sso`: the session itself, no profile.
//! let env = Environment::default();
//! let sso = config.sso_settings(&Selector::SsoSession("my-sso".into()), &env)?;
//! assert_eq!(sso.start_url, "https://my-sso-portal.awsapps.com/start");
//! assert_eq!(sso.scopes, ["sso:account:access"]);
//! let endpoint = config.oidc_endpoint(&sso, &env)?.to_endpoint()?;
//! assert_eq!(endpoint.base_url(), "https://oidc.eu-west-1.amazonaws.com");
//!
//! // The token file is named as the AWS CLI names it: after the session,
//! // or after the start URL for a legacy profile without one.
//! let key = match &sso.session_name {
//!     Some(name) => TokenKey::SsoSession(name.clone()),
//!     None => TokenKey::StartUrl(sso.start_url.clone()),
//! };
//! let cache = TokenCache::in_home(Path::new("/home/me"));
//! assert_eq!(
//!     cache.token_path(&key),
//!     Path::new("/home/me/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json"),
//! );
//!
//! // Such a file, as `aws sso login` writes it (secrets shortened).
//! let file = br#"{"startUrl": "https://my-sso-portal.awsapps.com/start",
//!     "region": "eu-west-1", "accessToken": "aoa-example",
//!     "expiresAt": "2026-01-01T08:00:00Z", "clientId": "cid",
//!     "clientSecret": "secret", "registrationExpiresAt": "2026-03-01T00:00:00Z",
//!     "refreshToken": "aor-example"}"#;
//! let token = CachedToken::parse(file)?;
//! assert_eq!(token.expires_at, SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_254_400));
//! assert!(token.refreshable().is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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

/// The crate README's example, compiled and run as a doc test so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExample;
