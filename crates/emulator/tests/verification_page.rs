//! The verification page over HTTP, as a browser without JavaScript uses it:
//! forms, a cookie, and what the person reads. (The same page in a real
//! headless Chromium is tested in `tests/interop/test_browser.py`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use ssoflow_core::ErrorCode;
use ssoflow_core::wire::CreateTokenResponse;
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};

fn pending_code(
    emulator: &EmulatorThread,
    name: &str,
    scopes: &[&str],
) -> (Client, String, ssoflow_core::secret::DeviceCode) {
    let client = register(emulator.base_url(), name, scopes);
    let started = start_authorization(emulator.base_url(), &client);
    (
        client,
        started.user_code.unwrap(),
        started.device_code.unwrap(),
    )
}

#[test]
fn allow_from_the_complete_uri_signs_the_client_in() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let client = register(
        emulator.base_url(),
        "My IDE Plugin",
        &["sso:account:access", "codewhisperer:completions"],
    );
    let started = start_authorization(emulator.base_url(), &client);
    let code = started.user_code.unwrap();
    let mut browser = Browser::new(&emulator);

    let form = browser.open(&started.verification_uri_complete.unwrap());
    assert_eq!(form.status, 200);
    assert!(
        form.html.contains(&format!(r#"value="{code}""#)),
        "pre-filled"
    );
    let review = browser.submit("/device", &[("csrf", &form.csrf()), ("user_code", &code)]);
    assert_eq!(review.status, 200);
    assert!(review.html.contains("My IDE Plugin"));
    assert!(review.html.contains("<code>sso:account:access</code>"));
    assert!(
        review
            .html
            .contains("<code>codewhisperer:completions</code>")
    );
    assert!(review.html.contains(&code));

    let result = browser.decide(&review, &code, "allow");
    assert_eq!((result.status, result.outcome()), (200, Some("allowed")));
    std::thread::sleep(Duration::from_secs(1));
    let token: CreateTokenResponse = ok(&poll(
        emulator.base_url(),
        &client,
        &started.device_code.unwrap(),
    ));
    assert!(token.access_token.is_some());
}

#[test]
fn deny_makes_the_next_poll_access_denied() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let (client, code, device_code) = pending_code(&emulator, "denied-app", &[]);
    let mut browser = Browser::new(&emulator);
    // Typed by hand: lower case, no dash, stray spaces.
    let typed = format!(" {} ", code.replace('-', "").to_lowercase());
    let review = browser.enter(&typed);
    assert_eq!(review.status, 200);
    assert!(
        review.html.contains("no scopes"),
        "a legacy sign-in is named as such"
    );
    let result = browser.decide(&review, &code, "deny");
    assert_eq!(result.outcome(), Some("denied"));
    let denied = poll(emulator.base_url(), &client, &device_code);
    assert_eq!(error_of(&denied).code, ErrorCode::AccessDenied);
}

#[test]
fn used_expired_and_unknown_codes_are_named_plainly() {
    let mut config = EmulatorConfig::default();
    config.service.device_code_ttl = Duration::from_secs(600);
    let emulator = EmulatorThread::start(config).unwrap();
    let (_, used, _) = pending_code(&emulator, "used", &[]);
    emulator
        .with_service(|s| s.approve(&used, SystemTime::now()))
        .unwrap();
    let mut browser = Browser::new(&emulator);

    let page = browser.enter(&used);
    assert_eq!((page.status, page.outcome()), (409, Some("used")));
    assert!(page.html.contains("already been used"));

    let page = browser.enter("BCDF-GHJK");
    assert_eq!(page.status, 404);
    assert!(
        page.html
            .contains("No sign-in request has the code <strong>BCDF-GHJK</strong>")
    );
    assert!(
        page.html.contains(r#"value="BCDF-GHJK""#),
        "the form keeps what was typed"
    );

    let page = browser.enter("");
    assert_eq!(page.status, 400);
}

#[test]
fn an_expired_code_says_to_start_again() {
    let mut config = EmulatorConfig::default();
    config.service.device_code_ttl = Duration::from_secs(1);
    let emulator = EmulatorThread::start(config).unwrap();
    let (_, code, _) = pending_code(&emulator, "slow-person", &[]);
    let mut browser = Browser::new(&emulator);
    let form = browser.open(&format!("{}/device", emulator.base_url()));
    std::thread::sleep(Duration::from_millis(1100));
    let page = browser.submit("/device", &[("csrf", &form.csrf()), ("user_code", &code)]);
    assert_eq!((page.status, page.outcome()), (410, Some("expired")));
    assert!(page.html.contains("Start the sign-in again"));
}

#[test]
fn forms_without_a_matching_live_token_are_refused() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let (_, code, _) = pending_code(&emulator, "csrf", &[]);
    let mut browser = Browser::new(&emulator);
    let review = browser.enter(&code);
    let csrf = review.csrf();

    // A cross-site form post: no cookie (SameSite=Strict keeps it home).
    let mut attacker = Browser::new(&emulator);
    let page = attacker.submit(
        "/device/decide",
        &[("csrf", &csrf), ("user_code", &code), ("decision", "allow")],
    );
    assert_eq!(page.status, 403);
    // A token made up to match a cookie made up.
    attacker.cookie = Some("ssoflow_emulator_csrf=00".into());
    let page = attacker.submit(
        "/device/decide",
        &[("csrf", "00"), ("user_code", &code), ("decision", "allow")],
    );
    assert_eq!(page.status, 403);
    assert!(
        emulator
            .with_service(|s| s.lookup(&code, SystemTime::now()))
            .is_ok(),
        "still pending"
    );

    // The real page's token works once; a replay is refused.
    let page = browser.decide(&review, &code, "allow");
    assert_eq!(page.outcome(), Some("allowed"));
    let replay = browser.submit(
        "/device/decide",
        &[("csrf", &csrf), ("user_code", &code), ("decision", "deny")],
    );
    assert_eq!(replay.status, 403);
}

#[test]
fn too_many_wrong_codes_lock_the_address_out_for_a_while() {
    let mut config = EmulatorConfig::default();
    config.wrong_code_limit = 3;
    config.wrong_code_lockout = Duration::from_secs(2);
    let emulator = EmulatorThread::start(config).unwrap();
    let (_, code, _) = pending_code(&emulator, "lockout", &[]);
    let mut browser = Browser::new(&emulator);

    assert_eq!(browser.enter("BBBB-BBBB").status, 404);
    assert_eq!(browser.enter("CCCC-CCCC").status, 404);
    let locked = browser.enter("DDDD-DDDD");
    assert_eq!((locked.status, locked.outcome()), (429, Some("locked")));
    // Even the right code is refused during the lockout.
    let refused = browser.enter(&code);
    assert_eq!(refused.status, 429);

    std::thread::sleep(Duration::from_millis(2100));
    let review = browser.enter(&code);
    assert_eq!(review.status, 200);
}

#[test]
fn client_names_and_scopes_cannot_inject_markup() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let (_, code, _) = pending_code(
        &emulator,
        "<script>alert(1)</script>",
        &["<img src=x onerror=alert(2)>"],
    );
    let mut browser = Browser::new(&emulator);
    let review = browser.enter(&code);
    assert!(!review.html.contains("<script>alert"));
    assert!(!review.html.contains("<img"));
    assert!(
        review
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    let csp = get(&format!("{}/device", emulator.base_url()));
    assert!(
        csp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}
