//! The reqwest transport over HTTPS and through a proxy, as the ureq one is
//! tested (crates/blocking/tests/tls_and_proxy.rs): both must trust the same
//! roots and route the same hosts, because one rule decides for both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use ssoflow_async::{AsyncClock, AsyncDriver, Error, ReqwestTransport, TransportConfig};
use ssoflow_core::net::{NoProxy, ProxyConfig, ProxyRoute};
use ssoflow_core::{DeviceFlow, Endpoint, FlowConfig, TransportErrorKind};
use ssoflow_emulator::{ConnectProxy, EmulatorThread};
use support::blocking::{PROXIED_HOST, PROXIED_IP, ca_bundle, https_emulator};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// Sleeps by moving time forward: the emulator approves at once.
#[derive(Default)]
struct SkipClock(Mutex<Duration>);

impl AsyncClock for SkipClock {
    fn now(&self) -> Instant {
        Instant::now() + *self.0.lock().unwrap()
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now() + *self.0.lock().unwrap()
    }
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        let skip = deadline.saturating_duration_since(self.now());
        *self.0.lock().unwrap() += skip;
        std::future::ready(())
    }
}

async fn sign_in(transport: ReqwestTransport, base_url: &str) -> Result<(), Error> {
    let config = FlowConfig::new(Endpoint::from_url(base_url).unwrap(), START_URL).unwrap();
    let clock = SkipClock::default();
    let flow = DeviceFlow::new(config, clock.now());
    AsyncDriver::new(transport, clock)
        .sign_in(flow, |_| {})
        .await
        .map(|_| ())
}

#[tokio::test]
async fn a_certificate_nobody_trusts_ends_at_once_and_a_bundle_makes_it_work() {
    let emulator = https_emulator();
    let error = sign_in(ReqwestTransport::new().unwrap(), emulator.base_url())
        .await
        .unwrap_err();
    let Error::Transport { source, attempts } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(source.kind, TransportErrorKind::Certificate, "{source}");
    assert_eq!(*attempts, 1);
    assert!(error.to_string().contains("AWS_CA_BUNDLE"), "{error}");
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 0);

    let transport = ReqwestTransport::with_config(TransportConfig {
        trust: ca_bundle(&emulator, "bundle"),
        ..TransportConfig::default()
    })
    .unwrap();
    sign_in(transport, emulator.base_url()).await.unwrap();
}

fn proxied(emulator: &EmulatorThread, proxy: &ConnectProxy, no_proxy: &str) -> ReqwestTransport {
    ReqwestTransport::with_config(TransportConfig {
        trust: ca_bundle(emulator, "proxied"),
        proxy: ProxyConfig::Explicit(
            ProxyRoute::new(&proxy.url(), NoProxy::parse(no_proxy)).unwrap(),
        ),
        connect_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_through_the_proxy_unless_no_proxy_names_the_host() {
    let emulator = https_emulator();
    let port = emulator.local_addr().port();
    let proxy = ConnectProxy::start(emulator.local_addr()).unwrap();
    let by_name = format!("https://{PROXIED_HOST}:{port}");

    sign_in(proxied(&emulator, &proxy, "other.test"), &by_name)
        .await
        .unwrap();
    let seen = proxy.requests();
    assert!(!seen.is_empty());
    for line in &seen {
        assert!(
            line.starts_with(&format!("CONNECT {PROXIED_HOST}:{port} ")),
            "{line}"
        );
    }

    let before = proxy.requests().len();
    let error = sign_in(proxied(&emulator, &proxy, "emulator.test"), &by_name)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(proxy.requests().len(), before, "went straight: {error}");

    let by_ip = format!("https://{PROXIED_IP}:{port}");
    sign_in(proxied(&emulator, &proxy, ""), &by_ip)
        .await
        .unwrap();
    assert!(
        proxy
            .requests()
            .iter()
            .any(|line| line.starts_with(&format!("CONNECT {PROXIED_IP}:{port} ")))
    );
    let before = proxy.requests().len();
    let error = sign_in(proxied(&emulator, &proxy, "198.18.0.0/15"), &by_ip)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(proxy.requests().len(), before, "went straight: {error}");

    let before = proxy.requests().len();
    sign_in(proxied(&emulator, &proxy, ""), emulator.base_url())
        .await
        .unwrap();
    assert_eq!(proxy.requests().len(), before, "loopback goes straight");
}
