//! Target `aws_config`: any text (bytes through `from_utf8_lossy`) as
//! `~/.aws/config`, resolved for every profile and sso-session it names and
//! for `Selector::Default`, under a few fixed environments, down to the
//! endpoint.
//!
//! Checked: no panic, in parsing, resolving or rendering errors; settings that
//! resolve hold an `https://` start URL that `FlowConfig` accepts and a region
//! name that `Endpoint::for_region` accepts; a resolved endpoint sends
//! requests only to `https://` or loopback `http://` URLs without a query,
//! ending in the operation's path, and a regional one to
//! `oidc[-fips].<region>.…`.
//!
//! The portal side too: `portal_endpoint` never panics, is for the portal,
//! never takes the SSO OIDC variable (nor `oidc_endpoint` the portal's), and
//! yields only `https://` or loopback `http://` base URLs without a query or
//! user information, a regional one `portal.sso[-fips].<region>.…`; a
//! profile's `role_settings` are its `sso_settings` plus a non-empty account
//! and role, and `roles_for_token` lists only profiles of that sign-in.

use ssoflow_core::{Endpoint, EndpointVariant, FlowConfig, Operation};
use ssoflow_files::TokenKey;
use ssoflow_files::config::{
    ConfigFile, EndpointChoice, EndpointSource, Environment, Selector, Service, SsoSettings,
};

/// At most this many profiles and sessions are resolved per input.
const MAX_NAMES: usize = 16;

fn environments() -> Vec<Environment> {
    vec![
        Environment::default(),
        Environment::from_iter([("AWS_PROFILE", "dev"), ("AWS_USE_FIPS_ENDPOINT", "true")]),
        Environment::from_iter([
            ("AWS_DEFAULT_PROFILE", "legacy"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "TRUE"),
        ]),
        Environment::from_iter([
            ("AWS_PROFILE", "local"),
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:4567"),
        ]),
        Environment::from_iter([
            ("AWS_PROFILE", ""),
            ("AWS_ENDPOINT_URL", "https://oidc.example.com/prefix/"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false"),
        ]),
        Environment::from_iter([
            ("AWS_PROFILE", "default"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "true"),
        ]),
        Environment::from_iter([
            ("AWS_PROFILE", "dev"),
            ("AWS_ENDPOINT_URL_SSO", "http://[::1]:4568/portal"),
        ]),
        Environment::from_iter([
            ("AWS_ENDPOINT_URL_SSO", "http://portal.example.com"),
            ("AWS_ENDPOINT_URL_SSO_OIDC", "https://oidc.example.com"),
        ]),
    ]
}

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let config = match ConfigFile::parse(&text, "fuzz config") {
        Ok(config) => config,
        Err(error) => {
            let _ = (error.to_string(), format!("{error:?}"));
            return;
        }
    };
    let _ = format!("{config:?}");
    for ignored in config.ignored_sections() {
        let _ = format!("{ignored:?}");
    }
    let mut selectors = vec![Selector::Default];
    selectors.extend(
        config
            .profiles()
            .keys()
            .take(MAX_NAMES)
            .map(|name| Selector::Profile(name.clone())),
    );
    selectors.extend(
        config
            .sso_sessions()
            .keys()
            .take(MAX_NAMES)
            .map(|name| Selector::SsoSession(name.clone())),
    );
    selectors.push(Selector::Profile("no such profile".into()));
    for env in environments() {
        for selector in &selectors {
            resolve(&config, selector, &env);
        }
    }
    let mut tokens: Vec<TokenKey> = config
        .sso_sessions()
        .keys()
        .take(MAX_NAMES)
        .map(|name| TokenKey::SsoSession(name.clone()))
        .collect();
    tokens.push(TokenKey::StartUrl(
        "https://my-sso-portal.awsapps.com/start".into(),
    ));
    for token in &tokens {
        for role in config.roles_for_token(token) {
            match (token, &role.sso.session_name) {
                (TokenKey::SsoSession(wanted), Some(session)) => assert_eq!(wanted, session),
                (TokenKey::StartUrl(wanted), None) => assert_eq!(*wanted, role.sso.start_url),
                other => panic!("a role of another sign-in: {other:?}"),
            }
            assert!(role.sso.profile.is_some());
        }
    }
}

