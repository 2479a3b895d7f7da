//! Target `cache_files`: any bytes as an SSO token cache file
//! (`CachedToken::parse`) and as a client-registration cache file
//! (`CachedRegistration::parse`), plus the registration cache's file name.
//!
//! Checked: no panic; no file is both a token and a registration; what
//! parses writes back (`to_bytes`) as bytes that parse to the same value
//! (timestamps cut to whole seconds, as the AWS CLI writes them) and that a
//! second write reproduces exactly; `Debug` does not depend on the secrets;
//! a refresh with the file's own token changes nothing; a registration file
//! name is always `<40 hex digits>.json`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssoflow_core::secret::{AccessToken, ClientSecret, RefreshToken};
use ssoflow_files::{CachedRegistration, CachedToken, RegistrationKey};

pub fn run(data: &[u8]) {
    let token = check_token(data);
    let registration = check_registration(data);
    assert!(
        !(token && registration),
        "the same file reads as a token and as a registration"
    );
    check_key(data);
}

/// `t` without its fraction of a second: what a write keeps.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Another value of the same length, differing at every position.
fn swap(secret: &str) -> String {
    secret
        .chars()
        .map(|c| if c == 'Q' { 'R' } else { 'Q' })
        .collect()
}

fn check_token(data: &[u8]) -> bool {
    let Ok(token) = CachedToken::parse(data) else {
        return false;
    };
    let written = token.to_bytes();
    let back = CachedToken::parse(&written).unwrap_or_else(|e| {
        panic!(
            "a token file as written does not parse: {e}\n{}",
            String::from_utf8_lossy(&written)
        )
    });
    let mut expected = token.clone();
    expected.expires_at = whole_seconds(expected.expires_at);
    expected.registration_expires_at = expected.registration_expires_at.map(whole_seconds);
    assert!(
        back == expected,
        "a token file does not survive a write: {expected:?} became {back:?}\n{}",
        String::from_utf8_lossy(&written)
    );
    assert_eq!(
        back.to_bytes(),
        written,
        "a second write differs from the first"
    );

    let mut other = token.clone();
    other.access_token = AccessToken::new(swap(token.access_token.secret()));
    other.refresh_token = token
        .refresh_token
        .as_ref()
        .map(|t| RefreshToken::new(swap(t.secret())));
    other.client_secret = token
        .client_secret
        .as_ref()
        .map(|s| ClientSecret::new(swap(s.secret())));
    assert_eq!(
        format!("{token:?}"),
        format!("{other:?}"),
        "Debug shows a secret"
    );

    let refreshable = token.refresh_token.is_some()
        && token.client_id.is_some()
        && token.client_secret.is_some()
        && token.registration_expires_at.is_some();
    match token.refreshable() {
        Some(t) => {
            assert!(refreshable);
            assert!(
                token.refreshed_with(&t) == token,
                "refreshing with its own token changed it"
            );
            let rebuilt = CachedToken::from_token(&t, "https://x.awsapps.com/start", "us-east-1");
            assert!(CachedToken::parse(&rebuilt.to_bytes()).is_ok());
        }
        None => assert!(!refreshable, "a complete token file is not refreshable"),
    }
    true
}

fn check_registration(data: &[u8]) -> bool {
    let Ok(registration) = CachedRegistration::parse(data) else {
        return false;
    };
    let written = registration.to_bytes();
    let back = CachedRegistration::parse(&written).unwrap_or_else(|e| {
        panic!(
            "a registration file as written does not parse: {e}\n{}",
            String::from_utf8_lossy(&written)
        )
    });
    let mut expected = registration.clone();
    expected.expires_at = whole_seconds(expected.expires_at);
    assert!(
        back == expected,
        "a registration file does not survive a write: {expected:?} became {back:?}"
    );
    assert_eq!(
        back.to_bytes(),
        written,
        "a second write differs from the first"
    );

    let mut other = registration.clone();
    other.client_secret = ClientSecret::new(swap(registration.client_secret.secret()));
    assert_eq!(
        format!("{registration:?}"),
        format!("{other:?}"),
        "Debug shows the client secret"
    );

    let scopes = ["sso:account:access".to_owned()];
    let as_flows_take_it = registration.to_registration(&scopes);
    assert!(as_flows_take_it.client_secret == registration.client_secret);
    let pkce = registration
        .grant_types
        .as_ref()
        .is_some_and(|g| g.iter().any(|g| g == "authorization_code"));
    assert_eq!(
        as_flows_take_it.is_for_authorization_code(),
        pkce,
        "the grant types were lost on the way to the flows"
    );
    true
}

fn check_key(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().map(str::to_owned);
    let region = next().unwrap_or_default();
    let start_url = next().unwrap_or_default();
    let session_name = next();
    let configured_scopes = next().map(|s| s.split(',').map(str::to_owned).collect());
    let key = RegistrationKey {
        region,
        configured_scopes,
        session_name,
        start_url,
    };
    let name = key.file_name();
    let hex = name.strip_suffix(".json").expect("a .json file name");
    assert!(
        hex.len() == 40
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{name}"
    );
    assert_eq!(key.clone().file_name(), name);
}
