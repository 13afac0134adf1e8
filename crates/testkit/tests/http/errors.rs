use super::*;

fn assert_problem(r: &portcullis_testkit::Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{}",
        r.text
    );
    assert_eq!(r.json["status"], status);
    assert!(
        r.json["type"].is_string() && r.json["title"].is_string() && r.json["detail"].is_string()
    );
}

backend_tests!(bad_input_gets_problem_details, |app: TestApp| async move {
    let r = app
        .post_raw(
            "/api/v1/auth/login",
            Some("application/json"),
            b"{not json".to_vec(),
        )
        .await;
    assert_problem(&r, 400);
    let r = app
        .post_raw("/api/v1/auth/login", Some("text/plain"), b"hello".to_vec())
        .await;
    assert_problem(&r, 415);
    let r = app.post_raw("/api/v1/auth/login", None, Vec::new()).await;
    assert_problem(&r, 415);
    let big = format!(
        "{{\"email\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(1024 * 1024 + 10)
    );
    let r = app
        .post_raw(
            "/api/v1/auth/login",
            Some("application/json"),
            big.into_bytes(),
        )
        .await;
    assert_problem(&r, 413);
    let r = app
        .post("/api/v1/auth/login", None, json!({"email": 5}))
        .await;
    assert_problem(&r, 422);
    let r = app.get("/api/v1/nothing-here", None).await;
    assert_problem(&r, 404);
    let r = app.get("/api/v1/auth/login", None).await;
    assert_problem(&r, 405);
    let r = app
        .post(
            "/api/v1/realms/no-such-realm/auth/login",
            None,
            json!({"email": "a@example.com", "password": PW}),
        )
        .await;
    assert_problem(&r, 404);
    let r = app
        .post(
            "/api/v1/realms/NOT%20VALID/auth/login",
            None,
            json!({"email": "a@example.com", "password": PW}),
        )
        .await;
    assert_problem(&r, 404);
    let r = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": "", "password": ""}),
        )
        .await;
    assert_problem(&r, 422);
    assert_eq!(r.json["errors"].as_array().unwrap().len(), 2);
    let r = app.get("/api/v1/auth/me", Some("not a token")).await;
    assert_problem(&r, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // Nothing a client sends produces a 500: a few nasty bodies.
    for body in [
        json!(null),
        json!([]),
        json!("x"),
        json!({"email": "a@example.com", "password": null}),
        json!({"email": "\u{0000}@x.com", "password": "\u{0000}"}),
    ] {
        let r = app.post("/api/v1/auth/login", None, body.clone()).await;
        assert!(r.status < 500, "{body}: {}", r.text);
        let r = app.post("/api/v1/auth/register", None, body.clone()).await;
        assert!(r.status < 500, "{body}: {}", r.text);
    }
});

backend_tests!(
    request_ids_are_honoured_or_made,
    |app: TestApp| async move {
        let r = app
            .http
            .get(app.url("/health/live"))
            .header("x-request-id", "abc-123")
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-request-id"], "abc-123");
        let r = app
            .http
            .get(app.url("/health/live"))
            .header("x-request-id", "bad id\twith spaces")
            .send()
            .await
            .unwrap();
        assert_ne!(r.headers()["x-request-id"], "bad id\twith spaces");
        let r = app.get("/health/live", None).await;
        assert!(r.header("x-request-id").unwrap().len() >= 32);
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        let login = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(login.header("cache-control"), Some("no-store"));
    }
);
