//! Mail: the outbox, templates and e-mail tokens in storage, and the
//! adapters outside core that deliver mail and SMS and look up MX records.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreResult;
use crate::model::mail::{
    EmailToken, EmailTokenPurpose, MailKind, MailTemplate, MxAnswer, OutboxMessage, OutgoingMail,
    SendError,
};
use crate::model::mfa::OutgoingSms;

/// The mail outbox, per-realm mail templates and single-use e-mail tokens
/// (verification and password-reset links).
///
/// The outbox is drained by a worker of any instance: messages are claimed
/// with a conditional update that takes a lease (`lease_id` until
/// `lease_until`), so two instances never hold one message at once, and a
/// message is settled only by the holder of its lease.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Inserts a pending message. `NotFound` when its realm does not exist.
    async fn enqueue_mail(&self, message: &OutboxMessage) -> StoreResult<()>;
    /// Claims up to `limit` messages (all realms) that are pending, due
    /// (`next_attempt_at <= now`) and not leased (no lease, or one that
    /// ended at or before `now`), oldest due first: each with one
    /// conditional update setting `lease_id` and `lease_until`, so of two
    /// racing claimers exactly one gets a message. Returns the claimed
    /// messages as updated.
    async fn claim_mail(
        &self,
        lease_id: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>>;
    /// Settles a claimed message as sent at `at`: status `Sent`, one more
    /// attempt, `sealed` cleared, lease released. Only while `lease_id`
    /// still holds it; returns whether it did.
    async fn mark_mail_sent(
        &self,
        id: Uuid,
        lease_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records a failed attempt of a claimed message: `attempts` and
    /// `last_error`, the lease released, and either `retry_at` as the next
    /// attempt or, with `None`, status `Failed` with `sealed` cleared (given
    /// up). Only while `lease_id` still holds it; returns whether it did.
    async fn mark_mail_failed(
        &self,
        id: Uuid,
        lease_id: Uuid,
        attempts: u32,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> StoreResult<bool>;
    /// A message of a realm by id.
    async fn get_mail(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<OutboxMessage>>;
    /// A realm's latest messages (any status), newest first.
    async fn list_mail(&self, realm_id: Uuid, limit: u32) -> StoreResult<Vec<OutboxMessage>>;
    /// Deletes sent or failed messages (all realms) created before `before`.
    /// Returns how many.
    async fn purge_mail(&self, before: OffsetDateTime) -> StoreResult<u64>;

    /// A realm's override of a kind's template.
    async fn get_mail_template(
        &self,
        realm_id: Uuid,
        kind: MailKind,
    ) -> StoreResult<Option<MailTemplate>>;
    /// Inserts or replaces a realm's override of a kind's template.
    /// `NotFound` when the realm does not exist.
    async fn put_mail_template(&self, template: &MailTemplate) -> StoreResult<()>;
    /// Deletes a realm's override of a kind. Returns whether it existed.
    async fn delete_mail_template(&self, realm_id: Uuid, kind: MailKind) -> StoreResult<bool>;

    /// Inserts a token. `Conflict` on a duplicate digest; `NotFound` when the
    /// user does not exist in the realm.
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()>;
    /// A token of a purpose by digest (used or expired alike: the caller checks).
    async fn get_email_token(
        &self,
        realm_id: Uuid,
        purpose: EmailTokenPurpose,
        token_hash: &[u8],
    ) -> StoreResult<Option<EmailToken>>;
    /// Spends a token with one conditional update: when it is unused and
    /// unexpired at `now`, sets `used_at = now` and returns it, so of two
    /// racing uses exactly one gets it. Anything else returns `None` and
    /// changes nothing.
    async fn consume_email_token(
        &self,
        realm_id: Uuid,
        purpose: EmailTokenPurpose,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<EmailToken>>;
    /// Spends every unused token of a user for a purpose at `at`. Returns how many.
    async fn spend_email_tokens(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Deletes tokens (all realms) that expired before `before`. Returns how many.
    async fn purge_email_tokens(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Sends one message by e-mail (SMTP in production). Implemented outside core.
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    /// Sends a message. The error's text must not contain secrets.
    async fn send(&self, mail: &OutgoingMail) -> Result<(), SendError>;
}

/// Sends one text message (an HTTP gateway in production). Implemented
/// outside core; core calls it on a task of its own, never on a request's
/// path.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Sends a message, retrying transient failures itself. The error's
    /// text must contain neither the message nor any secret.
    async fn send(&self, sms: &OutgoingSms) -> Result<(), SendError>;
}

/// Looks up whether a domain receives mail (its MX records). Implemented
/// outside core (a DNS resolver), replaced by a fake in tests.
#[async_trait]
pub trait MxResolver: Send + Sync + 'static {
    /// Whether `domain` (lower-case ASCII or IDNA) has a mail server.
    async fn mail_domain(&self, domain: &str) -> MxAnswer;
}
