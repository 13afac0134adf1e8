//! Client authentication at the token, introspection and revocation
//! endpoints: `client_secret_basic` (RFC 6749 §2.3.1, with the
//! form-urlencoded id and secret), `client_secret_post`, `private_key_jwt`
//! (RFC 7523 client assertions signed with a key of the client's registered
//! JWKS, each `jti` used once), and `none` for public clients. A client must
//! use the method it registered, and only one method per request.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use portcullis_core::Portcullis;
use portcullis_core::clients::{AuthMethod, OAuthClient};
use portcullis_core::model::Realm;
use portcullis_crypto::VerifyingKey;
use serde_json::Value;

use crate::{Form, OAuthError, Request};

/// `client_assertion_type` of RFC 7523 client assertions.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest an assertion may live, in seconds from now.
const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY: i64 = 60;
/// The endpoints under the issuer that an assertion may name as audience.
const ENDPOINTS: [&str; 3] = ["token", "introspect", "revoke"];

/// What the request presented.
#[derive(Debug)]
enum Presented {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    Assertion { id: String, assertion: String },
    None { id: String },
}

/// The `sub` of a JWT, unverified: only to find the client whose keys will
/// verify it.
fn unverified_subject(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

fn assertion(req: &Request<'_>, form: &Form<'_>) -> Result<Option<Presented>, OAuthError> {
    let kind = form.get("client_assertion_type");
    let jwt = form.get("client_assertion");
    if kind.is_none() && jwt.is_none() {
        return Ok(None);
    }
    if req.authorization.is_some() || form.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not a client assertion and a secret",
        ));
    }
    if kind != Some(JWT_BEARER) {
        return Err(OAuthError::invalid_request(format!(
            "client_assertion_type must be {JWT_BEARER}"
        )));
    }
    let jwt = jwt.ok_or_else(|| OAuthError::invalid_request("client_assertion is required"))?;
    let sub = unverified_subject(jwt)
        .ok_or_else(|| OAuthError::invalid_client("malformed client assertion", false))?;
    if form.get("client_id").is_some_and(|id| id != sub) {
        return Err(OAuthError::invalid_request(
            "client_id differs from the client assertion's subject",
        ));
    }
    Ok(Some(Presented::Assertion {
        id: sub,
        assertion: jwt.to_owned(),
    }))
}

/// Whether `aud` (a string or an array) names this realm's issuer or one of
/// its endpoints that authenticate clients.
fn audience_ok(aud: Option<&Value>, issuer: &str) -> bool {
    let ours = |a: &str| {
        a == issuer
            || ENDPOINTS
                .iter()
                .any(|e| a.strip_prefix(issuer) == Some(&format!("/oauth2/{e}")))
    };
    match aud {
        Some(Value::String(a)) => ours(a),
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).any(ours),
        _ => false,
    }
}

/// Verifies a client assertion (RFC 7523 §3) and spends its `jti`.
async fn verify_assertion(
    core: &Portcullis,
    realm: &Realm,
    client: &OAuthClient,
    jwt: &str,
) -> bool {
    let Ok(header) = portcullis_crypto::decode_header(jwt) else {
        return false;
    };
    let keys = client
        .jwks
        .as_ref()
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let claims: Option<Value> = keys
        .iter()
        .filter_map(|jwk| VerifyingKey::from_jwk(jwk).ok())
        .filter(|k| header.kid.as_deref().is_none_or(|kid| kid == k.kid()))
        .filter(|k| header.alg == k.alg().as_str())
        .find_map(|k| portcullis_crypto::verify::<Value>(jwt, &k).ok());
    let Some(claims) = claims else {
        return false;
    };
    let id = client.client_id.as_str();
    let now = core.clock().now().unix_timestamp();
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let Some(exp) = number("exp") else {
        return false;
    };
    let jti = claims.get("jti").and_then(Value::as_str).unwrap_or("");
    let valid = claims.get("iss").and_then(Value::as_str) == Some(id)
        && claims.get("sub").and_then(Value::as_str) == Some(id)
        && audience_ok(claims.get("aud"), &core.settings().issuer(&realm.name))
        && exp + LEEWAY > now
        && exp <= now + MAX_ASSERTION_LIFETIME
        && number("nbf").is_none_or(|nbf| nbf <= now + LEEWAY)
        && number("iat").is_none_or(|iat| iat <= now + LEEWAY)
        && !jti.is_empty()
        && jti.len() <= 256;
    let until = time::OffsetDateTime::from_unix_timestamp(exp + LEEWAY)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    valid
        && core
            .edge()
            .first_use(&format!("assertion:{}:{id}:{jti}", realm.id), until)
            .await
}

