//! Edge defences.
//!
//! - `rate_limit_policies`: a realm's rate-limit policy, as JSON (none: the
//!   server's default).
//! - `service_keys`: HMAC keys of services: the secret (and, during a
//!   rotation's overlap, the previous one) sealed with the master key, an
//!   optional expiry, revocation and last use. A key's id is also the id of
//!   its service account, the user its roles are granted to.
//!
//! Deleted with their realm.
//!
//! Data: the built-in `realm-admin` role of every realm gains
//! `security:read:all`, `security:manage:all`, `service-keys:read:all` and
//! `service-keys:manage:all` (realms created from now on get them with
//! their built-in roles).

use sea_orm_migration::{prelude::*, schema::*};

/// The edge migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum RateLimitPolicies {
    Table,
    RealmId,
    Policy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ServiceKeys {
    Table,
    Id,
    RealmId,
    Name,
    Secret,
    PreviousSecret,
    PreviousUntil,
    CreatedAt,
    UpdatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

/// The permissions this migration adds to `realm-admin`.
const PERMISSIONS: [&str; 4] = [
    "security:read:all",
    "security:manage:all",
    "service-keys:read:all",
    "service-keys:manage:all",
];

fn realm_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_realm"))
        .from(Alias::new(table), Alias::new("realm_id"))
        .to(Realms::Table, Realms::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimitPolicies::Table)
                    .col(pk_uuid(RateLimitPolicies::RealmId))
                    .col(text(RateLimitPolicies::Policy))
                    .col(big_integer(RateLimitPolicies::UpdatedAt))
                    .foreign_key(&mut realm_fk("rate_limit_policies"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServiceKeys::Table)
                    .col(pk_uuid(ServiceKeys::Id))
                    .col(uuid(ServiceKeys::RealmId))
                    .col(text(ServiceKeys::Name))
                    .col(text(ServiceKeys::Secret))
                    .col(text_null(ServiceKeys::PreviousSecret))
                    .col(big_integer_null(ServiceKeys::PreviousUntil))
                    .col(big_integer(ServiceKeys::CreatedAt))
                    .col(big_integer(ServiceKeys::UpdatedAt))
                    .col(big_integer_null(ServiceKeys::ExpiresAt))
                    .col(big_integer_null(ServiceKeys::RevokedAt))
                    .col(big_integer_null(ServiceKeys::LastUsedAt))
                    .foreign_key(&mut realm_fk("service_keys"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_service_keys_realm_name")
                    .table(ServiceKeys::Table)
                    .col(ServiceKeys::RealmId)
                    .col(ServiceKeys::Name)
                    .unique()
                    .take(),
            )
            .await?;
        super::grant_to_realm_admins(manager, &PERMISSIONS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        super::revoke_from_realm_admins(manager, &PERMISSIONS).await?;
        for table in [
            ServiceKeys::Table.into_iden(),
            RateLimitPolicies::Table.into_iden(),
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
