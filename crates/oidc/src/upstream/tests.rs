//! The upstream client against an in-memory transport that answers canned
//! responses per method and URL and records what it was sent, a test clock,
//! and a domain on in-memory SQLite (for the provider's sealed secret and
//! the realm's keys).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use http::Method;
use portcullis_core::access::{ProvidersManage, Requester};
use portcullis_core::federation::{
    AttemptSecrets, FieldMap, IdentityProvider, NewProvider, ProviderConfig, ProviderKind,
    UpstreamAuth, UpstreamIdentity,
};
use portcullis_core::model::{Email, Realm};
use portcullis_core::tokens::AccessClaims;
use portcullis_core::{Clock as _, Portcullis, Principal, Settings, TestClock};
use portcullis_crypto::{Argon2Params, MasterKey, SigningAlgorithm, SigningKey};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::discovery::{JWKS_MIN_REFRESH, METADATA_TTL};
use super::{HttpFailure, Upstream, UpstreamError, UpstreamHttp, presets};

// ---------------------------------------------------------------------------
// The fake transport.

/// A request the fake received.
#[derive(Debug, Clone)]
struct Sent {
    method: Method,
    url: String,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Sent {
    /// The form-encoded body.
    fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

type Handler = Box<dyn Fn(&Sent) -> Result<(u16, Vec<u8>), HttpFailure> + Send + Sync>;

/// Canned answers per (method, URL); 404 for anything else. Records every
/// request.
#[derive(Default)]
struct FakeHttp {
    routes: Mutex<HashMap<(Method, String), Handler>>,
    sent: Mutex<Vec<Sent>>,
}

impl FakeHttp {
    fn route(
        &self,
        method: Method,
        url: &str,
        handler: impl Fn(&Sent) -> Result<(u16, Vec<u8>), HttpFailure> + Send + Sync + 'static,
    ) {
        self.routes
            .lock()
            .unwrap()
            .insert((method, url.to_owned()), Box::new(handler));
    }

    fn json(&self, method: Method, url: &str, status: u16, body: Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.route(method, url, move |_| Ok((status, bytes.clone())));
    }

    fn raw(&self, method: Method, url: &str, status: u16, body: &'static str) {
        self.route(method, url, move |_| Ok((status, body.as_bytes().to_vec())));
    }

    fn fail(&self, method: Method, url: &str, failure: HttpFailure) {
        self.route(method, url, move |_| Err(failure.clone()));
    }

    fn sent_to(&self, method: &Method, url: &str) -> Vec<Sent> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == *method && s.url == url)
            .cloned()
            .collect()
    }

    fn count(&self, method: &Method, url: &str) -> usize {
        self.sent_to(method, url).len()
    }

