//! The OpenID Provider through a browser's eyes: authorization endpoint,
//! login and consent pages, code and refresh grants, ID tokens, UserInfo,
//! discovery and RP-initiated logout, with the RFC 9700 negatives.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_testkit::Reply;
use sha2::Digest as _;

use super::*;

const AUTHORIZE: &str = "/realms/main/oauth2/authorize";
pub(crate) const TOKEN: &str = "/realms/main/oauth2/token";
pub(crate) const USERINFO: &str = "/realms/main/oauth2/userinfo";
const FORM: &str = "application/x-www-form-urlencoded";
pub(crate) const CB: &str = "https://app.example.com/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

pub(crate) fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser: keeps cookies, follows nothing.
#[derive(Default)]
pub(crate) struct Browser {
    pub(crate) cookies: HashMap<String, String>,
    /// The `Origin` of its posts (default: the app's base URL).
    pub(crate) origin: Option<String>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, r: &Reply) {
        for v in r.headers.get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = pair.split_once('=').unwrap();
            if val.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), val.to_owned());
            }
        }
    }

    pub(crate) async fn get(&mut self, app: &TestApp, path: &str) -> Reply {
        let r = Reply::read(
            app.http
                .get(app.url(path))
                .header("cookie", self.cookie_header())
                .send()
                .await
                .unwrap(),
        )
        .await;
        self.keep(&r);
        r
    }

    pub(crate) async fn post(&mut self, app: &TestApp, path: &str, body: String) -> Reply {
        let r = Reply::read(
            app.http
                .post(app.url(path))
                .header("cookie", self.cookie_header())
                .header("content-type", FORM)
                .header("origin", self.origin.clone().unwrap_or(app.base.clone()))
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        self.keep(&r);
        r
    }

    /// Submits the page's first form with `fields` set (beside its hidden
    /// ones), as a browser would: only that form's fields.
    pub(crate) async fn submit(
        &mut self,
        app: &TestApp,
        page: &Reply,
        fields: &[(&str, &str)],
    ) -> Reply {
        self.submit_nth(app, page, 0, fields).await
    }

    /// Submits the page's `n`th form (from 0) with `fields` set, replacing
    /// hidden inputs of the same name (as a script filling them would).
    pub(crate) async fn submit_nth(
        &mut self,
        app: &TestApp,
        page: &Reply,
        n: usize,
        fields: &[(&str, &str)],
    ) -> Reply {
        let marker = "<form method=\"post\" action=\"";
        let start = page
            .text
            .match_indices(marker)
            .nth(n)
            .unwrap_or_else(|| panic!("form {n} in {}", page.text))
            .0;
        let form = &page.text[start..];
        let form = &form[..form.find("</form>").unwrap()];
        let action = attr_after(form, marker, "\"");
        let mut pairs: Vec<(String, String)> = hidden_inputs(form);
        pairs.retain(|(k, _)| !fields.iter().any(|(f, _)| f == k));
        pairs.extend(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.post(app, &action, body).await
    }
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

pub(crate) fn attr_after(html: &str, start: &str, end: &str) -> String {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    let rest = &html[from..];
    unescape(&rest[..rest.find(end).unwrap()])
}

/// The hidden inputs of a page's first form (a browser posts only those).
pub(crate) fn first_form_hidden_inputs(html: &str) -> Vec<(String, String)> {
    let start = html.find("<form method=\"post\"").unwrap();
    let form = &html[start..];
    hidden_inputs(&form[..form.find("</form>").unwrap()])
}

pub(crate) fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|chunk| {
            let name = &chunk[..chunk.find('"').unwrap()];
            let value = attr_after(chunk, "value=\"", "\"");
            (name.to_owned(), value)
        })
        .collect()
}

/// The query parameters of a redirect's Location.
pub(crate) fn location_params(r: &Reply) -> (String, HashMap<String, String>) {
    assert_eq!(r.status, 303, "{}", r.text);
    let loc = r.header("location").unwrap();
    let url = url::Url::parse(loc).unwrap();
    let base = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap(),
        url.path()
    );
    (base, url.query_pairs().into_owned().collect())
}

async fn client(app: &TestApp, admin: &str, body: Value) -> (String, Option<String>) {
    let r = app.post("/api/v1/clients", Some(admin), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    (
        r.json["client_id"].as_str().unwrap().to_owned(),
        r.json["client_secret"].as_str().map(str::to_owned),
    )
}

pub(crate) async fn web_client(app: &TestApp, admin: &str, id: &str, extra: Value) -> String {
    let mut body = json!({
        "name": format!("App {id}"),
        "client_id": id,
        "redirect_uris": [CB, "https://app.example.com/other"],
        "post_logout_redirect_uris": ["https://app.example.com/bye"],
        "grant_types": ["authorization_code", "refresh_token"],
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    client(app, admin, body).await.1.unwrap_or_default()
}

pub(crate) async fn token(app: &TestApp, id: &str, secret: &str, body: &str) -> Reply {
    Reply::read(
        app.http
            .post(app.url(TOKEN))
            .header("content-type", FORM)
            .header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
            )
            .body(body.to_owned())
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub(crate) fn authorize_query(client_id: &str, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("scope", "openid profile email offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            pairs.push((k, v));
        }
    }
    format!("{AUTHORIZE}?{}", query(&pairs))
}

/// Logs in on the login page and returns the code (asserting state and iss).
async fn login_for_code(app: &TestApp, b: &mut Browser, client_id: &str, email: &str) -> String {
    let page = b.get(app, &authorize_query(client_id, &[])).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let r = b
        .submit(app, &page, &[("email", email), ("password", PW)])
        .await;
    code_of(app, &r)
}

pub(crate) fn code_of(app: &TestApp, r: &Reply) -> String {
    let (base, params) = location_params(r);
    assert_eq!(base, CB);
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], format!("{}/realms/main", app.base));
    params
        .get("code")
        .unwrap_or_else(|| panic!("{params:?}"))
        .clone()
}

pub(crate) fn redeem_body(code: &str) -> String {
    format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
        enc(CB)
    )
}

