//! The `revoked_tokens` table: the persistent half of the access-token denylist.

use sea_orm::entity::prelude::*;

/// A revoked access-token id.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revoked_tokens")]
pub struct Model {
    /// The token's `jti`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub jti: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// When the token would have expired, Unix microseconds.
    pub expires_at: i64,
    /// When it was revoked, Unix microseconds (0: before revocation sync).
    pub revoked_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
