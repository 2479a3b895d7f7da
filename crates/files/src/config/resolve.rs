//! From a parsed file to what a sign-in needs: the start URL, the region, the
//! scopes and the session name (`aws-cli-compat.md` §3.2, §3.3); the account
//! and role a profile's credentials are for (`portal-api.md` §9.2); and where
//! SSO OIDC and SSO portal requests go (§8, `wire-protocol.md` §10.4,
//! `portal-api.md` §3.4).

use std::fmt;

use ssoflow_core::wire::DEFAULT_SCOPE;
use ssoflow_core::{ConfigError as CoreConfigError, Endpoint, EndpointVariant};

use super::error::{ProfileSource, SettingMismatch};
use super::ini::py_strip;
use super::{ConfigError, ConfigFile, Environment, Location, Section, Value};
use crate::{CA_BUNDLE_VARIABLE, CaBundleSetting, RoleCacheKey, TokenKey};

/// The keys botocore's SSO credential provider requires, in the order its
/// message lists the missing ones (`SSOProvider._SSO_CONFIG_VARS`).
const ROLE_PROFILE_KEYS: [&str; 4] = [
    "sso_start_url",
    "sso_region",
    "sso_role_name",
    "sso_account_id",
];

const ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
const IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
const USE_FIPS_ENDPOINT: &str = "AWS_USE_FIPS_ENDPOINT";
const USE_DUALSTACK_ENDPOINT: &str = "AWS_USE_DUALSTACK_ENDPOINT";

/// The two AWS services ssoflow calls, which users point elsewhere separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// SSO OIDC (service id `SSO OIDC`): registration, sign-in and refresh.
    SsoOidc,
    /// The SSO portal API (service id `SSO`): role credentials, the accounts
    /// and roles of the signed-in person, logout.
    Portal,
}

impl Service {
    /// The service's own endpoint variable: `AWS_ENDPOINT_URL_` and the
    /// service id upper-cased with `_` for spaces.
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Service::SsoOidc => "AWS_ENDPOINT_URL_SSO_OIDC",
            Service::Portal => "AWS_ENDPOINT_URL_SSO",
        }
    }

    /// The key of its block in a `[services NAME]` section: the service id in
    /// snake case.
    pub fn services_key(self) -> &'static str {
        match self {
            Service::SsoOidc => "sso_oidc",
            Service::Portal => "sso",
        }
    }

    /// The region's standard endpoint of this service.
    fn regional(self, region: &str, variant: EndpointVariant) -> Result<Endpoint, CoreConfigError> {
        match self {
            Service::SsoOidc => Endpoint::for_region(region, variant),
            Service::Portal => Endpoint::portal_for_region(region, variant),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::SsoOidc => "SSO OIDC",
            Service::Portal => "SSO portal",
        })
    }
}

/// Which configuration a sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// An `[sso-session NAME]` section itself, as `aws sso login --sso-session
    /// NAME` does. No profile is involved, so only environment variables can
    /// change the endpoint.
    SsoSession(String),
    /// A profile named by the caller, as `--profile NAME` does.
    Profile(String),
    /// The profile the environment names: `AWS_PROFILE`, then
    /// `AWS_DEFAULT_PROFILE` (the AWS CLI v2's order; botocore alone checks
    /// them the other way round), else `default`. An empty variable counts as
    /// unset.
    Default,
}

/// What a device-flow sign-in needs from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSettings {
    /// The sso-session's name; `None` for a legacy profile (start URL and
    /// region in the profile itself). Token cache files are named after it.
    pub session_name: Option<String>,
    /// The access portal URL (`sso_start_url`), exactly as configured.
    pub start_url: String,
    /// The Identity Center region (`sso_region`).
    pub region: String,
    /// The scopes to register the client with: `sso_registration_scopes`
    /// split on `,`, items stripped, empty items dropped; `sso:account:access`
    /// for an sso-session without that setting; none for a legacy profile.
    pub scopes: Vec<String>,
    /// Whether the sso-session sets `sso_registration_scopes` (even to an empty
    /// list). The AWS CLI's registration cache key has `"scopes": null` when it
    /// does not.
    pub registration_scopes_configured: bool,
    /// The profile the settings came through; `None` for [`Selector::SsoSession`].
    pub profile: Option<String>,
}

