use super::*;

async fn jwks(app: &TestApp, realm: &str) -> Value {
    let r = app
        .get(&format!("/realms/{realm}/.well-known/jwks.json"), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json
}

fn verify_with_jwks(token: &str, jwks: &Value) -> Value {
    let kid = header(token)["kid"].as_str().unwrap().to_owned();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("kid published");
    let key = portcullis_crypto::VerifyingKey::from_jwk(jwk).unwrap();
    portcullis_crypto::verify::<Value>(token, &key).expect("signature verifies")
}

backend_tests!(
    access_tokens_are_signed_jwts_with_the_documented_claims,
    |app: TestApp| async move {
        let t = app.user("rita@example.com").await;
        let h = header(&t.access_token);
        assert_eq!(h["alg"], "EdDSA");
        assert_eq!(h["typ"], "at+jwt");
        let c = verify_with_jwks(&t.access_token, &jwks(&app, "main").await);
        assert_eq!(c["iss"], format!("{}/realms/main", app.base));
        assert_eq!(c["sub"], t.user.as_ref().unwrap().id.to_string());
        assert!(c["aud"].is_string());
        assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 900);
        assert!(c["jti"].is_string() && c["sid"].is_string());
    }
);

backend_tests!(
    realms_can_sign_with_es256_and_rs256,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        for (name, alg) in [("ecrealm", "ES256"), ("rsarealm", "RS256")] {
            let r = app
                .post(
                    "/api/v1/realms",
                    Some(&admin),
                    json!({"name": name, "signing_alg": alg}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let base = format!("/api/v1/realms/{name}/auth");
            let r = app
                .post(
                    &format!("{base}/register"),
                    None,
                    json!({"email": "s@example.com", "password": PW}),
                )
                .await;
            assert_eq!(r.status, 201, "{}", r.text);
            let r = app
                .post(
                    &format!("{base}/login"),
                    None,
                    json!({"email": "s@example.com", "password": PW}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            let token = r.json["access_token"].as_str().unwrap();
            assert_eq!(header(token)["alg"], alg);
            let c = verify_with_jwks(token, &jwks(&app, name).await);
            assert_eq!(c["iss"], format!("{}/realms/{name}", app.base));
            let me = app.get(&format!("{base}/me"), Some(token)).await;
            assert_eq!(me.status, 200);
        }
    }
);

backend_tests!(
    key_rotation_keeps_old_tokens_valid,
    |app: TestApp| async move {
        let before = app.user("sam@example.com").await;
        let old_kid = header(&before.access_token)["kid"]
            .as_str()
            .unwrap()
            .to_owned();
        let new_kid = app.core.realms().rotate_keys("main").await.unwrap();
        assert_ne!(old_kid, new_kid);
        let after = app.login("sam@example.com", PW).await;
        assert_eq!(header(&after.access_token)["kid"], new_kid.as_str());
        let keys = jwks(&app, "main").await;
        let kids: Vec<_> = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert!(kids.contains(&old_kid) && kids.contains(&new_kid));
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&before.access_token))
                .await
                .status,
            200
        );
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&after.access_token))
                .await
                .status,
            200
        );
        // After the overlap the old key is no longer published.
        app.clock.advance(Duration::minutes(21));
        app.core.realms().rotate_keys("main").await.unwrap();
        let keys = jwks(&app, "main").await;
        assert!(
            keys["keys"]
                .as_array()
                .unwrap()
                .iter()
                .all(|k| k["kid"] != old_kid.as_str())
        );
    }
);

backend_tests!(
    forged_and_tampered_tokens_are_rejected,
    |app: TestApp| async move {
        let t = app.user("tina@example.com").await;
        let parts: Vec<&str> = t.access_token.split('.').collect();
        // Change the subject, keep the signature.
        use base64::Engine;
        let mut c = claims(&t.access_token);
        c["sub"] = json!(uuid::Uuid::now_v7().to_string());
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(c.to_string());
        let forged = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(app.get("/api/v1/auth/me", Some(&forged)).await.status, 401);
        // alg=none.
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"at+jwt"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&unsigned)).await.status,
            401
        );
        // A token signed by a key the realm never had.
        let key =
            portcullis_crypto::generate_signing_key(portcullis_crypto::SigningAlgorithm::EdDSA)
                .unwrap();
        let key =
            portcullis_crypto::SigningKey::from_pkcs8(key.alg, &key.private_pkcs8_der).unwrap();
        let foreign = key.sign(&claims(&t.access_token), "at+jwt").unwrap();
        assert_eq!(app.get("/api/v1/auth/me", Some(&foreign)).await.status, 401);
        let v = app
            .post("/api/v1/auth/validate", None, json!({"token": foreign}))
            .await;
        assert_eq!(v.json["active"], false);
    }
);

async fn published_keys(app: &TestApp) -> Vec<(String, String)> {
    jwks(app, "main").await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap().to_owned(),
                k["kty"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

backend_tests!(keys_for_other_algorithms, |app: TestApp| async move {
    use portcullis_crypto::SigningAlgorithm;
    let realm = app.core.realms().default_realm().await.unwrap();
    assert_eq!(realm.signing_alg, SigningAlgorithm::EdDSA);
    let rsa = app
        .core
        .keys()
        .signer_for(&realm, SigningAlgorithm::RS256)
        .await
        .unwrap();
    assert_eq!(rsa.alg(), SigningAlgorithm::RS256);
    // Made once, published beside the realm's own key.
    let again = app
        .core
        .keys()
        .signer_for(&realm, SigningAlgorithm::RS256)
        .await
        .unwrap();
    assert_eq!(again.kid(), rsa.kid());
    let published = published_keys(&app).await;
    assert!(
        published.contains(&(rsa.kid().to_owned(), "RSA".to_owned())),
        "{published:?}"
    );
    assert!(
        published.iter().any(|(_, kty)| kty == "OKP"),
        "{published:?}"
    );
    // Access tokens keep the realm's algorithm.
    let user = app.user("alg@example.com").await;
    assert_eq!(header(&user.access_token)["alg"], "EdDSA");
    // The realm's own algorithm is the realm's signer.
    let own = app
        .core
        .keys()
        .signer_for(&realm, SigningAlgorithm::EdDSA)
        .await
        .unwrap();
    assert_eq!(own.alg(), SigningAlgorithm::EdDSA);
    // A rotation replaces it too; the old one stays published during the
    // overlap.
    app.core.realms().rotate_keys("main").await.unwrap();
    let fresh = app
        .core
        .keys()
        .signer_for(&realm, SigningAlgorithm::RS256)
        .await
        .unwrap();
    assert_ne!(fresh.kid(), rsa.kid());
    let published = published_keys(&app).await;
    assert!(published.iter().any(|(kid, _)| kid == rsa.kid()));
    assert!(published.iter().any(|(kid, _)| kid == fresh.kid()));
});
