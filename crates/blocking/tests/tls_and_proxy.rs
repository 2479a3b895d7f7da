//! The ureq transport over HTTPS and through a proxy: the emulator serves
//! TLS with a CA it generated; a certificate nobody trusts ends the flow at
//! once with what to do, a CA bundle makes it work, and the CONNECT proxy
//! carries exactly the requests the NO_PROXY rules send to it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::{Duration, Instant, SystemTime};

use ssoflow_blocking::{Clock, Driver, Error, UreqConfig, UreqTransport};
use ssoflow_core::net::{NoProxy, ProxyConfig, ProxyRoute, TrustRoots};
use ssoflow_core::{DeviceFlow, Endpoint, FlowConfig, TransportErrorKind};
use ssoflow_emulator::{ConnectProxy, EmulatorThread};
use support::{PROXIED_HOST, PROXIED_IP, ca_bundle, https_emulator};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// Sleeps by moving time forward: the emulator approves at once.
struct SkipClock(Duration);

impl Clock for SkipClock {
    fn now(&self) -> Instant {
        Instant::now() + self.0
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now() + self.0
    }
    fn sleep_until(&mut self, deadline: Instant) {
        self.0 += deadline.saturating_duration_since(self.now());
    }
}

fn sign_in(transport: UreqTransport, base_url: &str) -> Result<(), Error> {
    let config = FlowConfig::new(Endpoint::from_url(base_url).unwrap(), START_URL).unwrap();
    let clock = SkipClock(Duration::ZERO);
    let flow = DeviceFlow::new(config, clock.now());
    Driver::new(transport, clock)
        .sign_in(flow, |_| {})
        .map(|_| ())
}

#[test]
fn a_certificate_nobody_trusts_ends_the_flow_at_once_and_says_what_to_do() {
    let emulator = https_emulator();
    assert!(emulator.base_url().starts_with("https://"));
    let started = Instant::now();
    let error = sign_in(UreqTransport::new(), emulator.base_url()).unwrap_err();
    let Error::Transport { source, attempts } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(source.kind, TransportErrorKind::Certificate, "{source}");
    assert_eq!(*attempts, 1, "no retry fixes a certificate");
    let message = error.to_string();
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(message.contains("AWS_CA_BUNDLE"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let counters = emulator.with_service(|s| s.counters());
    assert_eq!(counters.register_client, 0, "nothing reached the service");
}

#[test]
fn the_emulator_s_ca_as_a_bundle_signs_in_and_another_bundle_names_itself() {
    let emulator = https_emulator();
    let trust = ca_bundle(&emulator, "bundle");
    let transport = UreqTransport::with_config(UreqConfig {
        trust,
        ..UreqConfig::default()
    })
    .unwrap();
    sign_in(transport, emulator.base_url()).unwrap();

    // A bundle whose CA did not sign the server's certificate: the message
    // names the bundle, not the operating system.
    let other = https_emulator();
    let transport = UreqTransport::with_config(UreqConfig {
        trust: ca_bundle(&other, "other"),
        ..UreqConfig::default()
    })
    .unwrap();
    let error = sign_in(transport, emulator.base_url()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("ca.pem (from AWS_CA_BUNDLE)"), "{message}");
}

#[test]
fn a_bundle_with_a_broken_certificate_is_refused_before_any_request() {
    let bundle = ssoflow_core::net::CaBundle::new("corp.pem", vec![vec![0x30, 0x03, 1, 2, 3]]);
    let error = UreqTransport::with_config(UreqConfig {
        trust: TrustRoots::Bundle(bundle),
        ..UreqConfig::default()
    })
    .unwrap_err();
    assert!(error.message.contains("corp.pem"), "{error}");
    assert!(error.message.contains("number 1"), "{error}");
}

fn proxied(emulator: &EmulatorThread, proxy: &ConnectProxy, no_proxy: &str) -> UreqTransport {
    UreqTransport::with_config(UreqConfig {
        trust: ca_bundle(emulator, "proxied"),
        proxy: ProxyConfig::Explicit(
            ProxyRoute::new(&proxy.url(), NoProxy::parse(no_proxy)).unwrap(),
        ),
        connect_timeout: Duration::from_millis(500),
        ..UreqConfig::default()
    })
    .unwrap()
}

#[test]
fn requests_go_through_the_proxy_unless_no_proxy_names_the_host() {
    let emulator = https_emulator();
    let port = emulator.local_addr().port();
    let proxy = ConnectProxy::start(emulator.local_addr()).unwrap();
    let by_name = format!("https://{PROXIED_HOST}:{port}");

    // Through the proxy: the name is resolved by the proxy alone.
    sign_in(proxied(&emulator, &proxy, "other.test"), &by_name).unwrap();
    let seen = proxy.requests();
    assert!(!seen.is_empty());
    for line in &seen {
        assert!(
            line.starts_with(&format!("CONNECT {PROXIED_HOST}:{port} ")),
            "{line}"
        );
    }

    // A NO_PROXY suffix sends it straight: this machine cannot resolve the
    // name, and the proxy hears nothing more.
    let before = proxy.requests().len();
    let error = sign_in(proxied(&emulator, &proxy, ".emulator.test"), &by_name).unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(proxy.requests().len(), before, "went straight: {error}");

    // Addresses: through the proxy, or straight (and nowhere) with a CIDR block.
    let by_ip = format!("https://{PROXIED_IP}:{port}");
    sign_in(proxied(&emulator, &proxy, ""), &by_ip).unwrap();
    assert!(
        proxy
            .requests()
            .iter()
            .any(|line| line.starts_with(&format!("CONNECT {PROXIED_IP}:{port} ")))
    );
    let before = proxy.requests().len();
    let error = sign_in(proxied(&emulator, &proxy, "198.18.0.0/15"), &by_ip).unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    assert_eq!(proxy.requests().len(), before, "went straight: {error}");

    // Loopback never takes the proxy, whatever NO_PROXY says.
    let before = proxy.requests().len();
    sign_in(proxied(&emulator, &proxy, ""), emulator.base_url()).unwrap();
    assert_eq!(proxy.requests().len(), before);
}
