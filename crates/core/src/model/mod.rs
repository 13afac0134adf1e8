//! Domain records and the value types that can only hold valid values.

pub mod client;
pub mod federation;
pub mod mail;
pub mod mfa;
pub mod risk;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, FieldError};

/// A new time-ordered id (UUIDv7), as every table uses.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// An email address, validated and normalised: surrounding whitespace removed,
/// the domain lower-cased. [`Email::canonical`] is the case-insensitive key that
/// makes addresses unique within a realm.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Parses and normalises an address.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new("email", "must not be empty"));
        }
        if trimmed.chars().count() > 254 {
            return Err(FieldError::new("email", "must be at most 254 characters"));
        }
        let parsed = email_address::EmailAddress::from_str(trimmed)
            .map_err(|_| FieldError::new("email", "is not a valid email address"))?;
        let local = parsed.local_part();
        let domain = parsed.domain().to_ascii_lowercase();
        if local.starts_with('"') || trimmed.contains(['<', '>', ' ']) {
            return Err(FieldError::new("email", "is not a valid email address"));
        }
        if !domain.contains('.') || domain.starts_with('[') {
            return Err(FieldError::new(
                "email",
                "must have a domain name with a dot (user@example.com)",
            ));
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    /// The address as stored and shown.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive uniqueness key (the whole address lower-cased).
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl TryFrom<String> for Email {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

/// A realm's name: 1 to 64 characters of lower-case ASCII letters, digits, `-`
/// and `_`, starting with a letter or digit. It appears in URLs and issuers.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RealmName(String);

impl RealmName {
    /// Parses a realm name.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let ok_len = !input.is_empty() && input.len() <= 64;
        let ok_chars = input
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        let ok_start = input
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok_len && ok_chars && ok_start {
            Ok(Self(input.to_owned()))
        } else {
            Err(FieldError::new(
                "name",
                "must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit",
            ))
        }
    }

    /// A name known to be valid at compile time (`main`).
    pub(crate) fn from_static(name: &'static str) -> Self {
        debug_assert!(Self::parse(name).is_ok());
        Self(name.to_owned())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A realm's time zone: an IANA name (`Europe/Paris`, `UTC`), resolved once.
/// Policy conditions see `hour` and `weekday` in it.
#[derive(Clone)]
pub struct TimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl TimeZone {
    /// UTC, the default.
    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    /// Looks an IANA name up in the time zone database.
    pub fn parse(name: &str) -> Result<Self, FieldError> {
        if name == "UTC" {
            return Ok(Self::utc());
        }
        let unknown = || {
            FieldError::new(
                "time_zone",
                "must be an IANA time zone name such as UTC or Europe/Paris",
            )
        };
        // Names are short ASCII paths; refuse anything else before a lookup.
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        {
            return Err(unknown());
        }
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| unknown())?;
        Ok(Self {
            name: name.to_owned(),
            zone,
        })
    }

    /// The IANA name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The local hour (0-23) and ISO weekday (1 = Monday .. 7 = Sunday) of
    /// an instant in this zone.
    pub fn hour_and_weekday(&self, at: OffsetDateTime) -> (u8, u8) {
        let utc = || (at.hour(), at.weekday().number_from_monday());
        if self.name == "UTC" {
            return utc();
        }
        match jiff::Timestamp::from_second(at.unix_timestamp()) {
            Ok(ts) => {
                let local = self.zone.to_datetime(ts);
                let hour = u8::try_from(local.hour()).unwrap_or(0);
                let day = u8::try_from(local.weekday().to_monday_one_offset()).unwrap_or(1);
                (hour, day)
            }
            Err(_) => utc(),
        }
    }
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl fmt::Debug for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl TryFrom<String> for RealmName {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, FieldError> {
        Self::parse(&s)
    }
}

impl From<RealmName> for String {
    fn from(n: RealmName) -> Self {
        n.0
    }
}

impl fmt::Display for RealmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RealmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RealmName({})", self.0)
    }
}

pub use portcullis_crypto::SigningAlgorithm;

/// A realm: a tenant with its own users, keys and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Realm {
    /// Id.
    pub id: Uuid,
    /// Unique name used in URLs.
    pub name: RealmName,
    /// Name shown on pages.
    pub display_name: String,
    /// A disabled realm refuses logins and token validation.
    pub enabled: bool,
    /// Algorithm of newly generated access-token signing keys.
    pub signing_alg: SigningAlgorithm,
    /// Minimum password length in Unicode code points.
    pub password_min_length: u32,
    /// Zone of `hour` and `weekday` in policy conditions.
    pub time_zone: TimeZone,
    /// Whether access tokens carry the user's role names (`roles`).
    pub roles_claim: bool,
    /// Whether logins are refused until the account's email address is verified.
    pub require_verified_email: bool,
    /// Whether registration refuses addresses whose domain has no mail server (MX).
    pub check_email_mx: bool,
    /// Roles whose holders must pass a second factor at login, even with
    /// none enrolled (they are then sent a code by e-mail).
    pub mfa_required_roles: Vec<String>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last update.
    pub updated_at: OffsetDateTime,
}

