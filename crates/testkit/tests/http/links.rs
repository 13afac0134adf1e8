//! Magic links (bound to the attempt that asked, single use, short-lived,
//! one answer for known and unknown addresses, the MFA step still asked)
//! and e-mail change (confirm at the new address, notice to the old one,
//! switch only then, the address taken meanwhile). Mail goes through the
//! testkit's SMTP sink.

use std::sync::Arc;

use portcullis_testkit::smtp::{ReceivedMail, SmtpSink};
use portcullis_testkit::{Backend, Reply, spawn_mail_app};

use super::*;

/// Registers `email` and waits for its verification mail (mail 1).
async fn registered(app: &TestApp, sink: &SmtpSink, email: &str) -> String {
    let t = app.user(email).await.access_token;
    sink.wait_for(email, 1).await;
    t
}

/// Asks for a magic link; returns the answer's attempt.
async fn ask(app: &TestApp, email: &str) -> String {
    let r = app
        .post("/api/v1/auth/magic-link", None, json!({ "email": email }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    r.json["attempt"].as_str().unwrap().to_owned()
}

/// The `n`-th mail to `email`, a magic link; returns its token.
async fn link_token(app: &TestApp, sink: &SmtpSink, email: &str, n: usize) -> String {
    let mail = sink.wait_for(email, n).await;
    assert_eq!(mail.subject, "Sign in to Main", "{}", mail.text);
    let prefix = format!("{}/realms/main/magic-link?token=", app.base);
    assert!(mail.link().unwrap().starts_with(&prefix), "{}", mail.text);
    assert!(mail.text.contains("10 minutes"), "{}", mail.text);
    mail.token().unwrap()
}

async fn use_link(app: &TestApp, token: &str, attempt: &str) -> Reply {
    app.post(
        "/api/v1/auth/magic-link/verify",
        None,
        json!({ "token": token, "attempt": attempt }),
    )
    .await
}

mail_tests!(
    magic_link_login,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "ada@example.com";
        registered(&app, &sink, email).await;
        let attempt = ask(&app, email).await;
        assert!(attempt.len() >= 43, "{attempt}");
        let token = link_token(&app, &sink, email, 2).await;
        assert!(token.len() >= 43, "a token of at least 256 bits: {token}");
        let r = use_link(&app, &token, &attempt).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["otp"]));
        let access = r.json["access_token"].as_str().unwrap().to_owned();
        assert!(r.json["refresh_token"].is_string());
        // The link proved control of the address.
        let me = app.get("/api/v1/auth/me", Some(&access)).await;
        assert_eq!(me.json["email"], email);
        assert_eq!(me.json["email_verified"], true);
        // Twice: refused.
        let again = use_link(&app, &token, &attempt).await;
        assert_eq!(again.status, 422, "{}", again.text);
        assert_eq!(
            again.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(again.json["errors"][0]["field"], "token");
        // Garbage is refused the same way, never with a 500.
        for (t, a) in [("", ""), ("x", &attempt), (&"y".repeat(5000), &attempt)] {
            let r = use_link(&app, t, a).await;
            assert_eq!(r.status, 422, "{}", r.text);
        }
        let r = app
            .post(
                "/api/v1/auth/magic-link/verify",
                None,
                json!({ "token": token }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let audit = app.core.store().list_audit(realm.id, 50).await.unwrap();
        let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
        assert!(actions.contains(&"auth.magic_link.sent"), "{actions:?}");
        assert!(actions.contains(&"auth.magic_link.used"), "{actions:?}");
    }
);

mail_tests!(
    a_link_completes_only_its_own_attempt,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "bob@example.com";
        registered(&app, &sink, email).await;
        let first = ask(&app, email).await;
        let token = link_token(&app, &sink, email, 2).await;
        // Another browser: another attempt (its own link is mail 3).
        let other = ask(&app, email).await;
        let other_token = link_token(&app, &sink, email, 3).await;
        assert_ne!(first, other);
        for attempt in [&other, &"A".repeat(43), &String::new()] {
            let r = use_link(&app, &token, attempt).await;
            assert_eq!(r.status, 422, "{}", r.text);
            assert!(r.json.get("access_token").is_none());
        }
        // Those failures did not spend it: its own attempt still works, and
        // so does the other browser's own link.
        let r = use_link(&app, &token, &first).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = use_link(&app, &other_token, &other).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);

mail_tests!(
    parallel_uses_of_one_link_one_wins,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "race@example.com";
        registered(&app, &sink, email).await;
        let attempt = ask(&app, email).await;
        let token = link_token(&app, &sink, email, 2).await;
        let app = Arc::new(app);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (app, t, a) = (app.clone(), token.clone(), attempt.clone());
            tasks.spawn(async move { use_link(&app, &t, &a).await });
        }
        let replies = tasks.join_all().await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 200).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 422),
            "{statuses:?}"
        );
    }
);

