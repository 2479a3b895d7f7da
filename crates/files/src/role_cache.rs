//! The AWS CLI's role-credential cache, `~/.aws/cli/cache` (`portal-api.md`
//! §10, `aws-cli-compat.md` §6): temporary credentials from
//! GetRoleCredentials, one file per account, role and sign-in, named and laid
//! out byte for byte as the AWS CLI does, so that either tool reuses what the
//! other fetched.
//!
//! * **Names** ([`RoleCacheKey::file_name`]): the SHA-1 of
//!   `json.dumps({"accountId", "roleName", "sessionName" or "startUrl"},
//!   sort_keys=True, separators=(',', ':'))`, Python's ASCII escaping included.
//! * **Content** ([`CachedRoleCredentials::to_bytes`]): one line,
//!   `{"ProviderType": "sso", "Credentials": {…}}` with Python's default
//!   separators, `Expiration` as `YYYY-MM-DDTHH:MM:SSZ` (sub-seconds cut),
//!   no trailing newline. Reading accepts what botocore accepts from other
//!   writers: an offset instead of `Z`, fractions, no `AccountId`.
//! * **Reuse** ([`CachedRoleCredentials::is_fresh_at`]): only while at
//!   least [`ROLE_REUSE_MARGIN`] (15 minutes) is left, as the AWS CLI does.
//! * **Damage**: a file that cannot be read or parsed is a miss, never an
//!   error that stops a caller ([`RoleCache::read_fresh`]); the next write
//!   replaces it. (The AWS CLI instead fails with a `KeyError` until the file
//!   is removed, §10.5.)
//! * **Writes** are atomic (temporary file, fsync, rename), mode 0600, in a
//!   directory created with mode 0700, so no reader ever sees half a file.
//! * **One fetch at a time**: [`RoleCache::lock_fetch`] takes a lock file
//!   beside the entry (`<hex>.json.lock`). A caller that finds no fresh
//!   entry takes it, reads the entry again (another process may have fetched
//!   meanwhile) and calls GetRoleCredentials only if it is still missing.
//! * **Logout**: `aws sso logout` removes every entry whose `ProviderType` is
//!   `sso`, whichever sign-in it came from ([`RoleCache::remove_sso_entries`]
//!   does the same). The files do not record their sign-in, so removing the
//!   entries of one sign-in only takes their keys: the account and role
//!   pairs that sign-in was used for, e.g. from
//!   [`ConfigFile::roles_for_token`](crate::config::ConfigFile::roles_for_token)
//!   plus those the caller knows otherwise, each removed with
//!   [`RoleCache::remove`].

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha1::{Digest, Sha1};
use ssoflow_core::portal::RoleCredentials;
use ssoflow_core::secret::{SecretAccessKey, SessionToken};

use crate::cache::{
    CacheError, lock_file, read_if_present, remove_if_present, try_lock_file, write_cache_file,
};
use crate::registration_file::hex;
use crate::{python_json, timestamp};

/// Cached role credentials are reused only while at least this much time is
/// left: botocore's `CachedCredentialFetcher` treats an entry with less than
/// 900 s as expired (`portal-api.md` §10.3).
pub const ROLE_REUSE_MARGIN: Duration = Duration::from_secs(900);

/// What a role-credential cache entry is keyed by: the account and role, and
/// the sign-in that fetched them (the sso-session's name, or for a legacy
/// profile the start URL exactly as configured).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RoleCacheKey {
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// The sso-session's name; `None` (or an empty name, as botocore treats
    /// it) for a legacy profile, whose key uses the start URL instead.
    pub session_name: Option<String>,
    /// `sso_start_url` as configured; part of the key only without a session name.
    pub start_url: String,
}

