//! The edge: realms' rate-limit policies and service keys in storage, and
//! the state the edge defences share between requests (in process, or
//! Redis when several instances must share it).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;

/// Realms' rate-limit policies (absent: the server's default applies).
#[async_trait]
pub trait EdgeStore: Send + Sync {
    /// A realm's own policy, if it has one.
    async fn get_rate_limit_policy(
        &self,
        realm_id: Uuid,
    ) -> StoreResult<Option<crate::edge::RateLimitPolicy>>;
    /// Sets a realm's policy.
    async fn put_rate_limit_policy(
        &self,
        realm_id: Uuid,
        policy: &crate::edge::RateLimitPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Drops a realm's policy; false when it had none.
    async fn delete_rate_limit_policy(&self, realm_id: Uuid) -> StoreResult<bool>;
    /// Stores a new service key; `Conflict` when its name is taken in the realm.
    async fn create_service_key(&self, key: &crate::service_keys::ServiceKey) -> StoreResult<()>;
    /// A key of a realm.
    async fn get_service_key(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<crate::service_keys::ServiceKey>>;
    /// A realm's keys by name, at most `limit`.
    async fn list_service_keys(
        &self,
        realm_id: Uuid,
        limit: u64,
    ) -> StoreResult<Vec<crate::service_keys::ServiceKey>>;
    /// Replaces a key's secrets, expiry, revocation and `updated_at`.
    async fn update_service_key(&self, key: &crate::service_keys::ServiceKey) -> StoreResult<bool>;
    /// Records a key's use at `at`.
    async fn touch_service_key(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Deletes a key; false when there was none.
    async fn delete_service_key(&self, realm_id: Uuid, id: Uuid) -> StoreResult<bool>;
}

/// State the edge defences share between requests (and, behind Redis,
/// between instances): limiter windows, strikes and blocks, single-use
/// values. Every method answers from memory or one round trip; none fails:
/// an implementation that loses its backing store says so in its logs and
/// answers as its documentation says (the in-process one cannot fail).
#[async_trait]
pub trait EdgeState: Send + Sync + 'static {
    /// Counts one request against every limiter in `limits`, or against
    /// none when one of them is exhausted: `Ok` with the tightest limiter
    /// passed (`None` for no limiters), or `Err` with the one that refused.
    async fn take(
        &self,
        limits: &[(crate::edge::LimitKey, crate::edge::Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<crate::edge::Limited>, crate::edge::Limited>;
    /// [`EdgeState::blocked`] for `subjects`, then, when none is blocked,
    /// [`EdgeState::take`] for `limits` (none: only the blocks are
    /// checked). State behind a round trip answers both in one.
    async fn admit(
        &self,
        realm_id: Uuid,
        subjects: &[crate::edge::Subject],
        limits: &[(crate::edge::LimitKey, crate::edge::Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<crate::edge::Limited>, crate::edge::Stopped> {
        if let Some(b) = self.blocked(realm_id, subjects, now).await {
            return Err(crate::edge::Stopped::Blocked(b));
        }
        if limits.is_empty() {
            return Ok(None);
        }
        self.take(limits, now)
            .await
            .map_err(crate::edge::Stopped::Limited)
    }
    /// Counts `strikes` against a caller; returns the block that begins
    /// when they reach the rules' threshold.
    async fn strike(
        &self,
        realm_id: Uuid,
        subject: &crate::edge::Subject,
        strikes: u32,
        reason: crate::edge::BlockReason,
        rules: &crate::edge::StrikeRules,
        now: OffsetDateTime,
    ) -> Option<crate::edge::Block>;
    /// The live block of the first of `subjects` that has one.
    async fn blocked(
        &self,
        realm_id: Uuid,
        subjects: &[crate::edge::Subject],
        now: OffsetDateTime,
    ) -> Option<crate::edge::Block>;
    /// The live blocks of a realm, newest first.
    async fn blocks(&self, realm_id: Uuid, now: OffsetDateTime) -> Vec<crate::edge::Block>;
    /// Lifts a block of a realm, returning it; `None` when there is no such block.
    async fn lift(&self, realm_id: Uuid, id: Uuid) -> Option<crate::edge::Block>;
    /// Records `key` until `until`; false when it is still recorded.
    async fn first_use(&self, key: &str, until: OffsetDateTime, now: OffsetDateTime) -> bool;
    /// Forgets what no longer matters at `now`.
    async fn purge(&self, now: OffsetDateTime);
    /// Reads a realm's blocks again: another instance made or lifted one
    /// ([`crate::notices::Notice::Blocks`]). State held elsewhere keeps a
    /// copy of the blocks to check requests it answers without a round
    /// trip; state in process has nothing to do.
    async fn refresh_blocks(&self, _realm_id: Uuid, _now: OffsetDateTime) {}
    /// The same state answering at once, when it is held in this process
    /// (`None` for state behind a round trip): the edge's hot path then
    /// neither allocates a future nor waits.
    fn local(&self) -> Option<&dyn LocalEdgeState> {
        None
    }
}

/// [`EdgeState`]'s checks answered without waiting, by state in this process.
pub trait LocalEdgeState: Send + Sync {
    /// [`EdgeState::blocked`], at once.
    fn blocked_now(
        &self,
        realm_id: Uuid,
        subjects: &[crate::edge::Subject],
        now: OffsetDateTime,
    ) -> Option<crate::edge::Block>;
    /// [`EdgeState::take`], at once: `Err` when a limiter refuses, or, for
    /// state held partly elsewhere, when it cannot answer here; the caller
    /// then asks [`EdgeState::take`].
    fn take_now(
        &self,
        limits: &[(crate::edge::LimitKey, crate::edge::Quota)],
        now: OffsetDateTime,
    ) -> Result<Option<crate::edge::Limited>, crate::edge::Limited>;
}