    fn all(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl UpstreamHttp for FakeHttp {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>, HttpFailure> {
        let (parts, body) = request.into_parts();
        let sent = Sent {
            method: parts.method,
            url: parts.uri.to_string(),
            headers: parts.headers,
            body,
        };
        self.sent.lock().unwrap().push(sent.clone());
        let (status, body) = match self
            .routes
            .lock()
            .unwrap()
            .get(&(sent.method.clone(), sent.url.clone()))
        {
            Some(handler) => handler(&sent)?,
            None => (404, br#"{"error":"not_found"}"#.to_vec()),
        };
        Ok(http::Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap())
    }
}

// ---------------------------------------------------------------------------
// The domain, the client, the provider.

const ADMIN: &str = "admin@example.com";
const REDIRECT: &str = "https://iam.test/api/v1/auth/social/idp/callback";
const BINDING: &str = "binding-secret-of-the-browser-0123456789";
const CLIENT_ID: &str = "portcullis-rp";
const CLIENT_SECRET: &str = "s3cr3t-upstream-client-secret";

const ISSUER: &str = "https://idp.test";
const DISCOVERY: &str = "https://idp.test/.well-known/openid-configuration";
const AUTHORIZE: &str = "https://idp.test/authorize";
const TOKEN: &str = "https://idp.test/token";
const USERINFO: &str = "https://idp.test/userinfo";
const JWKS: &str = "https://idp.test/jwks";

struct Env {
    core: Portcullis,
    realm: Arc<Realm>,
    clock: TestClock,
    http: Arc<FakeHttp>,
    upstream: Upstream,
    admin: Requester,
    /// Token responses of the fake token endpoints, by `code`.
    answers: Arc<Mutex<HashMap<String, Value>>>,
    providers: AtomicUsize,
}

async fn env() -> Env {
    let store = portcullis_store::SqlStore::connect("sqlite::memory:")
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let clock = TestClock::at(time::macros::datetime!(2026-03-01 12:00 UTC));
    let mut settings = Settings::with_public_url("https://iam.test");
    settings.argon2 = Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let core = Portcullis::new(
        Arc::new(store),
        Arc::new(clock.clone()),
        settings,
        MasterKey::generate(),
    )
    .unwrap();
    assert!(core.realms().bootstrap(ADMIN, None).await.unwrap().created);
    let realm = core.realms().default_realm().await.unwrap();
    let admin = core
        .store()
        .get_user_by_email(realm.id, &Email::parse(ADMIN).unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = clock.now().unix_timestamp();
    let issuer = core.realms().issuer(&realm);
    let who = Principal {
        realm: realm.clone(),
        user_id: admin.id,
        session_id: None,
        claims: Arc::new(AccessClaims {
            iss: issuer.clone(),
            sub: admin.id.to_string(),
            aud: issuer,
            exp: now + 900,
            iat: now,
            jti: uuid::Uuid::now_v7(),
            sid: None,
            scope: None,
            roles: None,
            client_id: None,
            organization: None,
        }),
        service_key: None,
        elevated_risk: false,
    };
    let http = Arc::new(FakeHttp::default());
    let upstream = Upstream::new(http.clone(), Arc::new(clock.clone()));
    Env {
        core,
        realm,
        clock,
        http,
        upstream,
        admin: Requester::new(who, None, None),
        answers: Arc::default(),
        providers: AtomicUsize::new(0),
    }
}

impl Env {
    /// A provider created through the domain (its secret sealed as the
    /// admin API seals it).
    async fn provider(
        &self,
        kind: ProviderKind,
        config: ProviderConfig,
        secret: Option<&str>,
    ) -> IdentityProvider {
        let allowed = self
            .core
            .access()
            .allow::<ProvidersManage>(self.admin.clone())
            .await
            .unwrap();
        let n = self.providers.fetch_add(1, Ordering::SeqCst);
        self.core
            .federation()
            .create(
                &allowed,
                NewProvider {
                    alias: format!("{}-{n}", kind.as_str()),
                    kind,
                    display_name: None,
                    enabled: true,
                    config,
                    client_secret: secret.map(SecretString::from),
                },
            )
            .await
            .unwrap()
    }

    /// An OpenID Provider at [`ISSUER`] found by discovery.
    async fn oidc(&self, auth: UpstreamAuth) -> IdentityProvider {
        let secret = (auth != UpstreamAuth::PrivateKeyJwt).then_some(CLIENT_SECRET);
        self.provider(ProviderKind::Oidc, oidc_config(auth), secret)
            .await
    }

    /// Makes `url` a token endpoint answering each code with what
    /// [`Env::on_code`] set (`invalid_grant` otherwise).
    fn token_endpoint(&self, url: &str) {
        let answers = self.answers.clone();
        self.http.route(Method::POST, url, move |sent| {
            let code = sent.form().get("code").cloned().unwrap_or_default();
            Ok(match answers.lock().unwrap().get(&code) {
                Some(v) => (200, serde_json::to_vec(v).unwrap()),
                None => (400, br#"{"error":"invalid_grant"}"#.to_vec()),
            })
        });
    }

    fn on_code(&self, code: &str, answer: Value) {
        self.answers.lock().unwrap().insert(code.to_owned(), answer);
    }

    /// The token endpoint answers `code` with an access token and this ID
    /// token.
    fn id_token_for(&self, code: &str, id_token: &str) {
        self.on_code(
            code,
            json!({
                "access_token": format!("at-{code}"),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            }),
        );
    }

    /// Publishes the discovery document of [`ISSUER`] and a JWKS.
    fn publish(&self, keys: &[&SigningKey]) {
        self.http
            .json(Method::GET, DISCOVERY, 200, discovery_doc(ISSUER, ISSUER));
        self.set_jwks(JWKS, keys);
        self.token_endpoint(TOKEN);
    }

    fn set_jwks(&self, url: &str, keys: &[&SigningKey]) {
        self.http.json(Method::GET, url, 200, jwks(keys));
    }

    async fn identity(
        &self,
        provider: &IdentityProvider,
        code: &str,
        secrets: &AttemptSecrets,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let r = presets::resolve(provider);
        self.upstream
            .identity(
                &self.core,
                &self.realm,
                provider,
                &r,
                REDIRECT,
                code,
                secrets,
            )
            .await
    }

    async fn authorization_url(
        &self,
        provider: &IdentityProvider,
        state: &str,
        secrets: &AttemptSecrets,
    ) -> Result<url::Url, UpstreamError> {
        let r = presets::resolve(provider);
        let url = self
            .upstream
            .authorization_url(provider, &r, REDIRECT, state, secrets)
            .await?;
        Ok(url::Url::parse(&url).unwrap())
    }

    /// Standard ID-token claims of [`ISSUER`] for this client, issued now.
    fn claims(&self, secrets: &AttemptSecrets) -> Value {
        let now = self.clock.now().unix_timestamp();
        json!({
            "iss": ISSUER,
            "sub": "user-1",
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": secrets.nonce,
            "email": "ada@example.com",
            "email_verified": true,
            "name": "Ada Lovelace",
            "amr": ["pwd", "mfa"],
        })
    }

    fn advance(&self, by: std::time::Duration) {
        self.clock.advance(time::Duration::try_from(by).unwrap());
    }
}

fn oidc_config(auth: UpstreamAuth) -> ProviderConfig {
    ProviderConfig {
        issuer: Some(ISSUER.to_owned()),
        client_id: CLIENT_ID.to_owned(),
        client_auth: auth,
        ..ProviderConfig::default()
    }
}

fn secrets(state: &str) -> AttemptSecrets {
    portcullis_core::federation::secrets(BINDING, state)
}

fn discovery_doc(issuer: &str, base: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    })
}

fn jwks(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>()})
}

fn key(alg: SigningAlgorithm) -> SigningKey {
    let generated = portcullis_crypto::generate_signing_key(alg).unwrap();
    SigningKey::from_pkcs8(alg, &generated.private_pkcs8_der).unwrap()
}

fn b64u(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64u(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// A compact JWS built by hand: `sign` gets the signing input.
fn forge(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        b64u(&serde_json::to_vec(header).unwrap()),
        b64u(&serde_json::to_vec(claims).unwrap())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64u(&signature))
}

/// The JSON of a compact JWS's header and payload (not verified).
fn parts(jws: &str) -> (Value, Value) {
    let mut it = jws.split('.');
    let header = serde_json::from_slice(&unb64u(it.next().unwrap())).unwrap();
    let payload = serde_json::from_slice(&unb64u(it.next().unwrap())).unwrap();
    (header, payload)
}

fn query(url: &url::Url) -> HashMap<String, String> {
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let map: HashMap<String, String> = pairs.iter().cloned().collect();
    assert_eq!(map.len(), pairs.len(), "a parameter repeats: {url}");
    map
}

fn s256(verifier: &str) -> String {
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    b64u(digest.as_slice())
}

fn invalid_token(result: Result<UpstreamIdentity, UpstreamError>) -> String {
    match result {
        Err(UpstreamError::InvalidToken(reason)) => reason,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

fn bad_response(result: Result<UpstreamIdentity, UpstreamError>) -> String {
    match result {
        Err(UpstreamError::BadResponse(reason)) => reason,
        other => panic!("expected BadResponse, got {other:?}"),
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

// ---------------------------------------------------------------------------
// 1. A valid ID token, and how the code was exchanged.

#[tokio::test]
async fn valid_id_token_gives_the_identity_and_the_exchange_sends_pkce_and_basic_auth() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let claims = env.claims(&s);
    env.id_token_for("code-1", &op.sign(&claims, "JWT").unwrap());

    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(
        identity,
        UpstreamIdentity {
            subject: "user-1".to_owned(),
            email: Some("ada@example.com".to_owned()),
            email_verified: true,
            name: Some("Ada Lovelace".to_owned()),
            picture: None,
            claims,
            amr: vec!["pwd".to_owned(), "mfa".to_owned()],
        }
    );

    let sent = env.http.sent_to(&Method::POST, TOKEN);
    assert_eq!(sent.len(), 1);
    let form = sent[0].form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "code-1");
    assert_eq!(form["redirect_uri"], REDIRECT);
    assert_eq!(form["code_verifier"], s.pkce_verifier.expose_secret());
    assert!(!form.contains_key("client_secret"), "{form:?}");
    assert_eq!(
        sent[0].header("authorization"),
        Some(basic(CLIENT_ID, CLIENT_SECRET).as_str())
    );
    // One discovery, one JWKS, one token request; no UserInfo (the ID token
    // had the address).
    assert_eq!(env.http.count(&Method::GET, DISCOVERY), 1);
    assert_eq!(env.http.count(&Method::GET, JWKS), 1);
    assert_eq!(env.http.count(&Method::GET, USERINFO), 0);
}

#[tokio::test]
async fn client_secret_post_sends_the_secret_in_the_body() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretPost).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());

    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(identity.subject, "user-1");

    let sent = env.http.sent_to(&Method::POST, TOKEN);
    assert_eq!(sent.len(), 1);
    let form = sent[0].form();
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(form["code_verifier"], s.pkce_verifier.expose_secret());
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["redirect_uri"], REDIRECT);
    assert_eq!(sent[0].header("authorization"), None);
}

