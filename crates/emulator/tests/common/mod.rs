//! Helpers shared by the emulator's integration tests: start an emulator on a
//! free loopback port, talk to it with a plain ureq agent (the emulator's
//! tests use no ssoflow driver: the drivers test themselves against it), and
//! a raw socket for what no well-behaved client sends.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde::de::DeserializeOwned;
use ssoflow_core::ServiceError;
use ssoflow_core::secret::{ClientSecret, DeviceCode};
use ssoflow_core::wire::{
    self, CreateTokenRequest, RegisterClientResponse, StartDeviceAuthorizationResponse,
};
use ssoflow_emulator::{EmulatorConfig, EmulatorThread};

pub(crate) const START_URL: &str = "https://d-1234567890.awsapps.com/start";

pub(crate) fn start(config: EmulatorConfig) -> EmulatorThread {
    EmulatorThread::start(config).unwrap()
}

/// Sends one request; any status is an `Ok` answer, as a client of the
/// protocol needs it. `Err` when no complete answer came.
pub(crate) fn send(
    method: &str,
    url: &str,
    content_type: Option<&str>,
    body: impl Into<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, ureq::Error> {
    let mut request = http::Request::builder().method(method).uri(url);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    send_request(request.body(body.into()).unwrap())
}

/// Sends a built request with an agent that returns every status and
/// follows no redirect.
pub(crate) fn send_request(
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent.run(request)?;
    let body = response.body_mut().read_to_vec()?;
    let (parts, _) = response.into_parts();
    Ok(http::Response::from_parts(parts, body))
}

pub(crate) fn post_json(url: &str, body: impl Into<Vec<u8>>) -> http::Response<Vec<u8>> {
    send("POST", url, Some("application/json"), body).unwrap()
}

pub(crate) fn get(url: &str) -> http::Response<Vec<u8>> {
    send("GET", url, None, Vec::new()).unwrap()
}

pub(crate) fn ok<T: DeserializeOwned>(response: &http::Response<Vec<u8>>) -> T {
    assert_eq!(
        response.status(),
        200,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    wire::decode(response.body()).unwrap()
}

pub(crate) fn error_of(response: &http::Response<Vec<u8>>) -> ServiceError {
    ServiceError::from_response(response)
        .unwrap_or_else(|| panic!("not an error: {}", response.status()))
}

/// The headers every answer of the API carries.
pub(crate) fn assert_api_headers(response: &http::Response<Vec<u8>>) {
    assert_eq!(response.headers()["content-type"], "application/json");
    let id = response.headers()["x-amzn-requestid"].to_str().unwrap();
    assert_eq!(id.len(), 36, "{id}");
}

#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) id: String,
    pub(crate) secret: ClientSecret,
}

pub(crate) fn register(base: &str, name: &str, scopes: &[&str]) -> Client {
    let mut body = serde_json::json!({"clientName": name, "clientType": "public"});
    if !scopes.is_empty() {
        body["scopes"] = serde_json::json!(scopes);
    }
    let response = post_json(&format!("{base}/client/register"), body.to_string());
    assert_api_headers(&response);
    let registered: RegisterClientResponse = ok(&response);
    Client {
        id: registered.client_id.unwrap(),
        secret: registered.client_secret.unwrap(),
    }
}

pub(crate) fn start_authorization(base: &str, client: &Client) -> StartDeviceAuthorizationResponse {
    let body = serde_json::json!({
        "clientId": client.id,
        "clientSecret": client.secret.secret(),
        "startUrl": START_URL,
    });
    ok(&post_json(
        &format!("{base}/device_authorization"),
        body.to_string(),
    ))
}

pub(crate) fn poll(
    base: &str,
    client: &Client,
    device_code: &DeviceCode,
) -> http::Response<Vec<u8>> {
    let request = CreateTokenRequest::device_code(&client.id, &client.secret, device_code);
    post_json(&format!("{base}/token"), wire::encode(&request))
}

/// Sends raw bytes on a fresh connection and returns everything the server
/// sends until it closes the connection or `timeout` passes.
pub(crate) fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&received).into_owned()
}
