//! One-time codes by e-mail and SMS as second factors, and MFA required by
//! role: enrolment, login, wrong codes, expiry, resends, races, and logins
//! that stop half-way. Mail goes through the testkit's SMTP sink, SMS
//! through a webhook to a gateway on loopback that checks the signature.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use portcullis_server::config::SmsConfig;
use portcullis_server::sms::WebhookSmsSender;
use portcullis_testkit::sms::SmsGateway;
use portcullis_testkit::smtp::SmtpSink;
use portcullis_testkit::{AppOptions, Backend, Reply, spawn_app_opts};
use secrecy::SecretString;

use super::*;

/// The webhook secret of the tests' gateway.
const SECRET: &str = "a webhook secret of at least thirty-two characters";
const PHONE: &str = "+4915112345678";

/// An app with an SMTP sink and an SMS gateway (`None`: PostgreSQL is not
/// configured). `max_failures` raises the account lockout.
async fn spawn(
    backend: Backend,
    max_failures: Option<u32>,
    with_sms: bool,
) -> Option<(TestApp, SmtpSink, SmsGateway)> {
    let sink = SmtpSink::start().await;
    let gateway = SmsGateway::start(SECRET).await;
    let sms: Option<Arc<dyn portcullis_core::ports::SmsSender>> = with_sms.then(|| {
        let config = SmsConfig {
            url: gateway.url().parse().unwrap(),
            secret: SecretString::from(SECRET),
        };
        Arc::new(
            // The gateway checks the stamp against its wall clock.
            WebhookSmsSender::new(&config, Arc::new(portcullis_core::SystemClock))
                .unwrap()
                .with_retry_pause(StdDuration::from_millis(50)),
        ) as Arc<dyn portcullis_core::ports::SmsSender>
    });
    let app = spawn_app_opts(
        backend,
        |s| {
            if let Some(max) = max_failures {
                s.login.max_failures_per_account = max;
            }
        },
        AppOptions {
            smtp_url: Some(sink.url()),
            sms,
            ..AppOptions::default()
        },
    )
    .await?;
    Some((app, sink, gateway))
}

/// One test per backend from a body taking the app, its SMTP sink and its
/// SMS gateway; `$max` raises the account lockout, `$sms` wires the gateway.
macro_rules! otp_tests {
    ($name:ident, $max:expr, $sms:expr, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, sink, gw) = spawn(Backend::Sqlite, $max, $sms).await.expect("app");
                ($body)(app, sink, gw).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, sink, gw)) = spawn(Backend::Postgres, $max, $sms).await else {
                    return;
                };
                ($body)(app, sink, gw).await;
            }
        }
    };
}

/// The first run of six digits in a text.
pub(crate) fn code_in(text: &str) -> String {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5))
        .find(|&i| {
            b[i..i + 6].iter().all(u8::is_ascii_digit)
                && (i == 0 || !b[i - 1].is_ascii_digit())
                && b.get(i + 6).is_none_or(|c| !c.is_ascii_digit())
        })
        .map(|i| text[i..i + 6].to_owned())
        .unwrap_or_else(|| panic!("no code in {text:?}"))
}

/// The code of the `n`-th mail to `to` (1-based).
async fn mailed_code(sink: &SmtpSink, to: &str, n: usize) -> String {
    let mail = sink.wait_for(to, n).await;
    assert_eq!(mail.subject, "Your Main sign-in code", "{}", mail.text);
    code_in(&mail.text)
}

async fn first_step(app: &TestApp, email: &str) -> Reply {
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PW }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
    assert!(r.json.get("access_token").is_none(), "{}", r.text);
    r
}

async fn send(app: &TestApp, mfa_token: &str, method: &str) -> Reply {
    app.post(
        "/api/v1/mfa/challenge",
        None,
        json!({ "mfa_token": mfa_token, "method": method }),
    )
    .await
}

async fn verify(app: &TestApp, mfa_token: &str, method: &str, code: &str) -> Reply {
    app.post(
        "/api/v1/mfa/verify",
        None,
        json!({ "mfa_token": mfa_token, "method": method, "code": code }),
    )
    .await
}

async fn patch_realm(app: &TestApp, admin: &str, body: Value) -> Reply {
    app.call(
        reqwest::Method::PATCH,
        "/api/v1/realms/main",
        Some(admin),
        Some(body),
    )
    .await
}

