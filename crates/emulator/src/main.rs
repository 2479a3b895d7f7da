//! `ssoflow-emulator`: serves the simulated AWS SSO OIDC service on a loopback
//! port until Ctrl-C (or SIGTERM). The first line on stdout is the base URL,
//! so scripts can start it with `--port 0` and read where it went.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use ssoflow_emulator::{ADMIN_PREFIX, Emulator, EmulatorArgs, VERIFICATION_PATH};

/// An AWS IAM Identity Center (SSO OIDC) emulator for offline tests and demos.
///
/// Point a client at it with its endpoint URL, e.g.
/// `AWS_ENDPOINT_URL_SSO_OIDC=$(first line printed) aws sso login`.
/// People approve sign-ins at the verification page it prints; scripts use
/// the admin API under /_emulator/ (see the ssoflow-emulator README).
#[derive(Debug, Parser)]
#[command(
    name = "ssoflow-emulator",
    version,
    after_help = "Examples:\n  ssoflow-emulator --port 0 --auto-approve\n  \
                  ssoflow-emulator --port 8000 --state-file emulator-state.json --token-ttl 15m"
)]
struct Cli {
    #[command(flatten)]
    args: EmulatorArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ssoflow-emulator: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli.args))
}

async fn run(args: EmulatorArgs) -> ExitCode {
    let config = args.to_config();
    let state_file = config.state_file.clone();
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("ssoflow-emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    let base = emulator.base_url().to_owned();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{base}");
    let _ = stdout.flush();
    drop(stdout);
    if !emulator.local_addr().ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, reachable from other hosts; anyone who can connect can \
             obtain tokens from this emulator",
            emulator.local_addr()
        );
    }
    eprintln!("SSO OIDC emulator listening; endpoint URL {base}");
    eprintln!("  verification page  {base}{VERIFICATION_PATH}");
    eprintln!(
        "  admin API          {base}{ADMIN_PREFIX}/ (pending, approve, deny, faults, counters)"
    );
    match &state_file {
        Some(path) => eprintln!("  state file         {}", path.display()),
        None => eprintln!("  state              in memory only (use --state-file to keep it)"),
    }
    eprintln!(
        "  try it             AWS_ENDPOINT_URL_SSO_OIDC={base} aws sso login --sso-session NAME"
    );
    eprintln!("Press Ctrl-C to stop.");

    wait_for_stop().await;
    eprintln!("stopping");
    match emulator.stop().await {
        Ok(()) => {
            if let Some(path) = state_file {
                eprintln!("state saved to {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ssoflow-emulator: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM where there is such a thing (a test harness or a
/// service manager stopping the emulator).
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
