//! The database taken away under a running instance and given back: the
//! instance says it is not ready, answers 503 problem+json at once instead
//! of hanging, and recovers without a restart. PostgreSQL is reached
//! through a TCP proxy the test cuts (the shared test cluster keeps
//! running for the other tests).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use portcullis_testkit::{AppOptions, Backend, postgres_url, spawn_app_opts};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use super::*;

/// A loopback TCP proxy to `upstream` that can be cut (listener closed,
/// every connection dropped) and opened again on the same port.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Self {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        let proxy = Proxy {
            port,
            upstream,
            tasks: Arc::default(),
        };
        proxy.open_on(socket);
        proxy
    }

    fn open(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .unwrap();
        self.open_on(socket);
    }

    fn open_on(&self, socket: TcpSocket) {
        let listener = socket.listen(64).unwrap();
        let (upstream, tasks) = (self.upstream, self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes the port and drops every connection through it.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_taken_away_gives_503_at_once_and_the_instance_recovers() {
    let Some(base) = postgres_url() else { return };
    let pg = url::Url::parse(&base).unwrap();
    let upstream = tokio::net::lookup_host((pg.host_str().unwrap(), pg.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream);
    let app = spawn_app_opts(
        Backend::Postgres,
        |_| {},
        AppOptions {
            postgres_port: Some(proxy.port),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap();
    let user = app.user("olga@example.com").await;
    assert_eq!(app.get("/health/ready", None).await.status, 200);

    proxy.cut();
    // Again and again, so that the pool's idle connections (dead now) are
    // used up and new ones are tried against the closed port.
    for n in 0..4 {
        let started = Instant::now();
        let ready = app.get("/health/ready", None).await;
        assert_eq!(ready.status, 503, "{}", ready.text);
        // A request that needs the database fails fast with a problem document.
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "olga@example.com", "password": "a perfectly fine passphrase"}),
            )
            .await;
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let waited = started.elapsed();
        eprintln!("PostgreSQL gone, try {n}: readiness and a login answered 503 in {waited:?}");
        assert!(
            waited < StdDuration::from_secs(10),
            "requests hung for {waited:?}"
        );
    }
    // What needs no database still works: a token is verified in memory.
    let me = app.get("/api/v1/auth/me", Some(&user.access_token)).await;
    assert_ne!(me.status, 500, "{}", me.text);

    proxy.open();
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while app.get("/health/ready", None).await.status != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "olga@example.com", "password": "a perfectly fine passphrase"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    drop(app);
    proxy.cut();
}
