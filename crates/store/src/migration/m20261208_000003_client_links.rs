//! Client links: `oauth_clients` gains `logo_uri`, `policy_uri` and
//! `tos_uri` (RFC 7591), https URLs shown to users and never fetched by
//! the server.

use sea_orm_migration::{prelude::*, schema::*};

/// The client links migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    LogoUri,
    PolicyUri,
    TosUri,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [
            OauthClients::LogoUri,
            OauthClients::PolicyUri,
            OauthClients::TosUri,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OauthClients::Table)
                        .add_column(text_null(column))
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            OauthClients::LogoUri,
            OauthClients::PolicyUri,
            OauthClients::TosUri,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(OauthClients::Table)
                        .drop_column(column)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
