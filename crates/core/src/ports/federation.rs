//! Federation: identity providers, social accounts and federation attempts.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;
use crate::model::federation::{FederationAttempt, IdentityProvider, SocialAccount};

/// Identity providers, social accounts and federation attempts.
#[async_trait]
pub trait FederationStore: Send + Sync {
    /// Inserts a provider. `Conflict` when the realm has the alias;
    /// `NotFound` when the realm does not exist.
    async fn create_provider(&self, provider: &IdentityProvider) -> StoreResult<()>;
    /// A provider by alias within a realm.
    async fn get_provider(
        &self,
        realm_id: Uuid,
        alias: &str,
    ) -> StoreResult<Option<IdentityProvider>>;
    /// A realm's providers, ordered by alias.
    async fn list_providers(&self, realm_id: Uuid) -> StoreResult<Vec<IdentityProvider>>;
    /// Replaces a provider's kind, display name, enabled flag, settings,
    /// sealed secret and `updated_at` (found by realm and id). `NotFound`
    /// when absent.
    async fn update_provider(&self, provider: &IdentityProvider) -> StoreResult<()>;
    /// Deletes a provider with its social accounts and attempts. Returns
    /// whether it existed.
    async fn delete_provider(&self, realm_id: Uuid, alias: &str) -> StoreResult<bool>;

    /// Inserts a link. `Conflict` when the pair (provider, subject) is
    /// linked already or the user has a link to this provider; `NotFound`
    /// when the user or provider does not exist.
    async fn insert_social_account(&self, account: &SocialAccount) -> StoreResult<()>;
    /// The link of an upstream subject.
    async fn find_social_account(
        &self,
        realm_id: Uuid,
        provider_id: Uuid,
        subject: &str,
    ) -> StoreResult<Option<SocialAccount>>;
    /// A user's links, oldest first.
    async fn list_social_accounts(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Vec<SocialAccount>>;
    /// Records a sign-in through a link: its e-mail, name and
    /// `last_login_at`. `NotFound` when absent.
    async fn touch_social_account(
        &self,
        realm_id: Uuid,
        id: Uuid,
        email: Option<&str>,
        name: Option<&str>,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Deletes one of a user's links. Returns whether it existed.
    async fn delete_social_account(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        id: Uuid,
    ) -> StoreResult<bool>;

    /// Inserts an attempt. `Conflict` on a duplicate `token_hash`.
    async fn insert_federation_attempt(&self, attempt: &FederationAttempt) -> StoreResult<()>;
    /// Takes an attempt by the digest of its handle: deletes it and returns
    /// it if it had not expired at `now`. Of concurrent takes exactly one
    /// gets it.
    async fn take_federation_attempt(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<FederationAttempt>>;
    /// An attempt by the digest of its handle, if it has not expired at
    /// `now`, without taking it.
    async fn peek_federation_attempt(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<FederationAttempt>>;
    /// Deletes attempts that expired before `before`.
    async fn purge_federation_attempts(&self, before: OffsetDateTime) -> StoreResult<u64>;
}
