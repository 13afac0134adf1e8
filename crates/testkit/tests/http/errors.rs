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
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"main\", error=\"invalid_token\"")
    );
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

/// Asserts `r` is the one answer to bad input: 422 problem+json of type
/// validation-error naming exactly `fields` (in any order), with reasons in
/// plain words. Returns the reasons by field.
fn assert_fields(
    r: &portcullis_testkit::Reply,
    fields: &[&str],
    what: &str,
) -> Vec<(String, String)> {
    assert_eq!(r.status, 422, "{what}: {}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    assert_eq!(
        r.json["type"], "urn:portcullis:problem:validation-error",
        "{what}: {}",
        r.text
    );
    assert!(r.json["detail"].is_string(), "{what}: {}", r.text);
    let errors: Vec<(String, String)> = r.json["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors: {}", r.text))
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut got: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
    got.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{what}: {}", r.text);
    for (field, reason) in &errors {
        assert!(
            !reason.is_empty() && !reason.contains("line ") && !reason.contains("column"),
            "{what}: {field}: {reason}"
        );
    }
    errors
}

fn reason_of<'a>(errors: &'a [(String, String)], field: &str) -> &'a str {
    &errors.iter().find(|(f, _)| f == field).unwrap().1
}

/// One route of a family: a body it accepts in shape, a required field, and
/// a field to send with a value of the wrong type.
struct Route {
    method: reqwest::Method,
    path: String,
    good: Value,
    required: Option<&'static str>,
    typed: &'static str,
    wrong: Value,
}

fn route(
    method: reqwest::Method,
    path: impl Into<String>,
    good: Value,
    required: Option<&'static str>,
    typed: &'static str,
    wrong: Value,
) -> Route {
    Route {
        method,
        path: path.into(),
        good,
        required,
        typed,
        wrong,
    }
}

fn routes() -> Vec<Route> {
    use reqwest::Method as M;
    let id = "0190f4c2-7e5b-7000-8000-000000000001";
    vec![
        // auth
        route(
            M::POST,
            "/api/v1/auth/login",
            json!({"email": "a@example.com", "password": PW}),
            Some("email"),
            "password",
            json!(5),
        ),
        route(
            M::POST,
            "/api/v1/realms/main/auth/login",
            json!({"email": "a@example.com", "password": PW}),
            Some("password"),
            "email",
            json!([]),
        ),
        route(
            M::POST,
            "/api/v1/auth/register",
            json!({"email": "a@example.com", "password": PW, "name": "A"}),
            Some("password"),
            "name",
            json!(true),
        ),
        route(
            M::POST,
            "/api/v1/auth/change-password",
            json!({"current_password": PW, "new_password": PW}),
            Some("new_password"),
            "current_password",
            json!(1),
        ),
        // users and groups
        route(
            M::POST,
            "/api/v1/identity/users",
            json!({"email": "u@example.com", "name": "U"}),
            Some("email"),
            "name",
            json!(5),
        ),
        route(
            M::PUT,
            format!("/api/v1/identity/users/{id}"),
            json!({"email": "u@example.com", "admin": false}),
            Some("email"),
            "admin",
            json!("yes"),
        ),
        route(
            M::POST,
            "/api/v1/identity/groups",
            json!({"name": "g", "description": "d"}),
            Some("name"),
            "description",
            json!(5),
        ),
        // authz: roles, permissions, policies, check
        route(
            M::POST,
            "/api/v1/rbac/roles",
            json!({"name": "r", "permissions": ["docs:read:own"]}),
            Some("name"),
            "permissions",
            json!("docs:read:own"),
        ),
        route(
            M::PATCH,
            format!("/api/v1/rbac/roles/{id}"),
            json!({"description": "d"}),
            None,
            "permissions",
            json!({}),
        ),
        route(
            M::POST,
            "/api/v1/rbac/permissions",
            json!({"permission": "docs:read:own", "description": "d"}),
            Some("permission"),
            "description",
            json!(5),
        ),
        route(
            M::POST,
            "/api/v1/rbac/policies",
            json!({"name": "p", "resource": "docs", "effect": "ALLOW", "priority": 1}),
            Some("name"),
            "priority",
            json!("high"),
        ),
        route(
            M::POST,
            "/api/v1/authz/check",
            json!({"action": "read", "resource": {"type": "doc"}}),
            Some("action"),
            "explain",
            json!("yes"),
        ),
        // clients
        route(
            M::POST,
            "/api/v1/clients",
            json!({"name": "c", "redirect_uris": ["https://c.example.com/cb"]}),
            Some("name"),
            "redirect_uris",
            json!("https://c.example.com/cb"),
        ),
        route(
            M::PATCH,
            "/api/v1/clients/nope",
            json!({"name": "c"}),
            None,
            "require_consent",
            json!("no"),
        ),
        // identity providers
        route(
            M::POST,
            "/api/v1/identity-providers",
            json!({"kind": "oidc", "client_id": "x", "issuer": "https://idp.example.com"}),
            Some("kind"),
            "scopes",
            json!("openid"),
        ),
        route(
            M::POST,
            "/api/v1/auth/social/exchange",
            json!({"code": "c", "code_verifier": "v", "client_id": "x"}),
            Some("code"),
            "client_id",
            json!(5),
        ),
        // realms
        route(
            M::POST,
            "/api/v1/realms",
            json!({"name": "acme"}),
            Some("name"),
            "roles_claim",
            json!("yes"),
        ),
        route(
            M::PATCH,
            "/api/v1/realms/main",
            json!({"display_name": "Main"}),
            None,
            "password_min_length",
            json!("ten"),
        ),
        // mfa
        route(
            M::POST,
            "/api/v1/mfa/setup",
            json!({"method": "totp", "phone": "+4915112345678"}),
            Some("method"),
            "phone",
            json!(5),
        ),
        route(
            M::POST,
            "/api/v1/mfa/verify",
            json!({"mfa_token": "t", "method": "totp", "code": "123456"}),
            Some("mfa_token"),
            "code",
            json!(123456),
        ),
        // mail and mail templates
        route(
            M::PUT,
            "/api/v1/mail-templates/password_reset",
            json!({"subject": "s", "text": "t", "html": "h"}),
            Some("subject"),
            "html",
            json!(5),
        ),
        route(
            M::POST,
            "/api/v1/auth/reset-password",
            json!({"token": "t", "new_password": PW}),
            Some("token"),
            "new_password",
            json!(null),
        ),
        // risk
        route(
            M::PUT,
            "/api/v1/risk-policy",
            json!({"enabled": true, "step_up_at": 50, "block_at": 90, "notify_new_device": false}),
            Some("block_at"),
            "enabled",
            json!("yes"),
        ),
        // links
        route(
            M::POST,
            "/api/v1/auth/magic-link/verify",
            json!({"token": "t", "attempt": "a"}),
            Some("token"),
            "attempt",
            json!(5),
        ),
        route(
            M::POST,
            "/api/v1/auth/change-email",
            json!({"new_email": "n@example.com", "password": PW}),
            Some("new_email"),
            "password",
            json!(5),
        ),
    ]
}

