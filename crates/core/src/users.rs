//! User administration for realm administrators.

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::accounts::{Accounts, conflict_email, parse_name};
use crate::app::Inner;
use crate::error::{Error, Result};
use crate::model::{Email, Page, User, UserQuery, new_id};
use crate::passwords::check_new_password;
use crate::tokens::Principal;

/// Largest page size of user lists.
pub const MAX_PAGE_SIZE: u64 = 200;

/// A caller proven to administer its realm: the only value that unlocks the
/// methods of [`Users`]. It can only be made by [`Users::require_admin`].
#[derive(Debug, Clone)]
pub struct RealmAdmin {
    realm_id: Uuid,
    user_id: Uuid,
    realm_min_password: u32,
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
}

/// User administration service.
pub struct Users<'a> {
    i: &'a Inner,
}

impl<'a> Users<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    /// Proves the caller is an active administrator of its realm.
    pub async fn require_admin(&self, who: &Principal) -> Result<RealmAdmin> {
        match self.i.store.get_user(who.realm.id, who.user_id).await? {
            Some(u) if u.active => {
                let authz = crate::authz::Authz::new(self.i);
                if authz
                    .user_may(who.realm.id, u.id, None, "users", "manage")
                    .await?
                {
                    Ok(RealmAdmin {
                        realm_id: who.realm.id,
                        user_id: u.id,
                        realm_min_password: who.realm.password_min_length,
                    })
                } else {
                    Err(Error::Forbidden("permission users:manage:all required"))
                }
            }
            _ => Err(Error::NotAuthenticated("account no longer active")),
        }
    }

    /// A page of users (`page` from 1), optionally filtered by email prefix.
    pub async fn list(
        &self,
        admin: &RealmAdmin,
        email_prefix: Option<&str>,
        page: u64,
        per_page: u64,
    ) -> Result<Page<User>> {
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
        let mut page = self.i.store.list_users(admin.realm_id, &query).await?;
        crate::authz::Authz::new(self.i)
            .mark_realm_admins(admin.realm_id, &mut page.items)
            .await?;
        Ok(page)
    }

    /// Creates a user.
    pub async fn create(&self, admin: &RealmAdmin, new: NewUser) -> Result<User> {
        let mut errors = Vec::new();
        let email = Email::parse(&new.email).map_err(|e| errors.push(e)).ok();
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
        let (Some(email), Some(name), true) = (email, name, errors.is_empty()) else {
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
            is_admin: new.admin,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        self.i
            .store
            .create_user(&user)
            .await
            .map_err(conflict_email)?;
        if new.admin {
            crate::authz::Authz::new(self.i)
                .set_realm_admin(admin.realm_id, actor(admin), user.id, true)
                .await?;
        }
        Ok(user)
    }

    /// Sets `is_admin` from the user's roles (the `admin` shown by the API is
    /// "holds realm-admin").
    pub async fn with_admin_flag(&self, mut user: User) -> Result<User> {
        crate::authz::Authz::new(self.i)
            .mark_realm_admins(user.realm_id, std::slice::from_mut(&mut user))
            .await?;
        Ok(user)
    }

    /// One user.
    pub async fn get(&self, admin: &RealmAdmin, id: Uuid) -> Result<User> {
        let user = self
            .i
            .store
            .get_user(admin.realm_id, id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        self.with_admin_flag(user).await
    }

    /// Replaces a user's editable fields.
    pub async fn update(&self, admin: &RealmAdmin, id: Uuid, update: UserUpdate) -> Result<User> {
        let mut errors = Vec::new();
        let email = Email::parse(&update.email).map_err(|e| errors.push(e)).ok();
        let name = parse_name(update.name.as_deref())
            .map_err(|e| errors.push(e))
            .ok();
        let (Some(email), Some(name)) = (email, name) else {
            return Err(Error::Validation(errors));
        };
        let mut user = self.get(admin, id).await?;
        if id == admin.user_id && !update.admin {
            return Err(Error::Conflict(
                "you cannot remove your own administrator rights".into(),
            ));
        }
        user.email = email;
        user.name = name;
        user.is_admin = update.admin;
        user.updated_at = self.i.clock.now();
        self.i
            .store
            .update_user(&user)
            .await
            .map_err(conflict_email)?;
        crate::authz::Authz::new(self.i)
            .set_realm_admin(admin.realm_id, actor(admin), user.id, update.admin)
            .await?;
        Ok(user)
    }

    /// Deletes a user, ending their sessions at once.
    pub async fn delete(&self, admin: &RealmAdmin, id: Uuid) -> Result<()> {
        if id == admin.user_id {
            return Err(Error::Conflict("you cannot delete your own account".into()));
        }
        self.get(admin, id).await?;
        Accounts::new(self.i)
            .end_all_sessions(admin.realm_id, id)
            .await?;
        if !self.i.store.delete_user(admin.realm_id, id).await? {
            return Err(Error::NotFound("user"));
        }
        Ok(())
    }

    /// Deactivates a user and ends every session of theirs at once.
    pub async fn deactivate(&self, admin: &RealmAdmin, id: Uuid) -> Result<User> {
        if id == admin.user_id {
            return Err(Error::Conflict(
                "you cannot deactivate your own account".into(),
            ));
        }
        let user = self.set_active(admin, id, false).await?;
        Accounts::new(self.i)
            .end_all_sessions(admin.realm_id, id)
            .await?;
        Ok(user)
    }

    /// Reactivates a user.
    pub async fn reactivate(&self, admin: &RealmAdmin, id: Uuid) -> Result<User> {
        self.set_active(admin, id, true).await
    }

    async fn set_active(&self, admin: &RealmAdmin, id: Uuid, active: bool) -> Result<User> {
        let mut user = self.get(admin, id).await?;
        if user.active != active {
            user.active = active;
            user.updated_at = self.i.clock.now();
            self.i.store.update_user(&user).await?;
        }
        self.with_admin_flag(user).await
    }

    /// Sets a user's password from the command line (operator rights), applying
    /// the realm's policy and ending the user's sessions.
    pub async fn set_password_as_operator(
        &self,
        realm_name: &str,
        email: &str,
        password: SecretString,
    ) -> Result<User> {
        let realm = crate::realms::Realms::new(self.i)
            .by_name(realm_name)
            .await?;
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
        Accounts::new(self.i)
            .end_all_sessions(realm.id, user.id)
            .await?;
        Ok(user)
    }

    /// Creates a user from the command line (operator rights).
    pub async fn create_as_operator(&self, realm_name: &str, new: NewUser) -> Result<User> {
        let realm = crate::realms::Realms::new(self.i)
            .by_name(realm_name)
            .await?;
        let operator = RealmAdmin {
            realm_id: realm.id,
            user_id: Uuid::nil(),
            realm_min_password: realm.password_min_length,
        };
        self.create(&operator, new).await
    }
}

/// The acting user for the audit trail (`None` for the command line).
fn actor(admin: &RealmAdmin) -> Option<Uuid> {
    (!admin.user_id.is_nil()).then_some(admin.user_id)
}
