//! Profiles with roles (`portal-api.md` §9.2) and where portal requests go
//! (§3.2, §3.4), against the spec.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use ssoflow_core::EndpointVariant;
use ssoflow_files::TokenKey;
use ssoflow_files::config::{
    ConfigError, ConfigFile, EndpointChoice, EndpointSource, Environment, Location, RoleSettings,
    Selector, Service,
};

const FILE: &str = "/home/me/.aws/config";
const START_URL: &str = "https://my-sso-portal.awsapps.com/start";

/// The example of `aws-cli-compat.md` §3.4, verbatim.
const SPEC_EXAMPLE: &str = "\
[profile dev]
sso_session = my-sso
sso_account_id = 111122223333
sso_role_name = SampleRole
region = us-west-2

[sso-session my-sso]
sso_region = us-east-1
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_registration_scopes = sso:account:access

[profile legacy]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = ReadOnly

[profile local]
services = emulator
sso_session = my-sso

[services emulator]
sso_oidc =
  endpoint_url = http://127.0.0.1:4567
";

fn parse(text: &str) -> ConfigFile {
    ConfigFile::parse(text, FILE).unwrap()
}

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs.iter().copied().collect()
}

fn profile(name: &str) -> Selector {
    Selector::Profile(name.to_owned())
}

fn role(config: &ConfigFile, name: &str) -> RoleSettings {
    config
        .role_settings(&profile(name), &Environment::default())
        .unwrap()
}

fn role_error(text: &str, name: &str) -> ConfigError {
    parse(text)
        .role_settings(&profile(name), &Environment::default())
        .unwrap_err()
}

fn at(section: &str, line: usize) -> Location {
    Location {
        file: FILE.to_owned(),
        section: section.to_owned(),
        line,
    }
}

#[test]
fn the_spec_example_gives_roles_for_session_and_legacy_profiles() {
    let config = parse(SPEC_EXAMPLE);
    let dev = role(&config, "dev");
    assert_eq!(
        dev.sso,
        config
            .sso_settings(&profile("dev"), &Environment::default())
            .unwrap()
    );
    assert_eq!(dev.account_id, "111122223333");
    assert_eq!(dev.role_name, "SampleRole");
    // portal-api.md §15.1, rows 1 and 4.
    assert_eq!(
        dev.cache_key().file_name(),
        "5a6d67f0141c391d87d6e15ac122ad86af2cdb81.json"
    );
    let legacy = role(&config, "legacy");
    assert_eq!(legacy.sso.session_name, None);
    assert_eq!(legacy.sso.start_url, START_URL);
    assert_eq!(legacy.role_name, "ReadOnly");
    assert_eq!(
        legacy.cache_key().file_name(),
        "a86fc0ef036e01b9ff8f964ffab896b19c6ff372.json"
    );
    // Chosen by the environment, as sso_settings is.
    let chosen = config
        .role_settings(&Selector::Default, &env(&[("AWS_PROFILE", "legacy")]))
        .unwrap();
    assert_eq!(chosen, legacy);
}

#[test]
fn a_profile_without_account_and_role_gives_a_token_only() {
    let config = parse(SPEC_EXAMPLE);
    let error = config
        .role_settings(&profile("local"), &Environment::default())
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::NoRoleSettings { at: place } if *place == at("profile local", 18)),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 18, [profile local]: no sso_account_id and sso_role_name here, so it gives an SSO token but no role credentials; add both to the profile (e.g. `sso_account_id = 111122223333` and `sso_role_name = ReadOnly`), or name the account and role another way"
    );
    // An sso-session names no account or role either.
    let error = config
        .role_settings(
            &Selector::SsoSession("my-sso".into()),
            &Environment::default(),
        )
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::NoRoleSettings { at: place } if *place == at("sso-session my-sso", 7)),
        "{error:?}"
    );
    assert!(matches!(
        config.role_settings(
            &Selector::SsoSession("none".into()),
            &Environment::default()
        ),
        Err(ConfigError::SessionNotFound { .. })
    ));
    assert!(matches!(
        config.role_settings(&profile("none"), &Environment::default()),
        Err(ConfigError::ProfileNotFound { .. })
    ));
}

