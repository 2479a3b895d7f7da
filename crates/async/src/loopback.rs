//! The loopback listener of the authorization-code flow on tokio (feature
//! `tokio-reqwest`): where the browser comes back with the code.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ssoflow_core::CallbackReply;
use ssoflow_core::loopback::{MAX_HEAD_LEN, head_complete, request_target, response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::AsyncCallbackListener;

/// How long one connection may take to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection waits for the flow's verdict.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 16;

struct Incoming {
    target: String,
    reply: oneshot::Sender<Vec<u8>>,
    /// Completes once the answer is written.
    written: oneshot::Receiver<()>,
}

/// How long `respond` waits for the page to be written.
const WRITE_WAIT: Duration = Duration::from_secs(2);

/// A one-shot HTTP listener on 127.0.0.1 only (RFC 8252 §8.3), on tokio: the
/// async twin of the blocking driver's listener, answering with the same
/// pages (`ssoflow_core::loopback`). Each connection is its own task; a
/// request whose head cannot be read gets a 400 page without reaching the
/// flow. Dropping it stops listening.
pub struct TokioLoopbackListener {
    port: u16,
    incoming: mpsc::Receiver<Incoming>,
    pending_reply: Option<(oneshot::Sender<Vec<u8>>, oneshot::Receiver<()>)>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for TokioLoopbackListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioLoopbackListener")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl TokioLoopbackListener {
    /// Listens on 127.0.0.1 at `port`, or at a port the OS chooses when
    /// `None`. Must be called within a tokio runtime.
    pub async fn bind(port: Option<u16>) -> io::Result<TokioLoopbackListener> {
        let socket =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port.unwrap_or(0)))).await?;
        let port = socket.local_addr()?.port();
        let (sender, incoming) = mpsc::channel(MAX_CONNECTIONS);
        let accept = tokio::spawn(accept(socket, sender));
        Ok(TokioLoopbackListener {
            port,
            incoming,
            pending_reply: None,
            accept,
        })
    }
}

impl Drop for TokioLoopbackListener {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl AsyncCallbackListener for TokioLoopbackListener {
    fn port(&self) -> u16 {
        self.port
    }

    fn wait(&mut self, until: Instant) -> impl Future<Output = Option<String>> + Send {
        if let Some((reply, _)) = self.pending_reply.take() {
            let _ = reply.send(response(None));
        }
        async move {
            let deadline = tokio::time::Instant::from_std(until);
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(Incoming {
                    target,
                    reply,
                    written,
                })) => {
                    self.pending_reply = Some((reply, written));
                    Some(target)
                }
                Ok(None) => {
                    tokio::time::sleep_until(deadline).await;
                    None
                }
                Err(_) => None,
            }
        }
    }

    fn respond(&mut self, reply: &CallbackReply) -> impl Future<Output = ()> + Send {
        let written = match self.pending_reply.take() {
            Some((sender, written)) => sender.send(response(Some(reply))).ok().map(|()| written),
            None => None,
        };
        async move {
            if let Some(written) = written {
                let _ = tokio::time::timeout(WRITE_WAIT, written).await;
            }
        }
    }
}

async fn accept(socket: TcpListener, sender: mpsc::Sender<Incoming>) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((stream, _)) = socket.accept().await else {
            // Out of descriptors, most likely: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            continue; // dropped: closed at once
        };
        let sender = sender.clone();
        tokio::spawn(async move {
            serve(stream, &sender).await;
            drop(permit);
        });
    }
}

/// Reads one request head, hands its target to the flow, writes the verdict.
async fn serve(mut stream: TcpStream, sender: &mpsc::Sender<Incoming>) {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read_head = async {
        while !head_complete(&head) && head.len() < MAX_HEAD_LEN {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            }
        }
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, read_head).await;
    if head.is_empty() {
        return;
    }
    let mut done = None;
    let answer = match request_target(&head) {
        Some(target) if head_complete(&head) => {
            let (reply, verdict) = oneshot::channel();
            let (written_tx, written) = oneshot::channel();
            done = Some(written_tx);
            let incoming = Incoming {
                target: target.to_owned(),
                reply,
                written,
            };
            let not_waiting = || response(Some(&CallbackReply::NotWaiting));
            match sender.send(incoming).await {
                Ok(()) => match tokio::time::timeout(VERDICT_TIMEOUT, verdict).await {
                    Ok(Ok(bytes)) => bytes,
                    _ => not_waiting(),
                },
                Err(_) => not_waiting(),
            }
        }
        _ => response(None),
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, stream.write_all(&answer)).await;
    let _ = stream.shutdown().await;
    if let Some(done) = done {
        let _ = done.send(());
    }
}
