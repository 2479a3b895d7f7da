//! HTTPS: every page and API of the emulator over TLS, with the CA it
//! generates or with the user's certificate; clients that do not trust it
//! are refused without harm to the others; files that cannot be used stop
//! the start with their name. Through the library and through the binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::io::{BufRead, BufReader, Read as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use ssoflow_core::pkce;
use ssoflow_core::wire::{self, CreateTokenResponse, DEFAULT_SCOPE};
use ssoflow_emulator::{
    AutoApprove, EmulatorConfig, EmulatorError, EmulatorThread, TlsError, TlsSettings,
};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ssoflow-emulator-tls-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn generated() -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.tls = Some(TlsSettings::Generated {
        extra_hosts: Vec::new(),
    });
    config
}

/// An emulator with a generated CA, which the helpers of `common` trust.
fn https_emulator(config: EmulatorConfig) -> EmulatorThread {
    let emulator = EmulatorThread::start(config).unwrap();
    trust(emulator.tls_ca_pem().expect("a generated CA"));
    emulator
}

/// An agent that trusts only the built-in web roots, as any client that was
/// not told about the emulator's CA.
fn untrusting_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A CA and a server certificate for 127.0.0.1 it signed, as a user would
/// bring them: (CA PEM, chain PEM, key PEM).
fn user_certificate() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, leaf.pem(), key.serialize_pem())
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn from_files(certificate_chain: &Path, private_key: &Path) -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.tls = Some(TlsSettings::FromFiles {
        certificate_chain: certificate_chain.to_owned(),
        private_key: private_key.to_owned(),
    });
    config
}

fn tls_error(config: EmulatorConfig) -> String {
    match EmulatorThread::start(config) {
        Err(error @ EmulatorError::Tls(_)) => error.to_string(),
        Err(other) => panic!("not a TLS error: {other}"),
        Ok(emulator) => panic!("started at {}", emulator.base_url()),
    }
}

// ------------------------------------------------------------------ library

#[test]
fn a_device_flow_its_page_the_portal_and_the_admin_api_work_over_https() {
    let emulator = https_emulator(generated());
    let base = emulator.base_url().to_owned();
    assert!(base.starts_with("https://127.0.0.1:"), "{base}");

    let client = register(&base, "over TLS", &["sso:account:access"]);
    let started = start_authorization(&base, &client);
    assert_eq!(
        started.verification_uri.as_deref(),
        Some(format!("{base}/device").as_str())
    );
    let code = started.user_code.unwrap();
    let mut browser = Browser::new(&emulator);
    let review = browser.enter(&code);
    assert_eq!(review.status, 200, "{}", review.html);
    let result = browser.decide(&review, &code, "allow");
    assert_eq!((result.status, result.outcome()), (200, Some("allowed")));
    let token: CreateTokenResponse = ok(&poll(&base, &client, &started.device_code.unwrap()));

    let accounts = send_request(
        http::Request::get(format!("{base}/assignment/accounts?max_result=10"))
            .header(
                "x-amz-sso_bearer_token",
                token.access_token.unwrap().secret(),
            )
            .body(Vec::new())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(accounts.status(), 200);
    let accounts: serde_json::Value = serde_json::from_slice(accounts.body()).unwrap();
    assert_eq!(accounts["accountList"][0]["accountId"], "111122223333");

    let counters = get(&format!("{base}/_emulator/counters"));
    assert_eq!(counters.status(), 200);
    let counters: serde_json::Value = serde_json::from_slice(counters.body()).unwrap();
    assert_eq!(counters["createToken"], 1);
}

#[test]
fn the_consent_page_of_authorize_works_over_https() {
    let emulator = https_emulator(generated());
    let base = emulator.base_url();
    let body = serde_json::json!({
        "clientName": "pkce over TLS",
        "clientType": "public",
        "grantTypes": ["authorization_code", "refresh_token"],
        "redirectUris": [pkce::REGISTERED_REDIRECT_URI],
        "issuerUrl": START_URL,
        "scopes": [DEFAULT_SCOPE],
    });
    let registered: wire::RegisterClientResponse = ok(&post_json(
        &format!("{base}/client/register"),
        body.to_string(),
    ));
    let callback = "http://127.0.0.1:49152/oauth/callback";
    let query = format!(
        "response_type=code&client_id={}&redirect_uri={}&state=s&code_challenge_method=S256\
         &scopes={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        pkce::percent_encode(registered.client_id.as_deref().unwrap()),
        pkce::percent_encode(callback),
        pkce::percent_encode(DEFAULT_SCOPE),
    );
    let mut browser = Browser::new(&emulator);
    let page = browser.open(&format!("{base}/authorize?{query}"));
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(page.html.contains("pkce over TLS"));
    let answer = browser.post_form(
        "/authorize/decide",
        &[
            ("csrf", &page.csrf()),
            ("id", &page.hidden("id")),
            ("decision", "allow"),
        ],
    );
    assert_eq!(answer.status(), 303);
    let location = answer.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{callback}?code=")),
        "{location}"
    );
}

