//! Revocation sync: what every instance polls to learn, within a second,
//! of revocations made by another instance on the same database.
//!
//! - `revoked_tokens` gains `revoked_at` (Unix microseconds; 0 for rows
//!   written before this migration, which the start-up load still reads),
//!   indexed: instances read the rows revoked since their cursor.
//! - `users` gains an index on `updated_at`: instances read the accounts
//!   deactivated since their cursor (`active = false`).
//! - `sessions.revoked_at` is indexed already (`ix_sessions_revoked_at`).
//! - `deleted_users`: a tombstone per deleted account (`user_id`, `realm_id`,
//!   `deleted_at`, indexed), since the account's row and sessions are gone:
//!   instances read the accounts deleted since their cursor. Kept one day,
//!   deleted with their realm.

use sea_orm_migration::{prelude::*, schema::*};

/// The revocation-sync migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RevokedTokens {
    Table,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum DeletedUsers {
    Table,
    UserId,
    RealmId,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(RevokedTokens::Table)
                    .add_column(big_integer(RevokedTokens::RevokedAt).default(0))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_revoked_tokens_revoked_at")
                    .if_not_exists()
                    .table(RevokedTokens::Table)
                    .col(RevokedTokens::RevokedAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_updated_at")
                    .if_not_exists()
                    .table(Users::Table)
                    .col(Users::UpdatedAt)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeletedUsers::Table)
                    .if_not_exists()
                    .col(pk_uuid(DeletedUsers::UserId))
                    .col(uuid(DeletedUsers::RealmId))
                    .col(big_integer(DeletedUsers::DeletedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deleted_users_realm")
                            .from(DeletedUsers::Table, DeletedUsers::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_deleted_users_deleted_at")
                    .if_not_exists()
                    .table(DeletedUsers::Table)
                    .col(DeletedUsers::DeletedAt)
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeletedUsers::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_users_updated_at")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_revoked_tokens_revoked_at")
                    .table(RevokedTokens::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RevokedTokens::Table)
                    .drop_column(RevokedTokens::RevokedAt)
                    .take(),
            )
            .await?;
        Ok(())
    }
}
