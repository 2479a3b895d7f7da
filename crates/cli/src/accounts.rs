//! `ssoflow accounts`: the accounts and roles the signed-in person may use,
//! from the SSO portal: one ListAccounts, then one ListAccountRoles per
//! account on a few threads, paced well under the portal's throttle.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;
use ssoflow_blocking::{Driver, SystemClock, TokenProvider, UreqTransport};
use ssoflow_core::drive::DriveError;
use ssoflow_core::portal::{Account, AccountRole, ListAccountRoles, ListAccounts, PortalRequest};
use ssoflow_core::secret::AccessToken;
use ssoflow_core::{Endpoint, PortalCall};

use crate::login::Output;
use crate::printable::printable;
use crate::session::{Places, SessionArgs};
use crate::{CliError, Context};

/// Threads asking for roles at once.
const WORKERS: usize = 4;
/// At most one portal request starts per this interval, across the
/// threads: 10 a second, half the 20 the portal is said to allow
/// (`portal-api.md` §8.3), leaving room for the person's other tools.
const PACE: Duration = Duration::from_millis(100);

/// `ssoflow accounts`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AccountsArgs {
    #[command(flatten)]
    pub(crate) session: SessionArgs,
    /// Send SSO portal requests here instead (e.g. an emulator).
    #[arg(long, value_name = "URL")]
    pub(crate) portal_url: Option<String>,
    /// `text` for people, `json` for one array.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    pub(crate) output: Output,
    /// Add a profile for each account and role to the AWS config file
    /// (named `ROLE-ACCOUNT`, as `aws configure sso` suggests), leaving every
    /// existing section as it is: shows them first, then keeps a backup.
    #[arg(long)]
    pub(crate) write_profiles: bool,
    /// Ask the portal even if a listing of the last five minutes is cached.
    #[arg(long)]
    pub(crate) refresh: bool,
    /// With --write-profiles: write without asking.
    #[arg(long, requires = "write_profiles")]
    pub(crate) yes: bool,
}

pub(crate) fn run(context: &Context, args: &AccountsArgs) -> Result<(), CliError> {
    let places = Places::of(&context.env)?;
    let session = args.session.resolve(&context.env, &places, None)?;
    let config = places.load_config()?;
    let portal = match &args.portal_url {
        Some(url) => Endpoint::from_url(url)
            .map_err(|error| CliError::usage(format!("--portal-url {url}: {error}")))?,
        None => config
            .portal_endpoint(&session.settings, &context.env)
            .and_then(|choice| choice.to_endpoint())
            .map_err(CliError::config)?,
    };
    let transport = session.transport(context)?;
    let tokens = TokenProvider::new(
        session.token_key.clone(),
        session.endpoint.clone(),
        places.cache.clone(),
        Driver::new(transport.clone(), SystemClock).with_cancel_flag(Arc::clone(&context.cancel)),
    );
    let hint = |error: &dyn std::fmt::Display| {
        CliError::failure(format!(
            "{error}; run `ssoflow login {}`",
            session.selector_flags
        ))
    };
    let token = tokens.token().map_err(|e| hint(&e))?;
    let cache = ListingCache::new(&places, &session, token.expires_at);
    let (accounts, roles) = match cache.read().filter(|_| !args.refresh) {
        Some(listing) => listing,
        None => {
            let caller = Caller {
                portal,
                transport,
                tokens: &tokens,
                token: Mutex::new(token.access_token),
                next_start: Mutex::new(Instant::now()),
                calls: AtomicU64::new(0),
                replaced: AtomicBool::new(false),
                failed: AtomicBool::new(false),
                cancel: Arc::clone(&context.cancel),
                hint: &hint,
            };
            let listing = fetch(&caller)?;
            cache.write(&listing.0, &listing.1);
            listing
        }
    };
    if args.write_profiles {
        return write_profiles(&places, &config, &session, &roles, args.yes);
    }
    print(args.output, &accounts, &roles)
}

