//! The `mfa_backup_codes` table: digests of backup codes.

use sea_orm::entity::prelude::*;

/// One backup code (its digest only).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_backup_codes")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// SHA-256 of the code's normal form.
    pub code_hash: Vec<u8>,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// When it was spent, Unix microseconds.
    pub used_at: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
