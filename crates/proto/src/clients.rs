//! Bodies of `/api/v1/clients`: the OAuth 2.0 / OpenID Connect clients of a
//! realm.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// A client as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientView {
    /// Internal id.
    pub id: Uuid,
    /// The OAuth `client_id`.
    pub client_id: String,
    /// Name shown on the consent page.
    pub name: String,
    /// `confidential` (holds a secret or a key) or `public` (a browser or
    /// native app; PKCE required).
    pub client_type: String,
    /// `client_secret_basic`, `client_secret_post`, `private_key_jwt` or
    /// `none` (public clients).
    pub token_endpoint_auth_method: String,
    /// Exactly registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exactly registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// ID token signing algorithm: `RS256`, `ES256` or `EdDSA`.
    pub id_token_signed_response_alg: String,
    /// The client's public keys for `private_key_jwt`, by value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Access-token lifetime in seconds, when not the realm's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<u32>,
    /// Refresh-token lifetime in seconds, when not the realm's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl: Option<u32>,
    /// Whether users are asked to consent (first-party clients usually are not).
    pub require_consent: bool,
    /// Disabled clients get no tokens.
    pub enabled: bool,
    /// Whether the client holds a secret.
    pub has_secret: bool,
    /// The client's logo (https; never fetched by the server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Its privacy policy (https).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// Its terms of service (https).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// The client's service account, for a client with the
    /// `client_credentials` grant: the subject of its own tokens, to which
    /// roles and permissions are granted like to a user (its id is the
    /// client's `id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account_id: Option<Uuid>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `GET /api/v1/clients`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientList {
    /// Clients ordered by `client_id`.
    pub items: Vec<ClientView>,
}

/// `POST /api/v1/clients`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// Name shown on the consent page (1 to 100 characters).
    pub name: String,
    /// The `client_id`: 1 to 64 of `A-Z a-z 0-9 . _ -` (generated when absent).
    #[serde(default)]
    pub client_id: Option<String>,
    /// `confidential` (default) or `public`.
    #[serde(default)]
    pub client_type: Option<String>,
    /// Default `client_secret_basic` (confidential) or `none` (public).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Redirect URIs, matched exactly: `https`, `http` on a loopback host
    /// only, or a private-use scheme with a dot (`com.example.app:/cb`); no
    /// fragment. Required for `authorization_code`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs, same rules.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default `["authorization_code", "refresh_token"]`, or
    /// `["client_credentials"]` when no redirect URI is given to a
    /// confidential client.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Default `["openid", "profile", "email", "offline_access"]`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// `RS256` (default), `ES256` or `EdDSA`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Public keys for `private_key_jwt`: `{"keys": [...]}`.
    #[serde(default)]
    pub jwks: Option<Value>,
    /// Access-token lifetime in seconds (60 to 86,400).
    #[serde(default)]
    pub access_token_ttl: Option<u32>,
    /// Refresh-token lifetime in seconds (300 to 31,536,000).
    #[serde(default)]
    pub refresh_token_ttl: Option<u32>,
    /// Ask users to consent (default false).
    #[serde(default)]
    pub require_consent: Option<bool>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The client's logo: an https URL (at most 2,000 characters, no
    /// credentials), shown to users, never fetched by the server.
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// Its privacy policy: an https URL.
    #[serde(default)]
    pub policy_uri: Option<String>,
    /// Its terms of service: an https URL.
    #[serde(default)]
    pub tos_uri: Option<String>,
}

/// `PATCH /api/v1/clients/{client_id}`: only the fields present change; a
/// `null` lifetime or `jwks` goes back to none.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    /// Name shown on the consent page.
    #[serde(default)]
    pub name: Option<String>,
    /// See [`CreateClientRequest`].
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Replaces the redirect URIs.
    #[serde(default)]
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces the post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Replaces the grant types.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// Replaces the scopes.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// `RS256`, `ES256` or `EdDSA`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Replaces the public keys (`null` removes them).
    #[serde(default, deserialize_with = "crate::authz::double_option")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Option<Value>>,
    /// Access-token lifetime in seconds (`null`: the realm's default).
    #[serde(default, deserialize_with = "crate::authz::double_option")]
    #[schema(value_type = Option<u32>)]
    pub access_token_ttl: Option<Option<u32>>,
    /// Refresh-token lifetime in seconds (`null`: the realm's default).
    #[serde(default, deserialize_with = "crate::authz::double_option")]
    #[schema(value_type = Option<u32>)]
    pub refresh_token_ttl: Option<Option<u32>>,
    /// Ask users to consent.
    #[serde(default)]
    pub require_consent: Option<bool>,
    /// Enable or disable the client.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Replaces the logo URL (`null` removes it).
    #[serde(default, deserialize_with = "crate::authz::double_option")]
    #[schema(value_type = Option<String>)]
    pub logo_uri: Option<Option<String>>,
    /// Replaces the privacy policy URL (`null` removes it).
    #[serde(default, deserialize_with = "crate::authz::double_option")]
    #[schema(value_type = Option<String>)]
    pub policy_uri: Option<Option<String>>,
    /// Replaces the terms of service URL (`null` removes it).
    #[serde(default, deserialize_with = "crate::authz::double_option")]
    #[schema(value_type = Option<String>)]
    pub tos_uri: Option<Option<String>>,
}

/// The answer to creating a confidential client or rotating its secret: the
/// secret appears here once and is never shown again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientWithSecret {
    /// The client.
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret, for confidential clients authenticating with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}
