use super::*;

backend_tests!(
    admin_api_needs_an_administrator,
    |app: TestApp| async move {
        let user = app.user("xena@example.com").await;
        assert_eq!(app.get("/api/v1/identity/users", None).await.status, 401);
        let r = app
            .get("/api/v1/identity/users", Some(&user.access_token))
            .await;
        assert_eq!(r.status, 403);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        let r = app
            .post(
                "/api/v1/identity/users",
                Some(&user.access_token),
                json!({"email": "y@example.com"}),
            )
            .await;
        assert_eq!(r.status, 403);
    }
);

backend_tests!(user_crud, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/identity/users",
            Some(&admin),
            json!({"email": "yara@example.com", "name": "Yara", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    app.login("yara@example.com", PW).await;
    let r = app
        .post(
            "/api/v1/identity/users",
            Some(&admin),
            json!({"email": "YARA@example.com"}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = app
        .post(
            "/api/v1/identity/users",
            Some(&admin),
            json!({"email": "bad", "password": "short"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 2);
    let r = app
        .get(&format!("/api/v1/identity/users/{id}"), Some(&admin))
        .await;
    assert_eq!(r.json["name"], "Yara");
    let r = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/identity/users/{id}"),
            Some(&admin),
            Some(json!({"email": "yara.new@example.com", "name": "Yara N", "admin": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "yara.new@example.com");
    assert_eq!(r.json["admin"], true);
    assert_eq!(
        app.get(
            &format!("/api/v1/identity/users/{}", uuid::Uuid::now_v7()),
            Some(&admin)
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.get("/api/v1/identity/users/42", Some(&admin))
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete(&format!("/api/v1/identity/users/{id}"), Some(&admin))
            .await
            .status,
        204
    );
    assert_eq!(
        app.get(&format!("/api/v1/identity/users/{id}"), Some(&admin))
            .await
            .status,
        404
    );
    // An administrator cannot delete or deactivate themself.
    let me = app.get("/api/v1/auth/me", Some(&admin)).await;
    let my_id = me.json["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/identity/users/{my_id}"), Some(&admin))
            .await
            .status,
        409
    );
});

backend_tests!(user_list_paginates_and_filters, |app: TestApp| async move {
    let admin = app.admin_token().await;
    for i in 0..5 {
        app.register(&format!("zed{i}@example.com"), PW).await;
    }
    app.register("other@example.com", PW).await;
    let r = app
        .get("/api/v1/identity/users?per_page=2&page=1", Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["total"], 7);
    assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
    let r = app
        .get("/api/v1/identity/users?per_page=2&page=4", Some(&admin))
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1);
    let r = app
        .get("/api/v1/identity/users?email=ZED", Some(&admin))
        .await;
    assert_eq!(r.json["total"], 5);
    let emails: Vec<_> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        emails,
        [
            "zed0@example.com",
            "zed1@example.com",
            "zed2@example.com",
            "zed3@example.com",
            "zed4@example.com"
        ]
    );
    assert_eq!(
        app.get("/api/v1/identity/users?per_page=0", Some(&admin))
            .await
            .status,
        422
    );
    assert_eq!(
        app.get("/api/v1/identity/users?per_page=1000", Some(&admin))
            .await
            .status,
        422
    );
    assert_eq!(
        app.get("/api/v1/identity/users?page=abc", Some(&admin))
            .await
            .status,
        400
    );
});

backend_tests!(
    deactivation_ends_every_session_at_once,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let a = app.user("zoe@example.com").await;
        let b = app.login("zoe@example.com", PW).await;
        let r = app
            .post(
                &format!(
                    "/api/v1/identity/users/{}/deactivate",
                    a.user.as_ref().unwrap().id
                ),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200);
        for t in [&a, &b] {
            assert_eq!(
                app.get("/api/v1/auth/me", Some(&t.access_token))
                    .await
                    .status,
                401
            );
            assert_eq!(
                app.post(
                    "/api/v1/auth/refresh",
                    None,
                    json!({"refresh_token": t.refresh_token})
                )
                .await
                .status,
                401
            );
        }
        let r = app
            .post(
                &format!(
                    "/api/v1/identity/users/{}/reactivate",
                    a.user.as_ref().unwrap().id
                ),
                Some(&admin),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json["active"], true);
        app.login("zoe@example.com", PW).await;
    }
);
