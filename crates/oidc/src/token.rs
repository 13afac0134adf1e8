//! The token endpoint (RFC 6749 §3.2): the `authorization_code` (§4.1.3,
//! with PKCE), `refresh_token` (§6) and `client_credentials` (§4.4) grants,
//! answered with RFC 9068 JWT access tokens, ID tokens for `openid`, and
//! rotating refresh tokens for `offline_access`.

use portcullis_core::accounts::RequestMeta;
use portcullis_core::clients::{GrantType, OAuthClient};
use portcullis_core::model::{AuthCode, CodeOutcome, Realm, Session, User, new_id};
use portcullis_core::orgs::claim::ORGANIZATION_SCOPE;
use portcullis_core::tokens::{ACCESS_TOKEN_TYP, AccessClaims};
use portcullis_core::{Error, Portcullis};
use portcullis_crypto::{constant_time_eq, sha256};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use uuid::Uuid;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::client_auth::authenticate;
use crate::{Form, OAuthError, Request};

/// Scopes about a user: meaningless when a client acts as itself.
const USER_SCOPES: [&str; 7] = crate::metadata::SCOPES;

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
    /// A refresh token (for `offline_access`).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub refresh_token: Option<SecretString>,
    /// An ID token (for `openid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

fn expose<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.expose_secret()),
        None => s.serialize_none(),
    }
}

/// `POST {issuer}/oauth2/token`. `meta` tells of the client's device; it is
/// asked for only by the grants that record it (a refresh).
pub async fn token(
    core: &Portcullis,
    realm: &Realm,
    req: Request<'_>,
    meta: impl FnOnce() -> RequestMeta,
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
        GrantType::AuthorizationCode => authorization_code(core, realm, &client, &form).await,
        GrantType::RefreshToken => refresh_token(core, realm, &client, &form, &meta()).await,
    }
}

fn access_ttl(core: &Portcullis, client: &OAuthClient) -> time::Duration {
    client
        .access_token_ttl
        .map_or(core.settings().access_token_ttl, |s| {
            time::Duration::seconds(i64::from(s))
        })
}

fn refresh_ttl(client: &OAuthClient) -> Option<time::Duration> {
    client
        .refresh_token_ttl
        .map(|s| time::Duration::seconds(i64::from(s)))
}

/// The PKCE check (RFC 7636 §4.6): the verifier's SHA-256 must be the
/// challenge, and a verifier without a challenge is refused (RFC 9700 §4.8).
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (Some(challenge), Some(verifier)) => {
            let well_formed =
                (43..=128).contains(&verifier.len()) && crate::authorize::is_pkce_value(verifier);
            let computed = URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()));
            if well_formed && constant_time_eq(computed.as_bytes(), challenge.as_bytes()) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant("code_verifier does not match"))
            }
        }
    }
}

fn invalid_grant(e: Error) -> OAuthError {
    match e {
        Error::NotAuthenticated(m) | Error::Forbidden(m) => OAuthError::invalid_grant(m),
        other => other.into(),
    }
}

