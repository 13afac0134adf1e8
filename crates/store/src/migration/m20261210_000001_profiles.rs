//! Profiles.
//!
//! - `profile_schemas`: every version of a realm's declarative profile
//!   schema (JSON text), keyed by `(realm_id, version)`; the greatest
//!   version is the realm's schema. Deleted with the realm.
//! - `user_profiles`: each user's profile document (JSON text), the schema
//!   version it was written under, and a revision that conditional writes
//!   check. Keyed by `(realm_id, user_id)`, referencing `users(realm_id,
//!   id)`, deleted with the user; indexed by `(realm_id, schema_version)`
//!   for the migration of a schema change.
//! - `user_avatars`: each user's sanitised PNG, its SHA-256 (the ETag) and
//!   when it changed; deleted with the user.
//! - `user_preferences`: locale, time zone, notification choices (JSON
//!   text); deleted with the user.
//!
//! And two indexes on `audit_events` for a user's activity: by actor and
//! by target, newest first.

use sea_orm_migration::{prelude::*, schema::*};

/// The profiles migration.
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
enum AuditEvents {
    Table,
    RealmId,
    Actor,
    Target,
    At,
}

#[derive(DeriveIden)]
enum ProfileSchemas {
    Table,
    RealmId,
    Version,
    Schema,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserProfiles {
    Table,
    RealmId,
    UserId,
    Document,
    SchemaVersion,
    Revision,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserAvatars {
    Table,
    RealmId,
    UserId,
    Png,
    Sha256,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UserPreferences {
    Table,
    RealmId,
    UserId,
    Locale,
    TimeZone,
    Notifications,
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
                    .table(ProfileSchemas::Table)
                    .col(uuid(ProfileSchemas::RealmId))
                    .col(big_integer(ProfileSchemas::Version))
                    .col(text(ProfileSchemas::Schema))
                    .col(big_integer(ProfileSchemas::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProfileSchemas::RealmId)
                            .col(ProfileSchemas::Version),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_profile_schemas_realm")
                            .from(ProfileSchemas::Table, ProfileSchemas::RealmId)
                            .to(Realms::Table, Realms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserProfiles::Table)
                    .col(uuid(UserProfiles::RealmId))
                    .col(uuid(UserProfiles::UserId))
                    .col(text(UserProfiles::Document))
                    .col(big_integer(UserProfiles::SchemaVersion))
                    .col(big_integer(UserProfiles::Revision))
                    .col(big_integer(UserProfiles::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(UserProfiles::RealmId)
                            .col(UserProfiles::UserId),
                    )
                    .foreign_key(&mut user_fk("fk_user_profiles_user", UserProfiles::Table))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_user_profiles_realm_version")
                    .table(UserProfiles::Table)
                    .col(UserProfiles::RealmId)
                    .col(UserProfiles::SchemaVersion)
                    .col(UserProfiles::UserId)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserAvatars::Table)
                    .col(uuid(UserAvatars::RealmId))
                    .col(uuid(UserAvatars::UserId))
                    .col(blob(UserAvatars::Png))
                    .col(blob(UserAvatars::Sha256))
                    .col(big_integer(UserAvatars::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(UserAvatars::RealmId)
                            .col(UserAvatars::UserId),
                    )
                    .foreign_key(&mut user_fk("fk_user_avatars_user", UserAvatars::Table))
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserPreferences::Table)
                    .col(uuid(UserPreferences::RealmId))
                    .col(uuid(UserPreferences::UserId))
                    .col(text_null(UserPreferences::Locale))
                    .col(text_null(UserPreferences::TimeZone))
                    .col(text(UserPreferences::Notifications))
                    .col(big_integer(UserPreferences::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(UserPreferences::RealmId)
                            .col(UserPreferences::UserId),
                    )
                    .foreign_key(&mut user_fk(
                        "fk_user_preferences_user",
                        UserPreferences::Table,
                    ))
                    .take(),
            )
            .await?;
        for (name, column) in [
            ("ix_audit_events_realm_actor_at", AuditEvents::Actor),
            ("ix_audit_events_realm_target_at", AuditEvents::Target),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(AuditEvents::RealmId)
                        .col(column)
                        .col(AuditEvents::At)
                        .take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "ix_audit_events_realm_actor_at",
            "ix_audit_events_realm_target_at",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(AuditEvents::Table)
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        for table in [
            UserPreferences::Table.into_iden(),
            UserAvatars::Table.into_iden(),
            UserProfiles::Table.into_iden(),
            ProfileSchemas::Table.into_iden(),
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
