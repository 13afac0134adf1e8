//! OAuth clients: `oauth_clients`, unique `(realm_id, client_id)`, deleted
//! with their realm. Data: the built-in `realm-admin` role of every realm
//! gains `clients:read:all` and `clients:manage:all` (a realm created from
//! now on gets them with its built-in roles). Revisions stay: migrations run
//! before a server compiles any realm view.

use sea_orm_migration::{prelude::*, schema::*};

/// The clients migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    RealmId,
    ClientId,
    Name,
    ClientType,
    AuthMethod,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    IdTokenAlg,
    Jwks,
    AccessTokenTtl,
    RefreshTokenTtl,
    RequireConsent,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

/// The permissions this migration adds to `realm-admin`.
const PERMISSIONS: [&str; 2] = ["clients:read:all", "clients:manage:all"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .if_not_exists()
                    .col(pk_uuid(OauthClients::Id))
                    .col(uuid(OauthClients::RealmId))
                    .col(text(OauthClients::ClientId))
                    .col(text(OauthClients::Name))
                    .col(text(OauthClients::ClientType))
                    .col(text(OauthClients::AuthMethod))
                    .col(binary_null(OauthClients::SecretHash))
                    .col(text(OauthClients::RedirectUris))
                    .col(text(OauthClients::PostLogoutRedirectUris))
                    .col(text(OauthClients::GrantTypes))
                    .col(text(OauthClients::Scopes))
                    .col(text(OauthClients::IdTokenAlg))
                    .col(text_null(OauthClients::Jwks))
                    .col(big_integer_null(OauthClients::AccessTokenTtl))
                    .col(big_integer_null(OauthClients::RefreshTokenTtl))
                    .col(boolean(OauthClients::RequireConsent))
                    .col(boolean(OauthClients::Enabled))
                    .col(big_integer(OauthClients::CreatedAt))
                    .col(big_integer(OauthClients::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_oauth_clients_realm")
                            .from(OauthClients::Table, OauthClients::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_oauth_clients_realm_client_id")
                    .table(OauthClients::Table)
                    .col(OauthClients::RealmId)
                    .col(OauthClients::ClientId)
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
            .drop_table(Table::drop().table(OauthClients::Table).if_exists().take())
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
