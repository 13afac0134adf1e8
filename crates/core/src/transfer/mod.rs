//! Bulk import and export of a realm in the JSON Lines format of
//! [`format`] (docs/import-export.md).
//!
//! - [`Transfer::export`] hands out an [`Export`]: chunks of lines, users
//!   read a page at a time by id, so a million users never sit in memory.
//! - [`Transfer::importer`] hands out an [`Importer`]: lines in, one
//!   [`LineReport`] per line out; users are written in batches, each in
//!   one transaction; authorization changes go through the authorization
//!   store's change path in batches, one revision bump per batch.
//! - [`convert`] turns Keycloak and Auth0 exports and CSV into records.
//!
//! Who may: a server administrator (`realms:manage:all` in the default
//! realm; import also needs a recent sign-in), or the operator at the shell.

pub mod convert;
pub mod format;
mod import;
mod report;

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::app::Inner;
use crate::audit::Actor;
use crate::error::Result;
use crate::model::Realm;
use crate::model::mfa::FactorKind;
use crate::orgs::OrgQuery;
use crate::realms::ServerAdmin;

pub use format::{Header, LineError, LineReader, ReadLine, Record};
pub use import::{ImportSummary, Importer, LineReport, Outcome};

/// Users read per page of an export.
const EXPORT_PAGE: u64 = 2_000;
/// Organizations read per page of an export.
const ORG_PAGE: u64 = 500;

/// Who runs an import or export.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// A server administrator, through the API.
    ServerAdmin(&'a ServerAdmin),
    /// The operator, from a shell on the server (`portcullis admin`).
    Operator,
}

impl Caller<'_> {
    fn actor(self, realm: &Realm) -> Actor {
        match self {
            Caller::ServerAdmin(a) => Actor {
                user: Some(a.user_id()),
                realm: (a.realm_id() != realm.id).then_some(a.realm_id()),
            },
            Caller::Operator => Actor::from(None),
        }
    }
}

/// What an export carries beyond the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExportOptions {
    /// TOTP factors with their seeds in clear (so that another server,
    /// with another master key, can seal them again).
    pub factors: bool,
}

/// Options of an import.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Validate everything, write nothing.
    pub dry_run: bool,
}

/// Bulk import and export.
pub struct Transfer<'a> {
    i: &'a Inner,
}

impl<'a> Transfer<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// Starts an export of `realm`.
    pub async fn export(
        &self,
        who: Caller<'_>,
        realm: &str,
        options: ExportOptions,
    ) -> Result<Export<'a>> {
        let realm = crate::realms::Realms::new(self.i).by_name(realm).await?;
        Ok(Export {
            i: self.i,
            actor: who.actor(&realm),
            realm,
            options,
            phase: Phase::Header,
            after: None,
            counts: Counts::default(),
        })
    }

    /// Starts an import into `realm` (fresh authentication needed for an
    /// administrator; a dry run needs none).
    pub async fn importer(
        &self,
        who: Caller<'_>,
        realm: &str,
        options: ImportOptions,
    ) -> Result<Importer<'a>> {
        if let (Caller::ServerAdmin(a), false) = (who, options.dry_run) {
            a.check_writable()?;
        }
        let realm = crate::realms::Realms::new(self.i).by_name(realm).await?;
        Importer::start(self.i, who.actor(&realm), realm, options).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Users,
    Authz,
    Organizations,
    Done,
}

#[derive(Debug, Default)]
struct Counts {
    users: u64,
    records: u64,
}

/// An export under way: call [`Export::next_chunk`] until it answers `None`.
pub struct Export<'a> {
    i: &'a Inner,
    actor: Actor,
    realm: Arc<Realm>,
    options: ExportOptions,
    phase: Phase,
    after: Option<Uuid>,
    counts: Counts,
}

