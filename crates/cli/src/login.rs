//! `ssoflow login`: the device flow with a person in front of the terminal:
//! the code, the link, a QR code, a countdown, the browser when sensible; or,
//! with `--output json`, one JSON event per line and nothing else on stdout.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use ssoflow_blocking::{
    CallbackListener, Driver, Error, LoopbackListener, SystemClock, UreqTransport,
    fresh_pkce_secrets,
};
use ssoflow_core::{
    AuthCodeFlow, AuthorizationPrompt, DeviceFlow, Event, FlowConfig, FlowError, Token,
    TransportErrorKind, UserPrompt,
};
use ssoflow_files::{CachedRegistration, CachedToken, RefreshPolicy, format_timestamp};

use crate::printable::printable;
use crate::session::{Places, Session, SessionArgs, parse_scopes};
use crate::{Browser, CliError, Context, EXIT_CANCELLED, EXIT_DENIED, EXIT_EXPIRED, browser, qr};

/// How the command reports: for people (stderr) or machines (JSON on stdout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Output {
    /// Sentences for a person.
    #[default]
    Text,
    /// One JSON object per line, no secrets.
    Json,
}

/// `ssoflow login`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    pub(crate) session: SessionArgs,
    /// Register with these scopes instead of the configured ones (comma-separated).
    #[arg(long, value_name = "SCOPES")]
    pub(crate) scopes: Option<String>,
    /// Do not open a browser: print the link to open (on this machine, for
    /// the default authorization-code sign-in; anywhere, with --use-device-code).
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// Sign in with a code to enter on any device (the device flow) instead of
    /// a browser on this machine: for remote shells, containers and VMs.
    #[arg(long)]
    pub(crate) use_device_code: bool,
    /// Listen for the browser's redirect on this port of 127.0.0.1 instead of
    /// one the system chooses (for SSH port forwarding).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) redirect_port: Option<u16>,
    /// Sign in even if a valid token exists.
    #[arg(long)]
    pub(crate) force: bool,
    /// `text` for people, `json` for one event per line.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

pub(crate) fn run(context: &Context, args: &LoginArgs) -> Result<(), CliError> {
    let places = Places::of(&context.env)?;
    let scopes = args.scopes.as_deref().map(parse_scopes);
    let session = args.session.resolve(&context.env, &places, scopes)?;
    let report = Reporter {
        output: args.output,
    };
    let now = SystemTime::now();

    if !args.force
        && let Some(expires_at) = valid_token(&places, &session, now, &report)
    {
        report.event(
                json!({"event": "already_signed_in", "session": session.label, "expiresAt": format_timestamp(expires_at)}),
                &format!(
                    "Already signed in to {} until {} ({} left); use --force to sign in again.",
                    session.label,
                    format_timestamp(expires_at),
                    minutes(expires_at.duration_since(now).unwrap_or_default())
                ),
            );
        return Ok(());
    }

    let env = |name: &str| context.env.get(name).map(str::to_owned);
    let grant = match choose_grant(context, args, &session, &env) {
        Choice::AuthCode => match LoopbackListener::bind(args.redirect_port) {
            Ok(listener) => Grant::AuthCode(
                new_auth_code_flow(&places, &session, &listener, now, &report)?,
                listener,
            ),
            Err(error) => {
                let port = args
                    .redirect_port
                    .map_or_else(|| "a free port".to_owned(), |p| format!("port {p}"));
                say_fallback(
                    &report,
                    &format!(
                        "could not listen on 127.0.0.1 ({port}) for the browser's redirect: {error}"
                    ),
                );
                Grant::Device(new_flow(&places, &session, now, &report)?)
            }
        },
        Choice::Device(why) => {
            if let Some(why) = why {
                say_fallback(&report, &why);
            }
            Grant::Device(new_flow(&places, &session, now, &report)?)
        }
    };
    let driver = Driver::new(session.transport(context)?, SystemClock)
        .with_cancel_flag(Arc::clone(&context.cancel));
    let browser = BrowserUse {
        open: !args.no_browser,
        // The device flow's page opens only on a desktop with a display; the
        // demo's stand-in browser knows the authorization-code flow only.
        device_page: !args.no_browser
            && matches!(context.browser, Browser::Desktop)
            && browser::has_display(&env),
        kind: context.browser,
    };
    let outcome = sign_in(driver, grant, &places, &session, &report, browser);
    match outcome {
        Ok(token) => {
            let path = places
                .cache
                .write_token(
                    &session.token_key,
                    &CachedToken::from_token(&token, &session.start_url, &session.region),
                )
                .map_err(|error| {
                    CliError::failure(format!(
                        "signed in, but the token could not be saved: {error}"
                    ))
                })?;
            report.event(
                json!({
                    "event": "signed_in",
                    "session": session.label,
                    "expiresAt": format_timestamp(token.expires_at),
                    "refreshable": token.refresh_token.is_some(),
                    "tokenFile": path.display().to_string(),
                }),
                &format!(
                    "Signed in to {} until {}{}. The token is in {}, where the AWS CLI and SDKs find it.",
                    session.label,
                    format_timestamp(token.expires_at),
                    if token.refresh_token.is_some() { " (refreshed automatically)" } else { "" },
                    path.display()
                ),
            );
            Ok(())
        }
        Err(error) => {
            let (kind, failure) = explain(&error, &session);
            report.event(
                json!({"event": "error", "kind": kind, "message": failure.message}),
                "",
            );
            Err(failure)
        }
    }
}

