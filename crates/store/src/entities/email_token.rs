//! The `email_tokens` table: verification and reset links by digest.

use sea_orm::entity::prelude::*;

/// One token (its digest only, never the token).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "email_tokens")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// `verify_email` or `password_reset`.
    pub purpose: String,
    /// SHA-256 of the token; unique.
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    /// The canonical address it was sent to.
    pub email: String,
    /// Issue time, Unix microseconds.
    pub created_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: i64,
    /// Use time, Unix microseconds.
    pub used_at: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
