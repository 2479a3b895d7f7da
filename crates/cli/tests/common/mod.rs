//! What the command's integration tests share: a temporary HOME with an
//! `[sso-session it]`, and the built binary run in it with nothing of the
//! developer's environment.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// `$TMP/ssoflow-<suite>-<pid>-<name>` with `.aws/config` holding `[sso-session it]`.
pub(crate) fn home(suite: &str, name: &str) -> PathBuf {
    let home = std::env::temp_dir().join(format!("ssoflow-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile dev]\nsso_session = it\n\n[sso-session it]\nsso_start_url = {START_URL}\n\
             sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
        ),
    )
    .unwrap();
    home
}

/// `ssoflow ARGS` with only HOME, PATH and the endpoint variable set.
pub(crate) fn ssoflow(home: &Path, endpoint: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ssoflow"));
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL_SSO_OIDC", endpoint)
        .stdin(Stdio::null());
    command
}

/// `ssoflow login --sso-session it --output json` in the background, its
/// stdout (one JSON event per line) and stderr piped.
pub(crate) fn spawn_login_json(home: &Path, endpoint: &str) -> std::process::Child {
    ssoflow(
        home,
        endpoint,
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
    .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
