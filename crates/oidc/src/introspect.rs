//! Token introspection (RFC 7662) for the realm's resource servers: a
//! confidential client asks whether a token is active. Anything not an
//! active access token of this realm (expired, revoked, ended session,
//! another realm's, malformed) is `{"active": false}` and nothing more.

use std::sync::Arc;

use portcullis_core::Portcullis;
use portcullis_core::clients::ClientType;
use portcullis_core::model::Realm;
use serde::Serialize;

use crate::client_auth::authenticate;
use crate::{Form, OAuthError, Request};

/// An introspection answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Granted scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Expiry, seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Subject: a user id, or the client for `client_credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// `POST {issuer}/oauth2/introspect`.
pub async fn introspect(
    core: &Portcullis,
    realm: &Arc<Realm>,
    req: Request<'_>,
) -> Result<Introspection, OAuthError> {
    let form = Form::parse(req.content_type, req.body)?;
    let client = authenticate(core, realm, &req, &form).await?;
    if client.client_type != ClientType::Confidential {
        return Err(OAuthError::invalid_client(
            "introspection is for confidential clients",
            req.authorization.is_some(),
        ));
    }
    let token = form.require("token")?;
    let Ok(claims) = core.accounts().verify_access_token(realm, token).await else {
        return Ok(Introspection::default());
    };
    Ok(Introspection {
        active: true,
        scope: claims.scope.clone(),
        client_id: claims.client_id.clone(),
        token_type: Some("Bearer"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub.clone()),
        aud: Some(claims.aud.clone()),
        iss: Some(claims.iss.clone()),
        jti: Some(claims.jti.to_string()),
    })
}
