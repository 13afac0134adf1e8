//! What an upstream sign-in does to the realm's accounts: sign in through
//! a known link, link to the account with the same address (safely), or
//! create an account; then the provider's claim mappers. Also the links a
//! user or an administrator sees and removes.

use secrecy::SecretString;
use serde_json::Value;
use uuid::Uuid;

use super::{Federation, IdentityProvider, Mapper, SocialAccount, UpstreamIdentity};
use crate::access::{Allowed, ProvidersManage, ProvidersRead};
use crate::accounts::RequestMeta;
use crate::error::{Error, Result, StoreError};
use crate::model::{Email, Realm, User, new_id};
use crate::realms::ensure_enabled;

/// Longest upstream subject, address or name kept.
const MAX_UPSTREAM_TEXT: usize = 255;

/// Who an upstream identity is here.
#[derive(Debug)]
pub enum Resolved {
    /// The account to sign in: linked before, linked now, or created now.
    User {
        /// The account.
        user: User,
        /// Whether the account was created by this sign-in.
        created: bool,
    },
    /// A local account has the upstream's address, but the link is not
    /// safe to make without the user proving that account first.
    ConfirmLink {
        /// The local account.
        user: User,
    },
}

/// How the user proves the local account a pending link goes to.
#[derive(Debug)]
pub enum LinkProof {
    /// Its password (counted towards the account's lockout).
    Password(SecretString),
    /// A passkey of the account: the answer to a passwordless ceremony.
    Passkey {
        /// The ceremony.
        ceremony_id: Uuid,
        /// The browser's answer.
        credential: Value,
    },
    /// Its mailbox: the link mailed by [`Federation::mail_link_proof`]
    /// was opened (the handle is that link's token).
    Mailbox,
}

/// A pending link taken for its proof.
#[derive(Debug)]
pub struct Confirmed {
    /// What follows.
    pub next: super::Continuation,
    /// The upstream identity.
    pub identity: UpstreamIdentity,
    /// The proven and linked account, or why not.
    pub outcome: Result<User>,
}

/// A link with its provider, as the APIs show it.
#[derive(Debug, Clone)]
pub struct LinkedAccount {
    /// The link.
    pub account: SocialAccount,
    /// Its provider's alias.
    pub alias: String,
    /// Its provider's kind.
    pub kind: super::ProviderKind,
}

/// Reads a claim by JSON Pointer (`/a/b`) or dotted path (`a.b`).
pub fn claim<'v>(claims: &'v Value, path: &str) -> Option<&'v Value> {
    if path.starts_with('/') {
        return claims.pointer(path);
    }
    path.split('.').try_fold(claims, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|n| a.get(n)),
        _ => None,
    })
}

/// Whether a claim holds `value`: equal to it, or an array containing it.
fn holds(claims: &Value, path: &str, value: &str) -> bool {
    match claim(claims, path) {
        Some(Value::String(s)) => s == value,
        Some(Value::Array(items)) => items.iter().any(|i| i.as_str() == Some(value)),
        Some(Value::Bool(b)) => b.to_string() == value,
        Some(Value::Number(n)) => n.to_string() == value,
        _ => false,
    }
}

/// The upstream's subject is the key of the link: it must be there.
fn usable_subject(identity: &UpstreamIdentity) -> Result<()> {
    if identity.subject.is_empty() || identity.subject.len() > MAX_UPSTREAM_TEXT {
        return Err(Error::BadRequest(
            "the provider's answer has no usable subject".to_owned(),
        ));
    }
    Ok(())
}

fn clip(s: Option<&str>) -> Option<String> {
    s.map(|s| s.chars().take(MAX_UPSTREAM_TEXT).collect::<String>())
        .filter(|s| !s.trim().is_empty())
}