/// Appends one profile per role to the config file: a preview on stderr,
/// then (confirmed, or with `--yes`) a backup copy and an atomic write.
/// Profiles that exist already are skipped, never changed.
fn write_profiles(
    places: &Places,
    config: &ssoflow_files::config::ConfigFile,
    session: &crate::session::Session,
    roles: &[AccountRole],
    yes: bool,
) -> Result<(), CliError> {
    let sign_in = match &session.settings.session_name {
        Some(name) => format!("sso_session = {name}\n"),
        None => format!(
            "sso_start_url = {}\nsso_region = {}\n",
            session.settings.start_url, session.settings.region
        ),
    };
    let sections: Vec<(String, String)> = roles
        .iter()
        .map(|role| (format!("{}-{}", role.role_name, role.account_id), role))
        .filter(|(name, _)| !config.profiles().contains_key(name))
        .filter(|(name, _)| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+@".contains(c))
        })
        .map(|(name, role)| {
            let text = format!(
                "[profile {name}]\n{sign_in}sso_account_id = {}\nsso_role_name = {}\n",
                role.account_id, role.role_name
            );
            (name, text)
        })
        .collect();
    let path = &places.config_file;
    if sections.is_empty() {
        eprintln!(
            "{} already has a profile for every role; nothing to add.",
            path.display()
        );
        return Ok(());
    }
    let added: String = sections
        .iter()
        .map(|(_, text)| format!("\n{text}"))
        .collect();
    eprintln!(
        "These {} profile(s) would be added to {}:\n{}",
        sections.len(),
        path.display(),
        printable(&added)
    );
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(
                "nothing written: run again with --yes to add these profiles",
            ));
        }
        eprint!("Add them? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Nothing written.");
            return Ok(());
        }
    }
    let old = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(error) => {
            return Err(CliError::failure(format!(
                "cannot read {}: {error}",
                path.display()
            )));
        }
    };
    let mut backup = path.clone().into_os_string();
    backup.push(".ssoflow-backup");
    let backup = std::path::PathBuf::from(backup);
    if !old.is_empty() {
        ssoflow_files::write_atomically(&backup, &old).map_err(|error| {
            CliError::failure(format!(
                "cannot write the backup {}: {error}",
                backup.display()
            ))
        })?;
    }
    let mut new = old;
    if !new.is_empty() && !new.ends_with(b"\n") {
        new.push(b'\n');
    }
    new.extend_from_slice(added.as_bytes());
    ssoflow_files::write_atomically(path, &new)
        .map_err(|error| CliError::failure(format!("cannot write {}: {error}", path.display())))?;
    let mut out = std::io::stdout().lock();
    for (name, _) in &sections {
        let _ = writeln!(out, "{name}");
    }
    eprintln!(
        "Added {} profile(s) to {}{}.",
        sections.len(),
        path.display(),
        if backup.exists() {
            format!(" (the previous file is in {})", backup.display())
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Makes portal calls for the threads: paced, with one token replacement
/// after a 401 (a refresh, or the token another process wrote meanwhile).
struct Caller<'a> {
    portal: Endpoint,
    /// Shared by the threads: one connection pool.
    transport: UreqTransport,
    tokens: &'a TokenProvider<UreqTransport, SystemClock>,
    token: Mutex<AccessToken>,
    /// No request starts before this: one per [`PACE`] across the threads.
    next_start: Mutex<Instant>,
    /// Calls so far: varies each call's jitter seed.
    calls: AtomicU64,
    /// A token was replaced after a 401 (once per run).
    replaced: AtomicBool,
    /// A call failed: the others stop instead of failing one by one.
    failed: AtomicBool,
    /// Ctrl-C.
    cancel: Arc<AtomicBool>,
    hint: &'a (dyn Fn(&dyn std::fmt::Display) -> CliError + Sync),
}

impl Caller<'_> {
    fn call<R: PortalRequest>(&self, make: impl Fn() -> R) -> Result<R::Output, CliError> {
        if self.failed.load(Ordering::Relaxed) {
            // Another thread met an error no further call can avoid.
            return Err(CliError::failure("stopped after an earlier failure"));
        }
        let result = self.call_once_replacing(make);
        if result.is_err() {
            self.failed.store(true, Ordering::Relaxed);
        }
        result
    }

    /// One call; after a 401, one replacement token for the whole run (a
    /// second 401, whichever thread meets it, means signing in again).
    fn call_once_replacing<R: PortalRequest>(
        &self,
        make: impl Fn() -> R,
    ) -> Result<R::Output, CliError> {
        let used = self
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match self.once(make(), &used) {
            Err(error) if error.is_portal_unauthorized() => {
                let mut current = self.token.lock().unwrap_or_else(PoisonError::into_inner);
                if *current == used && !self.replaced.swap(true, Ordering::Relaxed) {
                    *current = self
                        .tokens
                        .token_rejected(&used)
                        .map_err(|e| (self.hint)(&e))?
                        .access_token;
                } else if *current == used {
                    return Err((self.hint)(&error));
                }
                let replaced = current.clone();
                drop(current);
                self.once(make(), &replaced).map_err(|e| {
                    if e.is_portal_unauthorized() {
                        (self.hint)(&e)
                    } else {
                        CliError::failure(e.to_string())
                    }
                })
            }
            Err(error) => Err(CliError::failure(error.to_string())),
            Ok(value) => Ok(value),
        }
    }

    fn once<R: PortalRequest>(
        &self,
        request: R,
        token: &AccessToken,
    ) -> Result<R::Output, DriveError> {
        let start = {
            let mut next = self
                .next_start
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let start = (*next).max(Instant::now());
            *next = start + PACE;
            start
        };
        std::thread::sleep(start.saturating_duration_since(Instant::now()));
        let seed = u64::from(std::process::id()) << 32 | self.calls.fetch_add(1, Ordering::Relaxed);
        let mut call = PortalCall::new(
            self.portal.clone(),
            token.clone(),
            request,
            Instant::now(),
            seed,
        );
        Driver::new(self.transport.clone(), SystemClock)
            .with_cancel_flag(Arc::clone(&self.cancel))
            .run(&mut call, |_| {})
    }
}

