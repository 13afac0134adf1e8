//! Bulk import and export: the round trip to an empty server, per-line
//! refusals of hostile input, and tenant isolation.

use super::*;

const HELLO_BCRYPT: &str = "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K";

async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let res = app
        .http
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn login_status(app: &TestApp, realm: &str, email: &str, password: &str) -> u16 {
    app.post(
        &format!("/api/v1/realms/{realm}/auth/login"),
        None,
        json!({"email": email, "password": password}),
    )
    .await
    .status
}

backend_tests!(
    import_refuses_bad_lines_and_round_trips_to_an_empty_server,
    |app: TestApp| async move {
        let admin = app.admin_token().await;
        let user_id = uuid::Uuid::now_v7();
        let role_id = uuid::Uuid::now_v7();
        let group_id = uuid::Uuid::now_v7();
        let org_id = uuid::Uuid::now_v7();
        let mut body = String::new();
        for l in [
            json!({"format": "portcullis-realm", "version": 1}),
            json!({"type": "role", "id": role_id, "name": "editor", "permissions": ["docs:read:own"]}),
            json!({"type": "group", "id": group_id, "name": "staff"}),
            json!({"type": "user", "id": user_id, "email": "old@example.com", "name": "Old",
                   "password_hash": HELLO_BCRYPT, "email_verified": true}),
            json!({"type": "user", "email": "OLD@example.com"}),
            json!({"type": "user", "email": "cost@example.com",
                   "password_hash": "$2b$31$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"}),
            json!({"type": "membership", "user": user_id, "group": group_id}),
            json!({"type": "grant", "to": {"kind": "user", "id": user_id}, "role": role_id}),
            json!({"type": "organization", "id": org_id, "name": "globex", "display_name": "Globex"}),
            json!({"type": "organization_member", "organization": org_id, "user": user_id, "role": "admin"}),
            json!({"type": "user", "email": "typo@example.com", "pasword_hash": "x"}),
        ] {
            body.push_str(&l.to_string());
            body.push('\n');
        }
        body.push_str(&format!("{}{}\n", "[".repeat(5000), "]".repeat(5000)));
        body.push_str(&format!(
            "{{\"type\":\"user\",\"email\":\"{}@example.com\"}}\n",
            "x".repeat(2 << 20)
        ));

        // A dry run writes nothing.
        let path = "/api/v1/realms/main/import";
        let (status, text) = raw(
            &app,
            reqwest::Method::POST,
            &format!("{path}?dry_run=true"),
            &admin,
            body.clone().into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(
            login_status(&app, "main", "old@example.com", "hello").await,
            401
        );

        let (status, text) =
            raw(&app, reqwest::Method::POST, path, &admin, body.into_bytes()).await;
        assert_eq!(status, 200, "{text}");
        let report = lines(&text);
        let refused: Vec<(u64, String)> = report
            .iter()
            .filter(|r| r["outcome"] == "refused")
            .map(|r| {
                (
                    r["line"].as_u64().unwrap(),
                    r["field"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            refused,
            [
                (5, "email".to_owned()),
                (6, "password_hash".to_owned()),
                (11, "pasword_hash".to_owned()),
                (12, "line".to_owned()),
                (13, "line".to_owned()),
            ],
            "{text}"
        );
        let summary = &report.last().unwrap()["summary"];
        assert_eq!(summary["refused"], 5, "{text}");
        assert_eq!(summary["users"], 1);

        // The old password works, and the hash is upgraded.
        assert_eq!(
            login_status(&app, "main", "old@example.com", "hello").await,
            200
        );

        // Export, with factors.
        let res = app
            .http
            .get(app.url("/api/v1/realms/main/export?factors=true"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let export = res.text().await.unwrap();
        let records = lines(&export);
        assert_eq!(records[0]["format"], "portcullis-realm");
        let old = records
            .iter()
            .find(|r| r["type"] == "user" && r["email"] == "old@example.com")
            .unwrap();
        assert!(
            old["password_hash"]
                .as_str()
                .unwrap()
                .starts_with("$argon2id$"),
            "{old}"
        );
        assert!(
            records
                .iter()
                .any(|r| r["type"] == "membership" && r["user"] == json!(user_id))
        );
        assert!(
            records
                .iter()
                .any(|r| r["type"] == "grant" && r["role"] == json!(role_id))
        );
        assert!(
            records
                .iter()
                .any(|r| r["type"] == "organization_member" && r["user"] == json!(user_id))
        );

        // Another realm of the same server cannot take these ids.
        let r = app
            .post("/api/v1/realms", Some(&admin), json!({"name": "copy"}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let (status, text) = raw(
            &app,
            reqwest::Method::POST,
            "/api/v1/realms/copy/import",
            &admin,
            export.clone().into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("another realm"), "{text}");
        assert_eq!(
            login_status(&app, "copy", "old@example.com", "hello").await,
            401
        );
        assert_eq!(
            login_status(&app, "main", "old@example.com", "hello").await,
            200
        );

        // An empty server takes the export whole; the user signs in there.
        let other = portcullis_testkit::spawn_app(app.backend).await.unwrap();
        let admin2 = other.admin_token().await;
        let (status, text) = raw(
            &other,
            reqwest::Method::POST,
            "/api/v1/realms/main/import",
            &admin2,
            export.into_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let report = lines(&text);
        // The bootstrap admin exists there already: its line updates it.
        assert_eq!(report.last().unwrap()["summary"]["refused"], 0, "{text}");
        assert_eq!(
            login_status(&other, "main", "old@example.com", "hello").await,
            200
        );

        // Without server-admin rights: 403; without a token: 401.
        let plain = app.user("plain@example.com").await;
        let (status, _) = raw(
            &app,
            reqwest::Method::GET,
            "/api/v1/realms/main/export",
            &plain.access_token,
            Vec::new(),
        )
        .await;
        assert_eq!(status, 403);
    }
);