async fn authorization_code(
    core: &Portcullis,
    realm: &Realm,
    client: &OAuthClient,
    form: &Form<'_>,
) -> Result<TokenResponse, OAuthError> {
    let code = form.require("code")?;
    let now = core.clock().now();
    let store = core.store();
    let grant_session = new_id();
    let outcome = store
        .consume_auth_code(realm.id, &sha256(code.as_bytes()), grant_session, now)
        .await
        .map_err(Error::from)?;
    let record = match outcome {
        CodeOutcome::Consumed(record) => record,
        CodeOutcome::Reused(record) => {
            // RFC 6749 §4.1.2: revoke what the first redemption issued.
            if record.client_id == client.client_id
                && let Some(sid) = record.grant_session_id
            {
                tracing::warn!(
                    realm = %realm.name,
                    client_id = %client.client_id,
                    session_id = %sid,
                    "authorization code reused: revoking its tokens"
                );
                metrics::counter!("portcullis_auth_code_reuse_total").increment(1);
                core.accounts().end_grant(realm.id, sid).await?;
            }
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
        CodeOutcome::Invalid => return Err(OAuthError::invalid_grant("unknown code")),
    };
    let (browser, user, aud) = match check_redemption(core, realm, client, form, &record).await {
        Ok(checked) => checked,
        Err(e) => {
            // Nothing will be issued for this code: mark its grant as
            // ended, so a later presentation need not wait for it.
            let _ = core
                .accounts()
                .block_grant(realm.id, grant_session, record.user_id, &record.client_id)
                .await;
            return Err(e);
        }
    };
    let lifetime = core.settings().session_ttl;
    let session = core
        .accounts()
        .start_client_session(grant_session, &browser, &client.client_id, lifetime)
        .await?;
    let scopes: Vec<&str> = record.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let grant = UserGrant {
        user: &user,
        session: &session,
        scopes: &scopes,
        aud,
    };
    user_tokens(core, realm, client, grant, record.nonce, true).await
}

/// Everything a redemption must satisfy once the code is spent: the
/// client, the expiry, the redirect URI, PKCE, a live browser session and
/// account, and an acceptable `resource`. Gives the browser session, the
/// user and the access token's audience.
async fn check_redemption(
    core: &Portcullis,
    realm: &Realm,
    client: &OAuthClient,
    form: &Form<'_>,
    record: &AuthCode,
) -> Result<(Session, User, String), OAuthError> {
    let now = core.clock().now();
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.expires_at <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    match (&record.redirect_uri, form.get("redirect_uri")) {
        (Some(expected), Some(given)) if expected == given => {}
        (None, None) => {}
        (None, Some(given)) if client.redirect_uris.iter().any(|r| r == given) => {}
        _ => {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
    }
    check_pkce(record.code_challenge.as_deref(), form.get("code_verifier"))?;
    let aud = audience(client, form.get("resource"))?;
    let browser = core
        .store()
        .get_session(realm.id, record.session_id)
        .await
        .map_err(Error::from)?
        .filter(|s| s.revoked_at.is_none() && s.expires_at > now)
        .ok_or_else(|| OAuthError::invalid_grant("the user's session has ended"))?;
    let user = live_user(core, realm, record.user_id).await?;
    Ok((browser, user, aud))
}

async fn live_user(core: &Portcullis, realm: &Realm, id: Uuid) -> Result<User, OAuthError> {
    core.store()
        .get_user(realm.id, id)
        .await
        .map_err(Error::from)?
        .filter(|u| u.active)
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))
}

/// What a user granted a client, in one client session.
struct UserGrant<'a> {
    user: &'a User,
    session: &'a Session,
    scopes: &'a [&'a str],
    /// The access token's audience.
    aud: String,
}

/// Access token, ID token (for `openid`) and refresh token (for
/// `offline_access`, when `new_refresh`) for a user's client session.
async fn user_tokens(
    core: &Portcullis,
    realm: &Realm,
    client: &OAuthClient,
    grant: UserGrant<'_>,
    nonce: Option<String>,
    new_refresh: bool,
) -> Result<TokenResponse, OAuthError> {
    let UserGrant {
        user,
        session,
        scopes,
        aud,
    } = grant;
    let now = core.clock().now();
    let ttl = access_ttl(core, client);
    let scope = scopes.join(" ");
    let roles = match realm.roles_claim {
        true => Some(core.authz().role_names(realm.id, user.id).await?),
        false => None,
    };
    let organization = match scopes.contains(&ORGANIZATION_SCOPE) {
        true => Some(core.organizations().claim(realm.id, user.id).await?),
        false => None,
    };
    let claims = AccessClaims {
        iss: core.settings().issuer(&realm.name),
        sub: user.id.to_string(),
        aud,
        exp: (now + ttl).unix_timestamp(),
        iat: now.unix_timestamp(),
        jti: new_id(),
        sid: Some(session.id),
        scope: (!scope.is_empty()).then(|| scope.clone()),
        roles,
        client_id: Some(client.client_id.clone()),
        organization,
    };
    let key = core.keys().signer(realm).await?;
    let access_token = key
        .sign(&claims, ACCESS_TOKEN_TYP)
        .map_err(|_| OAuthError::server_error())?;
    let id_token = match scopes.contains(&"openid") {
        true => Some(
            crate::id_token::issue(
                core,
                realm,
                crate::id_token::IdTokenInput {
                    client,
                    user,
                    session,
                    scopes,
                    nonce,
                    access_token: &access_token,
                },
            )
            .await?,
        ),
        false => None,
    };
    let refresh_token = match new_refresh
        && scopes.contains(&"offline_access")
        && client.grant_types.contains(&GrantType::RefreshToken)
    {
        true => Some(
            core.accounts()
                .issue_client_refresh_token(session, &scope, refresh_ttl(client))
                .await?,
        ),
        false => None,
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl.whole_seconds(),
        scope: claims.scope,
        refresh_token,
        id_token,
    })
}

