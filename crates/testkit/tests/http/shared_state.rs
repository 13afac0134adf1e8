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