backend_tests!(discovery_document, |app: TestApp| async move {
    let r = app
        .get("/realms/main/.well-known/openid-configuration", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let issuer = format!("{}/realms/main", app.base);
    assert_eq!(r.json["issuer"], issuer);
    assert_eq!(
        r.json["authorization_endpoint"],
        format!("{issuer}/oauth2/authorize")
    );
    assert_eq!(
        r.json["userinfo_endpoint"],
        format!("{issuer}/oauth2/userinfo")
    );
    assert_eq!(
        r.json["end_session_endpoint"],
        format!("{issuer}/oauth2/logout")
    );
    assert_eq!(r.json["response_types_supported"], json!(["code"]));
    assert_eq!(r.json["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        r.json["authorization_response_iss_parameter_supported"],
        true
    );
    assert!(
        r.json["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("RS256"))
    );
    let jwks = app.get("/realms/main/.well-known/jwks.json", None).await;
    assert_eq!(jwks.status, 200);
});

backend_tests!(
    a_new_realm_publishes_a_key_for_every_advertised_algorithm,
    |app: TestApp| async move {
        // A relying party reads discovery and the JWKS once, at start, and
        // caches them: every algorithm discovery names must already have a key.
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "fresh", "signing_alg": "ES256"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        for (realm, access_alg) in [("main", "EdDSA"), ("fresh", "ES256")] {
            let d = app
                .get(
                    &format!("/realms/{realm}/.well-known/openid-configuration"),
                    None,
                )
                .await;
            assert_eq!(d.status, 200, "{}", d.text);
            let jwks = app
                .get(&format!("/realms/{realm}/.well-known/jwks.json"), None)
                .await;
            assert_eq!(jwks.status, 200, "{}", jwks.text);
            let published: Vec<&str> = jwks.json["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["alg"].as_str().unwrap())
                .collect();
            let mut advertised: Vec<&str> = d.json["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            advertised.push(access_alg);
            for alg in advertised {
                assert!(
                    published.contains(&alg),
                    "realm {realm}: no {alg} key in the JWKS {published:?}"
                );
            }
        }
    }
);

backend_tests!(code_flow_with_login_page, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let secret = web_client(&app, &admin, "web", json!({})).await;
    let user = app.register("ada@example.com", PW).await;
    let mut b = Browser::default();

    // The login page: the right fields, CSRF, a strict policy.
    let page = b.get(&app, &authorize_query("web", &[])).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(page.text.contains("autocomplete=\"username\""));
    assert!(page.text.contains("autocomplete=\"current-password\""));
    assert!(page.text.contains("name=\"csrf_token\""));
    assert!(page.text.contains("App web"));
    assert!(b.cookies.contains_key("portcullis_csrf"));

    // A wrong password shows the form again, with the message.
    let r = b
        .submit(
            &app,
            &page,
            &[("email", "ada@example.com"), ("password", "nope nope nope")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.text.contains("invalid email or password"));
    assert!(!b.cookies.contains_key("portcullis_sso"));

    let r = b
        .submit(
            &app,
            &page,
            &[("email", "ada@example.com"), ("password", PW)],
        )
        .await;
    let sso = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("portcullis_sso="))
        .unwrap();
    assert!(
        sso.contains("HttpOnly") && sso.contains("SameSite=Lax"),
        "{sso}"
    );
    assert!(sso.contains("Path=/realms/main/"), "{sso}");
    let code = code_of(&app, &r);

    let r = token(&app, "web", &secret, &redeem_body(&code)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["scope"], "openid profile email offline_access");
    let access = r.json["access_token"].as_str().unwrap().to_owned();
    let id_token = r.json["id_token"].as_str().unwrap().to_owned();
    assert!(r.json["refresh_token"].is_string());

    let at = claims(&access);
    assert_eq!(header(&access)["typ"], "at+jwt");
    assert_eq!(at["sub"], user["id"]);
    assert_eq!(at["client_id"], "web");
    assert_eq!(at["aud"], "web");

    let h = header(&id_token);
    assert_eq!(h["alg"], "RS256");
    let jwks = app.get("/realms/main/.well-known/jwks.json", None).await;
    assert!(
        jwks.json["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == h["kid"])
    );
    let id = claims(&id_token);
    assert_eq!(id["iss"], format!("{}/realms/main", app.base));
    assert_eq!(id["sub"], user["id"]);
    assert_eq!(id["aud"], "web");
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["email"], "ada@example.com");
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id["acr"], "1");
    assert!(id["auth_time"].is_i64() && id["sid"].is_string());
    let digest = sha2::Sha256::digest(access.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));

    // UserInfo by GET, by POST with the header, and by POST with the body.
    let r = app.get(USERINFO, Some(&access)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sub"], user["id"]);
    assert_eq!(r.json["email"], "ada@example.com");
    let r = Reply::read(
        app.http
            .post(app.url(USERINFO))
            .header("content-type", FORM)
            .body(format!("access_token={access}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get(USERINFO, None).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let r = app.get(USERINFO, Some("not-a-token")).await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );

    // The client's token does not open the admin API for the user.
    let r = app.get("/api/v1/auth/me", Some(&access)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    // One asked for this server's API (RFC 8707) does.
    let r = b.get(&app, &authorize_query("web", &[])).await;
    let code = code_of(&app, &r);
    let issuer = format!("{}/realms/main", app.base);
    let body = format!("{}&resource={}", redeem_body(&code), enc(&issuer));
    let r = token(&app, "web", &secret, &body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let api_token = r.json["access_token"].as_str().unwrap();
    assert_eq!(claims(api_token)["aud"], issuer);
    let r = app.get("/api/v1/auth/me", Some(api_token)).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Single sign-on: the next request gets a code without a page.
    let r = b.get(&app, &authorize_query("web", &[])).await;
    let code2 = code_of(&app, &r);
    assert_ne!(code2, code);
    // prompt=none works with the session; prompt=login shows the form.
    let r = b
        .get(&app, &authorize_query("web", &[("prompt", "none")]))
        .await;
    code_of(&app, &r);
    let r = b
        .get(&app, &authorize_query("web", &[("prompt", "login")]))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("name=\"password\""));
    // max_age: an old authentication asks again.
    app.clock.advance(Duration::seconds(120));
    let r = b
        .get(&app, &authorize_query("web", &[("max_age", "60")]))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("name=\"password\""));
    let r = b
        .get(&app, &authorize_query("web", &[("max_age", "600")]))
        .await;
    code_of(&app, &r);

    // Without a session, prompt=none comes back with login_required.
    let mut other = Browser::default();
    let r = other
        .get(&app, &authorize_query("web", &[("prompt", "none")]))
        .await;
    let (_, params) = location_params(&r);
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st-1");
});

backend_tests!(codes_are_single_use_and_bound, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let secret = web_client(&app, &admin, "web", json!({})).await;
    let other_secret = web_client(&app, &admin, "other", json!({})).await;
    app.register("bob@example.com", PW).await;
    let mut b = Browser::default();
    let code = login_for_code(&app, &mut b, "web", "bob@example.com").await;

    // Another client, another redirect URI, a wrong or missing verifier:
    // each fails, and each spends the code.
    let r = token(&app, "other", &other_secret, &redeem_body(&code)).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
    let r = token(&app, "web", &secret, &redeem_body(&code)).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);

    let bad_bodies = [
        format!(
            "grant_type=authorization_code&code={{c}}&redirect_uri={}&code_verifier={VERIFIER}",
            enc("https://app.example.com/other")
        ),
        format!(
            "grant_type=authorization_code&code={{c}}&redirect_uri={}&code_verifier={}",
            enc(CB),
            "x".repeat(43)
        ),
        format!(
            "grant_type=authorization_code&code={{c}}&redirect_uri={}",
            enc(CB)
        ),
        format!(
            "grant_type=authorization_code&code={{c}}&redirect_uri={}&code_verifier=short",
            enc(CB)
        ),
    ];
    for body in bad_bodies {
        let code = login_for_code_sso(&app, &mut b, "web").await;
        let r = token(&app, "web", &secret, &body.replace("{c}", &code)).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json["error"], "invalid_grant", "{body}");
        let r = token(&app, "web", &secret, &redeem_body(&code)).await;
        assert_eq!(
            r.json["error"], "invalid_grant",
            "spent by the failure: {body}"
        );
    }

    // A code expires after 60 seconds.
    let code = login_for_code_sso(&app, &mut b, "web").await;
    app.clock.advance(Duration::seconds(61));
    let r = token(&app, "web", &secret, &redeem_body(&code)).await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);

    // A second redemption revokes what the first one issued.
    let code = login_for_code_sso(&app, &mut b, "web").await;
    let first = token(&app, "web", &secret, &redeem_body(&code)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let access = first.json["access_token"].as_str().unwrap();
    let refresh = first.json["refresh_token"].as_str().unwrap();
    assert_eq!(app.get(USERINFO, Some(access)).await.status, 200);
    let again = token(&app, "web", &secret, &redeem_body(&code)).await;
    assert_eq!(again.json["error"], "invalid_grant", "{}", again.text);
    assert_eq!(app.get(USERINFO, Some(access)).await.status, 401);
    let r = token(
        &app,
        "web",
        &secret,
        &format!("grant_type=refresh_token&refresh_token={refresh}"),
    )
    .await;
    assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);

    // Racing redemptions: exactly one wins.
    let code = login_for_code_sso(&app, &mut b, "web").await;
    let body = redeem_body(&code);
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let req = app
            .http
            .post(app.url(TOKEN))
            .header("content-type", FORM)
            .header(
                "authorization",
                format!("Basic {}", STANDARD.encode(format!("web:{secret}"))),
            )
            .body(body.clone());
        racers.spawn(async move { Reply::read(req.send().await.unwrap()).await });
    }
    let results = racers.join_all().await;
    // Exactly one wins; the others count as reuse, which revokes the
    // grant, so whatever the winner got is dead too.
    let wins: Vec<&Reply> = results.iter().filter(|r| r.status == 200).collect();
    assert!(
        wins.len() == 1,
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    assert!(
        results
            .iter()
            .filter(|r| r.status != 200)
            .all(|r| r.json["error"] == "invalid_grant")
    );
    for win in wins {
        let access = win.json["access_token"].as_str().unwrap();
        assert_eq!(app.get(USERINFO, Some(access)).await.status, 401);
    }
});

/// A code for the browser's existing session.
async fn login_for_code_sso(app: &TestApp, b: &mut Browser, client_id: &str) -> String {
    let r = b.get(app, &authorize_query(client_id, &[])).await;
    code_of(app, &r)
}

backend_tests!(
    refresh_tokens_rotate_per_client,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let secret = web_client(&app, &admin, "web", json!({})).await;
        let other_secret = web_client(&app, &admin, "other", json!({})).await;
        app.register("cy@example.com", PW).await;
        let mut b = Browser::default();
        let code = login_for_code(&app, &mut b, "web", "cy@example.com").await;
        let r = token(&app, "web", &secret, &redeem_body(&code)).await;
        let rt1 = r.json["refresh_token"].as_str().unwrap().to_owned();
        let refresh = |rt: &str| format!("grant_type=refresh_token&refresh_token={rt}");

        // Another client cannot use it, and trying does not spend it.
        let r = token(&app, "other", &other_secret, &refresh(&rt1)).await;
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
        // A wider scope is refused.
        let r = token(
            &app,
            "web",
            &secret,
            &format!("{}&scope=openid%20phone", refresh(&rt1)),
        )
        .await;
        assert_eq!(r.json["error"], "invalid_scope", "{}", r.text);

        let r = token(
            &app,
            "web",
            &secret,
            &format!("{}&scope=openid", refresh(&rt1)),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["scope"], "openid");
        assert!(r.json["id_token"].is_string());
        let id = claims(r.json["id_token"].as_str().unwrap());
        assert!(id.get("nonce").is_none());
        let rt2 = r.json["refresh_token"].as_str().unwrap().to_owned();
        let at2 = r.json["access_token"].as_str().unwrap().to_owned();
        let r = token(&app, "web", &secret, &refresh(&rt2)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let rt3 = r.json["refresh_token"].as_str().unwrap().to_owned();
        let at3 = r.json["access_token"].as_str().unwrap().to_owned();

        // Replaying RT1 revokes the family: RT3 and AT3 die with it.
        let r = token(&app, "web", &secret, &refresh(&rt1)).await;
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
        let r = token(&app, "web", &secret, &refresh(&rt3)).await;
        assert_eq!(r.json["error"], "invalid_grant", "{}", r.text);
        assert_eq!(app.get(USERINFO, Some(&at3)).await.status, 401);
        assert_eq!(app.get(USERINFO, Some(&at2)).await.status, 401);

        // Without offline_access, no refresh token.
        let mut b2 = Browser::default();
        app.register("dee@example.com", PW).await;
        let page = b2
            .get(&app, &authorize_query("web", &[("scope", "openid email")]))
            .await;
        let r = b2
            .submit(
                &app,
                &page,
                &[("email", "dee@example.com"), ("password", PW)],
            )
            .await;
        let code = code_of(&app, &r);
        let r = token(&app, "web", &secret, &redeem_body(&code)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json.get("refresh_token").is_none(), "{}", r.text);
    }
);

backend_tests!(authorization_request_errors, |app: TestApp| async move {
    let admin = app.admin_token().await;
    web_client(&app, &admin, "web", json!({})).await;
    client(
        &app,
        &admin,
        json!({"name": "Mobile", "client_id": "mobile", "client_type": "public",
               "token_endpoint_auth_method": "none",
               "redirect_uris": [CB], "grant_types": ["authorization_code"]}),
    )
    .await;
    let mut b = Browser::default();

    // Never a redirect to an unproven address.
    for q in [
        authorize_query("web", &[("redirect_uri", "https://evil.example.com/cb")]),
        authorize_query("web", &[("redirect_uri", "https://app.example.com/cb/")]),
        authorize_query("web", &[("redirect_uri", "https://app.example.com/cb?x=1")]),
        authorize_query("web", &[("redirect_uri", "")]),
        authorize_query("nobody", &[]),
        authorize_query("", &[("client_id", "")]),
        format!("{}&client_id=web", authorize_query("web", &[])),
    ] {
        let r = b.get(&app, &q).await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.header("location").is_none(), "{q}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
    }

    // Errors that can go back do, with state and iss.
    let back = |r: &Reply| {
        let (base, params) = location_params(r);
        assert_eq!(base, CB);
        assert_eq!(params["state"], "st-1");
        assert_eq!(params["iss"], format!("{}/realms/main", app.base));
        params["error"].clone()
    };
    let cases: [(&[(&str, &str)], &str); 7] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (
            &[("response_type", "code id_token")],
            "unsupported_response_type",
        ),
        (&[("response_type", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "")], "invalid_request"),
        (&[("prompt", "none login")], "invalid_request"),
        (
            &[("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
    ];
    for (extra, error) in cases {
        let r = b.get(&app, &authorize_query("web", extra)).await;
        assert_eq!(back(&r), error, "{extra:?}");
    }
    // A public client must use PKCE.
    let r = b
        .get(
            &app,
            &authorize_query(
                "mobile",
                &[("code_challenge", ""), ("code_challenge_method", "")],
            ),
        )
        .await;
    assert_eq!(back(&r), "invalid_request");
    // Unknown parameters are ignored; POST works like GET.
    let r = b
        .get(&app, &authorize_query("web", &[("extra", "foobar")]))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let body = authorize_query("web", &[])
        .split_once('?')
        .unwrap()
        .1
        .to_owned();
    let r = b.post(&app, AUTHORIZE, body).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // form_post: an HTML form to the redirect URI, allowed by the policy.
    app.register("eve@example.com", PW).await;
    let page = b
        .get(
            &app,
            &authorize_query("web", &[("response_mode", "form_post")]),
        )
        .await;
    let r = b
        .submit(
            &app,
            &page,
            &[("email", "eve@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains(&format!("action=\"{CB}\"")), "{}", r.text);
    assert!(r.text.contains("name=\"code\""));
    assert!(r.text.contains("name=\"iss\""));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("form-action https://app.example.com"), "{csp}");
    assert!(csp.contains("script-src 'nonce-"), "{csp}");

    // A login form posted without the CSRF cookie is refused.
    let mut stranger = Browser::default();
    let r = stranger
        .submit(
            &app,
            &page,
            &[("email", "eve@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(!stranger.cookies.contains_key("portcullis_sso"));
    // With the cookie, a post from another site is refused too; our own
    // page's post arrives with `Origin: null` (no referrer) and passes.
    let fields: Vec<(String, String)> = first_form_hidden_inputs(&page.text)
        .into_iter()
        .chain([
            ("email".into(), "eve@example.com".into()),
            ("password".into(), PW.into()),
        ])
        .collect();
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let send = |origin: &'static str, site: &'static str| {
        app.http
            .post(app.url("/realms/main/login"))
            .header("cookie", b.cookie_header())
            .header("content-type", FORM)
            .header("origin", origin)
            .header("sec-fetch-site", site)
            .body(body.clone())
            .send()
    };
    for (origin, site) in [
        ("https://evil.example.com", "cross-site"),
        ("null", "cross-site"),
    ] {
        let r = Reply::read(send(origin, site).await.unwrap()).await;
        assert_eq!(r.status, 403, "{origin} {site}");
    }
    let r = Reply::read(send("null", "same-origin").await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
});

backend_tests!(consent_is_asked_and_remembered, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let secret = web_client(
        &app,
        &admin,
        "third",
        json!({"require_consent": true, "policy_uri": "https://third.example.com/privacy?a=1&b=\"2\""}),
    )
    .await;
    app.register("fay@example.com", PW).await;
    let mut b = Browser::default();
    let page = b.get(&app, &authorize_query("third", &[])).await;
    let consent = b
        .submit(
            &app,
            &page,
            &[("email", "fay@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(consent.text.contains("App third"));
    assert!(consent.text.contains("See your email address"));
    // The client's policy is a link, escaped; no terms were given.
    assert!(
        consent
            .text
            .contains("href=\"https://third.example.com/privacy?a=1&#38;b=&#34;2&#34;\""),
        "{}",
        consent.text
    );
    assert!(!consent.text.contains("terms of service"));
    assert!(consent.text.contains("value=\"allow\""));

    let r = b.submit(&app, &consent, &[("decision", "deny")]).await;
    let (_, params) = location_params(&r);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-1");

    // Asked again, allowed, then remembered.
    let consent = b.get(&app, &authorize_query("third", &[])).await;
    assert!(consent.text.contains("value=\"allow\""));
    let r = b.submit(&app, &consent, &[("decision", "allow")]).await;
    let code = code_of(&app, &r);
    let r = token(&app, "third", &secret, &redeem_body(&code)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = b.get(&app, &authorize_query("third", &[])).await;
    code_of(&app, &r);
    // prompt=consent asks again.
    let r = b
        .get(&app, &authorize_query("third", &[("prompt", "consent")]))
        .await;
    assert!(r.text.contains("value=\"allow\""));

    // The user sees the consent and withdraws it: the client's tokens end
    // and the next request asks again (prompt=none: consent_required).
    let me = app.login("fay@example.com", PW).await;
    let r = app
        .get("/api/v1/auth/consents", Some(&me.access_token))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json[0]["client_id"], "third");
    assert_eq!(
        r.json[0]["scopes"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    let sessions = app
        .get("/api/v1/auth/sessions", Some(&me.access_token))
        .await;
    assert!(
        sessions
            .json
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["client_id"] == "third"),
        "{}",
        sessions.text
    );
    let code = code_of(&app, &b.get(&app, &authorize_query("third", &[])).await);
    let held = token(&app, "third", &secret, &redeem_body(&code)).await;
    let held_access = held.json["access_token"].as_str().unwrap();
    let r = app
        .delete("/api/v1/auth/consents/third", Some(&me.access_token))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.get(USERINFO, Some(held_access)).await.status, 401);
    let r = app
        .delete("/api/v1/auth/consents/third", Some(&me.access_token))
        .await;
    assert_eq!(r.status, 404);
    let r = b
        .get(&app, &authorize_query("third", &[("prompt", "none")]))
        .await;
    assert_eq!(location_params(&r).1["error"], "consent_required");
});

backend_tests!(rp_initiated_logout, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let secret = web_client(&app, &admin, "web", json!({})).await;
    app.register("gus@example.com", PW).await;
    let mut b = Browser::default();
    let code = login_for_code(&app, &mut b, "web", "gus@example.com").await;
    let r = token(&app, "web", &secret, &redeem_body(&code)).await;
    let id_token = r.json["id_token"].as_str().unwrap().to_owned();
    let access = r.json["access_token"].as_str().unwrap().to_owned();

    // An unregistered address or a bad hint: an error page, no redirect.
    for q in [
        format!(
            "id_token_hint={id_token}&post_logout_redirect_uri={}",
            enc("https://evil.example.com/")
        ),
        format!(
            "id_token_hint={}&post_logout_redirect_uri={}",
            "x.y.z",
            enc("https://app.example.com/bye")
        ),
        format!(
            "post_logout_redirect_uri={}",
            enc("https://app.example.com/bye")
        ),
    ] {
        let r = b
            .get(&app, &format!("/realms/main/oauth2/logout?{q}"))
            .await;
        assert_eq!(r.status, 400, "{q}: {}", r.text);
        assert!(r.header("location").is_none());
    }
    // Without a hint the user confirms.
    let r = b
        .get(&app, "/realms/main/oauth2/logout?client_id=web")
        .await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("Sign out"));

    // With the hint of this session: signed out at once, back with state.
    let r = b
        .get(
            &app,
            &format!(
                "/realms/main/oauth2/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1",
                enc("https://app.example.com/bye")
            ),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location").unwrap(),
        "https://app.example.com/bye?state=bye-1"
    );
    assert!(!b.cookies.contains_key("portcullis_sso"));
    // The client's tokens ended with the session, and the next request asks
    // for a login.
    assert_eq!(app.get(USERINFO, Some(&access)).await.status, 401);
    let r = b.get(&app, &authorize_query("web", &[])).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("name=\"password\""));
});

/// Tokens from the code flow for a fresh browser, with `extra` parameters.
pub(crate) async fn tokens_for(
    app: &TestApp,
    b: &mut Browser,
    client_id: &str,
    secret: &str,
    email: &str,
    extra: &[(&str, &str)],
) -> Value {
    let page = b.get(app, &authorize_query(client_id, extra)).await;
    let r = match page.status {
        200 => {
            b.submit(app, &page, &[("email", email), ("password", PW)])
                .await
        }
        _ => page,
    };
    let code = code_of(app, &r);
    let r = token(app, client_id, secret, &redeem_body(&code)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

// The OpenID Foundation's Basic OP and Config OP modules that apply to a
// code-flow-only provider (SECURITY-CHECKLIST.md §1.1, §1.2), by name.
backend_tests!(basic_op_modules, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let scopes =
        json!({"scopes": ["openid", "profile", "email", "phone", "address", "offline_access"]});
    let secret = web_client(&app, &admin, "web", scopes).await;
    let user = app.register("hal@example.com", PW).await;
    let id = user["id"].as_str().unwrap();
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/identity/users/{id}"),
            Some(&admin),
            Some(
                json!({"email": "hal@example.com", "name": "Hal Jordan", "attributes": {
                "given_name": "Hal", "family_name": "Jordan", "phone_number": "+1 555 0100",
                "address": {"locality": "Coast City", "country": "US"}}}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut b = Browser::default();

    // oidcc-ensure-request-without-nonce-succeeds-for-code-flow, oidcc-scope-all
    let all = "openid profile email address phone offline_access";
    let t = tokens_for(
        &app,
        &mut b,
        "web",
        &secret,
        "hal@example.com",
        &[("nonce", ""), ("scope", all)],
    )
    .await;
    let idt = claims(t["id_token"].as_str().unwrap());
    assert!(idt.get("nonce").is_none());
    let first_auth_time = idt["auth_time"].as_i64().unwrap();
    let access = t["access_token"].as_str().unwrap().to_owned();
    // oidcc-userinfo-post-header, oidcc-scope-profile/-email/-address/-phone
    let r = Reply::read(
        app.http
            .post(app.url(USERINFO))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["sub"], id);
    assert_eq!(r.json["name"], "Hal Jordan");
    assert_eq!(r.json["given_name"], "Hal");
    assert_eq!(r.json["family_name"], "Jordan");
    assert_eq!(r.json["email"], "hal@example.com");
    assert_eq!(r.json["phone_number"], "+1 555 0100");
    assert_eq!(r.json["address"]["locality"], "Coast City");
    // Scopes the client may not have are dropped, and their claims too.
    let t = tokens_for(
        &app,
        &mut b,
        "web",
        &secret,
        "",
        &[("scope", "openid email")],
    )
    .await;
    let r = app.get(USERINFO, t["access_token"].as_str()).await;
    assert!(r.json.get("phone_number").is_none() && r.json.get("name").is_none());
    assert_eq!(r.json["email"], "hal@example.com");

    // oidcc-display-page/-popup, oidcc-login-hint, oidcc-ui-locales,
    // oidcc-claims-locales, oidcc-ensure-request-with-acr-values-succeeds,
    // oidcc-claims-essential, oidcc-alternate-happy-flow
    for extra in [
        ("display", "page"),
        ("display", "popup"),
        ("login_hint", "hal@example.com"),
        ("ui_locales", "fr-CA fr en"),
        ("claims_locales", "fr"),
        ("acr_values", "1 2"),
        ("claims", r#"{"id_token":{"email":{"essential":true}}}"#),
        ("scope", "email openid"),
    ] {
        let t = tokens_for(&app, &mut b, "web", &secret, "", &[extra]).await;
        let idt = claims(t["id_token"].as_str().unwrap());
        assert_eq!(idt["sub"], id, "{extra:?}");
        assert_eq!(idt["acr"], "1");
    }

    // oidcc-id-token-hint: prompt=none with the previous ID token.
    let hint = t_id_token(&app, &mut b, &secret).await;
    let r = b
        .get(
            &app,
            &authorize_query("web", &[("prompt", "none"), ("id_token_hint", &hint)]),
        )
        .await;
    code_of(&app, &r);
    // A hint for someone else is a login the browser does not have.
    app.register("ike@example.com", PW).await;
    let mut other = Browser::default();
    let theirs = tokens_for(&app, &mut other, "web", &secret, "ike@example.com", &[]).await;
    let r = b
        .get(
            &app,
            &authorize_query(
                "web",
                &[
                    ("prompt", "none"),
                    ("id_token_hint", theirs["id_token"].as_str().unwrap()),
                ],
            ),
        )
        .await;
    assert_eq!(location_params(&r).1["error"], "login_required");

    // oidcc-prompt-login: a new authentication, a later auth_time.
    app.clock.advance(Duration::seconds(5));
    let t = tokens_for(
        &app,
        &mut b,
        "web",
        &secret,
        "hal@example.com",
        &[("prompt", "login")],
    )
    .await;
    let idt = claims(t["id_token"].as_str().unwrap());
    assert!(idt["auth_time"].as_i64().unwrap() > first_auth_time);
    assert_eq!(idt["sub"], id);

    // oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported
    let r = b
        .get(
            &app,
            &authorize_query("web", &[("request_uri", "https://app.example.com/r/1")]),
        )
        .await;
    assert_eq!(location_params(&r).1["error"], "request_uri_not_supported");

    // oidcc-server-client-secret-post
    let (_, post_secret) = client(
        &app,
        &admin,
        json!({"name": "Poster", "client_id": "poster", "redirect_uris": [CB],
               "token_endpoint_auth_method": "client_secret_post",
               "grant_types": ["authorization_code"]}),
    )
    .await;
    let r = b.get(&app, &authorize_query("poster", &[])).await;
    let code = code_of(&app, &r);
    let r = Reply::read(
        app.http
            .post(app.url(TOKEN))
            .header("content-type", FORM)
            .body(format!(
                "{}&client_id=poster&client_secret={}",
                redeem_body(&code),
                post_secret.unwrap()
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json.get("refresh_token").is_none(),
        "no refresh_token grant"
    );

    // oidcc-redirect-uri-query-OK / -mismatch / -added, oidcc-redirect-uri-regfrag
    let with_query = "https://app.example.com/cb?tenant=a";
    let (_, q_secret) = client(
        &app,
        &admin,
        json!({"name": "Q", "client_id": "q", "redirect_uris": [with_query],
               "grant_types": ["authorization_code"]}),
    )
    .await;
    let r = b
        .get(&app, &authorize_query("q", &[("redirect_uri", with_query)]))
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("https://app.example.com/cb?tenant=a&code="),
        "{loc}"
    );
    assert!(q_secret.is_some());
    for bad in [
        "https://app.example.com/cb?tenant=b",
        "https://app.example.com/cb?tenant=a&x=1",
    ] {
        let r = b
            .get(&app, &authorize_query("q", &[("redirect_uri", bad)]))
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.header("location").is_none());
    }
    let r = app
        .post(
            "/api/v1/clients",
            Some(&admin),
            json!({"name": "Frag", "redirect_uris": ["https://app.example.com/cb#x"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);

    // oidcc-idtoken-unsigned: alg none cannot be registered; another alg
    // is used when registered.
    let r = app
        .post(
            "/api/v1/clients",
            Some(&admin),
            json!({"name": "None", "redirect_uris": [CB], "id_token_signed_response_alg": "none"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let es_secret = web_client(
        &app,
        &admin,
        "es",
        json!({"id_token_signed_response_alg": "ES256"}),
    )
    .await;
    let t = tokens_for(&app, &mut b, "es", &es_secret, "", &[]).await;
    assert_eq!(header(t["id_token"].as_str().unwrap())["alg"], "ES256");

    // A token of another realm is not active here.
    let r = app
        .post("/api/v1/realms", Some(&admin), json!({"name": "other"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .get("/realms/other/oauth2/userinfo", Some(&access))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
});

/// A fresh ID token of the browser's session for `web`.
async fn t_id_token(app: &TestApp, b: &mut Browser, secret: &str) -> String {
    let t = tokens_for(app, b, "web", secret, "", &[]).await;
    t["id_token"].as_str().unwrap().to_owned()
}

// The RP-Initiated Logout OP modules (SECURITY-CHECKLIST.md §1.4).
backend_tests!(rp_initiated_logout_modules, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let secret = web_client(&app, &admin, "web", json!({})).await;
    app.register("jan@example.com", PW).await;
    let mut b = Browser::default();
    let t = tokens_for(&app, &mut b, "web", &secret, "jan@example.com", &[]).await;
    let hint = t["id_token"].as_str().unwrap().to_owned();
    let logout = |q: String| format!("/realms/main/oauth2/logout?{q}");
    let bye = enc("https://app.example.com/bye");

    // -modified-id-token-hint: the hint re-encoded with alg none.
    let mut parts = hint.split('.');
    let (_, payload) = (parts.next(), parts.next().unwrap());
    let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
    // -bad-id-token-hint: signed by a key that is not the realm's.
    let foreign = {
        use portcullis_crypto::{SigningAlgorithm, SigningKey, generate_signing_key};
        let k = generate_signing_key(SigningAlgorithm::RS256).unwrap();
        let key = SigningKey::from_pkcs8(SigningAlgorithm::RS256, &k.private_pkcs8_der).unwrap();
        key.sign(&claims(&hint), "JWT").unwrap()
    };
    for bad in [none, foreign] {
        let r = b
            .get(
                &app,
                &logout(format!(
                    "id_token_hint={bad}&post_logout_redirect_uri={bye}"
                )),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert!(r.header("location").is_none());
    }
    // -query-added-to-post-logout-redirect-uri
    let r = b
        .get(
            &app,
            &logout(format!(
                "id_token_hint={hint}&post_logout_redirect_uri={}",
                enc("https://app.example.com/bye?x=1")
            )),
        )
        .await;
    assert_eq!(r.status, 400);
    // -no-id-token-hint: a confirmation, never a redirect by itself; even
    // for a browser without a session.
    let mut stranger = Browser::default();
    for br in [&mut b, &mut stranger] {
        let r = br
            .get(
                &app,
                &logout(format!("client_id=web&post_logout_redirect_uri={bye}")),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.header("location").is_none());
        assert!(r.text.contains("Sign out"));
    }
    // Confirming it (stranger: nothing to end) goes to the registered URI.
    let page = stranger
        .get(
            &app,
            &logout(format!(
                "client_id=web&post_logout_redirect_uri={bye}&state=s"
            )),
        )
        .await;
    let r = stranger.submit(&app, &page, &[("confirm", "yes")]).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        r.header("location").unwrap(),
        "https://app.example.com/bye?state=s"
    );
    // -no-params and -only-state: a confirmation for a browser with a session.
    for q in ["", "state=only"] {
        let r = b.get(&app, &logout(q.to_owned())).await;
        assert_eq!(r.status, 200);
        assert!(r.text.contains("Sign out"));
    }
    // The confirmation form ends the session.
    let page = b.get(&app, &logout(String::new())).await;
    let r = b.submit(&app, &page, &[("confirm", "yes")]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("signed out"));
    assert!(!b.cookies.contains_key("portcullis_sso"));
    let access = t["access_token"].as_str().unwrap();
    assert_eq!(app.get(USERINFO, Some(access)).await.status, 401);
    // -no-post-logout-redirect-uri and -no-state, with a new session.
    let t = tokens_for(&app, &mut b, "web", &secret, "jan@example.com", &[]).await;
    let hint = t["id_token"].as_str().unwrap();
    let r = b.get(&app, &logout(format!("id_token_hint={hint}"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("signed out"));
    let t = tokens_for(&app, &mut b, "web", &secret, "jan@example.com", &[]).await;
    let hint = t["id_token"].as_str().unwrap();
    let r = b
        .get(
            &app,
            &logout(format!(
                "id_token_hint={hint}&post_logout_redirect_uri={bye}"
            )),
        )
        .await;
    assert_eq!(r.header("location").unwrap(), "https://app.example.com/bye");
});

backend_tests!(
    login_page_asks_for_the_second_factor,
    |app: TestApp| async move {
        use super::mfa::{code_at, enrolled};
        let admin = app.admin_token().await;
        let secret = web_client(&app, &admin, "mfa-app", json!({})).await;
        let (_, totp_secret, backup) = enrolled(&app, "page-mfa@example.com").await;
        let mut b = Browser::default();
        let page = b.get(&app, &authorize_query("mfa-app", &[])).await;
        let r = b
            .submit(
                &app,
                &page,
                &[("email", "page-mfa@example.com"), ("password", PW)],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.text.contains("Two-step verification"), "{}", r.text);
        assert!(r.text.contains("autocomplete=\"one-time-code\""));
        assert!(
            r.text.contains("value=\"totp\" checked") && r.text.contains("value=\"backup_code\"")
        );
        assert!(
            !b.cookies.contains_key("portcullis_sso"),
            "no session before the second step"
        );
        // The page's mfa_token is for the page only.
        let page_token = hidden_inputs(&r.text)
            .into_iter()
            .find(|(k, _)| k == "mfa_token")
            .unwrap()
            .1;
        let api = app
        .post(
            "/api/v1/mfa/verify",
            None,
            json!({"mfa_token": page_token, "method": "totp", "code": code_at(&app, &totp_secret, 0)}),
        )
        .await;
        assert_eq!(api.status, 401, "{}", api.text);

        // A wrong code: the same step again, with an error.
        let wrong = b
            .submit(&app, &r, &[("method", "totp"), ("code", "000000")])
            .await;
        assert_eq!(wrong.status, 401, "{}", wrong.text);
        assert!(
            wrong.text.contains("invalid code") && wrong.text.contains("Two-step verification")
        );
        // A method not offered: the same step again.
        let odd = b
            .submit(&app, &wrong, &[("method", "sms"), ("code", "123456")])
            .await;
        assert_eq!(odd.status, 400, "{}", odd.text);
        // The right code completes the login and the authorization.
        let done = b
            .submit(
                &app,
                &odd,
                &[
                    ("method", "totp"),
                    ("code", &code_at(&app, &totp_secret, 0)),
                ],
            )
            .await;
        let code = code_of(&app, &done);
        assert!(b.cookies.contains_key("portcullis_sso"));
        let t = token(&app, "mfa-app", &secret, &redeem_body(&code)).await;
        assert_eq!(t.status, 200, "{}", t.text);
        let id = claims(t.json["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));

        // A backup code works on the page too; too many wrong codes start over.
        let mut b = Browser::default();
        let page = b.get(&app, &authorize_query("mfa-app", &[])).await;
        let mut step = b
            .submit(
                &app,
                &page,
                &[("email", "page-mfa@example.com"), ("password", PW)],
            )
            .await;
        for _ in 0..4 {
            step = b
                .submit(
                    &app,
                    &step,
                    &[("method", "backup_code"), ("code", "0000-0000-0000-0000")],
                )
                .await;
            assert_eq!(step.status, 401, "{}", step.text);
        }
        let ok = b
            .submit(
                &app,
                &step,
                &[("method", "backup_code"), ("code", &backup[0])],
            )
            .await;
        code_of(&app, &ok);
        let mut b = Browser::default();
        let page = b.get(&app, &authorize_query("mfa-app", &[])).await;
        let mut step = b
            .submit(
                &app,
                &page,
                &[("email", "page-mfa@example.com"), ("password", PW)],
            )
            .await;
        for n in 0..5 {
            step = b
                .submit(&app, &step, &[("method", "totp"), ("code", "000000")])
                .await;
            assert_eq!(step.status, 401, "{n}: {}", step.text);
        }
        assert!(step.text.contains("sign in again"), "{}", step.text);
        assert!(
            step.text.contains("name=\"password\""),
            "back on the login form"
        );
    }
);

/// The login page's second step sends an e-mail code when the user must
/// pass one (here: the realm requires MFA of every `user`, and this one
/// has no factor), and takes it.
async fn page_sends_an_email_code(app: TestApp, sink: portcullis_testkit::smtp::SmtpSink) {
    let admin = app.admin_token().await;
    let secret = web_client(&app, &admin, "mail-mfa", json!({})).await;
    app.register("page-code@example.com", PW).await;
    sink.wait_for("page-code@example.com", 1).await;
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/realms/main",
            Some(&admin),
            Some(json!({"mfa_required_roles": ["user"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut b = Browser::default();
    let page = b.get(&app, &authorize_query("mail-mfa", &[])).await;
    let step = b
        .submit(
            &app,
            &page,
            &[("email", "page-code@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.text);
    assert!(
        step.text.contains("name=\"send\" value=\"email\""),
        "{}",
        step.text
    );
    let sent = b.submit(&app, &step, &[("send", "email")]).await;
    assert_eq!(sent.status, 200, "{}", sent.text);
    assert!(
        sent.text.contains("A code was sent to p***@example.com"),
        "{}",
        sent.text
    );
    let mail = sink.wait_for("page-code@example.com", 2).await;
    let code = super::otp::code_in(&mail.text);
    let done = b
        .submit(&app, &sent, &[("method", "email"), ("code", &code)])
        .await;
    let code = code_of(&app, &done);
    let t = token(&app, "mail-mfa", &secret, &redeem_body(&code)).await;
    assert_eq!(
        claims(t.json["id_token"].as_str().unwrap())["amr"],
        json!(["pwd", "otp", "mfa"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_sends_an_email_code_sqlite() {
    let (app, sink) = portcullis_testkit::spawn_mail_app(portcullis_testkit::Backend::Sqlite)
        .await
        .unwrap();
    page_sends_an_email_code(app, sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_sends_an_email_code_postgres() {
    if let Some((app, sink)) =
        portcullis_testkit::spawn_mail_app(portcullis_testkit::Backend::Postgres).await
    {
        page_sends_an_email_code(app, sink).await;
    }
}
