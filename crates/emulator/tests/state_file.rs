//! State-file round trips: what was issued before a restart still works
//! after it, through the library entry point and through the binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::*;
use ssoflow_core::ErrorCode;
use ssoflow_core::wire::{self, CreateTokenRequest, CreateTokenResponse};
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ssoflow-emulator-state-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn with_state_file(path: &Path) -> EmulatorConfig {
    let mut config = EmulatorConfig::default();
    config.state_file = Some(path.to_owned());
    config
}

fn refresh(
    base: &str,
    client: &Client,
    refresh_token: &ssoflow_core::secret::RefreshToken,
) -> http::Response<Vec<u8>> {
    let request = CreateTokenRequest::refresh_token(&client.id, &client.secret, refresh_token);
    post_json(&format!("{base}/token"), wire::encode(&request))
}

#[test]
fn registrations_pending_codes_and_refresh_tokens_survive_a_restart() {
    let dir = scratch("library");
    let path = dir.join("state.json");

    let emulator = EmulatorThread::start(with_state_file(&path)).unwrap();
    let base = emulator.base_url().to_owned();
    let client = register(&base, "survivor", &["sso:account:access"]);
    let approved = start_authorization(&base, &client);
    emulator
        .with_service(|s| s.approve(approved.user_code.as_deref().unwrap(), SystemTime::now()))
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let token: CreateTokenResponse = ok(&poll(&base, &client, &approved.device_code.unwrap()));
    let waiting = start_authorization(&base, &client);
    emulator.stop().unwrap();

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds secrets");
    }

    let restarted = EmulatorThread::start(with_state_file(&path)).unwrap();
    let base = restarted.base_url().to_owned();
    // The refresh token works and rotates.
    let refreshed: CreateTokenResponse =
        ok(&refresh(&base, &client, &token.refresh_token.unwrap()));
    // The registration still authenticates.
    start_authorization(&base, &client);
    // The code that was waiting can still be approved and redeemed.
    restarted
        .with_service(|s| s.approve(waiting.user_code.as_deref().unwrap(), SystemTime::now()))
        .unwrap();
    let late: CreateTokenResponse = ok(&poll(&base, &client, &waiting.device_code.unwrap()));
    assert!(late.access_token.is_some());
    restarted.stop().unwrap();

    // And the rotation made before the second stop was saved too.
    let third = EmulatorThread::start(with_state_file(&path)).unwrap();
    let base = third.base_url().to_owned();
    ok::<CreateTokenResponse>(&refresh(&base, &client, &refreshed.refresh_token.unwrap()));
}

#[test]
fn a_pending_authorization_code_request_survives_a_restart() {
    use ssoflow_core::pkce;
    use ssoflow_core::secret::{AuthorizationCode, CodeVerifier};

    const CALLBACK: &str = "http://127.0.0.1:50001/oauth/callback";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let dir = scratch("pkce");
    let path = dir.join("state.json");

    let emulator = EmulatorThread::start(with_state_file(&path)).unwrap();
    let base = emulator.base_url().to_owned();
    let body = serde_json::json!({
        "clientName": "pkce-survivor", "clientType": "public",
        "grantTypes": ["authorization_code", "refresh_token"],
        "redirectUris": [pkce::REGISTERED_REDIRECT_URI],
        "issuerUrl": START_URL,
        "scopes": ["sso:account:access"],
    });
    let registered: wire::RegisterClientResponse = ok(&post_json(
        &format!("{base}/client/register"),
        body.to_string(),
    ));
    let client = Client {
        id: registered.client_id.unwrap(),
        secret: registered.client_secret.unwrap(),
    };
    let consent = get(&format!(
        "{base}/authorize?response_type=code&client_id={}&redirect_uri={}&state=kept\
         &code_challenge_method=S256&scopes=sso%3Aaccount%3Aaccess&code_challenge={}",
        client.id,
        pkce::percent_encode(CALLBACK),
        pkce::code_challenge(VERIFIER),
    ));
    assert_eq!(consent.status(), 200);
    let before = emulator.with_service(|s| s.pending_authorizations(SystemTime::now()));
    assert_eq!(before.len(), 1);
    emulator.stop().unwrap();

    let restarted = EmulatorThread::start(with_state_file(&path)).unwrap();
    let base = restarted.base_url().to_owned();
    let after = restarted.with_service(|s| s.pending_authorizations(SystemTime::now()));
    assert_eq!(
        after, before,
        "the same request, with the same id and redirect"
    );
    let location = restarted
        .with_service(|s| s.decide_authorization(SystemTime::now(), &after[0].id, true))
        .unwrap();
    let query = location.strip_prefix(&format!("{CALLBACK}?")).unwrap();
    let params = pkce::parse_query(query).unwrap();
    assert_eq!(params[1], ("state".to_owned(), "kept".to_owned()));
    let exchange = CreateTokenRequest::authorization_code(
        &client.id,
        &client.secret,
        &AuthorizationCode::new(params[0].1.clone()),
        CALLBACK,
        &CodeVerifier::new(VERIFIER),
    );
    let token: CreateTokenResponse = ok(&post_json(
        &format!("{base}/token"),
        wire::encode(&exchange),
    ));
    restarted.stop().unwrap();

    // The spent code and the refresh token it issued are state too.
    let third = EmulatorThread::start(with_state_file(&path)).unwrap();
    let base = third.base_url().to_owned();
    let reused = post_json(&format!("{base}/token"), wire::encode(&exchange));
    assert_eq!(error_of(&reused).code, ErrorCode::InvalidGrant);
    assert_eq!(
        error_of(&refresh(&base, &client, &token.refresh_token.unwrap())).code,
        ErrorCode::InvalidGrant,
        "revoked by the reuse"
    );
}

