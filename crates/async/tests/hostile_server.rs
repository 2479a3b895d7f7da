//! Both HTTP transports (ureq, reqwest) against servers that misbehave below
//! the protocol: one that accepts and never answers, one that sends a 100 MiB
//! body, one that drops the connection in the middle of a response. Each
//! must fail promptly with the kind the flows retry on, never hang, and never
//! read the giant body whole.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ssoflow_async::{AsyncTransport, ReqwestTransport};
use ssoflow_blocking::{Transport, UreqTransport};
use ssoflow_core::TransportErrorKind;
use ssoflow_core::drive::{TransportConfig, TransportError};

#[derive(Clone, Copy)]
enum Misbehaviour {
    NeverAnswer,
    HugeBody,
    DropMidResponse,
}

const HUGE: u64 = 100 * 1024 * 1024;

/// Serves one misbehaviour on every connection; counts the body bytes it
/// managed to write.
fn serve(misbehaviour: Misbehaviour) -> (SocketAddr, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || answer(stream, misbehaviour, &counter));
        }
    });
    (addr, written)
}

fn answer(stream: TcpStream, misbehaviour: Misbehaviour, written: &AtomicU64) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let mut stream = reader.into_inner();
    match misbehaviour {
        Misbehaviour::NeverAnswer => std::thread::sleep(Duration::from_secs(30)),
        Misbehaviour::HugeBody => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {HUGE}\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            while written.load(Ordering::SeqCst) < HUGE {
                if stream.write_all(&chunk).is_err() {
                    return; // the client hung up, as it should
                }
                written.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            }
        }
        Misbehaviour::DropMidResponse => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 80\r\n\r\n{\"accessToken\":\"aoa",
            );
            let _ = stream.flush();
            // Dropping the stream closes the connection 60 bytes short.
        }
    }
}

fn request(addr: SocketAddr) -> http::Request<Vec<u8>> {
    http::Request::post(format!("http://{addr}/token"))
        .header("content-type", "application/json")
        .body(b"{}".to_vec())
        .unwrap()
}

fn config() -> TransportConfig {
    TransportConfig {
        read_timeout: Duration::from_millis(500),
        ..TransportConfig::default()
    }
}

/// Sends with both transports, returning each one's error and how long it took.
fn both(addr: SocketAddr) -> Vec<(&'static str, TransportError, Duration)> {
    let started = Instant::now();
    let ureq = UreqTransport::with_config(config())
        .unwrap()
        .send(request(addr))
        .unwrap_err();
    let ureq_took = started.elapsed();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let reqwest = runtime.block_on(async {
        ReqwestTransport::with_config(config())
            .unwrap()
            .send(request(addr))
            .await
            .unwrap_err()
    });
    vec![
        ("ureq", ureq, ureq_took),
        ("reqwest", reqwest, started.elapsed()),
    ]
}

#[test]
fn a_server_that_never_answers_times_out() {
    let (addr, _) = serve(Misbehaviour::NeverAnswer);
    for (name, error, took) in both(addr) {
        assert_eq!(error.kind, TransportErrorKind::Timeout, "{name}: {error}");
        assert!(took < Duration::from_secs(10), "{name} took {took:?}");
    }
}

#[test]
fn a_100_mib_body_is_cut_off_at_the_limit() {
    let (addr, written) = serve(Misbehaviour::HugeBody);
    for (name, error, took) in both(addr) {
        assert_eq!(
            error.kind,
            TransportErrorKind::BodyTooLarge,
            "{name}: {error}"
        );
        assert!(took < Duration::from_secs(10), "{name} took {took:?}");
    }
    // The server could write at most the limit plus what fits in the socket
    // buffers before the clients hung up: nowhere near 100 MiB each.
    let total = written.load(Ordering::SeqCst);
    assert!(
        total < 2 * 16 * 1024 * 1024,
        "the servers wrote {total} bytes"
    );
}

#[test]
fn a_connection_dropped_mid_response_is_a_lost_connection() {
    let (addr, _) = serve(Misbehaviour::DropMidResponse);
    for (name, error, _) in both(addr) {
        assert_eq!(
            error.kind,
            TransportErrorKind::ConnectionLost,
            "{name}: {error}"
        );
    }
}
