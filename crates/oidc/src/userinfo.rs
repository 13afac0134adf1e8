//! The UserInfo endpoint (OpenID Connect Core §5.3): the claims an access
//! token's scopes release about its user. The token comes as a bearer
//! header (GET or POST) or, on POST, as the `access_token` form parameter
//! (RFC 6750 §2.2), never both. Errors are RFC 6750 §3 challenges.

use std::sync::Arc;

use portcullis_core::Portcullis;
use portcullis_core::model::Realm;
use serde_json::{Map, Value};

use crate::{Form, Request};

/// An RFC 6750 error: the status and the `WWW-Authenticate: Bearer`
/// challenge's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerError {
    /// 400, 401 or 403.
    pub status: u16,
    /// `invalid_request`, `invalid_token` or `insufficient_scope`; `None`
    /// when no token was sent at all (RFC 6750 §3.1).
    pub error: Option<&'static str>,
    /// For the developer.
    pub description: &'static str,
}

impl BearerError {
    fn new(status: u16, error: &'static str, description: &'static str) -> Self {
        Self {
            status,
            error: Some(error),
            description,
        }
    }

    /// The `WWW-Authenticate` header value.
    pub fn challenge(&self, realm: &str) -> String {
        match self.error {
            Some(e) => format!(
                "Bearer realm=\"{realm}\", error=\"{e}\", error_description=\"{}\"",
                self.description
            ),
            None => format!("Bearer realm=\"{realm}\""),
        }
    }
}

/// `GET` or `POST {issuer}/oauth2/userinfo`. `post` tells whether the body
/// may carry the token.
pub async fn userinfo(
    core: &Portcullis,
    realm: &Arc<Realm>,
    req: Request<'_>,
    post: bool,
) -> Result<Map<String, Value>, BearerError> {
    let header = match req.authorization {
        None => None,
        Some(h) => match h.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
            _ => {
                return Err(BearerError::new(
                    400,
                    "invalid_request",
                    "the Authorization header must be a Bearer token",
                ));
            }
        },
    };
    let form = match post && !req.body.is_empty() {
        true => Some(
            Form::parse(req.content_type, req.body)
                .map_err(|_| BearerError::new(400, "invalid_request", "the body must be a form"))?,
        ),
        false => None,
    };
    let body = form.as_ref().and_then(|f| f.get("access_token"));
    let token = match (header, body) {
        (Some(_), Some(_)) => {
            return Err(BearerError::new(
                400,
                "invalid_request",
                "send the token in one place only",
            ));
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Err(BearerError {
                status: 401,
                error: None,
                description: "",
            });
        }
    };
    let invalid = || BearerError::new(401, "invalid_token", "the access token is not active");
    let claims = core
        .accounts()
        .verify_access_token(realm, token)
        .await
        .map_err(|_| invalid())?;
    if claims.client_id.is_none() || claims.is_client_own() {
        return Err(BearerError::new(
            403,
            "insufficient_scope",
            "the token was not issued to a client for a user",
        ));
    }
    let scopes: Vec<&str> = claims.scope.as_deref().unwrap_or("").split(' ').collect();
    if !scopes.contains(&"openid") {
        return Err(BearerError::new(
            403,
            "insufficient_scope",
            "the token's scope lacks openid",
        ));
    }
    let user_id = claims.sub.parse().map_err(|_| invalid())?;
    let user = core
        .store()
        .get_user(realm.id, user_id)
        .await
        .map_err(|_| BearerError::new(503, "temporarily_unavailable", "try again later"))?
        .filter(|u| u.active)
        .ok_or_else(invalid)?;
    let mut out = Map::new();
    out.insert("sub".into(), Value::from(claims.sub.as_str()));
    let released = crate::id_token::user_claims(core, &user, &scopes)
        .await
        .map_err(|_| BearerError::new(503, "temporarily_unavailable", "try again later"))?;
    out.extend(released);
    Ok(out)
}
