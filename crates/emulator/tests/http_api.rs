//! The three operations over real HTTP: the headers and bodies every AWS
//! client relies on, path prefixes, early polls, and every kind of bad request
//! answered with the service's error format instead of a panic or a hang.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::field_reassign_with_default
)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ssoflow_core::ErrorCode;
use ssoflow_core::wire::{CreateTokenResponse, StartDeviceAuthorizationResponse};
use ssoflow_emulator::EmulatorConfig;
use ssoflow_test_transport::Fault;

#[test]
fn a_whole_flow_under_a_path_prefix_with_every_member_the_cli_reads() {
    let emulator = start(EmulatorConfig::default());
    let base = format!("{}/some/prefix", emulator.base_url());
    let client = register(&base, "prefix-test", &["sso:account:access"]);
    let started: StartDeviceAuthorizationResponse = start_authorization(&base, &client);

    // The AWS CLI crashes without verificationUriComplete or expiresIn.
    let uri = started.verification_uri.clone().unwrap();
    let user_code = started.user_code.clone().unwrap();
    assert_eq!(uri, format!("{}/device", emulator.base_url()));
    assert_eq!(
        started.verification_uri_complete.as_deref(),
        Some(format!("{uri}?user_code={user_code}").as_str())
    );
    assert_eq!(started.expires_in, Some(600));
    assert_eq!(started.interval, Some(1));
    // The verification page is really there.
    let page = get(&started.verification_uri_complete.unwrap());
    assert_eq!(page.status(), 200);
    assert!(String::from_utf8_lossy(page.body()).contains(&user_code));

    let device_code = started.device_code.unwrap();
    let pending = poll(&base, &client, &device_code);
    assert_api_headers(&pending);
    assert_eq!(pending.status(), 400);
    assert_eq!(
        pending.headers()["x-amzn-errortype"],
        "AuthorizationPendingException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"
    );
    assert_eq!(
        pending.body(),
        br#"{"error":"authorization_pending","error_description":"Authorization is still pending"}"#
    );

    emulator
        .with_service(|s| s.approve(&user_code, std::time::SystemTime::now()))
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let token: CreateTokenResponse = ok(&poll(&base, &client, &device_code));
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    assert_eq!(token.expires_in, Some(3600));
    assert!(token.access_token.unwrap().secret().starts_with("aoa"));
    assert!(token.refresh_token.unwrap().secret().starts_with("aor"));
}

#[test]
fn one_back_to_back_poll_is_tolerated_unless_the_interval_is_strict() {
    let codes = |config: EmulatorConfig| {
        let emulator = start(config);
        let base = emulator.base_url().to_owned();
        let client = register(&base, "early", &[]);
        let code = start_authorization(&base, &client).device_code.unwrap();
        (0..3)
            .map(|_| error_of(&poll(&base, &client, &code)).code)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(EmulatorConfig::default()),
        [
            ErrorCode::AuthorizationPending,
            ErrorCode::AuthorizationPending,
            ErrorCode::SlowDown
        ]
    );
    let mut strict = EmulatorConfig::default();
    strict.service.early_poll_tolerance = 0;
    assert_eq!(
        codes(strict),
        [
            ErrorCode::AuthorizationPending,
            ErrorCode::SlowDown,
            ErrorCode::SlowDown
        ]
    );
}

#[test]
fn bad_requests_get_the_services_error_format() {
    let emulator = start(EmulatorConfig::default());
    let base = emulator.base_url();
    let check = |response: http::Response<Vec<u8>>, status: u16, shape: &str, says: &str| {
        assert_api_headers(&response);
        let error = error_of(&response);
        assert_eq!(response.status(), status, "{error:?}");
        assert_eq!(error.code.shape(), shape);
        assert!(
            error.description.as_deref().unwrap_or("").contains(says),
            "{error:?}"
        );
    };
    let url = |path: &str| format!("{base}{path}");

    check(
        post_json(&url("/client/register"), "{not json"),
        400,
        "InvalidRequestException",
        "RegisterClient",
    );
    check(
        post_json(&url("/client/register"), "[]"),
        400,
        "InvalidRequestException",
        "RegisterClient",
    );
    check(
        send("POST", &url("/client/register"), Some("text/plain"), "{}").unwrap(),
        415,
        "UnsupportedMediaTypeException",
        "application/json",
    );
    check(
        post_json(&url("/client/list"), "{}"),
        404,
        "UnknownOperationException",
        "/client/list",
    );
    let get_token = send("GET", &url("/token"), None, Vec::new()).unwrap();
    assert_eq!(get_token.headers()["allow"], "POST");
    check(get_token, 405, "MethodNotAllowedException", "POST");
    check(
        post_json(&url("/token?aws_iam=t"), "{}"),
        400,
        "InvalidRequestException",
        "not supported by this emulator",
    );
    check(
        post_json(&url("/client/register"), vec![b' '; 256 * 1024 + 1]),
        413,
        "RequestEntityTooLargeException",
        "262144",
    );
    // A body exactly at the limit is read (and then refused for what it says).
    check(
        post_json(&url("/client/register"), vec![b' '; 256 * 1024]),
        400,
        "InvalidRequestException",
        "RegisterClient",
    );

    let counters = emulator.with_service(|s| s.counters());
    assert_eq!(counters.register_client, 4);
    assert_eq!(counters.create_token, 0);
    assert_eq!(counters.other, 4);
}

