//! Organizations.
//!
//! - `organizations`: a realm's organizations, unique by `(realm_id,
//!   name)`, with an optional parent in the same realm (`(realm_id,
//!   parent_id)` referencing `(realm_id, id)`; a parent with children
//!   cannot be deleted), a search key (`search`: name and display name in
//!   lower case) and attributes as JSON text. Unique `(realm_id, id)`, the
//!   target of the references below.
//! - `organization_members`: who belongs to which organization, with a
//!   role; referencing `organizations(realm_id, id)` and `users(realm_id,
//!   id)`, deleted with either.
//!
//! Deleted with their realm.
//!
//! Data: the built-in `realm-admin` role of every realm gains
//! `organizations:read:all` and `organizations:manage:all`, and the built-in
//! `user` role `organizations:read:team` and `organizations:manage:team`
//! (delegated administration: they reach only the organizations a user
//! administers).

use sea_orm_migration::{prelude::*, schema::*};

/// The organizations migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    RealmId,
    Name,
    DisplayName,
    Description,
    ParentId,
    Search,
    Attributes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrganizationMembers {
    Table,
    RealmId,
    OrganizationId,
    UserId,
    Role,
    CreatedAt,
}

/// The permissions this migration adds to `realm-admin`.
const PERMISSIONS: [&str; 2] = ["organizations:read:all", "organizations:manage:all"];
/// The permissions this migration adds to `user`.
const USER_PERMISSIONS: [&str; 2] = ["organizations:read:team", "organizations:manage:team"];

fn child_fk(
    name: &str,
    table: impl IntoIden,
    column: impl IntoIden,
    parent: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, (Alias::new("realm_id"), column.into_iden()))
        .to(parent, (Alias::new("realm_id"), Alias::new("id")))
        .on_delete(on_delete)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(pk_uuid(Organizations::Id))
                    .col(uuid(Organizations::RealmId))
                    .col(text(Organizations::Name))
                    .col(text(Organizations::DisplayName))
                    .col(text_null(Organizations::Description))
                    .col(uuid_null(Organizations::ParentId))
                    .col(text(Organizations::Search))
                    .col(text(Organizations::Attributes))
                    .col(big_integer(Organizations::CreatedAt))
                    .col(big_integer(Organizations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_organizations_realm")
                            .from(Organizations::Table, Organizations::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organizations_realm_id")
                    .table(Organizations::Table)
                    .col(Organizations::RealmId)
                    .col(Organizations::Id)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organizations_realm_name")
                    .table(Organizations::Table)
                    .col(Organizations::RealmId)
                    .col(Organizations::Name)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_organizations_realm_parent")
                    .table(Organizations::Table)
                    .col(Organizations::RealmId)
                    .col(Organizations::ParentId)
                    .take(),
            )
            .await?;
        // SQLite adds a foreign key only with its table; PostgreSQL could
        // add it later, but one statement for both keeps them alike. The
        // self-reference is created after the unique index it points to.
        manager
            .create_table(
                Table::create()
                    .table(OrganizationMembers::Table)
                    .col(uuid(OrganizationMembers::RealmId))
                    .col(uuid(OrganizationMembers::OrganizationId))
                    .col(uuid(OrganizationMembers::UserId))
                    .col(text(OrganizationMembers::Role))
                    .col(big_integer(OrganizationMembers::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(OrganizationMembers::OrganizationId)
                            .col(OrganizationMembers::UserId),
                    )
                    .foreign_key(&mut child_fk(
                        "fk_organization_members_organization",
                        OrganizationMembers::Table,
                        OrganizationMembers::OrganizationId,
                        Organizations::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut child_fk(
                        "fk_organization_members_user",
                        OrganizationMembers::Table,
                        OrganizationMembers::UserId,
                        Users::Table,
                        ForeignKeyAction::Cascade,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_organization_members_user")
                    .table(OrganizationMembers::Table)
                    .col(OrganizationMembers::RealmId)
                    .col(OrganizationMembers::UserId)
                    .take(),
            )
            .await?;
        super::grant_to_realm_admins(manager, &PERMISSIONS).await?;
        super::grant_to_users(manager, &USER_PERMISSIONS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::revoke_from_realm_admins(manager, &PERMISSIONS).await?;
        {
            use sea_orm_migration::sea_orm::ConnectionTrait;
            for permission in USER_PERMISSIONS {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "DELETE FROM role_permissions WHERE permission = '{permission}' AND role_id IN \
                         (SELECT id FROM roles WHERE name = 'user' AND builtin = TRUE)"
                    ))
                    .await?;
            }
        }
        for table in [
            OrganizationMembers::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
