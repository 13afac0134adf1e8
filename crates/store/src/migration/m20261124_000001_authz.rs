//! Authorization data: roles (with their permissions and included roles),
//! groups, memberships, role and permission grants, policies, the audit
//! table, and each realm's authorization revision.
//!
//! Same conventions as the foundation: every table has `realm_id` referencing
//! `realms` with `ON DELETE CASCADE`, and rows reference users, roles and
//! groups through `(realm_id, id)`, so nothing can point into another realm.
//! A group's parent is referenced without an action: deleting a group
//! re-parents its children first (in code).
//!
//! Data: every existing realm receives the built-in roles, and every user
//! with `is_admin` a grant of `realm-admin` (`users.is_admin` stays for now).
//! The built-in rows are recorded as created when their realm was, and the
//! admin grants when their user was: a migration has no clock of its own.

use std::collections::HashMap;

use portcullis_policy::builtin::{REALM_ADMIN, builtin_roles};
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::{prelude::*, schema::*};
use uuid::Uuid;

/// The authorization migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
    CreatedAt,
    AuthzRevision,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    RealmId,
    IsAdmin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    RealmId,
    Name,
    Description,
    Builtin,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RolePermissions {
    Table,
    RealmId,
    RoleId,
    Permission,
}

#[derive(DeriveIden)]
enum RoleIncludes {
    Table,
    RealmId,
    RoleId,
    IncludedRoleId,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
    RealmId,
    Name,
    Description,
    ParentId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GroupMembers {
    Table,
    RealmId,
    GroupId,
    UserId,
    NotBefore,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    Id,
    RealmId,
    RoleId,
    UserId,
    GroupId,
    NotBefore,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PermissionGrants {
    Table,
    Id,
    RealmId,
    UserId,
    GroupId,
    Permission,
    Effect,
    NotBefore,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Policies {
    Table,
    Id,
    RealmId,
    Name,
    Description,
    Priority,
    AttachedKind,
    AttachedId,
    Statements,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    RealmId,
    Actor,
    Action,
    Target,
    Before,
    After,
    RequestId,
    At,
}

/// `realm_id` referencing `realms(id)`, deleted with the realm.
fn realm_fk(table: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("realm_id"))
        .to(Realms::Table, Realms::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// `(realm_id, <column>)` referencing `(realm_id, id)` of a parent table,
/// deleted with the parent.
fn child_fk(
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
    parent: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, (Alias::new("realm_id"), column.into_iden()))
        .to(parent, (Alias::new("realm_id"), Alias::new("id")))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

fn index(name: &str) -> IndexCreateStatement {
    Index::create().name(name).if_not_exists().take()
}

/// Exactly one of `user_id` and `group_id` is set.
const ONE_GRANTEE: &str = "(user_id IS NULL) <> (group_id IS NULL)";

async fn create_roles(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Roles::Table)
                .if_not_exists()
                .col(pk_uuid(Roles::Id))
                .col(uuid(Roles::RealmId))
                .col(text(Roles::Name))
                .col(text_null(Roles::Description))
                .col(boolean(Roles::Builtin))
                .col(big_integer(Roles::CreatedAt))
                .col(big_integer(Roles::UpdatedAt))
                .foreign_key(&mut realm_fk(Roles::Table, "fk_roles_realm"))
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ux_roles_realm_name")
                .table(Roles::Table)
                .col(Roles::RealmId)
                .col(Roles::Name)
                .unique()
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ux_roles_realm_id")
                .table(Roles::Table)
                .col(Roles::RealmId)
                .col(Roles::Id)
                .unique()
                .take(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(RolePermissions::Table)
                .if_not_exists()
                .col(uuid(RolePermissions::RealmId))
                .col(uuid(RolePermissions::RoleId))
                .col(text(RolePermissions::Permission))
                .primary_key(
                    Index::create()
                        .col(RolePermissions::RealmId)
                        .col(RolePermissions::RoleId)
                        .col(RolePermissions::Permission),
                )
                .foreign_key(&mut realm_fk(
                    RolePermissions::Table,
                    "fk_role_permissions_realm",
                ))
                .foreign_key(&mut child_fk(
                    "fk_role_permissions_role",
                    RolePermissions::Table,
                    RolePermissions::RoleId,
                    Roles::Table,
                ))
                .take(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(RoleIncludes::Table)
                .if_not_exists()
                .col(uuid(RoleIncludes::RealmId))
                .col(uuid(RoleIncludes::RoleId))
                .col(uuid(RoleIncludes::IncludedRoleId))
                .primary_key(
                    Index::create()
                        .col(RoleIncludes::RealmId)
                        .col(RoleIncludes::RoleId)
                        .col(RoleIncludes::IncludedRoleId),
                )
                .foreign_key(&mut realm_fk(RoleIncludes::Table, "fk_role_includes_realm"))
                .foreign_key(&mut child_fk(
                    "fk_role_includes_role",
                    RoleIncludes::Table,
                    RoleIncludes::RoleId,
                    Roles::Table,
                ))
                .foreign_key(&mut child_fk(
                    "fk_role_includes_included",
                    RoleIncludes::Table,
                    RoleIncludes::IncludedRoleId,
                    Roles::Table,
                ))
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ix_role_includes_included")
                .table(RoleIncludes::Table)
                .col(RoleIncludes::RealmId)
                .col(RoleIncludes::IncludedRoleId)
                .take(),
        )
        .await?;
    Ok(())
}

async fn create_groups(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Groups::Table)
                .if_not_exists()
                .col(pk_uuid(Groups::Id))
                .col(uuid(Groups::RealmId))
                .col(text(Groups::Name))
                .col(text_null(Groups::Description))
                .col(uuid_null(Groups::ParentId))
                .col(big_integer(Groups::CreatedAt))
                .col(big_integer(Groups::UpdatedAt))
                // Declared with the table: the parent key below refers to it.
                .index(
                    Index::create()
                        .name("ux_groups_realm_id")
                        .unique()
                        .col(Groups::RealmId)
                        .col(Groups::Id),
                )
                .foreign_key(&mut realm_fk(Groups::Table, "fk_groups_realm"))
                // No action: children are re-parented before a group goes.
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_groups_parent")
                        .from(Groups::Table, (Groups::RealmId, Groups::ParentId))
                        .to(Groups::Table, (Groups::RealmId, Groups::Id))
                        .on_delete(ForeignKeyAction::NoAction),
                )
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ux_groups_realm_name")
                .table(Groups::Table)
                .col(Groups::RealmId)
                .col(Groups::Name)
                .unique()
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ix_groups_realm_parent")
                .table(Groups::Table)
                .col(Groups::RealmId)
                .col(Groups::ParentId)
                .take(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(GroupMembers::Table)
                .if_not_exists()
                .col(uuid(GroupMembers::RealmId))
                .col(uuid(GroupMembers::GroupId))
                .col(uuid(GroupMembers::UserId))
                .col(big_integer_null(GroupMembers::NotBefore))
                .col(big_integer_null(GroupMembers::ExpiresAt))
                .col(big_integer(GroupMembers::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(GroupMembers::RealmId)
                        .col(GroupMembers::GroupId)
                        .col(GroupMembers::UserId),
                )
                .foreign_key(&mut realm_fk(GroupMembers::Table, "fk_group_members_realm"))
                .foreign_key(&mut child_fk(
                    "fk_group_members_group",
                    GroupMembers::Table,
                    GroupMembers::GroupId,
                    Groups::Table,
                ))
                .foreign_key(&mut child_fk(
                    "fk_group_members_user",
                    GroupMembers::Table,
                    GroupMembers::UserId,
                    Users::Table,
                ))
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ix_group_members_realm_user")
                .table(GroupMembers::Table)
                .col(GroupMembers::RealmId)
                .col(GroupMembers::UserId)
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ix_group_members_expires_at")
                .table(GroupMembers::Table)
                .col(GroupMembers::ExpiresAt)
                .take(),
        )
        .await?;
    Ok(())
}

async fn create_grants(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(RoleGrants::Table)
                .if_not_exists()
                .col(pk_uuid(RoleGrants::Id))
                .col(uuid(RoleGrants::RealmId))
                .col(uuid(RoleGrants::RoleId))
                .col(uuid_null(RoleGrants::UserId))
                .col(uuid_null(RoleGrants::GroupId))
                .col(big_integer_null(RoleGrants::NotBefore))
                .col(big_integer_null(RoleGrants::ExpiresAt))
                .col(big_integer(RoleGrants::CreatedAt))
                .check(Check::named(
                    "ck_role_grants_grantee",
                    Expr::cust(ONE_GRANTEE),
                ))
                .foreign_key(&mut realm_fk(RoleGrants::Table, "fk_role_grants_realm"))
                .foreign_key(&mut child_fk(
                    "fk_role_grants_role",
                    RoleGrants::Table,
                    RoleGrants::RoleId,
                    Roles::Table,
                ))
                .foreign_key(&mut child_fk(
                    "fk_role_grants_user",
                    RoleGrants::Table,
                    RoleGrants::UserId,
                    Users::Table,
                ))
                .foreign_key(&mut child_fk(
                    "fk_role_grants_group",
                    RoleGrants::Table,
                    RoleGrants::GroupId,
                    Groups::Table,
                ))
                .take(),
        )
        .await?;
    // NULLs never collide in a unique index, so each of these two indexes
    // covers one kind of grantee.
    for (name, grantee) in [
        ("ux_role_grants_user", RoleGrants::UserId),
        ("ux_role_grants_group", RoleGrants::GroupId),
    ] {
        manager
            .create_index(
                index(name)
                    .table(RoleGrants::Table)
                    .col(RoleGrants::RealmId)
                    .col(RoleGrants::RoleId)
                    .col(grantee)
                    .unique()
                    .take(),
            )
            .await?;
    }
    for (name, grantee) in [
        ("ix_role_grants_realm_user", RoleGrants::UserId),
        ("ix_role_grants_realm_group", RoleGrants::GroupId),
    ] {
        manager
            .create_index(
                index(name)
                    .table(RoleGrants::Table)
                    .col(RoleGrants::RealmId)
                    .col(grantee)
                    .take(),
            )
            .await?;
    }
    manager
        .create_index(
            index("ix_role_grants_expires_at")
                .table(RoleGrants::Table)
                .col(RoleGrants::ExpiresAt)
                .take(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(PermissionGrants::Table)
                .if_not_exists()
                .col(pk_uuid(PermissionGrants::Id))
                .col(uuid(PermissionGrants::RealmId))
                .col(uuid_null(PermissionGrants::UserId))
                .col(uuid_null(PermissionGrants::GroupId))
                .col(text(PermissionGrants::Permission))
                .col(text(PermissionGrants::Effect))
                .col(big_integer_null(PermissionGrants::NotBefore))
                .col(big_integer_null(PermissionGrants::ExpiresAt))
                .col(big_integer(PermissionGrants::CreatedAt))
                .check(Check::named(
                    "ck_permission_grants_grantee",
                    Expr::cust(ONE_GRANTEE),
                ))
                .check(Check::named(
                    "ck_permission_grants_effect",
                    Expr::cust("effect IN ('allow', 'deny')"),
                ))
                .foreign_key(&mut realm_fk(
                    PermissionGrants::Table,
                    "fk_permission_grants_realm",
                ))
                .foreign_key(&mut child_fk(
                    "fk_permission_grants_user",
                    PermissionGrants::Table,
                    PermissionGrants::UserId,
                    Users::Table,
                ))
                .foreign_key(&mut child_fk(
                    "fk_permission_grants_group",
                    PermissionGrants::Table,
                    PermissionGrants::GroupId,
                    Groups::Table,
                ))
                .take(),
        )
        .await?;
    for (name, grantee) in [
        ("ux_permission_grants_user", PermissionGrants::UserId),
        ("ux_permission_grants_group", PermissionGrants::GroupId),
    ] {
        manager
            .create_index(
                index(name)
                    .table(PermissionGrants::Table)
                    .col(PermissionGrants::RealmId)
                    .col(grantee)
                    .col(PermissionGrants::Permission)
                    .unique()
                    .take(),
            )
            .await?;
    }
    manager
        .create_index(
            index("ix_permission_grants_expires_at")
                .table(PermissionGrants::Table)
                .col(PermissionGrants::ExpiresAt)
                .take(),
        )
        .await?;
    Ok(())
}

async fn create_policies_and_audit(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Policies::Table)
                .if_not_exists()
                .col(pk_uuid(Policies::Id))
                .col(uuid(Policies::RealmId))
                .col(text(Policies::Name))
                .col(text_null(Policies::Description))
                .col(integer(Policies::Priority))
                .col(text(Policies::AttachedKind))
                .col(uuid_null(Policies::AttachedId))
                .col(text(Policies::Statements))
                .col(boolean(Policies::Enabled))
                .col(big_integer(Policies::CreatedAt))
                .col(big_integer(Policies::UpdatedAt))
                .check(Check::named(
                    "ck_policies_attachment",
                    Expr::cust(
                        "attached_kind IN ('realm', 'user', 'group', 'role') \
                         AND (attached_kind = 'realm') = (attached_id IS NULL)",
                    ),
                ))
                .foreign_key(&mut realm_fk(Policies::Table, "fk_policies_realm"))
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ux_policies_realm_name")
                .table(Policies::Table)
                .col(Policies::RealmId)
                .col(Policies::Name)
                .unique()
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ix_policies_attachment")
                .table(Policies::Table)
                .col(Policies::RealmId)
                .col(Policies::AttachedKind)
                .col(Policies::AttachedId)
                .take(),
        )
        .await?;

    manager
        .create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(pk_uuid(AuditEvents::Id))
                .col(uuid(AuditEvents::RealmId))
                .col(uuid_null(AuditEvents::Actor))
                .col(text(AuditEvents::Action))
                .col(text(AuditEvents::Target))
                .col(text_null(AuditEvents::Before))
                .col(text_null(AuditEvents::After))
                .col(text_null(AuditEvents::RequestId))
                .col(big_integer(AuditEvents::At))
                .foreign_key(&mut realm_fk(AuditEvents::Table, "fk_audit_events_realm"))
                .take(),
        )
        .await?;
    manager
        .create_index(
            index("ix_audit_events_realm_at")
                .table(AuditEvents::Table)
                .col(AuditEvents::RealmId)
                .col(AuditEvents::At)
                .take(),
        )
        .await?;
    Ok(())
}

