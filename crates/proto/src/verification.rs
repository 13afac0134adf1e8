//! Verification: a user's phone number proved by an SMS code, identity
//! documents and their decisions, the external verifier's webhook.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// `POST /api/v1/auth/me/phone`: the number to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneStart {
    /// An international number in E.164 form (`+4915112345678`; spaces,
    /// dots, dashes and parentheses are ignored).
    pub phone_number: String,
}

/// `POST /api/v1/auth/me/phone/verify`: the code sent by SMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneCode {
    /// The six digits.
    pub code: String,
}

/// A user's phone verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PhoneVerificationView {
    /// The number, masked (`+49*********78`); absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Whether it is verified.
    pub phone_number_verified: bool,
    /// When it was verified.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub verified_at: Option<OffsetDateTime>,
    /// After a send: seconds the code lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
}

/// `POST /api/v1/auth/me/documents`: a document to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentSubmit {
    /// `passport`, `id_card`, `driving_licence`, `residence_permit` or
    /// `other`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The issuing country, ISO 3166-1 alpha-2 (`DE`).
    pub country: String,
    /// The document's number (letters and digits; spaces and dashes
    /// ignored).
    pub number: String,
    /// One or two images, base64: PNG or JPEG, at most 4 MiB each.
    pub images: Vec<String>,
}

/// A submitted document (never its images).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DocumentView {
    /// Id.
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// Kind.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// Issuing country.
    pub country: String,
    /// The number: whole for administrators, all but its last four
    /// characters masked for the user.
    pub number: String,
    /// `pending`, `verified` or `rejected`.
    pub status: String,
    /// The decision's reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Who decided (`user:<id>`, `verification-webhook`); administrators
    /// only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    /// When it was decided.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    /// Images submitted.
    pub image_count: u32,
    /// When the retention period's end deleted the images.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub images_deleted_at: Option<OffsetDateTime>,
    /// Submission time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A user's documents and identity-verification state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DocumentList {
    /// `none`, `pending`, `verified` or `rejected`: the newest document's.
    pub identity_verification: String,
    /// Newest first.
    pub documents: Vec<DocumentView>,
}

/// A decision on a pending document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentDecision {
    /// `verified` or `rejected`.
    pub status: String,
    /// Why; required to reject (at most 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The external verifier's webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationWebhook {
    /// The document decided.
    pub document_id: Uuid,
    /// `verified` or `rejected`.
    pub status: String,
    /// Why; required to reject.
    #[serde(default)]
    pub reason: Option<String>,
}

/// A new webhook secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecret {
    /// The `X-Portcullis-Key` the verifier sends.
    pub key_id: String,
    /// The secret whose text keys the HMAC-SHA256 signatures.
    pub secret: String,
}

/// The read-only verification state shown with a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileVerification {
    /// `none`, `pending`, `verified` or `rejected`.
    pub identity_verification: String,
    /// Whether the profile's phone number is the verified one.
    pub phone_number_verified: bool,
}
