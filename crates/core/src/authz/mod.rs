//! Authorization: the realm's roles, groups, grants and policies, and the
//! check API other services call.
//!
//! Decisions come from the pure engine in `portcullis-policy`, evaluated
//! against a compiled, in-memory view of the realm. A view is tagged with
//! the realm's authorization revision, which every change bumps in the same
//! transaction as the change itself; a check may demand a minimum revision
//! and is then never answered from older state. Views are reloaded when a
//! change is made through this instance, and otherwise when a revision poll
//! (at most every [`REVISION_POLL`]) sees that another instance moved it.
//!
//! Every admin method here takes the caller's right
//! ([`crate::access::Allowed`]), decided in one place: a handler cannot
//! forget the check.

mod admin;
mod check;
mod input;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use portcullis_policy::model::RealmSnapshot;
use portcullis_policy::{CheckRequest, CompiledRealm, Resource};
use uuid::Uuid;

use tracing::Instrument as _;

use crate::app::Inner;
use crate::cache::{Cache, Layer};
use crate::error::{Error, Result};
use crate::model::{AuditRecord, AuthzChange, new_id};
use crate::ports::Store;
use crate::tokens::Principal;

pub use admin::{
    GrantInput, GranteeRef, Grants, GroupInput, GroupPatch, Held, ManageGrants,
    PermissionGrantInput, PermissionUse, PolicyInput, Read, ReadGrants, RoleInput, RolePatch,
};
pub use check::{CheckInput, CheckOutcome, EffectiveAccess, ResourceInput};
/// The engine's domain types the service answers with.
pub use portcullis_policy::model;
pub use portcullis_policy::{Decision, EffectivePermission};

/// How long a cached view is trusted before the store's revision is asked
/// again (changes made through this instance are seen at once).
pub const REVISION_POLL: Duration = Duration::from_secs(1);

/// Tries of a change validated against a view, when another change raced it.
const APPLY_ATTEMPTS: usize = 5;
/// How old a view's revision check may be for the edge's rate-limit tiers.
const TIER_STALENESS: Duration = Duration::from_secs(30);
/// The shared cache (L2) of realms' snapshots, by realm and revision.
const SNAPSHOT_CACHE: &str = "authz_snapshot";
/// How long a snapshot stays in the shared cache (seed 000: permissions
/// and roles, 5 minutes in L2); a revision never changes, so this only
/// bounds the memory of revisions nobody asks for any more.
const SNAPSHOT_TTL: Duration = Duration::from_secs(300);
/// Snapshots larger than this, encoded, stay out of the shared cache.
const MAX_SHARED_SNAPSHOT: usize = 64 * 1024 * 1024;

/// The shared cache's key of a realm's snapshot at a revision.
fn snapshot_key(realm_id: Uuid, revision: i64) -> String {
    format!("{realm_id}:{revision}")
}

/// A compiled view of one realm and the data it was compiled from.
#[derive(Debug)]
pub struct View {
    /// The indexed view checks run against.
    pub compiled: CompiledRealm,
    /// The raw data (for admin listings).
    pub snapshot: RealmSnapshot,
}

impl View {
    /// The revision the view was read at.
    pub fn revision(&self) -> i64 {
        self.snapshot.revision
    }

    /// A role's name (empty when the view has no such role).
    pub fn role_name(&self, id: Uuid) -> &str {
        self.compiled.role(id).map_or("", |r| r.name.as_str())
    }

    /// A group's name (empty when the view has no such group).
    pub fn group_name(&self, id: Uuid) -> &str {
        self.compiled.group(id).map_or("", |g| g.name.as_str())
    }

    /// How many direct members a group has.
    pub fn member_count(&self, group: Uuid) -> usize {
        self.snapshot
            .memberships
            .iter()
            .filter(|m| m.group == group)
            .count()
    }
}

struct Cached {
    view: Arc<View>,
    checked_at: crate::clock::Tick,
}

