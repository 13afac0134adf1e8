//! Administration across realms: a server administrator creates a realm
//! with its first administrator and acts in any realm on behalf of the
//! server, audited as such; nobody else crosses realms.

use super::*;

const BOSS: &str = "boss@acme.example";

async fn login_in(
    app: &TestApp,
    realm: &str,
    email: &str,
    password: &str,
) -> portcullis_testkit::Reply {
    app.post(
        &format!("/api/v1/realms/{realm}/auth/login"),
        None,
        json!({"email": email, "password": password}),
    )
    .await
}

backend_tests!(
    a_realm_is_created_with_its_first_administrator,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "acme", "admin": {"email": BOSS, "password": PW, "name": "The Boss"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["name"], "acme");
        assert_eq!(r.json["admin"]["email"], BOSS);
        assert!(r.json["admin"].get("generated_password").is_none());

        // The first administrator signs in to the new realm and runs it.
        let boss = login_in(&app, "acme", BOSS, PW).await;
        assert_eq!(boss.status, 200, "{}", boss.text);
        let boss = boss.json["access_token"].as_str().unwrap().to_owned();
        let users = app
            .get("/api/v1/realms/acme/identity/users", Some(&boss))
            .await;
        assert_eq!(users.status, 200, "{}", users.text);
        assert_eq!(users.json["items"][0]["email"], BOSS);
        assert!(
            users.json["items"][0]["roles"]
                .as_array()
                .unwrap()
                .contains(&json!("realm-admin"))
        );
        // ... but not the server (its token is not of the server's realm),
        // nor another realm.
        assert_eq!(app.get("/api/v1/realms", Some(&boss)).await.status, 401);
        assert_eq!(
            app.get("/api/v1/identity/users", Some(&boss)).await.status,
            401
        );

        // Without a password, one is generated and shown once.
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "beta", "admin": {"email": "first@beta.example"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let generated = r.json["admin"]["generated_password"].as_str().unwrap();
        assert!(generated.len() >= 16);
        let first = login_in(&app, "beta", "first@beta.example", generated).await;
        assert_eq!(first.status, 200, "{}", first.text);
        let r = app.get("/api/v1/realms/beta", Some(&admin)).await;
        assert!(r.json.get("admin").is_none(), "shown once: {}", r.text);

        // Every wrong field is named, and nothing is created.
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "gamma", "password_min_length": 12,
                       "admin": {"email": "not an address", "password": "short"}}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let fields: Vec<&str> = r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&"admin.email"), "{fields:?}");
        assert!(fields.contains(&"admin.password"), "{fields:?}");
        assert_eq!(
            app.get("/api/v1/realms/gamma", Some(&admin)).await.status,
            404
        );
        // A password too short for the new realm's own rule is refused.
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "delta", "password_min_length": 40,
                       "admin": {"email": "d@delta.example", "password": PW}}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "admin.password");
        assert_eq!(
            app.get("/api/v1/realms/delta", Some(&admin)).await.status,
            404
        );
    }
);