/// A code that is not `code`.
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Registers `email` (its verification mail is the first one) and enrols
/// its address for e-mail codes; returns the access token. The enrolment
/// code is the second mail.
pub(crate) async fn email_enrolled(app: &TestApp, sink: &SmtpSink, email: &str) -> String {
    let token = app.user(email).await.access_token;
    sink.wait_for(email, 1).await;
    let r = app
        .post(
            "/api/v1/mfa/setup",
            Some(&token),
            json!({ "method": "email" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let code = mailed_code(sink, email, 2).await;
    let r = app
        .post(
            "/api/v1/mfa/email/verify",
            Some(&token),
            json!({ "code": code }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    token
}

otp_tests!(
    email_code_enrolment_and_login,
    None,
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let email = "ada@example.com";
        let token = app.user(email).await.access_token;
        sink.wait_for(email, 1).await;
        // Nothing pending yet.
        let r = app
            .post(
                "/api/v1/mfa/email/verify",
                Some(&token),
                json!({ "code": "123456" }),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = app
            .post(
                "/api/v1/mfa/setup",
                Some(&token),
                json!({ "method": "email" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["method"], "email");
        assert_eq!(r.json["sent_to"], "a***@example.com");
        assert_eq!(r.json["expires_in"], 600);
        let code = mailed_code(&sink, email, 2).await;
        assert_eq!(code.len(), 6);
        // Pending: a login is still one step.
        app.login(email, PW).await;
        let r = app
            .post(
                "/api/v1/mfa/email/verify",
                Some(&token),
                json!({ "code": other_than(&code) }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        // Malformed codes count as wrong ones (four so far; a fifth would
        // end the enrolment).
        for bad in ["", "abcdef", &"9".repeat(5000)] {
            let r = app
                .post(
                    "/api/v1/mfa/email/verify",
                    Some(&token),
                    json!({ "code": bad }),
                )
                .await;
            assert_eq!(r.status, 422, "{bad:?}: {}", r.text);
        }
        let r = app
            .post(
                "/api/v1/mfa/email/verify",
                Some(&token),
                json!({ "code": code }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["backup_codes"].as_array().unwrap().len(), 10);
        // The code proved control of the address.
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(me.json["email_verified"], true);
        let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
        assert_eq!(r.json["mfa_enabled"], true, "{}", r.text);
        assert_eq!(r.json["mfa_required"], false);
        assert_eq!(r.json["methods"][0]["method"], "email");
        assert_eq!(r.json["methods"][0]["target"], "a***@example.com");
        // A second enrolment is refused.
        let r = app
            .post(
                "/api/v1/mfa/setup",
                Some(&token),
                json!({ "method": "email" }),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);

        let r = first_step(&app, email).await;
        let mfa_token = r.json["mfa_token"].as_str().unwrap().to_owned();
        assert_eq!(r.json["methods"], json!(["email", "backup_code"]));
        let r = send(&app, &mfa_token, "email").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["sent_to"], "a***@example.com");
        assert_eq!(r.json["expires_in"], 600);
        let code = mailed_code(&sink, email, 3).await;
        // A code is for its method only.
        let r = verify(&app, &mfa_token, "totp", &code).await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = verify(&app, &mfa_token, "email", &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd", "otp", "mfa"]));
        let access = r.json["access_token"].as_str().unwrap();
        assert_eq!(claims(access)["sub"], me.json["id"]);
        // Single use.
        let r = verify(&app, &mfa_token, "email", &code).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // The session records both steps.
        let sessions = app.get("/api/v1/auth/sessions", Some(access)).await;
        let current = sessions
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap()
            .clone();
        assert_eq!(current["amr"], json!(["pwd", "otp", "mfa"]));
        // Audited, and the code never appears in the audit log.
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let audit = app.core.store().list_audit(realm.id, 100).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        for a in ["mfa.email.enabled", "mfa.code.sent", "mfa.verify.succeeded"] {
            assert!(actions.contains(&a), "{actions:?}");
        }
        let dump = format!("{audit:?}");
        assert!(!dump.contains(&code));
    }
);

otp_tests!(
    sms_code_enrolment_and_login,
    None,
    true,
    |app: TestApp, _sink: SmtpSink, gw: SmsGateway| async move {
        let token = app.user("sam@example.com").await.access_token;
        for bad in [
            json!({ "method": "sms" }),
            json!({ "method": "sms", "phone": "015112345678" }),
            json!({ "method": "sms", "phone": "+49 abc" }),
        ] {
            let r = app.post("/api/v1/mfa/setup", Some(&token), bad).await;
            assert_eq!(r.status, 422, "{}", r.text);
            assert_eq!(r.json["errors"][0]["field"], "phone", "{}", r.text);
        }
        let r = app
            .post(
                "/api/v1/mfa/setup",
                Some(&token),
                json!({ "method": "sms", "phone": "+49 151 1234 5678" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["method"], "sms");
        assert_eq!(r.json["sent_to"], "+49*********78");
        let sms = gw.wait_for(PHONE, 1).await;
        assert!(sms.message.contains("Main sign-in code"), "{}", sms.message);
        let code = sms.code().unwrap();
        let r = app
            .post(
                "/api/v1/mfa/sms/verify",
                Some(&token),
                json!({ "code": code }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
        assert_eq!(r.json["methods"][0]["method"], "sms", "{}", r.text);
        assert_eq!(r.json["methods"][0]["target"], "+49*********78");

        let r = first_step(&app, "sam@example.com").await;
        let mfa_token = r.json["mfa_token"].as_str().unwrap().to_owned();
        assert_eq!(r.json["methods"], json!(["sms", "backup_code"]));
        // An SMS code is not sent by e-mail.
        let r = send(&app, &mfa_token, "email").await;
        assert_eq!(r.status, 422, "{}", r.text);
        // A gateway that fails twice gets the message on the third attempt.
        gw.fail_next(2);
        let r = send(&app, &mfa_token, "sms").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["sent_to"], "+49*********78");
        let code = gw.wait_for(PHONE, 2).await.code().unwrap();
        let r = verify(&app, &mfa_token, "sms", &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd", "sms", "mfa"]));
        assert_eq!(gw.rejected(), 0, "every call was signed");
        assert_eq!(gw.calls(), 4);
    }
);

otp_tests!(
    sms_is_not_offered_without_a_gateway,
    None,
    false,
    |app: TestApp, _sink: SmtpSink, gw: SmsGateway| async move {
        let token = app.user("nosms@example.com").await.access_token;
        let r = app
            .post(
                "/api/v1/mfa/setup",
                Some(&token),
                json!({ "method": "sms", "phone": PHONE }),
            )
            .await;
        assert_eq!(r.status, 400, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert!(r.text.contains("SMS is not available"), "{}", r.text);
        let r = app
            .post(
                "/api/v1/mfa/setup",
                Some(&token),
                json!({ "method": "carrier-pigeon" }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(gw.calls(), 0);
    }
);

otp_tests!(
    five_wrong_codes_end_the_challenge,
    Some(50),
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let email = "five@example.com";
        email_enrolled(&app, &sink, email).await;
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let code = mailed_code(&sink, email, 3).await;
        for _ in 0..5 {
            let r = verify(&app, &mfa_token, "email", &other_than(&code)).await;
            assert_eq!(r.status, 401, "{}", r.text);
            assert!(r.text.contains("invalid code"), "{}", r.text);
        }
        let r = verify(&app, &mfa_token, "email", &code).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(r.text.contains("mfa_token"), "{}", r.text);
        // No new code for an ended challenge either.
        app.clock.advance(Duration::seconds(31));
        assert_eq!(send(&app, &mfa_token, "email").await.status, 401);
    }
);

otp_tests!(
    codes_expire_after_ten_minutes,
    None,
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let email = "late@example.com";
        email_enrolled(&app, &sink, email).await;
        // Just in time: the code outlives the challenge's first five minutes.
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let code = mailed_code(&sink, email, 3).await;
        app.clock
            .advance(Duration::minutes(10) - Duration::seconds(1));
        let r = verify(&app, &mfa_token, "email", &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        // Too late.
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let code = mailed_code(&sink, email, 4).await;
        app.clock.advance(Duration::minutes(10));
        let r = verify(&app, &mfa_token, "email", &code).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
);

otp_tests!(
    a_resend_replaces_the_code,
    Some(50),
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let email = "again@example.com";
        email_enrolled(&app, &sink, email).await;
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let first = mailed_code(&sink, email, 3).await;
        // Too soon for another.
        let r = send(&app, &mfa_token, "email").await;
        assert_eq!(r.status, 429, "{}", r.text);
        let wait: i64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=30).contains(&wait), "{wait}");
        app.clock.advance(Duration::seconds(30));
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let second = mailed_code(&sink, email, 4).await;
        if first != second {
            let r = verify(&app, &mfa_token, "email", &first).await;
            assert_eq!(r.status, 401, "the first code was replaced: {}", r.text);
        }
        let r = verify(&app, &mfa_token, "email", &second).await;
        assert_eq!(r.status, 200, "{}", r.text);

        // Five codes per login at most.
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        for n in 0..5 {
            let r = send(&app, &mfa_token, "email").await;
            assert_eq!(r.status, 200, "send {n}: {}", r.text);
            app.clock.advance(Duration::seconds(31));
        }
        let r = send(&app, &mfa_token, "email").await;
        assert_eq!(r.status, 409, "{}", r.text);
        let last = mailed_code(&sink, email, 9).await;
        let r = verify(&app, &mfa_token, "email", &last).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

otp_tests!(
    parallel_uses_of_one_code_one_wins,
    None,
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let email = "race@example.com";
        email_enrolled(&app, &sink, email).await;
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let code = mailed_code(&sink, email, 3).await;
        let app = Arc::new(app);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (app, t, c) = (app.clone(), mfa_token.clone(), code.clone());
            tasks.spawn(async move { verify(&app, &t, "email", &c).await });
        }
        let replies = tasks.join_all().await;
        let wins: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(
            wins.len(),
            1,
            "{:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert!(wins[0].json["access_token"].is_string());
        assert!(replies.iter().all(|r| r.status == 200 || r.status == 401));
    }
);

otp_tests!(
    mfa_required_by_role_offers_an_email_code,
    None,
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let admin = app.admin_token().await;
        let email = "op@example.com";
        let user = app.user(email).await;
        let user_id = claims(&user.access_token)["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post("/api/v1/rbac/roles", Some(&admin), json!({ "name": "ops" }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        // Only roles of the realm.
        let r = patch_realm(
            &app,
            &admin,
            json!({ "mfa_required_roles": ["ops", "no-such-role"] }),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "mfa_required_roles");
        let r = patch_realm(
            &app,
            &admin,
            json!({ "mfa_required_roles": ["ops", "ops"] }),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["mfa_required_roles"], json!(["ops"]));
        // Not a holder yet: one step.
        let t = app.login(email, PW).await;
        let r = app.get("/api/v1/mfa/methods", Some(&t.access_token)).await;
        assert_eq!(r.json["mfa_required"], false, "{}", r.text);

        let r = app
            .post(
                &format!("/api/v1/rbac/users/{user_id}/roles"),
                Some(&admin),
                json!({ "role": "ops" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app.get("/api/v1/mfa/methods", Some(&t.access_token)).await;
        assert_eq!(r.json["mfa_required"], true, "{}", r.text);
        assert_eq!(r.json["mfa_enabled"], false);

        // Nothing enrolled: the account's address gets a code.
        let r = first_step(&app, email).await;
        assert_eq!(r.json["methods"], json!(["email"]));
        let mfa_token = r.json["mfa_token"].as_str().unwrap().to_owned();
        // The first mail was the verification link.
        let r = send(&app, &mfa_token, "email").await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["sent_to"], "o***@example.com");
        let code = mailed_code(&sink, email, 2).await;
        let r = verify(&app, &mfa_token, "email", &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd", "otp", "mfa"]));

        // Clearing the list ends the requirement.
        let r = patch_realm(&app, &admin, json!({ "mfa_required_roles": [] })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.login(email, PW).await;
    }
);

otp_tests!(
    half_finished_logins_get_no_tokens,
    Some(50),
    false,
    |app: TestApp, sink: SmtpSink, _gw: SmsGateway| async move {
        let email = "half@example.com";
        email_enrolled(&app, &sink, email).await;
        let mfa_token = first_step(&app, email).await.json["mfa_token"]
            .as_str()
            .unwrap()
            .to_owned();
        // The code is sent but not given.
        assert_eq!(send(&app, &mfa_token, "email").await.status, 200);
        let attempts = [
            app.post(
                "/api/v1/auth/refresh",
                None,
                json!({ "refresh_token": mfa_token }),
            )
            .await,
            app.get("/api/v1/auth/me", Some(&mfa_token)).await,
            app.get("/api/v1/mfa/methods", Some(&mfa_token)).await,
            app.post(
                "/api/v1/mfa/totp/validate",
                None,
                json!({ "mfa_token": mfa_token, "code": "000000" }),
            )
            .await,
            verify(&app, &mfa_token, "email", "").await,
            verify(&app, &mfa_token, "backup_code", "0000-0000-0000-0000").await,
            verify(&app, &mfa_token, "webauthn", "{}").await,
            app.post(
                "/api/v1/auth/magic-link/verify",
                None,
                json!({ "token": mfa_token, "attempt": mfa_token }),
            )
            .await,
            app.post(
                "/api/v1/auth/passkey/finish",
                None,
                json!({ "ceremony_id": "00000000-0000-0000-0000-000000000000", "credential": {} }),
            )
            .await,
            app.post_raw(
                "/realms/main/oauth2/token",
                Some("application/x-www-form-urlencoded"),
                format!("grant_type=refresh_token&refresh_token={mfa_token}").into_bytes(),
            )
            .await,
            app.post_raw(
                "/realms/main/oauth2/token",
                Some("application/x-www-form-urlencoded"),
                format!("grant_type=password&username={email}&password=x").into_bytes(),
            )
            .await,
        ];
        for r in &attempts {
            assert!(r.status >= 400 && r.status < 500, "{} {}", r.status, r.text);
            assert!(r.json.get("access_token").is_none(), "{}", r.text);
            assert!(!r.text.contains("refresh_token\":\""), "{}", r.text);
        }
        // The first step again is again only a first step.
        let r = first_step(&app, email).await;
        assert!(r.json.get("refresh_token").is_none());
    }
);
