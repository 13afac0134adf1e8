//! WebAuthn: registration, second factor and passwordless login, driven by
//! a small software authenticator written here from the WebAuthn Level 3
//! data formats (P-256 ECDSA, "none" attestation, CBOR by hand), so the
//! server's checks (challenge, origin, RP id, signature, counter) meet real
//! signed data. The browser flows are tested with Chromium's virtual
//! authenticator in the end-to-end suite.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest as _, Sha256};

use super::*;
use portcullis_testkit::{Backend, Reply};

/// A minimal CBOR value.
enum Cbor<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Text(&'a str),
    Map(Vec<(Cbor<'a>, Cbor<'a>)>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor(v: &Cbor<'_>, out: &mut Vec<u8>) {
    match v {
        Cbor::Int(i) if *i >= 0 => head(out, 0, *i as u64),
        Cbor::Int(i) => head(out, 1, (-1 - *i) as u64),
        Cbor::Bytes(b) => {
            head(out, 2, b.len() as u64);
            out.extend(*b);
        }
        Cbor::Text(t) => {
            head(out, 3, t.len() as u64);
            out.extend(t.as_bytes());
        }
        Cbor::Map(entries) => {
            head(out, 5, entries.len() as u64);
            for (k, v) in entries {
                cbor(k, out);
                cbor(v, out);
            }
        }
    }
}

/// One credential of a software authenticator.
struct SoftKey {
    key: EcdsaKeyPair,
    id: Vec<u8>,
    user_handle: Option<Vec<u8>>,
    counter: u32,
    origin: String,
    rp_id: String,
}

fn sha(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
    let challenge = options["publicKey"]["challenge"].as_str().unwrap();
    json!({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false})
        .to_string()
        .into_bytes()
}

impl SoftKey {
    /// Creates a credential for `options` (from register/start); its
    /// registration answer.
    fn create(options: &Value, origin: &str) -> (SoftKey, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let rp_id = options["publicKey"]["rp"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let user_handle = B64
            .decode(options["publicKey"]["user"]["id"].as_str().unwrap())
            .unwrap();
        let id: Vec<u8> = (0..32).map(|_| rand_byte()).collect();
        let public = key.public_key().as_ref().to_vec(); // 0x04 || x || y
        let cose = {
            let mut out = Vec::new();
            cbor(
                &Cbor::Map(vec![
                    (Cbor::Int(1), Cbor::Int(2)),
                    (Cbor::Int(3), Cbor::Int(-7)),
                    (Cbor::Int(-1), Cbor::Int(1)),
                    (Cbor::Int(-2), Cbor::Bytes(&public[1..33])),
                    (Cbor::Int(-3), Cbor::Bytes(&public[33..65])),
                ]),
                &mut out,
            );
            out
        };
        let mut auth_data = sha(rp_id.as_bytes());
        auth_data.push(0x45); // user present, user verified, attested data
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(&cose);
        let mut attestation = Vec::new();
        cbor(
            &Cbor::Map(vec![
                (Cbor::Text("fmt"), Cbor::Text("none")),
                (Cbor::Text("attStmt"), Cbor::Map(vec![])),
                (Cbor::Text("authData"), Cbor::Bytes(&auth_data)),
            ]),
            &mut attestation,
        );
        let cdj = client_data("webauthn.create", options, origin);
        let answer = json!({
            "id": B64.encode(&id),
            "rawId": B64.encode(&id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(&attestation),
                "clientDataJSON": B64.encode(&cdj),
            },
            "extensions": {},
        });
        let soft = SoftKey {
            key,
            id,
            user_handle: Some(user_handle),
            counter: 0,
            origin: origin.to_owned(),
            rp_id,
        };
        (soft, answer)
    }

    /// Signs an assertion for `options` (from a login challenge or
    /// passkey/start).
    fn assert(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let mut auth_data = sha(self.rp_id.as_bytes());
        auth_data.push(0x05); // user present, user verified
        auth_data.extend(self.counter.to_be_bytes());
        let cdj = client_data("webauthn.get", options, &self.origin);
        let mut signed = auth_data.clone();
        signed.extend(sha(&cdj));
        let sig = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .unwrap()
            .as_ref()
            .to_vec();
        json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(&auth_data),
                "clientDataJSON": B64.encode(&cdj),
                "signature": B64.encode(&sig),
                "userHandle": self.user_handle.as_ref().map(|h| B64.encode(h)),
            },
            "extensions": {},
        })
    }
}

fn rand_byte() -> u8 {
    let mut b = [0u8; 1];
    aws_lc_rs::rand::SecureRandom::fill(&SystemRandom::new(), &mut b).unwrap();
    b[0]
}

