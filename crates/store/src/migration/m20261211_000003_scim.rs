//! SCIM 2.0 provisioning.
//!
//! - `users` gains `scim_user_name` (the SCIM `userName` as given) and
//!   `scim_user_name_canonical` (lower case, unique per realm when set) and
//!   `external_id` (the provisioning client's id for the user). Accounts
//!   that were never provisioned through SCIM have no user name: their
//!   `userName` is their e-mail address.
//! - `scim_users`: what SCIM says about an account beyond it: the
//!   Enterprise User extension's `employee_number`, `department` and
//!   `manager_id` as columns (queried, and the manager is what approval
//!   chains follow), and every other attribute the client sent as a JSON
//!   document. Referencing `users(realm_id, id)`, deleted with the account;
//!   the manager reference is cleared when the manager goes.
//! - `scim_groups`: a group's SCIM `displayName` (unique per realm, case
//!   insensitively) and `externalId`, beside the authorization group it
//!   names (whose own name is a slug), deleted with it.
//!
//! Data: the built-in `realm-admin` role of every realm gains
//! `scim:provision:all`.

use sea_orm_migration::{prelude::*, schema::*};

/// The SCIM migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    ScimUserName,
    ScimUserNameCanonical,
    ExternalId,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ScimUsers {
    Table,
    RealmId,
    UserId,
    EmployeeNumber,
    Department,
    ManagerId,
    Document,
}

#[derive(DeriveIden)]
enum ScimGroups {
    Table,
    RealmId,
    GroupId,
    DisplayName,
    DisplayNameCanonical,
    ExternalId,
    CreatedAt,
    UpdatedAt,
}

/// The permissions this migration adds to `realm-admin`.
const PERMISSIONS: [&str; 1] = ["scim:provision:all"];

fn user_fk(
    name: &str,
    column: impl IntoIden,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(
            ScimUsers::Table,
            (Alias::new("realm_id"), column.into_iden()),
        )
        .to(Users::Table, (Alias::new("realm_id"), Alias::new("id")))
        .on_delete(on_delete)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(Users::ScimUserName).text().null().take(),
            ColumnDef::new(Users::ScimUserNameCanonical)
                .text()
                .null()
                .take(),
            ColumnDef::new(Users::ExternalId).text().null().take(),
        ] {
            manager
                .alter_table(Table::alter().table(Users::Table).add_column(column).take())
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ux_users_realm_scim_user_name")
                    .table(Users::Table)
                    .col(Alias::new("realm_id"))
                    .col(Users::ScimUserNameCanonical)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_realm_external_id")
                    .table(Users::Table)
                    .col(Alias::new("realm_id"))
                    .col(Users::ExternalId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ScimUsers::Table)
                    .col(uuid(ScimUsers::RealmId))
                    .col(uuid(ScimUsers::UserId))
                    .col(text_null(ScimUsers::EmployeeNumber))
                    .col(text_null(ScimUsers::Department))
                    .col(uuid_null(ScimUsers::ManagerId))
                    .col(text(ScimUsers::Document))
                    .primary_key(Index::create().col(ScimUsers::UserId))
                    .foreign_key(&mut user_fk(
                        "fk_scim_users_user",
                        ScimUsers::UserId,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut user_fk(
                        "fk_scim_users_manager",
                        ScimUsers::ManagerId,
                        ForeignKeyAction::SetNull,
                    ))
                    .take(),
            )
            .await?;
        for (name, column) in [
            ("ix_scim_users_employee_number", ScimUsers::EmployeeNumber),
            ("ix_scim_users_department", ScimUsers::Department),
            ("ix_scim_users_manager", ScimUsers::ManagerId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ScimUsers::Table)
                        .col(ScimUsers::RealmId)
                        .col(column)
                        .take(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ScimGroups::Table)
                    .col(uuid(ScimGroups::RealmId))
                    .col(uuid(ScimGroups::GroupId))
                    .col(text(ScimGroups::DisplayName))
                    .col(text(ScimGroups::DisplayNameCanonical))
                    .col(text_null(ScimGroups::ExternalId))
                    .col(big_integer(ScimGroups::CreatedAt))
                    .col(big_integer(ScimGroups::UpdatedAt))
                    .primary_key(Index::create().col(ScimGroups::GroupId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_scim_groups_group")
                            .from(ScimGroups::Table, ScimGroups::GroupId)
                            .to(Groups::Table, Groups::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_scim_groups_realm_display_name")
                    .table(ScimGroups::Table)
                    .col(ScimGroups::RealmId)
                    .col(ScimGroups::DisplayNameCanonical)
                    .unique()
                    .take(),
            )
            .await?;
        super::grant_to_realm_admins(manager, &PERMISSIONS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::revoke_from_realm_admins(manager, &PERMISSIONS).await?;
        manager
            .drop_table(Table::drop().table(ScimGroups::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(ScimUsers::Table).take())
            .await?;
        for index in [
            "ix_users_realm_external_id",
            "ux_users_realm_scim_user_name",
        ] {
            manager
                .drop_index(Index::drop().name(index).table(Users::Table).to_owned())
                .await?;
        }
        for column in [
            Users::ExternalId,
            Users::ScimUserNameCanonical,
            Users::ScimUserName,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }
}
