//! Token revocation (RFC 7009). A client revokes an access token or a
//! refresh token issued to it. A revoked access token stops working at once
//! on this instance (other instances learn of it when they start, from the
//! stored revocations); revoking a refresh token ends the authorization it
//! belongs to. A token that is not active here (malformed, expired, already
//! revoked, another realm's) is answered like a revoked one: there is
//! nothing to do, and the answer reveals nothing.

use std::sync::Arc;

use portcullis_core::Portcullis;
use portcullis_core::model::Realm;
use portcullis_crypto::sha256;

use crate::client_auth::authenticate;
use crate::{Form, OAuthError, Request};

/// `POST {issuer}/oauth2/revoke`: `Ok(())` is an empty 200.
pub async fn revoke(
    core: &Portcullis,
    realm: &Arc<Realm>,
    req: Request<'_>,
) -> Result<(), OAuthError> {
    let form = Form::parse(req.content_type, req.body)?;
    let client = authenticate(core, realm, &req, &form).await?;
    let token = form.require("token")?;
    // `token_type_hint` is only a hint (RFC 7009 §2.1): every token is
    // looked up the same way.
    let Ok(claims) = core.accounts().verify_access_token(realm, token).await else {
        return revoke_refresh_token(core, realm, &client.client_id, token).await;
    };
    if claims.client_id.as_deref() != Some(client.client_id.as_str()) {
        return Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ));
    }
    core.accounts()
        .revoke_access_token(realm.id, &claims)
        .await
        .map_err(OAuthError::from)
}

/// Revoking a refresh token ends the authorization it belongs to: every
/// refresh token of its client session and the access tokens issued in it.
async fn revoke_refresh_token(
    core: &Portcullis,
    realm: &Realm,
    client_id: &str,
    token: &str,
) -> Result<(), OAuthError> {
    let Some(record) = core
        .store()
        .get_refresh_token(realm.id, &sha256(token.as_bytes()))
        .await
        .map_err(portcullis_core::Error::from)?
    else {
        return Ok(());
    };
    if record.client_id.as_deref() != Some(client_id) {
        return Err(OAuthError::unauthorized_client(
            "the token was not issued to this client",
        ));
    }
    core.accounts()
        .end_session(realm.id, record.session_id)
        .await
        .map_err(OAuthError::from)?;
    Ok(())
}
