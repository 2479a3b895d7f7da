//! Target `emulator_request`: any method, path and query, headers and body,
//! at a time the input picks, to the emulator's `Service::handle`, on a
//! service primed with a registration, a redeemed authorization with its
//! refresh token, and a second authorization that is pending, approved or
//! denied (or whose registration was expired), optionally with one fault
//! injected.
//!
//! Input: two bytes of time ([`time_of`]), one byte for the priming and the
//! fault, one fault parameter, then the request as text: `METHOD TARGET`, `name:
//! value` lines, a blank line, the body. `$CLIENT_ID`, `$CLIENT_SECRET`,
//! `$DEVICE_CODE` (the second authorization's), `$USED_DEVICE_CODE`,
//! `$REFRESH_TOKEN` and `$ACCESS_TOKEN` in the target, header values and
//! body are replaced with the primed values, so that seeds reach past
//! authentication (the portal API's included).
//!
//! Checked: no panic; the reply is `Drop` or `Delayed` exactly when that
//! fault was injected; every response is `application/json` with an
//! `x-amzn-RequestId`; every error response carries `x-amzn-ErrorType`, an
//! OAuth body whose `error` agrees with the header, and parses with
//! `ServiceError::from_response` to its code; without a fault the status is
//! one the service documents (the code's own, 404, 405 with `Allow: POST`,
//! 415); a success answers a `POST` with the operation's required members;
//! portal paths answer in the portal's error shape (`x-amzn-ErrorType`
//! and `__type` agreeing, read by `PortalError::from_response`) and their
//! successes hold what each operation promises (credentials with an `ASIA`
//! key and an expiry in milliseconds, the lists);
//! no response contains a primed secret the request did not contain; each
//! request is counted once; afterwards the primed client still works (unless
//! its registration expired) and a snapshot survives serde and restore.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssoflow_core::portal::{PortalError, PortalErrorCode};
use ssoflow_core::server::{self, REQUEST_ID_HEADER};
use ssoflow_core::wire::{self, ErrorBody};
use ssoflow_core::{ErrorCode, Operation, ServiceError};
use ssoflow_test_transport::{Fault, Reply, Service, ServiceConfig, ServiceSnapshot};

use crate::canned;
use crate::input::{self, Bytes};

const HOST: &str = "https://oidc.us-east-1.amazonaws.com";
const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const REGISTRATION_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);
/// The body of an injected `Fault::MalformedBody`.
const MALFORMED_BODY: &[u8] = br#"{"accessTok"#;

pub fn run(data: &[u8]) {
    play(data);
}

/// Runs the request and the checks; returns the status answered, if any.
fn play(data: &[u8]) -> Option<u16> {
    let mut bytes = Bytes::new(data);
    let now = time_of(bytes.u16());
    let prime = bytes.byte();
    let fault_param = bytes.byte();
    let head = input::split_head(bytes.rest());

    let mut world = World::prime(prime % 4);
    let fault = fault_of(prime >> 2, fault_param);
    if let Some(fault) = &fault {
        world.service.inject_faults(fault.clone(), 1);
    }

    let request = world.request(&head)?;
    let counted = total(&world.service);
    let reply = world.service.handle(now, &request);
    assert_eq!(
        total(&world.service),
        counted + 1,
        "a request is counted once"
    );

    let response = match reply {
        Reply::Drop => {
            assert_eq!(
                fault,
                Some(Fault::DropConnection),
                "dropped without the fault"
            );
            None
        }
        Reply::Delayed(delay, response) => {
            assert_eq!(
                fault,
                Some(Fault::Delay(delay)),
                "delayed without the fault"
            );
            Some(response)
        }
        Reply::Respond(response) => {
            assert!(
                !matches!(fault, Some(Fault::DropConnection | Fault::Delay(_))),
                "the injected fault was not applied"
            );
            Some(response)
        }
    };
    if let Some(response) = &response {
        check_response(&request, response, fault.as_ref());
        world.check_no_leak(&request, response);
    }
    world.check_still_works(now);
    check_snapshot(&world.service);
    response.map(|r| r.status().as_u16())
}

