//! Realms: creation with signing keys, lookup (cached), administration, the
//! first-start bootstrap, and key rotation.

use std::sync::Arc;

use portcullis_crypto::SigningAlgorithm;
use secrecy::SecretString;
use serde_json::Value;
use time::Duration;
use uuid::Uuid;

use crate::access::RealmsManage;
use crate::app::Inner;
use crate::error::{Error, FieldError, Result};
use crate::model::{Email, Realm, RealmName, TimeZone, User, new_id};
use crate::passwords::{MAX_PASSWORD_LENGTH, check_new_password};
use crate::tokens::Principal;

/// Default minimum password length (NIST SP 800-63B).
pub const DEFAULT_MIN_PASSWORD_LENGTH: u32 = 8;

/// A request to create a realm.
#[derive(Debug, Clone)]
pub struct NewRealm {
    /// Name.
    pub name: RealmName,
    /// Display name (defaults to the name).
    pub display_name: Option<String>,
    /// Signing algorithm (default EdDSA).
    pub signing_alg: Option<SigningAlgorithm>,
    /// Minimum password length.
    pub password_min_length: Option<u32>,
    /// IANA time zone of policy conditions (default `UTC`).
    pub time_zone: Option<String>,
    /// Whether access tokens carry a `roles` claim (default true).
    pub roles_claim: Option<bool>,
    /// Whether logins need a verified address (default false).
    pub require_verified_email: Option<bool>,
    /// Whether registration refuses domains without MX records (default false).
    pub check_email_mx: Option<bool>,
    /// The realm's first administrator, created with it.
    pub admin: Option<FirstAdmin>,
}

/// The first administrator of a new realm: an account of that realm holding
/// its `realm-admin` role.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    /// E-mail address (the login).
    pub email: String,
    /// Password; `None` generates a strong one, returned once.
    pub password: Option<SecretString>,
    /// Display name.
    pub name: Option<String>,
}

/// A realm created with [`Realms::create`], with its first administrator.
#[derive(Debug)]
pub struct CreatedRealm {
    /// The realm.
    pub realm: Realm,
    /// Its first administrator, when one was asked for, and the password
    /// generated for it (shown once).
    pub admin: Option<(crate::users::ManagedUser, Option<SecretString>)>,
}

/// A partial update of a realm.
#[derive(Debug, Clone, Default)]
pub struct RealmPatch {
    /// New display name.
    pub display_name: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Algorithm of keys generated from now on.
    pub signing_alg: Option<SigningAlgorithm>,
    /// Minimum password length.
    pub password_min_length: Option<u32>,
    /// IANA time zone of policy conditions.
    pub time_zone: Option<String>,
    /// Whether access tokens carry a `roles` claim.
    pub roles_claim: Option<bool>,
    /// Whether logins need a verified address.
    pub require_verified_email: Option<bool>,
    /// Whether registration refuses domains without MX records.
    pub check_email_mx: Option<bool>,
    /// Roles whose holders must pass a second factor at login (replaces the list).
    pub mfa_required_roles: Option<Vec<String>>,
}

/// What the first start did.
#[derive(Debug)]
pub struct Bootstrap {
    /// Whether the default realm was created now (false: it existed).
    pub created: bool,
    /// The admin's email.
    pub admin_email: Option<Email>,
    /// The generated password, when none was configured. Shown once.
    pub generated_password: Option<SecretString>,
}

/// A caller proven to be an administrator of the default realm: the only value
/// that unlocks realm administration.
#[derive(Debug, Clone)]
pub struct ServerAdmin {
    /// The administrator and its realm (the default one), for the audit trail.
    user_id: Uuid,
    realm_id: Uuid,
    /// Whether the caller authenticated recently: changes need it.
    fresh: bool,
}

impl ServerAdmin {
    /// The administrator (for audit records).
    pub(crate) fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The administrator's own realm (the default one).
    pub(crate) fn realm_id(&self) -> Uuid {
        self.realm_id
    }

    /// `Ok` when the caller authenticated recently (what changes need).
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.writable()
    }

    /// `Ok` when made by [`Realms::require_fresh_server_admin`]; a change
    /// reached with a read-only proof is a bug, refused.
    fn writable(&self) -> Result<()> {
        match self.fresh {
            true => Ok(()),
            false => Err(Error::Internal("admin-write-without-fresh-authentication")),
        }
    }
}

