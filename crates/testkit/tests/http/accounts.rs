use super::*;

backend_tests!(
    register_returns_user_without_secrets,
    |app: TestApp| async move {
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": "  Alice@Example.COM ", "password": PW, "name": "Alice"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["email"], "Alice@example.com");
        assert_eq!(r.json["name"], "Alice");
        assert!(r.json["id"].is_string() && r.json["created_at"].is_string());
        assert!(
            !r.text.contains("argon2") && !r.text.contains("password"),
            "{}",
            r.text
        );
    }
);

backend_tests!(
    duplicate_email_is_a_conflict_case_insensitively,
    |app: TestApp| async move {
        app.register("bob@example.com", PW).await;
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": "BOB@example.com", "password": PW}),
            )
            .await;
        assert_eq!(r.status, 409, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
    }
);

backend_tests!(password_policy, |app: TestApp| async move {
    for (pw, why) in [
        ("short", "too short"),
        ("password", "common"),
        ("123456789", "common"),
        ("xx carol.w yy zz", "contains local part"),
    ] {
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": "carol.w@example.com", "password": pw}),
            )
            .await;
        assert_eq!(r.status, 422, "{why}: {}", r.text);
        assert_eq!(r.json["errors"][0]["field"], "password", "{why}");
    }
    // The whole address, however short its local part.
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "x@example.com", "password": "X@Example.com!!"}),
        )
        .await;
    assert_eq!(r.status, 422, "contains the whole address: {}", r.text);
    assert_eq!(r.json["errors"][0]["field"], "password");
    let long = "x".repeat(257);
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "c@example.com", "password": long}),
        )
        .await;
    assert_eq!(r.status, 422);
    // Eight code points of multi-byte characters are long enough; never truncated.
    let pw = "ünïcödé€";
    app.register("uni@example.com", pw).await;
    app.login("uni@example.com", pw).await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "uni@example.com", "password": "ünïcödé"}),
        )
        .await;
    assert_eq!(r.status, 401);
    // Invalid email.
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "not-an-email", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json["errors"][0]["field"], "email");
});

backend_tests!(login_issues_a_token_pair, |app: TestApp| async move {
    app.register("dave@example.com", PW).await;
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "DAVE@example.com", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 900);
    assert_eq!(r.json["user"]["email"], "dave@example.com");
    assert_eq!(r.json["refresh_token"].as_str().unwrap().len(), 43);
    let me = app
        .get("/api/v1/auth/me", r.json["access_token"].as_str())
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json["email"], "dave@example.com");
    assert!(me.json["last_login_at"].is_string());
});

backend_tests!(
    wrong_password_and_unknown_email_look_the_same,
    |app: TestApp| async move {
        app.register("erin@example.com", PW).await;
        let a = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "erin@example.com", "password": "wrong password!"}),
            )
            .await;
        let b = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "nobody@example.com", "password": "wrong password!"}),
            )
            .await;
        assert_eq!(a.status, 401);
        assert_eq!(b.status, 401);
        assert_eq!(a.text, b.text);
    }
);

backend_tests!(
    account_lockout_after_five_failures,
    |app: TestApp| async move {
        app.register("frank@example.com", PW).await;
        app.register("grace@example.com", PW).await;
        for _ in 0..5 {
            let r = app
                .post(
                    "/api/v1/auth/login",
                    None,
                    json!({"email": "frank@example.com", "password": "not the password"}),
                )
                .await;
            assert_eq!(r.status, 401);
        }
        // Locked, even with the right password.
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "frank@example.com", "password": PW}),
            )
            .await;
        assert_eq!(r.status, 429, "{}", r.text);
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!(retry > 0 && retry <= 900, "{retry}");
        // Only that account.
        app.login("grace@example.com", PW).await;
        // Until the window passes.
        app.clock.advance(Duration::minutes(14));
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "frank@example.com", "password": PW}),
            )
            .await;
        assert_eq!(r.status, 429);
        app.clock.advance(Duration::minutes(2));
        app.login("frank@example.com", PW).await;
    }
);

mod ip_limit {
    use super::*;

    async fn run(app: TestApp) {
        for i in 0..3 {
            let r = app
                .post(
                    "/api/v1/auth/login",
                    None,
                    json!({"email": format!("u{i}@example.com"), "password": "whatever it is"}),
                )
                .await;
            assert_eq!(r.status, 401);
        }
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "someone@example.com", "password": "whatever it is"}),
            )
            .await;
        assert_eq!(r.status, 429, "{}", r.text);
        assert!(r.header("retry-after").is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let app = portcullis_testkit::spawn_app_with(portcullis_testkit::Backend::Sqlite, |s| {
            s.login.max_failures_per_ip = 3;
        })
        .await
        .unwrap();
        run(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(app) =
            portcullis_testkit::spawn_app_with(portcullis_testkit::Backend::Postgres, |s| {
                s.login.max_failures_per_ip = 3;
            })
            .await
        else {
            return;
        };
        run(app).await;
    }
}