mail_tests!(
    unknown_addresses_get_the_same_answer,
    |app: TestApp, sink: SmtpSink| async move {
        registered(&app, &sink, "known@example.com").await;
        let unknown = app
            .post(
                "/api/v1/auth/magic-link",
                None,
                json!({ "email": "nobody@example.com" }),
            )
            .await;
        let known = app
            .post(
                "/api/v1/auth/magic-link",
                None,
                json!({ "email": "known@example.com" }),
            )
            .await;
        assert_eq!((unknown.status, known.status), (202, 202));
        assert_eq!(unknown.json["message"], known.json["message"]);
        assert_eq!(unknown.json["expires_in"], known.json["expires_in"]);
        let keys = |r: &Reply| {
            let mut k: Vec<String> = r.json.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&unknown), keys(&known));
        assert_eq!(
            unknown.json["attempt"].as_str().unwrap().len(),
            known.json["attempt"].as_str().unwrap().len()
        );
        assert_eq!(unknown.header("set-cookie"), known.header("set-cookie"));
        // The known address got its link; the unknown one nothing.
        link_token(&app, &sink, "known@example.com", 2).await;
        assert!(sink.messages_to("nobody@example.com").is_empty());
        // Not an address: 422; too many requests for one address: 429.
        let r = app
            .post("/api/v1/auth/magic-link", None, json!({ "email": "nope" }))
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        for _ in 0..2 {
            ask(&app, "nobody@example.com").await;
        }
        let r = app
            .post(
                "/api/v1/auth/magic-link",
                None,
                json!({ "email": "nobody@example.com" }),
            )
            .await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(r.header("retry-after").is_some());
    }
);

mail_tests!(
    links_expire_after_ten_minutes,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "slow@example.com";
        registered(&app, &sink, email).await;
        let attempt = ask(&app, email).await;
        let token = link_token(&app, &sink, email, 2).await;
        app.clock.advance(Duration::minutes(10));
        let r = use_link(&app, &token, &attempt).await;
        assert_eq!(r.status, 422, "{}", r.text);
    }
);

mail_tests!(
    a_second_factor_is_still_asked_for,
    |app: TestApp, sink: SmtpSink| async move {
        // A user with an authenticator app: the MFA step, without e-mail.
        let email = "tina@example.com";
        let (_, secret, _) = super::mfa::enrolled(&app, email).await;
        let attempt = ask(&app, email).await;
        // Mail 1 was the verification link.
        let token = link_token(&app, &sink, email, 2).await;
        let r = use_link(&app, &token, &attempt).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["mfa_required"], true, "{}", r.text);
        assert!(r.json.get("access_token").is_none());
        assert_eq!(r.json["methods"], json!(["totp", "backup_code"]));
        let mfa_token = r.json["mfa_token"].as_str().unwrap();
        let r = app
            .post(
                "/api/v1/mfa/verify",
                None,
                json!({ "mfa_token": mfa_token, "method": "totp", "code": super::mfa::code_at(&app, &secret, 0) }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["otp", "mfa"]));

        // A user whose only second factor would be e-mail codes (required by
        // role, nothing enrolled): the mailbox cannot be both factors.
        let admin = app.admin_token().await;
        let email = "ed@example.com";
        let t = registered(&app, &sink, email).await;
        let id = claims(&t)["sub"].as_str().unwrap().to_owned();
        app.post("/api/v1/rbac/roles", Some(&admin), json!({ "name": "ops" }))
            .await;
        let r = app
            .post(
                &format!("/api/v1/rbac/users/{id}/roles"),
                Some(&admin),
                json!({ "role": "ops" }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/realms/main",
                Some(&admin),
                Some(json!({ "mfa_required_roles": ["ops"] })),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let attempt = ask(&app, email).await;
        let token = link_token(&app, &sink, email, 2).await;
        let r = use_link(&app, &token, &attempt).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("password"), "{}", r.text);
        assert!(r.json.get("access_token").is_none());
    }
);

