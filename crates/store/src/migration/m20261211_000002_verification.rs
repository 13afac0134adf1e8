//! Verification (issue 18).
//!
//! - `phone_verifications`: each user's number being or having been
//!   verified by an SMS code, the code challenge in progress and when it
//!   was verified. Keyed by `(realm_id, user_id)`, deleted with the user.
//! - `identity_documents`: documents users submit: type, country, the
//!   number and up to two images sealed with the master key, the decision
//!   (status, reason, who, when) and when the retention sweep deleted the
//!   images. Deleted with the user; indexed by user (newest first) and by
//!   decision time for the sweep.
//! - `verification_secrets`: each realm's sealed webhook secret; deleted
//!   with the realm.

use sea_orm_migration::{prelude::*, schema::*};

/// The verification migration.
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
enum PhoneVerifications {
    Table,
    RealmId,
    UserId,
    Phone,
    ChallengeId,
    VerifiedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum IdentityDocuments {
    Table,
    Id,
    RealmId,
    UserId,
    DocType,
    Country,
    NumberSealed,
    Status,
    Reason,
    DecidedBy,
    DecidedAt,
    Image1Type,
    Image1,
    Image2Type,
    Image2,
    ImageCount,
    ImagesDeletedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum VerificationSecrets {
    Table,
    RealmId,
    WebhookSecret,
    UpdatedAt,
}

/// `(realm_id, user_id)` referencing `users(realm_id, id)`, deleted with
/// the user.
fn user_fk(name: &str, table: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, (Alias::new("realm_id"), Alias::new("user_id")))
        .to(Users::Table, (Alias::new("realm_id"), Alias::new("id")))
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PhoneVerifications::Table)
                    .col(uuid(PhoneVerifications::RealmId))
                    .col(uuid(PhoneVerifications::UserId))
                    .col(text(PhoneVerifications::Phone))
                    .col(uuid_null(PhoneVerifications::ChallengeId))
                    .col(big_integer_null(PhoneVerifications::VerifiedAt))
                    .col(big_integer(PhoneVerifications::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(PhoneVerifications::RealmId)
                            .col(PhoneVerifications::UserId),
                    )
                    .foreign_key(&mut user_fk(
                        "fk_phone_verifications_user",
                        PhoneVerifications::Table,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdentityDocuments::Table)
                    .col(uuid(IdentityDocuments::Id).primary_key())
                    .col(uuid(IdentityDocuments::RealmId))
                    .col(uuid(IdentityDocuments::UserId))
                    .col(text(IdentityDocuments::DocType))
                    .col(text(IdentityDocuments::Country))
                    .col(blob(IdentityDocuments::NumberSealed))
                    .col(text(IdentityDocuments::Status))
                    .col(text_null(IdentityDocuments::Reason))
                    .col(text_null(IdentityDocuments::DecidedBy))
                    .col(big_integer_null(IdentityDocuments::DecidedAt))
                    .col(text_null(IdentityDocuments::Image1Type))
                    .col(blob_null(IdentityDocuments::Image1))
                    .col(text_null(IdentityDocuments::Image2Type))
                    .col(blob_null(IdentityDocuments::Image2))
                    .col(integer(IdentityDocuments::ImageCount))
                    .col(big_integer_null(IdentityDocuments::ImagesDeletedAt))
                    .col(big_integer(IdentityDocuments::CreatedAt))
                    .foreign_key(&mut user_fk(
                        "fk_identity_documents_user",
                        IdentityDocuments::Table,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_identity_documents_user")
                    .table(IdentityDocuments::Table)
                    .col(IdentityDocuments::RealmId)
                    .col(IdentityDocuments::UserId)
                    .col(IdentityDocuments::CreatedAt)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_identity_documents_decided")
                    .table(IdentityDocuments::Table)
                    .col(IdentityDocuments::DecidedAt)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(VerificationSecrets::Table)
                    .col(uuid(VerificationSecrets::RealmId).primary_key())
                    .col(blob(VerificationSecrets::WebhookSecret))
                    .col(big_integer(VerificationSecrets::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_verification_secrets_realm")
                            .from(VerificationSecrets::Table, VerificationSecrets::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            VerificationSecrets::Table.into_iden(),
            IdentityDocuments::Table.into_iden(),
            PhoneVerifications::Table.into_iden(),
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
