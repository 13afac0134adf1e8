//! Second factors: TOTP enrolment, the second step of a login, backup
//! codes, recent authentication, replay and races. TOTP codes are computed
//! with `totp-lite`, an implementation independent of the server's.

use super::*;
use portcullis_core::Clock as _;
use portcullis_testkit::Reply;

/// The six-digit code of a base32 secret at the app's current time.
pub(crate) fn code_at(app: &TestApp, secret: &str, offset_steps: i64) -> String {
    let key = base32::decode(base32::Alphabet::Rfc4648 { padding: false }, secret).expect("base32");
    let t = app.clock.now().unix_timestamp() + 30 * offset_steps;
    totp_lite::totp_custom::<totp_lite::Sha1>(30, 6, &key, t as u64)
}

/// A user with a confirmed authenticator app: (access token, secret, backup codes).
pub(crate) async fn enrolled(app: &TestApp, email: &str) -> (String, String, Vec<String>) {
    let token = app.user(email).await.access_token;
    let r = app
        .post("/api/v1/mfa/totp/enable", Some(&token), json!({}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    let code = code_at(app, &secret, 0);
    let r = app
        .post(
            "/api/v1/mfa/totp/verify",
            Some(&token),
            json!({ "code": code }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let codes: Vec<String> = serde_json::from_value(r.json["backup_codes"].clone()).unwrap();
    // The enrolment used this step's code: later logins need the next one.
    app.clock.advance(Duration::seconds(30));
    (token, secret, codes)
}

/// Starts a login of a user with a second factor; returns the mfa_token.
async fn first_step(app: &TestApp, email: &str) -> String {
    let r = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PW }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["mfa_required"], true, "{}", r.text);
    assert!(r.json.get("access_token").is_none() && r.json.get("refresh_token").is_none());
    r.json["mfa_token"].as_str().unwrap().to_owned()
}

async fn verify(app: &TestApp, mfa_token: &str, method: &str, code: &str) -> Reply {
    app.post(
        "/api/v1/mfa/verify",
        None,
        json!({ "mfa_token": mfa_token, "method": method, "code": code }),
    )
    .await
}

backend_tests!(
    totp_enrolment_then_login_in_two_steps,
    |app: TestApp| async move {
        let token = app.user("ann@example.com").await.access_token;
        let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["mfa_enabled"], false);

        let r = app
            .post("/api/v1/mfa/totp/enable", Some(&token), json!({}))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let secret = r.json["secret"].as_str().unwrap().to_owned();
        assert_eq!(
            base32::decode(base32::Alphabet::Rfc4648 { padding: false }, &secret)
                .unwrap()
                .len(),
            20
        );
        let uri = r.json["otpauth_uri"].as_str().unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(
            uri.contains("ann%40example.com") && uri.contains(&format!("secret={secret}")),
            "{uri}"
        );
        assert!(
            r.json["qr_code"]
                .as_str()
                .unwrap()
                .starts_with("data:image/svg+xml;base64,")
        );

        // Not confirmed yet: a login is still one step.
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "ann@example.com", "password": PW }),
            )
            .await;
        assert!(r.json["access_token"].is_string(), "{}", r.text);

        let r = app
            .post(
                "/api/v1/mfa/totp/verify",
                Some(&token),
                json!({ "code": "000000" }),
            )
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        let r = app
            .post(
                "/api/v1/mfa/totp/verify",
                Some(&token),
                json!({ "code": code_at(&app, &secret, 0) }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["enabled"], true);
        assert_eq!(r.json["backup_codes"].as_array().unwrap().len(), 10);

        let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
        assert_eq!(r.json["mfa_enabled"], true, "{}", r.text);
        assert_eq!(r.json["methods"][0]["method"], "totp");
        assert_eq!(r.json["methods"][0]["confirmed"], true);
        assert_eq!(r.json["backup_codes_remaining"], 10);
        let devices = app.get("/api/v1/mfa/devices", Some(&token)).await;
        assert_eq!(devices.json, r.json);

        app.clock.advance(Duration::seconds(30));
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "ann@example.com", "password": PW }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["mfa_required"], true);
        assert_eq!(r.json["methods"], json!(["totp", "backup_code"]));
        assert_eq!(r.json["expires_in"], 300);
        let mfa_token = r.json["mfa_token"].as_str().unwrap().to_owned();

        let code = code_at(&app, &secret, 0);
        let r = verify(&app, &mfa_token, "totp", &code).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd", "otp", "mfa"]));
        let access = r.json["access_token"].as_str().unwrap().to_owned();
        let refresh = r.json["refresh_token"].as_str().unwrap().to_owned();
        assert_eq!(app.get("/api/v1/auth/me", Some(&access)).await.status, 200);
        let sessions = app.get("/api/v1/auth/sessions", Some(&access)).await;
        let current = sessions
            .json
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap()
            .clone();
        assert_eq!(current["amr"], json!(["pwd", "otp", "mfa"]));
        let r = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({ "refresh_token": refresh }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);

        // The same code again, in its window, on a new login: refused.
        let again = first_step(&app, "ann@example.com").await;
        let r = verify(&app, &again, "totp", &code).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // The previous step's code is older than the one used: refused too.
        let r = verify(&app, &again, "totp", &code_at(&app, &secret, -1)).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // The next step's code (clock skew of one step) is accepted.
        let r = verify(&app, &again, "totp", &code_at(&app, &secret, 1)).await;
        assert_eq!(r.status, 200, "{}", r.text);

        // seed 000's validate endpoint completes a login the same way.
        app.clock.advance(Duration::seconds(60));
        let third = first_step(&app, "ann@example.com").await;
        let r = app
            .post(
                "/api/v1/mfa/totp/validate",
                None,
                json!({ "mfa_token": third, "code": code_at(&app, &secret, 0) }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.json["access_token"].is_string());
    }
);

