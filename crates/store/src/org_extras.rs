//! [`OrganizationExtrasStore`] for [`SqlStore`]: organizations' e-mail
//! domains (one verified claim per domain and realm, by a unique index on
//! `verified_domain`), invitations (accepted with a conditional update in
//! the transaction that adds the membership), and the dashboard's counts.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::AuditRecord;
use portcullis_core::orgs::{Invitation, Membership, OrgDomain, OrgStats};
use portcullis_core::ports::{OrganizationExtrasStore, StoreResult};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::authz::bump_revision;
use crate::convert::{all, conflict, db_err, instant, instant_opt, micros, micros_opt};
use crate::entities::{
    audit_event, mfa_factor, organization_domain as dom, organization_invitation as inv,
    organization_member as member, user,
};

const DOMAIN_CLAIMED: &str = "the organization claims this domain already";
const DOMAIN_TAKEN: &str = "the domain is verified by another organization";

/// Most members whose events the dashboard looks through.
const AUDIT_MEMBERS: u64 = 1_000;

impl TryFrom<dom::Model> for OrgDomain {
    type Error = StoreError;
    fn try_from(m: dom::Model) -> Result<Self, StoreError> {
        Ok(OrgDomain {
            realm_id: m.realm_id,
            organization_id: m.organization_id,
            domain: m.domain,
            challenge: m.challenge,
            verified_at: instant_opt(m.verified_at)?,
            verified_by: m.verified_by,
            auto_join: m.auto_join,
            join_role: m.join_role,
            created_at: instant(m.created_at)?,
        })
    }
}

impl TryFrom<inv::Model> for Invitation {
    type Error = StoreError;
    fn try_from(m: inv::Model) -> Result<Self, StoreError> {
        Ok(Invitation {
            id: m.id,
            realm_id: m.realm_id,
            organization_id: m.organization_id,
            email: m.email,
            role: m.role,
            token_hash: m.token_hash,
            invited_by: m.invited_by,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
            accepted_at: instant_opt(m.accepted_at)?,
            accepted_by: m.accepted_by,
        })
    }
}

fn domain_of(realm_id: Uuid, org: Uuid, domain: &str) -> Condition {
    Condition::all()
        .add(dom::Column::RealmId.eq(realm_id))
        .add(dom::Column::OrganizationId.eq(org))
        .add(dom::Column::Domain.eq(domain))
}

/// The ids of an organization's members, as a sub-query.
fn member_ids(realm_id: Uuid, org: Uuid) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(member::Column::UserId)
        .from(member::Entity)
        .and_where(member::Column::RealmId.eq(realm_id))
        .and_where(member::Column::OrganizationId.eq(org))
        .to_owned()
}

