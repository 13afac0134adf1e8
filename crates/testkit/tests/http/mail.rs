//! E-mail: verification, password reset, templates, delivery through a real
//! SMTP server on loopback (the testkit's sink), signup domain checks.

use std::sync::Arc;

use async_trait::async_trait;
use portcullis_core::mail::{MailStatus, MxAnswer};
use portcullis_core::ports::MxResolver;
use portcullis_testkit::smtp::{ReceivedMail, SmtpSink};
use portcullis_testkit::{AppOptions, Backend, Reply, spawn_app_opts, spawn_mail_app};

use super::*;

/// Generates one test per backend from a body taking the app and its SMTP sink.
macro_rules! mail_tests {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, sink) = spawn_mail_app(Backend::Sqlite).await.expect("sqlite app");
                ($body)(app, sink).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, sink)) = spawn_mail_app(Backend::Postgres).await else {
                    return;
                };
                ($body)(app, sink).await;
            }
        }
    };
}

fn assert_problem(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{}",
        r.text
    );
}

/// Registers `email` and returns its verification mail.
async fn register(app: &TestApp, sink: &SmtpSink, email: &str) -> ReceivedMail {
    let before = sink.messages_to(email).len();
    app.register(email, PW).await;
    sink.wait_for(email, before + 1).await
}

async fn forgot(app: &TestApp, email: &str) -> Reply {
    app.post(
        "/api/v1/auth/forgot-password",
        None,
        json!({ "email": email }),
    )
    .await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> Reply {
    app.post(
        "/api/v1/auth/reset-password",
        None,
        json!({ "token": token, "new_password": password }),
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> Reply {
    app.post("/api/v1/auth/verify-email", None, json!({ "token": token }))
        .await
}

async fn set_realm(app: &TestApp, body: Value) {
    let admin = app.admin_token().await;
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/realms/main",
            Some(&admin),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

mail_tests!(
    verification_flow,
    |app: TestApp, sink: SmtpSink| async move {
        let mail = register(&app, &sink, "ada@example.com").await;
        assert_eq!(mail.envelope_to, vec!["ada@example.com".to_owned()]);
        assert_eq!(mail.from, "noreply@portcullis.test");
        assert_eq!(mail.subject, "Confirm your email address for Main");
        let link = mail.link().unwrap();
        let prefix = format!("{}/realms/main/verify-email?token=", app.base);
        assert!(link.starts_with(&prefix), "{link}");
        let token = mail.token().unwrap();
        assert!(token.len() >= 43, "a token of at least 256 bits: {token}");
        // The HTML part has the same link, attribute-escaped.
        assert!(mail.html.contains(&token), "{}", mail.html);
        assert!(mail.html.contains("Confirm my email address"));
        assert!(mail.text.contains("24 hours"), "{}", mail.text);

        let tokens = app.login("ada@example.com", PW).await;
        let me = app.get("/api/v1/auth/me", Some(&tokens.access_token)).await;
        assert_eq!(me.json["email_verified"], false);

        for bad in ["", "nope", &"x".repeat(500)] {
            assert_problem(&verify(&app, bad).await, 422);
        }
        let r = verify(&app, &token).await;
        assert_eq!(r.status, 204, "{}", r.text);
        let me = app.get("/api/v1/auth/me", Some(&tokens.access_token)).await;
        assert_eq!(me.json["email_verified"], true);
        // Single use.
        let again = verify(&app, &token).await;
        assert_problem(&again, 422);
        assert_eq!(again.json["errors"][0]["field"], "token");
        // Nothing more to verify.
        let r = app
            .post(
                "/api/v1/auth/resend-verification",
                Some(&tokens.access_token),
                json!({}),
            )
            .await;
        assert_problem(&r, 409);
        // Administrators see the flag too.
        let admin = app.admin_token().await;
        let users = app
            .get("/api/v1/identity/users?email=ada", Some(&admin))
            .await;
        assert_eq!(
            users.json["items"][0]["email_verified"], true,
            "{}",
            users.text
        );
        // The bootstrap administrator counts as verified.
        let me = app.get("/api/v1/auth/me", Some(&admin)).await;
        assert_eq!(me.json["email_verified"], true);
        // The body is cleared once sent; the message is recorded as sent.
        let realm = app.core.realms().default_realm().await.unwrap();
        let outbox = app.core.mail().outbox(realm.id, 10).await.unwrap();
        let sent = outbox
            .iter()
            .find(|m| m.recipient == "ada@example.com")
            .unwrap();
        assert_eq!(sent.status, MailStatus::Sent);
        assert_eq!(sent.sealed, None);
    }
);

mail_tests!(
    resend_replaces_the_link_and_is_rate_limited,
    |app: TestApp, sink: SmtpSink| async move {
        let first = register(&app, &sink, "bob@example.com").await;
        let tokens = app.login("bob@example.com", PW).await;
        assert_problem(
            &app.post("/api/v1/auth/resend-verification", None, json!({}))
                .await,
            401,
        );
        let mut last = first.clone();
        for n in 0..3 {
            let r = app
                .post(
                    "/api/v1/auth/resend-verification",
                    Some(&tokens.access_token),
                    json!({}),
                )
                .await;
            assert_eq!(r.status, 202, "{}", r.text);
            last = sink.wait_for("bob@example.com", n + 2).await;
        }
        let r = app
            .post(
                "/api/v1/auth/resend-verification",
                Some(&tokens.access_token),
                json!({}),
            )
            .await;
        assert_problem(&r, 429);
        assert!(r.header("retry-after").is_some());
        // Only the newest link works.
        assert_problem(&verify(&app, &first.token().unwrap()).await, 422);
        assert_eq!(verify(&app, &last.token().unwrap()).await.status, 204);
        // The window passes: another request is allowed again (and refused as done).
        app.clock.advance(Duration::minutes(16));
        let tokens = app.login("bob@example.com", PW).await;
        let r = app
            .post(
                "/api/v1/auth/resend-verification",
                Some(&tokens.access_token),
                json!({}),
            )
            .await;
        assert_problem(&r, 409);
    }
);

mail_tests!(
    require_verified_email_blocks_login_until_verified,
    |app: TestApp, sink: SmtpSink| async move {
        set_realm(&app, json!({ "require_verified_email": true })).await;
        let realm = app
            .get("/api/v1/realms/main", Some(&app.admin_token().await))
            .await;
        assert_eq!(realm.json["require_verified_email"], true);
        let mail = register(&app, &sink, "carol@example.com").await;
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "carol@example.com", "password": PW }),
            )
            .await;
        assert_problem(&r, 403);
        assert!(
            r.json["detail"].as_str().unwrap().contains("not verified"),
            "{}",
            r.text
        );
        assert!(r.json.get("access_token").is_none());
        // A wrong password says nothing about verification.
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "carol@example.com", "password": "wrong password here" }),
            )
            .await;
        assert_problem(&r, 401);
        assert_eq!(verify(&app, &mail.token().unwrap()).await.status, 204);
        app.login("carol@example.com", PW).await;
        // Switched off again, unverified accounts log in.
        register(&app, &sink, "dave@example.com").await;
        set_realm(&app, json!({ "require_verified_email": false })).await;
        app.login("dave@example.com", PW).await;
    }
);

