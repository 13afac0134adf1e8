//! The composition of core: one [`Portcullis`] value holding the store, the
//! clock, settings and in-memory state, handing out the domain services.

use std::sync::Arc;

use dashmap::DashMap;
use portcullis_crypto::{MasterKey, PasswordHasher};
use time::Duration;

use crate::accounts::Accounts;
use crate::clock::SharedClock;
use crate::denylist::Denylist;
use crate::error::Result;
use crate::keys::Keys;
use crate::model::Realm;
use crate::passwords::Passwords;
use crate::ports::Store;
use crate::realms::Realms;
use crate::settings::Settings;
use crate::users::Users;

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: SharedClock,
    pub(crate) settings: Settings,
    pub(crate) passwords: Passwords,
    pub(crate) keys: Keys,
    pub(crate) denylist: Denylist,
    /// Where this instance's reads of other instances' revocations stand.
    pub(crate) revocations: crate::revocation::SyncState,
    /// Sessions' facts for the per-request zero-trust check.
    pub(crate) sessions: crate::zero_trust::SessionCache,
    pub(crate) verified: crate::verified::VerifiedTokens,
    /// Compiled authorization views by realm.
    pub(crate) authz: crate::authz::AuthzState,
    /// Audit records written off the request's path.
    pub(crate) audit: crate::audit::AuditWriter,
    /// Realms by name (only realms that exist are ever inserted).
    pub(crate) realm_cache: DashMap<String, Arc<Realm>, foldhash::fast::RandomState>,
    /// The GeoIP database, when one is configured.
    pub(crate) geoip: crate::risk::service::GeoIpSlot,
    /// OAuth clients, read on every token request.
    pub(crate) client_cache: crate::clients::ClientCache,
    /// Encrypts secrets at rest (queued mail bodies).
    pub(crate) master: Arc<MasterKey>,
    /// Sends queued mail; `None` keeps it queued.
    pub(crate) mailer: Option<Arc<dyn crate::ports::Mailer>>,
    /// MX look-ups for signup checks.
    pub(crate) mx: Option<Arc<dyn crate::ports::MxResolver>>,
    /// Sends SMS codes; `None`: SMS is not offered.
    pub(crate) sms: Option<Arc<dyn crate::ports::SmsSender>>,
    /// TXT look-ups for organizations' domain verification.
    pub(crate) dns: Option<Arc<dyn crate::ports::TxtResolver>>,
    /// Wakes the mail worker when a message is queued.
    pub(crate) mail_wakeup: tokio::sync::Notify,
    /// Rate limits, strikes and blocks, nonces.
    pub(crate) edge: crate::edge::EdgeParts,
    /// Where change notices go to the other instances, if anywhere.
    pub(crate) notices: std::sync::OnceLock<Arc<dyn crate::ports::Notices>>,
    /// The cache the instances share (L2), if any.
    pub(crate) shared_cache: std::sync::OnceLock<Arc<dyn crate::cache::SharedCache>>,
    /// Hits and misses of the caches' layers.
    pub(crate) cache_stats: crate::cache::CacheStats,
    /// Permits to decode an uploaded avatar.
    pub(crate) avatar_decodes: Arc<tokio::sync::Semaphore>,
}

/// The domain: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Portcullis {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Portcullis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portcullis")
            .field("backend", &self.inner.store.backend_name())
            .field("public_url", &self.inner.settings.public_url)
            .finish()
    }
}

