//! The `mfa_challenges` table: logins waiting for their second step.

use sea_orm::entity::prelude::*;

/// One challenge (the digest of its token only).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mfa_challenges")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// SHA-256 of the `mfa_token`.
    pub token_hash: Vec<u8>,
    /// `api` or `browser`.
    pub purpose: String,
    /// JSON array of the methods offered.
    pub methods: String,
    /// JSON array of the `amr` values of the steps passed.
    pub amr: String,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: i64,
    /// Completed or ended, Unix microseconds.
    pub consumed_at: Option<i64>,
    /// Wrong codes so far.
    pub failures: i32,
    /// Method of the code last sent (`email`, `sms`).
    pub otp_method: Option<String>,
    /// Keyed digest of that code.
    pub otp_hash: Option<Vec<u8>>,
    /// Its expiry, Unix microseconds.
    pub otp_expires_at: Option<i64>,
    /// Codes sent so far.
    pub otp_sends: i32,
    /// When the last code was sent, Unix microseconds.
    pub otp_sent_at: Option<i64>,
    /// The identity provider of the login's first step, if it went upstream.
    pub idp: Option<String>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
