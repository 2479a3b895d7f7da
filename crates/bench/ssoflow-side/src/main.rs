//! The benchmark's ssoflow side: a device-code sign-in (RegisterClient,
//! StartDeviceAuthorization, CreateToken polled as the service asks), then
//! one refresh (CreateToken with the refresh token), against the endpoint
//! URL given as the only argument, e.g. an emulator started with
//! `ssoflow-emulator --port 0 --auto-approve`.
//!
//! This is the library used as its documentation shows (crates/blocking's
//! README): `Driver::sign_in`, then `Driver::refresh`, over the default ureq
//! transport; no file is read or written. The core decides every wait
//! (the announced interval, `authorization_pending`, `slow_down`).
//!
//! Prints no token, secret or code: one line with the token's lifetimes.

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use ssoflow_blocking::{Driver, SystemClock, UreqTransport};
use ssoflow_core::{DeviceFlow, Endpoint, FlowConfig, RefreshFlow};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: bench-ssoflow ENDPOINT_URL   (e.g. an emulator's http://127.0.0.1:PORT)");
        return ExitCode::from(2);
    };
    match run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-ssoflow: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = Endpoint::from_url(url)?;
    let config = FlowConfig::new(endpoint.clone(), START_URL)?;
    let flow = DeviceFlow::new(config, Instant::now());
    let mut driver = Driver::new(UreqTransport::new(), SystemClock);
    let signed_in = driver.sign_in(flow, |prompt| {
        // What a program shows the person; the code itself is left out here.
        eprintln!("approve the sign-in at {}", prompt.verification_uri);
    })?;
    let first = signed_in.token.remaining_at(SystemTime::now());

    let refresh = RefreshFlow::new(endpoint, signed_in.token, Instant::now(), SystemTime::now());
    let refreshed = driver.refresh(refresh)?;
    let second = refreshed.remaining_at(SystemTime::now());
    println!(
        "signed in (token valid {} s), refreshed (valid {} s)",
        first.as_secs(),
        second.as_secs()
    );
    Ok(())
}
