//! Cookie mode for browser apps (the refresh token in an HttpOnly
//! `__Host-` cookie, CSRF checks on what the cookie authenticates) and the
//! backend-for-frontend endpoints, `/api/v1/bff/*`.

use std::collections::HashMap;

use super::*;
use portcullis_core::Clock as _;
use portcullis_testkit::Reply;

const REFRESH: &str = "__Host-portcullis_refresh";
const IAT: &str = "__Host-portcullis_iat";
const CSRF: &str = "__Host-portcullis_csrf";

/// A browser's cookies for the server, as its answers set them.
#[derive(Debug, Clone, Default)]
struct Jar(HashMap<String, String>);

impl Jar {
    /// Takes in an answer's `Set-Cookie`s (`Max-Age=0` removes).
    fn absorb(&mut self, r: &Reply) {
        for (name, value, attrs) in set_cookies(r) {
            if attrs.contains("Max-Age=0") {
                self.0.remove(&name);
            } else {
                self.0.insert(name, value);
            }
        }
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn csrf(&self) -> String {
        self.get(CSRF).to_owned()
    }
}

/// An answer's `Set-Cookie`s: (name, value, the whole header).
fn set_cookies(r: &Reply) -> Vec<(String, String, String)> {
    r.headers
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let raw = v.to_str().unwrap().to_owned();
            let pair = raw.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned(), raw.clone())
        })
        .collect()
}

/// A request as a browser app sends it: with the jar's cookies, the given
/// CSRF token and extra headers.
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    jar: &Jar,
    csrf: Option<&str>,
    extra: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("cookie", jar.header());
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::read(req.send().await.unwrap()).await
}

async fn post(app: &TestApp, path: &str, jar: &Jar, csrf: Option<&str>) -> Reply {
    send(app, reqwest::Method::POST, path, jar, csrf, &[], None).await
}

/// Registers `email` and logs in in cookie mode: the answer and the jar.
async fn cookie_login(app: &TestApp, email: &str) -> (Reply, Jar) {
    app.register(email, PW).await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PW, "refresh_token_delivery": "cookie"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut jar = Jar::default();
    jar.absorb(&r);
    (r, jar)
}

fn is_csrf_refusal(r: &Reply) {
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json["type"], "urn:portcullis:problem:csrf", "{}", r.text);
}

backend_tests!(cookie_login_sets_the_cookies, |app: TestApp| async move {
    let (r, jar) = cookie_login(&app, "ann@example.com").await;
    // No refresh token in the body; the access token and the CSRF token are.
    assert!(r.json.get("refresh_token").is_none(), "{}", r.text);
    assert!(!r.text.contains(jar.get(REFRESH)));
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 900);
    assert_eq!(r.json["rotate_in"], 720);
    assert_eq!(r.json["user"]["email"], "ann@example.com");
    assert_eq!(r.json["csrf_token"], jar.csrf());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let cookies = set_cookies(&r);
    // The refresh, issued-at and CSRF cookies, and the session canary.
    let names: Vec<&str> = cookies.iter().map(|(n, _, _)| n.as_str()).collect();
    for name in [REFRESH, IAT, CSRF, "portcullis_canary"] {
        assert!(names.contains(&name), "{names:?}");
    }
    for (name, value, raw) in &cookies {
        if !name.starts_with("__Host-") {
            continue;
        }
        assert!(!value.is_empty());
        assert!(raw.len() < 4096);
        for attr in ["Secure", "Path=/;", "SameSite=Strict", "Max-Age="] {
            assert!(raw.contains(attr), "{raw}");
        }
        assert!(!raw.to_ascii_lowercase().contains("domain"), "{raw}");
        // Only the refresh token is out of the app's reach.
        assert_eq!(raw.contains("HttpOnly"), name == REFRESH, "{raw}");
    }
    let now = app.clock.now().unix_timestamp();
    assert_eq!(jar.get(IAT).parse::<i64>().unwrap(), now);
    // The access token works.
    let token = r.json["access_token"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/auth/me", Some(token)).await.status, 200);
});

