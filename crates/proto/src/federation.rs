//! Bodies of `/api/v1/identity-providers` (the upstream identity
//! providers of a realm) and of social sign-in: `/api/v1/auth/social/*`
//! and `/api/v1/auth/social-accounts`.
//!
//! [`ProviderConfig`] is also what the server stores for a provider.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// How Portcullis authenticates to the upstream's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuth {
    /// HTTP Basic with the client id and secret.
    #[default]
    ClientSecretBasic,
    /// The secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the realm's own key (RFC 7523); the upstream reads
    /// the realm's JWKS.
    PrivateKeyJwt,
    /// A client secret that is a JWT signed with a private key the admin
    /// uploaded (Apple's scheme: ES256, `iss` the team id, `kid` the key id).
    SignedSecret,
}

impl UpstreamAuth {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::SignedSecret => "signed_secret",
        }
    }

    /// Whether this method needs a stored secret (a client secret, or the
    /// private key that signs one).
    pub fn needs_secret(self) -> bool {
        !matches!(self, Self::PrivateKeyJwt)
    }
}

/// Where the fields of an upstream profile are read from (for `oauth2`
/// providers; OpenID Providers use the standard claims unless a field is
/// given). Each entry is a JSON Pointer (`/data/email`) or a dotted path
/// (`picture.data.url`) into the profile or the ID token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FieldMap {
    /// The upstream's stable id of the user (OIDC: `sub`).
    pub subject: Option<String>,
    /// The e-mail address.
    pub email: Option<String>,
    /// Whether the upstream verified the address (a boolean, or the strings
    /// `"true"`/`"false"`).
    pub email_verified: Option<String>,
    /// The display name.
    pub name: Option<String>,
    /// A picture URL.
    pub picture: Option<String>,
    /// User attributes to set: attribute name -> path.
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// What a provider's claims do to the accounts signing in through it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mapper {
    /// Copies a claim to a user attribute (`subject.attributes`).
    Attribute {
        /// The claim's path (JSON Pointer or dotted).
        claim: String,
        /// The attribute's name.
        attribute: String,
    },
    /// Copies a claim to the profile's display name.
    Name {
        /// The claim's path.
        claim: String,
    },
    /// Grants a role while a claim has a value (a string equal to `value`,
    /// or an array holding it): a GitHub organization, a Google hosted
    /// domain.
    Role {
        /// The claim's path.
        claim: String,
        /// The value that grants the role.
        value: String,
        /// The role's name.
        role: String,
    },
    /// Adds the account to a group while a claim has a value.
    Group {
        /// The claim's path.
        claim: String,
        /// The value that adds to the group.
        value: String,
        /// The group's name.
        group: String,
    },
    /// Grants a role to everyone who signs in through this provider.
    HardcodedRole {
        /// The role's name.
        role: String,
    },
}

/// A provider's settings, stored as JSON. A preset fills what is left out
/// (Google's issuer, GitHub's URLs); set fields override it (GitHub
/// Enterprise, a test stand-in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ProviderConfig {
    /// The issuer (OpenID Providers): discovery at
    /// `{issuer}/.well-known/openid-configuration`, and the `iss` every ID
    /// token must carry.
    pub issuer: Option<String>,
    /// Explicit authorization endpoint (overrides discovery).
    pub authorization_endpoint: Option<String>,
    /// Explicit token endpoint.
    pub token_endpoint: Option<String>,
    /// Explicit UserInfo endpoint; the profile URL of `oauth2` providers.
    #[serde(alias = "profile_url")]
    pub userinfo_endpoint: Option<String>,
    /// Explicit JWKS URL.
    pub jwks_uri: Option<String>,
    /// Where a GitHub-style provider lists the user's addresses.
    pub emails_endpoint: Option<String>,
    /// The client id registered at the upstream.
    pub client_id: String,
    /// How Portcullis authenticates at the token endpoint.
    pub client_auth: UpstreamAuth,
    /// Scopes asked for (a preset's own when empty).
    pub scopes: Vec<String>,
    /// `prompt` sent upstream (`login`, `consent`, `select_account`).
    pub prompt: Option<String>,
    /// ID-token signature algorithms accepted (asymmetric only; a default
    /// set when empty).
    pub allowed_algs: Vec<String>,
    /// Where the profile's fields are read from.
    pub field_map: FieldMap,
    /// Microsoft: the tenant (`common`, `organizations`, `consumers` or a
    /// tenant id).
    pub tenant: Option<String>,
    /// Apple: the team id (the signed secret's `iss`).
    pub team_id: Option<String>,
    /// Apple: the key id (the signed secret's `kid`).
    pub key_id: Option<String>,
    /// Treat the upstream's e-mail addresses as verified even when it does
    /// not say so.
    pub trust_email: bool,
    /// Create an account for an upstream user that matches none.
    pub allow_signup: bool,
    /// Link an upstream user to the local account with the same address
    /// without asking, when both sides verified the address.
    pub auto_link: bool,
    /// Accept the upstream's `amr` (a second factor done upstream) instead
    /// of asking for a local one.
    pub trust_upstream_mfa: bool,
    /// Roles granted to accounts created through this provider.
    pub default_roles: Vec<String>,
    /// Claim mappers, applied at every sign-in.
    pub mappers: Vec<Mapper>,
}