fn resolve(config: &ConfigFile, selector: &Selector, env: &Environment) {
    let settings = match config.sso_settings(selector, env) {
        Ok(settings) => settings,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    let scheme = settings.start_url.get(..8);
    assert!(
        scheme.is_some_and(|s| s.eq_ignore_ascii_case("https://")),
        "start URL {:?} accepted",
        settings.start_url
    );
    let region_endpoint = Endpoint::for_region(&settings.region, EndpointVariant::default())
        .unwrap_or_else(|e| panic!("region {:?} accepted: {e}", settings.region));
    if let Err(e) = FlowConfig::new(region_endpoint, &settings.start_url) {
        panic!("the config accepts a start URL the flow refuses: {e}");
    }
    if let Selector::Profile(name) = selector {
        assert_eq!(settings.profile.as_deref(), Some(name.as_str()));
    }
    if settings.session_name.is_none() {
        assert!(settings.scopes.is_empty(), "a legacy profile with scopes");
    }
    assert!(
        settings
            .scopes
            .iter()
            .all(|s| !s.is_empty() && s.trim() == s)
    );
    check_role(config, selector, env, &settings);
    check_portal(config, env, &settings);

    let choice = match config.oidc_endpoint(&settings, env) {
        Ok(choice) => choice,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    assert_eq!(choice.service(), Service::SsoOidc);
    if let EndpointChoice::Override { source, .. } = &choice {
        assert_ne!(
            *source,
            EndpointSource::PortalVariable,
            "AWS_ENDPOINT_URL_SSO moved SSO OIDC"
        );
    }
    let endpoint = match choice.to_endpoint() {
        Ok(endpoint) => endpoint,
        Err(error) => {
            let _ = error.to_string();
            if let EndpointChoice::Region { .. } = choice {
                panic!("an accepted region has no endpoint: {error}");
            }
            return;
        }
    };
    for op in Operation::ALL {
        let uri = endpoint
            .uri(op)
            .unwrap_or_else(|e| panic!("{} does not join: {e}", endpoint.base_url()));
        let host = uri.host().expect("an endpoint has a host");
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") => assert!(Endpoint::is_loopback_host(host), "plain http to {host}"),
            other => panic!("scheme {other:?}"),
        }
        assert!(uri.query().is_none(), "a query in {uri}");
        assert!(uri.path().ends_with(op.path()), "{uri} for {op:?}");
        assert!(!uri.authority().is_some_and(|a| a.as_str().contains('@')));
        if let EndpointChoice::Region { region, .. } = &choice {
            assert!(
                host.starts_with("oidc.") || host.starts_with("oidc-fips."),
                "{host}"
            );
            assert_eq!(host.split('.').nth(1), Some(region.as_str()), "{host}");
        }
    }
}

/// `role_settings` for the same selector: an error, or `settings` with a
/// non-empty account and role, never for an sso-session alone.
fn check_role(config: &ConfigFile, selector: &Selector, env: &Environment, settings: &SsoSettings) {
    let role = match config.role_settings(selector, env) {
        Ok(role) => role,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    assert!(
        !matches!(selector, Selector::SsoSession(_)),
        "an sso-session gave a role"
    );
    assert_eq!(
        &role.sso, settings,
        "role_settings and sso_settings disagree"
    );
    assert!(!role.account_id.is_empty() && !role.role_name.is_empty());
    let name = role.cache_key().file_name();
    assert!(name.len() == 45 && name.ends_with(".json"), "{name}");
}

/// `portal_endpoint`: for the portal, never moved by the SSO OIDC variable,
/// and only to `https://` or loopback `http://`.
fn check_portal(config: &ConfigFile, env: &Environment, settings: &SsoSettings) {
    let choice = match config.portal_endpoint(settings, env) {
        Ok(choice) => choice,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
    assert_eq!(choice.service(), Service::Portal);
    if let EndpointChoice::Override { source, .. } = &choice {
        assert_ne!(
            *source,
            EndpointSource::SsoOidcVariable,
            "AWS_ENDPOINT_URL_SSO_OIDC moved the portal"
        );
    }
    let endpoint = match choice.to_endpoint() {
        Ok(endpoint) => endpoint,
        Err(error) => {
            let _ = error.to_string();
            if let EndpointChoice::Region { .. } = choice {
                panic!("an accepted region has no portal endpoint: {error}");
            }
            return;
        }
    };
    let base = endpoint.base_url();
    let uri: http::Uri = base
        .parse()
        .unwrap_or_else(|e| panic!("portal base URL {base:?} does not parse: {e}"));
    let host = uri.host().expect("an endpoint has a host");
    match uri.scheme_str() {
        Some("https") => {}
        Some("http") => assert!(Endpoint::is_loopback_host(host), "plain http to {host}"),
        other => panic!("scheme {other:?} in {base}"),
    }
    assert!(uri.query().is_none(), "a query in {base}");
    assert!(!uri.authority().is_some_and(|a| a.as_str().contains('@')));
    if let EndpointChoice::Region { region, .. } = &choice {
        assert!(
            host.starts_with("portal.sso.") || host.starts_with("portal.sso-fips."),
            "{host}"
        );
        assert_eq!(host.split('.').nth(2), Some(region.as_str()), "{host}");
    }
}
