//! The `phone_verifications` table.

use sea_orm::entity::prelude::*;

/// A user's phone verification.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "phone_verifications")]
pub struct Model {
    /// The realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The number, E.164.
    pub phone: String,
    /// The code challenge in progress.
    pub challenge_id: Option<Uuid>,
    /// Unix microseconds; `None` while pending.
    pub verified_at: Option<i64>,
    /// Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