impl Federation<'_> {
    /// Resolves an upstream identity to an account of `realm`.
    pub async fn resolve(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        identity: &UpstreamIdentity,
    ) -> Result<Resolved> {
        ensure_enabled(realm)?;
        usable_subject(identity)?;
        let store = &self.i.store;
        if let Some(link) = store
            .find_social_account(realm.id, provider.id, &identity.subject)
            .await?
        {
            let user = store
                .get_user(realm.id, link.user_id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            self.touch(&link, identity).await?;
            self.apply_mappers(realm, provider, &user, identity).await?;
            super::count("signed_in", provider.kind);
            return Ok(Resolved::User {
                user,
                created: false,
            });
        }
        let verified = identity.email_verified || provider.config.trust_email;
        let email = identity.email.as_deref().and_then(|e| Email::parse(e).ok());
        if let Some(email) = &email
            && let Some(local) = store.get_user_by_email(realm.id, email).await?
        {
            // Account takeover is the risk here: an upstream account that
            // merely claims someone's address must never be linked to it.
            if verified && local.email_verified && provider.config.auto_link {
                self.link(realm, provider, &local, identity, None).await?;
                self.apply_mappers(realm, provider, &local, identity)
                    .await?;
                return Ok(Resolved::User {
                    user: local,
                    created: false,
                });
            }
            super::count("confirm_link", provider.kind);
            return Ok(Resolved::ConfirmLink { user: local });
        }
        if !provider.config.allow_signup {
            super::count("signup_refused", provider.kind);
            return Err(Error::Forbidden(
                "no account here matches this sign-in, and accounts cannot be created through this provider",
            ));
        }
        let Some(email) = email else {
            return Err(Error::Forbidden(
                "the provider did not share an e-mail address, which a new account needs",
            ));
        };
        let user = self
            .create_account(realm, provider, email, verified, identity)
            .await?;
        Ok(Resolved::User {
            user,
            created: true,
        })
    }

    async fn create_account(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        email: Email,
        verified: bool,
        identity: &UpstreamIdentity,
    ) -> Result<User> {
        let now = self.i.clock.now();
        let name = clip(identity.name.as_deref())
            .and_then(|n| crate::accounts::parse_name(Some(&n)).ok().flatten());
        let user = User {
            id: new_id(),
            realm_id: realm.id,
            email,
            name,
            password_hash: None,
            active: true,
            email_verified: verified,
            attributes: serde_json::Map::new(),
            created_at: now,
            updated_at: now,
            last_login_at: None,
        };
        self.i
            .store
            .create_user(&user)
            .await
            .map_err(crate::accounts::conflict_email)?;
        let authz = self.authz();
        authz.grant_default_role(realm.id, None, user.id).await?;
        authz
            .grant_named(realm.id, user.id, &provider.config.default_roles, &[])
            .await?;
        self.link(realm, provider, &user, identity, None).await?;
        self.apply_mappers(realm, provider, &user, identity).await?;
        crate::orgs::domains::auto_join(self.i, &user).await;
        if !verified && let Err(e) = crate::recovery::send_verification(self.i, realm, &user).await
        {
            tracing::warn!(realm = %realm.name, user_id = %user.id, error = %e, "could not queue the verification mail");
        }
        crate::audit::event(
            self.i,
            realm.id,
            None,
            "user.create.federated",
            format!("user:{}", user.id),
            serde_json::json!({ "provider": provider.alias, "email_verified": verified }),
        )
        .await;
        super::count("account_created", provider.kind);
        Ok(user)
    }

    /// Links `user` to the upstream identity. `Conflict` when the user has
    /// a link to this provider already or the upstream account is linked
    /// to someone.
    async fn link(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        user: &User,
        identity: &UpstreamIdentity,
        actor: Option<Uuid>,
    ) -> Result<SocialAccount> {
        let now = self.i.clock.now();
        let account = SocialAccount {
            id: new_id(),
            realm_id: realm.id,
            user_id: user.id,
            provider_id: provider.id,
            subject: identity.subject.clone(),
            email: clip(identity.email.as_deref()),
            name: clip(identity.name.as_deref()),
            created_at: now,
            last_login_at: Some(now),
        };
        self.i
            .store
            .insert_social_account(&account)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => Error::Conflict(format!(
                    "this account is linked to another {} account already, or that {} account to another user",
                    provider.label(),
                    provider.label()
                )),
                other => other.into(),
            })?;
        crate::audit::event(
            self.i,
            realm.id,
            actor.or(Some(user.id)),
            "social_account.link",
            format!("user:{}", user.id),
            serde_json::json!({ "provider": provider.alias, "link": account.id }),
        )
        .await;
        super::count("linked", provider.kind);
        Ok(account)
    }

    async fn touch(&self, link: &SocialAccount, identity: &UpstreamIdentity) -> Result<()> {
        self.i
            .store
            .touch_social_account(
                link.realm_id,
                link.id,
                clip(identity.email.as_deref()).as_deref(),
                clip(identity.name.as_deref()).as_deref(),
                self.i.clock.now(),
            )
            .await?;
        Ok(())
    }

    /// Takes the pending link `handle` (in the browser holding `binding`)
    /// and proves its local account with `proof`: a password or a passkey
    /// for the link the callback held, the mailbox for a mailed one. The
    /// pending link is spent whatever the outcome; a proven account is
    /// linked.
    pub async fn confirm_link(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        handle: &str,
        binding: Option<&str>,
        proof: LinkProof,
        meta: &RequestMeta,
    ) -> Result<Confirmed> {
        let step = self.take(provider, handle, binding).await?;
        let (next, user_id, identity) = match (step, &proof) {
            (
                super::Step::PendingLink {
                    next,
                    user_id,
                    identity,
                },
                LinkProof::Password(_) | LinkProof::Passkey { .. },
            )
            | (
                super::Step::MailedLink {
                    next,
                    user_id,
                    identity,
                },
                LinkProof::Mailbox,
            ) => (next, user_id, identity),
            _ => return Err(Error::BadRequest(super::INVALID_ATTEMPT.to_owned())),
        };
        let outcome = self
            .prove_and_link(realm, provider, user_id, &identity, proof, meta)
            .await;
        Ok(Confirmed {
            next,
            identity,
            outcome,
        })
    }

    async fn prove_and_link(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        user_id: Uuid,
        identity: &UpstreamIdentity,
        proof: LinkProof,
        meta: &RequestMeta,
    ) -> Result<User> {
        let local = self
            .i
            .store
            .get_user(realm.id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let user = match proof {
            LinkProof::Password(password) => {
                self.accounts()
                    .check_password(realm, local.email.as_str(), password, meta)
                    .await?
                    .0
            }
            LinkProof::Passkey {
                ceremony_id,
                credential,
            } => {
                self.mfa()
                    .finish_passkey_login(realm, ceremony_id, &credential)
                    .await?
                    .user
            }
            LinkProof::Mailbox => {
                // The mailed link proved the address too.
                if !local.email_verified {
                    let mut verified = local.clone();
                    verified.email_verified = true;
                    verified.updated_at = self.i.clock.now();
                    self.i.store.update_user(&verified).await?;
                    verified
                } else {
                    local
                }
            }
        };
        if user.id != user_id {
            return Err(Error::NotAuthenticated(
                "this is not the account the address belongs to",
            ));
        }
        if !user.active {
            return Err(Error::Forbidden("this account is deactivated"));
        }
        self.link(realm, provider, &user, identity, None).await?;
        self.apply_mappers(realm, provider, &user, identity).await?;
        Ok(user)
    }

    /// Links the upstream identity to a signed-in user (self-service).
    pub async fn link_signed_in(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        user_id: Uuid,
        identity: &UpstreamIdentity,
    ) -> Result<SocialAccount> {
        usable_subject(identity)?;
        let user = self
            .i
            .store
            .get_user(realm.id, user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(Error::NotFound("user"))?;
        let account = self.link(realm, provider, &user, identity, None).await?;
        self.apply_mappers(realm, provider, &user, identity).await?;
        Ok(account)
    }

    /// Applies the provider's mappers to `user`: attributes and name from
    /// claims, roles and groups when a claim holds a value, hard-coded
    /// roles. Mappers only grant: a role a claim no longer asserts stays
    /// until an administrator removes it, as one an administrator granted
    /// by hand would.
    async fn apply_mappers(
        &self,
        realm: &Realm,
        provider: &IdentityProvider,
        user: &User,
        identity: &UpstreamIdentity,
    ) -> Result<()> {
        let mappers = &provider.config.mappers;
        let attrs_map = &provider.config.field_map.attributes;
        if mappers.is_empty() && attrs_map.is_empty() {
            return Ok(());
        }
        let claims = &identity.claims;
        let mut attributes = user.attributes.clone();
        let mut roles = Vec::new();
        let mut groups = Vec::new();
        let mut name = None;
        for (attribute, path) in attrs_map {
            if let Some(v) = claim(claims, path) {
                attributes.insert(attribute.clone(), v.clone());
            }
        }
        for m in mappers {
            match m {
                Mapper::Attribute {
                    claim: c,
                    attribute,
                } => {
                    if let Some(v) = claim(claims, c) {
                        attributes.insert(attribute.clone(), v.clone());
                    }
                }
                Mapper::Name { claim: c } => {
                    name = claim(claims, c).and_then(Value::as_str).map(str::to_owned);
                }
                Mapper::Role {
                    claim: c,
                    value,
                    role,
                } if holds(claims, c, value) => {
                    roles.push(role.clone());
                }
                Mapper::Group {
                    claim: c,
                    value,
                    group,
                } if holds(claims, c, value) => {
                    groups.push(group.clone());
                }
                Mapper::HardcodedRole { role } => roles.push(role.clone()),
                Mapper::Role { .. } | Mapper::Group { .. } => {}
            }
        }
        let authz = self.authz();
        if attributes != user.attributes {
            let attributes = crate::users::check_attributes(attributes)
                .map_err(|e| Error::Validation(vec![e]))?;
            authz
                .set_user_attributes(realm.id, None, user, attributes)
                .await?;
        }
        authz
            .grant_named(realm.id, user.id, &roles, &groups)
            .await?;
        if let Some(name) = clip(name.as_deref())
            && let Ok(Some(name)) = crate::accounts::parse_name(Some(&name))
            && user.name.as_deref() != Some(&name)
        {
            let mut updated = user.clone();
            updated.name = Some(name);
            updated.updated_at = self.i.clock.now();
            self.i.store.update_user(&updated).await?;
        }
        Ok(())
    }

    // Links as the account's owner and its administrators see them.

    async fn with_providers(&self, realm_id: Uuid, user_id: Uuid) -> Result<Vec<LinkedAccount>> {
        let providers = self.i.store.list_providers(realm_id).await?;
        let links = self.i.store.list_social_accounts(realm_id, user_id).await?;
        Ok(links
            .into_iter()
            .filter_map(|account| {
                let p = providers.iter().find(|p| p.id == account.provider_id)?;
                Some(LinkedAccount {
                    alias: p.alias.clone(),
                    kind: p.kind,
                    account,
                })
            })
            .collect())
    }

    /// The signed-in user's links.
    pub async fn my_accounts(&self, who: &crate::Principal) -> Result<Vec<LinkedAccount>> {
        self.with_providers(who.realm.id, who.user_id).await
    }

    /// Removes one of the signed-in user's links, unless it is their last
    /// way to sign in (no password, no passkey, no other link).
    pub async fn unlink_mine(&self, who: &crate::Principal, id: Uuid) -> Result<()> {
        self.unlink(who.realm.id, who.user_id, id, Some(who.user_id))
            .await
    }

    /// A user's links, for an administrator.
    pub async fn user_accounts(
        &self,
        admin: &Allowed<ProvidersRead>,
        user_id: Uuid,
    ) -> Result<Vec<LinkedAccount>> {
        let realm_id = admin.realm().id;
        self.i
            .store
            .get_user(realm_id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        self.with_providers(realm_id, user_id).await
    }

    /// Removes a user's link, for an administrator (even the last way in:
    /// the administrator can set a password).
    pub async fn admin_unlink(
        &self,
        admin: &Allowed<ProvidersManage>,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<()> {
        let realm_id = admin.realm().id;
        if !self
            .i
            .store
            .delete_social_account(realm_id, user_id, id)
            .await?
        {
            return Err(Error::NotFound("social account"));
        }
        self.audit_unlink(realm_id, admin.caller(), user_id, id)
            .await;
        Ok(())
    }

    async fn unlink(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        id: Uuid,
        actor: Option<Uuid>,
    ) -> Result<()> {
        let store = &self.i.store;
        let links = store.list_social_accounts(realm_id, user_id).await?;
        if !links.iter().any(|l| l.id == id) {
            return Err(Error::NotFound("social account"));
        }
        let user = store
            .get_user(realm_id, user_id)
            .await?
            .ok_or(Error::NotFound("user"))?;
        let passkey = store
            .list_factors(realm_id, user_id)
            .await?
            .iter()
            .any(|f| f.kind == crate::model::mfa::FactorKind::WebAuthn && f.confirmed_at.is_some());
        if user.password_hash.is_none() && !passkey && links.len() < 2 {
            return Err(Error::Conflict(
                "this is the account's last way to sign in: set a password or link another provider first"
                    .to_owned(),
            ));
        }
        if !store.delete_social_account(realm_id, user_id, id).await? {
            return Err(Error::NotFound("social account"));
        }
        self.audit_unlink(realm_id, actor, user_id, id).await;
        Ok(())
    }

    async fn audit_unlink(
        &self,
        realm_id: Uuid,
        actor: impl Into<crate::audit::Actor>,
        user_id: Uuid,
        id: Uuid,
    ) {
        crate::audit::event(
            self.i,
            realm_id,
            actor,
            "social_account.unlink",
            format!("user:{user_id}"),
            serde_json::json!({ "link": id }),
        )
        .await;
    }
}
