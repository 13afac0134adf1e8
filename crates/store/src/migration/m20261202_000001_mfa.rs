//! Second factors.
//!
//! - `mfa_factors`: a user's factors (TOTP so far); the secret encrypted
//!   with the master key; `last_step`, the TOTP step last accepted.
//! - `mfa_backup_codes`: digests of backup codes, spent once.
//! - `mfa_challenges`: logins waiting for their second step, by the digest
//!   of their `mfa_token` (unique).
//!
//! Every row is deleted with its realm and its user.

use sea_orm_migration::{prelude::*, schema::*};

/// The MFA migration.
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
    Id,
    RealmId,
    UserId,
    Kind,
    Name,
    SecretEnc,
    ConfirmedAt,
    LastStep,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum MfaBackupCodes {
    Table,
    Id,
    RealmId,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    Id,
    RealmId,
    UserId,
    TokenHash,
    Purpose,
    Methods,
    Amr,
    CreatedAt,
    ExpiresAt,
    ConsumedAt,
    Failures,
}

/// `realm_id` referencing `realms(id)` and `(realm_id, user_id)`
/// referencing `users(realm_id, id)`, both deleting with their parent.
fn owner_fks(table: &str) -> [ForeignKeyCreateStatement; 2] {
    [
        ForeignKey::create()
            .name(format!("fk_{table}_realm"))
            .from(Alias::new(table), Alias::new("realm_id"))
            .to(Realms::Table, Realms::Id)
            .on_delete(ForeignKeyAction::Cascade)
            .take(),
        ForeignKey::create()
            .name(format!("fk_{table}_user"))
            .from(
                Alias::new(table),
                (Alias::new("realm_id"), Alias::new("user_id")),
            )
            .to(Users::Table, (Users::RealmId, Users::Id))
            .on_delete(ForeignKeyAction::Cascade)
            .take(),
    ]
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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let [mut realm, mut user] = owner_fks("mfa_factors");
        manager
            .create_table(
                Table::create()
                    .table(MfaFactors::Table)
                    .if_not_exists()
                    .col(pk_uuid(MfaFactors::Id))
                    .col(uuid(MfaFactors::RealmId))
                    .col(uuid(MfaFactors::UserId))
                    .col(text(MfaFactors::Kind))
                    .col(text(MfaFactors::Name))
                    .col(blob_null(MfaFactors::SecretEnc))
                    .col(big_integer_null(MfaFactors::ConfirmedAt))
                    .col(big_integer_null(MfaFactors::LastStep))
                    .col(big_integer(MfaFactors::CreatedAt))
                    .col(big_integer_null(MfaFactors::LastUsedAt))
                    .foreign_key(&mut realm)
                    .foreign_key(&mut user)
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_mfa_factors_realm_user",
                MfaFactors::Table,
                &["realm_id", "user_id"],
                false,
            ))
            .await?;

        let [mut realm, mut user] = owner_fks("mfa_backup_codes");
        manager
            .create_table(
                Table::create()
                    .table(MfaBackupCodes::Table)
                    .if_not_exists()
                    .col(pk_uuid(MfaBackupCodes::Id))
                    .col(uuid(MfaBackupCodes::RealmId))
                    .col(uuid(MfaBackupCodes::UserId))
                    .col(blob(MfaBackupCodes::CodeHash))
                    .col(big_integer(MfaBackupCodes::CreatedAt))
                    .col(big_integer_null(MfaBackupCodes::UsedAt))
                    .foreign_key(&mut realm)
                    .foreign_key(&mut user)
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_mfa_backup_codes_user_hash",
                MfaBackupCodes::Table,
                &["realm_id", "user_id", "code_hash"],
                true,
            ))
            .await?;

        let [mut realm, mut user] = owner_fks("mfa_challenges");
        manager
            .create_table(
                Table::create()
                    .table(MfaChallenges::Table)
                    .if_not_exists()
                    .col(pk_uuid(MfaChallenges::Id))
                    .col(uuid(MfaChallenges::RealmId))
                    .col(uuid(MfaChallenges::UserId))
                    .col(blob(MfaChallenges::TokenHash))
                    .col(text(MfaChallenges::Purpose))
                    .col(text(MfaChallenges::Methods))
                    .col(text(MfaChallenges::Amr))
                    .col(big_integer(MfaChallenges::CreatedAt))
                    .col(big_integer(MfaChallenges::ExpiresAt))
                    .col(big_integer_null(MfaChallenges::ConsumedAt))
                    .col(integer(MfaChallenges::Failures).default(0))
                    .foreign_key(&mut realm)
                    .foreign_key(&mut user)
                    .take(),
            )
            .await?;
        manager
            .create_index(index(
                "ux_mfa_challenges_token",
                MfaChallenges::Table,
                &["realm_id", "token_hash"],
                true,
            ))
            .await?;
        manager
            .create_index(index(
                "ix_mfa_challenges_expires_at",
                MfaChallenges::Table,
                &["expires_at"],
                false,
            ))
            .await?;
        // The cascades from a deleted user.
        manager
            .create_index(index(
                "ix_mfa_challenges_realm_user",
                MfaChallenges::Table,
                &["realm_id", "user_id"],
                false,
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            MfaChallenges::Table.into_iden(),
            MfaBackupCodes::Table.into_iden(),
            MfaFactors::Table.into_iden(),
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