#[tokio::test]
async fn an_rs256_id_token_is_accepted_too() {
    let env = env().await;
    let op = key(SigningAlgorithm::RS256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    assert_eq!(
        env.identity(&provider, "code-1", &s).await.unwrap().subject,
        "user-1"
    );
}

#[tokio::test]
async fn userinfo_completes_an_id_token_without_address_only_for_the_same_subject() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let mut claims = env.claims(&s);
    let c = claims.as_object_mut().unwrap();
    c.remove("email");
    c.remove("email_verified");
    env.id_token_for("code-1", &op.sign(&claims, "JWT").unwrap());
    env.http.json(
        Method::GET,
        USERINFO,
        200,
        json!({"sub": "user-1", "email": "ada@example.com", "email_verified": true, "name": "Not Ada"}),
    );
    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
    assert!(identity.email_verified);
    // The ID token's claims win.
    assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
    let info = env.http.sent_to(&Method::GET, USERINFO);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].header("authorization"), Some("Bearer at-code-1"));

    // UserInfo about another subject adds nothing.
    env.http.json(
        Method::GET,
        USERINFO,
        200,
        json!({"sub": "someone-else", "email": "eve@example.com", "email_verified": true}),
    );
    env.id_token_for("code-2", &op.sign(&claims, "JWT").unwrap());
    let identity = env.identity(&provider, "code-2", &s).await.unwrap();
    assert_eq!(identity.email, None);
    assert!(!identity.email_verified);
}

// ---------------------------------------------------------------------------
// 2-8, 11. ID tokens that must be refused.

/// Signs `claims` (after `edit`) with the published key and runs the
/// exchange.
async fn with_claims(
    edit: impl FnOnce(&mut Value, &Env),
) -> Result<UpstreamIdentity, UpstreamError> {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let mut claims = env.claims(&s);
    edit(&mut claims, &env);
    env.id_token_for("code-1", &op.sign(&claims, "JWT").unwrap());
    env.identity(&provider, "code-1", &s).await
}

#[tokio::test]
async fn a_wrong_nonce_is_refused() {
    let other = secrets("another-attempt").nonce;
    invalid_token(with_claims(|c, _| c["nonce"] = json!(other)).await);
}

#[tokio::test]
async fn a_missing_nonce_is_refused() {
    invalid_token(
        with_claims(|c, _| {
            c.as_object_mut().unwrap().remove("nonce");
        })
        .await,
    );
}

#[tokio::test]
async fn an_audience_of_another_client_is_refused() {
    invalid_token(with_claims(|c, _| c["aud"] = json!("another-client")).await);
    // Nor may another, untrusted audience ride along.
    invalid_token(with_claims(|c, _| c["aud"] = json!([CLIENT_ID, "another-client"])).await);
}

