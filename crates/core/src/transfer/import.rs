//! The importer: records in, one [`LineReport`] per line out.
//!
//! Users wait in a batch of [`USER_BATCH`]; the batch is checked against
//! the database in one query (ids in any realm, addresses in this one) and
//! written in one transaction. Roles, groups, memberships and grants wait
//! in a batch of authorization changes applied in one transaction with one
//! revision bump. A batch that fails is retried line by line, so only the
//! lines at fault are refused. Ids of roles, groups, organizations and
//! users matched by name or address are mapped to the existing ids.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use portcullis_policy::Permission;
use portcullis_policy::model::{Effect, Grantee, Membership, PermissionGrant, Role, RoleGrant};
use serde_json::json;
use uuid::Uuid;

use super::format::{self, LineError, Record, UserRecord};
pub use super::report::{ImportSummary, LineReport, Outcome};
use crate::app::Inner;
use crate::audit::Actor;
use crate::error::Result;
use crate::model::mfa::{FactorKind, MfaFactor};
use crate::model::{AuditRecord, AuthzChange, Email, Realm, User, new_id};
use crate::orgs::{Membership as OrgMembership, Organization};

/// Users written per transaction.
pub const USER_BATCH: usize = 1_000;
/// Authorization changes applied per transaction.
const AUTHZ_BATCH: usize = 500;

struct PendingUser {
    line: u64,
    user: User,
    /// The id the file gave, when it gave one.
    file_id: Option<Uuid>,
    factors: Vec<format::FactorRecord>,
}

/// An import under way.
pub struct Importer<'a> {
    i: &'a Inner,
    actor: Actor,
    realm: Arc<Realm>,
    dry_run: bool,
    header_seen: bool,
    users: Vec<PendingUser>,
    authz: Vec<(u64, &'static str, Option<Uuid>, AuthzChange)>,
    /// File ids mapped to existing ids (matched by name or address).
    ids: HashMap<Uuid, Uuid>,
    roles_by_name: HashMap<String, (Uuid, bool)>,
    groups_by_name: HashMap<String, Uuid>,
    /// Hashes of the canonical addresses and the user ids seen in the file.
    emails_seen: HashSet<u64>,
    users_seen: HashSet<Uuid>,
    hasher: foldhash::fast::FixedState,
    summary: ImportSummary,
}

fn err(field: &str, reason: impl Into<String>) -> LineError {
    LineError::new(field, reason)
}

