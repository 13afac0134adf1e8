//! Conversions between rows and domain records, times and errors.
//!
//! Times are stored as `i64` Unix microseconds (UTC): exact, totally ordered and
//! indexable on both backends. (sqlx writes `OffsetDateTime` to SQLite as RFC 3339
//! text with a variable number of fraction digits, which does not sort as text,
//! so a text column would break every `expires_at > ?` comparison.) Anything
//! finer than a microsecond is truncated.

use portcullis_core::StoreError;
use portcullis_core::model::{
    Email, Realm, RealmName, RefreshToken, Session, SigningAlgorithm, StoredSigningKey, TimeZone,
    User,
};
use sea_orm::{DbErr, SqlErr};
use time::OffsetDateTime;

use crate::entities::{realm, refresh_token, session, signing_key, user};

/// An instant as Unix microseconds (floored).
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    let m = t.unix_timestamp_nanos().div_euclid(1_000);
    // `OffsetDateTime` spans +-9999 years, about 3.2e17 microseconds: always in range.
    i64::try_from(m).unwrap_or(if m < 0 { i64::MIN } else { i64::MAX })
}

/// An optional instant as Unix microseconds.
pub(crate) fn micros_opt(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(micros)
}

/// Unix microseconds as a UTC instant.
pub(crate) fn instant(m: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1_000)
        .map_err(|_| StoreError::Backend("stored time out of range".to_owned()))
}

/// Optional Unix microseconds as a UTC instant.
pub(crate) fn instant_opt(m: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    m.map(instant).transpose()
}

/// A driver error that no caller expects: `Backend`, with a message that
/// carries no bound values. Foreign-key violations (a parent row that does not
/// exist, or belongs to another realm) become `NotFound`.
pub(crate) fn db_err(e: DbErr) -> StoreError {
    match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict("duplicate".to_owned()),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => StoreError::NotFound,
        _ => StoreError::Backend(e.to_string()),
    }
}

/// Like [`db_err`], but a uniqueness violation becomes `Conflict(what)`.
pub(crate) fn conflict(what: &'static str) -> impl FnOnce(DbErr) -> StoreError {
    move |e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what.to_owned()),
        _ => db_err(e),
    }
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!("invalid stored value: {what}"))
}

/// A value that could not be serialised to JSON for storage.
pub(crate) fn unserialisable(_: serde_json::Error) -> StoreError {
    StoreError::Backend("a value could not be serialised".into())
}

/// A list as a JSON array (how client lists and consented scopes are stored).
pub(crate) fn json_list(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".to_owned())
}

/// Parses a list stored by [`json_list`]; `what` names it in the error.
pub(crate) fn parse_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

/// Parses stored user attributes (a JSON object).
pub(crate) fn attributes(
    text: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    serde_json::from_str(text).map_err(|_| corrupt("user attributes"))
}

/// Parses a stored algorithm name.
pub(crate) fn alg(s: &str) -> Result<SigningAlgorithm, StoreError> {
    s.parse::<SigningAlgorithm>()
        .map_err(|_| corrupt("signing algorithm"))
}

