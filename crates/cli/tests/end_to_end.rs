//! The built `ssoflow` binary against the emulator over real HTTP, in a
//! temporary HOME: login, status, token, refresh when due, logout, denial,
//! expiry, Ctrl-C, and twenty processes asking for a token at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{START_URL, home, ssoflow, text};
use ssoflow_core::ErrorCode;
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread, Fault};
use ssoflow_files::{CachedToken, RegistrationKey, TokenCache, TokenKey};

/// A temporary HOME with a config for `[sso-session it]`, and an emulator.
struct World {
    home: PathBuf,
    emulator: EmulatorThread,
}

impl World {
    fn new(name: &str, configure: impl FnOnce(&mut EmulatorConfig)) -> World {
        let home = home("e2e", name);
        let mut config = EmulatorConfig::default();
        configure(&mut config);
        World {
            home,
            emulator: EmulatorThread::start(config).unwrap(),
        }
    }

    fn auto_approving(name: &str) -> World {
        World::new(name, |c| {
            c.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO))
        })
    }

    /// `ssoflow ARGS` with only this world's environment.
    fn command(&self, args: &[&str]) -> Command {
        ssoflow(&self.home, self.emulator.base_url(), args)
    }

    /// `ssoflow login --output json` in the background, stdout and stderr piped.
    fn spawn_login_json(&self) -> Child {
        common::spawn_login_json(&self.home, self.emulator.base_url())
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn cache(&self) -> TokenCache {
        TokenCache::in_home(&self.home)
    }

    fn token_file(&self) -> PathBuf {
        self.cache().token_path(&TokenKey::SsoSession("it".into()))
    }

    fn stored(&self) -> CachedToken {
        self.cache()
            .read_token(&TokenKey::SsoSession("it".into()))
            .unwrap()
            .unwrap()
    }

    fn create_tokens(&self) -> u64 {
        self.emulator.with_service(|s| s.counters()).create_token
    }
}