async fn refresh_token(
    core: &Portcullis,
    realm: &Realm,
    client: &OAuthClient,
    form: &Form<'_>,
    meta: &RequestMeta,
) -> Result<TokenResponse, OAuthError> {
    let presented = SecretString::from(form.require("refresh_token")?.to_owned());
    let store = core.store();
    // Check a narrower scope before spending the token.
    let requested: Option<Vec<&str>> = form
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect());
    if let Some(requested) = &requested {
        let record = store
            .get_refresh_token(realm.id, &sha256(presented.expose_secret().as_bytes()))
            .await
            .map_err(Error::from)?
            .filter(|t| t.client_id.as_deref() == Some(client.client_id.as_str()))
            .ok_or_else(|| OAuthError::invalid_grant("invalid refresh token"))?;
        let granted = record.scope.unwrap_or_default();
        if let Some(extra) = requested
            .iter()
            .find(|s| !granted.split(' ').any(|g| g == **s))
        {
            return Err(OAuthError::invalid_scope(format!(
                "{extra} was not granted to this refresh token"
            )));
        }
    }
    let (spent, new_token) = core
        .accounts()
        .rotate(
            realm,
            Some(&client.client_id),
            refresh_ttl(client),
            &presented,
            meta,
        )
        .await
        .map_err(invalid_grant)?;
    let session = store
        .get_session(realm.id, spent.session_id)
        .await
        .map_err(Error::from)?
        .ok_or_else(|| OAuthError::invalid_grant("invalid refresh token"))?;
    let user = live_user(core, realm, spent.user_id).await?;
    let granted = spent.scope.unwrap_or_default();
    let scopes: Vec<&str> = match &requested {
        Some(r) => r.clone(),
        None => granted.split(' ').filter(|s| !s.is_empty()).collect(),
    };
    let grant = UserGrant {
        user: &user,
        session: &session,
        scopes: &scopes,
        aud: audience(client, form.get("resource"))?,
    };
    let mut answer = user_tokens(core, realm, client, grant, None, false).await?;
    answer.refresh_token = Some(new_token);
    Ok(answer)
}

/// The granted scope: the requested one if the client may have all of it,
/// else the client's scopes that are not about a user.
fn granted_scope<'a>(
    client: &'a OAuthClient,
    requested: Option<&'a str>,
) -> Result<Vec<&'a str>, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|s| !USER_SCOPES.contains(s))
            .collect());
    };
    let mut granted: Vec<&str> = Vec::new();
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
        if !granted.contains(&s) {
            granted.push(s);
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
    form: &Form<'_>,
) -> Result<TokenResponse, OAuthError> {
    let scope = granted_scope(client, form.get("scope"))?;
    let aud = audience(client, form.get("resource"))?;
    let now = core.clock().now();
    let ttl = access_ttl(core, client);
    let scope = (!scope.is_empty()).then(|| scope.join(" "));
    let claims = AccessClaims {
        iss: core.settings().issuer(&realm.name),
        sub: client.id.to_string(),
        aud,
        exp: (now + ttl).unix_timestamp(),
        iat: now.unix_timestamp(),
        jti: new_id(),
        sid: None,
        scope: scope.clone(),
        roles: None,
        client_id: Some(client.client_id.clone()),
        organization: None,
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
        refresh_token: None,
        id_token: None,
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
            links: Default::default(),
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
