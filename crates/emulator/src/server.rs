//! The accept loop and the router. hyper is driven directly rather than
//! through `axum::serve` for two things axum does not offer: a handler can ask
//! for its connection to be dropped without any answer (the
//! `DropConnection` fault), and connections are served with TCP_NODELAY and a
//! header-read timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::{ADMIN_PREFIX, AUTHORIZE_PATH, Shared, VERIFICATION_PATH, admin, api, page};

/// A client that sends no complete request head within this time is
/// disconnected, so a stalled or malicious client cannot hold a connection.
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

/// Serves connections until `shutdown` turns true (or its sender is dropped),
/// then gives requests in flight [`SHUTDOWN_GRACE`] to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let mut failing = false;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    failing = false;
                    connections.spawn(serve_connection(stream, peer, router.clone(), shutdown.clone()));
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

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every AWS client keeps one connection for a whole flow; without this a
    // small response can wait for the client's delayed ACK.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let response = match router.oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            if response.extensions().get::<DropConnection>().is_some() {
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
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stop_requested(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}
