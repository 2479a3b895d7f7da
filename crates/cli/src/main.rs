//! `ssoflow`: sign in to AWS IAM Identity Center (AWS SSO) with the device
//! flow and keep the token where the AWS CLI and the SDKs find it.

mod accounts;
mod browser;
mod commands;
mod credentials;
#[cfg(feature = "emulator")]
mod demo;
mod export;
mod login;
mod printable;
mod qr;
mod session;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Parser, Subcommand};
#[cfg(feature = "emulator")]
use ssoflow_emulator::EmulatorArgs;
use ssoflow_files::config::Environment;

/// Exit status for a denial in the browser.
const EXIT_DENIED: u8 = 3;
/// Exit status when the sign-in (user code or authorization code) expired.
const EXIT_EXPIRED: u8 = 4;
/// Exit status when the user pressed Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_CANCELLED: u8 = 130;
/// Exit status for bad flags or configuration.
const EXIT_USAGE: u8 = 2;

/// Sign in to AWS IAM Identity Center (AWS SSO) and keep the token where the
/// AWS CLI and SDKs look for it (~/.aws/sso/cache), as `aws sso login` does.
///
/// The session comes from --sso-session, --profile, or AWS_PROFILE as in the
/// AWS CLI; --start-url with --region needs no config file. Exit status: 0
/// success, 1 failure, 2 bad flags or configuration, 3 denied, 4 sign-in
/// expired, 130 cancelled (Ctrl-C).
#[derive(Debug, Parser)]
#[command(
    name = "ssoflow",
    version,
    after_help = "Examples:\n  ssoflow demo                             # try it all against a built-in emulator\n  \
                  ssoflow login --sso-session my-sso\n  \
                  ssoflow token --profile dev\n  \
                  ssoflow status"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log what happens to stderr (flows, requests with their status and
    /// request id, waits, state changes, cache decisions), like `aws
    /// --debug`. Never a token, secret or code. SSOFLOW_LOG takes a filter
    /// instead, e.g. `SSOFLOW_LOG=ssoflow_core=debug,warn`.
    #[arg(long, global = true)]
    debug: bool,
    /// Trust only the certificate authorities in this PEM file for HTTPS,
    /// as the AWS CLI's --ca-bundle does; wins over AWS_CA_BUNDLE and the
    /// profile's ca_bundle. Without any, the operating system's trust store is used.
    #[arg(long, global = true, value_name = "PATH")]
    ca_bundle: Option<std::path::PathBuf>,
}

/// The environment variable with a log filter: `debug`, or a list of
/// `target=level` directives and a default level, as `RUST_LOG` takes them.
const LOG_VARIABLE: &str = "SSOFLOW_LOG";

/// Sends the libraries' `tracing` events to stderr: everything at debug
/// level with `--debug`, else what SSOFLOW_LOG asks for, else warnings only
/// (and, for `ssoflow emulator`, its request log, as `ssoflow-emulator` prints it).
fn init_logging(debug: bool, serves: bool) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let from_variable = std::env::var(LOG_VARIABLE)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let filter = match (debug, from_variable) {
        (true, _) => Targets::new().with_default(LevelFilter::DEBUG),
        (false, Some(text)) => text.parse::<Targets>().unwrap_or_else(|error| {
            eprintln!(
                "ssoflow: {LOG_VARIABLE}={text:?} is not a filter ({error}); logging warnings only"
            );
            Targets::new().with_default(LevelFilter::WARN)
        }),
        (false, None) if serves => Targets::new()
            .with_target("ssoflow_emulator", LevelFilter::INFO)
            .with_default(LevelFilter::WARN),
        (false, None) => Targets::new().with_default(LevelFilter::WARN),
    };
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(true);
    // Another subscriber (a test harness, the emulator command) may be set.
    let _ = tracing_subscriber::registry()
        .with(output)
        .with(filter)
        .try_init();
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in: in a browser on this machine (authorization code with PKCE,
    /// the default for sso-session profiles, as in the AWS CLI), or with a
    /// code to approve on any device (--use-device-code; also where no local
    /// browser can finish: over SSH, without a display).
    #[command(after_help = "Examples:\n  ssoflow login --sso-session my-sso\n  \
                            ssoflow login --sso-session my-sso --use-device-code   # remote shells, containers\n  \
                            ssoflow login --sso-session my-sso --no-browser --redirect-port 8400   # with ssh -L 8400:127.0.0.1:8400\n  \
                            ssoflow login --profile dev --no-browser\n  \
                            ssoflow login --start-url https://d-1234567890.awsapps.com/start --region us-east-1\n  \
                            ssoflow login --sso-session my-sso --output json   # one JSON event per line")]
    Login(login::LoginArgs),
    /// Print a valid access token, refreshing it first when it is due.
    #[command(after_help = "Examples:\n  ssoflow token --sso-session my-sso\n  \
                            curl -H \"Authorization: Bearer $(ssoflow token)\" https://portal.sso.us-east-1.amazonaws.com/...")]
    Token(commands::TokenArgs),
    /// Print role credentials for an account and role: the credential_process
    /// JSON, or shell assignments as `aws configure export-credentials` does.
    #[command(
        after_help = "Examples:\n  ssoflow credentials --profile dev                  # a profile with sso_account_id and sso_role_name\n  \
                            ssoflow credentials --sso-session my-sso --account-id 111122223333 --role-name ReadOnly\n  \
                            eval \"$(ssoflow credentials --profile dev --format env)\"\n\n\
                            In ~/.aws/config, for tools that cannot read SSO profiles (no sso_* keys in this profile):\n  \
                            [profile dev-process]\n  \
                            credential_process = ssoflow credentials --sso-session my-sso --account-id 111122223333 --role-name ReadOnly"
    )]
    Credentials(credentials::CredentialsArgs),
    /// List the accounts and roles the signed-in person may use.
    #[command(after_help = "Examples:\n  ssoflow accounts --sso-session my-sso\n  \
                            ssoflow accounts --profile dev --output json")]
    Accounts(accounts::AccountsArgs),
    /// Show who is signed in to which session and until when (no secrets).
    #[command(
        after_help = "Examples:\n  ssoflow status                 # every session in ~/.aws/config\n  \
                            ssoflow status --profile dev"
    )]
    Status(commands::StatusArgs),
    /// Delete the token file of a session (registrations and other files stay).
    #[command(
        after_help = "Examples:\n  ssoflow logout --sso-session my-sso\n  ssoflow logout --all"
    )]
    Logout(commands::LogoutArgs),
    /// Run the SSO OIDC emulator until Ctrl-C (see `ssoflow-emulator --help`).
    #[cfg(feature = "emulator")]
    #[command(
        after_help = "Examples:\n  ssoflow emulator --port 0 --auto-approve\n  \
                            ssoflow emulator --port 8000 --state-file emulator-state.json"
    )]
    Emulator(EmulatorArgs),
    /// A guided tour with no AWS account: sign in, check, refresh and sign out
    /// against an embedded emulator in a throw-away HOME.
    #[cfg(feature = "emulator")]
    #[command(after_help = "Example:\n  ssoflow demo")]
    Demo,
}

