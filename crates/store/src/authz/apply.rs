//! Applying one [`AuthzChange`] inside the caller's write transaction. The
//! caller has already locked the realm (by bumping its revision), so checks
//! made here cannot be overtaken by another change of the same realm.
//!
//! References to users, roles and groups are checked by the composite
//! foreign keys `(realm_id, id)`: a reference to another realm's row fails
//! like a missing one, with `NotFound`. Policy attachments, which no foreign
//! key can cover, are checked explicitly.

use std::collections::BTreeSet;

use portcullis_core::StoreError;
use portcullis_core::model::AuthzChange;
use portcullis_core::ports::StoreResult;
use portcullis_policy::Permission;
use portcullis_policy::model::{
    Attachment, Grantee, Group, Membership, PermissionGrant, Policy, Role, RoleGrant,
};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::rows::{attachment_columns, effect_name, grantee_columns, policy_row};
use crate::convert::{conflict, db_err};
use crate::entities::{
    group, group_member, permission_definition, permission_grant, policy, role, role_grant,
    role_include, role_permission, user,
};

const DUPLICATE_ROLE: &str = "role name already in use in this realm";
const DUPLICATE_GROUP: &str = "group name already in use in this realm";
const DUPLICATE_POLICY: &str = "policy name already in use in this realm";

/// Rows per multi-row insert (well below both backends' parameter limits).
const CHUNK: usize = 1_000;

/// Applies `change` to `realm_id`; `at` (Unix microseconds) stamps new and
/// updated rows.
pub(super) async fn apply(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    change: &AuthzChange,
    at: i64,
) -> StoreResult<()> {
    match change {
        AuthzChange::CreateRole(r) => create_role(txn, realm_id, r, at).await,
        AuthzChange::UpdateRole(r) => update_role(txn, realm_id, r, at).await,
        AuthzChange::DeleteRole(id) => delete_role(txn, realm_id, *id).await,
        AuthzChange::CreateGroup(g) => create_group(txn, realm_id, g, at).await,
        AuthzChange::UpdateGroup(g) => update_group(txn, realm_id, g, at).await,
        AuthzChange::DeleteGroup(id) => delete_group(txn, realm_id, *id).await,
        AuthzChange::AddMember(m) => add_member(txn, realm_id, m, at).await,
        AuthzChange::RemoveMember { user, group } => {
            remove_member(txn, realm_id, *user, *group).await
        }
        AuthzChange::GrantRole(g) => grant_role(txn, realm_id, g, at).await,
        AuthzChange::RevokeRole { to, role } => revoke_role(txn, realm_id, *to, *role).await,
        AuthzChange::GrantPermission(g) => grant_permission(txn, realm_id, g, at).await,
        AuthzChange::RevokePermission { to, permission } => {
            revoke_permission(txn, realm_id, *to, permission).await
        }
        AuthzChange::CreatePolicy(p) => create_policy(txn, realm_id, p, at).await,
        AuthzChange::UpdatePolicy(p) => update_policy(txn, realm_id, p, at).await,
        AuthzChange::DeletePolicy(id) => delete_policy(txn, realm_id, *id).await,
        AuthzChange::DefinePermission {
            permission,
            description,
        } => define_permission(txn, realm_id, permission, description.as_deref(), at).await,
        AuthzChange::UndefinePermission(permission) => {
            undefine_permission(txn, realm_id, permission).await
        }
        AuthzChange::SetUserAttributes { user, attributes } => {
            set_user_attributes(txn, realm_id, *user, attributes, at).await
        }
    }
}

/// `NotFound` unless a delete or update touched a row.
fn found(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        Err(StoreError::NotFound)
    } else {
        Ok(())
    }
}

