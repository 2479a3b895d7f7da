//! The loopback listener for real: bound to 127.0.0.1 only, a browser's
//! requests answered as the flow decides, a forged callback refused while
//! the real one completes — the driver around it, with the service's
//! answers scripted (the emulator's own `/authorize` is tested elsewhere).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ssoflow_blocking::{
    CallbackListener, Driver, Error, LoopbackListener, SystemClock, Transport, TransportError,
    fresh_pkce_secrets,
};
use ssoflow_core::{AuthCodeFlow, Endpoint, Event, FlowConfig, FlowError};

/// Answers RegisterClient and CreateToken as the service would.
struct Scripted;

impl Transport for Scripted {
    fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let body = match request.uri().path() {
            "/client/register" => {
                r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#
            }
            "/token" => r#"{"accessToken":"aoa","refreshToken":"aor","expiresIn":3600}"#,
            other => panic!("unexpected request to {other}"),
        };
        Ok(http::Response::new(body.as_bytes().to_vec()))
    }
}

/// One GET as a browser sends it; returns the status line and the body.
fn get(port: u16, target: &str) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: test\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn flow(port: u16, wait: Duration) -> AuthCodeFlow {
    let endpoint = Endpoint::from_url("http://127.0.0.1:9").unwrap();
    let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start").unwrap();
    AuthCodeFlow::new(config, port, fresh_pkce_secrets().unwrap(), Instant::now())
        .with_callback_wait(wait)
}

fn state_of(url: &str) -> String {
    url.split("&state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_forged_callback_is_refused_and_the_real_one_completes() {
    let mut listener = LoopbackListener::bind(None).unwrap();
    let port = listener.port();
    let (urls, url) = mpsc::channel::<String>();
    let browser = thread::spawn(move || {
        let state = state_of(&url.recv().unwrap());
        // A speculative connection that never speaks must not hold anything up.
        let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let favicon = get(port, "/favicon.ico");
        let forged = get(port, "/oauth/callback?code=stolen&state=not-the-state");
        let garbage = {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"BREW /pot HTCPCP/1.0\r\n\r\n").unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            text.lines().next().unwrap().to_owned()
        };
        let real = get(port, &format!("/oauth/callback?code=c0de&state={state}"));
        (favicon, forged, garbage, real)
    });
    let mut events = Vec::new();
    let mut driver = Driver::new(Scripted, SystemClock);
    let signed_in = driver
        .sign_in_with_browser(flow(port, Duration::from_secs(30)), &mut listener, |e| {
            if let Event::AuthorizationUrl(prompt) = &e {
                urls.send(prompt.url.clone()).unwrap();
            }
            events.push(e);
        })
        .unwrap();
    assert_eq!(signed_in.token.access_token.secret(), "aoa");
    assert!(
        signed_in
            .new_registration
            .unwrap()
            .is_for_authorization_code()
    );
    let (favicon, forged, garbage, real) = browser.join().unwrap();
    assert_eq!(favicon.0, "HTTP/1.1 404 Not Found");
    assert_eq!(forged.0, "HTTP/1.1 400 Bad Request");
    assert!(forged.1.contains("does not match"), "{}", forged.1);
    assert_eq!(garbage, "HTTP/1.1 400 Bad Request");
    assert_eq!(real.0, "HTTP/1.1 200 OK");
    assert!(real.1.contains("close this tab"), "{}", real.1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CallbackRefused(_))),
        "{events:?}"
    );
}

#[test]
fn without_a_callback_the_flow_gives_up_at_its_deadline() {
    let mut listener = LoopbackListener::bind(None).unwrap();
    let port = listener.port();
    let started = Instant::now();
    let mut driver = Driver::new(Scripted, SystemClock);
    let error = driver
        .sign_in_with_browser(
            flow(port, Duration::from_millis(300)),
            &mut listener,
            |_| {},
        )
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300));
    let Error::Flow(FlowError::NoCallback { refused: 0, .. }) = &error else {
        panic!("{error:?}")
    };
    assert!(error.to_string().contains("device code"), "{error}");
}

#[test]
fn the_listener_binds_127_0_0_1_only() {
    let listener = LoopbackListener::bind(None).unwrap();
    let port = listener.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    // Not the IPv6 loopback, not another address of 127/8 (which would
    // reach a socket bound to 0.0.0.0), and not this machine's outward address.
    assert!(TcpStream::connect(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).is_err());
    assert!(TcpStream::connect(("127.0.0.2", port)).is_err());
    let outward = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip());
    if let Ok(ip) = outward
        && !ip.is_loopback()
        && !ip.is_unspecified()
    {
        let refused =
            TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(2));
        assert!(refused.is_err(), "reachable at {ip}:{port}");
    }
    // A fixed port is honoured, and a taken one is an error.
    let taken = LoopbackListener::bind(Some(port));
    assert!(taken.is_err());
    drop(listener);
    thread::sleep(Duration::from_millis(50));
    let again = LoopbackListener::bind(Some(port)).unwrap();
    assert_eq!(again.port(), port);
}