/// A user account of a realm.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Normalised email; unique per realm case-insensitively.
    pub email: Email,
    /// Display name.
    pub name: Option<String>,
    /// PHC string of the password hash; `None` for accounts without a password.
    pub password_hash: Option<String>,
    /// Deactivated users cannot log in.
    pub active: bool,
    /// Whether the user proved control of `email` (a verification or reset link).
    pub email_verified: bool,
    /// Attributes for policy conditions (`subject.attributes`). Changed only
    /// through [`AuthzChange::SetUserAttributes`], which bumps the realm's
    /// authorization revision.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last update.
    pub updated_at: OffsetDateTime,
    /// Last successful login.
    pub last_login_at: Option<OffsetDateTime>,
}

/// A login session: one device's sign-in, the parent of its refresh tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Id (the `sid` claim).
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// When the session started.
    pub created_at: OffsetDateTime,
    /// Last login or refresh.
    pub last_used_at: OffsetDateTime,
    /// Absolute end of the session.
    pub expires_at: OffsetDateTime,
    /// Set when the session was ended.
    pub revoked_at: Option<OffsetDateTime>,
    /// Client IP at the last use.
    pub ip: Option<String>,
    /// Raw User-Agent header (truncated).
    pub user_agent: Option<String>,
    /// Parsed user agent, e.g. `Firefox 120 on Linux`.
    pub device: Option<String>,
    /// When the user last proved who they are in this session (the ID
    /// token's `auth_time`; for a client session, its browser session's).
    pub auth_time: OffsetDateTime,
    /// How they did (RFC 8176 values such as `pwd`, `otp`, `hwk`), in order.
    pub amr: Vec<String>,
    /// For a browser (single sign-on) session: the SHA-256 digest of the
    /// secret its cookie holds. `None` for API and client sessions.
    pub secret_hash: Option<Vec<u8>>,
    /// For a client session (the tokens one OAuth client holds from one
    /// authorization): the client.
    pub client_id: Option<String>,
    /// For a client session: the browser session it was authorized in.
    /// Ending a session ends the client sessions under it.
    pub parent_id: Option<Uuid>,
    /// The alias of the identity provider the user signed in through, if
    /// the session started with an upstream sign-in.
    pub idp: Option<String>,
}

/// A stored refresh token. The token itself is never stored, only its SHA-256 digest.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// SHA-256 of the opaque token.
    pub token_hash: Vec<u8>,
    /// Rotation family: every token descended from one login.
    pub family_id: Uuid,
    /// The session the family belongs to.
    pub session_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// OAuth client the token was issued to (`None` for the first-party API).
    pub client_id: Option<String>,
    /// Granted scope, space separated.
    pub scope: Option<String>,
    /// Issue time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Set when the token was exchanged for a new one.
    pub used_at: Option<OffsetDateTime>,
    /// Set when the token (its family or session) was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// A realm's stored signing key; the private key is encrypted with the master key.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSigningKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Algorithm.
    pub alg: SigningAlgorithm,
    /// PKCS#8 private key, encrypted with the master key (nonce || ciphertext).
    pub private_key_enc: Vec<u8>,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Whether this is the realm's current key for its algorithm (new tokens use it).
    pub active: bool,
    /// After this time the key is no longer published nor trusted (`None`: no end).
    pub retire_after: Option<OffsetDateTime>,
}