mail_tests!(
    forgot_password_answers_the_same_and_resets,
    |app: TestApp, sink: SmtpSink| async move {
        register(&app, &sink, "erin@example.com").await;
        let old = app.login("erin@example.com", PW).await;

        let known = forgot(&app, "Erin@Example.com").await;
        let unknown = forgot(&app, "nobody@example.com").await;
        assert_eq!(known.status, 202, "{}", known.text);
        assert_eq!((known.status, &known.text), (unknown.status, &unknown.text));
        assert_eq!(known.header("content-type"), unknown.header("content-type"));
        assert!(known.header("set-cookie").is_none() && unknown.header("set-cookie").is_none());
        assert_problem(&forgot(&app, "not an address").await, 422);

        let mail = sink.wait_for("erin@example.com", 2).await;
        assert_eq!(mail.subject, "Reset your Main password");
        assert!(mail.text.contains("30 minutes"), "{}", mail.text);
        let link = mail.link().unwrap();
        assert!(
            link.starts_with(&format!("{}/realms/main/reset-password?token=", app.base)),
            "{link}"
        );
        let token = mail.token().unwrap();

        // The policy applies, and a refused password leaves the token usable.
        let r = reset(&app, &token, "short").await;
        assert_problem(&r, 422);
        assert_eq!(r.json["errors"][0]["field"], "new_password");
        assert_problem(&reset(&app, &token, "password123").await, 422);
        assert_problem(&reset(&app, &token, "erin-likes-long-passwords").await, 422);

        let new_pw = "a brand new passphrase";
        let r = reset(&app, &token, new_pw).await;
        assert_eq!(r.status, 204, "{}", r.text);
        // Single use.
        assert_problem(&reset(&app, &token, "yet another passphrase").await, 422);
        // Every session ended: the old access token and refresh token are dead.
        assert_problem(
            &app.get("/api/v1/auth/me", Some(&old.access_token)).await,
            401,
        );
        assert_problem(
            &app.post(
                "/api/v1/auth/refresh",
                None,
                json!({ "refresh_token": old.refresh_token }),
            )
            .await,
            401,
        );
        // Old password out, new one in; the address counts as verified now.
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "erin@example.com", "password": PW }),
            )
            .await;
        assert_problem(&r, 401);
        let fresh = app.login("erin@example.com", new_pw).await;
        let me = app.get("/api/v1/auth/me", Some(&fresh.access_token)).await;
        assert_eq!(me.json["email_verified"], true);
        // No mail went to the unknown address.
        assert!(sink.messages_to("nobody@example.com").is_empty());
        // Audited.
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let actions: Vec<String> = app
            .core
            .store()
            .list_audit(realm.id, 50)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        for action in [
            "user.password.reset.request",
            "user.password.reset",
            "user.email.verification.sent",
        ] {
            assert!(actions.iter().any(|a| a == action), "{action}: {actions:?}");
        }
    }
);