/// The request time, from two bytes: the high byte picks a range around the
/// moments that matter (the code's 600 s lifetime, the registration's 90
/// days, a clock that went back, the far past and future), the low byte a
/// point in it.
fn time_of(t: u16) -> SystemTime {
    let [high, low] = t.to_be_bytes();
    let low = u64::from(low);
    let t0 = canned::wall0();
    let after = |secs: u64| t0.checked_add(Duration::from_secs(secs)).unwrap_or(t0);
    match high {
        0 => after(low),
        1 => after(256 + 2 * low),
        2 => t0 - Duration::from_secs(low),
        3 => after(REGISTRATION_TTL.as_secs() - 128 + low),
        0xfe => after(200 * 365 * 24 * 3600 + low),
        0xff => UNIX_EPOCH + Duration::from_secs(low),
        _ => after(60 * u64::from(t)),
    }
}

fn fault_of(kind: u8, param: u8) -> Option<Fault> {
    match kind % 8 {
        2 => Some(Fault::Status(u16::from(param) * 4)),
        // Not the empty code: that fault would be garbage in, garbage out.
        3 => Some(Fault::Error(canned::code(param % 15))),
        4 => Some(Fault::MalformedBody),
        5 => Some(Fault::DropConnection),
        6 => Some(Fault::Delay(Duration::from_millis(u64::from(param) * 100))),
        _ => None,
    }
}

fn total(service: &Service) -> u64 {
    let c = service.counters();
    c.register_client
        + c.start_device_authorization
        + c.create_token
        + c.authorize
        + c.get_role_credentials
        + c.list_accounts
        + c.list_account_roles
        + c.logout
        + c.other
}

/// The service and the secrets it issued while being primed.
struct World {
    service: Service,
    client_id: String,
    client_secret: String,
    used_device_code: String,
    device_code: String,
    access_token: String,
    refresh_token: String,
    registration_expired: bool,
}

fn post(service: &mut Service, path: &str, body: serde_json::Value) -> serde_json::Value {
    let request = http::Request::post(format!("{HOST}{path}"))
        .header(http::header::CONTENT_TYPE, wire::CONTENT_TYPE_JSON)
        .body(body.to_string().into_bytes())
        .expect("a priming request builds");
    match service.handle(canned::wall0(), &request) {
        Reply::Respond(r) if r.status() == http::StatusCode::OK => {
            serde_json::from_slice(r.body()).expect("a priming answer is JSON")
        }
        other => panic!("priming {path} failed: {other:?}"),
    }
}

fn text(value: &serde_json::Value, member: &str) -> String {
    value
        .get(member)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("a priming answer lacks {member}"))
        .to_owned()
}

impl World {
    /// 0: the second code pending; 1: approved; 2: denied; 3: pending, but
    /// the registration expired.
    fn prime(variant: u8) -> World {
        let mut service = Service::new(ServiceConfig::default());
        let registered = post(
            &mut service,
            Operation::RegisterClient.path(),
            serde_json::json!({"clientName": "fuzz", "clientType": "public", "scopes": ["sso:account:access"]}),
        );
        let (client_id, client_secret) = (
            text(&registered, "clientId"),
            text(&registered, "clientSecret"),
        );
        let start = serde_json::json!({"clientId": client_id, "clientSecret": client_secret, "startUrl": START_URL});
        let first = post(
            &mut service,
            Operation::StartDeviceAuthorization.path(),
            start.clone(),
        );
        service
            .approve(&text(&first, "userCode"), canned::wall0())
            .expect("priming: approve");
        let used_device_code = text(&first, "deviceCode");
        let token = post(
            &mut service,
            Operation::CreateToken.path(),
            serde_json::json!({"clientId": client_id, "clientSecret": client_secret,
                "grantType": wire::GRANT_DEVICE_CODE, "deviceCode": used_device_code}),
        );
        let second = post(
            &mut service,
            Operation::StartDeviceAuthorization.path(),
            start,
        );
        let user_code = text(&second, "userCode");
        match variant {
            1 => service
                .approve(&user_code, canned::wall0())
                .expect("priming: approve"),
            2 => service
                .deny(&user_code, canned::wall0())
                .expect("priming: deny"),
            3 => assert!(service.expire_registration(&client_id)),
            _ => {}
        }
        World {
            service,
            client_id,
            client_secret,
            used_device_code,
            device_code: text(&second, "deviceCode"),
            access_token: text(&token, "accessToken"),
            refresh_token: text(&token, "refreshToken"),
            registration_expired: variant == 3,
        }
    }

