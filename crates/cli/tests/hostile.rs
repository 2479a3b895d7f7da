//! Hostile input to the `ssoflow` binary: a service that answers with
//! terminal escapes and dangerous links, hostile regions and start URLs,
//! a token refresh killed at random moments, and no secret in any output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{START_URL, home, ssoflow, text};

use ssoflow_emulator::{AutoApprove, Fault};
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};
use ssoflow_files::{CachedToken, TokenCache, TokenKey};

/// A service that registers, then hands out a user code full of terminal
/// escapes and a `javascript:` link, then denies: answers in order, one
/// request per connection.
fn hostile_service(start_answer: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let answers = [
            (
                200,
                r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#,
                "",
            ),
            (200, start_answer, ""),
            (
                400,
                r#"{"error":"access_denied","error_description":"no \u001b[31mway"}"#,
                "AccessDeniedException",
            ),
        ];
        for (status, body, shape) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body_in = vec![0; length];
            let _ = reader.read_exact(&mut body_in);
            let error_type = if shape.is_empty() {
                String::new()
            } else {
                format!(
                    "x-amzn-ErrorType: {shape}:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/\r\n"
                )
            };
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{error_type}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = reader.get_mut().write_all(response.as_bytes());
        }
    });
    url
}

#[cfg(unix)]
#[test]
fn escapes_are_neutralised_and_dangerous_links_never_opened() {
    let home = home("hostile", "escapes");
    // A "browser" that leaves a mark if anything launches it.
    let marker = home.join("browser-was-opened");
    let browser = home.join("browser.sh");
    std::fs::write(&browser, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();

    for link in [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://evil.example/device",
    ] {
        let start = Box::leak(
            format!(
                r#"{{"deviceCode":"dc","userCode":"AB\u001b[2JCD","verificationUri":"{link}","verificationUriComplete":"{link}","expiresIn":600,"interval":1}}"#
            )
            .into_boxed_str(),
        );
        let endpoint = hostile_service(start);
        let output = ssoflow(
            &home,
            &endpoint,
            &["login", "--use-device-code", "--sso-session", "it"],
        )
        .env("DISPLAY", ":0")
        .env("BROWSER", &browser)
        .output()
        .unwrap();
        assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
        let stderr = text(&output.stderr);
        assert!(
            !stderr.contains('\u{1b}'),
            "a raw escape reached the terminal: {stderr:?}"
        );
        assert!(stderr.contains("AB\\u{1b}[2JCD"), "{stderr}");
        assert!(stderr.contains(link), "the link is shown as text: {stderr}");
        assert!(stderr.contains("not opened"), "{stderr}");
        assert!(!marker.exists(), "{link} was handed to a browser");
    }
}

#[test]
fn hostile_regions_and_start_urls_are_refused_before_any_request() {
    let home = home("hostile", "regions");
    let nowhere = "http://127.0.0.1:9";
    for (args, says) in [
        (
            vec![
                "--start-url",
                START_URL,
                "--region",
                "us-east-1.evil.example",
            ],
            "region",
        ),
        (
            vec!["--start-url", START_URL, "--region", "x/../y"],
            "region",
        ),
        (
            vec![
                "--start-url",
                "http://d-1234567890.awsapps.com/start",
                "--region",
                "us-east-1",
            ],
            "https",
        ),
        (
            vec![
                "--start-url",
                "javascript:alert(1)",
                "--region",
                "us-east-1",
            ],
            "https",
        ),
    ] {
        let mut command = ssoflow(&home, nowhere, &["login"]);
        command.env_remove("AWS_ENDPOINT_URL_SSO_OIDC").args(&args);
        let output = command.output().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.to_lowercase().contains(says), "{args:?}: {stderr}");
    }
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{:?}: {}",
        command,
        text(&output.stderr)
    );
    output
}

