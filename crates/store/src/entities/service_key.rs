//! The `service_keys` table: HMAC keys of services.

use sea_orm::entity::prelude::*;

/// One key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_keys")]
pub struct Model {
    /// Id (also its service account's).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Name, unique per realm.
    pub name: String,
    /// The sealed secret, base64.
    pub secret: String,
    /// The sealed previous secret, base64, during a rotation's overlap.
    pub previous_secret: Option<String>,
    /// End of the overlap, Unix microseconds.
    pub previous_until: Option<i64>,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// Last change, Unix microseconds.
    pub updated_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: Option<i64>,
    /// Revocation, Unix microseconds.
    pub revoked_at: Option<i64>,
    /// Last use, Unix microseconds.
    pub last_used_at: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
