//! The `identity_providers` table: the upstream identity providers each
//! realm trusts. Settings are JSON in a text column; the secret is sealed
//! with the master key.

use sea_orm::entity::prelude::*;

/// One provider.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_providers")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The alias in URLs, unique in its realm.
    pub alias: String,
    /// What it speaks (`oidc`, `oauth2`, `google`, ...).
    pub kind: String,
    /// The login button's label.
    pub display_name: Option<String>,
    /// Disabled providers are not offered.
    pub enabled: bool,
    /// The settings, JSON.
    pub config: String,
    /// The client secret (or the key that signs one), sealed.
    pub secret: Option<Vec<u8>>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