/// Validates a display name: trimmed, 1-200 characters, no control characters.
pub fn parse_display_name(field: &str, input: &str) -> Result<String, FieldError> {
    let t = input.trim();
    if t.is_empty() || t.chars().count() > 200 {
        return Err(FieldError::new(field, "must be 1-200 characters"));
    }
    if t.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    crate::text::plain(field, t)?;
    Ok(t.to_owned())
}

/// The settings of a new realm other than its name and signing algorithm
/// (which callers parse into their types), checked all at once: the display
/// name (`None` when it defaults to the name), minimum password length and
/// time zone, or one error per wrong field.
fn settle(
    display_name: Option<&str>,
    password_min_length: Option<u32>,
    time_zone: Option<&str>,
) -> Result<(Option<String>, u32, TimeZone), Vec<FieldError>> {
    let mut errors = Vec::new();
    let display_name = display_name
        .map(|d| parse_display_name("display_name", d))
        .transpose()
        .map_err(|e| errors.push(e))
        .ok();
    let min_len = check_min_length(password_min_length.unwrap_or(DEFAULT_MIN_PASSWORD_LENGTH))
        .map_err(|e| errors.push(e))
        .ok();
    let time_zone = match time_zone {
        Some(tz) => TimeZone::parse(tz).map_err(|e| errors.push(e)).ok(),
        None => Some(TimeZone::utc()),
    };
    match (display_name, min_len, time_zone) {
        (Some(d), Some(m), Some(tz)) if errors.is_empty() => Ok((d, m, tz)),
        _ => Err(errors),
    }
}

/// What is wrong with the settings of a new realm besides its name and
/// signing algorithm, one error per field, so that a caller who found
/// those wrong can name every wrong field in one answer.
pub fn new_realm_errors(
    display_name: Option<&str>,
    password_min_length: Option<u32>,
    time_zone: Option<&str>,
) -> Vec<FieldError> {
    settle(display_name, password_min_length, time_zone)
        .err()
        .unwrap_or_default()
}

/// What is wrong with a new realm's first administrator, fields named
/// `admin.email`, `admin.password` and `admin.name`.
fn first_admin_errors(f: &FirstAdmin, min_length: u32) -> Vec<FieldError> {
    use secrecy::ExposeSecret;
    let mut errors = Vec::new();
    let email = Email::parse(&f.email)
        .map_err(|e| errors.push(FieldError::new("admin.email", e.reason)))
        .ok();
    if let Some(p) = &f.password
        && let Err(e) = check_new_password(
            "admin.password",
            p.expose_secret(),
            min_length.clamp(8, MAX_PASSWORD_LENGTH as u32),
            email.as_ref(),
        )
    {
        errors.push(e);
    }
    if let Some(name) = &f.name
        && let Err(e) = parse_display_name("admin.name", name)
    {
        errors.push(e);
    }
    errors
}

fn check_min_length(v: u32) -> Result<u32, FieldError> {
    if (8..=MAX_PASSWORD_LENGTH as u32).contains(&v) {
        Ok(v)
    } else {
        Err(FieldError::new(
            "password_min_length",
            format!("must be between 8 and {MAX_PASSWORD_LENGTH}"),
        ))
    }
}

/// Realm service.
pub struct Realms<'a> {
    i: &'a Inner,
}

