//! The `audit_events` table.

use sea_orm::entity::prelude::*;

/// An audit record.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The acting user or client; `None` for the server.
    pub actor: Option<Uuid>,
    /// The actor's own realm when it acted across realms.
    pub actor_realm_id: Option<Uuid>,
    /// What happened (`role.create`).
    pub action: String,
    /// What it happened to (`role:<id>`).
    pub target: String,
    /// State before, as JSON text.
    pub before: Option<String>,
    /// State after, as JSON text.
    pub after: Option<String>,
    /// The request's id.
    pub request_id: Option<String>,
    /// When, Unix microseconds.
    pub at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
