//! The `oauth_clients` table: the OAuth 2.0 / OpenID Connect clients of each
//! realm. Lists are JSON arrays in text columns; the secret is its SHA-256.

use sea_orm::entity::prelude::*;

/// One client.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_clients")]
pub struct Model {
    /// Internal id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The OAuth `client_id`, unique in its realm.
    pub client_id: String,
    /// Name shown on the consent page.
    pub name: String,
    /// `confidential` or `public`.
    pub client_type: String,
    /// Token endpoint authentication method.
    pub auth_method: String,
    /// SHA-256 of the secret.
    pub secret_hash: Option<Vec<u8>>,
    /// JSON array of redirect URIs.
    pub redirect_uris: String,
    /// JSON array of post-logout redirect URIs.
    pub post_logout_redirect_uris: String,
    /// JSON array of grant types.
    pub grant_types: String,
    /// JSON array of scopes.
    pub scopes: String,
    /// ID token signing algorithm.
    pub id_token_alg: String,
    /// The client's JWKS, JSON.
    pub jwks: Option<String>,
    /// Access-token lifetime, seconds.
    pub access_token_ttl: Option<i64>,
    /// Refresh-token lifetime, seconds.
    pub refresh_token_ttl: Option<i64>,
    /// Whether users are asked to consent.
    pub require_consent: bool,
    /// Disabled clients get no tokens.
    pub enabled: bool,
    /// RFC 7591 `logo_uri`.
    pub logo_uri: Option<String>,
    /// RFC 7591 `policy_uri`.
    pub policy_uri: Option<String>,
    /// RFC 7591 `tos_uri`.
    pub tos_uri: Option<String>,
    /// Creation time, Unix microseconds.
    pub created_at: i64,
    /// Last update, Unix microseconds.
    pub updated_at: i64,
}

/// No navigable relations: queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
