//! The emulator as a foreground command, shared by the `ssoflow-emulator`
//! binary and the `ssoflow emulator` command: start, print the base URL as
//! the first line on stdout, explain on stderr, serve until Ctrl-C or SIGTERM.

use std::io::Write as _;
use std::process::ExitCode;

use crate::{ADMIN_PREFIX, AUTHORIZE_PATH, Emulator, EmulatorArgs, VERIFICATION_PATH};

/// Runs an emulator configured by `args` until Ctrl-C or SIGTERM, on a
/// runtime of its own; the exit code says whether it started and stopped
/// cleanly (state file written).
pub fn run_until_stopped(args: &EmulatorArgs) -> ExitCode {
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
    runtime.block_on(run(args))
}

async fn run(args: &EmulatorArgs) -> ExitCode {
    let config = args.to_config();
    let state_file = config.state_file.clone();
    let accounts = config.service.accounts.len();
    let accounts_from = match &args.accounts {
        Some(file) => format!("from {}", file.path.display()),
        None => "built in".to_owned(),
    };
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
    eprintln!("SSO OIDC and SSO portal emulator listening; endpoint URL {base} (both APIs)");
    eprintln!(
        "  portal API         {base} (GetRoleCredentials, ListAccounts, ListAccountRoles, \
         Logout; {accounts} account(s) {accounts_from})"
    );
    eprintln!("  verification page  {base}{VERIFICATION_PATH}");
    eprintln!("  PKCE consent page  {base}{AUTHORIZE_PATH} (opened by the application)");
    eprintln!(
        "  admin API          {base}{ADMIN_PREFIX}/ (pending, approve, deny, faults, counters, \
         accounts)"
    );
    match &state_file {
        Some(path) => eprintln!("  state file         {}", path.display()),
        None => eprintln!("  state              in memory only (use --state-file to keep it)"),
    }
    eprintln!(
        "  try it             AWS_ENDPOINT_URL_SSO_OIDC={base} AWS_ENDPOINT_URL_SSO={base} \
         aws sso login --sso-session NAME"
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
