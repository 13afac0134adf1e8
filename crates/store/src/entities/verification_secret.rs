//! The `verification_secrets` table.

use sea_orm::entity::prelude::*;

/// A realm's sealed webhook secret.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "verification_secrets")]
pub struct Model {
    /// The realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The secret, sealed by core.
    pub webhook_secret: Vec<u8>,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
