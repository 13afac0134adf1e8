//! The `mail_outbox` table: queued mail, its bodies encrypted.

use sea_orm::entity::prelude::*;

/// One queued message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    /// Id (UUIDv7), bound into the encryption of `sealed`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Kind (`verify_email`, `password_reset`, ...).
    pub kind: String,
    /// Recipient address.
    pub recipient: String,
    /// Subject and bodies encrypted with the master key; cleared once sent.
    pub sealed: Option<Vec<u8>>,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: i32,
    /// Next attempt due, Unix microseconds.
    pub next_attempt_at: i64,
    /// The worker pass holding the message.
    pub lease_id: Option<Uuid>,
    /// End of that lease, Unix microseconds.
    pub lease_until: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Queued at, Unix microseconds.
    pub created_at: i64,
    /// Sent at, Unix microseconds.
    pub sent_at: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
