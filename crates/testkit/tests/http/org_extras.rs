//! Organizations' verified domains (DNS through a stand-in server on
//! loopback, auto-join), invitations by e-mail (single use, replaced,
//! expiring, bound to the address), the `organization` claim and the
//! dashboard, with hostile cases. Mail goes through the SMTP sink.

use portcullis_testkit::dns::DnsStandIn;
use portcullis_testkit::smtp::SmtpSink;
use portcullis_testkit::{AppOptions, Backend, spawn_app_opts};

use super::*;

/// An app with an SMTP sink and a stand-in DNS server.
async fn spawn(backend: Backend) -> Option<(TestApp, SmtpSink, DnsStandIn)> {
    let sink = SmtpSink::start().await;
    let dns = DnsStandIn::start().await;
    let app = spawn_app_opts(
        backend,
        |_| {},
        AppOptions {
            smtp_url: Some(sink.url()),
            dns_server: Some(dns.addr()),
            ..AppOptions::default()
        },
    )
    .await?;
    Some((app, sink, dns))
}

macro_rules! org_tests {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (app, sink, dns) = spawn(Backend::Sqlite).await.expect("sqlite app");
                ($body)(app, sink, dns).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some((app, sink, dns)) = spawn(Backend::Postgres).await else {
                    return;
                };
                ($body)(app, sink, dns).await;
            }
        }
    };
}

