//! `ssoflow token`, `ssoflow status` and `ssoflow logout`: the token cache
//! seen from the command line. Only `token` ever prints a secret.

use std::io::Write;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::json;
use ssoflow_blocking::{Driver, ProviderError, SystemClock, TokenProvider};
use ssoflow_core::PortalCall;
use ssoflow_core::portal::Logout;
use ssoflow_files::config::{ConfigFile, Environment};
use ssoflow_files::{CacheError, RoleCache, RoleCacheKey, TokenCache, format_timestamp};

use crate::login::{Output, minutes};
use crate::printable::printable;
use crate::session::{Places, Session, SessionArgs};
use crate::{CliError, Context};

/// `ssoflow token`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TokenArgs {
    #[command(flatten)]
    pub(crate) session: SessionArgs,
    /// `text` prints the bare token; `json` prints `{"accessToken", "expiresAt"}`.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// `ssoflow status`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) session: SessionArgs,
    /// `text` for people, `json` for one object per session.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
}

/// `ssoflow logout`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LogoutArgs {
    #[command(flatten)]
    pub(crate) session: SessionArgs,
    /// Every sso-session and legacy profile in the config file.
    #[arg(long, conflicts_with_all = ["sso_session", "profile", "start_url"])]
    pub(crate) all: bool,
}

pub(crate) fn token(context: &Context, args: &TokenArgs) -> Result<(), CliError> {
    let places = Places::of(&context.env)?;
    let session = args.session.resolve(&context.env, &places, None)?;
    let driver = Driver::new(session.transport(context)?, SystemClock)
        .with_cancel_flag(context.cancel.clone());
    let provider = TokenProvider::new(
        session.token_key.clone(),
        session.endpoint.clone(),
        places.cache.clone(),
        driver,
    );
    let provided = provider.token().map_err(|error| {
        let hint = match &error {
            ProviderError::Cache(_) => String::new(),
            _ => format!(" (ssoflow login {})", session.selector_flags),
        };
        CliError::failure(format!("{}: {error}{hint}", session.label))
    })?;
    if let Some(failure) = &provided.refresh_failed {
        eprintln!(
            "warning: refreshing the token for {} failed ({failure}); it stays valid until {}",
            session.label,
            format_timestamp(provided.expires_at)
        );
    }
    let mut out = std::io::stdout().lock();
    let written = match args.output {
        Output::Text => writeln!(out, "{}", provided.access_token.secret()),
        Output::Json => writeln!(
            out,
            "{}",
            json!({"accessToken": provided.access_token.secret(), "expiresAt": format_timestamp(provided.expires_at)})
        ),
    };
    written.map_err(|error| CliError::failure(format!("cannot write the token: {error}")))
}

/// One line of `status`: a session and the state of its token.
struct Row {
    label: String,
    token_file: String,
    state: TokenState,
}

enum TokenState {
    SignedIn {
        expires_at: SystemTime,
        refreshable: bool,
    },
    Expired {
        expired_at: SystemTime,
        refreshable: bool,
    },
    NotSignedIn,
    Unusable(String),
}

