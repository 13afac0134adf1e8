use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;

const TOKEN: &str = "/realms/main/oauth2/token";
const INTROSPECT: &str = "/realms/main/oauth2/introspect";
const FORM: &str = "application/x-www-form-urlencoded";

/// POSTs a form, with Basic credentials when given.
async fn form(
    app: &TestApp,
    path: &str,
    basic: Option<(&str, &str)>,
    body: &str,
) -> portcullis_testkit::Reply {
    let mut req = app
        .http
        .post(app.url(path))
        .header("content-type", FORM)
        .body(body.to_owned());
    if let Some((id, secret)) = basic {
        req = req.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    portcullis_testkit::Reply::read(req.send().await.unwrap()).await
}

async fn client(app: &TestApp, admin: &str, body: Value) -> Value {
    let r = app.post("/api/v1/clients", Some(admin), body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json
}

fn oauth_error(r: &portcullis_testkit::Reply, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["error"], error, "{}", r.text);
    assert!(r.json["error_description"].is_string(), "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
}

backend_tests!(client_credentials_grant, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let job = client(
        &app,
        &admin,
        json!({"name": "Billing job", "client_id": "billing", "scopes": ["orders:read", "orders:write"],
               "access_token_ttl": 300}),
    )
    .await;
    let secret = job["client_secret"].as_str().unwrap().to_owned();
    let creds = Some(("billing", secret.as_str()));

    let r = form(&app, TOKEN, creds, "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["expires_in"], 300);
    assert_eq!(r.json["scope"], "orders:read orders:write");
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(header(&token)["typ"], "at+jwt");
    let c = claims(&token);
    assert_eq!(c["iss"], format!("{}/realms/main", app.base));
    assert_eq!(c["sub"], job["id"]);
    assert_eq!(c["client_id"], "billing");
    assert_eq!(c["aud"], "billing");
    assert_eq!(c["scope"], "orders:read orders:write");
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);

    // A narrower scope, and an audience named by RFC 8707 `resource`.
    let r = form(
        &app,
        TOKEN,
        creds,
        "grant_type=client_credentials&scope=orders%3Aread&resource=https%3A%2F%2Fapi.example.com%2Forders",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["scope"], "orders:read");
    let c = claims(r.json["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://api.example.com/orders");

    // The token for another resource server is refused by the REST API.
    let foreign = r.json["access_token"].as_str().unwrap().to_owned();
    let r = app.get("/api/v1/auth/me", Some(&foreign)).await;
    assert_eq!(r.status, 401, "{}", r.text);

    // client_secret_post for a client registered with Basic is refused.
    let r = form(
        &app,
        TOKEN,
        None,
        &format!("grant_type=client_credentials&client_id=billing&client_secret={secret}"),
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    // Wrong secret, unknown client: 401 with a Basic challenge.
    let r = form(
        &app,
        TOKEN,
        Some(("billing", "nope")),
        "grant_type=client_credentials",
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"main\""));
    let r = form(
        &app,
        TOKEN,
        Some(("ghost", "x")),
        "grant_type=client_credentials",
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    // Bad requests.
    oauth_error(&form(&app, TOKEN, creds, "").await, 400, "invalid_request");
    oauth_error(
        &form(&app, TOKEN, creds, "grant_type=password").await,
        400,
        "unsupported_grant_type",
    );
    oauth_error(
        &form(
            &app,
            TOKEN,
            creds,
            "grant_type=client_credentials&grant_type=client_credentials",
        )
        .await,
        400,
        "invalid_request",
    );
    oauth_error(
        &form(
            &app,
            TOKEN,
            creds,
            "grant_type=client_credentials&scope=openid",
        )
        .await,
        400,
        "invalid_scope",
    );
    oauth_error(
        &form(
            &app,
            TOKEN,
            creds,
            "grant_type=client_credentials&scope=admin",
        )
        .await,
        400,
        "invalid_scope",
    );
    oauth_error(
        &form(
            &app,
            TOKEN,
            creds,
            "grant_type=client_credentials&resource=orders",
        )
        .await,
        400,
        "invalid_target",
    );
    oauth_error(
        &form(&app, TOKEN, creds, "grant_type=authorization_code&code=x").await,
        400,
        "unauthorized_client",
    );
    let r = app
        .http
        .post(app.url(TOKEN))
        .header("content-type", "application/json")
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("billing:{secret}"))),
        )
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // A public client cannot use client_credentials (it has no such grant).
    client(
        &app,
        &admin,
        json!({"name": "SPA", "client_id": "spa", "client_type": "public",
               "redirect_uris": ["https://spa.example.com/cb"]}),
    )
    .await;
    oauth_error(
        &form(
            &app,
            TOKEN,
            None,
            "grant_type=client_credentials&client_id=spa",
        )
        .await,
        400,
        "unauthorized_client",
    );

    // A disabled client gets nothing.
    let r = app
        .call(
            reqwest::Method::PATCH,
            "/api/v1/clients/billing",
            Some(&admin),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    oauth_error(
        &form(&app, TOKEN, creds, "grant_type=client_credentials").await,
        401,
        "invalid_client",
    );
    // Unknown realm: no such issuer.
    let r = form(
        &app,
        "/realms/nowhere/oauth2/token",
        creds,
        "grant_type=client_credentials",
    )
    .await;
    assert_eq!(r.status, 404);
});

backend_tests!(introspection, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let rs = client(
        &app,
        &admin,
        json!({"name": "Orders API", "client_id": "orders-api", "scopes": ["orders:read"]}),
    )
    .await;
    let secret = rs["client_secret"].as_str().unwrap().to_owned();
    let creds = Some(("orders-api", secret.as_str()));
    client(
        &app,
        &admin,
        json!({"name": "SPA", "client_id": "spa", "client_type": "public",
               "redirect_uris": ["https://spa.example.com/cb"]}),
    )
    .await;
    let r = form(&app, TOKEN, creds, "grant_type=client_credentials").await;
    let machine = r.json["access_token"].as_str().unwrap().to_owned();

    let r = form(&app, INTROSPECT, creds, &format!("token={machine}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["client_id"], "orders-api");
    assert_eq!(r.json["sub"], rs["id"]);
    assert_eq!(r.json["scope"], "orders:read");
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["iss"], format!("{}/realms/main", app.base));

    // A user's access token, active until the user logs out.
    let user = app.user("reader@example.com").await;
    let r = form(
        &app,
        INTROSPECT,
        creds,
        &format!("token={}", user.access_token),
    )
    .await;
    assert_eq!(r.json["active"], true, "{}", r.text);
    assert_eq!(r.json["sub"], claims(&user.access_token)["sub"]);
    let r = app
        .post("/api/v1/auth/logout", Some(&user.access_token), json!({}))
        .await;
    assert!(r.status == 204 || r.status == 200, "{}", r.text);
    let r = form(
        &app,
        INTROSPECT,
        creds,
        &format!("token={}", user.access_token),
    )
    .await;
    assert_eq!(r.json, json!({"active": false}));

    // Garbage, a tampered token, and an expired one: inactive, nothing more.
    for token in ["garbage", &format!("{machine}x")] {
        let r = form(&app, INTROSPECT, creds, &format!("token={token}")).await;
        assert_eq!(r.json, json!({"active": false}), "{token}");
    }
    app.clock.advance(Duration::hours(2));
    let r = form(&app, INTROSPECT, creds, &format!("token={machine}")).await;
    assert_eq!(r.json, json!({"active": false}));

    // Only an authenticated confidential client may ask.
    oauth_error(
        &form(&app, INTROSPECT, None, &format!("token={machine}")).await,
        401,
        "invalid_client",
    );
    oauth_error(
        &form(&app, INTROSPECT, Some(("orders-api", "wrong")), "token=x").await,
        401,
        "invalid_client",
    );
    oauth_error(
        &form(&app, INTROSPECT, None, "client_id=spa&token=x").await,
        401,
        "invalid_client",
    );
    oauth_error(
        &form(&app, INTROSPECT, creds, "").await,
        400,
        "invalid_request",
    );
});

backend_tests!(revocation, |app: TestApp| async move {
    const REVOKE: &str = "/realms/main/oauth2/revoke";
    let admin = app.admin_token().await;
    let a = client(
        &app,
        &admin,
        json!({"name": "A", "client_id": "a", "scopes": ["x"]}),
    )
    .await;
    let b = client(
        &app,
        &admin,
        json!({"name": "B", "client_id": "b", "scopes": ["x"]}),
    )
    .await;
    client(
        &app,
        &admin,
        json!({"name": "SPA", "client_id": "spa", "client_type": "public",
               "redirect_uris": ["https://spa.example.com/cb"]}),
    )
    .await;
    let a_secret = a["client_secret"].as_str().unwrap().to_owned();
    let b_secret = b["client_secret"].as_str().unwrap().to_owned();
    let a_creds = Some(("a", a_secret.as_str()));
    let b_creds = Some(("b", b_secret.as_str()));
    let r = form(&app, TOKEN, a_creds, "grant_type=client_credentials").await;
    let token = r.json["access_token"].as_str().unwrap().to_owned();
    let active = |creds| {
        let token = token.clone();
        let app = &app;
        async move {
            form(app, INTROSPECT, creds, &format!("token={token}"))
                .await
                .json["active"]
                .as_bool()
                .unwrap()
        }
    };
    assert!(active(b_creds).await);

    // Another client may not revoke it; neither may a user's token be revoked here.
    let r = form(&app, REVOKE, b_creds, &format!("token={token}")).await;
    oauth_error(&r, 400, "unauthorized_client");
    assert!(active(b_creds).await);
    let user = app.user("someone@example.com").await;
    let r = form(
        &app,
        REVOKE,
        a_creds,
        &format!("token={}", user.access_token),
    )
    .await;
    oauth_error(&r, 400, "unauthorized_client");

    // Its own client revokes it: an empty 200, and the token is dead.
    let r = form(
        &app,
        REVOKE,
        a_creds,
        &format!("token={token}&token_type_hint=access_token"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.is_empty());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(!active(b_creds).await);
    // On every instance: the revocation is stored.
    let realm = app.core.realms().default_realm().await.unwrap();
    let jti: uuid::Uuid = claims(&token)["jti"].as_str().unwrap().parse().unwrap();
    let stored = app
        .core
        .store()
        .list_revoked_tokens(portcullis_core::Clock::now(&app.clock))
        .await
        .unwrap();
    assert!(stored.iter().any(|(r, j, _)| *r == realm.id && *j == jti));

    // Revoking again, or revoking garbage, is a quiet 200.
    for t in [token.as_str(), "garbage", "opaque-refresh-token-like"] {
        let r = form(&app, REVOKE, a_creds, &format!("token={t}")).await;
        assert_eq!(r.status, 200, "{t}: {}", r.text);
    }
    let r = form(&app, REVOKE, None, "client_id=spa&token=garbage").await;
    assert_eq!(r.status, 200, "{}", r.text);

    oauth_error(
        &form(&app, REVOKE, a_creds, "").await,
        400,
        "invalid_request",
    );
    oauth_error(
        &form(
            &app,
            REVOKE,
            Some(("a", "wrong")),
            &format!("token={token}"),
        )
        .await,
        401,
        "invalid_client",
    );
});

backend_tests!(private_key_jwt_assertions, |app: TestApp| async move {
    use portcullis_crypto::{SigningAlgorithm, SigningKey, generate_signing_key};
    const BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let admin = app.admin_token().await;
    let key = generate_signing_key(SigningAlgorithm::ES256).unwrap();
    let signer = SigningKey::from_pkcs8(SigningAlgorithm::ES256, &key.private_pkcs8_der).unwrap();
    let other = generate_signing_key(SigningAlgorithm::ES256).unwrap();
    let intruder =
        SigningKey::from_pkcs8(SigningAlgorithm::ES256, &other.private_pkcs8_der).unwrap();
    let r = client(
        &app,
        &admin,
        json!({"name": "Signer", "client_id": "signer", "scopes": ["x"],
               "token_endpoint_auth_method": "private_key_jwt",
               "jwks": {"keys": [key.public_jwk]}}),
    )
    .await;
    assert!(r.get("client_secret").is_none());
    let signer_id = r["id"].clone();
    let issuer = format!("{}/realms/main", app.base);
    let now = portcullis_core::Clock::now(&app.clock).unix_timestamp();
    let assertion = |claims: Value, key: &SigningKey| key.sign(&claims, "JWT").unwrap();
    let claims = |aud: &str, jti: &str| {
        json!({"iss": "signer", "sub": "signer", "aud": aud, "jti": jti,
               "iat": now, "exp": now + 120})
    };
    let grant = |jwt: String| {
        format!(
            "grant_type=client_credentials&client_assertion_type={BEARER}&client_assertion={jwt}"
        )
    };

    let token_url = format!("{issuer}/oauth2/token");
    let first = assertion(claims(&token_url, "1"), &signer);
    let r = form(&app, TOKEN, None, &grant(first.clone())).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(claims_of(&r)["sub"], signer_id);
    // Each assertion once.
    oauth_error(
        &form(&app, TOKEN, None, &grant(first)).await,
        401,
        "invalid_client",
    );
    // The issuer as audience, and an audience list, are accepted too.
    let r = form(
        &app,
        TOKEN,
        None,
        &grant(assertion(claims(&issuer, "2"), &signer)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut listed = claims("x", "3");
    listed["aud"] = json!(["https://elsewhere.example.com", token_url]);
    let r = form(&app, TOKEN, None, &grant(assertion(listed, &signer))).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Refused: another key, another audience, expired, too long-lived,
    // issuer not the subject, no jti.
    let mut bad = vec![
        assertion(claims(&token_url, "4"), &intruder),
        assertion(claims("https://other.example.com/token", "5"), &signer),
    ];
    let mut c = claims(&token_url, "6");
    c["exp"] = json!(now - 120);
    bad.push(assertion(c, &signer));
    let mut c = claims(&token_url, "7");
    c["exp"] = json!(now + 7200);
    bad.push(assertion(c, &signer));
    let mut c = claims(&token_url, "8");
    c["iss"] = json!("someone-else");
    bad.push(assertion(c, &signer));
    let mut c = claims(&token_url, "9");
    c.as_object_mut().unwrap().remove("jti");
    bad.push(assertion(c, &signer));
    for (n, jwt) in bad.into_iter().enumerate() {
        let r = form(&app, TOKEN, None, &grant(jwt)).await;
        assert_eq!(r.status, 401, "case {n}: {}", r.text);
        assert_eq!(r.json["error"], "invalid_client", "case {n}");
    }
    // One method per request, and the right assertion type.
    let jwt = assertion(claims(&token_url, "10"), &signer);
    let r = form(&app, TOKEN, Some(("signer", "x")), &grant(jwt.clone())).await;
    oauth_error(&r, 400, "invalid_request");
    let r = form(
        &app,
        TOKEN,
        None,
        &format!("grant_type=client_credentials&client_assertion_type=jwt&client_assertion={jwt}"),
    )
    .await;
    oauth_error(&r, 400, "invalid_request");
    // A secret does not work for a client registered with keys.
    let r = form(
        &app,
        TOKEN,
        None,
        "grant_type=client_credentials&client_id=signer&client_secret=guess",
    )
    .await;
    oauth_error(&r, 401, "invalid_client");
    // The introspection endpoint as audience.
    let intro = format!("{issuer}/oauth2/introspect");
    let jwt = assertion(claims(&intro, "11"), &signer);
    let r = form(
        &app,
        INTROSPECT,
        None,
        &format!("token=x&client_assertion_type={BEARER}&client_assertion={jwt}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json, json!({"active": false}));
});

fn claims_of(r: &portcullis_testkit::Reply) -> Value {
    claims(r.json["access_token"].as_str().unwrap())
}

backend_tests!(authorization_server_metadata, |app: TestApp| async move {
    let issuer = format!("{}/realms/main", app.base);
    for path in [
        "/realms/main/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/realms/main",
    ] {
        let r = app.get(path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.json["issuer"], issuer);
        assert_eq!(r.json["token_endpoint"], format!("{issuer}/oauth2/token"));
        assert_eq!(
            r.json["introspection_endpoint"],
            format!("{issuer}/oauth2/introspect")
        );
        assert_eq!(
            r.json["revocation_endpoint"],
            format!("{issuer}/oauth2/revoke")
        );
        assert_eq!(
            r.json["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
        assert_eq!(
            r.json["authorization_endpoint"],
            format!("{issuer}/oauth2/authorize")
        );
        assert!(
            r.json["token_endpoint_auth_methods_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt"))
        );
    }
    // Every URL it names answers.
    let r = app
        .get("/realms/main/.well-known/oauth-authorization-server", None)
        .await;
    let jwks = r.json["jwks_uri"].as_str().unwrap();
    let jwks = app.get(jwks.strip_prefix(&app.base).unwrap(), None).await;
    assert_eq!(jwks.status, 200);
    for endpoint in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let url = r.json[endpoint].as_str().unwrap();
        let answer = form(&app, url.strip_prefix(&app.base).unwrap(), None, "").await;
        assert!(
            answer.status == 400 || answer.status == 401,
            "{endpoint}: {}",
            answer.text
        );
        assert!(
            answer.json["error"].is_string(),
            "{endpoint}: {}",
            answer.text
        );
    }
    assert_eq!(
        app.get(
            "/realms/nowhere/.well-known/oauth-authorization-server",
            None
        )
        .await
        .status,
        404
    );
});

backend_tests!(service_accounts, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let job = client(
        &app,
        &admin,
        json!({"name": "Orders service", "client_id": "orders-svc", "scopes": ["orders:read"]}),
    )
    .await;
    let sa = job["service_account_id"].as_str().unwrap().to_owned();
    assert_eq!(sa, job["id"].as_str().unwrap());
    let secret = job["client_secret"].as_str().unwrap().to_owned();
    // A web client has no service account.
    let web = client(
        &app,
        &admin,
        json!({"name": "Web", "client_id": "web", "redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await;
    assert!(web.get("service_account_id").is_none(), "{web}");

    let token = form(
        &app,
        TOKEN,
        Some(("orders-svc", &secret)),
        "grant_type=client_credentials",
    )
    .await;
    let token = token.json["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims(&token)["sub"], sa);
    // The service account is a subject of the engine: it has nothing yet.
    let me = app.get("/api/v1/auth/me", Some(&token)).await;
    assert_eq!(me.status, 200, "{}", me.text);
    assert_eq!(me.json["id"], sa);
    let user = app.register("olga@example.com", PW).await;
    let check = |subject: Option<&str>| {
        let mut body = json!({"action": "read", "resource": {"type": "orders"}});
        if let Some(s) = subject {
            body["subject"] = json!(s);
        }
        body
    };
    let r = app
        .post("/api/v1/authz/check", Some(&token), check(None))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["allowed"], false);
    let r = app
        .post(
            "/api/v1/authz/check",
            Some(&token),
            check(user["id"].as_str()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);

    // Roles are granted to it like to a user.
    let r = app
        .post(
            "/api/v1/rbac/roles",
            Some(&admin),
            json!({"name": "order-checker", "permissions": ["orders:read:all", "authz:check:all"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            &format!("/api/v1/rbac/users/{sa}/roles"),
            Some(&admin),
            json!({"role": "order-checker"}),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let r = app
        .post("/api/v1/authz/check", Some(&token), check(None))
        .await;
    assert_eq!(r.json["allowed"], true, "{}", r.text);
    let r = app
        .post(
            "/api/v1/authz/check",
            Some(&token),
            check(user["id"].as_str()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["allowed"], false);

    // Deleting the client deletes its service account and grants.
    let r = app.delete("/api/v1/clients/orders-svc", Some(&admin)).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app
        .get(&format!("/api/v1/identity/users/{sa}"), Some(&admin))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
});