/// What an SSO profile's credentials need: the sign-in, and the account and
/// role to get credentials for (`portal-api.md` §9.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSettings {
    /// The sign-in: start URL, region, session (and the profile, in `sso.profile`).
    pub sso: SsoSettings,
    /// `sso_account_id`: any non-empty value. AWS account ids are 12 digits,
    /// but the service model gives the parameter no pattern and botocore
    /// sends whatever is configured, so no format is imposed here; a wrong
    /// id gets the service's own answer.
    pub account_id: String,
    /// `sso_role_name`: the permission set's role, any non-empty value.
    pub role_name: String,
}

impl RoleSettings {
    /// The key of these credentials in the AWS CLI's role-credential cache.
    pub fn cache_key(&self) -> RoleCacheKey {
        RoleCacheKey {
            account_id: self.account_id.clone(),
            role_name: self.role_name.clone(),
            session_name: self.sso.session_name.clone(),
            start_url: self.sso.start_url.clone(),
        }
    }
}

/// Where requests of one [`Service`] go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointChoice {
    /// A configured endpoint URL, not yet validated. FIPS and dual-stack
    /// settings do not apply to it (botocore drops them when an endpoint URL
    /// is given).
    Override {
        /// The service it is for.
        service: Service,
        /// The URL as configured.
        url: String,
        /// Where it was configured.
        source: EndpointSource,
    },
    /// The region's standard endpoint, in the variant the settings ask for.
    Region {
        /// The service it is for, which decides the host name.
        service: Service,
        /// `sso_region`.
        region: String,
        /// From `AWS_USE_FIPS_ENDPOINT` / `use_fips_endpoint` and
        /// `AWS_USE_DUALSTACK_ENDPOINT` / `use_dualstack_endpoint`.
        variant: EndpointVariant,
    },
}

/// Where an endpoint URL override was found, in the order they are tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointSource {
    /// The `AWS_ENDPOINT_URL_SSO_OIDC` environment variable (SSO OIDC only).
    SsoOidcVariable,
    /// The `AWS_ENDPOINT_URL_SSO` environment variable (the portal only).
    PortalVariable,
    /// The `AWS_ENDPOINT_URL` environment variable.
    GlobalVariable,
    /// `endpoint_url` in the service's block (`sso_oidc =` or `sso =`) of the
    /// `[services NAME]` section that the profile's `services` setting names;
    /// the location is the `endpoint_url` line.
    ServicesSection(Location),
    /// `endpoint_url` in the profile.
    Profile(Location),
}

impl fmt::Display for EndpointSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointSource::SsoOidcVariable => f.write_str(Service::SsoOidc.endpoint_variable()),
            EndpointSource::PortalVariable => f.write_str(Service::Portal.endpoint_variable()),
            EndpointSource::GlobalVariable => f.write_str(ENDPOINT_URL),
            EndpointSource::ServicesSection(at) | EndpointSource::Profile(at) => {
                write!(f, "endpoint_url {at}")
            }
        }
    }
}

impl EndpointChoice {
    /// The service the choice is for.
    pub fn service(&self) -> Service {
        match self {
            EndpointChoice::Override { service, .. } | EndpointChoice::Region { service, .. } => {
                *service
            }
        }
    }

    /// The validated endpoint: an override must be `https://` (or `http://`
    /// to loopback) with no query; a region must be a region name, and gives
    /// the service's host (`oidc.…` or `portal.sso.…`).
    pub fn to_endpoint(&self) -> Result<Endpoint, ConfigError> {
        match self {
            EndpointChoice::Override {
                service,
                url,
                source,
            } => Endpoint::from_url(url).map_err(|error| ConfigError::UnusableEndpoint {
                service: *service,
                origin: source.to_string(),
                error,
            }),
            EndpointChoice::Region {
                service,
                region,
                variant,
            } => {
                service
                    .regional(region, *variant)
                    .map_err(|error| ConfigError::UnusableEndpoint {
                        service: *service,
                        origin: format!("sso_region {region}"),
                        error,
                    })
            }
        }
    }
}

/// botocore's `ensure_boolean` on a string: `true` in any case is true,
/// anything else false.
fn is_true(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
}

/// An environment variable if set and not empty.
fn non_empty<'e>(env: &'e Environment, name: &str) -> Option<&'e str> {
    env.get(name).filter(|value| !value.is_empty())
}

