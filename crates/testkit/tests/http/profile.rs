//! Profiles: the realm's schema, profiles read and written by
//! administrators and users, migration on schema change, isolation.

use super::*;

fn field_names(r: &portcullis_testkit::Reply) -> Vec<String> {
    let mut names: Vec<String> = r.json["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> portcullis_testkit::Reply {
    app.call(reqwest::Method::PUT, path, Some(token), Some(body))
        .await
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> portcullis_testkit::Reply {
    app.call(reqwest::Method::PATCH, path, Some(token), Some(body))
        .await
}

fn schema_v1() -> Value {
    json!({
        "version": 1,
        "fields": [
            {"name": "given_name", "kind": {"type": "string", "max_length": 40},
             "claim": "given_name", "claim_scope": "profile"},
            {"name": "family_name", "kind": {"type": "string"},
             "claim": "family_name", "claim_scope": "profile"},
            {"name": "phone_number", "kind": {"type": "phone"},
             "claim": "phone_number", "claim_scope": "phone"},
            {"name": "nickname", "kind": {"type": "string", "max_length": 20},
             "claim": "nickname", "claim_scope": "profile"},
            {"name": "team", "kind": {"type": "one_of", "options": ["red", "blue"]},
             "claim": "team", "claim_scope": "teams"},
            {"name": "employee_id", "kind": {"type": "string", "pattern": "E[0-9]{4}"},
             "readable_by": ["admin"], "editable_by": ["admin"]}
        ]
    })
}

backend_tests!(
    profile_schema_and_profiles_round_trip,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let r = app
            .get("/api/v1/identity/profile-schema", Some(&admin))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["version"], 0);
        assert_eq!(r.json["fields"].as_array().unwrap().len(), 7);

        let user = app.user("ada@example.com").await;
        let ut = user.access_token.clone();
        let me = app.get("/api/v1/auth/me", Some(&ut)).await;
        let id = me.json["id"].as_str().unwrap().to_owned();
        let r = app.get("/api/v1/auth/me/profile", Some(&ut)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["profile"], json!({}));
        assert_eq!(r.json["schema_version"], 0);

        // The user writes his own, normalised; the account's name follows.
        let r = patch(
            &app,
            "/api/v1/auth/me/profile",
            &ut,
            json!({"given_name": " Ada ", "family_name": "Lovelace",
               "phone_number": "+44 20 7946 0958", "locale": "fr"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["profile"]["given_name"], "Ada");
        assert_eq!(r.json["profile"]["phone_number"], "+442079460958");
        let me = app.get("/api/v1/auth/me", Some(&ut)).await;
        assert_eq!(me.json["name"], "Ada Lovelace", "{}", me.text);

        // Every wrong field named; nothing written.
        let r = patch(
            &app,
            "/api/v1/auth/me/profile",
            &ut,
            json!({"given_name": 5, "nickname": "x", "phone_number": "abc", "_archived": {}}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(
            field_names(&r),
            ["_archived", "given_name", "nickname", "phone_number"]
        );
        let r = app
            .call(
                reqwest::Method::PATCH,
                "/api/v1/auth/me/profile",
                Some(&ut),
                Some(json!(["not", "an", "object"])),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);

        // A plain user is no administrator.
        let r = app
            .get(&format!("/api/v1/identity/users/{id}/profile"), Some(&ut))
            .await;
        assert_eq!(r.status, 403, "{}", r.text);
        let r = put(&app, "/api/v1/identity/profile-schema", &ut, schema_v1()).await;
        assert_eq!(r.status, 403, "{}", r.text);

        // A schema change: invalid ones named, then stored and migrated.
        let mut bad = schema_v1();
        bad["version"] = json!(0);
        bad["fields"][5]["kind"]["pattern"] = json!("(");
        let r = put(&app, "/api/v1/identity/profile-schema", &admin, bad).await;
        assert_eq!(r.status, 422, "{}", r.text);
        let names = field_names(&r);
        assert!(names.contains(&"version".to_owned()), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("fields[5]")),
            "{names:?}"
        );
        let r = put(
            &app,
            "/api/v1/identity/profile-schema",
            &admin,
            json!({"version": 2, "fields": [], "extra": 1}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(field_names(&r), ["extra"]);
        let r = put(&app, "/api/v1/identity/profile-schema", &admin, schema_v1()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["migrated"], 1);
        let r = put(&app, "/api/v1/identity/profile-schema", &admin, schema_v1()).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(field_names(&r), ["version"]);

        // The locale the new schema dropped is archived, not lost.
        let path = format!("/api/v1/identity/users/{id}/profile");
        let r = app.get(&path, Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["schema_version"], 1);
        assert_eq!(r.json["profile"]["given_name"], "Ada");
        assert_eq!(r.json["archived"]["0"]["locale"], "fr");

        // Admin-only fields: the user neither sees nor writes them.
        let r = patch(
            &app,
            "/api/v1/auth/me/profile",
            &ut,
            json!({"employee_id": "E1234"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(field_names(&r), ["employee_id"]);
        let r = put(
            &app,
            &path,
            &admin,
            json!({"given_name": "Ada", "employee_id": "x", "team": "green"}),
        )
        .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(field_names(&r), ["employee_id", "team"]);
        let r = put(
        &app,
        &path,
        &admin,
        json!({"given_name": "Ada", "family_name": "King", "employee_id": "E1234", "team": "red"}),
    )
    .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["profile"]["employee_id"], "E1234");
        // PUT replaced: the phone number it left out is gone.
        assert!(r.json["profile"].get("phone_number").is_none());
        let r = app.get("/api/v1/auth/me/profile", Some(&ut)).await;
        assert!(r.json["profile"].get("employee_id").is_none(), "{}", r.text);
        assert!(r.json.get("archived").is_none(), "{}", r.text);
        assert_eq!(r.json["profile"]["team"], "red");
        let me = app.get("/api/v1/auth/me", Some(&ut)).await;
        assert_eq!(me.json["name"], "Ada King");

        // Unknown users, and ids that are not ids.
        let r = app
            .get(
                &format!("/api/v1/identity/users/{}/profile", uuid::Uuid::now_v7()),
                Some(&admin),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        let r = app
            .get("/api/v1/identity/users/nope/profile", Some(&admin))
            .await;
        assert_eq!(r.status, 404, "{}", r.text);

        // Audited, without the values of admin-only fields.
        app.core.flush_audit().await;
        let realm = app.core.realms().default_realm().await.unwrap();
        let records = app.core.store().list_audit(realm.id, 200).await.unwrap();
        let updates: Vec<_> = records
            .iter()
            .filter(|r| r.action == "profile.update")
            .collect();
        assert_eq!(updates.len(), 2);
        let by_admin = updates
            .iter()
            .find(|r| r.after.as_ref().unwrap()["by"] == "admin")
            .unwrap();
        let after = by_admin.after.as_ref().unwrap();
        assert!(
            after["fields"]
                .as_array()
                .unwrap()
                .contains(&json!("employee_id"))
        );
        assert!(!after.to_string().contains("E1234"), "{after}");
        assert!(records.iter().any(|r| r.action == "profile.schema.update"));
    }
);

backend_tests!(profile_stays_in_its_realm, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app
        .post(
            "/api/v1/realms",
            Some(&admin),
            json!({"name": "acme", "admin": {"email": "boss@acme.example", "password": PW}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let boss = app
        .post(
            "/api/v1/realms/acme/auth/login",
            None,
            json!({"email": "boss@acme.example", "password": PW}),
        )
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = app.user("ada@example.com").await;
    let me = app.get("/api/v1/auth/me", Some(&user.access_token)).await;
    let id = me.json["id"].as_str().unwrap().to_owned();
    patch(
        &app,
        "/api/v1/auth/me/profile",
        &user.access_token,
        json!({"given_name": "Ada"}),
    )
    .await;
    // acme's administrator cannot find a user of the default realm.
    let r = app
        .get(
            &format!("/api/v1/realms/acme/identity/users/{id}/profile"),
            Some(&boss),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = put(
        &app,
        &format!("/api/v1/realms/acme/identity/users/{id}/profile"),
        &boss,
        json!({"given_name": "Eve"}),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Nor use its token on the default realm's routes.
    let r = app
        .get(&format!("/api/v1/identity/users/{id}/profile"), Some(&boss))
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // acme's schema is its own.
    let r = put(
        &app,
        "/api/v1/realms/acme/identity/profile-schema",
        &boss,
        schema_v1(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["migrated"], 0);
    let r = app
        .get("/api/v1/identity/profile-schema", Some(&admin))
        .await;
    assert_eq!(r.json["version"], 0);
    // The server administrator acts in acme.
    let r = app
        .get("/api/v1/realms/acme/identity/profile-schema", Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["version"], 1);
    let r = app
        .get("/api/v1/auth/me/profile", Some(&user.access_token))
        .await;
    assert_eq!(r.json["profile"]["given_name"], "Ada");
});

backend_tests!(
    profile_claims_follow_the_schema,
    |app: TestApp| async move {
        use crate::oidc::{Browser, USERINFO, tokens_for, web_client};
        let admin = app.admin_token().await;
        let scopes = json!({"scopes": ["openid", "profile", "email", "phone", "address", "teams"]});
        let secret = web_client(&app, &admin, "web", scopes).await;
        let user = app.register("hal@example.com", PW).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let login = app.login("hal@example.com", PW).await;
        patch(
            &app,
            "/api/v1/auth/me/profile",
            &login.access_token,
            json!({"given_name": "Hal", "family_name": "Jordan", "phone_number": "+1 555 0100",
               "address": {"locality": "Coast City", "country": "US"}}),
        )
        .await;
        let mut b = Browser::default();
        let all = "openid profile email phone address teams";
        let t = tokens_for(
            &app,
            &mut b,
            "web",
            &secret,
            "hal@example.com",
            &[("scope", all)],
        )
        .await;
        let idt = claims(t["id_token"].as_str().unwrap());
        assert_eq!(idt["given_name"], "Hal");
        assert_eq!(idt["name"], "Hal Jordan");
        assert_eq!(idt["phone_number"], "+15550100");
        assert_eq!(idt["phone_number_verified"], false);
        assert_eq!(idt["address"]["locality"], "Coast City");
        assert_eq!(idt["email"], "hal@example.com");
        let access = t["access_token"].as_str().unwrap().to_owned();
        let r = app.get(USERINFO, Some(&access)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["family_name"], "Jordan");
        assert_eq!(r.json["sub"], id);

        // A schema: custom claims under their scope, admin-only fields never.
        let r = put(&app, "/api/v1/identity/profile-schema", &admin, schema_v1()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = put(
            &app,
            &format!("/api/v1/identity/users/{id}/profile"),
            &admin,
            json!({"given_name": "Hal", "family_name": "Jordan", "nickname": "GL",
               "team": "blue", "employee_id": "E0001"}),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.get(USERINFO, Some(&access)).await;
        assert_eq!(r.json["nickname"], "GL", "{}", r.text);
        assert_eq!(r.json["team"], "blue");
        assert!(r.json.get("employee_id").is_none());
        // The schema has no address any more: archived, not released.
        assert!(r.json.get("address").is_none(), "{}", r.text);
        let t = tokens_for(
            &app,
            &mut b,
            "web",
            &secret,
            "",
            &[("scope", "openid profile")],
        )
        .await;
        let r = app.get(USERINFO, t["access_token"].as_str()).await;
        assert_eq!(r.json["nickname"], "GL");
        assert!(r.json.get("team").is_none(), "{}", r.text);
        assert!(r.json.get("email").is_none());
    }
);

backend_tests!(profile_user_pages, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let ada = app.user("ada@example.com").await.access_token;
    let bob = app.user("bob@example.com").await.access_token;
    let ada_id = app.get("/api/v1/auth/me", Some(&ada)).await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Preferences: empty, changed, every wrong field named.
    let r = app.get("/api/v1/users/me/preferences", Some(&ada)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["notifications"], json!({}));
    let r = patch(
        &app,
        "/api/v1/users/me/preferences",
        &ada,
        json!({"locale": "fr-CA", "time_zone": "Europe/Paris",
               "notifications": {"security": true, "newsletter": false}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["locale"], "fr-CA");
    let r = patch(
        &app,
        &format!("/api/v1/users/{ada_id}/preferences"),
        &ada,
        json!({"notifications": {"newsletter": null}, "time_zone": null}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["notifications"], json!({"security": true}));
    assert_eq!(r.json["time_zone"], Value::Null);
    let r = patch(
        &app,
        "/api/v1/users/me/preferences",
        &ada,
        json!({"locale": "<b>", "time_zone": 3, "theme": "dark", "notifications": {"x": 1}}),
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        field_names(&r),
        ["locale", "notifications.x", "theme", "time_zone"]
    );

    // Someone else's pages: 404, whether the user exists or not.
    for path in ["preferences", "dashboard", "activity"] {
        let r = app
            .get(&format!("/api/v1/users/{ada_id}/{path}"), Some(&bob))
            .await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        let r = app
            .get(
                &format!("/api/v1/users/{}/{path}", uuid::Uuid::now_v7()),
                Some(&bob),
            )
            .await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(
            app.get(&format!("/api/v1/users/me/{path}"), None)
                .await
                .status,
            401
        );
    }
    let r = patch(
        &app,
        &format!("/api/v1/users/{ada_id}/preferences"),
        &bob,
        json!({"locale": "en"}),
    )
    .await;
    assert_eq!(r.status, 404, "{}", r.text);

    // The dashboard, as the user and as an administrator.
    let r = app
        .post(
            "/api/v1/organizations",
            Some(&admin),
            json!({"name": "globex"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/api/v1/organizations/globex/users",
            Some(&admin),
            json!({"user_id": ada_id, "role": "admin"}),
        )
        .await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    let r = app.get("/api/v1/users/me/dashboard", Some(&ada)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "ada@example.com");
    assert!(
        !r.json["sessions"].as_array().unwrap().is_empty(),
        "{}",
        r.text
    );
    assert!(
        !r.json["roles"].as_array().unwrap().is_empty(),
        "{}",
        r.text
    );
    assert_eq!(r.json["organizations"][0]["name"], "globex");
    assert_eq!(r.json["organizations"][0]["role"], "admin");
    let r = app
        .get(&format!("/api/v1/users/{ada_id}/dashboard"), Some(&admin))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["user_id"], json!(ada_id));

    // Activity: newest first, a page at a time.
    patch(
        &app,
        "/api/v1/auth/me/profile",
        &ada,
        json!({"given_name": "Ada"}),
    )
    .await;
    app.core.flush_audit().await;
    let r = app
        .get("/api/v1/users/me/activity?limit=100", Some(&ada))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let all = r.json["items"].as_array().unwrap().clone();
    assert!(all.len() >= 4, "{}", r.text);
    assert_eq!(all[0]["action"], "profile.update");
    assert_eq!(all[0]["by_self"], true);
    let target = format!("user:{ada_id}");
    assert!(
        all.iter()
            .all(|e| e["by_self"] == true || e["target"] == json!(target))
    );
    assert!(all.iter().any(|e| e["action"] == "preferences.update"));
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users/{ada_id}/activity?limit=2&cursor={c}"),
            None => format!("/api/v1/users/{ada_id}/activity?limit=2"),
        };
        let r = app.get(&path, Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        seen.extend(r.json["items"].as_array().unwrap().iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, all);
    let r = app
        .get("/api/v1/users/me/activity?cursor=nope&limit=0", Some(&ada))
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(field_names(&r), ["cursor", "limit"]);
    let r = app
        .get("/api/v1/users/me/activity?limit=x", Some(&ada))
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Another realm's administrator finds nothing.
    let r = app
        .post(
            "/api/v1/realms",
            Some(&admin),
            json!({"name": "acme", "admin": {"email": "boss@acme.example", "password": PW}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let boss = app
        .post(
            "/api/v1/realms/acme/auth/login",
            None,
            json!({"email": "boss@acme.example", "password": PW}),
        )
        .await
        .json["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get(
            &format!("/api/v1/realms/acme/users/{ada_id}/dashboard"),
            Some(&boss),
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = app
        .get("/api/v1/realms/acme/users/me/dashboard", Some(&boss))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["email"], "boss@acme.example");
});
