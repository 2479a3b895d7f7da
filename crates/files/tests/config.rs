//! The config reader against the spec (`aws-cli-compat.md` §3, §8;
//! `wire-protocol.md` §10.4) and against hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use proptest::prelude::*;
use ssoflow_core::EndpointVariant;
use ssoflow_files::config::{
    ConfigError, ConfigFile, EndpointChoice, EndpointSource, Environment, IgnoredBecause, Location,
    ProfileSource, Selector, Service, SettingMismatch, SsoSettings, SyntaxProblem, Value,
};

/// The example of §3.4, verbatim.
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

const FILE: &str = "/home/me/.aws/config";
const START_URL: &str = "https://my-sso-portal.awsapps.com/start";

fn parse(text: &str) -> ConfigFile {
    ConfigFile::parse(text, FILE).unwrap()
}

fn env(pairs: &[(&str, &str)]) -> Environment {
    pairs.iter().copied().collect()
}

fn no_env() -> Environment {
    Environment::default()
}

fn profile(name: &str) -> Selector {
    Selector::Profile(name.to_owned())
}

fn settings(config: &ConfigFile, selector: &Selector) -> SsoSettings {
    config.sso_settings(selector, &no_env()).unwrap()
}

fn settings_error(text: &str, selector: &Selector) -> ConfigError {
    parse(text).sso_settings(selector, &no_env()).unwrap_err()
}

fn endpoint(config: &ConfigFile, selector: &Selector, env: &Environment) -> EndpointChoice {
    let sso = config.sso_settings(selector, env).unwrap();
    config.oidc_endpoint(&sso, env).unwrap()
}

fn at(section: &str, line: usize) -> Location {
    Location {
        file: FILE.to_owned(),
        section: section.to_owned(),
        line,
    }
}

fn regional(region: &str) -> EndpointChoice {
    EndpointChoice::Region {
        service: Service::SsoOidc,
        region: region.to_owned(),
        variant: EndpointVariant::default(),
    }
}

fn overridden(url: &str, source: EndpointSource) -> EndpointChoice {
    EndpointChoice::Override {
        service: Service::SsoOidc,
        url: url.to_owned(),
        source,
    }
}

#[test]
fn the_spec_example_resolves_for_every_profile() {
    let config = parse(SPEC_EXAMPLE);
    assert!(config.ignored_sections().is_empty());
    assert_eq!(
        config.profiles().keys().collect::<Vec<_>>(),
        ["dev", "legacy", "local"]
    );

    let dev = settings(&config, &profile("dev"));
    assert_eq!(
        dev,
        SsoSettings {
            session_name: Some("my-sso".into()),
            start_url: START_URL.into(),
            region: "us-east-1".into(),
            scopes: vec!["sso:account:access".into()],
            registration_scopes_configured: true,
            profile: Some("dev".into()),
        }
    );
    let dev_endpoint = config.oidc_endpoint(&dev, &no_env()).unwrap();
    assert_eq!(dev_endpoint, regional("us-east-1"));
    assert_eq!(
        dev_endpoint.to_endpoint().unwrap().base_url(),
        "https://oidc.us-east-1.amazonaws.com"
    );

    let legacy = settings(&config, &profile("legacy"));
    assert_eq!(
        legacy,
        SsoSettings {
            session_name: None,
            start_url: START_URL.into(),
            region: "us-east-1".into(),
            scopes: vec![],
            registration_scopes_configured: false,
            profile: Some("legacy".into()),
        }
    );
    assert_eq!(
        config.oidc_endpoint(&legacy, &no_env()).unwrap(),
        regional("us-east-1")
    );

    let local = settings(&config, &profile("local"));
    assert_eq!(local.session_name.as_deref(), Some("my-sso"));
    assert_eq!(local.profile.as_deref(), Some("local"));
    let local_endpoint = config.oidc_endpoint(&local, &no_env()).unwrap();
    assert_eq!(
        local_endpoint,
        overridden(
            "http://127.0.0.1:4567",
            EndpointSource::ServicesSection(at("services emulator", 24))
        )
    );
    assert_eq!(
        local_endpoint.to_endpoint().unwrap().base_url(),
        "http://127.0.0.1:4567"
    );

    // The session on its own: same URL, region and scopes, no profile.
    let session = settings(&config, &Selector::SsoSession("my-sso".into()));
    assert_eq!(session.profile, None);
    assert_eq!(
        session,
        SsoSettings {
            profile: None,
            ..dev
        }
    );
}

#[test]
fn the_example_in_default_selection_follows_aws_profile() {
    let config = parse(SPEC_EXAMPLE);
    let sso = config
        .sso_settings(&Selector::Default, &env(&[("AWS_PROFILE", "legacy")]))
        .unwrap();
    assert_eq!(sso.profile.as_deref(), Some("legacy"));
}

#[test]
fn quoted_names_in_headers() {
    for header in [
        r#"[profile "my dev"]"#,
        "[profile 'my dev']",
        r"[profile my\ dev]",
        "[profile   'my dev'  ]",
        "[profile\t\"my\"' dev']",
    ] {
        let text = format!(
            "{header}\nsso_session = a b\n[sso-session 'a b']\nsso_region = eu-west-1\nsso_start_url = {START_URL}\n"
        );
        let config = parse(&text);
        assert!(config.profiles().contains_key("my dev"), "{header}");
        let sso = settings(&config, &profile("my dev"));
        assert_eq!(sso.session_name.as_deref(), Some("a b"), "{header}");
        assert_eq!(sso.region, "eu-west-1");
    }
    let config = parse("[sso-session \"x\\\"y\"]\n[services 'e m']\nk = v\n");
    assert!(config.sso_sessions().contains_key("x\"y"));
    assert!(config.services().contains_key("e m"));
}

