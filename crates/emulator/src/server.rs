//! The accept loop and the router. hyper is driven directly rather than
//! through `axum::serve` for two things axum does not offer: a handler can ask
//! for its connection to be dropped without any answer (the
//! `DropConnection` fault), and connections are served with TCP_NODELAY and a
//! header-read timeout. With TLS, each accepted stream goes through a rustls
//! handshake first; a client that fails it loses that connection only.
//!
//! Every request is logged here as one `tracing` event at info level, once
//! its answer is ready: the request id the answer carries
//! (`x-amzn-RequestId`; pages and the admin API have none, shown as `-`),
//! method, path without the query (which can hold user codes and `state`),
//! status, latency and the peer. Headers and bodies, which hold the tokens,
//! codes and secrets, are never logged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::{ADMIN_PREFIX, AUTHORIZE_PATH, Shared, VERIFICATION_PATH, admin, api, page};

/// A client that sends no complete request head within this time is
/// disconnected, so a stalled or malicious client cannot hold a connection.
/// A TLS handshake gets the same time.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long requests in flight may take to finish once a stop was asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A response extension by which a handler asks for its connection to be
/// closed without sending that response.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

/// The error the connection's service returns to make hyper close the
/// connection without writing anything.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (injected fault)")]
struct DroppedOnPurpose;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let decide = format!("{VERIFICATION_PATH}/decide");
    let decide_authorization = format!("{AUTHORIZE_PATH}/decide");
    Router::new()
        .route(VERIFICATION_PATH, get(page::enter_code).post(page::review))
        .route(&decide, post(page::decide))
        .route(AUTHORIZE_PATH, get(page::authorize))
        .route(&decide_authorization, post(page::decide_authorization))
        .nest(ADMIN_PREFIX, admin::router())
        .fallback(api::operation)
        .with_state(shared)
}

/// Serves connections, over TLS when `tls` is given, until `shutdown` turns
/// true (or its sender is dropped), then gives requests in flight
/// [`SHUTDOWN_GRACE`] to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut failing = false;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    failing = false;
                    connections.spawn(accept_connection(
                        stream,
                        peer,
                        tls.clone(),
                        router.clone(),
                        shutdown.clone(),
                    ));
                }
                // Out of file descriptors and the like: say so once, then
                // wait instead of spinning; clients queue in the backlog.
                Err(error) => {
                    if !failing {
                        eprintln!("ssoflow-emulator: cannot accept connections: {error}");
                        failing = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = stop_requested(&mut shutdown) => break,
        }
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        connections.abort_all();
    }
}

async fn stop_requested(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which is a stop too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// One accepted connection: the TLS handshake if any, then HTTP.
async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every AWS client keeps one connection for a whole flow; without this a
    // small response can wait for the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let Some(acceptor) = tls else {
        return serve_connection(stream, peer, router, shutdown).await;
    };
    let handshake = tokio::time::timeout(HEADER_READ_TIMEOUT, acceptor.accept(stream));
    let stream = tokio::select! {
        finished = handshake => match finished {
            Ok(Ok(stream)) => stream,
            // A client that does not trust the certificate, speaks plain
            // HTTP to the HTTPS port, or probes the port: its business, not
            // the emulator's, so it is logged for debugging only.
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed; connection closed");
                return;
            }
            Err(_) => {
                let seconds = HEADER_READ_TIMEOUT.as_secs();
                tracing::debug!(%peer, "no TLS handshake within {seconds} s; connection closed");
                return;
            }
        },
        _ = stop_requested(&mut shutdown) => return,
    };
    serve_connection(stream, peer, router, shutdown).await;
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let started = Instant::now();
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let dropped = response.extensions().get::<DropConnection>().is_some();
            log_request(&method, &path, &response, dropped, started, peer);
            if dropped {
                return Err(DroppedOnPurpose);
            }
            Ok(response)
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let ended = tokio::select! {
        ended = connection.as_mut() => ended,
        _ = stop_requested(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = ended {
        // A header timeout, a client gone mid-request, an injected drop.
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// The one event per request (see the module's doc for what it holds and
/// what it never does).
fn log_request(
    method: &http::Method,
    path: &str,
    response: &axum::response::Response,
    dropped: bool,
    started: Instant,
    peer: SocketAddr,
) {
    let request_id = response
        .headers()
        .get("x-amzn-requestid")
        .and_then(|id| id.to_str().ok())
        .unwrap_or("-");
    // An injected drop has a placeholder response that is never sent.
    let status: &dyn std::fmt::Display = if dropped {
        &"dropped"
    } else {
        &response.status().as_u16()
    };
    tracing::info!(
        %request_id,
        %method,
        %path,
        status = %status,
        latency_ms = %format_args!("{:.3}", started.elapsed().as_secs_f64() * 1e3),
        %peer,
        "request"
    );
}