#[test]
fn localhost_is_a_name_of_the_generated_certificate() {
    let emulator = https_emulator(generated());
    let port = emulator.local_addr().port();
    // localhost may resolve to ::1 first; the client then tries 127.0.0.1.
    let counters = get(&format!("https://localhost:{port}/_emulator/counters"));
    assert_eq!(counters.status(), 200);
}

#[test]
fn ipv6_loopback_is_a_name_of_the_generated_certificate() {
    let mut config = generated();
    config.bind = "[::1]:0".parse().unwrap();
    let emulator = match EmulatorThread::start(config) {
        Ok(emulator) => emulator,
        // A machine without IPv6 on loopback (some containers) cannot run this.
        Err(EmulatorError::Bind { source, .. }) => {
            eprintln!("skipped: cannot listen on [::1]: {source}");
            return;
        }
        Err(other) => panic!("{other}"),
    };
    trust(emulator.tls_ca_pem().unwrap());
    assert!(emulator.base_url().starts_with("https://[::1]:"));
    let counters = get(&format!("{}/_emulator/counters", emulator.base_url()));
    assert_eq!(counters.status(), 200);
}

#[test]
fn a_client_without_the_ca_is_refused_and_the_emulator_serves_on() {
    let emulator = https_emulator(generated());
    let base = emulator.base_url();

    let refused = untrusting_agent()
        .get(format!("{base}/_emulator/counters"))
        .call()
        .unwrap_err();
    // ureq hands rustls' verdict over as the error of the handshake's I/O.
    let verdict = match &refused {
        ureq::Error::Rustls(error) => Some(error),
        ureq::Error::Io(error) => error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    assert!(
        matches!(
            verdict,
            Some(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{refused:?}"
    );
    // Plain HTTP on the HTTPS port gets no HTTP answer.
    let plain = raw_exchange(
        emulator.local_addr(),
        b"GET /_emulator/counters HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(!plain.starts_with("HTTP/"), "{plain:?}");

    // Each failed handshake cost its own connection only.
    assert_eq!(get(&format!("{base}/_emulator/counters")).status(), 200);
}

#[test]
fn extra_hosts_that_no_certificate_can_name_stop_the_start() {
    let mut config = EmulatorConfig::default();
    config.tls = Some(TlsSettings::Generated {
        extra_hosts: vec!["not a host".to_owned()],
    });
    let error = tls_error(config);
    assert!(error.contains("\"not a host\""), "{error}");
}

#[test]
fn the_users_certificate_and_key_are_served_from_files() {
    let dir = scratch("user-files");
    let (ca, chain, key) = user_certificate();
    let emulator = EmulatorThread::start(from_files(
        &write(&dir, "chain.pem", &chain),
        &write(&dir, "key.pem", &key),
    ))
    .unwrap();
    assert!(emulator.base_url().starts_with("https://127.0.0.1:"));
    assert_eq!(emulator.tls_ca_pem(), None, "the user holds the CA");
    trust(&ca);
    register(emulator.base_url(), "user's certificate", &[]);
}

#[test]
fn certificate_and_key_files_that_cannot_be_used_are_errors_naming_the_file() {
    let dir = scratch("bad-files");
    let (_, chain, key) = user_certificate();
    let chain = write(&dir, "chain.pem", &chain);
    let key = write(&dir, "key.pem", &key);
    let named = |error: &str, path: &Path| {
        assert!(error.contains(&path.display().to_string()), "{error}");
    };

    let missing = dir.join("missing.pem");
    let error = tls_error(from_files(&missing, &key));
    named(&error, &missing);
    assert!(error.contains("TLS certificate file"), "{error}");

    // A key where the chain should be: no certificate in it.
    let error = tls_error(from_files(&key, &key));
    named(&error, &key);
    assert!(error.contains("no PEM certificate"), "{error}");

    let error = tls_error(from_files(&chain, &missing));
    named(&error, &missing);
    assert!(error.contains("TLS private key file"), "{error}");

    let garbage = write(
        &dir,
        "garbage.pem",
        "-----BEGIN PRIVATE KEY-----\nnot base64!\n",
    );
    let error = tls_error(from_files(&chain, &garbage));
    named(&error, &garbage);

    let error = tls_error(from_files(&chain, &chain));
    named(&error, &chain);
    assert!(error.contains("no PEM private key"), "{error}");

    // Another certificate's key: rustls refuses the pair, both files named.
    let (_, _, other_key) = user_certificate();
    let other_key = write(&dir, "other-key.pem", &other_key);
    let error = tls_error(from_files(&chain, &other_key));
    named(&error, &chain);
    named(&error, &other_key);

    let EmulatorError::Tls(TlsError::Rejected { .. }) =
        EmulatorThread::start(from_files(&chain, &other_key)).unwrap_err()
    else {
        panic!("a mismatched key is a rejected pair");
    };
}

#[test]
fn auto_approve_and_tls_make_a_whole_sign_in_for_a_client_that_trusts_the_ca() {
    let mut config = generated();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    let emulator = https_emulator(config);
    let client = register(emulator.base_url(), "auto", &[]);
    let started = start_authorization(emulator.base_url(), &client);
    let token: CreateTokenResponse = ok(&poll(
        emulator.base_url(),
        &client,
        &started.device_code.unwrap(),
    ));
    assert!(token.access_token.is_some());
}

// ------------------------------------------------------------------- binary

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary; `Err` holds its stderr when it printed no base URL.
fn spawn(args: &[&str]) -> Result<Running, (Option<i32>, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--port", "0", "--quiet"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    if first.is_empty() {
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        return Err((status.code(), stderr));
    }
    Ok(Running {
        child,
        base: first.trim().to_owned(),
    })
}

#[test]
fn tls_ca_out_writes_the_ca_before_the_url_is_printed() {
    let dir = scratch("ca-out");
    let ca_file = dir.join("ca.pem");
    let running = spawn(&["--tls", "--tls-ca-out", ca_file.to_str().unwrap()]).unwrap();
    assert!(
        running.base.starts_with("https://127.0.0.1:"),
        "{}",
        running.base
    );

    let pem = std::fs::read_to_string(&ca_file).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert!(
        pem.trim_end().ends_with("-----END CERTIFICATE-----"),
        "{pem}"
    );
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(certificates.len(), 1, "exactly the CA");

    trust(&pem);
    register(&running.base, "ca file", &[]);
}

#[test]
fn the_binary_serves_the_users_certificate() {
    let dir = scratch("binary-files");
    let (ca, chain, key) = user_certificate();
    let chain = write(&dir, "chain.pem", &chain);
    let key = write(&dir, "key.pem", &key);
    let running = spawn(&[
        "--tls-cert",
        chain.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ])
    .unwrap();
    assert!(running.base.starts_with("https://127.0.0.1:"));
    trust(&ca);
    register(&running.base, "binary, user's certificate", &[]);
}

#[test]
fn the_binary_names_a_key_file_it_cannot_use() {
    let dir = scratch("binary-bad-key");
    let (_, chain, _) = user_certificate();
    let chain = write(&dir, "chain.pem", &chain);
    let key = write(&dir, "not-a-key.pem", "this is not PEM\n");
    let Err((code, stderr)) = spawn(&[
        "--tls-cert",
        chain.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]) else {
        panic!("started with a key file holding no key");
    };
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("TLS private key file {}", key.display())),
        "{stderr}"
    );
}

#[test]
fn tls_ca_out_with_the_users_certificate_is_a_usage_error() {
    let Err((code, stderr)) = spawn(&[
        "--tls-cert",
        "chain.pem",
        "--tls-key",
        "key.pem",
        "--tls",
        "--tls-ca-out",
        "ca.pem",
    ]) else {
        panic!("started");
    };
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--tls-ca-out") && stderr.contains("--tls-cert"),
        "{stderr}"
    );
}

/// SIGTERM, as a test harness stops it; returns what it wrote on stderr.
fn terminate(mut running: Running) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    running.child.wait().unwrap();
    let mut stderr = String::new();
    running
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    stderr
}

/// Where the binary listens, for raw connections.
fn address_of(base: &str) -> SocketAddr {
    base.rsplit("//").next().unwrap().parse().unwrap()
}

#[test]
fn the_binary_logs_a_failed_handshake_at_debug_and_serves_on() {
    let dir = scratch("handshake-log");
    let ca_file = dir.join("ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args([
            "--port",
            "0",
            "--tls",
            "--tls-ca-out",
            ca_file.to_str().unwrap(),
        ])
        .env("SSOFLOW_LOG", "ssoflow_emulator=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let running = Running {
        child,
        base: first.trim().to_owned(),
    };
    raw_exchange(
        address_of(&running.base),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    trust(&std::fs::read_to_string(&ca_file).unwrap());
    register(&running.base, "after a bad handshake", &[]);

    let stderr = terminate(running);
    assert!(stderr.contains("TLS handshake failed"), "{stderr}");
    assert!(
        stderr.contains("path=/client/register status=200"),
        "{stderr}"
    );
}
