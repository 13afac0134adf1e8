//! Client authentication at the token and introspection endpoints:
//! `client_secret_basic` (RFC 6749 §2.3.1, with the form-urlencoded id and
//! secret), `client_secret_post`, and `none` for public clients. A client
//! must use the method it registered, and only one method per request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use portcullis_core::Portcullis;
use portcullis_core::clients::{AuthMethod, OAuthClient};
use portcullis_core::model::Realm;

use crate::{Form, OAuthError, Request};

/// What the request presented.
#[derive(Debug)]
enum Presented {
    Basic { id: String, secret: String },
    Post { id: String, secret: String },
    None { id: String },
}

/// Decodes one form-urlencoded component of Basic credentials.
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
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

fn presented(req: &Request<'_>, form: &Form) -> Result<Presented, OAuthError> {
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
    form: &Form,
) -> Result<OAuthClient, OAuthError> {
    let presented = presented(req, form)?;
    let (id, used_basic) = match &presented {
        Presented::Basic { id, .. } => (id.as_str(), true),
        Presented::Post { id, .. } | Presented::None { id } => (id.as_str(), false),
    };
    let failed = || OAuthError::invalid_client("client authentication failed", used_basic);
    let client = match core.clients().find(realm.id, id).await {
        Ok(c) => c,
        Err(portcullis_core::Error::NotFound(_)) => return Err(failed()),
        Err(e) => return Err(e.into()),
    };
    let ok = match (&presented, client.auth_method) {
        (Presented::Basic { secret, .. }, AuthMethod::ClientSecretBasic)
        | (Presented::Post { secret, .. }, AuthMethod::ClientSecretPost) => {
            client.secret_matches(secret)
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

    fn form(body: &str) -> Form {
        Form::parse(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap()
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