/// One ListAccounts, then the roles of every account on [`WORKERS`] threads.
fn fetch(caller: &Caller<'_>) -> Result<(Vec<Account>, Vec<AccountRole>), CliError> {
    let mut accounts = caller.call(ListAccounts::new)?;
    sort_accounts(&mut accounts);
    let queue = Mutex::new(
        accounts
            .iter()
            .map(|a| a.account_id.clone())
            .collect::<Vec<_>>(),
    );
    let found: Mutex<Vec<Result<Vec<AccountRole>, CliError>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..WORKERS.min(accounts.len()) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
                    let Some(account_id) = next else { break };
                    let result = caller.call(|| ListAccountRoles::new(&account_id));
                    found
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(result);
                }
            });
        }
    });
    let mut roles: Vec<AccountRole> = Vec::new();
    for result in found.into_inner().unwrap_or_else(PoisonError::into_inner) {
        roles.extend(result?);
    }
    roles.sort_by_key(|r| (r.account_id.clone(), r.role_name.to_lowercase()));
    Ok((accounts, roles))
}

/// How long a listing is reused: long enough for `accounts` and then
/// `accounts --write-profiles` without asking the portal twice, short
/// enough that a new assignment shows up soon.
const LISTING_TTL: Duration = Duration::from_secs(5 * 60);

/// The last listing of a session, for a few minutes:
/// `~/.aws/sso/cache/ssoflow-accounts-<token file's hash>`. It is tied to the
/// token's expiry, so a new sign-in or a refresh lists anew.
struct ListingCache {
    path: std::path::PathBuf,
    token_expires_at: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    token_expires_at: String,
    fetched_at: u64,
    accounts: Vec<(String, Option<String>, Option<String>)>,
    roles: Vec<(String, String)>,
}