const SESSION: &str = "\
[sso-session s]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = us-east-1
";

#[test]
fn account_and_role_come_together_with_botocores_message() {
    let error = role_error(
        &format!("[profile dev]\nsso_session = s\nsso_account_id = 111122223333\n{SESSION}"),
        "dev",
    );
    assert!(
        matches!(&error, ConfigError::IncompleteRole { at: place, profile, missing }
            if *place == at("profile dev", 1) && profile == "dev" && *missing == ["sso_role_name"]),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 1, [profile dev]: The profile \"dev\" is configured to use SSO but is missing required configuration: sso_role_name; set it, e.g. `sso_role_name = ReadOnly` (an empty value counts as missing)"
    );

    let error = role_error(
        &format!("[profile dev]\nsso_session = s\nsso_role_name = ReadOnly\n{SESSION}"),
        "dev",
    );
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 1, [profile dev]: The profile \"dev\" is configured to use SSO but is missing required configuration: sso_account_id; set it, e.g. `sso_account_id = 111122223333` (an empty value counts as missing)"
    );

    // Empty values count as missing (botocore would send them).
    let error = role_error(
        &format!("[profile dev]\nsso_session = s\nsso_role_name =\nsso_account_id =\n{SESSION}"),
        "dev",
    );
    assert!(
        matches!(&error, ConfigError::IncompleteRole { missing, .. } if *missing == ["sso_role_name", "sso_account_id"]),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("missing required configuration: sso_role_name, sso_account_id; set them, e.g. `sso_role_name = ReadOnly` and `sso_account_id = 111122223333`"),
        "{error}"
    );
}

#[test]
fn a_legacy_profile_lists_every_missing_key_in_botocores_order() {
    let error = role_error(
        "[profile old]\nsso_role_name = ReadOnly\nsso_account_id = 111122223333\n",
        "old",
    );
    assert!(
        matches!(&error, ConfigError::IncompleteRole { missing, .. } if *missing == ["sso_start_url", "sso_region"]),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 1, [profile old]: The profile \"old\" is configured to use SSO but is missing required configuration: sso_start_url, sso_region; set them (in the [sso-session] section if the profile has sso_session, else in the profile), e.g. `sso_start_url = https://d-1234567890.awsapps.com/start` and `sso_region = us-east-1` (an empty value counts as missing)"
    );
    let error = role_error("[profile old]\nsso_role_name = ReadOnly\n", "old");
    assert!(
        matches!(&error, ConfigError::IncompleteRole { missing, .. }
            if *missing == ["sso_start_url", "sso_region", "sso_account_id"]),
        "{error:?}"
    );
    // A session without its start URL: listed too, as botocore merges the two.
    let error = role_error(
        "[profile dev]\nsso_session = s\nsso_role_name = R\nsso_account_id = 1\n[sso-session s]\nsso_region = us-east-1\n",
        "dev",
    );
    assert!(
        matches!(&error, ConfigError::IncompleteRole { missing, .. } if *missing == ["sso_start_url"]),
        "{error:?}"
    );
}

#[test]
fn the_session_reference_is_resolved_before_keys_are_counted() {
    // botocore: "The specified sso-session does not exist" comes first.
    let error = role_error(
        "[profile dev]\nsso_session = gone\nsso_role_name = R\n",
        "dev",
    );
    assert!(
        matches!(&error, ConfigError::MissingSessionSection { session, .. } if session == "gone"),
        "{error:?}"
    );
    // A key in both sections must agree.
    let error = role_error(
        &format!(
            "[profile dev]\nsso_session = s\nsso_region = eu-west-1\nsso_role_name = R\nsso_account_id = 1\n{SESSION}"
        ),
        "dev",
    );
    assert!(matches!(error, ConfigError::Mismatch(_)), "{error:?}");
}

