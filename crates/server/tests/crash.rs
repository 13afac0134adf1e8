//! `kill -9` of the server in the middle of a write load (registrations,
//! logins and refresh-token rotations from several clients), on SQLite and
//! on PostgreSQL: after a restart on the same database, every write the
//! server acknowledged is there (each account signs in; each client's last
//! acknowledged refresh token, and only it, still works, unless a rotation
//! of it was in flight at the crash, whose outcome the client never
//! learnt), and the integrity checks pass (SQLite's `PRAGMA
//! integrity_check`, PostgreSQL's `amcheck` on every table and index).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::disallowed_methods)] // Real time: a load, then a crash.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const PASSWORD: &str = "a perfectly fine passphrase";
const CLIENTS: usize = 6;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The server on `database_url`, ready.
async fn start(data: &Path, database_url: &str, port: u16) -> Running {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") {
            c.env_remove(k);
        }
    }
    c.env("PORTCULLIS_DATA_DIR", data)
        .env("PORTCULLIS_DATABASE_URL", database_url)
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env(
            "PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD",
            "operator chosen secret",
        )
        .env("PORTCULLIS_ARGON2_MEMORY_KIB", "1024")
        .env("PORTCULLIS_ARGON2_ITERATIONS", "1")
        // The load comes from one address: the limiters are not under test.
        .env("PORTCULLIS_RATE_LIMITS", "off")
        .env("PORTCULLIS_LOG_LEVEL", "error")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let server = Running(c.spawn().unwrap());
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(client: &reqwest::Client, base: &str, path: &str, body: Value) -> Option<Value> {
    let r = client
        .post(format!("{base}{path}"))
        .json(&body)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// What one client got acknowledged: its accounts, and its last refresh
/// token with the one it replaced.
#[derive(Default, Debug)]
struct Acked {
    accounts: Vec<String>,
    refresh: Option<(String, Option<String>)>,
    /// A rotation of the last token was sent and not answered: it may have
    /// been committed before the crash (then the last token is spent).
    rotating: bool,
}

/// Registers accounts and rotates refresh tokens until `stop`.
async fn load(base: String, n: usize, stop: Arc<AtomicBool>) -> Acked {
    let client = reqwest::Client::new();
    let mut acked = Acked::default();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let email = format!("c{n}-{i}@example.com");
        let body = json!({"email": email, "password": PASSWORD});
        if post(&client, &base, "/api/v1/auth/register", body.clone())
            .await
            .is_none()
        {
            break;
        }
        acked.accounts.push(email);
        let Some(tokens) = post(&client, &base, "/api/v1/auth/login", body).await else {
            break;
        };
        let mut current = tokens["refresh_token"].as_str().unwrap().to_owned();
        acked.refresh = Some((current.clone(), None));
        for _ in 0..3 {
            acked.rotating = true;
            let Some(next) = post(
                &client,
                &base,
                "/api/v1/auth/refresh",
                json!({ "refresh_token": current }),
            )
            .await
            else {
                return acked;
            };
            acked.rotating = false;
            let next = next["refresh_token"].as_str().unwrap().to_owned();
            acked.refresh = Some((next.clone(), Some(current)));
            current = next;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    acked
}

async fn crash_and_check(database_url: &str, data: &Path) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(data, database_url, port).await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| tokio::spawn(load(base.clone(), n, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // SIGKILL in the middle of the writes.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acked = Vec::new();
    for c in clients {
        acked.push(c.await.unwrap());
    }
    let accounts: usize = acked.iter().map(|a| a.accounts.len()).sum();
    assert!(accounts >= CLIENTS, "the load wrote little: {acked:?}");

    let _server = start(data, database_url, port).await;
    let client = reqwest::Client::new();
    for a in &acked {
        for email in &a.accounts {
            let r = post(
                &client,
                &base,
                "/api/v1/auth/login",
                json!({"email": email, "password": PASSWORD}),
            )
            .await;
            assert!(r.is_some(), "{email} was acknowledged but cannot sign in");
        }
        if let Some((last, replaced)) = a.refresh.as_ref().filter(|_| !a.rotating) {
            // The token it replaced is spent: replaying it would revoke the
            // family, so it is tried after the newest.
            let r = post(
                &client,
                &base,
                "/api/v1/auth/refresh",
                json!({ "refresh_token": last }),
            )
            .await;
            assert!(r.is_some(), "an acknowledged refresh token was lost");
            if let Some(old) = replaced {
                let r = post(
                    &client,
                    &base,
                    "/api/v1/auth/refresh",
                    json!({ "refresh_token": old }),
                )
                .await;
                assert!(r.is_none(), "a rotated refresh token came back");
            }
        }
    }
    // Clients rest between rounds, so most are settled at the crash (all
    // of them being mid-rotation is possible, and then nothing is left to
    // check of refresh tokens this time).
    let checked = acked
        .iter()
        .filter(|a| a.refresh.is_some() && !a.rotating)
        .count();
    eprintln!(
        "after kill -9: {accounts} acknowledged accounts all there, {checked} last refresh tokens work"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("portcullis.db");
    let url = format!("sqlite://{}", db.display());
    crash_and_check(&url, dir.path()).await;
    let integrity = portcullis_store::testing::sqlite_integrity_check(&url)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_on_postgres() {
    let Ok(base) = std::env::var("TEST_POSTGRES_URL") else {
        if std::env::var("TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("TEST_REQUIRE_POSTGRES=1 but TEST_POSTGRES_URL is not set");
        }
        return;
    };
    let url = portcullis_store::testing::fresh_postgres_database(&base)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    crash_and_check(&url, dir.path()).await;
    let checked = portcullis_store::testing::postgres_integrity_check(&url)
        .await
        .unwrap();
    assert!(checked > 10, "amcheck looked at {checked} relations");
}