impl Export<'_> {
    /// The realm exported.
    pub fn realm(&self) -> &Realm {
        &self.realm
    }

    /// The next lines (each ending with a newline), `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut out = Vec::with_capacity(64 * 1024);
        match self.phase {
            Phase::Header => {
                self.header(&mut out)?;
                self.phase = Phase::Users;
            }
            Phase::Users => {
                let page = self
                    .i
                    .store
                    .users_after(self.realm.id, self.after, EXPORT_PAGE)
                    .await?;
                if (page.len() as u64) < EXPORT_PAGE {
                    self.phase = Phase::Authz;
                }
                self.after = page.last().map(|u| u.id).or(self.after);
                for u in page {
                    let factors = match self.options.factors {
                        true => self.factors_of(&u).await?,
                        false => Vec::new(),
                    };
                    let rec = Record::User(format::UserRecord {
                        id: Some(u.id),
                        email: u.email.as_str().to_owned(),
                        name: u.name,
                        active: u.active,
                        email_verified: u.email_verified,
                        attributes: u.attributes,
                        password_hash: u.password_hash,
                        created_at: Some(u.created_at),
                        factors,
                    });
                    self.counts.users += 1;
                    self.push(&mut out, &rec)?;
                }
            }
            Phase::Authz => {
                self.authz(&mut out).await?;
                self.phase = Phase::Organizations;
            }
            Phase::Organizations => {
                self.organizations(&mut out).await?;
                self.phase = Phase::Done;
                crate::audit::event(
                    self.i,
                    self.realm.id,
                    self.actor,
                    "realm.export",
                    format!("realm:{}", self.realm.id),
                    json!({"users": self.counts.users, "records": self.counts.records,
                           "factors": self.options.factors}),
                )
                .await;
            }
            Phase::Done => return Ok(None),
        }
        Ok(Some(out))
    }

    fn push(&mut self, out: &mut Vec<u8>, rec: &Record) -> Result<()> {
        serde_json::to_writer(&mut *out, rec)
            .map_err(|_| crate::Error::Internal("export-serialise"))?;
        out.push(b'\n');
        self.counts.records += 1;
        Ok(())
    }

    fn header(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let header = Header {
            format: format::FORMAT_NAME.to_owned(),
            version: format::FORMAT_VERSION,
            realm: Some(self.realm.name.as_str().to_owned()),
            exported_at: Some(self.i.clock.now()),
        };
        serde_json::to_writer(&mut *out, &header)
            .map_err(|_| crate::Error::Internal("export-serialise"))?;
        out.push(b'\n');
        let r = &self.realm;
        let rec = Record::Realm(format::RealmRecord {
            display_name: r.display_name.clone(),
            password_min_length: r.password_min_length,
            time_zone: r.time_zone.as_str().to_owned(),
            require_verified_email: r.require_verified_email,
        });
        self.push(out, &rec)
    }

    async fn factors_of(&self, u: &crate::model::User) -> Result<Vec<format::FactorRecord>> {
        let mut out = Vec::new();
        for f in self.i.store.list_factors(self.realm.id, u.id).await? {
            let (FactorKind::Totp, Some(blob)) = (f.kind, f.secret_enc.as_deref()) else {
                continue;
            };
            let aad = format!("mfa_factor:{}", f.id).into_bytes();
            let seed = self.i.keys.master().decrypt(blob, &aad)?;
            out.push(format::FactorRecord {
                id: f.id,
                kind: "totp".to_owned(),
                name: f.name,
                secret: format::base32_encode(&seed),
                confirmed: f.confirmed_at.is_some(),
            });
        }
        Ok(out)
    }

    /// Roles, groups, memberships and grants, from one consistent snapshot.
    async fn authz(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let snap = self.i.store.authz_snapshot(self.realm.id).await?;
        // Included roles first, so an import meets every role before it is
        // included.
        let mut roles = snap.roles;
        roles.sort_by_key(|r| r.includes.len());
        let mut written = std::collections::HashSet::new();
        while !roles.is_empty() {
            let (ready, rest): (Vec<_>, Vec<_>) = roles
                .into_iter()
                .partition(|r| r.includes.iter().all(|i| written.contains(i)));
            let stuck = ready.is_empty();
            for r in if stuck { rest.clone() } else { ready } {
                written.insert(r.id);
                let rec = Record::Role(format::RoleRecord {
                    id: r.id,
                    name: r.name,
                    description: r.description,
                    permissions: r.permissions.iter().map(ToString::to_string).collect(),
                    includes: r.includes,
                });
                self.push(out, &rec)?;
            }
            roles = if stuck { Vec::new() } else { rest };
        }
        let mut groups = snap.groups;
        let mut placed = std::collections::HashSet::new();
        while !groups.is_empty() {
            let (ready, rest): (Vec<_>, Vec<_>) = groups
                .into_iter()
                .partition(|g| g.parent.is_none_or(|p| placed.contains(&p)));
            let stuck = ready.is_empty();
            for g in if stuck { rest.clone() } else { ready } {
                placed.insert(g.id);
                let rec = Record::Group(format::GroupRecord {
                    id: g.id,
                    name: g.name,
                    description: g.description,
                    parent: g.parent,
                });
                self.push(out, &rec)?;
            }
            groups = if stuck { Vec::new() } else { rest };
        }
        for m in snap.memberships {
            let rec = Record::Membership(format::MembershipRecord {
                user: m.user,
                group: m.group,
                validity: m.validity,
            });
            self.push(out, &rec)?;
        }
        for g in snap.role_grants {
            let rec = Record::Grant(format::GrantRecord {
                to: g.to,
                role: Some(g.role),
                permission: None,
                effect: None,
                validity: g.validity,
            });
            self.push(out, &rec)?;
        }
        for g in snap.permission_grants {
            let rec = Record::Grant(format::GrantRecord {
                to: g.to,
                role: None,
                permission: Some(g.permission.to_string()),
                effect: Some(g.effect),
                validity: g.validity,
            });
            self.push(out, &rec)?;
        }
        Ok(())
    }

    /// Organizations, parents before children, then their members.
    async fn organizations(&mut self, out: &mut Vec<u8>) -> Result<()> {
        let mut orgs = Vec::new();
        let mut offset = 0;
        loop {
            let query = OrgQuery {
                offset,
                limit: ORG_PAGE,
                ..OrgQuery::default()
            };
            let page = self
                .i
                .store
                .list_organizations(self.realm.id, &query)
                .await?;
            let n = page.items.len() as u64;
            orgs.extend(page.items);
            offset += n;
            if n < ORG_PAGE {
                break;
            }
        }
        let mut placed = std::collections::HashSet::new();
        let mut ordered = Vec::with_capacity(orgs.len());
        while !orgs.is_empty() {
            let (ready, rest): (Vec<_>, Vec<_>) = orgs
                .into_iter()
                .partition(|o| o.parent_id.is_none_or(|p| placed.contains(&p)));
            if ready.is_empty() {
                ordered.extend(rest);
                break;
            }
            placed.extend(ready.iter().map(|o| o.id));
            ordered.extend(ready);
            orgs = rest;
        }
        for o in &ordered {
            let rec = Record::Organization(format::OrganizationRecord {
                id: o.id,
                name: o.name.clone(),
                display_name: o.display_name.clone(),
                description: o.description.clone(),
                parent: o.parent_id,
                attributes: o.attributes.clone(),
            });
            self.push(out, &rec)?;
        }
        for o in &ordered {
            let mut offset = 0;
            loop {
                let page = self
                    .i
                    .store
                    .list_memberships(self.realm.id, o.id, offset, ORG_PAGE)
                    .await?;
                let n = page.items.len() as u64;
                for m in page.items {
                    let rec = Record::OrganizationMember(format::OrganizationMemberRecord {
                        organization: o.id,
                        user: m.membership.user_id,
                        role: m.membership.role,
                    });
                    self.push(out, &rec)?;
                }
                offset += n;
                if n < ORG_PAGE {
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The time an imported record says, or now.
fn or_now(at: Option<OffsetDateTime>, now: OffsetDateTime) -> OffsetDateTime {
    at.unwrap_or(now)
}
