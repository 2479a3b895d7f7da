//! The blocking token provider over the simulated service in virtual time:
//! when it reads, refreshes, writes back, serves an old token, gives up; one
//! refresh for many callers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ssoflow_blocking::{Driver, ProviderError, TokenProvider};
use ssoflow_core::{DeviceFlow, FlowConfig, Operation, Token};
use ssoflow_files::{CachedToken, TokenCache, TokenKey};
use ssoflow_test_transport::{AutoApprove, Fault, ServiceConfig, Simulation};
use support::{SimExt, SimTransport, VirtualClock};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

struct Setup {
    sim: Simulation,
    cache: TokenCache,
    key: TokenKey,
    token: Token,
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssoflow-provider-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Signs in through the simulation and stores the token as `ssoflow login` would.
fn signed_in(name: &str, config: ServiceConfig) -> Setup {
    let sim = Simulation::new(ServiceConfig {
        auto_approve: Some(AutoApprove::AfterPolls(1)),
        ..config
    });
    let flow_config = FlowConfig::new(sim.endpoint(), START_URL).unwrap();
    let flow = DeviceFlow::new(flow_config, sim.now());
    let token = Driver::new(sim.transport(), sim.clock())
        .sign_in(flow, |_| {})
        .unwrap()
        .token;
    let cache = TokenCache::new(scratch(name));
    let key = TokenKey::SsoSession(name.to_owned());
    cache
        .write_token(
            &key,
            &CachedToken::from_token(&token, START_URL, "us-east-1"),
        )
        .unwrap();
    Setup {
        sim,
        cache,
        key,
        token,
    }
}

impl Setup {
    fn provider(&self) -> TokenProvider<SimTransport, VirtualClock> {
        TokenProvider::new(
            self.key.clone(),
            self.sim.endpoint(),
            self.cache.clone(),
            Driver::new(self.sim.transport(), self.sim.clock()),
        )
    }

    fn refreshes(&self) -> usize {
        self.sim
            .log()
            .iter()
            .filter(|e| e.operation == Some(Operation::CreateToken))
            .filter(|e| e.grant_type.as_deref() == Some(ssoflow_core::wire::GRANT_REFRESH_TOKEN))
            .count()
    }

