//! The reqwest transport and the async driver against the emulator over real
//! HTTP: a full flow and a refresh, cancelling by dropping, the time limit,
//! and the async provider's single flight across tasks and providers.

#![cfg(feature = "tokio-reqwest")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ssoflow_async::{
    AsyncCallbackListener, AsyncCredentialsProvider, AsyncDriver, AsyncTokenProvider, Error,
    ReqwestTransport, TokioClock, TokioLoopbackListener, fresh_pkce_secrets,
};
use ssoflow_core::{AuthCodeFlow, DeviceFlow, Endpoint, Event, FlowConfig, RefreshFlow};
use ssoflow_emulator::AutoApprove;
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};
use ssoflow_files::{CachedToken, RoleCache, RoleCacheKey, TokenCache, TokenKey};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

fn emulator(auto_approve: bool, token_ttl: Duration) -> EmulatorThread {
    let mut config = EmulatorConfig::default();
    config.service.token_ttl = token_ttl;
    if auto_approve {
        config.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
    }
    EmulatorThread::start(config).unwrap()
}

fn driver() -> AsyncDriver<ReqwestTransport, TokioClock> {
    AsyncDriver::new(ReqwestTransport::new().unwrap(), TokioClock)
}

fn flow(emulator: &EmulatorThread) -> DeviceFlow {
    let config =
        FlowConfig::new(Endpoint::from_url(emulator.base_url()).unwrap(), START_URL).unwrap();
    DeviceFlow::new(config, Instant::now())
}

