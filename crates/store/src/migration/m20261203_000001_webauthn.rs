//! WebAuthn credentials and ceremonies.
//!
//! - `mfa_factors` gains `credential`: a WebAuthn factor's passkey (public
//!   key, credential id, signature counter) as webauthn-rs serialises it.
//! - `webauthn_ceremonies`: the server half of a registration or an
//!   authentication in progress (its challenge), taken once by id, or by
//!   the login challenge it belongs to. Deleted with their realm and user.

use sea_orm_migration::{prelude::*, schema::*};

/// The WebAuthn migration.
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
enum MfaFactors {
    Table,
    Credential,
}

#[derive(DeriveIden)]
enum WebauthnCeremonies {
    Table,
    Id,
    RealmId,
    UserId,
    ChallengeId,
    Kind,
    State,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(MfaFactors::Table)
                    .add_column(text_null(MfaFactors::Credential))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebauthnCeremonies::Table)
                    .if_not_exists()
                    .col(pk_uuid(WebauthnCeremonies::Id))
                    .col(uuid(WebauthnCeremonies::RealmId))
                    .col(uuid_null(WebauthnCeremonies::UserId))
                    .col(uuid_null(WebauthnCeremonies::ChallengeId))
                    .col(text(WebauthnCeremonies::Kind))
                    .col(text(WebauthnCeremonies::State))
                    .col(big_integer(WebauthnCeremonies::CreatedAt))
                    .col(big_integer(WebauthnCeremonies::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webauthn_ceremonies_realm")
                            .from(WebauthnCeremonies::Table, WebauthnCeremonies::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webauthn_ceremonies_user")
                            .from(
                                WebauthnCeremonies::Table,
                                (WebauthnCeremonies::RealmId, WebauthnCeremonies::UserId),
                            )
                            .to(Users::Table, (Users::RealmId, Users::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        for (name, col) in [
            (
                "ix_webauthn_ceremonies_challenge",
                WebauthnCeremonies::ChallengeId,
            ),
            ("ix_webauthn_ceremonies_user", WebauthnCeremonies::UserId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(WebauthnCeremonies::Table)
                        .col(WebauthnCeremonies::RealmId)
                        .col(col)
                        .take(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("ix_webauthn_ceremonies_expires_at")
                    .table(WebauthnCeremonies::Table)
                    .col(WebauthnCeremonies::ExpiresAt)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(WebauthnCeremonies::Table)
                    .if_exists()
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(MfaFactors::Table)
                    .drop_column(MfaFactors::Credential)
                    .take(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
