//! One client-registration file (`aws-cli-compat.md` §5): the AWS CLI keeps
//! its RegisterClient result here so later logins skip registering; ssoflow
//! uses the same key recipe and reuse rules, so both share one registration.

use std::time::SystemTime;

use serde_json::{Map, Value};
use sha1::{Digest, Sha1};
use ssoflow_core::Registration;
use ssoflow_core::secret::ClientSecret;

use crate::{python_json, timestamp};

/// What a registration file is keyed by: the CLI hashes exactly these five
/// values, so an sso-session with and without `sso_registration_scopes`, or a
/// legacy profile, each get their own registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationKey {
    /// `sso_region`.
    pub region: String,
    /// `sso_registration_scopes` as configured, in file order; `None` when the
    /// key is absent (not the same as an empty list).
    pub configured_scopes: Option<Vec<String>>,
    /// The sso-session name; `None` for a legacy profile.
    pub session_name: Option<String>,
    /// The start URL as configured.
    pub start_url: String,
}

impl RegistrationKey {
    /// The file name, `<sha1 hex>.json`, of
    /// `json.dumps({region, scopes, session_name, startUrl, tool: "botocore"}, sort_keys=True)`.
    pub fn file_name(&self) -> String {
        let mut args = Map::new();
        args.insert("region".into(), Value::String(self.region.clone()));
        args.insert(
            "scopes".into(),
            self.configured_scopes
                .as_ref()
                .map_or(Value::Null, |scopes| {
                    scopes.iter().cloned().map(Value::String).collect()
                }),
        );
        args.insert(
            "session_name".into(),
            self.session_name.clone().map_or(Value::Null, Value::String),
        );
        args.insert("startUrl".into(), Value::String(self.start_url.clone()));
        args.insert("tool".into(), Value::String("botocore".into()));
        // serde_json's Map keeps keys sorted, which is sort_keys=True.
        let serialized = python_json::to_vec(&args).unwrap_or_default();
        format!("{}.json", hex(&Sha1::digest(serialized)))
    }
}

/// Lower-case hex, as every AWS tool names cache files.
pub(crate) fn hex(bytes: &[u8]) -> String {
    // By table rather than format! per byte: every cache lookup names a file.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// A registration as kept in its file. `Debug` shows no secret.
#[derive(Clone, PartialEq)]
pub struct CachedRegistration {
    /// From RegisterClient.
    pub client_id: String,
    /// From RegisterClient.
    pub client_secret: ClientSecret,
    /// `clientSecretExpiresAt`.
    pub expires_at: SystemTime,
    /// The registered scopes, written only when scopes are configured.
    pub scopes: Option<Vec<String>>,
    /// Present in the AWS CLI's PKCE registrations only.
    pub grant_types: Option<Vec<String>>,
}

impl std::fmt::Debug for CachedRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedRegistration")
            .field("client_id", &self.client_id)
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .field("grant_types", &self.grant_types)
            .finish_non_exhaustive()
    }
}

impl CachedRegistration {
    /// The file form of a registration a flow just obtained.
    pub fn from_registration(registration: &Registration, scopes_configured: bool) -> Self {
        CachedRegistration {
            client_id: registration.client_id.clone(),
            client_secret: registration.client_secret.clone(),
            expires_at: registration.expires_at,
            // The AWS CLI writes the scopes of a PKCE registration always,
            // of a device-flow one only when they are configured (§5.2).
            scopes: (scopes_configured || registration.is_for_authorization_code())
                .then(|| registration.scopes.clone()),
            grant_types: (!registration.grant_types.is_empty())
                .then(|| registration.grant_types.clone()),
        }
    }

    /// The registration as the flows take it; `scopes` are the configured
    /// ones, used when the file does not record them. Whether it may be
    /// reused (time left, scopes, grant types) is the flows' decision:
    /// [`DeviceFlow::with_registration`](ssoflow_core::DeviceFlow::with_registration)
    /// and [`AuthCodeFlow::with_registration`](ssoflow_core::AuthCodeFlow::with_registration).
    pub fn to_registration(&self, scopes: &[String]) -> Registration {
        Registration {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
            expires_at: self.expires_at,
            scopes: self.scopes.clone().unwrap_or_else(|| scopes.to_vec()),
            grant_types: self.grant_types.clone().unwrap_or_default(),
        }
    }

