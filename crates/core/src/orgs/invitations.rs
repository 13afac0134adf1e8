//! Invitations to join an organization, by e-mail.
//!
//! An administrator of the realm or of the organization (delegated: roles
//! `member` and `admin` only) invites an address with a role; a link with a
//! token of 256 random bits goes to it. Only the token's SHA-256 digest is
//! stored; looked up by digest (what the database compares is a digest, not
//! the secret) and spent by one conditional update, in the transaction
//! that adds the membership: of two racing uses exactly one wins. A new
//! invitation of the same address to the same organization replaces the
//! older one (its link stops working). A link lives
//! [`crate::Settings::org_invitation_ttl`] (7 days by default).
//!
//! Accepting needs a signed-in user of the invitation's realm whose address
//! is the invited one. Audited: `organization.invitation.create`,
//! `.revoke`, `.accept`.

use portcullis_crypto::{random_token, sha256};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::domains::count;
use super::{ADMIN, MEMBER, Membership, Organization, Organizations};
use crate::access::{OrgAllowed, OrganizationsManage, OrganizationsRead};
use crate::error::{Error, Result};
use crate::mail::{Mail, MailKind};
use crate::model::{Email, new_id};
use crate::recovery::{invalid_token, presented_hash};
use crate::tokens::Principal;

/// An invitation to join an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    /// Id (UUIDv7).
    pub id: Uuid,
    /// The realm.
    pub realm_id: Uuid,
    /// The organization.
    pub organization_id: Uuid,
    /// The invited address (canonical).
    pub email: String,
    /// The role given on acceptance.
    pub role: String,
    /// SHA-256 of the mailed token.
    pub token_hash: Vec<u8>,
    /// Who invited.
    pub invited_by: Option<Uuid>,
    /// When.
    pub created_at: OffsetDateTime,
    /// When the link stops working.
    pub expires_at: OffsetDateTime,
    /// When it was accepted.
    pub accepted_at: Option<OffsetDateTime>,
    /// Who accepted it.
    pub accepted_by: Option<Uuid>,
}

/// A user's organizations and the invitations waiting for them.
#[derive(Debug, Clone)]
pub struct MyOrganizations {
    /// The organizations the user belongs to, with its role, by name.
    pub memberships: Vec<(Organization, String)>,
    /// Live invitations to the user's address, with their organizations.
    pub invitations: Vec<(Invitation, Organization)>,
}

