//! Adaptive security.
//!
//! - `session_baselines`: what each session was last seen with (network,
//!   browser, fingerprint, place, canary digest, time), as JSON.
//! - `known_devices`: the devices (fingerprints) each user has signed in
//!   with, first and last seen, last network and place.
//! - `risk_policies`: a realm's thresholds, as JSON (none: the defaults).
//!
//! Deleted with their realm, and baselines and devices with their user.

use sea_orm_migration::{prelude::*, schema::*};

/// The risk migration.
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
enum SessionBaselines {
    Table,
    SessionId,
    RealmId,
    UserId,
    Baseline,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum KnownDevices {
    Table,
    RealmId,
    UserId,
    Fingerprint,
    Description,
    FirstSeenAt,
    LastSeenAt,
    LastNetwork,
    Country,
    Latitude,
    Longitude,
}

#[derive(DeriveIden)]
enum RiskPolicies {
    Table,
    RealmId,
    Policy,
    UpdatedAt,
}

fn realm_fk(table: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_realm"))
        .from(Alias::new(table), Alias::new("realm_id"))
        .to(Realms::Table, Realms::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

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

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SessionBaselines::Table)
                    .if_not_exists()
                    .col(pk_uuid(SessionBaselines::SessionId))
                    .col(uuid(SessionBaselines::RealmId))
                    .col(uuid(SessionBaselines::UserId))
                    .col(text(SessionBaselines::Baseline))
                    .col(big_integer(SessionBaselines::UpdatedAt))
                    .foreign_key(&mut realm_fk("session_baselines"))
                    .foreign_key(&mut user_fk("session_baselines"))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_session_baselines_realm_user")
                    .table(SessionBaselines::Table)
                    .col(SessionBaselines::RealmId)
                    .col(SessionBaselines::UserId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(KnownDevices::Table)
                    .if_not_exists()
                    .col(uuid(KnownDevices::RealmId))
                    .col(uuid(KnownDevices::UserId))
                    .col(text(KnownDevices::Fingerprint))
                    .col(text(KnownDevices::Description))
                    .col(big_integer(KnownDevices::FirstSeenAt))
                    .col(big_integer(KnownDevices::LastSeenAt))
                    .col(text_null(KnownDevices::LastNetwork))
                    .col(text_null(KnownDevices::Country))
                    .col(double_null(KnownDevices::Latitude))
                    .col(double_null(KnownDevices::Longitude))
                    .primary_key(
                        Index::create()
                            .col(KnownDevices::RealmId)
                            .col(KnownDevices::UserId)
                            .col(KnownDevices::Fingerprint),
                    )
                    .foreign_key(&mut realm_fk("known_devices"))
                    .foreign_key(&mut user_fk("known_devices"))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RiskPolicies::Table)
                    .if_not_exists()
                    .col(pk_uuid(RiskPolicies::RealmId))
                    .col(text(RiskPolicies::Policy))
                    .col(big_integer(RiskPolicies::UpdatedAt))
                    .foreign_key(&mut realm_fk("risk_policies"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RiskPolicies::Table.into_iden(),
            KnownDevices::Table.into_iden(),
            SessionBaselines::Table.into_iden(),
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