#[test]
fn a_corrupt_state_file_stops_the_start_and_says_which_file() {
    let dir = scratch("corrupt");
    let path = dir.join("state.json");
    std::fs::write(&path, b"{\"version\": 1, \"state\": {\"registra").unwrap();
    let error = EmulatorThread::start(with_state_file(&path)).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("corrupt"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"{\"version\": 1, \"state\": {\"registra",
        "left as it was"
    );
}

// ------------------------------------------------------------------ binary

struct Running {
    child: Child,
    base: String,
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let base = first.trim().to_owned();
    assert!(
        base.starts_with("http://127.0.0.1:"),
        "first line {first:?}"
    );
    Running { child, base }
}

/// SIGTERM, as a service manager or a test harness stops it; returns stderr.
fn terminate(mut running: Running) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(running.child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(exit.success(), "{exit:?}: {stderr}");
    stderr
}

#[test]
fn the_binary_prints_its_url_first_and_keeps_state_across_restarts() {
    let dir = scratch("binary");
    let path = dir.join("emulator-state.json");
    let state = path.to_str().unwrap();

    let first = spawn(&["--state-file", state, "--auto-approve"]);
    let client = register(&first.base, "binary", &["sso:account:access"]);
    let code = start_authorization(&first.base, &client)
        .device_code
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let token: CreateTokenResponse = ok(&poll(&first.base, &client, &code));
    let stderr = terminate(first);
    assert!(stderr.contains("verification page"), "{stderr}");
    assert!(
        stderr.contains(&format!("state saved to {state}")),
        "{stderr}"
    );

    let second = spawn(&["--state-file", state]);
    ok::<CreateTokenResponse>(&refresh(
        &second.base,
        &client,
        &token.refresh_token.unwrap(),
    ));
    // The auto-approval was a flag of the first run, not state.
    let code = start_authorization(&second.base, &client)
        .device_code
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        error_of(&poll(&second.base, &client, &code)).code,
        ErrorCode::AuthorizationPending
    );
    terminate(second);
}

#[test]
fn the_binary_refuses_a_corrupt_state_file_at_start_up() {
    let dir = scratch("binary-corrupt");
    let path = dir.join("state.json");
    std::fs::write(&path, b"not json").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--port", "0", "--state-file", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        output.stdout.is_empty(),
        "no URL is printed for an emulator that did not start"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("the state file {} is corrupt", path.display())),
        "{stderr}"
    );
}

#[test]
fn the_binary_explains_bad_flags() {
    let output = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--token-ttl", "forever"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--token-ttl") && stderr.contains("90d"),
        "{stderr}"
    );
}
