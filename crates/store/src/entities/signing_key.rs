//! The `signing_keys` table.

use sea_orm::entity::prelude::*;

/// A signing-key row; the private key is encrypted by the caller.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    /// Key id (JWK thumbprint), unique.
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Algorithm name.
    pub alg: String,
    /// Encrypted PKCS#8 private key.
    pub private_key_enc: Vec<u8>,
    /// Public JWK as JSON text.
    pub public_jwk: String,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Current key for its algorithm.
    pub active: bool,
    /// End of publication, Unix microseconds.
    pub retire_after: Option<i64>,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
