//! Verification (issue 18): a user's phone number, proved by a code sent by
//! SMS, and identity documents, decided by an administrator or an external
//! verifier.
//!
//! - [`phone`]: `POST /auth/me/phone` sends a six-digit code by SMS through
//!   the configured gateway; `POST /auth/me/phone/verify` proves it. The
//!   code machinery is the one of SMS second factors (a challenge of
//!   purpose `enrol` holding a MAC of the code under the master key, five
//!   codes at least 30 s apart, five wrong codes end it, spent by one
//!   conditional update), but a verified phone is no factor, and an SMS
//!   factor verifies no phone. The verified number becomes the profile's
//!   `phone_number`; `phone_number_verified` holds while the profile's
//!   number is the verified one, and a profile write that changes the
//!   number ends the verification.
//! - [`documents`]: a user submits a document (type, country, number, one
//!   or two PNG or JPEG images). Its number and images are sealed with the
//!   master key, bound to the document. An administrator or the verifier's
//!   signed webhook ([`webhook`]) marks it verified or rejected; the
//!   images are deleted [`Settings::document_retention`] after the
//!   decision by [`Verification::purge_document_images`].
//!
//! The user's state (`identity_verification`: `none`, `pending`,
//! `verified`, `rejected`, the latest document's; `document_verified`;
//! `phone_number_verified`) is a subject attribute of the policy engine
//! (the store adds it to the realm's snapshot) and a read-only part of
//! the profile.
//!
//! [`Settings::document_retention`]: crate::settings::Settings::document_retention

pub mod documents;
pub mod model;
pub mod phone;
pub mod webhook;

use uuid::Uuid;

use crate::app::Inner;
use crate::error::Result;
use model::{DocumentStatus, IdentityDocument};

pub use documents::{DocumentImage, DocumentView, NewDocument};
pub use phone::PhoneStatus;

/// The identity-verification state of a user: its latest document's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityState {
    /// Never submitted a document.
    None,
    /// The latest document waits for a decision.
    Pending,
    /// The latest document was verified.
    Verified,
    /// The latest document was rejected.
    Rejected,
}

impl IdentityState {
    /// The name in the API and in policy attributes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Pending => "pending",
            Self::Verified => "verified",
            Self::Rejected => "rejected",
        }
    }

    /// The state of a user whose newest document is `latest`.
    pub fn of(latest: Option<&IdentityDocument>) -> Self {
        match latest.map(|d| d.status) {
            None => Self::None,
            Some(DocumentStatus::Pending) => Self::Pending,
            Some(DocumentStatus::Verified) => Self::Verified,
            Some(DocumentStatus::Rejected) => Self::Rejected,
        }
    }
}

/// A user's verification state, as profiles show it (read-only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerificationSummary {
    /// The identity-verification state.
    pub identity: IdentityState,
    /// Whether the profile's phone number is verified.
    pub phone_number_verified: bool,
}

/// Documents whose images one sweep deletes at most per batch.
pub const PURGE_BATCH: u64 = 100;

/// Verification of phones and identity documents.
pub struct Verification<'a> {
    i: &'a Inner,
}

impl<'a> Verification<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// Collaborator: profiles.
    fn profiles(&self) -> crate::profile::Profiles<'a> {
        crate::profile::Profiles::new(self.i)
    }

    /// A user's state: its latest document's, and whether `profile_phone`
    /// (the profile's number) is the verified one.
    pub(crate) async fn summary(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        profile_phone: Option<&str>,
    ) -> Result<VerificationSummary> {
        let docs = self.i.store.list_documents(realm_id, user_id).await?;
        Ok(VerificationSummary {
            identity: IdentityState::of(docs.first()),
            phone_number_verified: self
                .phone_verified(realm_id, user_id, profile_phone)
                .await?,
        })
    }

    /// Whether `phone` is the user's verified number.
    pub(crate) async fn phone_verified(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        phone: Option<&str>,
    ) -> Result<bool> {
        let Some(phone) = phone else {
            return Ok(false);
        };
        let stored = self
            .i
            .store
            .get_phone_verification(realm_id, user_id)
            .await?;
        Ok(stored.is_some_and(|v| v.verified_at.is_some() && v.phone == phone))
    }

    /// The verification states feed the authorization engine: after a
    /// change, the realm's compiled view is dropped here and on the other
    /// instances (the store bumped its revision).
    fn changed(&self, realm_id: Uuid) {
        crate::authz::Authz::new(self.i).invalidate(realm_id);
        self.i.announce(crate::notices::Notice::Authz { realm_id });
    }

    /// Deletes the images of documents decided longer ago than the
    /// retention period, each deletion audited. Returns how many documents
    /// lost their images.
    pub async fn purge_document_images(&self) -> Result<u64> {
        let now = self.i.clock.now();
        let before = now - self.i.settings.document_retention;
        let mut purged = 0u64;
        loop {
            let batch = self
                .i
                .store
                .documents_past_retention(before, PURGE_BATCH)
                .await?;
            let full = batch.len() as u64 == PURGE_BATCH;
            let mut progressed = false;
            for (realm_id, id, user_id) in batch {
                if !self
                    .i
                    .store
                    .delete_document_images(realm_id, id, now)
                    .await?
                {
                    continue;
                }
                progressed = true;
                purged += 1;
                metrics::counter!("portcullis_verifications_total", "kind" => "document", "outcome" => "images_deleted").increment(1);
                crate::audit::event(
                    self.i,
                    realm_id,
                    None,
                    "verification.document.images_deleted",
                    format!("user:{user_id}"),
                    serde_json::json!({
                        "document_id": id,
                        "retention_days": self.i.settings.document_retention.whole_days(),
                    }),
                )
                .await;
            }
            if !full || !progressed {
                break;
            }
        }
        Ok(purged)
    }
}

/// Counts a verification event.
fn count(kind: &'static str, outcome: &'static str) {
    metrics::counter!("portcullis_verifications_total", "kind" => kind, "outcome" => outcome)
        .increment(1);
}
