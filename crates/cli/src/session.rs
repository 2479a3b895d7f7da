//! Which sign-in a command is about: from `--sso-session`, `--profile`,
//! `--start-url`/`--region`, or the environment's profile, resolved through
//! the AWS config file to a start URL, region, scopes, endpoint and the cache
//! keys the AWS CLI would use.

use std::path::PathBuf;

use ssoflow_blocking::{UreqConfig, UreqTransport};
use ssoflow_core::Endpoint;
use ssoflow_core::net::TrustRoots;
use ssoflow_core::wire::DEFAULT_SCOPE;
use ssoflow_files::CaBundleSetting;
use ssoflow_files::config::{ConfigFile, EndpointChoice, Environment, Selector, SsoSettings};
use ssoflow_files::{RegistrationKey, TokenCache, TokenKey};

use crate::{CliError, Context};

/// The flags that pick a session, shared by every command.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SessionArgs {
    /// The `[sso-session NAME]` of the AWS config file to use.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["profile", "start_url"])]
    pub(crate) sso_session: Option<String>,
    /// The profile whose `sso_session` (or legacy `sso_start_url`) to use;
    /// default: AWS_PROFILE, AWS_DEFAULT_PROFILE, then `default`.
    #[arg(long, value_name = "NAME", conflicts_with = "start_url")]
    pub(crate) profile: Option<String>,
    /// Sign in to this access portal without any config file (with --region).
    #[arg(long, value_name = "URL", requires = "region")]
    pub(crate) start_url: Option<String>,
    /// The Identity Center region, with --start-url.
    #[arg(long, value_name = "REGION", requires = "start_url")]
    pub(crate) region: Option<String>,
    /// Send SSO OIDC requests here instead (e.g. an emulator); beats every
    /// configured endpoint and AWS_ENDPOINT_URL_SSO_OIDC.
    #[arg(long, value_name = "URL")]
    pub(crate) endpoint_url: Option<String>,
}

/// A sign-in, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// How to name it to a person: `sso-session my-sso`, `profile legacy`, the URL.
    pub(crate) label: String,
    /// The flags that select it again, for hints such as `ssoflow login --sso-session my-sso`.
    pub(crate) selector_flags: String,
    pub(crate) start_url: String,
    pub(crate) region: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) token_key: TokenKey,
    pub(crate) registration_key: RegistrationKey,
    pub(crate) endpoint: Endpoint,
    /// What the config file (or the flags) say about this sign-in.
    pub(crate) settings: SsoSettings,
    /// The CA bundle from `AWS_CA_BUNDLE` or the profile's `ca_bundle`;
    /// read only when a request is to be sent.
    pub(crate) ca_bundle: Option<CaBundleSetting>,
}

impl Session {
    /// The HTTP transport for this session's requests: `--ca-bundle`, else
    /// the configured bundle, else the operating system's trust store. A
    /// bundle that cannot be read or parsed is a configuration error (exit
    /// status 2) before any request.
    pub(crate) fn transport(&self, context: &Context) -> Result<UreqTransport, CliError> {
        let setting = match &context.ca_bundle {
            Some(path) => Some(CaBundleSetting::new(path, "--ca-bundle")),
            None => self.ca_bundle.clone(),
        };
        let trust = match setting {
            Some(setting) => setting
                .trust()
                .map_err(|error| CliError::usage(error.to_string()))?,
            None => TrustRoots::System,
        };
        UreqTransport::with_config(UreqConfig {
            trust,
            ..UreqConfig::default()
        })
        .map_err(|error| CliError::usage(error.message))
    }
}

/// Where the AWS files live for this environment.
#[derive(Debug, Clone)]
pub(crate) struct Places {
    pub(crate) config_file: PathBuf,
    pub(crate) cache: TokenCache,
    /// The home directory (`~/.aws/cli/cache` is under it).
    pub(crate) home: PathBuf,
}

