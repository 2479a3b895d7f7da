//! The role-credential cache on disk (`portal-api.md` §10): the AWS CLI's
//! bytes and names, damaged entries as misses, logout's removal, and the
//! guarantees that hold across threads and processes — no reader ever sees a
//! torn file, not even when a writer is killed mid-write, and twenty
//! processes that want one role's credentials fetch them once.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssoflow_core::portal::RoleCredentials;
use ssoflow_core::secret::{SecretAccessKey, SessionToken};
use ssoflow_files::{CacheError, CachedRoleCredentials, RoleCache, RoleCacheKey};

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ssoflow-role-cache-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn key() -> RoleCacheKey {
    RoleCacheKey {
        account_id: "111122223333".into(),
        role_name: "SampleRole".into(),
        session_name: Some("my-sso".into()),
        start_url: "https://my-sso-portal.awsapps.com/start".into(),
    }
}

fn credentials(marker: &str, expiration: SystemTime) -> CachedRoleCredentials {
    CachedRoleCredentials::from_credentials(&RoleCredentials {
        access_key_id: format!("ASIA{marker}"),
        secret_access_key: SecretAccessKey::new(format!("secret-{marker}")),
        session_token: SessionToken::new(format!("token-{marker}")),
        expiration,
        account_id: "111122223333".into(),
    })
}

fn in_an_hour() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

/// `portal-api.md` §15.3.
const SPEC_FILE: &str = r#"{"ProviderType": "sso", "Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "Expiration": "2030-06-01T13:00:00Z", "AccountId": "111122223333"}}"#;

#[test]
fn the_spec_entry_is_written_where_and_as_the_aws_cli_writes_it() {
    let dir = scratch("spec");
    let cache = RoleCache::new(dir.join("cli").join("cache"));
    let written = CachedRoleCredentials::from_credentials(&RoleCredentials {
        access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: SecretAccessKey::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        session_token: SessionToken::new("IQoJb3JpZ2luX2VjEXAMPLE"),
        expiration: UNIX_EPOCH + Duration::from_millis(1_906_549_200_000),
        account_id: "111122223333".into(),
    });
    let path = cache.write(&key(), &written).unwrap();
    assert_eq!(
        path,
        cache
            .dir()
            .join("5a6d67f0141c391d87d6e15ac122ad86af2cdb81.json")
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), SPEC_FILE);
    assert_eq!(cache.read(&key()).unwrap(), Some(written));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(cache.dir()), 0o700);
        assert_eq!(mode(&dir.join("cli")), 0o700);
    }
    assert_eq!(
        RoleCache::in_home(Path::new("/home/me")).dir(),
        Path::new("/home/me/.aws/cli/cache")
    );
}

/// §15.4: 16 minutes left → reused; 14 → fetched anew; the token plays no part.
#[test]
fn entries_are_reused_only_with_fifteen_minutes_left() {
    let cache = RoleCache::new(scratch("reuse"));
    let now = SystemTime::now();
    assert_eq!(cache.read_fresh(&key(), now), None, "no entry yet");
    let sixteen = credentials("A", now + Duration::from_secs(16 * 60));
    cache.write(&key(), &sixteen).unwrap();
    let reused = cache.read_fresh(&key(), now).unwrap();
    // Written in whole seconds.
    assert!(
        sixteen
            .expiration
            .duration_since(reused.expiration)
            .unwrap()
            < Duration::from_secs(1)
    );
    cache
        .write(
            &key(),
            &credentials("B", now + Duration::from_secs(14 * 60)),
        )
        .unwrap();
    assert_eq!(cache.read_fresh(&key(), now), None);
    assert!(
        cache.read(&key()).unwrap().is_some(),
        "still there, just not fresh"
    );
}

#[test]
fn a_damaged_entry_is_a_miss_and_the_next_write_replaces_it() {
    let cache = RoleCache::new(scratch("damaged"));
    let good = credentials("A", in_an_hour());
    cache.write(&key(), &good).unwrap();
    let path = cache.path(&key());
    let full = std::fs::read(&path).unwrap();
    // What an interrupted in-place writer (the AWS CLI) can leave behind.
    for damaged in [
        &b""[..],
        &full[..full.len() / 2],
        b"{\"ProviderType\": \"sso\"}",
        b"\x00\xff",
    ] {
        std::fs::write(&path, damaged).unwrap();
        assert_eq!(cache.read_fresh(&key(), SystemTime::now()), None);
        match cache.read(&key()) {
            Err(CacheError::Unusable { path: named, .. }) => assert_eq!(named, path),
            other => panic!("{other:?}"),
        }
        cache.write(&key(), &good).unwrap();
        assert!(cache.read_fresh(&key(), SystemTime::now()).is_some());
    }
}