#[test]
fn a_chunked_body_over_the_limit_is_cut_off_with_413() {
    let mut config = EmulatorConfig::default();
    config.body_limit = 1024;
    let emulator = start(config);
    let chunk = format!("800\r\n{}\r\n", " ".repeat(0x800));
    let request = format!(
        "POST /client/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{chunk}0\r\n\r\n"
    );
    let answer = raw_exchange(
        emulator.local_addr(),
        request.as_bytes(),
        Duration::from_secs(5),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("RequestEntityTooLargeException"),
        "{answer}"
    );
}

#[test]
fn a_body_that_never_arrives_gets_408_not_a_hang() {
    let mut config = EmulatorConfig::default();
    config.body_read_timeout = Duration::from_millis(300);
    let emulator = start(config);
    let request = b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 100\r\n\r\n{\"clientId\"";
    let answer = raw_exchange(emulator.local_addr(), request, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("RequestTimeoutException"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("x-amzn-requestid"),
        "{answer}"
    );
}

#[test]
fn one_kept_alive_connection_serves_a_whole_exchange() {
    let emulator = start(EmulatorConfig::default());
    let body = r#"{"clientName":"keepalive","clientType":"public"}"#;
    let one = format!(
        "POST /client/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let last = one.replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
    let answer = raw_exchange(
        emulator.local_addr(),
        format!("{one}{one}{last}").as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 3, "{answer}");
    assert_eq!(emulator.with_service(|s| s.counters()).register_client, 3);
}

#[test]
fn injected_faults_reach_the_client_over_http() {
    let emulator = start(EmulatorConfig::default());
    let base = emulator.base_url().to_owned();
    let register_url = format!("{base}/client/register");
    let body = r#"{"clientName":"faults","clientType":"public"}"#;

    emulator.with_service(|s| s.inject_faults(Fault::DropConnection, 1));
    let dropped = send("POST", &register_url, Some("application/json"), body).unwrap_err();
    assert!(
        matches!(dropped, ureq::Error::Io(_) | ureq::Error::Protocol(_)),
        "{dropped}"
    );

    emulator.with_service(|s| s.inject_faults(Fault::Status(503), 1));
    let unavailable = post_json(&register_url, body);
    assert_eq!(unavailable.status(), 503);
    assert_eq!(error_of(&unavailable).code, ErrorCode::InternalServer);

    emulator.with_service(|s| s.inject_faults(Fault::MalformedBody, 1));
    let malformed = post_json(&register_url, body);
    assert_eq!(malformed.status(), 200);
    assert_eq!(malformed.body(), br#"{"accessTok"#);

    emulator.with_service(|s| s.inject_faults(Fault::Delay(Duration::from_millis(300)), 1));
    let sent = Instant::now();
    let delayed = post_json(&register_url, body);
    assert!(sent.elapsed() >= Duration::from_millis(300));
    assert_eq!(delayed.status(), 200);

    // The queue is empty again: normal service.
    assert_eq!(post_json(&register_url, body).status(), 200);
}

#[test]
fn an_address_other_hosts_reach_must_be_allowed_explicitly() {
    let mut config = EmulatorConfig::default();
    config.bind = "0.0.0.0:0".parse().unwrap();
    let error = ssoflow_emulator::EmulatorThread::start(config.clone()).unwrap_err();
    assert!(error.to_string().contains("--bind 0.0.0.0:0"), "{error}");

    config.allow_non_loopback = true;
    let emulator = ssoflow_emulator::EmulatorThread::start(config).unwrap();
    assert!(emulator.base_url().starts_with("http://127.0.0.1:"));
    emulator.stop().unwrap();
}