impl<'a> Importer<'a> {
    pub(crate) async fn start(
        i: &'a Inner,
        actor: Actor,
        realm: Arc<Realm>,
        options: super::ImportOptions,
    ) -> Result<Self> {
        let snap = i.store.authz_snapshot(realm.id).await?;
        Ok(Self {
            i,
            actor,
            dry_run: options.dry_run,
            header_seen: false,
            users: Vec::with_capacity(USER_BATCH),
            authz: Vec::new(),
            ids: HashMap::new(),
            roles_by_name: snap
                .roles
                .iter()
                .map(|r| (r.name.clone(), (r.id, r.builtin)))
                .collect(),
            groups_by_name: snap.groups.iter().map(|g| (g.name.clone(), g.id)).collect(),
            emails_seen: HashSet::new(),
            users_seen: HashSet::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x5052_5443),
            summary: ImportSummary {
                dry_run: options.dry_run,
                ..ImportSummary::default()
            },
            realm,
        })
    }

    /// The realm imported into.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// Counts so far.
    pub fn summary(&self) -> ImportSummary {
        self.summary
    }

    /// One raw line of the file (the first is the header).
    pub async fn line(&mut self, line: u64, bytes: &[u8]) -> Vec<LineReport> {
        if !self.header_seen {
            self.header_seen = true;
            return match format::parse_header(bytes) {
                Ok(_) => self.counted(vec![LineReport::ok(
                    line,
                    "header",
                    Outcome::Unchanged,
                    None,
                )]),
                Err(e) => self.counted(vec![LineReport::refused(line, Some("header"), e)]),
            };
        }
        match format::parse_line(bytes) {
            Ok(rec) => self.record(line, rec).await,
            Err(e) => self.counted(vec![LineReport::refused(line, None, e)]),
        }
    }

    /// A line longer than the limit.
    pub fn too_long(&mut self, line: u64) -> Vec<LineReport> {
        self.header_seen = true;
        let e = err(
            "line",
            format!("is longer than {} bytes", format::MAX_LINE_BYTES),
        );
        self.counted(vec![LineReport::refused(line, None, e)])
    }

    /// One record (from a line, or from a converter: no header needed).
    pub async fn record(&mut self, line: u64, rec: Record) -> Vec<LineReport> {
        self.header_seen = true;
        let kind = rec.kind();
        let mut out = Vec::new();
        if !matches!(rec, Record::User(_)) && !self.users.is_empty() {
            out.extend(self.flush_users().await);
        }
        let is_authz = matches!(
            rec,
            Record::Role(_) | Record::Group(_) | Record::Membership(_) | Record::Grant(_)
        );
        if !is_authz && !self.authz.is_empty() {
            out.extend(self.flush_authz().await);
        }
        let done = match rec {
            Record::User(u) => self.user(line, u).map(|()| None),
            Record::Realm(_) => Ok(Some(LineReport::ok(line, kind, Outcome::Unchanged, None))),
            Record::Role(r) => self.role(line, r).map(|()| None),
            Record::Group(g) => self.group(line, g).map(|()| None),
            Record::Membership(m) => {
                let change = AuthzChange::AddMember(Membership {
                    user: self.id(m.user),
                    group: self.id(m.group),
                    validity: m.validity,
                });
                self.authz.push((line, kind, None, change));
                Ok(None)
            }
            Record::Grant(g) => self.grant(line, g).map(|()| None),
            Record::Organization(o) => self.organization(line, o).await.map(Some),
            Record::OrganizationMember(m) => self.org_member(line, m).await.map(Some),
        };
        match done {
            Ok(Some(report)) => out.push(report),
            Ok(None) => {}
            Err(e) => out.push(LineReport::refused(line, Some(kind), e)),
        }
        if self.users.len() >= USER_BATCH {
            out.extend(self.flush_users().await);
        }
        if self.authz.len() >= AUTHZ_BATCH {
            out.extend(self.flush_authz().await);
        }
        // Reports of batched lines come when their batch is written.
        let mut counted = self.counted(out);
        counted.sort_by_key(|r| r.line);
        counted
    }

    /// Writes what waits and records the import; the last reports.
    pub async fn finish(&mut self) -> Vec<LineReport> {
        let mut out = self.flush_users().await;
        out.extend(self.flush_authz().await);
        let out = self.counted(out);
        let s = self.summary;
        if !self.dry_run {
            crate::audit::event(
                self.i,
                self.realm.id,
                self.actor,
                "realm.import",
                format!("realm:{}", self.realm.id),
                json!({"lines": s.lines, "created": s.created, "updated": s.updated,
                       "refused": s.refused, "users": s.users}),
            )
            .await;
        }
        out
    }

    fn counted(&mut self, reports: Vec<LineReport>) -> Vec<LineReport> {
        for r in &reports {
            self.summary.lines += 1;
            match r.outcome {
                Outcome::Created => self.summary.created += 1,
                Outcome::Updated => self.summary.updated += 1,
                Outcome::Unchanged => self.summary.unchanged += 1,
                Outcome::Refused => self.summary.refused += 1,
            }
            if r.kind == Some("user") {
                if r.outcome != Outcome::Refused {
                    self.summary.users += 1;
                }
                metrics::counter!("portcullis_import_users_total",
                    "outcome" => r.outcome.as_str())
                .increment(1);
            }
        }
        reports
    }

    /// A file id as stored (mapped when matched by name or address).
    fn id(&self, id: Uuid) -> Uuid {
        self.ids.get(&id).copied().unwrap_or(id)
    }

    fn email_key(&self, canonical: &str) -> u64 {
        self.hasher.hash_one(canonical)
    }

    fn user(&mut self, line: u64, u: UserRecord) -> std::result::Result<(), LineError> {
        let email = Email::parse(&u.email).map_err(|e| err("email", e.reason))?;
        let name = match u.name.as_deref().map(str::trim) {
            Some(n) if n.chars().count() > 200 || n.chars().any(char::is_control) => {
                return Err(err(
                    "name",
                    "must be at most 200 characters, no control characters",
                ));
            }
            Some("") | None => None,
            Some(n) => Some(n.to_owned()),
        };
        let attributes = crate::users::check_attributes(u.attributes)
            .map_err(|e| err("attributes", e.reason))?;
        if let Some(hash) = &u.password_hash {
            portcullis_crypto::password::is_importable(hash)
                .map_err(|e| err("password_hash", e.to_string()))?;
        }
        for (n, f) in u.factors.iter().enumerate() {
            let field = format!("factors[{n}]");
            if f.kind != "totp" {
                return Err(err(&field, "only totp factors are imported"));
            }
            let seed = format::base32_decode(&f.secret);
            if !seed.is_some_and(|s| (10..=64).contains(&s.len())) {
                return Err(err(&field, "secret must be 10-64 bytes in base32"));
            }
        }
        let key = self.email_key(&email.canonical());
        if !self.emails_seen.insert(key) {
            return Err(err("email", "appears on an earlier line of this file"));
        }
        if let Some(id) = u.id
            && !self.users_seen.insert(id)
        {
            return Err(err("id", "appears on an earlier line of this file"));
        }
        let now = self.i.clock.now();
        self.users.push(PendingUser {
            line,
            file_id: u.id,
            user: User {
                id: u.id.unwrap_or_else(new_id),
                realm_id: self.realm.id,
                email,
                name,
                password_hash: u.password_hash,
                active: u.active,
                email_verified: u.email_verified,
                attributes,
                created_at: super::or_now(u.created_at, now),
                updated_at: now,
                last_login_at: None,
            },
            factors: u.factors,
        });
        Ok(())
    }

    async fn flush_users(&mut self) -> Vec<LineReport> {
        let batch = std::mem::take(&mut self.users);
        if batch.is_empty() {
            return Vec::new();
        }
        let ids: Vec<Uuid> = batch.iter().filter_map(|p| p.file_id).collect();
        let emails: Vec<String> = batch.iter().map(|p| p.user.email.canonical()).collect();
        let existing = match self
            .i
            .store
            .existing_users(self.realm.id, &ids, &emails)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "import: reading existing users");
                return refuse_all(&batch, "could not be checked against the database");
            }
        };
        let by_id: HashMap<Uuid, &crate::ports::ExistingUser> =
            existing.iter().map(|e| (e.id, e)).collect();
        let by_email: HashMap<&str, Uuid> = existing
            .iter()
            .filter(|e| e.realm_id == self.realm.id)
            .map(|e| (e.email_canonical.as_str(), e.id))
            .collect();
        let (mut inserts, mut updates, mut reports) = (Vec::new(), Vec::new(), Vec::new());
        for mut p in batch {
            let canonical = p.user.email.canonical();
            let owner = by_email.get(canonical.as_str()).copied();
            let found = p.file_id.and_then(|id| by_id.get(&id));
            match (found, owner) {
                (Some(e), _) if e.realm_id != self.realm.id => {
                    reports.push(refused(&p, "id", "is taken by a user of another realm"));
                }
                (Some(e), Some(o)) if o != e.id => {
                    reports.push(refused(&p, "email", "belongs to another user of the realm"));
                }
                (Some(_), _) => updates.push(p),
                (None, Some(o)) => {
                    if let Some(file_id) = p.file_id {
                        self.ids.insert(file_id, o);
                    }
                    p.user.id = o;
                    updates.push(p);
                }
                (None, None) => inserts.push(p),
            }
        }
        reports.extend(self.write_users(inserts, updates).await);
        reports
    }

    async fn write_users(
        &mut self,
        inserts: Vec<PendingUser>,
        updates: Vec<PendingUser>,
    ) -> Vec<LineReport> {
        let report = |p: &PendingUser, o| LineReport::ok(p.line, "user", o, Some(p.user.id));
        let mut out: Vec<LineReport> = inserts
            .iter()
            .map(|p| report(p, Outcome::Created))
            .chain(updates.iter().map(|p| report(p, Outcome::Updated)))
            .collect();
        if self.dry_run {
            return out;
        }
        let rows = |ps: &[PendingUser]| ps.iter().map(|p| p.user.clone()).collect::<Vec<_>>();
        let (ins, upd) = (rows(&inserts), rows(&updates));
        let store = &self.i.store;
        if let Err(e) = store.write_users(self.realm.id, &ins, &upd).await {
            tracing::debug!(error = %e, "import: batch failed, retrying line by line");
            out.clear();
            for (p, created) in inserts
                .iter()
                .map(|p| (p, true))
                .chain(updates.iter().map(|p| (p, false)))
            {
                let one = std::slice::from_ref(&p.user);
                let (i, u): (&[User], &[User]) = if created { (one, &[]) } else { (&[], one) };
                out.push(match store.write_users(self.realm.id, i, u).await {
                    Ok(()) if created => report(p, Outcome::Created),
                    Ok(()) => report(p, Outcome::Updated),
                    Err(crate::StoreError::Conflict(_)) => {
                        refused(p, "email", "or id is taken (changed during the import)")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "import: writing a user");
                        refused(p, "line", "could not be written")
                    }
                });
            }
        }
        for p in inserts.iter().chain(updates.iter()) {
            if !p.factors.is_empty()
                && let Err(e) = self.write_factors(p).await
                && let Some(r) = out.iter_mut().find(|r| r.line == p.line)
            {
                *r = refused(p, "factors", e);
            }
        }
        out
    }

    async fn write_factors(&self, p: &PendingUser) -> std::result::Result<(), String> {
        let store = &self.i.store;
        let have = store
            .list_factors(self.realm.id, p.user.id)
            .await
            .map_err(|_| "could not be read".to_owned())?;
        let now = self.i.clock.now();
        for f in &p.factors {
            if have.iter().any(|h| h.id == f.id) {
                continue;
            }
            let seed = format::base32_decode(&f.secret)
                .ok_or_else(|| "secret is not base32".to_owned())?;
            let aad = format!("mfa_factor:{}", f.id).into_bytes();
            let sealed = self
                .i
                .keys
                .master()
                .encrypt(&seed, &aad)
                .map_err(|_| "could not be sealed".to_owned())?;
            let factor = MfaFactor {
                id: f.id,
                realm_id: self.realm.id,
                user_id: p.user.id,
                kind: FactorKind::Totp,
                name: f.name.clone(),
                secret_enc: Some(sealed),
                confirmed_at: f.confirmed.then_some(now),
                last_step: None,
                created_at: now,
                last_used_at: None,
                credential: None,
            };
            store
                .insert_factor(&factor)
                .await
                .map_err(|_| "id is taken".to_owned())?;
        }
        Ok(())
    }

    fn role(&mut self, line: u64, r: format::RoleRecord) -> std::result::Result<(), LineError> {
        check_name("name", &r.name)?;
        let permissions = r
            .permissions
            .iter()
            .enumerate()
            .map(|(n, p)| {
                Permission::parse(p).map_err(|e| err(&format!("permissions[{n}]"), e.to_string()))
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let includes = r.includes.iter().map(|i| self.id(*i)).collect();
        let (id, outcome, builtin) = match self.roles_by_name.get(&r.name) {
            Some(&(existing, builtin)) => {
                if existing != r.id {
                    self.ids.insert(r.id, existing);
                }
                (existing, Outcome::Updated, builtin)
            }
            None => (r.id, Outcome::Created, false),
        };
        if builtin {
            // Built-in roles keep their own permissions.
            self.authz_report(line, "role", id, Outcome::Unchanged);
            return Ok(());
        }
        self.roles_by_name.insert(r.name.clone(), (id, false));
        let role = Role {
            id,
            name: r.name,
            description: r.description,
            permissions,
            includes,
            builtin: false,
        };
        let change = match outcome {
            Outcome::Created => AuthzChange::CreateRole(role),
            _ => AuthzChange::UpdateRole(role),
        };
        self.authz.push((line, "role", Some(id), change));
        Ok(())
    }

    /// A line with nothing to write, reported with its batch.
    fn authz_report(&mut self, line: u64, kind: &'static str, id: Uuid, _o: Outcome) {
        // An empty change list is still applied in order: UndefinePermission
        // is not used; record it as a no-op marker.
        self.authz
            .push((line, kind, Some(id), AuthzChange::DeleteRole(Uuid::nil())));
    }

    fn group(&mut self, line: u64, g: format::GroupRecord) -> std::result::Result<(), LineError> {
        check_name("name", &g.name)?;
        let parent = g.parent.map(|p| self.id(p));
        let (id, created) = match self.groups_by_name.get(&g.name) {
            Some(&existing) => {
                if existing != g.id {
                    self.ids.insert(g.id, existing);
                }
                (existing, false)
            }
            None => (g.id, true),
        };
        self.groups_by_name.insert(g.name.clone(), id);
        let group = portcullis_policy::model::Group {
            id,
            name: g.name,
            description: g.description,
            parent,
        };
        let change = match created {
            true => AuthzChange::CreateGroup(group),
            false => AuthzChange::UpdateGroup(group),
        };
        self.authz.push((line, "group", Some(id), change));
        Ok(())
    }

    fn grant(&mut self, line: u64, g: format::GrantRecord) -> std::result::Result<(), LineError> {
        let to = match g.to {
            Grantee::User(u) => Grantee::User(self.id(u)),
            Grantee::Group(x) => Grantee::Group(self.id(x)),
        };
        let change = match (g.role, g.permission) {
            (Some(role), None) => AuthzChange::GrantRole(RoleGrant {
                to,
                role: self.id(role),
                validity: g.validity,
            }),
            (None, Some(p)) => AuthzChange::GrantPermission(PermissionGrant {
                to,
                permission: Permission::parse(&p).map_err(|e| err("permission", e.to_string()))?,
                effect: g.effect.unwrap_or(Effect::Allow),
                validity: g.validity,
            }),
            _ => return Err(err("role", "exactly one of role and permission is needed")),
        };
        self.authz.push((line, "grant", None, change));
        Ok(())
    }

    async fn flush_authz(&mut self) -> Vec<LineReport> {
        let batch = std::mem::take(&mut self.authz);
        if batch.is_empty() {
            return Vec::new();
        }
        let outcome = |c: &AuthzChange| match c {
            AuthzChange::UpdateRole(_) | AuthzChange::UpdateGroup(_) => Outcome::Updated,
            AuthzChange::DeleteRole(id) if id.is_nil() => Outcome::Unchanged,
            _ => Outcome::Created,
        };
        let real = |c: &&AuthzChange| !matches!(c, AuthzChange::DeleteRole(id) if id.is_nil());
        let ok = |(line, kind, id, c): &(u64, &'static str, Option<Uuid>, AuthzChange)| {
            LineReport::ok(*line, kind, outcome(c), *id)
        };
        if self.dry_run {
            return batch.iter().map(ok).collect();
        }
        let changes: Vec<AuthzChange> = batch.iter().map(|b| &b.3).filter(real).cloned().collect();
        let audit = self.audit_record(changes.len());
        let store = &self.i.store;
        if store
            .apply_authz_changes(self.realm.id, &changes, &audit)
            .await
            .is_ok()
        {
            return batch.iter().map(ok).collect();
        }
        let mut out = Vec::with_capacity(batch.len());
        for b in &batch {
            if !real(&&b.3) {
                out.push(ok(b));
                continue;
            }
            let audit = self.audit_record(1);
            out.push(
                match store
                    .apply_authz_changes(self.realm.id, std::slice::from_ref(&b.3), &audit)
                    .await
                {
                    Ok(_) => ok(b),
                    Err(e) => LineReport::refused(b.0, Some(b.1), store_refusal(b.1, &e)),
                },
            );
        }
        out
    }

    fn audit_record(&self, changes: usize) -> AuditRecord {
        AuditRecord {
            id: new_id(),
            realm_id: self.realm.id,
            actor: self.actor.user,
            actor_realm_id: self.actor.realm,
            action: "realm.import.authz".to_owned(),
            target: format!("realm:{}", self.realm.id),
            before: None,
            after: Some(json!({ "changes": changes })),
            request_id: None,
            at: self.i.clock.now(),
        }
    }

    async fn organization(
        &mut self,
        line: u64,
        o: format::OrganizationRecord,
    ) -> std::result::Result<LineReport, LineError> {
        check_name("name", &o.name)?;
        let attributes = crate::users::check_attributes(o.attributes)
            .map_err(|e| err("attributes", e.reason))?;
        let store = &self.i.store;
        let realm = self.realm.id;
        let existing = store
            .get_organization_by_name(realm, &o.name)
            .await
            .map_err(|_| err("line", "could not be read"))?;
        let now = self.i.clock.now();
        let mut org = Organization {
            id: o.id,
            realm_id: realm,
            name: o.name,
            display_name: o.display_name,
            description: o.description,
            parent_id: o.parent.map(|p| self.id(p)),
            attributes,
            created_at: now,
            updated_at: now,
        };
        let outcome = match existing {
            Some(e) => {
                if e.id != o.id {
                    self.ids.insert(o.id, e.id);
                }
                org.id = e.id;
                org.created_at = e.created_at;
                Outcome::Updated
            }
            None => Outcome::Created,
        };
        if !self.dry_run {
            let written = match outcome {
                Outcome::Created => store.create_organization(&org).await,
                _ => store.update_organization(&org).await.map(|_| ()),
            };
            written.map_err(|e| store_refusal("organization", &e))?;
        }
        Ok(LineReport::ok(line, "organization", outcome, Some(org.id)))
    }

    async fn org_member(
        &mut self,
        line: u64,
        m: format::OrganizationMemberRecord,
    ) -> std::result::Result<LineReport, LineError> {
        check_name("role", &m.role)?;
        let membership = OrgMembership {
            realm_id: self.realm.id,
            organization_id: self.id(m.organization),
            user_id: self.id(m.user),
            role: m.role,
            created_at: self.i.clock.now(),
        };
        let added = match self.dry_run {
            true => true,
            false => self
                .i
                .store
                .put_membership(&membership)
                .await
                .map_err(|e| store_refusal("organization_member", &e))?,
        };
        let outcome = if added {
            Outcome::Created
        } else {
            Outcome::Updated
        };
        Ok(LineReport::ok(line, "organization_member", outcome, None))
    }
}

fn check_name(field: &str, name: &str) -> std::result::Result<(), LineError> {
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(err(
            field,
            "must be 1-64 characters without control characters",
        ));
    }
    Ok(())
}

fn refused(p: &PendingUser, field: &str, reason: impl Into<String>) -> LineReport {
    LineReport::refused(p.line, Some("user"), err(field, reason))
}

fn refuse_all(batch: &[PendingUser], reason: &str) -> Vec<LineReport> {
    batch.iter().map(|p| refused(p, "line", reason)).collect()
}

/// A store error as a refusal of a line (never the driver's text).
fn store_refusal(kind: &str, e: &crate::StoreError) -> LineError {
    match e {
        crate::StoreError::Conflict(_) => err("id", format!("this {kind}'s id or name is taken")),
        crate::StoreError::NotFound => err(
            "line",
            "names a user, group, role or organization that does not exist in the realm",
        ),
        other => {
            tracing::error!(error = %other, "import: writing a {kind}");
            err("line", "could not be written")
        }
    }
}