#[test]
fn headers_that_do_not_split_into_two_words_are_ignored_and_listed() {
    let config = parse(
        "[profile]\n[profile a b]\n[profile 'unclosed]\n[sso-session]\n[services a\\]\n[profile ok]\n[plugins]\n[Profile up]\n",
    );
    assert_eq!(config.profiles().keys().collect::<Vec<_>>(), ["ok"]);
    let ignored: Vec<(&str, usize, &IgnoredBecause)> = config
        .ignored_sections()
        .iter()
        .map(|i| (i.header.as_str(), i.line, &i.reason))
        .collect();
    assert_eq!(
        ignored,
        [
            ("profile", 1, &IgnoredBecause::NotTwoWords),
            ("profile a b", 2, &IgnoredBecause::NotTwoWords),
            ("profile 'unclosed", 3, &IgnoredBecause::BadQuoting),
            ("sso-session", 4, &IgnoredBecause::NotTwoWords),
            ("services a\\", 5, &IgnoredBecause::BadQuoting),
        ]
    );
    let warning = config.ignored_sections()[1].to_string();
    assert!(
        warning.contains("line 2: [profile a b] is ignored"),
        "{warning}"
    );
    assert!(warning.contains("[profile 'my dev']"), "{warning}");
}

#[test]
fn botocore_only_checks_the_start_of_the_header() {
    // `build_profile_map` tests `startswith("profile")`, not the first word.
    let config = parse("[profiles x]\na = 1\n[sso-sessions y]\n[ profile z]\n");
    assert!(config.profiles().contains_key("x"));
    assert!(config.sso_sessions().contains_key("y"));
    // A header with a leading blank is a plain section.
    assert!(!config.profiles().contains_key("z"));
}

#[test]
fn keys_are_case_insensitive_and_section_names_are_not() {
    let config = parse(&format!(
        "[profile Dev]\nSSO_Start_URL = {START_URL}\nSso_Region: us-east-2\n[profile dev]\nsso_start_url = {START_URL}\nsso_region = us-west-1\n"
    ));
    assert_eq!(settings(&config, &profile("Dev")).region, "us-east-2");
    assert_eq!(settings(&config, &profile("dev")).region, "us-west-1");
    let section = &config.profiles()["Dev"];
    assert_eq!(
        section.get("SSO_REGION"),
        Some(&Value::Text("us-east-2".into()))
    );
    assert_eq!(section.line_of("sso_start_url"), Some(2));
    assert!(matches!(
        parse("[default]\n").sso_settings(&profile("DEFAULT"), &no_env()),
        Err(ConfigError::ProfileNotFound { .. })
    ));
}

#[test]
fn inline_comments_are_part_of_the_value() {
    let config = parse(&format!(
        "[profile p] # trailing text after the header is ignored\nsso_start_url = {START_URL}\nsso_region = us-east-1 # the region\n; a comment\n  # an indented comment\n"
    ));
    let section = &config.profiles()["p"];
    assert_eq!(
        section.get("sso_region"),
        Some(&Value::Text("us-east-1 # the region".into()))
    );
    // ... which makes it an invalid region, reported with its line.
    let error = config.sso_settings(&profile("p"), &no_env()).unwrap_err();
    match &error {
        ConfigError::InvalidValue { at: place, key, .. } => {
            assert_eq!(place, &at("profile p", 3));
            assert_eq!(*key, "sso_region");
        }
        other => panic!("{other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.starts_with(
            "in /home/me/.aws/config line 3, [profile p]: sso_region = us-east-1 # the region is not a region name"
        ),
        "{message}"
    );
}

#[test]
fn indented_blocks_are_nested_maps_and_other_continuations_are_text() {
    let config = parse(
        "[services s]\nsso_oidc =\n  endpoint_url = http://127.0.0.1:1\n\n  # a comment\n  Other_Key = x = y\nS3 =\n  addressing_style = path\n[profile p]\nnote = first\n  second\n",
    );
    let services = &config.services()["s"];
    let mut block = BTreeMap::new();
    block.insert("endpoint_url".to_owned(), "http://127.0.0.1:1".to_owned());
    block.insert("Other_Key".to_owned(), "x = y".to_owned());
    assert_eq!(services.get("sso_oidc"), Some(&Value::Nested(block)));
    assert!(matches!(services.get("s3"), Some(Value::Nested(_))));
    assert_eq!(
        config.profiles()["p"].get("note"),
        Some(&Value::Text("first\nsecond".into()))
    );
}