impl Organizations<'_> {
    /// Invites an address to an organization with a role (`member` by
    /// default): the invitation, whose link is mailed. Replaces an earlier
    /// pending invitation of that address.
    pub async fn invite(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        email: &str,
        role: Option<&str>,
    ) -> Result<Invitation> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        let mut errors = Vec::new();
        let email = Email::parse(email).map_err(|e| errors.push(e)).ok();
        let role = match self.check_role(realm_id, role.unwrap_or(MEMBER)).await {
            Ok(r) if admin.is_delegated() && r != MEMBER && r != ADMIN => {
                errors.push(crate::FieldError::new(
                    "role",
                    "an organization's administrators give the roles member and admin only",
                ));
                None
            }
            Ok(r) => Some(r),
            Err(Error::Validation(mut e)) => {
                errors.append(&mut e);
                None
            }
            Err(e) => return Err(e),
        };
        let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        let now = self.i.clock.now();
        let token = random_token();
        let inv = Invitation {
            id: new_id(),
            realm_id,
            organization_id: org.id,
            email: email.canonical(),
            role,
            token_hash: sha256(token.as_bytes()).to_vec(),
            invited_by: Some(admin.caller().who.user_id),
            created_at: now,
            expires_at: now + self.i.settings.org_invitation_ttl,
            accepted_at: None,
            accepted_by: None,
        };
        match self.i.store.put_invitation(&inv).await {
            Ok(()) => {}
            Err(crate::StoreError::NotFound) => return Err(Error::NotFound("organization")),
            Err(e) => return Err(e.into()),
        }
        let realm = admin.realm();
        let link = format!(
            "{}/organization-invitation?token={token}",
            self.i.settings.issuer(&realm.name)
        );
        let mut values = Map::new();
        values.insert("link".into(), link.into());
        values.insert(
            "expires_in_minutes".into(),
            self.i.settings.org_invitation_ttl.whole_minutes().into(),
        );
        values.insert("organization".into(), org.display_name.clone().into());
        values.insert("role".into(), inv.role.clone().into());
        values.insert("name".into(), Value::Null);
        Mail::new(self.i)
            .enqueue(realm, MailKind::OrganizationInvitation, &email, values)
            .await?;
        self.invitation_audit(admin.caller(), "organization.invitation.create", &org, &inv)
            .await;
        Ok(inv)
    }

    /// An organization's pending invitations, oldest first (expired ones
    /// too: their `expires_at` says so).
    pub async fn invitations(
        &self,
        admin: &OrgAllowed<OrganizationsRead>,
    ) -> Result<Vec<Invitation>> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        Ok(self.i.store.list_invitations(realm_id, org.id).await?)
    }

    /// Withdraws an invitation: its link stops working.
    pub async fn revoke_invitation(
        &self,
        admin: &OrgAllowed<OrganizationsManage>,
        id: Uuid,
    ) -> Result<()> {
        let realm_id = admin.realm().id;
        let org = self.find(realm_id, admin.key()).await?;
        let Some(inv) = self
            .i
            .store
            .list_invitations(realm_id, org.id)
            .await?
            .into_iter()
            .find(|i| i.id == id)
        else {
            return Err(Error::NotFound("invitation"));
        };
        if !self.i.store.delete_invitation(realm_id, org.id, id).await? {
            return Err(Error::NotFound("invitation"));
        }
        self.invitation_audit(admin.caller(), "organization.invitation.revoke", &org, &inv)
            .await;
        Ok(())
    }

    /// Accepts an invitation with the token of its link, as the signed-in
    /// user `who`: the address must be the invited one (403, the link
    /// stays usable). The organization and the membership (a member
    /// already keeps its role). A token unknown in the caller's realm,
    /// spent, replaced or expired: 422 on `token`.
    pub async fn accept_invitation(
        &self,
        who: &Principal,
        token: &str,
    ) -> Result<(Organization, Membership)> {
        if who.claims.is_client_own() {
            return Err(Error::Forbidden("only a user accepts an invitation"));
        }
        let realm_id = who.realm.id;
        let hash = presented_hash(token).ok_or_else(invalid_token)?;
        let now = self.i.clock.now();
        let inv = self
            .i
            .store
            .get_invitation_by_hash(realm_id, &hash)
            .await?
            .filter(|inv| inv.accepted_at.is_none() && inv.expires_at > now)
            .ok_or_else(invalid_token)?;
        let user = self
            .i
            .store
            .get_user(realm_id, who.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or(Error::NotAuthenticated("account no longer active"))?;
        if user.email.canonical() != inv.email {
            return Err(Error::Forbidden(
                "this invitation is for another address: sign in with the invited one",
            ));
        }
        let org = self
            .i
            .store
            .get_organization(realm_id, inv.organization_id)
            .await?
            .ok_or_else(invalid_token)?;
        let membership = Membership {
            realm_id,
            organization_id: org.id,
            user_id: user.id,
            role: inv.role.clone(),
            created_at: now,
        };
        if !self
            .i
            .store
            .accept_invitation(realm_id, inv.id, &membership, now)
            .await?
        {
            return Err(invalid_token());
        }
        self.changed(realm_id);
        let stored = self
            .i
            .store
            .get_membership(realm_id, org.id, user.id)
            .await?
            .unwrap_or(membership);
        self.invitation_audit(who, "organization.invitation.accept", &org, &inv)
            .await;
        Ok((org, stored))
    }

    /// The caller's organizations, and the live invitations to its address.
    pub async fn mine(&self, who: &Principal) -> Result<MyOrganizations> {
        let realm_id = who.realm.id;
        let user = self
            .i
            .store
            .get_user(realm_id, who.user_id)
            .await?
            .ok_or(Error::NotAuthenticated("account no longer active"))?;
        let memberships = self.memberships(realm_id, user.id).await?;
        let now = self.i.clock.now();
        let mut invitations = Vec::new();
        for inv in self
            .i
            .store
            .invitations_for_email(realm_id, &user.email.canonical())
            .await?
        {
            if inv.expires_at <= now {
                continue;
            }
            if let Some(org) = self
                .i
                .store
                .get_organization(realm_id, inv.organization_id)
                .await?
            {
                invitations.push((inv, org));
            }
        }
        Ok(MyOrganizations {
            memberships,
            invitations,
        })
    }

    async fn invitation_audit(
        &self,
        actor: impl Into<crate::audit::Actor>,
        action: &str,
        org: &Organization,
        inv: &Invitation,
    ) {
        count(action);
        crate::audit::event(
            self.i,
            org.realm_id,
            actor,
            action,
            format!("organization:{}", org.id),
            json!({ "invitation": inv.id, "email": inv.email, "role": inv.role }),
        )
        .await;
    }
}

impl From<&Principal> for crate::audit::Actor {
    fn from(who: &Principal) -> Self {
        Some(who.user_id).into()
    }
}
