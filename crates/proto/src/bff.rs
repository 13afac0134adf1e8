//! Bodies of cookie mode (`/api/v1/auth/login` with
//! `refresh_token_delivery: cookie`, `/api/v1/auth/refresh` by cookie) and
//! of the backend-for-frontend endpoints, `/api/v1/bff/*`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::authz::CheckResource;
use crate::users::UserView;

/// Tokens issued in cookie mode: the access token here, the refresh token
/// only in the HttpOnly `__Host-portcullis_refresh` cookie.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CookieTokenResponse {
    /// Signed JWT access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Seconds until a refresh is advised (four fifths of the access
    /// token's life).
    pub rotate_in: u64,
    /// The token to echo in `X-CSRF-Token` with every state-changing
    /// request the cookie authenticates (also in the
    /// `__Host-portcullis_csrf` cookie). It changes with every refresh.
    pub csrf_token: String,
    /// The authenticated user (on login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// On login: how the user authenticated (RFC 8176 values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// `GET /api/v1/bff/session`: what the refresh cookie's session is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BffSessionView {
    /// The user.
    pub user_id: Uuid,
    /// The session (the `sid` of its access tokens).
    pub session_id: Uuid,
    /// Scopes of the session's tokens; empty for first-party sessions,
    /// whose rights are the user's permissions.
    pub scopes: Vec<String>,
    /// The roles the user holds now.
    pub roles: Vec<String>,
    /// When the access token issued with the current refresh token expires.
    #[serde(with = "time::serde::rfc3339")]
    pub access_token_expires_at: OffsetDateTime,
    /// When the refresh token in the cookie expires.
    #[serde(with = "time::serde::rfc3339")]
    pub refresh_token_expires_at: OffsetDateTime,
    /// When the session ends, however often it is refreshed.
    #[serde(with = "time::serde::rfc3339")]
    pub session_expires_at: OffsetDateTime,
    /// Seconds until a refresh (`POST /api/v1/bff/refresh`) is advised; 0:
    /// now.
    pub rotate_in: u64,
    /// When the user last proved who they are in this session.
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    /// How (RFC 8176 values).
    pub amr: Vec<String>,
}

/// `POST /api/v1/bff/authorize`: may the refresh cookie's user do this?
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BffAuthorizeRequest {
    /// The action (`read`).
    pub action: String,
    /// The resource.
    pub resource: CheckResource,
    /// Context for policy conditions (`ip` defaults to the caller's address).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Map<String, serde_json::Value>>,
    /// Include the explanation.
    #[serde(default)]
    pub explain: bool,
    /// Never answer from a revision older than this.
    #[serde(default)]
    pub min_revision: Option<i64>,
}