pub(crate) fn status(context: &Context, args: &StatusArgs) -> Result<(), CliError> {
    let places = Places::of(&context.env)?;
    let explicit = args.session.sso_session.is_some()
        || args.session.profile.is_some()
        || args.session.start_url.is_some();
    let sessions = if explicit {
        vec![args.session.resolve(&context.env, &places, None)?]
    } else {
        every_session(&context.env, &places)?
    };
    if sessions.is_empty() {
        return Err(CliError::usage(format!(
            "{} has no sso-session and no profile with sso_start_url; add one, or use --start-url and --region",
            places.config_file.display()
        )));
    }
    let now = SystemTime::now();
    let rows: Vec<Row> = sessions
        .iter()
        .map(|session| row(&places.cache, session, now))
        .collect();
    let config = places.load_config()?;
    let roles = RoleCache::in_home(&places.home);
    let mut out = std::io::stdout().lock();
    for (row, session) in rows.iter().zip(&sessions) {
        // The two clocks: the token's, and each cached role's credentials'.
        let cached: Vec<(RoleCacheKey, SystemTime)> = role_keys_of(&config, session)
            .into_iter()
            .filter_map(|key| {
                let entry = roles.read(&key).ok()??;
                Some((key, entry.expiration))
            })
            .collect();
        let line = match args.output {
            Output::Json => {
                let mut value = json_row(row);
                value["roleCredentials"] = cached
                    .iter()
                    .map(|(key, until)| {
                        json!({"accountId": key.account_id, "roleName": key.role_name, "expiration": format_timestamp(*until), "expired": *until <= now})
                    })
                    .collect();
                value.to_string()
            }
            Output::Text => {
                let mut text = text_row(row, now);
                for (key, until) in &cached {
                    let state = match until.duration_since(now) {
                        Ok(left) => format!(
                            "until {} ({} left)",
                            format_timestamp(*until),
                            minutes(left)
                        ),
                        Err(_) => format!("expired at {}", format_timestamp(*until)),
                    };
                    text.push_str(&printable(&format!(
                        "\n    role {} in account {}: credentials {state}",
                        key.role_name, key.account_id
                    )));
                }
                text
            }
        };
        writeln!(out, "{line}").map_err(|error| CliError::failure(error.to_string()))?;
    }
    // One session asked for by name: the exit status says whether it is usable.
    let usable = |row: &Row| {
        matches!(
            row.state,
            TokenState::SignedIn { .. }
                | TokenState::Expired {
                    refreshable: true,
                    ..
                }
        )
    };
    if explicit && !rows.iter().all(usable) {
        return Err(CliError::new(
            1,
            format!(
                "not signed in; run `ssoflow login {}`",
                sessions[0].selector_flags
            ),
        ));
    }
    Ok(())
}

/// Every sso-session, and every legacy profile, in the config file.
fn every_session(env: &Environment, places: &Places) -> Result<Vec<Session>, CliError> {
    let config: ConfigFile = places.load_config()?;
    let mut sessions = Vec::new();
    for name in config.sso_sessions().keys() {
        let args = SessionArgs {
            sso_session: Some(name.clone()),
            ..SessionArgs::default()
        };
        if let Ok(session) = args.resolve(env, places, None) {
            sessions.push(session);
        }
    }
    for (name, profile) in config.profiles() {
        let legacy = profile.get("sso_start_url").is_some() && profile.get("sso_session").is_none();
        if legacy {
            let args = SessionArgs {
                profile: Some(name.clone()),
                ..SessionArgs::default()
            };
            if let Ok(session) = args.resolve(env, places, None) {
                sessions.push(session);
            }
        }
    }
    Ok(sessions)
}

fn row(cache: &TokenCache, session: &Session, now: SystemTime) -> Row {
    let state = match cache.read_token(&session.token_key) {
        Ok(None) => TokenState::NotSignedIn,
        Ok(Some(token)) => {
            let refreshable = token.refreshable_at(now);
            if token.expires_at > now {
                TokenState::SignedIn {
                    expires_at: token.expires_at,
                    refreshable,
                }
            } else {
                TokenState::Expired {
                    expired_at: token.expires_at,
                    refreshable,
                }
            }
        }
        Err(CacheError::Unusable { detail, .. }) => TokenState::Unusable(detail),
        Err(other) => TokenState::Unusable(other.to_string()),
    };
    Row {
        label: session.label.clone(),
        token_file: cache.token_path(&session.token_key).display().to_string(),
        state,
    }
}

fn text_row(row: &Row, now: SystemTime) -> String {
    let state = match &row.state {
        TokenState::SignedIn {
            expires_at,
            refreshable,
        } => format!(
            "signed in until {} ({} left{})",
            format_timestamp(*expires_at),
            minutes(expires_at.duration_since(now).unwrap_or_default()),
            if *refreshable {
                ", refreshed automatically"
            } else {
                ", not refreshable"
            }
        ),
        TokenState::Expired {
            expired_at,
            refreshable: true,
        } => format!(
            "expired at {}; `ssoflow token` will refresh it",
            format_timestamp(*expired_at)
        ),
        TokenState::Expired {
            expired_at,
            refreshable: false,
        } => {
            format!(
                "expired at {}; sign in again",
                format_timestamp(*expired_at)
            )
        }
        TokenState::NotSignedIn => "not signed in".to_owned(),
        TokenState::Unusable(detail) => format!("token file unusable ({detail})"),
    };
    format!(
        "{}: {}\n    token file {}",
        printable(&row.label),
        printable(&state),
        printable(&row.token_file)
    )
}

