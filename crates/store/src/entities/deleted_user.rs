//! The `deleted_users` table: tombstones of deleted accounts, read by the
//! instances that share the database (their rows and sessions are gone).

use sea_orm::entity::prelude::*;

/// A deleted account.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deleted_users")]
pub struct Model {
    /// The account's id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// When it was deleted, Unix microseconds.
    pub deleted_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
