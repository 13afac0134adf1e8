//! SCIM 2.0 (`/scim/v2/realms/{realm}`): discovery, authentication, users
//! and groups as Okta and Microsoft Entra ID provision them, filters,
//! ETags, bulk, and isolation between realms.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::*;

const SCIM: &str = "/scim/v2/realms/main";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A provisioning client of `realm` and its token; with the right when
/// `allowed`.
async fn provisioner(app: &TestApp, admin: &str, realm: &str, id: &str, allowed: bool) -> String {
    let prefix = if realm == "main" {
        "/api/v1".to_owned()
    } else {
        format!("/api/v1/realms/{realm}")
    };
    let r = app
        .post(
            &format!("{prefix}/clients"),
            Some(admin),
            json!({"name": "SCIM client", "client_id": id}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let sa = r.json["service_account_id"].as_str().unwrap().to_owned();
    let secret = r.json["client_secret"].as_str().unwrap().to_owned();
    if allowed {
        let r = app
            .post(
                &format!("{prefix}/rbac/roles"),
                Some(admin),
                json!({"name": format!("{id}-role"), "permissions": ["scim:provision:all"]}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let r = app
            .post(
                &format!("{prefix}/rbac/users/{sa}/roles"),
                Some(admin),
                json!({"role": format!("{id}-role")}),
            )
            .await;
        assert!(r.status == 200 || r.status == 201, "{}", r.text);
    }
    let r = app
        .http
        .post(app.url(&format!("/realms/{realm}/oauth2/token")))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        )
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let r = portcullis_testkit::Reply::read(r).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["access_token"].as_str().unwrap().to_owned()
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> portcullis_testkit::Reply {
    let mut req = app.http.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    portcullis_testkit::Reply::read(req.send().await.unwrap()).await
}

fn user_body(name: &str, email: &str) -> Value {
    json!({
        "schemas": [USER],
        "userName": name,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": email, "type": "work", "primary": true}],
        "active": true,
    })
}

fn scim_error(r: &portcullis_testkit::Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/scim+json"),
        "{}",
        r.text
    );
    assert_eq!(
        r.json["schemas"][0], "urn:ietf:params:scim:api:messages:2.0:Error",
        "{}",
        r.text
    );
    assert_eq!(r.json["status"], status.to_string(), "{}", r.text);
}

backend_tests!(
    scim_discovery_and_authentication,
    |app: TestApp| async move {
        // Discovery needs no token.
        let r = app
            .get(&format!("{SCIM}/ServiceProviderConfig"), None)
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/scim+json"));
        assert_eq!(r.json["patch"]["supported"], true);
        assert_eq!(r.json["etag"]["supported"], true);
        assert_eq!(r.json["bulk"]["maxOperations"], 1000);
        let r = app.get(&format!("{SCIM}/ResourceTypes"), None).await;
        assert_eq!(r.json["totalResults"], 2, "{}", r.text);
        let r = app.get(&format!("{SCIM}/ResourceTypes/User"), None).await;
        assert_eq!(
            r.json["schemaExtensions"][0]["schema"], ENTERPRISE,
            "{}",
            r.text
        );
        let r = app.get(&format!("{SCIM}/Schemas/{USER}"), None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.get(&format!("{SCIM}/Schemas/urn:nope"), None).await;
        scim_error(&r, 404);

        // Resources need a token with `scim:provision:all`.
        let r = app.get(&format!("{SCIM}/Users"), None).await;
        scim_error(&r, 401);
        assert!(r.header("www-authenticate").is_some());
        let user = app.user("plain@example.com").await;
        let r = app
            .get(&format!("{SCIM}/Users"), Some(&user.access_token))
            .await;
        scim_error(&r, 403);
        let admin = app.admin_token().await;
        let without = provisioner(&app, &admin, "main", "no-scim", false).await;
        let r = app.get(&format!("{SCIM}/Users"), Some(&without)).await;
        scim_error(&r, 403);
        assert!(
            r.json["detail"]
                .as_str()
                .unwrap()
                .contains("scim:provision"),
            "{}",
            r.text
        );
        let okta = provisioner(&app, &admin, "main", "okta", true).await;
        let r = app.get(&format!("{SCIM}/Users"), Some(&okta)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.json["schemas"][0],
            "urn:ietf:params:scim:api:messages:2.0:ListResponse"
        );
        // The realm's admins hold it too.
        let r = app.get(&format!("{SCIM}/Groups"), Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = app.get(&format!("{SCIM}/Me"), Some(&okta)).await;
        scim_error(&r, 501);
        let r = app.get("/scim/v2/realms/nope/Users", Some(&okta)).await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
);

backend_tests!(scim_users_are_provisioned, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let okta = provisioner(&app, &admin, "main", "okta", true).await;
    let t = Some(okta.as_str());
    use reqwest::Method;

    // Create: 201 with Location and ETag.
    let mut body = user_body("bjensen@example.com", "bjensen@example.com");
    body["externalId"] = json!("00u1abc");
    body["password"] = json!(PW);
    body[ENTERPRISE] =
        json!({"employeeNumber": "701984", "department": "Tour Operations", "costCenter": "4130"});
    body["schemas"] = json!([USER, ENTERPRISE]);
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(body),
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location").unwrap(),
        r.json["meta"]["location"].as_str().unwrap()
    );
    assert!(
        r.json["meta"]["location"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/scim/v2/realms/main/Users/{id}"))
    );
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(r.json["meta"]["version"], etag);
    assert!(r.json.get("password").is_none(), "{}", r.text);
    assert_eq!(r.json["displayName"], "Barbara Jensen");
    assert_eq!(r.json[ENTERPRISE]["costCenter"], "4130");
    assert_eq!(r.json[ENTERPRISE]["employeeNumber"], "701984");
    // The account signs in with the password SCIM set.
    let login = app.login("bjensen@example.com", PW).await;
    assert!(!login.access_token.is_empty());

    // Uniqueness of userName (any case) and of the address.
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(user_body("BJENSEN@example.com", "other@example.com")),
        &[],
    )
    .await;
    scim_error(&r, 409);
    assert_eq!(r.json["scimType"], "uniqueness");
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(user_body("someone-else", "bjensen@example.com")),
        &[],
    )
    .await;
    scim_error(&r, 409);
    // An account that never saw SCIM has its address as userName.
    app.register("carol@example.com", PW).await;
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(user_body("Carol@example.com", "c2@example.com")),
        &[],
    )
    .await;
    scim_error(&r, 409);

    // A manager, and more users to query.
    let mut jdoe = user_body("jdoe", "jdoe@example.com");
    jdoe[ENTERPRISE] = json!({"manager": {"value": id}, "department": "Tour Operations"});
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(jdoe),
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let jdoe_id = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json[ENTERPRISE]["manager"]["value"], id);
    let mut bad = user_body("nobody", "nobody@example.com");
    bad[ENTERPRISE] = json!({"manager": {"value": "0190e7a4-4c5b-7000-8000-000000000001"}});
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(bad),
        &[],
    )
    .await;
    scim_error(&r, 400);
    assert_eq!(r.json["scimType"], "invalidValue");

    // Filters, as Okta and Entra ID send them.
    let list = |q: &str| format!("{SCIM}/Users?{q}");
    let r = app
        .get(
            &list("filter=userName%20eq%20%22BJensen%40Example.com%22"),
            t,
        )
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    assert_eq!(r.json["Resources"][0]["id"], id);
    let r = app
        .get(&list("filter=externalId%20eq%20%2200u1abc%22"), t)
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    let r = app
        .get(&list("filter=userName%20eq%20%22carol%40example.com%22"), t)
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    let r = app
        .get(
            &list(&format!(
                "filter={}",
                urlencode(&format!("{ENTERPRISE}:manager.value eq \"{id}\""))
            )),
            t,
        )
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    assert_eq!(r.json["Resources"][0]["id"], jdoe_id);
    let r = app
        .get(
            &list(&format!(
                "filter={}",
                urlencode("emails[value co \"@example.com\"] and not (userName sw \"carol\")")
            )),
            t,
        )
        .await;
    assert!(r.json["totalResults"].as_u64().unwrap() >= 2, "{}", r.text);
    let r = app
        .get(
            &list(&format!(
                "filter={}",
                urlencode("userName eq \"jdoe\" or userName eq \"bjensen@example.com\"")
            )),
            t,
        )
        .await;
    assert_eq!(r.json["totalResults"], 2, "{}", r.text);
    let r = app.get(&list("filter=title%20eq%20%22x%22"), t).await;
    scim_error(&r, 400);
    assert_eq!(r.json["scimType"], "invalidFilter");
    let r = app.get(&list("filter=userName%20eq"), t).await;
    scim_error(&r, 400);
    assert_eq!(r.json["scimType"], "invalidFilter");
    // Pages, sorting and projection.
    let r = app
        .get(
            &list("sortBy=userName&sortOrder=descending&startIndex=1&count=2&attributes=userName"),
            t,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["itemsPerPage"], 2, "{}", r.text);
    assert_eq!(r.json["startIndex"], 1);
    let names: Vec<&str> = r.json["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userName"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(names, sorted);
    assert!(r.json["Resources"][0].get("emails").is_none(), "{}", r.text);
    let r = app.get(&list("count=0"), t).await;
    assert_eq!(r.json["itemsPerPage"], 0, "{}", r.text);
    assert!(r.json["totalResults"].as_u64().unwrap() >= 4);
    let r = send(&app, Method::POST, &format!("{SCIM}/Users/.search"), t, Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": "userName eq \"jdoe\""})), &[]).await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);

    // ETags: a stale If-Match is refused; If-None-Match answers 304.
    let r = send(
        &app,
        Method::GET,
        &format!("{SCIM}/Users/{id}"),
        t,
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 304, "{}", r.text);
    let deactivate = json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]});
    let r = send(
        &app,
        Method::PATCH,
        &format!("{SCIM}/Users/{id}"),
        t,
        Some(deactivate.clone()),
        &[("if-match", "W/\"stale\"")],
    )
    .await;
    scim_error(&r, 412);
    // Entra ID's deactivation: sign-in stops, tokens die.
    let r = send(
        &app,
        Method::PATCH,
        &format!("{SCIM}/Users/{id}"),
        t,
        Some(deactivate),
        &[("if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["active"], false);
    assert_ne!(r.header("etag").unwrap(), etag);
    let me = app.get("/api/v1/auth/me", Some(&login.access_token)).await;
    assert_eq!(me.status, 401, "{}", me.text);
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "bjensen@example.com", "password": PW}),
        )
        .await;
    assert_ne!(r.status, 200, "{}", r.text);
    // Okta's shape: no path, a value object.
    let r = send(&app, Method::PATCH, &format!("{SCIM}/Users/{id}"), t, Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": true, "displayName": "Babs Jensen"}}]})), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["displayName"], "Babs Jensen");
    // PUT replaces: what is not sent goes.
    let mut replace = user_body("bjensen@example.com", "barbara@example.com");
    replace["nickName"] = json!("Babs");
    let r = send(
        &app,
        Method::PUT,
        &format!("{SCIM}/Users/{id}"),
        t,
        Some(replace),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["emails"][0]["value"], "barbara@example.com");
    assert!(r.json.get("externalId").is_none(), "{}", r.text);
    assert!(r.json.get(ENTERPRISE).is_none(), "{}", r.text);
    assert_eq!(r.json["nickName"], "Babs");
    let got = app
        .get(&format!("/api/v1/identity/users/{id}"), Some(&admin))
        .await;
    assert_eq!(got.json["email"], "barbara@example.com", "{}", got.text);

    // Bad bodies are SCIM errors naming what is wrong; nothing changes.
    for (body, scim_type) in [
        (json!({"userName": "x"}), "invalidSyntax"),
        (
            json!({"schemas": [USER], "userName": "x", "emails": [{"value": "x@example.com"}], "nickName": 7}),
            "invalidValue",
        ),
        (
            json!({"schemas": [USER], "userName": "x", "emails": [{"value": "x@example.com"}], "shoeSize": 42}),
            "invalidValue",
        ),
        (
            json!({"schemas": [USER], "userName": "x", "emails": [{"value": "x@example.com"}], "password": "short"}),
            "invalidValue",
        ),
        (json!([1, 2]), "invalidSyntax"),
    ] {
        let r = send(
            &app,
            Method::POST,
            &format!("{SCIM}/Users"),
            t,
            Some(body),
            &[],
        )
        .await;
        scim_error(&r, 400);
        assert_eq!(r.json["scimType"], scim_type, "{}", r.text);
    }
    let r = send(&app, Method::PATCH, &format!("{SCIM}/Users/{id}"), t, Some(json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]})), &[]).await;
    scim_error(&r, 400);
    let r = app
        .http
        .post(app.url(&format!("{SCIM}/Users")))
        .bearer_auth(&okta)
        .header("content-type", "application/scim+json")
        .body(format!(
            "{{\"schemas\": [\"{USER}\"], \"userName\": \"{}\"}}",
            "x".repeat(300 * 1024)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = app.get(&format!("{SCIM}/Users/not-an-id"), t).await;
    scim_error(&r, 404);

    // Delete: gone, and a second delete is 404.
    let r = app.delete(&format!("{SCIM}/Users/{jdoe_id}"), t).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.get(&format!("{SCIM}/Users/{jdoe_id}"), t).await;
    scim_error(&r, 404);
    let r = app.delete(&format!("{SCIM}/Users/{jdoe_id}"), t).await;
    scim_error(&r, 404);
});

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

