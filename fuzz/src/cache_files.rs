//! Target `cache_files`: any bytes as an SSO token cache file
//! (`CachedToken::parse`), as a client-registration cache file
//! (`CachedRegistration::parse`) and as a role-credential cache file
//! (`CachedRoleCredentials::parse`), plus the registration and role caches'
//! file names.
//!
//! Checked: no panic; no file is both a token and a registration; what
//! parses writes back (`to_bytes`) as bytes that parse to the same value
//! (timestamps cut to whole seconds, as the AWS CLI writes them) and that a
//! second write reproduces exactly; `Debug` does not depend on the secrets;
//! a refresh with the file's own token changes nothing; a registration or
//! role-cache file name is always `<40 hex digits>.json`; role credentials
//! are written as one ASCII line in the AWS CLI's layout, and survive the
//! trip through the portal's model; the JSON a role-cache name hashes is
//! ASCII, compact, and decodes to exactly the key it was made from.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssoflow_core::secret::{
    AccessToken, ClientSecret, RefreshToken, SecretAccessKey, SessionToken,
};
use ssoflow_files::{
    CachedRegistration, CachedRoleCredentials, CachedToken, RegistrationKey, RoleCacheKey,
};

pub fn run(data: &[u8]) {
    let token = check_token(data);
    let registration = check_registration(data);
    assert!(
        !(token && registration),
        "the same file reads as a token and as a registration"
    );
    check_key(data);
    check_role_credentials(data);
    check_role_key(data);
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

fn check_role_credentials(data: &[u8]) {
    let Ok(cached) = CachedRoleCredentials::parse(data) else {
        return;
    };
    let written = cached.to_bytes();
    let back = CachedRoleCredentials::parse(&written).unwrap_or_else(|e| {
        panic!(
            "a role-cache file as written does not parse: {e}\n{}",
            String::from_utf8_lossy(&written)
        )
    });
    let mut expected = cached.clone();
    expected.expiration = whole_seconds(expected.expiration);
    assert!(
        back == expected,
        "a role-cache file does not survive a write: {expected:?} became {back:?}"
    );
    assert_eq!(
        back.to_bytes(),
        written,
        "a second write differs from the first"
    );
    // The AWS CLI's layout: one line of ASCII, no trailing newline, its
    // member order and separators.
    assert!(written.is_ascii() && !written.contains(&b'\n'));
    assert!(
        written.starts_with(br#"{"ProviderType": "sso", "Credentials": {"AccessKeyId": ""#)
            && written.ends_with(b"}}"),
        "{}",
        String::from_utf8_lossy(&written)
    );

    let mut other = cached.clone();
    other.secret_access_key = SecretAccessKey::new(swap(cached.secret_access_key.secret()));
    other.session_token = SessionToken::new(swap(cached.session_token.secret()));
    assert_eq!(
        format!("{cached:?}"),
        format!("{other:?}"),
        "Debug shows a secret"
    );

    let model = cached.to_credentials("fallback");
    assert_eq!(
        model.account_id,
        cached.account_id.as_deref().unwrap_or("fallback")
    );
    let again = CachedRoleCredentials::from_credentials(&model);
    assert!(
        again.access_key_id == cached.access_key_id
            && again.secret_access_key == cached.secret_access_key
            && again.session_token == cached.session_token
            && again.expiration == cached.expiration
            && again.account_id.as_deref() == Some(model.account_id.as_str()),
        "the portal's model loses something"
    );
    let left = cached.remaining_at(cached.expiration);
    assert_eq!(left, Duration::ZERO);
    assert!(!cached.is_fresh_at(cached.expiration));
}

/// Lines: account, role, start URL, then an optional session name.
fn check_role_key(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().map(str::to_owned);
    let key = RoleCacheKey {
        account_id: next().unwrap_or_default(),
        role_name: next().unwrap_or_default(),
        start_url: next().unwrap_or_default(),
        session_name: next(),
    };
    let json = key.hashed_json();
    assert!(json.is_ascii(), "{json}");
    let value: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the hashed key is not JSON: {e}\n{json}"));
    let members = value.as_object().expect("an object");
    let by_session = key.session_name.as_deref().is_some_and(|s| !s.is_empty());
    let (last, expected) = if by_session {
        (
            "sessionName",
            key.session_name.as_deref().unwrap_or_default(),
        )
    } else {
        ("startUrl", key.start_url.as_str())
    };
    assert_eq!(
        members.keys().map(String::as_str).collect::<Vec<_>>(),
        ["accountId", "roleName", last],
        "{json}"
    );
    assert_eq!(members["accountId"], key.account_id.as_str());
    assert_eq!(members["roleName"], key.role_name.as_str());
    assert_eq!(members[last], expected);
    // Byte for byte what Python writes, by a second, independent encoder.
    let python = format!(
        "{{\"accountId\":{},\"roleName\":{},\"{last}\":{}}}",
        python_string(&key.account_id),
        python_string(&key.role_name),
        python_string(expected)
    );
    assert_eq!(json, python);

    let name = key.file_name();
    let hex = name.strip_suffix(".json").expect("a .json file name");
    assert!(
        hex.len() == 40
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{name}"
    );
}

/// `json.dumps(text)` with `ensure_ascii=True`, written out rule by rule:
/// only `' '..='~'` stays as it is (but `"` and `\\`), the five short escapes,
/// everything else `\\uXXXX` in lower-case hex, as UTF-16 units.
fn python_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    //! The role-cache checks on the spec's files, which the committed corpus
    //! (written before the role cache existed) does not include.

    /// `portal-api.md` §15.3, and what other writers write (§10.3, §10.4).
    const ROLE_FILES: [&str; 5] = [
        r#"{"ProviderType": "sso", "Credentials": {"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SessionToken": "IQoJb3JpZ2luX2VjEXAMPLE", "Expiration": "2030-06-01T13:00:00Z", "AccountId": "111122223333"}}"#,
        r#"{"ProviderType":"sso","Credentials":{"AccessKeyId":"A","SecretAccessKey":"s","SessionToken":"t","Expiration":"2030-06-01T13:00:00.999+00:00"}}"#,
        r#"{"Credentials": {"AccessKeyId": "A\u00e9", "SecretAccessKey": "s\n", "SessionToken": "t\u007f", "Expiration": "2030-06-01T06:00:00-07:00", "AccountId": null}}"#,
        r#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "9999-12-31T23:59:59.5Z", "AccountId": ""}}"#,
        r#"{"Credentials": {"AccessKeyId": "A", "SecretAccessKey": "s", "SessionToken": "t", "Expiration": "2030-06-01T13:00:00UTC", "AccountId": "🚀"}}"#,
    ];

    #[test]
    fn the_spec_role_files_pass() {
        for file in ROLE_FILES {
            assert!(
                ssoflow_files::CachedRoleCredentials::parse(file.as_bytes()).is_ok(),
                "{file}"
            );
            super::run(file.as_bytes());
        }
        // The §15.3 file is written back byte for byte.
        let spec = ssoflow_files::CachedRoleCredentials::parse(ROLE_FILES[0].as_bytes()).unwrap();
        assert_eq!(spec.to_bytes(), ROLE_FILES[0].as_bytes());
    }

    #[test]
    fn the_spec_role_keys_pass() {
        for key in [
            "111122223333\nSampleRole\nhttps://my-sso-portal.awsapps.com/start\nmy-sso",
            "111122223333\nSampleRole\nhttps://my-sso-portal.awsapps.com/start",
            "111122223333\nSampleRole\nhttps://x\ncafé",
            "111122223333\na/b\nhttps://x\ns\\x \"q\" 🚀 \u{7f}",
            "\n\n\n",
        ] {
            super::run(key.as_bytes());
        }
    }
}
