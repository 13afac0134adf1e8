//! The holder of a live first-party refresh token, seen without spending
//! it: how a browser app in cookie mode, or a backend-for-frontend proxy
//! forwarding its cookie, is authenticated where no access token is at
//! hand (`/api/v1/bff/session`, `/api/v1/bff/authorize`, logout by cookie).
//!
//! Looking does not rotate: reuse detection stays with [`Accounts::rotate`].
//! A spent token is simply not live here (401), so a read racing a refresh
//! in another tab does not end the session; presenting it to a refresh
//! does.

use std::sync::Arc;

use portcullis_crypto::sha256;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Accounts;
use crate::error::{Error, Result};
use crate::model::{Realm, RefreshToken, Session};
use crate::realms::ensure_enabled;
use crate::tokens::{AccessClaims, Principal};

/// The answer to a refresh token that is not live.
const NOT_LIVE: &str = "invalid refresh token";

/// Share of an access token's life after which a refresh is advised.
const ROTATE_AT_PERCENT: i64 = 80;

/// A live first-party refresh token and whose it is.
#[derive(Debug, Clone)]
pub struct RefreshHolder {
    /// The session's user, as a principal for rights and limiters. Its
    /// claims describe the refresh token, not an access token: `iat` and
    /// `exp` are the token's, `jti` its id, `sid` its session.
    pub principal: Principal,
    /// The token's record.
    pub token: RefreshToken,
    /// Its session.
    pub session: Session,
}

/// What a refresh token's holder may know of its session.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// The user.
    pub user_id: Uuid,
    /// The session.
    pub session_id: Uuid,
    /// Scopes of the session's tokens (empty for the first-party API,
    /// whose tokens carry none).
    pub scopes: Vec<String>,
    /// The roles the user holds now.
    pub roles: Vec<String>,
    /// When the access token issued with this refresh token expires.
    pub access_expires_at: OffsetDateTime,
    /// When the refresh token expires.
    pub refresh_expires_at: OffsetDateTime,
    /// When the session ends, whatever its tokens.
    pub session_expires_at: OffsetDateTime,
    /// Seconds until a refresh is advised (0: now).
    pub rotate_in: u64,
    /// When the user last proved who they are in this session.
    pub auth_time: OffsetDateTime,
    /// How (RFC 8176 values).
    pub amr: Vec<String>,
}

/// Seconds from `now` until `ROTATE_AT_PERCENT` of the life of an access
/// token issued at `issued_at` for `ttl` has passed; 0 once it has.
pub fn rotate_in(issued_at: OffsetDateTime, ttl: time::Duration, now: OffsetDateTime) -> u64 {
    let at = issued_at + time::Duration::seconds(ttl.whole_seconds() * ROTATE_AT_PERCENT / 100);
    let left: time::Duration = at - now;
    left.whole_seconds().max(0) as u64
}

impl Accounts<'_> {
    /// The holder of `presented`, a first-party refresh token of `realm`
    /// that is unused, unrevoked and unexpired, of a live session; anything
    /// else is `NotAuthenticated`. Nothing is spent or changed.
    pub async fn refresh_holder(
        &self,
        realm: Arc<Realm>,
        presented: &SecretString,
    ) -> Result<RefreshHolder> {
        ensure_enabled(&realm)?;
        let i = self.i;
        let now = i.clock.now();
        let secret = presented.expose_secret();
        if secret.is_empty() || secret.len() > 128 {
            return Err(Error::NotAuthenticated(NOT_LIVE));
        }
        let token = i
            .store
            .get_refresh_token(realm.id, &sha256(secret.as_bytes()))
            .await?
            .filter(|t| {
                t.client_id.is_none()
                    && t.used_at.is_none()
                    && t.revoked_at.is_none()
                    && t.expires_at > now
            })
            .ok_or(Error::NotAuthenticated(NOT_LIVE))?;
        let session = i
            .store
            .get_session(realm.id, token.session_id)
            .await?
            .filter(|s| s.revoked_at.is_none() && s.expires_at > now && s.client_id.is_none())
            .ok_or(Error::NotAuthenticated(NOT_LIVE))?;
        let iss = i.settings.issuer(&realm.name);
        let claims = AccessClaims {
            aud: iss.clone(),
            iss,
            sub: token.user_id.to_string(),
            exp: token.expires_at.unix_timestamp(),
            iat: token.created_at.unix_timestamp(),
            jti: token.id,
            sid: Some(session.id),
            scope: token.scope.clone(),
            roles: None,
            client_id: None,
            organization: None,
        };
        Ok(RefreshHolder {
            principal: Principal {
                realm,
                user_id: token.user_id,
                session_id: Some(session.id),
                claims: Arc::new(claims),
                service_key: None,
                elevated_risk: false,
            },
            token,
            session,
        })
    }

    /// What the holder of a live refresh token may know of its session,
    /// with the roles its user holds now.
    pub async fn session_info(&self, holder: &RefreshHolder) -> Result<SessionInfo> {
        let i = self.i;
        let t = &holder.token;
        let roles = self.roles_of(&holder.principal.realm, t.user_id).await?;
        Ok(SessionInfo {
            user_id: t.user_id,
            session_id: holder.session.id,
            scopes: t
                .scope
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            roles,
            // Login and refresh sign the access token with the refresh
            // token, at the same instant.
            access_expires_at: t.created_at + i.settings.access_token_ttl,
            refresh_expires_at: t.expires_at.min(holder.session.expires_at),
            session_expires_at: holder.session.expires_at,
            rotate_in: rotate_in(t.created_at, i.settings.access_token_ttl, i.clock.now()),
            auth_time: holder.session.auth_time,
            amr: holder.session.amr.clone(),
        })
    }

    /// Ends the session of a refresh token's holder (logout by cookie): its
    /// refresh tokens stop working and its access tokens are denied at once.
    pub async fn logout_holder(&self, holder: &RefreshHolder) -> Result<()> {
        self.end_session(holder.principal.realm.id, holder.session.id)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn rotation_is_advised_at_four_fifths_of_the_life() {
        let issued = datetime!(2026-01-01 12:00 UTC);
        let ttl = time::Duration::minutes(15);
        assert_eq!(rotate_in(issued, ttl, issued), 720);
        assert_eq!(
            rotate_in(issued, ttl, issued + time::Duration::minutes(10)),
            120
        );
        assert_eq!(
            rotate_in(issued, ttl, issued + time::Duration::minutes(12)),
            0
        );
        assert_eq!(rotate_in(issued, ttl, issued + time::Duration::hours(2)), 0);
    }
}