#[async_trait]
impl OrganizationExtrasStore for SqlStore {
    async fn create_org_domain(&self, d: &OrgDomain) -> StoreResult<()> {
        let row = dom::Model {
            realm_id: d.realm_id,
            organization_id: d.organization_id,
            domain: d.domain.clone(),
            challenge: d.challenge.clone(),
            verified_domain: d.verified_at.map(|_| d.domain.clone()),
            verified_at: micros_opt(d.verified_at),
            verified_by: d.verified_by.clone(),
            auto_join: d.auto_join,
            join_role: d.join_role.clone(),
            created_at: micros(d.created_at),
        };
        dom::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict(DOMAIN_CLAIMED))?;
        Ok(())
    }

    async fn list_org_domains(&self, realm_id: Uuid, org: Uuid) -> StoreResult<Vec<OrgDomain>> {
        let rows = dom::Entity::find()
            .filter(dom::Column::RealmId.eq(realm_id))
            .filter(dom::Column::OrganizationId.eq(org))
            .order_by_asc(dom::Column::Domain)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn get_org_domain(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
    ) -> StoreResult<Option<OrgDomain>> {
        dom::Entity::find()
            .filter(domain_of(realm_id, org, domain))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(OrgDomain::try_from)
            .transpose()
    }

    async fn verified_org_domain(
        &self,
        realm_id: Uuid,
        domain: &str,
    ) -> StoreResult<Option<OrgDomain>> {
        dom::Entity::find()
            .filter(dom::Column::RealmId.eq(realm_id))
            .filter(dom::Column::VerifiedDomain.eq(domain))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(OrgDomain::try_from)
            .transpose()
    }

    async fn verify_org_domain(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
        method: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let changes = dom::ActiveModel {
            verified_domain: Set(Some(domain.to_owned())),
            verified_at: Set(Some(micros(at))),
            verified_by: Set(Some(method.to_owned())),
            ..Default::default()
        };
        let res = dom::Entity::update_many()
            .set(changes)
            .filter(domain_of(realm_id, org, domain))
            .exec(&self.writer)
            .await
            .map_err(conflict(DOMAIN_TAKEN))?;
        Ok(res.rows_affected == 1)
    }

    async fn set_org_domain_policy(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
        auto_join: bool,
        join_role: &str,
    ) -> StoreResult<bool> {
        let changes = dom::ActiveModel {
            auto_join: Set(auto_join),
            join_role: Set(join_role.to_owned()),
            ..Default::default()
        };
        let res = dom::Entity::update_many()
            .set(changes)
            .filter(domain_of(realm_id, org, domain))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_org_domain(
        &self,
        realm_id: Uuid,
        org: Uuid,
        domain: &str,
    ) -> StoreResult<bool> {
        let res = dom::Entity::delete_many()
            .filter(domain_of(realm_id, org, domain))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn put_invitation(&self, i: &Invitation) -> StoreResult<()> {
        let row = inv::Model {
            id: i.id,
            realm_id: i.realm_id,
            organization_id: i.organization_id,
            email: i.email.clone(),
            role: i.role.clone(),
            token_hash: i.token_hash.clone(),
            invited_by: i.invited_by,
            created_at: micros(i.created_at),
            expires_at: micros(i.expires_at),
            accepted_at: micros_opt(i.accepted_at),
            accepted_by: i.accepted_by,
        };
        let txn = self.begin_write().await?;
        inv::Entity::delete_many()
            .filter(inv::Column::RealmId.eq(i.realm_id))
            .filter(inv::Column::OrganizationId.eq(i.organization_id))
            .filter(inv::Column::Email.eq(i.email.as_str()))
            .filter(inv::Column::AcceptedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_err)?;
        inv::Entity::insert(row.into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn list_invitations(&self, realm_id: Uuid, org: Uuid) -> StoreResult<Vec<Invitation>> {
        let rows = inv::Entity::find()
            .filter(inv::Column::RealmId.eq(realm_id))
            .filter(inv::Column::OrganizationId.eq(org))
            .filter(inv::Column::AcceptedAt.is_null())
            .order_by_asc(inv::Column::CreatedAt)
            .order_by_asc(inv::Column::Id)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn delete_invitation(&self, realm_id: Uuid, org: Uuid, id: Uuid) -> StoreResult<bool> {
        let res = inv::Entity::delete_many()
            .filter(inv::Column::RealmId.eq(realm_id))
            .filter(inv::Column::OrganizationId.eq(org))
            .filter(inv::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn get_invitation_by_hash(
        &self,
        realm_id: Uuid,
        hash: &[u8],
    ) -> StoreResult<Option<Invitation>> {
        inv::Entity::find()
            .filter(inv::Column::RealmId.eq(realm_id))
            .filter(inv::Column::TokenHash.eq(hash.to_vec()))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Invitation::try_from)
            .transpose()
    }

    async fn invitations_for_email(
        &self,
        realm_id: Uuid,
        email: &str,
    ) -> StoreResult<Vec<Invitation>> {
        let rows = inv::Entity::find()
            .filter(inv::Column::RealmId.eq(realm_id))
            .filter(inv::Column::Email.eq(email))
            .filter(inv::Column::AcceptedAt.is_null())
            .order_by_asc(inv::Column::CreatedAt)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn accept_invitation(
        &self,
        realm_id: Uuid,
        id: Uuid,
        m: &Membership,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let txn = self.begin_write().await?;
        let changes = inv::ActiveModel {
            accepted_at: Set(Some(micros(at))),
            accepted_by: Set(Some(m.user_id)),
            ..Default::default()
        };
        let res = inv::Entity::update_many()
            .set(changes)
            .filter(inv::Column::RealmId.eq(realm_id))
            .filter(inv::Column::Id.eq(id))
            .filter(inv::Column::OrganizationId.eq(m.organization_id))
            .filter(inv::Column::AcceptedAt.is_null())
            .filter(inv::Column::ExpiresAt.gt(micros(at)))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if res.rows_affected != 1 {
            return Ok(false);
        }
        let row = member::Model {
            realm_id,
            organization_id: m.organization_id,
            user_id: m.user_id,
            role: m.role.clone(),
            created_at: micros(m.created_at),
        };
        // A member already keeps its role.
        member::Entity::insert(row.into_active_model())
            .on_conflict_do_nothing_on([member::Column::OrganizationId, member::Column::UserId])
            .exec(&txn)
            .await
            .map_err(db_err)?;
        bump_revision(&txn, realm_id).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn organization_stats(
        &self,
        realm_id: Uuid,
        org: Uuid,
        active_since: OffsetDateTime,
    ) -> StoreResult<OrgStats> {
        let members = member::Entity::find()
            .filter(member::Column::RealmId.eq(realm_id))
            .filter(member::Column::OrganizationId.eq(org))
            .count(&self.reader)
            .await
            .map_err(db_err)?;
        let active = user::Entity::find()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.in_subquery(member_ids(realm_id, org)))
            .filter(user::Column::LastLoginAt.gte(micros(active_since)))
            .count(&self.reader)
            .await
            .map_err(db_err)?;
        let with_mfa = user::Entity::find()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.in_subquery(member_ids(realm_id, org)))
            .filter(
                user::Column::Id.in_subquery(
                    Query::select()
                        .column(mfa_factor::Column::UserId)
                        .from(mfa_factor::Entity)
                        .and_where(mfa_factor::Column::RealmId.eq(realm_id))
                        .and_where(mfa_factor::Column::ConfirmedAt.is_not_null())
                        .to_owned(),
                ),
            )
            .count(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(OrgStats {
            members,
            active,
            with_mfa,
        })
    }

    async fn organization_member_audit(
        &self,
        realm_id: Uuid,
        org: Uuid,
        limit: u64,
    ) -> StoreResult<Vec<AuditRecord>> {
        let ids: Vec<Uuid> = member::Entity::find()
            .select_only()
            .column(member::Column::UserId)
            .filter(member::Column::RealmId.eq(realm_id))
            .filter(member::Column::OrganizationId.eq(org))
            .order_by_asc(member::Column::CreatedAt)
            .limit(AUDIT_MEMBERS)
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let targets: Vec<String> = ids.iter().map(|id| format!("user:{id}")).collect();
        let rows = audit_event::Entity::find()
            .filter(audit_event::Column::RealmId.eq(realm_id))
            .filter(
                Condition::any()
                    .add(audit_event::Column::Actor.is_in(ids))
                    .add(audit_event::Column::Target.is_in(targets)),
            )
            .order_by_desc(audit_event::Column::At)
            .order_by_desc(audit_event::Column::Id)
            .limit(limit)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }
}
