//! `ssoflow demo`: the whole tour with no AWS account. An emulator on a free
//! loopback port approves every sign-in by itself; a throw-away HOME holds a
//! config that points at it; `login`, `status`, `token` and `logout` run
//! against it exactly as they would against AWS, each step explained.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread};
use ssoflow_files::config::Environment;
use ssoflow_files::{TokenKey, create_private_dir};

use crate::commands::{LogoutArgs, StatusArgs, TokenArgs};
use crate::login::{LoginArgs, Output};
use crate::session::SessionArgs;
use crate::{Browser, CliError, Context, commands, login};

/// Shorter than the 5-minute refresh window, so `ssoflow token` shows a refresh.
const DEMO_TOKEN_TTL: Duration = Duration::from_secs(4 * 60);

pub(crate) fn run(context: &Context) -> Result<(), CliError> {
    let home = DemoHome::create()?;
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    config.service.token_ttl = DEMO_TOKEN_TTL;
    let emulator = EmulatorThread::start(config)
        .map_err(|error| CliError::failure(format!("cannot start the emulator: {error}")))?;
    let config_file = home.path.join(".aws").join("config");
    write_config(&config_file, emulator.base_url())?;

    let demo = Context {
        env: Environment::from_iter([("HOME", home.path.to_string_lossy().into_owned())]),
        ca_bundle: None,
        cancel: context.cancel.clone(),
        browser: Browser::Emulated(visit),
    };
    let status = || {
        commands::status(
            &demo,
            &StatusArgs {
                session: SessionArgs::default(),
                output: Output::Text,
            },
        )
    };
    say(&format!(
        "ssoflow demo: everything below runs against an SSO OIDC emulator at {} (it plays \
         AWS IAM Identity Center and approves every sign-in by itself), with a throw-away \
         HOME at {}. Nothing on this machine outside that folder is read or changed.",
        emulator.base_url(),
        home.path.display()
    ));
    say(&format!(
        "The AWS config file {} has an [sso-session demo] section, as `aws configure sso` \
         writes it, and sends SSO OIDC requests to the emulator through a [services] section:\n\n{}",
        config_file.display(),
        indent(&std::fs::read_to_string(&config_file).unwrap_or_default())
    ));

    step(
        "ssoflow login",
        "Signs in as `aws sso login` does by default: registers a client for the authorization \
         code with PKCE, listens on a loopback port, and has a browser open the sign-in page. \
         Here a stand-in browser visits it, the emulator approves at once and redirects back \
         to the listener with a code, which is exchanged for a token.",
    );
    login::run(&demo, &login_args(false))?;
    let token_file = home
        .path
        .join(".aws/sso/cache")
        .join(TokenKey::SsoSession("demo".into()).file_name());
    say(&format!(
        "The token file is named after the SHA-1 of the session name, as the AWS CLI names it, so \
         `aws` and the SDKs would use it as it is. Its fields: {}.",
        field_names(&token_file)
    ));

    step(
        "ssoflow status",
        "Who is signed in, until when; no secrets.",
    );
    status()?;

    step(
        "ssoflow token",
        "Prints a valid access token. This demo's tokens live 4 minutes, less than the 5-minute \
         refresh margin, so it refreshes the token first and writes it back.",
    );
    commands::token(
        &demo,
        &TokenArgs {
            session: SessionArgs::default(),
            output: Output::Text,
        },
    )?;

    step(
        "ssoflow credentials --profile demo-admin --format env",
        "Role credentials for the profile's account and role, from the SSO portal with that \
         token, in the shell format of `aws configure export-credentials` (the default format is \
         the credential_process JSON). They are kept in ~/.aws/cli/cache, where the AWS CLI looks \
         too.",
    );
    crate::credentials::run(
        &demo,
        &crate::credentials::CredentialsArgs {
            session: SessionArgs {
                profile: Some("demo-admin".into()),
                ..SessionArgs::default()
            },
            account_id: None,
            role_name: None,
            format: crate::export::ExportFormat::Env,
            portal_url: None,
            sign_in: crate::credentials::SignIn::Never,
            use_device_code: false,
        },
    )?;

    step(
        "ssoflow logout",
        "Ends the portal session, removes the token file and the session's cached role \
         credentials; the client registration stays for the next login.",
    );
    commands::logout(
        &demo,
        &LogoutArgs {
            session: SessionArgs::default(),
            all: false,
        },
    )?;
    status()?;

    step(
        "ssoflow login --use-device-code",
        "The other sign-in, for remote shells and containers: a code to approve on any device; \
         the emulator approves on the first poll. It registers its own client: the AWS CLI \
         reuses a registration only for the grant it was made for.",
    );
    login::run(&demo, &login_args(true))?;
    status()?;

    let counters = emulator.with_service(|service| service.counters());
    say(&format!(
        "The emulator answered {} RegisterClient (one per grant), {} /authorize, {} \
         StartDeviceAuthorization and {} CreateToken requests (the code's exchange, the polls and \
         the refresh), and {} GetRoleCredentials and {} Logout on the portal.",
        counters.register_client,
        counters.authorize,
        counters.start_device_authorization,
        counters.create_token,
        counters.get_role_credentials,
        counters.logout
    ));
    emulator.stop().map_err(|error| {
        CliError::failure(format!("the emulator did not stop cleanly: {error}"))
    })?;
    say(
        "Done; the throw-away HOME is removed. To sign in for real, add an [sso-session] to \
         ~/.aws/config (or run `aws configure sso`) and run `ssoflow login --sso-session NAME`.",
    );
    Ok(())
}

