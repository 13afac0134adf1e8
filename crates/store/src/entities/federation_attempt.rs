//! The `federation_attempts` table: upstream sign-ins in flight and links
//! waiting for the user, taken once.

use sea_orm::entity::prelude::*;

/// One attempt (the digest of its handle only).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "federation_attempts")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The provider.
    pub provider_id: Uuid,
    /// SHA-256 of the handle (the `state`, or a pending link's token); unique.
    pub token_hash: Vec<u8>,
    /// SHA-256 of the browser cookie's secret.
    pub binding_hash: Vec<u8>,
    /// What to do next, JSON.
    pub payload: String,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
