//! `ssoflow-emulator`: serves the simulated AWS SSO OIDC service on a loopback
//! port until Ctrl-C (or SIGTERM). The first line on stdout is the base URL,
//! so scripts can start it with `--port 0` and read where it went.

use std::process::ExitCode;

use clap::Parser;
use ssoflow_emulator::EmulatorArgs;

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
                  ssoflow-emulator --accounts accounts.json --role-session-ttl 12h\n\n\
                  An accounts file is a JSON array such as:\n  \
                  [{\"accountId\": \"111122223333\", \"accountName\": \"Dev\",\n    \
                  \"emailAddress\": \"dev@example.com\", \"roles\": [\"ReadOnlyAccess\"]}]"
)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

fn main() -> ExitCode {
    ssoflow_emulator::run_until_stopped(&Cli::parse().args)
}