/// How values appear in messages.
fn shown(value: &Value) -> String {
    match value {
        Value::Text(text) => text.clone(),
        Value::Nested(_) => "(indented block)".to_owned(),
    }
}

impl ConfigFile {
    /// Resolves what a sign-in needs, with the AWS CLI's rules:
    ///
    /// * a profile with `sso_session = NAME` takes `sso_start_url`,
    ///   `sso_region` and `sso_registration_scopes` from `[sso-session NAME]`,
    ///   which must exist; a setting in both sections must have the same value
    ///   in both (any setting, as botocore compares them all);
    /// * a profile without `sso_session` is legacy: `sso_start_url` and
    ///   `sso_region` come from the profile, `sso_registration_scopes` is not
    ///   read and no scopes are used (an empty `sso_session =` is a name, the
    ///   empty one, as in botocore);
    /// * the start URL must be `https://` with a host, as the newest AWS CLI
    ///   requires — it is only an identifier sent to the service, so no
    ///   loopback exception is made — and acceptable to `ssoflow-core`
    ///   (no query string, no user name);
    /// * the region must be a region name (one DNS label).
    ///
    /// `env` is read only for [`Selector::Default`].
    pub fn sso_settings(
        &self,
        selector: &Selector,
        env: &Environment,
    ) -> Result<SsoSettings, ConfigError> {
        let (name, chosen_by) = match selector {
            Selector::SsoSession(name) => {
                let session =
                    self.sso_sessions
                        .get(name)
                        .ok_or_else(|| ConfigError::SessionNotFound {
                            file: self.source.clone(),
                            session: name.clone(),
                        })?;
                return self.session_settings(name, session, None);
            }
            Selector::Profile(name) => (name.as_str(), ProfileSource::Caller),
            Selector::Default => profile_from(env),
        };
        let profile = self.profile_section(name, chosen_by)?;
        let session_name = match profile.get("sso_session") {
            None => None,
            Some(Value::Text(session)) => Some(session),
            Some(value @ Value::Nested(_)) => {
                return Err(self.invalid(
                    profile,
                    "sso_session",
                    value,
                    "is not a name; write `sso_session = NAME` on one line",
                ));
            }
        };
        let Some(session_name) = session_name else {
            return self.legacy_settings(name, profile);
        };
        let session = self.sso_sessions.get(session_name).ok_or_else(|| {
            ConfigError::MissingSessionSection {
                at: self.at(profile, Some("sso_session")),
                session: session_name.clone(),
            }
        })?;
        for (key, entry) in profile.entries() {
            let Some(theirs) = session.entry(key) else {
                continue;
            };
            if theirs.value != entry.value {
                return Err(ConfigError::Mismatch(Box::new(SettingMismatch {
                    key: key.clone(),
                    profile_at: self.at(profile, Some(key)),
                    profile_value: shown(&entry.value),
                    session_at: self.at(session, Some(key)),
                    session_value: shown(&theirs.value),
                })));
            }
        }
        self.session_settings(session_name, session, Some(name))
    }