#[test]
fn a_profile_and_its_session_must_agree() {
    let text = format!(
        "[profile dev]\nsso_session = my-sso\nsso_region = us-west-2\n\n[sso-session my-sso]\nsso_region = us-east-1\nsso_start_url = {START_URL}\n"
    );
    let error = settings_error(&text, &profile("dev"));
    match &error {
        ConfigError::Mismatch(mismatch) => assert_eq!(
            **mismatch,
            SettingMismatch {
                key: "sso_region".into(),
                profile_at: at("profile dev", 3),
                profile_value: "us-west-2".into(),
                session_at: at("sso-session my-sso", 6),
                session_value: "us-east-1".into(),
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 3, [profile dev]: sso_region = us-west-2 disagrees with sso_region = us-east-1 on line 6 in [sso-session my-sso]; make the two equal, or remove the line from the profile"
    );
    // Equal values are fine, and the session's values are used.
    let text = text.replace("us-west-2", "us-east-1");
    assert_eq!(settings(&parse(&text), &profile("dev")).region, "us-east-1");
}

#[test]
fn a_missing_session_section_is_an_error_that_says_what_to_do() {
    let error = settings_error("[profile dev]\nsso_session = my-sso\n", &profile("dev"));
    assert!(matches!(
        &error,
        ConfigError::MissingSessionSection { at: place, session } if *place == at("profile dev", 2) && session == "my-sso"
    ));
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 2, [profile dev]: sso_session = my-sso names a section [sso-session my-sso] that does not exist; add it or fix the name"
    );
    let error = settings_error("[profile dev]\nsso_session = my sso\n", &profile("dev"));
    assert!(
        error.to_string().contains("[sso-session 'my sso']"),
        "{error}"
    );
    // An empty name is a name (botocore: "The specified sso-session does not exist").
    let error = settings_error(
        &format!(
            "[profile dev]\nsso_session =\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
        ),
        &profile("dev"),
    );
    assert!(
        matches!(&error, ConfigError::MissingSessionSection { session, .. } if session.is_empty()),
        "{error:?}"
    );
    assert!(error.to_string().contains("[sso-session '']"), "{error}");
    let error = settings_error("[default]\n", &Selector::SsoSession("x".into()));
    assert_eq!(
        error.to_string(),
        "/home/me/.aws/config has no [sso-session x] section; add one with sso_start_url and sso_region, or choose another session"
    );
}

#[test]
fn missing_settings_are_named_with_their_section() {
    // A session without a start URL.
    let error = settings_error(
        "[profile dev]\nsso_session = s\n[sso-session s]\nsso_region = us-east-1\n",
        &profile("dev"),
    );
    assert!(matches!(
        &error,
        ConfigError::MissingKey { at: place, key: "sso_start_url" } if *place == at("sso-session s", 3)
    ));
    let message = error.to_string();
    assert!(
        message.starts_with(
            "in /home/me/.aws/config line 3, [sso-session s]: sso_start_url is missing"
        ),
        "{message}"
    );
    assert!(
        message.contains("sso_start_url = https://d-1234567890.awsapps.com/start"),
        "{message}"
    );

    // The session must hold them; the profile's copy is not enough (botocore's token provider).
    let error = settings_error(
        "[profile dev]\nsso_session = s\nsso_region = us-east-1\n[sso-session s]\nsso_start_url = https://x.awsapps.com/start\n",
        &profile("dev"),
    );
    assert!(matches!(
        error,
        ConfigError::MissingKey {
            key: "sso_region",
            ..
        }
    ));

    // A legacy profile with half of what it needs.
    let error = settings_error(
        &format!("[profile old]\nsso_start_url = {START_URL}\n"),
        &profile("old"),
    );
    assert!(matches!(
        &error,
        ConfigError::MissingKey { at: place, key: "sso_region" } if *place == at("profile old", 1)
    ));
    // An empty value counts as missing, and points at its line.
    let error = settings_error(
        &format!("[profile old]\nsso_start_url = {START_URL}\nsso_region =\n"),
        &profile("old"),
    );
    assert!(matches!(
        &error,
        ConfigError::MissingKey { at: place, key: "sso_region" } if place.line == 3
    ));

    // A profile without any SSO settings.
    let error = settings_error("[default]\nregion = us-east-1\n", &Selector::Default);
    assert!(matches!(
        &error,
        ConfigError::NoSsoSettings { at: place } if *place == at("default", 1)
    ));
    assert!(error.to_string().contains("sso_session = NAME"), "{error}");
}

#[test]
fn registration_scopes() {
    let with = |line: &str| {
        parse(&format!(
            "[sso-session s]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n{line}\n"
        ))
    };
    let selector = Selector::SsoSession("s".into());
    let sso = settings(&with("sso_registration_scopes = a, b,,"), &selector);
    assert_eq!(sso.scopes, ["a", "b"]);
    assert!(sso.registration_scopes_configured);
    let sso = settings(
        &with("sso_registration_scopes = sso:account:access,codewhisperer:completions"),
        &selector,
    );
    assert_eq!(
        sso.scopes,
        ["sso:account:access", "codewhisperer:completions"]
    );
    // Set but empty: configured, and no scopes.
    let sso = settings(&with("sso_registration_scopes ="), &selector);
    assert!(sso.scopes.is_empty());
    assert!(sso.registration_scopes_configured);
    // Not set: the default scope, and "not configured" for the cache key.
    let sso = settings(&with(""), &selector);
    assert_eq!(sso.scopes, ["sso:account:access"]);
    assert!(!sso.registration_scopes_configured);
    // A legacy profile never has scopes, even when it sets the key.
    let sso = settings(
        &parse(&format!(
            "[profile old]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_registration_scopes = a\n"
        )),
        &profile("old"),
    );
    assert!(sso.scopes.is_empty());
    assert!(!sso.registration_scopes_configured);
}

#[test]
fn aws_profile_beats_aws_default_profile_beats_default() {
    let mut text = String::new();
    for (name, region) in [
        ("default", "us-east-1"),
        ("one", "us-east-2"),
        ("two", "us-west-1"),
    ] {
        let header = if name == "default" {
            "[default]".to_owned()
        } else {
            format!("[profile {name}]")
        };
        text.push_str(&format!(
            "{header}\nsso_start_url = {START_URL}\nsso_region = {region}\n"
        ));
    }
    let config = parse(&text);
    let pick = |pairs: &[(&str, &str)]| {
        config
            .sso_settings(&Selector::Default, &env(pairs))
            .unwrap()
            .profile
            .unwrap()
    };
    assert_eq!(
        pick(&[("AWS_PROFILE", "one"), ("AWS_DEFAULT_PROFILE", "two")]),
        "one"
    );
    assert_eq!(pick(&[("AWS_DEFAULT_PROFILE", "two")]), "two");
    assert_eq!(pick(&[]), "default");
    // An empty variable counts as unset.
    assert_eq!(
        pick(&[("AWS_PROFILE", ""), ("AWS_DEFAULT_PROFILE", "two")]),
        "two"
    );
    // An explicit profile ignores both.
    let sso = config
        .sso_settings(&profile("two"), &env(&[("AWS_PROFILE", "one")]))
        .unwrap();
    assert_eq!(sso.region, "us-west-1");

    let error = config
        .sso_settings(&Selector::Default, &env(&[("AWS_PROFILE", "nope")]))
        .unwrap_err();
    assert!(matches!(
        &error,
        ConfigError::ProfileNotFound { profile, chosen_by: ProfileSource::AwsProfile, .. } if profile == "nope"
    ));
    assert_eq!(
        error.to_string(),
        "AWS_PROFILE names the profile nope, but /home/me/.aws/config has no [profile nope] section; add it, or change or unset AWS_PROFILE"
    );
    let error = parse("")
        .sso_settings(&Selector::Default, &no_env())
        .unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::ProfileNotFound {
                chosen_by: ProfileSource::Default,
                ..
            }
        ),
        "{error}"
    );
}