backend_tests!(scim_groups_and_bulk, |app: TestApp| async move {
    use reqwest::Method;
    let admin = app.admin_token().await;
    let okta = provisioner(&app, &admin, "main", "okta", true).await;
    let t = Some(okta.as_str());
    let mut ids = Vec::new();
    for n in ["ann", "bob", "cid"] {
        let r = send(
            &app,
            Method::POST,
            &format!("{SCIM}/Users"),
            t,
            Some(user_body(n, &format!("{n}@example.com"))),
            &[],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        ids.push(r.json["id"].as_str().unwrap().to_owned());
    }
    let r = send(&app, Method::POST, &format!("{SCIM}/Groups"), t, Some(json!({"schemas": [GROUP], "displayName": "Sales Team (EMEA)", "externalId": "g-1", "members": [{"value": ids[0]}, {"value": ids[1], "type": "User"}]})), &[]).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let gid = r.json["id"].as_str().unwrap().to_owned();
    assert_eq!(r.json["members"].as_array().unwrap().len(), 2, "{}", r.text);
    // It is an authorization group like any other.
    let g = app
        .get(&format!("/api/v1/identity/groups/{gid}"), Some(&admin))
        .await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.json["name"], "sales-team-emea");
    // The user's `groups` shows it.
    let r = app.get(&format!("{SCIM}/Users/{}", ids[0]), t).await;
    assert_eq!(r.json["groups"][0]["value"], gid, "{}", r.text);
    assert_eq!(r.json["groups"][0]["display"], "Sales Team (EMEA)");
    // Names are unique regardless of case.
    let r = send(
        &app,
        Method::POST,
        &format!("{SCIM}/Groups"),
        t,
        Some(json!({"schemas": [GROUP], "displayName": "sales team (emea)"})),
        &[],
    )
    .await;
    scim_error(&r, 409);
    let r = send(&app, Method::POST, &format!("{SCIM}/Groups"), t, Some(json!({"schemas": [GROUP], "displayName": "Nested", "members": [{"value": gid, "type": "Group"}]})), &[]).await;
    scim_error(&r, 400);
    let r = send(&app, Method::POST, &format!("{SCIM}/Groups"), t, Some(json!({"schemas": [GROUP], "displayName": "Ghosts", "members": [{"value": "0190e7a4-4c5b-7000-8000-000000000001"}]})), &[]).await;
    scim_error(&r, 400);

    // Okta adds and removes members with PATCH.
    let r = send(
        &app,
        Method::PATCH,
        &format!("{SCIM}/Groups/{gid}"),
        t,
        Some(json!({"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": ids[2]}]},
            {"op": "remove", "path": format!("members[value eq \"{}\"]", ids[0])}
        ]})),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut members: Vec<String> = r.json["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["value"].as_str().unwrap().to_owned())
        .collect();
    members.sort();
    let mut want = vec![ids[1].clone(), ids[2].clone()];
    want.sort();
    assert_eq!(members, want);
    // Entra ID renames with PATCH replace.
    let r = send(&app, Method::PATCH, &format!("{SCIM}/Groups/{gid}"), t, Some(json!({"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "displayName", "value": "Sales"}]})), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .get(
            &format!(
                "{SCIM}/Groups?filter=displayName%20eq%20%22sales%22&excludedAttributes=members"
            ),
            t,
        )
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);
    assert!(
        r.json["Resources"][0].get("members").is_none(),
        "{}",
        r.text
    );
    let r = app
        .get(
            &format!("{SCIM}/Groups?filter=externalId%20eq%20%22g-1%22"),
            t,
        )
        .await;
    assert_eq!(r.json["totalResults"], 1, "{}", r.text);

    // Bulk: a user and a group naming it by bulkId, and a failing one.
    let r = send(&app, Method::POST, &format!("{SCIM}/Bulk"), t, Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Groups", "bulkId": "g", "data": {"schemas": [GROUP], "displayName": "Bulk group", "members": [{"value": "bulkId:u", "type": "User"}]}},
            {"method": "POST", "path": "/Users", "bulkId": "u", "data": user_body("dee", "dee@example.com")},
            {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user_body("dee", "dee2@example.com")},
            {"method": "DELETE", "path": format!("/Groups/{gid}")}
        ]
    })), &[]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let ops = r.json["Operations"].as_array().unwrap();
    assert_eq!(ops.len(), 4, "{}", r.text);
    let status = |bulk_id: &str| {
        ops.iter().find(|o| o["bulkId"] == bulk_id).unwrap()["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(status("u"), "201");
    assert_eq!(status("g"), "201");
    assert_eq!(status("dup"), "409");
    let r = app
        .get(
            &format!("{SCIM}/Groups?filter=displayName%20eq%20%22Bulk%20group%22"),
            t,
        )
        .await;
    assert_eq!(
        r.json["Resources"][0]["members"].as_array().unwrap().len(),
        1,
        "{}",
        r.text
    );
    let r = app.get(&format!("{SCIM}/Groups/{gid}"), t).await;
    scim_error(&r, 404);
});