    /// Resolves what a profile's role credentials need, with botocore's
    /// rules (`portal-api.md` §9.2): [`ConfigFile::sso_settings`] for the
    /// sign-in, and `sso_account_id` and `sso_role_name`.
    ///
    /// * A profile is for role credentials when it sets `sso_account_id` or
    ///   `sso_role_name` (botocore's SSO credential provider looks at the
    ///   profile only). Without either it is [`ConfigError::NoRoleSettings`]:
    ///   it gives a token, not credentials. So is [`Selector::SsoSession`]: an
    ///   sso-session names no account or role (a caller that has them from
    ///   elsewhere builds [`RoleSettings`] from the session's [`SsoSettings`]).
    /// * Then `sso_start_url`, `sso_region`, `sso_role_name` and
    ///   `sso_account_id` are all required, each from the profile or, with
    ///   `sso_session`, from the sso-session, where botocore also finds them
    ///   (a key in both must have one value). The missing ones are listed
    ///   together, as botocore does: [`ConfigError::IncompleteRole`], e.g.
    ///   `The profile "dev" is configured to use SSO but is missing required
    ///   configuration: sso_role_name`. Unlike botocore, an empty value counts
    ///   as missing.
    /// * The account id may be any non-empty value (see
    ///   [`RoleSettings::account_id`]); so may the role name.
    ///
    /// `env` is read only for [`Selector::Default`].
    pub fn role_settings(
        &self,
        selector: &Selector,
        env: &Environment,
    ) -> Result<RoleSettings, ConfigError> {
        let (name, chosen_by) = match selector {
            Selector::SsoSession(name) => {
                let session =
                    self.sso_sessions
                        .get(name)
                        .ok_or_else(|| ConfigError::SessionNotFound {
                            file: self.source.clone(),
                            session: name.clone(),
                        })?;
                return Err(ConfigError::NoRoleSettings {
                    at: self.at(session, None),
                });
            }
            Selector::Profile(name) => (name.as_str(), ProfileSource::Caller),
            Selector::Default => profile_from(env),
        };
        let profile = self.profile_section(name, chosen_by)?;
        if profile.get("sso_account_id").is_none() && profile.get("sso_role_name").is_none() {
            return Err(ConfigError::NoRoleSettings {
                at: self.at(profile, None),
            });
        }
        // botocore resolves the sso-session first; a missing section, or an
        // `sso_session` that is a block, is reported by `sso_settings` below.
        let session = match profile.get("sso_session") {
            Some(Value::Text(session)) => self.sso_sessions.get(session),
            _ => None,
        };
        let resolvable = match profile.get("sso_session") {
            None => true,
            Some(_) => session.is_some(),
        };
        let lookup = |key: &str| {
            profile
                .get(key)
                .or_else(|| session.and_then(|session| session.get(key)))
        };
        if resolvable {
            let missing: Vec<&'static str> = ROLE_PROFILE_KEYS
                .into_iter()
                .filter(|key| match lookup(key) {
                    None => true,
                    Some(Value::Text(text)) => text.is_empty(),
                    // Present; `required` below says what is wrong with it.
                    Some(Value::Nested(_)) => false,
                })
                .collect();
            if !missing.is_empty() {
                return Err(ConfigError::IncompleteRole {
                    at: self.at(profile, None),
                    profile: name.to_owned(),
                    missing,
                });
            }
        }
        let sso = self.sso_settings(&Selector::Profile(name.to_owned()), env)?;
        let value = |key: &'static str| {
            // Present and not empty: checked above.
            let section = if profile.get(key).is_some() {
                profile
            } else {
                session.unwrap_or(profile)
            };
            self.required(section, key).map(str::to_owned)
        };
        Ok(RoleSettings {
            account_id: value("sso_account_id")?,
            role_name: value("sso_role_name")?,
            sso,
        })
    }

    /// The role settings of every profile that signs in with the token of
    /// `token` — profiles with `sso_session = NAME` for
    /// [`TokenKey::SsoSession`], legacy profiles with that exact
    /// `sso_start_url` for [`TokenKey::StartUrl`] — and that resolve without
    /// error, in profile-name order. Their [`RoleSettings::cache_key`]s are
    /// the role-credential cache entries that sign-in's configured profiles
    /// use, e.g. to remove at logout or to show in a status display.
    pub fn roles_for_token(&self, token: &TokenKey) -> Vec<RoleSettings> {
        let env = Environment::default();
        self.profiles
            .keys()
            .filter_map(|name| {
                self.role_settings(&Selector::Profile(name.clone()), &env)
                    .ok()
            })
            .filter(|role| match (token, &role.sso.session_name) {
                (TokenKey::SsoSession(wanted), Some(session)) => wanted == session,
                (TokenKey::StartUrl(wanted), None) => *wanted == role.sso.start_url,
                _ => false,
            })
            .collect()
    }

    /// Resolves where SSO OIDC requests for `settings` go, in botocore's
    /// order (`wire-protocol.md` §10.4), the first that is set and not empty
    /// winning:
    ///
    /// 1. `AWS_ENDPOINT_URL_SSO_OIDC`;
    /// 2. `AWS_ENDPOINT_URL`;
    /// 3. the profile's `services = NAME` → `[services NAME]` → `sso_oidc =`
    ///    block → `endpoint_url` (a missing or empty `[services NAME]` is an
    ///    error, as in botocore);
    /// 4. the profile's `endpoint_url`;
    /// 5. else the standard endpoint of `settings.region`.
    ///
    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`, or if that is not set the
    /// profile's `ignore_configured_endpoint_urls`, skips 1–4 when it is
    /// `true` (any case; any other value is false, as in botocore). FIPS and
    /// dual-stack come from `AWS_USE_FIPS_ENDPOINT` and
    /// `AWS_USE_DUALSTACK_ENDPOINT`, or if unset from `use_fips_endpoint` and
    /// `use_dualstack_endpoint` in the profile.
    ///
    /// Without a profile (`settings.profile` is `None`, from
    /// [`Selector::SsoSession`]) only the environment variables apply. The AWS
    /// CLI would also consult the profile that is active at the time
    /// (`AWS_PROFILE` or `default`); we do not guess one.
    pub fn oidc_endpoint(
        &self,
        settings: &SsoSettings,
        env: &Environment,
    ) -> Result<EndpointChoice, ConfigError> {
        self.endpoint(Service::SsoOidc, settings, env)
    }

    /// The CA bundle requests for `settings` should trust, in botocore's
    /// order: `AWS_CA_BUNDLE`, then the profile's `ca_bundle` (an empty
    /// value counts as unset); `None` keeps the transport's default roots.
    /// The file is not read here: [`CaBundleSetting::load`] does that, so a
    /// command that sends nothing does not fail on a bad bundle. A program
    /// with its own flag (the AWS CLI's `--ca-bundle`) checks it first.
    ///
    /// Without a profile (`settings.profile` is `None`) only the variable applies.
    pub fn ca_bundle(
        &self,
        settings: &SsoSettings,
        env: &Environment,
    ) -> Result<Option<CaBundleSetting>, ConfigError> {
        if let Some(path) = env.get(CA_BUNDLE_VARIABLE).filter(|p| !p.is_empty()) {
            return Ok(Some(CaBundleSetting::new(path, CA_BUNDLE_VARIABLE)));
        }
        let Some(name) = &settings.profile else {
            return Ok(None);
        };
        let profile = self.profile_section(name, ProfileSource::Caller)?;
        match profile.get("ca_bundle") {
            None => Ok(None),
            Some(Value::Text(path)) if path.is_empty() => Ok(None),
            Some(Value::Text(path)) => Ok(Some(CaBundleSetting::new(
                path,
                format!("ca_bundle {}", self.at(profile, Some("ca_bundle"))),
            ))),
            Some(value @ Value::Nested(_)) => Err(self.invalid(
                profile,
                "ca_bundle",
                value,
                "is not a path; write `ca_bundle = /path/to/bundle.pem` on one line",
            )),
        }
    }

    /// Resolves where SSO portal requests (GetRoleCredentials, ListAccounts,
    /// ListAccountRoles, Logout) for `settings` go (`portal-api.md` §3.4):
    /// the order and rules of [`ConfigFile::oidc_endpoint`], with
    /// `AWS_ENDPOINT_URL_SSO` first and the `sso =` block of a
    /// `[services NAME]` section; else the region's `portal.sso` endpoint.
    /// `AWS_ENDPOINT_URL_SSO_OIDC` and the `sso_oidc =` block do not apply,
    /// so an emulator needs both variables (or one `AWS_ENDPOINT_URL`).
    pub fn portal_endpoint(
        &self,
        settings: &SsoSettings,
        env: &Environment,
    ) -> Result<EndpointChoice, ConfigError> {
        self.endpoint(Service::Portal, settings, env)
    }

    /// Where requests of `service` for `settings` go: see
    /// [`ConfigFile::oidc_endpoint`], the same for every service but for the
    /// service's own variable and block key.
    pub fn endpoint(
        &self,
        service: Service,
        settings: &SsoSettings,
        env: &Environment,
    ) -> Result<EndpointChoice, ConfigError> {
        let profile = match &settings.profile {
            Some(name) => Some(self.profile_section(name, ProfileSource::Caller)?),
            None => None,
        };
        // A profile flag that is set to a block is not `true`.
        let profile_flag = |key: &str| {
            profile
                .and_then(|p| p.get(key))
                .and_then(Value::as_text)
                .is_some_and(is_true)
        };
        let flag = |variable: &str, key: &str| match env.get(variable) {
            Some(value) => is_true(value),
            None => profile_flag(key),
        };
        let choose = |url: &str, source| EndpointChoice::Override {
            service,
            url: url.to_owned(),
            source,
        };
        if !flag(
            IGNORE_CONFIGURED_ENDPOINT_URLS,
            "ignore_configured_endpoint_urls",
        ) {
            if let Some(url) = non_empty(env, service.endpoint_variable()) {
                let source = match service {
                    Service::SsoOidc => EndpointSource::SsoOidcVariable,
                    Service::Portal => EndpointSource::PortalVariable,
                };
                return Ok(choose(url, source));
            }
            if let Some(url) = non_empty(env, ENDPOINT_URL) {
                return Ok(choose(url, EndpointSource::GlobalVariable));
            }
            if let Some(profile) = profile {
                if let Some((url, at)) = self.services_endpoint(profile, service)? {
                    return Ok(choose(url, EndpointSource::ServicesSection(at)));
                }
                match profile.get("endpoint_url") {
                    Some(Value::Text(url)) if !url.is_empty() => {
                        let at = self.at(profile, Some("endpoint_url"));
                        return Ok(choose(url, EndpointSource::Profile(at)));
                    }
                    Some(value @ Value::Nested(_)) => {
                        return Err(self.invalid(
                            profile,
                            "endpoint_url",
                            value,
                            "is not a URL; write `endpoint_url = https://…` on one line",
                        ));
                    }
                    _ => {}
                }
            }
        }
        Ok(EndpointChoice::Region {
            service,
            region: settings.region.clone(),
            variant: EndpointVariant {
                fips: flag(USE_FIPS_ENDPOINT, "use_fips_endpoint"),
                dual_stack: flag(USE_DUALSTACK_ENDPOINT, "use_dualstack_endpoint"),
            },
        })
    }

    /// Step 3 of [`ConfigFile::endpoint`]: the URL and its line.
    fn services_endpoint<'s>(
        &'s self,
        profile: &Section,
        service: Service,
    ) -> Result<Option<(&'s str, Location)>, ConfigError> {
        let name = match profile.get("services") {
            None => return Ok(None),
            Some(Value::Text(name)) => name,
            Some(value @ Value::Nested(_)) => {
                return Err(self.invalid(
                    profile,
                    "services",
                    value,
                    "is not a section name; write `services = NAME` on one line",
                ));
            }
        };
        let services = self
            .services
            .get(name)
            .filter(|section| !section.is_empty())
            .ok_or_else(|| ConfigError::MissingServicesSection {
                at: self.at(profile, Some("services")),
                services: name.clone(),
            })?;
        let block = service.services_key();
        let Some(entry) = services.entry(block) else {
            return Ok(None);
        };
        if !matches!(entry.value, Value::Nested(_)) {
            return Err(self.invalid(
                services,
                block,
                &entry.value,
                "is not a block; leave it empty on its line and put `endpoint_url = …` on an indented line below",
            ));
        }
        let Some((url, line)) = entry.block_setting("endpoint_url") else {
            return Ok(None);
        };
        if url.is_empty() {
            return Ok(None);
        }
        let at = Location {
            file: self.source.clone(),
            section: services.header.clone(),
            line,
        };
        Ok(Some((url, at)))
    }

    fn profile_section(
        &self,
        name: &str,
        chosen_by: ProfileSource,
    ) -> Result<&Section, ConfigError> {
        self.profiles
            .get(name)
            .ok_or_else(|| ConfigError::ProfileNotFound {
                file: self.source.clone(),
                profile: name.to_owned(),
                chosen_by,
            })
    }

    fn session_settings(
        &self,
        name: &str,
        session: &Section,
        profile: Option<&str>,
    ) -> Result<SsoSettings, ConfigError> {
        let start_url = self.start_url(session)?;
        let region = self.region(session)?;
        let (scopes, configured) = match session.get("sso_registration_scopes") {
            None => (vec![DEFAULT_SCOPE.to_owned()], false),
            Some(Value::Text(list)) => (parse_scopes(list), true),
            Some(value @ Value::Nested(_)) => {
                return Err(self.invalid(
                    session,
                    "sso_registration_scopes",
                    value,
                    "is not a list; write the scopes on one line, separated by commas",
                ));
            }
        };
        Ok(SsoSettings {
            session_name: Some(name.to_owned()),
            start_url,
            region,
            scopes,
            registration_scopes_configured: configured,
            profile: profile.map(str::to_owned),
        })
    }

    fn legacy_settings(&self, name: &str, profile: &Section) -> Result<SsoSettings, ConfigError> {
        if profile.get("sso_start_url").is_none() && profile.get("sso_region").is_none() {
            return Err(ConfigError::NoSsoSettings {
                at: self.at(profile, None),
            });
        }
        Ok(SsoSettings {
            session_name: None,
            start_url: self.start_url(profile)?,
            region: self.region(profile)?,
            scopes: Vec::new(),
            registration_scopes_configured: false,
            profile: Some(name.to_owned()),
        })
    }

    /// A setting that must be one non-empty line.
    fn required<'s>(
        &self,
        section: &'s Section,
        key: &'static str,
    ) -> Result<&'s str, ConfigError> {
        match section.get(key) {
            Some(Value::Text(text)) if !text.is_empty() => Ok(text),
            Some(value @ Value::Nested(_)) => Err(self.invalid(
                section,
                key,
                value,
                "is not a single value; write it on one line",
            )),
            _ => Err(ConfigError::MissingKey {
                at: self.at(section, Some(key)),
                key,
            }),
        }
    }

    fn start_url(&self, section: &Section) -> Result<String, ConfigError> {
        let url = self.required(section, "sso_start_url")?;
        let host = url
            .get(..8)
            .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
            .and_then(|_| url.get(8..))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        let problem = match host {
            None => Some(
                "is not an https:// URL; the AWS CLI accepts only https start URLs, like https://d-1234567890.awsapps.com/start",
            ),
            Some("") => Some("has no host; write it like https://d-1234567890.awsapps.com/start"),
            Some(_) if Endpoint::from_url(url).is_err() => Some(
                "is not a usable URL (no spaces, user name or query string); write it like https://d-1234567890.awsapps.com/start",
            ),
            Some(_) => None,
        };
        match problem {
            Some(problem) => Err(self.invalid(
                section,
                "sso_start_url",
                &Value::Text(url.to_owned()),
                problem,
            )),
            None => Ok(url.to_owned()),
        }
    }

    fn region(&self, section: &Section) -> Result<String, ConfigError> {
        let region = self.required(section, "sso_region")?;
        if Endpoint::for_region(region, EndpointVariant::default()).is_err() {
            return Err(self.invalid(
                section,
                "sso_region",
                &Value::Text(region.to_owned()),
                "is not a region name; write it like us-east-1",
            ));
        }
        Ok(region.to_owned())
    }

    /// The location of `key` in `section`, or of the header if it is absent.
    fn at(&self, section: &Section, key: Option<&str>) -> Location {
        Location {
            file: self.source.clone(),
            section: section.header.clone(),
            line: key
                .and_then(|key| section.line_of(key))
                .unwrap_or(section.line),
        }
    }

    fn invalid(
        &self,
        section: &Section,
        key: &'static str,
        value: &Value,
        problem: &'static str,
    ) -> ConfigError {
        ConfigError::InvalidValue {
            at: self.at(section, Some(key)),
            key,
            value: shown(value),
            problem,
        }
    }
}