/// The expiry of a stored token that needs no sign-in: not due for refresh.
fn valid_token(
    places: &Places,
    session: &Session,
    now: SystemTime,
    report: &Reporter,
) -> Option<SystemTime> {
    match places.cache.read_token(&session.token_key) {
        Ok(Some(token)) => {
            let left = token.expires_at.duration_since(now).unwrap_or_default();
            (left > RefreshPolicy::default().refresh_within).then_some(token.expires_at)
        }
        Ok(None) => None,
        Err(error) => {
            report.warn(&format!("{error}; signing in again will replace it"));
            None
        }
    }
}

/// A device flow, reusing the registration the AWS CLI or an earlier login
/// cached when it is still good for 15 minutes.
fn new_flow(
    places: &Places,
    session: &Session,
    now: SystemTime,
    report: &Reporter,
) -> Result<DeviceFlow, CliError> {
    let config = FlowConfig::new(session.endpoint.clone(), &session.start_url)
        .map_err(|error| CliError::usage(error.to_string()))?
        .with_scopes(session.scopes.iter().cloned())
        .with_client_name("ssoflow");
    let cached = match places.cache.read_registration(&session.registration_key) {
        Ok(cached) => cached,
        Err(error) => {
            report.warn(&format!("{error}; registering a new client"));
            None
        }
    };
    Ok(match cached {
        Some(cached) => DeviceFlow::with_registration(
            config,
            cached.to_registration(&session.scopes),
            Instant::now(),
            now,
        ),
        None => DeviceFlow::new(config, Instant::now()),
    })
}

/// Which sign-in to run, and why not the default when it is not.
enum Choice {
    AuthCode,
    Device(Option<String>),
}

/// The flow chosen, ready to run.
enum Grant {
    Device(DeviceFlow),
    AuthCode(AuthCodeFlow, LoopbackListener),
}

/// The AWS CLI's choice: the authorization code with PKCE for sso-session
/// profiles, the device code for legacy ones and on request — and, where a
/// browser on this machine cannot finish the sign-in, the device code with
/// the reason said.
fn choose_grant(
    context: &Context,
    args: &LoginArgs,
    session: &Session,
    env: &dyn Fn(&str) -> Option<String>,
) -> Choice {
    if args.use_device_code || session.registration_key.session_name.is_none() {
        if args.redirect_port.is_some() {
            return Choice::Device(Some(
                "--redirect-port applies only to the browser sign-in, which legacy profiles and \
                 --use-device-code do not use"
                    .to_owned(),
            ));
        }
        return Choice::Device(None);
    }
    // A fixed port or --no-browser: the person takes the URL to a browser
    // that reaches this machine's loopback (SSH port forwarding included).
    if args.redirect_port.is_some() || args.no_browser {
        return Choice::AuthCode;
    }
    let why = match context.browser {
        Browser::Emulated(_) => return Choice::AuthCode,
        Browser::Desktop if env("SSH_CONNECTION").is_some_and(|v| !v.is_empty()) => {
            "this is an SSH session (SSH_CONNECTION is set), so a browser here cannot reach \
             this machine's loopback address"
        }
        Browser::Desktop if !browser::has_display(env) => {
            "there is no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
        }
        Browser::Desktop => match browser::launcher(env) {
            Ok(()) => return Choice::AuthCode,
            Err(why) => {
                return Choice::Device(Some(format!("the browser cannot be opened: {why}")));
            }
        },
    };
    Choice::Device(Some(why.to_owned()))
}