impl Portcullis {
    /// Builds the domain over a migrated store.
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        settings: Settings,
        master_key: MasterKey,
    ) -> Result<Self> {
        Self::with_adapters(
            store,
            clock,
            settings,
            master_key,
            crate::mail::Adapters::default(),
        )
    }

    /// Builds the domain over a migrated store, with the adapters it uses
    /// beside storage (mail delivery, DNS).
    pub fn with_adapters(
        store: Arc<dyn Store>,
        clock: SharedClock,
        settings: Settings,
        master_key: MasterKey,
        adapters: crate::mail::Adapters,
    ) -> Result<Self> {
        let hasher = PasswordHasher::new(settings.argon2)?;
        let passwords = Passwords::new(hasher, settings.hash_concurrency)?;
        let master = Arc::new(master_key);
        let keys = Keys::new(store.clone(), master.clone(), clock.clone());
        let audit = crate::audit::AuditWriter::new(store.clone());
        let session_capacity = settings.session_cache_capacity;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                settings,
                passwords,
                keys,
                denylist: Denylist::new(),
                revocations: Default::default(),
                sessions: crate::zero_trust::SessionCache::new(session_capacity),
                verified: Default::default(),
                authz: Default::default(),
                audit,
                realm_cache: DashMap::default(),
                client_cache: Default::default(),
                geoip: Default::default(),
                master,
                mailer: adapters.mailer,
                mx: adapters.mx,
                sms: adapters.sms,
                dns: adapters.dns,
                mail_wakeup: tokio::sync::Notify::new(),
                edge: crate::edge::EdgeParts::new(
                    adapters.edge.unwrap_or_else(|| {
                        Arc::new(crate::edge::memory::MemoryEdgeState::default())
                    }),
                ),
                notices: std::sync::OnceLock::new(),
                shared_cache: std::sync::OnceLock::new(),
                cache_stats: Default::default(),
                avatar_decodes: crate::profile::avatars::decode_permits(),
            }),
        })
    }

    /// The one place rights are decided: turns a caller into the
    /// [`crate::access::Allowed`] value an administrative method takes.
    pub fn access(&self) -> crate::access::Access<'_> {
        crate::access::Access::new(&self.inner)
    }

    /// Realm administration and lookup.
    pub fn realms(&self) -> Realms<'_> {
        Realms::new(&self.inner)
    }

    /// Registration, login, tokens and sessions.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts::new(&self.inner)
    }

    /// Roles, groups, grants, policies and the check API.
    pub fn authz(&self) -> crate::authz::Authz<'_> {
        crate::authz::Authz::new(&self.inner)
    }

    /// The OAuth clients of a realm.
    pub fn clients(&self) -> crate::clients::Clients<'_> {
        crate::clients::Clients::new(&self.inner)
    }

    /// Identity providers upstream and the accounts linked to them.
    pub fn federation(&self) -> crate::federation::Federation<'_> {
        crate::federation::Federation::new(&self.inner)
    }

    /// Second factors.
    pub fn mfa(&self) -> crate::mfa::Mfa<'_> {
        crate::mfa::Mfa::new(&self.inner)
    }

    /// Outgoing mail: templates and the delivery worker's pass.
    pub fn mail(&self) -> crate::mail::Mail<'_> {
        crate::mail::Mail::new(&self.inner)
    }

    /// E-mail verification and password reset.
    pub fn recovery(&self) -> crate::recovery::Recovery<'_> {
        crate::recovery::Recovery::new(&self.inner)
    }

    /// Adaptive security: risk policy, assessments, known devices.
    pub fn risk(&self) -> crate::risk::Risk<'_> {
        crate::risk::Risk::new(&self.inner)
    }

    /// Uses `db` for GeoIP look-ups (country, network owner, location);
    /// only the first call counts.
    pub fn set_geoip(&self, db: std::sync::Arc<dyn crate::risk::GeoIp>) {
        let _ = self.inner.geoip.set(db);
    }

    /// Magic links and e-mail change.
    pub fn links(&self) -> crate::links::Links<'_> {
        crate::links::Links::new(&self.inner)
    }

    /// Rate limits, blocks and nonces at the edge.
    pub fn edge(&self) -> crate::edge::Edge<'_> {
        crate::edge::Edge::new(&self.inner)
    }

    /// HMAC service keys and signed requests.
    pub fn service_keys(&self) -> crate::service_keys::ServiceKeys<'_> {
        crate::service_keys::ServiceKeys::new(&self.inner)
    }

    /// SCIM 2.0 provisioning.
    pub fn scim(&self) -> crate::scim::Scim<'_> {
        crate::scim::Scim::new(&self.inner)
    }

    /// Organizations and their members.
    pub fn organizations(&self) -> crate::orgs::Organizations<'_> {
        crate::orgs::Organizations::new(&self.inner)
    }

    /// Bulk import and export of a realm.
    pub fn transfer(&self) -> crate::transfer::Transfer<'_> {
        crate::transfer::Transfer::new(&self.inner)
    }

    /// Profiles: the realm's schema, users' profiles, avatars,
    /// preferences and activity.
    pub fn profiles(&self) -> crate::profile::Profiles<'_> {
        crate::profile::Profiles::new(&self.inner)
    }

    /// Verification of phones and identity documents.
    pub fn verification(&self) -> crate::verification::Verification<'_> {
        crate::verification::Verification::new(&self.inner)
    }

    /// User administration.
    pub fn users(&self) -> Users<'_> {
        Users::new(&self.inner)
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The realms' signing keys.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The store (for health checks and metrics).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// Loads revocations that outlive a restart into the in-memory denylist:
    /// revoked token ids that have not expired, and the sessions ended and
    /// accounts deactivated within the last access-token lifetime (the
    /// first read of [`Self::sync_revocations`], whose loop keeps it
    /// current afterwards).
    pub async fn warm_denylist(&self) -> Result<()> {
        let i = &self.inner;
        let now = i.clock.now();
        for (_realm, jti, exp) in i.store.list_revoked_tokens(now).await? {
            i.denylist.deny_token(jti, exp);
        }
        self.sync_revocations().await?;
        Ok(())
    }

    /// Returns once every audit record queued so far is written: call it
    /// before shutting down, and in tests before reading the audit table.
    pub async fn flush_audit(&self) {
        self.inner.audit.flush().await;
    }

    /// Periodic housekeeping: drops expired denylist entries, refresh tokens,
    /// revoked-token records, old authorization codes and login failures.
    pub async fn housekeeping(&self) -> Result<()> {
        let i = &self.inner;
        let now = i.clock.now();
        i.denylist.purge(now);
        metrics::gauge!("portcullis_denylist_entries").set(i.denylist.len() as f64);
        metrics::gauge!("portcullis_session_cache_entries").set(i.sessions.len() as f64);
        i.edge.state.purge(now).await;
        i.store.purge_expired_refresh_tokens(now).await?;
        // Spent codes stay a while, so a late replay still revokes its grant.
        i.store
            .purge_auth_codes(now - Duration::minutes(10))
            .await?;
        i.store.purge_revoked_tokens(now).await?;
        // Other instances read a deleted account's tombstone within a
        // second; it is kept a day.
        i.store.purge_deleted_users(now - Duration::days(1)).await?;
        i.store.purge_challenges(now).await?;
        i.store.purge_ceremonies(now).await?;
        i.store.purge_federation_attempts(now).await?;
        i.store.purge_expired_grants(now).await?;
        i.store
            .purge_login_failures(now - i.settings.login.window - Duration::minutes(1))
            .await?;
        i.store.purge_email_tokens(now - Duration::days(1)).await?;
        // Sent and given-up messages (their bodies already cleared) stay a
        // week for inspection.
        i.store.purge_mail(now - Duration::days(7)).await?;
        // Identity documents' images go after the retention period.
        self.verification().purge_document_images().await?;
        Ok(())
    }
}
