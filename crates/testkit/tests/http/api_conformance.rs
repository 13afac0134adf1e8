//! Regressions of `cargo xtask schemathesis` (docs/testing.md): requests it
//! sent whose answers the API document did not describe. Each is sent
//! again; its status must be one the document lists for the operation, with
//! the content type the document gives it. And the rules the document now
//! follows for whole families of operations are checked on every operation.

use super::*;

/// How a request's body is sent.
enum Body {
    None,
    Json(Value),
    Raw(&'static str, &'static str),
}

/// The `/openapi.json` of `app`.
async fn document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

/// Every operation of the document: (path template, method, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op.clone()));
        }
    }
    out
}

/// Sends `method path` (with `authorization`, a whole header value, and
/// `body`) and checks that the answer has status `want`, and that the
/// document lists that status for `method template` with the answer's
/// content type (when the answer has a body).
#[allow(clippy::too_many_arguments)]
async fn assert_documented(
    app: &TestApp,
    doc: &Value,
    method: &str,
    path: &str,
    template: &str,
    authorization: Option<&str>,
    body: Body,
    want: u16,
) -> portcullis_testkit::Reply {
    let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut req = app.http.request(m, app.url(path));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(&v),
        Body::Raw(ct, text) => req.header("content-type", ct).body(text),
    };
    let r = portcullis_testkit::Reply::read(req.send().await.unwrap()).await;
    assert_eq!(r.status, want, "{method} {path}: {}", r.text);
    let op = &doc["paths"][template][method];
    assert!(op.is_object(), "{method} {template} is not in the document");
    let documented = &op["responses"][want.to_string()];
    assert!(
        documented.is_object(),
        "{method} {template} answered {want}, which the document does not list: {}",
        op["responses"]
    );
    if !r.text.is_empty() {
        let content_type = r.header("content-type").unwrap_or_default();
        let media = content_type.split(';').next().unwrap_or_default().trim();
        assert!(
            documented["content"][media].is_object(),
            "{method} {template} answered {want} as {content_type}; documented: {documented}"
        );
    }
    r
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

backend_tests!(
    operations_of_a_bearer_token_document_401,
    |app: TestApp| async move {
        let doc = document(&app).await;
        for (path, method, op) in operations(&doc) {
            let bearer = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if bearer {
                assert!(
                    op["responses"]["401"].is_object(),
                    "{method} {path} takes a bearer token but does not document 401"
                );
            }
        }
        // Found: no token at all, or one that is not a token.
        for (method, path, template) in [
            (
                "delete",
                "/api/v1/auth/consents/0",
                "/api/v1/auth/consents/{client_id}",
            ),
            (
                "delete",
                "/api/v1/identity/groups/0",
                "/api/v1/identity/groups/{id}",
            ),
            (
                "get",
                "/api/v1/rbac/policies/0",
                "/api/v1/rbac/policies/{id}",
            ),
        ] {
            assert_documented(&app, &doc, method, path, template, None, Body::None, 401).await;
            let garbage = Some("Bearer not-a-token");
            assert_documented(&app, &doc, method, path, template, garbage, Body::None, 401).await;
        }
    }
);

backend_tests!(
    operations_of_a_realm_document_404_for_no_such_realm,
    |app: TestApp| async move {
        let doc = document(&app).await;
        for (path, method, op) in operations(&doc) {
            let in_realm = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path" && p["name"] == "realm"));
            if in_realm {
                assert!(
                    op["responses"]["404"].is_object(),
                    "{method} {path} names a realm but does not document 404"
                );
            }
        }
        let token = app.admin_token().await;
        let auth = bearer(&token);
        for (method, path, template) in [
            (
                "get",
                "/api/v1/realms/nope/identity/groups/0",
                "/api/v1/realms/{realm}/identity/groups/{id}",
            ),
            (
                "delete",
                "/api/v1/realms/nope/rbac/roles/0",
                "/api/v1/realms/{realm}/rbac/roles/{id}",
            ),
            (
                "get",
                "/realms/nope/oauth2/authorize",
                "/realms/{realm}/oauth2/authorize",
            ),
            (
                "get",
                "/realms/nope/oauth2/logout",
                "/realms/{realm}/oauth2/logout",
            ),
            (
                "get",
                "/.well-known/oauth-authorization-server/realms/nope",
                "/.well-known/oauth-authorization-server/realms/{realm}",
            ),
        ] {
            assert_documented(
                &app,
                &doc,
                method,
                path,
                template,
                Some(&auth),
                Body::None,
                404,
            )
            .await;
        }
    }
);

