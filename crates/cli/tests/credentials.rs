//! `ssoflow credentials`, `accounts`, `status` and `logout` against the
//! emulator's SSO portal over real HTTP, in a temporary HOME: the
//! credential_process JSON and the role cache it shares with the AWS CLI,
//! the warm path, refusals, one sign-in and one fetch for twenty processes,
//! a 401 mid-way, throttling over fifty accounts, and what logout clears.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{home, ssoflow, text};
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread, Fault};
use ssoflow_files::{RoleCache, RoleCacheKey, TokenCache, TokenKey};
use ssoflow_test_transport::PortalAccount;

struct World {
    home: PathBuf,
    emulator: EmulatorThread,
}

impl World {
    fn new(name: &str, configure: impl FnOnce(&mut EmulatorConfig)) -> World {
        let home = home("creds", name);
        let mut config = EmulatorConfig::default();
        config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
        configure(&mut config);
        let emulator = EmulatorThread::start(config).unwrap();
        // A profile with a role, beside the common [profile dev] and [sso-session it].
        let path = home.join(".aws/config");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(
            "\n[profile admin]\nsso_session = it\nsso_account_id = 111122223333\nsso_role_name = AdministratorAccess\n",
        );
        std::fs::write(&path, text).unwrap();
        World { home, emulator }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = ssoflow(&self.home, self.emulator.base_url(), args);
        command.env("AWS_ENDPOINT_URL_SSO", self.emulator.base_url());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn login(&self) {
        let output = self.run(&["login", "--use-device-code", "--sso-session", "it"]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }

    fn counters(&self) -> ssoflow_test_transport::Counters {
        self.emulator.with_service(|s| s.counters())
    }

    fn role_file(&self, account: &str, role: &str) -> PathBuf {
        RoleCache::in_home(&self.home).path(&RoleCacheKey {
            account_id: account.into(),
            role_name: role.into(),
            session_name: Some("it".into()),
            start_url: common::START_URL.into(),
        })
    }
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "stdout: {}\nstderr: {}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
fn a_profile_s_role_as_credential_process_json_then_from_the_cache() {
    let world = World::new("process", |_| {});
    world.login();
    let first = ok(&world.run(&["credentials", "--profile", "admin"]));
    let json: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(json["Version"], 1);
    assert!(json["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    assert!(!json["SecretAccessKey"].as_str().unwrap().is_empty());
    assert!(!json["SessionToken"].as_str().unwrap().is_empty());
    assert!(
        json["Expiration"].as_str().unwrap().ends_with("+00:00"),
        "{first}"
    );
    assert!(
        first.starts_with("{\n  \"Version\": 1,\n  \"AccessKeyId\": "),
        "{first}"
    );
    assert_eq!(world.counters().get_role_credentials, 1);
    // The AWS CLI's cache entry, private.
    let file = world.role_file("111122223333", "AdministratorAccess");
    let bytes = std::fs::read_to_string(&file).unwrap();
    assert!(
        bytes.starts_with(r#"{"ProviderType": "sso", "Credentials": {"AccessKeyId": ""#),
        "{bytes}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Warm: the same credentials, no portal call, no token needed at all.
    std::fs::remove_file(
        TokenCache::in_home(&world.home).token_path(&TokenKey::SsoSession("it".into())),
    )
    .unwrap();
    let started = Instant::now();
    let second = ok(&world.run(&["credentials", "--profile", "admin"]));
    let warm = started.elapsed();
    assert_eq!(second, first);
    assert_eq!(world.counters().get_role_credentials, 1);
    eprintln!("warm `ssoflow credentials` took {warm:?} (debug build, including process start)");
    // Shell formats from the same cache.
    let env = ok(&world.run(&["credentials", "--profile", "admin", "--format", "env"]));
    let names: Vec<&str> = env.lines().map(|l| l.split('=').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "export AWS_ACCESS_KEY_ID",
            "export AWS_SECRET_ACCESS_KEY",
            "export AWS_SESSION_TOKEN",
            "export AWS_CREDENTIAL_EXPIRATION"
        ]
    );
}

#[test]
fn flags_name_the_role_and_refusals_say_what_to_do() {
    let world = World::new("flags", |_| {});
    // Not signed in, no terminal: fail fast, nothing on stdout, one line on stderr.
    let output = world.run(&[
        "credentials",
        "--sso-session",
        "it",
        "--account-id",
        "444455556666",
        "--role-name",
        "Billing",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("ssoflow login --sso-session it"),
        "{stderr}"
    );
    world.login();
    ok(&world.run(&[
        "credentials",
        "--sso-session",
        "it",
        "--account-id",
        "444455556666",
        "--role-name",
        "Billing",
    ]));
    // A role that is not assigned: 403, said plainly.
    let output = world.run(&[
        "credentials",
        "--sso-session",
        "it",
        "--account-id",
        "444455556666",
        "--role-name",
        "AdministratorAccess",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("no access to role AdministratorAccess in account 444455556666"),
        "{stderr}"
    );
    // A profile without a role is a configuration error naming the key.
    let output = world.run(&["credentials", "--profile", "dev"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("sso_account_id"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_401_refreshes_the_token_once_and_goes_on() {
    let world = World::new("401", |_| {});
    world.login();
    let before = world.counters();
    world
        .emulator
        .with_service(|s| s.inject_portal_faults(Fault::Status(401), 1));
    ok(&world.run(&["credentials", "--profile", "admin"]));
    let after = world.counters();
    assert_eq!(after.create_token, before.create_token + 1, "one refresh");
    assert_eq!(after.get_role_credentials, before.get_role_credentials + 2);
    // The token a refresh produced moments ago is refused too: no second
    // refresh (it would only make the same token again), sign in again.
    std::fs::remove_file(world.role_file("111122223333", "AdministratorAccess")).unwrap();
    world
        .emulator
        .with_service(|s| s.inject_portal_faults(Fault::Status(401), 1));
    let refreshes = world.counters().create_token;
    let output = world.run(&["credentials", "--profile", "admin"]);
    assert_eq!(output.status.code(), Some(1));
    // At most one refresh (none here: one was tried moments ago, so the
    // refused token is the fresh one), never a loop.
    assert!(
        world.counters().create_token <= refreshes + 1,
        "one refresh at most"
    );
    assert!(
        text(&output.stderr).contains("ssoflow login"),
        "{}",
        text(&output.stderr)
    );
    // Throttled on every attempt: after the budget, what happened and what to do.
    std::fs::remove_file(world.role_file("111122223333", "AdministratorAccess")).ok();
    world
        .emulator
        .with_service(|s| s.inject_portal_faults(Fault::Status(429), 5));
    let output = world.run(&["credentials", "--profile", "admin"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("5 attempts") && stderr.contains("try again in a minute"),
        "{stderr}"
    );
}

#[test]
fn twenty_processes_without_a_token_make_one_sign_in_and_one_fetch() {
    let world = World::new("storm", |_| {});
    let children: Vec<_> = (0..20)
        .map(|_| {
            world
                .command(&[
                    "credentials",
                    "--profile",
                    "admin",
                    "--sign-in",
                    "always",
                    "--use-device-code",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|child| ok(&child.wait_with_output().unwrap()))
        .collect();
    let keys: std::collections::BTreeSet<String> = outputs
        .iter()
        .map(|o| {
            serde_json::from_str::<serde_json::Value>(o).unwrap()["AccessKeyId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 1, "every process got the same credentials");
    let counters = world.counters();
    assert_eq!(counters.start_device_authorization, 1, "one sign-in");
    assert_eq!(counters.get_role_credentials, 1, "one fetch");
}

#[test]
fn accounts_over_fifty_accounts_through_throttling() {
    let world = World::new("accounts", |config| {
        config.service.accounts = (0..50)
            .map(|i| PortalAccount {
                account_id: format!("{:012}", 100_000_000_000u64 + i),
                account_name: Some(format!("account {i:02}")),
                email_address: None,
                roles: vec!["ReadOnlyAccess".into(), format!("Role{i}")],
            })
            .collect();
        config.service.portal_rate_limit = Some(20);
    });
    world.login();
    // A burst of throttling on top of the rate limit: four in a row, one
    // short of a call's budget of five attempts.
    world
        .emulator
        .with_service(|s| s.inject_portal_faults(Fault::Status(429), 4));
    let started = Instant::now();
    let output = ok(&world.run(&["accounts", "--sso-session", "it", "--output", "json"]));
    let took = started.elapsed();
    let accounts: Vec<serde_json::Value> = serde_json::from_str(&output).unwrap();
    assert_eq!(accounts.len(), 50);
    assert!(
        accounts
            .iter()
            .all(|a| a["roles"].as_array().unwrap().len() == 2)
    );
    assert_eq!(accounts[0]["accountName"], "account 00");
    let counters = world.counters();
    eprintln!(
        "accounts: 50 accounts in {took:?}; ListAccounts {} ListAccountRoles {} (throttled by the limit: {})",
        counters.list_accounts, counters.list_account_roles, counters.portal_throttled
    );
    assert_eq!(
        counters.list_accounts + counters.list_account_roles,
        51 + 4,
        "each listing once, plus the four throttled ones again"
    );
    assert_eq!(
        counters.portal_throttled, 0,
        "paced under the portal's rate"
    );
    let text_output = ok(&world.run(&["accounts", "--sso-session", "it"]));
    let cached = world.counters();
    assert_eq!(
        cached.list_accounts + cached.list_account_roles,
        counters.list_accounts + counters.list_account_roles,
        "the second listing within five minutes comes from the brief cache"
    );
    ok(&world.run(&["accounts", "--sso-session", "it", "--refresh"]));
    assert_eq!(world.counters().list_accounts, counters.list_accounts + 1);
    assert!(
        text_output.starts_with("account 00 (100000000000)\n    ReadOnlyAccess\n"),
        "{text_output}"
    );
}

#[test]
fn status_shows_both_clocks_and_logout_ends_the_portal_session() {
    let world = World::new("logout", |_| {});
    world.login();
    ok(&world.run(&["credentials", "--profile", "admin"]));
    // And one fetched by flags, for a role no profile names.
    ok(&world.run(&[
        "credentials",
        "--sso-session",
        "it",
        "--account-id",
        "444455556666",
        "--role-name",
        "Billing",
    ]));
    let status = ok(&world.run(&["status", "--sso-session", "it"]));
    assert!(
        status.contains("role AdministratorAccess in account 111122223333: credentials until"),
        "{status}"
    );
    let out = ok(&world.run(&["logout", "--sso-session", "it"]));
    assert!(out.contains("ended the portal session"), "{out}");
    assert!(out.contains("removed 2 cached role credential"), "{out}");
    assert!(!world.role_file("444455556666", "Billing").exists());
    assert_eq!(world.counters().logout, 1);
    assert!(
        !world
            .role_file("111122223333", "AdministratorAccess")
            .exists()
    );
}

#[test]
fn write_profiles_adds_one_per_role_and_touches_nothing_else() {
    let world = World::new("profiles", |_| {});
    world.login();
    let path = world.home.join(".aws/config");
    let before = std::fs::read_to_string(&path).unwrap();
    // Without a terminal and without --yes: the preview, nothing written.
    let output = world.run(&["accounts", "--sso-session", "it", "--write-profiles"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("[profile Billing-444455556666]"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let added = ok(&world.run(&[
        "accounts",
        "--sso-session",
        "it",
        "--write-profiles",
        "--yes",
    ]));
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        after.starts_with(&before),
        "existing sections kept byte for byte"
    );
    let backup = world.home.join(".aws/config.ssoflow-backup");
    assert_eq!(std::fs::read_to_string(backup).unwrap(), before);
    // Four roles in the default accounts; [profile admin] exists with one of
    // them, but under another name, so all four are added.
    assert_eq!(added.lines().count(), 4, "{added}");
    assert!(after.contains(
        "[profile AdministratorAccess-111122223333]\nsso_session = it\nsso_account_id = 111122223333\nsso_role_name = AdministratorAccess\n"
    ));
    ok(&world.run(&["credentials", "--profile", "Billing-444455556666"]));
    let again = world.run(&[
        "accounts",
        "--sso-session",
        "it",
        "--write-profiles",
        "--yes",
    ]);
    assert!(
        text(&again.stderr).contains("nothing to add"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), after);
}

#[test]
fn twenty_processes_for_four_roles_without_a_token_make_one_sign_in() {
    let world = World::new("storm-roles", |_| {});
    let roles = [
        ("111122223333", "AdministratorAccess"),
        ("111122223333", "ReadOnlyAccess"),
        ("444455556666", "ReadOnlyAccess"),
        ("444455556666", "Billing"),
    ];
    let children: Vec<_> = (0..20)
        .map(|i| {
            let (account, role) = roles[i % 4];
            world
                .command(&[
                    "credentials",
                    "--sso-session",
                    "it",
                    "--account-id",
                    account,
                    "--role-name",
                    role,
                    "--sign-in",
                    "always",
                    "--use-device-code",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        ok(&child.wait_with_output().unwrap());
    }
    let counters = world.counters();
    assert_eq!(
        counters.start_device_authorization, 1,
        "one sign-in for every role"
    );
    assert_eq!(counters.get_role_credentials, 4, "one fetch per role");
}

#[test]
fn a_denied_sign_in_is_not_started_again_by_the_processes_that_waited_for_it() {
    let world = World::new("storm-denied", |config| config.service.auto_approve = None);
    let children: Vec<_> = (0..5)
        .map(|_| {
            world
                .command(&[
                    "credentials",
                    "--profile",
                    "admin",
                    "--sign-in",
                    "always",
                    "--use-device-code",
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // The person denies the one code that is shown.
    let started = Instant::now();
    loop {
        let pending = world
            .emulator
            .with_service(|s| s.pending(std::time::SystemTime::now()));
        if let Some(code) = pending.first() {
            world
                .emulator
                .with_service(|s| s.deny(&code.user_code, std::time::SystemTime::now()))
                .unwrap();
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no code was shown"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        assert!(output.stdout.is_empty());
    }
    assert_eq!(
        world.counters().start_device_authorization,
        1,
        "one prompt, not five"
    );
}

#[test]
fn accounts_replace_the_token_once_after_a_401_and_then_stop() {
    let world = World::new("accounts-401", |_| {});
    world.login();
    let before = world.counters();
    world
        .emulator
        .with_service(|s| s.inject_portal_faults(Fault::Status(401), 1));
    ok(&world.run(&["accounts", "--sso-session", "it", "--refresh"]));
    assert_eq!(
        world.counters().create_token,
        before.create_token + 1,
        "one refresh"
    );
    // A session the portal no longer takes: one more refresh at most, then stop.
    world
        .emulator
        .with_service(|s| s.inject_portal_faults(Fault::Status(401), 100));
    let output = world.run(&["accounts", "--sso-session", "it", "--refresh"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("ssoflow login --sso-session it"),
        "{}",
        text(&output.stderr)
    );
    let after = world.counters();
    assert!(
        after.create_token <= before.create_token + 2,
        "no refresh per account"
    );
    assert!(
        after.list_account_roles < 10,
        "stopped instead of failing account by account"
    );
}
