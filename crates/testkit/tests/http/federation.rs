//! Federation: the identity-provider registry, and sign-ins through an
//! upstream OpenID Provider that is another realm of the same server (a
//! real OpenID Provider, with its own login page, codes, keys and ID
//! tokens), in a browser and for an API client. Hostile cases: a state
//! from another browser, a replayed callback, an upstream address that is
//! not verified matching a local account, an upstream refusal.

use super::*;
use crate::oidc::{Browser, CB, TOKEN, authorize_query, code_of, enc, token, web_client};
use base64::Engine as _;
use portcullis_core::users::NewUser;
use portcullis_testkit::{Backend, Reply, spawn_mail_app};
use secrecy::SecretString;

/// The upstream realm.
const UP: &str = "up";
/// The provider's alias in the main realm.
const ALIAS: &str = "corp";
/// The API client's PKCE verifier.
const VERIFIER: &str = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhmb29iYXJiYXpxdXg";

fn s256(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(portcullis_crypto::sha256(v.as_bytes()))
}

/// The main realm federating with the realm `up`.
pub(crate) struct Fed {
    pub(crate) admin: String,
    /// The main realm's web client's secret.
    app_secret: String,
}

/// The server's public URL (the base address, or `localhost` for WebAuthn).
fn public(app: &TestApp) -> String {
    app.core.settings().public_url.clone()
}

fn callback(app: &TestApp) -> String {
    format!("{}/api/v1/auth/social/{ALIAS}/callback", public(app))
}

/// A user of the upstream realm, with the address verified or not.
pub(crate) async fn upstream_user(app: &TestApp, email: &str, verified: bool) -> uuid::Uuid {
    let created = app
        .core
        .users()
        .create_as_operator(
            UP,
            NewUser {
                email: email.to_owned(),
                password: Some(SecretString::from(PW.to_owned())),
                name: Some("Upstream Person".to_owned()),
                admin: false,
                attributes: None,
            },
        )
        .await
        .expect("upstream user");
    set_verified(app, created.user.realm_id, created.user.id, verified).await;
    created.user.id
}

pub(crate) async fn set_verified(
    app: &TestApp,
    realm_id: uuid::Uuid,
    id: uuid::Uuid,
    verified: bool,
) {
    let store = app.core.store();
    let mut user = store.get_user(realm_id, id).await.unwrap().unwrap();
    user.email_verified = verified;
    store.update_user(&user).await.unwrap();
}

