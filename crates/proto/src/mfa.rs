//! Bodies of `/api/v1/mfa/*` and the second step of a login.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::TokenResponse;

/// The answer to `POST /api/v1/auth/login`: tokens, or a second step to
/// complete.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LoginResponse {
    /// The user has a second factor: no tokens yet.
    MfaRequired(MfaRequiredResponse),
    /// Logged in.
    Tokens(Box<TokenResponse>),
    /// Logged in, in cookie mode: the refresh token is in a cookie.
    CookieTokens(Box<crate::bff::CookieTokenResponse>),
}

/// A login that needs its second step (`POST /api/v1/mfa/verify`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MfaRequiredResponse {
    /// Always `true`.
    pub mfa_required: bool,
    /// Single-use token for the second step; good for nothing else.
    pub mfa_token: String,
    /// The methods the login can be completed with (`totp`, `backup_code`).
    pub methods: Vec<String>,
    /// Seconds the `mfa_token` lives.
    pub expires_in: u64,
}

/// `POST /api/v1/mfa/verify`: the second step of a login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaVerifyRequest {
    /// From the login answer.
    pub mfa_token: String,
    /// One of the login answer's `methods`.
    pub method: String,
    /// The code (a TOTP code, a backup code); not for `webauthn`.
    #[serde(default)]
    pub code: String,
    /// For `webauthn`: the browser's answer to the options of
    /// `POST /api/v1/mfa/challenge` (a `PublicKeyCredential` as JSON, binary
    /// values in base64url).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub credential: Option<serde_json::Value>,
    /// Where the refresh token goes, as on `POST /api/v1/auth/login`
    /// (`body` by default, or `cookie`).
    #[serde(default)]
    pub refresh_token_delivery: crate::auth::TokenDelivery,
}

/// `POST /api/v1/mfa/challenge`: prepares a login's second step with a
/// method that needs one (`webauthn`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaChallengeRequest {
    /// From the login answer.
    pub mfa_token: String,
    /// One of the login answer's `methods`.
    pub method: String,
}

/// What a second step needs from the browser.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MfaChallengeResponse {
    /// The method.
    pub method: String,
    /// For `webauthn`: options for `navigator.credentials.get()`
    /// (`{publicKey: {...}}`, binary values in base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<serde_json::Value>,
    /// For `email` and `sms`: where the code went, masked
    /// (`a***@example.com`, `+49*********78`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_to: Option<String>,
    /// For `email` and `sms`: seconds the code lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// A WebAuthn ceremony to run in the browser.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasskeyOptionsResponse {
    /// Send it back with the browser's answer.
    pub ceremony_id: Uuid,
    /// Options for `navigator.credentials.create()` or `.get()`
    /// (`{publicKey: {...}}`, binary values in base64url).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// `POST /api/v1/mfa/webauthn/register/finish`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebauthnRegisterRequest {
    /// From `register/start`.
    pub ceremony_id: Uuid,
    /// A name the user recognises (at most 64 characters; default `Passkey`).
    #[serde(default)]
    pub name: Option<String>,
    /// The browser's answer (a `PublicKeyCredential` as JSON, binary values
    /// in base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// A registered WebAuthn credential.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WebauthnRegisterResponse {
    /// The new factor.
    pub method: MfaMethodView,
    /// New backup codes when the user had none left: shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

/// `POST /api/v1/auth/passkey/finish`: a passwordless login.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginRequest {
    /// From `POST /api/v1/auth/passkey/start`.
    pub ceremony_id: Uuid,
    /// The browser's answer (a `PublicKeyCredential` as JSON).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// `POST /api/v1/mfa/totp/validate`: the second step of a login with a TOTP
/// code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpValidateRequest {
    /// From the login answer.
    pub mfa_token: String,
    /// The current code of the authenticator app.
    pub code: String,
}

/// Proof of a recent authentication, for changes of factors. Not needed
/// within five minutes of a login.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// The account's password.
    #[serde(default)]
    pub password: Option<String>,
    /// A current TOTP code or an unused backup code.
    #[serde(default)]
    pub code: Option<String>,
}

/// `POST /api/v1/mfa/setup`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaSetupRequest {
    /// The method to set up: `totp`, `email` (codes to the account's
    /// address) or `sms` (codes to `phone`).
    pub method: String,
    /// For `sms`: the phone number in E.164 form (`+4915112345678`).
    #[serde(default)]
    pub phone: Option<String>,
    /// The account's password, when the login is older than five minutes.
    #[serde(default)]
    pub password: Option<String>,
    /// A current code of another factor, instead of the password.
    #[serde(default)]
    pub code: Option<String>,
}