/// Inserts the permissions of a role (duplicates collapsed).
pub(super) async fn insert_role_permissions<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    role_id: Uuid,
    permissions: &[Permission],
) -> StoreResult<()> {
    let texts: BTreeSet<String> = permissions.iter().map(ToString::to_string).collect();
    let rows: Vec<role_permission::ActiveModel> = texts
        .into_iter()
        .map(|permission| role_permission::ActiveModel {
            realm_id: Set(realm_id),
            role_id: Set(role_id),
            permission: Set(permission),
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        role_permission::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

/// Replaces a role's permissions and included roles.
async fn set_role_contents(txn: &DatabaseTransaction, realm_id: Uuid, r: &Role) -> StoreResult<()> {
    role_permission::Entity::delete_many()
        .filter(role_permission::Column::RealmId.eq(realm_id))
        .filter(role_permission::Column::RoleId.eq(r.id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    insert_role_permissions(txn, realm_id, r.id, &r.permissions).await?;

    role_include::Entity::delete_many()
        .filter(role_include::Column::RealmId.eq(realm_id))
        .filter(role_include::Column::RoleId.eq(r.id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    let included: BTreeSet<Uuid> = r.includes.iter().copied().collect();
    let rows: Vec<role_include::ActiveModel> = included
        .into_iter()
        .map(|included_role_id| role_include::ActiveModel {
            realm_id: Set(realm_id),
            role_id: Set(r.id),
            included_role_id: Set(included_role_id),
        })
        .collect();
    for chunk in rows.chunks(CHUNK) {
        role_include::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(txn)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

async fn find_role(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    id: Uuid,
) -> StoreResult<role::Model> {
    role::Entity::find()
        .filter(role::Column::RealmId.eq(realm_id))
        .filter(role::Column::Id.eq(id))
        .one(txn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)
}

async fn create_role(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    r: &Role,
    at: i64,
) -> StoreResult<()> {
    let row = role::Model {
        id: r.id,
        realm_id,
        name: r.name.clone(),
        description: r.description.clone(),
        builtin: r.builtin,
        created_at: at,
        updated_at: at,
    };
    role::Entity::insert(row.into_active_model())
        .exec_without_returning(txn)
        .await
        .map_err(conflict(DUPLICATE_ROLE))?;
    set_role_contents(txn, realm_id, r).await
}

async fn update_role(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    r: &Role,
    at: i64,
) -> StoreResult<()> {
    let existing = find_role(txn, realm_id, r.id).await?;
    if existing.builtin && existing.name != r.name {
        return Err(StoreError::Conflict(
            "built-in roles cannot be renamed".to_owned(),
        ));
    }
    let changes = role::ActiveModel {
        name: Set(r.name.clone()),
        description: Set(r.description.clone()),
        updated_at: Set(at),
        ..Default::default()
    };
    role::Entity::update_many()
        .set(changes)
        .filter(role::Column::RealmId.eq(realm_id))
        .filter(role::Column::Id.eq(r.id))
        .exec(txn)
        .await
        .map_err(conflict(DUPLICATE_ROLE))?;
    set_role_contents(txn, realm_id, r).await
}

/// Deletes the policies attached to one user, group or role.
pub(super) async fn delete_attached_policies<C: ConnectionTrait>(
    db: &C,
    realm_id: Uuid,
    to: Attachment,
) -> StoreResult<()> {
    let (kind, id) = attachment_columns(to);
    policy::Entity::delete_many()
        .filter(policy::Column::RealmId.eq(realm_id))
        .filter(policy::Column::AttachedKind.eq(kind))
        .filter(policy::Column::AttachedId.eq(id))
        .exec(db)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// Deletes a role; its permissions, inclusions (both ways) and grants go by
/// cascade, its attached policies here.
async fn delete_role(txn: &DatabaseTransaction, realm_id: Uuid, id: Uuid) -> StoreResult<()> {
    let existing = find_role(txn, realm_id, id).await?;
    if existing.builtin {
        return Err(StoreError::Conflict(
            "built-in roles cannot be deleted".to_owned(),
        ));
    }
    delete_attached_policies(txn, realm_id, Attachment::Role(id)).await?;
    let res = role::Entity::delete_many()
        .filter(role::Column::RealmId.eq(realm_id))
        .filter(role::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

async fn create_group(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    g: &Group,
    at: i64,
) -> StoreResult<()> {
    let row = group::Model {
        id: g.id,
        realm_id,
        name: g.name.clone(),
        description: g.description.clone(),
        parent_id: g.parent,
        created_at: at,
        updated_at: at,
    };
    group::Entity::insert(row.into_active_model())
        .exec_without_returning(txn)
        .await
        .map_err(conflict(DUPLICATE_GROUP))?;
    Ok(())
}

async fn update_group(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    g: &Group,
    at: i64,
) -> StoreResult<()> {
    let changes = group::ActiveModel {
        name: Set(g.name.clone()),
        description: Set(g.description.clone()),
        parent_id: Set(g.parent),
        updated_at: Set(at),
        ..Default::default()
    };
    let res = group::Entity::update_many()
        .set(changes)
        .filter(group::Column::RealmId.eq(realm_id))
        .filter(group::Column::Id.eq(g.id))
        .exec(txn)
        .await
        .map_err(conflict(DUPLICATE_GROUP))?;
    found(res.rows_affected)
}

/// Deletes a group: its children move to its parent, its attached policies
/// go here, its memberships and grants by cascade.
async fn delete_group(txn: &DatabaseTransaction, realm_id: Uuid, id: Uuid) -> StoreResult<()> {
    let parent: Option<Uuid> = group::Entity::find()
        .select_only()
        .column(group::Column::ParentId)
        .filter(group::Column::RealmId.eq(realm_id))
        .filter(group::Column::Id.eq(id))
        .into_tuple()
        .one(txn)
        .await
        .map_err(db_err)?
        .ok_or(StoreError::NotFound)?;
    group::Entity::update_many()
        .col_expr(
            group::Column::ParentId,
            sea_orm::sea_query::Expr::value(parent),
        )
        .filter(group::Column::RealmId.eq(realm_id))
        .filter(group::Column::ParentId.eq(id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    delete_attached_policies(txn, realm_id, Attachment::Group(id)).await?;
    let res = group::Entity::delete_many()
        .filter(group::Column::RealmId.eq(realm_id))
        .filter(group::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

async fn add_member(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    m: &Membership,
    at: i64,
) -> StoreResult<()> {
    let row = group_member::Model {
        realm_id,
        group_id: m.group,
        user_id: m.user,
        not_before: m.validity.not_before,
        expires_at: m.validity.expires_at,
        created_at: at,
    };
    group_member::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([
                group_member::Column::RealmId,
                group_member::Column::GroupId,
                group_member::Column::UserId,
            ])
            .update_columns([
                group_member::Column::NotBefore,
                group_member::Column::ExpiresAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn remove_member(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    user_id: Uuid,
    group_id: Uuid,
) -> StoreResult<()> {
    let res = group_member::Entity::delete_many()
        .filter(group_member::Column::RealmId.eq(realm_id))
        .filter(group_member::Column::GroupId.eq(group_id))
        .filter(group_member::Column::UserId.eq(user_id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

async fn grant_role(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    g: &RoleGrant,
    at: i64,
) -> StoreResult<()> {
    let (user_id, group_id) = grantee_columns(g.to);
    let grantee_column = match g.to {
        Grantee::User(_) => role_grant::Column::UserId,
        Grantee::Group(_) => role_grant::Column::GroupId,
    };
    let row = role_grant::Model {
        id: Uuid::now_v7(),
        realm_id,
        role_id: g.role,
        user_id,
        group_id,
        not_before: g.validity.not_before,
        expires_at: g.validity.expires_at,
        created_at: at,
    };
    role_grant::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([
                role_grant::Column::RealmId,
                role_grant::Column::RoleId,
                grantee_column,
            ])
            .update_columns([role_grant::Column::NotBefore, role_grant::Column::ExpiresAt])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn revoke_role(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    to: Grantee,
    role_id: Uuid,
) -> StoreResult<()> {
    let grantee = match to {
        Grantee::User(id) => role_grant::Column::UserId.eq(id),
        Grantee::Group(id) => role_grant::Column::GroupId.eq(id),
    };
    let res = role_grant::Entity::delete_many()
        .filter(role_grant::Column::RealmId.eq(realm_id))
        .filter(role_grant::Column::RoleId.eq(role_id))
        .filter(grantee)
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

async fn grant_permission(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    g: &PermissionGrant,
    at: i64,
) -> StoreResult<()> {
    let (user_id, group_id) = grantee_columns(g.to);
    let grantee_column = match g.to {
        Grantee::User(_) => permission_grant::Column::UserId,
        Grantee::Group(_) => permission_grant::Column::GroupId,
    };
    let row = permission_grant::Model {
        id: Uuid::now_v7(),
        realm_id,
        user_id,
        group_id,
        permission: g.permission.to_string(),
        effect: effect_name(g.effect).to_owned(),
        not_before: g.validity.not_before,
        expires_at: g.validity.expires_at,
        created_at: at,
    };
    permission_grant::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::columns([
                permission_grant::Column::RealmId,
                grantee_column,
                permission_grant::Column::Permission,
            ])
            .update_columns([
                permission_grant::Column::Effect,
                permission_grant::Column::NotBefore,
                permission_grant::Column::ExpiresAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn revoke_permission(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    to: Grantee,
    permission: &Permission,
) -> StoreResult<()> {
    let grantee = match to {
        Grantee::User(id) => permission_grant::Column::UserId.eq(id),
        Grantee::Group(id) => permission_grant::Column::GroupId.eq(id),
    };
    let res = permission_grant::Entity::delete_many()
        .filter(permission_grant::Column::RealmId.eq(realm_id))
        .filter(grantee)
        .filter(permission_grant::Column::Permission.eq(permission.to_string()))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

/// `NotFound` unless the user, group or role a policy attaches to is in
/// the realm.
async fn check_attachment(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    to: Attachment,
) -> StoreResult<()> {
    let found = match to {
        Attachment::Realm => return Ok(()),
        Attachment::User(id) => user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.eq(id))
            .into_tuple::<Uuid>()
            .one(txn)
            .await
            .map_err(db_err)?,
        Attachment::Group(id) => group::Entity::find()
            .select_only()
            .column(group::Column::Id)
            .filter(group::Column::RealmId.eq(realm_id))
            .filter(group::Column::Id.eq(id))
            .into_tuple::<Uuid>()
            .one(txn)
            .await
            .map_err(db_err)?,
        Attachment::Role(id) => role::Entity::find()
            .select_only()
            .column(role::Column::Id)
            .filter(role::Column::RealmId.eq(realm_id))
            .filter(role::Column::Id.eq(id))
            .into_tuple::<Uuid>()
            .one(txn)
            .await
            .map_err(db_err)?,
    };
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

async fn create_policy(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    p: &Policy,
    at: i64,
) -> StoreResult<()> {
    check_attachment(txn, realm_id, p.attached_to).await?;
    policy::Entity::insert(policy_row(realm_id, p, at)?.into_active_model())
        .exec_without_returning(txn)
        .await
        .map_err(conflict(DUPLICATE_POLICY))?;
    Ok(())
}

async fn update_policy(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    p: &Policy,
    at: i64,
) -> StoreResult<()> {
    check_attachment(txn, realm_id, p.attached_to).await?;
    let row = policy_row(realm_id, p, at)?;
    let changes = policy::ActiveModel {
        name: Set(row.name),
        description: Set(row.description),
        priority: Set(row.priority),
        attached_kind: Set(row.attached_kind),
        attached_id: Set(row.attached_id),
        statements: Set(row.statements),
        enabled: Set(row.enabled),
        updated_at: Set(at),
        ..Default::default()
    };
    let res = policy::Entity::update_many()
        .set(changes)
        .filter(policy::Column::RealmId.eq(realm_id))
        .filter(policy::Column::Id.eq(p.id))
        .exec(txn)
        .await
        .map_err(conflict(DUPLICATE_POLICY))?;
    found(res.rows_affected)
}

async fn delete_policy(txn: &DatabaseTransaction, realm_id: Uuid, id: Uuid) -> StoreResult<()> {
    let res = policy::Entity::delete_many()
        .filter(policy::Column::RealmId.eq(realm_id))
        .filter(policy::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

async fn set_user_attributes(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    id: Uuid,
    attributes: &serde_json::Map<String, serde_json::Value>,
    at: i64,
) -> StoreResult<()> {
    let res = user::Entity::update_many()
        .set(user::ActiveModel {
            attributes: Set(serde_json::Value::Object(attributes.clone()).to_string()),
            updated_at: Set(at),
            ..Default::default()
        })
        .filter(user::Column::RealmId.eq(realm_id))
        .filter(user::Column::Id.eq(id))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}

async fn define_permission(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    permission: &Permission,
    description: Option<&str>,
    at: i64,
) -> StoreResult<()> {
    let row = permission_definition::ActiveModel {
        realm_id: Set(realm_id),
        permission: Set(permission.to_string()),
        description: Set(description.map(str::to_owned)),
        created_at: Set(at),
        updated_at: Set(at),
    };
    permission_definition::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                permission_definition::Column::RealmId,
                permission_definition::Column::Permission,
            ])
            .update_columns([
                permission_definition::Column::Description,
                permission_definition::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn undefine_permission(
    txn: &DatabaseTransaction,
    realm_id: Uuid,
    permission: &Permission,
) -> StoreResult<()> {
    let res = permission_definition::Entity::delete_many()
        .filter(permission_definition::Column::RealmId.eq(realm_id))
        .filter(permission_definition::Column::Permission.eq(permission.to_string()))
        .exec(txn)
        .await
        .map_err(db_err)?;
    found(res.rows_affected)
}
