//! The admin API under `/_emulator/`, over HTTP, as a script uses it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use ssoflow_core::ErrorCode;
use ssoflow_core::wire::CreateTokenResponse;
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};

fn admin(emulator: &EmulatorThread, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/_emulator{path}", emulator.base_url());
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let response = send(method, &url, Some("application/json"), body).unwrap();
    let value = serde_json::from_slice(response.body()).unwrap();
    (response.status().as_u16(), value)
}

#[test]
fn pending_approve_and_deny_by_user_code() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let base = emulator.base_url().to_owned();
    let client = register(&base, "scripted", &["sso:account:access"]);
    let first = start_authorization(&base, &client);
    let second = start_authorization(&base, &client);
    let (first_code, second_code) = (first.user_code.unwrap(), second.user_code.unwrap());

    let (status, pending) = admin(&emulator, "GET", "/pending", None);
    assert_eq!(status, 200);
    let codes: Vec<&str> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["userCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 2);
    assert!(codes.contains(&first_code.as_str()) && codes.contains(&second_code.as_str()));
    assert_eq!(pending[0]["clientName"], "scripted");
    assert_eq!(pending[0]["scopes"], json!(["sso:account:access"]));
    assert!(pending[0]["expiresAt"].as_u64().unwrap() > 1_700_000_000);

    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": first_code})),
    );
    assert_eq!((status, body["decision"].as_str()), (200, Some("approved")));
    let (status, _) = admin(
        &emulator,
        "POST",
        "/deny",
        Some(json!({"userCode": second_code})),
    );
    assert_eq!(status, 200);
    let (_, pending) = admin(&emulator, "GET", "/pending", None);
    assert_eq!(pending, json!([]));

    std::thread::sleep(Duration::from_secs(1));
    let token: CreateTokenResponse = ok(&poll(&base, &client, &first.device_code.unwrap()));
    assert!(token.access_token.is_some());
    let denied = poll(&base, &client, &second.device_code.unwrap());
    assert_eq!(error_of(&denied).code, ErrorCode::AccessDenied);

    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": second_code})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("already_used"))
    );
    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": "BCDF-GHJK"})),
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("unknown_code"))
    );
    let (status, body) = admin(&emulator, "POST", "/approve", Some(json!({"code": "x"})));
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().contains("userCode"),
        "{body}"
    );
}

#[test]
fn an_expired_code_cannot_be_approved() {
    let mut config = EmulatorConfig::default();
    config.service.device_code_ttl = Duration::from_secs(1);
    let emulator = EmulatorThread::start(config).unwrap();
    let client = register(emulator.base_url(), "late", &[]);
    let code = start_authorization(emulator.base_url(), &client)
        .user_code
        .unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let (status, body) = admin(
        &emulator,
        "POST",
        "/approve",
        Some(json!({"userCode": code})),
    );
    assert_eq!((status, body["error"].as_str()), (410, Some("expired")));
}

#[test]
fn registrations_can_be_listed_and_expired() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let client = register(emulator.base_url(), "to-expire", &[]);
    let (_, list) = admin(&emulator, "GET", "/registrations", None);
    assert_eq!(list, json!([client.id]));

    let (status, _) = admin(
        &emulator,
        "POST",
        "/registrations/expire",
        Some(json!({"clientId": client.id})),
    );
    assert_eq!(status, 200);
    let body = serde_json::json!({"clientId": client.id, "clientSecret": client.secret.secret(), "startUrl": START_URL});
    let refused = post_json(
        &format!("{}/device_authorization", emulator.base_url()),
        body.to_string(),
    );
    assert_eq!(
        (refused.status().as_u16(), error_of(&refused).code),
        (401, ErrorCode::InvalidClient)
    );

    let (status, _) = admin(
        &emulator,
        "POST",
        "/registrations/expire",
        Some(json!({"clientId": "nobody"})),
    );
    assert_eq!(status, 404);
}

#[test]
fn a_revoked_refresh_token_is_an_invalid_grant() {
    let mut config = EmulatorConfig::default();
    config.service.auto_approve = Some(ssoflow_test_transport::AutoApprove::AfterDelay(
        Duration::ZERO,
    ));
    let emulator = EmulatorThread::start(config).unwrap();
    let base = emulator.base_url().to_owned();
    let client = register(&base, "revoked", &["sso:account:access"]);
    let device_code = start_authorization(&base, &client).device_code.unwrap();
    let token: CreateTokenResponse = ok(&poll(&base, &client, &device_code));
    let refresh_token = token.refresh_token.unwrap();

    let (status, body) = admin(
        &emulator,
        "POST",
        "/refresh-tokens/revoke",
        Some(json!({"refreshToken": refresh_token.secret()})),
    );
    assert_eq!((status, body["revoked"].as_bool()), (200, Some(true)));
    let (status, _) = admin(
        &emulator,
        "POST",
        "/refresh-tokens/revoke",
        Some(json!({"refreshToken": refresh_token.secret()})),
    );
    assert_eq!(status, 404);

    let request = ssoflow_core::wire::CreateTokenRequest::refresh_token(
        &client.id,
        &client.secret,
        &refresh_token,
    );
    let refused = post_json(
        &format!("{base}/token"),
        ssoflow_core::wire::encode(&request),
    );
    assert_eq!(error_of(&refused).code, ErrorCode::InvalidGrant);
}

#[test]
fn faults_are_queued_for_the_next_requests_and_counters_count() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let register_url = format!("{}/client/register", emulator.base_url());
    let body = r#"{"clientName":"faulty","clientType":"public"}"#;

    let (status, queued) = admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "status", "status": 503, "count": 2})),
    );
    assert_eq!((status, queued["queued"].as_u64()), (200, Some(2)));
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "error", "code": "slow_down"})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "error", "code": "InvalidScopeException"})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "malformed-body"})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "delay", "millis": 50})),
    );
    admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "drop-connection"})),
    );

    assert_eq!(post_json(&register_url, body).status(), 503);
    assert_eq!(post_json(&register_url, body).status(), 503);
    assert_eq!(
        error_of(&post_json(&register_url, body)).code,
        ErrorCode::SlowDown
    );
    assert_eq!(
        error_of(&post_json(&register_url, body)).code,
        ErrorCode::InvalidScope
    );
    assert_eq!(post_json(&register_url, body).body(), br#"{"accessTok"#);
    assert_eq!(post_json(&register_url, body).status(), 200);
    assert!(send("POST", &register_url, Some("application/json"), body).is_err());
    assert_eq!(post_json(&register_url, body).status(), 200);
    post_json(&format!("{}/nowhere", emulator.base_url()), "{}");

    let (status, counters) = admin(&emulator, "GET", "/counters", None);
    assert_eq!(status, 200);
    assert_eq!(
        counters,
        json!({"registerClient": 8, "startDeviceAuthorization": 0, "createToken": 0, "other": 1})
    );

    let (status, body) = admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "status", "status": 42})),
    );
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("42"));
    let (status, _) = admin(
        &emulator,
        "POST",
        "/faults",
        Some(json!({"fault": "meteor"})),
    );
    assert_eq!(status, 400);
}

#[test]
fn unknown_admin_routes_say_where_to_look() {
    let emulator = EmulatorThread::start(EmulatorConfig::default()).unwrap();
    let (status, body) = admin(&emulator, "GET", "/approvals", None);
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("/_emulator/approvals"),
        "{body}"
    );
}
