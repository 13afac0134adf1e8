//! Access tokens: JWTs signed with the realm's current key and verified against
//! its published keys, the denylist and the clock.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::model::Realm;

/// Clock skew tolerated on `iat`.
pub const LEEWAY: Duration = Duration::seconds(30);

/// `typ` header of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims of a Portcullis access token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: `{public_url}/realms/{realm}`.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Token id, for the denylist.
    pub jti: Uuid,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// Granted scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Names of the roles the user held when the token was issued (when the
    /// realm's `roles_claim` is on). For display and coarse routing only:
    /// decisions use the live data through the check API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The OAuth client the token was issued to (RFC 9068). For the
    /// `client_credentials` grant the subject is the client's service
    /// account, whose id is the client's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The user's organizations in Keycloak's shape (`{"<name>": {"id":
    /// "<uuid>"}}`), when the `organization` scope was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<serde_json::Value>,
}

impl AccessClaims {
    /// Whether the token was issued to a client acting as itself
    /// (`client_credentials`; its subject is the client's service account),
    /// not to a user: a client's token without a session.
    pub fn is_client_own(&self) -> bool {
        self.client_id.is_some() && self.sid.is_none()
    }

    /// Expiry as a time.
    pub fn expires_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.exp).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Issue time as a time.
    pub fn issued_at(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.iat).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// A verified access token of a realm, not denied, not expired: who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The realm the token was issued by (and the request addresses).
    pub realm: std::sync::Arc<Realm>,
    /// The user.
    pub user_id: Uuid,
    /// The session of the token.
    pub session_id: Option<Uuid>,
    /// The token's claims (for a signed request, claims made for it).
    pub claims: std::sync::Arc<AccessClaims>,
    /// The service key that signed the request, when it was signed with
    /// HMAC rather than carrying a token (the user is the key's service account).
    pub service_key: Option<Uuid>,
    /// Whether the session's risk is raised (its token was used from
    /// another device): sensitive operations then need a fresh
    /// authentication. Set by the zero-trust check of the request.
    pub elevated_risk: bool,
}
