//! No public type prints a secret under `{:?}` (or `Display`, where it has one).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use ssoflow_core::secret::*;
use ssoflow_core::wire::*;
use ssoflow_core::*;

const SECRETS: [&str; 6] = [
    "client-secret-value",
    "device-code-value",
    "access-token-value",
    "refresh-token-value",
    "verifier-value",
    "authorization-code-value",
];

fn assert_clean(what: &str, text: String) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret}: {text}");
    }
}

#[test]
fn every_public_type_redacts_secrets_in_debug() {
    let secret = ClientSecret::new("client-secret-value");
    let device = DeviceCode::new("device-code-value");
    let access = AccessToken::new("access-token-value");
    let refresh = RefreshToken::new("refresh-token-value");
    let verifier = CodeVerifier::new("verifier-value");
    let code = AuthorizationCode::new("authorization-code-value");
    let reg = registration(Duration::from_secs(86_400));
    let token = Token {
        access_token: access.clone(),
        refresh_token: Some(refresh.clone()),
        expires_at: wall0(),
        registration: reg.clone(),
    };
    assert_clean("ClientSecret", format!("{secret:?}"));
    assert_clean("DeviceCode", format!("{device:?}"));
    assert_clean("AccessToken", format!("{access:?}"));
    assert_clean("RefreshToken", format!("{refresh:?}"));
    assert_clean("CodeVerifier", format!("{verifier:?}"));
    assert_clean("AuthorizationCode", format!("{code:?}"));
    assert_clean("Registration", format!("{reg:?}"));
    assert_clean("Token", format!("{token:?}"));
    assert_clean(
        "Event::Registered",
        format!("{:?}", Event::Registered(reg.clone())),
    );
    assert_clean(
        "Outcome::Authorized",
        format!("{:?}", Outcome::Authorized(token.clone())),
    );
    assert_clean(
        "StartDeviceAuthorizationRequest",
        format!(
            "{:?}",
            StartDeviceAuthorizationRequest {
                client_id: "c".into(),
                client_secret: secret.clone(),
                start_url: START_URL.into()
            }
        ),
    );
    assert_clean(
        "RegisterClientResponse",
        format!(
            "{:?}",
            RegisterClientResponse {
                client_secret: Some(secret.clone()),
                ..Default::default()
            }
        ),
    );
    assert_clean(
        "StartDeviceAuthorizationResponse",
        format!(
            "{:?}",
            StartDeviceAuthorizationResponse {
                device_code: Some(device.clone()),
                ..Default::default()
            }
        ),
    );
    for req in [
        CreateTokenRequest::device_code("c", &secret, &device),
        CreateTokenRequest::refresh_token("c", &secret, &refresh),
        CreateTokenRequest::authorization_code(
            "c",
            &secret,
            &code,
            "http://127.0.0.1:1/oauth/callback",
            &verifier,
        ),
    ] {
        assert_clean("CreateTokenRequest", format!("{req:?}"));
    }
    assert_clean(
        "CreateTokenResponse",
        format!(
            "{:?}",
            CreateTokenResponse {
                access_token: Some(access.clone()),
                refresh_token: Some(refresh.clone()),
                ..Default::default()
            }
        ),
    );

    // The machines and the requests they emit, in every state.
    let mut s = Scenario::registered();
    assert_clean("DeviceFlow", format!("{:?}", s.flow));
    s.exchange(ok(&started(Some(1), 600)));
    assert_clean("DeviceFlow (pending)", format!("{:?}", s.flow));
    s.wait_for_timeout();
    let tx = s.transmit();
    assert!(String::from_utf8_lossy(tx.request.body()).contains("device-code-value"));
    assert_clean("Transmit", format!("{tx:?}"));
    s.flow
        .handle_response(s.now, s.wall(), tx.id, ok(TOKEN))
        .unwrap();
    assert_clean("DeviceFlow (authorized)", format!("{:?}", s.flow));
    assert_clean("Outcome", format!("{:?}", s.flow.outcome()));
    for event in s.events() {
        assert_clean("Event", format!("{event:?}"));
    }
    let refresh_flow =
        RefreshFlow::new(config().endpoint().clone(), token, Instant::now(), wall0());
    assert_clean("RefreshFlow", format!("{refresh_flow:?}"));

    // Errors carry codes and descriptions, never request content.
    let err = FlowError::Service {
        operation: Operation::CreateToken,
        error: Box::new(ServiceError::new(
            ErrorCode::InvalidGrant,
            "Invalid grant provided",
        )),
    };
    assert_clean("FlowError", format!("{err:?} {err}"));
    let spent = FlowError::GrantSpent {
        grant: "device code",
        error: DecodeError::Json("expected value".into()),
    };
    assert_clean("FlowError::GrantSpent", format!("{spent:?} {spent}"));
}