/// An app whose public URL names `localhost` (WebAuthn refuses IP
/// addresses as relying parties).
async fn localhost_app(backend: Backend) -> Option<TestApp> {
    portcullis_testkit::spawn_app_with(backend, |s| {
        s.public_url = s.public_url.replace("127.0.0.1", "localhost");
    })
    .await
}

fn origin(app: &TestApp) -> String {
    format!("http://localhost:{}", app.addr.port())
}

/// Registers a credential for the user of `token`; (key, reply).
async fn register(app: &TestApp, token: &str, name: &str) -> (SoftKey, Reply) {
    let r = app
        .post(
            "/api/v1/mfa/webauthn/register/start",
            Some(token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (key, answer) = SoftKey::create(&r.json["options"], &origin(app));
    let reply = app
        .post(
            "/api/v1/mfa/webauthn/register/finish",
            Some(token),
            json!({"ceremony_id": r.json["ceremony_id"], "name": name, "credential": answer}),
        )
        .await;
    (key, reply)
}

async fn mfa_token(app: &TestApp, email: &str) -> String {
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PW}),
        )
        .await;
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
    r.json["mfa_token"].as_str().unwrap().to_owned()
}

async fn webauthn_options(app: &TestApp, mfa: &str) -> Value {
    let r = app
        .post(
            "/api/v1/mfa/challenge",
            None,
            json!({"mfa_token": mfa, "method": "webauthn"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["options"].clone()
}

async fn verify(app: &TestApp, mfa: &str, credential: &Value) -> Reply {
    app.post(
        "/api/v1/mfa/verify",
        None,
        json!({"mfa_token": mfa, "method": "webauthn", "credential": credential}),
    )
    .await
}

async fn webauthn_flows(app: TestApp) {
    let token = app.user("wa@example.com").await.access_token;
    let (mut key, r) = register(&app, &token, "YubiKey 5").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["method"]["method"], "webauthn");
    assert_eq!(r.json["method"]["name"], "YubiKey 5");
    assert_eq!(r.json["backup_codes"].as_array().unwrap().len(), 10);

    // Login: password, then the credential.
    let mfa = mfa_token(&app, "wa@example.com").await;
    let options = webauthn_options(&app, &mfa).await;
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    assert_eq!(options["publicKey"]["userVerification"], "required");
    let assertion = key.assert(&options);
    let r = verify(&app, &mfa, &assertion).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["amr"], json!(["pwd", "hwk", "mfa"]));

    // The same assertion again, on a new login: its challenge is not this one's.
    let mfa = mfa_token(&app, "wa@example.com").await;
    let _ = webauthn_options(&app, &mfa).await;
    assert_eq!(verify(&app, &mfa, &assertion).await.status, 401);
    // A signature of another origin is refused.
    let options = webauthn_options(&app, &mfa).await;
    let real_origin = std::mem::replace(&mut key.origin, "http://evil.example.com".to_owned());
    assert_eq!(verify(&app, &mfa, &key.assert(&options)).await.status, 401);
    key.origin = real_origin;
    // An answer without a ceremony (none asked for since the last try).
    assert_eq!(verify(&app, &mfa, &key.assert(&options)).await.status, 401);
    // Garbage answers: 401, never a 500.
    let options = webauthn_options(&app, &mfa).await;
    for garbage in [json!("x"), json!({"id": 1})] {
        let r = verify(&app, &mfa, &garbage).await;
        assert_eq!(r.status, 401, "{garbage}: {}", r.text);
    }
    let _ = options;
    // Those were five failed logins: the account is locked for a while.
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "wa@example.com", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    app.clock.advance(Duration::minutes(16));

    // A cloned authenticator (its counter behind the stored one) is refused.
    let mfa = mfa_token(&app, "wa@example.com").await;
    let options = webauthn_options(&app, &mfa).await;
    key.counter = 0;
    assert_eq!(verify(&app, &mfa, &key.assert(&options)).await.status, 401);
    key.counter = 100;

    // Passwordless: a discoverable credential names its user.
    let r = app
        .post("/api/v1/auth/passkey/start", None, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json["options"].get("mediation").is_none());
    let ceremony = r.json["ceremony_id"].clone();
    let answer = key.assert(&r.json["options"]);
    let r = app
        .post(
            "/api/v1/auth/passkey/finish",
            None,
            json!({"ceremony_id": ceremony, "credential": answer}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["amr"], json!(["hwk", "mfa"]));
    assert_eq!(r.json["user"]["email"], "wa@example.com");
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    // The ceremony is spent.
    let r = app
        .post(
            "/api/v1/auth/passkey/finish",
            None,
            json!({"ceremony_id": ceremony, "credential": answer}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    // Bad input.
    for body in [
        json!({}),
        json!({"ceremony_id": "nope", "credential": {}}),
        json!({"ceremony_id": uuid::Uuid::now_v7(), "credential": {}}),
    ] {
        let r = app
            .post("/api/v1/auth/passkey/finish", None, body.clone())
            .await;
        assert!(r.status == 400 || r.status == 422, "{body}: {}", r.text);
    }
    // A credential of an unknown user.
    let r = app
        .post("/api/v1/auth/passkey/start", None, json!({}))
        .await;
    let mut stranger = SoftKey::create(
        &json!({"publicKey": {"rp": {"id": "localhost"}, "user": {"id": B64.encode(uuid::Uuid::now_v7().as_bytes())}, "challenge": "AAAA"}}),
        &origin(&app),
    )
    .0;
    let answer = stranger.assert(&r.json["options"]);
    let r = app
        .post(
            "/api/v1/auth/passkey/finish",
            None,
            json!({"ceremony_id": r.json["ceremony_id"], "credential": answer}),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Registering the same credential twice: a conflict. A second one: fine.
    let (_, r) = register(&app, &token, "Laptop").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json.get("backup_codes").is_none(), "codes exist already");
    let methods = app.get("/api/v1/mfa/methods", Some(&token)).await;
    assert_eq!(methods.json["methods"].as_array().unwrap().len(), 2);
    // Finishing someone else's ceremony, or with a bad name: refused.
    let other = app.user("wb@example.com").await.access_token;
    let r = app
        .post(
            "/api/v1/mfa/webauthn/register/start",
            Some(&token),
            json!({}),
        )
        .await;
    let (_, answer) = SoftKey::create(&r.json["options"], &origin(&app));
    let stolen = app
        .post(
            "/api/v1/mfa/webauthn/register/finish",
            Some(&other),
            json!({"ceremony_id": r.json["ceremony_id"], "credential": answer}),
        )
        .await;
    assert_eq!(stolen.status, 422, "{}", stolen.text);
    let r = app
        .post(
            "/api/v1/mfa/webauthn/register/start",
            Some(&token),
            json!({}),
        )
        .await;
    let (_, answer) = SoftKey::create(&r.json["options"], &origin(&app));
    let bad = app
        .post(
            "/api/v1/mfa/webauthn/register/finish",
            Some(&token),
            json!({"ceremony_id": r.json["ceremony_id"], "name": "x".repeat(65), "credential": answer}),
        )
        .await;
    assert_eq!(bad.status, 422, "{}", bad.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webauthn_flows_sqlite() {
    webauthn_flows(localhost_app(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webauthn_flows_postgres() {
    if let Some(app) = localhost_app(Backend::Postgres).await {
        webauthn_flows(app).await;
    }
}

backend_tests!(webauthn_needs_a_host_name, |app: TestApp| async move {
    // The test app's public URL is an IP address.
    let token = app.user("ip@example.com").await.access_token;
    let r = app
        .post(
            "/api/v1/mfa/webauthn/register/start",
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.json["detail"]
            .as_str()
            .unwrap()
            .contains("not an IP address")
    );
    let r = app
        .post("/api/v1/auth/passkey/start", None, json!({}))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
});

async fn login_pages(app: TestApp) {
    use super::oidc::{Browser, authorize_query, location_params, redeem_body, token, web_client};
    let admin = app.admin_token().await;
    let secret = web_client(&app, &admin, "pk-app", json!({})).await;
    let user = app.user("page-wa@example.com").await.access_token;
    let (mut key, r) = register(&app, &user, "Phone").await;
    assert_eq!(r.status, 201, "{}", r.text);

    // The login page offers a passkey to browsers that can use one.
    let mut b = Browser {
        origin: Some(origin(&app)),
        ..Browser::default()
    };
    let page = b.get(&app, &authorize_query("pk-app", &[])).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(page.text.contains("id=\"passkey-button\""));
    assert!(
        page.text
            .contains("data-start=\"/api/v1/realms/main/auth/passkey/start\"")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'nonce-") && csp.contains("connect-src 'self'"),
        "{csp}"
    );

    // Password, then the security key on the second page.
    let step = b
        .submit(
            &app,
            &page,
            &[("email", "page-wa@example.com"), ("password", PW)],
        )
        .await;
    assert_eq!(step.status, 200, "{}", step.text);
    let start =
        step.text.find("id=\"webauthn-options\">").unwrap() + "id=\"webauthn-options\">".len();
    let end = start + step.text[start..].find("</script>").unwrap();
    let options: Value = serde_json::from_str(&step.text[start..end]).unwrap();
    assert_eq!(options["publicKey"]["rpId"], "localhost");
    // Only the backup code takes a typed code; the key has its button.
    assert!(step.text.contains("value=\"backup_code\" checked"));
    assert!(!step.text.contains("value=\"webauthn\""));
    let answer = key.assert(&options).to_string();
    let done = b
        .submit(&app, &step, &[("webauthn", "1"), ("credential", &answer)])
        .await;
    let (base, params) = location_params(&done);
    assert_eq!(base, "https://app.example.com/cb");
    let t = token(&app, "pk-app", &secret, &redeem_body(&params["code"])).await;
    assert_eq!(t.status, 200, "{}", t.text);
    assert_eq!(
        claims(t.json["id_token"].as_str().unwrap())["amr"],
        json!(["pwd", "hwk", "mfa"])
    );

    // Passwordless, from the login page's second form.
    let mut b = Browser {
        origin: Some(origin(&app)),
        ..Browser::default()
    };
    let page = b.get(&app, &authorize_query("pk-app", &[])).await;
    let started = app
        .post("/api/v1/realms/main/auth/passkey/start", None, json!({}))
        .await;
    let answer = key.assert(&started.json["options"]).to_string();
    let ceremony = started.json["ceremony_id"].as_str().unwrap().to_owned();
    let done = b
        .submit_nth(
            &app,
            &page,
            1,
            &[("ceremony_id", &ceremony), ("credential", &answer)],
        )
        .await;
    let (_, params) = location_params(&done);
    assert!(b.cookies.contains_key("portcullis_sso"));
    let t = token(&app, "pk-app", &secret, &redeem_body(&params["code"])).await;
    assert_eq!(
        claims(t.json["id_token"].as_str().unwrap())["amr"],
        json!(["hwk", "mfa"])
    );
    // The same answer again: the ceremony is spent.
    let page = b
        .get(&app, &authorize_query("pk-app", &[("prompt", "login")]))
        .await;
    let again = b
        .submit_nth(
            &app,
            &page,
            1,
            &[("ceremony_id", &ceremony), ("credential", &answer)],
        )
        .await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert!(again.text.contains("already used"), "{}", again.text);
    // Garbage from the form: the login page again, never a 500.
    let bad = b
        .submit_nth(&app, &page, 1, &[("ceremony_id", "x"), ("credential", "{")])
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert!(bad.text.contains("name=\"password\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webauthn_on_the_login_pages_sqlite() {
    login_pages(localhost_app(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webauthn_on_the_login_pages_postgres() {
    if let Some(app) = localhost_app(Backend::Postgres).await {
        login_pages(app).await;
    }
}

/// A passkey of the local account proves a pending link of an upstream
/// identity provider (the link confirmation page's passkey button).
async fn passkey_proves_a_pending_link(app: TestApp) {
    use crate::federation::{federate, path_of, through_upstream, upstream_user};
    use crate::oidc::Browser;
    let fed = federate(&app, json!({})).await;
    let local = app.user("pia@corp.test").await;
    let (mut key, r) = register(&app, &local.access_token, "Passkey").await;
    assert_eq!(r.status, 201, "{}", r.text);
    upstream_user(&app, "pia@corp.test", false).await;
    let mut b = Browser {
        origin: Some(origin(&app)),
        ..Browser::default()
    };
    let cb = through_upstream(&app, &mut b, "pia@corp.test").await;
    let page = b.get(&app, &path_of(&app, &cb)).await;
    assert!(page.text.contains("id=\"passkey-button\""), "{}", page.text);
    let started = app
        .post("/api/v1/realms/main/auth/passkey/start", None, json!({}))
        .await;
    let answer = key.assert(&started.json["options"]).to_string();
    let ceremony = started.json["ceremony_id"].as_str().unwrap().to_owned();
    // Forms: the password, then the passkey.
    let done = b
        .submit_nth(
            &app,
            &page,
            1,
            &[("ceremony_id", &ceremony), ("credential", &answer)],
        )
        .await;
    // Linked; the account's second factor is then asked for as after any
    // sign-in.
    assert_eq!(done.status, 200, "{}", done.text);
    assert!(done.text.contains("mfa_token"), "{}", done.text);
    let user = local.user.as_ref().map(|u| u.id).unwrap();
    let links = app
        .get(
            &format!("/api/v1/identity/users/{user}/social-accounts"),
            Some(&fed.admin),
        )
        .await;
    assert_eq!(links.json["items"][0]["provider"], "corp", "{}", links.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_proves_a_pending_link_sqlite() {
    passkey_proves_a_pending_link(localhost_app(Backend::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_proves_a_pending_link_postgres() {
    if let Some(app) = localhost_app(Backend::Postgres).await {
        passkey_proves_a_pending_link(app).await;
    }
}
