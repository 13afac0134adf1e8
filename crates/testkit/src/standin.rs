//! Stand-ins for the social providers this machine cannot reach: a real
//! HTTP server (axum) on loopback that speaks each one's documented wire
//! format, so the presets are exercised end to end.
//!
//! - Google (`/google`): OpenID Connect discovery, an ID token with
//!   `email_verified` and `hd`.
//! - Microsoft (`/ms/{tenant}/v2.0`): the multi-tenant discovery document
//!   whose issuer is the template `{authority}/{tenantid}/v2.0`, ID tokens
//!   with `tid` and `iss` naming that tenant.
//! - Apple (`/apple`): `response_mode=form_post` (the authorization page
//!   is a form that posts `code`, `state` and, the first time, `user` to
//!   the callback), `email_verified` as the string `"true"`, the client
//!   secret an ES256 JWT the stand-in verifies against the team's key.
//! - GitHub (`/github`): `/login/oauth/authorize`,
//!   `/login/oauth/access_token` (JSON with `Accept: application/json`),
//!   `/user` and `/user/emails` (`primary`, `verified`).
//!
//! Every token request is checked like the real provider would: the code
//! is single use, the PKCE verifier must match the challenge, the client
//! must authenticate. Behaviour can be made hostile per provider (a wrong
//! nonce, another audience, garbage discovery).

// Handlers answer early with a whole response.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use portcullis_core::SharedClock;
use portcullis_crypto::{SigningAlgorithm, SigningKey, generate_signing_key, random_token, sha256};
use serde_json::{Value, json};

/// What the stand-in does wrong on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Hostility {
    /// Nothing: a well-behaved provider.
    #[default]
    None,
    /// The ID token's nonce is another one.
    WrongNonce,
    /// The ID token is for another client.
    OtherAudience,
    /// The discovery document is not JSON.
    GarbageDiscovery,
}

/// The user the stand-in signs in (whoever "logs in").
#[derive(Debug, Clone)]
pub struct StandInUser {
    /// The provider's id of the user.
    pub subject: String,
    /// Primary address.
    pub email: String,
    /// Whether the provider verified it.
    pub verified: bool,
    /// Display name.
    pub name: String,
}

#[derive(Debug, Clone)]
struct Grant {
    flavour: String,
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
}

#[derive(Debug)]
struct Inner {
    base: String,
    key: SigningKey,
    clock: SharedClock,
    user: Mutex<StandInUser>,
    hostility: Mutex<Hostility>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, String>>,
    /// Form fields of every token request, in order.
    token_requests: Mutex<Vec<HashMap<String, String>>>,
    /// The public key that must have signed Apple client secrets.
    apple_key: Mutex<Option<Value>>,
    /// The `amr` of the ID tokens (none when empty).
    amr: Mutex<Vec<String>>,
}

/// A running stand-in.
#[derive(Debug, Clone)]
pub struct StandIn {
    inner: Arc<Inner>,
}

impl StandIn {
    /// Starts the stand-in on a free loopback port; ID tokens are dated by
    /// `clock` (the app's).
    pub async fn start(clock: SharedClock) -> StandIn {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let generated = generate_signing_key(SigningAlgorithm::ES256).expect("key");
        let key = SigningKey::from_pkcs8(SigningAlgorithm::ES256, &generated.private_pkcs8_der)
            .expect("key");
        let inner = Arc::new(Inner {
            base: format!("http://{addr}"),
            key,
            clock,
            user: Mutex::new(StandInUser {
                subject: "1001".into(),
                email: "someone@example.com".into(),
                verified: true,
                name: "Some One".into(),
            }),
            hostility: Mutex::new(Hostility::None),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            token_requests: Mutex::new(Vec::new()),
            apple_key: Mutex::new(None),
            amr: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route(
                "/{flavour}/.well-known/openid-configuration",
                get(discovery),
            )
            .route(
                "/ms/{tenant}/v2.0/.well-known/openid-configuration",
                get(ms_discovery),
            )
            .route("/jwks", get(jwks))
            .route("/{flavour}/authorize", get(authorize))
            .route("/{flavour}/token", post(token))
            .route("/github/login/oauth/authorize", get(github_authorize))
            .route("/github/login/oauth/access_token", post(github_token))
            .route("/github/user", get(github_user))
            .route("/github/user/emails", get(github_emails))
            .route("/github/user/orgs", get(github_orgs))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StandIn { inner }
    }

    /// `http://127.0.0.1:{port}`.
    pub fn base(&self) -> &str {
        &self.inner.base
    }

    /// Who signs in next.
    pub fn set_user(&self, user: StandInUser) {
        *self.inner.user.lock().expect("lock") = user;
    }

    /// Makes the stand-in misbehave.
    pub fn set_hostility(&self, h: Hostility) {
        *self.inner.hostility.lock().expect("lock") = h;
    }

    /// The public JWK Apple's client secrets must verify against.
    pub fn set_apple_key(&self, jwk: Value) {
        *self.inner.apple_key.lock().expect("lock") = Some(jwk);
    }

    /// How the user authenticated upstream (the ID token's `amr`).
    pub fn set_amr(&self, amr: &[&str]) {
        *self.inner.amr.lock().expect("lock") = amr.iter().map(|a| (*a).to_owned()).collect();
    }

    /// The form fields of every token request so far.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.token_requests.lock().expect("lock").clone()
    }
}

fn now(i: &Inner) -> i64 {
    i.clock.now().unix_timestamp()
}

async fn discovery(State(i): State<Arc<Inner>>, Path(flavour): Path<String>) -> Response {
    if *i.hostility.lock().expect("lock") == Hostility::GarbageDiscovery {
        return (StatusCode::OK, "<html>not json</html>").into_response();
    }
    let issuer = format!("{}/{flavour}", i.base);
    axum::Json(metadata(&i, &issuer, &format!("{}/{flavour}", i.base))).into_response()
}

async fn ms_discovery(State(i): State<Arc<Inner>>, Path(tenant): Path<String>) -> Response {
    // Microsoft's multi-tenant documents name a template issuer.
    let issuer = match tenant.as_str() {
        "common" | "organizations" | "consumers" => format!("{}/ms/{{tenantid}}/v2.0", i.base),
        t => format!("{}/ms/{t}/v2.0", i.base),
    };
    axum::Json(metadata(&i, &issuer, &format!("{}/ms", i.base))).into_response()
}

fn metadata(i: &Inner, issuer: &str, endpoints: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{endpoints}/authorize"),
        "token_endpoint": format!("{endpoints}/token"),
        "userinfo_endpoint": format!("{endpoints}/userinfo"),
        "jwks_uri": format!("{}/jwks", i.base),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["ES256", "RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "response_modes_supported": ["query", "form_post"],
    })
}

