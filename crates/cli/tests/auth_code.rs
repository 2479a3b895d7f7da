//! `ssoflow login` with the authorization code and PKCE — the default for
//! sso-session profiles, as in the AWS CLI — against the emulator over real
//! HTTP, with a small HTTP client as the browser: the caches it writes, the
//! registration rule between the two grants, a forged callback, a denial,
//! and the fallbacks to the device code with the reason said.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use common::{home, ssoflow, text};
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread};
use ssoflow_files::{RegistrationKey, TokenCache, TokenKey};

struct World {
    home: PathBuf,
    emulator: EmulatorThread,
}

impl World {
    fn new(name: &str, auto_approve: bool) -> World {
        let mut config = EmulatorConfig::default();
        if auto_approve {
            config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
        }
        World {
            home: home("pkce", name),
            emulator: EmulatorThread::start(config).unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        ssoflow(&self.home, self.emulator.base_url(), args)
    }

    /// `ssoflow login --sso-session it --no-browser --output json ARGS` in the background.
    fn spawn_login(&self, extra: &[&str]) -> Child {
        let mut args = vec![
            "login",
            "--sso-session",
            "it",
            "--no-browser",
            "--output",
            "json",
        ];
        args.extend(extra);
        self.command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn registration_file(&self) -> PathBuf {
        let key = RegistrationKey {
            region: "us-east-1".into(),
            configured_scopes: Some(vec!["sso:account:access".into()]),
            session_name: Some("it".into()),
            start_url: common::START_URL.into(),
        };
        self.home.join(".aws/sso/cache").join(key.file_name())
    }

    fn registrations(&self) -> u64 {
        self.emulator.with_service(|s| s.counters()).register_client
    }
}

/// Reads JSON events from the login's stdout until one of `kind`; returns it.
fn wait_for_event(lines: &mut impl Iterator<Item = String>, kind: &str) -> serde_json::Value {
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["event"] == kind {
            return event;
        }
    }
    panic!("no {kind} event")
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET `url`; the status, the Location header and the body.
fn get(url: &str) -> (u16, Option<String>, String) {
    let mut response = agent().get(url).call().unwrap();
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    (
        status,
        location,
        response.body_mut().read_to_string().unwrap(),
    )
}

/// The browser: opens the authorization URL; the auto-approving emulator
/// redirects to the listener, which is visited. Returns the listener's answer.
fn browse(url: &str) -> (u16, String, String) {
    let (status, location, _) = get(url);
    assert_eq!(status, 302, "{url}");
    let location = location.unwrap();
    assert!(location.starts_with("http://127.0.0.1:"), "{location}");
    let (status, _, body) = get(&location);
    (status, body, location)
}

fn finish(child: Child) -> (Output, Vec<serde_json::Value>) {
    let output = child.wait_with_output().unwrap();
    let events = text(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output, events)
}

fn kinds(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

fn stdout_lines(child: &mut Child) -> impl Iterator<Item = String> {
    let stdout = child.stdout.take().unwrap();
    BufReader::new(stdout).lines().map(Result::unwrap)
}

#[test]
fn pkce_is_the_default_and_writes_what_the_aws_cli_writes() {
    let world = World::new("default", true);
    let mut login = world.spawn_login(&[]);
    let mut lines = stdout_lines(&mut login);
    let registered = wait_for_event(&mut lines, "registered");
    assert_eq!(
        registered["grantTypes"],
        serde_json::json!(["authorization_code", "refresh_token"])
    );
    let prompt = wait_for_event(&mut lines, "authorization_url");
    let url = prompt["url"].as_str().unwrap();
    let base = world.emulator.base_url();
    assert!(
        url.starts_with(&format!("{base}/authorize?response_type=code&client_id=")),
        "{url}"
    );
    assert_eq!(prompt["opened"], false);
    let (status, page, _) = browse(url);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("close this tab"), "{page}");
    let rest: Vec<String> = lines.collect();
    let (output, _) = finish(login);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(rest.iter().any(|l| l.contains("\"signed_in\"")), "{rest:?}");

    // The registration file as the AWS CLI writes it for this grant.
    let registration = std::fs::read_to_string(world.registration_file()).unwrap();
    assert!(
        registration.ends_with(
            r#", "scopes": ["sso:account:access"], "grantTypes": ["authorization_code", "refresh_token"]}"#
        ),
        "{registration}"
    );
    // The token where `token`, `status`, botocore and the AWS CLI find it.
    let token = TokenCache::in_home(&world.home)
        .read_token(&TokenKey::SsoSession("it".into()))
        .unwrap()
        .unwrap();
    assert!(token.expires_at > SystemTime::now());
    let printed = world
        .command(&["token", "--sso-session", "it"])
        .output()
        .unwrap();
    assert_eq!(text(&printed.stdout).trim(), token.access_token.secret());
}

#[test]
fn each_grant_registers_its_own_client_as_the_aws_cli_does() {
    let world = World::new("reuse", true);
    let pkce = |world: &World| {
        let mut login = world.spawn_login(&["--force"]);
        let mut lines = stdout_lines(&mut login);
        let prompt = wait_for_event(&mut lines, "authorization_url");
        browse(prompt["url"].as_str().unwrap());
        lines.for_each(drop);
        assert!(finish(login).0.status.success());
    };
    let device = |world: &World| {
        let output = world
            .command(&[
                "login",
                "--use-device-code",
                "--sso-session",
                "it",
                "--force",
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
    };
    pkce(&world);
    assert_eq!(world.registrations(), 1);
    pkce(&world);
    assert_eq!(
        world.registrations(),
        1,
        "a PKCE registration is reused by PKCE"
    );
    device(&world);
    assert_eq!(world.registrations(), 2, "not by the device flow");
    let file = std::fs::read_to_string(world.registration_file()).unwrap();
    assert!(!file.contains("grantTypes"), "{file}");
    device(&world);
    assert_eq!(
        world.registrations(),
        2,
        "a device registration is reused by the device flow"
    );
    pkce(&world);
    assert_eq!(world.registrations(), 3, "not by PKCE");
}

#[test]
fn a_forged_callback_is_refused_and_the_real_one_still_completes() {
    let world = World::new("forged", true);
    let mut login = world.spawn_login(&[]);
    let mut lines = stdout_lines(&mut login);
    let prompt = wait_for_event(&mut lines, "authorization_url");
    let redirect = prompt["redirectUri"].as_str().unwrap();
    let (status, _, page) = get(&format!("{redirect}?code=stolen&state=not-this-one"));
    assert_eq!(status, 400, "{page}");
    let refused = wait_for_event(&mut lines, "callback_refused");
    assert!(
        refused["reason"].as_str().unwrap().contains("state"),
        "{refused}"
    );
    let (status, _, _) = get(&redirect.replace("/oauth/callback", "/favicon.ico"));
    assert_eq!(status, 404);
    let (status, page, _) = browse(prompt["url"].as_str().unwrap());
    assert_eq!(status, 200, "{page}");
    lines.for_each(drop);
    assert!(finish(login).0.status.success());
}

#[test]
fn a_denial_in_the_browser_ends_the_login() {
    let world = World::new("deny", false);
    let mut login = world.spawn_login(&[]);
    let mut lines = stdout_lines(&mut login);
    let prompt = wait_for_event(&mut lines, "authorization_url");
    let (status, _, consent) = get(prompt["url"].as_str().unwrap());
    assert_eq!(status, 200);
    assert!(
        consent.contains("ssoflow"),
        "the consent page names the client: {consent}"
    );
    let location = world.emulator.with_service(|service| {
        let now = SystemTime::now();
        let pending = service.pending_authorizations(now);
        service
            .decide_authorization(now, &pending[0].id, false)
            .unwrap()
    });
    assert!(location.contains("error=access_denied"), "{location}");
    let (status, _, page) = get(&location);
    assert_eq!(status, 200);
    assert!(page.contains("denied"), "{page}");
    let (output, events) = {
        lines.for_each(drop);
        finish(login)
    };
    assert_eq!(output.status.code(), Some(3), "{}", text(&output.stderr));
    let _ = events;
    assert!(
        text(&output.stderr).contains("denied"),
        "{}",
        text(&output.stderr)
    );
}

/// The login with a display and a browser command that records the URL it
/// was asked to open, under `extra` environment variables.
fn login_with_desktop(
    world: &World,
    extra: &[(&str, &str)],
) -> (Output, Vec<serde_json::Value>, PathBuf) {
    let opened = world.home.join("opened-url");
    let script = world.home.join("browser.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display()),
    )
    .unwrap();
    make_executable(&script);
    let mut command = world.command(&[
        "login",
        "--sso-session",
        "it",
        "--output",
        "json",
        "--force",
    ]);
    command.env("DISPLAY", ":99").env("BROWSER", &script);
    for (name, value) in extra {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = stdout_lines(&mut child);
    let first = lines.find(|l| l.contains("authorization_url") || l.contains("using_device_code"));
    if first
        .as_deref()
        .is_some_and(|l| l.contains("authorization_url"))
    {
        // Wait for the browser command to record the URL, then browse it.
        let mut url = String::new();
        for _ in 0..200 {
            url = std::fs::read_to_string(&opened).unwrap_or_default();
            if !url.trim().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        browse(url.trim());
    }
    let rest: Vec<String> = first.into_iter().chain(lines).collect();
    let (output, _) = finish(child);
    let events = rest
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (output, events, opened)
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn with_a_desktop_the_browser_opens_and_the_state_stays_off_the_screen() {
    let world = World::new("desktop", true);
    let (output, events, opened) = login_with_desktop(&world, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let url = std::fs::read_to_string(opened).unwrap();
    let state = url
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let prompt = events
        .iter()
        .find(|e| e["event"] == "authorization_url")
        .unwrap();
    assert_eq!(prompt["opened"], true);
    assert!(prompt["url"].is_null(), "{prompt}");
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !text(stream).contains(&state),
            "the state shows: {}",
            text(stream)
        );
    }
    assert_eq!(kinds(&events).last().map(String::as_str), Some("signed_in"));
}

#[test]
fn where_a_local_browser_cannot_finish_it_says_why_and_uses_the_device_code() {
    for (name, extra, says) in [
        (
            "ssh",
            vec![("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")],
            "SSH",
        ),
        ("no-display", vec![("DISPLAY", "")], "no display"),
        (
            "no-launcher",
            vec![("BROWSER", "/nonexistent/browser")],
            "cannot be opened",
        ),
    ] {
        let world = World::new(name, true);
        let (output, events, _) = login_with_desktop(&world, &extra);
        assert!(output.status.success(), "{name}: {}", text(&output.stderr));
        let fallback = events.iter().find(|e| e["event"] == "using_device_code");
        let reason = fallback.map(|e| e["reason"].as_str().unwrap().to_owned());
        assert!(
            reason.as_deref().is_some_and(|r| r.contains(says)),
            "{name}: {events:?}"
        );
        let kinds = kinds(&events);
        assert!(kinds.contains(&"user_code".to_owned()), "{name}: {kinds:?}");
        assert!(
            !kinds.contains(&"authorization_url".to_owned()),
            "{name}: {kinds:?}"
        );
    }
}