fn json_row(row: &Row) -> serde_json::Value {
    let (state, expires_at, refreshable) = match &row.state {
        TokenState::SignedIn {
            expires_at,
            refreshable,
        } => ("signed_in", Some(*expires_at), Some(*refreshable)),
        TokenState::Expired {
            expired_at,
            refreshable,
        } => ("expired", Some(*expired_at), Some(*refreshable)),
        TokenState::NotSignedIn => ("not_signed_in", None, None),
        TokenState::Unusable(_) => ("unusable", None, None),
    };
    json!({
        "session": row.label,
        "state": state,
        "expiresAt": expires_at.map(format_timestamp),
        "refreshable": refreshable,
        "tokenFile": row.token_file,
    })
}

pub(crate) fn logout(context: &Context, args: &LogoutArgs) -> Result<(), CliError> {
    let places = Places::of(&context.env)?;
    let sessions = if args.all {
        every_session(&context.env, &places)?
    } else {
        vec![args.session.resolve(&context.env, &places, None)?]
    };
    let config = places.load_config()?;
    let roles = RoleCache::in_home(&places.home);
    let mut out = std::io::stdout().lock();
    let mut kept = 0;
    for session in &sessions {
        let path = places.cache.token_path(&session.token_key);
        // As `aws sso logout`: end the portal session while the token still
        // works (errors only warned about), then remove the files.
        let portal = end_portal_session(&config, context, &places, session);
        // As `aws sso logout`: every role-cache entry of the SSO provider
        // goes, since the files do not say which session fetched them; and
        // the accounts listing of this session.
        let removed_roles = roles
            .remove_sso_entries()
            .map_or(0, |removed| removed.len());
        let _ = std::fs::remove_file(crate::accounts::listing_path(&places, session));
        let extra = match (portal, removed_roles) {
            (Some(note), n) => format!("; {note}; removed {n} cached role credential(s)"),
            (None, n) => format!("; removed {n} cached role credential(s)"),
        };
        let line = match places.cache.remove_token(&session.token_key) {
            Ok(true) => format!(
                "{}: signed out (removed {}{extra})",
                session.label,
                path.display()
            ),
            Ok(false) => format!("{}: was not signed in", session.label),
            Err(CacheError::Unusable { detail, .. }) => {
                kept += 1;
                format!(
                    "{}: left {} in place: it is not a token file ({detail})",
                    session.label,
                    path.display()
                )
            }
            Err(error) => return Err(CliError::failure(error.to_string())),
        };
        writeln!(out, "{}", printable(&line))
            .map_err(|error| CliError::failure(error.to_string()))?;
    }
    if kept > 0 {
        return Err(CliError::failure(format!(
            "{kept} file(s) were not ours to remove; delete them by hand if they are stale"
        )));
    }
    Ok(())
}

/// Calls the portal's Logout with the session's token while it is valid;
/// what happened, for the report line (`None`: no token to end).
fn end_portal_session(
    config: &ConfigFile,
    context: &Context,
    places: &Places,
    session: &Session,
) -> Option<String> {
    let token = places.cache.read_token(&session.token_key).ok()??;
    if token.expires_at <= SystemTime::now() {
        return None;
    }
    let endpoint = match config
        .portal_endpoint(&session.settings, &context.env)
        .and_then(|choice| choice.to_endpoint())
    {
        Ok(endpoint) => endpoint,
        Err(error) => return Some(format!("the portal session was not ended: {error}")),
    };
    let transport = match session.transport(context) {
        Ok(transport) => transport,
        Err(error) => {
            return Some(format!(
                "the portal session was not ended: {}",
                error.message
            ));
        }
    };
    let mut driver =
        Driver::new(transport, SystemClock).with_cancel_flag(Arc::clone(&context.cancel));
    let mut call = PortalCall::new(
        endpoint,
        token.access_token.clone(),
        Logout::new(),
        std::time::Instant::now(),
        u64::from(std::process::id()),
    );
    Some(match driver.run(&mut call, |_| {}) {
        Ok(()) => "ended the portal session".to_owned(),
        Err(error) => format!("the portal session was not ended ({error})"),
    })
}

/// The role-cache keys of the config's profiles that use `session`'s sign-in.
pub(crate) fn role_keys_of(config: &ConfigFile, session: &Session) -> Vec<RoleCacheKey> {
    let mut keys: Vec<RoleCacheKey> = config
        .roles_for_token(&session.token_key)
        .iter()
        .map(|role| role.cache_key())
        .collect();
    keys.dedup();
    keys
}