fn assert_status(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn login_status_token_logout() {
    let world = World::auto_approving("happy");
    let login = world.run(&[
        "login",
        "--use-device-code",
        "--sso-session",
        "it",
        "--no-browser",
    ]);
    assert_status(&login, 0);
    let stderr = text(&login.stderr);
    assert!(stderr.contains("/device?user_code="), "{stderr}");
    assert!(stderr.contains("Signed in to sso-session it"), "{stderr}");

    // The token file: the AWS CLI's name, eight fields, mode 0600, in a 0700 directory.
    let stored = world.stored();
    assert_eq!(stored.start_url.as_deref(), Some(START_URL));
    assert_eq!(stored.region.as_deref(), Some("us-east-1"));
    assert!(stored.refreshable().is_some());
    let raw = std::fs::read_to_string(world.token_file()).unwrap();
    assert!(raw.starts_with(r#"{"startUrl": "https://d-1234567890.awsapps.com/start", "region": "us-east-1", "accessToken": ""#), "{raw}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&world.token_file()), 0o600);
        assert_eq!(mode(world.cache().dir()), 0o700);
    }
    // The registration is cached under the AWS CLI's key, for the next login (ours or aws's).
    assert!(
        world
            .cache()
            .read_registration(&registration_key())
            .unwrap()
            .is_some()
    );
    // No secret on any output of login.
    let secret = stored.access_token.secret().to_owned();
    assert!(!text(&login.stdout).contains(&secret) && !stderr.contains(&secret));

    // A valid token: login does nothing without --force.
    let before = world.create_tokens();
    let again = world.run(&[
        "login",
        "--use-device-code",
        "--profile",
        "dev",
        "--no-browser",
    ]);
    assert_status(&again, 0);
    assert!(
        text(&again.stderr).contains("Already signed in"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(world.create_tokens(), before);

    let status = world.run(&["status"]);
    assert_status(&status, 0);
    let shown = text(&status.stdout);
    assert!(shown.contains("sso-session it: signed in until"), "{shown}");
    assert!(!shown.contains(&secret));

    let token = world.run(&["token", "--sso-session", "it"]);
    assert_status(&token, 0);
    assert_eq!(text(&token.stdout).trim(), secret);
    let json = world.run(&["token", "--profile", "dev", "--output", "json"]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["accessToken"], secret.as_str());

    // A foreign file in the cache survives logout.
    std::fs::write(
        world.cache().dir().join("kiro-auth-token.json"),
        b"{\"x\": 1}",
    )
    .unwrap();
    let logout = world.run(&["logout", "--sso-session", "it"]);
    assert_status(&logout, 0);
    assert!(!world.token_file().exists());
    assert!(
        world
            .cache()
            .read_registration(&registration_key())
            .unwrap()
            .is_some(),
        "registration kept"
    );
    assert!(world.cache().dir().join("kiro-auth-token.json").exists());
    let token = world.run(&["token", "--sso-session", "it"]);
    assert_status(&token, 1);
    assert!(
        text(&token.stderr).contains("ssoflow login --sso-session it"),
        "{}",
        text(&token.stderr)
    );

    // The next login reuses the cached registration.
    assert_status(
        &world.run(&[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ]),
        0,
    );
    assert_eq!(
        world
            .emulator
            .with_service(|s| s.counters())
            .register_client,
        1
    );
}

#[test]
fn a_token_due_for_refresh_is_refreshed_by_token() {
    let world = World::new("refresh", |c| {
        c.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
        c.service.token_ttl = Duration::from_secs(240);
    });
    assert_status(
        &world.run(&[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ]),
        0,
    );
    let first = world.stored();
    let token = world.run(&["token", "--sso-session", "it"]);
    assert_status(&token, 0);
    let second = world.stored();
    assert_ne!(
        second.access_token, first.access_token,
        "refreshed and written back"
    );
    assert_eq!(text(&token.stdout).trim(), second.access_token.secret());
    assert_ne!(
        second.refresh_token, first.refresh_token,
        "the rotated refresh token was kept"
    );
}

#[test]
fn json_events_carry_no_secret() {
    let world = World::auto_approving("json");
    let login = world.run(&[
        "login",
        "--use-device-code",
        "--sso-session",
        "it",
        "--output",
        "json",
    ]);
    assert_status(&login, 0);
    let events: Vec<serde_json::Value> = text(&login.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["registered", "user_code", "signed_in"]);
    assert!(
        events[1]["verificationUriComplete"]
            .as_str()
            .unwrap()
            .contains("user_code=")
    );
    let stored = world.stored();
    let all = text(&login.stdout) + &text(&login.stderr);
    for secret in [
        stored.access_token.secret(),
        stored.refresh_token.as_ref().unwrap().secret(),
        stored.client_secret.as_ref().unwrap().secret(),
    ] {
        assert!(!all.contains(secret));
    }
}

/// The JSON events of a running `--output json` command, read as they come.
struct Events(std::io::Lines<BufReader<std::process::ChildStdout>>);

impl Events {
    fn of(child: &mut Child) -> Events {
        Events(BufReader::new(child.stdout.take().unwrap()).lines())
    }

    /// The next event called `name`, skipping others.
    fn next(&mut self, name: &str) -> serde_json::Value {
        loop {
            let line = self
                .0
                .next()
                .unwrap_or_else(|| panic!("the command ended before a {name} event"))
                .unwrap();
            let event: serde_json::Value = serde_json::from_str(&line).unwrap();
            if event["event"] == name {
                return event;
            }
        }
    }
}

/// Waits for the user-code event of a `--output json` login and returns the code.
fn wait_for_user_code(child: &mut Child) -> String {
    Events::of(child).next("user_code")["userCode"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The AWS CLI's registration key of `[sso-session it]`.
fn registration_key() -> RegistrationKey {
    RegistrationKey {
        region: "us-east-1".into(),
        configured_scopes: Some(vec!["sso:account:access".into()]),
        session_name: Some("it".into()),
        start_url: START_URL.into(),
    }
}

/// The JSON events of a `--output json` run, one per stdout line.
fn json_events(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_registration_the_service_rejects_is_removed_and_not_reused() {
    let world = World::auto_approving("rejected");
    assert_status(
        &world.run(&[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ]),
        0,
    );
    let cache = world.cache();
    let rejected = cache
        .read_registration(&registration_key())
        .unwrap()
        .unwrap()
        .client_id;
    let registrations = || {
        world
            .emulator
            .with_service(|s| s.counters())
            .register_client
    };
    assert_eq!(registrations(), 1);

    // The cached registration is reused, and the service refuses it for the device grant.
    world
        .emulator
        .with_service(|s| s.inject_faults(Fault::Error(ErrorCode::UnauthorizedClient), 1));
    let output = world.run(&[
        "login",
        "--use-device-code",
        "--sso-session",
        "it",
        "--force",
        "--output",
        "json",
    ]);
    assert_status(&output, 1);
    let events = json_events(&output.stdout);
    let event = events
        .iter()
        .find(|e| e["event"] == "registration_rejected")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(event["clientId"], rejected.as_str());
    assert_eq!(event["removedFromCache"], true);
    assert!(event["voidUserCode"].is_null(), "no code was shown yet");
    let stderr = text(&output.stderr);
    assert!(stderr.contains("may not use this grant"), "{stderr}");
    assert!(!cache.registration_path(&registration_key()).exists());
    assert_eq!(
        registrations(),
        1,
        "unauthorized_client must not register again"
    );

    // The next login registers anew instead of reusing the rejected client.
    assert_status(
        &world.run(&[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--force",
            "--no-browser",
        ]),
        0,
    );
    assert_eq!(registrations(), 2);
    let fresh = cache
        .read_registration(&registration_key())
        .unwrap()
        .unwrap();
    assert_ne!(fresh.client_id, rejected);
}

#[test]
fn a_registration_rejected_while_waiting_voids_the_code_on_screen() {
    let world = World::new("rejected-waiting", |_| {});
    let mut child = world.spawn_login_json();
    let mut events = Events::of(&mut child);
    let mut next = |name: &str| events.next(name);
    let first_client = next("registered")["clientId"].as_str().unwrap().to_owned();
    let first_code = next("user_code")["userCode"].as_str().unwrap().to_owned();
    // The registration expires while the person is still looking at the code.
    assert!(
        world
            .emulator
            .with_service(|s| s.expire_registration(&first_client))
    );
    let rejected = next("registration_rejected");
    assert_eq!(rejected["clientId"], first_client.as_str());
    assert_eq!(rejected["voidUserCode"], first_code.as_str());
    let second_client = next("registered")["clientId"].as_str().unwrap().to_owned();
    assert_ne!(second_client, first_client);
    let second_code = next("user_code")["userCode"].as_str().unwrap().to_owned();
    assert_ne!(second_code, first_code);
    world
        .emulator
        .with_service(|s| s.approve(&second_code, SystemTime::now()))
        .unwrap();
    next("signed_in");
    let output = child.wait_with_output().unwrap();
    assert_status(&output, 0);
    let cached = world
        .cache()
        .read_registration(&registration_key())
        .unwrap()
        .unwrap();
    assert_eq!(cached.client_id, second_client);
}

#[test]
fn a_denial_exits_3_and_saves_no_token() {
    let world = World::new("denied", |_| {});
    let mut child = world.spawn_login_json();
    let code = wait_for_user_code(&mut child);
    world
        .emulator
        .with_service(|s| s.deny(&code, SystemTime::now()))
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_status(&output, 3);
    assert!(
        text(&output.stderr).contains("denied"),
        "{}",
        text(&output.stderr)
    );
    assert!(!world.token_file().exists());
}

#[test]
fn an_expired_code_exits_4() {
    let world = World::new("expired", |c| {
        c.service.device_code_ttl = Duration::from_secs(2)
    });
    let output = world.run(&[
        "login",
        "--use-device-code",
        "--sso-session",
        "it",
        "--no-browser",
    ]);
    assert_status(&output, 4);
    assert!(
        text(&output.stderr).contains("expired"),
        "{}",
        text(&output.stderr)
    );
    assert!(!world.token_file().exists());
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_the_wait_exits_130_and_leaves_no_partial_file() {
    let world = World::new("cancel", |_| {});
    let mut child = world.spawn_login_json();
    wait_for_user_code(&mut child);
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    assert_status(&output, 130);
    assert!(sent.elapsed() < Duration::from_secs(5), "stopped promptly");
    assert!(
        text(&output.stderr).contains("no token was saved"),
        "{}",
        text(&output.stderr)
    );
    assert!(!world.token_file().exists());
    // Only complete files: the registration, no temporary leftovers.
    let names: Vec<String> = std::fs::read_dir(world.cache().dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].ends_with(".json") && !names[0].starts_with('.'),
        "{names:?}"
    );
}

#[test]
fn twenty_processes_asking_for_a_due_token_cause_one_refresh() {
    let world = World::new("crowd", |c| {
        c.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
        c.service.token_ttl = Duration::from_secs(240);
    });
    assert_status(
        &world.run(&[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ]),
        0,
    );
    let before = world.create_tokens();
    let children: Vec<Child> = (0..20)
        .map(|_| {
            world
                .command(&["token", "--sso-session", "it"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let tokens: Vec<String> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert_status(&output, 0);
            text(&output.stdout).trim().to_owned()
        })
        .collect();
    assert_eq!(world.create_tokens() - before, 1, "exactly one refresh");
    assert!(tokens.iter().all(|t| *t == tokens[0]));
    assert_eq!(tokens[0], world.stored().access_token.secret());
}

#[test]
fn configuration_mistakes_exit_2_naming_the_file() {
    let world = World::auto_approving("config");
    let config = world.home.join(".aws/config");
    let output = world.run(&["login", "--use-device-code", "--sso-session", "nope"]);
    assert_status(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("nope") && stderr.contains(&config.display().to_string()),
        "{stderr}"
    );

    std::fs::write(&config, "[profile dev]\nsso_session = it\n").unwrap();
    let output = world.run(&["token", "--profile", "dev"]);
    assert_status(&output, 2);
    assert!(
        text(&output.stderr).contains("[sso-session it]"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_corrupt_token_file_is_reported_and_left_alone() {
    let world = World::auto_approving("corrupt");
    std::fs::create_dir_all(world.cache().dir()).unwrap();
    std::fs::write(
        world.token_file(),
        br#"{"accessToken": "aoa", "expiresAt": "2024"}"}"#,
    )
    .unwrap();
    let token = world.run(&["token", "--sso-session", "it"]);
    assert_status(&token, 1);
    let stderr = text(&token.stderr);
    assert!(
        stderr.contains(&world.token_file().display().to_string()) && stderr.contains("not JSON"),
        "{stderr}"
    );
    let logout = world.run(&["logout", "--sso-session", "it"]);
    assert_status(&logout, 1);
    assert!(world.token_file().exists(), "not ours to delete");
    // A login replaces it with a good one.
    assert_status(
        &world.run(&[
            "login",
            "--use-device-code",
            "--sso-session",
            "it",
            "--no-browser",
        ]),
        0,
    );
    assert!(world.stored().refreshable().is_some());
}

#[cfg(feature = "emulator")]
#[test]
fn the_demo_runs_start_to_end() {
    let output = Command::new(env!("CARGO_BIN_EXE_ssoflow"))
        .arg("demo")
        .output()
        .unwrap();
    assert_status(&output, 0);
    let stdout = text(&output.stdout);
    for step in [
        "==> ssoflow login",
        "==> ssoflow status",
        "==> ssoflow token",
        "==> ssoflow credentials --profile demo-admin --format env",
        "export AWS_ACCESS_KEY_ID=ASIA",
        "==> ssoflow logout",
        "ended the portal session",
        "==> ssoflow login --use-device-code",
        "Done",
    ] {
        assert!(stdout.contains(step), "{step}: {stdout}");
    }
    assert!(
        stdout.contains(
            "2 RegisterClient (one per grant), 1 /authorize, 1 StartDeviceAuthorization and 3 \
             CreateToken"
        ),
        "{stdout}"
    );
}

#[test]
fn every_command_has_help_with_an_example() {
    let mut commands = vec!["login", "token", "status", "logout"];
    if cfg!(feature = "emulator") {
        commands.extend(["emulator", "demo"]);
    }
    for command in commands {
        let output = Command::new(env!("CARGO_BIN_EXE_ssoflow"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert_status(&output, 0);
        let help = text(&output.stdout);
        assert!(help.contains("Example"), "{command}: {help}");
        assert!(help.contains("ssoflow "), "{command}: {help}");
    }
}