/// A failure to report: what went wrong and what to do, and the exit status.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) message: String,
    pub(crate) status: u8,
}

impl CliError {
    pub(crate) fn new(status: u8, message: impl Into<String>) -> CliError {
        CliError {
            message: message.into(),
            status,
        }
    }

    pub(crate) fn failure(message: impl Into<String>) -> CliError {
        CliError::new(1, message)
    }

    pub(crate) fn usage(message: impl Into<String>) -> CliError {
        CliError::new(EXIT_USAGE, message)
    }

    pub(crate) fn config(error: ssoflow_files::config::ConfigError) -> CliError {
        CliError::usage(error.to_string())
    }
}

/// What every command runs with: the environment (the real one, or the
/// demo's), and the Ctrl-C flag.
pub(crate) struct Context {
    pub(crate) env: Environment,
    /// `--ca-bundle`: beats AWS_CA_BUNDLE and the profile's ca_bundle.
    pub(crate) ca_bundle: Option<std::path::PathBuf>,
    pub(crate) cancel: Arc<AtomicBool>,
    /// Which browser a sign-in may use.
    pub(crate) browser: Browser,
}

/// The browser a sign-in may open.
#[derive(Clone, Copy)]
pub(crate) enum Browser {
    /// The desktop's (`$BROWSER`, `xdg-open`, `open`), when there is a display.
    Desktop,
    /// A stand-in that visits the URL itself (the demo's, against its emulator).
    #[cfg_attr(not(feature = "emulator"), allow(dead_code))]
    Emulated(fn(String)),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    #[cfg(feature = "emulator")]
    let serves = matches!(cli.command, Command::Emulator(_));
    #[cfg(not(feature = "emulator"))]
    let serves = false;
    init_logging(cli.debug, serves);
    let cancel = Arc::new(AtomicBool::new(false));
    #[cfg(feature = "emulator")]
    let handles_ctrl_c = !matches!(cli.command, Command::Emulator(_));
    #[cfg(not(feature = "emulator"))]
    let handles_ctrl_c = true;
    if handles_ctrl_c {
        let flag = Arc::clone(&cancel);
        // Without a handler Ctrl-C still ends the process; with one, a wait
        // ends cleanly and says that nothing was saved.
        let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    }
    let context = Context {
        env: Environment::from_process(),
        ca_bundle: cli.ca_bundle.clone(),
        cancel,
        browser: Browser::Desktop,
    };
    let result = match &cli.command {
        Command::Login(args) => login::run(&context, args),
        Command::Token(args) => commands::token(&context, args),
        Command::Credentials(args) => credentials::run(&context, args),
        Command::Accounts(args) => accounts::run(&context, args),
        Command::Status(args) => commands::status(&context, args),
        Command::Logout(args) => commands::logout(&context, args),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => return ssoflow_emulator::run_until_stopped(args),
        #[cfg(feature = "emulator")]
        Command::Demo => demo::run(&context),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ssoflow: {}", printable::printable(&error.message));
            ExitCode::from(error.status)
        }
    }
}

/// Keeps clap's definitions honest: every flag parses, names don't clash.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn session_flags_exclude_each_other() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("ssoflow").chain(args.iter().copied()))
        };
        assert!(parse(&["login", "--sso-session", "a", "--profile", "b"]).is_err());
        assert!(
            parse(&["login", "--start-url", "https://x"]).is_err(),
            "needs --region"
        );
        assert!(parse(&["token", "--start-url", "https://x", "--region", "us-east-1"]).is_ok());
        #[cfg(feature = "emulator")]
        assert!(parse(&["emulator", "--port", "0", "--auto-approve"]).is_ok());
        #[cfg(not(feature = "emulator"))]
        assert!(parse(&["emulator"]).is_err(), "no emulator in this build");
    }
}
