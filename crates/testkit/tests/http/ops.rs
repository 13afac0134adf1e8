use super::*;

backend_tests!(health_probes, |app: TestApp| async move {
    let r = app.get("/health/live", None).await;
    assert_eq!(r.status, 200);
    let r = app.get("/health/ready", None).await;
    assert_eq!(r.status, 200);
    let r = app.get("/health", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["components"]["database"]["status"], "ok");
    let backend = match app.backend {
        portcullis_testkit::Backend::Sqlite => "sqlite",
        portcullis_testkit::Backend::Postgres => "postgres",
    };
    assert_eq!(r.json["components"]["database"]["backend"], backend);
});

backend_tests!(metrics_in_prometheus_format, |app: TestApp| async move {
    app.user("metric@example.com").await;
    app.post(
        "/api/v1/auth/login",
        None,
        json!({"email": "metric@example.com", "password": "wrong wrong wrong"}),
    )
    .await;
    let r = app.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    for needle in [
        "portcullis_http_requests_total{",
        "route=\"/api/v1/auth/login\"",
        "portcullis_http_request_duration_seconds_bucket",
        "portcullis_logins_total{result=\"success\"}",
        "portcullis_logins_total{result=\"failure\"}",
        "portcullis_active_sessions",
    ] {
        assert!(r.text.contains(needle), "missing {needle} in\n{}", r.text);
    }
});

backend_tests!(
    openapi_document_covers_every_route,
    |app: TestApp| async move {
        let r = app.get("/openapi.json", None).await;
        assert_eq!(r.status, 200);
        assert!(r.json["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = r.json["paths"].as_object().unwrap();
        for (path, method) in [
            ("/api/v1/auth/register", "post"),
            ("/api/v1/auth/login", "post"),
            ("/api/v1/auth/refresh", "post"),
            ("/api/v1/auth/logout", "post"),
            ("/api/v1/auth/me", "get"),
            ("/api/v1/auth/change-password", "post"),
            ("/api/v1/auth/sessions", "get"),
            ("/api/v1/auth/sessions/{id}", "delete"),
            ("/api/v1/auth/validate", "post"),
            ("/api/v1/realms/{realm}/auth/login", "post"),
            ("/api/v1/identity/users", "get"),
            ("/api/v1/identity/users", "post"),
            ("/api/v1/identity/users/{id}", "put"),
            ("/api/v1/identity/users/{id}/deactivate", "post"),
            ("/api/v1/identity/users/{id}/reactivate", "post"),
            ("/api/v1/realms/{realm}/identity/users/{id}", "delete"),
            ("/api/v1/realms", "post"),
            ("/api/v1/realms/{realm}", "patch"),
            ("/realms/{realm}/.well-known/jwks.json", "get"),
            ("/health/ready", "get"),
            ("/metrics", "get"),
        ] {
            let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
            assert!(op.is_object(), "{method} {path} missing");
            assert!(
                op["responses"].is_object(),
                "{method} {path} has no responses"
            );
        }
        // Every route with a JSON body documents the bad-input problem.
        for (path, item) in paths {
            for (method, op) in item.as_object().unwrap() {
                if op["requestBody"]["content"]["application/json"].is_object() {
                    assert!(
                        op["responses"]["422"].is_object(),
                        "{method} {path} has no 422"
                    );
                }
            }
        }
        let schemas = r.json["components"]["schemas"].as_object().unwrap();
        for s in [
            "LoginRequest",
            "TokenResponse",
            "Problem",
            "UserView",
            "RealmView",
        ] {
            assert!(schemas.contains_key(s), "schema {s}");
        }
        let docs = app.get("/docs", None).await;
        assert_eq!(docs.status, 200);
        assert!(docs.text.contains("/api/v1/auth/login"));
        assert!(!docs.text.contains("<script"), "no scripts, no CDN");
        assert!(
            !docs.text.contains("https://"),
            "nothing loaded from elsewhere"
        );
    }
);

backend_tests!(
    api_reference_describes_the_product_not_its_design_documents,
    |app: TestApp| async move {
        let r = app.get("/openapi.json", None).await;
        assert_eq!(r.status, 200);
        let text = r.json.to_string().to_lowercase();
        for needle in ["seed 00", "seeds'", "seed's"] {
            assert!(
                !text.contains(needle),
                "the API reference speaks of the design documents ({needle:?})"
            );
        }
        let described = r.json["paths"]["/api/v1/auth/authorize"]["post"]["description"]
            .as_str()
            .or_else(|| r.json["paths"]["/api/v1/auth/authorize"]["post"]["summary"].as_str())
            .unwrap_or_default()
            .to_owned();
        assert!(described.contains("bearer"), "{described}");
    }
);

backend_tests!(
    the_api_reference_covers_the_oauth_and_openid_endpoints,
    |app: TestApp| async move {
        let doc = app.get("/openapi.json", None).await.json;
        let paths = &doc["paths"];
        for (path, methods) in [
            ("/realms/{realm}/oauth2/token", &["post"][..]),
            ("/realms/{realm}/oauth2/introspect", &["post"]),
            ("/realms/{realm}/oauth2/revoke", &["post"]),
            ("/realms/{realm}/oauth2/userinfo", &["get", "post"]),
            ("/realms/{realm}/oauth2/authorize", &["get", "post"]),
            ("/realms/{realm}/oauth2/logout", &["get", "post"]),
            ("/realms/{realm}/.well-known/openid-configuration", &["get"]),
            (
                "/realms/{realm}/.well-known/oauth-authorization-server",
                &["get"],
            ),
            ("/realms/{realm}/.well-known/jwks.json", &["get"]),
        ] {
            for method in methods {
                assert!(
                    paths[path][method].is_object(),
                    "{method} {path} is missing from the API reference"
                );
            }
        }
        // The token endpoint's form and errors are described, not just named.
        let token = &paths["/realms/{realm}/oauth2/token"]["post"];
        let form = &token["requestBody"]["content"]["application/x-www-form-urlencoded"];
        assert!(form["schema"].is_object(), "{token}");
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["TokenForm"]["properties"]["grant_type"].is_object());
        assert!(schemas["OAuthError"]["properties"]["error"].is_object());
        assert!(doc["components"]["securitySchemes"]["basic"].is_object());
        let authorize = &paths["/realms/{realm}/oauth2/authorize"]["get"]["parameters"];
        let names: Vec<&str> = authorize
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for name in ["response_type", "client_id", "code_challenge", "state"] {
            assert!(names.contains(&name), "{names:?}");
        }
    }
);
