//! Serving HTTP on one single-threaded runtime per core.
//!
//! Tokio's multi-threaded scheduler lets any worker thread run any
//! connection's task: readiness found by one thread wakes a task queued on
//! another, and tasks are stolen between threads. For requests that take a
//! few microseconds of work, those cross-core wake-ups and hand-offs are a
//! noticeable share of the cost (docs/benchmarks.md: about an eighth more
//! tokens and a sixth more introspections per second without them). Here
//! the accept loop hands each new connection, in turn, to one of N worker
//! threads, each running a current-thread runtime that keeps the connection
//! for its whole life; nothing migrates.
//!
//! Everything else (the domain, the store's pools, background jobs) is
//! shared as before: the domain is `Send + Sync`, and CPU-heavy work
//! (password hashing, key generation, policy compilation) already goes to
//! the blocking pool, so it never holds up a worker's other connections.
//! Graceful shutdown stops accepting, asks every connection to finish its
//! request in flight, and waits for them.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tower::ServiceExt as _;

/// A connection on its way to a worker.
type Handoff = (std::net::TcpStream, SocketAddr);

/// How many workers serve HTTP: one per core the process may use.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Serves `router` on `listener` with `workers` single-threaded runtimes
/// until `shutdown` completes, then waits for the connections to finish.
/// Must be called within a Tokio runtime (the accept loop runs there).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut senders = Vec::new();
    let mut threads = Vec::new();
    for n in 0..workers.max(1) {
        let (tx, rx) = mpsc::unbounded_channel::<Handoff>();
        senders.push(tx);
        threads.push(spawn_worker(n, rx, router.clone(), stop_rx.clone())?);
    }
    let mut shutdown = std::pin::pin!(shutdown);
    let mut next = 0;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (tcp, peer) = match accepted {
            Ok(ok) => ok,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::error!(error = %e, "could not accept a connection");
                portcullis_core::clock::wait(Duration::from_secs(1)).await;
                continue;
            }
        };
        // Answers leave at once rather than wait for the client's ACK of
        // the previous segment (Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(tcp) = tcp.into_std() else { continue };
        let Some(sender) = senders.get(next) else {
            break;
        };
        if sender.send((tcp, peer)).is_err() {
            anyhow::bail!("HTTP worker {next} has stopped");
        }
        next = (next + 1) % senders.len();
    }
    // Closed now, not when the connections are done: a client connecting
    // meanwhile is refused (and tries another instance) instead of waiting
    // in the backlog for an accept that never comes.
    drop(listener);
    drop(senders);
    let _ = stop_tx.send(true);
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("an HTTP worker panicked");
            }
        }
    })
    .await
    .context("waiting for the HTTP workers")?;
    Ok(())
}

/// Starts worker `n`: a thread with its own current-thread runtime serving
/// the connections it is handed until the hand-offs end, then waiting for
/// its connections to finish.
fn spawn_worker(
    n: usize,
    mut connections: mpsc::UnboundedReceiver<Handoff>,
    router: Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting an HTTP worker's runtime")?;
    std::thread::Builder::new()
        .name(format!("portcullis-http-{n}"))
        .spawn(move || {
            runtime.block_on(async move {
                // Keeps a timer armed. Each request's timeout registers one;
                // when the runtime parked with none pending, registering it
                // wakes the runtime through its eventfd (a system call and a
                // spurious wake-up per request). With this timer always due
                // sooner than any request's deadline, it never does.
                let ticker = tokio::spawn(async {
                    let mut tick = tokio::time::interval(Duration::from_secs(1));
                    loop {
                        tick.tick().await;
                    }
                });
                let mut live = JoinSet::new();
                loop {
                    tokio::select! {
                        handoff = connections.recv() => match handoff {
                            Some((tcp, peer)) => {
                                let (router, stop) = (router.clone(), stop.clone());
                                live.spawn(connection(tcp, peer, router, stop));
                            }
                            None => break,
                        },
                        Some(_) = live.join_next(), if !live.is_empty() => {}
                    }
                }
                while live.join_next().await.is_some() {}
                ticker.abort();
            });
        })
        .context("starting an HTTP worker's thread")
}

/// Serves one connection (HTTP/1.1, or HTTP/2 with prior knowledge) until
/// it closes, or until shutdown once its request in flight is answered.
async fn connection(
    tcp: std::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let tcp = match TcpStream::from_std(tcp) {
        Ok(tcp) => tcp,
        Err(e) => {
            tracing::debug!(error = %e, "could not adopt a connection");
            return;
        }
    };
    let service = router.map_request(move |mut req: axum::http::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    });
    let service = TowerToHyperService::new(service.map_err(|e: Infallible| match e {}));
    let builder = Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
    let mut conn = std::pin::pin!(conn);
    if *stop.borrow() {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed() => {
                conn.as_mut().graceful_shutdown();
                if changed.is_err() {
                    // The sender is gone: nothing more to wait for.
                    let _ = conn.as_mut().await;
                    return;
                }
            }
        }
    }
}

/// Errors of one connection, not of the listener: the next accept works.
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // A slow handler and a pause, in real time.
mod tests {
    use std::net::Ipv4Addr;

    use axum::routing::get;

    use super::*;

    /// Every worker serves; the peer address reaches the handlers; shutdown
    /// lets the request in flight finish and stops the workers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_on_every_worker_and_shuts_down_gracefully() {
        let router = Router::new()
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    format!("{}|{:?}", peer.ip(), std::thread::current().name())
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            );
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, 2, async {
            let _ = stopped.await;
        }));
        // Four connections: two per worker, in turn.
        let mut threads = std::collections::HashSet::new();
        for _ in 0..4 {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let body = client
                .get(format!("http://{addr}/peer"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let (ip, thread) = body.split_once('|').unwrap();
            assert_eq!(ip, "127.0.0.1");
            threads.insert(thread.to_owned());
        }
        assert_eq!(threads.len(), 2, "{threads:?}");
        assert!(threads.iter().all(|t| t.contains("portcullis-http-")));
        // A request in flight when shutdown starts is still answered.
        let slow = tokio::spawn(async move {
            reqwest::get(format!("http://{addr}/slow"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.send(()).unwrap();
        assert_eq!(slow.await.unwrap(), "done");
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
        // And no longer accepts.
        assert!(reqwest::get(format!("http://{addr}/peer")).await.is_err());
    }
}