fn say_fallback(report: &Reporter, why: &str) {
    report.event(
        json!({"event": "using_device_code", "reason": why}),
        &format!(
            "Signing in with a device code: {why}. (To use a browser on this machine anyway, \
             run with --no-browser and open the link it prints; with SSH port forwarding, \
             add --redirect-port.)"
        ),
    );
}

/// An authorization-code flow for `listener`, reusing a cached registration
/// made for this grant when the flows' rule allows it.
fn new_auth_code_flow(
    places: &Places,
    session: &Session,
    listener: &LoopbackListener,
    now: SystemTime,
    report: &Reporter,
) -> Result<AuthCodeFlow, CliError> {
    let config = FlowConfig::new(session.endpoint.clone(), &session.start_url)
        .map_err(|error| CliError::usage(error.to_string()))?
        .with_scopes(session.scopes.iter().cloned())
        .with_client_name("ssoflow");
    let secrets = fresh_pkce_secrets().map_err(|error| {
        CliError::failure(format!("no secure random numbers for the sign-in: {error}"))
    })?;
    let cached = match places.cache.read_registration(&session.registration_key) {
        Ok(cached) => cached,
        Err(error) => {
            report.warn(&format!("{error}; registering a new client"));
            None
        }
    };
    let port = listener.port();
    Ok(match cached {
        Some(cached) => AuthCodeFlow::with_registration(
            config,
            cached.to_registration(&session.scopes),
            port,
            secrets,
            Instant::now(),
            now,
        ),
        None => AuthCodeFlow::new(config, port, secrets, Instant::now()),
    })
}

/// Whether and how the login may use a browser.
#[derive(Clone, Copy)]
struct BrowserUse {
    /// Whether the authorization URL may be opened (not `--no-browser`).
    open: bool,
    /// Whether the device flow's verification page may be opened.
    device_page: bool,
    kind: Browser,
}

fn sign_in(
    mut driver: Driver<UreqTransport, SystemClock>,
    grant: Grant,
    places: &Places,
    session: &Session,
    report: &Reporter,
    browser: BrowserUse,
) -> Result<Token, Error> {
    let mut shown = Shown {
        countdown: None,
        code: None,
    };
    let mut on_event = |event| handle_event(event, &mut shown, places, session, report, browser);
    let result = match grant {
        Grant::Device(mut flow) => driver.run(&mut flow, &mut on_event),
        Grant::AuthCode(flow, mut listener) => driver
            .sign_in_with_browser(flow, &mut listener, &mut on_event)
            .map(|signed_in| signed_in.token),
    };
    if let Some(countdown) = shown.countdown.take() {
        countdown.stop();
    }
    result
}

/// What the login has shown so far.
struct Shown {
    countdown: Option<Countdown>,
    /// The user code on screen, if one is.
    code: Option<String>,
}