/// Decodes one form-urlencoded component of Basic credentials.
fn form_decode(s: &str) -> String {
    // Generated ids and secrets have nothing to decode.
    if !s.contains(['%', '+']) {
        return s.to_owned();
    }
    // A raw `&` is part of the component, not a separator.
    url::form_urlencoded::parse(format!("x={}", s.replace('&', "%26")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn basic(header: &str) -> Result<(String, String), OAuthError> {
    let bad = || OAuthError::invalid_client("malformed Basic credentials", true);
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = STANDARD.decode(value.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok((form_decode(id), form_decode(secret)))
}

fn presented(req: &Request<'_>, form: &Form<'_>) -> Result<Presented, OAuthError> {
    if let Some(assertion) = assertion(req, form)? {
        return Ok(assertion);
    }
    let in_form = form.get("client_secret");
    match req.authorization {
        Some(header) => {
            if in_form.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not Basic and client_secret",
                ));
            }
            let (id, secret) = basic(header)?;
            if form.get("client_id").is_some_and(|f| f != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            Ok(Presented::Basic { id, secret })
        }
        None => {
            let id = form
                .get("client_id")
                .ok_or_else(|| {
                    OAuthError::invalid_client("client authentication is required", false)
                })?
                .to_owned();
            Ok(match in_form {
                Some(secret) => Presented::Post {
                    id,
                    secret: secret.to_owned(),
                },
                None => Presented::None { id },
            })
        }
    }
}

/// Authenticates the calling client of `realm`: the one it registered, by
/// its registered method, enabled.
pub(crate) async fn authenticate(
    core: &Portcullis,
    realm: &Realm,
    req: &Request<'_>,
    form: &Form<'_>,
) -> Result<std::sync::Arc<OAuthClient>, OAuthError> {
    let presented = presented(req, form)?;
    let (id, used_basic) = match &presented {
        Presented::Basic { id, .. } => (id.as_str(), true),
        Presented::Post { id, .. } | Presented::Assertion { id, .. } | Presented::None { id } => {
            (id.as_str(), false)
        }
    };
    let failed = || OAuthError::invalid_client("client authentication failed", used_basic);
    let client = match core.clients().find_shared(realm.id, id).await {
        Ok(c) => c,
        Err(portcullis_core::Error::NotFound(_)) => return Err(failed()),
        Err(e) => return Err(e.into()),
    };
    let ok = match (&presented, client.auth_method) {
        (Presented::Basic { secret, .. }, AuthMethod::ClientSecretBasic)
        | (Presented::Post { secret, .. }, AuthMethod::ClientSecretPost) => {
            client.secret_matches(secret)
        }
        (Presented::Assertion { assertion, .. }, AuthMethod::PrivateKeyJwt) => {
            verify_assertion(core, realm, &client, assertion).await
        }
        (Presented::None { .. }, AuthMethod::None) => true,
        _ => false,
    };
    if !ok || !client.enabled {
        return Err(failed());
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(authorization: Option<&str>) -> Request<'_> {
        Request {
            authorization,
            content_type: None,
            body: b"",
        }
    }

    fn form(body: &str) -> Form<'_> {
        Form::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap()
    }

    #[test]
    fn assertion_audiences() {
        let iss = "https://id.example.com/realms/main";
        for ok in [
            serde_json::json!(iss),
            serde_json::json!(format!("{iss}/oauth2/token")),
            serde_json::json!(["x", format!("{iss}/oauth2/revoke")]),
        ] {
            assert!(audience_ok(Some(&ok), iss), "{ok}");
        }
        for bad in [
            serde_json::json!("https://id.example.com/realms/other"),
            serde_json::json!(format!("{iss}/oauth2/userinfo")),
            serde_json::json!(format!("{iss}/")),
            serde_json::json!([]),
            serde_json::json!(5),
        ] {
            assert!(!audience_ok(Some(&bad), iss), "{bad}");
        }
        assert!(!audience_ok(None, iss));
    }

    #[test]
    fn assertions_exclude_other_methods() {
        let jwt = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(r#"{"sub":"svc"}"#));
        let body = format!("client_assertion_type={JWT_BEARER}&client_assertion={jwt}");
        match presented(&req(None), &form(&body)).unwrap() {
            Presented::Assertion { id, .. } => assert_eq!(id, "svc"),
            other => panic!("{other:?}"),
        }
        let e = presented(&req(None), &form(&format!("{body}&client_secret=s"))).unwrap_err();
        assert_eq!(e.error, "invalid_request");
        let e = presented(&req(None), &form(&format!("{body}&client_id=other"))).unwrap_err();
        assert_eq!(e.error, "invalid_request");
        let e = presented(&req(None), &form("client_assertion=abc")).unwrap_err();
        assert_eq!(e.error, "invalid_request");
        let bad = format!("client_assertion_type={JWT_BEARER}&client_assertion=not-a-jwt");
        assert_eq!(
            presented(&req(None), &form(&bad)).unwrap_err().error,
            "invalid_client"
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "my%20app:p%3Ass" -> id "my app", secret "p:ss".
        let header = format!("Basic {}", STANDARD.encode("my%20app:p%3Ass+x"));
        match presented(&req(Some(&header)), &form("")).unwrap() {
            Presented::Basic { id, secret } => {
                assert_eq!(id, "my app");
                assert_eq!(secret, "p:ss x");
            }
            other => panic!("{other:?}"),
        }
        let header = format!("basic {}", STANDARD.encode("a:b"));
        assert!(presented(&req(Some(&header)), &form("")).is_ok());
    }

    /// A form-urlencoded component decoded by the book: `+` is a space,
    /// `%` and two hex digits a byte, anything else itself; then UTF-8,
    /// lossily (as the form parser reads bodies).
    fn reference_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&b) = bytes.get(i) {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (b, hex) {
                (b'+', _) => out.push(b' '),
                (b'%', Some(decoded)) => {
                    out.push(decoded);
                    i += 2;
                }
                _ => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1024))]

        /// Each half of Basic credentials decodes like a form component,
        /// whatever it holds (`&`, `=`, `%`, `+`, broken escapes, non-ASCII).
        #[test]
        fn basic_components_decode_like_form_components(
            s in "[a-z&=+%0-9A-Fa-f;# ]{0,16}|.{0,12}",
        ) {
            proptest::prop_assert_eq!(form_decode(&s), reference_decode(&s));
        }
    }

    #[test]
    fn basic_components_keep_raw_ampersands() {
        // Found by the fuzz tests: a component with `%` or `+` lost
        // everything from a raw `&` on ("s&x%41" read as "s"), while one
        // without kept it.
        assert_eq!(form_decode("s&x%41"), "s&xA");
        assert_eq!(form_decode("s&x"), "s&x");
        assert_eq!(form_decode("a=b+c"), "a=b c");
    }

    #[test]
    fn one_method_per_request() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        assert_eq!(
            presented(&req(Some(&header)), &form("client_secret=b"))
                .unwrap_err()
                .error,
            "invalid_request"
        );
        assert_eq!(
            presented(&req(Some(&header)), &form("client_id=other"))
                .unwrap_err()
                .error,
            "invalid_request"
        );
        assert!(presented(&req(Some(&header)), &form("client_id=a")).is_ok());
    }

    #[test]
    fn malformed_or_missing_credentials() {
        for bad in [
            "Bearer abc",
            "Basic !!!",
            "Basic",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            let e = presented(&req(Some(bad)), &form("")).unwrap_err();
            assert_eq!(
                (e.error, e.status, e.basic_challenge),
                ("invalid_client", 401, true),
                "{bad}"
            );
        }
        let e = presented(&req(None), &form("")).unwrap_err();
        assert_eq!(
            (e.error, e.status, e.basic_challenge),
            ("invalid_client", 401, false)
        );
        assert!(matches!(
            presented(&req(None), &form("client_id=spa")).unwrap(),
            Presented::None { .. }
        ));
        assert!(matches!(
            presented(&req(None), &form("client_id=web&client_secret=s")).unwrap(),
            Presented::Post { .. }
        ));
    }
}
