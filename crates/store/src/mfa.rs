//! [`MfaStore`] for [`SqlStore`]: second factors, backup codes and login
//! challenges.
//!
//! Every one-time thing is spent with one conditional update, so of two
//! racing uses exactly one matches: a TOTP step (`last_step` below it), a
//! backup code (`used_at IS NULL`), a challenge (`consumed_at IS NULL`).

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::mfa::{
    CeremonyKind, ChallengeOtp, ChallengePurpose, FactorKind, MfaChallenge, MfaFactor,
    WebauthnCeremony,
};
use portcullis_core::ports::{MfaStore, StoreResult};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{
    all, conflict, corrupt, db_err, instant, instant_opt, json_list, micros, micros_opt, parse_list,
};
use crate::entities::{mfa_backup_code, mfa_challenge, mfa_factor, webauthn_ceremony};

impl TryFrom<mfa_factor::Model> for MfaFactor {
    type Error = StoreError;
    fn try_from(m: mfa_factor::Model) -> Result<Self, StoreError> {
        Ok(MfaFactor {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            kind: FactorKind::parse(&m.kind).ok_or_else(|| corrupt("factor kind"))?,
            name: m.name,
            secret_enc: m.secret_enc,
            confirmed_at: instant_opt(m.confirmed_at)?,
            last_step: m.last_step,
            created_at: instant(m.created_at)?,
            last_used_at: instant_opt(m.last_used_at)?,
            credential: m.credential,
        })
    }
}

fn factor_row(f: &MfaFactor) -> mfa_factor::Model {
    mfa_factor::Model {
        id: f.id,
        realm_id: f.realm_id,
        user_id: f.user_id,
        kind: f.kind.as_str().to_owned(),
        name: f.name.clone(),
        secret_enc: f.secret_enc.clone(),
        confirmed_at: micros_opt(f.confirmed_at),
        last_step: f.last_step,
        created_at: micros(f.created_at),
        last_used_at: micros_opt(f.last_used_at),
        credential: f.credential.clone(),
    }
}

impl TryFrom<webauthn_ceremony::Model> for WebauthnCeremony {
    type Error = StoreError;
    fn try_from(m: webauthn_ceremony::Model) -> Result<Self, StoreError> {
        Ok(WebauthnCeremony {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            challenge_id: m.challenge_id,
            kind: CeremonyKind::parse(&m.kind).ok_or_else(|| corrupt("ceremony kind"))?,
            state: m.state,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
        })
    }
}

fn ceremony_row(c: &WebauthnCeremony) -> webauthn_ceremony::Model {
    webauthn_ceremony::Model {
        id: c.id,
        realm_id: c.realm_id,
        user_id: c.user_id,
        challenge_id: c.challenge_id,
        kind: c.kind.as_str().to_owned(),
        state: c.state.clone(),
        created_at: micros(c.created_at),
        expires_at: micros(c.expires_at),
    }
}

impl TryFrom<mfa_challenge::Model> for MfaChallenge {
    type Error = StoreError;
    fn try_from(m: mfa_challenge::Model) -> Result<Self, StoreError> {
        Ok(MfaChallenge {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            token_hash: m.token_hash,
            purpose: ChallengePurpose::parse(&m.purpose)
                .ok_or_else(|| corrupt("challenge purpose"))?,
            methods: parse_list(&m.methods, "challenge methods")?,
            amr: parse_list(&m.amr, "challenge amr")?,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
            consumed_at: instant_opt(m.consumed_at)?,
            failures: u32::try_from(m.failures).map_err(|_| corrupt("challenge failures"))?,
            otp: match (m.otp_method, m.otp_hash, m.otp_expires_at) {
                (Some(method), Some(code_hash), Some(expires_at)) => Some(ChallengeOtp {
                    method,
                    code_hash,
                    expires_at: instant(expires_at)?,
                }),
                (None, None, None) => None,
                _ => return Err(corrupt("challenge one-time code")),
            },
            otp_sends: u32::try_from(m.otp_sends).map_err(|_| corrupt("challenge code sends"))?,
            otp_sent_at: instant_opt(m.otp_sent_at)?,
            idp: m.idp,
        })
    }
}

fn challenge_row(c: &MfaChallenge) -> mfa_challenge::Model {
    mfa_challenge::Model {
        id: c.id,
        realm_id: c.realm_id,
        user_id: c.user_id,
        token_hash: c.token_hash.clone(),
        purpose: c.purpose.as_str().to_owned(),
        methods: json_list(&c.methods),
        amr: json_list(&c.amr),
        created_at: micros(c.created_at),
        expires_at: micros(c.expires_at),
        consumed_at: micros_opt(c.consumed_at),
        failures: i32::try_from(c.failures).unwrap_or(i32::MAX),
        otp_method: c.otp.as_ref().map(|o| o.method.clone()),
        otp_hash: c.otp.as_ref().map(|o| o.code_hash.clone()),
        otp_expires_at: c.otp.as_ref().map(|o| micros(o.expires_at)),
        otp_sends: i32::try_from(c.otp_sends).unwrap_or(i32::MAX),
        otp_sent_at: micros_opt(c.otp_sent_at),
        idp: c.idp.clone(),
    }
}

