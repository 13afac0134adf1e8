//! The `user_avatars` table.

use sea_orm::entity::prelude::*;

/// A user's avatar.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user_avatars")]
pub struct Model {
    /// The realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The sanitised PNG.
    pub png: Vec<u8>,
    /// SHA-256 of `png`.
    pub sha256: Vec<u8>,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
