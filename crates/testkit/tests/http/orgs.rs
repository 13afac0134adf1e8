//! Organizations: administration, hierarchy, members, isolation.

use super::*;

fn field_names(r: &portcullis_testkit::Reply) -> Vec<String> {
    r.json["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> portcullis_testkit::Reply {
    app.call(reqwest::Method::PATCH, path, Some(token), Some(body))
        .await
}

backend_tests!(
    organizations_are_administered_as_a_tree,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        let r = app
            .post(
                "/api/v1/organizations",
                t,
                json!({"name": "globex", "display_name": "Globex Corporation",
                       "description": "A customer", "attributes": {"tier": "gold"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let globex = r.json["id"].as_str().unwrap().to_owned();
        assert_eq!(r.json["attributes"]["tier"], "gold");
        let r = app
            .post(
                "/api/v1/organizations",
                t,
                json!({"name": "globex-eu", "parent": "globex"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["parent_id"], json!(globex));
        assert_eq!(r.json["display_name"], "globex-eu");
        let eu = r.json["id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                "/api/v1/organizations",
                t,
                json!({"name": "globex-eu-fr", "parent": eu}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let fr = r.json["id"].as_str().unwrap().to_owned();
        app.post("/api/v1/organizations", t, json!({"name": "initech"}))
            .await;

        // Duplicates, and every wrong field named.
        let r = app
            .post("/api/v1/organizations", t, json!({"name": "globex"}))
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = app
            .post(
                "/api/v1/organizations",
                t,
                json!({"name": "Not Valid", "description": "<script>alert(1)</script>",
                       "parent": "nope", "attributes": {"a.b": 1}}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let mut fields = field_names(&r);
        fields.sort();
        assert_eq!(fields, ["attributes", "description", "name", "parent"]);
        let r = app
            .post("/api/v1/organizations", t, json!({"name": "x", "extra": 1}))
            .await;
        assert_eq!(r.status, 422, "{}", r.text);

        // Lists: by name, searched, by parent, paged.
        let r = app.get("/api/v1/organizations", t).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 4);
        let r = app.get("/api/v1/organizations?search=CORPORATION", t).await;
        assert_eq!(r.json["items"][0]["name"], "globex");
        assert_eq!(r.json["total"], 1);
        let r = app.get("/api/v1/organizations?parent=globex", t).await;
        assert_eq!(r.json["items"][0]["name"], "globex-eu");
        assert_eq!(r.json["total"], 1);
        let r = app.get("/api/v1/organizations?page=2&per_page=1", t).await;
        assert_eq!(r.json["items"][0]["name"], "globex-eu");
        let r = app.get("/api/v1/organizations?per_page=0", t).await;
        assert_eq!(r.status, 422);
        let r = app.get("/api/v1/organizations?page=x", t).await;
        assert_eq!(r.status, 400);
        assert_eq!(app.get("/api/v1/organizations/globex", t).await.status, 200);
        assert_eq!(
            app.get(&format!("/api/v1/organizations/{eu}"), t)
                .await
                .json["name"],
            "globex-eu"
        );
        assert_eq!(app.get("/api/v1/organizations/nope", t).await.status, 404);

        // Cycles are refused: an organization under its own descendant.
        let r = patch(
            &app,
            "/api/v1/organizations/globex",
            &admin,
            json!({"parent": fr}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(field_names(&r), ["parent"]);
        let r = patch(
            &app,
            "/api/v1/organizations/globex",
            &admin,
            json!({"parent": "globex"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        // Moves, renames, and back to a root.
        let r = patch(
            &app,
            "/api/v1/organizations/initech",
            &admin,
            json!({"parent": "globex-eu-fr", "name": "initech-fr", "description": null}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["parent_id"], json!(fr));
        let r = patch(
            &app,
            "/api/v1/organizations/initech-fr",
            &admin,
            json!({"parent": null}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json.get("parent_id").is_none(), "{}", r.text);
        let r = patch(
            &app,
            "/api/v1/organizations/initech-fr",
            &admin,
            json!({"name": "globex"}),
        )
        .await;
        assert_eq!(r.status, 409, "{}", r.text);

        // A parent with children stays.
        let r = app.delete("/api/v1/organizations/globex", t).await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(
            app.delete("/api/v1/organizations/globex-eu-fr", t)
                .await
                .status,
            204
        );
        assert_eq!(
            app.delete("/api/v1/organizations/globex-eu", t)
                .await
                .status,
            204
        );
        assert_eq!(
            app.delete("/api/v1/organizations/globex", t).await.status,
            204
        );
        assert_eq!(
            app.delete("/api/v1/organizations/globex", t).await.status,
            404
        );

        // Audited.
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let records = app.core.store().list_audit(realm.id, 200).await.unwrap();
        for action in [
            "organization.create",
            "organization.update",
            "organization.delete",
        ] {
            assert!(records.iter().any(|r| r.action == action), "{action}");
        }
    }
);

backend_tests!(organization_members_have_roles, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let t = Some(admin.as_str());
    app.post("/api/v1/organizations", t, json!({"name": "globex"}))
        .await;
    app.post("/api/v1/organizations", t, json!({"name": "initech"}))
        .await;
    let ann = app.user("ann@example.com").await;
    let ann_id = claims(&ann.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = app.user("bob@example.com").await;
    let bob_id = claims(&bob.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    let r = app
        .post(
            "/api/v1/organizations/globex/users",
            t,
            json!({"user_id": ann_id, "role": "owner"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["email"], "ann@example.com");
    assert_eq!(r.json["role"], "owner");
    let r = app
        .post(
            "/api/v1/organizations/globex/users",
            t,
            json!({"user_id": bob_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["role"], "member");
    // Again: the role changes, the membership stays.
    let r = app
        .post(
            "/api/v1/organizations/globex/users",
            t,
            json!({"user_id": bob_id, "role": "admin"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["role"], "admin");
    // A role of the realm is a role too; anything else is not.
    let r = app
        .post(
            "/api/v1/organizations/initech/users",
            t,
            json!({"user_id": ann_id, "role": "user"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/api/v1/organizations/initech/users",
            t,
            json!({"user_id": bob_id, "role": "emperor"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(field_names(&r), ["role"]);
    let r = app
        .post(
            "/api/v1/organizations/initech/users",
            t,
            json!({"user_id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(field_names(&r), ["user_id"]);

    let r = app.get("/api/v1/organizations/globex/users", t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed: Vec<(&str, &str)> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [("ann@example.com", "owner"), ("bob@example.com", "admin")]
    );
    assert_eq!(r.json["total"], 2);

    let path = format!("/api/v1/organizations/globex/users/{bob_id}");
    assert_eq!(app.delete(&path, t).await.status, 204);
    assert_eq!(app.delete(&path, t).await.status, 404);
    assert_eq!(
        app.delete("/api/v1/organizations/globex/users/not-a-uuid", t)
            .await
            .status,
        404
    );
    let r = app.get("/api/v1/organizations/globex/users", t).await;
    assert_eq!(r.json["total"], 1);
    // Deleting the user ends its memberships.
    assert_eq!(
        app.delete(&format!("/api/v1/identity/users/{ann_id}"), t)
            .await
            .status,
        204
    );
    let r = app.get("/api/v1/organizations/globex/users", t).await;
    assert_eq!(r.json["total"], 0);
});

backend_tests!(
    organizations_stay_in_their_realm_and_need_their_permissions,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        let r = app
            .post(
                "/api/v1/realms",
                t,
                json!({"name": "acme", "admin": {"email": "boss@acme.example", "password": PW}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post("/api/v1/organizations", t, json!({"name": "globex"}))
            .await;
        let globex = r.json["id"].as_str().unwrap().to_owned();

        // acme's administrator sees only acme's organizations.
        let boss = app
            .post(
                "/api/v1/realms/acme/auth/login",
                None,
                json!({"email": "boss@acme.example", "password": PW}),
            )
            .await
            .json["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let b = Some(boss.as_str());
        let r = app.get("/api/v1/realms/acme/organizations", b).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 0);
        for path in [
            format!("/api/v1/realms/acme/organizations/{globex}"),
            "/api/v1/realms/acme/organizations/globex".to_owned(),
            format!("/api/v1/realms/acme/organizations/{globex}/users"),
        ] {
            assert_eq!(app.get(&path, b).await.status, 404, "{path}");
        }
        assert_eq!(
            app.delete(&format!("/api/v1/realms/acme/organizations/{globex}"), b)
                .await
                .status,
            404
        );
        // A parent from another realm is no parent.
        let r = app
            .post(
                "/api/v1/realms/acme/organizations",
                b,
                json!({"name": "sub", "parent": globex}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        // A user of another realm is no member.
        let r = app
            .post(
                "/api/v1/realms/acme/organizations",
                b,
                json!({"name": "acme-hq"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let main_user = app.user("uma@example.com").await;
        let uma = claims(&main_user.access_token)["sub"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = app
            .post(
                "/api/v1/realms/acme/organizations/acme-hq/users",
                b,
                json!({"user_id": uma}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        // The server's administrator acts in acme.
        let r = app.get("/api/v1/realms/acme/organizations", t).await;
        assert_eq!(r.json["total"], 1, "{}", r.text);

        // Without the permissions: 403, before anything is read.
        let u = Some(main_user.access_token.as_str());
        assert_eq!(app.get("/api/v1/organizations", u).await.status, 403);
        assert_eq!(app.get("/api/v1/organizations/globex", u).await.status, 403);
        let r = app
            .post("/api/v1/organizations", u, json!({"name": "mine"}))
            .await;
        assert_eq!(r.status, 403);
        assert!(r.text.contains("organizations:manage:all"), "{}", r.text);
        assert_eq!(app.get("/api/v1/organizations", None).await.status, 401);
    }
);

backend_tests!(
    organization_admins_manage_their_members_and_nothing_else,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        for (name, parent) in [
            ("globex", None),
            ("globex-eu", Some("globex")),
            ("initech", None),
        ] {
            let r = app
                .post(
                    "/api/v1/organizations",
                    t,
                    json!({"name": name, "parent": parent}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        let initech = app.get("/api/v1/organizations/initech", t).await.json["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let id_of = |token: &portcullis_proto::TokenResponse| {
            claims(&token.access_token)["sub"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let ann = app.user("ann@example.com").await;
        let bob = app.user("bob@example.com").await;
        let dave = app.user("dave@example.com").await;
        let oscar = app.user("oscar@example.com").await;
        let put = |org: &'static str, user: String, role: &'static str| {
            let app = &app;
            async move {
                app.post(
                    &format!("/api/v1/organizations/{org}/users"),
                    t,
                    json!({"user_id": user, "role": role}),
                )
                .await
            }
        };
        assert_eq!(put("globex", id_of(&ann), "admin").await.status, 201);
        assert_eq!(put("globex-eu", id_of(&bob), "member").await.status, 201);
        assert_eq!(put("globex-eu", id_of(&oscar), "owner").await.status, 201);

        // Ann administers globex and, below it, globex-eu.
        let a = Some(ann.access_token.as_str());
        assert_eq!(app.get("/api/v1/organizations/globex", a).await.status, 200);
        let r = app.get("/api/v1/organizations/globex-eu/users", a).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 2);
        let r = app
            .post(
                "/api/v1/organizations/globex-eu/users",
                a,
                json!({"user_id": id_of(&dave)}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                "/api/v1/organizations/globex-eu/users",
                a,
                json!({"user_id": id_of(&bob), "role": "admin"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let dave_path = format!("/api/v1/organizations/globex-eu/users/{}", id_of(&dave));
        assert_eq!(app.delete(&dave_path, a).await.status, 204);

        // Not owners, nor realm roles: those stay with the realm's admins.
        for role in ["owner", "realm-admin", "user"] {
            let r = app
                .post(
                    "/api/v1/organizations/globex-eu/users",
                    a,
                    json!({"user_id": id_of(&dave), "role": role}),
                )
                .await;
            assert_eq!(r.status, 422, "{role}: {}", r.text);
        }
        let oscar_path = format!("/api/v1/organizations/globex-eu/users/{}", id_of(&oscar));
        assert_eq!(app.delete(&oscar_path, a).await.status, 409);
        let r = app
            .post(
                "/api/v1/organizations/globex-eu/users",
                a,
                json!({"user_id": id_of(&oscar), "role": "member"}),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);

        // Nothing else: other organizations (existing or not: the same
        // answer), the organization itself, the realm's lists and APIs.
        for path in [
            "/api/v1/organizations/initech".to_owned(),
            format!("/api/v1/organizations/{initech}"),
            "/api/v1/organizations/initech/users".to_owned(),
            "/api/v1/organizations/no-such-org".to_owned(),
            "/api/v1/organizations/no-such-org/users".to_owned(),
            "/api/v1/organizations".to_owned(),
            "/api/v1/identity/users".to_owned(),
            "/api/v1/rbac/roles".to_owned(),
            "/api/v1/identity/groups".to_owned(),
        ] {
            let r = app.get(&path, a).await;
            assert_eq!(r.status, 403, "{path}: {}", r.text);
        }
        let r = app
            .post(
                "/api/v1/organizations/initech/users",
                a,
                json!({"user_id": id_of(&dave)}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/organizations/globex",
                a,
                Some(json!({"display_name": "Mine"})),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        assert_eq!(
            app.delete("/api/v1/organizations/globex-eu", a)
                .await
                .status,
            403
        );
        let r = app
            .post(
                "/api/v1/organizations",
                a,
                json!({"name": "annex", "parent": "globex"}),
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.text);

        // A member is no administrator.
        let d = Some(dave.access_token.as_str());
        assert_eq!(
            app.get("/api/v1/organizations/globex-eu/users", d)
                .await
                .status,
            403
        );
        // Bob became an admin of globex-eu only.
        let b = Some(bob.access_token.as_str());
        assert_eq!(
            app.get("/api/v1/organizations/globex-eu/users", b)
                .await
                .status,
            200
        );
        assert_eq!(
            app.get("/api/v1/organizations/globex/users", b)
                .await
                .status,
            403
        );

        // Revoked at once: Ann's next request is refused.
        let ann_path = format!("/api/v1/organizations/globex/users/{}", id_of(&ann));
        assert_eq!(app.delete(&ann_path, t).await.status, 204);
        assert_eq!(
            app.get("/api/v1/organizations/globex-eu/users", a)
                .await
                .status,
            403
        );
    }
);

backend_tests!(
    the_engine_sees_organizations_as_attributes_and_roles,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        app.post("/api/v1/organizations", t, json!({"name": "initech"}))
            .await;
        let r = app
            .post(
                "/api/v1/rbac/roles",
                t,
                json!({"name": "auditor", "permissions": ["reports:read:all"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                "/api/v1/rbac/policies",
                t,
                json!({"name": "initech-wiki", "effect": "ALLOW",
                    "resources": ["wiki"], "actions": ["read"],
                    "condition": {"in": ["initech", {"var": "subject.attributes.organizations"}]}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let carol = app.user("carol@example.com").await;
        let c = carol.access_token.as_str();
        let ask = |kind: &'static str| json!({"action": "read", "resource": {"type": kind}});
        let app = &app;
        let check = |body: Value| async move {
            let r = app.post("/api/v1/authz/check", Some(c), body).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json["allowed"].as_bool().unwrap()
        };
        assert!(!check(ask("reports")).await);
        assert!(!check(ask("wiki")).await);
        let carol_id = claims(c)["sub"].as_str().unwrap().to_owned();
        let r = app
            .post(
                "/api/v1/organizations/initech/users",
                t,
                json!({"user_id": carol_id, "role": "auditor"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        // The membership changed the realm's revision: read at once.
        assert!(check(ask("reports")).await, "the organization role is held");
        assert!(check(ask("wiki")).await, "the organization is an attribute");
        let r = app
            .delete(
                &format!("/api/v1/organizations/initech/users/{carol_id}"),
                t,
            )
            .await;
        assert_eq!(r.status, 204);
        assert!(!check(ask("reports")).await);
        assert!(!check(ask("wiki")).await);
    }
);
