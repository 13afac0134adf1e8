//! Tokens: issuing access and refresh tokens, refresh-token rotation with
//! reuse detection, and checking and revoking access tokens.

use std::sync::Arc;

use portcullis_crypto::{random_token, sha256};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{Accounts, IssuedTokens, RISK_SESSION_ENDED, RequestMeta};
use crate::error::{Error, Result};
use crate::model::{Realm, RefreshToken, RotateOutcome, Session, User, new_id};
use crate::realms::ensure_enabled;
use crate::tokens::{ACCESS_TOKEN_TYP, AccessClaims, LEEWAY, Principal};

/// Result of token validation: the claims of an active token, or nothing.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The realm's name.
    pub realm: String,
    /// Claims (shared with the verified-token cache).
    pub claims: Arc<AccessClaims>,
}

/// Why a presented access token is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a JWT of this realm's keys, or tampered.
    Invalid,
    /// Issued by another realm.
    WrongRealm,
    /// Expired.
    Expired,
    /// Revoked (logout, session ended).
    Revoked,
    /// The realm is disabled.
    RealmDisabled,
}

impl Accounts<'_> {
    /// Issues the first refresh token of a client session.
    pub async fn issue_client_refresh_token(
        &self,
        session: &Session,
        scope: &str,
        ttl: Option<time::Duration>,
    ) -> Result<SecretString> {
        let now = self.i.clock.now();
        let token = random_token();
        let record = RefreshToken {
            id: new_id(),
            realm_id: session.realm_id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            family_id: session.id,
            session_id: session.id,
            user_id: session.user_id,
            client_id: session.client_id.clone(),
            scope: Some(scope.to_owned()),
            created_at: now,
            expires_at: (now + ttl.unwrap_or(self.i.settings.refresh_token_ttl))
                .min(session.expires_at),
            used_at: None,
            revoked_at: None,
        };
        self.i.store.insert_refresh_token(&record).await?;
        Ok(SecretString::from(token))
    }

    pub(super) fn new_refresh_token(
        &self,
        realm: &Realm,
        user: &User,
        session_id: Uuid,
        family_id: Uuid,
    ) -> (SecretString, RefreshToken) {
        let now = self.i.clock.now();
        let token = random_token();
        let record = RefreshToken {
            id: new_id(),
            realm_id: realm.id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            family_id,
            session_id,
            user_id: user.id,
            client_id: None,
            scope: None,
            created_at: now,
            expires_at: now + self.i.settings.refresh_token_ttl,
            used_at: None,
            revoked_at: None,
        };
        (SecretString::from(token), record)
    }

    /// The roles a user holds now.
    pub(super) async fn roles_of(&self, realm: &Realm, user_id: Uuid) -> Result<Vec<String>> {
        self.authz().role_names(realm.id, user_id).await
    }

    /// Signs an access token; `roles` go into the `roles` claim when the
    /// realm wants it.
    pub(super) async fn sign_access_token(
        &self,
        realm: &Realm,
        user_id: Uuid,
        sid: Uuid,
        roles: Option<&[String]>,
    ) -> Result<String> {
        let i = self.i;
        let now = i.clock.now();
        let iss = i.settings.issuer(&realm.name);
        let claims = AccessClaims {
            aud: iss.clone(),
            iss,
            sub: user_id.to_string(),
            exp: (now + i.settings.access_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: new_id(),
            sid: Some(sid),
            scope: None,
            roles: roles.filter(|_| realm.roles_claim).map(<[String]>::to_vec),
            client_id: None,
            organization: None,
        };
        let key = i.keys.signer(realm).await?;
        Ok(key.sign(&claims, ACCESS_TOKEN_TYP)?)
    }

    /// Exchanges a refresh token for a new pair. A token presented twice revokes
    /// its whole family and session.
    pub async fn refresh(
        &self,
        realm: &Realm,
        presented: SecretString,
        meta: &RequestMeta,
    ) -> Result<IssuedTokens> {
        let (spent, refresh_token) = self.rotate(realm, None, None, &presented, meta).await?;
        // No need to read the account: deactivating or deleting a user ends
        // its sessions, and a token of an ended session never rotates.
        // Roles are looked up only for a realm whose tokens carry them.
        let roles = match realm.roles_claim {
            true => Some(self.roles_of(realm, spent.user_id).await?),
            false => None,
        };
        let access_token = self
            .sign_access_token(realm, spent.user_id, spent.session_id, roles.as_deref())
            .await?;
        Ok(IssuedTokens {
            access_token,
            refresh_token,
            expires_in: self.i.settings.access_token_ttl.whole_seconds().max(0) as u64,
            user: None,
            amr: Vec::new(),
            canary: None,
        })
    }

    /// Spends a refresh token issued to `client_id` (`None`: the first-party
    /// API) and returns its record with its replacement, in the same family
    /// and session. A token presented twice revokes its whole family and
    /// session; another client's token is invalid and left untouched. The
    /// replacement lives `ttl` (default: the realm's refresh-token lifetime),
    /// and never beyond its session.
    pub async fn rotate(
        &self,
        realm: &Realm,
        client_id: Option<&str>,
        ttl: Option<time::Duration>,
        presented: &SecretString,
        meta: &RequestMeta,
    ) -> Result<(RefreshToken, SecretString)> {
        ensure_enabled(realm)?;
        let i = self.i;
        let now = i.clock.now();
        let presented_hash = sha256(presented.expose_secret().as_bytes());
        let token = random_token();
        let replacement = RefreshToken {
            id: new_id(),
            realm_id: realm.id,
            token_hash: sha256(token.as_bytes()).to_vec(),
            family_id: Uuid::nil(),
            session_id: Uuid::nil(),
            user_id: Uuid::nil(),
            client_id: None,
            scope: None,
            created_at: now,
            expires_at: now + ttl.unwrap_or(i.settings.refresh_token_ttl),
            used_at: None,
            revoked_at: None,
        };
        let outcome = i
            .store
            .rotate_refresh_token(
                realm.id,
                client_id,
                &presented_hash,
                &replacement,
                now,
                meta.ip.as_deref(),
            )
            .await?;
        match outcome {
            RotateOutcome::Rotated(spent) => {
                let assessment = self
                    .risk()
                    .check_refresh(realm, spent.user_id, spent.session_id, meta)
                    .await?;
                if assessment.decision != crate::risk::Decision::Allow {
                    tracing::warn!(
                        realm = %realm.name,
                        session_id = %spent.session_id,
                        checks = ?assessment.names(),
                        "refresh refused by the risk checks: ending the session"
                    );
                    self.end_session(realm.id, spent.session_id).await?;
                    return Err(Error::NotAuthenticated(RISK_SESSION_ENDED));
                }
                // The session's baseline moved with this allowed use: so
                // does the fingerprint its access tokens are checked with.
                if spent.client_id.is_none()
                    && let Some(f) = i.sessions.get(spent.session_id)
                {
                    self.remember_session(spent.session_id, f.user_id, f.expires_at, meta);
                }
                Ok((spent, SecretString::from(token)))
            }
            RotateOutcome::Reused(spent) => {
                metrics::counter!("portcullis_refresh_token_reuse_total").increment(1);
                tracing::warn!(
                    realm = %realm.name,
                    user_id = %spent.user_id,
                    session_id = %spent.session_id,
                    client_id = spent.client_id.as_deref().unwrap_or(""),
                    "refresh token reused: revoking its family and session"
                );
                i.store
                    .revoke_refresh_family(realm.id, spent.family_id, now)
                    .await?;
                self.end_session(realm.id, spent.session_id).await?;
                Err(Error::NotAuthenticated("invalid refresh token"))
            }
            RotateOutcome::Invalid => Err(Error::NotAuthenticated("invalid refresh token")),
        }
    }

    /// Verifies an access token presented to a realm's API.
    pub async fn verify_access_token(
        &self,
        realm: &Arc<Realm>,
        token: &str,
    ) -> Result<Arc<AccessClaims>, TokenRejection> {
        let i = self.i;
        let claims = match i.verified.get(realm.id, token) {
            Some(claims) => claims,
            None => {
                let header =
                    portcullis_crypto::decode_header(token).map_err(|_| TokenRejection::Invalid)?;
                if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
                    return Err(TokenRejection::Invalid);
                }
                let kid = header.kid.ok_or(TokenRejection::Invalid)?;
                let key = i
                    .keys
                    .verifier(realm, &kid)
                    .await
                    .map_err(|_| TokenRejection::Invalid)?
                    .ok_or(TokenRejection::Invalid)?;
                let claims: Arc<AccessClaims> = Arc::new(
                    portcullis_crypto::verify(token, &key).map_err(|_| TokenRejection::Invalid)?,
                );
                i.verified.insert(
                    realm.id,
                    token,
                    claims.clone(),
                    i.clock.now().unix_timestamp(),
                );
                claims
            }
        };
        if !is_issuer_of(&claims.iss, &i.settings.public_url, realm.name.as_str()) {
            return Err(TokenRejection::WrongRealm);
        }
        let now = i.clock.now().unix_timestamp();
        if claims.exp <= now {
            return Err(TokenRejection::Expired);
        }
        if claims.iat > now + LEEWAY.whole_seconds() {
            return Err(TokenRejection::Invalid);
        }
        if i.denylist.is_denied(claims.jti, claims.sid)
            || i.denylist.is_user_denied(&claims.sub, claims.iat)
        {
            return Err(TokenRejection::Revoked);
        }
        if !realm.enabled {
            return Err(TokenRejection::RealmDisabled);
        }
        Ok(claims)
    }

    /// Authenticates a bearer token for a realm's API.
    pub async fn authenticate(&self, realm: Arc<Realm>, token: &str) -> Result<Principal> {
        let claims = self.verify_access_token(&realm, token).await.map_err(|r| {
            Error::NotAuthenticated(match r {
                TokenRejection::Expired => "access token expired",
                TokenRejection::Revoked => "access token revoked",
                TokenRejection::WrongRealm => "access token issued by another realm",
                TokenRejection::RealmDisabled => "this realm is disabled",
                TokenRejection::Invalid => "invalid access token",
            })
        })?;
        // A token an OAuth client got for a user is for that client's
        // audience; one for this API names it (RFC 8707 `resource`). A
        // client acting as itself (its service account) may also use a token
        // for itself, but not one it got for another resource server.
        let for_us = claims.aud == claims.iss
            || (claims.is_client_own() && Some(&claims.aud) == claims.client_id.as_ref());
        if claims.client_id.is_some() && !for_us {
            return Err(Error::NotAuthenticated(
                "this access token is for another audience",
            ));
        }
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| Error::NotAuthenticated("invalid access token"))?;
        Ok(Principal {
            realm,
            user_id,
            session_id: claims.sid,
            claims,
            service_key: None,
            elevated_risk: false,
        })
    }

    /// `validate`: the claims of an active token of this realm, or `None`.
    pub async fn validate(&self, realm: &Arc<Realm>, token: &str) -> Option<Validation> {
        let claims = self.verify_access_token(realm, token).await.ok()?;
        Some(Validation {
            realm: realm.name.to_string(),
            claims,
        })
    }

    /// Revokes one access token at once (until it would have expired): on
    /// this instance now, on every instance through the stored denylist.
    pub async fn revoke_access_token(&self, realm_id: Uuid, claims: &AccessClaims) -> Result<()> {
        let exp = claims.expires_at();
        self.i.denylist.deny_token(claims.jti, exp);
        self.i
            .store
            .insert_revoked_token(realm_id, claims.jti, exp, self.i.clock.now())
            .await?;
        self.i.announce(crate::notices::Notice::Revoked);
        Ok(())
    }
}

/// Whether `iss` is `{public_url}/realms/{realm}`, without allocating.
pub(super) fn is_issuer_of(iss: &str, public_url: &str, realm: &str) -> bool {
    iss.strip_prefix(public_url)
        .and_then(|rest| rest.strip_prefix("/realms/"))
        .is_some_and(|r| r == realm)
}
