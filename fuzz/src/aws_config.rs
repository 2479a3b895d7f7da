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

use ssoflow_core::{Endpoint, EndpointVariant, FlowConfig, Operation};
use ssoflow_files::config::{ConfigFile, EndpointChoice, Environment, Selector};

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

    let choice = match config.oidc_endpoint(&settings, env) {
        Ok(choice) => choice,
        Err(error) => {
            let _ = error.to_string();
            return;
        }
    };
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
