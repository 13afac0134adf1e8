//! Verification in storage: users' phone verifications, the identity
//! documents they submit, and each realm's webhook secret. A user's rows go
//! with the user, a realm's with the realm. Every change of a verification
//! state bumps the realm's authorization revision in its transaction: the
//! states are subject attributes of the policy engine.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;
use crate::verification::model::{DocumentStatus, IdentityDocument, PhoneVerification};

/// Phone and document verification.
#[async_trait]
pub trait VerificationStore: Send + Sync {
    /// A user's phone verification.
    async fn get_phone_verification(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<PhoneVerification>>;
    /// Stores (or replaces) a user's phone verification. `NotFound` when
    /// the user is not of the realm.
    async fn put_phone_verification(&self, v: &PhoneVerification) -> StoreResult<()>;
    /// Marks the user's pending verification of `phone` through
    /// `challenge_id` verified at `at` (one conditional update); false when
    /// it changed meanwhile or was verified already.
    async fn mark_phone_verified(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        phone: &str,
        challenge_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Removes a user's phone verification; false when there was none.
    async fn delete_phone_verification(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<bool>;
    /// Inserts a submitted document. `NotFound` when the user is not of
    /// the realm.
    async fn insert_document(&self, doc: &IdentityDocument) -> StoreResult<()>;
    /// A document of the realm, with its images.
    async fn get_document(&self, realm_id: Uuid, id: Uuid)
    -> StoreResult<Option<IdentityDocument>>;
    /// A user's documents, newest first.
    async fn list_documents(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Vec<IdentityDocument>>;
    /// Decides a pending document (one conditional update); false when it
    /// is not pending (decided already, or unknown).
    async fn decide_document(
        &self,
        realm_id: Uuid,
        id: Uuid,
        status: DocumentStatus,
        reason: Option<&str>,
        decided_by: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Up to `limit` documents of every realm decided before `before` that
    /// still hold images: `(realm_id, id, user_id)`, oldest decision first.
    async fn documents_past_retention(
        &self,
        before: OffsetDateTime,
        limit: u64,
    ) -> StoreResult<Vec<(Uuid, Uuid, Uuid)>>;
    /// Deletes a decided document's images, recording `at` (one
    /// conditional update); false when they were deleted already.
    async fn delete_document_images(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// The realm's sealed webhook secret.
    async fn get_webhook_secret(&self, realm_id: Uuid) -> StoreResult<Option<Vec<u8>>>;
    /// Stores (or replaces) the realm's sealed webhook secret. `NotFound`
    /// for an unknown realm.
    async fn put_webhook_secret(
        &self,
        realm_id: Uuid,
        sealed: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<()>;
}