backend_tests!(
    operations_with_a_json_body_document_every_bad_body,
    |app: TestApp| async move {
        let doc = document(&app).await;
        for (path, method, op) in operations(&doc) {
            if op["requestBody"]["content"]["application/json"].is_object() {
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        op["responses"][status].is_object(),
                        "{method} {path} reads a JSON body but does not document {status}"
                    );
                }
            }
        }
        let token = app.admin_token().await;
        let auth = Some(bearer(&token));
        let (path, template) = ("/api/v1/identity/groups", "/api/v1/identity/groups");
        let auth = auth.as_deref();
        let not_json = Body::Raw("text/plain", "hello");
        assert_documented(&app, &doc, "post", path, template, auth, not_json, 415).await;
        let malformed = Body::Raw("application/json", "{\"name\":");
        assert_documented(&app, &doc, "post", path, template, auth, malformed, 400).await;
        let (path, template) = ("/api/v1/clients/0", "/api/v1/clients/{client_id}");
        let malformed = Body::Raw("application/json", "{");
        assert_documented(&app, &doc, "patch", path, template, auth, malformed, 400).await;
    }
);

backend_tests!(
    operations_the_edge_limits_document_429,
    |app: TestApp| async move {
        let doc = document(&app).await;
        for (path, method, op) in operations(&doc) {
            let never_limited = path == "/metrics"
                || path.starts_with("/health")
                || path.starts_with("/realms/{realm}/.well-known/")
                || path.starts_with("/.well-known/");
            if !never_limited {
                assert!(
                    op["responses"]["429"].is_object(),
                    "{method} {path} may be refused at the edge but does not document 429"
                );
            }
        }
    }
);

