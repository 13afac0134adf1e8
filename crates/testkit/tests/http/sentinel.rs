//! Redis behind Sentinel (`redis+sentinel://`): two instances find the
//! primary through a sentinel, and follow it through a failover: HMAC
//! nonces stay single-use across them, and change notices reach them
//! again. A primary, a replica and a sentinel of the test's own (Debian's
//! `redis-server`, installed by `cargo xtask test`; skipped without it).

use std::time::{Duration, Instant};

use portcullis_testkit::{AppOptions, Backend, redis_url, spawn_app_opts};

use super::service_keys::{Signing, new_key};
use super::shared_state::{own_redis_with, time_until};
use super::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn connect(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// Polls `cmd` on the server at `port` until its text answer contains
/// `wanted` (at most 30 s).
async fn until_says(port: u16, cmd: &[&str], wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut conn = connect(port).await;
        let mut c = redis::cmd(cmd[0]);
        for a in &cmd[1..] {
            c.arg(*a);
        }
        let answer: redis::Value = c.query_async(&mut conn).await.unwrap_or(redis::Value::Nil);
        if format!("{answer:?}").contains(wanted) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{cmd:?} never said {wanted}: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Killed(Vec<std::process::Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_follow_the_primary_through_a_sentinel_failover() {
    if redis_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2, ps) = (free_port(), free_port(), free_port());
    let (d1, d2, ds) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("s"),
    );
    for d in [&d1, &d2, &ds] {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut servers = Killed(Vec::new());
    servers.0.push(own_redis_with(p1, &d1, &[]));
    let primary = p1.to_string();
    servers.0.push(own_redis_with(
        p2,
        &d2,
        &["--replicaof", "127.0.0.1", &primary],
    ));
    until_says(p2, &["INFO", "replication"], "master_link_status:up").await;
    let conf = ds.join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "sentinel monitor mymaster 127.0.0.1 {p1} 1\n\
             sentinel down-after-milliseconds mymaster 1000\n\
             sentinel failover-timeout mymaster 5000\n"
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_owned();
    servers
        .0
        .push(own_redis_with(ps, &ds, &[&conf, "--sentinel"]));
    until_says(ps, &["SENTINEL", "replicas", "mymaster"], &p2.to_string()).await;

    let url = format!("redis+sentinel://127.0.0.1:{ps}/mymaster");
    let a = spawn_app_opts(
        Backend::Sqlite,
        |s| s.revocation_sync_interval = Duration::from_secs(60),
        AppOptions {
            redis: Some(url),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap();
    let b = a.spawn_peer().await;
    let admin = a.admin_token().await;
    let (key, secret) = new_key(&a, &admin, "billing").await;
    let path = "/api/v1/auth/validate";

    // Through the first primary: a nonce used on A is refused on B.
    let deadline = Instant::now() + Duration::from_secs(15);
    let signed = loop {
        let signed = Signing::new(&a, &key, &secret, path, json!({"token": "x"}));
        if signed.send(&a).await.status == 200 {
            break signed;
        }
        assert!(
            Instant::now() < deadline,
            "the sentinel's primary was never used"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(signed.send(&b).await.status, 401);

    // The failover: the replica becomes the primary, the old primary its
    // replica (writes there fail).
    let mut sentinel = connect(ps).await;
    let _: redis::Value = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg("mymaster")
        .query_async(&mut sentinel)
        .await
        .unwrap();
    until_says(
        ps,
        &["SENTINEL", "get-master-addr-by-name", "mymaster"],
        &p2.to_string(),
    )
    .await;
    // Once the old primary is a replica, a write there fails: what
    // succeeds below went to the new primary.
    until_says(p1, &["INFO", "replication"], "role:slave").await;
    let started = Instant::now();

    // Both instances follow: single-use nonces work again, across them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let signed = loop {
        let signed = Signing::new(&a, &key, &secret, path, json!({"token": "x"}));
        if signed.send(&a).await.status == 200 {
            break signed;
        }
        assert!(Instant::now() < deadline, "A never used the new primary");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "once the old primary was a replica, A's next signed request went to the new one ({:?})",
        started.elapsed()
    );
    assert_eq!(
        signed.send(&b).await.status,
        401,
        "the nonce is in the new primary"
    );
    let fresh = Signing::new(&b, &key, &secret, path, json!({"token": "x"}));
    assert_eq!(fresh.send(&b).await.status, 200);

    // And change notices: a logout on A is refused on B at once.
    let user = a.user("ivy@example.com").await.access_token;
    assert_eq!(b.get("/api/v1/auth/me", Some(&user)).await.status, 200);
    let r = a.post("/api/v1/auth/logout", Some(&user), json!({})).await;
    assert!(r.status < 300, "{}", r.text);
    let delay =
        time_until(|| async { b.get("/api/v1/auth/me", Some(&user)).await.status == 401 }).await;
    eprintln!("after the failover, a logout on A was refused on B in {delay:?}");
    drop((a, b));
}