#[tokio::test]
async fn an_azp_of_another_client_is_refused() {
    let reason = invalid_token(with_claims(|c, _| c["azp"] = json!("another-client")).await);
    assert!(reason.contains("azp"), "{reason}");
    // Its own client id is fine.
    assert!(
        with_claims(|c, _| c["azp"] = json!(CLIENT_ID))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_expired_id_token_is_refused() {
    // Signed valid for five minutes; the exchange happens six minutes
    // later by the test clock.
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    env.clock.advance(time::Duration::minutes(6));
    invalid_token(env.identity(&provider, "code-1", &s).await);
    // exp in the past outright.
    invalid_token(
        with_claims(|c, env| c["exp"] = json!(env.clock.now().unix_timestamp() - 1)).await,
    );
}

#[tokio::test]
async fn an_iat_in_the_future_or_too_old_is_refused() {
    let at = |minutes: i64| {
        move |c: &mut Value, env: &Env| {
            let now = env.clock.now().unix_timestamp();
            c["iat"] = json!(now + minutes * 60);
            c["exp"] = json!(now + 3600);
        }
    };
    let reason = invalid_token(with_claims(at(6)).await);
    assert!(reason.contains("future"), "{reason}");
    let reason = invalid_token(with_claims(at(60)).await);
    assert!(reason.contains("future"), "{reason}");
    let reason = invalid_token(with_claims(at(-11)).await);
    assert!(reason.contains("too long ago"), "{reason}");
    // Within the skew and the age limit.
    assert!(with_claims(at(4)).await.is_ok());
    assert!(with_claims(at(-9)).await.is_ok());
}

#[tokio::test]
async fn a_wrong_issuer_is_refused() {
    invalid_token(with_claims(|c, _| c["iss"] = json!("https://evil.test")).await);
    // Not even the same host with a trailing slash.
    invalid_token(with_claims(|c, _| c["iss"] = json!("https://idp.test/")).await);
}

#[tokio::test]
async fn an_unsigned_alg_none_token_is_refused() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let token = forge(
        &json!({"alg": "none", "typ": "JWT"}),
        &env.claims(&s),
        |_| Vec::new(),
    );
    assert!(token.ends_with('.'));
    env.id_token_for("code-1", &token);
    invalid_token(env.identity(&provider, "code-1", &s).await);
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_client_secret_is_refused() {
    // The classic confusion: an HMAC "signature" whose key the attacker
    // knows (the client secret) or the public key's bytes.
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": op.kid()});
    let token = forge(&header, &env.claims(&s), |input| {
        portcullis_crypto::hmac_sha256(CLIENT_SECRET.as_bytes(), input).to_vec()
    });
    // A well-formed HS256 JWS under the client secret: refused for its
    // algorithm, not for its shape.
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_exp = false;
    validation.set_audience(&[CLIENT_ID]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(CLIENT_SECRET.as_bytes()),
        &validation,
    )
    .unwrap();
    env.id_token_for("code-1", &token);
    invalid_token(env.identity(&provider, "code-1", &s).await);

    let public = serde_json::to_vec(op.public_jwk()).unwrap();
    let token = forge(&header, &env.claims(&s), |input| {
        portcullis_crypto::hmac_sha256(&public, input).to_vec()
    });
    env.id_token_for("code-2", &token);
    invalid_token(env.identity(&provider, "code-2", &s).await);
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let signed = op.sign(&env.claims(&s), "JWT").unwrap();
    let mut claims = env.claims(&s);
    claims["sub"] = json!("admin");
    let mut pieces: Vec<String> = signed.split('.').map(str::to_owned).collect();
    pieces[1] = b64u(&serde_json::to_vec(&claims).unwrap());
    env.id_token_for("code-1", &pieces.join("."));
    invalid_token(env.identity(&provider, "code-1", &s).await);
}

// ---------------------------------------------------------------------------
// 9-10. Keys the provider does not publish, rotation, floods.

#[tokio::test]
async fn a_key_of_another_issuer_is_refused_after_one_jwks_refetch() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    let theirs = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    // Another issuer publishes its key; it must never be consulted.
    env.set_jwks("https://evil.test/jwks", &[&theirs]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    // The sign-in starts (discovery and keys), the user takes a while at
    // the provider.
    env.authorization_url(&provider, "state-1", &s)
        .await
        .unwrap();
    assert_eq!(env.http.count(&Method::GET, JWKS), 1);
    env.advance(JWKS_MIN_REFRESH + std::time::Duration::from_secs(1));

    env.id_token_for("code-1", &theirs.sign(&env.claims(&s), "JWT").unwrap());
    let reason = invalid_token(env.identity(&provider, "code-1", &s).await);
    assert!(reason.contains("key"), "{reason}");
    assert_eq!(env.http.count(&Method::GET, JWKS), 2);
    assert_eq!(env.http.count(&Method::GET, "https://evil.test/jwks"), 0);

    // Again at once: no more fetches.
    env.id_token_for("code-2", &theirs.sign(&env.claims(&s), "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-2", &s).await);
    assert_eq!(env.http.count(&Method::GET, JWKS), 2);
}

#[tokio::test]
async fn an_unknown_key_right_after_discovery_does_not_refetch() {
    // The keys were fetched less than JWKS_MIN_REFRESH ago: they are the
    // answer.
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    let theirs = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &theirs.sign(&env.claims(&s), "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-1", &s).await);
    assert_eq!(env.http.count(&Method::GET, JWKS), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_are_refetched_once_and_floods_of_unknown_keys_cost_one_fetch() {
    let env = Arc::new(env().await);
    let old = key(SigningAlgorithm::ES256);
    let new = key(SigningAlgorithm::ES256);
    env.publish(&[&old]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");

    env.id_token_for("code-0", &old.sign(&env.claims(&s), "JWT").unwrap());
    env.identity(&provider, "code-0", &s).await.unwrap();
    assert_eq!(env.http.count(&Method::GET, JWKS), 1);

    // The provider rotates: the old key is gone, a new kid signs.
    env.advance(std::time::Duration::from_secs(60));
    env.set_jwks(JWKS, &[&new]);
    env.id_token_for("code-1", &new.sign(&env.claims(&s), "JWT").unwrap());
    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(identity.subject, "user-1");
    assert_eq!(env.http.count(&Method::GET, JWKS), 2);
    // The new key is now known: no fetch for the next token.
    env.id_token_for("code-2", &new.sign(&env.claims(&s), "JWT").unwrap());
    env.identity(&provider, "code-2", &s).await.unwrap();
    assert_eq!(env.http.count(&Method::GET, JWKS), 2);

    const N: usize = 16;
    let flood = |round: &str| {
        let mut codes = Vec::new();
        for i in 0..N {
            let code = format!("{round}-{i}");
            let forged = key(SigningAlgorithm::ES256);
            env.id_token_for(&code, &forged.sign(&env.claims(&s), "JWT").unwrap());
            codes.push(code);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for code in codes {
            let env = env.clone();
            let provider = provider.clone();
            tasks.spawn(async move {
                let s = secrets("state-1");
                env.identity(&provider, &code, &s).await
            });
        }
        tasks
    };

    // A flood within JWKS_MIN_REFRESH of the last fetch: no fetch at all.
    env.advance(std::time::Duration::from_secs(1));
    let results = flood("a").join_all().await;
    assert_eq!(results.len(), N);
    for r in results {
        invalid_token(r);
    }
    assert_eq!(env.http.count(&Method::GET, JWKS), 2);

    // A flood once the keys may be refetched: exactly one fetch for all.
    env.advance(JWKS_MIN_REFRESH);
    let results = flood("b").join_all().await;
    for r in results {
        invalid_token(r);
    }
    assert_eq!(env.http.count(&Method::GET, JWKS), 3);

    // The known key still verifies without a fetch.
    env.id_token_for("code-3", &new.sign(&env.claims(&s), "JWT").unwrap());
    env.identity(&provider, "code-3", &s).await.unwrap();
    assert_eq!(env.http.count(&Method::GET, JWKS), 3);
}

#[tokio::test]
async fn discovery_is_cached_for_its_ttl_then_fetched_again() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    for _ in 0..3 {
        env.authorization_url(&provider, "state-1", &s)
            .await
            .unwrap();
    }
    assert_eq!(env.http.count(&Method::GET, DISCOVERY), 1);
    env.advance(METADATA_TTL);
    env.authorization_url(&provider, "state-1", &s)
        .await
        .unwrap();
    assert_eq!(env.http.count(&Method::GET, DISCOVERY), 2);
    assert_eq!(env.http.count(&Method::GET, JWKS), 2);
}

// ---------------------------------------------------------------------------
// 12-14. Discovery and token endpoints that answer wrongly.

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    env.http.json(
        Method::GET,
        DISCOVERY,
        200,
        discovery_doc("https://evil.test", ISSUER),
    );
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    let reason = bad_response(env.identity(&provider, "code-1", &s).await);
    assert!(reason.contains("https://evil.test"), "{reason}");
    // Nothing was sent past discovery: no keys, no code.
    assert_eq!(env.http.count(&Method::GET, JWKS), 0);
    assert_eq!(env.http.count(&Method::POST, TOKEN), 0);
    assert!(matches!(
        env.authorization_url(&provider, "state-1", &s).await,
        Err(UpstreamError::BadResponse(_))
    ));
}

#[tokio::test]
async fn garbage_and_transport_failures_are_bad_responses() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());

    // Not JSON.
    env.http
        .raw(Method::GET, DISCOVERY, 200, "<html>It works!</html>");
    bad_response(env.identity(&provider, "code-1", &s).await);
    // JSON, but not a discovery document.
    env.http
        .json(Method::GET, DISCOVERY, 200, json!({"issuer": ISSUER}));
    bad_response(env.identity(&provider, "code-1", &s).await);
    // An error status.
    env.http.json(Method::GET, DISCOVERY, 500, json!({}));
    bad_response(env.identity(&provider, "code-1", &s).await);
    // No answer in time.
    env.http.fail(Method::GET, DISCOVERY, HttpFailure::Timeout);
    let reason = bad_response(env.identity(&provider, "code-1", &s).await);
    assert_eq!(reason, HttpFailure::Timeout.to_string());
    env.http.fail(
        Method::GET,
        DISCOVERY,
        HttpFailure::Connect("connection refused".to_owned()),
    );
    bad_response(env.identity(&provider, "code-1", &s).await);
    assert!(matches!(
        env.authorization_url(&provider, "state-1", &s).await,
        Err(UpstreamError::BadResponse(_))
    ));

    // Discovery fine, the JWKS garbage.
    env.http
        .json(Method::GET, DISCOVERY, 200, discovery_doc(ISSUER, ISSUER));
    env.http.raw(Method::GET, JWKS, 200, "not json");
    bad_response(env.identity(&provider, "code-1", &s).await);
    env.http
        .json(Method::GET, JWKS, 200, json!({"keys": "nope"}));
    bad_response(env.identity(&provider, "code-1", &s).await);
    assert_eq!(env.http.count(&Method::POST, TOKEN), 0);

    // Keys fine, the token endpoint times out, then answers garbage.
    env.set_jwks(JWKS, &[&op]);
    env.http.fail(Method::POST, TOKEN, HttpFailure::Timeout);
    bad_response(env.identity(&provider, "code-1", &s).await);
    env.http.raw(Method::POST, TOKEN, 200, "<html>");
    bad_response(env.identity(&provider, "code-1", &s).await);
    // A token response without an ID token.
    env.http.json(
        Method::POST,
        TOKEN,
        200,
        json!({"access_token": "at", "token_type": "Bearer"}),
    );
    let reason = bad_response(env.identity(&provider, "code-1", &s).await);
    assert!(reason.contains("no ID token"), "{reason}");
    // An ID token that is not a JWT.
    env.http.json(
        Method::POST,
        TOKEN,
        200,
        json!({"access_token": "at", "token_type": "Bearer", "id_token": "garbage"}),
    );
    bad_response(env.identity(&provider, "code-1", &s).await);
}

#[tokio::test]
async fn a_token_endpoint_error_is_a_bad_response_naming_it() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    env.http.json(
        Method::POST,
        TOKEN,
        400,
        json!({"error": "invalid_grant", "error_description": "code expired"}),
    );
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    let reason = bad_response(env.identity(&provider, "code-1", &s).await);
    assert!(reason.contains("invalid_grant"), "{reason}");
}