/// A started TOTP enrolment: shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TotpEnrolmentResponse {
    /// The factor's id.
    pub id: Uuid,
    /// `totp`.
    pub method: String,
    /// The secret in base32, to type into an authenticator app.
    pub secret: String,
    /// The `otpauth://totp/...` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code: an SVG `data:` URI for an `<img src>`.
    pub qr_code: String,
}

/// A started e-mail or SMS enrolment: a code is on its way.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CodeEnrolmentResponse {
    /// The pending factor's id.
    pub id: Uuid,
    /// `email` or `sms`.
    pub method: String,
    /// Where the code went, masked.
    pub sent_to: String,
    /// Seconds the code lives.
    pub expires_in: u64,
}

/// The answer to `POST /api/v1/mfa/setup`, by method.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MfaSetupResponse {
    /// `totp`: the secret, shown once.
    Totp(TotpEnrolmentResponse),
    /// `email`, `sms`: a code was sent.
    Code(CodeEnrolmentResponse),
}

/// `POST /api/v1/mfa/email/verify` and `/api/v1/mfa/sms/verify`: confirms
/// an enrolment with the code sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeVerifyRequest {
    /// The six digits received.
    pub code: String,
}

/// A confirmed e-mail or SMS enrolment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CodeVerifyResponse {
    /// Always `true`.
    pub enabled: bool,
    /// New backup codes when the user had none left: shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

/// `POST /api/v1/mfa/totp/verify`: confirms the enrolment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpVerifyRequest {
    /// The current code of the authenticator app.
    pub code: String,
}

/// A confirmed TOTP enrolment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TotpVerifyResponse {
    /// Always `true`.
    pub enabled: bool,
    /// New backup codes when the user had none left: shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_codes: Option<Vec<String>>,
}

/// A set of backup codes: shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupCodesResponse {
    /// Ten single-use codes.
    pub backup_codes: Vec<String>,
}

/// One second factor of the caller.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MfaMethodView {
    /// Id (for `DELETE /api/v1/mfa/methods/{id}`).
    pub id: Uuid,
    /// `totp`, `webauthn`, `email` or `sms`.
    pub method: String,
    /// Name shown to the user.
    pub name: String,
    /// For `email` and `sms`: where codes go, masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether enrolment was confirmed (only confirmed factors are asked for
    /// at login).
    pub confirmed: bool,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last successful use.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

/// The caller's second factors.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MfaMethodsResponse {
    /// Whether a login asks for a second factor because one is enrolled.
    pub mfa_enabled: bool,
    /// Whether the realm requires a second factor of the caller (one of
    /// their roles is in its `mfa_required_roles`): a login asks for one
    /// even with none enrolled, offering a code by e-mail.
    #[serde(default)]
    pub mfa_required: bool,
    /// The factors.
    pub methods: Vec<MfaMethodView>,
    /// Unused backup codes.
    pub backup_codes_remaining: u64,
}

/// A device the caller has signed in with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceView {
    /// Its fingerprint (for `DELETE /api/v1/auth/devices/{fingerprint}`).
    pub fingerprint: String,
    /// `Firefox on Linux (desktop)`.
    pub description: String,
    /// First sign-in.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen_at: OffsetDateTime,
    /// Last sign-in.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// IP network of the last sign-in (`/24` or `/48`).
    pub last_network: Option<String>,
    /// GeoIP country of the last sign-in, when a GeoIP database is set up.
    pub country: Option<String>,
}

/// A realm's adaptive-security policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskPolicyView {
    /// Whether the checks run (default `true`).
    pub enabled: bool,
    /// Score from which a second factor is asked for (default 40).
    pub step_up_at: u32,
    /// Score from which a login is refused and a refreshed session ended
    /// (default 90).
    pub block_at: u32,
    /// Whether a sign-in from a new device is mailed to the user (default
    /// `true`).
    pub notify_new_device: bool,
    /// What a request whose device fingerprint differs from its session's
    /// does: `step_up` (default: the session's risk is raised, sensitive
    /// operations need a fresh authentication) or `end_session`.
    #[serde(default = "default_on_device_mismatch")]
    pub on_device_mismatch: String,
    /// Seconds since the session's authentication within which sensitive
    /// operations (password, e-mail and factor changes, administrative
    /// writes) are allowed (default 300, 30 to 86,400).
    #[serde(default = "default_fresh_auth_max_age")]
    pub fresh_auth_max_age: u32,
}

fn default_on_device_mismatch() -> String {
    "step_up".to_owned()
}

fn default_fresh_auth_max_age() -> u32 {
    300
}
