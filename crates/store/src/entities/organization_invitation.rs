//! The `organization_invitations` table.

use sea_orm::entity::prelude::*;

/// An invitation to join an organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization_invitations")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The realm.
    pub realm_id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The invited address (canonical).
    pub email: String,
    /// The role given on acceptance.
    pub role: String,
    /// SHA-256 of the mailed token.
    pub token_hash: Vec<u8>,
    /// Who invited.
    pub invited_by: Option<Uuid>,
    /// Unix microseconds.
    pub created_at: i64,
    /// Unix microseconds.
    pub expires_at: i64,
    /// Unix microseconds.
    pub accepted_at: Option<i64>,
    /// The user who accepted.
    pub accepted_by: Option<Uuid>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