/// The loading lock of a realm's view, and how many loads found the
/// database unavailable.
#[derive(Default)]
struct Loading {
    lock: tokio::sync::Mutex<()>,
    failures: std::sync::atomic::AtomicU64,
}

/// Views by realm id, shared by every request.
#[derive(Default)]
pub(crate) struct AuthzState {
    views: DashMap<Uuid, Cached>,
    /// One loader a realm at a time.
    loading: DashMap<Uuid, Arc<Loading>>,
    metrics: std::sync::OnceLock<HotMetrics>,
}

/// Handles of the metrics every check updates, registered once (on the
/// first check, after the server installed its recorder) rather than looked
/// up by name and labels on every check.
pub(crate) struct HotMetrics {
    pub(crate) check_seconds: metrics::Histogram,
    pub(crate) allowed: metrics::Counter,
    pub(crate) denied: metrics::Counter,
    pub(crate) view_hit: metrics::Counter,
}

impl AuthzState {
    /// Forgets every realm's view.
    pub(crate) fn clear(&self) {
        self.views.clear();
    }

    pub(crate) fn metrics(&self) -> &HotMetrics {
        self.metrics.get_or_init(|| HotMetrics {
            check_seconds: metrics::histogram!("portcullis_authz_check_seconds"),
            allowed: metrics::counter!("portcullis_authz_checks_total", "decision" => "allow"),
            denied: metrics::counter!("portcullis_authz_checks_total", "decision" => "deny"),
            view_hit: metrics::counter!("portcullis_authz_view_cache_total", "result" => "hit"),
        })
    }
}

/// Who is calling, for permission checks and the audit trail.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The authenticated principal.
    pub who: &'a Principal,
    /// The realm the call acts in: `who`'s own, or the one a server
    /// administrator acts in across realms.
    pub realm: &'a std::sync::Arc<crate::model::Realm>,
    /// The request's id, recorded with audit events.
    pub request_id: Option<&'a str>,
    /// The client's IP, the default `context.ip` of checks.
    pub ip: Option<&'a str>,
}

/// The authorization service of one realm-addressed request.
pub struct Authz<'a> {
    i: &'a Inner,
}

