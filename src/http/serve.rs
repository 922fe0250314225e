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

    let db = state.db.clone();
    let tasks = state.tasks.clone();
    let children = state.children.clone();
    // Expired sessions, codes, tokens and old login failures go once an hour.
    // So do the parts of multipart uploads nobody touched for a while, and never while the part
    // URLs handed out for them may still be in use.
    tasks.every("purge", std::time::Duration::from_secs(3600), {
        let (db, storage) = (db.clone(), state.storage.clone());
        let urls_live = state.settings.action_ttl
            + std::time::Duration::from_secs(strata_core::storage::SIGNATURE_GRACE_SECS as u64);
        let idle = state.settings.multipart_idle.max(urls_live);
        move || {
            let (db, storage) = (db.clone(), storage.clone());
            async move {
                // With several replicas, one of them purges at a time.
                let led = db
                    .as_leader("purge", async {
                        purge(&db, &storage, idle).await;
                    })
                    .await;
                if let Ok(None) = led {
                    tracing::debug!("another replica is purging");
                }
            }
        }
    });
    // Pushes run no `git gc --auto` (it would detach from its request, and replicas sharing the
    // repositories would collect at once): one replica at a time does it every six hours.
    tasks.every(
        "git maintenance",
        std::time::Duration::from_secs(6 * 3600),
        {
            let state = state.clone();
            move || {
                let state = state.clone();
                async move {
                    let _ = state
                        .db
                        .as_leader("git-maintenance", maintain(&state))
                        .await;
                }
            }
        },
    );
    // App instances: idle ones culled, tokens renewed, all stopped at shutdown.
    strata_core::apps::launch::background(&state.core);
    // A store that was plain before `--encryption on` is sealed in the background, resumably.
    if state.storage.unsealed_left().await {
        let storage = state.storage.clone();
        tasks.spawn("seal", move |stop| async move {
            tracing::info!("sealing the objects stored before encryption was on");
            let (mut after, mut total) = (String::new(), 0);
            while !stop.is_cancelled() {
                match storage.seal_existing(&after, 100).await {
                    Ok((next, made)) => {
                        total += made;
                        match next {
                            Some(next) => after = next,
                            None => {
                                tracing::info!(copies = total, "every stored object is sealed");
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e.message, "sealing stopped; it goes on at the next start");
                        break;
                    }
                }
            }
        });
    }
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
        .http()
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
    if !tasks.shutdown(grace).await {
        tracing::warn!("background tasks did not stop within the grace period");
    }
    // Child processes of requests still running, and of tasks that did not stop, go now.
    let killed = children.shut();
    if killed > 0 {
        tracing::warn!(groups = killed, "killed child processes still running");
    }
    db.close().await;
    Ok(())
}

/// The hourly purge: expired rows, and multipart uploads idle for `idle`.
async fn purge(
    db: &strata_core::db::Db,
    storage: &strata_core::storage::Storage,
    idle: std::time::Duration,
) {
    match db.purge_expired().await {
        Ok(n) if n > 0 => tracing::info!(rows = n, "purged expired rows"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
    }
    match storage.purge_multipart(idle).await {
        Ok(n) if n > 0 => tracing::info!(uploads = n, "purged abandoned multipart uploads"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e.message, "purging multipart uploads failed"),
    }
}

/// `git gc --auto` in every dataset's repository (`{root}/{ns}/{name}.git`), one at a time and
/// in the foreground (so the leader lock covers it), each first brought up to the ledger (with
/// `--refs sql`) so no object a ref of the ledger needs looks unreachable. It stops when the
/// server does.
async fn maintain(state: &AppState) {
    let Ok(namespaces) = std::fs::read_dir(state.metastore.root()) else {
        return;
    };
    for ns in namespaces.flatten() {
        let Ok(repos) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        for repo in repos.flatten() {
            if state
                .http()
                .draining
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                return;
            }
            let file = repo.file_name().to_string_lossy().into_owned();
            let Some(name) = file.strip_suffix(".git").map(str::to_owned) else {
                continue;
            };
            let ns_name = ns.file_name().to_string_lossy().into_owned();
            let synced = strata_core::datasets::git(state, move |ms| {
                ms.open(strata_metastore::DatasetId {
                    ns: &ns_name,
                    name: &name,
                })
                .map(|_| ())
            })
            .await;
            if synced.is_err() {
                continue;
            }
            let mut gc = tokio::process::Command::new("git");
            gc.arg("-C").arg(repo.path()).args([
                "-c",
                "gc.autoDetach=false",
                "gc",
                "--auto",
                "--quiet",
            ]);
            // In a group of its own, killed at shutdown: a collection cut short is harmless.
            let done = match state.children.spawn(&mut gc) {
                Ok(mut group) => group.wait().await,
                Err(e) => Err(e),
            };
            if !done.is_ok_and(|s| s.success()) {
                tracing::warn!(repo = %repo.path().display(), "git gc --auto failed");
            }
        }
    }
}