// ---------------------------------------------------------------------------
// 15. GitHub.

const GH_AUTHORIZE: &str = "https://gh.test/login/oauth/authorize";
const GH_TOKEN: &str = "https://gh.test/login/oauth/access_token";
const GH_USER: &str = "https://api.gh.test/user";
const GH_EMAILS: &str = "https://api.gh.test/user/emails";

async fn github(env: &Env) -> IdentityProvider {
    env.token_endpoint(GH_TOKEN);
    env.provider(
        ProviderKind::Github,
        ProviderConfig {
            client_id: "gh-client".to_owned(),
            authorization_endpoint: Some(GH_AUTHORIZE.to_owned()),
            token_endpoint: Some(GH_TOKEN.to_owned()),
            userinfo_endpoint: Some(GH_USER.to_owned()),
            emails_endpoint: Some(GH_EMAILS.to_owned()),
            ..ProviderConfig::default()
        },
        Some(CLIENT_SECRET),
    )
    .await
}

fn github_token(env: &Env, code: &str) {
    // GitHub's own spelling: a lowercase token type, comma-separated scopes.
    env.on_code(
        code,
        json!({"access_token": format!("gho-{code}"), "token_type": "bearer", "scope": "read:user,user:email"}),
    );
}

#[tokio::test]
async fn github_reads_the_profile_and_the_primary_verified_address() {
    let env = env().await;
    let provider = github(&env).await;
    github_token(&env, "code-1");
    env.http.json(
        Method::GET,
        GH_USER,
        200,
        json!({"id": 42, "login": "octo", "name": null, "email": "public@example.com", "avatar_url": "https://avatars.gh.test/u/42"}),
    );
    env.http.json(
        Method::GET,
        GH_EMAILS,
        200,
        json!([
            {"email": "unverified-primary@example.com", "primary": true, "verified": false},
            {"email": "verified-secondary@example.com", "primary": false, "verified": true},
            {"email": "octo@example.com", "primary": true, "verified": true},
        ]),
    );
    let s = secrets("state-1");
    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(identity.subject, "42");
    assert_eq!(identity.email.as_deref(), Some("octo@example.com"));
    assert!(identity.email_verified);
    assert_eq!(identity.name.as_deref(), Some("octo"));
    assert_eq!(
        identity.picture.as_deref(),
        Some("https://avatars.gh.test/u/42")
    );
    assert_eq!(identity.claims["login"], "octo");
    assert_eq!(identity.claims["emails"].as_array().unwrap().len(), 3);

    // The exchange: PKCE and Basic auth, then both reads with the token.
    let token = env.http.sent_to(&Method::POST, GH_TOKEN);
    assert_eq!(token.len(), 1);
    assert_eq!(
        token[0].form()["code_verifier"],
        s.pkce_verifier.expose_secret()
    );
    assert_eq!(
        token[0].header("authorization"),
        Some(basic("gh-client", CLIENT_SECRET).as_str())
    );
    for url in [GH_USER, GH_EMAILS] {
        let sent = env.http.sent_to(&Method::GET, url);
        assert_eq!(sent.len(), 1, "{url}");
        assert_eq!(sent[0].header("authorization"), Some("Bearer gho-code-1"));
    }
    // No discovery, no ID token.
    assert_eq!(env.http.all().len(), 3);
}

#[tokio::test]
async fn github_without_a_primary_verified_address_takes_a_verified_one() {
    let env = env().await;
    let provider = github(&env).await;
    github_token(&env, "code-1");
    env.http.json(
        Method::GET,
        GH_USER,
        200,
        json!({"id": 42, "login": "octo", "name": "The Octocat", "avatar_url": "https://a"}),
    );
    env.http.json(
        Method::GET,
        GH_EMAILS,
        200,
        json!([
            {"email": "unverified-primary@example.com", "primary": true, "verified": false},
            {"email": "verified-secondary@example.com", "primary": false, "verified": true},
        ]),
    );
    let identity = env
        .identity(&provider, "code-1", &secrets("state-1"))
        .await
        .unwrap();
    assert_eq!(
        identity.email.as_deref(),
        Some("verified-secondary@example.com")
    );
    assert!(identity.email_verified);
    assert_eq!(identity.name.as_deref(), Some("The Octocat"));
}

#[tokio::test]
async fn github_without_a_verified_address_keeps_the_profile_address_unverified() {
    let env = env().await;
    let provider = github(&env).await;
    github_token(&env, "code-1");
    env.http.json(
        Method::GET,
        GH_USER,
        200,
        json!({"id": 42, "login": "octo", "name": null, "email": "public@example.com"}),
    );
    env.http.json(
        Method::GET,
        GH_EMAILS,
        200,
        json!([{"email": "public@example.com", "primary": true, "verified": false}]),
    );
    let identity = env
        .identity(&provider, "code-1", &secrets("state-1"))
        .await
        .unwrap();
    assert_eq!(identity.subject, "42");
    assert_eq!(identity.email.as_deref(), Some("public@example.com"));
    assert!(!identity.email_verified);

    // No address anywhere.
    github_token(&env, "code-2");
    env.http.json(
        Method::GET,
        GH_USER,
        200,
        json!({"id": 42, "login": "octo", "name": null, "email": null}),
    );
    env.http.json(Method::GET, GH_EMAILS, 200, json!([]));
    let identity = env
        .identity(&provider, "code-2", &secrets("state-1"))
        .await
        .unwrap();
    assert_eq!(identity.email, None);
    assert!(!identity.email_verified);
    assert_eq!(identity.name.as_deref(), Some("octo"));
}

