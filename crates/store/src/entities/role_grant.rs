//! The `role_grants` table.

use sea_orm::entity::prelude::*;

/// A role granted to a user or a group (exactly one is set).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_grants")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The role.
    pub role_id: Uuid,
    /// The receiving user.
    pub user_id: Option<Uuid>,
    /// The receiving group.
    pub group_id: Option<Uuid>,
    /// First instant the grant counts, Unix microseconds.
    pub not_before: Option<i64>,
    /// First instant it no longer counts, Unix microseconds.
    pub expires_at: Option<i64>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
