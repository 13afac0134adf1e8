//! Verification: a phone number proved by an SMS code (apart from SMS as
//! a second factor), identity documents submitted by users and decided by
//! administrators or an external verifier's signed webhook, their images
//! deleted after the retention period; and the hostile cases around them.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine as _;
use portcullis_core::service_keys::signature::{SCHEME, hex, sign};
use portcullis_server::config::SmsConfig;
use portcullis_server::sms::WebhookSmsSender;
use portcullis_testkit::sms::SmsGateway;
use portcullis_testkit::{AppOptions, Backend, Reply, spawn_app_opts};
use secrecy::SecretString;

use super::*;

const SECRET: &str = "a webhook secret of at least thirty-two characters";
const PHONE: &str = "+4915112345678";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR a tiny picture";
const WEBHOOK: &str = "/api/v1/identity/verification/webhook";

async fn spawn(backend: Backend, with_sms: bool) -> Option<(TestApp, SmsGateway)> {
    let gateway = SmsGateway::start(SECRET).await;
    let sms: Option<Arc<dyn portcullis_core::ports::SmsSender>> = with_sms.then(|| {
        let config = SmsConfig {
            url: gateway.url().parse().unwrap(),
            secret: SecretString::from(SECRET),
        };
        Arc::new(
            WebhookSmsSender::new(&config, Arc::new(portcullis_core::SystemClock))
                .unwrap()
                .with_retry_pause(StdDuration::from_millis(50)),
        ) as Arc<dyn portcullis_core::ports::SmsSender>
    });
    let app = spawn_app_opts(
        backend,
        |_| {},
        AppOptions {
            sms,
            ..AppOptions::default()
        },
    )
    .await?;
    Some((app, gateway))
}

macro_rules! verification_tests {
    ($name:ident, $sms:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, gw) = spawn(Backend::Sqlite, $sms).await.expect("app");
                ($body)(app, gw).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, gw)) = spawn(Backend::Postgres, $sms).await else {
                    return;
                };
                ($body)(app, gw).await;
            }
        }
    };
}

