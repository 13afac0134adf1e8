//! The `social_accounts` table: links between users and their accounts at
//! upstream identity providers.

use sea_orm::entity::prelude::*;

/// One link.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "social_accounts")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The local user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: Uuid,
    /// The upstream's id of the user, unique per provider.
    pub subject: String,
    /// The address the upstream gave at the last sign-in.
    pub email: Option<String>,
    /// The name the upstream gave at the last sign-in.
    pub name: Option<String>,
    /// When the link was made, Unix microseconds.
    pub created_at: i64,
    /// Last sign-in through it, Unix microseconds.
    pub last_login_at: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
