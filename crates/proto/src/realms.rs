//! Bodies of `/api/v1/realms`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A realm as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RealmView {
    /// Id.
    pub id: Uuid,
    /// Name, as used in URLs.
    pub name: String,
    /// Name shown on pages.
    pub display_name: String,
    /// Disabled realms refuse logins and tokens.
    pub enabled: bool,
    /// Access-token signing algorithm: `EdDSA`, `ES256` or `RS256`.
    pub signing_alg: String,
    /// Minimum password length.
    pub password_min_length: u32,
    /// IANA time zone of `hour` and `weekday` in policy conditions.
    pub time_zone: String,
    /// Whether access tokens carry the user's role names in a `roles` claim.
    pub roles_claim: bool,
    /// Whether logins are refused until the account's address is verified.
    #[serde(default)]
    pub require_verified_email: bool,
    /// Whether registration refuses domains that receive no mail (no MX record).
    #[serde(default)]
    pub check_email_mx: bool,
    /// Roles whose holders must pass a second factor at login, even with
    /// none enrolled (they are then sent a code by e-mail).
    #[serde(default)]
    pub mfa_required_roles: Vec<String>,
    /// Issuer URL of the realm's tokens.
    pub issuer: String,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/realms`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRealmRequest {
    /// Name: 1-64 of a-z, 0-9, `-`, `_`.
    pub name: String,
    /// Name shown on pages (defaults to the name).
    #[serde(default)]
    pub display_name: Option<String>,
    /// `EdDSA` (default), `ES256` or `RS256`.
    #[serde(default)]
    pub signing_alg: Option<String>,
    /// Minimum password length (default 8, between 8 and 256).
    #[serde(default)]
    pub password_min_length: Option<u32>,
    /// IANA time zone of `hour` and `weekday` in policy conditions
    /// (default `UTC`), such as `Europe/Paris`.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether access tokens carry a `roles` claim (default true).
    #[serde(default)]
    pub roles_claim: Option<bool>,
    /// Whether logins are refused until the account's address is verified
    /// (default false).
    #[serde(default)]
    pub require_verified_email: Option<bool>,
    /// Whether registration refuses domains without MX records (default false).
    #[serde(default)]
    pub check_email_mx: Option<bool>,
    /// The realm's first administrator, created with it (an account of the
    /// new realm holding its `realm-admin` role).
    #[serde(default)]
    pub admin: Option<FirstAdminRequest>,
}

/// The first administrator of a new realm.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstAdminRequest {
    /// E-mail address, the login.
    pub email: String,
    /// Password (checked against the new realm's rules); omit it to have a
    /// strong one generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/realms`'s answer: the realm, and its first administrator
/// when one was asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedRealmView {
    /// The realm.
    #[serde(flatten)]
    pub realm: RealmView,
    /// The first administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<FirstAdminView>,
}

/// A new realm's first administrator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FirstAdminView {
    /// The account's id in the new realm.
    pub id: Uuid,
    /// Its e-mail address.
    pub email: String,
    /// The password generated for it when the request gave none: shown
    /// here once, never stored in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated_password: Option<String>,
}

/// `PATCH /api/v1/realms/{realm}`: only the fields present change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRealmRequest {
    /// Name shown on pages.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Enable or disable the realm.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Algorithm for keys generated from now on (takes effect at the next rotation).
    #[serde(default)]
    pub signing_alg: Option<String>,
    /// Minimum password length.
    #[serde(default)]
    pub password_min_length: Option<u32>,
    /// IANA time zone of `hour` and `weekday` in policy conditions.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether access tokens carry a `roles` claim.
    #[serde(default)]
    pub roles_claim: Option<bool>,
    /// Whether logins are refused until the account's address is verified.
    #[serde(default)]
    pub require_verified_email: Option<bool>,
    /// Whether registration refuses domains without MX records.
    #[serde(default)]
    pub check_email_mx: Option<bool>,
    /// Roles of the realm whose holders must pass a second factor at login,
    /// even with none enrolled (replaces the list; `[]` clears it).
    #[serde(default)]
    pub mfa_required_roles: Option<Vec<String>>,
}
