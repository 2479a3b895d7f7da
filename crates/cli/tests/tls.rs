//! `ssoflow` against the emulator over HTTPS, with the CA the emulator
//! generated: refused without it (quickly, saying what to do), accepted
//! from every place the AWS tools take a CA bundle and from the operating
//! system's store, and reached through a proxy from the environment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{home, ssoflow, text};
use ssoflow_emulator::{AutoApprove, ConnectProxy, EmulatorConfig, EmulatorThread, TlsSettings};

const PROXIED_HOST: &str = "sso.emulator.test";

fn https_emulator() -> EmulatorThread {
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    // Due for refresh at once: `token` must reach the service too.
    config.service.token_ttl = Duration::from_secs(240);
    config.tls = Some(TlsSettings::Generated {
        extra_hosts: vec![PROXIED_HOST.into()],
    });
    EmulatorThread::start(config).unwrap()
}

fn write_ca(emulator: &EmulatorThread, home: &Path, name: &str) -> PathBuf {
    let path = home.join(name);
    std::fs::write(&path, emulator.tls_ca_pem().unwrap()).unwrap();
    path
}

fn login(home: &Path, endpoint: &str, extra: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut args = vec!["login", "--use-device-code", "--no-browser"];
    args.extend(extra);
    let mut command = ssoflow(home, endpoint, &args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn token(home: &Path, endpoint: &str, extra: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut args = vec!["token"];
    args.extend(extra);
    let mut command = ssoflow(home, endpoint, &args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn succeeded(output: &Output) {
    assert!(output.status.success(), "{}", text(&output.stderr));
}

#[test]
fn login_and_token_need_the_ca_and_take_it_from_every_place_the_aws_tools_do() {
    let emulator = https_emulator();
    let endpoint = emulator.base_url().to_owned();
    let home = home("tls", "places");
    let ca = write_ca(&emulator, &home, "emulator-ca.pem");
    let other = https_emulator();
    let other_ca = write_ca(&other, &home, "other-ca.pem");
    let session = ["--sso-session", "it"];

    // Without it: a clear TLS error at once, nothing sent, no retries.
    let started = Instant::now();
    let refused = login(&home, &endpoint, &session, &[]);
    assert_eq!(refused.status.code(), Some(1));
    let message = text(&refused.stderr);
    assert!(
        message.contains("TLS certificate of 127.0.0.1"),
        "{message}"
    );
    assert!(message.contains("AWS_CA_BUNDLE"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(10), "{message}");
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 0);

    // AWS_CA_BUNDLE.
    succeeded(&login(
        &home,
        &endpoint,
        &session,
        &[("AWS_CA_BUNDLE", &ca)],
    ));
    // The token is due for refresh: without the CA the refresh fails and
    // the still-valid token is served with the reason. (A refresh is tried
    // once per 30 s, so the tests below that refresh use other homes.)
    let create_token = || emulator.with_service(|s| s.counters()).create_token;
    let before = create_token();
    let refused = token(&home, &endpoint, &session, &[]);
    let message = text(&refused.stderr);
    assert!(
        message.contains("TLS certificate of 127.0.0.1"),
        "{message}"
    );
    assert_eq!(
        create_token(),
        before,
        "the refresh never reached the service"
    );

    // --ca-bundle wins over a wrong AWS_CA_BUNDLE.
    let flag = [
        "--sso-session",
        "it",
        "--force",
        "--ca-bundle",
        ca.to_str().unwrap(),
    ];
    succeeded(&login(
        &home,
        &endpoint,
        &flag,
        &[("AWS_CA_BUNDLE", &other_ca)],
    ));
    let wrong = login(
        &home,
        &endpoint,
        &["--sso-session", "it", "--force"],
        &[("AWS_CA_BUNDLE", &other_ca)],
    );
    assert!(
        text(&wrong.stderr).contains("other-ca.pem (from AWS_CA_BUNDLE)"),
        "{}",
        text(&wrong.stderr)
    );

    // The profile's ca_bundle.
    let config = home.join(".aws/config");
    let mut text_of_config = std::fs::read_to_string(&config).unwrap();
    text_of_config = text_of_config.replace(
        "[profile dev]\n",
        &format!("[profile dev]\nca_bundle = {}\n", ca.display()),
    );
    std::fs::write(&config, text_of_config).unwrap();
    succeeded(&login(
        &home,
        &endpoint,
        &["--profile", "dev", "--force"],
        &[],
    ));
    succeeded(&token(&home, &endpoint, &["--profile", "dev"], &[]));
}

#[test]
fn the_operating_system_s_store_is_the_default_and_a_bundle_replaces_it() {
    let emulator = https_emulator();
    let endpoint = emulator.base_url().to_owned();
    let home = home("tls", "system");
    let ca = write_ca(&emulator, &home, "emulator-ca.pem");
    let other_ca = write_ca(&https_emulator(), &home, "other-ca.pem");
    let session = ["--sso-session", "it"];
    // SSL_CERT_FILE is where OpenSSL and rustls-native-certs find the
    // system's roots on Linux: the emulator's CA stands in for a company's.
    succeeded(&login(
        &home,
        &endpoint,
        &session,
        &[("SSL_CERT_FILE", &ca)],
    ));
    // A bundle replaces the system's roots, as in botocore: the CA from the
    // system store no longer counts.
    let replaced = login(
        &home,
        &endpoint,
        &["--sso-session", "it", "--force"],
        &[("SSL_CERT_FILE", &ca), ("AWS_CA_BUNDLE", &other_ca)],
    );
    assert!(!replaced.status.success());
    assert!(
        text(&replaced.stderr).contains("other-ca.pem"),
        "{}",
        text(&replaced.stderr)
    );
    // And the refresh of `token` uses the system's store as well.
    let create_token = || emulator.with_service(|s| s.counters()).create_token;
    let before = create_token();
    succeeded(&token(
        &home,
        &endpoint,
        &session,
        &[("SSL_CERT_FILE", &ca)],
    ));
    assert_eq!(create_token(), before + 1);
}

#[test]
fn a_bundle_that_cannot_be_read_is_a_configuration_error_before_any_request() {
    let emulator = https_emulator();
    let endpoint = emulator.base_url().to_owned();
    let home = home("tls", "bad-bundle");
    let missing = home.join("missing.pem");
    let not_pem = home.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    for (bundle, words) in [
        (&missing, "does not exist"),
        (&not_pem, "holds no certificate"),
    ] {
        let output = login(
            &home,
            &endpoint,
            &["--sso-session", "it"],
            &[("AWS_CA_BUNDLE", bundle)],
        );
        assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
        let message = text(&output.stderr);
        assert!(message.contains(&bundle.display().to_string()), "{message}");
        assert!(message.contains(words), "{message}");
    }
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 0);
}

#[test]
fn https_proxy_from_the_environment_carries_requests_unless_no_proxy_names_the_host() {
    let emulator = https_emulator();
    let port = emulator.local_addr().port();
    let proxy = ConnectProxy::start(emulator.local_addr()).unwrap();
    let proxy_url = PathBuf::from(proxy.url());
    let endpoint = format!("https://{PROXIED_HOST}:{port}");
    let home = home("tls", "proxy");
    let ca = write_ca(&emulator, &home, "emulator-ca.pem");
    let session = ["--sso-session", "it"];

    succeeded(&login(
        &home,
        &endpoint,
        &session,
        &[("AWS_CA_BUNDLE", &ca), ("HTTPS_PROXY", &proxy_url)],
    ));
    let seen = proxy.requests();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|l| l.starts_with(&format!("CONNECT {PROXIED_HOST}:{port} "))),
        "{seen:?}"
    );

    // The refresh of `token` takes the same route.
    let create_token = || emulator.with_service(|s| s.counters()).create_token;
    let refreshes = create_token();
    succeeded(&token(
        &home,
        &endpoint,
        &session,
        &[("AWS_CA_BUNDLE", &ca), ("HTTPS_PROXY", &proxy_url)],
    ));
    assert_eq!(create_token(), refreshes + 1);
    let seen = proxy.requests();

    let before = seen.len();
    let straight = login(
        &home,
        &endpoint,
        &["--sso-session", "it", "--force"],
        &[
            ("AWS_CA_BUNDLE", &ca),
            ("HTTPS_PROXY", &proxy_url),
            ("NO_PROXY", Path::new("localhost,.emulator.test")),
        ],
    );
    assert!(!straight.status.success());
    assert_eq!(proxy.requests().len(), before, "{}", text(&straight.stderr));
}