    fn substitute(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (name, value) in [
            ("$CLIENT_ID", &self.client_id),
            ("$CLIENT_SECRET", &self.client_secret),
            ("$USED_DEVICE_CODE", &self.used_device_code),
            ("$DEVICE_CODE", &self.device_code),
            ("$REFRESH_TOKEN", &self.refresh_token),
            ("$ACCESS_TOKEN", &self.access_token),
        ] {
            out = replace(&out, name.as_bytes(), value.as_bytes());
        }
        out
    }

    /// The request the head describes; `None` when `http` cannot carry it.
    fn request(&self, head: &input::Head<'_>) -> Option<http::Request<Vec<u8>>> {
        let line = head.first_line;
        let (method, target) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b"/"[..]),
        };
        let method = http::Method::from_bytes(method).ok()?;
        let target = self.substitute(target);
        let uri = if target.first() == Some(&b'/') {
            let mut full = HOST.as_bytes().to_vec();
            full.extend_from_slice(&target);
            http::Uri::try_from(full).ok()?
        } else {
            http::Uri::try_from(target).ok()?
        };
        let mut request = http::Request::new(self.substitute(head.body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        for (name, value) in &head.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name),
                http::HeaderValue::from_bytes(&self.substitute(value)),
            ) {
                request.headers_mut().append(name, value);
            }
        }
        Some(request)
    }

    /// A response may repeat a secret the request sent (an error that quotes
    /// the input), but never one it did not.
    fn check_no_leak(&self, request: &http::Request<Vec<u8>>, response: &http::Response<Vec<u8>>) {
        let mut sent = request.body().clone();
        sent.extend_from_slice(request.uri().to_string().as_bytes());
        for value in request.headers().values() {
            sent.extend_from_slice(value.as_bytes());
        }
        for (what, secret) in [
            ("client secret", &self.client_secret),
            ("device code", &self.device_code),
            ("used device code", &self.used_device_code),
            ("access token", &self.access_token),
            ("refresh token", &self.refresh_token),
        ] {
            if input::contains(response.body(), secret.as_bytes()) {
                assert!(
                    input::contains(&sent, secret.as_bytes()),
                    "the response reveals the {what}, which the request did not send"
                );
            }
        }
    }

    /// The primed client can still start an authorization, unless its
    /// registration has expired by `now`: no request breaks the service.
    fn check_still_works(&mut self, now: SystemTime) {
        let body = serde_json::json!({"clientId": self.client_id, "clientSecret": self.client_secret, "startUrl": START_URL});
        let request = http::Request::post(format!(
            "{HOST}{}",
            Operation::StartDeviceAuthorization.path()
        ))
        .body(body.to_string().into_bytes())
        .expect("the request builds");
        let Reply::Respond(response) = self.service.handle(now, &request) else {
            panic!("a fault outlived its one use");
        };
        let expired = self.registration_expired
            || canned::wall0()
                .checked_add(REGISTRATION_TTL)
                .is_none_or(|end| now >= end);
        let expected = if expired { 401 } else { 200 };
        assert_eq!(
            response.status().as_u16(),
            expected,
            "StartDeviceAuthorization for the primed client after the fuzzed request"
        );
    }
}