#[async_trait]
impl MfaStore for SqlStore {
    async fn insert_factor(&self, factor: &MfaFactor) -> StoreResult<()> {
        mfa_factor::Entity::insert(factor_row(factor).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("MFA factor already exists"))?;
        Ok(())
    }

    async fn list_factors(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<Vec<MfaFactor>> {
        let rows = mfa_factor::Entity::find()
            .filter(mfa_factor::Column::RealmId.eq(realm_id))
            .filter(mfa_factor::Column::UserId.eq(user_id))
            .order_by_asc(mfa_factor::Column::Id)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn confirm_factor(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let res = mfa_factor::Entity::update_many()
            .col_expr(mfa_factor::Column::ConfirmedAt, Expr::value(micros(now)))
            .filter(mfa_factor::Column::RealmId.eq(realm_id))
            .filter(mfa_factor::Column::UserId.eq(user_id))
            .filter(mfa_factor::Column::Id.eq(id))
            .filter(mfa_factor::Column::ConfirmedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn use_totp_step(
        &self,
        realm_id: Uuid,
        id: Uuid,
        step: i64,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let res = mfa_factor::Entity::update_many()
            .col_expr(mfa_factor::Column::LastStep, Expr::value(step))
            .col_expr(mfa_factor::Column::LastUsedAt, Expr::value(micros(now)))
            .filter(mfa_factor::Column::RealmId.eq(realm_id))
            .filter(mfa_factor::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(mfa_factor::Column::LastStep.is_null())
                    .add(mfa_factor::Column::LastStep.lt(step)),
            )
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn delete_factor(&self, realm_id: Uuid, user_id: Uuid, id: Uuid) -> StoreResult<bool> {
        let res = mfa_factor::Entity::delete_many()
            .filter(mfa_factor::Column::RealmId.eq(realm_id))
            .filter(mfa_factor::Column::UserId.eq(user_id))
            .filter(mfa_factor::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn replace_backup_codes(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        digests: &[Vec<u8>],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        mfa_backup_code::Entity::delete_many()
            .filter(mfa_backup_code::Column::RealmId.eq(realm_id))
            .filter(mfa_backup_code::Column::UserId.eq(user_id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if !digests.is_empty() {
            let rows = digests.iter().map(|d| {
                mfa_backup_code::Model {
                    id: portcullis_core::model::new_id(),
                    realm_id,
                    user_id,
                    code_hash: d.clone(),
                    created_at: micros(now),
                    used_at: None,
                }
                .into_active_model()
            });
            mfa_backup_code::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(conflict("duplicate backup code"))?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn consume_backup_code(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        digest: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let res = mfa_backup_code::Entity::update_many()
            .col_expr(mfa_backup_code::Column::UsedAt, Expr::value(micros(now)))
            .filter(mfa_backup_code::Column::RealmId.eq(realm_id))
            .filter(mfa_backup_code::Column::UserId.eq(user_id))
            .filter(mfa_backup_code::Column::CodeHash.eq(digest.to_vec()))
            .filter(mfa_backup_code::Column::UsedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn count_backup_codes(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<u64> {
        mfa_backup_code::Entity::find()
            .filter(mfa_backup_code::Column::RealmId.eq(realm_id))
            .filter(mfa_backup_code::Column::UserId.eq(user_id))
            .filter(mfa_backup_code::Column::UsedAt.is_null())
            .count(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn insert_challenge(&self, challenge: &MfaChallenge) -> StoreResult<()> {
        mfa_challenge::Entity::insert(challenge_row(challenge).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("MFA challenge already exists"))?;
        Ok(())
    }

    async fn find_challenge(
        &self,
        realm_id: Uuid,
        token_hash: &[u8],
    ) -> StoreResult<Option<MfaChallenge>> {
        // From the writer: a challenge is read right after it is written.
        mfa_challenge::Entity::find()
            .filter(mfa_challenge::Column::RealmId.eq(realm_id))
            .filter(mfa_challenge::Column::TokenHash.eq(token_hash.to_vec()))
            .one(&self.writer)
            .await
            .map_err(db_err)?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn fail_challenge(
        &self,
        realm_id: Uuid,
        id: Uuid,
        max_failures: u32,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let last = i32::try_from(max_failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let txn = self.begin_write().await?;
        mfa_challenge::Entity::update_many()
            .col_expr(
                mfa_challenge::Column::Failures,
                Expr::col(mfa_challenge::Column::Failures).add(Expr::value(1)),
            )
            .filter(mfa_challenge::Column::RealmId.eq(realm_id))
            .filter(mfa_challenge::Column::Id.eq(id))
            .filter(mfa_challenge::Column::ConsumedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_err)?;
        // The failure that reaches the limit ends the challenge.
        mfa_challenge::Entity::update_many()
            .col_expr(mfa_challenge::Column::ConsumedAt, Expr::value(micros(now)))
            .filter(mfa_challenge::Column::RealmId.eq(realm_id))
            .filter(mfa_challenge::Column::Id.eq(id))
            .filter(mfa_challenge::Column::ConsumedAt.is_null())
            .filter(mfa_challenge::Column::Failures.gt(last))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn consume_challenge(
        &self,
        realm_id: Uuid,
        id: Uuid,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let res = mfa_challenge::Entity::update_many()
            .col_expr(mfa_challenge::Column::ConsumedAt, Expr::value(micros(now)))
            .filter(mfa_challenge::Column::RealmId.eq(realm_id))
            .filter(mfa_challenge::Column::Id.eq(id))
            .filter(mfa_challenge::Column::ConsumedAt.is_null())
            .filter(mfa_challenge::Column::ExpiresAt.gt(micros(now)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn update_factor_credential(
        &self,
        realm_id: Uuid,
        id: Uuid,
        credential: &str,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        mfa_factor::Entity::update_many()
            .col_expr(mfa_factor::Column::Credential, Expr::value(credential))
            .col_expr(mfa_factor::Column::LastUsedAt, Expr::value(micros(now)))
            .filter(mfa_factor::Column::RealmId.eq(realm_id))
            .filter(mfa_factor::Column::Id.eq(id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_ceremony(&self, ceremony: &WebauthnCeremony) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        if let Some(challenge_id) = ceremony.challenge_id {
            webauthn_ceremony::Entity::delete_many()
                .filter(webauthn_ceremony::Column::RealmId.eq(ceremony.realm_id))
                .filter(webauthn_ceremony::Column::ChallengeId.eq(challenge_id))
                .exec(&txn)
                .await
                .map_err(db_err)?;
        }
        webauthn_ceremony::Entity::insert(ceremony_row(ceremony).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(conflict("WebAuthn ceremony already exists"))?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<WebauthnCeremony>> {
        let taken = webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::RealmId.eq(realm_id))
            .filter(webauthn_ceremony::Column::Id.eq(id))
            .exec_with_returning(&self.writer)
            .await
            .map_err(db_err)?;
        taken.into_iter().next().map(TryInto::try_into).transpose()
    }

    async fn take_challenge_ceremony(
        &self,
        realm_id: Uuid,
        challenge_id: Uuid,
    ) -> StoreResult<Option<WebauthnCeremony>> {
        let taken = webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::RealmId.eq(realm_id))
            .filter(webauthn_ceremony::Column::ChallengeId.eq(challenge_id))
            .exec_with_returning(&self.writer)
            .await
            .map_err(db_err)?;
        taken.into_iter().next().map(TryInto::try_into).transpose()
    }

    async fn purge_ceremonies(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    async fn set_challenge_otp(
        &self,
        realm_id: Uuid,
        id: Uuid,
        otp: &ChallengeOtp,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        resend_after: OffsetDateTime,
        max_sends: u32,
    ) -> StoreResult<bool> {
        let max = i32::try_from(max_sends).unwrap_or(i32::MAX);
        let res = mfa_challenge::Entity::update_many()
            .col_expr(
                mfa_challenge::Column::OtpMethod,
                Expr::value(otp.method.clone()),
            )
            .col_expr(
                mfa_challenge::Column::OtpHash,
                Expr::value(otp.code_hash.clone()),
            )
            .col_expr(
                mfa_challenge::Column::OtpExpiresAt,
                Expr::value(micros(otp.expires_at)),
            )
            .col_expr(
                mfa_challenge::Column::OtpSends,
                Expr::col(mfa_challenge::Column::OtpSends).add(Expr::value(1)),
            )
            .col_expr(mfa_challenge::Column::OtpSentAt, Expr::value(micros(now)))
            .col_expr(
                mfa_challenge::Column::ExpiresAt,
                Expr::value(micros(expires_at)),
            )
            .filter(mfa_challenge::Column::RealmId.eq(realm_id))
            .filter(mfa_challenge::Column::Id.eq(id))
            .filter(mfa_challenge::Column::ConsumedAt.is_null())
            .filter(mfa_challenge::Column::ExpiresAt.gt(micros(now)))
            .filter(mfa_challenge::Column::OtpSends.lt(max))
            .filter(
                Condition::any()
                    .add(mfa_challenge::Column::OtpSentAt.is_null())
                    .add(mfa_challenge::Column::OtpSentAt.lte(micros(resend_after))),
            )
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn consume_challenge_otp(
        &self,
        realm_id: Uuid,
        id: Uuid,
        code_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let res = mfa_challenge::Entity::update_many()
            .col_expr(mfa_challenge::Column::ConsumedAt, Expr::value(micros(now)))
            .filter(mfa_challenge::Column::RealmId.eq(realm_id))
            .filter(mfa_challenge::Column::Id.eq(id))
            .filter(mfa_challenge::Column::ConsumedAt.is_null())
            .filter(mfa_challenge::Column::ExpiresAt.gt(micros(now)))
            .filter(mfa_challenge::Column::OtpHash.eq(code_hash.to_vec()))
            .filter(mfa_challenge::Column::OtpExpiresAt.gt(micros(now)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    async fn purge_challenges(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = mfa_challenge::Entity::delete_many()
            .filter(mfa_challenge::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }
}