impl TryFrom<realm::Model> for Realm {
    type Error = StoreError;
    fn try_from(m: realm::Model) -> Result<Self, StoreError> {
        Ok(Realm {
            id: m.id,
            name: RealmName::parse(&m.name).map_err(|_| corrupt("realm name"))?,
            display_name: m.display_name,
            enabled: m.enabled,
            signing_alg: alg(&m.signing_alg)?,
            password_min_length: u32::try_from(m.password_min_length)
                .map_err(|_| corrupt("password minimum length"))?,
            time_zone: TimeZone::parse(&m.time_zone).map_err(|_| corrupt("time zone"))?,
            roles_claim: m.roles_claim,
            require_verified_email: m.require_verified_email,
            check_email_mx: m.check_email_mx,
            mfa_required_roles: parse_list(&m.mfa_required_roles, "mfa_required_roles")?,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

/// The row for a realm.
pub(crate) fn realm_row(r: &Realm) -> realm::Model {
    realm::Model {
        id: r.id,
        name: r.name.as_str().to_owned(),
        display_name: r.display_name.clone(),
        enabled: r.enabled,
        signing_alg: r.signing_alg.as_str().to_owned(),
        password_min_length: i64::from(r.password_min_length),
        created_at: micros(r.created_at),
        updated_at: micros(r.updated_at),
        authz_revision: 0,
        time_zone: r.time_zone.as_str().to_owned(),
        roles_claim: r.roles_claim,
        require_verified_email: r.require_verified_email,
        check_email_mx: r.check_email_mx,
        mfa_required_roles: json_list(&r.mfa_required_roles),
    }
}

impl TryFrom<user::Model> for User {
    type Error = StoreError;
    fn try_from(m: user::Model) -> Result<Self, StoreError> {
        Ok(User {
            id: m.id,
            realm_id: m.realm_id,
            email: Email::parse(&m.email).map_err(|_| corrupt("email"))?,
            name: m.name,
            password_hash: m.password_hash,
            active: m.active,
            email_verified: m.email_verified,
            attributes: attributes(&m.attributes)?,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
            last_login_at: instant_opt(m.last_login_at)?,
        })
    }
}

/// The row for a user.
pub(crate) fn user_row(u: &User) -> user::Model {
    user::Model {
        id: u.id,
        realm_id: u.realm_id,
        email: u.email.as_str().to_owned(),
        email_canonical: u.email.canonical(),
        name: u.name.clone(),
        password_hash: u.password_hash.clone(),
        active: u.active,
        email_verified: u.email_verified,
        attributes: serde_json::Value::Object(u.attributes.clone()).to_string(),
        created_at: micros(u.created_at),
        updated_at: micros(u.updated_at),
        last_login_at: micros_opt(u.last_login_at),
        scim_user_name: None,
        scim_user_name_canonical: None,
        external_id: None,
    }
}

impl TryFrom<session::Model> for Session {
    type Error = StoreError;
    fn try_from(m: session::Model) -> Result<Self, StoreError> {
        Ok(Session {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            created_at: instant(m.created_at)?,
            last_used_at: instant(m.last_used_at)?,
            expires_at: instant(m.expires_at)?,
            revoked_at: instant_opt(m.revoked_at)?,
            ip: m.ip,
            user_agent: m.user_agent,
            device: m.device,
            auth_time: instant(m.auth_time)?,
            amr: m.amr.split_whitespace().map(str::to_owned).collect(),
            secret_hash: m.secret_hash,
            client_id: m.client_id,
            parent_id: m.parent_id,
            idp: m.idp,
        })
    }
}

/// The row for a session.
pub(crate) fn session_row(s: &Session) -> session::Model {
    session::Model {
        id: s.id,
        realm_id: s.realm_id,
        user_id: s.user_id,
        created_at: micros(s.created_at),
        last_used_at: micros(s.last_used_at),
        expires_at: micros(s.expires_at),
        revoked_at: micros_opt(s.revoked_at),
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        device: s.device.clone(),
        auth_time: micros(s.auth_time),
        amr: s.amr.join(" "),
        secret_hash: s.secret_hash.clone(),
        client_id: s.client_id.clone(),
        parent_id: s.parent_id,
        idp: s.idp.clone(),
    }
}

impl TryFrom<refresh_token::Model> for RefreshToken {
    type Error = StoreError;
    fn try_from(m: refresh_token::Model) -> Result<Self, StoreError> {
        Ok(RefreshToken {
            id: m.id,
            realm_id: m.realm_id,
            token_hash: m.token_hash,
            family_id: m.family_id,
            session_id: m.session_id,
            user_id: m.user_id,
            client_id: m.client_id,
            scope: m.scope,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
            used_at: instant_opt(m.used_at)?,
            revoked_at: instant_opt(m.revoked_at)?,
        })
    }
}

/// The row for a refresh token.
pub(crate) fn refresh_token_row(t: &RefreshToken) -> refresh_token::Model {
    refresh_token::Model {
        id: t.id,
        realm_id: t.realm_id,
        token_hash: t.token_hash.clone(),
        family_id: t.family_id,
        session_id: t.session_id,
        user_id: t.user_id,
        client_id: t.client_id.clone(),
        scope: t.scope.clone(),
        created_at: micros(t.created_at),
        expires_at: micros(t.expires_at),
        used_at: micros_opt(t.used_at),
        revoked_at: micros_opt(t.revoked_at),
    }
}

impl TryFrom<signing_key::Model> for StoredSigningKey {
    type Error = StoreError;
    fn try_from(m: signing_key::Model) -> Result<Self, StoreError> {
        Ok(StoredSigningKey {
            kid: m.kid,
            realm_id: m.realm_id,
            alg: alg(&m.alg)?,
            private_key_enc: m.private_key_enc,
            public_jwk: m.public_jwk,
            created_at: instant(m.created_at)?,
            active: m.active,
            retire_after: instant_opt(m.retire_after)?,
        })
    }
}

/// The row for a signing key.
pub(crate) fn signing_key_row(k: &StoredSigningKey) -> signing_key::Model {
    signing_key::Model {
        kid: k.kid.clone(),
        realm_id: k.realm_id,
        alg: k.alg.as_str().to_owned(),
        private_key_enc: k.private_key_enc.clone(),
        public_jwk: k.public_jwk.clone(),
        created_at: micros(k.created_at),
        active: k.active,
        retire_after: micros_opt(k.retire_after),
    }
}

/// Converts every row, failing on the first invalid one.
pub(crate) fn all<M, T>(rows: Vec<M>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<M, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn micros_round_trip() {
        for t in [
            datetime!(2026-11-23 12:34:56.123456 UTC),
            datetime!(1969-12-31 23:59:59.999999 UTC),
            datetime!(1970-01-01 00:00 UTC),
            datetime!(9999-12-31 23:59:59.999999 UTC),
        ] {
            assert_eq!(instant(micros(t)).unwrap(), t);
        }
    }

    #[test]
    fn micros_truncates_nanos_and_normalises_offset() {
        let t = datetime!(2026-11-23 12:34:56.123456789 +02:00);
        let back = instant(micros(t)).unwrap();
        assert_eq!(back, datetime!(2026-11-23 10:34:56.123456 UTC));
        assert_eq!(back.offset(), time::UtcOffset::UTC);
    }
}
