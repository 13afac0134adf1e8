//! The `profile_schemas` table.

use sea_orm::entity::prelude::*;

/// A version of a realm's profile schema.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "profile_schemas")]
pub struct Model {
    /// The realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The schema's version.
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i64,
    /// The schema, as JSON text.
    pub schema: String,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