impl<'a> Realms<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self { i }
    }

    // The services Realms works with, built here and nowhere else in it.

    /// Collaborator: access.
    fn access(&self) -> crate::access::Access<'a> {
        crate::access::Access::new(self.i)
    }

    /// Collaborator: authz.
    fn authz(&self) -> crate::authz::Authz<'a> {
        crate::authz::Authz::new(self.i)
    }

    /// A realm by name when it is cached (`None`: ask [`Realms::by_name`]).
    pub fn cached(&self, name: &str) -> Option<Arc<Realm>> {
        self.i.realm_cache.get(name).map(|r| r.clone())
    }

    /// The default realm when it is cached.
    pub fn cached_default(&self) -> Option<Arc<Realm>> {
        self.cached(self.i.settings.default_realm.as_str())
    }

    /// A realm by name, from the cache or the store.
    pub async fn by_name(&self, name: &str) -> Result<Arc<Realm>> {
        use crate::cache::{Cache, Layer};
        if let Some(r) = self.i.realm_cache.get(name) {
            self.i.cache_stats.lookup(Cache::Realm, Layer::Memory, true);
            return Ok(r.clone());
        }
        self.i
            .cache_stats
            .lookup(Cache::Realm, Layer::Memory, false);
        let parsed = RealmName::parse(name).map_err(|_| Error::NotFound("realm"))?;
        self.i.cache_stats.load(Cache::Realm);
        let realm = self
            .i
            .store
            .get_realm_by_name(&parsed)
            .await?
            .ok_or(Error::NotFound("realm"))?;
        let realm = Arc::new(realm);
        self.i.realm_cache.insert(name.to_owned(), realm.clone());
        Ok(realm)
    }

    /// The default realm.
    pub async fn default_realm(&self) -> Result<Arc<Realm>> {
        self.by_name(self.i.settings.default_realm.as_str()).await
    }

    /// The issuer URL of a realm.
    pub fn issuer(&self, realm: &Realm) -> String {
        self.i.settings.issuer(&realm.name)
    }

    /// Proves the caller administers the default realm (and so the server).
    pub async fn require_server_admin(&self, who: &Principal) -> Result<ServerAdmin> {
        if who.realm.name != self.i.settings.default_realm {
            return Err(Error::Forbidden(
                "realm administration needs an administrator of the default realm",
            ));
        }
        let user = self.i.store.get_user(who.realm.id, who.user_id).await?;
        match user {
            Some(u) if u.active => {
                self.access()
                    .decide::<RealmsManage>(&who.realm, u.id, None)
                    .await?;
                Ok(ServerAdmin {
                    user_id: u.id,
                    realm_id: who.realm.id,
                    fresh: false,
                })
            }
            _ => Err(Error::NotAuthenticated("account no longer active")),
        }
    }

    /// [`Self::require_server_admin`] for a caller who also authenticated
    /// recently ([`crate::access::Access::fresh`]): what changes need.
    pub async fn require_fresh_server_admin(&self, who: &Principal) -> Result<ServerAdmin> {
        let mut admin = self.require_server_admin(who).await?;
        self.access().fresh(who).await?;
        admin.fresh = true;
        Ok(admin)
    }

    /// Creates a realm with its first signing key and, when asked, its
    /// first administrator. Every wrong field (the administrator's under
    /// `admin.`) is named before anything is written; should the
    /// administrator's creation still fail, the realm is removed again.
    pub async fn create(&self, admin: &ServerAdmin, mut new: NewRealm) -> Result<CreatedRealm> {
        admin.writable()?;
        let first = new.admin.take();
        let min_length = new
            .password_min_length
            .unwrap_or(DEFAULT_MIN_PASSWORD_LENGTH);
        let mut errors = Vec::new();
        let generated = match &first {
            Some(f) => {
                errors.extend(first_admin_errors(f, min_length));
                f.password
                    .is_none()
                    .then(|| SecretString::from(portcullis_crypto::generate_password()))
            }
            None => None,
        };
        if !errors.is_empty() {
            errors.extend(new_realm_errors(
                new.display_name.as_deref(),
                new.password_min_length,
                new.time_zone.as_deref(),
            ));
            return Err(Error::Validation(errors));
        }
        let realm = self.create_unchecked(new).await?;
        crate::audit::event(
            self.i,
            realm.id,
            crate::audit::Actor {
                user: Some(admin.user_id),
                realm: Some(admin.realm_id),
            },
            "realm.create",
            format!("realm:{}", realm.id),
            serde_json::json!({ "name": realm.name.as_str() }),
        )
        .await;
        let Some(first) = first else {
            return Ok(CreatedRealm { realm, admin: None });
        };
        let created = crate::users::Users::new(self.i)
            .create_first_admin(
                &realm,
                (admin.user_id, admin.realm_id),
                crate::users::NewUser {
                    email: first.email,
                    password: first.password.or_else(|| generated.clone()),
                    name: first.name,
                    admin: true,
                    attributes: None,
                },
            )
            .await;
        match created {
            Ok(user) => Ok(CreatedRealm {
                realm,
                admin: Some((user, generated)),
            }),
            Err(e) => {
                // No realm without the administrator that was asked for.
                self.i.store.delete_realm(realm.id).await?;
                self.i.realm_changed(realm.id, realm.name.as_str());
                Err(e)
            }
        }
    }

    async fn create_unchecked(&self, new: NewRealm) -> Result<Realm> {
        let name = new.name.to_string();
        let (display_name, password_min_length, time_zone) = settle(
            new.display_name.as_deref(),
            new.password_min_length,
            new.time_zone.as_deref(),
        )
        .map_err(Error::Validation)?;
        let display_name = display_name.unwrap_or(name);
        let now = self.i.clock.now();
        let realm = Realm {
            id: new_id(),
            name: new.name,
            display_name,
            enabled: true,
            signing_alg: new.signing_alg.unwrap_or(SigningAlgorithm::EdDSA),
            password_min_length,
            time_zone,
            roles_claim: new.roles_claim.unwrap_or(true),
            require_verified_email: new.require_verified_email.unwrap_or(false),
            check_email_mx: new.check_email_mx.unwrap_or(false),
            mfa_required_roles: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.i
            .store
            .create_realm(&realm)
            .await
            .map_err(|e| match e {
                crate::StoreError::Conflict(_) => {
                    Error::Conflict(format!("a realm named '{}' already exists", realm.name))
                }
                other => other.into(),
            })?;
        self.i.keys.ensure_every_algorithm(&realm).await?;
        Ok(realm)
    }

    /// Every realm.
    pub async fn list(&self, _admin: &ServerAdmin) -> Result<Vec<Realm>> {
        Ok(self.i.store.list_realms().await?)
    }

    /// Every realm, for the command line (which runs with the operator's rights).
    pub async fn list_as_operator(&self) -> Result<Vec<Realm>> {
        Ok(self.i.store.list_realms().await?)
    }

    /// Applies a partial update.
    pub async fn update(
        &self,
        admin: &ServerAdmin,
        name: &str,
        patch: RealmPatch,
    ) -> Result<Realm> {
        admin.writable()?;
        let mut realm = (*self.by_name(name).await?).clone();
        let mut errors = Vec::new();
        if let Some(d) = patch.display_name.as_deref() {
            match parse_display_name("display_name", d) {
                Ok(d) => realm.display_name = d,
                Err(e) => errors.push(e),
            }
        }
        if let Some(v) = patch.password_min_length {
            match check_min_length(v) {
                Ok(v) => realm.password_min_length = v,
                Err(e) => errors.push(e),
            }
        }
        if let Some(tz) = patch.time_zone.as_deref() {
            match TimeZone::parse(tz) {
                Ok(tz) => realm.time_zone = tz,
                Err(e) => errors.push(e),
            }
        }
        if let Some(on) = patch.roles_claim {
            realm.roles_claim = on;
        }
        if let Some(on) = patch.require_verified_email {
            realm.require_verified_email = on;
        }
        if let Some(on) = patch.check_email_mx {
            realm.check_email_mx = on;
        }
        if let Some(roles) = patch.mfa_required_roles {
            match self.check_mfa_roles(&realm, roles).await? {
                Ok(roles) => realm.mfa_required_roles = roles,
                Err(e) => errors.push(e),
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        if let Some(enabled) = patch.enabled {
            if !enabled && realm.name == self.i.settings.default_realm {
                return Err(Error::Conflict(
                    "the default realm cannot be disabled".into(),
                ));
            }
            realm.enabled = enabled;
        }
        if let Some(alg) = patch.signing_alg {
            realm.signing_alg = alg;
        }
        realm.updated_at = self.i.clock.now();
        self.i.store.update_realm(&realm).await?;
        self.i.realm_changed(realm.id, name);
        Ok(realm)
    }

    /// Checks a list of MFA-required roles: at most 100, each a role of the
    /// realm; duplicates are dropped and the order kept.
    async fn check_mfa_roles(
        &self,
        realm: &Realm,
        roles: Vec<String>,
    ) -> Result<Result<Vec<String>, FieldError>> {
        const FIELD: &str = "mfa_required_roles";
        if roles.len() > 100 {
            return Ok(Err(FieldError::new(FIELD, "must name at most 100 roles")));
        }
        let view = self.authz().view(realm.id, None).await?;
        let mut out: Vec<String> = Vec::with_capacity(roles.len());
        for name in roles {
            if view.compiled.role_id(&name).is_none() {
                let shown: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
                return Ok(Err(FieldError::new(
                    FIELD,
                    format!("'{shown}' is not a role of this realm"),
                )));
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
        Ok(Ok(out))
    }

    /// Deletes a realm and everything in it. The default realm cannot be deleted.
    pub async fn delete(&self, admin: &ServerAdmin, name: &str) -> Result<()> {
        admin.writable()?;
        let realm = self.by_name(name).await?;
        if realm.name == self.i.settings.default_realm {
            return Err(Error::Conflict(
                "the default realm cannot be deleted".into(),
            ));
        }
        self.i.store.delete_realm(realm.id).await?;
        self.i.realm_changed(realm.id, name);
        Ok(())
    }

    /// The realm's public signing keys as a JWK set.
    pub async fn jwks(&self, realm: &Realm) -> Result<Value> {
        self.i.keys.jwks(realm).await
    }

    /// Adds a new current signing key to a realm; older keys stay published and
    /// verifying for one access-token lifetime (plus leeway). Returns the new kid.
    pub async fn rotate_keys(&self, name: &str) -> Result<String> {
        let realm = self.by_name(name).await?;
        let overlap = self.i.settings.access_token_ttl + Duration::minutes(5);
        let kid = self.i.keys.rotate(&realm, overlap).await?;
        self.i.realm_changed(realm.id, realm.name.as_str());
        Ok(kid)
    }

    /// Creates the default realm and its administrator on first start. Does
    /// nothing when the default realm exists. Without a configured password a
    /// strong one is generated and returned (once).
    pub async fn bootstrap(
        &self,
        admin_email: &str,
        admin_password: Option<SecretString>,
    ) -> Result<Bootstrap> {
        let name = self.i.settings.default_realm.clone();
        if self.i.store.get_realm_by_name(&name).await?.is_some() {
            return Ok(Bootstrap {
                created: false,
                admin_email: None,
                generated_password: None,
            });
        }
        let email = Email::parse(admin_email)
            .map_err(|e| Error::field("bootstrap_admin_email", e.reason))?;
        let (password, generated) = match admin_password {
            Some(p) => {
                use secrecy::ExposeSecret;
                check_new_password(
                    "bootstrap_admin_password",
                    p.expose_secret(),
                    DEFAULT_MIN_PASSWORD_LENGTH,
                    Some(&email),
                )?;
                (p, None)
            }
            None => {
                let p = SecretString::from(portcullis_crypto::generate_password());
                (p.clone(), Some(p))
            }
        };
        let hash = self.i.passwords.hash(password).await?;
        let realm = self
            .create_unchecked(NewRealm {
                display_name: Some(if name.as_str() == "main" {
                    "Main".to_owned()
                } else {
                    name.to_string()
                }),
                name,
                signing_alg: None,
                password_min_length: None,
                time_zone: None,
                roles_claim: None,
                require_verified_email: None,
                check_email_mx: None,
                admin: None,
            })
            .await?;
        let now = self.i.clock.now();
        let admin_id = new_id();
        self.i
            .store
            .create_user(&User {
                id: admin_id,
                realm_id: realm.id,
                email: email.clone(),
                name: Some("Administrator".to_owned()),
                password_hash: Some(hash),
                active: true,
                // The operator configured this address: it counts as verified.
                email_verified: true,
                attributes: serde_json::Map::new(),
                created_at: now,
                updated_at: now,
                last_login_at: None,
            })
            .await?;
        let authz = self.authz();
        authz.grant_default_role(realm.id, None, admin_id).await?;
        authz
            .set_realm_admin(realm.id, None, admin_id, true)
            .await?;
        Ok(Bootstrap {
            created: true,
            admin_email: Some(email),
            generated_password: generated,
        })
    }

    /// A realm's id by name, for the command line.
    pub async fn id_of(&self, name: &str) -> Result<Uuid> {
        Ok(self.by_name(name).await?.id)
    }
}

/// `Forbidden` for a disabled realm: it refuses logins, tokens and the
/// flows that lead to them.
pub(crate) fn ensure_enabled(realm: &Realm) -> Result<()> {
    if realm.enabled {
        Ok(())
    } else {
        Err(Error::Forbidden("this realm is disabled"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wrong_setting_of_a_new_realm_is_named() {
        let fields: Vec<_> = new_realm_errors(Some(" "), Some(3), Some("Mars/Olympus"))
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["display_name", "password_min_length", "time_zone"]);
        assert!(new_realm_errors(None, None, None).is_empty());
        assert!(new_realm_errors(Some("Acme"), Some(12), Some("Europe/Berlin")).is_empty());
    }
}