fn handle_event(
    event: Event,
    shown: &mut Shown,
    places: &Places,
    session: &Session,
    report: &Reporter,
    browser: BrowserUse,
) {
    match event {
        Event::Registered(registration) => {
            // Saved at once, as the AWS CLI does: a later login (or `aws sso
            // login`) reuses it even if this one is interrupted.
            let cached = CachedRegistration::from_registration(
                &registration,
                session.registration_key.configured_scopes.is_some(),
            );
            if let Err(error) = places.cache.write_registration(&session.registration_key, &cached) {
                report.warn(&format!("the client registration could not be saved: {error}"));
            }
            report.event(
                json!({"event": "registered", "clientId": registration.client_id, "expiresAt": format_timestamp(registration.expires_at), "grantTypes": registration.grant_types}),
                "",
            );
        }
        Event::RegistrationRejected { client_id, user_code_void } => {
            // No later login (ours or `aws sso login`) may reuse it.
            let removed = places
                .cache
                .remove_registration(&session.registration_key, &client_id);
            if let Err(error) = &removed {
                report.warn(&format!("the rejected client registration could not be removed: {error}"));
            }
            if let Some(previous) = shown.countdown.take() {
                previous.stop();
            }
            let void = user_code_void.then(|| shown.code.take()).flatten();
            report.event(
                json!({
                    "event": "registration_rejected",
                    "clientId": client_id,
                    "removedFromCache": matches!(removed, Ok(true)),
                    "voidUserCode": void,
                }),
                &match &void {
                    Some(code) => format!(
                        "The service rejected the client registration, so the code {code} no longer works: do not enter it."
                    ),
                    None if matches!(removed, Ok(true)) => {
                        "The service rejected the cached client registration; it was removed from the cache.".to_owned()
                    }
                    None => "The service rejected the client registration.".to_owned(),
                },
            );
        }
        Event::UserCode(prompt) => {
            if let Some(previous) = shown.countdown.take() {
                previous.stop();
            }
            shown.code = Some(prompt.user_code.clone());
            show_prompt(&prompt, report, browser.device_page);
            shown.countdown = report
                .is_text()
                .then(|| Countdown::start(prompt.expires_at, "the code expires in"));
        }
        Event::AuthorizationUrl(prompt) => {
            show_authorization(&prompt, report, browser);
            let until = SystemTime::now() + prompt.wait;
            shown.countdown = report
                .is_text()
                .then(|| Countdown::start(until, "giving up in"));
        }
        Event::CallbackRefused(why) => report.event(
            json!({"event": "callback_refused", "reason": why.to_string()}),
            &format!(
                "warning: a request to the sign-in listener was refused ({why}): it did not come \
                 from this sign-in's browser page."
            ),
        ),
        Event::IntervalChanged(interval) => report.event(
            json!({"event": "slow_down", "intervalSeconds": interval.as_secs()}),
            &format!("The service asked to poll less often; now every {} s.", interval.as_secs()),
        ),
        Event::Retrying { operation, attempt, wait } => report.event(
            json!({"event": "retrying", "operation": operation.name(), "attempt": attempt, "waitSeconds": wait.as_secs_f64()}),
            &format!(
                "{} failed (attempt {attempt}); trying again in {:.0} s.",
                operation.name(),
                wait.as_secs_f64().ceil()
            ),
        ),
        _ => {}
    }
}

/// Opens the authorization URL in the browser, or prints it to be opened
/// on this machine. The URL carries the sign-in's `state`, so it is printed
/// only when the person needs it.
fn show_authorization(prompt: &AuthorizationPrompt, report: &Reporter, browser: BrowserUse) {
    let wait = minutes(prompt.wait);
    // `may_open` refuses anything but https or loopback http.
    let openable = browser::may_open(&prompt.url);
    let opened = browser.open
        && openable
        && match browser.kind {
            Browser::Desktop => browser::open(&prompt.url, &|name| std::env::var(name).ok()),
            Browser::Emulated(visit) => {
                visit(prompt.url.clone());
                true
            }
        };
    let base = prompt.url.split('?').next().unwrap_or_default();
    report.event(
        json!({
            "event": "authorization_url",
            "url": (!opened).then_some(&prompt.url),
            "authorizeEndpoint": base,
            "redirectUri": prompt.redirect_uri,
            "opened": opened,
            "waitSeconds": prompt.wait.as_secs(),
        }),
        &if opened {
            format!(
                "A browser window was opened at {}; approve the sign-in there (waiting up to {wait}).",
                printable(base)
            )
        } else if !openable {
            format!(
                "The sign-in page {} is neither https nor on this machine, so it is not opened.",
                printable(base)
            )
        } else {
            format!(
                "Open this link in a browser on this machine and approve the sign-in (waiting up to {wait}):\n\n    {}\n\nIf the browser runs elsewhere, press Ctrl-C and run again with --use-device-code.",
                printable(&prompt.url)
            )
        },
    );
}

