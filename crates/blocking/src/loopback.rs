//! The loopback listener of the authorization-code flow: where the browser
//! comes back with the code (RFC 8252 §7.3).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use ssoflow_core::CallbackReply;
use ssoflow_core::loopback::{MAX_HEAD_LEN, head_complete, request_target, response};

/// Where the browser comes back: something that receives the requests sent
/// to `http://127.0.0.1:<port>/…` and answers each as the flow decides. The
/// real one is [`LoopbackListener`]; tests put a simulated browser here.
pub trait CallbackListener {
    /// The port the redirect URI names.
    fn port(&self) -> u16;
    /// Waits until a request arrives or `until` has passed; returns the
    /// request's target (path and query).
    fn wait(&mut self, until: Instant) -> Option<String>;
    /// Answers the request [`CallbackListener::wait`] returned last.
    fn respond(&mut self, reply: &CallbackReply);
}

impl<L: CallbackListener + ?Sized> CallbackListener for &mut L {
    fn port(&self) -> u16 {
        (**self).port()
    }
    fn wait(&mut self, until: Instant) -> Option<String> {
        (**self).wait(until)
    }
    fn respond(&mut self, reply: &CallbackReply) {
        (**self).respond(reply);
    }
}

/// How long one connection may take to send its request head; a browser's
/// speculative connection that never sends one is closed after this.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection waits for the flow's verdict before it answers 503.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are closed at once (a browser opens a
/// few, nothing legitimate opens dozens).
const MAX_CONNECTIONS: usize = 16;

struct Incoming {
    target: String,
    reply: SyncSender<Vec<u8>>,
    /// Signalled once the answer is written, so that a flow that ends with
    /// this request does not exit before the browser has its page.
    written: Receiver<()>,
}

/// How long [`CallbackListener::respond`] waits for the page to be written.
const WRITE_WAIT: Duration = Duration::from_secs(2);

/// A one-shot HTTP listener on 127.0.0.1 — never another interface (RFC 8252
/// §8.3) — for the browser's redirect. Each connection is read on its own
/// thread so that a connection that sends nothing cannot hold up the real
/// callback; requests whose head cannot be read get a 400 page without
/// reaching the flow. Dropping it stops listening.
///
/// ```no_run
/// use ssoflow_blocking::{CallbackListener, LoopbackListener};
///
/// let listener = LoopbackListener::bind(None)?; // an OS-chosen port
/// println!("redirect URI: http://127.0.0.1:{}/oauth/callback", listener.port());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LoopbackListener {
    port: u16,
    incoming: Receiver<Incoming>,
    pending_reply: Option<(SyncSender<Vec<u8>>, Receiver<()>)>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for LoopbackListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackListener")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl LoopbackListener {
    /// Listens on 127.0.0.1 at `port`, or at a port the OS chooses when
    /// `None` (a fixed port is for SSH port forwarding).
    pub fn bind(port: Option<u16>) -> io::Result<LoopbackListener> {
        let socket = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0))))?;
        let port = socket.local_addr()?.port();
        let (sender, incoming) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_accepting = Arc::clone(&stop);
        thread::Builder::new()
            .name("ssoflow-loopback".into())
            .spawn(move || accept(&socket, &sender, &stop_accepting))?;
        Ok(LoopbackListener {
            port,
            incoming,
            pending_reply: None,
            stop,
        })
    }
}

impl CallbackListener for LoopbackListener {
    fn port(&self) -> u16 {
        self.port
    }

    fn wait(&mut self, until: Instant) -> Option<String> {
        // A request still unanswered gets the generic page rather than hang.
        if let Some((reply, _)) = self.pending_reply.take() {
            let _ = reply.try_send(response(None));
        }
        let wait = until.saturating_duration_since(Instant::now());
        match self.incoming.recv_timeout(wait) {
            Ok(Incoming {
                target,
                reply,
                written,
            }) => {
                self.pending_reply = Some((reply, written));
                Some(target)
            }
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                // Disconnected: the accept thread died; the flow's own
                // deadline ends the wait, so sleep out the slice.
                thread::sleep(until.saturating_duration_since(Instant::now()));
                None
            }
        }
    }

    fn respond(&mut self, reply: &CallbackReply) {
        if let Some((sender, written)) = self.pending_reply.take()
            && sender.try_send(response(Some(reply))).is_ok()
        {
            let _ = written.recv_timeout(WRITE_WAIT);
        }
    }
}

impl Drop for LoopbackListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread, which is blocked in accept().
        let _ = TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            Duration::from_millis(200),
        );
    }
}

fn accept(socket: &TcpListener, sender: &Sender<Incoming>, stop: &AtomicBool) {
    let open = Arc::new(AtomicUsize::new(0));
    for stream in socket.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // Out of descriptors, most likely: do not spin.
            thread::sleep(Duration::from_millis(50));
            continue;
        };
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closed at once
        }
        open.fetch_add(1, Ordering::SeqCst);
        let sender = sender.clone();
        let open_now = Arc::clone(&open);
        let spawned = thread::Builder::new()
            .name("ssoflow-loopback-conn".into())
            .spawn(move || {
                serve(stream, &sender);
                open_now.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Reads one request head, hands its target to the flow, writes the verdict.
fn serve(mut stream: TcpStream, sender: &Sender<Incoming>) {
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    // The whole head within READ_TIMEOUT, not each read: a sender that
    // trickles a byte at a time cannot hold a connection slot for long.
    let deadline = Instant::now().checked_add(READ_TIMEOUT);
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head_complete(&head) && head.len() < MAX_HEAD_LEN {
        let left = deadline.map_or(READ_TIMEOUT, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    if head.is_empty() {
        return; // a speculative connection that never spoke
    }
    let mut done = None;
    let answer = match request_target(&head) {
        Some(target) if head_complete(&head) => {
            let (reply, verdict) = mpsc::sync_channel(1);
            let (written_tx, written) = mpsc::sync_channel(1);
            done = Some(written_tx);
            let incoming = Incoming {
                target: target.to_owned(),
                reply,
                written,
            };
            match sender.send(incoming) {
                Ok(()) => verdict
                    .recv_timeout(VERDICT_TIMEOUT)
                    .unwrap_or_else(|_| response(Some(&CallbackReply::NotWaiting))),
                Err(_) => response(Some(&CallbackReply::NotWaiting)),
            }
        }
        _ => response(None),
    };
    let _ = stream.write_all(&answer);
    let _ = stream.flush();
    if let Some(done) = done {
        let _ = done.try_send(());
    }
}
