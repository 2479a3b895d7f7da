//! Builds a flow in any state by feeding it canned answers (after
//! ureq-proto's test `Scenario`), so each state's tests start where they mean to.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::{Duration, Instant, SystemTime};

use ssoflow_core::secret::ClientSecret;
use ssoflow_core::{
    DeviceFlow, Endpoint, ErrorCode, Event, Flow, FlowConfig, Operation, Outcome, Registration,
    ServiceError, Transmit,
};

pub const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// 2026-01-01T00:00:00Z
pub fn wall0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn config() -> FlowConfig {
    FlowConfig::new(
        Endpoint::from_url("https://oidc.us-east-1.amazonaws.com").unwrap(),
        START_URL,
    )
    .unwrap()
}

pub fn registration(valid_for: Duration) -> Registration {
    Registration {
        client_id: "cid".into(),
        client_secret: ClientSecret::new("client-secret-value"),
        expires_at: wall0() + valid_for,
        scopes: vec!["sso:account:access".into()],
        grant_types: Vec::new(),
    }
}

pub fn ok(body: &str) -> http::Response<Vec<u8>> {
    status(200, body)
}

pub fn status(code: u16, body: &str) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body.as_bytes().to_vec());
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
    r
}

pub fn err(code: ErrorCode) -> http::Response<Vec<u8>> {
    ssoflow_core::server::error_response(&ServiceError::new(code, "canned"))
}

pub const REGISTERED: &str = r#"{"clientId":"cid","clientSecret":"client-secret-value","clientIdIssuedAt":1767225600,"clientSecretExpiresAt":1775001600}"#;

pub fn started(interval: Option<u64>, expires_in: u64) -> String {
    let interval = interval
        .map(|i| format!(r#","interval":{i}"#))
        .unwrap_or_default();
    format!(
        r#"{{"deviceCode":"device-code-value","userCode":"BCDF-GHJK","verificationUri":"https://device.sso.us-east-1.amazonaws.com/","verificationUriComplete":"https://device.sso.us-east-1.amazonaws.com/?user_code=BCDF-GHJK","expiresIn":{expires_in}{interval}}}"#
    )
}

pub const TOKEN: &str = r#"{"accessToken":"access-token-value","tokenType":"Bearer","expiresIn":3600,"refreshToken":"refresh-token-value"}"#;

pub struct Scenario {
    pub flow: DeviceFlow,
    pub t0: Instant,
    pub now: Instant,
}

impl Scenario {
    pub fn unregistered() -> Scenario {
        let t0 = Instant::now();
        Scenario {
            flow: DeviceFlow::new(config(), t0),
            t0,
            now: t0,
        }
    }

    pub fn registered() -> Scenario {
        let t0 = Instant::now();
        let flow = DeviceFlow::with_registration(
            config(),
            registration(Duration::from_secs(86_400)),
            t0,
            wall0(),
        );
        Scenario { flow, t0, now: t0 }
    }

    /// Pending with the given interval and lifetime; events drained.
    pub fn pending(interval: Option<u64>, expires_in: u64) -> Scenario {
        let mut s = Scenario::registered();
        s.exchange(ok(&started(interval, expires_in)));
        s.events();
        s
    }

    /// Sends the request due now (panics if none is due).
    pub fn transmit(&mut self) -> Transmit {
        self.flow
            .poll_transmit(self.now)
            .expect("a request should be due")
    }

    /// Sends the request due now and answers it; returns which operation it was.
    pub fn exchange(&mut self, response: http::Response<Vec<u8>>) -> Operation {
        let tx = self.transmit();
        self.flow
            .handle_response(self.now, self.wall(), tx.id, self.clone_response(&response))
            .unwrap();
        tx.operation
    }

    fn clone_response(&self, r: &http::Response<Vec<u8>>) -> http::Response<Vec<u8>> {
        let mut c = http::Response::new(r.body().clone());
        *c.status_mut() = r.status();
        *c.headers_mut() = r.headers().clone();
        c
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.flow.handle_timeout(self.now);
    }

    /// Moves to the next wake-up time and lets it pass.
    pub fn wait_for_timeout(&mut self) -> Instant {
        let t = self.flow.poll_timeout().expect("a timeout should be set");
        self.now = self.now.max(t);
        self.flow.handle_timeout(self.now);
        t
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.flow.poll_event()).collect()
    }

    /// The wall-clock time at `now`: the test's wall clock runs with its monotonic one.
    pub fn wall(&self) -> SystemTime {
        wall0() + (self.now - self.t0)
    }

    /// How the flow ended, cloned; `None` while it runs.
    pub fn outcome(&self) -> Option<Outcome> {
        self.flow.outcome().cloned()
    }

    /// The failure the flow ended with (panics if it did not fail).
    pub fn failure(&self) -> ssoflow_core::FlowError {
        match self.outcome() {
            Some(Outcome::Failed(error)) => error,
            other => panic!("expected a failure, got {other:?}"),
        }
    }
}