#[test]
fn account_and_role_may_sit_in_the_session_as_botocore_merges_them() {
    let config = parse(&format!(
        "[profile dev]\nsso_session = s\nsso_role_name = ReadOnly\n{SESSION}sso_account_id = 444455556666\n"
    ));
    let dev = role(&config, "dev");
    assert_eq!(dev.account_id, "444455556666");
    assert_eq!(dev.role_name, "ReadOnly");
    // But only the profile's keys make it a profile for role credentials.
    let config = parse(&format!(
        "[profile dev]\nsso_session = s\n{SESSION}sso_account_id = 1\nsso_role_name = R\n"
    ));
    assert!(matches!(
        config.role_settings(&profile("dev"), &Environment::default()),
        Err(ConfigError::NoRoleSettings { .. })
    ));
}

#[test]
fn any_non_empty_account_id_is_accepted() {
    for account in ["123456789", "abc", "1111 2222 3333", "000000000000"] {
        let config = parse(&format!(
            "[profile p]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id = {account}\nsso_role_name = R\n"
        ));
        assert_eq!(role(&config, "p").account_id, account);
    }
    // A block is not a value.
    let error = role_error(
        &format!(
            "[profile p]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id =\n  a = b\nsso_role_name = R\n"
        ),
        "p",
    );
    assert!(
        matches!(&error, ConfigError::InvalidValue { key, at: place, .. } if *key == "sso_account_id" && place.line == 4),
        "{error:?}"
    );
    // The sign-in settings are still validated as for a token.
    let error = role_error(
        "[profile p]\nsso_start_url = http://x\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n",
        "p",
    );
    assert!(
        matches!(&error, ConfigError::InvalidValue { key, .. } if *key == "sso_start_url"),
        "{error:?}"
    );
}

#[test]
fn the_roles_of_one_sign_in_are_those_of_its_profiles() {
    let config = parse(&format!(
        "\
[profile a]
sso_session = s
sso_account_id = 111122223333
sso_role_name = ReadOnly
[profile b]
sso_session = s
sso_account_id = 444455556666
sso_role_name = Admin
[profile token-only]
sso_session = s
[profile broken]
sso_session = s
sso_role_name = R
[profile other]
sso_session = t
sso_account_id = 1
sso_role_name = R
[profile legacy]
sso_start_url = {START_URL}
sso_region = us-east-1
sso_account_id = 1
sso_role_name = R
{SESSION}
[sso-session t]
sso_start_url = https://other.awsapps.com/start
sso_region = us-east-1
"
    ));
    let names = |token: &TokenKey| {
        config
            .roles_for_token(token)
            .into_iter()
            .map(|role| role.sso.profile.unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&TokenKey::SsoSession("s".into())), ["a", "b"]);
    assert_eq!(names(&TokenKey::SsoSession("t".into())), ["other"]);
    assert_eq!(names(&TokenKey::StartUrl(START_URL.into())), ["legacy"]);
    assert!(names(&TokenKey::StartUrl(format!("{START_URL}/"))).is_empty());
    assert!(names(&TokenKey::SsoSession("u".into())).is_empty());
}

/// A profile using every level of endpoint configuration for both services.
const ENDPOINTS: &str = "\
[profile p]
sso_session = s
services = local
endpoint_url = https://profile.example
sso_account_id = 111122223333
sso_role_name = R

[services local]
sso_oidc =
  endpoint_url = https://oidc-services.example
sso =
  endpoint_url = https://portal-services.example

[sso-session s]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = eu-central-1
";

fn portal(config: &ConfigFile, selector: &Selector, env: &Environment) -> EndpointChoice {
    let sso = config.sso_settings(selector, env).unwrap();
    config.portal_endpoint(&sso, env).unwrap()
}

