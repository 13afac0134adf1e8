//! Loading a realm's whole authorization data: one query per table (nine in
//! all, whatever the realm's size), run by the caller inside one read
//! transaction so the rows and the revision agree.
//!
//! Only the columns the model needs are selected, as tuples: a realm of
//! 100,000 users has hundreds of thousands of membership and grant rows, and
//! skipping the entity models keeps their decoding cheap.

use std::collections::HashMap;

use portcullis_core::StoreError;
use portcullis_core::ports::StoreResult;
use portcullis_policy::Permission;
use portcullis_policy::model::{
    Group, Membership, PermissionGrant, RealmSnapshot, Role, RoleGrant,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::rows::{effect, grantee, permission, policy_of, validity};
use crate::convert::db_err;
use crate::entities::{
    group, group_member, permission_grant, policy, realm, role, role_grant, role_include,
    role_permission, user,
};

/// The realm's authorization revision; `None` when the realm does not exist.
pub(super) async fn revision<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Option<i64>> {
    realm::Entity::find_by_id(realm_id)
        .select_only()
        .column(realm::Column::AuthzRevision)
        .into_tuple::<i64>()
        .one(db)
        .await
        .map_err(db_err)
}

/// Everything of one realm. `NotFound` when the realm does not exist.
pub(super) async fn load<C: ConnectionTrait>(db: &C, realm_id: Uuid) -> StoreResult<RealmSnapshot> {
    let revision = revision(db, realm_id).await?.ok_or(StoreError::NotFound)?;
    Ok(RealmSnapshot {
        revision,
        roles: roles(db, realm_id).await?,
        groups: groups(db, realm_id).await?,
        memberships: memberships(db, realm_id).await?,
        role_grants: role_grants(db, realm_id).await?,
        permission_grants: permission_grants(db, realm_id).await?,
        policies: policies(db, realm_id).await?,
        subject_attributes: subject_attributes(db, realm_id).await?,
        organizations: organizations(db, realm_id).await?,
        organization_members: organization_members(db, realm_id).await?,
    })
}

/// The realm's organizations, by id.
async fn organizations<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Vec<portcullis_policy::model::OrganizationNode>> {
    use crate::entities::organization;
    let rows: Vec<(Uuid, String, Option<Uuid>)> = organization::Entity::find()
        .select_only()
        .columns([
            organization::Column::Id,
            organization::Column::Name,
            organization::Column::ParentId,
        ])
        .filter(organization::Column::RealmId.eq(realm_id))
        .order_by_asc(organization::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, parent)| portcullis_policy::model::OrganizationNode { id, name, parent })
        .collect())
}

/// The realm's organization memberships, by organization and user.
async fn organization_members<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Vec<portcullis_policy::model::OrganizationMember>> {
    use crate::entities::organization_member as m;
    let rows: Vec<(Uuid, Uuid, String)> = m::Entity::find()
        .select_only()
        .columns([
            m::Column::UserId,
            m::Column::OrganizationId,
            m::Column::Role,
        ])
        .filter(m::Column::RealmId.eq(realm_id))
        .order_by_asc(m::Column::OrganizationId)
        .order_by_asc(m::Column::UserId)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(
            |(user, organization, role)| portcullis_policy::model::OrganizationMember {
                user,
                organization,
                role,
            },
        )
        .collect())
}