/// Query for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Only users whose canonical (lower-cased) email starts with this prefix;
    /// the store lower-cases the prefix.
    pub email_prefix: Option<String>,
    /// Rows to skip.
    pub offset: u64,
    /// Maximum rows to return.
    pub limit: u64,
}

/// A page of results with the total count.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// Items of this page.
    pub items: Vec<T>,
    /// Total matching items.
    pub total: u64,
}

/// An authorization code (OAuth 2.0 §4.1), stored as the SHA-256 digest of
/// the code handed to the browser. Lives 60 seconds and is redeemed once.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthCode {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// SHA-256 of the code.
    pub code_hash: Vec<u8>,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who authorized it.
    pub user_id: Uuid,
    /// The browser session it was issued in.
    pub session_id: Uuid,
    /// The `redirect_uri` of the authorization request, when it had one: the
    /// token request must then send the same.
    pub redirect_uri: Option<String>,
    /// Granted scope, space separated.
    pub scope: String,
    /// The request's `nonce`, for the ID token.
    pub nonce: Option<String>,
    /// The PKCE `S256` challenge, when the request had one.
    pub code_challenge: Option<String>,
    /// Issue time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Set by the one redemption.
    pub used_at: Option<OffsetDateTime>,
    /// The client session the redemption created: revoked if the code is
    /// presented again.
    pub grant_session_id: Option<Uuid>,
}

/// What presenting an authorization code did.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeOutcome {
    /// The code was unused; it is now spent (whatever else is wrong with it,
    /// such as its expiry, the caller checks).
    Consumed(AuthCode),
    /// The code had been redeemed before; carries the record with the client
    /// session of the first redemption.
    Reused(AuthCode),
    /// Unknown.
    Invalid,
}