/// The profile the environment names, and which variable named it.
fn profile_from(env: &Environment) -> (&str, ProfileSource) {
    if let Some(name) = non_empty(env, "AWS_PROFILE") {
        (name, ProfileSource::AwsProfile)
    } else if let Some(name) = non_empty(env, "AWS_DEFAULT_PROFILE") {
        (name, ProfileSource::AwsDefaultProfile)
    } else {
        ("default", ProfileSource::Default)
    }
}

/// The AWS CLI's `parse_sso_registration_scopes`: split on `,`, strip each
/// item, drop empty ones (`"a, b,,"` → `["a", "b"]`).
fn parse_scopes(list: &str) -> Vec<String> {
    list.split(',')
        .map(py_strip)
        .filter(|scope| !scope.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn scopes_are_split_stripped_and_empty_ones_dropped() {
        assert_eq!(parse_scopes("a, b,,"), ["a", "b"]);
        assert_eq!(parse_scopes(" sso:account:access "), ["sso:account:access"]);
        assert_eq!(parse_scopes(""), Vec::<String>::new());
        assert_eq!(parse_scopes(" , ,"), Vec::<String>::new());
        assert_eq!(parse_scopes("b,a,b"), ["b", "a", "b"]);
    }

    #[test]
    fn booleans_follow_ensure_boolean() {
        for yes in ["true", "TRUE", "True"] {
            assert!(is_true(yes), "{yes}");
        }
        for no in ["", "1", "yes", " true", "false", "tru"] {
            assert!(!is_true(no), "{no}");
        }
    }
}
