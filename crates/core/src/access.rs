//! Rights: the proof that a caller may use an administrative method.
//!
//! Every administrative method of core takes an [`Allowed<R>`] for the
//! [`Right`] `R` it needs (`Allowed<RolesManage>` to create a role,
//! `Allowed<ClientsRead>` to list clients, ...). The only way to get one is
//! [`Access::allow`], which asks the authorization engine whether the caller
//! holds `R`'s permission (`resource:action:all`) in its realm now. A method
//! called without that decision does not compile: there is no check to
//! forget. New services follow the same rule: add a right here, take an
//! `Allowed<_>` of it.

use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;

use crate::app::Inner;
use crate::authz::{Authz, Caller, View};
use crate::error::{Error, Result};
use crate::model::Realm;
use crate::tokens::Principal;
use uuid::Uuid;

mod sealed {
    pub trait Sealed {}
}

/// A permission of Portcullis's own API, `RESOURCE:ACTION:all`. Sealed: the
/// rights are the ones declared here.
pub trait Right: sealed::Sealed + Send + Sync + 'static {
    /// The permission's resource (`roles`).
    const RESOURCE: &'static str;
    /// The permission's action (`manage`).
    const ACTION: &'static str;
    /// The problem's detail when the caller lacks it.
    const DENIED: &'static str;
    /// Whether using it is a sensitive operation (it writes): the caller
    /// must also have authenticated recently, in a session whose risk is
    /// not raised ([`Fresh`]).
    const SENSITIVE: bool;
}

macro_rules! rights {
    ($($(#[$doc:meta])* $name:ident = $resource:literal : $action:literal $(, $sensitive:ident)?;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {}

        impl sealed::Sealed for $name {}

        impl Right for $name {
            const RESOURCE: &'static str = $resource;
            const ACTION: &'static str = $action;
            const DENIED: &'static str =
                concat!("permission ", $resource, ":", $action, ":all required");
            const SENSITIVE: bool = rights!(@sensitive $($sensitive)?);
        }
    )*};
    (@sensitive sensitive) => { true };
    (@sensitive) => { false };
}

rights! {
    // Rights that write are marked `sensitive`: see `Right::SENSITIVE`.

    /// `roles:read`: list roles and permissions, read a user's grants.
    RolesRead = "roles":"read";
    /// `roles:manage`: change roles and permissions, grant to users.
    RolesManage = "roles":"manage", sensitive;
    /// `groups:read`: list groups, their members and grants.
    GroupsRead = "groups":"read";
    /// `groups:manage`: change groups, their members and grants.
    GroupsManage = "groups":"manage", sensitive;
    /// `policies:read`: list and read policies.
    PoliciesRead = "policies":"read";
    /// `policies:manage`: create, change and delete policies.
    PoliciesManage = "policies":"manage", sensitive;
    /// `clients:read`: list and read OAuth clients.
    ClientsRead = "clients":"read";
    /// `clients:manage`: register, change and delete OAuth clients.
    ClientsManage = "clients":"manage", sensitive;
    /// `realms:manage`: a realm's settings (such as its risk policy).
    RealmsManage = "realms":"manage", sensitive;
    /// `authz:check`: decide checks for other subjects than oneself.
    AuthzCheck = "authz":"check";
    /// `users:manage`: administer the realm's users and mail templates.
    UsersManage = "users":"manage", sensitive;
    /// `identity-providers:read`: list and read the upstream identity
    /// providers (never their secrets) and users' links to them.
    ProvidersRead = "identity-providers":"read";
    /// `identity-providers:manage`: add, change and delete upstream
    /// identity providers, and remove users' links to them.
    ProvidersManage = "identity-providers":"manage", sensitive;
    /// `security:read`: see the realm's rate-limit policy and the callers
    /// blocked in it.
    SecurityRead = "security":"read";
    /// `security:manage`: set the realm's rate-limit policy and lift blocks.
    SecurityManage = "security":"manage", sensitive;
    /// `service-keys:read`: list and read the realm's HMAC service keys
    /// (never their secrets).
    ServiceKeysRead = "service-keys":"read";
    /// `service-keys:manage`: create, rotate, revoke and delete service keys.
    ServiceKeysManage = "service-keys":"manage", sensitive;
    /// `organizations:read`: list and read organizations and their members.
    OrganizationsRead = "organizations":"read";
    /// `organizations:manage`: create, change and delete organizations and
    /// their memberships.
    OrganizationsManage = "organizations":"manage", sensitive;
    /// `scim:provision`: create, change and delete users and groups through
    /// SCIM 2.0 (`/scim/v2/realms/{realm}`), as a provisioning client does.
    ScimProvision = "scim":"provision", sensitive;
}

/// An authenticated request's caller, owned: what [`Access::allow`] turns
/// into a right.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The authenticated principal.
    pub who: Principal,
    /// The realm the request acts in: the principal's own, or, for a
    /// server administrator acting across realms ([`Self::across`]),
    /// the addressed one.
    realm: Arc<Realm>,
    /// The request's id, recorded with audit events.
    pub request_id: Option<String>,
    /// The client's IP, the default `context.ip` of checks.
    pub ip: Option<String>,
}