mail_tests!(
    reset_links_expire_and_newer_ones_replace_older,
    |app: TestApp, sink: SmtpSink| async move {
        register(&app, &sink, "fay@example.com").await;
        assert_eq!(forgot(&app, "fay@example.com").await.status, 202);
        let first = sink.wait_for("fay@example.com", 2).await.token().unwrap();
        assert_eq!(forgot(&app, "fay@example.com").await.status, 202);
        let second = sink.wait_for("fay@example.com", 3).await.token().unwrap();
        // Asking again spent the older link.
        assert_problem(&reset(&app, &first, "a brand new passphrase").await, 422);
        // 30 minutes later the newer one has expired.
        app.clock.advance(Duration::minutes(31));
        assert_problem(&reset(&app, &second, "a brand new passphrase").await, 422);
        app.login("fay@example.com", PW).await;
        // Per-address limit: 3 requests in the window, for known and unknown
        // addresses alike.
        app.clock.advance(Duration::minutes(16));
        for email in ["fay@example.com", "ghost@example.com"] {
            for _ in 0..3 {
                assert_eq!(forgot(&app, email).await.status, 202);
            }
            let r = forgot(&app, email).await;
            assert_problem(&r, 429);
            assert!(r.header("retry-after").is_some());
        }
    }
);

mail_tests!(
    parallel_uses_of_one_token_one_wins,
    |app: TestApp, sink: SmtpSink| async move {
        let mail = register(&app, &sink, "gus@example.com").await;
        let token = mail.token().unwrap();
        let (a, b) = tokio::join!(verify(&app, &token), verify(&app, &token));
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [204, 422], "{} / {}", a.text, b.text);

        assert_eq!(forgot(&app, "gus@example.com").await.status, 202);
        let token = sink.wait_for("gus@example.com", 2).await.token().unwrap();
        let (a, b, c) = tokio::join!(
            reset(&app, &token, "first parallel passphrase"),
            reset(&app, &token, "second parallel passphrase"),
            reset(&app, &token, "third parallel passphrase"),
        );
        let replies = [a, b, c];
        let wins: Vec<&Reply> = replies.iter().filter(|r| r.status == 204).collect();
        assert_eq!(
            wins.len(),
            1,
            "{:?}",
            replies.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        assert!(
            replies
                .iter()
                .filter(|r| r.status != 204)
                .all(|r| r.status == 422)
        );
        // Exactly one of the passwords works.
        let mut working = 0;
        for pw in [
            "first parallel passphrase",
            "second parallel passphrase",
            "third parallel passphrase",
        ] {
            let r = app
                .post(
                    "/api/v1/auth/login",
                    None,
                    json!({ "email": "gus@example.com", "password": pw }),
                )
                .await;
            if r.status == 200 {
                working += 1;
            }
        }
        assert_eq!(working, 1);
    }
);

