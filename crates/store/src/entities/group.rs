//! The `groups` table.

use sea_orm::entity::prelude::*;

/// A group row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "groups")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Name, unique per realm.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Parent group of the same realm.
    pub parent_id: Option<Uuid>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
