//! `ssoflow-emulator`: serves the simulated AWS SSO OIDC service on a loopback
//! port until Ctrl-C (or SIGTERM). The first line on stdout is the base URL,
//! so scripts can start it with `--port 0` and read where it went. Each
//! request is logged on stderr (see [`init_logging`]).

use std::process::ExitCode;
use std::str::FromStr as _;

use clap::Parser;
use ssoflow_emulator::EmulatorArgs;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The environment variable with the log filter, as the `ssoflow` command reads it.
const LOG_FILTER_VARIABLE: &str = "SSOFLOW_LOG";

/// Without `SSOFLOW_LOG`: the emulator's own info events, one per request.
const DEFAULT_LOG_FILTER: &str = "ssoflow_emulator=info";

/// An AWS IAM Identity Center (SSO OIDC and SSO portal) emulator for offline
/// tests and demos.
///
/// Point a client at it with its endpoint URL for both services, e.g.
/// `AWS_ENDPOINT_URL_SSO_OIDC=URL AWS_ENDPOINT_URL_SSO=URL aws sso login`,
/// where URL is the first line printed. The portal API (role credentials,
/// accounts, roles, logout) serves the accounts of `--accounts FILE`, or two
/// built-in ones.
/// People approve sign-ins at the verification page it prints; scripts use
/// the admin API under /_emulator/ (see the ssoflow-emulator README).
#[derive(Debug, Parser)]
#[command(
    name = "ssoflow-emulator",
    version,
    after_help = "Examples:\n  ssoflow-emulator --port 0 --auto-approve\n  \
                  ssoflow-emulator --port 8000 --state-file emulator-state.json --token-ttl 15m\n  \
                  ssoflow-emulator --accounts accounts.json --role-session-ttl 12h\n  \
                  ssoflow-emulator --tls --tls-ca-out ca.pem   # then AWS_CA_BUNDLE=ca.pem\n\n\
                  Each request is logged on stderr (request id, method, path, status, latency);\n\
                  SSOFLOW_LOG sets the filter (default ssoflow_emulator=info; e.g. debug, or\n\
                  ssoflow_emulator=debug to see failed TLS handshakes).\n\n\
                  An accounts file is a JSON array such as:\n  \
                  [{\"accountId\": \"111122223333\", \"accountName\": \"Dev\",\n    \
                  \"emailAddress\": \"dev@example.com\", \"roles\": [\"ReadOnlyAccess\"]}]"
)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
    /// Log no requests: stderr shows only the start-up summary and errors.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !cli.quiet
        && let Err(message) = init_logging(std::env::var(LOG_FILTER_VARIABLE).ok().as_deref())
    {
        eprintln!("ssoflow-emulator: {message}");
        return ExitCode::from(2);
    }
    ssoflow_emulator::run_until_stopped(&cli.args)
}

/// Prints the library's `tracing` events to stderr, one plain line each (no
/// colours: the output is as often a file or a test's pipe as a terminal),
/// filtered by `filter` (`SSOFLOW_LOG`: `RUST_LOG`-style `target=level`
/// lists) or [`DEFAULT_LOG_FILTER`] when it is unset or empty.
fn init_logging(filter: Option<&str>) -> Result<(), String> {
    let filter = filter.filter(|text| !text.trim().is_empty());
    let targets = Targets::from_str(filter.unwrap_or(DEFAULT_LOG_FILTER)).map_err(|error| {
        format!(
            "{LOG_FILTER_VARIABLE}={:?} is not a log filter ({error}); write a level such as \
             debug, or target=level pairs such as ssoflow_emulator=debug,info",
            filter.unwrap_or_default()
        )
    })?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish()
        .with(targets)
        .try_init()
        .map_err(|error| format!("cannot set up logging: {error}"))
}