backend_tests!(
    missing_objects_of_the_admin_api_are_documented,
    |app: TestApp| async move {
        let doc = document(&app).await;
        let token = app.admin_token().await;
        let auth = bearer(&token);
        let auth = Some(auth.as_str());
        let user = "01a25154-b713-74b5-b6ba-6965df918fb1";
        let json = |v: Value| Body::Json(v);
        for (method, path, template, body) in [
            (
                "delete",
                "/api/v1/identity/groups/0".to_owned(),
                "/api/v1/identity/groups/{id}",
                Body::None,
            ),
            (
                "get",
                "/api/v1/identity/groups/0".to_owned(),
                "/api/v1/identity/groups/{id}",
                Body::None,
            ),
            (
                "patch",
                "/api/v1/identity/groups/0".to_owned(),
                "/api/v1/identity/groups/{id}",
                json(json!({"description": null, "name": null, "parent": ""})),
            ),
            (
                "get",
                "/api/v1/identity/groups/0/members".to_owned(),
                "/api/v1/identity/groups/{id}/members",
                Body::None,
            ),
            (
                "post",
                "/api/v1/identity/groups/0/members".to_owned(),
                "/api/v1/identity/groups/{id}/members",
                json(json!({"user_id": user})),
            ),
            (
                "delete",
                "/api/v1/identity/groups/0/members/null%2Cnull".to_owned(),
                "/api/v1/identity/groups/{id}/members/{user}",
                Body::None,
            ),
            (
                "get",
                "/api/v1/identity/groups/0/roles".to_owned(),
                "/api/v1/identity/groups/{id}/roles",
                Body::None,
            ),
            (
                "post",
                "/api/v1/identity/groups/0/roles".to_owned(),
                "/api/v1/identity/groups/{id}/roles",
                json(json!({"role": "user"})),
            ),
            (
                "delete",
                "/api/v1/identity/groups/0/roles/0".to_owned(),
                "/api/v1/identity/groups/{id}/roles/{role}",
                Body::None,
            ),
            (
                "post",
                "/api/v1/identity/groups/0/permissions".to_owned(),
                "/api/v1/identity/groups/{id}/permissions",
                json(json!({"permission": "docs:read:all"})),
            ),
            (
                "delete",
                "/api/v1/identity/groups/0/permissions/0".to_owned(),
                "/api/v1/identity/groups/{id}/permissions/{permission}",
                Body::None,
            ),
            (
                "get",
                "/api/v1/rbac/policies/0".to_owned(),
                "/api/v1/rbac/policies/{id}",
                Body::None,
            ),
            (
                "patch",
                "/api/v1/rbac/policies/0".to_owned(),
                "/api/v1/rbac/policies/{id}",
                json(json!({})),
            ),
            (
                "delete",
                "/api/v1/rbac/policies/0".to_owned(),
                "/api/v1/rbac/policies/{id}",
                Body::None,
            ),
            (
                "patch",
                "/api/v1/rbac/roles/%E1%8B%91z".to_owned(),
                "/api/v1/rbac/roles/{id}",
                json(json!({"description": "a role"})),
            ),
            (
                "delete",
                format!("/api/v1/rbac/roles/{user}/permissions"),
                "/api/v1/rbac/roles/{id}/permissions",
                json(json!({"permission": "authz:check:all"})),
            ),
            (
                "get",
                "/api/v1/rbac/users/null%2Cnull/roles".to_owned(),
                "/api/v1/rbac/users/{id}/roles",
                Body::None,
            ),
            (
                "post",
                "/api/v1/rbac/users/null%2Cnull/roles".to_owned(),
                "/api/v1/rbac/users/{id}/roles",
                json(json!({"role": "user"})),
            ),
            (
                "delete",
                "/api/v1/rbac/users/null%2Cnull/roles/0".to_owned(),
                "/api/v1/rbac/users/{id}/roles/{role}",
                Body::None,
            ),
            (
                "post",
                "/api/v1/rbac/users/null%2Cnull/permissions".to_owned(),
                "/api/v1/rbac/users/{id}/permissions",
                json(json!({"permission": "docs:read:all"})),
            ),
            (
                "delete",
                "/api/v1/rbac/users/null%2Cnull/permissions/0".to_owned(),
                "/api/v1/rbac/users/{id}/permissions/{permission}",
                Body::None,
            ),
            (
                "patch",
                "/api/v1/clients/0".to_owned(),
                "/api/v1/clients/{client_id}",
                json(json!({"name": "x"})),
            ),
            (
                "post",
                "/api/v1/clients/%C3%A1b/secret".to_owned(),
                "/api/v1/clients/{client_id}/secret",
                Body::None,
            ),
        ] {
            assert_documented(&app, &doc, method, &path, template, auth, body, 404).await;
        }
        // A permission in the path that is not one.
        let path = format!("/api/v1/realms/main/rbac/users/{user}/permissions/ev%25a%2A");
        let template = "/api/v1/realms/{realm}/rbac/users/{id}/permissions/{permission}";
        assert_documented(&app, &doc, "delete", &path, template, auth, Body::None, 422).await;
    }
);