async fn jwks(State(i): State<Arc<Inner>>) -> axum::Json<Value> {
    axum::Json(json!({ "keys": [i.key.public_jwk()] }))
}

fn remember(i: &Inner, flavour: &str, q: &HashMap<String, String>) -> Result<String, Response> {
    let need = |k: &str| {
        q.get(k)
            .cloned()
            .ok_or_else(|| (StatusCode::BAD_REQUEST, format!("missing {k}")).into_response())
    };
    if q.get("code_challenge_method").map(String::as_str) != Some("S256") {
        return Err((StatusCode::BAD_REQUEST, "PKCE S256 required").into_response());
    }
    let code = random_token();
    i.codes.lock().expect("lock").insert(
        code.clone(),
        Grant {
            flavour: flavour.to_owned(),
            client_id: need("client_id")?,
            redirect_uri: need("redirect_uri")?,
            challenge: need("code_challenge")?,
            nonce: q.get("nonce").cloned(),
        },
    );
    Ok(code)
}

fn back(redirect_uri: &str, code: &str, state: &str) -> Response {
    let mut url = url::Url::parse(redirect_uri).expect("redirect_uri");
    url.query_pairs_mut()
        .append_pair("code", code)
        .append_pair("state", state);
    Redirect::to(url.as_str()).into_response()
}

async fn authorize(
    State(i): State<Arc<Inner>>,
    Path(flavour): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let code = match remember(&i, &flavour, &q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let state = q.get("state").cloned().unwrap_or_default();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if q.get("response_mode").map(String::as_str) == Some("form_post") {
        // Apple: a page whose form posts back, with the name the first time.
        let user = i.user.lock().expect("lock").clone();
        let user_json =
            json!({"name": {"firstName": user.name, "lastName": "Apple"}, "email": user.email});
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('"', "&quot;")
                .replace('<', "&lt;")
        };
        return Html(format!(
            "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"code\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\"><input type=\"hidden\" name=\"user\" value=\"{}\"></form>",
            esc(&redirect),
            esc(&code),
            esc(&state),
            esc(&user_json.to_string())
        ))
        .into_response();
    }
    back(&redirect, &code, &state)
}

fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

/// Redeems a code as every provider does: once, with the matching PKCE
/// verifier, for the client and redirect URI it was issued to.
fn redeem(i: &Inner, form: &HashMap<String, String>) -> Result<Grant, Response> {
    i.token_requests.lock().expect("lock").push(form.clone());
    let refuse =
        |e: &str| (StatusCode::BAD_REQUEST, axum::Json(json!({"error": e}))).into_response();
    let code = form.get("code").ok_or_else(|| refuse("invalid_request"))?;
    let grant = i
        .codes
        .lock()
        .expect("lock")
        .remove(code)
        .ok_or_else(|| refuse("invalid_grant"))?;
    let verifier = form
        .get("code_verifier")
        .ok_or_else(|| refuse("invalid_grant"))?;
    let challenge =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
    if challenge != grant.challenge || form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(refuse("invalid_grant"));
    }
    Ok(grant)
}

