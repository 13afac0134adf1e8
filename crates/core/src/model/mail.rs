//! The records of outgoing mail and mailed links, as the storage and mail
//! ports speak them ([`crate::mail`] is the service).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// What a message is for; each kind has a compiled-in default template that
/// a realm may override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// Confirms an address at registration (or on request).
    VerifyEmail,
    /// A password-reset link.
    PasswordReset,
    /// A passwordless sign-in link.
    MagicLink,
    /// A one-time code for a second factor.
    EmailOtp,
    /// Confirms a new address before an account switches to it.
    EmailChange,
    /// Tells a user about a sign-in from a new device.
    NewDevice,
    /// Tells the old address that a change of address was asked for.
    EmailChangeNotice,
    /// Proves an account before an upstream identity provider is linked
    /// to it (the first sign-in with that provider).
    LinkAccount,
    /// Invites an address to join an organization.
    OrganizationInvitation,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 9] = [
        MailKind::VerifyEmail,
        MailKind::PasswordReset,
        MailKind::MagicLink,
        MailKind::EmailOtp,
        MailKind::EmailChange,
        MailKind::NewDevice,
        MailKind::EmailChangeNotice,
        MailKind::LinkAccount,
        MailKind::OrganizationInvitation,
    ];

    /// The name used in URLs and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::PasswordReset => "password_reset",
            MailKind::MagicLink => "magic_link",
            MailKind::EmailOtp => "email_otp",
            MailKind::EmailChange => "email_change",
            MailKind::NewDevice => "new_device",
            MailKind::EmailChangeNotice => "email_change_notice",
            MailKind::LinkAccount => "link_account",
            MailKind::OrganizationInvitation => "organization_invitation",
        }
    }

    /// A kind by name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a single-use e-mail token proves when presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailTokenPurpose {
    /// Control of the address: marks it verified.
    VerifyEmail,
    /// Control of the address: allows setting a new password.
    PasswordReset,
    /// A passwordless sign-in link, bound to the login attempt that asked
    /// for it (its digest covers the attempt's secret too).
    MagicLink,
    /// Control of a new address: switches the account to it.
    EmailChange,
}

impl EmailTokenPurpose {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailTokenPurpose::VerifyEmail => "verify_email",
            EmailTokenPurpose::PasswordReset => "password_reset",
            EmailTokenPurpose::MagicLink => "magic_link",
            EmailTokenPurpose::EmailChange => "email_change",
        }
    }

    /// A purpose by stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "verify_email" => Some(EmailTokenPurpose::VerifyEmail),
            "password_reset" => Some(EmailTokenPurpose::PasswordReset),
            "magic_link" => Some(EmailTokenPurpose::MagicLink),
            "email_change" => Some(EmailTokenPurpose::EmailChange),
            _ => None,
        }
    }
}

/// A single-use token sent by e-mail. The token itself is never stored, only
/// its SHA-256 digest.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailToken {
    /// Id.
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// The user it was sent to.
    pub user_id: Uuid,
    /// What it proves.
    pub purpose: EmailTokenPurpose,
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// The address it was sent to (canonical form): it proves nothing once
    /// the account has another address. For an e-mail change, the new
    /// address as it will be stored.
    pub email: String,
    /// Issue time.
    pub created_at: OffsetDateTime,
    /// Expiry.
    pub expires_at: OffsetDateTime,
    /// Set by its one use (or when a newer token or a reset spent it).
    pub used_at: Option<OffsetDateTime>,
}

/// Where a message of the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    /// Waiting for (another) attempt.
    Pending,
    /// Delivered to the mail server.
    Sent,
    /// Given up after too many failures.
    Failed,
}

impl MailStatus {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            MailStatus::Pending => "pending",
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }

    /// A status by stored name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(MailStatus::Pending),
            "sent" => Some(MailStatus::Sent),
            "failed" => Some(MailStatus::Failed),
            _ => None,
        }
    }
}

/// A message of the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Id (bound into the encryption of `sealed`).
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// What it is for.
    pub kind: MailKind,
    /// Recipient address.
    pub recipient: String,
    /// Subject and bodies, encrypted with the master key; `None` once the
    /// message was sent or given up.
    pub sealed: Option<Vec<u8>>,
    /// Where it stands.
    pub status: MailStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due.
    pub next_attempt_at: OffsetDateTime,
    /// The worker pass holding it, while it does.
    pub lease_id: Option<Uuid>,
    /// Until when that lease holds.
    pub lease_until: Option<OffsetDateTime>,
    /// Why the last attempt failed (never a secret).
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it was sent.
    pub sent_at: Option<OffsetDateTime>,
}

/// A realm's override of one kind's template.
#[derive(Debug, Clone, PartialEq)]
pub struct MailTemplate {
    /// Owning realm.
    pub realm_id: Uuid,
    /// The kind it overrides.
    pub kind: MailKind,
    /// The three parts.
    pub source: TemplateSource,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A message ready to hand to a [`Mailer`].
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// Recipient address.
    pub to: String,
    /// Rendered subject, text and HTML.
    pub content: Rendered,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The bodies hold secrets (links, codes).
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

/// Why a [`Mailer`] could not send a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What went wrong, without secrets.
    pub message: String,
    /// True when retrying cannot help (the server refused the recipient for good).
    pub permanent: bool,
}

/// What DNS says about a domain's mail servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MxAnswer {
    /// It has MX records (or an address that takes mail).
    Accepts,
    /// A definite answer: the domain does not exist or has no MX record.
    NoMail,
    /// No definite answer (a timeout, a server failure): do not block on it.
    Unknown,
}

/// The three parts of a template, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSource {
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

/// A rendered message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// Subject line (one line).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}
