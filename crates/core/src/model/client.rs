//! OAuth 2.0 / OpenID Connect clients as the storage ports speak them: the
//! registered client and its enumerations, with their pure helpers. The
//! service that validates and registers them is `crate::clients`.

use portcullis_crypto::SigningAlgorithm;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientType {
    /// A server-side application: holds a secret or a private key.
    Confidential,
    /// A browser or native application: no secret; PKCE required.
    Public,
}

impl ClientType {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "confidential" => Some(Self::Confidential),
            "public" => Some(Self::Public),
            _ => None,
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret.
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
    /// A JWT signed with a key of the client's registered JWKS (RFC 7523).
    PrivateKeyJwt,
    /// No authentication: public clients.
    None,
}

impl AuthMethod {
    /// The RFC 8414 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    /// Parses the RFC 8414 name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Whether the method uses the client's secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// An OAuth grant a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    /// Authorization code (with PKCE).
    AuthorizationCode,
    /// Refresh token.
    RefreshToken,
    /// Client credentials: the client acts as its own subject.
    ClientCredentials,
}

impl GrantType {
    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// Parses the RFC 6749 name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// Links a client shows users (RFC 7591 `logo_uri`, `policy_uri`,
/// `tos_uri`): https URLs only, never fetched by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientLinks {
    /// The client's logo.
    pub logo_uri: Option<String>,
    /// Its privacy policy.
    pub policy_uri: Option<String>,
    /// Its terms of service.
    pub tos_uri: Option<String>,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthClient {
    /// Internal id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The OAuth `client_id`, unique in its realm.
    pub client_id: String,
    /// Name shown on the consent page.
    pub name: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// Token endpoint authentication.
    pub auth_method: AuthMethod,
    /// SHA-256 of the secret, for the secret-based methods.
    pub secret_hash: Option<Vec<u8>>,
    /// Exactly registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exactly registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grants, sorted, without duplicates.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may ask for.
    pub scopes: Vec<String>,
    /// ID token signing algorithm.
    pub id_token_alg: SigningAlgorithm,
    /// Public keys for `private_key_jwt`.
    pub jwks: Option<Value>,
    /// Access-token lifetime in seconds, when not the realm's.
    pub access_token_ttl: Option<u32>,
    /// Refresh-token lifetime in seconds, when not the realm's.
    pub refresh_token_ttl: Option<u32>,
    /// Whether users are asked to consent.
    pub require_consent: bool,
    /// Disabled clients get no tokens.
    pub enabled: bool,
    /// The client's logo, its privacy policy and its terms of service
    /// (https; shown to users, never fetched by the server).
    pub links: ClientLinks,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last update.
    pub updated_at: OffsetDateTime,
}

impl OAuthClient {
    /// Whether `secret` is this client's secret (constant time).
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.secret_hash.as_deref().is_some_and(|hash| {
            portcullis_crypto::constant_time_eq(hash, &portcullis_crypto::sha256(secret.as_bytes()))
        })
    }
}
