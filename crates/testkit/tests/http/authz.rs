use super::*;

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> portcullis_testkit::Reply {
    app.call(reqwest::Method::PATCH, path, Some(token), Some(body))
        .await
}

async fn check(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/authz/check", Some(token), body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

fn user_id(token: &portcullis_proto::TokenResponse) -> String {
    claims(&token.access_token)["sub"]
        .as_str()
        .unwrap()
        .to_owned()
}

backend_tests!(admin_api_needs_permissions, |app: TestApp| async move {
    let user = app.user("plain@example.com").await;
    let t = Some(user.access_token.as_str());
    assert_eq!(app.get("/api/v1/rbac/roles", None).await.status, 401);
    assert_eq!(app.get("/api/v1/rbac/roles", t).await.status, 403);
    let r = app
        .post("/api/v1/rbac/roles", t, json!({"name": "sneaky"}))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.get("/api/v1/identity/groups", t).await.status, 403);
    assert_eq!(app.get("/api/v1/rbac/policies", t).await.status, 403);
    // A plain user may check itself but nobody else.
    let me = check(
        &app,
        &user.access_token,
        json!({"action": "read", "resource": {"type": "documents"}}),
    )
    .await;
    assert_eq!(me["allowed"], false);
    let other = app.user("other@example.com").await;
    let r = app
        .post(
            "/api/v1/authz/check",
            t,
            json!({"subject": user_id(&other), "action": "read", "resource": {"type": "documents"}}),
        )
        .await;
    assert_eq!(r.status, 403);
});

backend_tests!(
    builtin_roles_and_bootstrap_admin,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app.get("/api/v1/rbac/roles", Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let names: Vec<&str> = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"realm-admin") && names.contains(&"user"),
            "{names:?}"
        );
        let r = app
            .delete("/api/v1/rbac/roles/realm-admin", Some(&admin))
            .await;
        assert_eq!(r.status, 409);
        let me = app.get("/api/v1/auth/me", Some(&admin)).await;
        assert_eq!(me.json["admin"], true);
    }
);

