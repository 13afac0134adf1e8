//! The OpenID Provider's storage: browser and client sessions, authorization
//! codes and consents.
//!
//! - `sessions` gains `auth_time` (Unix microseconds; existing rows get their
//!   `created_at`), `amr` (space-separated RFC 8176 values; existing rows
//!   `pwd`, the only way to sign in so far), `secret_hash` (a browser
//!   session's cookie digest, unique per realm), `client_id` (a client
//!   session's client) and `parent_id` (the browser session a client session
//!   was authorized in). The two defaults only fill existing rows: the store
//!   writes every column.
//! - `oauth_codes`: authorization codes by digest (unique), deleted with
//!   their realm, user or client.
//! - `oauth_consents`: one row per (realm, user, client), deleted with their
//!   realm, user or client.
//!
//! Going down drops the tables, then the sessions' indexes and columns
//! (SQLite drops a column only once no index uses it).

use sea_orm_migration::sea_orm::ConnectionTrait;
use sea_orm_migration::{prelude::*, schema::*};

/// The OpenID Provider migration.
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
    Id,
    RealmId,
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    RealmId,
    ClientId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    RealmId,
    AuthTime,
    Amr,
    SecretHash,
    ClientId,
    ParentId,
}

#[derive(DeriveIden)]
enum OauthCodes {
    Table,
    Id,
    RealmId,
    CodeHash,
    ClientId,
    UserId,
    SessionId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    GrantSessionId,
}

#[derive(DeriveIden)]
enum OauthConsents {
    Table,
    RealmId,
    UserId,
    ClientId,
    Scopes,
    CreatedAt,
    UpdatedAt,
}

/// The new session indexes: name, the column after `realm_id`, unique.
fn session_indexes() -> [(&'static str, Sessions, bool); 3] {
    [
        ("ux_sessions_realm_secret", Sessions::SecretHash, true),
        ("ix_sessions_realm_parent", Sessions::ParentId, false),
        ("ix_sessions_realm_client", Sessions::ClientId, false),
    ]
}

fn sessions() -> TableAlterStatement {
    Table::alter().table(Sessions::Table).take()
}

/// Applies alterations one at a time: SQLite alters one column per
/// statement.
async fn alter_each(
    manager: &SchemaManager<'_>,
    statements: impl IntoIterator<Item = TableAlterStatement>,
) -> Result<(), DbErr> {
    for statement in statements {
        manager.alter_table(statement).await?;
    }
    Ok(())
}

/// `(realm_id, <column>)` referencing `users(realm_id, id)`, deleted with
/// the user.
fn user_fk(table: impl IntoIden, column: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, (Alias::new("realm_id"), column))
        .to(Users::Table, (Users::RealmId, Users::Id))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// `(realm_id, client_id)` referencing `oauth_clients(realm_id, client_id)`,
/// deleted with the client.
fn client_fk(table: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, (Alias::new("realm_id"), Alias::new("client_id")))
        .to(
            OauthClients::Table,
            (OauthClients::RealmId, OauthClients::ClientId),
        )
        .on_delete(ForeignKeyAction::Cascade)
        .take()
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

async fn sessions_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    alter_each(
        manager,
        [
            sessions()
                .add_column(big_integer(Sessions::AuthTime).default(0))
                .take(),
            sessions()
                .add_column(text(Sessions::Amr).default("pwd"))
                .take(),
            sessions()
                .add_column(binary_null(Sessions::SecretHash))
                .take(),
            sessions().add_column(text_null(Sessions::ClientId)).take(),
            sessions().add_column(uuid_null(Sessions::ParentId)).take(),
        ],
    )
    .await?;
    manager
        .get_connection()
        .execute_unprepared("UPDATE sessions SET auth_time = created_at")
        .await?;
    for (name, column, unique) in session_indexes() {
        let mut index = Index::create()
            .name(name)
            .table(Sessions::Table)
            .col(Sessions::RealmId)
            .col(column)
            .take();
        if unique {
            index.unique();
        }
        manager.create_index(index).await?;
    }
    Ok(())
}

async fn sessions_down(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    for (name, _, _) in session_indexes() {
        manager
            .drop_index(Index::drop().name(name).table(Sessions::Table).to_owned())
            .await?;
    }
    alter_each(
        manager,
        [
            sessions().drop_column(Sessions::ParentId).take(),
            sessions().drop_column(Sessions::ClientId).take(),
            sessions().drop_column(Sessions::SecretHash).take(),
            sessions().drop_column(Sessions::Amr).take(),
            sessions().drop_column(Sessions::AuthTime).take(),
        ],
    )
    .await
}

async fn codes_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(OauthCodes::Table)
                .if_not_exists()
                .col(pk_uuid(OauthCodes::Id))
                .col(uuid(OauthCodes::RealmId))
                .col(blob(OauthCodes::CodeHash))
                .col(text(OauthCodes::ClientId))
                .col(uuid(OauthCodes::UserId))
                .col(uuid(OauthCodes::SessionId))
                .col(text_null(OauthCodes::RedirectUri))
                .col(text(OauthCodes::Scope))
                .col(text_null(OauthCodes::Nonce))
                .col(text_null(OauthCodes::CodeChallenge))
                .col(big_integer(OauthCodes::CreatedAt))
                .col(big_integer(OauthCodes::ExpiresAt))
                .col(big_integer_null(OauthCodes::UsedAt))
                .col(uuid_null(OauthCodes::GrantSessionId))
                .foreign_key(&mut realm_fk(OauthCodes::Table, "fk_oauth_codes_realm"))
                .foreign_key(&mut user_fk(
                    OauthCodes::Table,
                    OauthCodes::UserId,
                    "fk_oauth_codes_user",
                ))
                .foreign_key(&mut client_fk(OauthCodes::Table, "fk_oauth_codes_client"))
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ux_oauth_codes_hash")
                .table(OauthCodes::Table)
                .col(OauthCodes::CodeHash)
                .unique()
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_oauth_codes_expires_at")
                .table(OauthCodes::Table)
                .col(OauthCodes::ExpiresAt)
                .take(),
        )
        .await
}

async fn consents_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(OauthConsents::Table)
                .if_not_exists()
                .col(uuid(OauthConsents::RealmId))
                .col(uuid(OauthConsents::UserId))
                .col(text(OauthConsents::ClientId))
                .col(text(OauthConsents::Scopes))
                .col(big_integer(OauthConsents::CreatedAt))
                .col(big_integer(OauthConsents::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(OauthConsents::RealmId)
                        .col(OauthConsents::UserId)
                        .col(OauthConsents::ClientId),
                )
                .foreign_key(&mut realm_fk(
                    OauthConsents::Table,
                    "fk_oauth_consents_realm",
                ))
                .foreign_key(&mut user_fk(
                    OauthConsents::Table,
                    OauthConsents::UserId,
                    "fk_oauth_consents_user",
                ))
                .foreign_key(&mut client_fk(
                    OauthConsents::Table,
                    "fk_oauth_consents_client",
                ))
                .take(),
        )
        .await?;
    // For the cascade from a deleted client.
    manager
        .create_index(
            Index::create()
                .name("ix_oauth_consents_realm_client")
                .table(OauthConsents::Table)
                .col(OauthConsents::RealmId)
                .col(OauthConsents::ClientId)
                .take(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        sessions_up(manager).await?;
        codes_up(manager).await?;
        consents_up(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OauthConsents::Table.into_iden(),
            OauthCodes::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        sessions_down(manager).await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
