//! The pages behind the mailed links, through a browser's eyes: opening a
//! link spends nothing, its form does the work once, and a magic link asked
//! for on the login page signs in only in the browser that asked, going on
//! to the client.

use portcullis_testkit::smtp::{ReceivedMail, SmtpSink};
use portcullis_testkit::{Backend, Reply, spawn_app, spawn_mail_app};

use super::oidc::{
    Browser, CB, TOKEN, authorize_query, code_of, enc, first_form_hidden_inputs, redeem_body,
    token, web_client,
};
use super::*;

/// The path (from the app's base) of the link in `mail`.
fn link_path(app: &TestApp, mail: &ReceivedMail) -> String {
    let link = mail.link().expect("a link");
    link.strip_prefix(&app.base)
        .unwrap_or_else(|| panic!("{link} is not under {}", app.base))
        .to_owned()
}

fn assert_invalid(r: &Reply) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("This link is not valid"), "{}", r.text);
}

/// A page's answer: HTML with its own CSP and no caching.
fn assert_page(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

mail_tests!(
    verification_link_page,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "vera@example.com";
        let t = app.user(email).await.access_token;
        let mail = sink.wait_for(email, 1).await;
        let path = link_path(&app, &mail);
        assert!(
            path.starts_with("/realms/main/verify-email?token="),
            "{path}"
        );
        let mut b = Browser::default();
        // Opening the link (twice, as a mail scanner and the user would)
        // spends nothing.
        for _ in 0..2 {
            let page = b.get(&app, &path).await;
            assert_page(&page, 200);
            assert!(page.text.contains("Verify my address"), "{}", page.text);
        }
        let me = app.get("/api/v1/auth/me", Some(&t)).await;
        assert_eq!(me.json["email_verified"], false);
        let page = b.get(&app, &path).await;
        let r = b.submit(&app, &page, &[]).await;
        assert_page(&r, 200);
        assert!(
            r.text.contains("vera@example.com is verified"),
            "{}",
            r.text
        );
        let me = app.get("/api/v1/auth/me", Some(&t)).await;
        assert_eq!(me.json["email_verified"], true);
        // Spent: the page says so, and so does a second submit.
        assert_invalid(&b.get(&app, &path).await);
        assert_invalid(&b.submit(&app, &page, &[]).await);
        // Nonsense and missing tokens.
        assert_invalid(&b.get(&app, "/realms/main/verify-email?token=nope").await);
        assert_invalid(&b.get(&app, "/realms/main/verify-email").await);
        let long = format!("/realms/main/verify-email?token={}", "a".repeat(5000));
        assert_invalid(&b.get(&app, &long).await);
    }
);

mail_tests!(
    a_link_form_needs_this_sites_csrf_token,
    |app: TestApp, sink: SmtpSink| async move {
        let email = "cyril@example.com";
        let t = app.user(email).await.access_token;
        let mail = sink.wait_for(email, 1).await;
        let mut b = Browser::default();
        let page = b.get(&app, &link_path(&app, &mail)).await;
        assert_page(&page, 200);
        // Another site's form: no cookie of ours, a foreign origin.
        let mut other = Browser {
            origin: Some("https://evil.example".into()),
            ..Browser::default()
        };
        let r = other.submit(&app, &page, &[]).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = b.submit(&app, &page, &[("csrf_token", "wrong")]).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let me = app.get("/api/v1/auth/me", Some(&t)).await;
        assert_eq!(me.json["email_verified"], false);
        // The link still works.
        let r = b.submit(&app, &page, &[]).await;
        assert_page(&r, 200);
    }
);