impl RoleCacheKey {
    /// The JSON text whose SHA-1 names the file, exactly as botocore's
    /// `SSOCredentialFetcher._create_cache_key` builds it, e.g.
    /// `{"accountId":"111122223333","roleName":"SampleRole","sessionName":"my-sso"}`.
    pub fn hashed_json(&self) -> String {
        // A BTreeMap serializes its keys sorted: sort_keys=True.
        let mut args = BTreeMap::new();
        args.insert("accountId", self.account_id.as_str());
        args.insert("roleName", self.role_name.as_str());
        match self.session_name.as_deref() {
            Some(name) if !name.is_empty() => args.insert("sessionName", name),
            _ => args.insert("startUrl", self.start_url.as_str()),
        };
        let bytes = python_json::to_vec_compact(&args).unwrap_or_default();
        // ensure_ascii leaves only ASCII, so this never loses anything.
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// `<sha1 hex of hashed_json>.json`. (botocore then replaces `:` and path
    /// separators by `_`, which never occur in a hex digest.)
    pub fn file_name(&self) -> String {
        format!("{}.json", hex(&Sha1::digest(self.hashed_json().as_bytes())))
    }
}

/// Role credentials as one cache file holds them. `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct CachedRoleCredentials {
    /// `Credentials.AccessKeyId` (`ASIA…`).
    pub access_key_id: String,
    /// `Credentials.SecretAccessKey`.
    pub secret_access_key: SecretAccessKey,
    /// `Credentials.SessionToken`.
    pub session_token: SessionToken,
    /// `Credentials.Expiration`; written in whole seconds.
    pub expiration: SystemTime,
    /// `Credentials.AccountId`; older AWS CLIs do not write it.
    pub account_id: Option<String>,
}

impl std::fmt::Debug for CachedRoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedRoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl CachedRoleCredentials {
    /// The file form of credentials GetRoleCredentials just returned.
    pub fn from_credentials(credentials: &RoleCredentials) -> CachedRoleCredentials {
        CachedRoleCredentials {
            access_key_id: credentials.access_key_id.clone(),
            secret_access_key: credentials.secret_access_key.clone(),
            session_token: credentials.session_token.clone(),
            expiration: credentials.expiration,
            account_id: Some(credentials.account_id.clone()),
        }
    }

    /// The credentials as the portal models them; `account_id` is used when
    /// the file does not name the account (the key always does).
    pub fn to_credentials(&self, account_id: &str) -> RoleCredentials {
        RoleCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            expiration: self.expiration,
            account_id: self
                .account_id
                .clone()
                .unwrap_or_else(|| account_id.to_owned()),
        }
    }

    /// Time left at `now`; zero once expired.
    pub fn remaining_at(&self, now: SystemTime) -> Duration {
        self.expiration
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }

    /// Whether the AWS CLI would reuse them at `now`: at least
    /// [`ROLE_REUSE_MARGIN`] left (15 minutes and more: yes; less: fetch anew).
    pub fn is_fresh_at(&self, now: SystemTime) -> bool {
        self.remaining_at(now) >= ROLE_REUSE_MARGIN
    }

    /// Reads a cache file as botocore does: `Credentials` with non-empty
    /// `AccessKeyId`, `SecretAccessKey` and `SessionToken` strings and an
    /// `Expiration` with a zone (`Z`, `+00:00`, fractions allowed); an
    /// optional `AccountId` string. `ProviderType` and other members are not
    /// needed (a file without them still works as an entry).
    pub fn parse(bytes: &[u8]) -> Result<CachedRoleCredentials, String> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|error| format!("the file is not JSON ({error})"))?;
        let Value::Object(members) = value else {
            return Err("the file is not a JSON object".to_owned());
        };
        let credentials = match members.get("Credentials") {
            Some(Value::Object(credentials)) => credentials,
            Some(_) => return Err("Credentials is not an object".to_owned()),
            None => return Err("it has no Credentials".to_owned()),
        };
        let text = |name: &str| match credentials.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(_) => Err(format!("Credentials.{name} is not a non-empty string")),
            None => Err(format!("it has no Credentials.{name}")),
        };
        let account_id = match credentials.get("AccountId") {
            None | Some(Value::Null) => None,
            Some(Value::String(account)) => Some(account.clone()),
            Some(_) => return Err("Credentials.AccountId is not a string".to_owned()),
        };
        Ok(CachedRoleCredentials {
            access_key_id: text("AccessKeyId")?,
            secret_access_key: SecretAccessKey::new(text("SecretAccessKey")?),
            session_token: SessionToken::new(text("SessionToken")?),
            expiration: timestamp::parse(&text("Expiration")?)
                .map_err(|error| format!("Credentials.Expiration: {error}"))?,
            account_id,
        })
    }

    /// The bytes the AWS CLI writes (`portal-api.md` §10.4, §15.3).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Structs keep the CLI's member order, where a Map would sort it.
        #[derive(serde::Serialize)]
        struct File<'a> {
            #[serde(rename = "ProviderType")]
            provider_type: &'a str,
            #[serde(rename = "Credentials")]
            credentials: Credentials<'a>,
        }
        #[derive(serde::Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Credentials<'a> {
            access_key_id: &'a str,
            secret_access_key: &'a str,
            session_token: &'a str,
            expiration: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            account_id: Option<&'a str>,
        }
        python_json::to_vec(&File {
            provider_type: SSO_PROVIDER_TYPE,
            credentials: Credentials {
                access_key_id: &self.access_key_id,
                secret_access_key: self.secret_access_key.secret(),
                session_token: self.session_token.secret(),
                expiration: timestamp::format(self.expiration),
                account_id: self.account_id.as_deref(),
            },
        })
        .unwrap_or_default()
    }
}