/// A profile with every configured endpoint level set.
const ENDPOINTS: &str = "\
[profile p]
sso_session = s
services = local
endpoint_url = https://profile.example
use_fips_endpoint = true

[services local]
sso_oidc =
  endpoint_url = https://services.example

[sso-session s]
sso_start_url = https://my-sso-portal.awsapps.com/start
sso_region = eu-central-1
";

#[test]
fn each_endpoint_level_beats_the_next() {
    let p = profile("p");
    let both = [
        ("AWS_ENDPOINT_URL_SSO_OIDC", "https://oidc-variable.example"),
        ("AWS_ENDPOINT_URL", "https://global-variable.example"),
    ];
    let config = parse(ENDPOINTS);
    assert_eq!(
        endpoint(&config, &p, &env(&both)),
        overridden(
            "https://oidc-variable.example",
            EndpointSource::SsoOidcVariable
        )
    );
    assert_eq!(
        endpoint(&config, &p, &env(&both[1..])),
        overridden(
            "https://global-variable.example",
            EndpointSource::GlobalVariable
        )
    );
    // Empty variables are skipped, as botocore skips empty values.
    assert_eq!(
        endpoint(
            &config,
            &p,
            &env(&[("AWS_ENDPOINT_URL_SSO_OIDC", ""), ("AWS_ENDPOINT_URL", "")])
        ),
        overridden(
            "https://services.example",
            EndpointSource::ServicesSection(at("services local", 9))
        )
    );
    let without_services = ENDPOINTS.replace("services = local\n", "");
    let config = parse(&without_services);
    assert_eq!(
        endpoint(&config, &p, &no_env()),
        overridden(
            "https://profile.example",
            EndpointSource::Profile(at("profile p", 3))
        )
    );
    // Nothing configured: the region, with the profile's FIPS setting.
    let bare = without_services.replace("endpoint_url = https://profile.example\n", "");
    assert_eq!(
        endpoint(&parse(&bare), &p, &no_env()),
        EndpointChoice::Region {
            service: Service::SsoOidc,
            region: "eu-central-1".into(),
            variant: EndpointVariant {
                fips: true,
                dual_stack: false
            },
        }
    );
}