impl Requester {
    /// A caller acting in its own realm.
    pub fn new(who: Principal, request_id: Option<String>, ip: Option<String>) -> Self {
        Self {
            realm: who.realm.clone(),
            who,
            request_id,
            ip,
        }
    }

    /// A caller of the default realm acting in `realm` on behalf of the
    /// server. Rights are then decided by [`Access::allow`] as server
    /// administration (`realms:manage:all` in the default realm), and the
    /// audit records name the caller's own realm beside the caller.
    pub fn across(
        who: Principal,
        realm: Arc<Realm>,
        request_id: Option<String>,
        ip: Option<String>,
    ) -> Self {
        Self {
            who,
            realm,
            request_id,
            ip,
        }
    }

    /// The realm the request acts in.
    pub fn realm(&self) -> &Arc<Realm> {
        &self.realm
    }

    /// Whether the caller acts in another realm than its own.
    pub fn is_cross_realm(&self) -> bool {
        self.realm.id != self.who.realm.id
    }

    /// The caller, borrowed.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            who: &self.who,
            realm: &self.realm,
            request_id: self.request_id.as_deref(),
            ip: self.ip.as_deref(),
        }
    }
}

/// Proof that a caller held the right `R` in its realm when it was decided.
/// Made only by [`Access::allow`].
#[derive(Debug)]
pub struct Allowed<R: Right> {
    requester: Requester,
    right: PhantomData<fn() -> R>,
}

impl<R: Right> Allowed<R> {
    /// The caller the right was decided for.
    pub fn caller(&self) -> Caller<'_> {
        self.requester.caller()
    }

    /// The realm the right holds in: the caller's own, or the one a
    /// server administrator acts in.
    pub fn realm(&self) -> &Realm {
        &self.requester.realm
    }

    /// The caller and its request.
    pub fn requester(&self) -> &Requester {
        &self.requester
    }
}

/// Proof that a caller may use the right `R` on one organization: it holds
/// `R` in the realm (`organizations:*:all`), or administers the
/// organization (scope `team`, the organization being `org:<name>` or
/// `org:<id>` among its teams: see `portcullis_policy::model::
/// OrganizationMember`). Made only by [`Access::allow_org`]; the
/// organization methods that delegated administrators may use take it.
#[derive(Debug)]
pub struct OrgAllowed<R: Right> {
    requester: Requester,
    /// The organization, by id or name, as the caller named it.
    key: String,
    /// Whether the right comes from administering the organization rather
    /// than from the realm's permission.
    delegated: bool,
    right: PhantomData<fn() -> R>,
}