backend_tests!(role_grant_check_and_revision, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let alice = app.user("alice@example.com").await;
    let alice_id = user_id(&alice);
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "reader", "description": "Reads documents", "permissions": ["documents:read:all"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rev0 = r.json["revision"].as_i64().unwrap();
    let role_id = r.json["id"].as_str().unwrap().to_owned();
    // By name and by id.
    assert_eq!(
        app.get("/api/v1/rbac/roles/reader", Some(&admin))
            .await
            .json["id"],
        role_id
    );
    assert_eq!(
        app.get(&format!("/api/v1/rbac/roles/{role_id}"), Some(&admin))
            .await
            .json["name"],
        "reader"
    );
    let body = json!({"subject": alice_id, "action": "read", "resource": {"type": "documents", "id": "7"}, "explain": true});
    let before = check(&app, &admin, body.clone()).await;
    assert_eq!(before["allowed"], false);
    assert_eq!(before["reason"], "no_match");
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{alice_id}/roles"),
            Some(&admin),
            json!({"role": "reader"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let rev1 = r.json["revision"].as_i64().unwrap();
    assert!(rev1 > rev0);
    let mut b = body.clone();
    b["min_revision"] = json!(rev1);
    let after = check(&app, &admin, b).await;
    assert_eq!(after["allowed"], true, "{after}");
    assert_eq!(after["reason"], "role_allow");
    assert_eq!(after["revision"], rev1);
    assert!(after["explanation"].is_object());
    // Alice checks herself (subject omitted).
    let own = check(
        &app,
        &alice.access_token,
        json!({"action": "read", "resource": {"type": "documents"}}),
    )
    .await;
    assert_eq!(own["allowed"], true);
    // A revision from the future is refused.
    let mut b = body.clone();
    b["min_revision"] = json!(rev1 + 1000);
    let r = app.post("/api/v1/authz/check", Some(&admin), b).await;
    assert_eq!(r.status, 422);
    // Revoke.
    let r = app
        .delete(
            &format!("/api/v1/rbac/users/{alice_id}/roles/reader"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(check(&app, &admin, body.clone()).await["allowed"], false);
    // Effective permissions with an ETag.
    let r = app
        .get(
            &format!("/api/v1/authz/users/{alice_id}/permissions"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let etag = r.header("etag").unwrap().to_owned();
    let r = app
        .http
        .get(app.url(&format!("/api/v1/authz/users/{alice_id}/permissions")))
        .bearer_auth(&admin)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
});

backend_tests!(direct_deny_wins_and_expiry, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let bob = app.user("bob@example.com").await;
    let bob_id = user_id(&bob);
    app.post(
        "/api/v1/rbac/roles",
        Some(&admin),
        json!({"name": "editor", "permissions": ["documents:*:all"]}),
    )
    .await;
    let in_an_hour = (time::OffsetDateTime::now_utc() + Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{bob_id}/roles"),
            Some(&admin),
            json!({"role": "editor", "expires_at": in_an_hour}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let del = json!({"subject": bob_id, "action": "delete", "resource": {"type": "documents"}});
    assert_eq!(check(&app, &admin, del.clone()).await["allowed"], true);
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{bob_id}/permissions"),
            Some(&admin),
            json!({"permission": "documents:delete:all", "effect": "deny"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = check(&app, &admin, del.clone()).await;
    assert_eq!(d["allowed"], false);
    assert_eq!(d["reason"], "direct_deny");
    let read = json!({"subject": bob_id, "action": "read", "resource": {"type": "documents"}});
    assert_eq!(check(&app, &admin, read.clone()).await["allowed"], true);
    // The role grant expires: no cleanup needed for it to stop counting.
    app.clock.advance(Duration::hours(2));
    let admin = app.admin_token().await;
    assert_eq!(check(&app, &admin, read).await["allowed"], false);
    // An expiry in the past is refused.
    let past = (time::OffsetDateTime::now_utc() - Duration::hours(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{bob_id}/roles"),
            Some(&admin),
            json!({"role": "editor", "expires_at": past}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["field"], "expires_at");
});

backend_tests!(
    groups_inherit_down_the_hierarchy,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let carol = app.user("carol@example.com").await;
        let carol_id = user_id(&carol);
        for (name, parent) in [("platform", None), ("engineering", Some("platform"))] {
            let r = app
                .post(
                    "/api/v1/identity/groups",
                    Some(&admin),
                    json!({"name": name, "parent": parent}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
        app.post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "deployer", "permissions": ["deployments:create:team"]}),
        )
        .await;
        let r = app
            .post(
                "/api/v1/identity/groups/platform/roles",
                Some(&admin),
                json!({"role": "deployer"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                "/api/v1/identity/groups/engineering/members",
                Some(&admin),
                json!({"user_id": carol_id}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let d = check(
        &app,
        &admin,
        json!({"subject": carol_id, "action": "create", "resource": {"type": "deployments", "team": "engineering"}, "explain": true}),
    )
    .await;
        assert_eq!(d["allowed"], true, "{d}");
        let text = d["explanation"].to_string();
        assert!(
            text.contains("engineering") && text.contains("platform") && text.contains("deployer"),
            "{text}"
        );
        // Another team's resource needs scope all.
        let d = check(
        &app,
        &admin,
        json!({"subject": carol_id, "action": "create", "resource": {"type": "deployments", "team": "sales"}}),
    )
    .await;
        assert_eq!(d["allowed"], false);
        // A cycle is refused and names the field.
        let r = patch(
            &app,
            "/api/v1/identity/groups/platform",
            &admin,
            json!({"parent": "engineering"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "parent");
        let members = app
            .get("/api/v1/identity/groups/engineering/members", Some(&admin))
            .await;
        assert_eq!(members.json["items"].as_array().unwrap().len(), 1);
    }
);

backend_tests!(role_composition_and_cycles, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let dave = app.user("dave@example.com").await;
    let dave_id = user_id(&dave);
    app.post(
        "/api/v1/rbac/roles",
        Some(&admin),
        json!({"name": "base", "permissions": ["reports:read:all"]}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "lead", "includes": ["base"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post(
        &format!("/api/v1/rbac/users/{dave_id}/roles"),
        Some(&admin),
        json!({"role": "lead"}),
    )
    .await;
    let d = check(
        &app,
        &admin,
        json!({"subject": dave_id, "action": "read", "resource": {"type": "reports"}}),
    )
    .await;
    assert_eq!(d["allowed"], true);
    let r = patch(
        &app,
        "/api/v1/rbac/roles/base",
        &admin,
        json!({"includes": ["lead"]}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(
        r.json["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("includes")
    );
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "bad", "permissions": ["nope"]}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["field"], "permissions[0]");
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "bad", "includes": ["ghost"]}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["field"], "includes[0]");
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{dave_id}/roles"),
            Some(&admin),
            json!({"role": "ghost"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["field"], "role");
    let r = app
        .post("/api/v1/rbac/roles", Some(&admin), json!({"name": "base"}))
        .await;
    assert_eq!(r.status, 409);
});

backend_tests!(policies_in_both_syntaxes, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let erin = app.user("erin@example.com").await;
    let erin_id = user_id(&erin);
    // Seed 001's example, as written.
    let r = app
        .post(
            "/api/v1/rbac/policies",
            Some(&admin),
            json!({
                "name": "Business Hours Only",
                "resource": "sensitive_data",
                "condition": {"and": [
                    {">=": [{"var": "hour"}, 9]},
                    {"<=": [{"var": "hour"}, 17]},
                    {"in": [{"var": "day"}, [1, 2, 3, 4, 5]]}
                ]},
                "effect": "ALLOW",
                "priority": 100
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let hour = portcullis_core::Clock::now(&app.clock).hour();
    let day = portcullis_core::Clock::now(&app.clock)
        .weekday()
        .number_from_monday();
    let expected = (9..=17).contains(&hour) && day <= 5;
    let d = check(
        &app,
        &admin,
        json!({"subject": erin_id, "action": "read", "resource": {"type": "sensitive_data"}}),
    )
    .await;
    assert_eq!(d["allowed"], expected, "{d}");
    // IAM-style document: deny from an address range.
    let r = app
        .post(
            "/api/v1/rbac/policies",
            Some(&admin),
            json!({"name": "no-lab", "priority": 5, "document": {
                "Version": "2012-10-17",
                "Statement": [{"Sid": "NoLab", "Effect": "Deny", "Action": "*", "Resource": "*",
                    "Condition": {"IpAddress": {"context.ip": "10.9.0.0/16"}}}]
            }}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post(
        &format!("/api/v1/rbac/users/{erin_id}/permissions"),
        Some(&admin),
        json!({"permission": "files:read:all"}),
    )
    .await;
    let from = |ip: &str| json!({"subject": erin_id, "action": "read", "resource": {"type": "files"}, "context": {"ip": ip}});
    assert_eq!(
        check(&app, &admin, from("192.168.1.1")).await["allowed"],
        true
    );
    let d = check(&app, &admin, from("10.9.3.4")).await;
    assert_eq!(d["allowed"], false);
    assert_eq!(d["reason"], "policy_deny");
    // Bad input: unknown operator, unknown IAM field, too deep.
    let r = app
        .post(
            "/api/v1/rbac/policies",
            Some(&admin),
            json!({"name": "x", "effect": "ALLOW", "condition": {"frobnicate": [1]}}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = app
        .post("/api/v1/rbac/policies", Some(&admin), json!({"name": "y", "document": {"Version": "2012-10-17", "Statement": [], "Extra": 1}}))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let mut deep = json!(true);
    for _ in 0..100 {
        deep = json!({"!": [deep]});
    }
    let r = app
        .post(
            "/api/v1/rbac/policies",
            Some(&admin),
            json!({"name": "z", "effect": "ALLOW", "condition": deep}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let list = app.get("/api/v1/rbac/policies", Some(&admin)).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 2);
});

backend_tests!(batch_checks_share_a_revision, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let frank = app.user("frank@example.com").await;
    let fid = user_id(&frank);
    app.post(
        &format!("/api/v1/rbac/users/{fid}/permissions"),
        Some(&admin),
        json!({"permission": "notes:read:own"}),
    )
    .await;
    let r = app
        .post(
            "/api/v1/authz/check-batch",
            Some(&admin),
            json!({"checks": [
                {"subject": fid, "action": "read", "resource": {"type": "notes", "owner": fid}},
                {"subject": fid, "action": "read", "resource": {"type": "notes", "owner": "someone-else"}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["results"][0]["allowed"], true);
    assert_eq!(r.json["results"][1]["allowed"], false);
    assert_eq!(r.json["results"][0]["revision"], r.json["revision"]);
    let r = app
        .post(
            "/api/v1/authz/check-batch",
            Some(&admin),
            json!({"checks": []}),
        )
        .await;
    assert_eq!(r.status, 422);
    // The bearer's own authorize.
    let r = app
        .post(
            "/api/v1/auth/authorize",
            Some(&frank.access_token),
            json!({"resource": "notes", "action": "read", "owner": fid}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["allowed"], true);
});

backend_tests!(realms_are_isolated, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app
        .post("/api/v1/realms", Some(&admin), json!({"name": "acme"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post(
        "/api/v1/rbac/roles",
        Some(&admin),
        json!({"name": "main-only"}),
    )
    .await;
    // The main realm's admin sees acme's roles (acting on behalf of the
    // server), not main's.
    let r = app
        .get("/api/v1/realms/acme/rbac/roles", Some(&admin))
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("main-only"), "{}", r.text);
    // A plain user of main is refused there.
    let user = app.user("plain@example.com").await;
    let r = app
        .get("/api/v1/realms/acme/rbac/roles", Some(&user.access_token))
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .get("/api/v1/realms/main/rbac/roles/main-only", Some(&admin))
        .await;
    assert_eq!(r.status, 200);
});

backend_tests!(
    realm_time_zone_decides_hour_and_day,
    |app: TestApp| async move {
        // Monday 23:30 in UTC is Tuesday 00:30 in Paris.
        app.clock.set(time::macros::datetime!(2026-11-23 23:30 UTC));
        let admin = app.admin_token().await;
        let erin = app.user("erin@example.com").await;
        let erin_id = user_id(&erin);
        let r = app
            .post(
                "/api/v1/rbac/policies",
                Some(&admin),
                json!({
                    "name": "Tuesday night shift",
                    "resources": ["reports"],
                    "actions": ["read"],
                    "condition": {"and": [
                        {"==": [{"var": "hour"}, 0]},
                        {"==": [{"var": "weekday"}, "tuesday"]}
                    ]},
                    "effect": "ALLOW"
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let ask = json!({"subject": erin_id, "action": "read", "resource": {"type": "reports"}});
        assert_eq!(check(&app, &admin, ask.clone()).await["allowed"], false);

        let r = patch(
            &app,
            "/api/v1/realms/main",
            &admin,
            json!({"time_zone": "Europe/Paris"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["time_zone"], "Europe/Paris");
        assert_eq!(check(&app, &admin, ask.clone()).await["allowed"], true);

        for bad in ["Mars/Olympus_Mons", "../../etc/passwd", "", "UTC+1"] {
            let r = patch(
                &app,
                "/api/v1/realms/main",
                &admin,
                json!({"time_zone": bad}),
            )
            .await;
            // The realm and user APIs answer invalid fields with 422.
            assert_eq!(r.status, 422, "{bad}: {}", r.text);
            assert_eq!(r.json["errors"][0]["field"], "time_zone", "{}", r.text);
        }
        let r = app.get("/api/v1/realms/main", Some(&admin)).await;
        assert_eq!(r.json["time_zone"], "Europe/Paris");
    }
);

backend_tests!(
    stored_user_attributes_feed_conditions,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/identity/users",
                Some(&admin),
                json!({
                    "email": "fiona@example.com",
                    "password": "a perfectly fine passphrase",
                    "attributes": {"department": "finance", "clearance": 2}
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["attributes"]["department"], "finance");
        assert_eq!(r.json["roles"], json!(["user"]));
        assert_eq!(r.json["admin"], false);
        let fiona = r.json["id"].as_str().unwrap().to_owned();
        let r = app
            .post(
                "/api/v1/rbac/policies",
                Some(&admin),
                json!({
                    "name": "finance reads ledgers",
                    "resources": ["ledgers"],
                    "actions": ["read"],
                    "condition": {"and": [
                        {"==": [{"var": "subject.attributes.department"}, "finance"]},
                        {">=": [{"var": "subject.attributes.clearance"}, 2]}
                    ]},
                    "effect": "ALLOW"
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let ask = json!({"subject": fiona, "action": "read", "resource": {"type": "ledgers"}});
        let d = check(&app, &admin, ask.clone()).await;
        assert_eq!(d["allowed"], true, "{d}");

        // A move to sales takes effect at once, with a new revision.
        let path = format!("/api/v1/identity/users/{fiona}");
        let r = app
            .call(
                reqwest::Method::PUT,
                &path,
                Some(&admin),
                Some(json!({"email": "fiona@example.com", "attributes": {"department": "sales"}})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["attributes"], json!({"department": "sales"}));
        let after = check(&app, &admin, ask.clone()).await;
        assert_eq!(after["allowed"], false, "{after}");
        assert!(after["revision"].as_i64() > d["revision"].as_i64());

        // Leaving attributes out of a PUT keeps them.
        let r = app
            .call(
                reqwest::Method::PUT,
                &path,
                Some(&admin),
                Some(json!({"email": "fiona@example.com", "name": "Fiona"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["attributes"], json!({"department": "sales"}));

        let many: serde_json::Map<String, Value> =
            (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        for bad in [json!({"a.b": 1}), json!({"": 1}), Value::Object(many), deep] {
            let r = app
                .call(
                    reqwest::Method::PUT,
                    &path,
                    Some(&admin),
                    Some(json!({"email": "fiona@example.com", "attributes": bad})),
                )
                .await;
            assert_eq!(r.status, 422, "{}", r.text);
            assert_eq!(r.json["errors"][0]["field"], "attributes", "{}", r.text);
        }
        let r = app.get(&path, Some(&admin)).await;
        assert_eq!(r.json["attributes"], json!({"department": "sales"}));
    }
);

backend_tests!(access_tokens_carry_roles, |app: TestApp| async move {
    let admin = app.admin_token().await;
    assert_eq!(claims(&admin)["roles"], json!(["realm-admin", "user"]));
    let gus = app.user("gus@example.com").await;
    assert_eq!(claims(&gus.access_token)["roles"], json!(["user"]));
    assert_eq!(gus.user.as_ref().unwrap().roles, ["user"]);
    let gus_id = user_id(&gus);

    // Roles through a group and an inclusion count too; a refresh picks up
    // changes.
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "auditor", "permissions": ["audit:read:all"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "lead", "includes": ["auditor"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/api/v1/identity/groups",
            Some(&admin),
            json!({"name": "leads"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for (path, body) in [
        (
            "/api/v1/identity/groups/leads/roles",
            json!({"role": "lead"}),
        ),
        (
            "/api/v1/identity/groups/leads/members",
            json!({"user_id": gus_id}),
        ),
    ] {
        let r = app.post(path, Some(&admin), body).await;
        assert!((200..300).contains(&r.status), "{path}: {}", r.text);
    }
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": gus.refresh_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["roles"], json!(["auditor", "lead", "user"]));

    // Realms may leave the claim out.
    let r = patch(
        &app,
        "/api/v1/realms/main",
        &admin,
        json!({"roles_claim": false}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["roles_claim"], false);
    let again = app
        .login("gus@example.com", "a perfectly fine passphrase")
        .await;
    assert!(claims(&again.access_token).get("roles").is_none());
    assert_eq!(again.user.unwrap().roles, ["auditor", "lead", "user"]);
});

backend_tests!(permission_catalogue, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/rbac/permissions",
            Some(&admin),
            json!({"permission": "reports:read:team", "description": "Reports of one's teams"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["defined"], true);
    assert_eq!(r.json["description"], "Reports of one's teams");
    assert_eq!(r.json["roles"], json!([]));
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "reporter", "permissions": ["reports:read:team"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app.get("/api/v1/rbac/permissions", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    let reports = items
        .iter()
        .find(|i| i["permission"] == "reports:read:team")
        .unwrap();
    assert_eq!(reports["roles"], json!(["reporter"]));
    assert_eq!(reports["defined"], true);
    // Built-in roles' permissions are listed, undeclared.
    let builtin = items
        .iter()
        .find(|i| i["permission"] == "users:manage:all")
        .unwrap();
    assert_eq!(builtin["defined"], false);

    for (body, field) in [
        (json!({"permission": "reports:read"}), "permission"),
        (
            json!({"permission": "a:b:all", "description": "x".repeat(1025)}),
            "description",
        ),
    ] {
        let r = app
            .post("/api/v1/rbac/permissions", Some(&admin), body)
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["errors"][0]["field"], field, "{}", r.text);
    }
    let r = app
        .post(
            "/api/v1/rbac/permissions",
            Some(&admin),
            json!({"permission": "a:b:all", "extra": 1}),
        )
        .await;
    // An unknown field is a body of the wrong shape.
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.json["type"], "urn:portcullis:problem:validation-error");
    let plain = app.user("plain@example.com").await;
    let r = app
        .post(
            "/api/v1/rbac/permissions",
            Some(&plain.access_token),
            json!({"permission": "a:b:all"}),
        )
        .await;
    assert_eq!(r.status, 403);

    let r = app
        .delete("/api/v1/rbac/permissions/reports:read:team", Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .delete("/api/v1/rbac/permissions/reports:read:team", Some(&admin))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // The role still grants it.
    let r = app.get("/api/v1/rbac/permissions", Some(&admin)).await;
    let reports = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["permission"] == "reports:read:team")
        .cloned()
        .unwrap();
    assert_eq!(reports["defined"], false);
    assert_eq!(reports["roles"], json!(["reporter"]));
});

backend_tests!(denied_checks_are_audited, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let alice = app.user("audited@example.com").await;
    let alice_id = user_id(&alice);
    let admin_id = claims(&admin)["sub"].as_str().unwrap().to_owned();
    let r = app
        .http
        .post(app.url("/api/v1/authz/check"))
        .bearer_auth(&admin)
        .header("x-request-id", "deny-1")
        .json(&json!({"subject": alice_id, "action": "delete", "resource": {"type": "invoices", "id": "9", "owner": "someone"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // In a batch, each denied check is a record; the allowed one is not.
    let r = app
        .post(
            "/api/v1/authz/check-batch",
            Some(&admin),
            json!({"checks": [
                {"subject": alice_id, "action": "approve", "resource": {"type": "invoices"}},
                {"action": "read", "resource": {"type": "users"}},
                {"subject": alice_id, "action": "pay", "resource": {"type": "invoices"}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let decided: Vec<bool> = r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["allowed"].as_bool().unwrap())
        .collect();
    assert_eq!(decided, [false, true, false]);

    // Records are written off the request's path; flushing waits for them.
    app.core.flush_audit().await;
    let realm = app.core.realms().default_realm().await.unwrap();
    let records = app.core.store().list_audit(realm.id, 100).await.unwrap();
    let denied: Vec<_> = records
        .iter()
        .filter(|r| r.action == "authz.check.deny")
        .collect();
    let actions: Vec<&str> = denied
        .iter()
        .map(|r| r.after.as_ref().unwrap()["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.len(), 3, "{actions:?}");
    for action in ["delete", "approve", "pay"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    let first = denied
        .iter()
        .find(|r| r.after.as_ref().unwrap()["action"] == "delete")
        .unwrap();
    assert_eq!(first.request_id.as_deref(), Some("deny-1"));
    assert_eq!(first.target, format!("user:{alice_id}"));
    assert_eq!(first.actor.map(|a| a.to_string()), Some(admin_id));
    let after = first.after.as_ref().unwrap();
    assert_eq!(after["resource"]["type"], "invoices");
    assert_eq!(after["resource"]["owner"], "someone");
    assert_eq!(after["reason"], "no_match");

    // Many denied checks at once: every one is written, none twice.
    let tasks: Vec<_> = (0..150)
        .map(|n| {
            let http = app.http.clone();
            let url = app.url("/api/v1/authz/check");
            let admin = admin.clone();
            let alice_id = alice_id.clone();
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .bearer_auth(admin)
                    .json(&json!({"subject": alice_id, "action": format!("burst{n}"), "resource": {"type": "invoices"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    app.core.flush_audit().await;
    let records = app.core.store().list_audit(realm.id, 1000).await.unwrap();
    let mut burst: Vec<&str> = records
        .iter()
        .filter_map(|r| r.after.as_ref()?["action"].as_str())
        .filter(|a| a.starts_with("burst"))
        .collect();
    burst.sort_unstable();
    burst.dedup();
    assert_eq!(burst.len(), 150);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.action == "authz.check.deny")
            .count(),
        153
    );
});

backend_tests!(
    administrators_cannot_lock_the_realm_out_of_its_administration,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let me = app.get("/api/v1/auth/me", Some(&admin)).await;
        let admin_id = me.json["id"].as_str().unwrap().to_owned();
        let before = app
            .get("/api/v1/rbac/roles/realm-admin", Some(&admin))
            .await;
        assert_eq!(before.status, 200, "{}", before.text);
        let kept = before.json["permissions"].clone();
        let one = kept[0].as_str().unwrap().to_owned();

        // Emptying the built-in role, or removing one of its permissions, is
        // refused: no administrator could administer the realm any more.
        let r = patch(
            &app,
            "/api/v1/rbac/roles/realm-admin",
            &admin,
            json!({"permissions": []}),
        )
        .await;
        assert_eq!(r.status, 409, "{}", r.text);
        let r = app
            .call(
                reqwest::Method::DELETE,
                "/api/v1/rbac/roles/realm-admin/permissions",
                Some(&admin),
                Some(json!({"permission": one})),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        // Adding one is fine, and so is removing what was added.
        let r = app
            .post(
                "/api/v1/rbac/roles/realm-admin/permissions",
                Some(&admin),
                json!({"permission": "reports:read:all"}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app
            .call(
                reqwest::Method::DELETE,
                "/api/v1/rbac/roles/realm-admin/permissions",
                Some(&admin),
                Some(json!({"permission": "reports:read:all"})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let after = app
            .get("/api/v1/rbac/roles/realm-admin", Some(&admin))
            .await;
        assert_eq!(after.json["permissions"], kept);

        // An administrator cannot revoke his own role (as PUT
        // /identity/users/{id} refuses), but may revoke another's.
        let r = app
            .delete(
                &format!("/api/v1/rbac/users/{admin_id}/roles/realm-admin"),
                Some(&admin),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert!(
            r.text.contains("your own administrator rights"),
            "{}",
            r.text
        );
        let other = app.user("second-admin@example.com").await;
        let other_id = user_id(&other);
        let r = app
            .post(
                &format!("/api/v1/rbac/users/{other_id}/roles"),
                Some(&admin),
                json!({"role": "realm-admin"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .delete(
                &format!("/api/v1/rbac/users/{other_id}/roles/realm-admin"),
                Some(&admin),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        // The administrator still administers.
        assert_eq!(
            app.get("/api/v1/rbac/roles", Some(&admin)).await.status,
            200
        );
    }
);
