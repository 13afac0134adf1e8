//! Zero trust on every authenticated request, and revocations across
//! instances: a token used from another device raises its session's risk
//! (or ends the session where the realm says so), sensitive operations need
//! a recent authentication (RFC 9470's `insufficient_user_authentication`),
//! a deactivated account's token is refused at once, and a logout, an ended
//! session or a deactivation on one instance is refused by a second
//! instance on the same database within a second.

use std::time::{Duration as StdDuration, Instant};

use portcullis_testkit::Reply;

use super::*;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

/// Sends a request from a browser (`ua`).
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    ua: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let mut req = app
        .http
        .request(method, app.url(path))
        .header("user-agent", ua)
        .header("accept-language", "en-GB,en;q=0.8");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::read(req.send().await.unwrap()).await
}

async fn login_from(app: &TestApp, email: &str, password: &str, ua: &str) -> Value {
    let r = send(
        app,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        ua,
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(r.status, 200, "login: {}", r.text);
    r.json
}

/// Asserts a 401 asking for a fresh authentication, as RFC 9470 says.
fn assert_reauthentication_required(r: &Reply) {
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        r.json["type"],
        "urn:portcullis:problem:reauthentication-required"
    );
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.ends_with("max_age=300"), "{challenge}");
    assert!(
        r.json["detail"].as_str().unwrap().contains("log in again"),
        "{}",
        r.text
    );
}

async fn new_role(app: &TestApp, token: &str, ua: &str, name: &str) -> Reply {
    send(
        app,
        reqwest::Method::POST,
        "/api/v1/rbac/roles",
        ua,
        Some(token),
        Some(json!({"name": name})),
    )
    .await
}

async fn change_password(app: &TestApp, token: &str, ua: &str, current: &str) -> Reply {
    send(
        app,
        reqwest::Method::POST,
        "/api/v1/auth/change-password",
        ua,
        Some(token),
        Some(json!({"current_password": current, "new_password": "another fine passphrase 2"})),
    )
    .await
}

backend_tests!(
    a_token_from_another_device_raises_the_risk_until_a_fresh_login,
    |app: TestApp| async move {
        let admin = login_from(&app, ADMIN_EMAIL, ADMIN_PASSWORD, FIREFOX).await;
        let t = admin["access_token"].as_str().unwrap();
        let get = |ua: &'static str| {
            send(
                &app,
                reqwest::Method::GET,
                "/api/v1/rbac/roles",
                ua,
                Some(t),
                None,
            )
        };
        assert_eq!(get(FIREFOX).await.status, 200);
        assert_eq!(new_role(&app, t, FIREFOX, "before").await.status, 201);
        // The same token from an iPhone: the request goes on (the realm
        // steps up by default), but the session's risk is raised.
        assert_eq!(get(IPHONE).await.status, 200);
        // Sensitive operations now need a fresh authentication, from
        // either device; reads do not.
        assert_reauthentication_required(&new_role(&app, t, FIREFOX, "after").await);
        assert_reauthentication_required(&new_role(&app, t, IPHONE, "after").await);
        assert_reauthentication_required(&change_password(&app, t, FIREFOX, ADMIN_PASSWORD).await);
        assert_eq!(get(FIREFOX).await.status, 200);
        // A change of factors may carry its own step-up: the password.
        let enrol = |body: Value| {
            send(
                &app,
                reqwest::Method::POST,
                "/api/v1/mfa/totp/enable",
                FIREFOX,
                Some(t),
                Some(body),
            )
        };
        assert_reauthentication_required(&enrol(json!({})).await);
        let r = enrol(json!({"password": ADMIN_PASSWORD})).await;
        assert_eq!(r.status, 201, "{}", r.text);
        // The mismatch is on the audit trail.
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let page = app.core.store().list_audit(realm.id, 1000).await.unwrap();
        assert!(
            page.iter()
                .any(|e| e.action == "risk.session.device_mismatch"),
            "no device_mismatch audit event"
        );
        // A new login is a fresh authentication in a new session.
        let again = login_from(&app, ADMIN_EMAIL, ADMIN_PASSWORD, FIREFOX).await;
        let fresh = again["access_token"].as_str().unwrap();
        assert_eq!(new_role(&app, fresh, FIREFOX, "after").await.status, 201);
    }
);

