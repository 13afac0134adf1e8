//! E-mail: the outbox, per-realm templates, single-use e-mail tokens, and
//! the verification state of addresses.
//!
//! - `users.email_verified` (default false): whether the user proved control
//!   of the address. Existing accounts never did, so they start unverified,
//!   except holders of the built-in `realm-admin` role, who administer the
//!   realm and must not be locked out of it when it starts to require
//!   verified addresses. Nothing changes for anyone until a realm turns
//!   `require_verified_email` on; an unverified user then gets a fresh
//!   link with `forgot-password` (a reset also verifies the address).
//! - `realms.require_verified_email`, `realms.check_email_mx` (default false).
//! - `mail_outbox`: queued messages, subject and bodies encrypted
//!   (`sealed`, cleared once sent), with their attempts and lease; deleted
//!   with their realm.
//! - `mail_templates`: one row per (realm, kind) a realm overrides.
//! - `email_tokens`: link tokens by digest (unique), deleted with their user.

use sea_orm_migration::{prelude::*, schema::*};

/// The mail migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    Id,
    RequireVerifiedEmail,
    CheckEmailMx,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    RealmId,
    EmailVerified,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    RealmId,
    Name,
    Builtin,
}

#[derive(DeriveIden)]
enum RoleGrants {
    Table,
    RealmId,
    RoleId,
    UserId,
}

#[derive(DeriveIden)]
enum MailOutbox {
    Table,
    Id,
    RealmId,
    Kind,
    Recipient,
    Sealed,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseId,
    LeaseUntil,
    LastError,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum MailTemplates {
    Table,
    RealmId,
    Kind,
    Subject,
    TextBody,
    HtmlBody,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EmailTokens {
    Table,
    Id,
    RealmId,
    UserId,
    Purpose,
    TokenHash,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
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

fn realm_fk(table: impl IntoIden, name: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, Alias::new("realm_id"))
        .to(Realms::Table, Realms::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// Marks the holders of a direct `realm-admin` grant verified.
async fn verify_admins(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
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
        .and_where(Expr::col((Roles::Table, Roles::Builtin)).eq(true))
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
                .value(Users::EmailVerified, true)
                .and_where(Expr::col((Users::Table, Users::Id)).in_subquery(admins))
                .take(),
        )
        .await?;
    Ok(())
}

async fn outbox_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(MailOutbox::Table)
                .if_not_exists()
                .col(pk_uuid(MailOutbox::Id))
                .col(uuid(MailOutbox::RealmId))
                .col(text(MailOutbox::Kind))
                .col(text(MailOutbox::Recipient))
                .col(blob_null(MailOutbox::Sealed))
                .col(text(MailOutbox::Status))
                .col(integer(MailOutbox::Attempts))
                .col(big_integer(MailOutbox::NextAttemptAt))
                .col(uuid_null(MailOutbox::LeaseId))
                .col(big_integer_null(MailOutbox::LeaseUntil))
                .col(text_null(MailOutbox::LastError))
                .col(big_integer(MailOutbox::CreatedAt))
                .col(big_integer_null(MailOutbox::SentAt))
                .foreign_key(&mut realm_fk(MailOutbox::Table, "fk_mail_outbox_realm"))
                .take(),
        )
        .await?;
    // The worker's query: pending messages by due time.
    manager
        .create_index(
            Index::create()
                .name("ix_mail_outbox_status_due")
                .table(MailOutbox::Table)
                .col(MailOutbox::Status)
                .col(MailOutbox::NextAttemptAt)
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_mail_outbox_realm")
                .table(MailOutbox::Table)
                .col(MailOutbox::RealmId)
                .take(),
        )
        .await
}

async fn templates_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(MailTemplates::Table)
                .if_not_exists()
                .col(uuid(MailTemplates::RealmId))
                .col(text(MailTemplates::Kind))
                .col(text(MailTemplates::Subject))
                .col(text(MailTemplates::TextBody))
                .col(text(MailTemplates::HtmlBody))
                .col(big_integer(MailTemplates::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(MailTemplates::RealmId)
                        .col(MailTemplates::Kind),
                )
                .foreign_key(&mut realm_fk(
                    MailTemplates::Table,
                    "fk_mail_templates_realm",
                ))
                .take(),
        )
        .await
}

async fn tokens_up(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(EmailTokens::Table)
                .if_not_exists()
                .col(pk_uuid(EmailTokens::Id))
                .col(uuid(EmailTokens::RealmId))
                .col(uuid(EmailTokens::UserId))
                .col(text(EmailTokens::Purpose))
                .col(blob(EmailTokens::TokenHash))
                .col(text(EmailTokens::Email))
                .col(big_integer(EmailTokens::CreatedAt))
                .col(big_integer(EmailTokens::ExpiresAt))
                .col(big_integer_null(EmailTokens::UsedAt))
                .foreign_key(&mut realm_fk(EmailTokens::Table, "fk_email_tokens_realm"))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_email_tokens_user")
                        .from(
                            EmailTokens::Table,
                            (EmailTokens::RealmId, EmailTokens::UserId),
                        )
                        .to(Users::Table, (Users::RealmId, Users::Id))
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ux_email_tokens_hash")
                .table(EmailTokens::Table)
                .col(EmailTokens::TokenHash)
                .unique()
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_email_tokens_user")
                .table(EmailTokens::Table)
                .col(EmailTokens::RealmId)
                .col(EmailTokens::UserId)
                .col(EmailTokens::Purpose)
                .take(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("ix_email_tokens_expires_at")
                .table(EmailTokens::Table)
                .col(EmailTokens::ExpiresAt)
                .take(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let users = || Table::alter().table(Users::Table).take();
        let realms = || Table::alter().table(Realms::Table).take();
        alter_each(
            manager,
            [
                users()
                    .add_column(boolean(Users::EmailVerified).default(false))
                    .take(),
                realms()
                    .add_column(boolean(Realms::RequireVerifiedEmail).default(false))
                    .take(),
                realms()
                    .add_column(boolean(Realms::CheckEmailMx).default(false))
                    .take(),
            ],
        )
        .await?;
        verify_admins(manager).await?;
        outbox_up(manager).await?;
        templates_up(manager).await?;
        tokens_up(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            EmailTokens::Table.into_iden(),
            MailTemplates::Table.into_iden(),
            MailOutbox::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().take())
                .await?;
        }
        let users = || Table::alter().table(Users::Table).take();
        let realms = || Table::alter().table(Realms::Table).take();
        alter_each(
            manager,
            [
                realms().drop_column(Realms::CheckEmailMx).take(),
                realms().drop_column(Realms::RequireVerifiedEmail).take(),
                users().drop_column(Users::EmailVerified).take(),
            ],
        )
        .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
