//! The `rate_limit_policies` table: a realm's rate-limit policy.

use sea_orm::entity::prelude::*;

/// One realm's policy.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limit_policies")]
pub struct Model {
    /// The realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The policy, JSON.
    pub policy: String,
    /// Last change, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