backend_tests!(
    a_server_administrator_acts_in_any_realm_and_is_audited_as_cross_realm,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "acme", "admin": {"email": BOSS, "password": PW}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let t = Some(admin.as_str());

        // Users.
        let r = app.get("/api/v1/realms/acme/identity/users", t).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
        let r = app
            .post(
                "/api/v1/realms/acme/identity/users",
                t,
                json!({"email": "ann@acme.example", "password": PW}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let ann = r.json["id"].as_str().unwrap().to_owned();
        assert_eq!(
            login_in(&app, "acme", "ann@acme.example", PW).await.status,
            200
        );
        // The account is in acme, not in the server's realm.
        assert_eq!(
            login_in(&app, "main", "ann@acme.example", PW).await.status,
            401
        );
        // Roles.
        let r = app
            .post(
                "/api/v1/realms/acme/rbac/roles",
                t,
                json!({"name": "auditor", "permissions": ["reports:read:all"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let roles = app.get("/api/v1/rbac/roles", t).await;
        assert!(
            !roles.text.contains("auditor"),
            "the role is acme's, not main's"
        );
        // Clients and providers.
        let r = app
            .post(
                "/api/v1/realms/acme/clients",
                t,
                json!({"name": "Acme job"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app.get("/api/v1/realms/acme/identity-providers", t).await;
        assert_eq!(r.status, 200, "{}", r.text);

        // Audited in acme, naming the server's realm beside the actor.
        app.core.flush_audit().await;
        let main = app.core.realms().default_realm().await.unwrap();
        let acme = app.core.realms().by_name("acme").await.unwrap();
        let records = app.core.store().list_audit(acme.id, 100).await.unwrap();
        let admin_id = records
            .iter()
            .find(|r| r.action == "realm.create")
            .and_then(|r| r.actor)
            .expect("realm.create is audited");
        for action in ["realm.create", "role.create"] {
            let r = records
                .iter()
                .find(|r| r.action == action)
                .unwrap_or_else(|| panic!("{action} audited: {records:?}"));
            assert_eq!(r.actor, Some(admin_id), "{action}");
            assert_eq!(r.actor_realm_id, Some(main.id), "{action}");
        }
        let granted = records
            .iter()
            .find(|r| r.target.contains(&ann) && r.actor == Some(admin_id))
            .expect("the new user's grant is audited");
        assert_eq!(granted.actor_realm_id, Some(main.id));
        // The first administrator acting in his own realm is not cross-realm.
        let boss = login_in(&app, "acme", BOSS, PW).await.json["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post(
                "/api/v1/realms/acme/rbac/roles",
                Some(&boss),
                json!({"name": "clerk"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        app.core.flush_audit().await;
        let records = app.core.store().list_audit(acme.id, 100).await.unwrap();
        let clerk = records
            .iter()
            .find(|r| r.action == "role.create" && r.after.as_ref().unwrap()["name"] == "clerk")
            .unwrap();
        assert_eq!(clerk.actor_realm_id, None);
    }
);

backend_tests!(
    nobody_but_a_server_administrator_crosses_realms,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        for name in ["acme", "other"] {
            let r = app
                .post(
                    "/api/v1/realms",
                    Some(&admin),
                    json!({"name": name, "admin": {"email": BOSS, "password": PW}}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        // A plain user of the server's realm: refused, naming the permission.
        let user = app.user("uma@example.com").await;
        let t = Some(user.access_token.as_str());
        let r = app.get("/api/v1/realms/acme/identity/users", t).await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert!(r.text.contains("realms:manage:all"), "{}", r.text);
        for path in [
            "/api/v1/realms/acme/rbac/roles",
            "/api/v1/realms/acme/clients",
            "/api/v1/realms/acme/identity-providers",
            "/api/v1/realms/acme/identity/groups",
        ] {
            assert_eq!(app.get(path, t).await.status, 403, "{path}");
        }
        assert_eq!(
            app.post(
                "/api/v1/realms/acme/identity/users",
                t,
                json!({"email": "x@acme.example", "password": PW})
            )
            .await
            .status,
            403
        );
        // Self-service routes never cross: the token is of another realm.
        assert_eq!(app.get("/api/v1/realms/acme/auth/me", t).await.status, 401);

        // An administrator of the server's realm who holds users:manage
        // but not realms:manage administers that realm only.
        let r = app
            .post(
                "/api/v1/rbac/roles",
                Some(&admin),
                json!({"name": "helpdesk", "permissions": ["users:manage:all"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let helper = app.user("helper@example.com").await;
        let helper_id = claims(&helper.access_token)["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post(
                &format!("/api/v1/rbac/users/{helper_id}/roles"),
                Some(&admin),
                json!({"role": "helpdesk"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let helper = app.login("helper@example.com", PW).await;
        let h = Some(helper.access_token.as_str());
        assert_eq!(app.get("/api/v1/identity/users", h).await.status, 200);
        let r = app.get("/api/v1/realms/acme/identity/users", h).await;
        assert_eq!(r.status, 403, "{}", r.text);

        // acme's administrator cannot reach the sibling realm.
        let boss = login_in(&app, "acme", BOSS, PW).await.json["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let b = Some(boss.as_str());
        assert_eq!(
            app.get("/api/v1/realms/other/identity/users", b)
                .await
                .status,
            401
        );
        assert_eq!(
            app.get("/api/v1/realms/other/rbac/roles", b).await.status,
            401
        );
        // A forged token claiming the server's issuer is verified with the
        // server realm's keys, and refused.
        let forged = forge_issuer(&boss, &format!("{}/realms/main", app.base));
        let r = app
            .get("/api/v1/realms/acme/identity/users", Some(&forged))
            .await;
        assert_eq!(r.status, 401, "{}", r.text);

        // A server administrator whose account is deactivated stops at once.
        let r = app
            .post(
                "/api/v1/identity/users",
                Some(&admin),
                json!({"email": "second@example.com", "password": PW, "admin": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let second_id = r.json["id"].as_str().unwrap().to_owned();
        let second = app.login("second@example.com", PW).await;
        let s = Some(second.access_token.as_str());
        assert_eq!(
            app.get("/api/v1/realms/acme/identity/users", s)
                .await
                .status,
            200
        );
        let r = app
            .post(
                &format!("/api/v1/identity/users/{second_id}/deactivate"),
                Some(&admin),
                json!({}),
            )
            .await;
        assert!(r.status < 300, "{}", r.text);
        let r = app.get("/api/v1/realms/acme/identity/users", s).await;
        assert_eq!(r.status, 401, "{}", r.text);
    }
);

/// `token` with its payload's `iss` replaced and its signature kept: a
/// token no key verifies.
fn forge_issuer(token: &str, iss: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let (h, _, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let mut payload = claims(token);
    payload["iss"] = json!(iss);
    let p = engine.encode(serde_json::to_vec(&payload).unwrap());
    format!("{h}.{p}.{s}")
}