async fn token(
    State(i): State<Arc<Inner>>,
    Path(flavour): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let grant = match redeem(&i, &form) {
        Ok(g) => g,
        Err(r) => return r,
    };
    let client_ok = match flavour.as_str() {
        // Apple: the client secret is an ES256 JWT of the team.
        "apple" => {
            let key = i.apple_key.lock().expect("lock").clone();
            match (key, form.get("client_secret")) {
                (Some(jwk), Some(jwt)) => portcullis_crypto::VerifyingKey::from_jwk(&jwk)
                    .ok()
                    .and_then(|k| {
                        // The stand-in's JWK has no kid of Apple's: check the
                        // signature and the claims.
                        portcullis_crypto::verify::<Value>(jwt, &k).ok()
                    })
                    .is_some_and(|c| {
                        c["sub"] == grant.client_id.as_str()
                            && c["aud"] == format!("{}/apple", i.base)
                    }),
                _ => false,
            }
        }
        _ => basic(&headers).is_some_and(|(id, _)| id == grant.client_id),
    };
    if !client_ok || grant.flavour != flavour {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let user = i.user.lock().expect("lock").clone();
    let hostility = i.hostility.lock().expect("lock").clone();
    let t = now(&i);
    let (iss, extra) = match flavour.as_str() {
        "ms" => {
            let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
            (format!("{}/ms/{tid}/v2.0", i.base), json!({"tid": tid}))
        }
        "google" => (
            format!("{}/google", i.base),
            json!({"hd": "example.com", "email_verified": user.verified}),
        ),
        "apple" => (
            format!("{}/apple", i.base),
            json!({"email_verified": if user.verified { "true" } else { "false" }}),
        ),
        other => (
            format!("{}/{other}", i.base),
            json!({"email_verified": user.verified}),
        ),
    };
    let mut claims = json!({
        "iss": iss,
        "sub": user.subject,
        "aud": if hostility == Hostility::OtherAudience { "someone-else".to_owned() } else { grant.client_id.clone() },
        "iat": t,
        "exp": t + 300,
        "email": user.email,
        "name": if flavour == "apple" { Value::Null } else { Value::from(user.name.clone()) },
    });
    let amr = i.amr.lock().expect("lock").clone();
    if !amr.is_empty() {
        claims["amr"] = json!(amr);
    }
    if let Some(n) = grant.nonce {
        claims["nonce"] = Value::from(if hostility == Hostility::WrongNonce {
            "not-the-nonce".to_owned()
        } else {
            n
        });
    }
    if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
        c.extend(e);
    }
    if claims["name"].is_null()
        && let Value::Object(c) = &mut claims
    {
        c.remove("name");
    }
    let id_token = i.key.sign(&claims, "JWT").expect("sign");
    axum::Json(json!({
        "access_token": random_token(),
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response()
}

async fn github_authorize(
    State(i): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let code = match remember(&i, "github", &q) {
        Ok(c) => c,
        Err(r) => return r,
    };
    back(
        q.get("redirect_uri")
            .map(String::as_str)
            .unwrap_or_default(),
        &code,
        q.get("state").map(String::as_str).unwrap_or_default(),
    )
}

async fn github_token(
    State(i): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    // GitHub answers form-encoded unless asked for JSON.
    if headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::OK, "access_token=x&token_type=bearer").into_response();
    }
    let grant = match redeem(&i, &form) {
        Ok(g) => g,
        Err(r) => return r,
    };
    if basic(&headers).is_none_or(|(id, _)| id != grant.client_id) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "incorrect_client_credentials"})),
        )
            .into_response();
    }
    let token = random_token();
    i.tokens
        .lock()
        .expect("lock")
        .insert(token.clone(), grant.client_id);
    axum::Json(
        json!({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}),
    )
    .into_response()
}

fn bearer_ok(i: &Inner, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| i.tokens.lock().expect("lock").contains_key(t))
}

async fn github_user(State(i): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&i, &headers) || headers.get(header::USER_AGENT).is_none() {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let user = i.user.lock().expect("lock").clone();
    let id: u64 = user.subject.parse().unwrap_or(1);
    axum::Json(json!({
        "login": "octocat",
        "id": id,
        "avatar_url": "https://avatars.example.com/u/1",
        "name": Value::Null,
        "email": Value::Null,
        "company": "@acme",
    }))
    .into_response()
}

async fn github_orgs(State(i): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&i, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    axum::Json(json!([
        {"login": "acme", "id": 1, "description": "ACME"},
        {"login": "octo-friends", "id": 2, "description": Value::Null},
    ]))
    .into_response()
}

async fn github_emails(State(i): State<Arc<Inner>>, headers: HeaderMap) -> Response {
    if !bearer_ok(&i, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "Bad credentials"})),
        )
            .into_response();
    }
    let user = i.user.lock().expect("lock").clone();
    axum::Json(json!([
        {"email": "old@unverified.example", "primary": false, "verified": false, "visibility": Value::Null},
        {"email": user.email, "primary": true, "verified": user.verified, "visibility": "private"},
        {"email": "other@verified.example", "primary": false, "verified": true, "visibility": Value::Null},
    ]))
    .into_response()
}
