//! Per-realm authorization settings and stored subject attributes; the end
//! of the foundation's interim admin flag.
//!
//! - `realms.time_zone` (IANA name, default `UTC`): the zone of `hour` and
//!   `weekday` in policy conditions.
//! - `realms.roles_claim` (default true): whether access tokens carry the
//!   user's role names in a `roles` claim.
//! - `users.attributes` (a JSON object as text, default `{}`): the subject's
//!   attributes for policy conditions (`subject.attributes`).
//! - `users.is_admin` is dropped: the authorization migration turned every
//!   flagged user into a holder of `realm-admin`, and nothing has read the
//!   flag since. Going down brings it back from those grants.
//! - Every existing user receives the built-in `user` role, which new
//!   accounts now get at creation (going down keeps these grants).

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::{prelude::*, schema::*};
use uuid::Uuid;

/// The realm settings migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    TimeZone,
    RolesClaim,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    RealmId,
    Attributes,
    IsAdmin,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    RealmId,
    Name,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    Id,
    RealmId,
    RoleId,
    UserId,
    CreatedAt,
}

/// Users without a grant of their realm's built-in `user` role, with that
/// role's id.
const USERS_WITHOUT_DEFAULT_ROLE: &str = "\
SELECT u.realm_id, u.id, u.created_at, r.id AS role_id
FROM users u JOIN roles r ON r.realm_id = u.realm_id AND r.name = 'user' AND r.builtin
WHERE NOT EXISTS (
    SELECT 1 FROM role_grants g
    WHERE g.realm_id = u.realm_id AND g.user_id = u.id AND g.role_id = r.id
)";

/// Grants rows per insert statement.
const CHUNK: usize = 500;

/// Grants the built-in `user` role to every user lacking it, as of the
/// user's creation (a migration has no clock of its own).
async fn grant_default_role(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            USERS_WITHOUT_DEFAULT_ROLE,
        ))
        .await?;
    for chunk in rows.chunks(CHUNK) {
        let mut insert = Query::insert()
            .into_table(RoleGrants::Table)
            .columns([
                RoleGrants::Id,
                RoleGrants::RealmId,
                RoleGrants::RoleId,
                RoleGrants::UserId,
                RoleGrants::CreatedAt,
            ])
            .take();
        for row in chunk {
            let realm_id: Uuid = row.try_get("", "realm_id")?;
            let user_id: Uuid = row.try_get("", "id")?;
            let created_at: i64 = row.try_get("", "created_at")?;
            let role_id: Uuid = row.try_get("", "role_id")?;
            insert
                .values([
                    Uuid::now_v7().into(),
                    realm_id.into(),
                    role_id.into(),
                    user_id.into(),
                    created_at.into(),
                ])
                .map_err(|e| DbErr::Migration(format!("building an insert: {e}")))?;
        }
        db.execute(&insert).await?;
    }
    Ok(())
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

fn realms() -> TableAlterStatement {
    Table::alter().table(Realms::Table).take()
}

fn users() -> TableAlterStatement {
    Table::alter().table(Users::Table).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter_each(
            manager,
            [
                realms()
                    .add_column(text(Realms::TimeZone).default("UTC"))
                    .take(),
                realms()
                    .add_column(boolean(Realms::RolesClaim).default(true))
                    .take(),
                users()
                    .add_column(text(Users::Attributes).default("{}"))
                    .take(),
                users().drop_column(Users::IsAdmin).take(),
            ],
        )
        .await?;
        grant_default_role(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        alter_each(
            manager,
            [users()
                .add_column(boolean(Users::IsAdmin).default(false))
                .take()],
        )
        .await?;
        // Holders of a direct `realm-admin` grant get the flag back.
        let admins = Query::select()
            .column((RoleGrants::Table, RoleGrants::UserId))
            .from(RoleGrants::Table)
            .inner_join(
                Roles::Table,
                Expr::col((Roles::Table, Roles::Id))
                    .equals((RoleGrants::Table, RoleGrants::RoleId))
                    .and(
                        Expr::col((Roles::Table, Roles::RealmId))
                            .equals((RoleGrants::Table, RoleGrants::RealmId)),
                    ),
            )
            .and_where(Expr::col((Roles::Table, Roles::Name)).eq("realm-admin"))
            .and_where(Expr::col((RoleGrants::Table, RoleGrants::UserId)).is_not_null())
            .and_where(
                Expr::col((RoleGrants::Table, RoleGrants::RealmId))
                    .equals((Users::Table, Users::RealmId)),
            )
            .take();
        manager
            .get_connection()
            .execute(
                &Query::update()
                    .table(Users::Table)
                    .value(Users::IsAdmin, true)
                    .and_where(Expr::col((Users::Table, Users::Id)).in_subquery(admins))
                    .take(),
            )
            .await?;
        alter_each(
            manager,
            [
                users().drop_column(Users::Attributes).take(),
                realms().drop_column(Realms::RolesClaim).take(),
                realms().drop_column(Realms::TimeZone).take(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
