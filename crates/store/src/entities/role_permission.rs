//! The `role_permissions` table: the permissions each role grants.

use sea_orm::entity::prelude::*;

/// One permission of a role.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "role_permissions")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The role.
    #[sea_orm(primary_key, auto_increment = false)]
    pub role_id: Uuid,
    /// The permission, `resource:action:scope`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub permission: String,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
