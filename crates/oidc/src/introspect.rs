//! Token introspection (RFC 7662) for the realm's resource servers: a
//! confidential client asks whether a token is active: an access token of
//! this realm, or a refresh token issued to the asking client. Anything else
//! (expired, revoked, spent, ended session, another realm's or client's,
//! malformed) is `{"active": false}` and nothing more.

use std::sync::Arc;

use portcullis_core::Portcullis;
use portcullis_core::clients::ClientType;
use portcullis_core::model::Realm;
use portcullis_crypto::sha256;
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
        return refresh_token(core, realm, &client.client_id, token).await;
    };
    Ok(of_access_token(&claims))
}

/// Introspection by a service that signed its request with a service key
/// (the http layer verified the signature): access tokens of the realm only,
/// since refresh tokens are described only to the client they were issued to.
pub async fn introspect_signed(
    core: &Portcullis,
    realm: &Arc<Realm>,
    req: Request<'_>,
) -> Result<Introspection, OAuthError> {
    let form = Form::parse(req.content_type, req.body)?;
    let token = form.require("token")?;
    Ok(
        match core.accounts().verify_access_token(realm, token).await {
            Ok(claims) => of_access_token(&claims),
            Err(_) => Introspection::default(),
        },
    )
}

fn of_access_token(claims: &portcullis_core::tokens::AccessClaims) -> Introspection {
    Introspection {
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
    }
}

/// A refresh token is described to the client it was issued to, while it
/// could still be used: unspent, unrevoked, unexpired, its session live.
async fn refresh_token(
    core: &Portcullis,
    realm: &Realm,
    client_id: &str,
    token: &str,
) -> Result<Introspection, OAuthError> {
    let now = core.clock().now();
    let store = core.store();
    let Some(record) = store
        .get_refresh_token(realm.id, &sha256(token.as_bytes()))
        .await
        .map_err(portcullis_core::Error::from)?
        .filter(|t| {
            t.client_id.as_deref() == Some(client_id)
                && t.used_at.is_none()
                && t.revoked_at.is_none()
                && t.expires_at > now
        })
    else {
        return Ok(Introspection::default());
    };
    let live = store
        .get_session(realm.id, record.session_id)
        .await
        .map_err(portcullis_core::Error::from)?
        .is_some_and(|s| s.revoked_at.is_none() && s.expires_at > now);
    if !live || !realm.enabled {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        scope: record.scope,
        client_id: record.client_id,
        token_type: Some("refresh_token"),
        exp: Some(record.expires_at.unix_timestamp()),
        iat: Some(record.created_at.unix_timestamp()),
        sub: Some(record.user_id.to_string()),
        aud: Some(client_id.to_owned()),
        iss: Some(core.realms().issuer(realm)),
        jti: None,
    })
}
