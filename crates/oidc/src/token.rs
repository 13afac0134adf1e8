//! The token endpoint (RFC 6749 §3.2). Grants built so far:
//! `client_credentials` (§4.4), answered with an RFC 9068 JWT access token
//! whose subject is the client.

use portcullis_core::Portcullis;
use portcullis_core::clients::{GrantType, OAuthClient};
use portcullis_core::model::{Realm, new_id};
use portcullis_core::tokens::{ACCESS_TOKEN_TYP, AccessClaims};
use serde::Serialize;

use crate::client_auth::authenticate;
use crate::{Form, OAuthError, Request};

/// Scopes about a user: meaningless when a client acts as itself.
const USER_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
];

/// A successful token answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scope, space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// `POST {issuer}/oauth2/token`.
pub async fn token(
    core: &Portcullis,
    realm: &Realm,
    req: Request<'_>,
) -> Result<TokenResponse, OAuthError> {
    let form = Form::parse(req.content_type, req.body)?;
    let grant = form.require("grant_type")?;
    let Some(grant) = GrantType::parse(grant) else {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {grant} is not supported"
        )));
    };
    let client = authenticate(core, realm, &req, &form).await?;
    if !realm.enabled {
        return Err(OAuthError::invalid_client(
            "this realm is disabled",
            req.authorization.is_some(),
        ));
    }
    if !client.grant_types.contains(&grant) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use {}",
            grant.as_str()
        )));
    }
    match grant {
        GrantType::ClientCredentials => client_credentials(core, realm, &client, &form).await,
        GrantType::AuthorizationCode | GrantType::RefreshToken => {
            Err(OAuthError::unsupported_grant_type(format!(
                "grant_type {} is not available yet",
                grant.as_str()
            )))
        }
    }
}

/// The granted scope: the requested one if the client may have all of it,
/// else the client's scopes that are not about a user.
fn granted_scope(client: &OAuthClient, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client
            .scopes
            .iter()
            .filter(|s| !USER_SCOPES.contains(&s.as_str()))
            .cloned()
            .collect());
    };
    let mut granted: Vec<String> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if USER_SCOPES.contains(&s) {
            return Err(OAuthError::invalid_scope(format!(
                "{s} is about a user; a client acting as itself cannot have it"
            )));
        }
        if !client.scopes.iter().any(|c| c == s) {
            return Err(OAuthError::invalid_scope(format!(
                "the client may not ask for {s}"
            )));
        }
        if !granted.iter().any(|g| g == s) {
            granted.push(s.to_owned());
        }
    }
    Ok(granted)
}

/// The audience: an RFC 8707 `resource` (an absolute URI without fragment),
/// or the client itself.
fn audience(client: &OAuthClient, resource: Option<&str>) -> Result<String, OAuthError> {
    match resource {
        None => Ok(client.client_id.clone()),
        Some(r) => match url::Url::parse(r) {
            Ok(u) if u.fragment().is_none() && r.len() <= 2000 => Ok(r.to_owned()),
            _ => Err(OAuthError::invalid_target(
                "resource must be an absolute URI without a fragment",
            )),
        },
    }
}

async fn client_credentials(
    core: &Portcullis,
    realm: &Realm,
    client: &OAuthClient,
    form: &Form,
) -> Result<TokenResponse, OAuthError> {
    let scope = granted_scope(client, form.get("scope"))?;
    let aud = audience(client, form.get("resource"))?;
    let now = core.clock().now();
    let ttl = client
        .access_token_ttl
        .map_or(core.settings().access_token_ttl, |s| {
            time::Duration::seconds(i64::from(s))
        });
    let scope = (!scope.is_empty()).then(|| scope.join(" "));
    let claims = AccessClaims {
        iss: core.settings().issuer(&realm.name),
        sub: client.client_id.clone(),
        aud,
        exp: (now + ttl).unix_timestamp(),
        iat: now.unix_timestamp(),
        jti: new_id(),
        sid: None,
        scope: scope.clone(),
        roles: None,
        client_id: Some(client.client_id.clone()),
    };
    let key = core.keys().signer(realm).await?;
    let access_token = key
        .sign(&claims, ACCESS_TOKEN_TYP)
        .map_err(|_| OAuthError::server_error())?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl.whole_seconds(),
        scope,
    })
}

#[cfg(test)]
mod tests {
    use portcullis_core::clients::{AuthMethod, ClientType};
    use portcullis_core::model::SigningAlgorithm;
    use time::OffsetDateTime;

    use super::*;

    fn client() -> OAuthClient {
        OAuthClient {
            id: new_id(),
            realm_id: new_id(),
            client_id: "job".to_owned(),
            name: "Job".to_owned(),
            client_type: ClientType::Confidential,
            auth_method: AuthMethod::ClientSecretBasic,
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: ["openid", "orders:read", "orders:write"]
                .map(str::to_owned)
                .to_vec(),
            id_token_alg: SigningAlgorithm::RS256,
            jwks: None,
            access_token_ttl: None,
            refresh_token_ttl: None,
            require_consent: false,
            enabled: true,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn scopes_granted() {
        let c = client();
        assert_eq!(
            granted_scope(&c, None).unwrap(),
            ["orders:read", "orders:write"]
        );
        assert_eq!(
            granted_scope(&c, Some("orders:read  orders:read")).unwrap(),
            ["orders:read"]
        );
        assert_eq!(
            granted_scope(&c, Some("openid")).unwrap_err().error,
            "invalid_scope"
        );
        assert_eq!(
            granted_scope(&c, Some("orders:delete")).unwrap_err().error,
            "invalid_scope"
        );
    }

    #[test]
    fn audience_from_resource() {
        let c = client();
        assert_eq!(audience(&c, None).unwrap(), "job");
        assert_eq!(
            audience(&c, Some("https://api.example.com/orders")).unwrap(),
            "https://api.example.com/orders"
        );
        for bad in ["orders", "https://api.example.com/#x"] {
            assert_eq!(audience(&c, Some(bad)).unwrap_err().error, "invalid_target");
        }
    }
}
