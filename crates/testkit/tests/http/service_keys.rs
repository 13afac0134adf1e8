//! Service keys over HTTP: their administration, requests signed with them
//! (signed here with the `hmac` crate, from the documented canonical
//! string, not with the server's own code), every refusal, rotation with
//! overlap, and the check, validate and introspection APIs for signed callers.

use hmac::{Hmac, KeyInit, Mac};
use portcullis_core::Clock as _;
use portcullis_testkit::Reply;
use sha2::{Digest, Sha256};

use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request to sign; fields left as they are make a valid request.
#[derive(Clone)]
pub(super) struct Signing<'a> {
    key: &'a str,
    secret: &'a str,
    method: &'a str,
    path: &'a str,
    query: &'a str,
    body: Vec<u8>,
    content_type: &'a str,
    ts: i64,
    nonce: String,
    /// Sent instead of the body's real hash, when set.
    claimed_sha256: Option<String>,
    /// Sent instead of `body` (a body altered after signing).
    sent_body: Option<Vec<u8>>,
    /// Sent to instead of `path`.
    sent_path: Option<&'a str>,
}

impl<'a> Signing<'a> {
    pub(super) fn new(
        app: &TestApp,
        key: &'a str,
        secret: &'a str,
        path: &'a str,
        body: Value,
    ) -> Self {
        Signing {
            key,
            secret,
            method: "POST",
            path,
            query: "",
            body: serde_json::to_vec(&body).unwrap(),
            content_type: "application/json",
            ts: app.clock.now().unix_timestamp(),
            nonce: format!("nonce-{}", uuid::Uuid::new_v4().simple()),
            claimed_sha256: None,
            sent_body: None,
            sent_path: None,
        }
    }

    pub(super) async fn send(&self, app: &TestApp) -> Reply {
        let sha = self
            .claimed_sha256
            .clone()
            .unwrap_or_else(|| hex(&Sha256::digest(&self.body)));
        let mut pairs: Vec<&str> = self.query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort();
        let canonical = [
            "PORTCULLIS-HMAC-SHA256",
            self.key,
            &self.ts.to_string(),
            &self.nonce,
            self.method,
            self.path,
            &pairs.join("&"),
            &sha,
        ]
        .join("\n");
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).unwrap();
        mac.update(canonical.as_bytes());
        let signature = hex(&mac.finalize().into_bytes());
        let path = self.sent_path.unwrap_or(self.path);
        let url = if self.query.is_empty() {
            app.url(path)
        } else {
            format!("{}?{}", app.url(path), self.query)
        };
        let res = app
            .http
            .request(self.method.parse().unwrap(), url)
            .header("content-type", self.content_type)
            .header("x-portcullis-key", self.key)
            .header("x-portcullis-timestamp", self.ts.to_string())
            .header("x-portcullis-nonce", &self.nonce)
            .header("x-portcullis-content-sha256", sha)
            .header("x-portcullis-signature", signature)
            .body(self.sent_body.clone().unwrap_or_else(|| self.body.clone()))
            .send()
            .await
            .unwrap();
        Reply::read(res).await
    }
}