/// Asks to change the caller's address.
async fn change(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/api/v1/auth/change-email", Some(token), body)
        .await
}

async fn confirm(app: &TestApp, token: &str) -> Reply {
    app.post(
        "/api/v1/auth/confirm-email-change",
        None,
        json!({ "token": token }),
    )
    .await
}

/// The confirmation mail to the new address (its first mail).
async fn confirmation(app: &TestApp, sink: &SmtpSink, to: &str, n: usize) -> ReceivedMail {
    let mail = sink.wait_for(to, n).await;
    assert_eq!(mail.subject, "Confirm your new email address for Main");
    let prefix = format!("{}/realms/main/confirm-email-change?token=", app.base);
    assert!(mail.link().unwrap().starts_with(&prefix), "{}", mail.text);
    mail
}

mail_tests!(
    email_change_switches_only_after_confirmation,
    |app: TestApp, sink: SmtpSink| async move {
        let old = "carl@example.com";
        let new = "Carl.New@example.com";
        let token = registered(&app, &sink, old).await;
        let r = change(&app, &token, json!({ "new_email": new })).await;
        assert_eq!(r.status, 202, "{}", r.text);
        // A notice to the old address, a link to the new one.
        let notice = sink.wait_for(old, 2).await;
        assert_eq!(notice.subject, "Your Main email address is being changed");
        assert!(notice.text.contains(new), "{}", notice.text);
        assert!(notice.link().is_none(), "{}", notice.text);
        let mail = confirmation(&app, &sink, new, 1).await;
        assert!(mail.text.contains(new), "{}", mail.text);
        // Nothing changed yet.
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(me.json["email"], old);
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": new, "password": PW }),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);

        let r = confirm(&app, &mail.token().unwrap()).await;
        assert_eq!(r.status, 204, "{}", r.text);
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(me.json["email"], new, "sessions are kept: {}", me.text);
        assert_eq!(me.json["email_verified"], true);
        app.login(new, PW).await;
        app.login("carl.new@EXAMPLE.com", PW).await;
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": old, "password": PW }),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        // Once.
        let r = confirm(&app, &mail.token().unwrap()).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "token");
        for bad in ["", "nope", &"z".repeat(3000)] {
            assert_eq!(confirm(&app, bad).await.status, 422);
        }
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let audit = app.core.store().list_audit(realm.id, 50).await.unwrap();
        let changed = audit
            .iter()
            .find(|a| a.action == "user.email.changed")
            .expect("audited");
        assert_eq!(changed.after.as_ref().unwrap()["from"], old);
        assert_eq!(changed.after.as_ref().unwrap()["to"], new);
    }
);

mail_tests!(
    email_change_when_the_address_is_taken_meanwhile,
    |app: TestApp, sink: SmtpSink| async move {
        let token = registered(&app, &sink, "dora@example.com").await;
        let r = change(&app, &token, json!({ "new_email": "shared@example.com" })).await;
        assert_eq!(r.status, 202, "{}", r.text);
        let mail = confirmation(&app, &sink, "shared@example.com", 1).await;
        // Someone registers the address before the link is opened.
        app.register("SHARED@example.com", PW).await;
        let r = confirm(&app, &mail.token().unwrap()).await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(me.json["email"], "dora@example.com");
        // Asking for a taken address is refused at once.
        let r = change(&app, &token, json!({ "new_email": "shared@example.com" })).await;
        assert_eq!(r.status, 409, "{}", r.text);
    }
);