backend_tests!(
    a_realm_may_end_the_session_of_a_token_from_another_device,
    |app: TestApp| async move {
        let admin = login_from(&app, ADMIN_EMAIL, ADMIN_PASSWORD, FIREFOX).await;
        let a = admin["access_token"].as_str().unwrap();
        let policy = send(
            &app,
            reqwest::Method::GET,
            "/api/v1/risk-policy",
            FIREFOX,
            Some(a),
            None,
        )
        .await;
        assert_eq!(policy.json["on_device_mismatch"], "step_up");
        assert_eq!(policy.json["fresh_auth_max_age"], 300);
        let mut body = policy.json.clone();
        body["on_device_mismatch"] = json!("end_session");
        let put = send(
            &app,
            reqwest::Method::PUT,
            "/api/v1/risk-policy",
            FIREFOX,
            Some(a),
            Some(body.clone()),
        )
        .await;
        assert_eq!(put.status, 200, "{}", put.text);
        assert_eq!(put.json["on_device_mismatch"], "end_session");
        body["on_device_mismatch"] = json!("shrug");
        let bad = send(
            &app,
            reqwest::Method::PUT,
            "/api/v1/risk-policy",
            FIREFOX,
            Some(a),
            Some(body),
        )
        .await;
        assert_eq!(bad.status, 422, "{}", bad.text);

        app.register("roamer@example.com", PW).await;
        let user = login_from(&app, "roamer@example.com", PW, FIREFOX).await;
        let t = user["access_token"].as_str().unwrap();
        let me = |ua: &'static str| {
            send(
                &app,
                reqwest::Method::GET,
                "/api/v1/auth/me",
                ua,
                Some(t),
                None,
            )
        };
        assert_eq!(me(FIREFOX).await.status, 200);
        let r = me(IPHONE).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // The session is over for the right device too, and its refresh
        // token no longer works.
        assert_eq!(me(FIREFOX).await.status, 401);
        let refresh = send(
            &app,
            reqwest::Method::POST,
            "/api/v1/auth/refresh",
            FIREFOX,
            None,
            Some(json!({"refresh_token": user["refresh_token"]})),
        )
        .await;
        assert_eq!(refresh.status, 401, "{}", refresh.text);
    }
);

