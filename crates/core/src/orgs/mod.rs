//! Organizations inside a realm: the companies, departments and customers
//! whose people hold accounts in it (Keycloak's Organizations, ZITADEL's
//! organizations, seed 000's multi-tenant hierarchy).
//!
//! An organization has a name unique in its realm, an optional parent (a
//! tree, cycles refused, at most [`MAX_DEPTH`] levels), a display name, a
//! description and attributes. An account may belong to several
//! organizations, each membership with a role in that organization:
//! `owner`, `admin`, `member`, or a role of the realm.
//!
//! Administration needs `organizations:read:all` / `organizations:manage:all`
//! (the built-in `realm-admin` role holds both). An organization's `owner`s
//! and `admin`s administer its members (and those of the organizations
//! below it) through the same permissions at scope `team`, which the
//! built-in `user` role holds: the engine decides it, the organization
//! being one of their teams (`org:<name>`). Every change is audited
//! (`organization.create`, `organization.update`, `organization.delete`,
//! `organization.member.put`, `organization.member.remove`).
//!
//! Organizations also claim verified e-mail domains ([`domains`]), invite
//! people by e-mail ([`invitations`]) and show a dashboard ([`dashboard`]).

pub mod claim;
pub mod dashboard;
pub mod domains;
pub mod invitations;

pub use dashboard::{Dashboard, OrgStats};
pub use domains::{OrgDomain, VerifyMethod};
pub use invitations::{Invitation, MyOrganizations};

use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::access::{Allowed, OrgAllowed, OrganizationsManage, OrganizationsRead};
use crate::app::Inner;
use crate::error::{Error, FieldError, Result};
use crate::model::{Email, Page, new_id};

/// Deepest nesting of organizations (a root is at depth 1).
pub const MAX_DEPTH: usize = 16;
/// Largest page of organization and member lists.
pub const MAX_PAGE_SIZE: u64 = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 1_000;

/// The role of a member who owns the organization.
pub const OWNER: &str = "owner";
/// The role of a member who administers the organization.
pub const ADMIN: &str = "admin";
/// The role of a plain member.
pub const MEMBER: &str = "member";

/// An organization of a realm.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// Owning realm.
    pub realm_id: Uuid,
    /// Name, unique in the realm: 1-64 of a-z, 0-9, `-`, `_`.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Free text.
    pub description: Option<String>,
    /// The parent organization.
    pub parent_id: Option<Uuid>,
    /// Attributes (a small JSON object, as users').
    pub attributes: Map<String, Value>,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A user's membership of an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The realm.
    pub realm_id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The member.
    pub user_id: Uuid,
    /// Its role in the organization.
    pub role: String,
    /// When it joined.
    pub created_at: OffsetDateTime,
}

/// A member as lists show it: the membership and who it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The membership.
    pub membership: Membership,
    /// The member's address.
    pub email: Email,
    /// The member's display name.
    pub name: Option<String>,
}

/// A query of a realm's organizations.
#[derive(Debug, Clone, Default)]
pub struct OrgQuery {
    /// Only organizations whose name or display name contains this
    /// (case-insensitive).
    pub search: Option<String>,
    /// Only the children of this organization.
    pub parent: Option<Uuid>,
    /// Items to skip.
    pub offset: u64,
    /// Most items.
    pub limit: u64,
}

/// A new organization, as a caller gives it.
#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    /// Name.
    pub name: String,
    /// Display name (defaults to the name).
    pub display_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The parent, by id or name.
    pub parent: Option<String>,
    /// Attributes.
    pub attributes: Option<Map<String, Value>>,
}

/// A partial change of an organization: fields present change. `parent:
/// Some(None)` makes the organization a root; `description: Some(None)`
/// removes it.
#[derive(Debug, Clone, Default)]
pub struct OrgPatch {
    /// New name.
    pub name: Option<String>,
    /// New display name.
    pub display_name: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
    /// New parent, by id or name.
    pub parent: Option<Option<String>>,
    /// New attributes (replace the old ones).
    pub attributes: Option<Map<String, Value>>,
}

