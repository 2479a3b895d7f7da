//! The directory `~/.aws/sso/cache/`, shared with the AWS CLI and the SDKs:
//! token files, registration files, and our lock files beside them; and the
//! file handling every cache directory shares (trusting a file before reading
//! it, private directories, atomic writes, lock files).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use crate::atomic::{create_private_dir, write_atomically};
use crate::registration_file::{CachedRegistration, RegistrationKey, hex};
use crate::token_file::CachedToken;

/// How often a blocked caller retries a held refresh lock.
const LOCK_RETRY: Duration = Duration::from_millis(25);

/// Which token file a sign-in uses: botocore names it after the sso-session,
/// or, for a legacy profile, after the start URL exactly as configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenKey {
    /// An `[sso-session NAME]`.
    SsoSession(String),
    /// A legacy profile's `sso_start_url`, byte for byte (a trailing `/` is another file).
    StartUrl(String),
}

impl TokenKey {
    /// `<sha1 hex of the name or URL>.json`.
    pub fn file_name(&self) -> String {
        let (TokenKey::SsoSession(text) | TokenKey::StartUrl(text)) = self;
        format!("{}.json", hex(&Sha1::digest(text.as_bytes())))
    }
}

/// Why a cache file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The file exists but is not a usable token or registration: damaged,
    /// truncated, or written by another program. It is left where it is.
    #[error("{path} is not a usable cache file: {detail}")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Reading, writing or removing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done: "read", "write", "remove", "lock", "create".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// Another process held the refresh lock for too long.
    #[error("another process has held {path} for {waited:?}; if no ssoflow is running, try again")]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        waited: Duration,
    },
}

