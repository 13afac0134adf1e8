//! [`OrganizationStore`] for [`SqlStore`]: organizations (attributes as
//! JSON text, a lower-case search key) and their members. Organizations and
//! memberships feed the authorization engine (teams of their administrators,
//! members' attributes and roles), so every change bumps the realm's
//! authorization revision in its transaction.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{Email, Page};
use portcullis_core::orgs::{Member, Membership, OrgQuery, Organization};
use portcullis_core::ports::{OrganizationStore, StoreResult};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::SqlStore;
use crate::authz::bump_revision;
use crate::convert::{all, attributes, conflict, corrupt, db_err, instant, micros};
use crate::entities::{organization, organization_member, user};

const DUPLICATE_NAME: &str = "organization name already in use in this realm";

/// Both backends bind `OFFSET` and `LIMIT` as signed 64-bit integers.
const MAX_ROWS: u64 = i64::MAX.unsigned_abs();

/// The lower-case text searches look in.
fn search_key(o: &Organization) -> String {
    format!("{}\n{}", o.name, o.display_name.to_lowercase())
}

/// `LIKE` pattern matching strings that contain `part` literally.
fn contains_pattern(part: &str) -> String {
    let mut pattern = String::with_capacity(part.len() + 2);
    pattern.push('%');
    for c in part.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn org_row(o: &Organization) -> organization::Model {
    organization::Model {
        id: o.id,
        realm_id: o.realm_id,
        name: o.name.clone(),
        display_name: o.display_name.clone(),
        description: o.description.clone(),
        parent_id: o.parent_id,
        search: search_key(o),
        attributes: serde_json::Value::Object(o.attributes.clone()).to_string(),
        created_at: micros(o.created_at),
        updated_at: micros(o.updated_at),
    }
}

impl TryFrom<organization::Model> for Organization {
    type Error = StoreError;
    fn try_from(m: organization::Model) -> Result<Self, StoreError> {
        Ok(Organization {
            id: m.id,
            realm_id: m.realm_id,
            name: m.name,
            display_name: m.display_name,
            description: m.description,
            parent_id: m.parent_id,
            attributes: attributes(&m.attributes)
                .map_err(|_| corrupt("organization attributes"))?,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

impl TryFrom<organization_member::Model> for Membership {
    type Error = StoreError;
    fn try_from(m: organization_member::Model) -> Result<Self, StoreError> {
        Ok(Membership {
            realm_id: m.realm_id,
            organization_id: m.organization_id,
            user_id: m.user_id,
            role: m.role,
            created_at: instant(m.created_at)?,
        })
    }
}

impl SqlStore {
    /// Whether `id` is an organization of `realm_id`, read on `db`.
    async fn organization_exists(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<bool> {
        let n = organization::Entity::find()
            .filter(organization::Column::RealmId.eq(realm_id))
            .filter(organization::Column::Id.eq(id))
            .count(db)
            .await
            .map_err(db_err)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl OrganizationStore for SqlStore {
    async fn create_organization(&self, org: &Organization) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        if let Some(parent) = org.parent_id
            && !self.organization_exists(&txn, org.realm_id, parent).await?
        {
            return Err(StoreError::NotFound);
        }
        organization::Entity::insert(org_row(org).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(conflict(DUPLICATE_NAME))?;
        bump_revision(&txn, org.realm_id).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn get_organization(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<Organization>> {
        organization::Entity::find_by_id(id)
            .filter(organization::Column::RealmId.eq(realm_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Organization::try_from)
            .transpose()
    }

    async fn get_organization_by_name(
        &self,
        realm_id: Uuid,
        name: &str,
    ) -> StoreResult<Option<Organization>> {
        organization::Entity::find()
            .filter(organization::Column::RealmId.eq(realm_id))
            .filter(organization::Column::Name.eq(name))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Organization::try_from)
            .transpose()
    }

    async fn list_organizations(
        &self,
        realm_id: Uuid,
        query: &OrgQuery,
    ) -> StoreResult<Page<Organization>> {
        let mut select =
            organization::Entity::find().filter(organization::Column::RealmId.eq(realm_id));
        if let Some(search) = query.search.as_deref().filter(|s| !s.is_empty()) {
            let pattern = LikeExpr::new(contains_pattern(&search.to_lowercase())).escape('\\');
            select = select.filter(Expr::col(organization::Column::Search).like(pattern));
        }
        if let Some(parent) = query.parent {
            select = select.filter(organization::Column::ParentId.eq(parent));
        }
        let total = select.clone().count(&self.reader).await.map_err(db_err)?;
        let rows = select
            .order_by_asc(organization::Column::Name)
            .offset(Ord::min(query.offset, MAX_ROWS))
            .limit(Ord::min(query.limit, MAX_ROWS))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(Page {
            items: all(rows)?,
            total,
        })
    }

    async fn update_organization(&self, org: &Organization) -> StoreResult<bool> {
        let txn = self.begin_write().await?;
        if let Some(parent) = org.parent_id
            && !self.organization_exists(&txn, org.realm_id, parent).await?
        {
            return Err(StoreError::NotFound);
        }
        let row = org_row(org);
        let changes = organization::ActiveModel {
            name: Set(row.name),
            display_name: Set(row.display_name),
            description: Set(row.description),
            parent_id: Set(row.parent_id),
            search: Set(row.search),
            attributes: Set(row.attributes),
            updated_at: Set(row.updated_at),
            ..Default::default()
        };
        let res = organization::Entity::update_many()
            .set(changes)
            .filter(organization::Column::RealmId.eq(org.realm_id))
            .filter(organization::Column::Id.eq(org.id))
            .exec(&txn)
            .await
            .map_err(conflict(DUPLICATE_NAME))?;
        if res.rows_affected == 1 {
            bump_revision(&txn, org.realm_id).await?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_organization(&self, realm_id: Uuid, id: Uuid) -> StoreResult<bool> {
        // Children are checked and the row deleted in one transaction.
        let txn = self.begin_write().await?;
        let children = organization::Entity::find()
            .filter(organization::Column::RealmId.eq(realm_id))
            .filter(organization::Column::ParentId.eq(id))
            .count(&txn)
            .await
            .map_err(db_err)?;
        if children > 0 {
            return Err(StoreError::Conflict(
                "the organization has child organizations".to_owned(),
            ));
        }
        let res = organization::Entity::delete_many()
            .filter(organization::Column::RealmId.eq(realm_id))
            .filter(organization::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 1 {
            bump_revision(&txn, realm_id).await?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn put_membership(&self, m: &Membership) -> StoreResult<bool> {
        let row = organization_member::Model {
            realm_id: m.realm_id,
            organization_id: m.organization_id,
            user_id: m.user_id,
            role: m.role.clone(),
            created_at: micros(m.created_at),
        };
        let txn = self.begin_write().await?;
        let existed = organization_member::Entity::find()
            .filter(organization_member::Column::RealmId.eq(m.realm_id))
            .filter(organization_member::Column::OrganizationId.eq(m.organization_id))
            .filter(organization_member::Column::UserId.eq(m.user_id))
            .count(&txn)
            .await
            .map_err(db_err)?
            > 0;
        // The foreign keys through (realm_id, id) refuse an organization or
        // user of another realm: `NotFound`.
        organization_member::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([
                    organization_member::Column::OrganizationId,
                    organization_member::Column::UserId,
                ])
                .update_column(organization_member::Column::Role)
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        bump_revision(&txn, m.realm_id).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(!existed)
    }

    async fn delete_membership(&self, realm_id: Uuid, org: Uuid, user: Uuid) -> StoreResult<bool> {
        let txn = self.begin_write().await?;
        let res = organization_member::Entity::delete_many()
            .filter(organization_member::Column::RealmId.eq(realm_id))
            .filter(organization_member::Column::OrganizationId.eq(org))
            .filter(organization_member::Column::UserId.eq(user))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 1 {
            bump_revision(&txn, realm_id).await?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn get_membership(
        &self,
        realm_id: Uuid,
        org: Uuid,
        user: Uuid,
    ) -> StoreResult<Option<Membership>> {
        organization_member::Entity::find()
            .filter(organization_member::Column::RealmId.eq(realm_id))
            .filter(organization_member::Column::OrganizationId.eq(org))
            .filter(organization_member::Column::UserId.eq(user))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(Membership::try_from)
            .transpose()
    }

    async fn list_memberships(
        &self,
        realm_id: Uuid,
        org: Uuid,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<Member>> {
        let select = organization_member::Entity::find()
            .filter(organization_member::Column::RealmId.eq(realm_id))
            .filter(organization_member::Column::OrganizationId.eq(org));
        let total = select.clone().count(&self.reader).await.map_err(db_err)?;
        let rows = select
            .order_by_asc(organization_member::Column::CreatedAt)
            .order_by_asc(organization_member::Column::UserId)
            .offset(Ord::min(offset, MAX_ROWS))
            .limit(Ord::min(limit, MAX_ROWS))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
        let users = user::Entity::find()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.is_in(ids))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows {
            // The foreign key keeps the user; a row without one is skipped
            // (deleted between the two reads).
            let Some(u) = users.iter().find(|u| u.id == row.user_id) else {
                continue;
            };
            let email = Email::parse(&u.email).map_err(|_| corrupt("user email"))?;
            let name = u.name.clone();
            items.push(Member {
                membership: Membership::try_from(row)?,
                email,
                name,
            });
        }
        Ok(Page { items, total })
    }

    async fn memberships_of(&self, realm_id: Uuid, user: Uuid) -> StoreResult<Vec<Membership>> {
        let rows = organization_member::Entity::find()
            .filter(organization_member::Column::RealmId.eq(realm_id))
            .filter(organization_member::Column::UserId.eq(user))
            .order_by_asc(organization_member::Column::OrganizationId)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
