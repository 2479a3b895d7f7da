//! The fault table, end to end: the `ssoflow` binary against the emulator's
//! injected faults, and against an emulator killed and restarted from its
//! state file in the middle of a sign-in. Each row checks the outcome the
//! device-flow spec prescribes, the message, and that the token file is
//! either untouched or completely written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{home, spawn_login_json, ssoflow, text};

use ssoflow_core::ErrorCode;
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread, Fault};
use ssoflow_files::{CachedToken, TokenCache, TokenKey};

fn stored(home: &Path) -> Option<Vec<u8>> {
    std::fs::read(TokenCache::in_home(home).token_path(&TokenKey::SsoSession("it".into()))).ok()
}

fn auto_approving(token_ttl: Duration) -> EmulatorThread {
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    config.service.token_ttl = token_ttl;
    EmulatorThread::start(config).unwrap()
}

fn login(home: &Path, emulator: &EmulatorThread) -> Output {
    ssoflow(
        home,
        emulator.base_url(),
        &[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ],
    )
    .output()
    .unwrap()
}

#[test]
fn row_5xx_burst_and_malformed_bodies_are_retried_through() {
    let home = home("faults", "burst");
    let emulator = auto_approving(Duration::from_secs(3600));
    emulator.with_service(|s| {
        s.inject_faults(Fault::Status(503), 2);
        s.inject_faults(Fault::MalformedBody, 1);
        s.inject_faults(Fault::Status(500), 1);
    });
    let output = login(&home, &emulator);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("RegisterClient failed (attempt 1); trying again"),
        "{stderr}"
    );
    assert!(
        CachedToken::parse(&stored(&home).unwrap())
            .unwrap()
            .refreshable()
            .is_some()
    );
}

#[test]
fn row_malformed_bodies_until_the_retries_run_out_fail_cleanly() {
    let home = home("faults", "malformed");
    let emulator = auto_approving(Duration::from_secs(3600));
    emulator.with_service(|s| s.inject_faults(Fault::MalformedBody, 5));
    let output = login(&home, &emulator);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("RegisterClient response is unusable"),
        "{stderr}"
    );
    assert!(stored(&home).is_none(), "no token file");
}

#[test]
fn row_an_unreadable_token_answer_ends_the_sign_in_at_once_and_says_the_code_is_spent() {
    // A 200 to the device-code poll that cannot be read: the service has
    // spent the code, so polling again could only get invalid_grant.
    let home = home("faults", "unreadable-token");
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let mut child = spawn_login_json(&home, emulator.base_url());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("a user code before the end").unwrap();
        if line.contains(r#""event":"user_code""#) {
            break;
        }
    }
    // The first poll comes one interval (1 s) after the code.
    emulator.with_service(|s| s.inject_faults(Fault::MalformedBody, 1));
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("could not be read") && stderr.contains("device code is spent"),
        "{stderr}"
    );
    assert!(
        !rest.iter().any(|line| line.contains("retrying")),
        "the poll was sent again: {rest:?}"
    );
    assert_eq!(emulator.with_service(|s| s.counters()).create_token, 1);
    assert_eq!(stored(&home), None);
}

#[test]
fn row_dropped_connections_until_the_retries_run_out_name_the_endpoint() {
    let home = home("faults", "dropped");
    let emulator = auto_approving(Duration::from_secs(3600));
    emulator.with_service(|s| s.inject_faults(Fault::DropConnection, 5));
    let output = login(&home, &emulator);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("after 5 attempts") && stderr.contains(emulator.base_url()),
        "{stderr}"
    );
    assert!(stored(&home).is_none());
}

#[test]
fn row_a_revoked_refresh_token_serves_the_valid_token_then_asks_for_a_sign_in() {
    let home = home("faults", "revoked");
    // Four-minute tokens: due for refresh at once, valid for a while yet.
    let emulator = auto_approving(Duration::from_secs(240));
    assert_eq!(login(&home, &emulator).status.code(), Some(0));
    let before = stored(&home).unwrap();
    let refresh_token = CachedToken::parse(&before).unwrap().refresh_token.unwrap();
    emulator.with_service(|s| s.revoke_refresh_token(refresh_token.secret()));

    let output = ssoflow(
        &home,
        emulator.base_url(),
        &["token", "--sso-session", "it"],
    )
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning: refreshing the token")
            && stderr.contains("InvalidGrantException"),
        "{stderr}"
    );
    assert_eq!(stored(&home).unwrap(), before, "the file is unchanged");
    assert_eq!(
        text(&output.stdout).trim(),
        CachedToken::parse(&before).unwrap().access_token.secret(),
        "the old, still valid token is served"
    );
}

#[test]
fn row_slow_down_on_polls_stretches_the_interval_and_still_signs_in() {
    let home = home("faults", "slowdown");
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterPolls(1));
    let emulator = EmulatorThread::start(config).unwrap();
    // The first poll gets slow_down (injected once the code is shown): the
    // next comes 1 + 5 s later and gets the token.
    let started = std::time::Instant::now();
    let mut child = spawn_login_json(&home, emulator.base_url());
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut events = Vec::new();
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if event["event"] == "user_code" {
            emulator.with_service(|s| s.inject_faults(Fault::Error(ErrorCode::SlowDown), 1));
        }
        events.push(event["event"].as_str().unwrap().to_owned());
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(
        events,
        ["registered", "user_code", "slow_down", "signed_in"]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "1 s, then 1 + 5 s"
    );
}

