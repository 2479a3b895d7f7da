//! `ssoflow credentials`: role credentials for one account and role, from
//! the AWS CLI's role cache when it has them with 15 minutes left, else from
//! the SSO portal with the session's token — printed as the
//! `credential_process` JSON or as shell assignments. Safe to use as a
//! `credential_process`: stdout carries only the result, nothing prompts
//! unless a person is at the terminal, and one process signs in for all
//! that ask at once.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::SystemTime;

use ssoflow_blocking::{
    CredentialsError, CredentialsProvider, Driver, FETCH_LOCK_TIMEOUT, SystemClock, TokenProvider,
};
use ssoflow_core::Endpoint;
use ssoflow_core::portal::RoleCredentials;
use ssoflow_files::config::EndpointChoice;
use ssoflow_files::{RoleCache, RoleCacheKey, RoleSource};

use crate::export::{ExportFormat, Exported, render};
use crate::login::{LoginArgs, Output};
use crate::session::{Places, SessionArgs};
use crate::{CliError, Context, login};

/// When `credentials` may sign in by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum SignIn {
    /// Only when stderr is a terminal, where the person sees the prompt.
    #[default]
    Auto,
    /// Always (the prompt goes to stderr).
    Always,
    /// Never: fail with the command to run.
    Never,
}

/// `ssoflow credentials`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct CredentialsArgs {
    #[command(flatten)]
    pub(crate) session: SessionArgs,
    /// The account (instead of the profile's `sso_account_id`).
    #[arg(long, value_name = "ID", requires = "role_name")]
    pub(crate) account_id: Option<String>,
    /// The permission set's role (instead of the profile's `sso_role_name`).
    #[arg(long, value_name = "NAME", requires = "account_id")]
    pub(crate) role_name: Option<String>,
    /// `process` for credential_process, or shell assignments as
    /// `aws configure export-credentials` prints them.
    #[arg(long, value_enum, default_value_t = ExportFormat::Process)]
    pub(crate) format: ExportFormat,
    /// Send SSO portal requests here instead (e.g. an emulator); beats
    /// AWS_ENDPOINT_URL_SSO and the config file.
    #[arg(long, value_name = "URL")]
    pub(crate) portal_url: Option<String>,
    /// Without a valid token: sign in first when a person is at the terminal
    /// (`auto`), always, or never.
    #[arg(long, value_enum, default_value_t = SignIn::Auto)]
    pub(crate) sign_in: SignIn,
    /// If a sign-in is needed, use the device code instead of a browser here.
    #[arg(long)]
    pub(crate) use_device_code: bool,
}

