//! The ureq transport and the driver over real HTTP, against a tiny scripted
//! server on a loopback port started by each test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ssoflow_core::net::{NoProxy, ProxyConfig, ProxyRoute};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ssoflow_blocking::{Clock, Driver, Error, Transport, UreqConfig, UreqTransport};
use ssoflow_core::{DeviceFlow, Endpoint, FlowConfig, TransportErrorKind};

/// What the scripted server does with one request.
#[derive(Clone)]
enum Script {
    Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Read the request, then close without answering.
    Hang(Duration),
    Close,
}

fn reply(status: u16, body: &str) -> Script {
    Script::Reply {
        status,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

fn error_reply(shape: &str, oauth: &str) -> Script {
    Script::Reply {
        status: 400,
        headers: vec![(
            "x-amzn-ErrorType",
            format!("{shape}:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"),
        )],
        body: format!(r#"{{"error":"{oauth}","error_description":"scripted"}}"#).into_bytes(),
    }
}

#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// Serves `script` in order over kept-alive connections; one thread, bounded by the script's length.
fn serve(script: Vec<Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/prefix", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut script = script.into_iter();
        'conns: for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            loop {
                let Some(request) = read_request(&mut reader) else {
                    continue 'conns;
                };
                log.lock().unwrap().push(request);
                match script.next() {
                    None => break 'conns,
                    Some(Script::Close) => continue 'conns,
                    Some(Script::Hang(d)) => {
                        std::thread::sleep(d);
                        continue 'conns;
                    }
                    Some(Script::Reply {
                        status,
                        headers,
                        body,
                    }) => {
                        let mut head = format!(
                            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                            body.len()
                        );
                        for (k, v) in headers {
                            head.push_str(&format!("{k}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        if writer
                            .write_all(head.as_bytes())
                            .and_then(|()| writer.write_all(&body))
                            .is_err()
                        {
                            continue 'conns;
                        }
                    }
                }
            }
        }
    });
    Server { url, seen }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut headers = vec![];
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    })
}

/// Real monotonic base, but sleeping only moves the clock forward: the server is
/// real, the waiting is not.
struct JumpClock {
    start: Instant,
    offset: Duration,
}

impl Clock for JumpClock {
    fn now(&self) -> Instant {
        self.start + self.offset
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600) + self.offset
    }
    fn sleep_until(&mut self, deadline: Instant) {
        self.offset = self.offset.max(deadline - self.start);
    }
}

fn jump_clock() -> JumpClock {
    JumpClock {
        start: Instant::now(),
        offset: Duration::ZERO,
    }
}

const REGISTERED: &str = r#"{"clientId":"cid","clientSecret":"sec","clientIdIssuedAt":1767225600,"clientSecretExpiresAt":1775001600}"#;
const STARTED: &str = r#"{"deviceCode":"dc","userCode":"BCDF-GHJK","verificationUri":"https://device.example/","verificationUriComplete":"https://device.example/?user_code=BCDF-GHJK","expiresIn":600,"interval":1}"#;
const TOKEN: &str =
    r#"{"accessToken":"aoa","tokenType":"Bearer","expiresIn":3600,"refreshToken":"aor"}"#;

fn flow(url: &str, clock: &JumpClock) -> DeviceFlow {
    let config = FlowConfig::new(
        Endpoint::from_url(url).unwrap(),
        "https://d-1234567890.awsapps.com/start",
    )
    .unwrap();
    DeviceFlow::new(config, clock.now())
}

#[test]
fn a_whole_device_flow_over_http() {
    let server = serve(vec![
        reply(200, REGISTERED),
        reply(200, STARTED),
        error_reply("AuthorizationPendingException", "authorization_pending"),
        error_reply("SlowDownException", "slow_down"),
        reply(200, TOKEN),
    ]);
    let clock = jump_clock();
    let mut driver = Driver::new(UreqTransport::new(), clock);
    let f = flow(&server.url, driver.clock());
    let mut prompts = vec![];
    let signed_in = driver
        .sign_in(f, |p| prompts.push(p.user_code.clone()))
        .unwrap();
    assert_eq!(prompts, ["BCDF-GHJK"]);
    assert_eq!(signed_in.token.access_token.secret(), "aoa");
    assert_eq!(signed_in.new_registration.unwrap().client_id, "cid");
    // 1 s to the first poll, 1 s to the second, then 6 s after slow_down.
    assert_eq!(driver.clock().offset, Duration::from_secs(8));

    let seen = server.seen.lock().unwrap().clone();
    let lines: Vec<&str> = seen.iter().map(|s| s.request_line.as_str()).collect();
    assert_eq!(
        lines,
        [
            "POST /prefix/client/register HTTP/1.1",
            "POST /prefix/device_authorization HTTP/1.1",
            "POST /prefix/token HTTP/1.1",
            "POST /prefix/token HTTP/1.1",
            "POST /prefix/token HTTP/1.1"
        ]
    );
    let header = |s: &Seen, name: &str| {
        s.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header(&seen[0], "content-type").as_deref(),
        Some("application/json")
    );
    assert!(
        header(&seen[0], "user-agent")
            .unwrap()
            .starts_with("ssoflow/")
    );
    assert!(header(&seen[0], "authorization").is_none());
    assert_eq!(
        String::from_utf8(seen[2].body.clone()).unwrap(),
        r#"{"grantType":"urn:ietf:params:oauth:grant-type:device_code","clientId":"cid","clientSecret":"sec","deviceCode":"dc"}"#
    );
}