#[cfg(unix)]
#[test]
fn entries_not_to_trust_are_misses_too() {
    use std::os::unix::fs::PermissionsExt;
    let cache = RoleCache::new(scratch("trust"));
    std::fs::create_dir_all(cache.dir()).unwrap();
    let elsewhere = cache.dir().join("elsewhere.txt");
    std::fs::write(&elsewhere, credentials("A", in_an_hour()).to_bytes()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, cache.path(&key())).unwrap();
    assert_eq!(cache.read_fresh(&key(), SystemTime::now()), None);
    let error = cache.read(&key()).unwrap_err().to_string();
    assert!(error.contains("symbolic link"), "{error}");
    // Removing the entry removes the link, not what it points to.
    assert!(cache.remove(&key()).unwrap());
    assert!(elsewhere.exists());
    assert!(!cache.remove(&key()).unwrap());

    cache
        .write(&key(), &credentials("A", in_an_hour()))
        .unwrap();
    std::fs::set_permissions(cache.path(&key()), std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(cache.read_fresh(&key(), SystemTime::now()), None);
    std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let error = cache
        .write(&key(), &credentials("A", in_an_hour()))
        .unwrap_err()
        .to_string();
    assert!(error.contains("chmod 700"), "{error}");
}

#[test]
fn logout_removes_the_sso_entries_and_nothing_else() {
    let cache = RoleCache::new(scratch("logout"));
    assert!(
        cache.sso_entries().unwrap().is_empty(),
        "no directory, no entries"
    );
    assert!(cache.remove_sso_entries().unwrap().is_empty());
    let ours = cache
        .write(&key(), &credentials("A", in_an_hour()))
        .unwrap();
    let mut other = key();
    other.role_name = "ReadOnly".into();
    let theirs = cache.path(&other);
    // An older AWS CLI's entry, without AccountId, and compactly written.
    std::fs::write(
        &theirs,
        r#"{"ProviderType":"sso","Credentials":{"AccessKeyId":"A","SecretAccessKey":"s","SessionToken":"t","Expiration":"2030-01-01T00:00:00+00:00"}}"#,
    )
    .unwrap();
    let marked_but_broken = cache.dir().join("broken.json");
    std::fs::write(&marked_but_broken, r#"{"ProviderType": "sso"}"#).unwrap();
    let keep = [
        // An assume-role entry: no ProviderType.
        (
            "assume.json",
            r#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-01-01T00:00:00Z"}}"#,
        ),
        ("other-provider.json", r#"{"ProviderType": "login"}"#),
        ("damaged.json", r#"{"ProviderType": "sso""#),
        ("notes.txt", r#"{"ProviderType": "sso"}"#),
        (".in-progress.json", r#"{"ProviderType": "sso"}"#),
    ];
    for (name, text) in keep {
        std::fs::write(cache.dir().join(name), text).unwrap();
    }
    drop(cache.lock_fetch(&key(), Duration::ZERO).unwrap());

    let entries = cache.sso_entries().unwrap();
    let mut expected = vec![ours.clone(), theirs.clone(), marked_but_broken.clone()];
    expected.sort();
    assert_eq!(
        entries.iter().map(|e| e.path.clone()).collect::<Vec<_>>(),
        expected
    );
    for entry in &entries {
        assert_eq!(
            entry.credentials.is_some(),
            entry.path != marked_but_broken,
            "{entry:?}"
        );
    }
    let removed = cache.remove_sso_entries().unwrap();
    assert_eq!(removed, expected);
    for (name, _) in keep {
        assert!(cache.dir().join(name).exists(), "{name}");
    }
    assert!(cache.lock_path(&key()).exists(), "the lock file stays");
    assert!(cache.sso_entries().unwrap().is_empty());
}

#[test]
fn the_fetch_lock_excludes_others_until_dropped() {
    let cache = RoleCache::new(scratch("lock"));
    let held = cache.lock_fetch(&key(), Duration::ZERO).unwrap();
    assert_eq!(
        cache.lock_path(&key()),
        cache
            .dir()
            .join("5a6d67f0141c391d87d6e15ac122ad86af2cdb81.json.lock")
    );
    assert!(cache.try_lock_fetch(&key()).unwrap().is_none());
    let error = cache
        .lock_fetch(&key(), Duration::from_millis(60))
        .unwrap_err();
    assert!(matches!(error, CacheError::LockTimeout { .. }), "{error}");
    // Another role's lock is another file.
    let mut other = key();
    other.account_id = "444455556666".into();
    assert!(cache.try_lock_fetch(&other).unwrap().is_some());
    drop(held);
    // Not `try_lock_fetch`: a process that other tests fork at this moment
    // holds a copy of the descriptor until it execs, and the lock with it.
    cache.lock_fetch(&key(), Duration::from_secs(10)).unwrap();
}

/// Writers replace one entry over and over while readers read it: every
/// read finds one whole entry that some writer wrote, never a mix or a
/// fragment. The values are large, so a non-atomic write would be caught
/// half done.
#[test]
fn concurrent_writers_never_show_a_torn_entry() {
    let cache = RoleCache::new(scratch("torn"));
    let value = |writer: usize, round: usize| {
        let marker = format!("{writer}x{round}y").repeat(20_000);
        credentials(&marker, in_an_hour())
    };
    cache.write(&key(), &value(0, 0)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..3)
            .map(|writer| {
                let cache = &cache;
                scope.spawn(move || {
                    for round in 0..40 {
                        cache.write(&key(), &value(writer, round)).unwrap();
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (cache, done) = (&cache, &done);
                scope.spawn(move || {
                    let mut reads = 0;
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        let read = cache.read(&key()).unwrap().expect("the entry stays");
                        let marker = read.access_key_id.strip_prefix("ASIA").unwrap();
                        let unit = &marker[..marker.find('y').unwrap() + 1];
                        assert_eq!(marker, unit.repeat(20_000), "a mixed entry");
                        assert_eq!(read.secret_access_key.secret(), format!("secret-{marker}"));
                        assert_eq!(read.session_token.secret(), format!("token-{marker}"));
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    });
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [key().file_name()]);
    let _ = std::fs::remove_dir_all(cache.dir());
}

/// The variable that turns this test binary into a helper process.
const CHILD: &str = "SSOFLOW_ROLE_CACHE_TEST_CHILD";

/// Not a test of its own: the body of the helper processes the tests below
/// start (this binary, run with [`CHILD`] set). Without it, it does nothing.
#[test]
fn child_process() {
    let Ok(job) = std::env::var(CHILD) else {
        return;
    };
    let (kind, dir) = job.split_once(':').unwrap();
    let cache = RoleCache::new(dir);
    match kind {
        // Wait for the go file, then get the role's credentials as a
        // provider does: fresh entry, else lock, read again, fetch, write.
        "fetch" => {
            let go = Path::new(dir).join("go");
            while !go.exists() {
                std::thread::sleep(Duration::from_millis(1));
            }
            if cache.read_fresh(&key(), SystemTime::now()).is_some() {
                return;
            }
            let _lock = cache.lock_fetch(&key(), Duration::from_secs(60)).unwrap();
            if cache.read_fresh(&key(), SystemTime::now()).is_some() {
                return;
            }
            let mut calls = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(Path::new(dir).join("calls"))
                .unwrap();
            writeln!(calls, "GetRoleCredentials by {}", std::process::id()).unwrap();
            // The call takes a while; the others queue on the lock meanwhile.
            std::thread::sleep(Duration::from_millis(200));
            cache
                .write(&key(), &credentials("fetched", in_an_hour()))
                .unwrap();
        }
        // Rewrite the entry until killed.
        "write" => {
            for round in 0.. {
                let marker = format!("{round}y").repeat(20_000);
                cache
                    .write(&key(), &credentials(&marker, in_an_hour()))
                    .unwrap();
            }
        }
        other => panic!("unknown job {other}"),
    }
}

fn start_child(job: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--test-threads=1", "--quiet"])
        .env(CHILD, format!("{job}:{}", dir.display()))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Twenty processes that want one role's credentials at the same moment
/// make one GetRoleCredentials call between them; the others wait on the
/// lock and then find the entry the first one wrote.
#[test]
fn twenty_processes_fetch_one_roles_credentials_once() {
    let dir = scratch("twenty");
    std::fs::create_dir_all(&dir).unwrap();
    let children: Vec<_> = (0..20).map(|_| start_child("fetch", &dir)).collect();
    std::fs::write(dir.join("go"), b"").unwrap();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
    assert_eq!(calls.lines().count(), 1, "{calls}");
    let cache = RoleCache::new(&dir);
    assert_eq!(
        cache
            .read_fresh(&key(), SystemTime::now())
            .unwrap()
            .access_key_id,
        "ASIAfetched"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A writer killed at arbitrary moments never leaves a torn entry: the entry
/// is always the last complete write.
#[test]
fn a_writer_killed_mid_write_leaves_a_whole_entry() {
    let dir = scratch("kill");
    let cache = RoleCache::new(&dir);
    cache
        .write(&key(), &credentials("before", in_an_hour()))
        .unwrap();
    let mut rewritten = 0;
    for delay in [3, 7, 11, 17, 23, 31, 41, 53, 80, 120] {
        let mut child = start_child("write", &dir);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        let read = cache
            .read(&key())
            .unwrap_or_else(|e| panic!("after {delay} ms: {e}"))
            .unwrap();
        let marker = read.access_key_id.strip_prefix("ASIA").unwrap();
        if marker != "before" {
            let unit = &marker[..marker.find('y').unwrap() + 1];
            assert_eq!(marker, unit.repeat(20_000), "after {delay} ms");
            rewritten += 1;
        }
    }
    assert!(
        rewritten > 0,
        "no writer got as far as one write: the test saw nothing"
    );
    // Only temporary files (hidden, never read as entries) may be left over.
    for name in std::fs::read_dir(&dir).unwrap() {
        let name = name.unwrap().file_name().into_string().unwrap();
        assert!(name == key().file_name() || name.starts_with('.'), "{name}");
    }
    assert_eq!(cache.sso_entries().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