pub(super) async fn new_key(app: &TestApp, admin: &str, name: &str) -> (String, String) {
    let r = app
        .post("/api/v1/service-keys", Some(admin), json!({"name": name}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.json["key"]["id"].as_str().unwrap().to_owned(),
        r.json["secret"].as_str().unwrap().to_owned(),
    )
}

backend_tests!(
    signed_requests_use_the_keys_roles,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let user = app.user("plain@example.com").await.access_token;
        assert_eq!(
            app.get("/api/v1/service-keys", Some(&user)).await.status,
            403
        );
        let (key, secret) = new_key(&app, &admin, "billing").await;
        assert!(
            secret.starts_with("pcsk_") && secret.len() >= 40,
            "{secret}"
        );
        // Shown once; the list and the key itself never carry it.
        let listed = app.get("/api/v1/service-keys", Some(&admin)).await;
        assert_eq!(listed.json[0]["name"], "billing");
        assert_eq!(listed.json[0]["status"], "active");
        assert!(!listed.text.contains(&secret));
        let one = app
            .get(&format!("/api/v1/service-keys/{key}"), Some(&admin))
            .await;
        assert_eq!(one.json["id"], key.as_str());
        assert!(!one.text.contains(&secret));
        // Names are unique in the realm; bad input is named.
        let r = app
            .post(
                "/api/v1/service-keys",
                Some(&admin),
                json!({"name": "billing"}),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = app
            .post(
                "/api/v1/service-keys",
                Some(&admin),
                json!({"name": " ", "expires_at": "2001-01-01T00:00:00Z"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"].as_array().unwrap().len(), 2, "{}", r.text);

        let alice = app.user("alice@example.com").await;
        let alice_id = claims(&alice.access_token)["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let check =
            json!({"subject": alice_id, "action": "read", "resource": {"type": "documents"}});
        // Without a role the key may not check for others.
        let r = Signing::new(&app, &key, &secret, "/api/v1/authz/check", check.clone())
            .send(&app)
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .post(
                "/api/v1/rbac/roles",
                Some(&admin),
                json!({"name": "checker", "permissions": ["authz:check:all"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("/api/v1/rbac/users/{key}/roles"),
                Some(&admin),
                json!({"role": "checker"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = Signing::new(&app, &key, &secret, "/api/v1/authz/check", check.clone())
            .send(&app)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["allowed"], false);
        // Far from its quota, a service's answers carry no RateLimit headers.
        assert!(r.header("ratelimit-policy").is_none());
        // Validation and introspection.
        let r = Signing::new(
            &app,
            &key,
            &secret,
            "/api/v1/auth/validate",
            json!({"token": alice.access_token}),
        )
        .send(&app)
        .await;
        assert_eq!(
            (r.status, &r.json["active"]),
            (200, &json!(true)),
            "{}",
            r.text
        );
        let mut s = Signing::new(
            &app,
            &key,
            &secret,
            "/realms/main/oauth2/introspect",
            json!(null),
        );
        s.content_type = "application/x-www-form-urlencoded";
        s.body = format!("token={}", alice.access_token).into_bytes();
        let r = s.send(&app).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["active"], true);
        assert_eq!(r.json["sub"], alice_id.as_str());
        // The query is signed too, in any order.
        let mut s = Signing::new(&app, &key, &secret, "/api/v1/authz/check", check);
        s.query = "b=2&a=1";
        assert_eq!(s.send(&app).await.status, 200);
        // The key's use is recorded.
        let one = app
            .get(&format!("/api/v1/service-keys/{key}"), Some(&admin))
            .await;
        assert!(one.json["last_used_at"].is_string(), "{}", one.text);
        // Signed callers count against the service tier: with a quota of
        // 4, the second answer reports it, the fifth request is refused.
        let mut policy = app
            .get("/api/v1/security/rate-limits", Some(&admin))
            .await
            .json["policy"]
            .clone();
        policy["groups"]["service"]["tiers"]["service"] = json!(4);
        let r = app
            .call(
                reqwest::Method::PUT,
                "/api/v1/security/rate-limits",
                Some(&admin),
                Some(policy),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        // A window (and a tenth) after the requests above.
        app.clock.advance(Duration::seconds(67));
        let sign = || {
            Signing::new(
                &app,
                &key,
                &secret,
                "/api/v1/auth/validate",
                json!({"token": "x"}),
            )
        };
        assert!(sign().send(&app).await.header("ratelimit").is_none());
        let r = sign().send(&app).await;
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"service\";q=4;w=60"),
            "{:?} {}",
            r.headers,
            r.text
        );
        sign().send(&app).await;
        sign().send(&app).await;
        let r = sign().send(&app).await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(
            r.header("ratelimit")
                .unwrap()
                .starts_with("\"service\";r=0;")
        );
    }
);

backend_tests!(every_bad_signature_is_refused, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let (key, secret) = new_key(&app, &admin, "svc").await;
    let path = "/api/v1/auth/validate";
    let body = json!({"token": "not-a-token"});
    let good = Signing::new(&app, &key, &secret, path, body.clone());
    assert_eq!(good.send(&app).await.status, 200);

    let refused = |r: Reply, what: &str| {
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{what}"
        );
    };
    // The same nonce again.
    refused(good.send(&app).await, "replay");
    // A wrong secret, an unknown key, a key id that is no id.
    let mut s = Signing::new(&app, &key, "pcsk_wrong", path, body.clone());
    refused(s.send(&app).await, "wrong secret");
    let other = uuid::Uuid::now_v7().to_string();
    s = Signing::new(&app, &other, &secret, path, body.clone());
    refused(s.send(&app).await, "unknown key");
    s = Signing::new(&app, "not-an-id", &secret, path, body.clone());
    refused(s.send(&app).await, "bad key id");
    // Timestamps more than 300 s away, either way.
    for skew in [-301, 301] {
        let mut s = Signing::new(&app, &key, &secret, path, body.clone());
        s.ts += skew;
        refused(s.send(&app).await, "skew");
    }
    let mut s = Signing::new(&app, &key, &secret, path, body.clone());
    s.ts -= 299;
    assert_eq!(s.send(&app).await.status, 200);
    // A body altered after signing, and a hash that is not the body's.
    let mut s = Signing::new(&app, &key, &secret, path, body.clone());
    s.sent_body = Some(serde_json::to_vec(&json!({"token": "another"})).unwrap());
    refused(s.send(&app).await, "altered body");
    let mut s = Signing::new(&app, &key, &secret, path, body.clone());
    s.claimed_sha256 = Some("00".repeat(32));
    refused(s.send(&app).await, "wrong hash");
    // Sent to another path than the one signed.
    let mut s = Signing::new(&app, &key, &secret, path, body.clone());
    s.sent_path = Some("/api/v1/realms/main/auth/validate");
    refused(s.send(&app).await, "another path");
    // A missing header.
    let r = app
        .http
        .post(app.url(path))
        .header("x-portcullis-signature", "00")
        .json(&body)
        .send()
        .await
        .unwrap();
    let r = Reply::read(r).await;
    refused(r, "missing headers");
    // Another realm does not know the key.
    let r = app
        .post("/api/v1/realms", Some(&admin), json!({"name": "other"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let s = Signing::new(
        &app,
        &key,
        &secret,
        "/api/v1/realms/other/auth/validate",
        body.clone(),
    );
    refused(s.send(&app).await, "other realm");

    // Revoked and expired keys sign nothing.
    let r = app
        .post(
            &format!("/api/v1/service-keys/{key}/revoke"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "revoked");
    refused(
        Signing::new(&app, &key, &secret, path, body.clone())
            .send(&app)
            .await,
        "revoked",
    );
    let expires = (app.clock.now() + Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = app
        .post(
            "/api/v1/service-keys",
            Some(&admin),
            json!({"name": "short-lived", "expires_at": expires}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (short, short_secret) = (
        r.json["key"]["id"].as_str().unwrap().to_owned(),
        r.json["secret"].as_str().unwrap().to_owned(),
    );
    let s = Signing::new(&app, &short, &short_secret, path, body.clone());
    assert_eq!(s.send(&app).await.status, 200);
    app.clock.advance(Duration::hours(1) + Duration::seconds(1));
    let s = Signing::new(&app, &short, &short_secret, path, body.clone());
    refused(s.send(&app).await, "expired");
});

backend_tests!(
    rotation_keeps_the_old_secret_for_the_overlap,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let (key, old) = new_key(&app, &admin, "rotating").await;
        let path = "/api/v1/auth/validate";
        let body = json!({"token": "x"});
        let r = app
            .post(
                &format!("/api/v1/service-keys/{key}/rotate"),
                Some(&admin),
                json!({"overlap_seconds": 60}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let new = r.json["secret"].as_str().unwrap().to_owned();
        assert_ne!(new, old);
        assert!(r.json["key"]["previous_secret_until"].is_string());
        for secret in [&old, &new] {
            let s = Signing::new(&app, &key, secret, path, body.clone());
            assert_eq!(s.send(&app).await.status, 200);
        }
        app.clock.advance(Duration::seconds(61));
        let s = Signing::new(&app, &key, &old, path, body.clone());
        assert_eq!(s.send(&app).await.status, 401);
        let s = Signing::new(&app, &key, &new, path, body.clone());
        assert_eq!(s.send(&app).await.status, 200);
        // Without overlap the old secret dies at once; overlaps are bounded.
        let r = app
            .post(
                &format!("/api/v1/service-keys/{key}/rotate"),
                Some(&admin),
                json!({"overlap_seconds": 0}),
            )
            .await;
        let newest = r.json["secret"].as_str().unwrap().to_owned();
        let s = Signing::new(&app, &key, &new, path, body.clone());
        assert_eq!(s.send(&app).await.status, 401);
        let s = Signing::new(&app, &key, &newest, path, body.clone());
        assert_eq!(s.send(&app).await.status, 200);
        let r = app
            .post(
                &format!("/api/v1/service-keys/{key}/rotate"),
                Some(&admin),
                json!({"overlap_seconds": 999_999}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        // Deleting a key deletes its service account.
        assert_eq!(
            app.delete(&format!("/api/v1/service-keys/{key}"), Some(&admin))
                .await
                .status,
            204
        );
        assert_eq!(
            app.get(&format!("/api/v1/identity/users/{key}"), Some(&admin))
                .await
                .status,
            404
        );
        let s = Signing::new(&app, &key, &newest, path, body);
        assert_eq!(s.send(&app).await.status, 401);
    }
);
