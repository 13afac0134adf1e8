//! Adaptive security over HTTP: known devices and their notice by mail
//! (through the testkit's SMTP sink), the checks on refresh (another
//! browser mid-session, a wrong canary, long idleness), failed logins
//! before a success, and the realm's thresholds; and `country_change` with
//! the server's MaxMind reader over a database the test writes, two
//! loopback addresses standing in for two countries. The network checks and
//! `impossible_travel`, which need addresses in other networks, are
//! unit-tested in `portcullis_core::risk`.

use std::sync::Arc;

use portcullis_server::config::{GeoIpConfig, GeoIpFile};
use portcullis_server::geoip::writer::{Value as Mmdb, Writer};
use portcullis_testkit::{AppOptions, Backend, Reply, spawn_app_opts, spawn_mail_app};

use super::*;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";

async fn send(
    app: &TestApp,
    path: &str,
    ua: &str,
    cookie: Option<&str>,
    token: Option<&str>,
    body: Value,
) -> Reply {
    send_with(&app.http, app, path, ua, cookie, token, body).await
}

async fn send_with(
    http: &reqwest::Client,
    app: &TestApp,
    path: &str,
    ua: &str,
    cookie: Option<&str>,
    token: Option<&str>,
    body: Value,
) -> Reply {
    let mut req = http
        .post(app.url(path))
        .header("user-agent", ua)
        .header("accept-language", "en-GB,en;q=0.8")
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    Reply::read(req.send().await.unwrap()).await
}

async fn login_as(app: &TestApp, email: &str, ua: &str) -> Reply {
    send(
        app,
        "/api/v1/auth/login",
        ua,
        None,
        None,
        json!({"email": email, "password": PW}),
    )
    .await
}

async fn refresh(app: &TestApp, token: &Value, ua: &str, cookie: Option<&str>) -> Reply {
    send(
        app,
        "/api/v1/auth/refresh",
        ua,
        cookie,
        None,
        json!({"refresh_token": token}),
    )
    .await
}

/// Three wrong passwords for ulf@example.com, then the right one: the
/// statuses of the three, and the answer to the fourth.
async fn right_after_three_wrong(app: &TestApp) -> ([u16; 3], Reply) {
    let mut refused = [0; 3];
    for status in &mut refused {
        let wrong = json!({"email": "ulf@example.com", "password": "not the password"});
        *status = app.post("/api/v1/auth/login", None, wrong).await.status;
    }
    let right = json!({"email": "ulf@example.com", "password": PW});
    (refused, app.post("/api/v1/auth/login", None, right).await)
}

async fn audit_actions(app: &TestApp) -> Vec<Value> {
    app.core.flush_audit().await;
    let realm = app.core.realms().by_name("main").await.unwrap();
    let mut records = app.core.store().list_audit(realm.id, 500).await.unwrap();
    // Ids are UUIDv7: in the order they were recorded.
    records.sort_by_key(|r| r.id);
    records
        .into_iter()
        .filter(|r| r.action.starts_with("risk."))
        .map(|r| json!({"action": r.action, "detail": r.after}))
        .collect()
}

