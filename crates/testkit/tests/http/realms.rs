use super::*;

backend_tests!(realm_administration, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/realms",
            Some(&admin),
            json!({"name": "acme", "display_name": "ACME Corp"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["issuer"], format!("{}/realms/acme", app.base));
    assert_eq!(r.json["signing_alg"], "EdDSA");
    let r = app
        .post("/api/v1/realms", Some(&admin), json!({"name": "acme"}))
        .await;
    assert_eq!(r.status, 409);
    let r = app
        .post(
            "/api/v1/realms",
            Some(&admin),
            json!({"name": "Not Valid!", "signing_alg": "HS256"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 2);
    let list = app.get("/api/v1/realms", Some(&admin)).await;
    let names: Vec<_> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["acme", "main"]);
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/realms/acme",
            Some(&admin),
            Some(json!({"display_name": "Acme", "password_min_length": 12})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["display_name"], "Acme");
    assert_eq!(r.json["password_min_length"], 12);
    let r = app
        .post(
            "/api/v1/realms/acme/auth/register",
            None,
            json!({"email": "x@example.com", "password": "eleven char"}),
        )
        .await;
    assert_eq!(r.status, 422, "min length 12 applies");
    assert_eq!(
        app.get("/api/v1/realms/acme", Some(&admin)).await.status,
        200
    );
    assert_eq!(
        app.get("/api/v1/realms/nope", Some(&admin)).await.status,
        404
    );
    assert_eq!(
        app.delete("/api/v1/realms/main", Some(&admin)).await.status,
        409
    );
    assert_eq!(
        app.delete("/api/v1/realms/acme", Some(&admin)).await.status,
        204
    );
    assert_eq!(
        app.get("/api/v1/realms/acme", Some(&admin)).await.status,
        404
    );
    assert_eq!(
        app.post(
            "/api/v1/realms/acme/auth/login",
            None,
            json!({"email": "x@example.com", "password": PW})
        )
        .await
        .status,
        404
    );
});

backend_tests!(
    realm_administration_needs_a_default_realm_admin,
    |app: TestApp| async move {
        let user = app.user("uma@example.com").await;
        assert_eq!(app.get("/api/v1/realms", None).await.status, 401);
        assert_eq!(
            app.get("/api/v1/realms", Some(&user.access_token))
                .await
                .status,
            403
        );
        assert_eq!(
            app.post(
                "/api/v1/realms",
                Some(&user.access_token),
                json!({"name": "x"})
            )
            .await
            .status,
            403
        );
    }
);

backend_tests!(tenants_are_isolated, |app: TestApp| async move {
    let admin = app.admin_token().await;
    app.post("/api/v1/realms", Some(&admin), json!({"name": "other"}))
        .await;
    // The same email in two realms is two accounts.
    app.register("victor@example.com", PW).await;
    let r = app
        .post(
            "/api/v1/realms/other/auth/register",
            None,
            json!({"email": "victor@example.com", "password": "other realm pass"}),
        )
        .await;
    assert_eq!(r.status, 201);
    let other_user_id = r.json["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            "/api/v1/realms/other/auth/login",
            None,
            json!({"email": "victor@example.com", "password": PW}),
        )
        .await;
    assert_eq!(
        r.status, 401,
        "main's password does not open other's account"
    );
    let r = app
        .post(
            "/api/v1/realms/other/auth/login",
            None,
            json!({"email": "victor@example.com", "password": "other realm pass"}),
        )
        .await;
    let other_token = r.json["access_token"].as_str().unwrap().to_owned();
    // A token of one realm is worthless in another.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&other_token)).await.status,
        401
    );
    assert_eq!(
        app.get("/api/v1/realms/main/auth/me", Some(&other_token))
            .await
            .status,
        401
    );
    assert_eq!(
        app.get("/api/v1/realms/other/auth/me", Some(&other_token))
            .await
            .status,
        200
    );
    let v = app
        .post("/api/v1/auth/validate", None, json!({"token": other_token}))
        .await;
    assert_eq!(v.json["active"], false);
    let v = app
        .post(
            "/api/v1/realms/other/auth/validate",
            None,
            json!({"token": other_token}),
        )
        .await;
    assert_eq!(v.json["active"], true);
    // main's administrator cannot reach other's users through main's routes;
    // through other's, it administers that realm on behalf of the server
    // (see cross_realm.rs).
    let r = app
        .get(
            &format!("/api/v1/identity/users/{other_user_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .get(
            &format!("/api/v1/realms/other/identity/users/{other_user_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200);
    let list = app
        .get("/api/v1/identity/users?email=victor", Some(&admin))
        .await;
    assert_eq!(list.json["total"], 1);
});

backend_tests!(disabled_realms_refuse_logins, |app: TestApp| async move {
    let admin = app.admin_token().await;
    app.post("/api/v1/realms", Some(&admin), json!({"name": "paused"}))
        .await;
    let r = app
        .post(
            "/api/v1/realms/paused/auth/register",
            None,
            json!({"email": "w@example.com", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 201);
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/realms/paused",
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            "/api/v1/realms/paused/auth/login",
            None,
            json!({"email": "w@example.com", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/realms/main",
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 409);
});
