//! The storage ports core needs. Only the `store` crate implements them.
//!
//! Every realm-owned method takes the realm id and must filter by it: tenant
//! isolation is enforced by the implementation, never left to callers.
//! Times are always passed in from the domain's [`crate::Clock`]; an
//! implementation never reads the database's or the system's clock. Times are
//! kept at microsecond precision.
//!
//! Conventions of every implementation: a unique violation is
//! `StoreError::Conflict`; a missing parent row (a foreign key) is
//! `StoreError::NotFound`.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::StoreError;
use crate::model::client::OAuthClient;
use crate::model::mfa::{ChallengeOtp, MfaChallenge, MfaFactor, WebauthnCeremony};
use crate::model::risk::{Baseline, KnownDevice, RiskPolicy};
use crate::model::{
    AuditRecord, AuthCode, AuthzChange, CodeOutcome, Consent, Email, Page, Realm, RealmName,
    RefreshToken, RotateOutcome, Session, StoredSigningKey, User, UserQuery,
};

mod edge;
mod federation;
mod mail;
mod orgs;
mod profile;
mod scim;
mod transfer;
mod verification;

pub use edge::{EdgeState, EdgeStore, LocalEdgeState};
pub use federation::FederationStore;
pub use mail::{MailStore, Mailer, MxResolver, SmsSender};
pub use orgs::{OrganizationExtrasStore, OrganizationStore, TxtResolver};
pub use profile::ProfileStore;
pub use scim::ScimStore;
pub use transfer::{ExistingUser, TransferStore};
pub use verification::VerificationStore;

/// The bus change notices travel on between the instances of a deployment
/// ([`crate::notices`]): Redis pub/sub with `PORTCULLIS_REDIS_URL`.
#[async_trait::async_trait]
pub trait Notices: Send + Sync + 'static {
    /// Sends a notice to the other instances (best effort: a lost notice
    /// costs what the caches' times to live bound; the implementation logs
    /// and counts failures).
    async fn publish(&self, notice: &crate::notices::Notice);
}

/// Result of a storage call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Realms.
#[async_trait]
pub trait RealmStore: Send + Sync {
    /// Inserts a realm. `Conflict` when the name is taken.
    async fn create_realm(&self, realm: &Realm) -> StoreResult<()>;
    /// A realm by id.
    async fn get_realm(&self, id: Uuid) -> StoreResult<Option<Realm>>;
    /// A realm by name.
    async fn get_realm_by_name(&self, name: &RealmName) -> StoreResult<Option<Realm>>;
    /// All realms, ordered by name.
    async fn list_realms(&self) -> StoreResult<Vec<Realm>>;
    /// Updates display name, enabled, signing algorithm, password policy,
    /// time zone, roles claim, the e-mail settings, the roles that require
    /// MFA and `updated_at`.
    /// `NotFound` when the realm does not exist.
    async fn update_realm(&self, realm: &Realm) -> StoreResult<()>;
    /// Deletes a realm and everything it owns. Returns whether it existed.
    async fn delete_realm(&self, id: Uuid) -> StoreResult<bool>;
}

/// Users of a realm.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user. `Conflict` when the realm already has the email (case-insensitively).
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// A user by id within a realm.
    async fn get_user(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<User>>;
    /// A user by email within a realm, matched case-insensitively.
    async fn get_user_by_email(&self, realm_id: Uuid, email: &Email) -> StoreResult<Option<User>>;
    /// Users of a realm ordered by id (creation order), filtered and paginated.
    async fn list_users(&self, realm_id: Uuid, query: &UserQuery) -> StoreResult<Page<User>>;
    /// Updates every mutable field of a user (email, name, password hash, active,
    /// email_verified, updated_at, last_login_at). `NotFound` if absent, `Conflict` on a duplicate email.
    async fn update_user(&self, user: &User) -> StoreResult<()>;
    /// Deletes a user and everything it owns (sessions, tokens). Returns whether it existed.
    async fn delete_user(&self, realm_id: Uuid, id: Uuid) -> StoreResult<bool>;
}

/// Sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts a session.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// A session by id within a realm (revoked or not).
    async fn get_session(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<Session>>;
    /// A user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn list_active_sessions(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<Session>>;
    /// Records a use of a session (login, refresh): last-used time and IP
    /// (`None` keeps the last known IP). Unknown sessions are ignored.
    async fn touch_session(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
        ip: Option<&str>,
    ) -> StoreResult<()>;
    /// A browser session by the SHA-256 digest of its cookie's secret
    /// (revoked or not: the caller checks).
    async fn get_session_by_secret(
        &self,
        realm_id: Uuid,
        secret_hash: &[u8],
    ) -> StoreResult<Option<Session>>;
    /// Revokes one session, the unrevoked client sessions under it
    /// (`parent_id`), and every refresh token in them, in one transaction.
    /// Returns the ids of the sessions revoked: empty when the session does
    /// not exist or was already revoked.
    async fn revoke_session(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<Uuid>>;
    /// Revokes every unrevoked session of a user (except `keep`, if given) and their
    /// refresh tokens, in one transaction. Returns the ids of the sessions revoked.
    async fn revoke_user_sessions(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        keep: Option<Uuid>,
        at: OffsetDateTime,
    ) -> StoreResult<Vec<Uuid>>;
    /// Sessions (of any realm) revoked at or after `since`: (realm id, session id).
    /// Used to warm the in-memory denylist at start-up.
    async fn sessions_revoked_since(&self, since: OffsetDateTime)
    -> StoreResult<Vec<(Uuid, Uuid)>>;
    /// Number of sessions (all realms) neither revoked nor expired at `now`.
    async fn count_active_sessions(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// Refresh tokens.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync {
    /// Inserts a refresh token (the first of a family, at login).
    async fn insert_refresh_token(&self, token: &RefreshToken) -> StoreResult<()>;
    /// Presents a token by its digest and, in one transaction: when it was
    /// issued to `client_id` (`None`: the first-party API, whose tokens have
    /// no client), is unused,
    /// unrevoked, unexpired at `now` and its session is not revoked, marks it used
    /// (a conditional update, so of two racing calls exactly one wins), inserts
    /// `replacement` with the spent token's family, session, user, client and scope
    /// (overwriting those fields of `replacement`), touches the session (`now`, `ip`)
    /// and returns `Rotated`. A token already used returns `Reused` and changes
    /// nothing, even when it has since expired or been revoked, so replays stay
    /// detectable; anything else (unknown, expired, revoked, another
    /// client's, used or not) returns `Invalid` and changes nothing.
    async fn rotate_refresh_token(
        &self,
        realm_id: Uuid,
        client_id: Option<&str>,
        presented_hash: &[u8],
        replacement: &RefreshToken,
        now: OffsetDateTime,
        ip: Option<&str>,
    ) -> StoreResult<RotateOutcome>;
    /// A refresh token by its digest (used, revoked or expired alike: the
    /// caller checks), to see whom it belongs to before spending it.
    async fn get_refresh_token(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
    ) -> StoreResult<Option<RefreshToken>>;
    /// Revokes every token of a family. Returns how many were newly revoked.
    async fn revoke_refresh_family(
        &self,
        realm_id: Uuid,
        family_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Deletes tokens (all realms) that expired before `before`. Returns how many.
    async fn purge_expired_refresh_tokens(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Signing keys.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Inserts a key.
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
    /// All keys of a realm, newest first.
    async fn list_signing_keys(&self, realm_id: Uuid) -> StoreResult<Vec<StoredSigningKey>>;
    /// In one transaction: every active key of the realm with `new_key`'s algorithm
    /// becomes inactive with `retire_after = old_retire_after`, and `new_key` is
    /// inserted as active (whatever its `active` field says).
    async fn rotate_signing_key(
        &self,
        new_key: &StoredSigningKey,
        old_retire_after: OffsetDateTime,
    ) -> StoreResult<()>;
}

/// Revocations recorded since some time, as [`DenylistStore::revocations_since`]
/// reads them for the instances sharing a database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revocations {
    /// Revoked access-token ids: (jti, expires_at, revoked_at).
    pub tokens: Vec<(Uuid, OffsetDateTime, OffsetDateTime)>,
    /// Ended sessions: (session id, revoked_at).
    pub sessions: Vec<(Uuid, OffsetDateTime)>,
    /// Deactivated or deleted accounts: (user id, the time of the change).
    pub users: Vec<(Uuid, OffsetDateTime)>,
}

impl Revocations {
    /// The latest time recorded, if any.
    pub fn latest(&self) -> Option<OffsetDateTime> {
        let tokens = self.tokens.iter().map(|t| t.2);
        let sessions = self.sessions.iter().map(|s| s.1);
        let users = self.users.iter().map(|u| u.1);
        tokens.chain(sessions).chain(users).max()
    }

    /// How many revocations.
    pub fn len(&self) -> usize {
        self.tokens.len() + self.sessions.len() + self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The persistent half of the access-token denylist.
#[async_trait]
pub trait DenylistStore: Send + Sync {
    /// Records a revoked access-token id, revoked at `revoked_at`, until it
    /// would have expired (idempotent).
    async fn insert_revoked_token(
        &self,
        realm_id: Uuid,
        jti: Uuid,
        expires_at: OffsetDateTime,
        revoked_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Revocations (all realms) recorded at or after `since`: revoked token
    /// ids, ended sessions and deactivated or deleted accounts, each with the time it
    /// was recorded. Read by every instance at a sub-second interval, so
    /// each of the three is an indexed range read.
    async fn revocations_since(&self, since: OffsetDateTime) -> StoreResult<Revocations>;
    /// Records that an account is being deleted (its row and sessions
    /// will be gone), for [`Self::revocations_since`] (idempotent).
    async fn insert_deleted_user(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Deletes the deleted-account records from before `before`. Returns how many.
    async fn purge_deleted_users(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// Revoked token ids (all realms) that expire after `now`: (realm id, jti, expires_at).
    async fn list_revoked_tokens(
        &self,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<(Uuid, Uuid, OffsetDateTime)>>;
    /// Deletes entries that expired before `before`. Returns how many.
    async fn purge_revoked_tokens(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Failed-login records used for lockout and per-IP limits.
#[async_trait]
pub trait LoginFailureStore: Send + Sync {
    /// Records a failure for a key (`acct:<email>` or `ip:<address>`).
    async fn record_login_failure(
        &self,
        realm_id: Uuid,
        key: &str,
        at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Times of a key's failures at or after `since`, oldest first.
    async fn login_failures_since(
        &self,
        realm_id: Uuid,
        key: &str,
        since: OffsetDateTime,
    ) -> StoreResult<Vec<OffsetDateTime>>;
    /// Forgets a key's failures (after a successful login).
    async fn clear_login_failures(&self, realm_id: Uuid, key: &str) -> StoreResult<()>;
    /// Deletes failures (all realms) older than `before`. Returns how many.
    async fn purge_login_failures(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// A realm's authorization data (roles, groups, grants, policies), its
/// revision and the audit table.
#[async_trait]
pub trait AuthzStore: Send + Sync {
    /// Every role, group, membership, grant and policy of the realm, read in
    /// one consistent transaction, with the revision it was read at. Expired
    /// grants may be included: the engine ignores them by time.
    async fn authz_snapshot(
        &self,
        realm_id: Uuid,
    ) -> StoreResult<portcullis_policy::model::RealmSnapshot>;
    /// The realm's current authorization revision (0 for a new realm).
    async fn authz_revision(&self, realm_id: Uuid) -> StoreResult<i64>;
    /// Applies one change, appends `audit` and bumps the realm's revision, all
    /// in one transaction; returns the new revision. With `expected_revision`,
    /// fails with `Stale` unless the revision is still that value (optimistic
    /// concurrency for changes validated against a snapshot). `Conflict` on a
    /// duplicate role, group or policy name; `NotFound` when the changed or
    /// referenced role, group, user or policy does not exist in the realm.
    async fn apply_authz_change(
        &self,
        realm_id: Uuid,
        expected_revision: Option<i64>,
        change: &AuthzChange,
        audit: &AuditRecord,
    ) -> StoreResult<i64>;
    /// Appends audit records on their own (denied checks, for instance), all
    /// or none: one failing record (its realm is gone) fails the call.
    async fn append_audit(&self, records: &[AuditRecord]) -> StoreResult<()>;

    /// The realm's permission catalogue: `(permission, description)`, sorted
    /// by permission.
    async fn list_defined_permissions(
        &self,
        realm_id: Uuid,
    ) -> StoreResult<Vec<(String, Option<String>)>>;
    /// The realm's latest audit records, newest first.
    async fn list_audit(&self, realm_id: Uuid, limit: u32) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes memberships and grants (all realms) whose `expires_at` is at or
    /// before `now`. Does not bump revisions: expired grants already never
    /// count. Returns how many rows went.
    async fn purge_expired_grants(&self, now: OffsetDateTime) -> StoreResult<u64>;
}

/// OAuth clients of a realm.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts a client. `Conflict` when the realm already has its `client_id`.
    async fn create_client(&self, client: &OAuthClient) -> StoreResult<()>;
    /// A client by `client_id` within a realm.
    async fn get_client(&self, realm_id: Uuid, client_id: &str)
    -> StoreResult<Option<OAuthClient>>;
    /// The realm's clients ordered by `client_id`.
    async fn list_clients(&self, realm_id: Uuid) -> StoreResult<Vec<OAuthClient>>;
    /// Updates every mutable field (all but ids and `created_at`). `NotFound`
    /// when absent.
    async fn update_client(&self, client: &OAuthClient) -> StoreResult<()>;
    /// Deletes a client and, in the same transaction, its consents and
    /// authorization codes, and revokes its client sessions (`client_id`)
    /// with their refresh tokens, at `at`. Returns the ids of the sessions
    /// revoked, or `None` when the client did not exist.
    async fn delete_client(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Vec<Uuid>>>;
}

/// Authorization codes and consents of the OpenID Provider.
#[async_trait]
pub trait OAuthStore: Send + Sync {
    /// Inserts an authorization code. `Conflict` on a duplicate digest.
    async fn insert_auth_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Redeems a code by its digest with one conditional update: when it is
    /// unused, sets `used_at = now` and `grant_session_id` and returns
    /// `Consumed` with the updated record, so of two racing redemptions
    /// exactly one wins. A code used before returns `Reused` (changing
    /// nothing); an unknown one `Invalid`. Expiry is not checked here.
    async fn consume_auth_code(
        &self,
        realm_id: Uuid,
        code_hash: &[u8],
        grant_session_id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<CodeOutcome>;
    /// Deletes codes (all realms) that expired before `before`. Returns how many.
    async fn purge_auth_codes(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// A user's consent to a client.
    async fn get_consent(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Consent>>;
    /// Inserts or replaces (scopes, `updated_at`) a user's consent to a client.
    /// `NotFound` when the user or the client does not exist.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
    /// A user's consents ordered by `client_id`.
    async fn list_consents(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Vec<Consent>>;
    /// Withdraws a consent. Returns whether it existed.
    async fn delete_consent(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<bool>;
}

/// Second factors, backup codes and login challenges ([`crate::mfa`]).
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// Inserts a factor.
    async fn insert_factor(&self, factor: &MfaFactor) -> StoreResult<()>;
    /// A user's factors, oldest first.
    async fn list_factors(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Vec<MfaFactor>>;
    /// Marks a pending factor confirmed; false when there is no such
    /// pending factor.
    async fn confirm_factor(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Records that a TOTP factor accepted the code of `step`, only when no
    /// code of that step or a later one was accepted before (one
    /// conditional update); false otherwise.
    async fn use_totp_step(
        &self,
        realm_id: Uuid,
        id: Uuid,
        step: i64,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Deletes a factor of a user; false when there was none.
    async fn delete_factor(&self, realm_id: Uuid, user_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Replaces every backup code of a user with these digests (none: the
    /// user has no codes), in one transaction.
    async fn replace_backup_codes(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        digests: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Spends an unused backup code (one conditional update); false when
    /// there is no unused code with this digest.
    async fn consume_backup_code(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        digest: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// How many unused backup codes a user has.
    async fn count_backup_codes(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<u64>;
    /// Inserts a login challenge.
    async fn insert_challenge(&self, challenge: &MfaChallenge) -> StoreResult<()>;
    /// The challenge whose token has this digest.
    async fn find_challenge(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
    ) -> StoreResult<Option<MfaChallenge>>;
    /// Counts a wrong code against an open challenge, ending it at
    /// `max_failures`.
    async fn fail_challenge(
        &self,
        realm_id: Uuid,
        id: Uuid,
        max_failures: u32,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Spends an open challenge (one conditional update); false when it was
    /// spent or ended already.
    async fn consume_challenge(
        &self,
        realm_id: Uuid,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Deletes challenges that expired before `before`.
    async fn purge_challenges(&self, before: OffsetDateTime) -> StoreResult<u64>;
    /// Stores a new one-time code on a challenge, replacing any earlier one,
    /// with one conditional update that applies only while the challenge is
    /// open at `now` (not consumed, `expires_at > now`), fewer than
    /// `max_sends` codes were stored on it, and the last one (if any) was
    /// stored at or before `resend_after`. It also sets the challenge's
    /// expiry to `expires_at`, counts the send and records `now` as its
    /// time. Returns whether it applied.
    #[allow(clippy::too_many_arguments)]
    async fn set_challenge_otp(
        &self,
        realm_id: Uuid,
        id: Uuid,
        otp: &ChallengeOtp,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        resend_after: OffsetDateTime,
        max_sends: u32,
    ) -> StoreResult<bool>;
    /// Spends an open challenge with its one-time code (one conditional
    /// update): only while the challenge is open at `now`, its code has
    /// the digest `code_hash` and has not expired at `now`. Of two racing
    /// uses exactly one wins, and a code replaced meanwhile fails.
    async fn consume_challenge_otp(
        &self,
        realm_id: Uuid,
        id: Uuid,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Replaces a WebAuthn factor's stored passkey (its signature counter
    /// moved) and records its use.
    async fn update_factor_credential(
        &self,
        realm_id: Uuid,
        id: Uuid,
        credential: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Stores a WebAuthn ceremony; one of a login challenge replaces the
    /// challenge's earlier ones.
    async fn insert_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()>;
    /// Takes (reads and deletes, in one statement) the ceremony `id`.
    async fn take_ceremony(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<WebauthnCeremony>>;
    /// Takes the ceremony of a login challenge.
    async fn take_challenge_ceremony(
        &self,
        realm_id: Uuid,
        challenge_id: Uuid,
    ) -> StoreResult<Option<WebauthnCeremony>>;
    /// Deletes ceremonies that expired before `before`.
    async fn purge_ceremonies(&self, before: OffsetDateTime) -> StoreResult<u64>;
}

/// Adaptive security: session baselines, known devices, realm policies
/// ([`crate::risk`]).
#[async_trait]
pub trait RiskStore: Send + Sync {
    /// A session's baseline.
    async fn get_baseline(&self, realm_id: Uuid, session_id: Uuid)
    -> StoreResult<Option<Baseline>>;
    /// Sets a session's baseline.
    async fn put_baseline(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        session_id: Uuid,
        baseline: &Baseline,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
    /// A user's known devices, most recently seen first.
    async fn list_devices(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Vec<KnownDevice>>;
    /// Inserts a device, or updates its last sign-in (keeping its first).
    async fn upsert_device(&self, device: &KnownDevice) -> StoreResult<()>;
    /// Forgets a device; false when there was none.
    async fn delete_device(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        fingerprint: &str,
    ) -> StoreResult<bool>;
    /// A realm's policy, if one was set.
    async fn get_risk_policy(&self, realm_id: Uuid) -> StoreResult<Option<RiskPolicy>>;
    /// Sets a realm's policy.
    async fn put_risk_policy(
        &self,
        realm_id: Uuid,
        policy: &RiskPolicy,
        now: OffsetDateTime,
    ) -> StoreResult<()>;
}

/// Everything core needs from storage, implemented by one type per backend.
#[async_trait]
pub trait Store:
    RealmStore
    + UserStore
    + SessionStore
    + RefreshTokenStore
    + SigningKeyStore
    + DenylistStore
    + LoginFailureStore
    + AuthzStore
    + ClientStore
    + OAuthStore
    + MfaStore
    + RiskStore
    + MailStore
    + FederationStore
    + EdgeStore
    + OrganizationStore
    + OrganizationExtrasStore
    + TransferStore
    + ProfileStore
    + ScimStore
    + VerificationStore
    + Send
    + Sync
    + 'static
{
    /// Cheap round trip proving the database answers (for `/health/ready`).
    async fn ping(&self) -> StoreResult<()>;
    /// Backend name for health output: `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;
}