backend_tests!(
    scim_realms_do_not_see_each_other,
    |app: TestApp| async move {
        use reqwest::Method;
        let admin = app.admin_token().await;
        let r = app
            .post(
                "/api/v1/realms",
                Some(&admin),
                json!({"name": "acme", "admin": {"email": "root@acme.test", "password": PW}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let main = provisioner(&app, &admin, "main", "okta", true).await;
        let acme = provisioner(&app, &admin, "acme", "okta", true).await;
        let r = send(
            &app,
            Method::POST,
            &format!("{SCIM}/Users"),
            Some(&main),
            Some(user_body("shared", "shared@example.com")),
            &[],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let main_user = r.json["id"].as_str().unwrap().to_owned();
        // The same name and address are free in another realm.
        let r = send(
            &app,
            Method::POST,
            "/scim/v2/realms/acme/Users",
            Some(&acme),
            Some(user_body("shared", "shared@example.com")),
            &[],
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let acme_user = r.json["id"].as_str().unwrap().to_owned();
        // A realm's client cannot reach the other's service, nor its ids.
        let r = app.get("/scim/v2/realms/acme/Users", Some(&main)).await;
        scim_error(&r, 403);
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(user_body("x", "x@example.com"))),
            (Method::DELETE, None),
        ] {
            let r = send(
                &app,
                method,
                &format!("{SCIM}/Users/{acme_user}"),
                Some(&main),
                body,
                &[],
            )
            .await;
            scim_error(&r, 404);
        }
        let r = app
            .get(
                &format!("{SCIM}/Users?filter=userName%20eq%20%22shared%22"),
                Some(&main),
            )
            .await;
        assert_eq!(r.json["totalResults"], 1, "{}", r.text);
        assert_eq!(r.json["Resources"][0]["id"], main_user);
        // A manager or member from another realm is refused.
        let mut u = user_body("m", "m@example.com");
        u[ENTERPRISE] = json!({"manager": {"value": acme_user}});
        let r = send(
            &app,
            Method::POST,
            &format!("{SCIM}/Users"),
            Some(&main),
            Some(u),
            &[],
        )
        .await;
        scim_error(&r, 400);
        let r = send(
            &app,
            Method::POST,
            &format!("{SCIM}/Groups"),
            Some(&main),
            Some(
                json!({"schemas": [GROUP], "displayName": "x", "members": [{"value": acme_user}]}),
            ),
            &[],
        )
        .await;
        scim_error(&r, 400);
        // The server's administrators provision any realm.
        let r = app.get("/scim/v2/realms/acme/Users", Some(&admin)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
);
