//! The edge over HTTP: a limiter for each endpoint family, union pairing of
//! the address and account limiters, quotas by role, strikes that block a
//! caller and admins who see and lift blocks, the trusted-proxy rule for
//! the client address, the 429 answer and its headers, and the policy API.

use std::collections::BTreeMap;

use portcullis_core::edge::policy::GroupLimits;
use portcullis_core::edge::{Group, RateLimitPolicy};
use portcullis_testkit::{Backend, Reply, spawn_app_with};

use super::*;

/// Every group: a one-minute window, `per_ip` per address and `quota` for
/// every tier but the realm's admins (who must not be limited by the test's
/// own administration).
pub(super) fn policy(per_ip: u32, quota: u32) -> RateLimitPolicy {
    let mut p = RateLimitPolicy::default();
    for g in Group::ALL {
        let tiers: BTreeMap<String, u32> = [
            ("anonymous", quota),
            ("user", quota),
            ("client", quota),
            ("realm-admin", 10_000),
            ("super-admin", 10_000),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        p.groups.insert(
            g,
            GroupLimits {
                window_seconds: 60,
                per_ip,
                tiers,
            },
        );
    }
    p
}

async fn form(app: &TestApp, path: &str, fields: &[(&str, &str)], xff: Option<&str>) -> Reply {
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"));
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    Reply::read(req.send().await.unwrap()).await
}

pub(super) async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    xff: Option<&str>,
) -> Reply {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    Reply::read(req.send().await.unwrap()).await
}