/// A user's consent to a client's scopes, remembered until revoked.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The client.
    pub client_id: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// First consent.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The token was valid and unused; it is now spent and the new token stored.
    /// Carries the spent token's record.
    Rotated(RefreshToken),
    /// The token had already been used: a replay. Nothing was changed; the
    /// caller revokes the family and session.
    Reused(RefreshToken),
    /// Unknown, expired or revoked.
    Invalid,
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Validation(vec![e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_follow_daylight_saving_and_refuse_unknown_names() {
        use time::macros::datetime;
        let paris = TimeZone::parse("Europe/Paris").unwrap();
        // Winter: UTC+1. Monday 23:30 UTC is Tuesday 00:30.
        assert_eq!(
            paris.hour_and_weekday(datetime!(2026-11-23 23:30 UTC)),
            (0, 2)
        );
        // Summer: UTC+2.
        assert_eq!(
            paris.hour_and_weekday(datetime!(2026-07-06 07:00 UTC)),
            (9, 1)
        );
        let ny = TimeZone::parse("America/New_York").unwrap();
        assert_eq!(
            ny.hour_and_weekday(datetime!(2026-11-23 03:00 UTC)),
            (22, 7)
        );
        let utc = TimeZone::utc();
        assert_eq!(
            utc.hour_and_weekday(datetime!(2026-11-22 03:00 UTC)),
            (3, 7)
        );
        assert_eq!(TimeZone::parse("UTC").unwrap(), utc);
        for bad in [
            "",
            "Mars/Base",
            "../etc/passwd",
            "Europe/Paris\0",
            "UTC+1",
            &"A".repeat(65),
        ] {
            let e = TimeZone::parse(bad).unwrap_err();
            assert_eq!(e.field, "time_zone", "{bad}");
        }
    }

    #[test]
    fn email_normalises_domain_and_keeps_local_part() {
        let e = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith@example.com");
        assert_eq!(e.canonical(), "alice.smith@example.com");
        assert_eq!(e.local_part(), "Alice.Smith");
    }

    #[test]
    fn email_rejects_garbage() {
        for bad in [
            "",
            "no-at",
            "a@b",
            "@example.com",
            "a b@example.com",
            "a@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn realm_names() {
        assert!(RealmName::parse("main").is_ok());
        assert!(RealmName::parse("acme-prod_2").is_ok());
        for bad in ["", "Main", "-x", "a/b", "a b", &"x".repeat(65)] {
            assert!(RealmName::parse(bad).is_err(), "{bad}");
        }
    }
}

/// One change to a realm's authorization data. The store applies it, its
/// audit record and a bump of the realm's authorization revision in one
/// transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthzChange {
    /// Inserts a role with its permissions and included roles.
    CreateRole(portcullis_policy::model::Role),
    /// Replaces a role's name, description, permissions and included roles.
    UpdateRole(portcullis_policy::model::Role),
    /// Deletes a role and every grant of it, inclusion of it and policy
    /// attached to it.
    DeleteRole(Uuid),
    /// Inserts a group.
    CreateGroup(portcullis_policy::model::Group),
    /// Replaces a group's name, description and parent.
    UpdateGroup(portcullis_policy::model::Group),
    /// Deletes a group with its memberships, grants and attached policies;
    /// its children become children of its parent.
    DeleteGroup(Uuid),
    /// Adds (or replaces the validity of) a membership.
    AddMember(portcullis_policy::model::Membership),
    /// Removes a membership.
    RemoveMember {
        /// The member.
        user: Uuid,
        /// The group.
        group: Uuid,
    },
    /// Grants a role (or replaces the validity of an existing grant).
    GrantRole(portcullis_policy::model::RoleGrant),
    /// Revokes a role grant.
    RevokeRole {
        /// Who held it.
        to: portcullis_policy::model::Grantee,
        /// The role.
        role: Uuid,
    },
    /// Grants or denies a permission directly (replacing effect and validity
    /// of an existing grant of the same permission to the same grantee).
    GrantPermission(portcullis_policy::model::PermissionGrant),
    /// Removes a direct permission grant.
    RevokePermission {
        /// Who held it.
        to: portcullis_policy::model::Grantee,
        /// The permission.
        permission: portcullis_policy::Permission,
    },
    /// Inserts a policy.
    CreatePolicy(portcullis_policy::model::Policy),
    /// Replaces a policy.
    UpdatePolicy(portcullis_policy::model::Policy),
    /// Deletes a policy.
    DeletePolicy(Uuid),
    /// Declares a permission in the realm's catalogue, or replaces its
    /// description. Grants nothing.
    DefinePermission {
        /// The permission.
        permission: portcullis_policy::Permission,
        /// What it allows, in words.
        description: Option<String>,
    },
    /// Removes a permission from the catalogue (grants naming it stay).
    UndefinePermission(portcullis_policy::Permission),
    /// Replaces a user's stored attributes (`subject.attributes`).
    SetUserAttributes {
        /// The user.
        user: Uuid,
        /// The new attributes (an empty map clears them).
        attributes: serde_json::Map<String, serde_json::Value>,
    },
}

/// A row of the audit table: who changed what, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Id (UUIDv7, so ids sort by time).
    pub id: Uuid,
    /// Realm the event belongs to.
    pub realm_id: Uuid,
    /// The acting user or client; `None` for the server itself.
    pub actor: Option<Uuid>,
    /// The actor's own realm when it acted in this one across realms (a
    /// server administrator); `None` when it acted in its own realm.
    pub actor_realm_id: Option<Uuid>,
    /// What happened, dotted: `role.create`, `group.member.add`, `authz.check.deny`.
    pub action: String,
    /// What it happened to: `role:<id>`, `user:<id>`, ...
    pub target: String,
    /// State before the change, if any.
    pub before: Option<serde_json::Value>,
    /// State after the change, if any.
    pub after: Option<serde_json::Value>,
    /// The request's `x-request-id`.
    pub request_id: Option<String>,
    /// When.
    pub at: OffsetDateTime,
}

/// A time as Unix microseconds (the engine's and the store's unit).
pub fn micros(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
}

/// Unix microseconds as a time (saturating at the representable range).
pub fn from_micros(us: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