fn values_err(e: sea_orm_migration::sea_query::error::Error) -> DbErr {
    DbErr::Migration(format!("building an insert: {e}"))
}

/// Built-in roles for every realm, and a `realm-admin` grant for every
/// user flagged `is_admin`.
async fn seed_builtin_roles(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let realms = db
        .query_all(
            &Query::select()
                .columns([Realms::Id, Realms::CreatedAt])
                .from(Realms::Table)
                .take(),
        )
        .await?;
    let builtin = builtin_roles();
    let mut admin_role: HashMap<Uuid, Uuid> = HashMap::new();
    for row in realms {
        let realm_id: Uuid = row.try_get("", "id")?;
        let created_at: i64 = row.try_get("", "created_at")?;
        for role in &builtin {
            let role_id = Uuid::now_v7();
            if role.name == REALM_ADMIN {
                admin_role.insert(realm_id, role_id);
            }
            let mut insert = Query::insert()
                .into_table(Roles::Table)
                .columns([
                    Roles::Id,
                    Roles::RealmId,
                    Roles::Name,
                    Roles::Description,
                    Roles::Builtin,
                    Roles::CreatedAt,
                    Roles::UpdatedAt,
                ])
                .take();
            insert
                .values([
                    role_id.into(),
                    realm_id.into(),
                    role.name.into(),
                    role.description.into(),
                    true.into(),
                    created_at.into(),
                    created_at.into(),
                ])
                .map_err(values_err)?;
            db.execute(&insert).await?;
            if role.permissions.is_empty() {
                continue;
            }
            let mut insert = Query::insert()
                .into_table(RolePermissions::Table)
                .columns([
                    RolePermissions::RealmId,
                    RolePermissions::RoleId,
                    RolePermissions::Permission,
                ])
                .take();
            for permission in &role.permissions {
                insert
                    .values([
                        realm_id.into(),
                        role_id.into(),
                        permission.to_string().into(),
                    ])
                    .map_err(values_err)?;
            }
            db.execute(&insert).await?;
        }
    }

    let admins = db
        .query_all(
            &Query::select()
                .columns([Users::RealmId, Users::Id, Users::CreatedAt])
                .from(Users::Table)
                .and_where(Expr::col(Users::IsAdmin).eq(true))
                .take(),
        )
        .await?;
    for row in admins {
        let realm_id: Uuid = row.try_get("", "realm_id")?;
        let user_id: Uuid = row.try_get("", "id")?;
        let created_at: i64 = row.try_get("", "created_at")?;
        let Some(role_id) = admin_role.get(&realm_id) else {
            continue;
        };
        let mut insert = Query::insert()
            .into_table(RoleGrants::Table)
            .columns([
                RoleGrants::Id,
                RoleGrants::RealmId,
                RoleGrants::RoleId,
                RoleGrants::UserId,
                RoleGrants::CreatedAt,
            ])
            .take();
        insert
            .values([
                Uuid::now_v7().into(),
                realm_id.into(),
                (*role_id).into(),
                user_id.into(),
                created_at.into(),
            ])
            .map_err(values_err)?;
        db.execute(&insert).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Realms::Table)
                    .add_column(big_integer(Realms::AuthzRevision).default(0))
                    .take(),
            )
            .await?;
        create_roles(manager).await?;
        create_groups(manager).await?;
        create_grants(manager).await?;
        create_policies_and_audit(manager).await?;
        seed_builtin_roles(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            Policies::Table.into_iden(),
            PermissionGrants::Table.into_iden(),
            RoleGrants::Table.into_iden(),
            GroupMembers::Table.into_iden(),
            Groups::Table.into_iden(),
            RoleIncludes::Table.into_iden(),
            RolePermissions::Table.into_iden(),
            Roles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Realms::Table)
                    .drop_column(Realms::AuthzRevision)
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