async fn risk_flows(app: TestApp, sink: portcullis_testkit::smtp::SmtpSink) {
    app.register("rita@example.com", PW).await;
    // The verification mail of the registration.
    sink.wait_for("rita@example.com", 1).await;
    let first = login_as(&app, "rita@example.com", FIREFOX).await;
    assert_eq!(first.status, 200, "{}", first.text);
    // The canary cookie: HttpOnly, SameSite=Strict, for the API's paths.
    let set_cookie = first.header("set-cookie").unwrap().to_owned();
    assert!(set_cookie.starts_with("portcullis_canary="), "{set_cookie}");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/v1/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    let canary = set_cookie.split(';').next().unwrap().to_owned();
    let access = first.json["access_token"].as_str().unwrap().to_owned();

    // The first device is known, and not announced.
    let devices = app.get("/api/v1/auth/devices", Some(&access)).await;
    assert_eq!(devices.status, 200, "{}", devices.text);
    assert_eq!(devices.json.as_array().unwrap().len(), 1);
    assert_eq!(devices.json[0]["description"], "Firefox on Linux (desktop)");
    assert_eq!(devices.json[0]["last_network"], "127.0.0.0/24");

    // A refresh with the same browser and its canary: fine.
    let r = refresh(&app, &first.json["refresh_token"], FIREFOX, Some(&canary)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Another browser mid-session (40 + 20 = 60 >= 40): the session ends.
    let r = refresh(&app, &r.json["refresh_token"], IPHONE, Some(&canary)).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.json["detail"].as_str().unwrap().contains("log in again"),
        "{}",
        r.text
    );
    assert_eq!(app.get("/api/v1/auth/me", Some(&access)).await.status, 401);

    // A login from the iPhone: a new device, mailed to the user.
    let before = sink.messages_to("rita@example.com").len();
    let phone = login_as(&app, "rita@example.com", IPHONE).await;
    assert_eq!(phone.status, 200, "{}", phone.text);
    let notice = sink.wait_for("rita@example.com", before + 1).await;
    assert!(notice.subject.contains("New sign-in"), "{}", notice.subject);
    assert!(
        notice.text.contains("Safari on iOS (mobile)"),
        "{}",
        notice.text
    );
    let access = phone.json["access_token"].as_str().unwrap().to_owned();
    let devices = app.get("/api/v1/auth/devices", Some(&access)).await;
    assert_eq!(devices.json.as_array().unwrap().len(), 2);
    assert_eq!(devices.json[0]["description"], "Safari on iOS (mobile)");

    // A wrong canary (another session's) on refresh: 50, the session ends.
    let r = refresh(
        &app,
        &phone.json["refresh_token"],
        IPHONE,
        Some("portcullis_canary=stolen"),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);

    // Long idleness alone (20) is allowed, and audited.
    let again = login_as(&app, "rita@example.com", IPHONE).await;
    app.clock.advance(Duration::days(4));
    let r = refresh(&app, &again.json["refresh_token"], IPHONE, None).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let records = audit_actions(&app).await;
    let refreshes: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "risk.refresh")
        .collect();
    assert_eq!(refreshes.len(), 3, "{records:?}");
    assert_eq!(
        refreshes[0]["detail"]["checks"],
        json!(["user_agent_change", "fingerprint_mismatch"])
    );
    assert_eq!(refreshes[0]["detail"]["decision"], "step_up");
    assert_eq!(refreshes[1]["detail"]["checks"], json!(["canary_mismatch"]));
    assert_eq!(refreshes[2]["detail"]["checks"], json!(["long_idle"]));
    assert_eq!(refreshes[2]["detail"]["decision"], "allow");
    let logins: Vec<&Value> = records
        .iter()
        .filter(|r| r["action"] == "risk.login")
        .collect();
    assert_eq!(
        logins[0]["detail"]["checks"],
        json!(["fingerprint_mismatch"])
    );

    // Forgetting a device: its next sign-in is new again.
    let fp = devices.json[1]["fingerprint"].as_str().unwrap().to_owned();
    let access = r.json["access_token"].as_str().unwrap();
    let r = app
        .delete(&format!("/api/v1/auth/devices/{fp}"), Some(access))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(
        app.delete(&format!("/api/v1/auth/devices/{fp}"), Some(access))
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_flows_sqlite() {
    let (app, sink) = spawn_mail_app(Backend::Sqlite).await.unwrap();
    risk_flows(app, sink).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_flows_postgres() {
    if let Some((app, sink)) = spawn_mail_app(Backend::Postgres).await {
        risk_flows(app, sink).await;
    }
}

backend_tests!(realm_thresholds_decide, |app: TestApp| async move {
    let admin = app.admin_token().await;
    let r = app.get("/api/v1/risk-policy", Some(&admin)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"enabled": true, "step_up_at": 40, "block_at": 90, "notify_new_device": true,
               "on_device_mismatch": "step_up", "fresh_auth_max_age": 300})
    );
    let user = app.user("ulf@example.com").await.access_token;
    let policy =
        json!({"enabled": true, "step_up_at": 30, "block_at": 60, "notify_new_device": false});
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/risk-policy",
            Some(&user),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    for bad in [
        json!({"enabled": true, "step_up_at": 0, "block_at": 60, "notify_new_device": true}),
        json!({"enabled": true, "step_up_at": 50, "block_at": 40, "notify_new_device": true}),
        json!({"enabled": true, "step_up_at": 50, "block_at": 101, "notify_new_device": true}),
    ] {
        let r = app
            .call(
                reqwest::Method::PUT,
                "/api/v1/risk-policy",
                Some(&admin),
                Some(bad),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
    }
    let r = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/risk-policy",
            Some(&admin),
            Some(policy.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The zero-trust settings left out keep their defaults.
    let mut stored = policy.clone();
    stored["on_device_mismatch"] = json!("step_up");
    stored["fresh_auth_max_age"] = json!(300);
    assert_eq!(
        app.get("/api/v1/risk-policy", Some(&admin)).await.json,
        stored
    );

    // Three failed logins before the right password: a burst (30), which
    // now needs a second factor; the account has none, so a code by e-mail.
    let (refused, r) = right_after_three_wrong(&app).await;
    assert_eq!(refused, [401; 3]);
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
    assert_eq!(r.json["methods"], json!(["email"]), "{}", r.text);
    assert!(r.json.get("access_token").is_none());
    // With a second factor, the same login asks for it.
    app.clock.advance(Duration::minutes(20));
    let token = app.login("ulf@example.com", PW).await.access_token;
    let secret = app
        .post("/api/v1/mfa/totp/enable", Some(&token), json!({}))
        .await
        .json["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = super::mfa::code_at(&app, &secret, 0);
    assert_eq!(
        app.post(
            "/api/v1/mfa/totp/verify",
            Some(&token),
            json!({"code": code})
        )
        .await
        .status,
        200
    );
    let (_, r) = right_after_three_wrong(&app).await;
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
    // Above block_at, the login is refused outright.
    let admin = app.admin_token().await;
    let r = app
        .call(reqwest::Method::PUT, "/api/v1/risk-policy", Some(&admin), Some(json!({"enabled": true, "step_up_at": 20, "block_at": 30, "notify_new_device": false})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.clock.advance(Duration::minutes(20));
    let (_, r) = right_after_three_wrong(&app).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.json["detail"].as_str().unwrap().contains("blocked"),
        "{}",
        r.text
    );
    // Checks turned off: nothing is held against a login.
    let admin = app.admin_token().await;
    let r = app
        .call(reqwest::Method::PUT, "/api/v1/risk-policy", Some(&admin), Some(json!({"enabled": false, "step_up_at": 20, "block_at": 30, "notify_new_device": false})))
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": "ulf@example.com", "password": PW}),
        )
        .await;
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
});

/// A Country database: 127.0.0.1 in Germany, 127.0.0.2 in France (one /24,
/// so no network change muddles the score), read by the server's reader.
fn two_countries(dir: &std::path::Path) -> Arc<dyn portcullis_core::risk::GeoIp> {
    let country = |iso: &str| Mmdb::map([("country", Mmdb::map([("iso_code", Mmdb::str(iso))]))]);
    let mut w = Writer::new("GeoLite2-Country", 6, 24);
    w.insert("127.0.0.1/32", &country("DE")).unwrap();
    w.insert("127.0.0.2/32", &country("FR")).unwrap();
    let path = dir.join("GeoLite2-Country.mmdb");
    std::fs::write(&path, w.to_bytes()).unwrap();
    let geo = portcullis_server::geoip::open(&GeoIpConfig {
        db: Some(GeoIpFile {
            setting: "PORTCULLIS_GEOIP_DB".to_owned(),
            path,
        }),
        asn_db: None,
    })
    .unwrap()
    .unwrap();
    Arc::new(geo)
}

async fn country_change_flows(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(app) = spawn_app_opts(
        backend,
        |_| {},
        AppOptions {
            geoip: Some(two_countries(dir.path())),
            ..AppOptions::default()
        },
    )
    .await
    else {
        return;
    };
    // A client whose connections come from 127.0.0.2.
    let abroad = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    app.register("gina@example.com", PW).await;
    let home = login_as(&app, "gina@example.com", FIREFOX).await;
    assert_eq!(home.status, 200, "{}", home.text);
    let login = json!({"email": "gina@example.com", "password": PW});
    let away = send_with(
        &abroad,
        &app,
        "/api/v1/auth/login",
        FIREFOX,
        None,
        None,
        login,
    )
    .await;
    // Another country alone (30) is below the step-up threshold (40).
    assert_eq!(away.status, 200, "{}", away.text);
    // The session begun in Germany, refreshed from France.
    let refresh = json!({"refresh_token": home.json["refresh_token"]});
    let r = send_with(
        &abroad,
        &app,
        "/api/v1/auth/refresh",
        FIREFOX,
        None,
        None,
        refresh,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let records = audit_actions(&app).await;
    assert_eq!(records.len(), 2, "{records:?}");
    for (record, action) in records.iter().zip(["risk.login", "risk.refresh"]) {
        assert_eq!(record["action"], action, "{records:?}");
        assert_eq!(record["detail"]["checks"], json!(["country_change"]));
        assert_eq!(record["detail"]["country"], "FR");
        assert_eq!(record["detail"]["decision"], "allow");
    }
    // The device remembers where it was last seen.
    let access = away.json["access_token"].as_str().unwrap();
    let devices = app.get("/api/v1/auth/devices", Some(access)).await;
    assert_eq!(
        devices.json.as_array().unwrap().len(),
        1,
        "{}",
        devices.text
    );
    assert_eq!(devices.json[0]["country"], "FR", "{}", devices.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_country_fires_country_change_sqlite() {
    country_change_flows(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_country_fires_country_change_postgres() {
    country_change_flows(Backend::Postgres).await;
}
