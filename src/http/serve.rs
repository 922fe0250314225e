//! The accept loop: each connection gets `TCP_NODELAY` and a header read timeout, requests get
//! the client's address, and a shutdown lets in-flight requests finish within a grace period.

use std::future::Future;

use tokio::net::TcpListener;

use crate::http::state::AppState;

/// Serves `state` on `listener` until `shutdown` resolves, then gives in-flight requests the
/// configured grace period. Each connection gets `TCP_NODELAY` (streamed responses are not held
/// back by Nagle's algorithm on kept-alive connections) and a header read timeout (a client that
/// trickles its headers is cut off); request bodies have an idle timeout (see `router`).
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use futures_util::FutureExt;
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::server::graceful::GracefulShutdown;
    use tower::ServiceExt;

    let core = state.core.clone();
    let tasks = state.tasks.clone();
    let children = state.children.clone();
    strata_core::background::start(&state.core).await;
    state.pushes.listening(listener.local_addr()?);
    tracing::info!(addr = %listener.local_addr()?, public_url = %state.settings.public_url, "strata listening");
    let grace = state.settings.shutdown_grace;
    let drain_delay = state.settings.drain_delay;
    let draining = state.clone();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(state.settings.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let app = super::app(state);
    let graceful = GracefulShutdown::new();
    let serve = |tcp: tokio::net::TcpStream, addr: std::net::SocketAddr| {
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(addr));
                app.clone().oneshot(req)
            },
        );
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            let _ = conn.await;
        });
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, addr)) => serve(tcp, addr),
                Err(e) => {
                    // Out of file descriptors, say: wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    // Not ready from now on. With a drain delay, connections are still taken meanwhile, so a
    // load balancer that has not yet seen /readyz fail loses nothing.
    draining
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    tracing::info!(?drain_delay, ?grace, "shutting down: not ready any more");
    let deadline = tokio::time::sleep(drain_delay);
    tokio::pin!(deadline);
    while !drain_delay.is_zero() {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((tcp, addr)) = accepted {
                    serve(tcp, addr);
                }
            }
            () = &mut deadline => break,
        }
    }
    // Connections the kernel completed but nobody accepted yet would be reset when the listener
    // closes, after their client (a load balancer) sent its request: take them first.
    while let Some(Ok((tcp, addr))) = listener.accept().now_or_never() {
        serve(tcp, addr);
    }
    drop(listener);
    // A connection accepted a moment ago counts as idle until its request arrives, and a
    // graceful shutdown closes idle connections: give those requests a moment to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(250).min(grace)).await;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; dropping open connections"),
    }
    // SQL queries still running (their clients' connections are gone or going) stop now.
    core.sql.stop();
    if !tasks.shutdown(grace).await {
        tracing::warn!("background tasks did not stop within the grace period");
    }
    // Child processes of requests still running, and of tasks that did not stop, go now.
    let killed = children.shut();
    if killed > 0 {
        tracing::warn!(groups = killed, "killed child processes still running");
    }
    core.close().await;
    Ok(())
}
