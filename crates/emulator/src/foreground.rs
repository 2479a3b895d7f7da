//! The emulator as a foreground command, shared by the `ssoflow-emulator`
//! binary and the `ssoflow emulator` command: start, print the base URL as
//! the first line on stdout, explain on stderr, serve until Ctrl-C or SIGTERM.
//! With `--tls-ca-out`, the CA's certificate is written before the base URL
//! is printed, so whoever reads that line can use the file at once.

use std::io::Write as _;
use std::process::ExitCode;

use crate::{ADMIN_PREFIX, AUTHORIZE_PATH, Emulator, EmulatorArgs, TlsSettings, VERIFICATION_PATH};

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
    let tls = config.tls.clone();
    let emulator = match Emulator::start(config).await {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("ssoflow-emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    let base = emulator.base_url().to_owned();
    if let (Some(path), Some(pem)) = (&args.tls_ca_out, emulator.tls_ca_pem()) {
        // The same atomic write as the state file's: a reader that sees the
        // file sees all of it.
        if let Err(error) = ssoflow_files::write_atomically(path, pem.as_bytes()) {
            eprintln!(
                "ssoflow-emulator: cannot write the CA certificate to {}: {error}; choose a \
                 --tls-ca-out path in a directory you can write to",
                path.display()
            );
            let _ = emulator.stop().await;
            return ExitCode::FAILURE;
        }
    }
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
    match &tls {
        Some(TlsSettings::Generated { extra_hosts }) => {
            // Already checked when the certificate was made.
            let names = crate::tls::certificate_names(emulator.local_addr().ip(), extra_hosts)
                .unwrap_or_default();
            eprintln!(
                "  TLS                certificate for {} from a CA generated at start-up",
                names.join(", ")
            );
            match &args.tls_ca_out {
                Some(path) => eprintln!("  CA certificate     {}", path.display()),
                None => eprintln!(
                    "  CA certificate     not written (use --tls-ca-out PATH, then \
                     AWS_CA_BUNDLE=PATH)"
                ),
            }
        }
        Some(TlsSettings::FromFiles {
            certificate_chain, ..
        }) => eprintln!(
            "  TLS                certificate {}",
            certificate_chain.display()
        ),
        None => {}
    }
    match &state_file {
        Some(path) => eprintln!("  state file         {}", path.display()),
        None => eprintln!("  state              in memory only (use --state-file to keep it)"),
    }
    let ca_bundle = match &args.tls_ca_out {
        Some(path) if emulator.tls_ca_pem().is_some() => {
            format!("AWS_CA_BUNDLE={} ", path.display())
        }
        _ => String::new(),
    };
    eprintln!(
        "  try it             {ca_bundle}AWS_ENDPOINT_URL_SSO_OIDC={base} \
         AWS_ENDPOINT_URL_SSO={base} aws sso login --sso-session NAME"
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
