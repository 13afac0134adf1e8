//! Organizations' e-mail domains and invitations.
//!
//! - `organization_domains`: the e-mail domains an organization claims,
//!   keyed by `(organization_id, domain)`, each with the value of the DNS
//!   TXT record that proves it (`challenge`, published, so not a secret),
//!   when and how it was verified, and its policy (`auto_join`,
//!   `join_role`). `verified_domain` repeats the domain once it is verified
//!   and is unique per realm (NULLs do not collide on either backend): a
//!   domain is verified by one organization of a realm at most.
//! - `organization_invitations`: invitations by e-mail, with the SHA-256
//!   digest of the mailed token (unique), the role given, expiry and
//!   acceptance.
//!
//! Both reference `organizations(realm_id, id)` and go with it (and with
//! their realm).

use sea_orm_migration::{prelude::*, schema::*};

/// The domains-and-invitations migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organizations {
    Table,
}

#[derive(DeriveIden)]
enum OrganizationDomains {
    Table,
    RealmId,
    OrganizationId,
    Domain,
    Challenge,
    VerifiedDomain,
    VerifiedAt,
    VerifiedBy,
    AutoJoin,
    JoinRole,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OrganizationInvitations {
    Table,
    Id,
    RealmId,
    OrganizationId,
    Email,
    Role,
    TokenHash,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
    AcceptedBy,
}

fn org_fk(name: &str, table: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(
            table,
            (Alias::new("realm_id"), Alias::new("organization_id")),
        )
        .to(
            Organizations::Table,
            (Alias::new("realm_id"), Alias::new("id")),
        )
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OrganizationDomains::Table)
                    .col(uuid(OrganizationDomains::RealmId))
                    .col(uuid(OrganizationDomains::OrganizationId))
                    .col(text(OrganizationDomains::Domain))
                    .col(text(OrganizationDomains::Challenge))
                    .col(text_null(OrganizationDomains::VerifiedDomain))
                    .col(big_integer_null(OrganizationDomains::VerifiedAt))
                    .col(text_null(OrganizationDomains::VerifiedBy))
                    .col(boolean(OrganizationDomains::AutoJoin))
                    .col(text(OrganizationDomains::JoinRole))
                    .col(big_integer(OrganizationDomains::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(OrganizationDomains::OrganizationId)
                            .col(OrganizationDomains::Domain),
                    )
                    .foreign_key(&mut org_fk(
                        "fk_organization_domains_organization",
                        OrganizationDomains::Table,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organization_domains_verified")
                    .table(OrganizationDomains::Table)
                    .col(OrganizationDomains::RealmId)
                    .col(OrganizationDomains::VerifiedDomain)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrganizationInvitations::Table)
                    .col(pk_uuid(OrganizationInvitations::Id))
                    .col(uuid(OrganizationInvitations::RealmId))
                    .col(uuid(OrganizationInvitations::OrganizationId))
                    .col(text(OrganizationInvitations::Email))
                    .col(text(OrganizationInvitations::Role))
                    .col(blob(OrganizationInvitations::TokenHash))
                    .col(uuid_null(OrganizationInvitations::InvitedBy))
                    .col(big_integer(OrganizationInvitations::CreatedAt))
                    .col(big_integer(OrganizationInvitations::ExpiresAt))
                    .col(big_integer_null(OrganizationInvitations::AcceptedAt))
                    .col(uuid_null(OrganizationInvitations::AcceptedBy))
                    .foreign_key(&mut org_fk(
                        "fk_organization_invitations_organization",
                        OrganizationInvitations::Table,
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_organization_invitations_token")
                    .table(OrganizationInvitations::Table)
                    .col(OrganizationInvitations::TokenHash)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_organization_invitations_email")
                    .table(OrganizationInvitations::Table)
                    .col(OrganizationInvitations::RealmId)
                    .col(OrganizationInvitations::Email)
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_organization_invitations_org")
                    .table(OrganizationInvitations::Table)
                    .col(OrganizationInvitations::RealmId)
                    .col(OrganizationInvitations::OrganizationId)
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OrganizationInvitations::Table.into_iden(),
            OrganizationDomains::Table.into_iden(),
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