mail_tests!(
    email_change_needs_a_recent_authentication_and_a_new_valid_address,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "eve@example.com";
        let token = registered(&app, &sink, email).await;
        for (body, field) in [
            (json!({ "new_email": "not an address" }), "new_email"),
            (json!({ "new_email": "EVE@example.com" }), "new_email"),
            (json!({ "new_email": "x@mailinator.com" }), "new_email"),
        ] {
            let r = change(&app, &token, body).await;
            assert_eq!(r.status, 422, "{}", r.text);
            assert_eq!(r.json["errors"][0]["field"], field, "{}", r.text);
        }
        assert_eq!(change(&app, &token, json!({})).await.status, 422);
        assert_eq!(
            change(&app, "nope", json!({ "new_email": "a@example.com" }))
                .await
                .status,
            401
        );
        app.clock.advance(Duration::minutes(6));
        let r = change(&app, &token, json!({ "new_email": "eve2@example.com" })).await;
        // No proof in the request and an old login: RFC 9470's 401.
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(
            r.json["type"],
            "urn:portcullis:problem:reauthentication-required"
        );
        let r = change(
            &app,
            &token,
            json!({ "new_email": "eve2@example.com", "password": "wrong password" }),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = change(
            &app,
            &token,
            json!({ "new_email": "eve2@example.com", "password": PW }),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
        // A newer request replaces the older link.
        let first = confirmation(&app, &sink, "eve2@example.com", 1).await;
        let r = change(
            &app,
            &token,
            json!({ "new_email": "eve3@example.com", "password": PW }),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let second = confirmation(&app, &sink, "eve3@example.com", 1).await;
        assert_eq!(confirm(&app, &first.token().unwrap()).await.status, 422);
        assert_eq!(confirm(&app, &second.token().unwrap()).await.status, 204);
    }
);

mail_tests!(
    magic_link_logins_are_risk_assessed,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "risa@example.com";
        registered(&app, &sink, email).await;
        let policy = |step_up: u32, block: u32| json!({"enabled": true, "step_up_at": step_up, "block_at": block, "notify_new_device": false});
        let put = |body: Value| {
            let app = &app;
            async move {
                let admin = app.admin_token().await;
                let r = app
                    .call(
                        reqwest::Method::PUT,
                        "/api/v1/risk-policy",
                        Some(&admin),
                        Some(body),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        };
        let fail_three_times = || async {
            for _ in 0..3 {
                let r = app
                    .post(
                        "/api/v1/auth/login",
                        None,
                        json!({"email": email, "password": "not the password"}),
                    )
                    .await;
                assert_eq!(r.status, 401, "{}", r.text);
            }
        };
        // A burst of failures (30) before the link: a step up, which the
        // mailbox cannot be, so the link is refused and the password asked.
        put(policy(30, 60)).await;
        fail_three_times().await;
        let attempt = ask(&app, email).await;
        let token = link_token(&app, &sink, email, 2).await;
        let r = use_link(&app, &token, &attempt).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("other than e-mail"), "{}", r.text);
        assert!(r.json.get("access_token").is_none());
        // Over the block threshold: blocked.
        app.clock.advance(Duration::minutes(20));
        put(policy(10, 30)).await;
        fail_three_times().await;
        let attempt = ask(&app, email).await;
        let token = link_token(&app, &sink, email, 3).await;
        let r = use_link(&app, &token, &attempt).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("risk policy"), "{}", r.text);
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let audit = app.core.store().list_audit(realm.id, 100).await.unwrap();
        assert!(
            audit.iter().any(|a| a.action == "risk.login"),
            "{:?}",
            audit.iter().map(|a| &a.action).collect::<Vec<_>>()
        );
    }
);