fn replace(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn operation_of(request: &http::Request<Vec<u8>>) -> Option<Operation> {
    let path = request.uri().path();
    Operation::ALL
        .into_iter()
        .find(|op| path.ends_with(op.path()))
}

/// The portal operation a request's path names, if any.
fn portal_operation_of(request: &http::Request<Vec<u8>>) -> Option<Operation> {
    let path = request.uri().path();
    Operation::PORTAL
        .into_iter()
        .find(|op| path.ends_with(op.path()))
}

/// A portal answer: errors in the portal's shape (header and `__type`),
/// as `PortalError` reads them; successes with what each operation promises.
fn check_portal_response(
    op: Operation,
    request: &http::Request<Vec<u8>>,
    response: &http::Response<Vec<u8>>,
    fault: Option<&Fault>,
) {
    let unfaulted = matches!(fault, None | Some(Fault::Delay(_)));
    let status = response.status().as_u16();
    match fault {
        // A general fault hits portal requests too: the truncated body as sent.
        Some(Fault::MalformedBody) => {
            assert_eq!(status, 200);
            assert_eq!(response.body(), MALFORMED_BODY);
            return;
        }
        Some(Fault::Status(_)) if response.status().is_success() => return,
        _ => {}
    }
    if !response.status().is_success() {
        let error = PortalError::from_response(response).expect("an error status parses");
        assert_eq!(error.status, status);
        let body: wire::PortalErrorBody =
            wire::decode(response.body()).expect("a portal error body is JSON");
        let error_type = body.error_type.expect("a portal error has __type");
        assert!(
            error_type.ends_with(&format!("#{}", error.code.shape())),
            "__type {error_type} vs {:?}",
            error.code
        );
        if unfaulted && !matches!(error.code, PortalErrorCode::Other(_)) {
            assert_eq!(status, error.code.status(), "{:?}", error.code);
        }
        return;
    }
    assert_eq!(
        request.method().as_str(),
        op.method(),
        "a success for another method"
    );
    let body = response.body();
    match op {
        Operation::GetRoleCredentials => {
            let r: wire::GetRoleCredentialsResponse = wire::decode(body).expect("JSON");
            let c = r.role_credentials.expect("roleCredentials");
            assert!(c.access_key_id.is_some_and(|k| k.starts_with("ASIA")));
            assert!(
                c.expiration.is_some_and(|ms| ms > 1_000_000_000_000),
                "milliseconds"
            );
        }
        Operation::ListAccounts => {
            let r: wire::ListAccountsResponse = wire::decode(body).expect("JSON");
            assert!(r.account_list.is_some());
        }
        Operation::ListAccountRoles => {
            let r: wire::ListAccountRolesResponse = wire::decode(body).expect("JSON");
            assert!(r.role_list.is_some());
        }
        _ => {}
    }
}

fn check_response(
    request: &http::Request<Vec<u8>>,
    response: &http::Response<Vec<u8>>,
    fault: Option<&Fault>,
) {
    let unfaulted = matches!(fault, None | Some(Fault::Delay(_)));
    let headers = response.headers();
    assert_eq!(
        headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(wire::CONTENT_TYPE_JSON.as_bytes()),
        "every response is JSON"
    );
    assert!(
        headers
            .get(REQUEST_ID_HEADER)
            .is_some_and(|v| !v.is_empty()),
        "every response has a request id"
    );
    let status = response.status().as_u16();
    let portal = portal_operation_of(request);
    if let Some(op) = portal {
        check_portal_response(op, request, response, fault);
        return;
    }

    if !response.status().is_success() {
        let error = ServiceError::from_response(response).expect("an error status parses");
        let header = headers
            .get(wire::ERROR_TYPE_HEADER)
            .and_then(|v| v.to_str().ok())
            .expect("every error has x-amzn-ErrorType");
        let shape = header.split(':').next().unwrap_or_default();
        let body: ErrorBody =
            wire::decode(response.body()).expect("an error body is an OAuth error");
        let oauth = body.error.as_deref().expect("an error body has `error`");
        assert!(!shape.is_empty() && !oauth.is_empty());
        assert_eq!(
            error.code,
            ErrorCode::from_shape(shape),
            "parsed code vs header"
        );
        assert_eq!(error.code.oauth_error(), oauth, "header and body disagree");
        if unfaulted {
            match &error.code {
                ErrorCode::Other(code) => {
                    let expected = match code.as_str() {
                        "UnknownOperationException" => 404,
                        "MethodNotAllowedException" => 405,
                        "UnsupportedMediaTypeException" => 415,
                        _ => panic!("the service made up the code {code}"),
                    };
                    assert_eq!(status, expected, "{code}");
                }
                known => assert_eq!(status, server::status_of(known), "{known:?}"),
            }
            if status == 405 {
                assert_eq!(
                    headers.get(http::header::ALLOW).map(|v| v.as_bytes()),
                    Some(&b"POST"[..])
                );
            }
        }
        return;
    }

    match fault {
        Some(Fault::MalformedBody) => {
            assert_eq!(status, 200);
            assert_eq!(response.body(), MALFORMED_BODY);
            return;
        }
        // An injected status in 2xx comes with the error body; nothing more to check.
        Some(Fault::Status(_)) => return,
        _ => assert_eq!(status, 200),
    }
    assert_eq!(
        request.method(),
        http::Method::POST,
        "a success for a non-POST"
    );
    let body: serde_json::Value =
        serde_json::from_slice(response.body()).expect("a success body is JSON");
    let has = |member: &str| {
        body.get(member)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let number = |member: &str| body.get(member).and_then(serde_json::Value::as_i64);
    match operation_of(request).expect("a success for an operation") {
        Operation::RegisterClient => {
            assert!(has("clientId") && has("clientSecret"));
            assert!(number("clientSecretExpiresAt").is_some());
        }
        Operation::StartDeviceAuthorization => {
            assert!(has("deviceCode") && has("userCode") && has("verificationUri"));
            assert_eq!(number("expiresIn"), Some(600));
            assert_eq!(number("interval"), Some(1));
        }
        Operation::CreateToken => {
            assert!(has("accessToken"));
            assert_eq!(
                body.get("tokenType").and_then(|v| v.as_str()),
                Some("Bearer")
            );
            assert_eq!(number("expiresIn"), Some(3600));
        }
        other => panic!("a success for {other:?}, which this harness does not know"),
    }
}

fn check_snapshot(service: &Service) {
    let value = serde_json::to_value(service.snapshot()).expect("a snapshot serializes");
    let snapshot: ServiceSnapshot =
        serde_json::from_value(value.clone()).expect("a snapshot deserializes");
    let restored =
        Service::restore(ServiceConfig::default(), snapshot).expect("a snapshot restores");
    let again = serde_json::to_value(restored.snapshot()).expect("a snapshot serializes");
    assert_eq!(value, again, "a snapshot does not survive a restore");
}

#[cfg(test)]
mod tests {
    /// The seeds reach what their names say (so the formats in
    /// `make-seeds.sh` match the harness).
    #[test]
    fn seeds_get_the_answers_their_names_say() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/emulator_request/");
        for (seed, status) in [
            ("register-cli-device-flow", Some(200)),
            ("register-cli-pkce", Some(200)),
            // The model's example registers the placeholder redirect URI
            // `127.0.0.1:PORT/oauth/callback`, which is no URI: refused
            // with InvalidRedirectUriException.
            ("register-model-example", Some(400)),
            ("start-device-authorization", Some(200)),
            ("start-with-expired-registration", Some(401)),
            ("poll-pending", Some(400)),
            ("poll-approved", Some(200)),
            ("poll-denied", Some(400)),
            ("poll-after-expiry", Some(400)),
            ("poll-used-device-code", Some(400)),
            ("poll-device-code-grant-with-hyphen", Some(400)),
            ("refresh-token-grant", Some(200)),
            ("authorization-code-grant", Some(400)),
            ("create-token-with-iam", Some(400)),
            ("get-token-method-not-allowed", Some(405)),
            ("unknown-path", Some(404)),
            ("path-prefix", Some(200)),
            ("form-content-type", Some(415)),
            ("fault-status-500", Some(500)),
            ("fault-error-slow-down", Some(400)),
            ("fault-malformed-body", Some(200)),
            ("fault-drop-connection", None),
            ("fault-delay", Some(200)),
            ("portal-role-credentials", Some(200)),
            ("portal-accounts-page", Some(200)),
            ("portal-roles", Some(200)),
            ("portal-forbidden", Some(403)),
            ("portal-no-token", Some(401)),
            ("portal-logout", Some(200)),
        ] {
            let data = std::fs::read(format!("{dir}{seed}.http")).expect("the seed exists");
            assert_eq!(super::play(&data), status, "{seed}");
        }
    }
}