#[tokio::test]
async fn github_profile_failures_are_bad_responses() {
    let env = env().await;
    let provider = github(&env).await;
    github_token(&env, "code-1");
    env.http.json(
        Method::GET,
        GH_USER,
        401,
        json!({"message": "Bad credentials"}),
    );
    bad_response(env.identity(&provider, "code-1", &secrets("state-1")).await);
    env.http
        .json(Method::GET, GH_USER, 200, json!(["not", "an", "object"]));
    bad_response(env.identity(&provider, "code-1", &secrets("state-1")).await);
    env.http.json(
        Method::GET,
        GH_USER,
        200,
        json!({"id": 42, "login": "octo"}),
    );
    env.http.fail(Method::GET, GH_EMAILS, HttpFailure::Timeout);
    bad_response(env.identity(&provider, "code-1", &secrets("state-1")).await);
    // GitHub's refusal of a code comes as a 200 with an error.
    env.http.json(
        Method::POST,
        GH_TOKEN,
        200,
        json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}),
    );
    bad_response(env.identity(&provider, "code-1", &secrets("state-1")).await);
}

// ---------------------------------------------------------------------------
// 16. A plain OAuth 2.0 server with a field map.

#[tokio::test]
async fn oauth2_reads_the_profile_through_its_field_map() {
    let env = env().await;
    env.token_endpoint("https://oauth.test/token");
    let provider = env
        .provider(
            ProviderKind::Oauth2,
            ProviderConfig {
                client_id: "o-client".to_owned(),
                authorization_endpoint: Some("https://oauth.test/authorize".to_owned()),
                token_endpoint: Some("https://oauth.test/token".to_owned()),
                userinfo_endpoint: Some("https://oauth.test/me".to_owned()),
                field_map: FieldMap {
                    subject: Some("/data/id".to_owned()),
                    email: Some("/data/email".to_owned()),
                    email_verified: Some("data.email_verified".to_owned()),
                    name: Some("data.profile.display_name".to_owned()),
                    picture: Some("picture.data.url".to_owned()),
                    attributes: Default::default(),
                },
                ..ProviderConfig::default()
            },
            Some(CLIENT_SECRET),
        )
        .await;
    env.on_code(
        "code-1",
        json!({"access_token": "oat", "token_type": "Bearer"}),
    );
    let profile = json!({
        "data": {
            "id": 1234567,
            "email": "ada@example.com",
            "email_verified": "true",
            "profile": {"display_name": "Ada"},
        },
        "picture": {"data": {"url": "https://cdn.oauth.test/ada.png"}},
    });
    env.http
        .json(Method::GET, "https://oauth.test/me", 200, profile.clone());
    let identity = env
        .identity(&provider, "code-1", &secrets("state-1"))
        .await
        .unwrap();
    assert_eq!(
        identity,
        UpstreamIdentity {
            subject: "1234567".to_owned(),
            email: Some("ada@example.com".to_owned()),
            email_verified: true,
            name: Some("Ada".to_owned()),
            picture: Some("https://cdn.oauth.test/ada.png".to_owned()),
            claims: profile,
            amr: Vec::new(),
        }
    );
    let me = env.http.sent_to(&Method::GET, "https://oauth.test/me");
    assert_eq!(me[0].header("authorization"), Some("Bearer oat"));

    // "false", or anything but true / "true", is not verified.
    for verified in [json!("false"), json!("TRUE"), json!(1), json!(null)] {
        env.http.json(
            Method::GET,
            "https://oauth.test/me",
            200,
            json!({"data": {"id": "u", "email": "ada@example.com", "email_verified": verified.clone()}}),
        );
        let identity = env
            .identity(&provider, "code-1", &secrets("state-1"))
            .await
            .unwrap();
        assert!(!identity.email_verified, "{verified}");
        assert_eq!(identity.subject, "u");
        assert_eq!(identity.picture, None);
    }
}

// ---------------------------------------------------------------------------
// 17. Microsoft's multi-tenant issuer.

const MS: &str = "https://login.ms.test";

#[tokio::test]
async fn microsoft_common_checks_the_issuer_against_the_token_tenant() {
    let env = env().await;
    let op = key(SigningAlgorithm::RS256);
    let base = format!("{MS}/common/v2.0");
    env.http.json(
        Method::GET,
        &format!("{base}/.well-known/openid-configuration"),
        200,
        discovery_doc(&format!("{MS}/{{tenantid}}/v2.0"), &base),
    );
    env.set_jwks(&format!("{base}/jwks"), &[&op]);
    env.token_endpoint(&format!("{base}/token"));
    let provider = env
        .provider(
            ProviderKind::Microsoft,
            ProviderConfig {
                issuer: Some(MS.to_owned()),
                tenant: Some("common".to_owned()),
                client_id: CLIENT_ID.to_owned(),
                ..ProviderConfig::default()
            },
            Some(CLIENT_SECRET),
        )
        .await;
    let s = secrets("state-1");
    let tenant = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let mut claims = env.claims(&s);
    claims["tid"] = json!(tenant);
    claims["iss"] = json!(format!("{MS}/{tenant}/v2.0"));
    env.id_token_for("code-1", &op.sign(&claims, "JWT").unwrap());
    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(identity.subject, "user-1");
    assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
    // Microsoft's `email` is not a verified address, whatever it says.
    assert!(!identity.email_verified);

    // The issuer of another tenant than the token's.
    claims["iss"] = json!(format!("{MS}/00000000-0000-0000-0000-000000000001/v2.0"));
    env.id_token_for("code-2", &op.sign(&claims, "JWT").unwrap());
    let reason = invalid_token(env.identity(&provider, "code-2", &s).await);
    assert!(reason.contains("tenant"), "{reason}");
    // No tenant at all.
    claims["iss"] = json!(format!("{MS}/{tenant}/v2.0"));
    claims.as_object_mut().unwrap().remove("tid");
    env.id_token_for("code-3", &op.sign(&claims, "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-3", &s).await);
    // Another authority's issuer with a matching tid.
    claims["tid"] = json!(tenant);
    claims["iss"] = json!(format!("https://evil.test/{tenant}/v2.0"));
    env.id_token_for("code-4", &op.sign(&claims, "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-4", &s).await);
    // The template itself is no issuer.
    claims["iss"] = json!(format!("{MS}/{{tenantid}}/v2.0"));
    env.id_token_for("code-5", &op.sign(&claims, "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-5", &s).await);
}

