//! The `realms` table.

use sea_orm::entity::prelude::*;

/// A realm row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "realms")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique name.
    #[sea_orm(unique)]
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Whether the realm accepts logins.
    pub enabled: bool,
    /// Signing algorithm name (`EdDSA`, `ES256`, `RS256`).
    pub signing_alg: String,
    /// Minimum password length.
    pub password_min_length: i64,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
    /// Authorization revision: bumped by every change of the realm's roles,
    /// groups, grants or policies.
    pub authz_revision: i64,
    /// IANA time zone of policy conditions' `hour` and `weekday`.
    pub time_zone: String,
    /// Whether access tokens carry a `roles` claim.
    pub roles_claim: bool,
    /// Whether logins need a verified address.
    pub require_verified_email: bool,
    /// Whether registration checks the domain's MX records.
    pub check_email_mx: bool,
    /// JSON array of the roles whose holders need a second factor.
    pub mfa_required_roles: String,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
