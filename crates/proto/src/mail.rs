//! Bodies of e-mail verification, password reset and mail templates.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// `POST /api/v1/auth/verify-email`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token of the verification link (its `token` query parameter).
    pub token: String,
}

/// `POST /api/v1/auth/forgot-password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    /// The account's email address.
    pub email: String,
}

/// The one answer of `POST /api/v1/auth/forgot-password`, whether or not
/// the address has an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AcceptedResponse {
    /// What happens next.
    pub message: String,
}

/// `POST /api/v1/auth/reset-password`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token of the reset link (its `token` query parameter).
    pub token: String,
    /// The new password (the realm's password policy applies).
    pub new_password: String,
}

/// A realm's template of one kind of mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MailTemplateView {
    /// `verify_email`, `password_reset`, `magic_link`, `email_otp`,
    /// `email_change` or `new_device`.
    pub kind: String,
    /// Subject template (one line once rendered).
    pub subject: String,
    /// Plain-text body template.
    pub text: String,
    /// HTML body template (values are HTML-escaped).
    pub html: String,
    /// Whether the realm overrides the built-in default.
    pub custom: bool,
    /// Last change of the override.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// `PUT /api/v1/mail-templates/{kind}`: the three parts, in Jinja syntax
/// (MiniJinja). Values: `realm`, `realm_name`, `email`, `name`, and per
/// kind `link`, `expires_in_minutes`, `code`, `new_email`, `device`, `ip`,
/// `time`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutMailTemplateRequest {
    /// Subject template (at most 1,000 bytes).
    pub subject: String,
    /// Plain-text body template (at most 64 KiB).
    pub text: String,
    /// HTML body template (at most 64 KiB).
    pub html: String,
}