backend_tests!(
    every_route_family_answers_bad_input_alike,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        for r in routes() {
            let send = |body: Value| app.call(r.method.clone(), &r.path, Some(&admin), Some(body));
            let what = |case: &str| format!("{} {} ({case})", r.method, r.path);
            // A missing field.
            if let Some(required) = r.required {
                let mut body = r.good.clone();
                body.as_object_mut().unwrap().remove(required);
                let errors = assert_fields(&send(body).await, &[required], &what("missing"));
                assert_eq!(
                    reason_of(&errors, required),
                    "is required",
                    "{}",
                    what("missing")
                );
            }
            // A wrong type.
            let mut body = r.good.clone();
            body[r.typed] = r.wrong.clone();
            assert_fields(&send(body).await, &[r.typed], &what("wrong type"));
            // An unknown field (a typo).
            let mut body = r.good.clone();
            body["bogus_field"] = json!(1);
            let errors = assert_fields(&send(body).await, &["bogus_field"], &what("unknown"));
            assert_eq!(reason_of(&errors, "bogus_field"), "is not a known field");
            // All at once, in one answer.
            let mut body = r.good.clone();
            let mut fields = vec![r.typed, "bogus_field"];
            if let Some(required) = r.required {
                body.as_object_mut().unwrap().remove(required);
                fields.push(required);
            }
            body[r.typed] = r.wrong.clone();
            body["bogus_field"] = json!(1);
            assert_fields(&send(body).await, &fields, &what("all at once"));
        }
    }
);

backend_tests!(
    nested_fields_are_named_by_their_path,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/authz/check",
                Some(&admin),
                json!({"action": "read", "resource": {"id": 5, "colour": "red"}}),
            )
            .await;
        assert_fields(
            &r,
            &["resource.type", "resource.id", "resource.colour"],
            "check",
        );
        let r = app
            .post(
                "/api/v1/identity-providers",
                Some(&admin),
                json!({
                    "kind": "oidc", "client_id": "x", "issuer": "https://idp.example.com",
                    "field_map": {"emial": "mail"},
                    "mappers": [
                        {"type": "role", "claim": "groups", "value": "staff"},
                        {"type": "hardcoded_role", "role": "r"},
                        {"type": "telepathy"},
                    ],
                }),
            )
            .await;
        assert_fields(
            &r,
            &["field_map.emial", "mappers[0].role", "mappers[2].type"],
            "identity provider",
        );
        let r = app
            .post(
                "/api/v1/rbac/roles",
                Some(&admin),
                json!({"name": "r", "permissions": ["docs:read:own", 7, "x:y:all", false]}),
            )
            .await;
        assert_fields(&r, &["permissions[1]", "permissions[3]"], "role");
        // The body itself: an object, not what serde might read a struct from.
        let r = app
            .post("/api/v1/auth/login", None, json!(["a@example.com", PW]))
            .await;
        let errors = assert_fields(&r, &[""], "array body");
        assert_eq!(reason_of(&errors, ""), "must be an object, not an array");
    }
);