/// Roles ordered by id, each with its permissions and included roles sorted.
async fn roles<C: ConnectionTrait>(db: &C, realm_id: Uuid) -> StoreResult<Vec<Role>> {
    let rows: Vec<(Uuid, String, Option<String>, bool)> = role::Entity::find()
        .select_only()
        .columns([
            role::Column::Id,
            role::Column::Name,
            role::Column::Description,
            role::Column::Builtin,
        ])
        .filter(role::Column::RealmId.eq(realm_id))
        .order_by_asc(role::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let permission_rows: Vec<(Uuid, String)> = role_permission::Entity::find()
        .select_only()
        .columns([
            role_permission::Column::RoleId,
            role_permission::Column::Permission,
        ])
        .filter(role_permission::Column::RealmId.eq(realm_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let include_rows: Vec<(Uuid, Uuid)> = role_include::Entity::find()
        .select_only()
        .columns([
            role_include::Column::RoleId,
            role_include::Column::IncludedRoleId,
        ])
        .filter(role_include::Column::RealmId.eq(realm_id))
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;

    let mut permissions: HashMap<Uuid, Vec<Permission>> = HashMap::new();
    for (role_id, text) in permission_rows {
        permissions
            .entry(role_id)
            .or_default()
            .push(permission(&text)?);
    }
    let mut includes: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for (role_id, included) in include_rows {
        includes.entry(role_id).or_default().push(included);
    }
    Ok(rows
        .into_iter()
        .map(|(id, name, description, builtin)| {
            let mut permissions = permissions.remove(&id).unwrap_or_default();
            permissions.sort();
            let mut includes = includes.remove(&id).unwrap_or_default();
            includes.sort();
            Role {
                id,
                name,
                description,
                permissions,
                includes,
                builtin,
            }
        })
        .collect())
}

/// Groups ordered by id.
async fn groups<C: ConnectionTrait>(db: &C, realm_id: Uuid) -> StoreResult<Vec<Group>> {
    let rows: Vec<(Uuid, String, Option<String>, Option<Uuid>)> = group::Entity::find()
        .select_only()
        .columns([
            group::Column::Id,
            group::Column::Name,
            group::Column::Description,
            group::Column::ParentId,
        ])
        .filter(group::Column::RealmId.eq(realm_id))
        .order_by_asc(group::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, description, parent)| Group {
            id,
            name,
            description,
            parent,
        })
        .collect())
}

/// Memberships ordered by group, then user.
async fn memberships<C: ConnectionTrait>(db: &C, realm_id: Uuid) -> StoreResult<Vec<Membership>> {
    let rows: Vec<(Uuid, Uuid, Option<i64>, Option<i64>)> = group_member::Entity::find()
        .select_only()
        .columns([
            group_member::Column::GroupId,
            group_member::Column::UserId,
            group_member::Column::NotBefore,
            group_member::Column::ExpiresAt,
        ])
        .filter(group_member::Column::RealmId.eq(realm_id))
        .order_by_asc(group_member::Column::GroupId)
        .order_by_asc(group_member::Column::UserId)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    Ok(rows
        .into_iter()
        .map(|(group, user, not_before, expires_at)| Membership {
            user,
            group,
            validity: validity(not_before, expires_at),
        })
        .collect())
}

/// Role, user, group, not before, expires at.
type RoleGrantRow = (Uuid, Option<Uuid>, Option<Uuid>, Option<i64>, Option<i64>);

/// Role grants in creation order.
async fn role_grants<C: ConnectionTrait>(db: &C, realm_id: Uuid) -> StoreResult<Vec<RoleGrant>> {
    let rows: Vec<RoleGrantRow> = role_grant::Entity::find()
        .select_only()
        .columns([
            role_grant::Column::RoleId,
            role_grant::Column::UserId,
            role_grant::Column::GroupId,
            role_grant::Column::NotBefore,
            role_grant::Column::ExpiresAt,
        ])
        .filter(role_grant::Column::RealmId.eq(realm_id))
        .order_by_asc(role_grant::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    rows.into_iter()
        .map(|(role, user, group, not_before, expires_at)| {
            Ok(RoleGrant {
                to: grantee(user, group)?,
                role,
                validity: validity(not_before, expires_at),
            })
        })
        .collect()
}

/// User, group, permission, effect, not before, expires at.
type PermissionGrantRow = (
    Option<Uuid>,
    Option<Uuid>,
    String,
    String,
    Option<i64>,
    Option<i64>,
);

/// Direct permission grants in creation order.
async fn permission_grants<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Vec<PermissionGrant>> {
    let rows: Vec<PermissionGrantRow> = permission_grant::Entity::find()
        .select_only()
        .columns([
            permission_grant::Column::UserId,
            permission_grant::Column::GroupId,
            permission_grant::Column::Permission,
            permission_grant::Column::Effect,
            permission_grant::Column::NotBefore,
            permission_grant::Column::ExpiresAt,
        ])
        .filter(permission_grant::Column::RealmId.eq(realm_id))
        .order_by_asc(permission_grant::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    rows.into_iter()
        .map(|(user, group, text, effect_name, not_before, expires_at)| {
            Ok(PermissionGrant {
                to: grantee(user, group)?,
                permission: permission(&text)?,
                effect: effect(&effect_name)?,
                validity: validity(not_before, expires_at),
            })
        })
        .collect()
}

/// Policies (enabled or not) ordered by id.
async fn policies<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Vec<portcullis_policy::model::Policy>> {
    policy::Entity::find()
        .filter(policy::Column::RealmId.eq(realm_id))
        .order_by_asc(policy::Column::Id)
        .all(db)
        .await
        .map_err(db_err)?
        .into_iter()
        .map(policy_of)
        .collect()
}

/// The stored attributes of the realm's users that have any.
async fn subject_attributes<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Vec<(Uuid, serde_json::Map<String, serde_json::Value>)>> {
    let rows: Vec<(Uuid, String)> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::Attributes])
        .filter(user::Column::RealmId.eq(realm_id))
        .filter(user::Column::Attributes.ne("{}"))
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let mut by_user: std::collections::BTreeMap<Uuid, serde_json::Map<String, serde_json::Value>> =
        rows.into_iter()
            .map(|(id, text)| Ok((id, crate::convert::attributes(&text)?)))
            .collect::<StoreResult<_>>()?;
    for (user, state) in verification_states(db, realm_id).await? {
        by_user.entry(user).or_default().extend(state);
    }
    Ok(by_user.into_iter().collect())
}

/// Each verified or document-submitting user's verification state as
/// attributes: `identity_verification` (its newest document's status) and
/// `document_verified`, `phone_number_verified` (true when a number is
/// verified). They replace stored attributes of the same names.
async fn verification_states<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
) -> StoreResult<Vec<(Uuid, serde_json::Map<String, serde_json::Value>)>> {
    use crate::entities::{identity_document as doc, phone_verification as phone};
    use serde_json::Value;
    let docs: Vec<(Uuid, String)> = doc::Entity::find()
        .select_only()
        .columns([doc::Column::UserId, doc::Column::Status])
        .filter(doc::Column::RealmId.eq(realm_id))
        .order_by_asc(doc::Column::UserId)
        .order_by_desc(doc::Column::CreatedAt)
        .order_by_desc(doc::Column::Id)
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let phones: Vec<Uuid> = phone::Entity::find()
        .select_only()
        .column(phone::Column::UserId)
        .filter(phone::Column::RealmId.eq(realm_id))
        .filter(phone::Column::VerifiedAt.is_not_null())
        .into_tuple()
        .all(db)
        .await
        .map_err(db_err)?;
    let mut out: std::collections::BTreeMap<Uuid, serde_json::Map<String, Value>> =
        std::collections::BTreeMap::new();
    for (user, status) in docs {
        let attrs = out.entry(user).or_default();
        // The newest document of each user comes first.
        if !attrs.contains_key("identity_verification") {
            attrs.insert(
                "document_verified".into(),
                Value::Bool(status == "verified"),
            );
            attrs.insert("identity_verification".into(), Value::String(status));
        }
    }
    for user in phones {
        out.entry(user)
            .or_default()
            .insert("phone_number_verified".into(), Value::Bool(true));
    }
    Ok(out.into_iter().collect())
}