/// The SSO cache directory. Reads are lenient and never remove anything;
/// writes are atomic with mode 0600, creating the directory with mode 0700.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    /// The cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> TokenCache {
        TokenCache { dir: dir.into() }
    }

    /// `HOME/.aws/sso/cache`: the fixed place every AWS tool uses (§2).
    pub fn in_home(home: &Path) -> TokenCache {
        TokenCache::new(home.join(".aws").join("sso").join("cache"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the token for `key` lives.
    pub fn token_path(&self, key: &TokenKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// The token for `key`; `Ok(None)` when there is no file. A file that is
    /// there but unusable is an [`CacheError::Unusable`] naming it, for the
    /// caller to report and treat as "no token".
    pub fn read_token(&self, key: &TokenKey) -> Result<Option<CachedToken>, CacheError> {
        let path = self.token_path(key);
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(None);
        };
        CachedToken::parse(&bytes)
            .map(Some)
            .map_err(|detail| CacheError::Unusable { path, detail })
    }

    /// Writes the token for `key`, keeping members that another tool wrote
    /// into the file it replaces (a file that does not parse has none to keep).
    pub fn write_token(&self, key: &TokenKey, token: &CachedToken) -> Result<PathBuf, CacheError> {
        let path = self.token_path(key);
        let mut token = token.clone();
        if let Ok(Some(bytes)) = read_if_present(&path)
            && let Ok(existing) = CachedToken::parse(&bytes)
        {
            for (name, value) in existing.other_fields {
                token.other_fields.entry(name).or_insert(value);
            }
        }
        self.write(&path, &token.to_bytes())?;
        Ok(path)
    }

    /// Removes the token file for `key` if it is one (it parses and has an
    /// `accessToken`); a registration, a foreign or damaged file is left, and
    /// that is reported as `Unusable`. Returns whether a file was removed.
    pub fn remove_token(&self, key: &TokenKey) -> Result<bool, CacheError> {
        let path = self.token_path(key);
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(false);
        };
        if let Err(detail) = CachedToken::parse(&bytes) {
            return Err(CacheError::Unusable { path, detail });
        }
        remove_if_present(path)
    }

    /// Where the registration for `key` lives.
    pub fn registration_path(&self, key: &RegistrationKey) -> PathBuf {
        self.dir.join(key.file_name())
    }

    /// The registration for `key`, as [`TokenCache::read_token`] reads tokens.
    pub fn read_registration(
        &self,
        key: &RegistrationKey,
    ) -> Result<Option<CachedRegistration>, CacheError> {
        let path = self.registration_path(key);
        let Some(bytes) = read_if_present(&path)? else {
            return Ok(None);
        };
        CachedRegistration::parse(&bytes)
            .map(Some)
            .map_err(|detail| CacheError::Unusable { path, detail })
    }

    /// Writes the registration for `key`.
    pub fn write_registration(
        &self,
        key: &RegistrationKey,
        registration: &CachedRegistration,
    ) -> Result<PathBuf, CacheError> {
        let path = self.registration_path(key);
        self.write(&path, &registration.to_bytes())?;
        Ok(path)
    }

    /// Removes the registration for `key` if it is the one with `client_id`:
    /// the service rejected it, so no later sign-in (ours or the AWS CLI's)
    /// should reuse it. A file holding another registration (written since by
    /// another process) or one that does not parse is left alone. Returns
    /// whether a file was removed. (A registration written by another
    /// process between the check and the removal would be removed too; the
    /// next sign-in then registers anew, which costs one request.)
    pub fn remove_registration(
        &self,
        key: &RegistrationKey,
        client_id: &str,
    ) -> Result<bool, CacheError> {
        let path = self.registration_path(key);
        match self.read_registration(key) {
            Ok(Some(cached)) if cached.client_id == client_id => {}
            Ok(_) | Err(CacheError::Unusable { .. }) => return Ok(false),
            Err(other) => return Err(other),
        }
        remove_if_present(path)
    }

    /// Takes the advisory lock that serializes refreshes of `key`'s token
    /// across processes, waiting up to `timeout` for another holder. The lock
    /// file (`<token file>.lock`) stays; the lock ends when the guard drops.
    pub fn lock_refresh(
        &self,
        key: &TokenKey,
        timeout: Duration,
    ) -> Result<RefreshLock, CacheError> {
        lock_file(&self.dir, &self.lock_path(key), timeout).map(|file| RefreshLock { file })
    }

    /// The refresh lock if nobody holds it, else `None` at once; for callers
    /// that wait their own way (an async task sleeps on its runtime).
    pub fn try_lock_refresh(&self, key: &TokenKey) -> Result<Option<RefreshLock>, CacheError> {
        try_lock_file(&self.dir, &self.lock_path(key))
            .map(|file| file.map(|file| RefreshLock { file }))
    }

    /// Takes the lock that lets one process at a time sign in to `key`'s
    /// session (`<token file>.signin.lock`), waiting up to `timeout`: many
    /// processes that find no token make one sign-in, the others read its
    /// token afterwards. Separate from the refresh lock, which a sign-in's
    /// own token provider takes.
    pub fn lock_sign_in(
        &self,
        key: &TokenKey,
        timeout: Duration,
    ) -> Result<SignInLock, CacheError> {
        lock_file(&self.dir, &self.sign_in_lock_path(key), timeout).map(|file| SignInLock { file })
    }

    /// The sign-in lock if nobody holds it, else `None` at once: a caller
    /// that finds another process signing in waits for that one's result
    /// (with [`TokenCache::lock_sign_in`]) rather than signing in after it.
    pub fn try_lock_sign_in(&self, key: &TokenKey) -> Result<Option<SignInLock>, CacheError> {
        try_lock_file(&self.dir, &self.sign_in_lock_path(key))
            .map(|file| file.map(|file| SignInLock { file }))
    }

    fn sign_in_lock_path(&self, key: &TokenKey) -> PathBuf {
        self.dir.join(format!("{}.signin.lock", key.file_name()))
    }

    fn lock_path(&self, key: &TokenKey) -> PathBuf {
        self.dir.join(format!("{}.lock", key.file_name()))
    }

    fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
        write_cache_file(&self.dir, path, bytes)
    }
}