impl Places {
    pub(crate) fn of(env: &Environment) -> Result<Places, CliError> {
        let config_file = env.config_file_path().map_err(CliError::config)?;
        let home = env
            .get("HOME")
            .or_else(|| env.get("USERPROFILE"))
            .filter(|home| !home.is_empty())
            .ok_or_else(|| {
                CliError::usage(
                    "neither HOME nor USERPROFILE is set, so ~/.aws/sso/cache cannot be found",
                )
            })?;
        Ok(Places {
            config_file,
            cache: TokenCache::in_home(std::path::Path::new(home)),
            home: PathBuf::from(home),
        })
    }

    pub(crate) fn load_config(&self) -> Result<ConfigFile, CliError> {
        ConfigFile::load(&self.config_file).map_err(CliError::config)
    }
}

impl SessionArgs {
    /// The profile or session these flags name (without --start-url).
    pub(crate) fn selector(&self) -> Selector {
        match (&self.sso_session, &self.profile) {
            (Some(name), _) => Selector::SsoSession(name.clone()),
            (None, Some(name)) => Selector::Profile(name.clone()),
            (None, None) => Selector::Default,
        }
    }

    /// Resolves these flags; `scopes` (from `login --scopes`) replaces the
    /// configured scopes.
    pub(crate) fn resolve(
        &self,
        env: &Environment,
        places: &Places,
        scopes: Option<Vec<String>>,
    ) -> Result<Session, CliError> {
        let config = places.load_config()?;
        let settings = match (&self.start_url, &self.region) {
            (Some(start_url), Some(region)) => SsoSettings {
                session_name: None,
                start_url: start_url.clone(),
                region: region.clone(),
                scopes: vec![DEFAULT_SCOPE.to_owned()],
                registration_scopes_configured: false,
                profile: None,
            },
            _ => config
                .sso_settings(&self.selector(), env)
                .map_err(CliError::config)?,
        };
        let endpoint = match &self.endpoint_url {
            Some(url) => Endpoint::from_url(url)
                .map_err(|error| CliError::usage(format!("--endpoint-url {url}: {error}")))?,
            None => config
                .oidc_endpoint(&settings, env)
                .and_then(|choice: EndpointChoice| choice.to_endpoint())
                .map_err(CliError::config)?,
        };
        let ca_bundle = config.ca_bundle(&settings, env).map_err(CliError::config)?;
        let configured_scopes = settings
            .registration_scopes_configured
            .then(|| settings.scopes.clone());
        let scopes = scopes.unwrap_or_else(|| settings.scopes.clone());
        let (label, selector_flags, token_key) = match (&settings.session_name, &settings.profile) {
            (Some(name), _) => (
                format!("sso-session {name}"),
                format!("--sso-session {}", shell_word(name)),
                TokenKey::SsoSession(name.clone()),
            ),
            (None, Some(profile)) => (
                format!("profile {profile} ({})", settings.start_url),
                format!("--profile {}", shell_word(profile)),
                TokenKey::StartUrl(settings.start_url.clone()),
            ),
            (None, None) => (
                settings.start_url.clone(),
                format!(
                    "--start-url {} --region {}",
                    shell_word(&settings.start_url),
                    shell_word(&settings.region)
                ),
                TokenKey::StartUrl(settings.start_url.clone()),
            ),
        };
        Ok(Session {
            label,
            selector_flags,
            registration_key: RegistrationKey {
                region: settings.region.clone(),
                configured_scopes,
                session_name: settings.session_name.clone(),
                start_url: settings.start_url.clone(),
            },
            start_url: settings.start_url.clone(),
            region: settings.region.clone(),
            scopes,
            token_key,
            endpoint,
            settings,
            ca_bundle,
        })
    }
}

/// `--scopes a,b`: split on commas, items trimmed, empties dropped, as the
/// AWS CLI reads `sso_registration_scopes`.
pub(crate) fn parse_scopes(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `text` quoted for a POSIX shell when it needs it, for hints to copy.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_split_like_the_cli() {
        assert_eq!(parse_scopes("a, b,,"), ["a", "b"]);
        assert!(parse_scopes(" , ").is_empty());
    }

    #[test]
    fn hints_quote_what_a_shell_would_split() {
        assert_eq!(shell_word("my-sso"), "my-sso");
        assert_eq!(shell_word("my dev"), "'my dev'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(
            shell_word("https://x.awsapps.com/start"),
            "https://x.awsapps.com/start"
        );
    }
}
