//! The binary's request log on stderr: one line per request with the id
//! the answer carries, its method, path, status and latency, and never a
//! secret, a code or a token, whatever the request carried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read as _};
use std::process::{Child, Command, Stdio};

use common::*;
use ssoflow_core::wire::{CreateTokenResponse, RegisterClientResponse};

struct Running {
    child: Child,
    base: String,
}

fn spawn(args: &[&str], log_filter: Option<&str>) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"));
    command
        .args(["--port", "0"])
        .args(args)
        .env_remove("SSOFLOW_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(filter) = log_filter {
        command.env("SSOFLOW_LOG", filter);
    }
    let mut child = command.spawn().unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("http://"), "first line {first:?}");
    Running {
        child,
        base: first.trim().to_owned(),
    }
}

/// SIGTERM, then everything the emulator wrote on stderr.
fn terminate(mut running: Running) -> String {
    let status = Command::new("kill")
        .args(["-TERM", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = running.child.wait().unwrap();
    let mut stderr = String::new();
    running
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(exit.success(), "{exit:?}: {stderr}");
    stderr
}

fn request_id(response: &http::Response<Vec<u8>>) -> String {
    response.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn each_request_is_one_line_with_its_id_and_no_secret() {
    let running = spawn(&["--auto-approve"], None);
    let base = running.base.clone();
    let mut ids = Vec::new();
    let mut secrets = Vec::new();

    let registered = post_json(
        &format!("{base}/client/register"),
        r#"{"clientName": "logged", "clientType": "public", "scopes": ["sso:account:access"]}"#,
    );
    ids.push(request_id(&registered));
    let registration: RegisterClientResponse = ok(&registered);
    let client = Client {
        id: registration.client_id.unwrap(),
        secret: registration.client_secret.unwrap(),
    };
    secrets.push(client.secret.secret().to_owned());

    let started = start_authorization(&base, &client);
    let user_code = started.user_code.clone().unwrap();
    let device_code = started.device_code.clone().unwrap();
    secrets.push(user_code.clone());
    secrets.push(device_code.secret().to_owned());

    // The code in the query is the person's: the log shows the path only.
    let page = get(&format!("{base}/device?user_code={user_code}"));
    assert_eq!(page.status(), 200);

    let polled = poll(&base, &client, &device_code);
    ids.push(request_id(&polled));
    let token: CreateTokenResponse = ok(&polled);
    let access_token = token.access_token.unwrap();
    secrets.push(access_token.secret().to_owned());
    secrets.push(token.refresh_token.unwrap().secret().to_owned());

    let credentials = send_request(
        http::Request::get(format!(
            "{base}/federation/credentials?role_name=ReadOnlyAccess&account_id=111122223333"
        ))
        .header("x-amz-sso_bearer_token", access_token.secret())
        .body(Vec::new())
        .unwrap(),
    )
    .unwrap();
    assert_eq!(credentials.status(), 200);
    ids.push(request_id(&credentials));
    let credentials: serde_json::Value = serde_json::from_slice(credentials.body()).unwrap();
    for member in ["accessKeyId", "secretAccessKey", "sessionToken"] {
        secrets.push(
            credentials["roleCredentials"][member]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let unknown = post_json(&format!("{base}/no/such/operation"), "{}");
    assert_eq!(unknown.status(), 404);
    ids.push(request_id(&unknown));

    let stderr = terminate(running);
    let requests: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(" INFO ") && line.contains(" request "))
        .collect();
    assert_eq!(requests.len(), 6, "one line per request: {stderr}");
    for id in &ids {
        assert!(
            requests
                .iter()
                .any(|line| line.contains(&format!("request_id={id} "))),
            "{id}: {stderr}"
        );
    }
    for expected in [
        "method=POST path=/client/register status=200",
        "method=POST path=/device_authorization status=200",
        "request_id=- method=GET path=/device status=200",
        "method=POST path=/token status=200",
        "method=GET path=/federation/credentials status=200",
        "method=POST path=/no/such/operation status=404",
    ] {
        assert!(
            requests.iter().any(|line| line.contains(expected)),
            "{expected}: {stderr}"
        );
    }
    assert!(
        requests
            .iter()
            .all(|line| line.contains("latency_ms=") && line.contains("peer=127.0.0.1:")),
        "{stderr}"
    );
    for secret in &secrets {
        assert!(
            !stderr.contains(secret.as_str()),
            "{secret} logged: {stderr}"
        );
    }
    assert!(!stderr.contains("user_code="), "{stderr}");
}

#[test]
fn quiet_and_a_filter_that_turns_it_off_log_no_requests() {
    for (args, filter) in [
        (&["--quiet"][..], None),
        (&[][..], Some("ssoflow_emulator=warn")),
    ] {
        let running = spawn(args, filter);
        register(&running.base, "quiet", &[]);
        let stderr = terminate(running);
        assert!(stderr.contains("listening"), "{stderr}");
        assert!(!stderr.contains("INFO"), "{args:?} {filter:?}: {stderr}");
    }
}

#[test]
fn a_filter_that_cannot_be_read_is_a_usage_error_that_says_what_to_write() {
    let output = Command::new(env!("CARGO_BIN_EXE_ssoflow-emulator"))
        .args(["--port", "0"])
        .env("SSOFLOW_LOG", "ssoflow_emulator=loud")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SSOFLOW_LOG=\"ssoflow_emulator=loud\""),
        "{stderr}"
    );
    assert!(stderr.contains("ssoflow_emulator=debug"), "{stderr}");
}