fn login_args(use_device_code: bool) -> LoginArgs {
    LoginArgs {
        session: SessionArgs::default(),
        scopes: None,
        no_browser: false,
        use_device_code,
        redirect_port: None,
        force: true,
        output: Output::Text,
    }
}

/// The demo's stand-in browser: fetches the sign-in page, which the
/// auto-approving emulator answers with a redirect, and follows it to the
/// login's loopback listener. On its own thread: the listener answers only
/// once the login has judged the request.
fn visit(url: String) {
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        let location = agent.get(&url).call().ok().and_then(|response| {
            let location = response.headers().get("location")?.to_str().ok()?;
            Some(location.to_owned())
        });
        match location {
            Some(location) if location.starts_with("http://127.0.0.1:") => {
                let _ = agent.get(&location).call();
            }
            _ => eprintln!("demo: the emulator did not redirect the sign-in page back"),
        }
    });
}

/// A temporary HOME, removed when dropped (also after a failed step or Ctrl-C).
struct DemoHome {
    path: PathBuf,
}

impl DemoHome {
    fn create() -> Result<DemoHome, CliError> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("ssoflow-demo-{}-{nanos}", std::process::id()));
        create_private_dir(&path).map_err(|error| {
            CliError::failure(format!("cannot create {}: {error}", path.display()))
        })?;
        Ok(DemoHome { path })
    }
}

impl Drop for DemoHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn write_config(path: &Path, endpoint: &str) -> Result<(), CliError> {
    let text = format!(
        "[default]\n\
         sso_session = demo\n\
         services = ssoflow-demo\n\
         \n\
         [profile demo-admin]\n\
         sso_session = demo\n\
         sso_account_id = 111122223333\n\
         sso_role_name = AdministratorAccess\n\
         services = ssoflow-demo\n\
         \n\
         [sso-session demo]\n\
         sso_start_url = https://d-1234567890.awsapps.com/start\n\
         sso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n\
         \n\
         [services ssoflow-demo]\n\
         sso_oidc =\n  endpoint_url = {endpoint}\n\
         sso =\n  endpoint_url = {endpoint}\n"
    );
    let write = || -> std::io::Result<()> {
        create_private_dir(path.parent().unwrap_or(Path::new(".")))?;
        std::fs::write(path, text)
    };
    write().map_err(|error| CliError::failure(format!("cannot write {}: {error}", path.display())))
}

fn field_names(path: &Path) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return "(unreadable)".to_owned();
    };
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes) {
        Ok(members) => members.keys().cloned().collect::<Vec<_>>().join(", "),
        Err(_) => "(not JSON)".to_owned(),
    }
}

fn step(command: &str, what: &str) {
    println!("\n==> {command}\n    {what}\n");
}

fn say(text: &str) {
    println!("\n{text}");
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}\n")).collect()
}