impl<'a> Authz<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Authz works with, built here and nowhere else in it.

    /// Collaborator: access.
    fn access(&self) -> crate::access::Access<'a> {
        crate::access::Access::new(self.i)
    }

    fn store(&self) -> &Arc<dyn Store> {
        &self.i.store
    }

    /// The realm's view at its current revision, or at least `min_revision`.
    pub async fn view(&self, realm_id: Uuid, min_revision: Option<i64>) -> Result<Arc<View>> {
        if let Some(c) = self.i.authz.views.get(&realm_id)
            && self.i.clock.tick().since(c.checked_at) < REVISION_POLL
            && min_revision.is_none_or(|m| c.view.revision() >= m)
        {
            self.i.authz.metrics().view_hit.increment(1);
            self.i
                .cache_stats
                .lookup(Cache::AuthzView, Layer::Memory, true);
            return Ok(c.view.clone());
        }
        let lock = self
            .i
            .authz
            .loading
            .entry(realm_id)
            .or_default()
            .value()
            .clone();
        // Requests queued behind a load that found the database down fail
        // with it rather than each waiting for the database in turn; those
        // that come later try again.
        let failures = lock.failures.load(std::sync::atomic::Ordering::Acquire);
        let _guard = lock.lock.lock().await;
        if lock.failures.load(std::sync::atomic::Ordering::Acquire) != failures {
            return Err(Error::Unavailable);
        }
        let loaded = self.load_view(realm_id, min_revision).await;
        if matches!(loaded, Err(Error::Unavailable)) {
            lock.failures
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        loaded
    }

    /// [`Self::view`] past its fast path, under the realm's loading lock.
    async fn load_view(&self, realm_id: Uuid, min_revision: Option<i64>) -> Result<Arc<View>> {
        let current = self.store().authz_revision(realm_id).await?;
        if let Some(m) = min_revision
            && m > current
        {
            return Err(Error::input(
                "min_revision",
                format!("is ahead of the realm's revision ({current})"),
            ));
        }
        if let Some(mut c) = self.i.authz.views.get_mut(&realm_id)
            && c.view.revision() >= current
        {
            c.checked_at = self.i.clock.tick();
            metrics::counter!("portcullis_authz_view_cache_total", "result" => "hit").increment(1);
            self.i
                .cache_stats
                .lookup(Cache::AuthzView, Layer::Memory, true);
            return Ok(c.view.clone());
        }
        metrics::counter!("portcullis_authz_view_cache_total", "result" => "miss").increment(1);
        self.i
            .cache_stats
            .lookup(Cache::AuthzView, Layer::Memory, false);
        let (snapshot, shared) = match self.shared_snapshot(realm_id, current).await {
            Some(snapshot) => (snapshot, true),
            None => {
                self.i.cache_stats.load(Cache::AuthzView);
                (self.store().authz_snapshot(realm_id).await?, false)
            }
        };
        let view = tokio::task::spawn_blocking(move || {
            CompiledRealm::compile(&snapshot).map(|compiled| View { compiled, snapshot })
        })
        .await
        .map_err(|_| Error::Internal("authz-compile"))?
        .map_err(|e| {
            // Stored data the engine cannot compile is a bug, never the caller's.
            tracing::error!(error = %e, %realm_id, "stored authorization data does not compile");
            Error::Internal("authz-compile")
        })?;
        let view = Arc::new(view);
        if !shared {
            self.share_snapshot(realm_id, &view);
        }
        metrics::gauge!("portcullis_authz_revision").set(view.revision() as f64);
        self.i.authz.views.insert(
            realm_id,
            Cached {
                view: view.clone(),
                checked_at: self.i.clock.tick(),
            },
        );
        Ok(view)
    }

    /// The realm's snapshot at `revision` from the instances' shared cache,
    /// if one of them put it there; anything else found there (another
    /// revision, a value that does not decode) is a miss.
    async fn shared_snapshot(&self, realm_id: Uuid, revision: i64) -> Option<RealmSnapshot> {
        let shared = self.i.shared_cache.get()?;
        let span = tracing::debug_span!(
            "cache.lookup",
            cache = "authz_view",
            layer = "redis",
            hit = tracing::field::Empty
        );
        let bytes = shared
            .get(SNAPSHOT_CACHE, &snapshot_key(realm_id, revision))
            .instrument(span.clone())
            .await;
        let snapshot = match bytes {
            Some(bytes) => tokio::task::spawn_blocking(move || {
                serde_json::from_slice::<RealmSnapshot>(&bytes).ok()
            })
            .await
            .ok()
            .flatten()
            .filter(|s| s.revision == revision),
            None => None,
        };
        span.record("hit", snapshot.is_some());
        self.i
            .cache_stats
            .lookup(Cache::AuthzView, Layer::Shared, snapshot.is_some());
        snapshot
    }

    /// Puts the view's snapshot in the instances' shared cache, off the
    /// request's path (encoding a large realm takes a while).
    fn share_snapshot(&self, realm_id: Uuid, view: &Arc<View>) {
        let Some(shared) = self.i.shared_cache.get().cloned() else {
            return;
        };
        let key = snapshot_key(realm_id, view.revision());
        let view = view.clone();
        tokio::spawn(async move {
            let encoded =
                tokio::task::spawn_blocking(move || serde_json::to_vec(&view.snapshot).ok()).await;
            if let Ok(Some(bytes)) = encoded
                && bytes.len() <= MAX_SHARED_SNAPSHOT
            {
                shared.put(SNAPSHOT_CACHE, &key, bytes, SNAPSHOT_TTL).await;
            }
        });
    }

    /// Forgets a realm's view (after a change, or when the realm is deleted).
    pub(crate) fn invalidate(&self, realm_id: Uuid) {
        self.i.authz.views.remove(&realm_id);
    }

    /// Whether a user holds `resource:action:all` in `view` (Portcullis's
    /// own admin permissions), decided by the engine like any other check.
    pub(crate) fn user_may(
        &self,
        view: &View,
        realm: &crate::model::Realm,
        user: Uuid,
        ip: Option<std::net::IpAddr>,
        resource: &str,
        action: &str,
    ) -> bool {
        let resource = Resource {
            kind: resource.to_owned(),
            id: None,
            owner: None,
            team: None,
            attributes: serde_json::Map::new(),
        };
        let context = self.context(realm, ip, serde_json::Map::new());
        view.compiled
            .check(&CheckRequest {
                subject: user,
                subject_attributes: None,
                action,
                resource: &resource,
                context: &context,
                now: self.now_micros(),
                explain: false,
            })
            .allowed
    }

    /// [`Self::user_may`] on a resource of team `team` (an organization's
    /// administration: `org:<name>`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn user_may_in_team(
        &self,
        view: &View,
        realm: &crate::model::Realm,
        user: Uuid,
        ip: Option<std::net::IpAddr>,
        resource: &str,
        action: &str,
        team: &str,
    ) -> bool {
        let resource = Resource {
            kind: resource.to_owned(),
            id: None,
            owner: None,
            team: Some(team.to_owned()),
            attributes: serde_json::Map::new(),
        };
        let context = self.context(realm, ip, serde_json::Map::new());
        view.compiled
            .check(&CheckRequest {
                subject: user,
                subject_attributes: None,
                action,
                resource: &resource,
                context: &context,
                now: self.now_micros(),
                explain: false,
            })
            .allowed
    }

    /// Names of the roles a user holds now (for the `roles` token claim).
    pub async fn role_names(&self, realm_id: Uuid, user: Uuid) -> Result<Vec<String>> {
        let view = self.view(realm_id, None).await?;
        Ok(view.compiled.role_names(user, self.now_micros()))
    }

    /// A user's role names for the edge's rate-limit tiers: from the view
    /// this instance holds when it was checked against the database in the
    /// last [`TIER_STALENESS`] (a change made here or announced by another
    /// instance drops it at once), else as [`Self::role_names`]. So a request
    /// does not wait on the database for its tier, and while the database is
    /// down it waits there only for its own reads.
    pub(crate) async fn tier_role_names(&self, realm_id: Uuid, user: Uuid) -> Result<Vec<String>> {
        let recent = self.i.authz.views.get(&realm_id).and_then(|c| {
            (self.i.clock.tick().since(c.checked_at) < TIER_STALENESS).then(|| c.view.clone())
        });
        match recent {
            Some(view) => Ok(view.compiled.role_names(user, self.now_micros())),
            None => self.role_names(realm_id, user).await,
        }
    }

    pub(crate) fn now_micros(&self) -> i64 {
        crate::model::micros(self.i.clock.now())
    }

    /// Applies a change with its audit record; returns the new revision. The
    /// change is built from the current view by `build`, which validates it
    /// (cycles, references); if another change lands between the read and
    /// the write, it is rebuilt from the newer view.
    async fn apply<F>(&self, caller: &Caller<'_>, action: &str, mut build: F) -> Result<i64>
    where
        F: FnMut(&View) -> Result<Built>,
    {
        let actor = Actor {
            realm_id: caller.realm.id,
            user: Some(caller.who.user_id),
            home_realm: crate::audit::Actor::from(*caller).realm,
            request_id: caller.request_id,
        };
        self.apply_as(actor, action, false, |view| build(view).map(Some))
            .await
    }

    /// [`Self::apply`] for any actor; `build` may answer `None` when there
    /// is nothing to change (the current revision is returned). A change that
    /// `commutes` holds whatever else changed since the view it was built
    /// from (the built-in `user` role of a new account, which nothing else
    /// refers to yet): it is applied without the revision check, so that
    /// concurrent registrations do not make each other retry (and fail).
    async fn apply_as<F>(
        &self,
        actor: Actor<'_>,
        action: &str,
        commutes: bool,
        mut build: F,
    ) -> Result<i64>
    where
        F: FnMut(&View) -> Result<Option<Built>>,
    {
        let realm_id = actor.realm_id;
        for _ in 0..APPLY_ATTEMPTS {
            let view = self.view(realm_id, None).await?;
            let Some(built) = build(&view)? else {
                return Ok(view.revision());
            };
            let audit = AuditRecord {
                id: new_id(),
                realm_id,
                actor: actor.user,
                actor_realm_id: actor.home_realm,
                action: action.to_owned(),
                target: built.target,
                before: built.before,
                after: built.after,
                request_id: actor.request_id.map(str::to_owned),
                at: self.i.clock.now(),
            };
            match self
                .store()
                .apply_authz_change(
                    realm_id,
                    (!commutes).then(|| view.revision()),
                    &built.change,
                    &audit,
                )
                .await
            {
                Ok(revision) => {
                    self.invalidate(realm_id);
                    self.i.announce(crate::notices::Notice::Authz { realm_id });
                    metrics::gauge!("portcullis_authz_revision").set(revision as f64);
                    return Ok(revision);
                }
                Err(crate::StoreError::Stale) => self.invalidate(realm_id),
                Err(crate::StoreError::NotFound) => {
                    self.invalidate(realm_id);
                    return Err(Error::NotFound(built.missing));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict(
            "authorization data kept changing; retry".to_owned(),
        ))
    }
}

/// Who makes a change, for the audit trail.
#[derive(Debug, Clone, Copy)]
struct Actor<'a> {
    realm_id: Uuid,
    /// `None` for the server itself (bootstrap, command line).
    user: Option<Uuid>,
    /// The user's own realm when it acts across realms.
    home_realm: Option<Uuid>,
    request_id: Option<&'a str>,
}

/// A validated change, ready to apply.
struct Built {
    change: AuthzChange,
    target: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    /// What a `NotFound` from the store means.
    missing: &'static str,
}

impl Authz<'_> {
    /// Grants (`on`) or revokes the built-in `realm-admin` role of a user,
    /// for services that already hold the rights to (user administration, the
    /// bootstrap). `actor` is recorded in the audit trail.
    pub(crate) async fn set_realm_admin(
        &self,
        realm_id: Uuid,
        actor: impl Into<crate::audit::Actor>,
        user: Uuid,
        on: bool,
    ) -> Result<()> {
        let role = portcullis_policy::builtin::REALM_ADMIN;
        self.set_builtin_role(realm_id, actor, user, role, on, false)
            .await
    }

    /// Grants the built-in `user` role to a new account (every account holds
    /// it unless an administrator revokes it, like Keycloak's default roles).
    pub(crate) async fn grant_default_role(
        &self,
        realm_id: Uuid,
        actor: impl Into<crate::audit::Actor>,
        user: Uuid,
    ) -> Result<()> {
        let role = portcullis_policy::builtin::USER;
        self.set_builtin_role(realm_id, actor, user, role, true, true)
            .await
    }

    async fn set_builtin_role(
        &self,
        realm_id: Uuid,
        actor: impl Into<crate::audit::Actor>,
        user: Uuid,
        name: &'static str,
        on: bool,
        commutes: bool,
    ) -> Result<()> {
        use portcullis_policy::model::{Grantee, RoleGrant, Validity};
        let actor: crate::audit::Actor = actor.into();
        let actor = Actor {
            realm_id,
            user: actor.user,
            home_realm: actor.realm,
            request_id: None,
        };
        let action = if on { "role.grant" } else { "role.revoke" };
        self.apply_as(actor, action, commutes, |view| {
            let role = view
                .compiled
                .role_id(name)
                .ok_or(Error::Internal("authz-builtin-role"))?;
            let to = Grantee::User(user);
            let held = view
                .snapshot
                .role_grants
                .iter()
                .any(|g| g.to == to && g.role == role);
            let change = match (on, held) {
                (true, false) => AuthzChange::GrantRole(RoleGrant {
                    to,
                    role,
                    validity: Validity::ALWAYS,
                }),
                (false, true) => AuthzChange::RevokeRole { to, role },
                _ => return Ok(None),
            };
            Ok(Some(Built {
                change,
                target: format!("user:{user}"),
                before: None,
                after: Some(serde_json::json!({ "role": name })),
                missing: "user",
            }))
        })
        .await?;
        Ok(())
    }

    /// Grants the roles and group memberships named (those the user does
    /// not hold yet), for the federation service's default roles and claim
    /// mappers. Names the realm no longer has are skipped with a warning.
    pub(crate) async fn grant_named(
        &self,
        realm_id: Uuid,
        user: Uuid,
        roles: &[String],
        groups: &[String],
    ) -> Result<()> {
        use portcullis_policy::model::{Grantee, Membership, RoleGrant, Validity};
        if roles.is_empty() && groups.is_empty() {
            return Ok(());
        }
        let view = self.view(realm_id, None).await?;
        let to = Grantee::User(user);
        let mut changes = Vec::new();
        for name in roles {
            let Some(role) = view.compiled.role_id(name) else {
                tracing::warn!(role = %name, "a federation mapper names a role the realm does not have");
                continue;
            };
            let held = view
                .snapshot
                .role_grants
                .iter()
                .any(|g| g.to == to && g.role == role);
            if !held && !changes.iter().any(|(n, _)| n == name) {
                changes.push((
                    name.clone(),
                    AuthzChange::GrantRole(RoleGrant {
                        to,
                        role,
                        validity: Validity::ALWAYS,
                    }),
                ));
            }
        }
        for name in groups {
            let Some(group) = view.compiled.group_id(name) else {
                tracing::warn!(group = %name, "a federation mapper names a group the realm does not have");
                continue;
            };
            let member = view
                .snapshot
                .memberships
                .iter()
                .any(|m| m.user == user && m.group == group);
            if !member && !changes.iter().any(|(n, _)| n == name) {
                changes.push((
                    name.clone(),
                    AuthzChange::AddMember(Membership {
                        user,
                        group,
                        validity: Validity::ALWAYS,
                    }),
                ));
            }
        }
        for (name, change) in changes {
            let actor = Actor {
                realm_id,
                user: None,
                home_realm: None,
                request_id: None,
            };
            let action = match change {
                AuthzChange::AddMember(_) => "group.member.add",
                _ => "role.grant",
            };
            let mut change = Some(change);
            self.apply_as(actor, action, false, |_| {
                Ok(change.take().map(|change| Built {
                    change,
                    target: format!("user:{user}"),
                    before: None,
                    after: Some(serde_json::json!({ "name": name, "via": "identity provider" })),
                    missing: "user",
                }))
            })
            .await?;
        }
        Ok(())
    }

    /// Replaces a user's stored attributes (already checked), for the user
    /// service. Audited like any authorization change, with the old and new
    /// attributes.
    pub(crate) async fn set_user_attributes(
        &self,
        realm_id: Uuid,
        actor: impl Into<crate::audit::Actor>,
        user: &crate::model::User,
        attributes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<()> {
        let actor: crate::audit::Actor = actor.into();
        let actor = Actor {
            realm_id,
            user: actor.user,
            home_realm: actor.realm,
            request_id: None,
        };
        let before = serde_json::Value::Object(user.attributes.clone());
        let after = serde_json::Value::Object(attributes.clone());
        self.apply_as(actor, "user.attributes.set", false, |_| {
            Ok(Some(Built {
                change: AuthzChange::SetUserAttributes {
                    user: user.id,
                    attributes: attributes.clone(),
                },
                target: format!("user:{}", user.id),
                before: Some(before.clone()),
                after: Some(after.clone()),
                missing: "user",
            }))
        })
        .await?;
        Ok(())
    }
}
