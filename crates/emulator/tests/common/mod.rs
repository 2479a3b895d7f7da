//! Helpers shared by the emulator's integration tests: start an emulator on a
//! free loopback port, talk to it with a plain ureq agent (the emulator's
//! tests use no ssoflow driver: the drivers test themselves against it), and
//! a raw socket for what no well-behaved client sends.

#![allow(dead_code, reason = "each test file uses a different subset")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, PoisonError};
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

/// The CAs of the HTTPS emulators started in this test binary, which every
/// request of these helpers trusts (and nothing else, once there is one).
/// Each emulator's CA is new, and the tests of a binary run in parallel, so
/// the list only grows.
static TRUSTED_CAS: Mutex<Vec<ureq::tls::Certificate<'static>>> = Mutex::new(Vec::new());

/// Lets the helpers below (requests, [`Browser`]) reach an emulator whose
/// certificate the CA of `ca_pem` signed.
pub(crate) fn trust(ca_pem: &str) {
    let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    TRUSTED_CAS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(ca);
}

/// Sends a built request with an agent that returns every status and
/// follows no redirect.
pub(crate) fn send_request(
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, ureq::Error> {
    let trusted = TRUSTED_CAS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)));
    if !trusted.is_empty() {
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&trusted))
                .build(),
        );
    }
    let agent: ureq::Agent = config.build().into();
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

/// A person's browser without JavaScript: remembers the CSRF cookie, fills
/// in forms, and (like a real one) follows no redirect by itself, so tests
/// see each Location.
pub(crate) struct Browser {
    pub(crate) base: String,
    pub(crate) cookie: Option<String>,
}

pub(crate) struct Page {
    pub(crate) status: u16,
    pub(crate) html: String,
}

impl Page {
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.html.find(marker).expect("a form") + marker.len();
        self.html[start..start + 48].to_owned()
    }
    /// The value of the form's hidden input `name`.
    pub(crate) fn hidden(&self, name: &str) -> String {
        let marker = format!(r#"type="hidden" name="{name}" value=""#);
        let start = self.html.find(&marker).expect("the field") + marker.len();
        let end = start + self.html[start..].find('"').unwrap();
        self.html[start..end].to_owned()
    }
    pub(crate) fn outcome(&self) -> Option<&str> {
        let marker = r#"data-outcome=""#;
        let start = self.html.find(marker)? + marker.len();
        let end = start + self.html[start..].find('"')?;
        Some(&self.html[start..end])
    }
}

impl Browser {
    pub(crate) fn new(emulator: &EmulatorThread) -> Browser {
        Browser {
            base: emulator.base_url().to_owned(),
            cookie: None,
        }
    }

    /// Keeps the cookie a response sets and reads the page it carries.
    pub(crate) fn remember(&mut self, response: &http::Response<Vec<u8>>) -> Page {
        self.keep_cookie(response);
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY");
        Page {
            status: response.status().as_u16(),
            html: String::from_utf8(response.body().clone()).unwrap(),
        }
    }

    fn keep_cookie(&mut self, response: &http::Response<Vec<u8>>) {
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Strict"),
                "{set}"
            );
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
    }

    pub(crate) fn open(&mut self, url: &str) -> Page {
        let response = get(url);
        self.remember(&response)
    }

    pub(crate) fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let response = self.post_form(path, fields);
        self.remember(&response)
    }

    /// Posts a form with the cookie and returns the answer as it is (a
    /// redirect, say); keeps any cookie it sets.
    pub(crate) fn post_form(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> http::Response<Vec<u8>> {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect();
        let mut request = http::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = send_request(request.body(body.join("&").into_bytes()).unwrap()).unwrap();
        self.keep_cookie(&response);
        response
    }

    /// Enters `code` on a fresh form and returns the page that follows.
    pub(crate) fn enter(&mut self, code: &str) -> Page {
        let form = self.open(&format!("{}/device", self.base));
        self.submit("/device", &[("csrf", &form.csrf()), ("user_code", code)])
    }

    pub(crate) fn decide(&mut self, review: &Page, code: &str, decision: &str) -> Page {
        self.submit(
            "/device/decide",
            &[
                ("csrf", &review.csrf()),
                ("user_code", code),
                ("decision", decision),
            ],
        )
    }
}
