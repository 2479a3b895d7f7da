//! One SSO token file (`aws-cli-compat.md` §4): what it holds, how it is read
//! leniently, and how it is written exactly as the AWS CLI writes it.

use std::time::SystemTime;

use serde_json::{Map, Value};
use ssoflow_core::secret::{AccessToken, ClientSecret, RefreshToken};
use ssoflow_core::{Registration, Token};

use crate::{python_json, timestamp};

/// The eight fields the AWS CLI writes, in the order it writes them.
const KNOWN_FIELDS: [&str; 8] = [
    "startUrl",
    "region",
    "accessToken",
    "expiresAt",
    "clientId",
    "clientSecret",
    "registrationExpiresAt",
    "refreshToken",
];

/// A token as kept in `~/.aws/sso/cache/`. Only `accessToken` and `expiresAt`
/// are required; the registration fields and the refresh token are what a
/// refresh needs. Fields this crate does not know are carried along and
/// written back. `Debug` shows no secret.
#[derive(Clone, PartialEq)]
pub struct CachedToken {
    /// The access-portal URL as configured.
    pub start_url: Option<String>,
    /// The `sso_region` the token was obtained in.
    pub region: Option<String>,
    /// The bearer token.
    pub access_token: AccessToken,
    /// When the access token expires.
    pub expires_at: SystemTime,
    /// The registration's client id (needed to refresh).
    pub client_id: Option<String>,
    /// The registration's secret (needed to refresh).
    pub client_secret: Option<ClientSecret>,
    /// When the registration expires (needed to refresh).
    pub registration_expires_at: Option<SystemTime>,
    /// The refresh token, when the service issued one.
    pub refresh_token: Option<RefreshToken>,
    /// Members written by other tools, kept as they were.
    pub other_fields: Map<String, Value>,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("start_url", &self.start_url)
            .field("region", &self.region)
            .field("expires_at", &self.expires_at)
            .field("client_id", &self.client_id)
            .field("registration_expires_at", &self.registration_expires_at)
            .field("refreshable", &self.refreshable().is_some())
            .field(
                "other_fields",
                &self.other_fields.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl CachedToken {
    /// The file form of a token a flow just obtained: everything filled in.
    pub fn from_token(token: &Token, start_url: &str, region: &str) -> CachedToken {
        CachedToken {
            start_url: Some(start_url.to_owned()),
            region: Some(region.to_owned()),
            access_token: token.access_token.clone(),
            expires_at: token.expires_at,
            client_id: Some(token.registration.client_id.clone()),
            client_secret: Some(token.registration.client_secret.clone()),
            registration_expires_at: Some(token.registration.expires_at),
            refresh_token: token.refresh_token.clone(),
            other_fields: Map::new(),
        }
    }

    /// The token as the flows know it, when the file has everything a refresh
    /// needs (refresh token, client id and secret, registration expiry);
    /// `scopes` are the configured ones (the file does not record them).
    pub fn refreshable(&self) -> Option<Token> {
        Some(Token {
            access_token: self.access_token.clone(),
            refresh_token: Some(self.refresh_token.clone()?),
            expires_at: self.expires_at,
            registration: Registration {
                client_id: self.client_id.clone()?,
                client_secret: self.client_secret.clone()?,
                expires_at: self.registration_expires_at?,
                scopes: Vec::new(),
                grant_types: Vec::new(),
            },
        })
    }

    /// Whether a refresh can be tried at `now`: everything it needs is in
    /// the file and the registration has not expired.
    pub fn refreshable_at(&self, now: SystemTime) -> bool {
        self.refreshable().is_some()
            && self
                .registration_expires_at
                .is_some_and(|expiry| expiry > now)
    }

    /// This token updated with a refreshed one: new access token and expiry,
    /// the new refresh token if one came (else the old one stays), everything
    /// else kept.
    pub fn refreshed_with(&self, token: &Token) -> CachedToken {
        CachedToken {
            access_token: token.access_token.clone(),
            expires_at: token.expires_at,
            refresh_token: token
                .refresh_token
                .clone()
                .or_else(|| self.refresh_token.clone()),
            ..self.clone()
        }
    }

    /// Reads a token file's bytes. Accepts any layout, key order and
    /// whitespace, unknown members, `null` for optional members, and times
    /// with fractional seconds or offsets.
    pub fn parse(bytes: &[u8]) -> Result<CachedToken, String> {
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            if error.is_eof() {
                format!("the file is truncated ({error})")
            } else {
                format!("the file is not JSON ({error})")
            }
        })?;
        let Value::Object(mut members) = value else {
            return Err("the file is not a JSON object".to_owned());
        };
        let mut text = |name: &str| -> Result<Option<String>, String> {
            match members.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if text.is_empty() => Ok(None),
                Some(Value::String(text)) => Ok(Some(text)),
                Some(_) => Err(format!("{name} is not a string")),
            }
        };
        let start_url = text("startUrl")?;
        let region = text("region")?;
        let access_token =
            text("accessToken")?.ok_or("it has no accessToken, so it is not an SSO token file")?;
        let expires_at = text("expiresAt")?.ok_or("it has no expiresAt")?;
        let client_id = text("clientId")?;
        let client_secret = text("clientSecret")?;
        let registration_expires_at = text("registrationExpiresAt")?;
        let refresh_token = text("refreshToken")?;
        let time =
            |name: &str, text: &str| timestamp::parse(text).map_err(|e| format!("{name}: {e}"));
        Ok(CachedToken {
            start_url,
            region,
            access_token: AccessToken::new(access_token),
            expires_at: time("expiresAt", &expires_at)?,
            client_id,
            client_secret: client_secret.map(ClientSecret::new),
            registration_expires_at: registration_expires_at
                .map(|text| time("registrationExpiresAt", &text))
                .transpose()?,
            refresh_token: refresh_token.map(RefreshToken::new),
            other_fields: members,
        })
    }

    /// The file's bytes as the AWS CLI writes them: one line, Python
    /// separators, the eight fields in the CLI's order (absent ones left out,
    /// never `null`), then the other members.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut members = Map::new();
        let mut put = |name: &str, value: Option<String>| {
            if let Some(value) = value {
                members.insert(name.to_owned(), Value::String(value));
            }
        };
        put("startUrl", self.start_url.clone());
        put("region", self.region.clone());
        put("accessToken", Some(self.access_token.secret().to_owned()));
        put("expiresAt", Some(timestamp::format(self.expires_at)));
        put("clientId", self.client_id.clone());
        put(
            "clientSecret",
            self.client_secret.as_ref().map(|s| s.secret().to_owned()),
        );
        put(
            "registrationExpiresAt",
            self.registration_expires_at.map(timestamp::format),
        );
        put(
            "refreshToken",
            self.refresh_token.as_ref().map(|t| t.secret().to_owned()),
        );
        let mut ordered: Vec<(&String, &Value)> = members.iter().collect();
        ordered.sort_by_key(|(name, _)| KNOWN_FIELDS.iter().position(|known| known == name));
        let others = self
            .other_fields
            .iter()
            .filter(|(name, _)| !KNOWN_FIELDS.contains(&name.as_str()));
        // serde_json's Map sorts its keys, so the layout is assembled here in
        // the CLI's order from individually serialized members.
        let mut bytes = b"{".to_vec();
        for (index, (name, value)) in ordered.into_iter().chain(others).enumerate() {
            if index > 0 {
                bytes.extend_from_slice(b", ");
            }
            bytes.extend(python_json::to_vec(name).unwrap_or_default());
            bytes.extend_from_slice(b": ");
            bytes.extend(python_json::to_vec(value).unwrap_or_default());
        }
        bytes.push(b'}');
        bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    const CLI_FILE: &str = r#"{"startUrl": "https://my-sso-portal.awsapps.com/start", "region": "us-east-1", "accessToken": "aoaAAAA", "expiresAt": "2024-06-01T13:00:00Z", "clientId": "cid", "clientSecret": "csecret", "registrationExpiresAt": "2024-08-30T12:00:00Z", "refreshToken": "aorAAAA"}"#;

    #[test]
    fn a_file_the_cli_wrote_reads_and_writes_back_byte_for_byte() {
        let token = CachedToken::parse(CLI_FILE.as_bytes()).unwrap();
        assert_eq!(token.access_token.secret(), "aoaAAAA");
        assert_eq!(
            token.expires_at,
            UNIX_EPOCH + Duration::from_secs(1_717_246_800)
        );
        assert!(token.refreshable().is_some());
        assert_eq!(String::from_utf8(token.to_bytes()).unwrap(), CLI_FILE);
    }

    #[test]
    fn other_writers_layouts_are_read() {
        // Rust SDK (compact, its own order), Go (alphabetical, newline), JS (pretty).
        let rust = r#"{"accessToken":"a","expiresAt":"1971-08-02T16:53:20Z","refreshToken":"r","clientId":"c","clientSecret":"s","registrationExpiresAt":"1973-03-03T09:46:40Z","region":"us-east-1","startUrl":"u"}"#;
        let go =
            "{\"accessToken\":\"a\",\"clientId\":\"c\",\"expiresAt\":\"2024-06-01T13:00:00Z\"}\n";
        let js = "{\n  \"accessToken\": \"a\",\n  \"expiresAt\": \"2024-06-01T13:00:00.000Z\"\n}";
        for text in [rust, go, js] {
            let token = CachedToken::parse(text.as_bytes()).unwrap();
            assert_eq!(token.access_token.secret(), "a");
        }
        let minimal =
            CachedToken::parse(br#"{"accessToken": "a", "expiresAt": "2024-06-01T13:00:00Z"}"#)
                .unwrap();
        assert!(minimal.refreshable().is_none(), "nothing to refresh with");
    }

    #[test]
    fn nulls_and_empty_strings_count_as_absent() {
        let token = CachedToken::parse(
            br#"{"accessToken": "a", "expiresAt": "2024-06-01T13:00:00Z", "refreshToken": null, "clientId": ""}"#,
        )
        .unwrap();
        assert_eq!(token.refresh_token, None);
        assert_eq!(token.client_id, None);
        assert!(
            !String::from_utf8(token.to_bytes())
                .unwrap()
                .contains("refreshToken")
        );
    }

    #[test]
    fn unknown_members_survive_a_rewrite_after_the_known_ones() {
        let text = r#"{"accessToken": "a", "x-tool": {"n": 1}, "expiresAt": "2024-06-01T13:00:00Z", "aFirst": true}"#;
        let token = CachedToken::parse(text.as_bytes()).unwrap();
        assert_eq!(
            String::from_utf8(token.to_bytes()).unwrap(),
            r#"{"accessToken": "a", "expiresAt": "2024-06-01T13:00:00Z", "aFirst": true, "x-tool": {"n": 1}}"#
        );
    }

    /// Found by the `cache_files` fuzz target
    /// (`fuzz/regressions/cache_files/float-1.5e303-moved-on-rewrite.json`):
    /// a float read without correct rounding was written back as a different
    /// number, and moved again on the next rewrite.
    #[test]
    fn unknown_numbers_survive_rewrites_exactly() {
        let text = r#"{"accessToken": "a", "expiresAt": "2024-06-01T13:00:00Z", "x-tool": {"f": 1.5e303, "g": 0.1, "h": 2.2250738585072014e-308, "i": -18446744073709551615, "j": 123456789.12345678}}"#;
        let token = CachedToken::parse(text.as_bytes()).unwrap();
        assert_eq!(token.other_fields["x-tool"]["f"].as_f64(), Some(1.5e303));
        let written = token.to_bytes();
        let again = CachedToken::parse(&written).unwrap();
        assert!(again == token, "{}", String::from_utf8_lossy(&written));
        assert_eq!(again.to_bytes(), written);
    }

    #[test]
    fn broken_and_foreign_files_say_what_is_wrong() {
        let cases: [(&[u8], &str); 8] = [
            (
                br#"{"accessToken": "a", "expiresAt": "2024-06-01T1"#,
                "truncated",
            ),
            (b"", "truncated"),
            (
                br#"{"accessToken": "a", "expiresAt": "2024"}"}"#,
                "not JSON",
            ),
            (b"[1]", "not a JSON object"),
            (
                br#"{"clientId": "c", "clientSecret": "s", "expiresAt": "2024-06-01T13:00:00Z"}"#,
                "no accessToken",
            ),
            (br#"{"accessToken": "a"}"#, "no expiresAt"),
            (
                br#"{"accessToken": 7, "expiresAt": "2024-06-01T13:00:00Z"}"#,
                "accessToken is not a string",
            ),
            (
                br#"{"accessToken": "a", "expiresAt": "2024-06-01T13:00:00"}"#,
                "expiresAt",
            ),
        ];
        for (bytes, says) in cases {
            let error = CachedToken::parse(bytes).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }

    #[test]
    fn a_refresh_keeps_the_registration_and_the_old_refresh_token_if_none_came() {
        let cached = CachedToken::parse(CLI_FILE.as_bytes()).unwrap();
        let mut token = cached.refreshable().unwrap();
        token.access_token = AccessToken::new("aoaNEW");
        token.refresh_token = None;
        let updated = cached.refreshed_with(&token);
        assert_eq!(updated.access_token.secret(), "aoaNEW");
        assert_eq!(updated.refresh_token, cached.refresh_token);
        assert_eq!(updated.client_id, cached.client_id);
    }

    #[test]
    fn debug_shows_no_secret() {
        let token = CachedToken::parse(CLI_FILE.as_bytes()).unwrap();
        let debug = format!("{token:?}");
        for secret in ["aoaAAAA", "aorAAAA", "csecret"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
