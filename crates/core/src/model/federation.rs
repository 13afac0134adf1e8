//! Federation as the storage ports speak it: the identity providers a realm
//! trusts upstream, the social accounts that link its users to them, and
//! the sign-ins in flight. The service that validates and uses them is
//! `crate::federation`; the upstream protocol client is `portcullis-oidc`'s.

pub use portcullis_proto::federation::{FieldMap, Mapper, ProviderConfig, UpstreamAuth};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// What an upstream provider speaks, and which preset fills its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenID Provider: discovery from `issuer`, or explicit endpoints.
    Oidc,
    /// A plain OAuth 2.0 server: authorize, token and profile URLs and a
    /// field map from the profile JSON.
    Oauth2,
    /// Google (OpenID Connect, `https://accounts.google.com`).
    Google,
    /// GitHub (OAuth 2.0; the profile from `/user`, the address from
    /// `/user/emails`).
    Github,
    /// Facebook (OAuth 2.0 over the Graph API).
    Facebook,
    /// Microsoft identity platform (OpenID Connect, tenant-aware issuer).
    Microsoft,
    /// Sign in with Apple (OpenID Connect, `form_post`, the client secret a
    /// signed JWT).
    Apple,
}

impl ProviderKind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [Self; 7] = [
        Self::Oidc,
        Self::Oauth2,
        Self::Google,
        Self::Github,
        Self::Facebook,
        Self::Microsoft,
        Self::Apple,
    ];

    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oidc => "oidc",
            Self::Oauth2 => "oauth2",
            Self::Google => "google",
            Self::Github => "github",
            Self::Facebook => "facebook",
            Self::Microsoft => "microsoft",
            Self::Apple => "apple",
        }
    }

    /// Parses the API name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the provider answers with an ID token (OpenID Connect), as
    /// opposed to a profile read with the access token.
    pub fn is_oidc(self) -> bool {
        matches!(
            self,
            Self::Oidc | Self::Google | Self::Microsoft | Self::Apple
        )
    }

    /// The name shown on the login page's button when the provider has none.
    pub fn label(self) -> &'static str {
        match self {
            Self::Oidc => "OpenID Connect",
            Self::Oauth2 => "OAuth 2.0",
            Self::Google => "Google",
            Self::Github => "GitHub",
            Self::Facebook => "Facebook",
            Self::Microsoft => "Microsoft",
            Self::Apple => "Apple",
        }
    }
}

/// An identity provider a realm trusts.
#[derive(Debug, Clone, PartialEq)]
pub struct IdentityProvider {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The realm-unique alias in URLs (`google`, `corp-sso`).
    pub alias: String,
    /// What it speaks.
    pub kind: ProviderKind,
    /// The button's label.
    pub display_name: Option<String>,
    /// Disabled providers are not offered and refuse sign-ins.
    pub enabled: bool,
    /// Settings.
    pub config: ProviderConfig,
    /// The client secret (or the private key that signs one), sealed with
    /// the master key (associated data: the provider's id). Never shown.
    pub secret: Option<Vec<u8>>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

impl IdentityProvider {
    /// The label of its login button.
    pub fn label(&self) -> &str {
        self.display_name
            .as_deref()
            .unwrap_or_else(|| self.kind.label())
    }
}

/// A link between a user and an account at an upstream provider: the pair
/// (provider, upstream subject) is unique in a realm, and a user has at
/// most one link per provider.
#[derive(Debug, Clone, PartialEq)]
pub struct SocialAccount {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The local user.
    pub user_id: Uuid,
    /// The provider.
    pub provider_id: Uuid,
    /// The upstream's id of the user.
    pub subject: String,
    /// The address the upstream gave at the last sign-in.
    pub email: Option<String>,
    /// The name the upstream gave at the last sign-in.
    pub name: Option<String>,
    /// When the link was made.
    pub created_at: OffsetDateTime,
    /// Last sign-in through it.
    pub last_login_at: Option<OffsetDateTime>,
}

/// A federation step in flight: an upstream sign-in that was started (keyed
/// by its `state`), or an upstream identity waiting for the user to prove
/// the local account it would be linked to. Single use; bound to the
/// browser that started it by the digest of a cookie's secret.
#[derive(Debug, Clone, PartialEq)]
pub struct FederationAttempt {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The provider.
    pub provider_id: Uuid,
    /// SHA-256 of the handle (the `state`, or the pending link's token).
    pub token_hash: Vec<u8>,
    /// SHA-256 of the browser cookie's secret.
    pub binding_hash: Vec<u8>,
    /// What to do next, JSON (opaque to the store).
    pub payload: Value,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// After this the attempt is refused and purged.
    pub expires_at: OffsetDateTime,
}