#[test]
fn ignoring_configured_endpoints() {
    let p = profile("p");
    let config = parse(ENDPOINTS);
    let fips_region = EndpointChoice::Region {
        service: Service::SsoOidc,
        region: "eu-central-1".into(),
        variant: EndpointVariant {
            fips: true,
            dual_stack: false,
        },
    };
    for value in ["true", "TRUE", "True"] {
        let e = env(&[
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", value),
            ("AWS_ENDPOINT_URL_SSO_OIDC", "https://oidc-variable.example"),
        ]);
        assert_eq!(endpoint(&config, &p, &e), fips_region, "{value}");
    }
    // In the profile.
    let ignoring = ENDPOINTS.replace(
        "use_fips_endpoint",
        "ignore_configured_endpoint_urls = TRUE\nuse_fips_endpoint",
    );
    let config = parse(&ignoring);
    assert_eq!(
        endpoint(
            &config,
            &p,
            &env(&[("AWS_ENDPOINT_URL", "https://global-variable.example")])
        ),
        fips_region
    );
    // The variable, when set, decides over the profile, whatever its value.
    for value in ["false", "", "yes"] {
        assert_eq!(
            endpoint(
                &config,
                &p,
                &env(&[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", value)])
            ),
            overridden(
                "https://services.example",
                EndpointSource::ServicesSection(at("services local", 10))
            ),
            "{value:?}"
        );
    }
}

#[test]
fn fips_and_dual_stack_come_from_variables_then_the_profile() {
    let text = format!(
        "[profile p]\nsso_start_url = {START_URL}\nsso_region = us-gov-west-1\nuse_dualstack_endpoint = true\n"
    );
    let config = parse(&text);
    let variant = |pairs: &[(&str, &str)]| match endpoint(&config, &profile("p"), &env(pairs)) {
        EndpointChoice::Region { variant, .. } => (variant.fips, variant.dual_stack),
        other => panic!("{other:?}"),
    };
    assert_eq!(variant(&[]), (false, true));
    assert_eq!(
        variant(&[("AWS_USE_DUALSTACK_ENDPOINT", "false")]),
        (false, false)
    );
    assert_eq!(variant(&[("AWS_USE_FIPS_ENDPOINT", "true")]), (true, true));
    let chosen = endpoint(
        &config,
        &profile("p"),
        &env(&[("AWS_USE_FIPS_ENDPOINT", "true")]),
    );
    assert_eq!(
        chosen.to_endpoint().unwrap().base_url(),
        "https://oidc-fips.us-gov-west-1.api.aws"
    );
    // An override ignores both, as botocore does.
    let chosen = endpoint(
        &config,
        &profile("p"),
        &env(&[
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_ENDPOINT_URL", "http://localhost:9"),
        ]),
    );
    assert_eq!(
        chosen.to_endpoint().unwrap().base_url(),
        "http://localhost:9"
    );
}

#[test]
fn a_session_selected_directly_sees_only_the_environment() {
    let config = parse(ENDPOINTS);
    let session = Selector::SsoSession("s".into());
    assert_eq!(
        endpoint(&config, &session, &no_env()),
        regional("eu-central-1")
    );
    assert_eq!(
        endpoint(
            &config,
            &session,
            &env(&[("AWS_ENDPOINT_URL", "https://global-variable.example")])
        ),
        overridden(
            "https://global-variable.example",
            EndpointSource::GlobalVariable
        )
    );
    match endpoint(
        &config,
        &session,
        &env(&[("AWS_USE_DUALSTACK_ENDPOINT", "true"), ("AWS_PROFILE", "p")]),
    ) {
        EndpointChoice::Region { variant, .. } => {
            assert!(variant.dual_stack);
            assert!(!variant.fips, "the profile's FIPS setting must not apply");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn services_sections_must_exist_and_be_well_formed() {
    let p = profile("p");
    let head =
        format!("[profile p]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nservices = x\n");
    let error_for = |rest: &str| {
        let config = parse(&format!("{head}{rest}"));
        let sso = settings(&config, &p);
        config.oidc_endpoint(&sso, &no_env()).unwrap_err()
    };
    let error = error_for("");
    assert!(matches!(
        &error,
        ConfigError::MissingServicesSection { at: place, services } if *place == at("profile p", 4) && services == "x"
    ));
    assert!(error.to_string().contains("[services x]"), "{error}");
    assert!(matches!(
        error_for("[services x]\n"),
        ConfigError::MissingServicesSection { .. }
    ));
    let error = error_for("[services x]\nsso_oidc = http://127.0.0.1:1\n");
    assert!(matches!(
        &error,
        ConfigError::InvalidValue { at: place, key, .. } if *place == at("services x", 6) && *key == "sso_oidc"
    ));
    // A services section for other services only: no override from it.
    let config = parse(&format!(
        "{head}[services x]\ns3 =\n  endpoint_url = https://s3.example\n"
    ));
    assert_eq!(endpoint(&config, &p, &no_env()), regional("us-east-1"));
    // Block keys keep their case, so this is not botocore's `endpoint_url`.
    let config = parse(&format!(
        "{head}[services x]\nsso_oidc =\n  ENDPOINT_URL = https://x.example\n"
    ));
    assert_eq!(endpoint(&config, &p, &no_env()), regional("us-east-1"));
    // The environment wins before the services section is even looked at.
    let config = parse(&head);
    let sso = settings(&config, &p);
    assert!(
        config
            .oidc_endpoint(&sso, &env(&[("AWS_ENDPOINT_URL", "https://e.example")]))
            .is_ok()
    );
}

#[test]
fn unusable_endpoints_say_where_they_came_from() {
    let config = parse(&format!(
        "[profile p]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nendpoint_url = http://sso.example.com\n"
    ));
    let chosen = endpoint(&config, &profile("p"), &no_env());
    let error = chosen.to_endpoint().unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(
            "the SSO OIDC endpoint from endpoint_url in /home/me/.aws/config line 4, [profile p] is not usable: `http://sso.example.com` uses plain http://"
        ),
        "{message}"
    );
    let chosen = endpoint(
        &config,
        &profile("p"),
        &env(&[("AWS_ENDPOINT_URL_SSO_OIDC", "oidc.example.com")]),
    );
    assert!(
        chosen
            .to_endpoint()
            .unwrap_err()
            .to_string()
            .contains("from AWS_ENDPOINT_URL_SSO_OIDC is not usable")
    );
}

#[test]
fn start_urls_must_be_https_and_regions_must_be_regions() {
    let check = |url: &str, region: &str| {
        parse(&format!(
            "[profile p]\nsso_start_url = {url}\nsso_region = {region}\n"
        ))
        .sso_settings(&profile("p"), &no_env())
    };
    assert!(check("HTTPS://d-1234567890.awsapps.com/start", "us-east-1").is_ok());
    for bad in [
        "http://d-1234567890.awsapps.com/start",
        "http://127.0.0.1:4567/start",
        "d-1234567890.awsapps.com/start",
        "https://",
        "https:///start",
        "https://u:p@host/start",
        "https://host/start?x=1",
        "ftp://host",
    ] {
        match check(bad, "us-east-1") {
            Err(ConfigError::InvalidValue { key, at: place, .. }) => {
                assert_eq!(key, "sso_start_url", "{bad}");
                assert_eq!(place.line, 2);
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    for bad in ["us-east-1.evil.com", "us east", "-1"] {
        assert!(
            matches!(check(START_URL, bad), Err(ConfigError::InvalidValue { key, .. }) if key == "sso_region"),
            "{bad}"
        );
    }
    let message = check("http://x", "us-east-1").unwrap_err().to_string();
    assert!(
        message.contains("sso_start_url = http://x is not an https:// URL"),
        "{message}"
    );
}

#[test]
fn default_and_profile_default_the_later_one_wins() {
    let first =
        "[default]\nsso_start_url = https://first.awsapps.com/start\nsso_region = us-east-1\n";
    let second = "[profile default]\nsso_start_url = https://second.awsapps.com/start\nsso_region = us-east-1\n";
    let config = parse(&format!("{first}{second}"));
    assert_eq!(
        settings(&config, &Selector::Default).start_url,
        "https://second.awsapps.com/start"
    );
    assert_eq!(
        config.ignored_sections()[0].reason,
        IgnoredBecause::Replaced { by_line: 4 }
    );
    assert_eq!(config.ignored_sections()[0].header, "default");
    let config = parse(&format!("{second}{first}"));
    assert_eq!(
        settings(&config, &Selector::Default).start_url,
        "https://first.awsapps.com/start"
    );
    // The later section replaces the earlier one whole: nothing is merged.
    let config = parse("[profile a]\nx = 1\n[profile 'a']\ny = 2\n");
    let a = &config.profiles()["a"];
    assert_eq!(a.get("x"), None);
    assert_eq!(a.header(), "profile 'a'");
}

#[test]
fn repeated_sections_and_settings_are_errors_as_in_strict_configparser() {
    let error = ConfigFile::parse("[profile a]\nx = 1\n\n[profile a]\n", FILE).unwrap_err();
    assert!(matches!(
        &error,
        ConfigError::Syntax {
            line: 4,
            problem: SyntaxProblem::DuplicateSection { first_line: 1, .. },
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "in /home/me/.aws/config line 4: [profile a] appears a second time (first on line 1); the AWS CLI refuses a file with a repeated section: merge the two"
    );
    let error = ConfigFile::parse("[profile a]\nx = 1\nX: 2\n", FILE).unwrap_err();
    assert!(matches!(
        &error,
        ConfigError::Syntax { line: 3, problem: SyntaxProblem::DuplicateKey { key, .. }, .. } if key == "x"
    ));
}

#[test]
fn the_default_section_is_inherited_by_every_section() {
    let config = parse(&format!(
        "[DEFAULT]\nsso_region = us-east-1\nsso_start_url = {START_URL}\n[profile a]\n[profile b]\nsso_region = eu-west-1\n"
    ));
    assert!(!config.profiles().contains_key("DEFAULT"));
    assert_eq!(settings(&config, &profile("a")).region, "us-east-1");
    assert_eq!(config.profiles()["a"].line_of("sso_region"), Some(2));
    assert_eq!(settings(&config, &profile("b")).region, "eu-west-1");
    // A bad block in [DEFAULT] matters only where it is inherited.
    let bad = "[DEFAULT]\nk =\n  no equals\n";
    assert!(
        parse(&format!("{bad}[profile a]\nk = own\n")).profiles()["a"]
            .get("k")
            .is_some()
    );
    let error = ConfigFile::parse(&format!("{bad}[profile a]\n"), FILE).unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Syntax {
            line: 3,
            problem: SyntaxProblem::BlockLineWithoutEquals { .. },
            ..
        }
    ));
    assert!(parse(bad).profiles().is_empty());
}

#[test]
fn defaults_are_shared_not_copied_into_every_section() {
    // 5 000 inherited settings × 5 000 sections would be 25 million copies.
    let mut text = String::from("[DEFAULT]\n");
    for i in 0..5_000 {
        text.push_str(&format!("key{i} = {i}\n"));
    }
    for i in 0..5_000 {
        text.push_str(&format!("[profile p{i}]\n"));
    }
    let config = parse(&text);
    assert_eq!(config.profiles().len(), 5_000);
    assert_eq!(
        config.profiles()["p4999"].get("key4999"),
        Some(&Value::Text("4999".into()))
    );
}

#[test]
fn malformed_files() {
    let syntax = |text: &str| match ConfigFile::parse(text, FILE) {
        Err(ConfigError::Syntax { line, problem, .. }) => (line, problem),
        other => panic!("{text:?}: {other:?}"),
    };
    assert_eq!(
        syntax("[default]\nregion = x\nthis is garbage\n"),
        (3, SyntaxProblem::NotASetting)
    );
    assert_eq!(
        syntax("\n# comment\nregion = us-east-1\n[default]\n"),
        (3, SyntaxProblem::BeforeFirstSection)
    );
    assert_eq!(
        syntax("[default]\n= value\n"),
        (2, SyntaxProblem::EmptyName)
    );
    assert_eq!(
        syntax("\u{feff}[default]\n"),
        (1, SyntaxProblem::ByteOrderMark)
    );
    assert!(matches!(
        syntax("[services x]\nsso_oidc =\n  endpoint_url\n"),
        (3, SyntaxProblem::BlockLineWithoutEquals { .. })
    ));
    let message = ConfigFile::parse("k = v", FILE).unwrap_err().to_string();
    assert!(
        message.starts_with("in /home/me/.aws/config line 1: "),
        "{message}"
    );
    assert!(message.contains("[profile NAME]"), "{message}");
    // An unterminated quote in a header is not an error: the section is ignored.
    let config = parse("[profile 'dev]\nsso_region = us-east-1\n");
    assert!(config.profiles().is_empty());
    assert_eq!(
        config.ignored_sections()[0].reason,
        IgnoredBecause::BadQuoting
    );
    // Empty and comment-only files are empty configurations.
    for empty in ["", "\n\n", "# only a comment\n; and another", "   \n\t\n"] {
        let config = parse(empty);
        assert!(config.profiles().is_empty() && config.sso_sessions().is_empty());
    }
    // CRLF and lone CR line endings.
    let config = parse(&format!(
        "[profile p]\r\nsso_start_url = {START_URL}\r\nsso_region = us-east-1\rregion = x\r\n"
    ));
    assert_eq!(settings(&config, &profile("p")).region, "us-east-1");
}

/// A directory for this file's tests, inside the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("config-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn loading_files() {
    let dir = scratch("loading");
    // Missing: empty.
    let config = ConfigFile::load(dir.join("absent")).unwrap();
    assert!(config.profiles().is_empty());
    assert!(ConfigFile::load(dir.join("absent").join("below")).is_ok());
    // A directory: unreadable.
    let error = ConfigFile::load(&dir).unwrap_err();
    assert!(matches!(error, ConfigError::Unreadable { .. }), "{error:?}");
    assert!(error.to_string().contains("AWS_CONFIG_FILE"), "{error}");
    // A real file, named in messages by its path.
    let path = dir.join("config");
    std::fs::write(&path, SPEC_EXAMPLE).unwrap();
    let config = ConfigFile::load(&path).unwrap();
    assert_eq!(config.source_name(), path.display().to_string());
    assert_eq!(settings(&config, &profile("dev")).region, "us-east-1");
    // Binary junk: not UTF-8, with the line of the first bad byte.
    std::fs::write(&path, b"[default]\nregion = x\r\n\xff\xfe\x00junk\n").unwrap();
    let error = ConfigFile::load(&path).unwrap_err();
    assert!(
        matches!(
            error,
            ConfigError::Syntax {
                line: 3,
                problem: SyntaxProblem::NotUtf8,
                ..
            }
        ),
        "{error:?}"
    );
    // Through the environment.
    let e = env(&[
        ("AWS_CONFIG_FILE", "$D/config"),
        ("D", dir.to_str().unwrap()),
    ]);
    std::fs::write(&path, SPEC_EXAMPLE).unwrap();
    let config = ConfigFile::load(e.config_file_path().unwrap()).unwrap();
    assert_eq!(config.profiles().len(), 3);
}

#[test]
fn environment_from_the_process_is_a_snapshot() {
    // Only reads; the test harness's own variables are there.
    let e = Environment::from_process();
    assert_eq!(e.get("PATH"), std::env::var("PATH").ok().as_deref());
}

/// Runs everything a caller can run on a parsed file.
fn exercise(config: &ConfigFile, extra_env: &Environment) {
    let mut selectors = vec![Selector::Default];
    selectors.extend(config.profiles().keys().cloned().map(Selector::Profile));
    selectors.extend(
        config
            .sso_sessions()
            .keys()
            .cloned()
            .map(Selector::SsoSession),
    );
    selectors.push(Selector::Profile("missing".into()));
    for selector in &selectors {
        for environment in [&no_env(), extra_env] {
            // Messages are rendered too: formatting must not panic either.
            let outcome = config
                .sso_settings(selector, environment)
                .and_then(|sso| config.oidc_endpoint(&sso, environment))
                .and_then(|choice| choice.to_endpoint());
            if let Err(error) = outcome {
                let _ = error.to_string();
            }
        }
    }
    for ignored in config.ignored_sections() {
        let _ = ignored.to_string();
    }
}

/// Lines that make up plausible and broken config files.
fn config_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[default]".to_owned()),
        Just("[profile p]".to_owned()),
        Just("[profile 'p q']".to_owned()),
        Just("[profile \"p".to_owned()),
        Just("[sso-session s]".to_owned()),
        Just("[services x]".to_owned()),
        Just("[DEFAULT]".to_owned()),
        Just("sso_session = s".to_owned()),
        Just("sso_start_url = https://my-sso-portal.awsapps.com/start".to_owned()),
        Just("sso_region = us-east-1".to_owned()),
        Just("sso_registration_scopes = a, b,,".to_owned()),
        Just("services = x".to_owned()),
        Just("sso_oidc =".to_owned()),
        Just("  endpoint_url = http://127.0.0.1:1".to_owned()),
        Just("endpoint_url = https://e.example".to_owned()),
        Just("ignore_configured_endpoint_urls = true".to_owned()),
        Just("use_fips_endpoint = TRUE".to_owned()),
        Just("".to_owned()),
        Just("# comment".to_owned()),
        "[ -~]{0,20}",
        "\\PC{0,12}",
        "[ \t]{1,3}[a-z_]{1,8} ?[=:] ?[ -~]{0,12}",
    ]
}

/// A value for a setting: realistic, hostile or random (one line).
fn setting_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("s".to_owned()),
        Just("x".to_owned()),
        Just("p q".to_owned()),
        Just("us-east-1".to_owned()),
        Just("us-east-1.evil.com".to_owned()),
        Just("https://my-sso-portal.awsapps.com/start".to_owned()),
        Just("http://127.0.0.1:1".to_owned()),
        Just("https://h/?q".to_owned()),
        Just("true".to_owned()),
        Just("a, b,,".to_owned()),
        Just(String::new()),
        "[ -~]{0,20}",
        "\\PC{0,8}",
    ]
}

/// An optional `name = value` line, usually with the `good` value.
fn maybe(name: &'static str, good: &'static str) -> impl Strategy<Value = String> {
    let value = prop_oneof![3 => Just(good.to_owned()), 1 => setting_value()];
    prop::option::weighted(0.7, value)
        .prop_map(move |value| value.map_or_else(String::new, |v| format!("{name} = {v}")))
}

/// A file shaped like a real one (so resolution runs deep) with random values.
fn shaped_file() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("[default]"),
            Just("[profile p]"),
            Just("[profile 'p q']")
        ],
        [
            maybe("sso_session", "s"),
            maybe("sso_start_url", START_URL),
            maybe("sso_region", "us-east-1"),
            maybe("services", "x"),
        ],
        [
            maybe("endpoint_url", "https://e.example"),
            maybe("ignore_configured_endpoint_urls", "false"),
            maybe("use_fips_endpoint", "true"),
            maybe("use_dualstack_endpoint", "true"),
        ],
        [
            maybe("sso_start_url", START_URL),
            maybe("sso_region", "us-east-1"),
            maybe("sso_registration_scopes", "a, b,,"),
        ],
        (
            prop::option::weighted(0.2, setting_value()),
            maybe("  endpoint_url", "http://127.0.0.1:1"),
        ),
        prop::option::weighted(0.2, "\\PC{0,30}"),
    )
        .prop_map(
            |(header, profile_a, profile_b, session, (oidc, block), junk)| {
                let mut lines = vec![header.to_owned()];
                lines.extend(profile_a);
                lines.extend(profile_b);
                lines.push("[sso-session s]".to_owned());
                lines.extend(session);
                lines.push("[services x]".to_owned());
                lines.push(format!("sso_oidc = {}", oidc.unwrap_or_default()));
                lines.push(block);
                lines.extend(junk);
                lines.join("\n")
            },
        )
}