backend_tests!(
    refresh_by_cookie_rotates_and_detects_reuse,
    |app: TestApp| async move {
        let (_, first) = cookie_login(&app, "bo@example.com").await;
        let r = post(&app, "/api/v1/auth/refresh", &first, Some(&first.csrf())).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json.get("refresh_token").is_none(), "{}", r.text);
        assert!(r.json["access_token"].is_string());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let mut second = first.clone();
        second.absorb(&r);
        assert_ne!(second.get(REFRESH), first.get(REFRESH));
        assert_ne!(second.csrf(), first.csrf());
        assert_eq!(r.json["csrf_token"], second.csrf());
        // The new cookie works; then the old one is replayed: 401, and the
        // family dies with it.
        let r = post(&app, "/api/v1/auth/refresh", &second, Some(&second.csrf())).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let mut third = second.clone();
        third.absorb(&r);
        let r = post(&app, "/api/v1/auth/refresh", &first, Some(&first.csrf())).await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = post(&app, "/api/v1/auth/refresh", &third, Some(&third.csrf())).await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = send(
            &app,
            reqwest::Method::GET,
            "/api/v1/bff/session",
            &third,
            None,
            &[],
            None,
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
);

backend_tests!(
    what_the_cookie_authenticates_needs_the_csrf_checks,
    |app: TestApp| async move {
        let (_, jar) = cookie_login(&app, "cy@example.com").await;
        let good = jar.csrf();
        for path in [
            "/api/v1/auth/refresh",
            "/api/v1/auth/logout",
            "/api/v1/bff/refresh",
        ] {
            // No header, a wrong one, another session's shape.
            is_csrf_refusal(&post(&app, path, &jar, None).await);
            is_csrf_refusal(&post(&app, path, &jar, Some("wrong")).await);
            is_csrf_refusal(&post(&app, path, &jar, Some(&good[1..])).await);
            // The right token from another site.
            for extra in [
                ("origin", "https://evil.example"),
                ("origin", "null"),
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-site", "same-site"),
            ] {
                let r = send(
                    &app,
                    reqwest::Method::POST,
                    path,
                    &jar,
                    Some(&good),
                    &[extra],
                    None,
                )
                .await;
                is_csrf_refusal(&r);
            }
        }
        let r = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/bff/authorize",
            &jar,
            None,
            &[],
            Some(json!({"action": "read", "resource": {"type": "documents"}})),
        )
        .await;
        is_csrf_refusal(&r);
        // None of that spent or ended anything: from the app's own origin,
        // as a browser sends it, the cookie still works.
        let origin = app.base.clone();
        let r = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            &jar,
            Some(&good),
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
            None,
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

backend_tests!(
    bearer_and_body_tokens_need_no_csrf_token,
    |app: TestApp| async move {
        // A browser that holds the cookies but sends the refresh token in
        // the body, or a bearer token, is not authenticated by the cookie.
        let bearer = app.user("di@example.com").await;
        let (_, mut jar) = cookie_login(&app, "dee@example.com").await;
        // (Without the cookie session's canary, which the risk checks
        // would rightly find wrong for another session's refresh.)
        jar.0.remove("portcullis_canary");
        let r = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            &jar,
            None,
            &[("sec-fetch-site", "cross-site")],
            Some(json!({"refresh_token": bearer.refresh_token})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json["refresh_token"].is_string());
        assert!(set_cookies(&r).is_empty());
        let token = r.json["access_token"].as_str().unwrap().to_owned();
        let r = app
            .http
            .post(app.url("/api/v1/auth/logout"))
            .header("cookie", jar.header())
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let r = Reply::read(r).await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status, 401);
        // Without a token anywhere: 401.
        let r = app.post("/api/v1/auth/refresh", None, json!({})).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
);

backend_tests!(logout_by_cookie, |app: TestApp| async move {
    let (login, jar) = cookie_login(&app, "ed@example.com").await;
    let access = login.json["access_token"].as_str().unwrap();
    let r = post(&app, "/api/v1/auth/logout", &jar, Some(&jar.csrf())).await;
    assert_eq!(r.status, 204, "{}", r.text);
    // The three cookies are cleared.
    let cleared = set_cookies(&r);
    assert_eq!(cleared.len(), 3, "{cleared:?}");
    for (name, value, raw) in &cleared {
        assert!(name.starts_with("__Host-portcullis_"));
        assert!(value.is_empty());
        assert!(raw.contains("Max-Age=0"), "{raw}");
    }
    // The old cookie is dead, and so is the session's access token.
    let r = post(&app, "/api/v1/auth/refresh", &jar, Some(&jar.csrf())).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = send(
        &app,
        reqwest::Method::GET,
        "/api/v1/bff/session",
        &jar,
        None,
        &[],
        None,
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(app.get("/api/v1/auth/me", Some(access)).await.status, 401);
    // Logging out again with it: 401, and the cookies cleared anyway.
    let r = post(&app, "/api/v1/auth/logout", &jar, Some(&jar.csrf())).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(set_cookies(&r).len(), 3);
});

backend_tests!(bff_session_answers_metadata, |app: TestApp| async move {
    let (login, jar) = cookie_login(&app, "flo@example.com").await;
    let access = claims(login.json["access_token"].as_str().unwrap());
    let session = |jar: Jar| {
        let app = &app;
        async move {
            send(
                app,
                reqwest::Method::GET,
                "/api/v1/bff/session",
                &jar,
                None,
                &[],
                None,
            )
            .await
        }
    };
    let r = session(jar.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let s = &r.json;
    assert_eq!(s["user_id"], access["sub"]);
    assert_eq!(s["session_id"], access["sid"]);
    assert_eq!(s["scopes"], json!([]));
    assert!(s["roles"].is_array());
    assert_eq!(s["amr"], json!(["pwd"]));
    assert_eq!(s["rotate_in"], 720);
    let exp = time::OffsetDateTime::from_unix_timestamp(access["exp"].as_i64().unwrap()).unwrap();
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(parse(&s["access_token_expires_at"]), exp);
    assert!(parse(&s["refresh_token_expires_at"]) > exp);
    assert!(parse(&s["session_expires_at"]) >= parse(&s["refresh_token_expires_at"]));
    // The hint counts down with the access token's life.
    app.clock.advance(Duration::minutes(10));
    assert_eq!(session(jar.clone()).await.json["rotate_in"], 120);
    app.clock.advance(Duration::minutes(3));
    assert_eq!(session(jar.clone()).await.json["rotate_in"], 0);
    // Reading spends nothing: the cookie still rotates. The spent cookie
    // is then refused here without ending the session.
    let r = post(&app, "/api/v1/bff/refresh", &jar, Some(&jar.csrf())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut next = jar.clone();
    next.absorb(&r);
    assert_eq!(session(jar.clone()).await.status, 401);
    let r = session(next.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["rotate_in"], 720);
    // No cookie: 401.
    assert_eq!(session(Jar::default()).await.status, 401);
});

backend_tests!(bff_refresh_rotates_the_cookie, |app: TestApp| async move {
    let (_, jar) = cookie_login(&app, "gus@example.com").await;
    let r = post(&app, "/api/v1/bff/refresh", &jar, Some(&jar.csrf())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.json.get("refresh_token").is_none());
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status, 200);
    let mut next = jar.clone();
    next.absorb(&r);
    assert_ne!(next.get(REFRESH), jar.get(REFRESH));
    assert_eq!(r.json["csrf_token"], next.csrf());
    // Under the realm's own prefix too.
    let r = post(
        &app,
        "/api/v1/realms/main/bff/refresh",
        &next,
        Some(&next.csrf()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Reuse of a spent cookie ends the session.
    let r = post(&app, "/api/v1/bff/refresh", &jar, Some(&jar.csrf())).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status, 401);
    // No cookie: 401.
    let r = post(&app, "/api/v1/bff/refresh", &Jar::default(), Some("x")).await;
    assert_eq!(r.status, 401, "{}", r.text);
});

backend_tests!(
    bff_authorize_decides_for_the_cookie_user,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let (login, jar) = cookie_login(&app, "hal@example.com").await;
        let id = login.json["user"]["id"].as_str().unwrap().to_owned();
        let authorize = |body: Value| {
            let (app, jar) = (&app, jar.clone());
            async move {
                send(
                    app,
                    reqwest::Method::POST,
                    "/api/v1/bff/authorize",
                    &jar,
                    Some(&jar.csrf()),
                    &[],
                    Some(body),
                )
                .await
            }
        };
        let read = json!({"action": "read", "resource": {"type": "documents", "id": "7"}});
        let r = authorize(read.clone()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["allowed"], false);
        assert_eq!(r.json["reason"], "no_match");
        assert!(r.json.get("explanation").is_none());
        let r = app
            .post(
                &format!("/api/v1/rbac/users/{id}/permissions"),
                Some(&admin),
                json!({"permission": "documents:read:all"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let mut explained = read.clone();
        explained["explain"] = json!(true);
        let r = authorize(explained).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["allowed"], true, "{}", r.text);
        assert_eq!(r.json["reason"], "direct_allow");
        assert!(r.json["explanation"].is_object());
        // Checking another subject is not this endpoint's business.
        let mut other = read.clone();
        other["subject"] = json!(id);
        let r = authorize(other).await;
        assert_eq!(r.status, 422, "{}", r.text);
        // A dead cookie: 401.
        let r = post(&app, "/api/v1/auth/logout", &jar, Some(&jar.csrf())).await;
        assert_eq!(r.status, 204);
        assert_eq!(authorize(read).await.status, 401);
    }
);

/// Cookie mode follows the public URL: refused on plain http but for
/// loopback hosts (browsers would drop the `Secure` cookies), and the
/// origin requests must come from is the public URL's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_mode_follows_the_public_url() {
    use portcullis_testkit::{Backend, spawn_app_with};
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.public_url = "http://id.example.com".to_owned();
    })
    .await
    .unwrap();
    app.register("ivy@example.com", PW).await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ivy@example.com", "password": PW, "refresh_token_delivery": "cookie"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["errors"][0]["field"], "refresh_token_delivery");
    assert!(set_cookies(&r).is_empty());
    // An unknown mode is bad input like any other.
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ivy@example.com", "password": PW, "refresh_token_delivery": "header"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);

    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.public_url = "https://id.example.com".to_owned();
    })
    .await
    .unwrap();
    let (_, jar) = cookie_login(&app, "ivy@example.com").await;
    let r = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/refresh",
        &jar,
        Some(&jar.csrf()),
        &[("origin", &app.base)],
        None,
    )
    .await;
    is_csrf_refusal(&r);
    let r = send(
        &app,
        reqwest::Method::POST,
        "/api/v1/auth/refresh",
        &jar,
        Some(&jar.csrf()),
        &[("origin", "https://id.example.com")],
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bff_routes_are_described() {
    let app = portcullis_testkit::spawn_app(portcullis_testkit::Backend::Sqlite)
        .await
        .unwrap();
    let doc = app.get("/openapi.json", None).await.json;
    for path in [
        "/api/v1/bff/session",
        "/api/v1/bff/refresh",
        "/api/v1/bff/authorize",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
        let realm = path.replace("/api/v1/", "/api/v1/realms/{realm}/");
        assert!(doc["paths"][&realm].is_object(), "{realm}");
    }
    let params = doc["paths"]["/api/v1/bff/session"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(
        params
            .iter()
            .any(|p| p["in"] == "cookie" && p["name"] == REFRESH),
        "{params:?}"
    );
    assert!(doc["components"]["schemas"]["BffSessionView"].is_object());
    assert!(doc["components"]["schemas"]["CookieTokenResponse"].is_object());
}

backend_tests!(
    cookie_mode_after_a_second_factor,
    |app: TestApp| async move {
        use super::mfa::{code_at, enrolled};
        let (_, secret, _) = enrolled(&app, "jo@example.com").await;
        // The first step answers the second to complete, and sets no cookie.
        let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "jo@example.com", "password": PW, "refresh_token_delivery": "cookie"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["mfa_required"], true);
        assert!(set_cookies(&r).is_empty());
        let r = app
            .post(
                "/api/v1/mfa/verify",
                None,
                json!({
                    "mfa_token": r.json["mfa_token"], "method": "totp",
                    "code": code_at(&app, &secret, 0), "refresh_token_delivery": "cookie",
                }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json.get("refresh_token").is_none(), "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd", "otp", "mfa"]));
        let mut jar = Jar::default();
        jar.absorb(&r);
        assert_eq!(r.json["csrf_token"], jar.csrf());
        let s = send(
            &app,
            reqwest::Method::GET,
            "/api/v1/bff/session",
            &jar,
            None,
            &[],
            None,
        )
        .await;
        assert_eq!(s.status, 200, "{}", s.text);
        assert_eq!(s.json["amr"], r.json["amr"]);
        let r = post(&app, "/api/v1/auth/refresh", &jar, Some(&jar.csrf())).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

/// A `Basic` header beside the refresh cookie does not let a browser app's
/// requests skip the account's limiter (the edge skips the account's
/// bookkeeping for requests whose only credentials are a client's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basic_header_beside_the_cookie_does_not_skip_the_account_limiter() {
    use portcullis_core::edge::{Group, RateLimitPolicy};
    let mut policy = RateLimitPolicy::default().scaled(1000);
    let general = policy.groups.get_mut(&Group::General).unwrap();
    general.tiers.insert("user".to_owned(), 3);
    let app = portcullis_testkit::spawn_app_with(portcullis_testkit::Backend::Sqlite, |s| {
        s.rate_limits = policy
    })
    .await
    .unwrap();
    let (_, jar) = cookie_login(&app, "gil@example.com").await;
    let session = || {
        send(
            &app,
            reqwest::Method::GET,
            "/api/v1/bff/session",
            &jar,
            None,
            // "a:b": a client's credentials.
            &[("authorization", "Basic YTpi")],
            None,
        )
    };
    for _ in 0..3 {
        let r = session().await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = session().await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.header("ratelimit-policy"), Some("\"general\";q=3;w=900"));
}