/// Creates a cache directory (0700) if needed, and refuses one that every
/// user may write without the sticky bit: anyone could then swap our files
/// between our write and the AWS CLI's read.
pub(crate) fn create_cache_dir(dir: &Path) -> Result<(), CacheError> {
    create_private_dir(dir).map_err(|source| CacheError::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir)
            .map_err(|source| CacheError::Io {
                action: "read",
                path: dir.to_owned(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o002 != 0 && mode & 0o1000 == 0 {
            return Err(CacheError::Unusable {
                path: dir.to_owned(),
                detail: format!(
                    "every user may write this directory (mode {:o}); fix it with chmod 700",
                    mode & 0o777
                ),
            });
        }
    }
    Ok(())
}

/// Writes `path` in the cache directory `dir` atomically, mode 0600.
pub(crate) fn write_cache_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), CacheError> {
    create_cache_dir(dir)?;
    write_atomically(path, bytes).map_err(|source| CacheError::Io {
        action: "write",
        path: path.to_owned(),
        source,
    })
}

/// Takes the advisory lock on the lock file `path` in the cache directory
/// `dir`, retrying every [`LOCK_RETRY`] for up to `timeout`. The file stays
/// behind; the operating system drops the lock with the returned handle, or
/// when the process dies.
pub(crate) fn lock_file(dir: &Path, path: &Path, timeout: Duration) -> Result<File, CacheError> {
    let started = Instant::now();
    loop {
        if let Some(file) = try_lock_file(dir, path)? {
            return Ok(file);
        }
        if started.elapsed() >= timeout {
            return Err(CacheError::LockTimeout {
                path: path.to_owned(),
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(LOCK_RETRY);
    }
}

/// The lock on `path` if nobody holds it, else `None` at once.
pub(crate) fn try_lock_file(dir: &Path, path: &Path) -> Result<Option<File>, CacheError> {
    create_cache_dir(dir)?;
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|source| CacheError::Io {
        action: "lock",
        path: path.to_owned(),
        source,
    })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(source)) => Err(CacheError::Io {
            action: "lock",
            path: path.to_owned(),
            source,
        }),
    }
}

/// Held while this process signs in to a session; see
/// [`TokenCache::lock_sign_in`]. The operating system releases it if the
/// process dies.
#[derive(Debug)]
pub struct SignInLock {
    file: File,
}

/// Held while this process refreshes a token; dropping it lets the next
/// process in. The operating system releases it if the process dies.
///
/// The lock file also remembers when a refresh was last tried, so that
/// processes that come one after another (each `ssoflow token` is one) keep
/// to the at-most-one-attempt-per-interval rule together.
#[derive(Debug)]
pub struct RefreshLock {
    file: File,
}

impl RefreshLock {
    /// When the last refresh attempt started, by whichever process; `None`
    /// if never (or the lock file holds anything else).
    pub fn last_attempt(&self) -> Option<std::time::SystemTime> {
        read_time(&self.file)
    }

    /// Records that a refresh attempt starts at `at`.
    pub fn record_attempt(&mut self, at: std::time::SystemTime) -> std::io::Result<()> {
        write_time(&mut self.file, at)
    }
}

impl SignInLock {
    /// When a sign-in last failed, by whichever process; `None` if none did
    /// (or the lock file holds anything else). A process that waited for
    /// the lock and finds a failure after it started waiting does not
    /// prompt the person again.
    pub fn last_failure(&self) -> Option<std::time::SystemTime> {
        read_time(&self.file)
    }

    /// Records that a sign-in failed at `at`.
    pub fn record_failure(&mut self, at: std::time::SystemTime) -> std::io::Result<()> {
        write_time(&mut self.file, at)
    }
}

/// The time a lock file remembers.
fn read_time(file: &File) -> Option<std::time::SystemTime> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut (&*file), &mut text).ok()?;
    crate::timestamp::parse(text.trim()).ok()
}

