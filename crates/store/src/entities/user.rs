//! The `users` table.

use sea_orm::entity::prelude::*;

/// A user row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Email as stored and shown.
    pub email: String,
    /// Lower-cased email, unique per realm.
    pub email_canonical: String,
    /// Display name.
    pub name: Option<String>,
    /// PHC password hash.
    pub password_hash: Option<String>,
    /// Whether the user may log in.
    pub active: bool,
    /// Whether the user proved control of the address.
    pub email_verified: bool,
    /// Attributes for policy conditions: a JSON object as text.
    pub attributes: String,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
    /// Last login, Unix microseconds.
    pub last_login_at: Option<i64>,
    /// The SCIM `userName`, as given (`None`: the e-mail address).
    pub scim_user_name: Option<String>,
    /// The SCIM `userName` in lower case, unique per realm.
    pub scim_user_name_canonical: Option<String>,
    /// The provisioning client's id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
