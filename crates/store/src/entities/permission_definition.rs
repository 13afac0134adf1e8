//! The `permission_definitions` table: the realm's permission catalogue,
//! permissions declared with a description before or besides any grant.

use sea_orm::entity::prelude::*;

/// One declared permission.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "permission_definitions")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The permission, `resource:action:scope`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission: String,
    /// What it allows, in words.
    pub description: Option<String>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
