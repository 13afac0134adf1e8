//! The `scim_groups` table.

use sea_orm::entity::prelude::*;

/// A group's SCIM names.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "scim_groups")]
pub struct Model {
    /// Owning realm.
    pub realm_id: Uuid,
    /// The authorization group.
    #[sea_orm(primary_key, auto_increment = false)]
    pub group_id: Uuid,
    /// SCIM `displayName`, as given.
    pub display_name: String,
    /// `display_name` in lower case, unique per realm.
    pub display_name_canonical: String,
    /// The provisioning client's id for the group.
    pub external_id: Option<String>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last change (name or members), Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