mail_tests!(
    links_use_the_public_url_whatever_the_host_header,
    |app: TestApp, sink: SmtpSink| async move {
        register(&app, &sink, "hal@example.com").await;
        let r = Reply::read(
            app.http
                .post(app.url("/api/v1/auth/forgot-password"))
                .header("host", "evil.example")
                .header("x-forwarded-host", "evil.example")
                .header("x-forwarded-proto", "https")
                .header("forwarded", "host=evil.example;proto=https")
                .json(&json!({ "email": "hal@example.com" }))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let mail = sink.wait_for("hal@example.com", 2).await;
        let link = mail.link().unwrap();
        assert!(
            link.starts_with(&format!("{}/realms/main/reset-password?token=", app.base)),
            "{link}"
        );
        assert!(!mail.text.contains("evil") && !mail.html.contains("evil"));
    }
);

mail_tests!(
    disposable_domains_are_refused,
    |app: TestApp, sink: SmtpSink| async move {
        for email in ["someone@mailinator.com", "x@Inbox.Guerrillamail.com"] {
            let r = app
                .post(
                    "/api/v1/auth/register",
                    None,
                    json!({ "email": email, "password": PW }),
                )
                .await;
            assert_problem(&r, 422);
            assert_eq!(r.json["errors"][0]["field"], "email", "{}", r.text);
            assert!(r.text.contains("disposable"), "{}", r.text);
        }
        register(&app, &sink, "ivy@example.com").await;
        assert_eq!(sink.messages().len(), 1);
    }
);

mail_tests!(
    templates_are_overridden_per_realm,
    |app: TestApp, sink: SmtpSink| async move {
        let admin = app.admin_token().await;
        let path = "/api/v1/mail-templates/password_reset";
        let r = app.get(path, Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["custom"], false);
        assert_eq!(r.json["kind"], "password_reset");
        assert!(r.json["subject"].as_str().unwrap().contains("{{ realm }}"));
        assert_problem(
            &app.get("/api/v1/mail-templates/nope", Some(&admin)).await,
            404,
        );
        assert_problem(&app.get(path, None).await, 401);
        let user = app.user("jo@example.com").await;
        assert_problem(&app.get(path, Some(&user.access_token)).await, 403);

        let put = |body: Value| {
            let app = &app;
            let admin = admin.clone();
            async move {
                app.call(reqwest::Method::PUT, path, Some(&admin), Some(body))
                    .await
            }
        };
        // Invalid templates: 422 naming the part.
        for (field, body) in [
            (
                "subject",
                json!({ "subject": "{{ realm", "text": "t {{ link }}", "html": "h" }),
            ),
            (
                "text",
                json!({ "subject": "s", "text": "{{ no_such_value }}", "html": "h" }),
            ),
            (
                "html",
                json!({ "subject": "s", "text": "t", "html": "{% if %}" }),
            ),
            (
                "subject",
                json!({ "subject": "two\nlines", "text": "t", "html": "h" }),
            ),
        ] {
            let r = put(body).await;
            assert_problem(&r, 422);
            assert_eq!(r.json["errors"][0]["field"], field, "{}", r.text);
        }
        assert_problem(&put(json!({ "subject": "s" })).await, 422);

        let r = put(json!({
            "subject": "Custom reset for {{ realm }}",
            "text": "Reset here: {{ link }} ({{ expires_in_minutes }} min) for {{ name or email }}",
            "html": "<p>Hi <b>{{ name }}</b>, <a href=\"{{ link }}\">reset</a></p>",
        }))
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["custom"], true);
        assert_eq!(app.get(path, Some(&admin)).await.json["custom"], true);

        // Markup is refused in names; what HTML must escape still comes
        // through, escaped in the HTML part only.
        let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({ "email": "kim@example.com", "password": PW, "name": "Kim <script>x</script>" }),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": "kim@example.com", "password": PW, "name": "Kim <3 & x/y" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        sink.wait_for("kim@example.com", 1).await;
        assert_eq!(forgot(&app, "kim@example.com").await.status, 202);
        let mail = sink.wait_for("kim@example.com", 2).await;
        assert_eq!(mail.subject, "Custom reset for Main");
        assert!(
            mail.text.starts_with(&format!(
                "Reset here: {}/realms/main/reset-password?token=",
                app.base
            )),
            "{}",
            mail.text
        );
        assert!(
            mail.text.contains("(30 min) for Kim <3 & x/y"),
            "{}",
            mail.text
        );
        assert!(
            mail.html.contains("<b>Kim &lt;3 &amp; x&#x2f;y</b>"),
            "{}",
            mail.html
        );
        assert!(!mail.html.contains("<script>"));
        // The verification mail kept its default.
        assert_eq!(
            sink.wait_for("kim@example.com", 1).await.subject,
            "Confirm your email address for Main"
        );

        // Another realm keeps the defaults.
        let other = app.core.realms().id_of("main").await.unwrap();
        assert_ne!(other, uuid::Uuid::nil());

        assert_eq!(app.delete(path, Some(&admin)).await.status, 204);
        assert_problem(&app.delete(path, Some(&admin)).await, 404);
        assert_eq!(app.get(path, Some(&admin)).await.json["custom"], false);
        assert_eq!(forgot(&app, "kim@example.com").await.status, 202);
        assert_eq!(
            sink.wait_for("kim@example.com", 3).await.subject,
            "Reset your Main password"
        );
    }
);