/// The emulator as a process of its own (the `ssoflow emulator` command),
/// killed and restarted: needs the `emulator` feature.
#[cfg(feature = "emulator")]
mod emulator_process {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;

    use super::*;

    /// A tiny HTTP POST for the admin API of an emulator in another process.
    fn admin_post(base: &str, path: &str, body: &str) -> String {
        let authority = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(authority).unwrap();
        write!(
            stream,
            "POST /_emulator/{path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    fn start_emulator_process(
        home: &Path,
        port: &str,
        state: &Path,
    ) -> (std::process::Child, String) {
        let mut child = ssoflow(
            home,
            "",
            &[
                "emulator",
                "--port",
                port,
                "--state-file",
                state.to_str().unwrap(),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        (child, first.trim().to_owned())
    }

    #[test]
    fn row_the_emulator_killed_and_restarted_from_its_state_file_mid_flow() {
        let home = home("faults", "restart");
        let state = home.join("emulator-state.json");
        let (mut emulator, base) = start_emulator_process(&home, "0", &state);
        let port = base.rsplit(':').next().unwrap().to_owned();

        let mut login = ssoflow(
            &home,
            &base,
            &[
                "login",
                "--use-device-code",
                "--sso-session",
                "it",
                "--output",
                "json",
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
        let user_code = loop {
            let event: serde_json::Value =
                serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
            if event["event"] == "user_code" {
                break event["userCode"].as_str().unwrap().to_owned();
            }
        };
        // Let the state file catch up (writes are coalesced over 100 ms), then kill -9.
        std::thread::sleep(Duration::from_millis(500));
        emulator.kill().unwrap();
        emulator.wait().unwrap();
        std::thread::sleep(Duration::from_millis(1500)); // login meets refused connections

        let (mut restarted, again) = start_emulator_process(&home, &port, &state);
        assert_eq!(again, base, "the same address");
        let approved = admin_post(
            &base,
            "approve",
            &format!(r#"{{"userCode": "{user_code}"}}"#),
        );
        assert!(
            approved.starts_with("HTTP/1.1 200"),
            "the pending code survived: {approved}"
        );

        let rest: Vec<String> = lines.map(|line| line.unwrap()).collect();
        let status = login.wait().unwrap();
        let mut stderr = String::new();
        login
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(status.success(), "{stderr}\n{rest:?}");
        assert!(
            rest.iter().any(|line| line.contains("\"retrying\"")),
            "it retried while the emulator was down: {rest:?}"
        );
        assert!(rest.last().unwrap().contains("\"signed_in\""), "{rest:?}");
        assert!(
            CachedToken::parse(&stored(&home).unwrap())
                .unwrap()
                .refreshable()
                .is_some()
        );
        let _ = restarted.kill();
        let _ = restarted.wait();
    }

    /// The emulator killed while `credentials` waits for GetRoleCredentials:
    /// after its retries, a clear error, nothing on stdout, no cache entry.
    #[test]
    fn row_the_emulator_killed_during_credentials() {
        let home = home("faults", "killed-credentials");
        let state = home.join("emulator-state.json");
        let (mut emulator, base) = start_emulator_process(&home, "0", &state);
        // Sign in, approving the code the JSON login shows.
        let login = {
            let mut login = ssoflow(
                &home,
                &base,
                &[
                    "login",
                    "--use-device-code",
                    "--sso-session",
                    "it",
                    "--output",
                    "json",
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
            let mut lines = BufReader::new(login.stdout.take().unwrap()).lines();
            let user_code = loop {
                let event: serde_json::Value =
                    serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
                if event["event"] == "user_code" {
                    break event["userCode"].as_str().unwrap().to_owned();
                }
            };
            admin_post(
                &base,
                "approve",
                &format!(r#"{{"userCode": "{user_code}"}}"#),
            );
            lines.for_each(drop);
            login.wait_with_output().unwrap()
        };
        assert!(
            login.status.success(),
            "{}",
            String::from_utf8_lossy(&login.stderr)
        );
        // The portal answers 3 s late; the emulator dies meanwhile.
        let delayed = admin_post(
            &base,
            "faults",
            r#"{"fault": "delay", "millis": 3000, "target": "portal"}"#,
        );
        assert!(delayed.starts_with("HTTP/1.1 200"), "{delayed}");
        let credentials = ssoflow(
            &home,
            &base,
            &[
                "credentials",
                "--sso-session",
                "it",
                "--account-id",
                "111122223333",
                "--role-name",
                "ReadOnlyAccess",
            ],
        )
        .env("AWS_ENDPOINT_URL_SSO", &base)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        emulator.kill().unwrap();
        emulator.wait().unwrap();
        let output = credentials.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(output.stdout.is_empty());
        assert!(
            stderr.contains("could not reach") || stderr.contains("kept failing"),
            "{stderr}"
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        let roles = home.join(".aws/cli/cache");
        let entries: Vec<_> = std::fs::read_dir(&roles)
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(entries.is_empty(), "a cache entry after a failed fetch");
    }
}
