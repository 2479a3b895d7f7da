//! The blocking ureq driver against the emulator over real HTTP: a sign-in, a
//! refresh, and every way a flow can end without a token.
//!
//! Tests whose outcome does not depend on the service's clock (injected
//! faults, auto-approval) run on [`SkipClock`], which skips the driver's
//! sleeps, so a five-attempt retry budget costs milliseconds; the rest wait in
//! real time for the emulator's one-second interval.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use ssoflow_blocking::{Clock, Driver, Error, SystemClock, UreqTransport};
use ssoflow_core::{
    DeviceFlow, Endpoint, ErrorCode, FlowConfig, FlowError, RefreshFlow, TransportErrorKind,
};
use ssoflow_emulator::{AutoApprove, EmulatorConfig, EmulatorThread, Fault};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// The real clocks, except that sleeping only moves time forward by an
/// offset: the driver believes it waited, the emulator sees requests sooner.
struct SkipClock {
    offset: Duration,
}

impl Clock for SkipClock {
    fn now(&self) -> Instant {
        Instant::now() + self.offset
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now() + self.offset
    }
    fn sleep_until(&mut self, deadline: Instant) {
        self.offset += deadline.saturating_duration_since(self.now());
    }
}

fn skip_clock() -> SkipClock {
    SkipClock {
        offset: Duration::ZERO,
    }
}

fn emulator(configure: impl FnOnce(&mut EmulatorConfig)) -> EmulatorThread {
    let mut config = EmulatorConfig::default();
    configure(&mut config);
    EmulatorThread::start(config).unwrap()
}

fn auto_approving() -> EmulatorThread {
    emulator(|c| c.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO)))
}

fn endpoint(emulator: &EmulatorThread) -> Endpoint {
    Endpoint::from_url(emulator.base_url()).unwrap()
}

fn flow(emulator: &EmulatorThread, clock: &impl Clock) -> DeviceFlow {
    let config = FlowConfig::new(endpoint(emulator), START_URL)
        .unwrap()
        .with_client_name("blocking-driver-test");
    DeviceFlow::new(config, clock.now())
}

#[test]
fn sign_in_then_refresh_with_rotation() {
    let emulator = auto_approving();
    let mut driver = Driver::new(UreqTransport::new(), SystemClock);
    let mut prompts = Vec::new();
    let signed_in = driver
        .sign_in(flow(&emulator, &SystemClock), |prompt| {
            prompts.push(prompt.clone())
        })
        .unwrap();
    assert_eq!(prompts.len(), 1);
    assert!(prompts[0].verification_uri.starts_with(emulator.base_url()));
    let registration = signed_in.new_registration.unwrap();
    assert_eq!(registration.scopes, ["sso:account:access"]);
    let token = signed_in.token;
    let remaining = token.remaining_at(SystemTime::now());
    assert!(remaining > Duration::from_secs(3590) && remaining <= Duration::from_secs(3600));

    let refreshed = driver
        .refresh(RefreshFlow::new(
            endpoint(&emulator),
            token.clone(),
            Instant::now(),
            SystemTime::now(),
        ))
        .unwrap();
    assert_ne!(refreshed.access_token, token.access_token);
    assert_ne!(refreshed.refresh_token, token.refresh_token);

    // Rotation revoked the first refresh token: using it again needs a sign-in.
    let reused = driver
        .refresh(RefreshFlow::new(
            endpoint(&emulator),
            token,
            Instant::now(),
            SystemTime::now(),
        ))
        .unwrap_err();
    let Error::Flow(error) = reused else {
        panic!("{reused:?}")
    };
    assert!(error.needs_sign_in(), "{error:?}");

    let counters = emulator.with_service(|s| s.counters());
    assert_eq!(counters.register_client, 1);
    assert_eq!(counters.start_device_authorization, 1);
    assert_eq!(counters.create_token, 3);
}

#[test]
fn a_person_approving_at_the_prompt_signs_in() {
    let emulator = emulator(|_| {});
    let mut driver = Driver::new(UreqTransport::new(), SystemClock);
    let signed_in = driver
        .sign_in(flow(&emulator, &SystemClock), |prompt| {
            emulator
                .with_service(|s| s.approve(&prompt.user_code, SystemTime::now()))
                .unwrap();
        })
        .unwrap();
    assert!(signed_in.token.access_token.secret().starts_with("aoa"));
}

#[test]
fn a_denial_ends_the_flow_with_denied() {
    let emulator = emulator(|_| {});
    let mut driver = Driver::new(UreqTransport::new(), SystemClock);
    let outcome = driver.sign_in(flow(&emulator, &SystemClock), |prompt| {
        emulator
            .with_service(|s| s.deny(&prompt.user_code, SystemTime::now()))
            .unwrap();
    });
    assert_eq!(outcome.unwrap_err(), Error::Denied);
}

#[test]
fn an_unapproved_code_ends_the_flow_with_expired() {
    let emulator = emulator(|c| c.service.device_code_ttl = Duration::from_secs(2));
    let mut driver = Driver::new(UreqTransport::new(), SystemClock);
    let outcome = driver.sign_in(flow(&emulator, &SystemClock), |_| {});
    assert_eq!(outcome.unwrap_err(), Error::Expired);
}