backend_tests!(
    a_half_finished_login_gets_no_tokens,
    |app: TestApp| async move {
        let (_, secret, _) = enrolled(&app, "bo@example.com").await;
        let mfa_token = first_step(&app, "bo@example.com").await;
        // The mfa_token opens nothing else.
        assert_eq!(
            app.get("/api/v1/auth/me", Some(&mfa_token)).await.status,
            401
        );
        let r = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({ "refresh_token": mfa_token }),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = app
            .post_raw(
                "/realms/main/oauth2/token",
                Some("application/x-www-form-urlencoded"),
                format!("grant_type=refresh_token&refresh_token={mfa_token}&client_id=x")
                    .into_bytes(),
            )
            .await;
        assert!(r.status == 400 || r.status == 401, "{}", r.text);
        assert!(r.json.get("access_token").is_none());
        let r = app
            .post("/api/v1/auth/validate", None, json!({ "token": mfa_token }))
            .await;
        assert_ne!(r.json["active"], true, "{}", r.text);
        // A method the login does not offer is bad input, and costs nothing.
        let r = verify(&app, &mfa_token, "sms", "123456").await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        // A challenge expires after five minutes.
        let late = first_step(&app, "bo@example.com").await;
        app.clock
            .advance(Duration::minutes(5) + Duration::seconds(1));
        let r = verify(&app, &late, "totp", &code_at(&app, &secret, 0)).await;
        assert_eq!(r.status, 401, "{}", r.text);

        // A completed challenge cannot be completed again.
        let once = first_step(&app, "bo@example.com").await;
        let r = verify(&app, &once, "totp", &code_at(&app, &secret, 0)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        app.clock.advance(Duration::seconds(30));
        let r = verify(&app, &once, "totp", &code_at(&app, &secret, 0)).await;
        assert_eq!(r.status, 401, "{}", r.text);
        // Five wrong codes end the challenge: even the right code then fails
        // (and the account is now locked too: a wrong code is a failed login).
        let ended = first_step(&app, "bo@example.com").await;
        for _ in 0..5 {
            let r = verify(&app, &ended, "totp", "000000").await;
            assert_eq!(r.status, 401, "{}", r.text);
        }
        let r = verify(&app, &ended, "totp", &code_at(&app, &secret, 0)).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(
            r.json["detail"].as_str().unwrap().contains("log in again"),
            "{}",
            r.text
        );
        // Garbage tokens.
        for token in ["", "x", &"y".repeat(500)] {
            let r = verify(&app, token, "totp", "123456").await;
            assert_eq!(r.status, 401, "{}", r.text);
        }
        // Codes of every shape: 401 (each a wrong code), never a 500.
        enrolled(&app, "bo2@example.com").await;
        let t = first_step(&app, "bo2@example.com").await;
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "💥💥💥💥💥💥",
            &"9".repeat(10_000),
        ] {
            for method in ["totp", "backup_code"] {
                let r = verify(&app, &t, method, bad).await;
                assert_eq!(r.status, 401, "{method} {bad:?}: {}", r.text);
                assert_eq!(r.header("content-type"), Some("application/problem+json"));
            }
        }
    }
);

