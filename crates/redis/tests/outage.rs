//! Redis stopped and started again under a running instance: while it is
//! gone the limiters count per instance and single-use values are refused
//! (the documented fallbacks), and once it is back the shared state is
//! used again without a restart. The test runs a `redis-server` of its own
//! (the one `cargo xtask test` installs), since it must kill it; skipped
//! when there is none, unless `TEST_REQUIRE_REDIS=1`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use portcullis_core::edge::{Dimension, Group, LimitKey, Quota, Subject};
use portcullis_core::ports::EdgeState;
use portcullis_redis::{Redis, RedisEdgeState};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` on `port`, answering; `None` when there is none.
fn start(port: u16, dir: &std::path::Path) -> Option<Server> {
    let child = Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(_) if std::env::var("TEST_REQUIRE_REDIS").as_deref() != Ok("1") => {
            eprintln!("notice: no redis-server on PATH; skipping this Redis test");
            return None;
        }
        Err(e) => panic!("TEST_REQUIRE_REDIS=1 but redis-server cannot start: {e}"),
    };
    let server = Server(child);
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(StdDuration::from_millis(20));
    }
    Some(server)
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::days(20_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_lives_through_a_redis_outage_and_shares_again_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let Some(server) = start(port, dir.path()) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/");
    let a = RedisEdgeState::new(Redis::open(&url).unwrap());
    let b = RedisEdgeState::new(Redis::open(&url).unwrap());
    let realm = Uuid::now_v7();
    let limit = |n| {
        [(
            LimitKey {
                realm_id: realm,
                group: Group::Login,
                dimension: Dimension::Address,
                subject: Subject::ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))),
            },
            Quota {
                limit: 2,
                window_seconds: 60,
            },
        )]
    };
    // Shared: one quota of two over both instances.
    assert!(a.take(&limit(1), t0()).await.is_ok());
    assert!(b.take(&limit(1), t0()).await.is_ok());
    assert!(a.take(&limit(1), t0()).await.is_err());

    drop(server);
    // Each instance limits on its own; nonces are refused.
    assert!(a.take(&limit(2), t0()).await.is_ok());
    assert!(a.take(&limit(2), t0()).await.is_ok());
    assert!(a.take(&limit(2), t0()).await.is_err());
    assert!(b.take(&limit(2), t0()).await.is_ok());
    let until = t0() + Duration::minutes(5);
    assert!(!a.first_use("hmac:k:during", until, t0()).await);

    // Back (empty: it saved nothing): shared again, without a restart.
    let _server = start(port, dir.path()).unwrap();
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while !a.first_use("hmac:k:after", until, t0()).await {
        assert!(Instant::now() < deadline, "never reconnected");
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    assert!(!b.first_use("hmac:k:after", until, t0()).await);
    assert!(b.take(&limit(3), t0()).await.is_ok());
    assert!(a.take(&limit(3), t0()).await.is_ok());
    assert!(b.take(&limit(3), t0()).await.is_err());
}
