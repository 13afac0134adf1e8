//! The `role_includes` table: role composition.

use sea_orm::entity::prelude::*;

/// One role included by another.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_includes")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The including role.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role_id: Uuid,
    /// The included role.
    #[sea_orm(primary_key, auto_increment = false)]
    pub included_role_id: Uuid,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
