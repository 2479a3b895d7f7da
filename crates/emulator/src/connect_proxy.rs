//! A CONNECT proxy for tests of proxy settings: it tunnels HTTPS as a
//! corporate proxy does, records each request line it receives, and sends
//! every tunnel to one address, so a test can name a host that no resolver
//! knows and still reach the emulator through the proxy.

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 16 * 1024;

/// A CONNECT proxy on 127.0.0.1 that tunnels every request to one address;
/// stops when dropped.
#[derive(Debug)]
pub struct ConnectProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    stopping: Arc<AtomicBool>,
}

impl ConnectProxy {
    /// Starts the proxy on a free port of 127.0.0.1; every `CONNECT host:port`
    /// is tunnelled to `target`, whatever it names. Other methods are
    /// answered 405, as an HTTPS-only proxy answers them.
    pub fn start(target: SocketAddr) -> std::io::Result<ConnectProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (log, stop) = (Arc::clone(&seen), Arc::clone(&stopping));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let log = Arc::clone(&log);
                std::thread::spawn(move || tunnel(stream, target, &log));
            }
        });
        Ok(ConnectProxy {
            addr,
            seen,
            stopping,
        })
    }

    /// The proxy's URL, for `HTTPS_PROXY`: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines received so far, e.g. `CONNECT sso.test:443 HTTP/1.1`.
    pub fn requests(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads one request head; for CONNECT, answers 200 and copies bytes both
/// ways until either side closes.
fn tunnel(client: TcpStream, target: SocketAddr, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client);
    let mut head = Vec::new();
    let mut request_line = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if request_line.is_empty() {
            request_line = line.trim_end().to_owned();
        }
        head.extend_from_slice(line.as_bytes());
        if line == "\r\n" || line == "\n" || head.len() > MAX_HEAD {
            break;
        }
    }
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(request_line.clone());
    let mut client = reader.into_inner();
    if !request_line.starts_with("CONNECT ") {
        let _ = client.write_all(
            b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    }
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (Ok(mut client_read), Ok(mut upstream_write)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = std::io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = forward.join();
}
