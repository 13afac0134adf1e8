//! Two instances on one database and one Redis (`PORTCULLIS_REDIS_URL`):
//! rate limits, strikes, blocks and HMAC nonces are shared, so a load
//! balancer spreading a caller over instances gives it one quota, not one
//! per instance. Skipped without `TEST_REDIS_URL` (set by `cargo xtask
//! test`), unless `TEST_REQUIRE_REDIS=1`.

use portcullis_core::edge::Group;
use portcullis_testkit::{AppOptions, Backend, redis_url, spawn_app_opts};

use super::edge::{policy, send};
use super::service_keys::{Signing, new_key};
use super::*;

/// An app on `backend` with Redis and `adjust`ed settings, and its peer.
async fn pair(
    backend: Backend,
    adjust: impl FnOnce(&mut portcullis_core::Settings),
) -> Option<(TestApp, TestApp)> {
    let redis = redis_url()?;
    let a = spawn_app_opts(
        backend,
        adjust,
        AppOptions {
            redis: Some(redis),
            ..AppOptions::default()
        },
    )
    .await?;
    let b = a.spawn_peer().await;
    Some((a, b))
}

async fn forgot(app: &TestApp, from: Option<&str>) -> portcullis_testkit::Reply {
    // A new address each time: the per-address mail limit stays out of it.
    let email = format!("someone-{}@example.com", uuid::Uuid::now_v7().simple());
    let body = json!({ "email": email });
    send(
        app,
        "POST",
        "/api/v1/auth/forgot-password",
        Some(body),
        from,
    )
    .await
}

