//! The social presets against local stand-ins that speak each provider's
//! documented endpoints (`portcullis_testkit::standin`): Google's and
//! Microsoft's discovery, GitHub's `/user` and `/user/emails`, Apple's
//! `form_post` and signed client secret; through an API client's flow
//! (start, provider, callback, exchange). Hostile answers over HTTP: a
//! wrong nonce, a token for another audience, garbage discovery.

use std::collections::HashMap;

use super::*;
use crate::oidc::{Browser, CB, attr_after, enc, hidden_inputs};
use base64::Engine as _;
use portcullis_testkit::Reply;
use portcullis_testkit::standin::{Hostility, StandIn, StandInUser};

const VERIFIER: &str = "c29jaWFsLXZlcmlmaWVyLXNvY2lhbC12ZXJpZmllcg0";

fn s256(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(portcullis_crypto::sha256(v.as_bytes()))
}

async fn standin(app: &TestApp) -> StandIn {
    StandIn::start(std::sync::Arc::new(app.clock.clone())).await
}

async fn add(app: &TestApp, admin: &str, body: Value) {
    let r = app
        .post("/api/v1/identity-providers", Some(admin), body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn client(app: &TestApp, admin: &str) {
    let r = app
        .post(
            "/api/v1/clients",
            Some(admin),
            json!({"name": "SPA", "client_id": "spa", "client_type": "public",
                   "token_endpoint_auth_method": "none",
                   "redirect_uris": [CB], "grant_types": ["authorization_code"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// An API client's sign-in through `alias`: where the browser lands at
/// the client (its query).
async fn sign_in(app: &TestApp, alias: &str) -> HashMap<String, String> {
    let mut b = Browser::default();
    let r = b
        .get(
            app,
            &format!(
                "/api/v1/auth/social/{alias}?client_id=spa&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s1",
                enc(CB),
                s256(VERIFIER)
            ),
        )
        .await;
    assert_eq!(r.status, 302, "{}", r.text);
    let upstream = r.header("location").unwrap().to_owned();
    let up = app.http.get(&upstream).send().await.unwrap();
    let status = up.status().as_u16();
    let headers = up.headers().clone();
    let body = up.text().await.unwrap();
    let back = if status == 200 {
        // form_post: the provider's page posts the answer back.
        let action = attr_after(&body, "action=\"", "\"");
        let fields = hidden_inputs(&body)
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let path = action.strip_prefix(&app.base).unwrap().to_owned();
        b.post(app, &path, fields).await
    } else {
        assert!(status == 302 || status == 303, "{status} {body}");
        let cb = headers.get("location").unwrap().to_str().unwrap();
        b.get(app, cb.strip_prefix(&app.base).unwrap()).await
    };
    assert_eq!(back.status, 303, "{}", back.text);
    let to = url::Url::parse(back.header("location").unwrap()).unwrap();
    assert!(to.as_str().starts_with(CB), "{to}");
    let q: HashMap<String, String> = to.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "s1");
    q
}

async fn exchange(app: &TestApp, q: &HashMap<String, String>) -> Value {
    let code = q.get("code").unwrap_or_else(|| panic!("{q:?}"));
    let r = app
        .post(
            "/api/v1/auth/social/exchange",
            None,
            json!({"code": code, "code_verifier": VERIFIER, "client_id": "spa"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let me = app
        .get("/api/v1/auth/me", r.json["access_token"].as_str())
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    me.json
}

backend_tests!(google_preset, |app: TestApp| async move {
    let s = standin(&app).await;
    let admin = app.admin_token().await;
    client(&app, &admin).await;
    add(
        &app,
        &admin,
        json!({"kind": "google", "issuer": format!("{}/google", s.base()),
               "client_id": "g-client", "client_secret": "g-secret",
               "mappers": [{"type": "attribute", "claim": "hd", "attribute": "domain"}]}),
    )
    .await;
    s.set_user(StandInUser {
        subject: "g-1".into(),
        email: "lin@example.com".into(),
        verified: true,
        name: "Lin".into(),
    });
    let me = exchange(&app, &sign_in(&app, "google").await).await;
    assert_eq!(me["email"], "lin@example.com");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["name"], "Lin");
    let user = me["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/identity/users/{user}"), Some(&admin))
        .await;
    assert_eq!(r.json["attributes"]["domain"], "example.com", "{}", r.text);
    // The token request carried the PKCE verifier and the client's secret.
    let sent = s.token_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["grant_type"], "authorization_code");
    assert!(sent[0]["code_verifier"].len() >= 43);

    // Hostile answers: the client gets an RFC 6749 error, never a 500.
    for h in [Hostility::WrongNonce, Hostility::OtherAudience] {
        s.set_hostility(h.clone());
        let q = sign_in(&app, "google").await;
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("access_denied"),
            "{h:?}: {q:?}"
        );
        assert!(!q.contains_key("code"));
    }
});

backend_tests!(github_preset, |app: TestApp| async move {
    let s = standin(&app).await;
    let admin = app.admin_token().await;
    client(&app, &admin).await;
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "acme-dev", "permissions": ["repos:read:all"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gh = |p: &str| format!("{}/github{p}", s.base());
    add(
        &app,
        &admin,
        json!({"alias": "github", "kind": "github", "client_id": "gh-client", "client_secret": "gh-secret",
               "authorization_endpoint": gh("/login/oauth/authorize"),
               "token_endpoint": gh("/login/oauth/access_token"),
               "userinfo_endpoint": gh("/user"), "emails_endpoint": gh("/user/emails"),
               "mappers": [{"type": "role", "claim": "orgs", "value": "acme", "role": "acme-dev"},
                           {"type": "attribute", "claim": "company", "attribute": "company"}]}),
    )
    .await;
    s.set_user(StandInUser {
        subject: "583231".into(),
        email: "octo@github.example".into(),
        verified: true,
        name: String::new(),
    });
    let me = exchange(&app, &sign_in(&app, "github").await).await;
    // The primary verified address, not the others; the login as name.
    assert_eq!(me["email"], "octo@github.example");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["name"], "octocat");
    assert!(
        me["roles"].as_array().unwrap().contains(&json!("acme-dev")),
        "{me}"
    );
    let user = me["id"].as_str().unwrap();
    let r = app
        .get(
            &format!("/api/v1/identity/users/{user}/social-accounts"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.json["items"][0]["subject"], "583231", "{}", r.text);
});

backend_tests!(microsoft_preset, |app: TestApp| async move {
    let s = standin(&app).await;
    let admin = app.admin_token().await;
    client(&app, &admin).await;
    add(
        &app,
        &admin,
        json!({"alias": "microsoft", "kind": "microsoft", "issuer": format!("{}/ms", s.base()),
               "client_id": "ms-client", "client_secret": "ms-secret", "trust_email": true}),
    )
    .await;
    s.set_user(StandInUser {
        subject: "ms-oid-1".into(),
        email: "kim@contoso.example".into(),
        verified: false,
        name: "Kim".into(),
    });
    let me = exchange(&app, &sign_in(&app, "microsoft").await).await;
    assert_eq!(me["email"], "kim@contoso.example");
    // Microsoft does not vouch for addresses; this provider is trusted to.
    assert_eq!(me["email_verified"], true);
});

backend_tests!(apple_preset, |app: TestApp| async move {
    let s = standin(&app).await;
    let admin = app.admin_token().await;
    client(&app, &admin).await;
    // The team's key: the PEM goes to Portcullis, the public key to Apple.
    let key = portcullis_crypto::generate_signing_key(portcullis_crypto::SigningAlgorithm::ES256)
        .unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(key.private_pkcs8_der.as_slice())
    );
    let mut jwk = key.public_jwk.clone();
    jwk["kid"] = json!("KEY1234567");
    s.set_apple_key(jwk);
    add(
        &app,
        &admin,
        json!({"alias": "apple", "kind": "apple", "issuer": format!("{}/apple", s.base()),
               "client_id": "com.example.web", "client_secret": pem,
               "team_id": "TEAM123456", "key_id": "KEY1234567"}),
    )
    .await;
    s.set_user(StandInUser {
        subject: "000123.apple".into(),
        email: "x7@privaterelay.appleid.com".into(),
        verified: true,
        name: "Sam".into(),
    });
    let me = exchange(&app, &sign_in(&app, "apple").await).await;
    assert_eq!(me["email"], "x7@privaterelay.appleid.com");
    assert_eq!(me["email_verified"], true);
    // The name comes only from the form_post's `user`.
    assert_eq!(me["name"], "Sam Apple");
});

backend_tests!(
    garbage_discovery_is_a_clear_error,
    |app: TestApp| async move {
        let s = standin(&app).await;
        let admin = app.admin_token().await;
        client(&app, &admin).await;
        add(
            &app,
            &admin,
            json!({"alias": "broken", "kind": "oidc", "issuer": format!("{}/google", s.base()),
               "client_id": "c", "client_secret": "s"}),
        )
        .await;
        s.set_hostility(Hostility::GarbageDiscovery);
        let r = app
        .get(
            &format!(
                "/api/v1/auth/social/broken?client_id=spa&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
                enc(CB),
                s256(VERIFIER)
            ),
            None,
        )
        .await;
        assert_eq!(r.status, 502, "{}", r.text);
        assert!(r.text.contains("did not answer JSON"), "{}", r.text);
        // An upstream nobody listens on.
        let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/identity-providers/broken",
            Some(&admin),
            Some(json!({"kind": "oidc", "issuer": "http://127.0.0.1:9/nothing", "client_id": "c"})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app
        .get(
            &format!(
                "/api/v1/auth/social/broken?client_id=spa&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
                enc(CB),
                s256(VERIFIER)
            ),
            None,
        )
        .await;
        assert_eq!(r.status, 502, "{}", r.text);
    }
);

/// An exchange from a given user agent (the risk checks read it).
async fn exchange_as(app: &TestApp, q: &HashMap<String, String>, agent: &str) -> Reply {
    let r = app
        .http
        .post(app.url("/api/v1/auth/social/exchange"))
        .header("user-agent", agent)
        .json(&json!({"code": q["code"], "code_verifier": VERIFIER, "client_id": "spa"}))
        .send()
        .await
        .unwrap();
    Reply::read(r).await
}

backend_tests!(
    mfa_and_risk_rules_apply_after_a_preset,
    |app: TestApp| async move {
        let s = standin(&app).await;
        let admin = app.admin_token().await;
        client(&app, &admin).await;
        let r = app
            .post(
                "/api/v1/rbac/roles",
                Some(&admin),
                json!({"name": "ops", "permissions": ["servers:read:all"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/realms/main",
                Some(&admin),
                Some(json!({"mfa_required_roles": ["ops"]})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let google = |alias: &str, trust: bool| {
            json!({"alias": alias, "kind": "google", "issuer": format!("{}/google", s.base()),
               "client_id": "g-client", "client_secret": "g-secret",
               "default_roles": ["ops"], "trust_upstream_mfa": trust})
        };
        add(&app, &admin, google("g-strict", false)).await;
        add(&app, &admin, google("g-trusting", true)).await;
        s.set_amr(&["pwd", "otp", "mfa"]);
        // Not trusted: the realm's own second factor is asked for.
        s.set_user(StandInUser {
            subject: "strict-1".into(),
            email: "ops1@example.com".into(),
            verified: true,
            name: "Ops One".into(),
        });
        let r = exchange_as(&app, &sign_in(&app, "g-strict").await, "Agent/1.0").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["mfa_required"], true, "{}", r.text);
        assert!(r.json.get("access_token").is_none());
        // Trusted: the upstream's factors count; amr says so.
        s.set_user(StandInUser {
            subject: "trusting-1".into(),
            email: "ops2@example.com".into(),
            verified: true,
            name: "Ops Two".into(),
        });
        let r = exchange_as(&app, &sign_in(&app, "g-trusting").await, "Agent/1.0").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["fed", "otp", "mfa"]), "{}", r.text);
        // The risk checks: a sign-in from another device is blocked at the
        // realm's thresholds.
        let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/risk-policy",
            Some(&admin),
            Some(json!({"enabled": true, "step_up_at": 1, "block_at": 1, "notify_new_device": false})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = exchange_as(
            &app,
            &sign_in(&app, "g-trusting").await,
            "Another Browser/2.0 (Windows NT 10.0)",
        )
        .await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("risk policy"), "{}", r.text);
    }
);
