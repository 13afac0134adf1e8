//! The realm's permission catalogue: `permission_definitions`, one row per
//! declared permission with its description. Declaring a permission grants
//! nothing; it names and explains it for administrators.

use sea_orm_migration::{prelude::*, schema::*};

/// The permission catalogue migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum PermissionDefinitions {
    Table,
    RealmId,
    Permission,
    Description,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PermissionDefinitions::Table)
                    .if_not_exists()
                    .col(uuid(PermissionDefinitions::RealmId))
                    .col(text(PermissionDefinitions::Permission))
                    .col(text_null(PermissionDefinitions::Description))
                    .col(big_integer(PermissionDefinitions::CreatedAt))
                    .col(big_integer(PermissionDefinitions::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PermissionDefinitions::RealmId)
                            .col(PermissionDefinitions::Permission),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_permission_definitions_realm")
                            .from(PermissionDefinitions::Table, PermissionDefinitions::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PermissionDefinitions::Table)
                    .if_exists()
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