async fn shared_limits_and_blocks(backend: Backend) {
    let mut p = policy(1_000, 1_000);
    p.groups
        .get_mut(&Group::Mail)
        .unwrap()
        .tiers
        .insert("anonymous".into(), 4);
    p.strikes.threshold = 3;
    p.strikes.block_seconds = vec![600];
    let Some((a, b)) = pair(backend, |s| {
        s.rate_limits = p;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    let admin = a.admin_token().await;
    let caller = Some("198.51.100.20");
    // Four requests spread over both instances use up one quota of four.
    for app in [&a, &b, &a, &b] {
        let r = forgot(app, caller).await;
        assert_ne!(r.status, 429, "{}", r.text);
    }
    for app in [&a, &b] {
        let r = forgot(app, caller).await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert_eq!(r.header("ratelimit-policy"), Some("\"mail\";q=4;w=60"));
    }
    // The third refusal, on A, blocks the caller on both.
    assert_eq!(forgot(&a, caller).await.status, 429);
    let r = forgot(&a, caller).await;
    assert_eq!(
        r.json["type"], "urn:portcullis:problem:blocked",
        "{}",
        r.text
    );
    let r = send(&b, "GET", "/api/v1/auth/me", None, caller).await;
    assert_eq!(
        r.json["type"], "urn:portcullis:problem:blocked",
        "{}",
        r.text
    );
    // B lists the block A made, and lifts it for both.
    let r = b.get("/api/v1/security/blocks", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let blocks = r.json.as_array().unwrap();
    assert_eq!(blocks.len(), 1, "{}", r.text);
    assert_eq!(blocks[0]["subject"], "198.51.100.20");
    let id = blocks[0]["id"].as_str().unwrap();
    let r = b
        .delete(&format!("/api/v1/security/blocks/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        a.get("/api/v1/security/blocks", Some(&admin))
            .await
            .json
            .as_array()
            .unwrap()
            .is_empty()
    );
    let r = send(&a, "GET", "/api/v1/auth/me", None, caller).await;
    assert_eq!(r.status, 401, "not blocked any more: {}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_blocks_are_shared_by_instances_sqlite() {
    shared_limits_and_blocks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_blocks_are_shared_by_instances_postgres() {
    shared_limits_and_blocks(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_request_replayed_on_another_instance_is_refused() {
    let Some((a, b)) = pair(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let admin = a.admin_token().await;
    let (key, secret) = new_key(&a, &admin, "billing").await;
    let path = "/api/v1/auth/validate";
    let signed = Signing::new(&a, &key, &secret, path, json!({"token": "x"}));
    assert_eq!(signed.send(&a).await.status, 200);
    let replayed = signed.send(&b).await;
    assert_eq!(replayed.status, 401, "{}", replayed.text);
    // A fresh nonce is accepted on B.
    let fresh = Signing::new(&b, &key, &secret, path, json!({"token": "x"}));
    assert_eq!(fresh.send(&b).await.status, 200);
}

/// Polls `refused` every 2 ms until it says yes (at most 15 s: a listener
/// reconnects within its 5 s keepalive); how long that took.
pub(super) async fn time_until<F, Fut>(mut refused: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !refused().await {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(15),
            "never refused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    start.elapsed()
}

async fn logouts_reach_the_other_instance_at_once(backend: Backend) {
    // The database poll alone would take a minute: only the notice is fast.
    let Some((a, b)) = pair(backend, |s| {
        s.revocation_sync_interval = std::time::Duration::from_secs(60);
    })
    .await
    else {
        return;
    };
    let mut delays = Vec::new();
    for n in 0..3 {
        let user = a.user(&format!("u{n}@example.com")).await.access_token;
        assert_eq!(b.get("/api/v1/auth/me", Some(&user)).await.status, 200);
        let r = a.post("/api/v1/auth/logout", Some(&user), json!({})).await;
        assert!(r.status < 300, "{}", r.text);
        delays.push(
            time_until(|| async { b.get("/api/v1/auth/me", Some(&user)).await.status == 401 })
                .await,
        );
    }
    delays.sort();
    eprintln!("logout on A refused on B after {delays:?}");
    assert!(
        delays[0] < std::time::Duration::from_millis(100),
        "{delays:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_100_ms_sqlite() {
    logouts_reach_the_other_instance_at_once(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_100_ms_postgres() {
    logouts_reach_the_other_instance_at_once(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_client_is_refused_by_the_other_instance_at_once() {
    // B caches the client (for five seconds of the test clock, which does
    // not move): only the notice makes it read the change.
    let Some((a, b)) = pair(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let admin = a.admin_token().await;
    let r = a
        .post(
            "/api/v1/clients",
            Some(&admin),
            json!({"name": "Billing", "client_id": "billing", "scopes": ["orders:read"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    let token = |app: &TestApp| {
        app.http
            .post(app.url("/realms/main/oauth2/token"))
            .basic_auth("billing", Some(&secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
    };
    assert_eq!(token(&b).await.unwrap().status(), 200);
    let r = a
        .call(
            reqwest::Method::PATCH,
            "/api/v1/clients/billing",
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let delay = time_until(|| async { token(&b).await.unwrap().status() == 401 }).await;
    eprintln!("client disabled on A refused on B after {delay:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_granted_through_one_instance_is_seen_by_a_check_on_the_other() {
    let Some((a, b)) = pair(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let admin = a.admin_token().await;
    let alice = a.user("alice@example.com").await.access_token;
    let me = a.get("/api/v1/auth/me", Some(&alice)).await;
    let alice_id = me.json["id"].as_str().unwrap().to_owned();
    let r = a
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "reader", "permissions": ["documents:read:all"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let check = json!({"subject": alice_id, "action": "read", "resource": {"type": "documents"}});
    // B compiles its view before the grant.
    let r = b
        .post("/api/v1/authz/check", Some(&admin), check.clone())
        .await;
    assert_eq!(r.json["allowed"], false, "{}", r.text);
    let r = a
        .post(
            &format!("/api/v1/rbac/users/{alice_id}/roles"),
            Some(&admin),
            json!({"role": "reader"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let revision = r.json["revision"].as_i64().unwrap();
    // With the grant's revision, B answers from it (whatever it cached).
    let mut at = check.clone();
    at["min_revision"] = json!(revision);
    let r = b.post("/api/v1/authz/check", Some(&admin), at).await;
    assert_eq!(r.json["allowed"], true, "{}", r.text);
    assert_eq!(r.json["revision"], revision);
}

async fn refresh_tokens_across_instances(backend: Backend) {
    let Some((a, b)) = pair(backend, |s| {
        s.revocation_sync_interval = std::time::Duration::from_secs(60);
    })
    .await
    else {
        return;
    };
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let refresh = |app: &std::sync::Arc<TestApp>, token: String| {
        let app = app.clone();
        async move {
            app.post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": token}),
            )
            .await
        }
    };
    // A race across the two instances: exactly one winner.
    let t = a.user("ivy@example.com").await;
    let mut tasks = Vec::new();
    for n in 0..10 {
        let app = if n % 2 == 0 { &a } else { &b };
        tasks.push(tokio::spawn(refresh(app, t.refresh_token.clone())));
    }
    let mut winners = Vec::new();
    for task in tasks {
        let r = task.await.unwrap();
        assert!(r.status == 200 || r.status == 401, "{}", r.text);
        if r.status == 200 {
            winners.push(r);
        }
    }
    assert_eq!(winners.len(), 1);

    // A family revoked on A (a spent token replayed) is dead on B, its
    // access tokens refused there at once.
    let t = a.user("jack@example.com").await;
    let r = refresh(&b, t.refresh_token.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let newest = r.json["refresh_token"].as_str().unwrap().to_owned();
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(b.get("/api/v1/auth/me", Some(&access)).await.status, 200);
    assert_eq!(refresh(&a, t.refresh_token.clone()).await.status, 401);
    assert_eq!(refresh(&b, newest).await.status, 401);
    time_until(|| async { b.get("/api/v1/auth/me", Some(&access)).await.status == 401 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_across_instances_sqlite() {
    refresh_tokens_across_instances(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_across_instances_postgres() {
    refresh_tokens_across_instances(Backend::Postgres).await;
}

async fn kim_login(app: &TestApp, password: &str) -> portcullis_testkit::Reply {
    let body = json!({"email": "kim@example.com", "password": password});
    app.post("/api/v1/auth/login", None, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_on_both_instances_add_up_to_one_lockout() {
    let Some((a, b)) = pair(Backend::Sqlite, |s| {
        s.login.max_failures_per_account = 3;
    })
    .await
    else {
        return;
    };
    a.register("kim@example.com", "correct horse battery").await;
    for app in [&a, &b, &a] {
        assert_eq!(kim_login(app, "wrong password!").await.status, 401);
    }
    // Locked on both, the right password included.
    for app in [&b, &a] {
        let r = kim_login(app, "correct horse battery").await;
        assert_eq!(r.status, 429, "{}", r.text);
    }
}

/// A `redis-server` of the test's own on `port` (the test stops it).
fn own_redis(port: u16, dir: &std::path::Path) -> std::process::Child {
    own_redis_with(port, dir, &[])
}

/// [`own_redis`] with more arguments (`--replicaof`, or a configuration
/// file and `--sentinel` first).
pub(super) fn own_redis_with(
    port: u16,
    dir: &std::path::Path,
    extra: &[&str],
) -> std::process::Child {
    let child = std::process::Command::new("redis-server")
        .args(extra)
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (installed by cargo xtask test)");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_resume_after_redis_comes_back() {
    // Only where the test tooling provides Redis (and so redis-server).
    if redis_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = own_redis(port, dir.path());
    let a = spawn_app_opts(
        Backend::Sqlite,
        |s| s.revocation_sync_interval = std::time::Duration::from_secs(60),
        AppOptions {
            redis: Some(format!("redis://127.0.0.1:{port}/")),
            ..AppOptions::default()
        },
    )
    .await
    .unwrap();
    let b = a.spawn_peer().await;
    let user = a.user("lee@example.com").await.access_token;
    assert_eq!(b.get("/api/v1/auth/me", Some(&user)).await.status, 200);

    server.kill().unwrap();
    server.wait().unwrap();
    // Meanwhile a logout on A: its notice is lost with Redis.
    let r = a.post("/api/v1/auth/logout", Some(&user), json!({})).await;
    assert!(r.status < 300, "{}", r.text);
    // Long enough for the client to give up reconnecting by itself.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let mut server = own_redis(port, dir.path());
    // Back: B resubscribes, drops its caches and reads the revocations.
    let delay =
        time_until(|| async { b.get("/api/v1/auth/me", Some(&user)).await.status == 401 }).await;
    eprintln!("after Redis came back, the logout made meanwhile was refused on B in {delay:?}");
    // And notices flow again.
    let other = a.user("max@example.com").await.access_token;
    assert_eq!(b.get("/api/v1/auth/me", Some(&other)).await.status, 200);
    a.post("/api/v1/auth/logout", Some(&other), json!({})).await;
    time_until(|| async { b.get("/api/v1/auth/me", Some(&other)).await.status == 401 }).await;
    drop((a, b));
    server.kill().unwrap();
    server.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_between_instances_within_30_s_does_not_break_tokens() {
    // No Redis needed: tokens are verified by each instance on its own clock.
    let a = portcullis_testkit::spawn_app(Backend::Sqlite)
        .await
        .unwrap();
    let user = a.user("nia@example.com").await.access_token;
    for (skew, accepted) in [(-25, true), (25, true), (-35, false)] {
        // A peer whose clock is `skew` seconds off this one's: a token
        // issued here looks issued `-skew` seconds in its future.
        let peer = a.spawn_skewed_peer(Duration::seconds(skew)).await;
        let r = peer.get("/api/v1/auth/me", Some(&user)).await;
        assert_eq!(r.status == 200, accepted, "skew {skew} s: {}", r.text);
        // And the other way round: the peer's tokens here.
        let theirs = peer
            .login("nia@example.com", "a perfectly fine passphrase")
            .await;
        let r = a.get("/api/v1/auth/me", Some(&theirs.access_token)).await;
        assert_eq!(
            r.status == 200,
            skew <= 30,
            "skew {skew} s, the peer's token: {}",
            r.text
        );
    }
}

/// The edge state alone, through a Redis outage (see [`own_redis`]).
mod outage {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::{Duration as StdDuration, Instant};

    use portcullis_core::edge::{Dimension, Group, LimitKey, Quota, Subject};
    use portcullis_core::ports::EdgeState;
    use portcullis_redis::{Redis, RedisEdgeState};
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::{Duration, own_redis, redis_url};

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
        if redis_url().is_none() {
            return;
        }
        let mut server = own_redis(port, dir.path());
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

        server.kill().unwrap();
        server.wait().unwrap();
        // Each instance limits on its own; nonces are refused.
        assert!(a.take(&limit(2), t0()).await.is_ok());
        assert!(a.take(&limit(2), t0()).await.is_ok());
        assert!(a.take(&limit(2), t0()).await.is_err());
        assert!(b.take(&limit(2), t0()).await.is_ok());
        let until = t0() + Duration::minutes(5);
        assert!(!a.first_use("hmac:k:during", until, t0()).await);

        // Back (empty: it saved nothing): shared again, without a restart.
        let mut server = own_redis(port, dir.path());
        let deadline = Instant::now() + StdDuration::from_secs(20);
        while !a.first_use("hmac:k:after", until, t0()).await {
            assert!(Instant::now() < deadline, "never reconnected");
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
        assert!(!b.first_use("hmac:k:after", until, t0()).await);
        assert!(b.take(&limit(3), t0()).await.is_ok());
        assert!(a.take(&limit(3), t0()).await.is_ok());
        assert!(b.take(&limit(3), t0()).await.is_err());
        server.kill().unwrap();
        server.wait().unwrap();
    }
}
