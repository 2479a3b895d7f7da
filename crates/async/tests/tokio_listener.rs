//! The tokio loopback listener for real, as the blocking one is tested:
//! bound to 127.0.0.1 only, a forged callback, an idle connection, garbage
//! and a favicon answered while the real callback completes.

#![cfg(feature = "tokio-reqwest")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use ssoflow_async::{
    AsyncCallbackListener, AsyncClock, AsyncDriver, AsyncTransport, TokioLoopbackListener,
    TransportError, fresh_pkce_secrets,
};
use ssoflow_core::{AuthCodeFlow, Endpoint, Event, FlowConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers RegisterClient and CreateToken as the service would.
struct Scripted;

impl AsyncTransport for Scripted {
    fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> impl Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send {
        let body = match request.uri().path() {
            "/client/register" => {
                r#"{"clientId":"cid","clientSecret":"sec","clientSecretExpiresAt":4102444800}"#
            }
            "/token" => r#"{"accessToken":"aoa","expiresIn":3600}"#,
            other => panic!("unexpected request to {other}"),
        };
        std::future::ready(Ok(http::Response::new(body.as_bytes().to_vec())))
    }
}

struct RealClock;

impl AsyncClock for RealClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))
    }
}

/// Sends `raw` and returns the status line and the body.
async fn exchange(port: u16, raw: &[u8]) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

async fn get(port: u16, target: &str) -> (String, String) {
    exchange(
        port,
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_is_refused_and_the_real_one_completes() {
    let mut listener = TokioLoopbackListener::bind(None).await.unwrap();
    let port = listener.port();
    assert!(TcpStream::connect(("127.0.0.2", port)).await.is_err());
    let endpoint = Endpoint::from_url("http://127.0.0.1:9").unwrap();
    let config = FlowConfig::new(endpoint, "https://d-1234567890.awsapps.com/start").unwrap();
    let flow = AuthCodeFlow::new(config, port, fresh_pkce_secrets().unwrap(), Instant::now())
        .with_callback_wait(Duration::from_secs(30));
    let mut browser = None;
    let signed_in = AsyncDriver::new(Scripted, RealClock)
        .sign_in_with_browser(flow, &mut listener, |event| {
            if let Event::AuthorizationUrl(prompt) = event {
                let state = prompt
                    .url
                    .split("&state=")
                    .nth(1)
                    .unwrap()
                    .split('&')
                    .next()
                    .unwrap()
                    .to_owned();
                browser = Some(tokio::spawn(async move {
                    let _idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                    let favicon = get(port, "/favicon.ico").await;
                    let forged = get(port, "/oauth/callback?code=x&state=not-ours").await;
                    let garbage = exchange(port, b"BREW /pot HTCPCP/1.0\r\n\r\n").await;
                    let real = get(port, &format!("/oauth/callback?code=c&state={state}")).await;
                    (favicon, forged, garbage, real)
                }));
            }
        })
        .await
        .unwrap();
    assert_eq!(signed_in.token.access_token.secret(), "aoa");
    let (favicon, forged, garbage, real) = browser.unwrap().await.unwrap();
    assert_eq!(favicon.0, "HTTP/1.1 404 Not Found");
    assert_eq!(forged.0, "HTTP/1.1 400 Bad Request");
    assert_eq!(garbage.0, "HTTP/1.1 400 Bad Request");
    assert_eq!(real.0, "HTTP/1.1 200 OK", "{}", real.1);
}