fn fields(r: &Reply) -> Vec<String> {
    r.json["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn start(app: &TestApp, token: &str, phone: &str) -> Reply {
    app.post(
        "/api/v1/auth/me/phone",
        Some(token),
        json!({ "phone_number": phone }),
    )
    .await
}

async fn verify(app: &TestApp, token: &str, code: &str) -> Reply {
    app.post(
        "/api/v1/auth/me/phone/verify",
        Some(token),
        json!({ "code": code }),
    )
    .await
}

async fn sms_code(gw: &SmsGateway, n: usize) -> String {
    let sms = gw.wait_for(PHONE, n).await;
    assert!(
        sms.message.contains("phone verification code"),
        "{}",
        sms.message
    );
    crate::otp::code_in(&sms.message)
}

fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

verification_tests!(
    a_phone_is_verified_by_sms_and_released_as_verified,
    true,
    |app: TestApp, gw: SmsGateway| async move {
        use crate::oidc::{Browser, tokens_for, web_client};
        let token = app.user("ada@example.com").await.access_token;
        // A number that is not E.164 is named.
        let r = start(&app, &token, "0151 1234 5678").await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["phone_number"]);
        // Nothing to verify yet.
        assert_eq!(verify(&app, &token, "123456").await.status, 409);

        let r = start(&app, &token, "+49 151 1234-5678").await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(r.json["phone_number"], "+49*********78");
        assert_eq!(r.json["phone_number_verified"], false);
        let code = sms_code(&gw, 1).await;

        // A wrong code is refused, naming the field.
        let r = verify(&app, &token, &other_than(&code)).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["code"]);
        let r = verify(&app, &token, &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["phone_number_verified"], true);
        // The code works once.
        assert_eq!(verify(&app, &token, &code).await.status, 409);
        // Asking again for the verified number is a conflict.
        assert_eq!(start(&app, &token, PHONE).await.status, 409);

        // The profile holds the number, verified.
        let r = app.get("/api/v1/auth/me/profile", Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["profile"]["phone_number"], PHONE);
        assert_eq!(r.json["verification"]["phone_number_verified"], true);
        assert_eq!(r.json["verification"]["identity_verification"], "none");
        // It is no second factor.
        let r = app.get("/api/v1/mfa/status", Some(&token)).await;
        if r.status == 200 {
            assert!(!r.text.contains("\"sms\""), "{}", r.text);
        }

        // Tokens say so.
        let admin = app.admin_token().await;
        let scopes = json!({"scopes": ["openid", "phone"]});
        let secret = web_client(&app, &admin, "web", scopes).await;
        let mut b = Browser::default();
        let t = tokens_for(
            &app,
            &mut b,
            "web",
            &secret,
            "ada@example.com",
            &[("scope", "openid phone")],
        )
        .await;
        let idt = claims(t["id_token"].as_str().unwrap());
        assert_eq!(idt["phone_number"], PHONE);
        assert_eq!(idt["phone_number_verified"], true);

        // Changing the number in the profile ends the verification.
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/auth/me/profile",
                Some(&token),
                Some(json!({"phone_number": "+14155552671"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["verification"]["phone_number_verified"], false);
        let r = app.get("/api/v1/auth/me/phone", Some(&token)).await;
        assert_eq!(r.json["phone_number_verified"], false, "{}", r.text);
        app.core.flush_audit().await;
    }
);

verification_tests!(
    phone_codes_are_throttled_and_attempts_limited,
    true,
    |app: TestApp, gw: SmsGateway| async move {
        let token = app.user("bob@example.com").await.access_token;
        assert_eq!(start(&app, &token, PHONE).await.status, 202);
        let first = sms_code(&gw, 1).await;
        // A resend too soon is refused with Retry-After.
        let r = start(&app, &token, PHONE).await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(r.header("retry-after").is_some());
        app.clock.advance(Duration::seconds(31));
        assert_eq!(start(&app, &token, PHONE).await.status, 202);
        let second = sms_code(&gw, 2).await;
        // The code a resend replaced no longer works.
        if first != second {
            let r = verify(&app, &token, &first).await;
            assert_eq!(r.status, 422, "{}", r.text);
        }
        // Five wrong codes end the verification: the right one is then
        // refused too.
        for _ in 0..5 {
            let r = verify(&app, &token, &other_than(&second)).await;
            assert!(r.status == 422 || r.status == 409, "{}", r.text);
        }
        let r = verify(&app, &token, &second).await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
);

verification_tests!(
    without_a_gateway_phone_verification_is_a_conflict,
    false,
    |app: TestApp, _gw: SmsGateway| async move {
        let token = app.user("cy@example.com").await.access_token;
        let r = start(&app, &token, PHONE).await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert!(r.text.contains("SMS gateway"), "{}", r.text);
    }
);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn submit(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/api/v1/auth/me/documents", Some(token), body)
        .await
}

fn passport() -> Value {
    json!({"type": "passport", "country": "de", "number": "C01X-00T47", "images": [b64(PNG)]})
}

verification_tests!(
    documents_are_submitted_and_decided_by_admins,
    false,
    |app: TestApp, _gw: SmsGateway| async move {
        let admin = app.admin_token().await;
        let user = app.register("dee@example.com", PW).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let token = app.login("dee@example.com", PW).await.access_token;
        let mallory = app.user("mallory@example.com").await.access_token;

        // Every wrong field is named.
        let r = submit(
            &app,
            &token,
            json!({"type": "library_card", "country": "XX", "number": "a/b",
                   "images": [b64(b"%PDF-1.7 not an image"), "%%%"]}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(
            fields(&r),
            ["type", "country", "number", "images[0]", "images[1]"]
        );
        // An image over 4 MiB is refused by name; a body over the limit is
        // a 413.
        let mut big = PNG.to_vec();
        big.resize(4 * 1024 * 1024 + 1, 0);
        let r = submit(
            &app,
            &token,
            json!({"type": "passport", "country": "DE", "number": "1", "images": [b64(&big)]}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["images[0]"]);
        big.resize(9 * 1024 * 1024, 0);
        let sent = app
            .http
            .post(app.url("/api/v1/auth/me/documents"))
            .bearer_auth(&token)
            .json(
                &json!({"type": "passport", "country": "DE", "number": "1", "images": [b64(&big)]}),
            )
            .send()
            .await;
        match sent {
            Ok(r) => assert_eq!(r.status(), 413),
            // The server answers 413 from the length alone and may close the
            // connection before the client has written the whole body.
            Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
        }

        let r = submit(&app, &token, passport()).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["status"], "pending");
        assert_eq!(r.json["country"], "DE");
        assert_eq!(r.json["number"], "*****0T47");
        let doc = r.json["id"].as_str().unwrap().to_owned();
        // One pending at a time.
        assert_eq!(submit(&app, &token, passport()).await.status, 409);
        let r = app.get("/api/v1/auth/me/documents", Some(&token)).await;
        assert_eq!(r.json["identity_verification"], "pending", "{}", r.text);
        assert_eq!(r.json["documents"][0]["image_count"], 1);
        assert!(!r.text.contains("images\""), "{}", r.text);

        // Another user reads nothing of it, and decides nothing.
        let docs = format!("/api/v1/identity/users/{id}/documents");
        let image = format!("{docs}/{doc}/images/1");
        let decision = format!("{docs}/{doc}/decision");
        assert_eq!(app.get(&docs, Some(&mallory)).await.status, 403);
        assert_eq!(app.get(&image, Some(&mallory)).await.status, 403);
        let r = app
            .post(&decision, Some(&mallory), json!({"status": "verified"}))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app.get("/api/v1/auth/me/documents", Some(&mallory)).await;
        assert_eq!(r.json["documents"], json!([]), "{}", r.text);

        // The administrator reads the number and the image.
        let r = app.get(&docs, Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["documents"][0]["number"], "C01X00T47");
        let r = app
            .http
            .get(app.url(&image))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "image/png");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
        assert_eq!(
            app.get(&format!("{docs}/{doc}/images/2"), Some(&admin))
                .await
                .status,
            404
        );

        // A rejection needs a reason; a status must be a decision.
        let r = app
            .post(&decision, Some(&admin), json!({"status": "rejected"}))
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["reason"]);
        let r = app
            .post(&decision, Some(&admin), json!({"status": "maybe"}))
            .await;
        assert_eq!(fields(&r), ["status"]);
        let r = app
            .post(
                &decision,
                Some(&admin),
                json!({"status": "verified", "reason": "matches"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "verified");
        let r = app
            .post(
                &decision,
                Some(&admin),
                json!({"status": "rejected", "reason": "late"}),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);

        // The state is a read-only part of the profile ...
        let r = app.get("/api/v1/auth/me/profile", Some(&token)).await;
        assert_eq!(r.json["verification"]["identity_verification"], "verified");
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/auth/me/profile",
                Some(&token),
                Some(json!({"identity_verification": "verified"})),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        // ... and a subject attribute policies test.
        let r = app
            .post(
                "/api/v1/rbac/policies",
                Some(&admin),
                json!({"name": "verified-only", "effect": "ALLOW",
                    "resources": ["vault"], "actions": ["read"],
                    "condition": {"==": [{"var": "subject.attributes.identity_verification"}, "verified"]}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let ask = json!({"action": "read", "resource": {"type": "vault"}});
        let r = app
            .post("/api/v1/authz/check", Some(&token), ask.clone())
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["allowed"], true, "{}", r.text);
        let r = app.post("/api/v1/authz/check", Some(&mallory), ask).await;
        assert_eq!(r.json["allowed"], false, "{}", r.text);

        // After the retention period the images go, audited.
        app.clock.advance(Duration::days(31));
        app.core.housekeeping().await.unwrap();
        let admin = app.admin_token().await;
        assert_eq!(app.get(&image, Some(&admin)).await.status, 404);
        let r = app.get(&docs, Some(&admin)).await;
        assert!(
            r.json["documents"][0]["images_deleted_at"].is_string(),
            "{}",
            r.text
        );
        assert_eq!(r.json["documents"][0]["status"], "verified");
        app.core.flush_audit().await;
        let r = app
            .get(
                &format!("/api/v1/identity/users/{id}/activity"),
                Some(&admin),
            )
            .await;
        if r.status == 200 {
            assert!(
                r.text.contains("verification.document.images_deleted"),
                "{}",
                r.text
            );
        }
    }
);

/// A webhook request signed with `secret` at `ts` with `nonce`.
async fn webhook(app: &TestApp, secret: &str, ts: i64, nonce: &str, body: &Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap();
    let digest = hex(&portcullis_crypto::sha256(&bytes));
    let ts = ts.to_string();
    let canonical = [
        SCHEME,
        "verification-webhook",
        &ts,
        nonce,
        "POST",
        WEBHOOK,
        "",
        &digest,
    ]
    .join("\n");
    let signature = sign(secret, &canonical);
    let r = app
        .http
        .post(app.url(WEBHOOK))
        .header("content-type", "application/json")
        .header("x-verification-timestamp", ts)
        .header("x-verification-nonce", nonce)
        .header("x-verification-signature", signature)
        .body(bytes)
        .send()
        .await
        .unwrap();
    Reply::read(r).await
}

verification_tests!(
    the_external_verifier_decides_through_a_signed_webhook,
    false,
    |app: TestApp, _gw: SmsGateway| async move {
        let admin = app.admin_token().await;
        let token = app.user("eve@example.com").await.access_token;
        let r = submit(&app, &token, passport()).await;
        let doc = r.json["id"].as_str().unwrap().to_owned();
        let body = json!({"document_id": doc, "status": "rejected", "reason": "expired"});
        let now = app.core.clock().now().unix_timestamp();

        // No secret set: nothing is accepted.
        let r = webhook(&app, "anything", now, "nonce-0000000000000", &body).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // Only administrators set one.
        let r = app
            .post(
                "/api/v1/identity/verification/webhook-secret",
                Some(&token),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .post(
                "/api/v1/identity/verification/webhook-secret",
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let secret = r.json["secret"].as_str().unwrap().to_owned();

        // Unsigned, wrongly signed, stale: refused.
        let r = app.post(WEBHOOK, None, body.clone()).await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = webhook(&app, "not the secret", now, "nonce-1111111111111", &body).await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = webhook(&app, &secret, now - 301, "nonce-2222222222222", &body).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // A body changed after signing is refused.
        let bytes = serde_json::to_vec(&body).unwrap();
        let digest = hex(&portcullis_crypto::sha256(&bytes));
        let ts = now.to_string();
        let canonical = [
            SCHEME,
            "verification-webhook",
            &ts,
            "nonce-3333333333333",
            "POST",
            WEBHOOK,
            "",
            &digest,
        ]
        .join("\n");
        let r = app
            .http
            .post(app.url(WEBHOOK))
            .header("content-type", "application/json")
            .header("x-verification-timestamp", &ts)
            .header("x-verification-nonce", "nonce-3333333333333")
            .header("x-verification-signature", sign(&secret, &canonical))
            .body(serde_json::to_vec(&json!({"document_id": doc, "status": "verified"})).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);

        // Signed: decided.
        let r = webhook(&app, &secret, now, "nonce-4444444444444", &body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["status"], "rejected");
        assert_eq!(r.json["decided_by"], "verification-webhook");
        // Replayed: refused.
        let r = webhook(&app, &secret, now, "nonce-4444444444444", &body).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(r.text.contains("Nonce"), "{}", r.text);
        // Signed but wrong: every field named, never a 500.
        let r = webhook(
            &app,
            &secret,
            now,
            "nonce-5555555555555",
            &json!({"document_id": doc, "status": "fine"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["status"]);
        let r = webhook(
            &app,
            &secret,
            now,
            "nonce-6666666666666",
            &json!({"status": "verified"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["document_id"]);
        let r = app.get("/api/v1/auth/me/documents", Some(&token)).await;
        assert_eq!(r.json["identity_verification"], "rejected");
        assert_eq!(r.json["documents"][0]["reason"], "expired");
    }
);

backend_tests!(
    realm_local_admins_do_not_read_other_realms_documents,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "acme", "admin": {"email": "boss@acme.example", "password": PW}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let boss = app
            .post(
                "/api/v1/realms/acme/auth/login",
                None,
                json!({"email": "boss@acme.example", "password": PW}),
            )
            .await;
        let boss = boss.json["access_token"].as_str().unwrap().to_owned();
        let user = app.register("fay@example.com", PW).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let token = app.login("fay@example.com", PW).await.access_token;
        let doc = submit(&app, &token, passport()).await;
        let doc = doc.json["id"].as_str().unwrap().to_owned();
        for path in [
            format!("/api/v1/identity/users/{id}/documents"),
            format!("/api/v1/realms/main/identity/users/{id}/documents"),
            format!("/api/v1/identity/users/{id}/documents/{doc}/images/1"),
        ] {
            let r = app.get(&path, Some(&boss)).await;
            assert_eq!(r.status, 401, "{path}: {}", r.text);
        }
        // In its own realm the user does not exist.
        let r = app
            .get(
                &format!("/api/v1/realms/acme/identity/users/{id}/documents"),
                Some(&boss),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
);
