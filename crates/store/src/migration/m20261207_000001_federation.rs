//! Federation (sign-in through upstream identity providers).
//!
//! - `identity_providers`: the upstream providers a realm trusts, unique
//!   `(realm_id, alias)`; `kind` (`oidc`, `github`, ...), the settings as
//!   JSON (`config`) and the client secret (or the key that signs one)
//!   sealed with the master key (`secret`). Unique `(realm_id, id)`, the
//!   target of the foreign keys below.
//! - `social_accounts`: links between a user and an upstream subject,
//!   unique `(realm_id, provider_id, subject)` and `(realm_id, user_id,
//!   provider_id)` (one link per user and provider).
//! - `federation_attempts`: sign-ins in flight and links waiting for the
//!   user, by the digest of their handle (`token_hash`, unique), bound to
//!   a browser by `binding_hash`; `payload` is JSON; taken once.
//! - `mfa_challenges` gains `idp`: the provider of the first step of a
//!   login that went upstream, for the session the second step starts.
//! - `sessions` gains `idp`: the alias of the provider a session's sign-in
//!   came through (none for local sign-ins).
//!
//! Providers are deleted with their realm; links with their realm, user or
//! provider; attempts with their realm or provider.
//!
//! Data: the built-in `realm-admin` role of every realm gains
//! `identity-providers:read:all` and `identity-providers:manage:all` (a
//! realm created from now on gets them with its built-in roles). Revisions
//! stay: migrations run before a server compiles any realm view.

use sea_orm_migration::{prelude::*, schema::*};

/// The federation migration.
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
enum MfaChallenges {
    Table,
    Idp,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Idp,
}

#[derive(DeriveIden)]
enum IdentityProviders {
    Table,
    Id,
    RealmId,
    Alias,
    Kind,
    DisplayName,
    Enabled,
    Config,
    Secret,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SocialAccounts {
    Table,
    Id,
    RealmId,
    UserId,
    ProviderId,
    Subject,
    Email,
    Name,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum FederationAttempts {
    Table,
    Id,
    RealmId,
    ProviderId,
    TokenHash,
    BindingHash,
    Payload,
    CreatedAt,
    ExpiresAt,
}

/// The permissions this migration adds to `realm-admin`.
const PERMISSIONS: [&str; 2] = [
    "identity-providers:read:all",
    "identity-providers:manage:all",
];

/// `realm_id` referencing `realms(id)`, deleted with the realm.
fn realm_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_realm"))
        .from(Alias::new(table), Alias::new("realm_id"))
        .to(Realms::Table, Realms::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// `(realm_id, user_id)` referencing `users(realm_id, id)`, deleted with
/// the user.
fn user_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_user"))
        .from(
            Alias::new(table),
            (Alias::new("realm_id"), Alias::new("user_id")),
        )
        .to(Users::Table, (Users::RealmId, Users::Id))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// `(realm_id, provider_id)` referencing `identity_providers(realm_id,
/// id)`, deleted with the provider.
fn provider_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_provider"))
        .from(
            Alias::new(table),
            (Alias::new("realm_id"), Alias::new("provider_id")),
        )
        .to(
            IdentityProviders::Table,
            (IdentityProviders::RealmId, IdentityProviders::Id),
        )
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

fn index(name: &str, table: impl IntoIden, cols: &[&str], unique: bool) -> IndexCreateStatement {
    let mut index = Index::create().name(name).table(table).take();
    for col in cols {
        index.col(Alias::new(*col));
    }
    if unique {
        index.unique();
    }
    index
}

async fn providers_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(IdentityProviders::Table)
                .if_not_exists()
                .col(pk_uuid(IdentityProviders::Id))
                .col(uuid(IdentityProviders::RealmId))
                .col(text(IdentityProviders::Alias))
                .col(text(IdentityProviders::Kind))
                .col(text_null(IdentityProviders::DisplayName))
                .col(boolean(IdentityProviders::Enabled))
                .col(text(IdentityProviders::Config))
                .col(blob_null(IdentityProviders::Secret))
                .col(big_integer(IdentityProviders::CreatedAt))
                .col(big_integer(IdentityProviders::UpdatedAt))
                .foreign_key(&mut realm_fk("identity_providers"))
                .take(),
        )
        .await?;
    for (name, cols) in [
        ("ux_identity_providers_realm_alias", ["realm_id", "alias"]),
        ("ux_identity_providers_realm_id", ["realm_id", "id"]),
    ] {
        manager
            .create_index(index(name, IdentityProviders::Table, &cols, true))
            .await?;
    }
    Ok(())
}

async fn social_accounts_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(SocialAccounts::Table)
                .if_not_exists()
                .col(pk_uuid(SocialAccounts::Id))
                .col(uuid(SocialAccounts::RealmId))
                .col(uuid(SocialAccounts::UserId))
                .col(uuid(SocialAccounts::ProviderId))
                .col(text(SocialAccounts::Subject))
                .col(text_null(SocialAccounts::Email))
                .col(text_null(SocialAccounts::Name))
                .col(big_integer(SocialAccounts::CreatedAt))
                .col(big_integer_null(SocialAccounts::LastLoginAt))
                .foreign_key(&mut realm_fk("social_accounts"))
                .foreign_key(&mut user_fk("social_accounts"))
                .foreign_key(&mut provider_fk("social_accounts"))
                .take(),
        )
        .await?;
    // The first also serves the cascade from a deleted provider, the second
    // a user's links and the cascade from a deleted user.
    for (name, cols) in [
        (
            "ux_social_accounts_provider_subject",
            ["realm_id", "provider_id", "subject"],
        ),
        (
            "ux_social_accounts_user_provider",
            ["realm_id", "user_id", "provider_id"],
        ),
    ] {
        manager
            .create_index(index(name, SocialAccounts::Table, &cols, true))
            .await?;
    }
    Ok(())
}