/// A fake DNS: `nomail.example` has no MX, `flaky.example` gives no answer.
struct FakeDns;

#[async_trait]
impl MxResolver for FakeDns {
    async fn mail_domain(&self, domain: &str) -> MxAnswer {
        match domain {
            "nomail.example" => MxAnswer::NoMail,
            "flaky.example" => MxAnswer::Unknown,
            _ => MxAnswer::Accepts,
        }
    }
}

backend_tests!(
    mx_check_when_the_realm_asks_for_it,
    |_app: TestApp| async move {
        let backend = _app.backend;
        drop(_app);
        let Some(app) = spawn_app_opts(
            backend,
            |_| {},
            AppOptions {
                smtp_url: None,
                mx: Some(Arc::new(FakeDns)),
                ..AppOptions::default()
            },
        )
        .await
        else {
            return;
        };
        // Off by default.
        app.register("a@nomail.example", PW).await;
        set_realm(&app, json!({ "check_email_mx": true })).await;
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": "b@nomail.example", "password": PW }),
            )
            .await;
        assert_problem(&r, 422);
        assert_eq!(r.json["errors"][0]["field"], "email");
        assert!(r.text.contains("MX"), "{}", r.text);
        // No definite answer does not block.
        app.register("c@flaky.example", PW).await;
        app.register("d@example.com", PW).await;
    }
);

backend_tests!(
    mail_server_down_at_first_loses_nothing,
    |_app: TestApp| async move {
        let backend = _app.backend;
        drop(_app);
        // Nothing listens there yet.
        let addr = SmtpSink::unused_address().await;
        let Some(app) = spawn_app_opts(
            backend,
            |_| {},
            AppOptions {
                smtp_url: Some(format!("smtp://{addr}")),
                ..AppOptions::default()
            },
        )
        .await
        else {
            return;
        };
        app.register("lou@example.com", PW).await;
        let realm = app.core.realms().default_realm().await.unwrap();
        // Wait for the worker's first, failed attempt.
        let failed = loop {
            let outbox = app.core.mail().outbox(realm.id, 10).await.unwrap();
            if let Some(m) = outbox.into_iter().find(|m| m.attempts == 1) {
                break m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(failed.status, MailStatus::Pending);
        assert!(failed.sealed.is_some());
        assert!(failed.last_error.is_some());
        assert!(failed.next_attempt_at > app.core.clock().now());

        // The server comes up; the retry is not due yet, so nothing is sent.
        let sink = SmtpSink::start_on(addr).await.unwrap();
        assert_eq!(app.core.mail().deliver_due().await.unwrap().claimed, 0);
        // Once due, several workers race for it: it goes out exactly once.
        app.clock.advance(Duration::seconds(31));
        let core = app.core.clone();
        let racers: Vec<_> = (0..3)
            .map(|_| {
                let core = core.clone();
                tokio::spawn(async move { core.mail().deliver_due().await.unwrap() })
            })
            .collect();
        let mail = sink.wait_for("lou@example.com", 1).await;
        assert_eq!(mail.subject, "Confirm your email address for Main");
        for r in racers {
            r.await.unwrap();
        }
        let sent = loop {
            let m = app
                .core
                .mail()
                .outbox(realm.id, 10)
                .await
                .unwrap()
                .remove(0);
            if m.status == MailStatus::Sent {
                break m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(sent.attempts, 2);
        assert_eq!(sent.sealed, None);
        assert_eq!(sink.messages_to("lou@example.com").len(), 1);
        // The link still works.
        assert_eq!(verify(&app, &mail.token().unwrap()).await.status, 204);
    }
);