fn show_prompt(prompt: &UserPrompt, report: &Reporter, open_browser: bool) {
    let link = prompt
        .verification_uri_complete
        .clone()
        .unwrap_or_else(|| prompt.verification_uri.clone());
    // Shown through `printable`: both come from the service.
    let (shown_link, shown_code) = (printable(&link), printable(&prompt.user_code));
    report.event(
        json!({
            "event": "user_code",
            "userCode": prompt.user_code,
            "verificationUri": prompt.verification_uri,
            "verificationUriComplete": prompt.verification_uri_complete,
            "expiresAt": format_timestamp(prompt.expires_at),
        }),
        "",
    );
    if !report.is_text() {
        return;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "\nTo sign in, open this link and approve the request:\n\n    {shown_link}\n"
    );
    let _ = writeln!(
        err,
        "and check that it shows this code:\n\n    {shown_code}\n"
    );
    if let Some(code) = qr::render(&link) {
        let _ = writeln!(err, "Or scan this with your phone:\n\n{code}");
    }
    if !browser::may_open(&link) {
        let _ = writeln!(
            err,
            "warning: this link is neither https nor on this machine, so it is not opened; \
             check it before you visit it."
        );
    }
    let opened = open_browser
        && browser::may_open(&link)
        && browser::open(&link, &|name| std::env::var(name).ok());
    if opened {
        let _ = writeln!(err, "A browser window was opened for you.");
    }
}

/// A line on stderr that counts down to the code's expiry while the flow
/// waits: in place on a terminal, every 30 s otherwise.
struct Countdown {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    terminal: bool,
}

impl Countdown {
    fn start(expires_at: SystemTime, what: &'static str) -> Countdown {
        let stop = Arc::new(AtomicBool::new(false));
        let terminal = std::io::stderr().is_terminal();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut ticks = 0u64;
            while !flag.load(Ordering::SeqCst) {
                let left = expires_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                if terminal {
                    eprint!("\r    Waiting for approval; {what} {}   ", clock(left));
                } else if ticks.is_multiple_of(30) {
                    eprintln!("Waiting for approval; {what} {}.", clock(left));
                }
                ticks += 1;
                // Short sleeps so stopping is quick.
                for _ in 0..10 {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        Countdown {
            stop,
            thread: Some(thread),
            terminal,
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if self.terminal {
            eprint!("\r{:70}\r", "");
        }
    }
}

fn clock(left: Duration) -> String {
    let seconds = left.as_secs();
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

pub(crate) fn minutes(left: Duration) -> String {
    let minutes = left.as_secs() / 60;
    if minutes >= 120 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    }
}

/// The JSON kind and the message for a flow that ended without a token.
fn explain(error: &Error, session: &Session) -> (&'static str, CliError) {
    let again = format!("run `ssoflow login {}` again", session.selector_flags);
    match error {
        Error::Denied => (
            "denied",
            CliError::new(
                EXIT_DENIED,
                format!("the sign-in was denied in the browser; {again} to retry"),
            ),
        ),
        Error::Expired => (
            "expired",
            CliError::new(
                EXIT_EXPIRED,
                format!("the sign-in expired before it was completed; {again} for a new one"),
            ),
        ),
        Error::Flow(error @ FlowError::NoCallback { .. }) => (
            "no_callback",
            CliError::failure(format!(
                "{error}: run `ssoflow login {} --use-device-code`",
                session.selector_flags
            )),
        ),
        Error::Flow(FlowError::Cancelled) => (
            "cancelled",
            CliError::new(EXIT_CANCELLED, "cancelled; no token was saved"),
        ),
        // The message says what to do about the certificate already.
        Error::Transport { source, .. } if source.kind == TransportErrorKind::Certificate => (
            "certificate",
            CliError::failure(format!(
                "{error} (endpoint {})",
                session.endpoint.base_url()
            )),
        ),
        Error::Transport { .. } => (
            "unreachable",
            CliError::failure(format!(
                "{error}. Check the network and the endpoint {} (set by --endpoint-url, \
                 AWS_ENDPOINT_URL_SSO_OIDC or the config file).",
                session.endpoint.base_url()
            )),
        ),
        other => (
            "failed",
            CliError::failure(format!("sign-in failed: {other}")),
        ),
    }
}

/// Prints for people or for machines.
pub(crate) struct Reporter {
    pub(crate) output: Output,
}

impl Reporter {
    fn is_text(&self) -> bool {
        self.output == Output::Text
    }

    /// In JSON mode prints `value` as one line on stdout; in text mode prints
    /// `text` (if any) on stderr.
    pub(crate) fn event(&self, value: serde_json::Value, text: &str) {
        match self.output {
            Output::Json => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{value}");
                let _ = out.flush();
            }
            Output::Text if !text.is_empty() => eprintln!("{}", printable(text)),
            Output::Text => {}
        }
    }

    pub(crate) fn warn(&self, text: &str) {
        self.event(
            json!({"event": "warning", "message": text}),
            &format!("warning: {text}"),
        );
    }
}