fn oidc(config: &ConfigFile, selector: &Selector, env: &Environment) -> EndpointChoice {
    let sso = config.sso_settings(selector, env).unwrap();
    config.oidc_endpoint(&sso, env).unwrap()
}

fn portal_override(url: &str, source: EndpointSource) -> EndpointChoice {
    EndpointChoice::Override {
        service: Service::Portal,
        url: url.to_owned(),
        source,
    }
}

fn portal_region(region: &str, fips: bool, dual_stack: bool) -> EndpointChoice {
    EndpointChoice::Region {
        service: Service::Portal,
        region: region.to_owned(),
        variant: EndpointVariant { fips, dual_stack },
    }
}

#[test]
fn each_portal_endpoint_level_beats_the_next() {
    let p = profile("p");
    let all = [
        ("AWS_ENDPOINT_URL_SSO", "https://portal-variable.example"),
        ("AWS_ENDPOINT_URL", "https://global-variable.example"),
    ];
    let config = parse(ENDPOINTS);
    assert_eq!(
        portal(&config, &p, &env(&all)),
        portal_override(
            "https://portal-variable.example",
            EndpointSource::PortalVariable
        )
    );
    assert_eq!(
        portal(&config, &p, &env(&all[1..])),
        portal_override(
            "https://global-variable.example",
            EndpointSource::GlobalVariable
        )
    );
    // Empty variables are skipped.
    assert_eq!(
        portal(
            &config,
            &p,
            &env(&[("AWS_ENDPOINT_URL_SSO", ""), ("AWS_ENDPOINT_URL", "")])
        ),
        portal_override(
            "https://portal-services.example",
            EndpointSource::ServicesSection(at("services local", 12))
        )
    );
    // Without an `sso =` block: the profile's endpoint_url.
    let only_oidc = ENDPOINTS.replace(
        "sso =\n  endpoint_url = https://portal-services.example\n",
        "",
    );
    assert_eq!(
        portal(&parse(&only_oidc), &p, &Environment::default()),
        portal_override(
            "https://profile.example",
            EndpointSource::Profile(at("profile p", 4))
        )
    );
    // Nothing configured: the region's portal endpoint.
    let bare = only_oidc.replace("endpoint_url = https://profile.example\n", "");
    let choice = portal(&parse(&bare), &p, &Environment::default());
    assert_eq!(choice, portal_region("eu-central-1", false, false));
    assert_eq!(choice.service(), Service::Portal);
    assert_eq!(
        choice.to_endpoint().unwrap().base_url(),
        "https://portal.sso.eu-central-1.amazonaws.com"
    );
}

#[test]
fn the_oidc_and_portal_overrides_are_independent() {
    let p = profile("p");
    let config = parse(ENDPOINTS);
    // §3.4: AWS_ENDPOINT_URL_SSO_OIDC does not move the portal, nor the reverse.
    let oidc_only = env(&[("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:4567")]);
    assert_eq!(
        portal(&config, &p, &oidc_only),
        portal_override(
            "https://portal-services.example",
            EndpointSource::ServicesSection(at("services local", 12))
        )
    );
    assert_eq!(
        oidc(&config, &p, &oidc_only)
            .to_endpoint()
            .unwrap()
            .base_url(),
        "http://127.0.0.1:4567"
    );
    let portal_only = env(&[("AWS_ENDPOINT_URL_SSO", "http://127.0.0.1:4568")]);
    assert_eq!(
        oidc(&config, &p, &portal_only),
        EndpointChoice::Override {
            service: Service::SsoOidc,
            url: "https://oidc-services.example".into(),
            source: EndpointSource::ServicesSection(at("services local", 10)),
        }
    );
    assert_eq!(
        portal(&config, &p, &portal_only)
            .to_endpoint()
            .unwrap()
            .base_url(),
        "http://127.0.0.1:4568"
    );
    // A session selected directly: with nothing set, each its own host.
    let session = Selector::SsoSession("s".into());
    let e = Environment::default();
    assert_eq!(
        oidc(&config, &session, &e)
            .to_endpoint()
            .unwrap()
            .base_url(),
        "https://oidc.eu-central-1.amazonaws.com"
    );
    assert_eq!(
        portal(&config, &session, &e)
            .to_endpoint()
            .unwrap()
            .base_url(),
        "https://portal.sso.eu-central-1.amazonaws.com"
    );
    // AWS_ENDPOINT_URL moves both.
    let global = env(&[("AWS_ENDPOINT_URL", "http://localhost:9")]);
    for choice in [
        oidc(&config, &session, &global),
        portal(&config, &session, &global),
    ] {
        assert_eq!(
            choice.to_endpoint().unwrap().base_url(),
            "http://localhost:9"
        );
    }
}

