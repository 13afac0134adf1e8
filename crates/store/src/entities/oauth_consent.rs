//! The `oauth_consents` table: a user's consent to a client's scopes, one
//! row per (realm, user, client).

use sea_orm::entity::prelude::*;

/// One consent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_consents")]
pub struct Model {
    /// Owning realm.
    #[sea_orm(primary_key, auto_increment = false)]
    pub realm_id: Uuid,
    /// The user.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The OAuth `client_id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// JSON array of the scopes consented to.
    pub scopes: String,
    /// First consent, Unix microseconds.
    pub created_at: i64,
    /// Last change, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
