//! One-time codes sent by e-mail or SMS, and MFA required by role.
//!
//! - `mfa_challenges`: the code last sent for a challenge, as a keyed
//!   digest (`otp_hash`, keyed with the challenge's `mfa_token`, which the
//!   database does not hold, or for an enrolment with the master key), its
//!   method and expiry, and how many codes were sent (`otp_sends`) and when
//!   the last one was (`otp_sent_at`), for the resend limits.
//! - `realms.mfa_required_roles`: a JSON array of role names whose holders
//!   must pass a second factor at login (default none).

use sea_orm_migration::{prelude::*, schema::*};

/// The OTP migration.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Realms {
    Table,
    MfaRequiredRoles,
}

#[derive(DeriveIden)]
enum MfaChallenges {
    Table,
    OtpMethod,
    OtpHash,
    OtpExpiresAt,
    OtpSends,
    OtpSentAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let challenges = || Table::alter().table(MfaChallenges::Table).take();
        // SQLite alters one column per statement.
        for statement in [
            challenges()
                .add_column(text_null(MfaChallenges::OtpMethod))
                .take(),
            challenges()
                .add_column(blob_null(MfaChallenges::OtpHash))
                .take(),
            challenges()
                .add_column(big_integer_null(MfaChallenges::OtpExpiresAt))
                .take(),
            challenges()
                .add_column(integer(MfaChallenges::OtpSends).default(0))
                .take(),
            challenges()
                .add_column(big_integer_null(MfaChallenges::OtpSentAt))
                .take(),
            Table::alter()
                .table(Realms::Table)
                .add_column(text(Realms::MfaRequiredRoles).default("[]"))
                .take(),
        ] {
            manager.alter_table(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let challenges = || Table::alter().table(MfaChallenges::Table).take();
        for statement in [
            Table::alter()
                .table(Realms::Table)
                .drop_column(Realms::MfaRequiredRoles)
                .take(),
            challenges().drop_column(MfaChallenges::OtpSentAt).take(),
            challenges().drop_column(MfaChallenges::OtpSends).take(),
            challenges().drop_column(MfaChallenges::OtpExpiresAt).take(),
            challenges().drop_column(MfaChallenges::OtpHash).take(),
            challenges().drop_column(MfaChallenges::OtpMethod).take(),
        ] {
            manager.alter_table(statement).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}