    /// Reads a registration file; a file with an `accessToken` is a token
    /// file, not a registration.
    pub fn parse(bytes: &[u8]) -> Result<CachedRegistration, String> {
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|error| format!("the file is not JSON ({error})"))?;
        let Value::Object(members) = value else {
            return Err("the file is not a JSON object".to_owned());
        };
        if members.contains_key("accessToken") {
            return Err("it holds a token, not a registration".to_owned());
        }
        let text = |name: &str| match members.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            Some(_) => Err(format!("{name} is not a non-empty string")),
            None => Err(format!("it has no {name}")),
        };
        let list = |name: &str| match members.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or(format!("{name} is not a list of strings")),
            Some(_) => Err(format!("{name} is not a list")),
        };
        Ok(CachedRegistration {
            client_id: text("clientId")?,
            client_secret: ClientSecret::new(text("clientSecret")?),
            expires_at: timestamp::parse(&text("expiresAt")?)
                .map_err(|e| format!("expiresAt: {e}"))?,
            scopes: list("scopes")?,
            grant_types: list("grantTypes")?,
        })
    }

    /// The bytes the AWS CLI writes for a device-flow registration.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct keeps the CLI's member order, where a Map would sort it.
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct File<'a> {
            client_id: &'a str,
            client_secret: &'a str,
            expires_at: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            scopes: Option<&'a Vec<String>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            grant_types: Option<&'a Vec<String>>,
        }
        python_json::to_vec(&File {
            client_id: &self.client_id,
            client_secret: self.client_secret.secret(),
            expires_at: timestamp::format(self.expires_at),
            scopes: self.scopes.as_ref(),
            grant_types: self.grant_types.as_ref(),
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn key(scopes: Option<&[&str]>, session: Option<&str>, url: &str) -> RegistrationKey {
        RegistrationKey {
            region: "us-east-1".into(),
            configured_scopes: scopes.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
            session_name: session.map(str::to_owned),
            start_url: url.into(),
        }
    }

    #[test]
    fn file_names_match_the_spec_vectors() {
        let url = "https://my-sso-portal.awsapps.com/start";
        assert_eq!(
            key(Some(&["sso:account:access"]), Some("my-sso"), url).file_name(),
            "c5cfae6e3e4f067423a532368c8b514b6a4b0ace.json"
        );
        assert_eq!(
            key(None, Some("my-sso"), url).file_name(),
            "5d2ad48f7ce068c072924f44a42fb81ca0fd6b99.json"
        );
        assert_eq!(
            key(None, None, url).file_name(),
            "0e093f10f65cee6c5c1898a8e240f5726875bf08.json"
        );
        assert_eq!(
            key(None, Some("café"), "https://x.awsapps.com/start").file_name(),
            "a22fb727ca82ca7603c3505c2dd5c667bbf13b08.json"
        );
    }

    #[test]
    fn the_cli_format_round_trips() {
        let text = r#"{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z", "scopes": ["sso:account:access"]}"#;
        let registration = CachedRegistration::parse(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(registration.to_bytes()).unwrap(), text);
        let bare =
            r#"{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z"}"#;
        assert_eq!(
            String::from_utf8(
                CachedRegistration::parse(bare.as_bytes())
                    .unwrap()
                    .to_bytes()
            )
            .unwrap(),
            bare
        );
    }

    #[test]
    fn files_are_written_as_the_aws_cli_writes_them_for_each_grant() {
        let mut registration = Registration {
            client_id: "cid".into(),
            client_secret: ClientSecret::new("sec"),
            expires_at: at(1_725_019_200),
            scopes: vec!["sso:account:access".into()],
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        };
        // PKCE: scopes always, then grantTypes, even with no scopes configured.
        let pkce = CachedRegistration::from_registration(&registration, false);
        assert_eq!(
            String::from_utf8(pkce.to_bytes()).unwrap(),
            r#"{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z", "scopes": ["sso:account:access"], "grantTypes": ["authorization_code", "refresh_token"]}"#
        );
        assert_eq!(pkce.to_registration(&[]), registration);
        // Device flow: no grantTypes; scopes only when configured.
        registration.grant_types.clear();
        let device = CachedRegistration::from_registration(&registration, false);
        assert_eq!(
            String::from_utf8(device.to_bytes()).unwrap(),
            r#"{"clientId": "cid", "clientSecret": "sec", "expiresAt": "2024-08-30T12:00:00Z"}"#
        );
        let scopes = ["sso:account:access".to_owned()];
        assert_eq!(device.to_registration(&scopes), registration);
    }

    #[test]
    fn token_files_and_junk_are_not_registrations() {
        for (bytes, says) in [
            (&br#"{"accessToken": "a", "expiresAt": "2024-06-01T13:00:00Z"}"#[..], "holds a token"),
            (br#"{"clientId": "c", "expiresAt": "2024-06-01T13:00:00Z"}"#, "no clientSecret"),
            (br#"{"clientId": "c", "clientSecret": "s", "expiresAt": "soon"}"#, "expiresAt"),
            (br#"{"clientId": "c", "clientSecret": "s", "expiresAt": "2024-06-01T13:00:00Z", "scopes": "x"}"#, "scopes"),
            (b"{", "not JSON"),
        ] {
            let error = CachedRegistration::parse(bytes).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
    }
}
