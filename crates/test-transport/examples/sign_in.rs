//! A full sign-in against the simulated SSO OIDC service, with no AWS account:
//! `cargo run -p ssoflow-test-transport --example sign_in`.
//!
//! The simulated service runs in virtual time, so the minute of polling below
//! takes milliseconds. A "person" approves the code after five polls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::SystemTime;

use ssoflow_blocking::Driver;
use ssoflow_core::wire::Operation;
use ssoflow_core::{DeviceFlow, Event, FlowConfig, RefreshFlow};
use ssoflow_test_transport::{Exchange, ServiceConfig, Simulation};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = Simulation::new(ServiceConfig::default());
    println!(
        "1. A simulated IAM Identity Center answers at {}",
        sim.endpoint().base_url()
    );

    let polls = AtomicU32::new(0);
    sim.on_request(move |service, now, exchange: &Exchange| {
        if exchange.operation == Some(Operation::CreateToken)
            && polls.fetch_add(1, Ordering::SeqCst) == 4
        {
            for pending in service.pending(now) {
                println!(
                    "   (the person opens the page, checks the code {} and clicks Allow)",
                    pending.user_code
                );
                let _ = service.approve(&pending.user_code, now);
            }
        }
    });

    let config = FlowConfig::new(sim.endpoint(), "https://d-1234567890.awsapps.com/start")?
        .with_client_name("ssoflow-example");
    let mut flow = DeviceFlow::new(config, sim.now(), sim.wall_now());
    let mut driver = Driver::new(sim.transport(), sim.clock());
    let started = sim.now();
    let mut token = None;
    driver.run(&mut flow, |event| match event {
        Event::Registered(reg) => println!(
            "2. Registered client {} (valid until {})",
            reg.client_id,
            unix(reg.expires_at)
        ),
        Event::UserCode(p) => {
            println!(
                "3. Open {} and enter the code {}",
                p.verification_uri, p.user_code
            );
            if let Some(complete) = &p.verification_uri_complete {
                println!("   or open {complete}");
            }
            println!(
                "   The code expires in {} s; polling...",
                p.expires_in.as_secs()
            );
        }
        Event::IntervalChanged(i) => println!(
            "   the service asked to slow down: polling every {} s",
            i.as_secs()
        ),
        Event::Retrying {
            operation,
            attempt,
            wait,
        } => println!(
            "   {} failed ({attempt}), retrying in {wait:?}",
            operation.name()
        ),
        Event::Authorized(t) => token = Some(t),
        other => println!("   {other:?}"),
    })?;
    let token = token.ok_or("the flow ended without a token")?;
    println!(
        "4. Signed in after {} s of (virtual) waiting; access token expires at {} (the token itself stays secret: {:?})",
        (sim.now() - started).as_secs(),
        unix(token.expires_at),
        token.access_token
    );

    sim.advance(std::time::Duration::from_secs(3300));
    let refreshed = driver.refresh(RefreshFlow::new(
        sim.endpoint(),
        token,
        sim.now(),
        sim.wall_now(),
    ))?;
    println!(
        "5. 55 minutes later, refreshed: new expiry {}",
        unix(refreshed.expires_at)
    );
    let c = sim.with_service(|s, _| s.counters());
    println!(
        "   requests: {} RegisterClient, {} StartDeviceAuthorization, {} CreateToken",
        c.register_client, c.start_device_authorization, c.create_token
    );
    Ok(())
}

fn unix(t: SystemTime) -> String {
    format!(
        "{} (Unix seconds)",
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    )
}
