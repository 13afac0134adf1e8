//! The `refresh_tokens` table.

use sea_orm::entity::prelude::*;

/// A refresh-token row (the digest only, never the token).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// SHA-256 of the token; unique.
    #[sea_orm(unique)]
    pub token_hash: Vec<u8>,
    /// Rotation family.
    pub family_id: Uuid,
    /// Parent session.
    pub session_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// OAuth client id.
    pub client_id: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// Issue time, Unix microseconds.
    pub created_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: i64,
    /// When it was exchanged, Unix microseconds.
    pub used_at: Option<i64>,
    /// When it was revoked, Unix microseconds.
    pub revoked_at: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
