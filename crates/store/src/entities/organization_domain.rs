//! The `organization_domains` table.

use sea_orm::entity::prelude::*;

/// An e-mail domain an organization claims.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization_domains")]
pub struct Model {
    /// The realm.
    pub realm_id: Uuid,
    /// The organization.
    #[sea_orm(primary_key, auto_increment = false)]
    pub organization_id: Uuid,
    /// The domain (lower-case ASCII, IDNA).
    #[sea_orm(primary_key, auto_increment = false)]
    pub domain: String,
    /// The value of the TXT record that proves it.
    pub challenge: String,
    /// The domain again once verified (unique per realm), else NULL.
    pub verified_domain: Option<String>,
    /// Unix microseconds.
    pub verified_at: Option<i64>,
    /// `dns` or `admin`.
    pub verified_by: Option<String>,
    /// Whether users of the domain join the organization.
    pub auto_join: bool,
    /// Their role.
    pub join_role: String,
    /// Unix microseconds.
    pub created_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