backend_tests!(
    domain_validation_names_every_field_at_once,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        // Realm creation: the name, the algorithm and the settings together.
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "Not A Name", "signing_alg": "HS256", "display_name": " ",
                       "password_min_length": 3, "time_zone": "Mars/Olympus_Mons"}),
            )
            .await;
        assert_fields(
            &r,
            &[
                "name",
                "signing_alg",
                "display_name",
                "password_min_length",
                "time_zone",
            ],
            "realm",
        );
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/realms/main",
                Some(&admin),
                Some(json!({"signing_alg": "HS256", "password_min_length": 3, "time_zone": "Nowhere"})),
            )
            .await;
        assert_fields(
            &r,
            &["signing_alg", "password_min_length", "time_zone"],
            "realm update",
        );
        // Registration: both fields, and a misspelled one is refused, not ignored.
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": "", "password": ""}),
            )
            .await;
        assert_fields(&r, &["email", "password"], "register");
        let r = app
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": "typo@example.com", "password": PW, "nmae": "T"}),
            )
            .await;
        assert_fields(&r, &["nmae"], "register typo");
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": "typo@example.com", "password": PW}),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        // What used to be a 400 invalid-input is the same 422.
        let r = app
            .post(
                "/api/v1/rbac/roles",
                Some(&admin),
                json!({"name": "bad", "permissions": ["nope"], "includes": ["ghost"]}),
            )
            .await;
        assert_fields(&r, &["permissions[0]", "includes[0]"], "role permissions");
        let r = app
            .post(
                "/api/v1/rbac/policies",
                Some(&admin),
                json!({"name": 5, "effect": "ALLOW", "resource": "docs", "prio": 1, "colour": "red"}),
            )
            .await;
        assert_fields(&r, &["name", "prio", "colour"], "policy");
    }
);

backend_tests!(
    security_headers_on_api_and_pages,
    |app: TestApp| async move {
        let common = |r: &portcullis_testkit::Reply, what: &str| {
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "{what}"
            );
            assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
            assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
            assert!(
                r.header("content-security-policy")
                    .unwrap()
                    .contains("frame-ancestors 'none'"),
                "{what}"
            );
            // The test server's public URL is http: no HSTS.
            assert_eq!(r.header("strict-transport-security"), None, "{what}");
        };
        // An API answer that carries tokens.
        let login = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(login.status, 200);
        common(&login, "login");
        assert_eq!(login.header("cache-control"), Some("no-store"));
        assert_eq!(
            login.header("content-security-policy"),
            Some("default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
        );
        let token = login.json["access_token"].as_str().unwrap().to_owned();
        let me = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_eq!(me.status, 200);
        common(&me, "me");
        assert_eq!(me.header("cache-control"), Some("no-store"));
        // A page keeps its own policy (nonces for its styles) and frame-ancestors.
        let page = app.get("/realms/main/oauth2/authorize", None).await;
        assert!(
            page.header("content-type")
                .unwrap()
                .starts_with("text/html"),
            "{}",
            page.text
        );
        common(&page, "page");
        assert!(
            page.header("content-security-policy")
                .unwrap()
                .contains("'nonce-")
        );
        assert_eq!(page.header("cache-control"), Some("no-store"));
        // An error.
        let missing = app.get("/api/v1/nothing-here", None).await;
        common(&missing, "404");
    }
);

backend_tests!(
    a_401_says_whether_the_token_was_missing_or_bad,
    |app: TestApp| async move {
        // No token: a challenge without an error code.
        let r = app.get("/api/v1/auth/me", None).await;
        assert_problem(&r, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"main\""));
        let r = app.get("/api/v1/realms", None).await;
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"main\""));
        // A bad token.
        let r = app.get("/api/v1/identity/users", Some("garbage")).await;
        assert_problem(&r, 401);
        let challenge = r.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with(
                "Bearer realm=\"main\", error=\"invalid_token\", error_description=\""
            ),
            "{challenge}"
        );
        // An expired one.
        let token = app.admin_token().await;
        assert_eq!(app.get("/api/v1/auth/me", Some(&token)).await.status, 200);
        app.clock.advance(Duration::hours(2));
        let r = app.get("/api/v1/auth/me", Some(&token)).await;
        assert_problem(&r, 401);
        assert!(
            r.header("www-authenticate")
                .unwrap()
                .contains("error=\"invalid_token\""),
            "{:?}",
            r.header("www-authenticate")
        );
        // Another realm names itself.
        let r = app.get("/api/v1/realms/main/auth/me", None).await;
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"main\""));
    }
);

#[tokio::test]
async fn hsts_when_the_public_url_is_https() {
    let app = portcullis_testkit::spawn_app_with(portcullis_testkit::Backend::Sqlite, |s| {
        s.public_url = "https://id.example.test".to_owned();
    })
    .await
    .unwrap();
    for path in ["/health/live", "/api/v1/nothing-here"] {
        let r = app.get(path, None).await;
        assert_eq!(
            r.header("strict-transport-security"),
            Some("max-age=31536000; includeSubDomains"),
            "{path}"
        );
    }
}
