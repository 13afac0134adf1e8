//! The `group_members` table.

use sea_orm::entity::prelude::*;

/// A user's membership of a group.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "group_members")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The group.
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: Uuid,
    /// The member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// First instant the membership counts, Unix microseconds.
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
