//! The `session_baselines` table: what a session was last seen with.

use sea_orm::entity::prelude::*;

/// One session's baseline.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_baselines")]
pub struct Model {
    /// The session.
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The session's user.
    pub user_id: Uuid,
    /// The baseline, JSON.
    pub baseline: String,
    /// Last change, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