#[test]
fn ignoring_configured_endpoints_applies_to_the_portal() {
    let p = profile("p");
    let config = parse(ENDPOINTS);
    let e = env(&[
        ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "True"),
        ("AWS_ENDPOINT_URL_SSO", "https://portal-variable.example"),
        ("AWS_USE_FIPS_ENDPOINT", "true"),
    ]);
    assert_eq!(
        portal(&config, &p, &e),
        portal_region("eu-central-1", true, false)
    );
    let ignoring = ENDPOINTS.replace(
        "sso_role_name = R\n",
        "sso_role_name = R\nignore_configured_endpoint_urls = true\n",
    );
    assert_eq!(
        portal(
            &parse(&ignoring),
            &p,
            &env(&[("AWS_ENDPOINT_URL", "https://global-variable.example")])
        ),
        portal_region("eu-central-1", false, false)
    );
}

/// Every row of `portal-api.md` §3.2 through the config: region × FIPS ×
/// dual-stack, from the environment and from the profile.
#[test]
fn every_row_of_the_resolved_endpoint_table() {
    let rows = [
        (
            "us-east-1",
            [
                "https://portal.sso.us-east-1.amazonaws.com",
                "https://portal.sso-fips.us-east-1.amazonaws.com",
                "https://portal.sso.us-east-1.api.aws",
                "https://portal.sso-fips.us-east-1.api.aws",
            ],
        ),
        (
            "eu-west-1",
            [
                "https://portal.sso.eu-west-1.amazonaws.com",
                "https://portal.sso-fips.eu-west-1.amazonaws.com",
                "https://portal.sso.eu-west-1.api.aws",
                "https://portal.sso-fips.eu-west-1.api.aws",
            ],
        ),
        (
            "cn-north-1",
            [
                "https://portal.sso.cn-north-1.amazonaws.com.cn",
                "https://portal.sso-fips.cn-north-1.amazonaws.com.cn",
                "https://portal.sso.cn-north-1.api.amazonwebservices.com.cn",
                "https://portal.sso-fips.cn-north-1.api.amazonwebservices.com.cn",
            ],
        ),
        (
            "us-gov-west-1",
            [
                "https://portal.sso.us-gov-west-1.amazonaws.com",
                "https://portal.sso.us-gov-west-1.amazonaws.com",
                "https://portal.sso.us-gov-west-1.api.aws",
                "https://portal.sso-fips.us-gov-west-1.api.aws",
            ],
        ),
        (
            "eusc-de-east-1",
            [
                "https://portal.sso.eusc-de-east-1.amazonaws.eu",
                "https://portal.sso-fips.eusc-de-east-1.amazonaws.eu",
                "https://portal.sso.eusc-de-east-1.api.amazonwebservices.eu",
                "https://portal.sso-fips.eusc-de-east-1.api.amazonwebservices.eu",
            ],
        ),
        (
            "us-iso-east-1",
            [
                "https://portal.sso.us-iso-east-1.c2s.ic.gov",
                "https://portal.sso-fips.us-iso-east-1.c2s.ic.gov",
                "https://portal.sso.us-iso-east-1.api.aws.ic.gov",
                "https://portal.sso-fips.us-iso-east-1.api.aws.ic.gov",
            ],
        ),
        (
            "xx-fake-1",
            [
                "https://portal.sso.xx-fake-1.amazonaws.com",
                "https://portal.sso-fips.xx-fake-1.amazonaws.com",
                "https://portal.sso.xx-fake-1.api.aws",
                "https://portal.sso-fips.xx-fake-1.api.aws",
            ],
        ),
    ];
    for (region, urls) in rows {
        let variants = [(false, false), (true, false), (false, true), (true, true)];
        for ((fips, dual_stack), url) in variants.into_iter().zip(urls) {
            let flag = |on: bool| if on { "true" } else { "false" };
            let from_env = env(&[
                ("AWS_USE_FIPS_ENDPOINT", flag(fips)),
                ("AWS_USE_DUALSTACK_ENDPOINT", flag(dual_stack)),
            ]);
            let config = parse(&format!(
                "[profile p]\nsso_start_url = {START_URL}\nsso_region = {region}\n"
            ));
            let choice = portal(&config, &profile("p"), &from_env);
            assert_eq!(
                choice.to_endpoint().unwrap().base_url(),
                url,
                "{region} {fips} {dual_stack}"
            );
            let in_profile = parse(&format!(
                "[profile p]\nsso_start_url = {START_URL}\nsso_region = {region}\nuse_fips_endpoint = {}\nuse_dualstack_endpoint = {}\n",
                flag(fips),
                flag(dual_stack)
            ));
            let choice = portal(&in_profile, &profile("p"), &Environment::default());
            assert_eq!(
                choice.to_endpoint().unwrap().base_url(),
                url,
                "{region} {fips} {dual_stack}"
            );
        }
    }
}