backend_tests!(
    wrong_codes_count_towards_the_account_lockout,
    |app: TestApp| async move {
        enrolled(&app, "cy@example.com").await;
        // Five wrong second steps across challenges lock the account: the
        // correct password in between does not reset the count.
        for _ in 0..5 {
            let t = first_step(&app, "cy@example.com").await;
            assert_eq!(verify(&app, &t, "totp", "000000").await.status, 401);
        }
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "cy@example.com", "password": PW }),
            )
            .await;
        assert_eq!(r.status, 429, "{}", r.text);
    }
);

backend_tests!(
    backup_codes_are_single_use_and_regenerated,
    |app: TestApp| async move {
        let (token, _, codes) = enrolled(&app, "di@example.com").await;
        let first = &codes[0];
        let t = first_step(&app, "di@example.com").await;
        // Typed in capitals with spaces: the same code.
        let typed = first.to_uppercase().replace('-', " ");
        let r = verify(&app, &t, "backup_code", &typed).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd", "otp", "mfa"]));
        let t = first_step(&app, "di@example.com").await;
        assert_eq!(verify(&app, &t, "backup_code", first).await.status, 401);
        let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
        assert_eq!(r.json["backup_codes_remaining"], 9);

        // Regenerating needs a recent authentication.
        app.clock.advance(Duration::minutes(6));
        let t = first_step(&app, "di@example.com").await;
        let token = {
            let r = verify(&app, &t, "backup_code", &codes[1]).await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.json["access_token"].as_str().unwrap().to_owned()
        };
        let r = app
            .post(
                "/api/v1/mfa/backup-codes/regenerate",
                Some(&token),
                json!({}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let fresh: Vec<String> = serde_json::from_value(r.json["backup_codes"].clone()).unwrap();
        assert_eq!(fresh.len(), 10);
        assert!(fresh.iter().all(|c| !codes.contains(c)));
        app.clock.advance(Duration::minutes(6));
        let r = app
            .post(
                "/api/v1/mfa/backup-codes/regenerate",
                Some(&token),
                json!({}),
            )
            .await;
        // No proof in the request and an old login: RFC 9470's 401.
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(
            r.json["type"],
            "urn:portcullis:problem:reauthentication-required"
        );
        let r = app
            .post(
                "/api/v1/mfa/backup-codes/regenerate",
                Some(&token),
                json!({ "password": "wrong password!" }),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = app
            .post(
                "/api/v1/mfa/backup-codes/regenerate",
                Some(&token),
                json!({ "password": PW }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let newest: Vec<String> = serde_json::from_value(r.json["backup_codes"].clone()).unwrap();
        // The replaced codes no longer work; the new ones do.
        let t = first_step(&app, "di@example.com").await;
        assert_eq!(verify(&app, &t, "backup_code", &fresh[0]).await.status, 401);
        assert_eq!(
            verify(&app, &t, "backup_code", &newest[0]).await.status,
            200
        );
    }
);

backend_tests!(
    disabling_needs_a_recent_authentication,
    |app: TestApp| async move {
        let (token, secret, _) = enrolled(&app, "ed@example.com").await;
        app.clock.advance(Duration::minutes(6));
        let r = app
            .post("/api/v1/mfa/totp/disable", Some(&token), json!({}))
            .await;
        // No proof in the request and an old login: RFC 9470's 401.
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(
            r.json["type"],
            "urn:portcullis:problem:reauthentication-required"
        );
        assert!(
            r.json["detail"]
                .as_str()
                .unwrap()
                .contains("recent authentication")
        );
        // Also without a body at all.
        let r = app
            .call(
                reqwest::Method::POST,
                "/api/v1/mfa/totp/disable",
                Some(&token),
                None,
            )
            .await;
        // No proof in the request and an old login: RFC 9470's 401.
        assert_eq!(r.status, 401, "{}", r.text);
        assert_eq!(
            r.json["type"],
            "urn:portcullis:problem:reauthentication-required"
        );
        let r = app
            .post(
                "/api/v1/mfa/totp/disable",
                Some(&token),
                json!({ "code": "000000" }),
            )
            .await;
        assert_eq!(r.status, 401, "{}", r.text);
        let r = app
            .post(
                "/api/v1/mfa/totp/disable",
                Some(&token),
                json!({ "code": code_at(&app, &secret, 0) }),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
        let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
        assert_eq!(r.json["mfa_enabled"], false);
        assert_eq!(
            r.json["backup_codes_remaining"], 0,
            "backup codes go with the last factor"
        );
        // One step again.
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "ed@example.com", "password": PW }),
            )
            .await;
        assert!(r.json["access_token"].is_string(), "{}", r.text);
        assert_eq!(r.json["amr"], json!(["pwd"]));
        let r = app
            .post(
                "/api/v1/mfa/totp/disable",
                Some(&token),
                json!({ "password": PW }),
            )
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
    }
);

backend_tests!(generic_setup_list_and_delete, |app: TestApp| async move {
    let token = app.user("fi@example.com").await.access_token;
    let r = app
        .post(
            "/api/v1/mfa/setup",
            Some(&token),
            json!({ "method": "carrier-pigeon" }),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    let r = app
        .post(
            "/api/v1/mfa/setup",
            Some(&token),
            json!({ "method": "totp" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let first = r.json["id"].as_str().unwrap().to_owned();
    // Starting again replaces the pending enrolment.
    let r = app
        .post(
            "/api/v1/mfa/setup",
            Some(&token),
            json!({ "method": "totp" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json["id"].as_str().unwrap().to_owned();
    let secret = r.json["secret"].as_str().unwrap().to_owned();
    assert_ne!(id, first);
    let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
    assert_eq!(r.json["methods"].as_array().unwrap().len(), 1, "{}", r.text);
    assert_eq!(r.json["methods"][0]["confirmed"], false);
    let r = app
        .post(
            "/api/v1/mfa/totp/verify",
            Some(&token),
            json!({ "code": code_at(&app, &secret, 0) }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post(
            "/api/v1/mfa/setup",
            Some(&token),
            json!({ "method": "totp" }),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);

    // Another user cannot see or remove it.
    let other = app.user("gu@example.com").await.access_token;
    assert_eq!(
        app.delete(&format!("/api/v1/mfa/methods/{id}"), Some(&other))
            .await
            .status,
        404
    );
    assert_eq!(
        app.delete("/api/v1/mfa/methods/not-a-uuid", Some(&token))
            .await
            .status,
        404
    );
    assert_eq!(app.get("/api/v1/mfa/methods", None).await.status, 401);
    let r = app
        .delete(&format!("/api/v1/mfa/methods/{id}"), Some(&token))
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.get("/api/v1/mfa/methods", Some(&token)).await;
    assert_eq!(r.json["methods"], json!([]));
});

backend_tests!(
    parallel_uses_of_one_code_one_wins,
    |app: TestApp| async move {
        let (_, secret, codes) = enrolled(&app, "hu@example.com").await;
        // One TOTP code on two challenges at once.
        let a = first_step(&app, "hu@example.com").await;
        let b = first_step(&app, "hu@example.com").await;
        let code = code_at(&app, &secret, 0);
        let (ra, rb) = tokio::join!(
            verify(&app, &a, "totp", &code),
            verify(&app, &b, "totp", &code)
        );
        let wins = [ra.status, rb.status].iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "{} / {}", ra.text, rb.text);
        // One backup code on two challenges at once.
        let a = first_step(&app, "hu@example.com").await;
        let b = first_step(&app, "hu@example.com").await;
        let (ra, rb) = tokio::join!(
            verify(&app, &a, "backup_code", &codes[3]),
            verify(&app, &b, "backup_code", &codes[3])
        );
        let wins = [ra.status, rb.status].iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "{} / {}", ra.text, rb.text);
        // Two different codes on one challenge at once: one login.
        let c = first_step(&app, "hu@example.com").await;
        let (ra, rb) = tokio::join!(
            verify(&app, &c, "backup_code", &codes[4]),
            verify(&app, &c, "backup_code", &codes[5])
        );
        let wins = [ra.status, rb.status].iter().filter(|s| **s == 200).count();
        assert_eq!(wins, 1, "{} / {}", ra.text, rb.text);
    }
);