pub(crate) fn run(context: &Context, args: &CredentialsArgs) -> Result<(), CliError> {
    let started = SystemTime::now();
    let places = Places::of(&context.env)?;
    let session = args.session.resolve(&context.env, &places, None)?;
    let config = places.load_config()?;
    let (account_id, role_name) = match (&args.account_id, &args.role_name) {
        (Some(account), Some(role)) => (account.clone(), role.clone()),
        _ => {
            let role = config
                .role_settings(&args.session.selector(), &context.env)
                .map_err(CliError::config)?;
            (role.account_id, role.role_name)
        }
    };
    let key = RoleCacheKey {
        account_id,
        role_name,
        session_name: session.settings.session_name.clone(),
        start_url: session.settings.start_url.clone(),
    };
    let roles = RoleCache::in_home(&places.home);
    // The warm path reads one file and nothing else: no token, no config of the portal.
    let warm = RoleSource::new(key.clone(), roles.clone()).check(&mut None, SystemTime::now());
    if let Some(credentials) = warm {
        return print(args.format, &credentials);
    }
    let portal = match &args.portal_url {
        Some(url) => Endpoint::from_url(url)
            .map_err(|error| CliError::usage(format!("--portal-url {url}: {error}")))?,
        None => config
            .portal_endpoint(&session.settings, &context.env)
            .and_then(|choice: EndpointChoice| choice.to_endpoint())
            .map_err(CliError::config)?,
    };
    let transport = session.transport(context)?;
    let tokens = TokenProvider::new(
        session.token_key.clone(),
        session.endpoint.clone(),
        places.cache.clone(),
        Driver::new(transport.clone(), SystemClock).with_cancel_flag(Arc::clone(&context.cancel)),
    );
    let provider = CredentialsProvider::new(
        key,
        portal,
        roles,
        tokens,
        Driver::new(transport, SystemClock).with_cancel_flag(Arc::clone(&context.cancel)),
    );
    let allowed = match args.sign_in {
        SignIn::Always => true,
        SignIn::Never => false,
        SignIn::Auto => std::io::stderr().is_terminal(),
    };
    let result = provider.credentials_or_sign_in(|why| {
        if !allowed {
            return false;
        }
        // One sign-in per session, whichever roles the waiting processes
        // want: a process that finds another signing in waits for it and
        // takes its result — its token, or its failure, rather than a
        // second prompt after a denied or abandoned one.
        let token_now = || {
            places
                .cache
                .read_token(&session.token_key)
                .ok()
                .flatten()
                .is_some_and(|token| token.expires_at > SystemTime::now())
        };
        let mut signing_in = match places.cache.try_lock_sign_in(&session.token_key) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                eprintln!("{why}; waiting for the sign-in another process started.");
                let _waited = places
                    .cache
                    .lock_sign_in(&session.token_key, FETCH_LOCK_TIMEOUT);
                return token_now();
            }
            Err(error) => {
                eprintln!("ssoflow: {error}");
                return false;
            }
        };
        if token_now() {
            return true;
        }
        // This process may have waited for the role's lock while another
        // asked the person and failed: one refusal is the answer for all.
        // (The lock file keeps whole seconds: a failure in the second this
        // process started counts.)
        let failed_since_start = signing_in
            .last_failure()
            .is_some_and(|at| at + std::time::Duration::from_secs(1) > started);
        if failed_since_start {
            return false;
        }
        eprintln!("{why}; signing in first.");
        let login_args = LoginArgs {
            session: args.session.clone(),
            scopes: None,
            no_browser: false,
            use_device_code: args.use_device_code,
            redirect_port: None,
            force: false,
            output: Output::Text,
        };
        match login::run(context, &login_args) {
            Ok(()) => true,
            Err(error) => {
                eprintln!("ssoflow: {}", error.message);
                let _ = signing_in.record_failure(SystemTime::now());
                false
            }
        }
    });
    match result {
        Ok(provided) => print(args.format, &provided.credentials),
        Err(error) => Err(CliError::failure(hint(&error, &session.selector_flags))),
    }
}

fn print(format: ExportFormat, credentials: &RoleCredentials) -> Result<(), CliError> {
    let text = render(
        format,
        &Exported {
            access_key_id: &credentials.access_key_id,
            secret_access_key: credentials.secret_access_key.secret(),
            session_token: Some(credentials.session_token.secret()),
            expiration: Some(credentials.expiration),
        },
    );
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|error| CliError::failure(format!("cannot write the credentials: {error}")))
}

/// One line that says what happened and what to run.
fn hint(error: &CredentialsError, selector_flags: &str) -> String {
    let text = error.to_string();
    let login = format!("`ssoflow login {selector_flags}`");
    let text = text.replace("`ssoflow login`", &login);
    let needs_login = match error {
        CredentialsError::Token(_) => true,
        CredentialsError::Portal(ssoflow_core::drive::DriveError::Flow(flow)) => {
            flow.needs_sign_in()
        }
        _ => false,
    };
    if needs_login && !text.contains(&login) {
        format!("{text}; run {login}")
    } else if text.contains("TooManyRequestsException") {
        format!(
            "{text}; the SSO portal is throttling this account's requests: try again in a minute"
        )
    } else {
        text
    }
}