async fn attempts_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(FederationAttempts::Table)
                .if_not_exists()
                .col(pk_uuid(FederationAttempts::Id))
                .col(uuid(FederationAttempts::RealmId))
                .col(uuid(FederationAttempts::ProviderId))
                .col(blob(FederationAttempts::TokenHash))
                .col(blob(FederationAttempts::BindingHash))
                .col(text(FederationAttempts::Payload))
                .col(big_integer(FederationAttempts::CreatedAt))
                .col(big_integer(FederationAttempts::ExpiresAt))
                .foreign_key(&mut realm_fk("federation_attempts"))
                .foreign_key(&mut provider_fk("federation_attempts"))
                .take(),
        )
        .await?;
    manager
        .create_index(index(
            "ux_federation_attempts_token",
            FederationAttempts::Table,
            &["token_hash"],
            true,
        ))
        .await?;
    manager
        .create_index(index(
            "ix_federation_attempts_expires_at",
            FederationAttempts::Table,
            &["expires_at"],
            false,
        ))
        .await?;
    // The cascade from a deleted provider.
    manager
        .create_index(index(
            "ix_federation_attempts_provider",
            FederationAttempts::Table,
            &["realm_id", "provider_id"],
            false,
        ))
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        providers_up(manager).await?;
        social_accounts_up(manager).await?;
        attempts_up(manager).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(text_null(Sessions::Idp))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .add_column(text_null(MfaChallenges::Idp))
                    .take(),
            )
            .await?;
        super::grant_to_realm_admins(manager, &PERMISSIONS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::revoke_from_realm_admins(manager, &PERMISSIONS).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::Idp)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaChallenges::Table)
                    .drop_column(MfaChallenges::Idp)
                    .take(),
            )
            .await?;
        for table in [
            FederationAttempts::Table.into_iden(),
            SocialAccounts::Table.into_iden(),
            IdentityProviders::Table.into_iden(),
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