/// Validates an organization's name: 1-64 of a-z, 0-9, `-`, `_`, starting
/// with a letter or digit.
pub fn parse_org_name(input: &str) -> std::result::Result<String, FieldError> {
    crate::model::RealmName::parse(input)
        .map(|n| n.to_string())
        .map_err(|e| FieldError::new("name", e.reason))
}

fn parse_description(input: &str) -> std::result::Result<Option<String>, FieldError> {
    let t = input.trim();
    if t.is_empty() {
        return Ok(None);
    }
    if t.chars().count() > MAX_DESCRIPTION {
        return Err(FieldError::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err(FieldError::new(
            "description",
            "must not contain control characters",
        ));
    }
    crate::text::plain("description", t)?;
    Ok(Some(t.to_owned()))
}

/// Organization administration.
pub struct Organizations<'a> {
    i: &'a Inner,
}

impl<'a> Organizations<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// Collaborator: authz.
    fn authz(&self) -> crate::authz::Authz<'a> {
        crate::authz::Authz::new(self.i)
    }

    /// An organization of `realm_id` by id or name, or 404.
    async fn find(&self, realm_id: Uuid, key: &str) -> Result<Organization> {
        let store = &self.i.store;
        let found = match Uuid::parse_str(key) {
            Ok(id) => store.get_organization(realm_id, id).await?,
            Err(_) => store.get_organization_by_name(realm_id, key).await?,
        };
        found.ok_or(Error::NotFound("organization"))
    }

    /// The parent named by `key` for the organization `child` (none when
    /// creating): it must exist, and `child` must not be it or one of its
    /// ancestors; the tree stays within [`MAX_DEPTH`] levels counting the
    /// child's own subtree height `below`.
    async fn check_parent(
        &self,
        realm_id: Uuid,
        key: &str,
        child: Option<Uuid>,
        below: usize,
    ) -> Result<std::result::Result<Uuid, FieldError>> {
        let Ok(parent) = self.find(realm_id, key).await else {
            return Ok(Err(FieldError::new(
                "parent",
                "is not an organization of this realm",
            )));
        };
        let mut depth = 1;
        let mut at = Some(parent.clone());
        while let Some(org) = at {
            if Some(org.id) == child {
                return Ok(Err(FieldError::new(
                    "parent",
                    "would make the organization its own ancestor",
                )));
            }
            if depth + below > MAX_DEPTH {
                return Ok(Err(FieldError::new(
                    "parent",
                    format!("organizations nest at most {MAX_DEPTH} levels"),
                )));
            }
            depth += 1;
            at = match org.parent_id {
                Some(p) => self.i.store.get_organization(realm_id, p).await?,
                None => None,
            };
        }
        Ok(Ok(parent.id))
    }

    /// Levels of the subtree under `id`, itself included (1 for a leaf),
    /// counted until it exceeds [`MAX_DEPTH`].
    async fn height(&self, realm_id: Uuid, id: Uuid) -> Result<usize> {
        let mut level = vec![id];
        let mut height = 0;
        while !level.is_empty() && height <= MAX_DEPTH {
            height += 1;
            let mut next = Vec::new();
            for parent in level {
                let children = self
                    .i
                    .store
                    .list_organizations(
                        realm_id,
                        &OrgQuery {
                            parent: Some(parent),
                            limit: MAX_PAGE_SIZE,
                            ..OrgQuery::default()
                        },
                    )
                    .await?;
                next.extend(children.items.into_iter().map(|c| c.id));
            }
            level = next;
        }
        Ok(height)
    }

    /// Creates an organization.
    pub async fn create(
        &self,
        admin: &Allowed<OrganizationsManage>,
        new: NewOrganization,
    ) -> Result<Organization> {
        let realm_id = admin.realm().id;
        let mut errors = Vec::new();
        let name = parse_org_name(&new.name).map_err(|e| errors.push(e)).ok();
        let display_name = new
            .display_name
            .as_deref()
            .map(|d| crate::realms::parse_display_name("display_name", d))
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten();
        let description = new
            .description
            .as_deref()
            .map(parse_description)
            .transpose()
            .map_err(|e| errors.push(e))
            .ok()
            .flatten()
            .flatten();
        let attributes = crate::users::check_attributes(new.attributes.unwrap_or_default())
            .map_err(|e| errors.push(e))
            .ok();
        let parent = match new.parent.as_deref() {
            Some(key) => self
                .check_parent(realm_id, key, None, 1)
                .await?
                .map_err(|e| errors.push(e))
                .ok(),
            None => None,
        };
        let (Some(name), Some(attributes), true) = (name, attributes, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        let now = self.i.clock.now();
        let org = Organization {
            id: new_id(),
            realm_id,
            display_name: display_name.unwrap_or_else(|| name.clone()),
            name,
            description,
            parent_id: parent,
            attributes,
            created_at: now,
            updated_at: now,
        };
        self.i
            .store
            .create_organization(&org)
            .await
            .map_err(|e| name_conflict(e, &org.name))?;
        self.audit(admin, "organization.create", &org).await;
        Ok(org)
    }

    /// A page of the realm's organizations by name (`page` from 1).
    pub async fn list(
        &self,
        admin: &Allowed<OrganizationsRead>,
        search: Option<&str>,
        parent: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Organization>> {
        let realm_id = admin.realm().id;
        let (offset, limit) = paging(page, per_page)?;
        if search.is_some_and(|s| s.chars().count() > 200) {
            return Err(Error::field("search", "must be at most 200 characters"));
        }
        let parent = match parent {
            Some(key) => Some(self.find(realm_id, key).await?.id),
            None => None,
        };
        Ok(self
            .i
            .store
            .list_organizations(
                realm_id,
                &OrgQuery {
                    search: search.map(str::to_owned).filter(|s| !s.is_empty()),
                    parent,
                    offset,
                    limit,
                },
            )
            .await?)
    }

    /// An organization by id or name (for its delegated administrators too).
    pub async fn get(&self, admin: &OrgAllowed<OrganizationsRead>) -> Result<Organization> {
        self.find(admin.realm().id, admin.key()).await
    }

    /// Applies a partial change.
    pub async fn update(
        &self,
        admin: &Allowed<OrganizationsManage>,
        key: &str,
        patch: OrgPatch,
    ) -> Result<Organization> {
        let realm_id = admin.realm().id;
        let mut org = self.find(realm_id, key).await?;
        let before = org.clone();
        let mut errors = Vec::new();
        if let Some(name) = &patch.name {
            match parse_org_name(name) {
                Ok(n) => org.name = n,
                Err(e) => errors.push(e),
            }
        }
        if let Some(d) = &patch.display_name {
            match crate::realms::parse_display_name("display_name", d) {
                Ok(d) => org.display_name = d,
                Err(e) => errors.push(e),
            }
        }
        if let Some(d) = patch.description {
            match d.as_deref().map(parse_description).transpose() {
                Ok(d) => org.description = d.flatten(),
                Err(e) => errors.push(e),
            }
        }
        if let Some(a) = patch.attributes {
            match crate::users::check_attributes(a) {
                Ok(a) => org.attributes = a,
                Err(e) => errors.push(e),
            }
        }
        if let Some(parent) = patch.parent {
            org.parent_id = match parent {
                Some(key) => {
                    let below = self.height(realm_id, org.id).await?;
                    self.check_parent(realm_id, &key, Some(org.id), below)
                        .await?
                        .map_err(|e| errors.push(e))
                        .ok()
                }
                None => None,
            };
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        if org == before {
            return Ok(org);
        }
        org.updated_at = self.i.clock.now();
        if !self
            .i
            .store
            .update_organization(&org)
            .await
            .map_err(|e| name_conflict(e, &org.name))?
        {
            return Err(Error::NotFound("organization"));
        }
        self.audit(admin, "organization.update", &org).await;
        Ok(org)
    }

    /// Deletes an organization and its memberships; 409 while it has
    /// child organizations.
    pub async fn delete(&self, admin: &Allowed<OrganizationsManage>, key: &str) -> Result<()> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, key).await?;
        match self.i.store.delete_organization(realm_id, org.id).await {
            Ok(true) => {}
            Ok(false) => return Err(Error::NotFound("organization")),
            Err(crate::StoreError::Conflict(_)) => {
                return Err(Error::Conflict(
                    "the organization has child organizations: delete or move them first".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        self.audit(admin, "organization.delete", &org).await;
        Ok(())
    }

    /// Adds a user to an organization with a role (`member` by default),
    /// or changes its role; true when it was added. A delegated
    /// administrator gives `member` or `admin` only, and leaves owners and
    /// members holding a realm role alone (409): those need the realm's
    /// permission.
    pub async fn put_member(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        user_id: Uuid,
        role: Option<&str>,
    ) -> Result<(Member, bool)> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        let role = self.check_role(realm_id, role.unwrap_or(MEMBER)).await?;
        if admin.is_delegated() {
            if role != MEMBER && role != ADMIN {
                return Err(Error::field(
                    "role",
                    "an organization's administrators give the roles member and admin only",
                ));
            }
            self.check_delegated_target(realm_id, org.id, user_id)
                .await?;
        }
        let Some(user) = self.i.store.get_user(realm_id, user_id).await? else {
            return Err(Error::field("user_id", "is not a user of this realm"));
        };
        let membership = Membership {
            realm_id,
            organization_id: org.id,
            user_id,
            role,
            created_at: self.i.clock.now(),
        };
        let added = match self.i.store.put_membership(&membership).await {
            Ok(added) => added,
            Err(crate::StoreError::NotFound) => return Err(Error::NotFound("organization")),
            Err(e) => return Err(e.into()),
        };
        self.changed(realm_id);
        let stored = self
            .i
            .store
            .get_membership(realm_id, org.id, user_id)
            .await?
            .ok_or(Error::NotFound("organization"))?;
        crate::audit::event(
            self.i,
            realm_id,
            admin.caller(),
            "organization.member.put",
            format!("organization:{}", org.id),
            serde_json::json!({ "user": user_id, "role": stored.role, "added": added }),
        )
        .await;
        Ok((
            Member {
                membership: stored,
                email: user.email,
                name: user.name,
            },
            added,
        ))
    }

    /// Removes a member (a delegated administrator: not an owner, nor a
    /// member holding a realm role).
    pub async fn remove_member(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        user_id: Uuid,
    ) -> Result<()> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        if admin.is_delegated() {
            self.check_delegated_target(realm_id, org.id, user_id)
                .await?;
        }
        if !self
            .i
            .store
            .delete_membership(realm_id, org.id, user_id)
            .await?
        {
            return Err(Error::NotFound("member"));
        }
        self.changed(realm_id);
        crate::audit::event(
            self.i,
            realm_id,
            admin.caller(),
            "organization.member.remove",
            format!("organization:{}", org.id),
            serde_json::json!({ "user": user_id }),
        )
        .await;
        Ok(())
    }

    /// 409 when a delegated administrator would change an owner's or a
    /// realm role holder's membership.
    async fn check_delegated_target(&self, realm_id: Uuid, org: Uuid, user: Uuid) -> Result<()> {
        match self.i.store.get_membership(realm_id, org, user).await? {
            Some(m) if m.role != MEMBER && m.role != ADMIN => Err(Error::Conflict(
                "this membership is changed by the realm's administrators only (an owner, or a realm role)"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// A page of an organization's members, oldest first.
    pub async fn members(
        &self,
        admin: &OrgAllowed<OrganizationsRead>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<Member>> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        let (offset, limit) = paging(page, per_page)?;
        Ok(self
            .i
            .store
            .list_memberships(realm_id, org.id, offset, limit)
            .await?)
    }

    /// The organizations a user of the realm belongs to, with its roles.
    pub async fn of_user(
        &self,
        admin: &Allowed<OrganizationsRead>,
        user_id: Uuid,
    ) -> Result<Vec<(Organization, String)>> {
        self.memberships(admin.realm().id, user_id).await
    }

    /// A user's organizations and roles, by organization name.
    pub(crate) async fn memberships(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> Result<Vec<(Organization, String)>> {
        let mut out = Vec::new();
        for m in self.i.store.memberships_of(realm_id, user_id).await? {
            if let Some(org) = self
                .i
                .store
                .get_organization(realm_id, m.organization_id)
                .await?
            {
                out.push((org, m.role));
            }
        }
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        Ok(out)
    }

    /// A membership role: `owner`, `admin`, `member`, or a role of the realm.
    async fn check_role(&self, realm_id: Uuid, role: &str) -> Result<String> {
        if [OWNER, ADMIN, MEMBER].contains(&role) {
            return Ok(role.to_owned());
        }
        let view = self.authz().view(realm_id, None).await?;
        if role.len() <= 64 && view.compiled.role_id(role).is_some() {
            Ok(role.to_owned())
        } else {
            Err(Error::field(
                "role",
                "must be owner, admin, member or a role of this realm",
            ))
        }
    }

    /// Organizations feed the authorization engine: after a change, the
    /// realm's compiled view is dropped here and on the other instances.
    fn changed(&self, realm_id: Uuid) {
        self.authz().invalidate(realm_id);
        self.i.announce(crate::notices::Notice::Authz { realm_id });
    }

    async fn audit<R: crate::access::Right>(
        &self,
        admin: &Allowed<R>,
        action: &str,
        org: &Organization,
    ) {
        self.changed(org.realm_id);
        metrics::counter!("portcullis_organization_changes_total", "action" => action.to_owned())
            .increment(1);
        crate::audit::event(
            self.i,
            org.realm_id,
            admin.caller(),
            action,
            format!("organization:{}", org.id),
            serde_json::json!({
                "name": org.name,
                "display_name": org.display_name,
                "parent": org.parent_id,
            }),
        )
        .await;
    }
}

/// `(offset, limit)` of page `page` (from 1) of `per_page` items, or 422.
fn paging(page: u64, per_page: u64) -> Result<(u64, u64)> {
    let mut errors = Vec::new();
    if page == 0 {
        errors.push(FieldError::new("page", "must be at least 1"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&per_page) {
        errors.push(FieldError::new(
            "per_page",
            format!("must be 1 to {MAX_PAGE_SIZE}"),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok((page.saturating_sub(1).saturating_mul(per_page), per_page))
}

fn name_conflict(e: crate::StoreError, name: &str) -> Error {
    match e {
        crate::StoreError::Conflict(_) => Error::Conflict(format!(
            "an organization named '{name}' already exists in this realm"
        )),
        crate::StoreError::NotFound => {
            Error::field("parent", "is not an organization of this realm")
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_descriptions_and_pages_are_checked() {
        assert_eq!(parse_org_name("acme-eu").unwrap(), "acme-eu");
        assert_eq!(parse_org_name("Acme").unwrap_err().field, "name");
        assert!(parse_org_name("").is_err());
        assert!(parse_org_name(&"a".repeat(65)).is_err());
        assert_eq!(parse_description("  ").unwrap(), None);
        assert_eq!(
            parse_description(" Sales\nEurope ").unwrap().as_deref(),
            Some("Sales\nEurope")
        );
        assert!(parse_description("<script>x</script>").is_err());
        assert!(parse_description(&"x".repeat(MAX_DESCRIPTION + 1)).is_err());
        assert!(parse_description("bell\u{7}").is_err());
        assert_eq!(paging(1, 50).unwrap(), (0, 50));
        assert_eq!(paging(3, 10).unwrap(), (20, 10));
        let Err(Error::Validation(errors)) = paging(0, 0) else {
            panic!("page 0 of 0 refused");
        };
        assert_eq!(errors.len(), 2);
    }
}
