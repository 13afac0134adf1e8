//! The `oauth_codes` table: authorization codes by digest, redeemed once.

use sea_orm::entity::prelude::*;

/// One authorization code (its digest only, never the code).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_codes")]
pub struct Model {
    /// Id (UUIDv7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// SHA-256 of the code; unique.
    #[sea_orm(unique)]
    pub code_hash: Vec<u8>,
    /// The OAuth `client_id` it was issued to.
    pub client_id: String,
    /// The user who authorized it.
    pub user_id: Uuid,
    /// The browser session it was issued in.
    pub session_id: Uuid,
    /// The authorization request's `redirect_uri`, if it had one.
    pub redirect_uri: Option<String>,
    /// Granted scope, space separated.
    pub scope: String,
    /// The request's `nonce`.
    pub nonce: Option<String>,
    /// PKCE `S256` challenge.
    pub code_challenge: Option<String>,
    /// Issue time, Unix microseconds.
    pub created_at: i64,
    /// Expiry, Unix microseconds.
    pub expires_at: i64,
    /// Redemption time, Unix microseconds.
    pub used_at: Option<i64>,
    /// The client session the redemption created.
    pub grant_session_id: Option<Uuid>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
