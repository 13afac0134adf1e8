//! User administration for realm administrators.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::access::{Requester, UsersManage};
use crate::accounts::{conflict_email, parse_name};
use crate::app::Inner;
use crate::error::{Error, FieldError, Result};
use crate::model::{Email, Page, User, UserQuery, new_id};
use crate::passwords::check_new_password;
use crate::tokens::LEEWAY;

/// Largest page size of user lists.
pub const MAX_PAGE_SIZE: u64 = 200;

/// A caller proven to administer its realm (right [`UsersManage`], decided
/// by [`crate::access::Access`] for an active account): the only value that
/// unlocks the methods of [`Users`]. It can only be made by
/// [`Users::require_admin`] (reads) or [`Users::require_fresh_admin`]
/// (writes, which are sensitive: see [`crate::access::Fresh`]).
#[derive(Debug, Clone)]
pub struct RealmAdmin {
    realm_id: Uuid,
    user_id: Uuid,
    /// The admin's own realm when it acts in this one across realms.
    home_realm: Option<Uuid>,
    realm_min_password: u32,
    /// Whether the caller's authentication was fresh: writes need it.
    fresh: bool,
}

impl RealmAdmin {
    /// `Ok` when this admin may write: made by
    /// [`Users::require_fresh_admin`] (or the command line). A write
    /// reached with a read-only proof is a bug, refused rather than let
    /// through.
    pub(crate) fn writable(&self) -> Result<()> {
        match self.fresh {
            true => Ok(()),
            false => Err(Error::Internal("admin-write-without-fresh-authentication")),
        }
    }
}

impl RealmAdmin {
    /// The realm it administers (where it acts).
    pub fn realm_id(&self) -> Uuid {
        self.realm_id
    }

    /// The administrator's account.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// Who it is, as audit records name it.
    pub(crate) fn actor(&self) -> crate::audit::Actor {
        actor(self)
    }
}

/// A user created by an administrator.
#[derive(Debug)]
pub struct NewUser {
    /// Email.
    pub email: String,
    /// Initial password, if any.
    pub password: Option<SecretString>,
    /// Display name.
    pub name: Option<String>,
    /// Administrator flag.
    pub admin: bool,
    /// Attributes for policy conditions.
    pub attributes: Option<Map<String, Value>>,
}

/// The editable fields of a user (PUT semantics).
#[derive(Debug)]
pub struct UserUpdate {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// Administrator flag.
    pub admin: bool,
    /// Attributes for policy conditions; `None` leaves them unchanged.
    pub attributes: Option<Map<String, Value>>,
}

/// A user with the names of the roles it holds now, as administrators see
/// it.
#[derive(Debug, Clone)]
pub struct ManagedUser {
    /// The account.
    pub user: User,
    /// Roles held now (directly, through groups, or included), sorted.
    pub roles: Vec<String>,
}

impl ManagedUser {
    /// Whether the user holds the built-in `realm-admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == portcullis_policy::builtin::REALM_ADMIN)
    }
}

/// User administration service.
pub struct Users<'a> {
    i: &'a Inner,
}

