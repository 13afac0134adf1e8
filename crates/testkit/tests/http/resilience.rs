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

/// An app on PostgreSQL reached through a [`Proxy`] the test can cut, with
/// `adjust`ed settings; `None` without PostgreSQL.
async fn behind_proxy(
    adjust: impl FnOnce(&mut portcullis_core::Settings),
) -> Option<(Proxy, TestApp)> {
    let base = postgres_url()?;
    let pg = url::Url::parse(&base).unwrap();
    let upstream = tokio::net::lookup_host((pg.host_str().unwrap(), pg.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(upstream);
    let app = spawn_app_opts(
        Backend::Postgres,
        adjust,
        AppOptions {
            postgres_port: Some(proxy.port),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap();
    Some((proxy, app))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_taken_away_gives_503_at_once_and_the_instance_recovers() {
    let Some((proxy, app)) = behind_proxy(|_| {}).await else {
        return;
    };
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

/// What one request of the load got.
#[derive(Debug, Clone)]
struct Outcome {
    /// When it started: 0 before the cut, 1 during it, 3 while the
    /// database was coming back, 2 after the instance was ready again.
    phase: u8,
    /// The phase its answer came in.
    ended: u8,
    kind: &'static str,
    /// 0 when no answer came (a hang past the client's timeout, a reset).
    status: u16,
    problem: bool,
    took: StdDuration,
    /// The body of an answer other than a success.
    detail: String,
    /// The account a registration created, when it was acknowledged.
    registered: Option<String>,
}

/// One worker of the load: registrations, logins, token reads and checks in
/// turn, until `stop`; each outcome tagged with the phase it started in.
async fn worker(
    n: usize,
    base: String,
    admin: String,
    phase: Arc<std::sync::atomic::AtomicU8>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<Outcome> {
    use std::sync::atomic::Ordering;
    let http = reqwest::Client::builder()
        .timeout(StdDuration::from_secs(15))
        .build()
        .unwrap();
    let mut out = Vec::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let started_in = phase.load(Ordering::Relaxed);
        let email = format!("load-{n}-{i}@example.com");
        let (kind, req) = match i % 4 {
            0 => (
                "register",
                http.post(format!("{base}/api/v1/auth/register")).json(
                    &json!({"email": email, "password": "a perfectly fine passphrase"}),
                ),
            ),
            1 => (
                "login",
                http.post(format!("{base}/api/v1/auth/login")).json(
                    &json!({"email": "olga@example.com", "password": "a perfectly fine passphrase"}),
                ),
            ),
            2 => (
                "me",
                http.get(format!("{base}/api/v1/auth/me")).bearer_auth(&admin),
            ),
            _ => (
                "check",
                http.post(format!("{base}/api/v1/authz/check"))
                    .bearer_auth(&admin)
                    .json(&json!({"action": "read", "resource": {"type": "documents"}})),
            ),
        };
        let started = Instant::now();
        let (status, problem, detail) = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let problem = r
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "application/problem+json");
                let detail = if status < 300 {
                    String::new()
                } else {
                    r.text().await.unwrap_or_default()
                };
                (status, problem, detail)
            }
            Err(e) => (0, false, e.to_string()),
        };
        out.push(Outcome {
            phase: started_in,
            ended: phase.load(Ordering::Relaxed),
            kind,
            status,
            problem,
            took: started.elapsed(),
            detail,
            registered: (kind == "register" && status == 201).then_some(email),
        });
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_taken_away_under_load_fails_fast_loses_nothing_and_recovers() {
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    // The load comes from one address: the edge's quotas stay out of it.
    let Some((proxy, app)) = behind_proxy(|s| s.rate_limits.enabled = false).await else {
        return;
    };
    app.user("olga@example.com").await;
    let admin = app.admin_token().await;

    let phase = Arc::new(AtomicU8::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|n| {
            tokio::spawn(worker(
                n,
                app.base.clone(),
                admin.clone(),
                phase.clone(),
                stop.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(StdDuration::from_secs(2)).await;
    phase.store(1, Ordering::Relaxed);
    proxy.cut();
    let cut_at = Instant::now();
    let mut unready_after = None;
    while cut_at.elapsed() < StdDuration::from_secs(6) {
        if unready_after.is_none() && app.get("/health/ready", None).await.status == 503 {
            unready_after = Some(cut_at.elapsed());
        }
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let unready_after = unready_after.expect("readiness never turned false");

    // Back: the load goes on, readiness returns without a restart.
    phase.store(3, Ordering::Relaxed); // between: outcomes of the return are not judged
    proxy.open();
    let back_at = Instant::now();
    while app.get("/health/ready", None).await.status != 200 {
        assert!(
            back_at.elapsed() < StdDuration::from_secs(20),
            "never ready again"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let ready_after = back_at.elapsed();
    let outage = cut_at.elapsed();
    phase.store(2, Ordering::Relaxed);
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.unwrap());
    }

    // Judged by phase: requests wholly before the cut, those that overlapped
    // it (started or answered during it), and those started once ready again.
    let of = |p: u8| {
        outcomes.iter().filter(move |o| match p {
            0 => o.phase == 0 && o.ended == 0,
            1 => o.phase == 1 || (o.phase == 0 && o.ended != 0),
            _ => o.phase == p,
        })
    };
    let count = |p: u8| of(p).count();
    eprintln!(
        "load: {} requests before the cut, {} during it, {} after; not ready {:?} after the \
         cut, ready {:?} after the return",
        count(0),
        count(1),
        count(2),
        unready_after,
        ready_after
    );
    for o in of(0).chain(of(2)) {
        assert!(
            (200..300).contains(&o.status),
            "with the database up every request succeeds: {o:?} ({})",
            o.detail
        );
    }
    assert!(
        count(0) > 0 && count(2) > 0,
        "the load ran before and after"
    );
    let during: Vec<&Outcome> = of(1).collect();
    assert!(
        during.iter().any(|o| o.status == 503),
        "requests needing the database were refused"
    );
    for o in &during {
        assert!(
            (200..300).contains(&o.status) || (o.status == 503 && o.problem),
            "during the outage: success or 503 problem+json, never a 500 or a hang: {o:?} ({})",
            o.detail
        );
        // A refusal comes within the pool's 3-second bound; a request that
        // waited for its reads instead is answered once the database is
        // back, so no request outlives the outage by more than that bound.
        if o.status == 503 {
            assert!(
                o.took < StdDuration::from_secs(4),
                "refused fast (3 s bound): {o:?}"
            );
        }
        assert!(
            o.took < outage + StdDuration::from_secs(4),
            "no request hangs past the outage: {o:?}"
        );
    }
    let slowest = during.iter().map(|o| o.took).max().unwrap_or_default();
    let slowest_refusal = during
        .iter()
        .filter(|o| o.status == 503)
        .map(|o| o.took)
        .max()
        .unwrap_or_default();
    let served: Vec<&str> = during
        .iter()
        .filter(|o| o.status < 300)
        .map(|o| o.kind)
        .collect();
    eprintln!(
        "during the cut: {} answers, slowest refusal {slowest_refusal:?}, slowest answer \
         {slowest:?} (outage {outage:?}), served without the database: {} ({:?})",
        during.len(),
        served.len(),
        served
            .iter()
            .fold(std::collections::BTreeMap::new(), |mut m, k| {
                *m.entry(*k).or_insert(0) += 1;
                m
            })
    );

    // Every acknowledged registration is there after the outage.
    let registered: Vec<&String> = outcomes
        .iter()
        .filter_map(|o| o.registered.as_ref())
        .collect();
    assert!(!registered.is_empty());
    for email in registered
        .iter()
        .step_by(registered.len().div_ceil(10).max(1))
    {
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": "a perfectly fine passphrase"}),
            )
            .await;
        assert_eq!(r.status, 200, "{email} was acknowledged: {}", r.text);
    }
    drop(app);
    proxy.cut();
}
