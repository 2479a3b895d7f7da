//! The AWS CLI's files: the token cache file (parse, serialize, and a whole
//! `TokenCache` write and read in a temporary directory), the registration
//! file, the cache-key hashes that name the files, and the config file of a
//! typical `~/.aws/config` (parse, then what `ssoflow token` and
//! `ssoflow credentials` resolve from it).
//!
//! Opaque values have the real service's sizes (a ~1 KiB client secret,
//! 259-character tokens), as in the files the AWS CLI writes.
//!
//! `cargo bench -p ssoflow-files`; short: `-- --warm-up-time 1 --measurement-time 2`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use ssoflow_core::secret::{AccessToken, ClientSecret, RefreshToken};
use ssoflow_core::{Registration, Token};
use ssoflow_files::config::{ConfigFile, Environment, Selector};
use ssoflow_files::{
    CachedRegistration, CachedToken, RegistrationKey, RoleCacheKey, TokenCache, TokenKey,
};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const REGION: &str = "us-east-1";

/// `len` characters of base64url, deterministic.
fn opaque(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::from(prefix);
    let mut x: u32 = 0x9e37_79b9;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.push(char::from(ALPHABET[(x % 64) as usize]));
    }
    s
}

fn registration() -> Registration {
    Registration {
        client_id: opaque("", 34),
        client_secret: ClientSecret::new(format!(
            "eyJraWQiOiJrZXktMTU2NDAyODA5OSIsImFsZyI6IkhTMzg0In0.{}.{}",
            opaque("", 960),
            opaque("", 64)
        )),
        expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_774_998_000),
        scopes: vec!["sso:account:access".to_owned()],
        grant_types: Vec::new(),
    }
}

/// A token file as a refreshable sign-in leaves it.
fn cached_token() -> CachedToken {
    let token = Token {
        access_token: AccessToken::new(opaque("aoa", 259)),
        refresh_token: Some(RefreshToken::new(opaque("aor", 259))),
        expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_229_200),
        registration: registration(),
    };
    CachedToken::from_token(&token, START_URL, REGION)
}

/// A typical `~/.aws/config`: a default profile, two sso-sessions, five SSO
/// profiles (one legacy), a non-SSO profile and a services section.
const CONFIG: &str = r#"[default]
region = us-east-1
output = json

[sso-session my-sso]
sso_start_url = https://d-1234567890.awsapps.com/start
sso_region = us-east-1
sso_registration_scopes = sso:account:access

[sso-session other-org]
sso_start_url = https://other-org.awsapps.com/start/#/
sso_region = eu-west-1

[profile dev]
sso_session = my-sso
sso_account_id = 111122223333
sso_role_name = AdministratorAccess
region = us-west-2
output = json

[profile dev-readonly]
sso_session = my-sso
sso_account_id = 111122223333
sso_role_name = ReadOnlyAccess
region = us-west-2

[profile prod]
sso_session = my-sso
sso_account_id = 444455556666
sso_role_name = ReadOnlyAccess
region = us-east-1
cli_pager =

[profile billing]
sso_session = other-org
sso_account_id = 777788889999
sso_role_name = Billing
region = eu-west-1

[profile legacy]
sso_start_url = https://d-1234567890.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = PowerUserAccess
region = us-east-2

[profile ci]
role_arn = arn:aws:iam::111122223333:role/ci
source_profile = dev
s3 =
  max_concurrent_requests = 20
  multipart_threshold = 64MB

[services local-oidc]
sso-oidc =
  endpoint_url = http://127.0.0.1:8080
"#;

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("ssoflow-bench-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn token_file(c: &mut Criterion) {
    let token = cached_token();
    let bytes = token.to_bytes();
    c.bench_function("token_file/parse", |b| {
        b.iter(|| CachedToken::parse(black_box(&bytes)).unwrap());
    });
    c.bench_function("token_file/serialize", |b| {
        b.iter(|| black_box(&token).to_bytes());
    });

    let temp = TempDir::new();
    let cache = TokenCache::new(temp.0.join("sso").join("cache"));
    let key = TokenKey::SsoSession("my-sso".to_owned());
    // write_token reads the file it replaces (to keep other tools' members),
    // then writes atomically: temporary file, fsync, rename, fsync the directory.
    c.bench_function("token_cache/write_token (atomic, fsync)", |b| {
        b.iter(|| cache.write_token(black_box(&key), &token).unwrap());
    });
    c.bench_function("token_cache/read_token", |b| {
        b.iter(|| cache.read_token(black_box(&key)).unwrap().unwrap());
    });
}

fn registration_file(c: &mut Criterion) {
    let bytes = CachedRegistration::from_registration(&registration(), true).to_bytes();
    c.bench_function("registration_file/parse", |b| {
        b.iter(|| CachedRegistration::parse(black_box(&bytes)).unwrap());
    });
}

fn cache_keys(c: &mut Criterion) {
    let session = TokenKey::SsoSession("my-sso".to_owned());
    let start_url = TokenKey::StartUrl(START_URL.to_owned());
    let registration = RegistrationKey {
        region: REGION.to_owned(),
        configured_scopes: Some(vec!["sso:account:access".to_owned()]),
        session_name: Some("my-sso".to_owned()),
        start_url: START_URL.to_owned(),
    };
    let role = RoleCacheKey {
        account_id: "111122223333".to_owned(),
        role_name: "AdministratorAccess".to_owned(),
        session_name: Some("my-sso".to_owned()),
        start_url: START_URL.to_owned(),
    };
    c.bench_function("cache_key/token file name (sso-session)", |b| {
        b.iter(|| black_box(&session).file_name());
    });
    c.bench_function("cache_key/token file name (start URL)", |b| {
        b.iter(|| black_box(&start_url).file_name());
    });
    c.bench_function("cache_key/registration file name", |b| {
        b.iter(|| black_box(&registration).file_name());
    });
    c.bench_function("cache_key/role cache file name", |b| {
        b.iter(|| black_box(&role).file_name());
    });
}

fn config_file(c: &mut Criterion) {
    c.bench_function("config/parse (8 sections, 5 SSO profiles)", |b| {
        b.iter(|| ConfigFile::parse(black_box(CONFIG), "~/.aws/config").unwrap());
    });
    let config = ConfigFile::parse(CONFIG, "~/.aws/config").unwrap();
    let env = Environment::default();
    let dev = Selector::Profile("dev".to_owned());
    c.bench_function("config/sso_settings (profile with sso-session)", |b| {
        b.iter(|| config.sso_settings(black_box(&dev), &env).unwrap());
    });
    c.bench_function("config/role_settings (profile with sso-session)", |b| {
        b.iter(|| config.role_settings(black_box(&dev), &env).unwrap());
    });
}

criterion_group!(
    benches,
    token_file,
    registration_file,
    cache_keys,
    config_file
);
criterion_main!(benches);