fn counters(emulator: &EmulatorThread) -> (u64, u64) {
    let c = emulator.with_service(|s| s.counters());
    (c.start_device_authorization, c.create_token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_and_a_refresh_over_reqwest() {
    let emulator = emulator(true, Duration::from_secs(3600));
    let driver = driver();
    let mut prompts = 0;
    let signed_in = driver
        .sign_in(flow(&emulator), |_| prompts += 1)
        .await
        .unwrap();
    assert_eq!(prompts, 1);
    assert!(signed_in.new_registration.is_some());
    let token = signed_in.token;
    let endpoint = Endpoint::from_url(emulator.base_url()).unwrap();
    let refreshed = driver
        .refresh(RefreshFlow::new(
            endpoint,
            token.clone(),
            Instant::now(),
            SystemTime::now(),
        ))
        .await
        .unwrap();
    assert_ne!(refreshed.access_token, token.access_token);
    assert_ne!(refreshed.refresh_token, token.refresh_token);
    assert_eq!(counters(&emulator), (1, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_future_stops_the_polling() {
    let emulator = emulator(false, Duration::from_secs(3600));
    let driver = driver();
    let waiting = driver.sign_in(flow(&emulator), |_| {});
    assert!(
        tokio::time::timeout(Duration::from_millis(2500), waiting)
            .await
            .is_err()
    );
    let after_drop = counters(&emulator);
    assert!(after_drop.1 >= 1, "it was polling: {after_drop:?}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(counters(&emulator), after_drop, "no request after the drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_ends_a_wait_nobody_answers() {
    let emulator = emulator(false, Duration::from_secs(3600));
    let limit = Duration::from_millis(1500);
    let outcome = driver()
        .with_time_limit(limit)
        .sign_in(flow(&emulator), |_| {})
        .await;
    assert_eq!(outcome.unwrap_err(), Error::TimedOut(limit));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_and_two_providers_cause_one_refresh() {
    // Four-minute tokens are due for refresh (5-minute margin) at once.
    let emulator = emulator(true, Duration::from_secs(240));
    let token = driver()
        .sign_in(flow(&emulator), |_| {})
        .await
        .unwrap()
        .token;
    let dir = std::env::temp_dir().join(format!("ssoflow-async-provider-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = TokenCache::new(&dir);
    let key = TokenKey::SsoSession("async".into());
    cache
        .write_token(
            &key,
            &CachedToken::from_token(&token, START_URL, "us-east-1"),
        )
        .unwrap();

    let provider = || {
        Arc::new(AsyncTokenProvider::new(
            key.clone(),
            Endpoint::from_url(emulator.base_url()).unwrap(),
            cache.clone(),
            driver(),
        ))
    };
    let (first, second) = (provider(), provider());
    let before = counters(&emulator).1;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let provider = if i % 2 == 0 {
                Arc::clone(&first)
            } else {
                Arc::clone(&second)
            };
            tokio::spawn(async move { provider.token().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for task in tasks {
        tokens.push(task.await.unwrap());
    }
    assert_eq!(counters(&emulator).1 - before, 1, "exactly one refresh");
    assert!(
        tokens
            .iter()
            .all(|t| t.access_token == tokens[0].access_token)
    );
    assert_ne!(tokens[0].access_token, token.access_token);
    assert_eq!(tokens.iter().filter(|t| t.refreshed).count(), 1);
    assert_eq!(
        cache.read_token(&key).unwrap().unwrap().access_token,
        tokens[0].access_token
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_failures_have_the_kinds_the_flows_expect() {
    use ssoflow_async::{AsyncTransport, TransportConfig};
    use ssoflow_core::TransportErrorKind;
    use ssoflow_emulator::Fault;

    let emulator = emulator(false, Duration::from_secs(3600));
    let register = || {
        http::Request::post(format!("{}/client/register", emulator.base_url()))
            .header("content-type", "application/json")
            .body(br#"{"clientName":"kinds","clientType":"public"}"#.to_vec())
            .unwrap()
    };
    let transport = ReqwestTransport::new().unwrap();
    let answer = transport.send(register()).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/json");

    emulator.with_service(|s| s.inject_faults(Fault::DropConnection, 1));
    let dropped = transport.send(register()).await.unwrap_err();
    assert_eq!(
        dropped.kind,
        TransportErrorKind::ConnectionLost,
        "{dropped}"
    );

    let small = ReqwestTransport::with_config(TransportConfig {
        body_limit: 64,
        ..TransportConfig::default()
    })
    .unwrap();
    let too_large = small.send(register()).await.unwrap_err();
    assert_eq!(
        too_large.kind,
        TransportErrorKind::BodyTooLarge,
        "{too_large}"
    );

    // A port nobody listens on (the emulator's, after it stopped).
    let url = format!("{}/client/register", emulator.base_url());
    emulator.stop().unwrap();
    let request = http::Request::post(url).body(Vec::new()).unwrap();
    // A fresh transport: a pooled connection would fail as ConnectionLost instead.
    let refused = ReqwestTransport::new()
        .unwrap()
        .send(request)
        .await
        .unwrap_err();
    assert_eq!(refused.kind, TransportErrorKind::Connect, "{refused}");

    let bundle = ssoflow_core::net::CaBundle::new("broken.pem", vec![vec![1, 2, 3]]);
    let unusable = ReqwestTransport::with_config(TransportConfig {
        trust: ssoflow_core::net::TrustRoots::Bundle(bundle),
        ..TransportConfig::default()
    });
    let message = unusable.unwrap_err().message;
    assert!(message.contains("broken.pem"), "{message}");
}

/// The browser of the authorization-code sign-in: opens the URL at the
/// auto-approving emulator and follows its redirect to the listener.
async fn browse(url: String) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client.get(&url).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 302, "{url}");
    let location = answer.headers()["location"].to_str().unwrap().to_owned();
    let page = client.get(&location).send().await.unwrap();
    (page.status().as_u16(), page.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_with_the_browser_over_a_real_loopback_listener() {
    let emulator = emulator(true, Duration::from_secs(3600));
    let mut listener = TokioLoopbackListener::bind(None).await.unwrap();
    let config =
        FlowConfig::new(Endpoint::from_url(emulator.base_url()).unwrap(), START_URL).unwrap();
    let flow = AuthCodeFlow::new(
        config,
        listener.port(),
        fresh_pkce_secrets().unwrap(),
        Instant::now(),
    );
    let mut browser = None;
    let signed_in = driver()
        .sign_in_with_browser(flow, &mut listener, |event| {
            if let Event::AuthorizationUrl(prompt) = event {
                browser = Some(tokio::spawn(browse(prompt.url)));
            }
        })
        .await
        .unwrap();
    let (status, page) = browser.unwrap().await.unwrap();
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("close this tab"), "{page}");
    assert!(signed_in.token.refresh_token.is_some());
    assert!(
        signed_in
            .new_registration
            .unwrap()
            .is_for_authorization_code()
    );
    // The token refreshes like any other.
    let refresh = RefreshFlow::new(
        Endpoint::from_url(emulator.base_url()).unwrap(),
        signed_in.token,
        Instant::now(),
        SystemTime::now(),
    );
    driver().refresh(refresh).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_and_two_providers_make_one_role_fetch_and_a_401_one_refresh() {
    let emulator = emulator(true, Duration::from_secs(3600));
    let token = driver()
        .sign_in(flow(&emulator), |_| {})
        .await
        .unwrap()
        .token;
    let dir = std::env::temp_dir().join(format!("ssoflow-async-roles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = TokenCache::new(dir.join("sso"));
    let key = TokenKey::SsoSession("async".into());
    cache
        .write_token(
            &key,
            &CachedToken::from_token(&token, START_URL, "us-east-1"),
        )
        .unwrap();
    let role = RoleCacheKey {
        account_id: "111122223333".into(),
        role_name: "ReadOnlyAccess".into(),
        session_name: Some("async".into()),
        start_url: START_URL.into(),
    };
    let provider = || {
        Arc::new(AsyncCredentialsProvider::new(
            role.clone(),
            Endpoint::from_url(emulator.base_url()).unwrap(),
            RoleCache::new(dir.join("cli")),
            AsyncTokenProvider::new(
                key.clone(),
                Endpoint::from_url(emulator.base_url()).unwrap(),
                cache.clone(),
                driver(),
            ),
            driver(),
        ))
    };
    let (first, second) = (provider(), provider());
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let provider = Arc::clone(if i % 2 == 0 { &first } else { &second });
            tokio::spawn(async move { provider.credentials().await.unwrap() })
        })
        .collect();
    let mut keys = std::collections::BTreeSet::new();
    for task in tasks {
        keys.insert(task.await.unwrap().access_key_id);
    }
    assert_eq!(keys.len(), 1);
    let fetches =
        |emulator: &EmulatorThread| emulator.with_service(|s| s.counters()).get_role_credentials;
    assert_eq!(fetches(&emulator), 1, "exactly one GetRoleCredentials");

    // A 401 on a fresh fetch: one refresh, one more try.
    std::fs::remove_dir_all(dir.join("cli")).unwrap();
    let third = provider();
    let refreshes = counters(&emulator).1;
    emulator.with_service(|s| s.inject_portal_faults(ssoflow_emulator::Fault::Status(401), 1));
    third.credentials().await.unwrap();
    assert_eq!(counters(&emulator).1, refreshes + 1, "one refresh");
    assert_eq!(fetches(&emulator), 3);
}