fn write_time(file: &mut File, at: std::time::SystemTime) -> std::io::Result<()> {
    use std::io::{Seek, Write};
    file.set_len(0)?;
    file.seek(std::io::SeekFrom::Start(0))?;
    file.write_all(crate::timestamp::format(at).as_bytes())
}

/// Cache files are a few KiB; anything larger is not one of them, and is not
/// read into memory whole.
const MAX_CACHE_FILE: u64 = 1024 * 1024;

/// Reads a cache file if it is one to trust: a regular file (a symbolic link
/// could point anywhere another user chose), not writable by every user, and
/// no larger than [`MAX_CACHE_FILE`]. Otherwise it is `Unusable`, with why.
pub(crate) fn read_if_present(path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
    let io = |source| CacheError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let unusable = |detail: String| CacheError::Unusable {
        path: path.to_owned(),
        detail,
    };
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io(source)),
    };
    if metadata.file_type().is_symlink() {
        return Err(unusable(
            "it is a symbolic link, and ssoflow does not follow links in the AWS caches".into(),
        ));
    }
    if !metadata.is_file() {
        return Err(unusable("it is not a regular file".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o002 != 0 {
            return Err(unusable(format!(
                "every user may write it (mode {mode:o}), so its contents cannot be trusted; remove it"
            )));
        }
    }
    if metadata.len() > MAX_CACHE_FILE {
        return Err(unusable(format!(
            "it is {} bytes, far more than a cache file holds",
            metadata.len()
        )));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(io)?;
    // The file may grow between the check and the read.
    std::io::Read::read_to_end(
        &mut std::io::Read::take(file, MAX_CACHE_FILE + 1),
        &mut bytes,
    )
    .map_err(io)?;
    if bytes.len() as u64 > MAX_CACHE_FILE {
        return Err(unusable(
            "it grew past the size of a cache file while being read".into(),
        ));
    }
    Ok(Some(bytes))
}

/// Removes `path`; `false` if it was already gone.
pub(crate) fn remove_if_present(path: PathBuf) -> Result<bool, CacheError> {
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CacheError::Io {
            action: "remove",
            path,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_lock_excludes_others_and_remembers_the_last_attempt() {
        let dir = std::env::temp_dir().join(format!("ssoflow-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cache = TokenCache::new(&dir);
        let key = TokenKey::SsoSession("s".into());
        let mut held = cache.lock_refresh(&key, Duration::ZERO).unwrap();
        assert_eq!(held.last_attempt(), None);
        let error = cache
            .lock_refresh(&key, Duration::from_millis(60))
            .unwrap_err();
        assert!(matches!(error, CacheError::LockTimeout { .. }), "{error}");
        let at = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        held.record_attempt(at).unwrap();
        drop(held);
        let again = cache.lock_refresh(&key, Duration::ZERO).unwrap();
        assert_eq!(again.last_attempt(), Some(at));
    }

    fn scratch(name: &str) -> TokenCache {
        let dir = std::env::temp_dir().join(format!("ssoflow-cache-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TokenCache::new(dir)
    }

    const TOKEN: &[u8] = br#"{"accessToken": "aoa", "expiresAt": "2030-01-01T00:00:00Z"}"#;

    #[test]
    fn a_rejected_registration_is_removed_only_if_it_is_still_the_cached_one() {
        let cache = scratch("remove-registration");
        let key = RegistrationKey {
            region: "us-east-1".into(),
            configured_scopes: None,
            session_name: Some("s".into()),
            start_url: "https://d-1234567890.awsapps.com/start".into(),
        };
        let registration = |client_id: &str| {
            CachedRegistration::parse(
                format!(
                    r#"{{"clientId": "{client_id}", "clientSecret": "x", "expiresAt": "2030-01-01T00:00:00Z"}}"#
                )
                .as_bytes(),
            )
            .unwrap()
        };
        assert!(!cache.remove_registration(&key, "old").unwrap(), "none yet");
        cache
            .write_registration(&key, &registration("new"))
            .unwrap();
        assert!(
            !cache.remove_registration(&key, "old").unwrap(),
            "another one"
        );
        assert!(cache.registration_path(&key).exists());
        assert!(cache.remove_registration(&key, "new").unwrap());
        assert!(!cache.registration_path(&key).exists());
        assert_eq!(cache.read_registration(&key).unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_token_file_is_not_followed_for_reading_or_writing() {
        let cache = scratch("symlink");
        let key = TokenKey::SsoSession("s".into());
        let elsewhere = cache.dir().join("elsewhere.txt");
        std::fs::write(&elsewhere, TOKEN).unwrap();
        std::os::unix::fs::symlink(&elsewhere, cache.token_path(&key)).unwrap();
        let error = cache.read_token(&key).unwrap_err().to_string();
        assert!(error.contains("symbolic link"), "{error}");
        assert!(cache.remove_token(&key).is_err(), "not ours to remove");
        // Writing replaces the link itself; the file it pointed to is untouched.
        let token = CachedToken::parse(TOKEN).unwrap();
        cache.write_token(&key, &token).unwrap();
        assert!(
            !std::fs::symlink_metadata(cache.token_path(&key))
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&elsewhere).unwrap(), TOKEN);
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_files_and_directories_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let cache = scratch("writable");
        let key = TokenKey::SsoSession("s".into());
        std::fs::write(cache.token_path(&key), TOKEN).unwrap();
        std::fs::set_permissions(
            cache.token_path(&key),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        let error = cache.read_token(&key).unwrap_err().to_string();
        assert!(error.contains("every user may write it"), "{error}");

        std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let token = CachedToken::parse(TOKEN).unwrap();
        let error = cache.write_token(&key, &token).unwrap_err().to_string();
        assert!(error.contains("chmod 700"), "{error}");
        // With the sticky bit (as /tmp has) others cannot replace our files.
        std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        cache.write_token(&key, &token).unwrap();
    }

    #[test]
    fn a_giant_file_is_not_read() {
        let cache = scratch("giant");
        let key = TokenKey::SsoSession("s".into());
        let file = std::fs::File::create(cache.token_path(&key)).unwrap();
        file.set_len(100 * 1024 * 1024).unwrap();
        let error = cache.read_token(&key).unwrap_err().to_string();
        assert!(error.contains("104857600 bytes"), "{error}");
    }

    #[test]
    fn token_file_names_match_the_spec_vectors() {
        let cases = [
            (
                TokenKey::SsoSession("admin".into()),
                "d033e22ae348aeb5660fc2140aec35850c4da997",
            ),
            (
                TokenKey::SsoSession("dev-scopes".into()),
                "75e4d41276d8bd17f85986fc6cccef29fd725ce3",
            ),
            (
                TokenKey::StartUrl("https://d-92671207e4.awsapps.com/start".into()),
                "13f9d35043871d073ab260e020f0ffde092cb14b",
            ),
            (
                TokenKey::SsoSession("test".into()),
                "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            ),
            (
                TokenKey::SsoSession("my-sso".into()),
                "0ad374308c5a4e22f723adf10145eafad7c4031c",
            ),
            (
                TokenKey::StartUrl("https://my-sso-portal.awsapps.com/start".into()),
                "c7aaaf71fcc8777ae2475525ed049d39fe16c484",
            ),
            (
                TokenKey::StartUrl("https://my-sso-portal.awsapps.com/start/".into()),
                "281a1863574b3787533891e49521f808d4fc0d51",
            ),
            (
                TokenKey::StartUrl("https://my-sso-portal.awsapps.com/start#/".into()),
                "dbb58223772e9bae116ca5a3d089fdc0858ca302",
            ),
            (
                TokenKey::SsoSession("café".into()),
                "f424452a9673918c6f09b0cdd35b20be8e6ae7d7",
            ),
        ];
        for (key, hex) in cases {
            assert_eq!(key.file_name(), format!("{hex}.json"), "{key:?}");
        }
    }
}