impl<R: Right> OrgAllowed<R> {
    /// The caller the right was decided for.
    pub fn caller(&self) -> Caller<'_> {
        self.requester.caller()
    }

    /// The realm the right holds in.
    pub fn realm(&self) -> &Realm {
        &self.requester.realm
    }

    /// The organization the right holds for, by id or name.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the caller is a delegated administrator (of this
    /// organization or one above), not holding the realm's permission.
    pub fn is_delegated(&self) -> bool {
        self.delegated
    }
}

/// Proof that a caller authenticated recently (within its realm's
/// `fresh_auth_max_age`, 300 s by default) in a session whose risk is not
/// raised: what a sensitive operation requires beside its right. Made only
/// by [`Access::fresh`]; [`Access::allow`] asks for it for the rights that
/// write. Other sensitive operations (a service key's creation, ...) take
/// one as a parameter.
#[derive(Debug)]
pub struct Fresh {
    _made_here: (),
}

/// The detail of a refusal of a cross-realm request by a caller who does not
/// administer the server.
pub const CROSS_REALM_DENIED: &str =
    "acting in another realm needs the permission realms:manage:all in the default realm";

/// The detail of a refusal of an organization's administration.
pub const ORGANIZATION_DENIED: &str =
    "this needs the realm's organizations permission, or to administer the organization";

/// The detail of a refusal for an authentication too old.
pub const STALE_AUTHENTICATION: &str = "this operation needs a recent authentication: log in again (or send the step-up proof the operation accepts) and retry with the new access token";
/// The detail of a refusal for a session whose risk is raised.
pub const RAISED_RISK: &str = "this session was used from another device: log in again (or send the step-up proof the operation accepts) and retry with the new access token";

/// The one place rights are decided.
pub struct Access<'a> {
    i: &'a Inner,
    authz: Authz<'a>,
}