/// Realm `up` with a client for the main realm, and the provider `corp` in
/// the main realm (extra settings from `provider`).
pub(crate) async fn federate(app: &TestApp, provider: Value) -> Fed {
    let admin = app.admin_token().await;
    let r = app
        .post("/api/v1/realms", Some(&admin), json!({ "name": UP }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.core
        .users()
        .create_as_operator(
            UP,
            NewUser {
                email: "boss@up.test".to_owned(),
                password: Some(SecretString::from(PW.to_owned())),
                name: None,
                admin: true,
                attributes: None,
            },
        )
        .await
        .expect("upstream admin");
    let r = app
        .post(
            "/api/v1/realms/up/auth/login",
            None,
            json!({"email": "boss@up.test", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let up_admin = r.json["access_token"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/realms/up/clients",
            Some(&up_admin),
            json!({
                "name": "Main realm",
                "client_id": "portcullis-main",
                "redirect_uris": [callback(app)],
                "grant_types": ["authorization_code"],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let up_secret = r.json["client_secret"].as_str().unwrap().to_owned();
    let mut body = json!({
        "alias": ALIAS,
        "kind": "oidc",
        "display_name": "Corp SSO",
        "issuer": format!("{}/realms/up", public(app)),
        "client_id": "portcullis-main",
        "client_secret": up_secret,
    });
    for (k, v) in provider.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .post("/api/v1/identity-providers", Some(&admin), body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["redirect_uri"], callback(app));
    assert_eq!(r.json["has_secret"], true);
    assert!(r.json.get("client_secret").is_none(), "{}", r.text);
    let app_secret = web_client(app, &admin, "app", json!({})).await;
    Fed { admin, app_secret }
}

pub(crate) fn path_of(app: &TestApp, location: &str) -> String {
    location
        .strip_prefix(&app.base)
        .or_else(|| location.strip_prefix(&public(app)))
        .unwrap_or_else(|| panic!("{location} is not on {}", app.base))
        .to_owned()
}

fn location(r: &Reply) -> String {
    assert!(
        r.status == 302 || r.status == 303,
        "{} {}",
        r.status,
        r.text
    );
    r.header("location").unwrap().to_owned()
}

/// The login page's first "Continue with ..." link (a GET: the page's
/// `form-action` could not name every provider's origin).
fn provider_link(page: &Reply) -> String {
    crate::oidc::attr_after(&page.text, "<a class=\"button secondary\" href=\"", "\"")
}

/// From the main realm's login page through the provider button to the
/// upstream's login page, signed in there as `email`: the callback URL the
/// upstream sends the browser to.
pub(crate) async fn through_upstream(app: &TestApp, b: &mut Browser, email: &str) -> String {
    let page = b.get(app, &authorize_query("app", &[])).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Continue with Corp SSO"),
        "{}",
        page.text
    );
    let r = b.get(app, &provider_link(&page)).await;
    let upstream = location(&r);
    assert!(
        upstream.starts_with(&format!("{}/realms/up/oauth2/authorize?", public(app))),
        "{upstream}"
    );
    assert!(b.cookies.contains_key("portcullis_fed"), "{:?}", r.headers);
    let q: std::collections::HashMap<String, String> = url::Url::parse(&upstream)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], callback(app));
    assert!(q.contains_key("nonce") && q.contains_key("state"), "{q:?}");
    login_upstream(app, b, &upstream, email).await
}

/// Signs in at the upstream realm's login page; the callback URL.
async fn login_upstream(app: &TestApp, b: &mut Browser, upstream: &str, email: &str) -> String {
    let page = b.get(app, &path_of(app, upstream)).await;
    if page.status == 303 {
        // Signed in upstream already (its single sign-on).
        return location(&page);
    }
    assert_eq!(page.status, 200, "{}", page.text);
    let r = b
        .submit(app, &page, &[("email", email), ("password", PW)])
        .await;
    let cb = location(&r);
    assert!(cb.starts_with(&callback(app)), "{cb}");
    cb
}

async fn id_token(app: &TestApp, fed: &Fed, r: &Reply) -> Value {
    let code = code_of(app, r);
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        enc(CB)
    );
    let t = token(app, "app", &fed.app_secret, &body).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let id = claims(t.json["id_token"].as_str().unwrap());
    let mut id = id;
    id["access_token"] = t.json["access_token"].clone();
    id
}

backend_tests!(provider_registry, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let p = "/api/v1/identity-providers";
    // Every wrong field is named.
    let r = app
        .post(
            p,
            Some(&admin),
            json!({"alias": "Bad Alias", "kind": "oidc", "client_id": "",
                   "issuer": "http://idp.example.com", "allowed_algs": ["none"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let named: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "alias",
        "client_id",
        "issuer",
        "allowed_algs",
        "client_secret",
    ] {
        assert!(named.contains(&f), "{f} in {named:?}");
    }
    let r = app
        .post(
            p,
            Some(&admin),
            json!({"alias": "x", "kind": "ldap", "client_id": "c"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["errors"][0]["field"], "kind");
    let r = app
        .post(
            p,
            Some(&admin),
            json!({"alias": "x", "kind": "github", "client_id": "c", "surprise": 1}),
        )
        .await;
    assert!(r.status == 400 || r.status == 422, "{}", r.text);
    // A preset needs little; the secret is write-only.
    let r = app
        .post(
            p,
            Some(&admin),
            json!({"alias": "github", "kind": "github", "client_id": "gh-client",
                   "client_secret": "gh-secret", "default_roles": ["user"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(!r.text.contains("gh-secret"), "{}", r.text);
    assert_eq!(r.json["display_name"], "GitHub");
    assert_eq!(
        r.json["redirect_uri"],
        format!("{}/api/v1/auth/social/github/callback", app.base)
    );
    let r = app
        .post(
            p,
            Some(&admin),
            json!({"alias": "github", "kind": "github", "client_id": "other", "client_secret": "s"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // Unknown roles are named.
    let r = app
        .post(
            p,
            Some(&admin),
            json!({"alias": "g2", "kind": "google", "client_id": "c", "client_secret": "s",
                   "mappers": [{"type": "role", "claim": "hd", "value": "example.com", "role": "nope"}]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["errors"][0]["field"], "mappers[0].role");
    // Replace without the secret keeps it.
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/identity-providers/github",
            Some(&admin),
            Some(json!({"kind": "github", "client_id": "gh-2", "enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["has_secret"], true);
    assert_eq!(r.json["enabled"], false);
    assert_eq!(r.json["client_id"], "gh-2");
    let r = app.get(p, Some(&admin)).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1, "{}", r.text);
    // A disabled provider cannot be used.
    let r = app
        .get("/api/v1/auth/social/github?client_id=x", None)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Users may not administer providers.
    let user = app.user("plain@example.com").await;
    let r = app.get(p, Some(&user.access_token)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("identity-providers:read:all"), "{}", r.text);
    let r = app
        .post(p, Some(&user.access_token), json!({"alias": "x"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Delete.
    let r = app
        .delete("/api/v1/identity-providers/github", Some(&admin))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .get("/api/v1/identity-providers/github", Some(&admin))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
});

backend_tests!(new_then_returning_user, |app: TestApp| async move {
    let fed = federate(&app, json!({})).await;
    upstream_user(&app, "ada@corp.test", true).await;
    let mut b = Browser::default();
    let cb = through_upstream(&app, &mut b, "ada@corp.test").await;
    let r = b.get(&app, &path_of(&app, &cb)).await;
    let first = id_token(&app, &fed, &r).await;
    assert_eq!(first["idp"], ALIAS, "{first}");
    assert_eq!(first["amr"], json!(["fed"]), "{first}");
    assert_eq!(first["email"], "ada@corp.test");
    // The account: no password, address verified by the upstream, one link.
    let user = first["sub"].as_str().unwrap();
    let me = app
        .get(&format!("/api/v1/identity/users/{user}"), Some(&fed.admin))
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["email_verified"], true, "{}", me.text);
    let links = app
        .get(
            &format!("/api/v1/identity/users/{user}/social-accounts"),
            Some(&fed.admin),
        )
        .await;
    assert_eq!(links.status, 200, "{}", links.text);
    assert_eq!(links.json["items"][0]["provider"], ALIAS, "{}", links.text);
    let id = links.json["items"][0]["id"].as_str().unwrap().to_owned();
    // The replayed callback is refused.
    let again = b.get(&app, &path_of(&app, &cb)).await;
    assert_eq!(again.status, 400, "{}", again.text);
    // Returning, in another browser: the same account.
    let mut b2 = Browser::default();
    let cb = through_upstream(&app, &mut b2, "ada@corp.test").await;
    let r = b2.get(&app, &path_of(&app, &cb)).await;
    let second = id_token(&app, &fed, &r).await;
    assert_eq!(second["sub"], first["sub"]);
    // Administrators see and remove the link.
    let r = app
        .get(
            &format!("/api/v1/identity/users/{user}/social-accounts"),
            Some(&fed.admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = app
        .delete(
            &format!("/api/v1/identity/users/{user}/social-accounts/{id}"),
            Some(&fed.admin),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
});

backend_tests!(
    state_from_another_browser_is_refused,
    |app: TestApp| async move {
        federate(&app, json!({})).await;
        upstream_user(&app, "eve@corp.test", true).await;
        let mut victim = Browser::default();
        let cb = through_upstream(&app, &mut victim, "eve@corp.test").await;
        // Another browser (no binding cookie, or its own) presents the callback.
        let mut other = Browser::default();
        let r = other.get(&app, &path_of(&app, &cb)).await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.text.contains("not started in this browser"), "{}", r.text);
        let mut forger = Browser::default();
        forger
            .cookies
            .insert("portcullis_fed".into(), "A".repeat(43));
        let r = forger.get(&app, &path_of(&app, &cb)).await;
        assert_eq!(r.status, 400, "{}", r.text);
        // An unknown state.
        let r = victim
            .get(
                &app,
                &format!("/api/v1/auth/social/{ALIAS}/callback?code=x&state=forged"),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
);

backend_tests!(
    unverified_upstream_address_never_links,
    |app: TestApp| async move {
        // Automatic linking on: still no link without both sides verified.
        let fed = federate(&app, json!({"auto_link": true})).await;
        let victim = app.register("victim@corp.test", PW).await;
        let victim_id: uuid::Uuid = victim["id"].as_str().unwrap().parse().unwrap();
        let main = app.core.realms().by_name("main").await.unwrap();
        set_verified(&app, main.id, victim_id, true).await;
        // The attacker controls an upstream account claiming the address,
        // unverified.
        upstream_user(&app, "victim@corp.test", false).await;
        let mut attacker = Browser::default();
        let cb = through_upstream(&app, &mut attacker, "victim@corp.test").await;
        let page = attacker.get(&app, &path_of(&app, &cb)).await;
        assert_eq!(page.status, 200, "{}", page.text);
        assert!(
            page.text.contains("Link Corp SSO to your account"),
            "{}",
            page.text
        );
        // Its forms end at the client: the page's form-action allows its origin.
        let csp = page.header("content-security-policy").unwrap();
        assert!(
            csp.contains("form-action 'self' https://app.example.com"),
            "{csp}"
        );
        // A wrong password links nothing, and the pending link is spent.
        let r = attacker
            .submit(&app, &page, &[("password", "not the password at all")])
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        let r = attacker.submit(&app, &page, &[("password", PW)]).await;
        assert_eq!(r.status, 400, "{}", r.text);
        let t = app.login("victim@corp.test", PW).await;
        let links = app
            .get("/api/v1/auth/social-accounts", Some(&t.access_token))
            .await;
        assert_eq!(links.json["items"], json!([]), "{}", links.text);
        // The owner proves the account and links it.
        let mut owner = Browser::default();
        let cb = through_upstream(&app, &mut owner, "victim@corp.test").await;
        let page = owner.get(&app, &path_of(&app, &cb)).await;
        let r = owner.submit(&app, &page, &[("password", PW)]).await;
        let id = id_token(&app, &fed, &r).await;
        assert_eq!(id["sub"], victim_id.to_string());
        let links = app
            .get("/api/v1/auth/social-accounts", Some(&t.access_token))
            .await;
        assert_eq!(links.json["items"][0]["provider"], ALIAS, "{}", links.text);
    }
);

backend_tests!(
    verified_addresses_link_automatically,
    |app: TestApp| async move {
        let fed = federate(&app, json!({"auto_link": true})).await;
        let local = app.register("grace@corp.test", PW).await;
        let local_id: uuid::Uuid = local["id"].as_str().unwrap().parse().unwrap();
        let main = app.core.realms().by_name("main").await.unwrap();
        set_verified(&app, main.id, local_id, true).await;
        upstream_user(&app, "grace@corp.test", true).await;
        let mut b = Browser::default();
        let cb = through_upstream(&app, &mut b, "grace@corp.test").await;
        let r = b.get(&app, &path_of(&app, &cb)).await;
        let id = id_token(&app, &fed, &r).await;
        assert_eq!(id["sub"], local_id.to_string());
        assert_eq!(id["idp"], ALIAS);
    }
);

backend_tests!(signup_off_and_upstream_refusal, |app: TestApp| async move {
    federate(&app, json!({"allow_signup": false})).await;
    upstream_user(&app, "nobody@corp.test", true).await;
    let mut b = Browser::default();
    let cb = through_upstream(&app, &mut b, "nobody@corp.test").await;
    let r = b.get(&app, &path_of(&app, &cb)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text.contains("cannot be created through this provider"),
        "{}",
        r.text
    );
    // The upstream refuses: the login page again, with the reason.
    let page = b.get(&app, &authorize_query("app", &[])).await;
    let r = b.get(&app, &provider_link(&page)).await;
    let upstream = location(&r);
    let state: String = url::Url::parse(&upstream)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let r = b
        .get(
            &app,
            &format!("/api/v1/auth/social/{ALIAS}/callback?error=access_denied&state={state}"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("cancelled or refused"), "{}", r.text);
    assert!(r.text.contains("Continue with Corp SSO"), "{}", r.text);
});

backend_tests!(idp_hint_skips_the_login_page, |app: TestApp| async move {
    federate(&app, json!({})).await;
    let mut b = Browser::default();
    let r = b
        .get(&app, &authorize_query("app", &[("idp_hint", ALIAS)]))
        .await;
    let upstream = location(&r);
    assert!(
        upstream.contains("/realms/up/oauth2/authorize?"),
        "{upstream}"
    );
    // An unknown hint shows the login page.
    let r = b
        .get(&app, &authorize_query("app", &[("idp_hint", "nope")]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
});

backend_tests!(api_client_exchanges_its_code, |app: TestApp| async move {
    federate(&app, json!({})).await;
    upstream_user(&app, "api@corp.test", true).await;
    // Every missing field is named.
    let r = app.get(&format!("/api/v1/auth/social/{ALIAS}"), None).await;
    assert_eq!(r.status, 422, "{}", r.text);
    let named: Vec<&str> = r.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "client_id",
        "redirect_uri",
        "code_challenge",
        "code_challenge_method",
    ] {
        assert!(named.contains(&f), "{f} in {named:?}");
    }
    let start = |redirect: &str| {
        format!(
            "/api/v1/auth/social/{ALIAS}?client_id=app&redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=spa-1",
            enc(redirect),
            s256(VERIFIER)
        )
    };
    let r = app.get(&start("https://evil.example.com/cb"), None).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["errors"][0]["field"], "redirect_uri");
    let mut b = Browser::default();
    let r = b.get(&app, &start(CB)).await;
    let upstream = location(&r);
    let cb = login_upstream(&app, &mut b, &upstream, "api@corp.test").await;
    let r = b.get(&app, &path_of(&app, &cb)).await;
    let back = url::Url::parse(&location(&r)).unwrap();
    assert!(back.as_str().starts_with(CB), "{back}");
    let q: std::collections::HashMap<String, String> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "spa-1");
    let code = q["code"].clone();
    let exchange = |code: &str, verifier: &str| json!({"code": code, "code_verifier": verifier, "client_id": "app"});
    // The wrong verifier spends the code.
    let r = app
        .post(
            "/api/v1/auth/social/exchange",
            None,
            exchange(&code, "wrong-verifier-wrong-verifier-wrong-verifier"),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let r = app
        .post(
            "/api/v1/auth/social/exchange",
            None,
            exchange(&code, VERIFIER),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    // Again, right.
    let r = b.get(&app, &start(CB)).await;
    let cb = login_upstream(&app, &mut b, &location(&r), "api@corp.test").await;
    let r = b.get(&app, &path_of(&app, &cb)).await;
    let back = url::Url::parse(&location(&r)).unwrap();
    let code = back
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let r = app
        .post(
            "/api/v1/auth/social/exchange",
            None,
            exchange(&code, VERIFIER),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    assert!(r.json["refresh_token"].is_string(), "{}", r.text);
    let me = app.get("/api/v1/auth/me", Some(&access)).await;
    assert_eq!(me.json["email"], "api@corp.test", "{}", me.text);
    // The session names the provider.
    let sessions = app.get("/api/v1/auth/sessions", Some(&access)).await;
    assert_eq!(sessions.json[0]["idp"], ALIAS, "{}", sessions.text);
    assert_eq!(sessions.json[0]["amr"], json!(["fed"]), "{}", sessions.text);
    // The account's only way in, its link, cannot be removed.
    let links = app.get("/api/v1/auth/social-accounts", Some(&access)).await;
    assert_eq!(links.status, 200, "{}", links.text);
    assert_eq!(links.json["items"][0]["provider"], ALIAS, "{}", links.text);
    let id = links.json["items"][0]["id"].as_str().unwrap();
    let r = app
        .delete(&format!("/api/v1/auth/social-accounts/{id}"), Some(&access))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // Spent.
    let r = app
        .post(
            "/api/v1/auth/social/exchange",
            None,
            exchange(&code, VERIFIER),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let _ = TOKEN;
});

backend_tests!(
    mfa_rules_and_roles_apply_after_upstream,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
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
        federate(&app, json!({"default_roles": ["ops"]})).await;
        upstream_user(&app, "op@corp.test", true).await;
        let mut b = Browser::default();
        let cb = through_upstream(&app, &mut b, "op@corp.test").await;
        let r = b.get(&app, &path_of(&app, &cb)).await;
        // The second step, not a code.
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("mfa_token"), "{}", r.text);
        let main = app.core.realms().by_name("main").await.unwrap();
        let user = app
            .core
            .store()
            .get_user_by_email(
                main.id,
                &portcullis_core::model::Email::parse("op@corp.test").unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        let roles = app.core.authz().role_names(main.id, user.id).await.unwrap();
        assert!(roles.contains(&"ops".to_owned()), "{roles:?}");
    }
);

mail_tests!(
    mailed_link_proves_a_pending_link,
    |app: TestApp, sink: portcullis_testkit::smtp::SmtpSink| async move {
        let fed = federate(&app, json!({})).await;
        let local = app.register("mary@corp.test", PW).await;
        upstream_user(&app, "mary@corp.test", false).await;
        let mut b = Browser::default();
        let cb = through_upstream(&app, &mut b, "mary@corp.test").await;
        let page = b.get(&app, &path_of(&app, &cb)).await;
        assert!(
            page.text.contains("E-mail me a link to mary@corp.test"),
            "{}",
            page.text
        );
        // Forms: the password, the passkey, the mail.
        let r = b.submit_nth(&app, &page, 2, &[]).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("Check your mailbox"), "{}", r.text);
        // The pending link is spent: the password form no longer works.
        let r = b.submit(&app, &page, &[("password", PW)]).await;
        assert_eq!(r.status, 400, "{}", r.text);
        // Earlier mail (verification) and the link's mail.
        let mail = sink.wait_for("mary@corp.test", 2).await;
        assert!(mail.subject.contains("with Corp SSO"), "{}", mail.subject);
        let link = mail.link().expect("a link");
        let link = path_of(&app, &link);
        // Another browser cannot use it.
        let mut other = Browser::default();
        let page2 = other.get(&app, &link).await;
        assert_eq!(page2.status, 200, "{}", page2.text);
        let r = other.submit(&app, &page2, &[]).await;
        assert_eq!(r.status, 400, "{}", r.text);
        // Opening it spends nothing... but the other browser's try spent
        // it: ask again and use it in the right browser.
        let cb = through_upstream(&app, &mut b, "mary@corp.test").await;
        let page = b.get(&app, &path_of(&app, &cb)).await;
        b.submit_nth(&app, &page, 2, &[]).await;
        let mail = sink.wait_for("mary@corp.test", 3).await;
        let link = path_of(&app, &mail.link().expect("a link"));
        let page = b.get(&app, &link).await;
        let csp = page.header("content-security-policy").unwrap();
        assert!(
            csp.contains("form-action 'self' https://app.example.com"),
            "{csp}"
        );
        let again = b.get(&app, &link).await;
        assert_eq!(again.status, 200);
        let r = b.submit(&app, &page, &[]).await;
        let id = id_token(&app, &fed, &r).await;
        assert_eq!(id["sub"], local["id"]);
        // The mailbox proved the address as well.
        assert_eq!(id["email_verified"], true, "{id}");
        // Once.
        let r = b.submit(&app, &page, &[]).await;
        assert_eq!(r.status, 400, "{}", r.text);
    }
);

backend_tests!(
    signed_in_user_links_another_provider,
    |app: TestApp| async move {
        let fed = federate(&app, json!({})).await;
        let user = app.user("lee@main.test").await;
        upstream_user(&app, "lee.other@corp.test", true).await;
        // Every wrong field is named; the redirect URI must be registered.
        let r = app
            .post(
                &format!("/api/v1/auth/social/{ALIAS}/link"),
                Some(&user.access_token),
                json!({"client_id": "app", "redirect_uri": "https://evil.example.com/cb"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "redirect_uri");
        let r = app
            .post(
                &format!("/api/v1/auth/social/{ALIAS}/link"),
                None,
                json!({"client_id": "app", "redirect_uri": CB}),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = app
            .post(
                &format!("/api/v1/auth/social/{ALIAS}/link"),
                Some(&user.access_token),
                json!({"client_id": "app", "redirect_uri": CB, "state": "lk"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let upstream = r.json["authorization_url"].as_str().unwrap().to_owned();
        // The browser that will follow it holds the binding cookie the answer set.
        let mut b = Browser::default();
        let set = r.header("set-cookie").unwrap();
        let (pair, _) = set.split_once(';').unwrap();
        let (k, v) = pair.split_once('=').unwrap();
        b.cookies.insert(k.to_owned(), v.to_owned());
        let cb = login_upstream(&app, &mut b, &upstream, "lee.other@corp.test").await;
        let r = b.get(&app, &path_of(&app, &cb)).await;
        let to = location(&r);
        assert!(to.starts_with(CB), "{to}");
        assert!(
            to.contains("linked=corp") && to.contains("state=lk"),
            "{to}"
        );
        let links = app
            .get("/api/v1/auth/social-accounts", Some(&user.access_token))
            .await;
        assert_eq!(links.json["items"][0]["provider"], ALIAS, "{}", links.text);
        assert_eq!(links.json["items"][0]["email"], "lee.other@corp.test");
        // The account has a password: the link may go.
        let id = links.json["items"][0]["id"].as_str().unwrap();
        let r = app
            .delete(
                &format!("/api/v1/auth/social-accounts/{id}"),
                Some(&user.access_token),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        // Signing in through the provider now creates another account (the
        // upstream address is not the local one).
        let mut b2 = Browser::default();
        let cb = through_upstream(&app, &mut b2, "lee.other@corp.test").await;
        let r = b2.get(&app, &path_of(&app, &cb)).await;
        let id = id_token(&app, &fed, &r).await;
        assert_ne!(id["sub"], json!(user.user.as_ref().unwrap().id.to_string()));
    }
);