fn fields(r: &portcullis_testkit::Reply) -> Vec<String> {
    let mut f: Vec<String> = r.json["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    f.sort();
    f
}

fn sub(token: &str) -> String {
    claims(token)["sub"].as_str().unwrap().to_owned()
}

/// Creates organizations `globex` and `initech`; `ann` administers globex
/// (delegated), `bob` administers initech, `cy` is a plain member of
/// globex. Their access tokens.
async fn setup(app: &TestApp, admin: &str) -> (String, String, String) {
    let t = Some(admin);
    for name in ["globex", "initech"] {
        let r = app
            .post("/api/v1/organizations", t, json!({"name": name}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let mut tokens = Vec::new();
    for (email, org, role) in [
        ("ann@example.com", "globex", "admin"),
        ("bob@example.com", "initech", "admin"),
        ("cy@example.com", "globex", "member"),
    ] {
        let tok = app.user(email).await.access_token;
        let r = app
            .post(
                &format!("/api/v1/organizations/{org}/users"),
                t,
                json!({"user_id": sub(&tok), "role": role}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        tokens.push(tok);
    }
    let cy = tokens.pop().unwrap();
    let bob = tokens.pop().unwrap();
    let ann = tokens.pop().unwrap();
    (ann, bob, cy)
}

org_tests!(
    domains_are_verified_by_dns_or_admin,
    |app: TestApp, sink: SmtpSink, dns: DnsStandIn| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        let (ann, bob, cy) = setup(&app, &admin).await;
        let path = "/api/v1/organizations/globex/domains";

        // Every wrong field named; public suffixes and wildcards refused.
        let r = app
            .post(
                path,
                Some(&ann),
                json!({"domain": "co.uk", "role": "owner"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["domain", "role"]);
        for bad in ["com", "*.globex.example", "192.0.2.1", "a..b.example", ""] {
            let r = app.post(path, t, json!({"domain": bad})).await;
            assert_eq!(r.status, 422, "{bad}: {}", r.text);
            assert_eq!(fields(&r), ["domain"], "{bad}");
        }
        let r = app
            .post(path, t, json!({"domain": "x.example", "extra": 1}))
            .await;
        assert_eq!(r.status, 422, "{}", r.text);

        // The delegated administrator claims a domain: a TXT record to publish.
        let r = app
            .post(path, Some(&ann), json!({"domain": "Globex.Example"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["domain"], "globex.example");
        assert_eq!(r.json["verified"], false);
        assert_eq!(r.json["auto_join"], false);
        assert_eq!(r.json["role"], "member");
        assert_eq!(
            r.json["txt_record"]["name"],
            "_portcullis-challenge.globex.example"
        );
        let value = r.json["txt_record"]["value"].as_str().unwrap().to_owned();
        assert!(value.len() > 40, "{value}");
        assert_eq!(
            app.post(path, t, json!({"domain": "globex.example"}))
                .await
                .status,
            409
        );

        // Hostile: the administrator of initech reaches nothing of globex,
        // a plain member neither.
        for tok in [&bob, &cy] {
            assert_eq!(app.get(path, Some(tok)).await.status, 403);
            let r = app
                .post(
                    &format!("{path}/globex.example/verify"),
                    Some(tok),
                    json!({"method": "dns"}),
                )
                .await;
            assert_eq!(r.status, 403, "{}", r.text);
            assert_eq!(
                app.delete(&format!("{path}/globex.example"), Some(tok))
                    .await
                    .status,
                403
            );
        }
        // A delegated administrator cannot vouch without DNS.
        let verify = format!("{path}/globex.example/verify");
        let r = app
            .post(&verify, Some(&ann), json!({"method": "admin"}))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .post(&verify, Some(&ann), json!({"method": "carrier-pigeon"}))
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["method"]);
        // Not published yet, then published with another value: refused.
        let r = app.post(&verify, Some(&ann), json!({})).await;
        assert_eq!(r.status, 422, "{}", r.text);
        dns.set_txt("_portcullis-challenge.globex.example", "something-else");
        assert_eq!(app.post(&verify, Some(&ann), json!({})).await.status, 422);
        dns.set_txt("_portcullis-challenge.globex.example", &value);
        let r = app
            .post(&verify, Some(&ann), json!({"method": "dns"}))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["verified"], true);
        assert_eq!(r.json["verified_by"], "dns");

        // A domain verified in one organization cannot be claimed by another.
        let other = "/api/v1/organizations/initech/domains";
        let r = app
            .post(other, t, json!({"domain": "globex.example"}))
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = app
            .post(other, Some(&bob), json!({"domain": "initech.example"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{other}/initech.example/verify"),
                t,
                json!({"method": "admin"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["verified_by"], "admin");

        // Routing an address's domain to its organization.
        let r = app
            .get("/api/v1/organizations?domain=GLOBEX.example", t)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 1);
        assert_eq!(r.json["items"][0]["name"], "globex");
        let r = app
            .get("/api/v1/organizations?domain=nobody.example", t)
            .await;
        assert_eq!(r.json["total"], 0);
        assert_eq!(
            app.get("/api/v1/organizations?domain=com", t).await.status,
            422
        );
        assert_eq!(
            app.get("/api/v1/organizations?domain=globex.example", Some(&ann))
                .await
                .status,
            403
        );

        // Auto-join: a user of the domain joins when the address is verified.
        let r = app
            .call(
                reqwest::Method::PATCH,
                &format!("{path}/globex.example"),
                Some(&ann),
                Some(json!({"auto_join": true, "role": "owner"})),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app
            .call(
                reqwest::Method::PATCH,
                &format!("{path}/globex.example"),
                Some(&ann),
                Some(json!({"auto_join": true})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["auto_join"], true);
        let dan = app.user("dan@globex.example").await.access_token;
        let r = app.get("/api/v1/auth/me/organizations", Some(&dan)).await;
        assert_eq!(r.json["memberships"], json!([]), "unverified: not yet");
        let token = sink
            .wait_for("dan@globex.example", 1)
            .await
            .token()
            .unwrap();
        let r = app
            .post("/api/v1/auth/verify-email", None, json!({"token": token}))
            .await;
        assert!(r.status < 300, "{}", r.text);
        let r = app.get("/api/v1/auth/me/organizations", Some(&dan)).await;
        assert_eq!(
            r.json["memberships"][0]["organization"]["name"], "globex",
            "{}",
            r.text
        );
        assert_eq!(r.json["memberships"][0]["role"], "member");

        // Removal, then audited.
        assert_eq!(
            app.delete(&format!("{other}/initech.example"), Some(&bob))
                .await
                .status,
            204
        );
        assert_eq!(
            app.delete(&format!("{other}/initech.example"), Some(&bob))
                .await
                .status,
            404
        );
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let records = app.core.store().list_audit(realm.id, 500).await.unwrap();
        for action in [
            "organization.domain.add",
            "organization.domain.verify",
            "organization.domain.policy",
            "organization.domain.remove",
            "organization.member.auto_join",
        ] {
            assert!(records.iter().any(|r| r.action == action), "{action}");
        }
    }
);

org_tests!(
    invitations_are_single_use_and_bound_to_the_address,
    |app: TestApp, sink: SmtpSink, _dns: DnsStandIn| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        let (ann, bob, cy) = setup(&app, &admin).await;
        let path = "/api/v1/organizations/globex/invitations";
        let eve = app.user("eve@example.com").await.access_token;

        // Every wrong field named; delegated administrators give member and
        // admin only; others reach nothing.
        let r = app
            .post(path, Some(&ann), json!({"email": "nope", "role": "owner"}))
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["email", "role"]);
        for tok in [&bob, &cy] {
            let r = app
                .post(path, Some(tok), json!({"email": "eve@example.com"}))
                .await;
            assert_eq!(r.status, 403, "{}", r.text);
            assert_eq!(app.get(path, Some(tok)).await.status, 403);
        }

        // Invited, the mail carries the link.
        let r = app
            .post(
                path,
                Some(&ann),
                json!({"email": "Eve@Example.com", "role": "admin"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["email"], "eve@example.com");
        let mail = sink.wait_for("eve@example.com", 2).await;
        assert!(mail.subject.contains("globex"), "{}", mail.subject);
        let prefix = format!("{}/realms/main/organization-invitation?token=", app.base);
        assert!(mail.link().unwrap().starts_with(&prefix), "{}", mail.text);
        let first = mail.token().unwrap();
        // Pending, visible to the invited user.
        let r = app.get("/api/v1/auth/me/organizations", Some(&eve)).await;
        assert_eq!(
            r.json["invitations"][0]["organization"]["name"], "globex",
            "{}",
            r.text
        );
        assert_eq!(
            app.get(path, Some(&ann)).await.json["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // Re-invited: the first link stops working.
        let r = app
            .post(
                path,
                t,
                json!({"email": "eve@example.com", "role": "admin"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let second = sink.wait_for("eve@example.com", 3).await.token().unwrap();
        let accept = "/api/v1/organizations/invitations/accept";
        let r = app.post(accept, Some(&eve), json!({"token": first})).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(fields(&r), ["token"]);
        // Another user cannot accept it (and it stays usable).
        let r = app.post(accept, Some(&bob), json!({"token": second})).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(
            app.post(accept, None, json!({"token": second}))
                .await
                .status,
            401
        );
        // Accepted once.
        let r = app.post(accept, Some(&eve), json!({"token": second})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["organization"]["name"], "globex");
        assert_eq!(r.json["role"], "admin");
        let r = app.post(accept, Some(&eve), json!({"token": second})).await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app.get("/api/v1/auth/me/organizations", Some(&eve)).await;
        assert_eq!(r.json["invitations"], json!([]));
        assert_eq!(r.json["memberships"][0]["role"], "admin");
        // Only for globex: initech did not gain a member.
        let r = app.get("/api/v1/organizations/initech/users", t).await;
        assert_eq!(r.json["total"], 1);

        // Expired.
        let r = app
            .post(
                "/api/v1/organizations/initech/invitations",
                Some(&bob),
                json!({"email": "cy@example.com"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let late = sink.wait_for("cy@example.com", 2).await.token().unwrap();
        app.clock.advance(Duration::days(8));
        let cy = app.login("cy@example.com", PW).await.access_token;
        let r = app.post(accept, Some(&cy), json!({"token": late})).await;
        assert_eq!(r.status, 422, "{}", r.text);

        // Withdrawn.
        let ann = app.login("ann@example.com", PW).await.access_token;
        let bob = app.login("bob@example.com", PW).await.access_token;
        let r = app
            .post(path, Some(&ann), json!({"email": "fay@example.com"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let id = r.json["id"].as_str().unwrap().to_owned();
        assert_eq!(
            app.delete(&format!("{path}/{id}"), Some(&bob)).await.status,
            403
        );
        assert_eq!(
            app.delete(
                &format!("/api/v1/organizations/initech/invitations/{id}"),
                Some(&bob)
            )
            .await
            .status,
            404
        );
        assert_eq!(
            app.delete(&format!("{path}/{id}"), Some(&ann)).await.status,
            204
        );
        assert_eq!(
            app.delete(&format!("{path}/{id}"), Some(&ann)).await.status,
            404
        );
        let _ = cy;

        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let records = app.core.store().list_audit(realm.id, 500).await.unwrap();
        for action in [
            "organization.invitation.create",
            "organization.invitation.accept",
            "organization.invitation.revoke",
        ] {
            assert!(records.iter().any(|r| r.action == action), "{action}");
        }
    }
);

org_tests!(
    the_dashboard_is_for_administrators,
    |app: TestApp, _sink: SmtpSink, _dns: DnsStandIn| async move {
        let admin = app.admin_token().await;
        let (ann, bob, cy) = setup(&app, &admin).await;
        let path = "/api/v1/organizations/globex/dashboard";
        let r = app
            .post(
                "/api/v1/organizations/globex/invitations",
                Some(&ann),
                json!({"email": "gil@example.com"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        app.core.flush_audit().await;
        for tok in [&admin, &ann] {
            let r = app.get(path, Some(tok)).await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.json["members"], 2);
            assert_eq!(r.json["active_members_30d"], 2);
            assert_eq!(r.json["members_with_mfa"], 0);
            assert_eq!(r.json["mfa_coverage"], 0.0);
            assert_eq!(r.json["pending_invitations"], 1);
            let events = r.json["recent_events"].as_array().unwrap();
            assert!(!events.is_empty() && events.len() <= 20, "{}", r.text);
        }
        for tok in [&bob, &cy] {
            assert_eq!(app.get(path, Some(tok)).await.status, 403);
        }
        assert_eq!(
            app.get("/api/v1/organizations/nope/dashboard", Some(&admin))
                .await
                .status,
            404
        );
    }
);

backend_tests!(organization_claim_in_tokens, |app: TestApp| async move {
    use super::oidc::{Browser, USERINFO, tokens_for, web_client};
    let admin = app.admin_token().await;
    let r = app
        .get("/realms/main/.well-known/openid-configuration", None)
        .await;
    assert!(
        r.json["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("organization")),
        "{}",
        r.text
    );
    let r = app
        .post(
            "/api/v1/organizations",
            Some(&admin),
            json!({"name": "globex"}),
        )
        .await;
    let globex = r.json["id"].clone();
    let ann = app.user("ann@example.com").await.access_token;
    let r = app
        .post(
            "/api/v1/organizations/globex/users",
            Some(&admin),
            json!({"user_id": sub(&ann)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = web_client(
        &app,
        &admin,
        "web",
        json!({"scopes": ["openid", "email", "organization"]}),
    )
    .await;
    let mut b = Browser::default();
    let tokens = tokens_for(
        &app,
        &mut b,
        "web",
        &secret,
        "ann@example.com",
        &[("scope", "openid organization")],
    )
    .await;
    let expected = json!({"globex": {"id": globex}});
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["organization"], expected, "{id}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(claims(access)["organization"], expected);
    let r = app.get(USERINFO, Some(access)).await;
    assert_eq!(r.json["organization"], expected, "{}", r.text);
    // Without the scope, no claim.
    let mut b = Browser::default();
    let tokens = tokens_for(
        &app,
        &mut b,
        "web",
        &secret,
        "ann@example.com",
        &[("scope", "openid email")],
    )
    .await;
    assert!(
        claims(tokens["id_token"].as_str().unwrap())
            .get("organization")
            .is_none()
    );
    assert!(
        claims(tokens["access_token"].as_str().unwrap())
            .get("organization")
            .is_none()
    );
});