#[tokio::test]
async fn microsoft_common_refuses_a_discovery_document_of_one_tenant() {
    let env = env().await;
    let base = format!("{MS}/common/v2.0");
    env.http.json(
        Method::GET,
        &format!("{base}/.well-known/openid-configuration"),
        200,
        discovery_doc(&format!("{MS}/some-tenant/v2.0"), &base),
    );
    let provider = env
        .provider(
            ProviderKind::Microsoft,
            ProviderConfig {
                issuer: Some(MS.to_owned()),
                tenant: Some("common".to_owned()),
                client_id: CLIENT_ID.to_owned(),
                ..ProviderConfig::default()
            },
            Some(CLIENT_SECRET),
        )
        .await;
    let s = secrets("state-1");
    assert!(matches!(
        env.authorization_url(&provider, "state-1", &s).await,
        Err(UpstreamError::BadResponse(_))
    ));
}

// ---------------------------------------------------------------------------
// 18. Apple: the signed client secret and form_post.

const APPLE: &str = "https://apple.test";
const TEAM: &str = "TEAM123456";
const KEY_ID: &str = "KEY9876543";

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

#[tokio::test]
async fn apple_signs_its_client_secret_and_asks_for_form_post() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.http.json(
        Method::GET,
        &format!("{APPLE}/.well-known/openid-configuration"),
        200,
        discovery_doc(APPLE, APPLE),
    );
    env.set_jwks(&format!("{APPLE}/jwks"), &[&op]);
    env.token_endpoint(&format!("{APPLE}/token"));
    let uploaded = portcullis_crypto::generate_signing_key(SigningAlgorithm::ES256).unwrap();
    let client_id = "com.example.web";
    let provider = env
        .provider(
            ProviderKind::Apple,
            ProviderConfig {
                issuer: Some(APPLE.to_owned()),
                client_id: client_id.to_owned(),
                client_auth: UpstreamAuth::SignedSecret,
                team_id: Some(TEAM.to_owned()),
                key_id: Some(KEY_ID.to_owned()),
                ..ProviderConfig::default()
            },
            Some(&pem(&uploaded.private_pkcs8_der)),
        )
        .await;
    let s = secrets("state-1");

    let url = env
        .authorization_url(&provider, "state-1", &s)
        .await
        .unwrap();
    let q = query(&url);
    assert_eq!(q["response_mode"], "form_post");
    assert_eq!(q["scope"], "openid email name");
    assert_eq!(q["nonce"], s.nonce);
    assert_eq!(q["client_id"], client_id);

    // Apple writes its booleans as strings.
    let now = env.clock.now().unix_timestamp();
    let claims = json!({
        "iss": APPLE, "sub": "000123.abc", "aud": client_id, "exp": now + 600, "iat": now,
        "nonce": s.nonce, "email": "x@privaterelay.appleid.com", "email_verified": "true",
        "is_private_email": "true",
    });
    env.id_token_for("code-1", &op.sign(&claims, "JWT").unwrap());
    let identity = env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(identity.subject, "000123.abc");
    assert_eq!(
        identity.email.as_deref(),
        Some("x@privaterelay.appleid.com")
    );
    assert!(identity.email_verified);

    let sent = env.http.sent_to(&Method::POST, &format!("{APPLE}/token"));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), None);
    let form = sent[0].form();
    assert_eq!(form["client_id"], client_id);
    assert_eq!(form["code_verifier"], s.pkce_verifier.expose_secret());
    let secret = &form["client_secret"];
    let (header, payload) = parts(secret);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], KEY_ID);
    assert_eq!(payload["iss"], TEAM);
    assert_eq!(payload["sub"], client_id);
    assert_eq!(payload["aud"], APPLE);
    assert_eq!(payload["iat"], now);
    assert!(payload["exp"].as_i64().unwrap() > now);
    // Signed by the uploaded key.
    let verifying = portcullis_crypto::VerifyingKey::from_jwk(&uploaded.public_jwk).unwrap();
    let verified: Value = portcullis_crypto::verify(secret, &verifying).unwrap();
    assert_eq!(verified, payload);
    let other = key(SigningAlgorithm::ES256).verifying_key();
    assert!(portcullis_crypto::verify::<Value>(secret, &other).is_err());
}

// ---------------------------------------------------------------------------
// 19. private_key_jwt with the realm's key.

#[tokio::test]
async fn private_key_jwt_sends_an_assertion_signed_by_the_realm() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::PrivateKeyJwt).await;
    assert_eq!(provider.secret, None);
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    env.identity(&provider, "code-1", &s).await.unwrap();

    let sent = env.http.sent_to(&Method::POST, TOKEN);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].header("authorization"), None);
    let form = sent[0].form();
    assert!(!form.contains_key("client_secret"), "{form:?}");
    assert_eq!(form["code_verifier"], s.pkce_verifier.expose_secret());
    assert_eq!(
        form["client_assertion_type"],
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    );
    let assertion = &form["client_assertion"];
    let (header, payload) = parts(assertion);
    assert_eq!(header["alg"], "RS256");
    // Verified against the realm's published keys, through the domain.
    let jwks = env.core.realms().jwks(&env.realm).await.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the assertion's key is in the realm's JWKS");
    let verifying = portcullis_crypto::VerifyingKey::from_jwk(jwk).unwrap();
    let claims: Value = portcullis_crypto::verify(assertion, &verifying).unwrap();
    assert_eq!(claims, payload);
    let now = env.clock.now().unix_timestamp();
    assert_eq!(claims["aud"], TOKEN);
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["iat"], now);
    assert!(claims["exp"].as_i64().unwrap() > now);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
}

// ---------------------------------------------------------------------------
// 20. The authorization URL.

#[tokio::test]
async fn the_authorization_url_carries_state_nonce_pkce_and_prompt() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env
        .provider(
            ProviderKind::Oidc,
            ProviderConfig {
                prompt: Some("login".to_owned()),
                ..oidc_config(UpstreamAuth::ClientSecretBasic)
            },
            Some(CLIENT_SECRET),
        )
        .await;
    let s = secrets("state-1");
    let url = env
        .authorization_url(&provider, "state-1", &s)
        .await
        .unwrap();
    assert_eq!(
        format!("{}{}", url.origin().ascii_serialization(), url.path()),
        AUTHORIZE
    );
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "openid email profile");
    assert_eq!(q["state"], "state-1");
    assert_eq!(q["nonce"], s.nonce);
    assert_eq!(q["code_challenge"], s256(s.pkce_verifier.expose_secret()));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["prompt"], "login");
    assert!(!q.contains_key("response_mode"));
    assert_eq!(q.len(), 9, "{q:?}");
    // The verifier itself never leaves.
    assert!(!url.as_str().contains(s.pkce_verifier.expose_secret()));

    // Without a prompt, none is sent.
    let plain = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let url = env.authorization_url(&plain, "state-1", &s).await.unwrap();
    assert!(!query(&url).contains_key("prompt"));
}

