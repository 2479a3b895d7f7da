//! No input makes the parsers panic, and no region string can move the host.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use ssoflow_core::wire;
use ssoflow_core::{Endpoint, EndpointVariant, Operation, ServiceError};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, .. ProptestConfig::default() })]

    #[test]
    fn no_region_string_changes_the_host(region in "\\PC{0,80}|[a-z0-9.@:/#?-]{0,30}", fips in any::<bool>(), dual_stack in any::<bool>()) {
        if let Ok(e) = Endpoint::for_region(&region, EndpointVariant { fips, dual_stack }) {
            let uri = e.uri(Operation::CreateToken).unwrap();
            let host = uri.host().unwrap();
            prop_assert!(host.starts_with("oidc.") || host.starts_with("oidc-fips."), "{}", host);
            // The region is exactly the second label; nothing else came from it.
            prop_assert_eq!(host.split('.').nth(1).unwrap(), region.as_str());
            prop_assert_eq!(uri.scheme_str(), Some("https"));
            prop_assert_eq!(uri.port(), None);
            prop_assert_eq!(uri.path(), "/token");
        }
    }

    #[test]
    fn endpoint_urls_are_https_or_loopback(url in "\\PC{0,60}|(https?://)?[a-z0-9.:@\\[\\]/-]{0,40}") {
        if let Ok(e) = Endpoint::from_url(&url) {
            let uri = e.uri(Operation::RegisterClient).unwrap();
            if uri.scheme_str() == Some("http") {
                let host = uri.host().unwrap().trim_start_matches('[').trim_end_matches(']');
                prop_assert!(host == "localhost" || host.parse::<std::net::IpAddr>().unwrap().is_loopback(), "{}", url);
            } else {
                prop_assert_eq!(uri.scheme_str(), Some("https"));
            }
            prop_assert!(uri.path().ends_with("/client/register"));
        }
    }

    #[test]
    fn any_error_response_parses(status in 100u16..600, header in proptest::option::of("\\PC{0,40}"), body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut r = http::Response::new(body.clone());
        *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
        if let Some(h) = header.and_then(|h| http::HeaderValue::from_str(&h).ok()) {
            r.headers_mut().insert(wire::ERROR_TYPE_HEADER, h);
        }
        let parsed = ServiceError::from_response(&r);
        prop_assert_eq!(parsed.is_some(), !(200..300).contains(&status));
        if let Some(e) = parsed {
            let _ = (e.to_string(), ssoflow_core::server::error_response(&e));
        }
        let _ = wire::decode::<wire::CreateTokenResponse>(&body);
        let _ = wire::decode::<wire::RegisterClientRequest>(&body);
    }
}

/// Deeply nested or giant JSON bodies get a typed error (serde_json stops at
/// 128 levels), never a stack overflow, in every parser that sees service
/// bytes: the responses, the error bodies, and the service's own inputs.
#[test]
fn deeply_nested_and_giant_json_is_refused_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
    assert!(wire::decode::<wire::CreateTokenResponse>(deep.as_bytes()).is_err());
    // serde_json skips an unknown member without recursing: parsed, and the
    // token is simply absent (the flow then reports the missing member).
    let skipped: wire::CreateTokenResponse = wire::decode(deep_object.as_bytes()).unwrap();
    assert!(skipped.access_token.is_none());
    for body in [deep.as_bytes(), deep_object.as_bytes()] {
        let response = http::Response::builder()
            .status(400)
            .body(body.to_vec())
            .unwrap();
        let error = ServiceError::from_response(&response).unwrap();
        assert_eq!(error.status, 400);
    }
    // A 4 MiB string member is just a long string: parsed, not a crash.
    let giant = format!(
        r#"{{"accessToken":"{}","expiresIn":3600}}"#,
        "a".repeat(4 * 1024 * 1024)
    );
    let token: wire::CreateTokenResponse = wire::decode(giant.as_bytes()).unwrap();
    assert_eq!(token.access_token.unwrap().secret().len(), 4 * 1024 * 1024);
}