impl<'a> Users<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Users works with, built here and nowhere else in it.

    /// Collaborator: access.
    fn access(&self) -> crate::access::Access<'a> {
        crate::access::Access::new(self.i)
    }

    /// Collaborator: accounts.
    fn accounts(&self) -> crate::accounts::Accounts<'a> {
        crate::accounts::Accounts::new(self.i)
    }

    /// Collaborator: authz.
    fn authz(&self) -> crate::authz::Authz<'a> {
        crate::authz::Authz::new(self.i)
    }

    /// Collaborator: realms.
    fn realms(&self) -> crate::realms::Realms<'a> {
        crate::realms::Realms::new(self.i)
    }

    /// Proves the caller is an active administrator of the realm it acts
    /// in (its own, or any realm for a server administrator acting across
    /// realms: see [`Requester::across`]).
    pub async fn require_admin(&self, requester: &Requester) -> Result<RealmAdmin> {
        let who = &requester.who;
        match self.i.store.get_user(who.realm.id, who.user_id).await? {
            Some(u) if u.active => {
                self.access().decide_for::<UsersManage>(requester).await?;
                let realm = requester.realm();
                Ok(RealmAdmin {
                    realm_id: realm.id,
                    user_id: u.id,
                    home_realm: requester.is_cross_realm().then_some(who.realm.id),
                    realm_min_password: realm.password_min_length,
                    fresh: false,
                })
            }
            _ => Err(Error::NotAuthenticated("account no longer active")),
        }
    }

    /// Proves the caller is an active administrator of the realm it acts
    /// in who authenticated recently ([`crate::access::Access::fresh`]):
    /// what the writes of [`Users`] need.
    pub async fn require_fresh_admin(&self, requester: &Requester) -> Result<RealmAdmin> {
        let mut admin = self.require_admin(requester).await?;
        self.access().fresh(&requester.who).await?;
        admin.fresh = true;
        Ok(admin)
    }

    /// A page of users (`page` from 1), optionally filtered by email prefix.
    pub async fn list(
        &self,
        admin: &RealmAdmin,
        email_prefix: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<ManagedUser>> {
        let mut errors = Vec::new();
        if page == 0 {
            errors.push(crate::FieldError::new("page", "must be at least 1"));
        }
        if per_page == 0 || per_page > MAX_PAGE_SIZE {
            errors.push(crate::FieldError::new(
                "per_page",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let query = UserQuery {
            email_prefix: email_prefix
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty()),
            offset: (page - 1).saturating_mul(per_page),
            limit: per_page,
        };
        let page = self.i.store.list_users(admin.realm_id, &query).await?;
        let authz = self.authz();
        let view = authz.view(admin.realm_id, None).await?;
        let now = authz.now_micros();
        Ok(Page {
            total: page.total,
            items: page
                .items
                .into_iter()
                .map(|user| ManagedUser {
                    roles: view.compiled.role_names(user.id, now),
                    user,
                })
                .collect(),
        })
    }

    /// Creates a user.
    pub async fn create(&self, admin: &RealmAdmin, new: NewUser) -> Result<ManagedUser> {
        admin.writable()?;
        let mut errors = Vec::new();
        let email = Email::parse(&new.email).map_err(|e| errors.push(e)).ok();
        let attributes = match new.attributes {
            Some(a) => check_attributes(a).map_err(|e| errors.push(e)).ok(),
            None => Some(Map::new()),
        };
        let name = parse_name(new.name.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        if let Some(Err(e)) = new.password.as_ref().map(|p| {
            check_new_password(
                "password",
                p.expose_secret(),
                admin.realm_min_password,
                email.as_ref(),
            )
        }) {
            errors.push(e);
        }
        let (Some(email), Some(name), Some(attributes), true) =
            (email, name, attributes, errors.is_empty())
        else {
            return Err(Error::Validation(errors));
        };
        let password_hash = match new.password {
            Some(p) => Some(self.i.passwords.hash(p).await?),
            None => None,
        };
        let now = self.i.clock.now();
        let user = User {
            id: new_id(),
            realm_id: admin.realm_id,
            email,
            name,
            password_hash,
            active: true,
            email_verified: false,
            attributes,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        self.i
            .store
            .create_user(&user)
            .await
            .map_err(conflict_email)?;
        let authz = self.authz();
        authz
            .grant_default_role(admin.realm_id, actor(admin), user.id)
            .await?;
        if new.admin {
            authz
                .set_realm_admin(admin.realm_id, actor(admin), user.id, true)
                .await?;
        }
        self.with_roles(user).await
    }

    /// The user with the roles it holds now.
    pub async fn with_roles(&self, user: User) -> Result<ManagedUser> {
        let roles = self.authz().role_names(user.realm_id, user.id).await?;
        Ok(ManagedUser { user, roles })
    }

    /// One user.
    pub async fn get(&self, admin: &RealmAdmin, id: Uuid) -> Result<ManagedUser> {
        let user = self.get_user(admin, id).await?;
        self.with_roles(user).await
    }

    async fn get_user(&self, admin: &RealmAdmin, id: Uuid) -> Result<User> {
        self.i
            .store
            .get_user(admin.realm_id, id)
            .await?
            .ok_or(Error::NotFound("user"))
    }

    /// Replaces a user's editable fields.
    pub async fn update(
        &self,
        admin: &RealmAdmin,
        id: Uuid,
        update: UserUpdate,
    ) -> Result<ManagedUser> {
        admin.writable()?;
        let mut errors = Vec::new();
        let email = Email::parse(&update.email).map_err(|e| errors.push(e)).ok();
        let attributes = match update.attributes {
            Some(a) => check_attributes(a)
                .map(Some)
                .map_err(|e| errors.push(e))
                .ok(),
            None => Some(None),
        };
        let name = parse_name(update.name.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(email), Some(name), Some(attributes)) = (email, name, attributes) else {
            return Err(Error::Validation(errors));
        };
        let mut user = self.get_user(admin, id).await?;
        if id == admin.user_id && !update.admin {
            return Err(Error::Conflict(
                "you cannot remove your own administrator rights".into(),
            ));
        }
        if user.email.canonical() != email.canonical() {
            // The new address has not been proven.
            user.email_verified = false;
        }
        user.email = email;
        user.name = name;
        user.updated_at = self.i.clock.now();
        self.i
            .store
            .update_user(&user)
            .await
            .map_err(conflict_email)?;
        let authz = self.authz();
        authz
            .set_realm_admin(admin.realm_id, actor(admin), user.id, update.admin)
            .await?;
        if let Some(attributes) = attributes
            && attributes != user.attributes
        {
            authz
                .set_user_attributes(admin.realm_id, actor(admin), &user, attributes.clone())
                .await?;
            user.attributes = attributes;
        }
        self.with_roles(user).await
    }

    /// Deletes a user, ending their sessions at once.
    pub async fn delete(&self, admin: &RealmAdmin, id: Uuid) -> Result<()> {
        admin.writable()?;
        if id == admin.user_id {
            return Err(Error::Conflict("you cannot delete your own account".into()));
        }
        self.get(admin, id).await?;
        remove_account(self.i, admin.realm_id, id).await
    }

    /// Deactivates a user and ends every session of theirs at once.
    pub async fn deactivate(&self, admin: &RealmAdmin, id: Uuid) -> Result<ManagedUser> {
        admin.writable()?;
        if id == admin.user_id {
            return Err(Error::Conflict(
                "you cannot deactivate your own account".into(),
            ));
        }
        let user = self.set_active(admin, id, false).await?;
        cut_off(self.i, admin.realm_id, id).await?;
        Ok(user)
    }

    /// Reactivates a user.
    pub async fn reactivate(&self, admin: &RealmAdmin, id: Uuid) -> Result<ManagedUser> {
        admin.writable()?;
        let user = self.set_active(admin, id, true).await?;
        self.i.denylist.allow_user(id);
        Ok(user)
    }

    async fn set_active(&self, admin: &RealmAdmin, id: Uuid, active: bool) -> Result<ManagedUser> {
        let mut user = self.get_user(admin, id).await?;
        if user.active != active {
            user.active = active;
            user.updated_at = self.i.clock.now();
            self.i.store.update_user(&user).await?;
        }
        self.with_roles(user).await
    }

    /// Sets a user's password from the command line (operator rights), applying
    /// the realm's policy and ending the user's sessions.
    pub async fn set_password_as_operator(
        &self,
        realm_name: &str,
        email: &str,
        password: SecretString,
    ) -> Result<User> {
        let realm = self.realms().by_name(realm_name).await?;
        let email = Email::parse(email)?;
        let mut user = self
            .i
            .store
            .get_user_by_email(realm.id, &email)
            .await?
            .ok_or(Error::NotFound("user"))?;
        check_new_password(
            "password",
            password.expose_secret(),
            realm.password_min_length,
            Some(&user.email),
        )?;
        user.password_hash = Some(self.i.passwords.hash(password).await?);
        user.updated_at = self.i.clock.now();
        self.i.store.update_user(&user).await?;
        self.accounts().end_all_sessions(realm.id, user.id).await?;
        Ok(user)
    }

    /// Creates the first administrator of a realm a server administrator
    /// just created (`home` is that administrator's id and realm, for the
    /// audit trail).
    pub(crate) async fn create_first_admin(
        &self,
        realm: &crate::model::Realm,
        home: (Uuid, Uuid),
        new: NewUser,
    ) -> Result<ManagedUser> {
        let (user_id, home_realm) = home;
        let server = RealmAdmin {
            realm_id: realm.id,
            user_id,
            home_realm: Some(home_realm),
            realm_min_password: realm.password_min_length,
            fresh: true,
        };
        self.create(&server, new).await
    }

    /// Creates a user from the command line (operator rights).
    pub async fn create_as_operator(&self, realm_name: &str, new: NewUser) -> Result<ManagedUser> {
        let realm = self.realms().by_name(realm_name).await?;
        let operator = RealmAdmin {
            realm_id: realm.id,
            user_id: Uuid::nil(),
            home_realm: None,
            realm_min_password: realm.password_min_length,
            fresh: true,
        };
        self.create(&operator, new).await
    }
}

/// The acting user for the audit trail (`None` for the command line).
fn actor(admin: &RealmAdmin) -> crate::audit::Actor {
    crate::audit::Actor {
        user: (!admin.user_id.is_nil()).then_some(admin.user_id),
        realm: admin.home_realm,
    }
}

/// Most attributes per user.
const MAX_ATTRIBUTES: usize = 64;
/// Longest attribute name.
const MAX_ATTRIBUTE_NAME: usize = 64;
/// Largest attributes object, serialised.
const MAX_ATTRIBUTES_BYTES: usize = 4096;
/// Deepest nesting inside one attribute value.
const MAX_ATTRIBUTE_DEPTH: usize = 4;

/// Ends every session of a deactivated account. Tokens of every kind the
/// account holds, sessions or not, are refused at once here; other
/// instances read the change from the store when told (`crate::notices`),
/// or within a second (`crate::revocation`).
pub(crate) async fn cut_off(i: &Inner, realm_id: Uuid, id: Uuid) -> Result<()> {
    crate::accounts::Accounts::new(i)
        .end_all_sessions(realm_id, id)
        .await?;
    let now = i.clock.now();
    i.denylist
        .deny_user(id, now, now + i.settings.access_token_ttl + LEEWAY);
    i.announce(crate::notices::Notice::Revoked);
    Ok(())
}

/// Deletes an account, ending its sessions at once: the account's row and
/// sessions go; a tombstone tells the other instances
/// (`crate::revocation`), and this one denies it at once.
pub(crate) async fn remove_account(i: &Inner, realm_id: Uuid, id: Uuid) -> Result<()> {
    crate::accounts::Accounts::new(i)
        .end_all_sessions(realm_id, id)
        .await?;
    let now = i.clock.now();
    i.store.insert_deleted_user(realm_id, id, now).await?;
    i.denylist
        .deny_user(id, now, now + i.settings.access_token_ttl + LEEWAY);
    i.announce(crate::notices::Notice::Revoked);
    if !i.store.delete_user(realm_id, id).await? {
        return Err(Error::NotFound("user"));
    }
    Ok(())
}

/// Creates the service account with id `id` (an OAuth client's or a
/// service key's), unless it exists: a user without a password, so it
/// cannot log in, whose `email` (in a reserved `.invalid` domain) is no
/// mailbox, and to which roles and permissions are granted like to any user.
pub(crate) async fn ensure_service_account(
    i: &Inner,
    realm_id: Uuid,
    id: Uuid,
    email: &str,
    name: &str,
    at: time::OffsetDateTime,
) -> Result<()> {
    let user = User {
        id,
        realm_id,
        email: Email::parse(email)?,
        name: Some(name.chars().take(200).collect()),
        password_hash: None,
        active: true,
        // A service account has no mailbox.
        email_verified: false,
        attributes: Map::new(),
        created_at: at,
        updated_at: at,
        last_login_at: None,
    };
    match i.store.create_user(&user).await {
        Ok(()) | Err(crate::StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Checks a user's attributes: a small object of named JSON values.
pub(crate) fn check_attributes(
    attributes: Map<String, Value>,
) -> std::result::Result<Map<String, Value>, FieldError> {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    let err = |why: String| Err(FieldError::new("attributes", why));
    if attributes.len() > MAX_ATTRIBUTES {
        return err(format!("must hold at most {MAX_ATTRIBUTES} attributes"));
    }
    if let Some(bad) = attributes.keys().find(|k| {
        k.is_empty()
            || k.len() > MAX_ATTRIBUTE_NAME
            || k.chars().any(|c| c.is_control() || c == '.')
    }) {
        return err(format!(
            "attribute name {bad:?} must be 1-{MAX_ATTRIBUTE_NAME} characters without dots or control characters"
        ));
    }
    // Serialising a depth-checked value cannot recurse too deeply; check depth first.
    if attributes.values().any(|v| depth(v) > MAX_ATTRIBUTE_DEPTH) {
        return err(format!(
            "values may nest at most {MAX_ATTRIBUTE_DEPTH} levels"
        ));
    }
    let size = serde_json::to_vec(&attributes).map_or(usize::MAX, |v| v.len());
    if size > MAX_ATTRIBUTES_BYTES {
        return err(format!(
            "must be at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"
        ));
    }
    fn markup(v: &Value) -> bool {
        match v {
            Value::String(s) => crate::text::has_markup(s),
            Value::Array(items) => items.iter().any(markup),
            Value::Object(map) => map
                .iter()
                .any(|(k, v)| crate::text::has_markup(k) || markup(v)),
            _ => false,
        }
    }
    if let Some((name, _)) = attributes
        .iter()
        .find(|(k, v)| crate::text::has_markup(k) || markup(v))
    {
        return Err(FieldError::new(
            format!("attributes.{name}"),
            crate::text::MARKUP_REASON,
        ));
    }
    Ok(attributes)
}
