//! The caches' shared layer (L2) in Redis: a realm's authorization
//! snapshot that one instance read from the database is what the other
//! compiles its view from, keyed by revision so it is never stale; an
//! entry that does not fit its key is ignored. Skipped without
//! `TEST_REDIS_URL` (set by `cargo xtask test`), unless
//! `TEST_REQUIRE_REDIS=1`.

use portcullis_testkit::{AppOptions, Backend, redis_url, spawn_app_opts};

use super::*;

/// An app on SQLite with Redis, its peer, and a Redis connection.
async fn pair() -> Option<(TestApp, TestApp, redis::aio::MultiplexedConnection)> {
    let url = redis_url()?;
    let a = spawn_app_opts(
        Backend::Sqlite,
        |_| {},
        AppOptions {
            redis: Some(url.clone()),
            ..AppOptions::default()
        },
    )
    .await?;
    let b = a.spawn_peer().await;
    let conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Some((a, b, conn))
}

/// The shared cache's key of the app's default realm's snapshot at `revision`.
async fn snapshot_key(app: &TestApp, revision: i64) -> String {
    let realm = app.core.realms().default_realm().await.unwrap();
    format!(
        "{}cache:authz_snapshot:{}:{revision}",
        app.redis_prefix().unwrap(),
        realm.id
    )
}

/// Waits until `key` is in Redis (puts happen off the request's path).
async fn until_stored(conn: &mut redis::aio::MultiplexedConnection, key: &str) {
    for _ in 0..200 {
        let found: bool = redis::cmd("EXISTS")
            .arg(key)
            .query_async(conn)
            .await
            .unwrap();
        if found {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{key} never reached Redis");
}

/// A realm with a role `reader` granted to alice: the admin's token,
/// the check of alice reading documents, and the realm's revision.
async fn realm_with_a_grant(a: &TestApp) -> (String, Value, i64) {
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
    let r = a
        .post(
            &format!("/api/v1/rbac/users/{alice_id}/roles"),
            Some(&admin),
            json!({"role": "reader"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let revision = r.json["revision"].as_i64().unwrap();
    let check = json!({
        "subject": alice_id, "action": "read", "resource": {"type": "documents"},
        "min_revision": revision,
    });
    (admin, check, revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_read_by_one_instance_is_compiled_by_the_other_from_redis() {
    let Some((a, b, mut conn)) = pair().await else {
        return;
    };
    let (admin, check, revision) = realm_with_a_grant(&a).await;
    let r = a
        .post("/api/v1/authz/check", Some(&admin), check.clone())
        .await;
    assert_eq!(r.json["allowed"], true, "{}", r.text);
    until_stored(&mut conn, &snapshot_key(&a, revision).await).await;

    let (hits_before, _) = b.core.cache_counts("authz_view", "redis").unwrap();
    let r = b.post("/api/v1/authz/check", Some(&admin), check).await;
    assert_eq!(r.json["allowed"], true, "{}", r.text);
    assert_eq!(r.json["revision"], revision);
    let (hits, _) = b.core.cache_counts("authz_view", "redis").unwrap();
    assert!(hits > hits_before, "B compiled from the shared snapshot");

    // `/metrics` shows each layer's lookups and hit ratio.
    let m = b.get("/metrics", None).await;
    for needle in [
        "portcullis_cache_lookups_total{cache=\"authz_view\",layer=\"memory\",result=\"hit\"}",
        "portcullis_cache_lookups_total{cache=\"authz_view\",layer=\"redis\",result=\"hit\"}",
        "portcullis_cache_hit_ratio{cache=\"authz_view\",layer=\"redis\"}",
        "portcullis_cache_hit_ratio{cache=\"realm\",layer=\"memory\"}",
        "portcullis_cache_loads_total{cache=\"authz_view\"}",
    ] {
        assert!(m.text.contains(needle), "{needle} missing:\n{}", m.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_does_not_fit_its_key_is_ignored() {
    let Some((a, b, mut conn)) = pair().await else {
        return;
    };
    let (admin, check, revision) = realm_with_a_grant(&a).await;
    let key = snapshot_key(&a, revision).await;
    // Garbage, then a valid snapshot of another revision (one without the
    // grant), under the current revision's key: both are misses, and the
    // check is answered from the database.
    let earlier = {
        let realm = a.core.realms().default_realm().await.unwrap();
        let mut snapshot = a.core.store().authz_snapshot(realm.id).await.unwrap();
        snapshot.revision -= 1;
        snapshot.role_grants.clear();
        serde_json::to_vec(&snapshot).unwrap()
    };
    for poison in [b"{not json".to_vec(), earlier] {
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(poison)
            .query_async(&mut conn)
            .await
            .unwrap();
        let peer = a.spawn_peer().await;
        let (_, misses_before) = peer.core.cache_counts("authz_view", "redis").unwrap();
        let r = peer
            .post("/api/v1/authz/check", Some(&admin), check.clone())
            .await;
        assert_eq!(r.json["allowed"], true, "{}", r.text);
        let (_, misses) = peer.core.cache_counts("authz_view", "redis").unwrap();
        assert_eq!(misses, misses_before + 1);
    }
    drop(b);
}