#[test]
fn unusable_portal_endpoints_say_which_service_and_where() {
    let config = parse(ENDPOINTS);
    let choice = portal(
        &config,
        &profile("p"),
        &env(&[("AWS_ENDPOINT_URL_SSO", "http://portal.example.com")]),
    );
    let message = choice.to_endpoint().unwrap_err().to_string();
    assert!(
        message.starts_with(
            "the SSO portal endpoint from AWS_ENDPOINT_URL_SSO is not usable: `http://portal.example.com` uses plain http://"
        ),
        "{message}"
    );
    let bad_block = ENDPOINTS.replace("sso =\n  endpoint_url", "sso = x\nignored");
    let error = parse(&bad_block)
        .portal_endpoint(&role(&parse(ENDPOINTS), "p").sso, &Environment::default())
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::InvalidValue { key, at: place, .. } if *key == "sso" && *place == at("services local", 11)),
        "{error:?}"
    );
    let missing = ENDPOINTS.replace("[services local]", "[services elsewhere]");
    let error = parse(&missing)
        .portal_endpoint(&role(&parse(ENDPOINTS), "p").sso, &Environment::default())
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("an `sso =` block for the portal"),
        "{error}"
    );
}

proptest! {
    /// Whatever the override, the portal endpoint is https, or http to
    /// loopback, or refused.
    #[test]
    fn portal_endpoints_are_https_or_loopback(url in "(https?|ftp)?(://)?[a-z0-9.:@\\[\\]/?#%-]{0,30}") {
        let config = parse(ENDPOINTS);
        for variable in ["AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL"] {
            let choice = portal(&config, &profile("p"), &env(&[(variable, url.as_str())]));
            if let Ok(endpoint) = choice.to_endpoint() {
                let base = endpoint.base_url();
                if let Some(rest) = base.strip_prefix("http://") {
                    let authority = rest.split('/').next().unwrap_or_default();
                    let host = match authority.find(']') {
                        Some(end) if authority.starts_with('[') => &authority[..=end],
                        _ => authority.split(':').next().unwrap_or_default(),
                    };
                    prop_assert!(ssoflow_core::Endpoint::is_loopback_host(host), "{base}");
                } else {
                    prop_assert!(base.starts_with("https://"), "{base}");
                }
            }
        }
    }
}
