//! Versioned schema migrations, written once for SQLite and PostgreSQL with
//! sea-orm-migration. Applied migrations are recorded in `seaql_migrations`,
//! so running them again is a no-op.

use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261124_000001_authz;
mod m20261125_000001_realm_settings;
mod m20261125_000002_permission_catalogue;
mod m20261126_000001_clients;
mod m20261201_000001_oidc;
mod m20261202_000001_mfa;
mod m20261203_000001_webauthn;
mod m20261204_000001_mail;
mod m20261205_000001_risk;
mod m20261206_000001_otp;
mod m20261207_000001_federation;
mod m20261208_000001_edge;
mod m20261208_000002_revocation_sync;
mod m20261208_000003_client_links;
mod m20261209_000001_cross_realm_audit;
mod m20261209_000002_organizations;
mod m20261210_000001_profiles;
mod m20261211_000001_org_domains_invitations;
mod m20261211_000002_verification;
mod m20261211_000003_scim;

/// Every migration of the store, oldest first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261124_000001_authz::Migration),
            Box::new(m20261125_000001_realm_settings::Migration),
            Box::new(m20261125_000002_permission_catalogue::Migration),
            Box::new(m20261126_000001_clients::Migration),
            Box::new(m20261201_000001_oidc::Migration),
            Box::new(m20261202_000001_mfa::Migration),
            Box::new(m20261203_000001_webauthn::Migration),
            Box::new(m20261204_000001_mail::Migration),
            Box::new(m20261205_000001_risk::Migration),
            Box::new(m20261206_000001_otp::Migration),
            Box::new(m20261207_000001_federation::Migration),
            Box::new(m20261208_000001_edge::Migration),
            Box::new(m20261208_000002_revocation_sync::Migration),
            Box::new(m20261208_000003_client_links::Migration),
            Box::new(m20261209_000001_cross_realm_audit::Migration),
            Box::new(m20261209_000002_organizations::Migration),
            Box::new(m20261210_000001_profiles::Migration),
            Box::new(m20261211_000001_org_domains_invitations::Migration),
            Box::new(m20261211_000002_verification::Migration),
            Box::new(m20261211_000003_scim::Migration),
        ]
    }
}

/// Gives the built-in `realm-admin` role of every realm `permissions` (a
/// realm created by the migrating version already has them).
async fn grant_to_realm_admins(
    manager: &SchemaManager<'_>,
    permissions: &[&str],
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    let db = manager.get_connection();
    for permission in permissions {
        db.execute_unprepared(&format!(
            "INSERT INTO role_permissions (realm_id, role_id, permission) \
             SELECT r.realm_id, r.id, '{permission}' FROM roles r \
             WHERE r.name = 'realm-admin' AND r.builtin = TRUE AND NOT EXISTS ( \
             SELECT 1 FROM role_permissions p WHERE p.realm_id = r.realm_id \
             AND p.role_id = r.id AND p.permission = '{permission}')"
        ))
        .await?;
    }
    Ok(())
}

/// Gives the built-in `user` role of every realm `permissions`.
async fn grant_to_users(manager: &SchemaManager<'_>, permissions: &[&str]) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    let db = manager.get_connection();
    for permission in permissions {
        db.execute_unprepared(&format!(
            "INSERT INTO role_permissions (realm_id, role_id, permission) \
             SELECT r.realm_id, r.id, '{permission}' FROM roles r \
             WHERE r.name = 'user' AND r.builtin = TRUE AND NOT EXISTS ( \
             SELECT 1 FROM role_permissions p WHERE p.realm_id = r.realm_id \
             AND p.role_id = r.id AND p.permission = '{permission}')"
        ))
        .await?;
    }
    Ok(())
}

/// Takes `permissions` back from the built-in `realm-admin` roles.
async fn revoke_from_realm_admins(
    manager: &SchemaManager<'_>,
    permissions: &[&str],
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    let db = manager.get_connection();
    for permission in permissions {
        db.execute_unprepared(&format!(
            "DELETE FROM role_permissions WHERE permission = '{permission}' AND role_id IN \
             (SELECT id FROM roles WHERE name = 'realm-admin' AND builtin = TRUE)"
        ))
        .await?;
    }
    Ok(())
}
