use super::*;

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> portcullis_testkit::Reply {
    app.call(reqwest::Method::PATCH, path, Some(token), Some(body))
        .await
}

fn error_fields(r: &portcullis_testkit::Reply) -> Vec<String> {
    r.json["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {}", r.text))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

backend_tests!(client_registry_round_trip, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let t = Some(admin.as_str());
    let r = app
        .post(
            "/api/v1/clients",
            t,
            json!({
                "name": "Web shop",
                "client_id": "web-shop",
                "redirect_uris": ["https://shop.example.com/cb", "http://127.0.0.1:8080/cb"],
                "post_logout_redirect_uris": ["https://shop.example.com/bye"],
                "access_token_ttl": 600,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43);
    assert_eq!(r.json["client_id"], "web-shop");
    assert_eq!(r.json["client_type"], "confidential");
    assert_eq!(r.json["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(
        r.json["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(
        r.json["scopes"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(r.json["id_token_signed_response_alg"], "RS256");
    assert_eq!(r.json["require_consent"], false);
    assert_eq!(r.json["has_secret"], true);

    // The secret is shown once and stored as its SHA-256 only.
    let realm = app.core.realms().default_realm().await.unwrap();
    let stored = app
        .core
        .store()
        .get_client(realm.id, "web-shop")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.secret_hash.as_deref(),
        Some(&portcullis_crypto::sha256(secret.as_bytes())[..])
    );
    assert!(stored.secret_matches(&secret));
    let r = app.get("/api/v1/clients/web-shop", t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json.get("client_secret").is_none());
    assert!(!r.text.contains(&secret));
    assert_eq!(r.json["access_token_ttl"], 600);
    // Under the realm's own prefix too.
    let r = app.get("/api/v1/realms/main/clients/web-shop", t).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A machine client: client_credentials by default.
    let r = app
        .post("/api/v1/clients", t, json!({"name": "Billing job"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json["grant_types"], json!(["client_credentials"]));
    let machine = r.json["client_id"].as_str().unwrap().to_owned();
    let r = app.get("/api/v1/clients", t).await;
    let ids: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    let mut sorted = vec![machine.as_str(), "web-shop"];
    sorted.sort_unstable();
    assert_eq!(ids, sorted);

    // Taken client_id.
    let r = app
        .post(
            "/api/v1/clients",
            t,
            json!({"name": "Again", "client_id": "web-shop"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Rotation: the old secret stops matching.
    let r = app
        .post("/api/v1/clients/web-shop/secret", t, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rotated = r.json["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(rotated, secret);
    let stored = app
        .core
        .store()
        .get_client(realm.id, "web-shop")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret_matches(&rotated));
    assert!(!stored.secret_matches(&secret));

    // PATCH: only what is present changes; null lifts a lifetime.
    let r = patch(
        &app,
        "/api/v1/clients/web-shop",
        &admin,
        json!({"name": "Shop", "access_token_ttl": null, "require_consent": true,
               "redirect_uris": ["https://shop.example.com/new"]}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["name"], "Shop");
    assert!(r.json.get("access_token_ttl").is_none());
    assert_eq!(r.json["require_consent"], true);
    assert_eq!(
        r.json["redirect_uris"],
        json!(["https://shop.example.com/new"])
    );
    assert_eq!(
        r.json["post_logout_redirect_uris"],
        json!(["https://shop.example.com/bye"])
    );
    assert!(r.json.get("client_secret").is_none());

    // To private_key_jwt: the secret goes; back to a secret: a new one, once.
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
    let r = patch(
        &app,
        "/api/v1/clients/web-shop",
        &admin,
        json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["has_secret"], false);
    assert_eq!(r.json["jwks"], jwks);
    let r = app
        .post("/api/v1/clients/web-shop/secret", t, json!({}))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let r = patch(
        &app,
        "/api/v1/clients/web-shop",
        &admin,
        json!({"token_endpoint_auth_method": "client_secret_post"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["has_secret"], true);
    assert_eq!(r.json["client_secret"].as_str().unwrap().len(), 43);

    // Delete.
    let r = app.delete("/api/v1/clients/web-shop", t).await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(app.get("/api/v1/clients/web-shop", t).await.status, 404);
    assert_eq!(app.delete("/api/v1/clients/web-shop", t).await.status, 404);
    assert_eq!(app.get("/api/v1/clients/no%20such", t).await.status, 404);
});

backend_tests!(
    client_registry_refuses_bad_input,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let t = Some(admin.as_str());
        let r = app
            .post(
                "/api/v1/clients",
                t,
                json!({
                    "name": "",
                    "client_id": "has space",
                    "redirect_uris": [
                        "http://shop.example.com/cb",
                        "https://shop.example.com/cb#x",
                        "javascript:alert(1)",
                    ],
                    "scopes": ["openid", "two words"],
                    "grant_types": ["implicit"],
                    "id_token_signed_response_alg": "HS256",
                    "access_token_ttl": 5,
                    "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
                }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let mut fields = error_fields(&r);
        fields.sort();
        assert_eq!(
            fields,
            [
                "access_token_ttl",
                "client_id",
                "grant_types[0]",
                "id_token_signed_response_alg",
                "jwks",
                "name",
                "redirect_uris[0]",
                "redirect_uris[1]",
                "redirect_uris[2]",
                "scopes[1]",
            ]
        );
        // Rules between fields.
        let r = app
        .post(
            "/api/v1/clients",
            t,
            json!({"name": "SPA", "client_type": "public", "grant_types": ["client_credentials"]}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(error_fields(&r), ["grant_types"]);
        let r = app
        .post(
            "/api/v1/clients",
            t,
            json!({"name": "SPA", "client_type": "public", "grant_types": ["authorization_code"]}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(error_fields(&r), ["redirect_uris"]);
        let r = app
            .post(
                "/api/v1/clients",
                t,
                json!({"name": "Signer", "token_endpoint_auth_method": "private_key_jwt"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(error_fields(&r), ["jwks"]);
        // A public client gets no secret.
        let r = app
            .post(
                "/api/v1/clients",
                t,
                json!({"name": "SPA", "client_id": "spa", "client_type": "public",
                   "redirect_uris": ["https://spa.example.com/cb", "com.example.app:/cb"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert!(r.json.get("client_secret").is_none());
        assert_eq!(r.json["token_endpoint_auth_method"], "none");
        assert_eq!(r.json["has_secret"], false);
        let r = app.post("/api/v1/clients/spa/secret", t, json!({})).await;
        assert_eq!(r.status, 409, "{}", r.text);
        // A PATCH that breaks a rule changes nothing.
        let r = patch(
            &app,
            "/api/v1/clients/spa",
            &admin,
            json!({"redirect_uris": []}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app.get("/api/v1/clients/spa", t).await;
        assert_eq!(r.json["redirect_uris"].as_array().unwrap().len(), 2);
        // Unknown fields are refused (a typo in a security setting).
        let r = app
            .post(
                "/api/v1/clients",
                t,
                json!({"name": "X", "redirect_uri": "https://x.example.com/cb"}),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.json["type"], "urn:portcullis:problem:validation-error");
    }
);

backend_tests!(
    client_registry_needs_permissions,
    |app: TestApp| async move {
        let user = app.user("plain@example.com").await;
        let t = Some(user.access_token.as_str());
        assert_eq!(app.get("/api/v1/clients", None).await.status, 401);
        assert_eq!(app.get("/api/v1/clients", t).await.status, 403);
        let r = app
            .post("/api/v1/clients", t, json!({"name": "Sneaky"}))
            .await;
        assert_eq!(r.status, 403);
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/clients",
                Some(&admin),
                json!({"name": "Job", "client_id": "job"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(app.get("/api/v1/clients/job", t).await.status, 403);
        assert_eq!(
            app.post("/api/v1/clients/job/secret", t, json!({}))
                .await
                .status,
            403
        );
        assert_eq!(app.delete("/api/v1/clients/job", t).await.status, 403);
    }
);

backend_tests!(
    client_links_are_https_and_kept_as_given,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/clients",
                Some(&admin),
                json!({
                    "name": "Shop",
                    "redirect_uris": ["https://shop.example.com/cb"],
                    "logo_uri": "http://shop.example.com/logo.png",
                    "policy_uri": "javascript:alert(1)",
                    "tos_uri": "https://user:pw@shop.example.com/terms"
                }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let fields: Vec<&str> = r.json["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["logo_uri", "policy_uri", "tos_uri"], "{}", r.text);

        let r = app
            .post(
                "/api/v1/clients",
                Some(&admin),
                json!({
                    "name": "Shop",
                    "client_id": "shop",
                    "redirect_uris": ["https://shop.example.com/cb"],
                    "logo_uri": "https://cdn.example.com/shop.png",
                    "policy_uri": "https://shop.example.com/privacy",
                    "tos_uri": "https://shop.example.com/terms?lang=en"
                }),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json["logo_uri"], "https://cdn.example.com/shop.png");
        assert_eq!(r.json["tos_uri"], "https://shop.example.com/terms?lang=en");
        let r = patch(
            &app,
            "/api/v1/clients/shop",
            &admin,
            json!({"logo_uri": null, "policy_uri": "ftp://x"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = patch(
            &app,
            "/api/v1/clients/shop",
            &admin,
            json!({"logo_uri": null}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json.get("logo_uri").is_none(), "{}", r.text);
        assert_eq!(r.json["policy_uri"], "https://shop.example.com/privacy");
    }
);