/// The `ProviderType` of entries the SSO credential provider writes.
const SSO_PROVIDER_TYPE: &str = "sso";

/// One entry that `aws sso logout` would remove: a file whose `ProviderType`
/// is `sso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCacheEntry {
    /// The file.
    pub path: PathBuf,
    /// What it holds; `None` if it is marked `sso` but otherwise unusable.
    pub credentials: Option<CachedRoleCredentials>,
}

/// The role-credential cache directory. Reads are lenient; writes are atomic
/// with mode 0600, creating the directory with mode 0700.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCache {
    dir: PathBuf,
}

impl RoleCache {
    /// The cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> RoleCache {
        RoleCache { dir: dir.into() }
    }

    /// `HOME/.aws/cli/cache`: where the AWS CLI keeps role credentials (no
    /// setting moves it).
    pub fn in_home(home: &Path) -> RoleCache {
        RoleCache::new(home.join(".aws").join("cli").join("cache"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the entry for `key` lives.
    pub fn path(&self, key: &RoleCacheKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// The entry for `key`, however much time it has left; `Ok(None)` when
    /// there is no file. A file that is there but unusable (damaged, foreign,
    /// a symbolic link, writable by everyone) is [`CacheError::Unusable`]
    /// naming it, for a caller that reports it, such as a status display.
    pub fn read(&self, key: &RoleCacheKey) -> Result<Option<CachedRoleCredentials>, CacheError> {
        let path = self.path(key);
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(None);
        };
        CachedRoleCredentials::parse(&bytes)
            .map(Some)
            .map_err(|detail| CacheError::Unusable { path, detail })
    }

    /// The entry for `key` if it may be reused at `now` (at least
    /// [`ROLE_REUSE_MARGIN`] left). Anything else is `None`: no file, too
    /// little time left, or a file that cannot be read or used — a miss, so
    /// that the caller fetches anew and [`RoleCache::write`] replaces it.
    pub fn read_fresh(&self, key: &RoleCacheKey, now: SystemTime) -> Option<CachedRoleCredentials> {
        self.read(key)
            .ok()
            .flatten()
            .filter(|credentials| credentials.is_fresh_at(now))
    }

    /// Writes the entry for `key` atomically (whatever was there, damaged or
    /// not, is replaced) and returns its path.
    pub fn write(
        &self,
        key: &RoleCacheKey,
        credentials: &CachedRoleCredentials,
    ) -> Result<PathBuf, CacheError> {
        let path = self.path(key);
        write_cache_file(&self.dir, &path, &credentials.to_bytes())?;
        Ok(path)
    }

    /// Removes the entry for `key`, usable or not (a symbolic link is removed,
    /// never what it points to). Returns whether there was one. Its lock file
    /// stays: removing it could let two fetches run at once.
    pub fn remove(&self, key: &RoleCacheKey) -> Result<bool, CacheError> {
        remove_if_present(self.path(key))
    }

    /// Every entry `aws sso logout` would remove: the `*.json` files in the
    /// directory (regular files, not links) that are JSON objects with
    /// `"ProviderType": "sso"`, in file-name order. Other files — assume-role
    /// and web-identity entries, lock files, damaged files — are left out. No
    /// directory means no entries.
    pub fn sso_entries(&self) -> Result<Vec<RoleCacheEntry>, CacheError> {
        let listing = match std::fs::read_dir(&self.dir) {
            Ok(listing) => listing,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(CacheError::Io {
                    action: "read",
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut paths = Vec::new();
        for item in listing {
            let item = item.map_err(|source| CacheError::Io {
                action: "read",
                path: self.dir.clone(),
                source,
            })?;
            let name = item.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".json") && !name.starts_with('.') {
                paths.push(item.path());
            }
        }
        paths.sort();
        let mut entries = Vec::new();
        for path in paths {
            // A file that vanished, or is not one to trust, is not an entry.
            let Ok(Some(bytes)) = read_if_present(&path) else {
                continue;
            };
            let is_sso = serde_json::from_slice::<Value>(&bytes).is_ok_and(|value| {
                value.get("ProviderType").and_then(Value::as_str) == Some(SSO_PROVIDER_TYPE)
            });
            if is_sso {
                entries.push(RoleCacheEntry {
                    credentials: CachedRoleCredentials::parse(&bytes).ok(),
                    path,
                });
            }
        }
        Ok(entries)
    }

    /// Removes every entry of [`RoleCache::sso_entries`], as `aws sso logout`
    /// does, and returns the files removed. A file that cannot be removed
    /// does not stop the others; the first such failure is returned after.
    pub fn remove_sso_entries(&self) -> Result<Vec<PathBuf>, CacheError> {
        let mut removed = Vec::new();
        let mut failure = None;
        for entry in self.sso_entries()? {
            match remove_if_present(entry.path.clone()) {
                Ok(true) => removed.push(entry.path),
                Ok(false) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            Some(error) => Err(error),
            None => Ok(removed),
        }
    }

    /// Where the lock for `key`'s entry lives: `<hex>.json.lock`.
    pub fn lock_path(&self, key: &RoleCacheKey) -> PathBuf {
        self.dir.join(format!("{}.lock", key.file_name()))
    }

    /// Takes the lock that lets one process at a time fetch `key`'s
    /// credentials, waiting up to `timeout` for another holder
    /// ([`CacheError::LockTimeout`] after). Holding it, read the entry again
    /// with [`RoleCache::read_fresh`] and fetch only if it is still missing.
    /// The lock ends when the guard drops, or when the process dies.
    pub fn lock_fetch(
        &self,
        key: &RoleCacheKey,
        timeout: Duration,
    ) -> Result<RoleFetchLock, CacheError> {
        lock_file(&self.dir, &self.lock_path(key), timeout)
            .map(|file| RoleFetchLock { _file: file })
    }

    /// The fetch lock if nobody holds it, else `None` at once; for callers
    /// that wait their own way (an async task sleeps on its runtime).
    pub fn try_lock_fetch(&self, key: &RoleCacheKey) -> Result<Option<RoleFetchLock>, CacheError> {
        try_lock_file(&self.dir, &self.lock_path(key))
            .map(|file| file.map(|file| RoleFetchLock { _file: file }))
    }
}

/// What both credentials providers (blocking and async) do around a fetch,
/// without sending anything: serve from memory or the cache while at least
/// [`ROLE_REUSE_MARGIN`] is left, and keep what a fetch returned. They
/// differ only in how they wait for the lock and send the request.
#[derive(Debug, Clone)]
pub struct RoleSource {
    key: RoleCacheKey,
    cache: RoleCache,
}

impl RoleSource {
    /// The role `key` names, cached in `cache`.
    pub fn new(key: RoleCacheKey, cache: RoleCache) -> RoleSource {
        RoleSource { key, cache }
    }

    /// The role's cache key.
    pub fn key(&self) -> &RoleCacheKey {
        &self.key
    }

    /// The cache.
    pub fn cache(&self) -> &RoleCache {
        &self.cache
    }

    /// Credentials that may be used at `now`: `memory`'s, else the cache
    /// entry's (then remembered in `memory`). Call again after taking the
    /// fetch lock: another process may have fetched meanwhile.
    pub fn check(
        &self,
        memory: &mut Option<RoleCredentials>,
        now: SystemTime,
    ) -> Option<RoleCredentials> {
        if let Some(credentials) = memory
            .as_ref()
            .filter(|c| c.remaining_at(now) >= ROLE_REUSE_MARGIN)
        {
            return Some(credentials.clone());
        }
        let cached = self.cache.read_fresh(&self.key, now)?;
        let credentials = cached.to_credentials(&self.key.account_id);
        *memory = Some(credentials.clone());
        Some(credentials)
    }

    /// Keeps credentials a fetch returned: the cache entry (atomically) and `memory`.
    pub fn store(
        &self,
        credentials: &RoleCredentials,
        memory: &mut Option<RoleCredentials>,
    ) -> Result<(), CacheError> {
        self.cache.write(
            &self.key,
            &CachedRoleCredentials::from_credentials(credentials),
        )?;
        *memory = Some(credentials.clone());
        Ok(())
    }
}

/// Held while this process fetches one role's credentials; dropping it lets
/// the next process in. The operating system releases it if the process dies.
#[derive(Debug)]
pub struct RoleFetchLock {
    _file: File,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::UNIX_EPOCH;

    use super::*;

    fn key(role: &str, account: &str, session: Option<&str>, url: &str) -> RoleCacheKey {
        RoleCacheKey {
            account_id: account.into(),
            role_name: role.into(),
            session_name: session.map(str::to_owned),
            start_url: url.into(),
        }
    }

    const URL: &str = "https://my-sso-portal.awsapps.com/start";

    /// Every row of `portal-api.md` §15.1: the JSON hashed and the file name.
    #[test]
    fn file_names_match_every_spec_vector() {
        let rows = [
            (
                key("SampleRole", "111122223333", Some("my-sso"), URL),
                r#"{"accountId":"111122223333","roleName":"SampleRole","sessionName":"my-sso"}"#,
                "5a6d67f0141c391d87d6e15ac122ad86af2cdb81",
            ),
            (
                key("SampleRole", "111122223333", None, URL),
                r#"{"accountId":"111122223333","roleName":"SampleRole","startUrl":"https://my-sso-portal.awsapps.com/start"}"#,
                "0661edf22906c6642efb07e1dc3f146d62f10ad0",
            ),
            (
                key("AdministratorAccess", "123456789012", Some("my-sso"), URL),
                r#"{"accountId":"123456789012","roleName":"AdministratorAccess","sessionName":"my-sso"}"#,
                "c61222fe4c86bb5d3638873744d4cab00a0bf176",
            ),
            (
                key("ReadOnly", "111122223333", None, URL),
                r#"{"accountId":"111122223333","roleName":"ReadOnly","startUrl":"https://my-sso-portal.awsapps.com/start"}"#,
                "a86fc0ef036e01b9ff8f964ffab896b19c6ff372",
            ),
            (
                key(
                    "ReadOnly",
                    "111122223333",
                    None,
                    "https://my-sso-portal.awsapps.com/start/",
                ),
                r#"{"accountId":"111122223333","roleName":"ReadOnly","startUrl":"https://my-sso-portal.awsapps.com/start/"}"#,
                "f908b65753fe76075c417ebd7ff896b5f8969845",
            ),
            (
                key(
                    "MySsoRole",
                    "123456789",
                    None,
                    "https://ssotest.awsapps.com/start",
                ),
                r#"{"accountId":"123456789","roleName":"MySsoRole","startUrl":"https://ssotest.awsapps.com/start"}"#,
                "c2cc6458696e45c00f42bfe9daf617450c18d69a",
            ),
            (
                key("SampleRole", "111122223333", Some("café"), URL),
                r#"{"accountId":"111122223333","roleName":"SampleRole","sessionName":"caf\u00e9"}"#,
                "aa08a7069e8002fcb7f65ce447e02903d2aea208",
            ),
            (
                key("Rôle", "111122223333", Some("my-sso"), URL),
                r#"{"accountId":"111122223333","roleName":"R\u00f4le","sessionName":"my-sso"}"#,
                "e7f542d6b2a3ef34f89c16874f4f7a2256158032",
            ),
            (
                key("Dev", "111122223333", Some("team-🚀"), URL),
                r#"{"accountId":"111122223333","roleName":"Dev","sessionName":"team-\ud83d\ude80"}"#,
                "2445b2fdfa33f923964f100daec0f489a64d26ec",
            ),
            (
                key("SampleRole", "111122223333", Some("dev \"quoted\""), URL),
                r#"{"accountId":"111122223333","roleName":"SampleRole","sessionName":"dev \"quoted\""}"#,
                "51b57912bc42de79137e3bb9903a94d5c5777494",
            ),
            (
                key("a/b", "111122223333", Some("s\\x"), URL),
                r#"{"accountId":"111122223333","roleName":"a/b","sessionName":"s\\x"}"#,
                "542f80a48bff458d1686c4d056dc08937b131c5e",
            ),
        ];
        for (key, json, hex) in rows {
            assert_eq!(key.hashed_json(), json, "{key:?}");
            assert_eq!(key.file_name(), format!("{hex}.json"), "{key:?}");
        }
        // Raw UTF-8 (what serde_json alone writes) would give another file.
        assert_ne!(
            key("SampleRole", "111122223333", Some("café"), URL).file_name(),
            "126e4682690399afcd29ee87d59d1c35a6ecbe41.json"
        );
    }

    #[test]
    fn an_empty_session_name_keys_by_start_url_as_botocore_does() {
        assert_eq!(
            key("SampleRole", "111122223333", Some(""), URL).file_name(),
            "0661edf22906c6642efb07e1dc3f146d62f10ad0.json"
        );
    }

    fn at_millis(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    fn credentials(expiration: SystemTime) -> RoleCredentials {
        RoleCredentials {
            access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretAccessKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: SessionToken::new("IQoJb3JpZ2luX2VjEXAMPLE"),
            expiration,
            account_id: "111122223333".into(),
        }
    }

    /// `portal-api.md` §15.3, byte for byte.
    #[test]
    fn the_file_is_written_exactly_as_the_aws_cli_writes_it() {
        let cached =
            CachedRoleCredentials::from_credentials(&credentials(at_millis(1_906_549_200_000)));
        assert_eq!(
            String::from_utf8(cached.to_bytes()).unwrap(),
            r#"{"ProviderType": "sso", "Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "Expiration": "2030-06-01T13:00:00Z", "AccountId": "111122223333"}}"#
        );
    }

    /// `portal-api.md` §15.2: milliseconds → `Expiration`, sub-seconds cut.
    #[test]
    fn expirations_are_floored_to_whole_seconds() {
        for (ms, text) in [
            (1_717_246_800_000, "2024-06-01T13:00:00Z"),
            (1_717_246_800_999, "2024-06-01T13:00:00Z"),
            (1_717_246_799_999, "2024-06-01T12:59:59Z"),
            (1_234_567_890_000, "2009-02-13T23:31:30Z"),
            (1_906_549_200_000, "2030-06-01T13:00:00Z"),
            (0, "1970-01-01T00:00:00Z"),
        ] {
            let cached = CachedRoleCredentials::from_credentials(&credentials(at_millis(ms)));
            let bytes = String::from_utf8(cached.to_bytes()).unwrap();
            assert!(
                bytes.contains(&format!(r#""Expiration": "{text}""#)),
                "{ms}: {bytes}"
            );
        }
    }

    #[test]
    fn what_other_writers_write_is_read() {
        let expected = at_millis(1_906_549_200_000);
        for (expiration, offset) in [
            ("2030-06-01T13:00:00Z", 0),
            ("2030-06-01T13:00:00+00:00", 0),
            ("2030-06-01T06:00:00-07:00", 0),
            ("2030-06-01T13:00:00.250Z", 250),
            ("2030-06-01T13:00:00UTC", 0),
        ] {
            // Compact separators, no ProviderType, no AccountId, extra members.
            let text = format!(
                r#"{{"Credentials":{{"AccessKeyId":"ASIA1","SecretAccessKey":"s","SessionToken":"t","Expiration":"{expiration}"}},"Other":1}}"#
            );
            let cached = CachedRoleCredentials::parse(text.as_bytes()).unwrap();
            assert_eq!(
                cached.expiration,
                expected + Duration::from_millis(offset),
                "{expiration}"
            );
            assert_eq!(cached.account_id, None);
            assert_eq!(
                cached.to_credentials("444455556666").account_id,
                "444455556666"
            );
        }
        let with_account = br#"{"ProviderType": "sso", "Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-06-01T13:00:00Z", "AccountId": "111122223333"}}"#;
        let cached = CachedRoleCredentials::parse(with_account).unwrap();
        assert_eq!(cached.to_credentials("other").account_id, "111122223333");
        assert_eq!(cached.to_bytes(), with_account);
    }

    #[test]
    fn unusable_files_say_why() {
        for (bytes, says) in [
            (&b""[..], "not JSON"),
            (b"{\"ProviderType\": \"sso\", \"Credentials\": {\"AccessKeyId\": \"A\"", "not JSON"),
            (b"[]", "not a JSON object"),
            (b"{}", "no Credentials"),
            (br#"{"Credentials": "x"}"#, "not an object"),
            (br#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t"}}"#, "no Credentials.Expiration"),
            (br#"{"Credentials": {"AccessKeyId": "", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-06-01T13:00:00Z"}}"#, "AccessKeyId is not a non-empty string"),
            (br#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": 1, "SessionToken": "t", "Expiration": "2030-06-01T13:00:00Z"}}"#, "SecretAccessKey"),
            (br#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-06-01T13:00:00"}}"#, "Expiration"),
            (br#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-06-01T13:00:00Z", "AccountId": 1}}"#, "AccountId"),
        ] {
            let error = CachedRoleCredentials::parse(bytes).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }

    /// `portal-api.md` §15.4 and the 900 s boundary.
    #[test]
    fn reuse_needs_fifteen_minutes_left() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let with_left = |left: Duration| {
            CachedRoleCredentials::from_credentials(&credentials(now + left)).is_fresh_at(now)
        };
        assert!(with_left(Duration::from_secs(16 * 60)));
        assert!(!with_left(Duration::from_secs(14 * 60)));
        assert!(with_left(Duration::from_secs(900)));
        assert!(!with_left(Duration::from_millis(899_999)));
        let expired =
            CachedRoleCredentials::from_credentials(&credentials(now - Duration::from_secs(1)));
        assert!(!expired.is_fresh_at(now));
        assert_eq!(expired.remaining_at(now), Duration::ZERO);
    }

    #[test]
    fn debug_shows_no_secret() {
        let cached = CachedRoleCredentials::from_credentials(&credentials(at_millis(0)));
        let shown = format!("{cached:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(!shown.contains("IQoJb3JpZ2lu"), "{shown}");
        assert!(shown.contains("ASIAIOSFODNN7EXAMPLE"), "{shown}");
    }
}