impl Default for ProviderConfig {
    /// Sign-up allowed, everything else off or empty.
    fn default() -> Self {
        Self {
            issuer: None,
            authorization_endpoint: None,
            token_endpoint: None,
            userinfo_endpoint: None,
            jwks_uri: None,
            emails_endpoint: None,
            client_id: String::new(),
            client_auth: UpstreamAuth::default(),
            scopes: Vec::new(),
            prompt: None,
            allowed_algs: Vec::new(),
            field_map: FieldMap::default(),
            tenant: None,
            team_id: None,
            key_id: None,
            trust_email: false,
            allow_signup: true,
            auto_link: false,
            trust_upstream_mfa: false,
            default_roles: Vec::new(),
            mappers: Vec::new(),
        }
    }
}

/// Adds (POST) or replaces (PUT) an identity provider. On PUT the alias
/// comes from the path, and a missing `client_secret` keeps the stored one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderRequest {
    /// The realm-unique alias in URLs: 1 to 64 of `a-z`, `0-9`, `-`, `_`
    /// (on POST: required for `oidc` and `oauth2`; a preset's defaults to
    /// its kind).
    #[serde(default)]
    pub alias: Option<String>,
    /// `oidc`, `oauth2`, `google`, `github`, `facebook`, `microsoft` or
    /// `apple`.
    pub kind: String,
    /// The login button's label (the kind's name when absent).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Offered and usable (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// The client secret registered at the provider; for Apple, the PEM
    /// private key (`.p8`) that signs the client secret. Write-only.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// The issuer (OpenID Providers; for Microsoft, another authority host).
    #[serde(default)]
    pub issuer: Option<String>,
    /// Explicit authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// Explicit token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// UserInfo endpoint; the profile URL of `oauth2` providers.
    #[serde(default, alias = "profile_url")]
    pub userinfo_endpoint: Option<String>,
    /// Explicit JWKS URL.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// A GitHub-style list of the user's addresses.
    #[serde(default)]
    pub emails_endpoint: Option<String>,
    /// The client id registered at the provider.
    pub client_id: String,
    /// `client_secret_basic` (default), `client_secret_post`,
    /// `private_key_jwt` or `signed_secret` (Apple).
    #[serde(default)]
    pub client_auth: Option<UpstreamAuth>,
    /// Scopes (the kind's defaults when empty).
    #[serde(default)]
    pub scopes: Vec<String>,
    /// `prompt` sent upstream.
    #[serde(default)]
    pub prompt: Option<String>,
    /// Accepted ID-token algorithms (asymmetric only).
    #[serde(default)]
    pub allowed_algs: Vec<String>,
    /// Where profile fields are read.
    #[serde(default)]
    pub field_map: FieldMap,
    /// Microsoft's tenant (default `common`).
    #[serde(default)]
    pub tenant: Option<String>,
    /// Apple's team id.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Apple's key id.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Treat the provider's addresses as verified (default false).
    #[serde(default)]
    pub trust_email: bool,
    /// Create accounts for new users (default true).
    #[serde(default)]
    pub allow_signup: Option<bool>,
    /// Link to the account with the same address without asking, when
    /// both sides verified it (default false).
    #[serde(default)]
    pub auto_link: bool,
    /// Accept a second factor done upstream (`amr`) (default false).
    #[serde(default)]
    pub trust_upstream_mfa: bool,
    /// Roles of accounts created through this provider.
    #[serde(default)]
    pub default_roles: Vec<String>,
    /// Claim mappers.
    #[serde(default)]
    pub mappers: Vec<Mapper>,
}

/// An identity provider as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentityProviderView {
    /// Internal id.
    pub id: Uuid,
    /// The alias.
    pub alias: String,
    /// The kind.
    pub kind: String,
    /// The button's label.
    pub display_name: String,
    /// Offered and usable.
    pub enabled: bool,
    /// Whether a secret is stored.
    pub has_secret: bool,
    /// The redirect URI to register at the provider.
    pub redirect_uri: String,
    /// Settings.
    #[serde(flatten)]
    pub config: ProviderConfig,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// The realm's identity providers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdentityProviderList {
    /// By alias.
    pub items: Vec<IdentityProviderView>,
}

/// A link between an account and an upstream account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SocialAccountView {
    /// The link's id.
    pub id: Uuid,
    /// The provider's alias.
    pub provider: String,
    /// The provider's kind.
    pub kind: String,
    /// The upstream's id of the user.
    pub subject: String,
    /// The address the provider gave at the last sign-in.
    pub email: Option<String>,
    /// The name the provider gave at the last sign-in.
    pub name: Option<String>,
    /// When the link was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last sign-in through it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
}

/// An account's links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SocialAccountList {
    /// Oldest first.
    pub items: Vec<SocialAccountView>,
}

/// `POST /api/v1/auth/social/exchange`: an API client's exchange code for
/// the same answer as `/api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SocialExchangeRequest {
    /// The code the callback sent to the client's redirect URI.
    pub code: String,
    /// The PKCE verifier of the `code_challenge` the sign-in started with.
    pub code_verifier: String,
    /// The client the code was issued to.
    pub client_id: String,
}

/// `POST /api/v1/auth/social/{alias}/link`: where to send the browser to
/// link another provider to the signed-in account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SocialLinkRequest {
    /// The client asking (its redirect URI receives the result).
    pub client_id: String,
    /// One of the client's registered redirect URIs.
    pub redirect_uri: String,
    /// Echoed to the redirect URI.
    #[serde(default)]
    pub state: Option<String>,
}

/// Where the browser goes to link a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SocialLinkStart {
    /// The provider's authorization URL.
    pub authorization_url: String,
}