#[test]
fn an_expired_registration_is_replaced_once_without_bothering_anyone() {
    let emulator = auto_approving();
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let first = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap();
    let registration = first.new_registration.unwrap();
    assert!(emulator.with_service(|s| s.expire_registration(&registration.client_id)));

    let config = FlowConfig::new(endpoint(&emulator), START_URL).unwrap();
    let clock = driver.clock();
    let reusing =
        DeviceFlow::with_registration(config, registration.clone(), clock.now(), clock.wall_now());
    let second = driver.sign_in(reusing, |_| {}).unwrap();
    let replacement = second
        .new_registration
        .expect("a new registration to persist");
    assert_ne!(replacement.client_id, registration.client_id);
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 2);
}

#[test]
fn a_legacy_token_without_refresh_token_is_not_refreshable() {
    let emulator = emulator(|c| {
        c.service.auto_approve = Some(AutoApprove::AfterDelay(Duration::ZERO));
        c.service.issue_refresh_tokens = false;
    });
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let token = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap()
        .token;
    assert_eq!(token.refresh_token, None);
    let clock = driver.clock();
    let refresh = RefreshFlow::new(endpoint(&emulator), token, clock.now(), clock.wall_now());
    assert_eq!(
        driver.refresh(refresh).unwrap_err(),
        Error::Flow(FlowError::NotRefreshable)
    );
}

#[test]
fn dropped_connections_exhaust_the_retries_as_a_transport_error() {
    let emulator = auto_approving();
    emulator.with_service(|s| s.inject_faults(Fault::DropConnection, 5));
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let error = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap_err();
    let Error::Transport { source, attempts } = error else {
        panic!("{error:?}")
    };
    assert_eq!(attempts, 5);
    assert_eq!(source.kind, TransportErrorKind::ConnectionLost);
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 5);
}

#[test]
fn server_errors_exhaust_the_retries() {
    let emulator = auto_approving();
    emulator.with_service(|s| s.inject_faults(Fault::Status(503), 5));
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let error = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap_err();
    let Error::Flow(FlowError::RetriesExhausted {
        operation,
        attempts,
        ..
    }) = error
    else {
        panic!("{error:?}")
    };
    assert_eq!(
        (operation, attempts),
        (ssoflow_core::Operation::RegisterClient, 5)
    );
}

#[test]
fn a_few_faults_are_retried_through() {
    let emulator = auto_approving();
    emulator.with_service(|s| {
        s.inject_faults(Fault::Status(500), 1);
        s.inject_faults(Fault::DropConnection, 1);
        s.inject_faults(Fault::Status(502), 1);
    });
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let signed_in = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap();
    assert!(signed_in.token.refresh_token.is_some());
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 4);
}

#[test]
fn a_refusal_no_retry_fixes_is_a_service_error() {
    let emulator = auto_approving();
    emulator.with_service(|s| s.inject_faults(Fault::Error(ErrorCode::InvalidScope), 1));
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let error = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap_err();
    let Error::Flow(FlowError::Service { operation, error }) = error else {
        panic!("{error:?}")
    };
    assert_eq!(operation, ssoflow_core::Operation::RegisterClient);
    assert_eq!(error.code, ErrorCode::InvalidScope);
}

#[test]
fn malformed_successes_are_retried_then_a_decode_error() {
    let emulator = auto_approving();
    emulator.with_service(|s| s.inject_faults(Fault::MalformedBody, 5));
    let mut driver = Driver::new(UreqTransport::new(), skip_clock());
    let error = driver
        .sign_in(flow(&emulator, driver.clock()), |_| {})
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Flow(FlowError::Decode {
                operation: ssoflow_core::Operation::RegisterClient,
                ..
            })
        ),
        "{error:?}"
    );
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 5);
}

#[test]
fn the_time_limit_ends_a_wait_nobody_answers() {
    let emulator = emulator(|_| {});
    let limit = Duration::from_millis(1500);
    let mut driver = Driver::new(UreqTransport::new(), SystemClock).with_time_limit(limit);
    let outcome = driver.sign_in(flow(&emulator, &SystemClock), |_| {});
    assert_eq!(outcome.unwrap_err(), Error::TimedOut(limit));
}

#[test]
fn cancelling_ends_the_wait_promptly() {
    let emulator = emulator(|_| {});
    let cancel = Arc::new(AtomicBool::new(false));
    let mut driver =
        Driver::new(UreqTransport::new(), SystemClock).with_cancel_flag(Arc::clone(&cancel));
    let started = Instant::now();
    let outcome = driver.sign_in(flow(&emulator, &SystemClock), |_| {
        cancel.store(true, Ordering::SeqCst)
    });
    assert_eq!(outcome.unwrap_err(), Error::Flow(FlowError::Cancelled));
    // No poll was sent: the flow stopped while waiting for the first interval.
    assert_eq!(emulator.with_service(|s| s.counters()).create_token, 0);
    assert!(started.elapsed() < Duration::from_secs(30));
}