/// `ssoflow login` with the authorization code, a display and a browser
/// command that records the URL; the test then plays the browser (the
/// emulator approves at once and redirects to the listener).
fn pkce_login(home: &Path, endpoint: &str, json: bool) -> Output {
    let opened = home.join("opened-url");
    let _ = std::fs::remove_file(&opened);
    let script = home.join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut args = vec!["login", "--sso-session", "it", "--force", "--debug"];
    if json {
        args.extend(["--output", "json"]);
    }
    let child = ssoflow(home, endpoint, &args)
        .env("DISPLAY", ":99")
        .env("BROWSER", &script)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    for _ in 0..400 {
        url = std::fs::read_to_string(&opened).unwrap_or_default();
        if !url.trim().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let answer = agent.get(url.trim()).call().unwrap();
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    agent.get(&location).call().unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    output
}

#[test]
fn no_secret_appears_in_any_output_but_the_token_asked_for() {
    // Every command runs with --debug: its log names requests, request ids
    // and states, and must not name a secret either.
    let home = home("hostile", "secrets");
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    config.service.token_ttl = Duration::from_secs(240); // due: `token` refreshes
    let emulator = EmulatorThread::start(config).unwrap();
    let endpoint = emulator.base_url().to_owned();
    let mut outputs = vec![
        pkce_login(&home, &endpoint, false),
        pkce_login(&home, &endpoint, true),
    ];
    for args in [
        vec![
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ],
        vec![
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--force",
            "--output",
            "json",
        ],
        vec!["status"],
        vec!["status", "--sso-session", "it", "--output", "json"],
        vec!["accounts", "--sso-session", "it"],
        vec![
            "accounts",
            "--sso-session",
            "it",
            "--refresh",
            "--output",
            "json",
        ],
    ] {
        let mut command = ssoflow(&home, &endpoint, &args);
        command
            .arg("--debug")
            .env("AWS_ENDPOINT_URL_SSO", &endpoint);
        outputs.push(run(&mut command));
    }
    let log = text(&outputs[0].stderr);
    assert!(
        log.contains("request_id=") && log.contains("state changed from=Pending to=Authorized"),
        "--debug shows requests and states: {log}"
    );
    // Role credentials: the two secrets asked for are on stdout only.
    let mut role_secrets = Vec::new();
    for format in ["process", "env"] {
        let mut command = ssoflow(
            &home,
            &endpoint,
            &[
                "credentials",
                "--sso-session",
                "it",
                "--account-id",
                "111122223333",
                "--role-name",
                "AdministratorAccess",
                "--format",
                format,
                "--debug",
            ],
        );
        command.env("AWS_ENDPOINT_URL_SSO", &endpoint);
        let credentials = run(&mut command);
        if format == "process" {
            let json: serde_json::Value = serde_json::from_slice(&credentials.stdout).unwrap();
            role_secrets.push(json["SecretAccessKey"].as_str().unwrap().to_owned());
            role_secrets.push(json["SessionToken"].as_str().unwrap().to_owned());
        }
        outputs.push(Output {
            stdout: Vec::new(),
            ..credentials
        });
    }
    let token = run(&mut ssoflow(
        &home,
        &endpoint,
        &[
            "token",
            "--sso-session",
            "it",
            "--output",
            "json",
            "--debug",
        ],
    ));
    let printed: serde_json::Value = serde_json::from_slice(&token.stdout).unwrap();
    let cache = TokenCache::in_home(&home);
    let stored = cache
        .read_token(&TokenKey::SsoSession("it".into()))
        .unwrap()
        .unwrap();
    assert_eq!(
        printed["accessToken"],
        stored.access_token.secret(),
        "the one secret asked for"
    );
    outputs.push(Output {
        stdout: Vec::new(),
        ..token
    });
    let mut logout = ssoflow(
        &home,
        &endpoint,
        &["logout", "--sso-session", "it", "--debug"],
    );
    logout.env("AWS_ENDPOINT_URL_SSO", &endpoint);
    outputs.push(run(&mut logout));

    // Every secret the service issued to these runs, from its own state.
    let snapshot = serde_json::to_string(&emulator.with_service(|s| s.snapshot())).unwrap();
    let state: serde_json::Value = serde_json::from_str(&snapshot).unwrap();
    let mut secrets = vec![stored.access_token.secret().to_owned()];
    secrets.extend(role_secrets);
    for registration in state["state"]["registrations"]
        .as_object()
        .unwrap()
        .values()
    {
        secrets.push(registration["client_secret"].as_str().unwrap().to_owned());
    }
    secrets.extend(
        state["state"]["authorizations"]
            .as_object()
            .unwrap()
            .keys()
            .cloned(),
    ); // device codes
    secrets.extend(
        state["state"]["refresh_tokens"]
            .as_object()
            .unwrap()
            .keys()
            .cloned(),
    );
    // The authorization codes, and the `state` of each /authorize request.
    secrets.extend(
        state["state"]["authorization_codes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned(),
    );
    for request in state["state"]["authorization_requests"]
        .as_object()
        .unwrap()
        .values()
    {
        secrets.push(request["state"].as_str().unwrap().to_owned());
    }
    assert!(secrets.len() >= 11, "{}", secrets.len());
    // The PKCE verifiers: the service keeps only their challenges, so every
    // word of the output that could be a verifier is hashed and compared.
    let challenges: Vec<String> = state["state"]["authorization_requests"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| r["code_challenge"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(challenges.len(), 2);
    for output in &outputs {
        let all = text(&output.stdout) + &text(&output.stderr);
        let words = all.split(|c: char| !(c.is_ascii_alphanumeric() || "-._~".contains(c)));
        for word in words.filter(|w| (43..=128).contains(&w.len())) {
            let challenge = ssoflow_core::pkce::code_challenge(word);
            assert!(!challenges.contains(&challenge), "a verifier leaked: {all}");
        }
    }
    for output in &outputs {
        let all = text(&output.stdout) + &text(&output.stderr);
        for secret in &secrets {
            assert!(
                !all.contains(secret.as_str()),
                "a secret leaked into: {all}"
            );
        }
    }
}

/// Kills `ssoflow token` at random moments of a refresh, 200 times: the
/// token file is always a complete file, the old one or a new one.
#[cfg(unix)]
#[test]
fn a_refresh_killed_at_any_moment_leaves_the_old_or_the_new_file() {
    let home = home("hostile", "kill");
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    config.service.token_ttl = Duration::from_secs(240); // always due for refresh
    let emulator = EmulatorThread::start(config).unwrap();
    let endpoint = emulator.base_url().to_owned();
    run(&mut ssoflow(
        &home,
        &endpoint,
        &[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ],
    ));
    let cache = TokenCache::in_home(&home);
    let key = TokenKey::SsoSession("it".into());
    let path = cache.token_path(&key);

    // A cheap deterministic spread of kill moments, 0-100 ms, with the
    // service answering after 0-15 ms so kills land before, during and after
    // the request and the write.
    let mut seed: u64 = 0x5eed;
    let mut next = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let (mut before, mut after) = (0, 0);
    for _ in 0..200 {
        let old = std::fs::read(&path).unwrap();
        emulator
            .with_service(|s| s.inject_faults(Fault::Delay(Duration::from_millis(next(15))), 1));
        let mut child = ssoflow(&home, &endpoint, &["token", "--sso-session", "it"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(next(100)));
        let _ = child.kill();
        let _ = child.wait();
        let now = std::fs::read(&path).unwrap();
        let parsed = CachedToken::parse(&now)
            .unwrap_or_else(|error| panic!("half a file after a kill: {error}: {}", text(&now)));
        assert!(parsed.refreshable().is_some(), "every field is there");
        if now == old {
            before += 1;
        } else {
            after += 1;
        }
        // A killed attempt was recorded in the lock file and would hold the
        // next rounds off for 30 s; start each round afresh.
        let _ = std::fs::remove_file(cache.dir().join(format!("{}.lock", key.file_name())));
    }
    // Both outcomes happened: the kills really landed on both sides of the write.
    assert!(
        before > 0 && after > 0,
        "old kept {before} times, replaced {after} times"
    );
    let leftovers: Vec<_> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    // Temporary files of killed writers may remain; they are never the token file.
    eprintln!(
        "kept the old file {before} times, saw a new one {after} times, {} temporary files left",
        leftovers.len()
    );
}

/// Kills `ssoflow credentials` at random moments of a fetch, 100 times: the
/// role-cache entry is always absent or a whole file the AWS CLI can read.
#[cfg(unix)]
#[test]
fn a_credentials_fetch_killed_at_any_moment_never_leaves_half_a_role_file() {
    let home = home("hostile", "kill-role");
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    let emulator = EmulatorThread::start(config).unwrap();
    let endpoint = emulator.base_url().to_owned();
    run(&mut ssoflow(
        &home,
        &endpoint,
        &["login", "--use-device-code", "--sso-session", "it"],
    ));
    let roles = ssoflow_files::RoleCache::in_home(&home);
    let key = ssoflow_files::RoleCacheKey {
        account_id: "111122223333".into(),
        role_name: "ReadOnlyAccess".into(),
        session_name: Some("it".into()),
        start_url: START_URL.into(),
    };
    let path = roles.path(&key);
    let mut seed: u64 = 0xfeed;
    let mut next = |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let (mut absent, mut whole) = (0, 0);
    for _ in 0..100 {
        let _ = std::fs::remove_file(&path);
        emulator.with_service(|s| {
            s.inject_portal_faults(Fault::Delay(Duration::from_millis(next(15))), 1)
        });
        let mut child = ssoflow(
            &home,
            &endpoint,
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
        .env("AWS_ENDPOINT_URL_SSO", &endpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(next(80)));
        let _ = child.kill();
        let _ = child.wait();
        match std::fs::read(&path) {
            Err(_) => absent += 1,
            Ok(bytes) => {
                ssoflow_files::CachedRoleCredentials::parse(&bytes).unwrap_or_else(|error| {
                    panic!("half a role file after a kill: {error}: {}", text(&bytes))
                });
                whole += 1;
            }
        }
    }
    assert!(absent > 0 && whole > 0, "absent {absent}, whole {whole}");
}