backend_tests!(
    an_old_authentication_allows_reads_but_not_sensitive_operations,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        app.register("someone@example.com", PW).await;
        let user = app.login("someone@example.com", PW).await;
        let id = user.user.as_ref().unwrap().id;
        app.clock.advance(Duration::minutes(6));
        // Reads are fine: the tokens are still valid.
        assert_eq!(
            app.get("/api/v1/rbac/roles", Some(&admin)).await.status,
            200
        );
        assert_eq!(
            app.get("/api/v1/identity/users", Some(&admin)).await.status,
            200
        );
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&user.access_token))
                .await
                .status,
            200
        );
        // Writes are sensitive.
        let r = app
            .post("/api/v1/rbac/roles", Some(&admin), json!({"name": "late"}))
            .await;
        assert_reauthentication_required(&r);
        let r = app
            .post(
                &format!("/api/v1/identity/users/{id}/deactivate"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_reauthentication_required(&r);
        let r = app
            .post(
                "/api/v1/auth/change-password",
                Some(&user.access_token),
                json!({"current_password": PW, "new_password": "another fine passphrase 2"}),
            )
            .await;
        assert_reauthentication_required(&r);
        // A new login is fresh again.
        let admin = app.admin_token().await;
        let r = app
            .post("/api/v1/rbac/roles", Some(&admin), json!({"name": "late"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let user = app.login("someone@example.com", PW).await;
        let r = app
            .post(
                "/api/v1/auth/change-password",
                Some(&user.access_token),
                json!({"current_password": PW, "new_password": "another fine passphrase 2"}),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
);

backend_tests!(
    a_realm_may_allow_older_authentications,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let mut policy = app.get("/api/v1/risk-policy", Some(&admin)).await.json;
        policy["fresh_auth_max_age"] = json!(10);
        let r = app
            .call(
                reqwest::Method::PUT,
                "/api/v1/risk-policy",
                Some(&admin),
                Some(policy.clone()),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        policy["fresh_auth_max_age"] = json!(600);
        let r = app
            .call(
                reqwest::Method::PUT,
                "/api/v1/risk-policy",
                Some(&admin),
                Some(policy),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.clock.advance(Duration::minutes(6));
        let r = app
            .post("/api/v1/rbac/roles", Some(&admin), json!({"name": "ok"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        app.clock.advance(Duration::minutes(5));
        let r = app
            .post("/api/v1/rbac/roles", Some(&admin), json!({"name": "late"}))
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(
            r.json["type"],
            "urn:portcullis:problem:reauthentication-required"
        );
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .ends_with("max_age=600")
        );
    }
);

backend_tests!(
    a_deactivated_users_token_is_refused_at_once,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let user = app.user("leaver@example.com").await;
        let id = user.user.as_ref().unwrap().id;
        let t = &user.access_token;
        assert_eq!(app.get("/api/v1/auth/me", Some(t)).await.status, 200);
        let r = app
            .post(
                &format!("/api/v1/identity/users/{id}/deactivate"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(app.get("/api/v1/auth/me", Some(t)).await.status, 401);
        let v = app
            .post("/api/v1/auth/validate", None, json!({"token": t}))
            .await;
        assert_eq!(v.json["active"], false);
        // Reactivated, the account signs in again and its new token works.
        let r = app
            .post(
                &format!("/api/v1/identity/users/{id}/reactivate"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.clock.advance(Duration::seconds(1));
        let again = app.login("leaver@example.com", PW).await;
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&again.access_token))
                .await
                .status,
            200
        );
    }
);

/// Polls `peer` with `token` until it is refused, both by the API and by
/// `validate` (which reads only memory: `/auth/me` also reads the account,
/// so a deleted one is refused there without the denylist); fails unless
/// that happens within a second.
async fn refused_within_a_second(peer: &TestApp, token: &str) {
    let start = Instant::now();
    loop {
        let me = peer.get("/api/v1/auth/me", Some(token)).await;
        let v = peer
            .post("/api/v1/auth/validate", None, json!({"token": token}))
            .await;
        if me.status == 401 && v.json["active"] == false {
            return;
        }
        assert!(me.status == 200 || me.status == 401, "{}", me.text);
        assert!(
            start.elapsed() < StdDuration::from_secs(1),
            "the peer still accepts the token after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// A user's token, accepted by both instances (so each has its session in
/// memory: what follows is not a database read on a cache miss).
async fn known_to_both(
    app: &TestApp,
    peer: &TestApp,
    email: &str,
) -> portcullis_proto::TokenResponse {
    let user = app.user(email).await;
    for instance in [app, peer] {
        let r = instance
            .get("/api/v1/auth/me", Some(&user.access_token))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    user
}

backend_tests!(
    a_logout_on_one_instance_is_refused_by_another_within_a_second,
    |app: TestApp| async move {
        let peer = app.spawn_peer().await;
        let user = known_to_both(&app, &peer, "leaving@example.com").await;
        let r = app
            .post("/api/v1/auth/logout", Some(&user.access_token), json!({}))
            .await;
        assert!(r.status == 204 || r.status == 200, "{}", r.text);
        refused_within_a_second(&peer, &user.access_token).await;
        drop(peer);
    }
);

backend_tests!(
    a_session_ended_on_one_instance_is_refused_by_another_within_a_second,
    |app: TestApp| async move {
        let peer = app.spawn_peer().await;
        let first = known_to_both(&app, &peer, "careful@example.com").await;
        // From a second session, the user ends the first one on `app`.
        let second = app.login("careful@example.com", PW).await;
        let sessions = app
            .get("/api/v1/auth/sessions", Some(&second.access_token))
            .await;
        let old = sessions
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == false)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .delete(
                &format!("/api/v1/auth/sessions/{old}"),
                Some(&second.access_token),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        refused_within_a_second(&peer, &first.access_token).await;
        assert_eq!(
            peer.get("/api/v1/auth/me", Some(&second.access_token))
                .await
                .status,
            200
        );
        drop(peer);
    }
);

backend_tests!(
    a_deactivation_on_one_instance_is_refused_by_another_within_a_second,
    |app: TestApp| async move {
        let peer = app.spawn_peer().await;
        let user = known_to_both(&app, &peer, "dismissed@example.com").await;
        let id = user.user.as_ref().unwrap().id;
        let admin = app.admin_token().await;
        let r = app
            .post(
                &format!("/api/v1/identity/users/{id}/deactivate"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        refused_within_a_second(&peer, &user.access_token).await;
        drop(peer);
    }
);

backend_tests!(
    a_raised_risk_holds_on_every_instance,
    |app: TestApp| async move {
        let peer = app.spawn_peer().await;
        let admin = login_from(&app, ADMIN_EMAIL, ADMIN_PASSWORD, FIREFOX).await;
        let t = admin["access_token"].as_str().unwrap();
        let roles = |on: &'static str, instance: &'static str| {
            let target = if instance == "app" { &app } else { &peer };
            send(
                target,
                reqwest::Method::GET,
                "/api/v1/rbac/roles",
                on,
                Some(t),
                None,
            )
        };
        // The peer knows the session from the right device.
        assert_eq!(roles(FIREFOX, "peer").await.status, 200);
        // The token is used from an iPhone on the first instance...
        assert_eq!(roles(IPHONE, "app").await.status, 200);
        // ...and the peer refuses a sensitive operation even from the
        // session's own device.
        assert_reauthentication_required(&new_role(&peer, t, FIREFOX, "x").await);
        assert_eq!(roles(FIREFOX, "peer").await.status, 200);
        drop(peer);
    }
);

backend_tests!(
    a_deletion_on_one_instance_is_refused_by_another_within_a_second,
    |app: TestApp| async move {
        let peer = app.spawn_peer().await;
        let user = known_to_both(&app, &peer, "erased@example.com").await;
        let id = user.user.as_ref().unwrap().id;
        let admin = app.admin_token().await;
        let r = app
            .delete(&format!("/api/v1/identity/users/{id}"), Some(&admin))
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&user.access_token))
                .await
                .status,
            401
        );
        refused_within_a_second(&peer, &user.access_token).await;
        drop(peer);
    }
);
