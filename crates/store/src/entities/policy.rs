//! The `policies` table.

use sea_orm::entity::prelude::*;

/// A policy row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "policies")]
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
    /// Higher first among policies of the same effect.
    pub priority: i32,
    /// `realm`, `user`, `group` or `role`.
    pub attached_kind: String,
    /// The user, group or role; `None` for `realm`.
    pub attached_id: Option<Uuid>,
    /// The statements, as JSON text.
    pub statements: String,
    /// A disabled policy never applies.
    pub enabled: bool,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