backend_tests!(
    refresh_rotates_and_reuse_revokes_the_family,
    |app: TestApp| async move {
        let first = app.user("henry@example.com").await;
        let r = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": first.refresh_token}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.json.get("user").is_none(),
            "a refresh answers only the pair"
        );
        let second_refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
        let second_access = r.json["access_token"].as_str().unwrap().to_owned();
        assert_ne!(second_refresh, first.refresh_token);
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&second_access))
                .await
                .status,
            200
        );
        // Replaying the spent token: 401, and the newest token of the family dies too.
        let r = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": first.refresh_token}),
            )
            .await;
        assert_eq!(r.status, 401);
        let r = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": second_refresh}),
            )
            .await;
        assert_eq!(r.status, 401);
        // The session is over: its access tokens are rejected at once.
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&second_access))
                .await
                .status,
            401
        );
        let metrics = app.get("/metrics", None).await;
        assert!(
            metrics
                .text
                .contains("portcullis_refresh_token_reuse_total"),
            "{}",
            metrics.text
        );
    }
);

backend_tests!(
    parallel_refreshes_exactly_one_wins,
    |app: TestApp| async move {
        let t = app.user("ivy@example.com").await;
        let app = std::sync::Arc::new(app);
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let app = app.clone();
            let token = t.refresh_token.clone();
            tasks.push(tokio::spawn(async move {
                app.post(
                    "/api/v1/auth/refresh",
                    None,
                    json!({"refresh_token": token}),
                )
                .await
                .status
            }));
        }
        let mut ok = 0;
        for task in tasks {
            let status = task.await.unwrap();
            assert!(status == 200 || status == 401, "{status}");
            ok += usize::from(status == 200);
        }
        assert_eq!(ok, 1);
    }
);

backend_tests!(tokens_expire_by_the_clock, |app: TestApp| async move {
    let t = app.user("jack@example.com").await;
    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&t.access_token))
            .await
            .status,
        401
    );
    let v = app
        .post(
            "/api/v1/auth/validate",
            None,
            json!({"token": t.access_token}),
        )
        .await;
    assert_eq!(v.json, json!({"active": false}));
    // The refresh token still works within its seven days...
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": t.refresh_token}),
        )
        .await;
    assert_eq!(r.status, 200);
    // ...and not after.
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": r.json["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 401);
});

backend_tests!(logout_ends_the_session_at_once, |app: TestApp| async move {
    let t = app.user("kate@example.com").await;
    let other = app.login("kate@example.com", PW).await;
    let r = app
        .post("/api/v1/auth/logout", Some(&t.access_token), json!({}))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&t.access_token))
            .await
            .status,
        401
    );
    let r = app
        .post(
            "/api/v1/auth/refresh",
            None,
            json!({"refresh_token": t.refresh_token}),
        )
        .await;
    assert_eq!(r.status, 401);
    let v = app
        .post(
            "/api/v1/auth/validate",
            None,
            json!({"token": t.access_token}),
        )
        .await;
    assert_eq!(v.json["active"], false);
    // Other sessions are untouched.
    assert_eq!(
        app.get("/api/v1/auth/me", Some(&other.access_token))
            .await
            .status,
        200
    );
    // Logging out without a token is refused.
    assert_eq!(
        app.post("/api/v1/auth/logout", None, json!({}))
            .await
            .status,
        401
    );
});

backend_tests!(
    logout_survives_a_restart_of_the_denylist,
    |app: TestApp| async move {
        let t = app.user("liam@example.com").await;
        app.post("/api/v1/auth/logout", Some(&t.access_token), json!({}))
            .await;
        // A fresh process loads revocations back from the store.
        app.core.warm_denylist().await.unwrap();
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&t.access_token))
                .await
                .status,
            401
        );
    }
);

backend_tests!(
    change_password_ends_other_sessions,
    |app: TestApp| async move {
        let a = app.user("mia@example.com").await;
        let b = app.login("mia@example.com", PW).await;
        let r = app.post("/api/v1/auth/change-password", Some(&a.access_token), json!({"current_password": "nope nope nope", "new_password": "another fine passphrase"})).await;
        assert_eq!(r.status, 422);
        assert_eq!(r.json["errors"][0]["field"], "current_password");
        let r = app
            .post(
                "/api/v1/auth/change-password",
                Some(&a.access_token),
                json!({"current_password": PW, "new_password": "password"}),
            )
            .await;
        assert_eq!(r.status, 422);
        assert_eq!(r.json["errors"][0]["field"], "new_password");
        let r = app
            .post(
                "/api/v1/auth/change-password",
                Some(&a.access_token),
                json!({"current_password": PW, "new_password": "another fine passphrase"}),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&a.access_token))
                .await
                .status,
            200
        );
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&b.access_token))
                .await
                .status,
            401
        );
        assert_eq!(
            app.post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": b.refresh_token})
            )
            .await
            .status,
            401
        );
        assert_eq!(
            app.post(
                "/api/v1/auth/refresh",
                None,
                json!({"refresh_token": a.refresh_token})
            )
            .await
            .status,
            200
        );
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "mia@example.com", "password": PW}),
            )
            .await;
        assert_eq!(r.status, 401);
        app.login("mia@example.com", "another fine passphrase")
            .await;
    }
);