#[tokio::test]
async fn the_github_authorization_url_has_pkce_but_no_nonce() {
    let env = env().await;
    let provider = github(&env).await;
    let s = secrets("state-1");
    let url = env
        .authorization_url(&provider, "state-1", &s)
        .await
        .unwrap();
    assert_eq!(
        format!("{}{}", url.origin().ascii_serialization(), url.path()),
        GH_AUTHORIZE
    );
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "gh-client");
    assert_eq!(q["redirect_uri"], REDIRECT);
    assert_eq!(q["scope"], "read:user user:email");
    assert_eq!(q["state"], "state-1");
    assert_eq!(q["code_challenge"], s256(s.pkce_verifier.expose_secret()));
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q.contains_key("nonce"), "{q:?}");
    assert!(!q.contains_key("response_mode"), "{q:?}");
    // Nothing was fetched to build it.
    assert!(env.http.all().is_empty());
}

// ---------------------------------------------------------------------------
// More of the same ground.

#[tokio::test]
async fn an_eddsa_id_token_is_accepted() {
    // EdDSA is in the default allow-list: an Ed25519 JWKS must parse.
    let env = env().await;
    let op = key(SigningAlgorithm::EdDSA);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    assert_eq!(
        env.identity(&provider, "code-1", &s).await.unwrap().subject,
        "user-1"
    );
}

#[tokio::test]
async fn an_algorithm_outside_the_providers_allow_list_is_refused() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env
        .provider(
            ProviderKind::Oidc,
            ProviderConfig {
                allowed_algs: vec!["RS256".to_owned()],
                ..oidc_config(UpstreamAuth::ClientSecretBasic)
            },
            Some(CLIENT_SECRET),
        )
        .await;
    let s = secrets("state-1");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-1", &s).await);
}

#[tokio::test]
async fn an_openid_provider_with_explicit_endpoints_needs_no_discovery() {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    env.set_jwks(JWKS, &[&op]);
    env.token_endpoint(TOKEN);
    let provider = env
        .provider(
            ProviderKind::Oidc,
            ProviderConfig {
                authorization_endpoint: Some(AUTHORIZE.to_owned()),
                token_endpoint: Some(TOKEN.to_owned()),
                jwks_uri: Some(JWKS.to_owned()),
                ..oidc_config(UpstreamAuth::ClientSecretBasic)
            },
            Some(CLIENT_SECRET),
        )
        .await;
    let s = secrets("state-1");
    let url = env
        .authorization_url(&provider, "state-1", &s)
        .await
        .unwrap();
    assert!(url.as_str().starts_with(AUTHORIZE), "{url}");
    env.id_token_for("code-1", &op.sign(&env.claims(&s), "JWT").unwrap());
    env.identity(&provider, "code-1", &s).await.unwrap();
    assert_eq!(env.http.count(&Method::GET, DISCOVERY), 0);
    // The issuer is still checked.
    let mut claims = env.claims(&s);
    claims["iss"] = json!("https://evil.test");
    env.id_token_for("code-2", &op.sign(&claims, "JWT").unwrap());
    invalid_token(env.identity(&provider, "code-2", &s).await);
}

/// Microsoft's tenant of personal accounts.
const MS_CONSUMERS: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// A Microsoft provider for `tenant` whose discovery document (at
/// `{MS}/{tenant}/v2.0`) names `doc_issuer`, and an ID token of `tid`.
async fn microsoft(
    tenant: &str,
    doc_issuer: &str,
    tid: &str,
) -> Result<UpstreamIdentity, UpstreamError> {
    let env = env().await;
    let op = key(SigningAlgorithm::ES256);
    let base = format!("{MS}/{tenant}/v2.0");
    env.http.json(
        Method::GET,
        &format!("{base}/.well-known/openid-configuration"),
        200,
        discovery_doc(doc_issuer, &base),
    );
    env.set_jwks(&format!("{base}/jwks"), &[&op]);
    env.token_endpoint(&format!("{base}/token"));
    let provider = env
        .provider(
            ProviderKind::Microsoft,
            ProviderConfig {
                issuer: Some(MS.to_owned()),
                tenant: Some(tenant.to_owned()),
                client_id: CLIENT_ID.to_owned(),
                ..ProviderConfig::default()
            },
            Some(CLIENT_SECRET),
        )
        .await;
    let s = secrets("state-1");
    let mut claims = env.claims(&s);
    claims["tid"] = json!(tid);
    claims["iss"] = json!(format!("{MS}/{tid}/v2.0"));
    env.id_token_for("code-1", &op.sign(&claims, "JWT").unwrap());
    env.identity(&provider, "code-1", &s).await
}

#[tokio::test]
async fn microsoft_with_a_tenant_id_checks_the_exact_issuer() {
    let tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let issuer = format!("{MS}/{tenant}/v2.0");
    assert!(microsoft(tenant, &issuer, tenant).await.is_ok());
    invalid_token(microsoft(tenant, &issuer, MS_CONSUMERS).await);
}

#[tokio::test]
async fn microsoft_consumers_accepts_the_discovery_document_of_the_consumer_tenant() {
    // https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration
    // names "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    // (openiddict/openiddict-core#1764).
    let issuer = format!("{MS}/{MS_CONSUMERS}/v2.0");
    let identity = microsoft("consumers", &issuer, MS_CONSUMERS).await.unwrap();
    assert_eq!(identity.subject, "user-1");
}

#[tokio::test]
async fn microsoft_with_a_tenant_domain_accepts_the_tenants_issuer() {
    let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let issuer = format!("{MS}/{guid}/v2.0");
    let identity = microsoft("contoso.onmicrosoft.com", &issuer, guid)
        .await
        .unwrap();
    assert_eq!(identity.subject, "user-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ins_on_a_cold_cache_fetch_discovery_once() {
    let env = Arc::new(env().await);
    let op = key(SigningAlgorithm::ES256);
    env.publish(&[&op]);
    let provider = env.oidc(UpstreamAuth::ClientSecretBasic).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16 {
        let env = env.clone();
        let provider = provider.clone();
        tasks.spawn(async move {
            let state = format!("state-{i}");
            env.authorization_url(&provider, &state, &secrets(&state))
                .await
        });
    }
    for url in tasks.join_all().await {
        url.unwrap();
    }
    assert_eq!(env.http.count(&Method::GET, DISCOVERY), 1);
    assert_eq!(env.http.count(&Method::GET, JWKS), 1);
}

#[tokio::test]
async fn microsoft_organizations_refuses_personal_accounts() {
    let template = format!("{MS}/{{tenantid}}/v2.0");
    let work = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    assert!(microsoft("organizations", &template, work).await.is_ok());
    invalid_token(microsoft("organizations", &template, MS_CONSUMERS).await);
    // `common` takes both.
    assert!(microsoft("common", &template, MS_CONSUMERS).await.is_ok());
}