backend_tests!(
    name_conflicts_of_groups_are_documented,
    |app: TestApp| async move {
        let doc = document(&app).await;
        let token = app.admin_token().await;
        let auth = bearer(&token);
        let auth = Some(auth.as_str());
        let body = || Body::Json(json!({"name": "schemathesis"}));
        let (path, template) = ("/api/v1/identity/groups", "/api/v1/identity/groups");
        assert_documented(&app, &doc, "post", path, template, auth, body(), 201).await;
        assert_documented(&app, &doc, "post", path, template, auth, body(), 409).await;
        let path = "/api/v1/realms/main/identity/groups";
        let template = "/api/v1/realms/{realm}/identity/groups";
        assert_documented(&app, &doc, "post", path, template, auth, body(), 409).await;
    }
);

backend_tests!(
    bad_query_strings_are_documented,
    |app: TestApp| async move {
        let doc = document(&app).await;
        let token = app.admin_token().await;
        let auth = bearer(&token);
        let auth = Some(auth.as_str());
        let users = "/api/v1/identity/users";
        for (path, want) in [
            ("/api/v1/identity/users?per_page=null&per_page=null", 400),
            ("/api/v1/identity/users?page=0&email=", 422),
        ] {
            assert_documented(&app, &doc, "get", path, users, auth, Body::None, want).await;
        }
        let path = "/api/v1/realms/main/identity/users?per_page=0&page=0";
        let template = "/api/v1/realms/{realm}/identity/users";
        assert_documented(&app, &doc, "get", path, template, auth, Body::None, 422).await;
        let me = app.get("/api/v1/auth/me", Some(&token)).await.json["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let template = "/api/v1/authz/users/{id}/permissions";
        for (query, want) in [
            ("min_revision=9223372036854775808", 400),
            ("min_revision=8.996661045504107e-114", 400),
            ("min_revision=9223372036854775807", 422),
        ] {
            let path = format!("/api/v1/authz/users/{me}/permissions?{query}");
            assert_documented(&app, &doc, "get", &path, template, auth, Body::None, want).await;
        }
    }
);

backend_tests!(
    refusals_of_userinfo_are_documented,
    |app: TestApp| async move {
        let doc = document(&app).await;
        let template = "/realms/{realm}/oauth2/userinfo";
        let path = "/realms/main/oauth2/userinfo";
        for method in ["get", "post"] {
            // Not a bearer token: invalid_request.
            let basic = Some("Basic Zm9vOmJhcg==");
            let r =
                assert_documented(&app, &doc, method, path, template, basic, Body::None, 400).await;
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|v| v.contains("invalid_request")),
                "{:?}",
                r.headers
            );
            // A token of no client: insufficient_scope.
            let token = app.admin_token().await;
            let auth = Some(bearer(&token));
            let r = assert_documented(
                &app,
                &doc,
                method,
                path,
                template,
                auth.as_deref(),
                Body::None,
                403,
            )
            .await;
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|v| v.contains("insufficient_scope")),
                "{:?}",
                r.headers
            );
        }
    }
);

backend_tests!(
    authorization_server_metadata_where_rfc_8414_looks_for_it,
    |app: TestApp| async move {
        let doc = document(&app).await;
        let template = "/.well-known/oauth-authorization-server/realms/{realm}";
        // Found: every realm name got the default realm's metadata (the
        // edge took the path for one of the default realm's).
        let token = app.admin_token().await;
        let r = app
            .post("/api/v1/realms", Some(&token), json!({"name": "acme"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        for realm in ["main", "acme"] {
            let path = format!("/.well-known/oauth-authorization-server/realms/{realm}");
            let r =
                assert_documented(&app, &doc, "get", &path, template, None, Body::None, 200).await;
            let below = format!("/realms/{realm}/.well-known/oauth-authorization-server");
            assert_eq!(r.json, app.get(&below, None).await.json);
            let issuer = r.json["issuer"].as_str().unwrap();
            assert!(issuer.ends_with(&format!("/realms/{realm}")), "{issuer}");
        }
        let path = "/.well-known/oauth-authorization-server/realms/nope";
        assert_documented(&app, &doc, "get", path, template, None, Body::None, 404).await;
    }
);