backend_tests!(sessions_list_and_revoke, |app: TestApp| async move {
    app.register("noah@example.com", PW).await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
        )
        .json(&json!({"email": "noah@example.com", "password": PW}))
        .send()
        .await
        .unwrap();
    let first: Value = r.json().await.unwrap();
    let second = app.login("noah@example.com", PW).await;
    let list = app
        .get("/api/v1/auth/sessions", Some(&second.access_token))
        .await;
    assert_eq!(list.status, 200);
    let sessions = list.json.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    let firefox = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(firefox["device"], "Firefox 120 on Linux");
    assert_eq!(firefox["ip"], "127.0.0.1");
    assert!(firefox["created_at"].is_string() && firefox["last_used_at"].is_string());
    let id = firefox["id"].as_str().unwrap();
    let r = app
        .delete(
            &format!("/api/v1/auth/sessions/{id}"),
            Some(&second.access_token),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        app.get("/api/v1/auth/me", first["access_token"].as_str())
            .await
            .status,
        401
    );
    // Someone else's session, or an unknown id: 404.
    let other = app.user("olivia@example.com").await;
    let r = app
        .delete(
            &format!("/api/v1/auth/sessions/{id}"),
            Some(&other.access_token),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = app
        .delete(
            "/api/v1/auth/sessions/not-a-uuid",
            Some(&other.access_token),
        )
        .await;
    assert_eq!(r.status, 404);
});

backend_tests!(validate_endpoint, |app: TestApp| async move {
    let t = app.user("paul@example.com").await;
    let v = app
        .post(
            "/api/v1/auth/validate",
            None,
            json!({"token": t.access_token}),
        )
        .await;
    assert_eq!(v.status, 200);
    assert_eq!(v.json["active"], true);
    assert_eq!(v.json["sub"], t.user.as_ref().unwrap().id.to_string());
    assert_eq!(v.json["realm"], "main");
    assert!(v.json["exp"].is_i64());
    for bad in ["", "garbage", "a.b.c", &format!("{}x", t.access_token)] {
        let v = app
            .post("/api/v1/auth/validate", None, json!({"token": bad}))
            .await;
        assert_eq!(v.status, 200);
        assert_eq!(v.json, json!({"active": false}), "{bad}");
    }
});

backend_tests!(deactivated_users_cannot_log_in, |app: TestApp| async move {
    let t = app.user("quinn@example.com").await;
    let admin = app.admin_token().await;
    let r = app
        .post(
            &format!(
                "/api/v1/identity/users/{}/deactivate",
                t.user.as_ref().unwrap().id
            ),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["active"], false);
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "quinn@example.com", "password": PW}),
        )
        .await;
    assert_eq!(r.status, 403);
});

backend_tests!(
    legacy_bcrypt_hashes_verify_and_are_rehashed,
    |app: TestApp| async move {
        use portcullis_core::model::{Email, User};
        let realm = app.core.realms().default_realm().await.unwrap();
        use portcullis_core::Clock;
        let now = app.clock.now();
        let hash = bcrypt::hash("imported passphrase", 4).unwrap();
        let user = User {
            id: uuid::Uuid::now_v7(),
            realm_id: realm.id,
            email: Email::parse("legacy@example.com").unwrap(),
            name: None,
            password_hash: Some(hash),
            active: true,
            email_verified: false,
            attributes: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        app.core.store().create_user(&user).await.unwrap();
        app.login("legacy@example.com", "imported passphrase").await;
        let stored = app
            .core
            .store()
            .get_user(realm.id, user.id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.password_hash.unwrap().starts_with("$argon2id$"));
        app.login("legacy@example.com", "imported passphrase").await;
    }
);

backend_tests!(
    concurrent_refreshes_of_different_sessions_all_rotate,
    |app: TestApp| async move {
        let t = app.user("batch@example.com").await;
        let mut refresh = vec![t.refresh_token];
        for _ in 0..23 {
            refresh.push(app.login("batch@example.com", PW).await.refresh_token);
        }
        let app = std::sync::Arc::new(app);
        for _round in 0..3 {
            let mut tasks = Vec::new();
            for token in refresh.drain(..) {
                let app = app.clone();
                tasks.push(tokio::spawn(async move {
                    app.post(
                        "/api/v1/auth/refresh",
                        None,
                        json!({"refresh_token": token}),
                    )
                    .await
                }));
            }
            for task in tasks {
                let r = task.await.unwrap();
                assert_eq!(r.status, 200, "{}", r.text);
                refresh.push(r.json["refresh_token"].as_str().unwrap().to_owned());
            }
        }
        let sessions = app
            .get(
                "/api/v1/auth/sessions",
                Some(&app.login("batch@example.com", PW).await.access_token),
            )
            .await;
        assert_eq!(
            sessions.json.as_array().unwrap().len(),
            25,
            "no session was revoked"
        );
    }
);
