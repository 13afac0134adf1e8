//! The `sessions` table.

use sea_orm::entity::prelude::*;

/// A session row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Id (UUIDv7, the `sid` claim).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Start, Unix microseconds.
    pub created_at: i64,
    /// Last use, Unix microseconds.
    pub last_used_at: i64,
    /// Absolute end, Unix microseconds.
    pub expires_at: i64,
    /// Revocation time, Unix microseconds.
    pub revoked_at: Option<i64>,
    /// Client IP at the last use.
    pub ip: Option<String>,
    /// Raw User-Agent.
    pub user_agent: Option<String>,
    /// Parsed device description.
    pub device: Option<String>,
    /// Last authentication, Unix microseconds.
    pub auth_time: i64,
    /// Authentication methods (RFC 8176), space separated.
    pub amr: String,
    /// SHA-256 of a browser session's cookie secret; unique per realm.
    pub secret_hash: Option<Vec<u8>>,
    /// A client session's OAuth `client_id`.
    pub client_id: Option<String>,
    /// A client session's browser session.
    pub parent_id: Option<Uuid>,
    /// The alias of the identity provider the sign-in came through.
    pub idp: Option<String>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
