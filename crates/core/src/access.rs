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
}

macro_rules! rights {
    ($($(#[$doc:meta])* $name:ident = $resource:literal : $action:literal;)*) => {$(
        $(#[$doc])*
        #[derive(Debug)]
        pub enum $name {}

        impl sealed::Sealed for $name {}

        impl Right for $name {
            const RESOURCE: &'static str = $resource;
            const ACTION: &'static str = $action;
            const DENIED: &'static str =
                concat!("permission ", $resource, ":", $action, ":all required");
        }
    )*};
}

rights! {
    /// `roles:read`: list roles and permissions, read a user's grants.
    RolesRead = "roles":"read";
    /// `roles:manage`: change roles and permissions, grant to users.
    RolesManage = "roles":"manage";
    /// `groups:read`: list groups, their members and grants.
    GroupsRead = "groups":"read";
    /// `groups:manage`: change groups, their members and grants.
    GroupsManage = "groups":"manage";
    /// `policies:read`: list and read policies.
    PoliciesRead = "policies":"read";
    /// `policies:manage`: create, change and delete policies.
    PoliciesManage = "policies":"manage";
    /// `clients:read`: list and read OAuth clients.
    ClientsRead = "clients":"read";
    /// `clients:manage`: register, change and delete OAuth clients.
    ClientsManage = "clients":"manage";
    /// `realms:manage`: a realm's settings (such as its risk policy).
    RealmsManage = "realms":"manage";
    /// `authz:check`: decide checks for other subjects than oneself.
    AuthzCheck = "authz":"check";
    /// `users:manage`: administer the realm's users and mail templates.
    UsersManage = "users":"manage";
    /// `identity-providers:read`: list and read the upstream identity
    /// providers (never their secrets) and users' links to them.
    ProvidersRead = "identity-providers":"read";
    /// `identity-providers:manage`: add, change and delete upstream
    /// identity providers, and remove users' links to them.
    ProvidersManage = "identity-providers":"manage";
    /// `security:read`: see the realm's rate-limit policy and the callers
    /// blocked in it.
    SecurityRead = "security":"read";
    /// `security:manage`: set the realm's rate-limit policy and lift blocks.
    SecurityManage = "security":"manage";
    /// `service-keys:read`: list and read the realm's HMAC service keys
    /// (never their secrets).
    ServiceKeysRead = "service-keys":"read";
    /// `service-keys:manage`: create, rotate, revoke and delete service keys.
    ServiceKeysManage = "service-keys":"manage";
}

/// An authenticated request's caller, owned: what [`Access::allow`] turns
/// into a right.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The authenticated principal.
    pub who: Principal,
    /// The request's id, recorded with audit events.
    pub request_id: Option<String>,
    /// The client's IP, the default `context.ip` of checks.
    pub ip: Option<String>,
}

impl Requester {
    /// The caller, borrowed.
    pub fn caller(&self) -> Caller<'_> {
        Caller {
            who: &self.who,
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

    /// The caller's realm, the one the right holds in.
    pub fn realm(&self) -> &Realm {
        &self.requester.who.realm
    }
}

/// The one place rights are decided.
pub struct Access<'a> {
    authz: Authz<'a>,
}

impl<'a> Access<'a> {
    pub(crate) fn new(i: &'a Inner) -> Self {
        Self {
            authz: Authz::new(i),
        }
    }

    /// The right `R` for `requester`, or 403 naming the permission it lacks.
    pub async fn allow<R: Right>(&self, requester: Requester) -> Result<Allowed<R>> {
        let ip = requester.ip.as_deref().and_then(|ip| ip.parse().ok());
        let who = &requester.who;
        self.decide::<R>(&who.realm, who.user_id, ip).await?;
        Ok(Allowed {
            requester,
            right: PhantomData,
        })
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
