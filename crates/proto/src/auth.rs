//! Bodies of `/api/v1/auth/*`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::users::UserView;

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address; unique per realm, case-insensitively.
    pub email: String,
    /// Password: 8 to 256 Unicode code points (minimum configurable per realm).
    pub password: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
    /// Where the refresh token goes: `body` (the default) or `cookie`, for
    /// browser apps: then the answer has no `refresh_token`, and
    /// `Set-Cookie` carries it in the HttpOnly `__Host-portcullis_refresh`
    /// cookie, with `__Host-portcullis_iat` and `__Host-portcullis_csrf`
    /// (see docs/browser-apps.md).
    #[serde(default)]
    pub refresh_token_delivery: TokenDelivery,
}

/// Where a login puts the refresh token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenDelivery {
    /// In the JSON answer.
    #[default]
    Body,
    /// In an HttpOnly `__Host-` cookie, never readable by scripts.
    Cookie,
}

/// A token pair, answered by login and refresh.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// Signed JWT access token.
    pub access_token: String,
    /// Opaque refresh token; single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The authenticated user (on login; a refresh answers only the new pair).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView>,
    /// On login: how the user authenticated, as RFC 8176 values (`pwd`;
    /// with a second factor also `otp` and `mfa`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh. Left out (or the
    /// whole body left out): the `__Host-portcullis_refresh` cookie of
    /// cookie mode, with its CSRF token in `X-CSRF-Token`.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// `POST /api/v1/auth/change-password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (the realm's password policy applies).
    pub new_password: String,
}

/// One of the caller's sessions.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Session id (the `sid` claim of its tokens).
    pub id: Uuid,
    /// Login time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last login or refresh.
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    /// Absolute expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Client IP at the last use.
    pub ip: Option<String>,
    /// Raw User-Agent.
    pub user_agent: Option<String>,
    /// Parsed user agent, e.g. `Firefox 120 on Linux`.
    pub device: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
    /// For the tokens an OAuth client holds from one authorization: the
    /// client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// When the user last proved who they are in this session.
    #[serde(with = "time::serde::rfc3339")]
    pub auth_time: OffsetDateTime,
    /// How (RFC 8176 values: `pwd`, `otp`, `mfa`; `fed` through an
    /// identity provider).
    pub amr: Vec<String>,
    /// The alias of the identity provider the sign-in came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
}

/// A consent the caller gave a client (remembered until withdrawn).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsentView {
    /// The client.
    pub client_id: String,
    /// The scopes consented to.
    pub scopes: Vec<String>,
    /// First consent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/v1/auth/validate`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    /// An access token.
    pub token: String,
}

/// Answer of `POST /api/v1/auth/validate`, shaped like RFC 7662 introspection.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ValidateResponse {
    /// Whether the token is valid now.
    pub active: bool,
    /// Subject (user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Realm name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Session id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Granted scope, space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `Bearer` for active tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

/// `POST /api/v1/auth/magic-link`: asks for a sign-in link.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkRequest {
    /// The account's address.
    pub email: String,
}

/// The one answer to a magic-link request, whether or not the address has
/// an account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MagicLinkAccepted {
    /// What happens next.
    pub message: String,
    /// This login attempt's secret: keep it in the browser that asked and
    /// send it with the link's token; the link completes no other attempt.
    pub attempt: String,
    /// Seconds the link lives.
    pub expires_in: u64,
}

/// `POST /api/v1/auth/magic-link/verify`: completes a magic-link login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkVerifyRequest {
    /// The link's `token` query parameter.
    pub token: String,
    /// The `attempt` of the request that asked for the link.
    pub attempt: String,
}

/// `POST /api/v1/auth/change-email`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeEmailRequest {
    /// The new address.
    pub new_email: String,
    /// The account's password, when the login is older than five minutes.
    #[serde(default)]
    pub password: Option<String>,
    /// A current TOTP code or an unused backup code, instead of the password.
    #[serde(default)]
    pub code: Option<String>,
}

/// `POST /api/v1/auth/confirm-email-change`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmEmailChangeRequest {
    /// The confirmation link's `token` query parameter.
    pub token: String,
}