proptest! {
    #[test]
    fn shaped_files_never_panic(
        text in shaped_file(),
        profile in prop_oneof![Just("p"), Just("p q"), Just("")],
        variable in prop::option::of(setting_value()),
    ) {
        let mut pairs = vec![("AWS_PROFILE", profile.to_owned())];
        if let Some(url) = variable {
            pairs.push(("AWS_ENDPOINT_URL", url));
        }
        let environment: Environment = pairs.into_iter().collect();
        if let Ok(config) = ConfigFile::parse(&text, "shaped") {
            exercise(&config, &environment);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC*") {
        if let Ok(config) = ConfigFile::parse(&text, "arbitrary") {
            exercise(&config, &no_env());
        }
    }

    #[test]
    fn arbitrary_characters_never_panic(text in prop::collection::vec(any::<char>(), 0..200)) {
        let text: String = text.into_iter().collect();
        if let Ok(config) = ConfigFile::parse(&text, "arbitrary") {
            exercise(&config, &no_env());
        }
    }

    #[test]
    fn config_like_files_never_panic(
        lines in prop::collection::vec(config_line(), 0..30),
        ending in prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        profile in prop_oneof![Just(""), Just("p"), Just("p q"), Just("default")],
        ignore in prop_oneof![Just(None), Just(Some("true")), Just(Some("no"))],
    ) {
        let text = lines.join(ending);
        let mut pairs = vec![
            ("AWS_PROFILE".to_owned(), profile.to_owned()),
            ("AWS_USE_DUALSTACK_ENDPOINT".to_owned(), "true".to_owned()),
        ];
        if let Some(value) = ignore {
            pairs.push(("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS".to_owned(), value.to_owned()));
        }
        let environment: Environment = pairs.into_iter().collect();
        match ConfigFile::parse(&text, "generated") {
            Ok(config) => exercise(&config, &environment),
            Err(error) => {
                let message = error.to_string();
                prop_assert!(message.contains("generated"), "{}", message);
            }
        }
    }
}

#[test]
fn the_ca_bundle_comes_from_aws_ca_bundle_then_the_profile_as_in_botocore() {
    let config = parse(
        "[profile corp]\nsso_session = s\nca_bundle = /etc/corp-ca.pem\n\
         [profile blank]\nsso_session = s\nca_bundle =\n\
         [profile nested]\nsso_session = s\nca_bundle =\n  x = y\n\
         [sso-session s]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n",
    );
    let settings = |name: &str| config.sso_settings(&profile(name), &no_env()).unwrap();
    let corp = settings("corp");
    let from_profile = config.ca_bundle(&corp, &no_env()).unwrap().unwrap();
    assert_eq!(from_profile.path, PathBuf::from("/etc/corp-ca.pem"));
    assert_eq!(
        from_profile.source,
        format!("ca_bundle in {FILE} line 3, [profile corp]")
    );
    let overridden = config
        .ca_bundle(&corp, &env(&[("AWS_CA_BUNDLE", "/env.pem")]))
        .unwrap()
        .unwrap();
    assert_eq!(overridden.path, PathBuf::from("/env.pem"));
    assert_eq!(overridden.source, "AWS_CA_BUNDLE");
    // An empty variable or value counts as unset.
    let empty_env = env(&[("AWS_CA_BUNDLE", "")]);
    assert_eq!(
        config.ca_bundle(&corp, &empty_env).unwrap().unwrap().path,
        PathBuf::from("/etc/corp-ca.pem")
    );
    assert_eq!(
        config.ca_bundle(&settings("blank"), &no_env()).unwrap(),
        None
    );
    let nested = config
        .ca_bundle(&settings("nested"), &no_env())
        .unwrap_err();
    assert!(nested.to_string().contains("ca_bundle"), "{nested}");
    // An sso-session alone has no profile: only the variable applies.
    let session = config
        .sso_settings(&Selector::SsoSession("s".into()), &no_env())
        .unwrap();
    assert_eq!(config.ca_bundle(&session, &no_env()).unwrap(), None);
}