impl<'a> Access<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self {
            i,
            authz: Authz::new(i),
        }
    }

    /// The right `R` for `requester`, or 403 naming the permission it
    /// lacks; for a sensitive right, 401 `reauthentication-required` when
    /// the caller's authentication is not [`Fresh`].
    pub async fn allow<R: Right>(&self, requester: Requester) -> Result<Allowed<R>> {
        self.decide_for::<R>(&requester).await?;
        let who = &requester.who;
        if R::SENSITIVE {
            self.fresh(who).await?;
        }
        Ok(Allowed {
            requester,
            right: PhantomData,
        })
    }

    /// [`Fresh`] when the caller authenticated within its realm's
    /// `fresh_auth_max_age` (its session's `auth_time`; for a token
    /// without a session, its issue time) and its session's risk is not
    /// raised; else 401 `reauthentication-required` (RFC 9470). A client
    /// acting as itself authenticated with its own credential when it got
    /// its token, and has no user to authenticate again: always fresh.
    pub async fn fresh(&self, who: &Principal) -> Result<Fresh> {
        // A client acting as itself has no user to re-authenticate; a
        // signed request is authenticated afresh each time.
        if who.claims.is_client_own() || who.service_key.is_some() {
            return Ok(Fresh { _made_here: () });
        }
        let i = self.i;
        let max_age = i
            .store
            .get_risk_policy(who.realm.id)
            .await?
            .unwrap_or_default()
            .fresh_auth_max_age;
        if who.elevated_risk {
            return Err(Error::ReauthenticationRequired {
                max_age,
                detail: RAISED_RISK,
            });
        }
        let now = i.clock.now();
        let auth_time = match who.session_id {
            Some(sid) => {
                let session = match i.store.get_session(who.realm.id, sid).await? {
                    Some(s) if s.revoked_at.is_none() && s.expires_at > now => s,
                    _ => {
                        return Err(Error::NotAuthenticated(
                            "the session has ended; log in again",
                        ));
                    }
                };
                // Raised by a request from another device, maybe seen by
                // another instance.
                let baseline = i.store.get_baseline(who.realm.id, sid).await?;
                if baseline.is_some_and(|b| b.risk_raised_at.is_some()) {
                    return Err(Error::ReauthenticationRequired {
                        max_age,
                        detail: RAISED_RISK,
                    });
                }
                session.auth_time
            }
            None => who.claims.issued_at(),
        };
        if now - auth_time > time::Duration::seconds(i64::from(max_age)) {
            return Err(Error::ReauthenticationRequired {
                max_age,
                detail: STALE_AUTHENTICATION,
            });
        }
        Ok(Fresh { _made_here: () })
    }

    /// The right `R` on the organization `key` (id or name): held in the
    /// realm, or through administering that organization or one above it.
    /// Decided on the key as given, before anything is read, so that a
    /// caller learns nothing of organizations it does not administer: 403
    /// either way. Sensitive rights also need a [`Fresh`] authentication.
    pub async fn allow_org<R: Right>(
        &self,
        requester: Requester,
        key: &str,
    ) -> Result<OrgAllowed<R>> {
        let delegated = self.decide_for::<R>(&requester).await.is_err();
        if delegated {
            let who = &requester.who;
            if requester.is_cross_realm() || who.claims.is_client_own() {
                return Err(Error::Forbidden(R::DENIED));
            }
            let view = self.authz.view(who.realm.id, None).await?;
            let team = format!(
                "{}{key}",
                portcullis_policy::model::ORGANIZATION_TEAM_PREFIX
            );
            let ip = requester.ip.as_deref().and_then(|ip| ip.parse().ok());
            if !self.authz.user_may_in_team(
                &view,
                &who.realm,
                who.user_id,
                ip,
                R::RESOURCE,
                R::ACTION,
                &team,
            ) {
                return Err(Error::Forbidden(ORGANIZATION_DENIED));
            }
        }
        if R::SENSITIVE {
            self.fresh(&requester.who).await?;
        }
        Ok(OrgAllowed {
            requester,
            key: key.to_owned(),
            delegated,
            right: PhantomData,
        })
    }

    /// `Ok` when the requester holds `R` in the realm it acts in, else 403
    /// naming the permission. Across realms that is server administration:
    /// the caller, of the default realm, holds `realms:manage:all` there
    /// (the bootstrap admin does), which is every right in every realm.
    /// No freshness is asked here: see [`Self::allow`].
    pub async fn decide_for<R: Right>(&self, requester: &Requester) -> Result<()> {
        let ip = requester.ip.as_deref().and_then(|ip| ip.parse().ok());
        let who = &requester.who;
        if !requester.is_cross_realm() {
            return self.decide::<R>(&who.realm, who.user_id, ip).await;
        }
        if who.realm.name != self.i.settings.default_realm || who.claims.is_client_own() {
            return Err(Error::Forbidden(
                "a token of another realm acts here only for an administrator of the default realm",
            ));
        }
        match self.i.store.get_user(who.realm.id, who.user_id).await? {
            Some(u) if u.active => {}
            _ => return Err(Error::NotAuthenticated("account no longer active")),
        }
        self.decide::<RealmsManage>(&who.realm, who.user_id, ip)
            .await
            .map_err(|_| Error::Forbidden(CROSS_REALM_DENIED))
    }

    /// `Ok` when `user` holds `R` in `realm` now, else 403 naming the
    /// permission: the decision behind [`Self::allow`] and the older
    /// capability types of users, mail and realms.
    pub(crate) async fn decide<R: Right>(
        &self,
        realm: &Realm,
        user: Uuid,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        let view = self.authz.view(realm.id, None).await?;
        self.decide_in::<R>(&view, realm, user, ip)
    }

    /// [`Self::decide`] against a view the caller already holds (a check
    /// that needs `authz:check` reads the view it runs at once).
    pub(crate) fn decide_in<R: Right>(
        &self,
        view: &View,
        realm: &Realm,
        user: Uuid,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        if self
            .authz
            .user_may(view, realm, user, ip, R::RESOURCE, R::ACTION)
        {
            Ok(())
        } else {
            Err(Error::Forbidden(R::DENIED))
        }
    }
}