mail_tests!(reset_link_page, |app: TestApp, sink: SmtpSink| async move {
    let email = "rosa@example.com";
    let old = app.user(email).await;
    sink.wait_for(email, 1).await;
    let r = app
        .post(
            "/api/v1/auth/forgot-password",
            None,
            json!({ "email": email }),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mail = sink.wait_for(email, 2).await;
    let path = link_path(&app, &mail);
    assert!(
        path.starts_with("/realms/main/reset-password?token="),
        "{path}"
    );
    let mut b = Browser::default();
    let page = b.get(&app, &path).await;
    assert_page(&page, 200);
    assert!(page.text.contains("autocomplete=\"new-password\""));
    assert!(page.text.contains("minlength=\"8\""), "{}", page.text);
    let new = "another perfectly fine passphrase";
    // Two different passwords, then one the policy refuses: the form
    // again, and the link still usable.
    let r = b
        .submit(
            &app,
            &page,
            &[
                ("new_password", new),
                ("confirm_password", "something else"),
            ],
        )
        .await;
    assert_page(&r, 422);
    assert!(r.text.contains("The two passwords differ"), "{}", r.text);
    let r = b
        .submit(
            &app,
            &r,
            &[("new_password", "short"), ("confirm_password", "short")],
        )
        .await;
    assert_page(&r, 422);
    assert!(r.text.contains("Choose another password"), "{}", r.text);
    assert!(r.text.contains("name=\"new_password\""));
    let r = b
        .submit(
            &app,
            &r,
            &[("new_password", new), ("confirm_password", new)],
        )
        .await;
    assert_page(&r, 200);
    assert!(r.text.contains("Password changed"), "{}", r.text);
    // The new password works, the old one and the old session do not.
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": new }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let login = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PW }),
        )
        .await;
    assert_eq!(login.status, 401, "{}", login.text);
    let refresh = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": old.refresh_token }),
        )
        .await;
    assert_eq!(refresh.status, 401, "{}", refresh.text);
    assert_invalid(&b.get(&app, &path).await);
});

mail_tests!(
    email_change_link_page,
    |app: TestApp, sink: SmtpSink| async move {
        let old = "edna@example.com";
        let new = "edna.new@example.com";
        let t = app.user(old).await.access_token;
        sink.wait_for(old, 1).await;
        let r = app
            .post(
                "/api/v1/auth/change-email",
                Some(&t),
                json!({ "new_email": new }),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let mail = sink.wait_for(new, 1).await;
        let path = link_path(&app, &mail);
        assert!(
            path.starts_with("/realms/main/confirm-email-change?token="),
            "{path}"
        );
        let mut b = Browser::default();
        let page = b.get(&app, &path).await;
        assert_page(&page, 200);
        let me = app.get("/api/v1/auth/me", Some(&t)).await;
        assert_eq!(me.json["email"], old);
        let r = b.submit(&app, &page, &[]).await;
        assert_page(&r, 200);
        assert!(r.text.contains(new), "{}", r.text);
        let me = app.get("/api/v1/auth/me", Some(&t)).await;
        assert_eq!(me.json["email"], new);
        assert_eq!(me.json["email_verified"], true);
        assert_invalid(&b.get(&app, &path).await);
    }
);

/// Asks for a magic link from the login page of an authorization request
/// of `client`; returns the login page.
async fn ask_on_login_page(app: &TestApp, b: &mut Browser, client: &str, email: &str) -> Reply {
    let page = b.get(app, &authorize_query(client, &[])).await;
    assert_page(&page, 200);
    assert!(
        page.text.contains("E-mail me a sign-in link"),
        "{}",
        page.text
    );
    let action = "formaction=\"/realms/main/login/magic-link\"";
    assert!(page.text.contains(action), "{}", page.text);
    let mut fields = first_form_hidden_inputs(&page.text);
    fields.push(("email".into(), email.into()));
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    b.post(app, "/realms/main/login/magic-link", body).await
}

mail_tests!(
    magic_link_from_the_login_page,
    |app: TestApp, sink: SmtpSink| async move {
        let admin = app.admin_token().await;
        let secret = web_client(&app, &admin, "web", json!({})).await;
        let email = "mila@example.com";
        app.user(email).await;
        sink.wait_for(email, 1).await;
        let mut b = Browser::default();
        let r = ask_on_login_page(&app, &mut b, "web", email).await;
        assert_page(&r, 200);
        assert!(r.text.contains("Check your e-mail"), "{}", r.text);
        assert!(b.cookies.contains_key("portcullis_magic"));
        let cookie = r
            .headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("portcullis_magic="))
            .unwrap();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("Path=/realms/main/"), "{cookie}");
        assert!(cookie.contains("Max-Age=600"), "{cookie}");
        // An unknown address gets the same page.
        let mut c = Browser::default();
        let r2 = ask_on_login_page(&app, &mut c, "web", "nobody@example.com").await;
        assert_page(&r2, 200);
        assert!(r2.text.contains("Check your e-mail"), "{}", r2.text);

        let mail = sink.wait_for(email, 2).await;
        let path = link_path(&app, &mail);
        assert!(path.starts_with("/realms/main/magic-link?token="), "{path}");
        // Another browser, with no attempt or with its own, gets nothing.
        let r = Browser::default().get(&app, &path).await;
        assert_page(&r, 400);
        assert!(r.text.contains("where you asked for it"), "{}", r.text);
        assert_invalid(&c.get(&app, &path).await);
        // The browser that asked: a button, then the code for the client.
        let page = b.get(&app, &path).await;
        assert_page(&page, 200);
        // Browsers apply `form-action` to the redirect after the POST too.
        let csp = page.header("content-security-policy").unwrap();
        assert!(
            csp.contains("form-action 'self' https://app.example.com;"),
            "{csp}"
        );
        let r = b.submit(&app, &page, &[]).await;
        let code = code_of(&app, &r);
        assert!(!b.cookies.contains_key("portcullis_magic"));
        assert!(b.cookies.contains_key("portcullis_sso"));
        let tokens = token(&app, "web", &secret, &redeem_body(&code)).await;
        assert_eq!(tokens.status, 200, "{}", tokens.text);
        let id = claims(tokens.json["id_token"].as_str().unwrap());
        assert_eq!(id["amr"], json!(["otp"]));
        assert_eq!(id["nonce"], "n-1");
        // Used once: the same link again does nothing.
        let r = b.submit(&app, &page, &[]).await;
        assert_eq!(r.status, 400, "{}", r.text);
        // The browser is signed in: the next request needs no login.
        let r = b.get(&app, &authorize_query("web", &[])).await;
        assert_eq!(code_of(&app, &r).len(), 43, "{TOKEN} {CB}");
    }
);