#[test]
fn error_statuses_come_back_as_responses() {
    let server = serve(vec![
        error_reply("AccessDeniedException", "access_denied"),
        reply(500, ""),
    ]);
    let mut t = UreqTransport::new();
    let request = |url: &str| {
        http::Request::post(format!("{url}/token"))
            .header("content-type", "application/json")
            .body(b"{}".to_vec())
            .unwrap()
    };
    let r = t.send(request(&server.url)).unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["x-amzn-errortype"],
        "AccessDeniedException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"
    );
    assert_eq!(
        r.body(),
        br#"{"error":"access_denied","error_description":"scripted"}"#
    );
    assert_eq!(t.send(request(&server.url)).unwrap().status(), 500);
}

#[test]
fn a_denial_over_http_is_a_typed_error() {
    let server = serve(vec![
        reply(200, REGISTERED),
        reply(200, STARTED),
        error_reply("AccessDeniedException", "access_denied"),
    ]);
    let mut driver = Driver::new(UreqTransport::new(), jump_clock());
    let f = flow(&server.url, driver.clock());
    assert_eq!(driver.sign_in(f, |_| {}), Err(Error::Denied));
}

#[test]
fn connection_refused_is_retried_then_reported() {
    // Bind and drop to get a port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut driver = Driver::new(UreqTransport::new(), jump_clock());
    let f = flow(&format!("http://127.0.0.1:{port}"), driver.clock());
    match driver.sign_in(f, |_| {}) {
        Err(Error::Transport { source, attempts }) => {
            assert_eq!(source.kind, TransportErrorKind::Connect);
            assert_eq!(attempts, 5);
            assert!(!source.message.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn oversized_bodies_are_cut_off() {
    let big = format!(r#"{{"accessToken":"{}"}}"#, "x".repeat(64 * 1024));
    let server = serve(vec![reply(200, &big)]);
    let mut t = UreqTransport::with_config(UreqConfig {
        body_limit: 16 * 1024,
        ..UreqConfig::default()
    })
    .unwrap();
    let req = http::Request::post(format!("{}/token", server.url))
        .body(b"{}".to_vec())
        .unwrap();
    assert_eq!(
        t.send(req).unwrap_err().kind,
        TransportErrorKind::BodyTooLarge
    );
}

#[test]
fn a_closed_connection_is_lost_and_a_silent_server_times_out() {
    let server = serve(vec![Script::Close, Script::Hang(Duration::from_secs(2))]);
    let mut t = UreqTransport::with_config(UreqConfig {
        read_timeout: Duration::from_millis(300),
        ..UreqConfig::default()
    })
    .unwrap();
    let req = || {
        http::Request::post(format!("{}/token", server.url))
            .body(b"{}".to_vec())
            .unwrap()
    };
    assert_eq!(
        t.send(req()).unwrap_err().kind,
        TransportErrorKind::ConnectionLost
    );
    assert_eq!(t.send(req()).unwrap_err().kind, TransportErrorKind::Timeout);
}

#[test]
fn a_bad_proxy_url_is_refused() {
    let e = ProxyRoute::new("::not a url::", NoProxy::default()).unwrap_err();
    assert!(e.to_string().contains("proxy"), "{e}");
}

#[test]
fn loopback_bypasses_the_proxy_and_other_hosts_use_it() {
    // A "proxy" that records what it is asked and then hangs up.
    let proxy = serve(vec![Script::Close]);
    let proxy_url = proxy.url.trim_end_matches("/prefix").to_owned();
    let server = serve(vec![reply(200, "{}")]);
    let mut t = UreqTransport::with_config(UreqConfig {
        proxy: ProxyConfig::Explicit(ProxyRoute::new(&proxy_url, NoProxy::default()).unwrap()),
        ..UreqConfig::default()
    })
    .unwrap();
    // Loopback goes straight to the server: the secrets in plain HTTP never reach the proxy.
    let req = http::Request::post(format!("{}/token", server.url))
        .body(b"{}".to_vec())
        .unwrap();
    assert_eq!(t.send(req).unwrap().status(), 200);
    assert!(proxy.seen.lock().unwrap().is_empty());
    // Anything else is tunnelled through the proxy.
    let req = http::Request::post("https://oidc.us-east-1.amazonaws.com/token")
        .body(b"{}".to_vec())
        .unwrap();
    assert!(t.send(req).is_err());
    let seen = proxy.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .request_line
            .starts_with("CONNECT oidc.us-east-1.amazonaws.com:443"),
        "{}",
        seen[0].request_line
    );
}
