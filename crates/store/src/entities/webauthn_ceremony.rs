//! The `webauthn_ceremonies` table: WebAuthn registrations and
//! authentications in progress.

use sea_orm::entity::prelude::*;

/// One ceremony.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_ceremonies")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user, when known.
    pub user_id: Option<Uuid>,
    /// The login challenge it completes, for a second factor.
    pub challenge_id: Option<Uuid>,
    /// `register`, `authenticate` or `discoverable`.
    pub kind: String,
    /// The server's state (JSON).
    pub state: String,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