/// Where a session's listing is kept (and what `logout` removes).
pub(crate) fn listing_path(
    places: &Places,
    session: &crate::session::Session,
) -> std::path::PathBuf {
    // Not `.json`: nothing that scans the cache for tokens should read it.
    places.cache.dir().join(format!(
        "ssoflow-accounts-{}",
        session.token_key.file_name().trim_end_matches(".json")
    ))
}

impl ListingCache {
    fn new(
        places: &Places,
        session: &crate::session::Session,
        expires_at: std::time::SystemTime,
    ) -> Self {
        ListingCache {
            path: listing_path(places, session),
            token_expires_at: ssoflow_files::format_timestamp(expires_at),
        }
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn read(&self) -> Option<(Vec<Account>, Vec<AccountRole>)> {
        let listing: Listing = serde_json::from_slice(&std::fs::read(&self.path).ok()?).ok()?;
        let fresh = Self::now().saturating_sub(listing.fetched_at) < LISTING_TTL.as_secs();
        if !fresh || listing.token_expires_at != self.token_expires_at {
            return None;
        }
        let accounts = listing
            .accounts
            .into_iter()
            .map(|(account_id, account_name, email_address)| Account {
                account_id,
                account_name,
                email_address,
            })
            .collect();
        let roles = listing
            .roles
            .into_iter()
            .map(|(account_id, role_name)| AccountRole {
                account_id,
                role_name,
            })
            .collect();
        Some((accounts, roles))
    }

    /// Best effort: a listing that cannot be kept is fetched again next time.
    fn write(&self, accounts: &[Account], roles: &[AccountRole]) {
        let listing = Listing {
            token_expires_at: self.token_expires_at.clone(),
            fetched_at: Self::now(),
            accounts: accounts
                .iter()
                .map(|a| {
                    (
                        a.account_id.clone(),
                        a.account_name.clone(),
                        a.email_address.clone(),
                    )
                })
                .collect(),
            roles: roles
                .iter()
                .map(|r| (r.account_id.clone(), r.role_name.clone()))
                .collect(),
        };
        if let Ok(bytes) = serde_json::to_vec(&listing) {
            let _ = ssoflow_files::write_atomically(&self.path, &bytes);
        }
    }
}

/// The AWS CLI's order (`portal-api.md` §5): by name, else email, else id,
/// case-insensitively; accounts with neither name nor email last.
fn sort_accounts(accounts: &mut [Account]) {
    accounts.sort_by_key(|a| {
        let label = a.account_name.as_ref().or(a.email_address.as_ref());
        (
            label.is_none(),
            label.map(|l| l.to_lowercase()),
            a.account_id.clone(),
        )
    });
}

fn print(output: Output, accounts: &[Account], roles: &[AccountRole]) -> Result<(), CliError> {
    let roles_of = |id: &str| -> Vec<&str> {
        roles
            .iter()
            .filter(|r| r.account_id == id)
            .map(|r| r.role_name.as_str())
            .collect()
    };
    let text = match output {
        Output::Json => {
            let list: Vec<serde_json::Value> = accounts
                .iter()
                .map(|a| {
                    json!({
                        "accountId": a.account_id,
                        "accountName": a.account_name,
                        "emailAddress": a.email_address,
                        "roles": roles_of(&a.account_id),
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(list))
        }
        Output::Text => {
            let mut text = String::new();
            for a in accounts {
                let label = match (&a.account_name, &a.email_address) {
                    (Some(name), Some(email)) => format!("{name}, {email} ({})", a.account_id),
                    (Some(one), None) | (None, Some(one)) => format!("{one} ({})", a.account_id),
                    (None, None) => a.account_id.clone(),
                };
                text.push_str(&printable(&label));
                text.push('\n');
                for role in roles_of(&a.account_id) {
                    text.push_str(&format!("    {}\n", printable(role)));
                }
            }
            if accounts.is_empty() {
                text.push_str("No AWS accounts are available to you.\n");
            }
            text
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .map_err(|error| CliError::failure(error.to_string()))
}
