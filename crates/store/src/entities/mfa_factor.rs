//! The `mfa_factors` table: users' second factors.

use sea_orm::entity::prelude::*;

/// One factor.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_factors")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// `totp`.
    pub kind: String,
    /// Name shown to the user.
    pub name: String,
    /// Secret encrypted with the master key.
    pub secret_enc: Option<Vec<u8>>,
    /// Enrolment confirmed, Unix microseconds.
    pub confirmed_at: Option<i64>,
    /// Last TOTP step accepted.
    pub last_step: Option<i64>,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// Last use, Unix microseconds.
    pub last_used_at: Option<i64>,
    /// A WebAuthn factor's passkey, as webauthn-rs serialises it.
    pub credential: Option<String>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