fn assert_limited(r: &Reply, group: &str, quota: u32) {
    assert_eq!(r.status, 429, "{group}: {}", r.text);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    // Up to a window and one of its tenths (see core's edge::window).
    assert!((1..=66).contains(&retry), "{retry}");
    assert_eq!(
        r.header("ratelimit-policy"),
        Some(format!("\"{group}\";q={quota};w=60").as_str())
    );
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with(&format!("\"{group}\";r=0;t=")),
        "{:?}",
        r.header("ratelimit")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_has_its_limiter_and_discovery_has_none() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.rate_limits = policy(1_000, 2))
        .await
        .unwrap();
    let login = json!({"email": "nobody@example.com", "password": "wrong password here"});
    let cases: Vec<(&str, &str, &str, Option<Value>)> = vec![
        ("login", "POST", "/api/v1/auth/login", Some(login.clone())),
        (
            "login",
            "POST",
            "/api/v1/realms/main/mfa/verify",
            Some(json!({})),
        ),
        (
            "registration",
            "POST",
            "/api/v1/auth/register",
            Some(json!({"email": "x"})),
        ),
        (
            "mail",
            "POST",
            "/api/v1/auth/forgot-password",
            Some(json!({"email": "a@example.com"})),
        ),
        (
            "service",
            "POST",
            "/api/v1/auth/validate",
            Some(json!({"token": "x"})),
        ),
        ("admin", "GET", "/api/v1/identity/users", None),
        ("general", "GET", "/api/v1/auth/me", None),
    ];
    for (group, method, path, body) in &cases {
        // The second family member shares the first's limiter.
        if *path == "/api/v1/realms/main/mfa/verify" {
            let r = send(&app, method, path, body.clone(), None).await;
            assert_limited(&r, group, 2);
            continue;
        }
        let first = send(&app, method, path, body.clone(), None).await;
        assert_ne!(first.status, 429, "{path}: {}", first.text);
        // Answers of limited groups say how much is left.
        assert_eq!(
            first.header("ratelimit-policy"),
            Some(format!("\"{group}\";q=2;w=60").as_str()),
            "{path}"
        );
        assert!(first.header("ratelimit").unwrap().contains(";r=1;"));
        let second = send(&app, method, path, body.clone(), None).await;
        assert_ne!(second.status, 429, "{path}");
        let third = send(&app, method, path, body.clone(), None).await;
        assert_limited(&third, group, 2);
    }
    for _ in 0..2 {
        let r = form(
            &app,
            "/realms/main/oauth2/token",
            &[("grant_type", "client_credentials")],
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
    let r = form(
        &app,
        "/realms/main/oauth2/token",
        &[("grant_type", "client_credentials")],
        None,
    )
    .await;
    assert_limited(&r, "token", 2);
    // Discovery, keys and health are never limited.
    for path in [
        "/realms/main/.well-known/openid-configuration",
        "/realms/main/.well-known/jwks.json",
        "/health/live",
    ] {
        for _ in 0..5 {
            let r = app.get(path, None).await;
            assert_eq!(r.status, 200, "{path}");
            assert!(r.header("ratelimit").is_none());
        }
    }
    // A window and a tenth later the families are open again.
    app.clock.advance(Duration::seconds(67));
    assert_eq!(
        send(&app, "GET", "/api/v1/auth/me", None, None)
            .await
            .status,
        401
    );
    // An encoded realm name counts against the same limiters.
    for _ in 0..2 {
        send(
            &app,
            "POST",
            "/api/v1/realms/main/auth/login",
            Some(login.clone()),
            None,
        )
        .await;
    }
    let r = send(
        &app,
        "POST",
        "/api/v1/realms/ma%69n/auth/login",
        Some(login),
        None,
    )
    .await;
    assert_limited(&r, "login", 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_must_pass_its_address_and_its_account_and_roles_raise_quotas() {
    let mut p = policy(9, 2);
    for g in [Group::Login, Group::Registration, Group::Admin] {
        let l = p.groups.get_mut(&g).unwrap();
        l.per_ip = 1_000;
        l.tiers.insert("anonymous".into(), 1_000);
    }
    p.groups
        .get_mut(&Group::General)
        .unwrap()
        .tiers
        .insert("moderator".into(), 4);
    let app = spawn_app_with(Backend::Sqlite, |s| s.rate_limits = p)
        .await
        .unwrap();
    let admin = app.admin_token().await;
    let a = app.user("a@example.com").await.access_token;
    let b = app.user("b@example.com").await.access_token;
    let c = app.user("c@example.com").await;
    let c_id = claims(&c.access_token)["sub"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "moderator"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{c_id}/roles"),
            Some(&admin),
            json!({"role": "moderator"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // A's account allows 2; the address (9) is not the limit yet.
    for _ in 0..2 {
        assert_eq!(app.get("/api/v1/auth/me", Some(&a)).await.status, 200);
    }
    let r = app.get("/api/v1/auth/me", Some(&a)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("ratelimit-policy"), Some("\"general\";q=2;w=60"));
    // C holds `moderator`: 4.
    for _ in 0..4 {
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&c.access_token))
                .await
                .status,
            200
        );
    }
    let r = app.get("/api/v1/auth/me", Some(&c.access_token)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("ratelimit-policy"), Some("\"general\";q=4;w=60"));
    // B's account has room, but the address has made 8 of its 9.
    assert_eq!(app.get("/api/v1/auth/me", Some(&b)).await.status, 200);
    let r = app.get("/api/v1/auth/me", Some(&b)).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("ratelimit-policy"), Some("\"general\";q=9;w=60"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strikes_block_a_caller_until_an_admin_lifts_the_block() {
    let mut p = policy(1_000, 1_000);
    p.groups
        .get_mut(&Group::Mail)
        .unwrap()
        .tiers
        .insert("anonymous".into(), 1);
    p.strikes.threshold = 3;
    p.strikes.block_seconds = vec![600, 3_600];
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = p;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    let admin = app.admin_token().await;
    let attacker = Some("198.51.100.1, 203.0.113.7");
    let body = json!({"email": "victim@example.com"});
    let login = |xff| {
        send(
            &app,
            "POST",
            "/api/v1/auth/forgot-password",
            Some(body.clone()),
            xff,
        )
    };
    assert_ne!(login(attacker).await.status, 429);
    for _ in 0..3 {
        assert_eq!(login(attacker).await.status, 429);
    }
    let r = login(attacker).await;
    assert_eq!(r.status, 429);
    assert_eq!(
        r.json["type"], "urn:portcullis:problem:blocked",
        "{}",
        r.text
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((590..=600).contains(&retry), "{retry}");
    // The block holds for every family, after the limiter's window too.
    app.clock.advance(Duration::seconds(67));
    assert_eq!(
        send(&app, "GET", "/api/v1/auth/me", None, attacker)
            .await
            .status,
        429
    );
    // Other addresses (the admin's, here) are not blocked.
    assert_ne!(login(Some("203.0.113.8")).await.status, 429);

    let user = app.user("plain@example.com").await.access_token;
    assert_eq!(
        app.get("/api/v1/security/blocks", Some(&user)).await.status,
        403
    );
    let r = app.get("/api/v1/security/blocks", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let blocks = r.json.as_array().unwrap();
    assert_eq!(blocks.len(), 1, "{}", r.text);
    let block = &blocks[0];
    assert_eq!(block["kind"], "ip");
    assert_eq!(block["subject"], "203.0.113.7");
    assert_eq!(block["reason"], "rate_limit");
    assert_eq!(block["level"], 1);
    let id = block["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/security/blocks/{id}"), Some(&user))
            .await
            .status,
        403
    );
    let r = app
        .delete(&format!("/api/v1/security/blocks/{id}"), Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["subject"], "203.0.113.7");
    assert_eq!(
        app.delete(&format!("/api/v1/security/blocks/{id}"), Some(&admin))
            .await
            .status,
        404
    );
    assert!(
        app.get("/api/v1/security/blocks", Some(&admin))
            .await
            .json
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_ne!(login(attacker).await.status, 429);
    // A second block lasts longer.
    for _ in 0..3 {
        login(attacker).await;
    }
    let r = app.get("/api/v1/security/blocks", Some(&admin)).await;
    assert_eq!(r.json[0]["level"], 2, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let body = json!({"email": "nobody@example.com", "password": "wrong password here"});
    // No trusted proxy: the header is the client's own claim, ignored.
    let app = spawn_app_with(Backend::Sqlite, |s| s.rate_limits = policy(1_000, 2))
        .await
        .unwrap();
    for (i, xff) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .into_iter()
        .enumerate()
    {
        let r = send(
            &app,
            "POST",
            "/api/v1/auth/login",
            Some(body.clone()),
            Some(xff),
        )
        .await;
        assert_eq!(r.status == 429, i == 2, "{xff}");
    }
    // Behind a trusted proxy each client has its own limiter, and a forged
    // entry left of the proxy's is ignored.
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = policy(1_000, 2);
        s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
    .unwrap();
    for forged in ["10.9.9.1", "10.9.9.2", "10.9.9.3"] {
        let xff = format!("{forged}, 203.0.113.1");
        let r = send(
            &app,
            "POST",
            "/api/v1/auth/login",
            Some(body.clone()),
            Some(&xff),
        )
        .await;
        assert_eq!(r.status == 429, forged == "10.9.9.3", "{xff}");
    }
    let r = send(
        &app,
        "POST",
        "/api/v1/auth/login",
        Some(body),
        Some("203.0.113.2"),
    )
    .await;
    assert_eq!(r.status, 401);
}

backend_tests!(rate_limit_policy_api, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app.get("/api/v1/security/rate-limits", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["is_default"], true);
    assert_eq!(r.json["policy"]["groups"].as_object().unwrap().len(), 7);
    let user = app.user("u@example.com").await.access_token;
    assert_eq!(
        app.get("/api/v1/security/rate-limits", Some(&user))
            .await
            .status,
        403
    );

    // Every wrong field at once.
    let mut doc = r.json["policy"].clone();
    doc["groups"]["logins"] = doc["groups"]["login"].clone();
    doc["groups"]["mail"]["per_ip"] = json!(0);
    doc["groups"]["token"]["tiers"]["bad tier!"] = json!(3);
    doc["groups"].as_object_mut().unwrap().remove("general");
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/security/rate-limits",
            Some(&admin),
            Some(doc),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "groups.logins",
        "groups.general",
        "groups.mail.per_ip",
        "groups.token.tiers.bad tier!",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }

    // A valid policy is stored and takes effect at once.
    let mut doc = app
        .get("/api/v1/security/rate-limits", Some(&admin))
        .await
        .json["policy"]
        .clone();
    doc["groups"]["mail"]["tiers"]["anonymous"] = json!(1);
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/security/rate-limits",
            Some(&admin),
            Some(doc),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["is_default"], false);
    let body = json!({"email": "nobody@example.com"});
    let forgot = || app.post("/api/v1/auth/forgot-password", None, body.clone());
    assert_ne!(forgot().await.status, 429);
    assert_eq!(forgot().await.status, 429);
    let r = app.get("/api/v1/security/rate-limits", Some(&admin)).await;
    assert_eq!(r.json["policy"]["groups"]["mail"]["tiers"]["anonymous"], 1);

    // Back to the default.
    let r = app
        .delete("/api/v1/security/rate-limits", Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["is_default"], true);
    assert_ne!(forgot().await.status, 429);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_like_input_is_refused_and_bans_anonymous_senders() {
    let mut p = RateLimitPolicy::default().scaled(1_000);
    p.strikes.threshold = 10;
    p.strikes.script_input_strikes = 5;
    p.strikes.block_seconds = vec![900];
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = p;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    let admin = app.admin_token().await;
    // Plain text with <, > and & is fine.
    let r = send(
        &app,
        "POST",
        "/api/v1/auth/register",
        Some(json!({"email": "ok@example.com", "password": PW, "name": "R&D lead, 3 < 5 > 2"})),
        Some("203.0.113.5"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // An admin's markup is refused, but is no strike.
    for _ in 0..3 {
        let r = app
            .post(
                "/api/v1/rbac/roles",
                Some(&admin),
                json!({"name": "r", "description": "<img src=x onerror=alert(1)>"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "description");
    }
    let attacker = Some("203.0.113.66");
    for (i, name) in [
        "<script>alert(1)</script>",
        "&lt;script&gt;x&lt;/script&gt;",
    ]
    .into_iter()
    .enumerate()
    {
        let r = send(
            &app,
            "POST",
            "/api/v1/auth/register",
            Some(json!({"email": format!("x{i}@example.com"), "password": PW, "name": name})),
            attacker,
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "name");
    }
    // Two script-like inputs at five strikes each reach the threshold of ten.
    let r = send(&app, "GET", "/api/v1/auth/me", None, attacker).await;
    assert_eq!(
        r.json["type"], "urn:portcullis:problem:blocked",
        "{}",
        r.text
    );
    let blocks = app.get("/api/v1/security/blocks", Some(&admin)).await;
    assert_eq!(blocks.json[0]["reason"], "script_input", "{}", blocks.text);
    assert_eq!(blocks.json[0]["subject"], "203.0.113.66");
    assert_eq!(blocks.json.as_array().unwrap().len(), 1);
}

/// `edge_defences` off (only to measure what the defences cost): nothing
/// is limited and no `RateLimit` headers are given; the security headers
/// still are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_edge_defences_nothing_is_limited() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.rate_limits = policy(1, 1);
        s.edge_defences = false;
    })
    .await
    .unwrap();
    for _ in 0..5 {
        let body = json!({"token": "x"});
        let r = send(&app, "POST", "/api/v1/auth/validate", Some(body), None).await;
        assert_ne!(r.status, 429, "{}", r.text);
        assert!(r.header("ratelimit").is_none());
        assert!(r.header("ratelimit-policy").is_none());
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}