    fn file(&self) -> CachedToken {
        self.cache.read_token(&self.key).unwrap().unwrap()
    }
}

#[test]
fn a_fresh_token_is_served_from_the_file_then_from_memory() {
    let setup = signed_in("fresh", ServiceConfig::default());
    let provider = setup.provider();
    let first = provider.token().unwrap();
    assert_eq!(first.access_token, setup.token.access_token);
    assert!(!first.refreshed);
    // Memory serves while no refresh can be due, even without the file.
    std::fs::remove_file(setup.cache.token_path(&setup.key)).unwrap();
    assert_eq!(
        provider.token().unwrap().access_token,
        setup.token.access_token
    );
    assert_eq!(setup.refreshes(), 0);
}

#[test]
fn a_token_due_for_refresh_is_refreshed_and_written_back() {
    let setup = signed_in("due", ServiceConfig::default());
    let before = setup.file();
    setup.sim.advance(HOUR - 4 * MINUTE);
    let provided = setup.provider().token().unwrap();
    assert!(provided.refreshed);
    assert_ne!(provided.access_token, setup.token.access_token);
    assert_eq!(provided.expires_at, setup.sim.wall_now() + HOUR);
    let after = setup.file();
    assert_eq!(after.access_token, provided.access_token);
    assert_ne!(after.refresh_token, before.refresh_token, "rotated");
    assert_eq!(after.client_id, before.client_id);
    assert_eq!(after.start_url.as_deref(), Some(START_URL));
    assert_eq!(setup.refreshes(), 1);
}

#[test]
fn a_failed_refresh_serves_the_old_token_and_waits_before_trying_again() {
    let setup = signed_in("failing", ServiceConfig::default());
    setup.sim.advance(HOUR - 4 * MINUTE);
    setup
        .sim
        .with_service(|s, _| s.inject_faults(Fault::Status(503), 4));
    let provider = setup.provider();
    let served = provider.token().unwrap();
    assert_eq!(served.access_token, setup.token.access_token);
    assert!(
        served
            .refresh_failed
            .as_deref()
            .unwrap()
            .contains("4 attempts"),
        "{served:?}"
    );
    assert_eq!(setup.refreshes(), 4);

    // Within 30 s nobody tries again, not even another provider (process).
    setup.sim.advance(Duration::from_secs(10));
    assert_eq!(
        setup.provider().token().unwrap().access_token,
        setup.token.access_token
    );
    assert_eq!(setup.refreshes(), 4);
    // After 30 s the next call refreshes.
    setup.sim.advance(Duration::from_secs(30));
    assert!(provider.token().unwrap().refreshed);
    assert_eq!(setup.refreshes(), 5);
}

#[test]
fn an_expired_token_whose_refresh_is_refused_says_to_sign_in_again() {
    let setup = signed_in("revoked", ServiceConfig::default());
    let refresh_token = setup.token.refresh_token.clone().unwrap();
    setup
        .sim
        .with_service(|s, _| s.revoke_refresh_token(refresh_token.secret()));
    setup.sim.advance(HOUR + MINUTE);
    let error = setup.provider().token().unwrap_err();
    assert!(
        matches!(error, ProviderError::RefreshFailed { .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("sign in again with `ssoflow login`"),
        "{error}"
    );
    assert_eq!(
        setup.file().access_token,
        setup.token.access_token,
        "the file is left as it was"
    );
}

#[test]
fn a_token_without_refresh_token_serves_until_expiry_then_says_to_sign_in() {
    let setup = signed_in(
        "legacy",
        ServiceConfig {
            issue_refresh_tokens: false,
            ..ServiceConfig::default()
        },
    );
    setup.sim.advance(HOUR - MINUTE);
    let provider = setup.provider();
    assert_eq!(
        provider.token().unwrap().access_token,
        setup.token.access_token
    );
    setup.sim.advance(MINUTE);
    let error = provider.token().unwrap_err();
    assert!(matches!(error, ProviderError::Expired { .. }), "{error:?}");
    assert!(error.to_string().contains("ssoflow login"), "{error}");
    assert_eq!(setup.refreshes(), 0);
}

#[test]
fn no_file_or_a_corrupt_one_means_not_signed_in_naming_the_file() {
    let sim = Simulation::new(ServiceConfig::default());
    let cache = TokenCache::new(scratch("missing"));
    let key = TokenKey::SsoSession("missing".into());
    let provider = TokenProvider::new(
        key.clone(),
        sim.endpoint(),
        cache.clone(),
        Driver::new(sim.transport(), sim.clock()),
    );
    let error = provider.token().unwrap_err().to_string();
    assert!(
        error.contains(&cache.token_path(&key).display().to_string()),
        "{error}"
    );

    std::fs::create_dir_all(cache.dir()).unwrap();
    std::fs::write(
        cache.token_path(&key),
        br#"{"accessToken": "aoa", "expiresAt": "20"#,
    )
    .unwrap();
    let error = provider.token().unwrap_err().to_string();
    assert!(
        error.contains("truncated") && error.contains("ssoflow login"),
        "{error}"
    );
    assert!(
        cache.token_path(&key).exists(),
        "a corrupt file is reported, not removed"
    );
}

#[test]
fn many_threads_and_providers_asking_at_once_cause_one_refresh() {
    let setup = Arc::new(signed_in("crowd", ServiceConfig::default()));
    setup.sim.advance(HOUR - 4 * MINUTE);
    let shared = Arc::new(setup.provider());
    let mut handles = Vec::new();
    for i in 0..16 {
        let setup = Arc::clone(&setup);
        let shared = Arc::clone(&shared);
        handles.push(std::thread::spawn(move || {
            // Half share one provider (threads of a process), half have
            // their own (separate processes, meeting at the lock file).
            if i % 2 == 0 {
                shared.token().unwrap()
            } else {
                setup.provider().token().unwrap()
            }
        }));
    }
    let tokens: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(setup.refreshes(), 1);
    assert!(
        tokens
            .iter()
            .all(|t| t.access_token == tokens[0].access_token)
    );
    assert_eq!(tokens.iter().filter(|t| t.refreshed).count(), 1);
}

impl Setup {
    fn credentials_provider(
        &self,
        roles: &ssoflow_files::RoleCache,
        role: &str,
    ) -> ssoflow_blocking::CredentialsProvider<SimTransport, VirtualClock> {
        ssoflow_blocking::CredentialsProvider::new(
            ssoflow_files::RoleCacheKey {
                account_id: "111122223333".into(),
                role_name: role.into(),
                session_name: match &self.key {
                    TokenKey::SsoSession(name) => Some(name.clone()),
                    _ => None,
                },
                start_url: START_URL.into(),
            },
            self.sim.endpoint(),
            roles.clone(),
            self.provider(),
            Driver::new(self.sim.transport(), self.sim.clock()),
        )
    }

    fn fetches(&self) -> u64 {
        self.sim
            .with_service(|s, _| s.counters().get_role_credentials)
    }
}

#[test]
fn role_credentials_come_from_memory_the_cache_then_the_portal_until_15_minutes_are_left() {
    let setup = signed_in("roles", ServiceConfig::default());
    let roles = ssoflow_files::RoleCache::new(scratch("roles-cli"));
    let provider = setup.credentials_provider(&roles, "ReadOnlyAccess");
    let first = provider.credentials().unwrap();
    assert!(first.fetched);
    assert!(first.credentials.access_key_id.starts_with("ASIA"));
    assert_eq!(first.credentials.remaining_at(setup.sim.wall_now()), HOUR);
    assert!(!provider.credentials().unwrap().fetched, "memory");
    let other = setup.credentials_provider(&roles, "ReadOnlyAccess");
    assert_eq!(
        other.credentials().unwrap().credentials,
        first.credentials,
        "the cache"
    );
    assert_eq!(setup.fetches(), 1);
    // 44 minutes later 16 are left: still used; just under 15: fetched anew.
    setup.sim.advance(44 * MINUTE);
    assert!(!other.credentials().unwrap().fetched);
    setup.sim.advance(MINUTE + Duration::from_secs(1));
    let renewed = other.credentials().unwrap();
    assert!(renewed.fetched, "under 15 minutes left: fetched anew");
    assert_eq!(setup.fetches(), 2);
}

#[test]
fn many_threads_and_providers_make_one_role_fetch() {
    let setup = signed_in("roles-many", ServiceConfig::default());
    let roles = ssoflow_files::RoleCache::new(scratch("roles-many-cli"));
    let providers: Vec<_> = (0..4)
        .map(|_| Arc::new(setup.credentials_provider(&roles, "AdministratorAccess")))
        .collect();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let provider = Arc::clone(&providers[i % 4]);
            std::thread::spawn(move || provider.credentials().unwrap().credentials)
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results.iter().all(|c| *c == results[0]));
    assert_eq!(setup.fetches(), 1);
}

#[test]
fn a_role_not_assigned_is_refused_with_what_to_check() {
    let setup = signed_in("roles-forbidden", ServiceConfig::default());
    let roles = ssoflow_files::RoleCache::new(scratch("roles-forbidden-cli"));
    let error = setup
        .credentials_provider(&roles, "Billing")
        .credentials()
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("no access to role Billing in account 111122223333"),
        "{text}"
    );
    assert!(
        !roles
            .path(&ssoflow_files::RoleCacheKey {
                account_id: "111122223333".into(),
                role_name: "Billing".into(),
                session_name: Some("roles-forbidden".into()),
                start_url: START_URL.into(),
            })
            .exists()
    );
}