mail_tests!(
    magic_link_of_a_user_with_a_second_factor,
    |app: TestApp, sink: SmtpSink| async move {
        let admin = app.admin_token().await;
        web_client(&app, &admin, "web", json!({})).await;
        let email = "tomas@example.com";
        super::mfa::enrolled(&app, email).await;
        sink.wait_for(email, 1).await;
        let mut b = Browser::default();
        ask_on_login_page(&app, &mut b, "web", email).await;
        let mail = sink.wait_for(email, 2).await;
        let page = b.get(&app, &link_path(&app, &mail)).await;
        let r = b.submit(&app, &page, &[]).await;
        // The second step of the login form, without e-mail codes.
        assert_page(&r, 200);
        assert!(r.text.contains("name=\"mfa_token\""), "{}", r.text);
        assert!(r.text.contains("Authenticator app"), "{}", r.text);
        assert!(!r.text.contains("Code sent by e-mail"), "{}", r.text);
        assert!(!b.cookies.contains_key("portcullis_sso"));
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_magic_links_without_mail() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite app");
    let admin = app.admin_token().await;
    web_client(&app, &admin, "web", json!({})).await;
    let mut b = Browser::default();
    let page = b.get(&app, &authorize_query("web", &[])).await;
    assert_page(&page, 200);
    assert!(!page.text.contains("sign-in link"), "{}", page.text);
    let mut fields = first_form_hidden_inputs(&page.text);
    fields.push(("email".into(), ADMIN_EMAIL.into()));
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = b.post(&app, "/realms/main/login/magic-link", body).await;
    assert_page(&r, 400);
    assert!(r.text.contains("not available"), "{}", r.text);
}
