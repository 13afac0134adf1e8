//! [`MailStore`] for [`SqlStore`]: the outbox, templates and e-mail tokens.
//!
//! Claiming outbox messages: the candidates are read, then each is taken
//! with one conditional update (still pending, due and unleased) that sets
//! the lease; only the updates that changed a row count, so two workers
//! racing for a message never both hold it. Settling a message is
//! conditional on its lease, so a worker whose lease ran out (and whose
//! message another worker claimed) cannot settle it. Tokens are spent with
//! one conditional update (`used_at IS NULL`, unexpired) returning the row.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::mail::{
    EmailToken, EmailTokenPurpose, MailKind, MailStatus, MailTemplate, OutboxMessage,
    TemplateSource,
};
use portcullis_core::ports::{MailStore, StoreResult};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{all, conflict, corrupt, db_err, instant, instant_opt, micros, micros_opt};
use crate::entities::{email_token, mail_outbox, mail_template};

impl TryFrom<mail_outbox::Model> for OutboxMessage {
    type Error = StoreError;
    fn try_from(m: mail_outbox::Model) -> Result<Self, StoreError> {
        Ok(OutboxMessage {
            id: m.id,
            realm_id: m.realm_id,
            kind: MailKind::parse(&m.kind).ok_or_else(|| corrupt("mail kind"))?,
            recipient: m.recipient,
            sealed: m.sealed,
            status: MailStatus::parse(&m.status).ok_or_else(|| corrupt("mail status"))?,
            attempts: u32::try_from(m.attempts).map_err(|_| corrupt("mail attempts"))?,
            next_attempt_at: instant(m.next_attempt_at)?,
            lease_id: m.lease_id,
            lease_until: instant_opt(m.lease_until)?,
            last_error: m.last_error,
            created_at: instant(m.created_at)?,
            sent_at: instant_opt(m.sent_at)?,
        })
    }
}

fn outbox_row(m: &OutboxMessage) -> mail_outbox::Model {
    mail_outbox::Model {
        id: m.id,
        realm_id: m.realm_id,
        kind: m.kind.as_str().to_owned(),
        recipient: m.recipient.clone(),
        sealed: m.sealed.clone(),
        status: m.status.as_str().to_owned(),
        attempts: i32::try_from(m.attempts).unwrap_or(i32::MAX),
        next_attempt_at: micros(m.next_attempt_at),
        lease_id: m.lease_id,
        lease_until: micros_opt(m.lease_until),
        last_error: m.last_error.clone(),
        created_at: micros(m.created_at),
        sent_at: micros_opt(m.sent_at),
    }
}

impl TryFrom<email_token::Model> for EmailToken {
    type Error = StoreError;
    fn try_from(m: email_token::Model) -> Result<Self, StoreError> {
        Ok(EmailToken {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            purpose: EmailTokenPurpose::parse(&m.purpose)
                .ok_or_else(|| corrupt("email token purpose"))?,
            token_hash: m.token_hash,
            email: m.email,
            created_at: instant(m.created_at)?,
            expires_at: instant(m.expires_at)?,
            used_at: instant_opt(m.used_at)?,
        })
    }
}

impl TryFrom<mail_template::Model> for MailTemplate {
    type Error = StoreError;
    fn try_from(m: mail_template::Model) -> Result<Self, StoreError> {
        Ok(MailTemplate {
            realm_id: m.realm_id,
            kind: MailKind::parse(&m.kind).ok_or_else(|| corrupt("mail kind"))?,
            source: TemplateSource {
                subject: m.subject,
                text: m.text_body,
                html: m.html_body,
            },
            updated_at: instant(m.updated_at)?,
        })
    }
}

/// Messages a worker may take at `now`: pending, due, not leased.
fn claimable(now: i64) -> Condition {
    Condition::all()
        .add(mail_outbox::Column::Status.eq(MailStatus::Pending.as_str()))
        .add(mail_outbox::Column::NextAttemptAt.lte(now))
        .add(
            Condition::any()
                .add(mail_outbox::Column::LeaseUntil.is_null())
                .add(mail_outbox::Column::LeaseUntil.lte(now)),
        )
}

#[async_trait]
impl MailStore for SqlStore {
    async fn enqueue_mail(&self, message: &OutboxMessage) -> StoreResult<()> {
        mail_outbox::Entity::insert(outbox_row(message).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("mail already queued"))?;
        Ok(())
    }

    async fn claim_mail(
        &self,
        lease_id: Uuid,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let now = micros(now);
        let candidates: Vec<Uuid> = mail_outbox::Entity::find()
            .select_only()
            .column(mail_outbox::Column::Id)
            .filter(claimable(now))
            .order_by_asc(mail_outbox::Column::NextAttemptAt)
            .order_by_asc(mail_outbox::Column::Id)
            .limit(u64::from(limit))
            .into_tuple()
            .all(&self.writer)
            .await
            .map_err(db_err)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for id in candidates {
            let taken = mail_outbox::Entity::update_many()
                .col_expr(mail_outbox::Column::LeaseId, Expr::value(lease_id))
                .col_expr(
                    mail_outbox::Column::LeaseUntil,
                    Expr::value(micros(lease_until)),
                )
                .filter(mail_outbox::Column::Id.eq(id))
                .filter(claimable(now))
                .exec_with_returning(&self.writer)
                .await
                .map_err(db_err)?;
            for row in taken {
                claimed.push(OutboxMessage::try_from(row)?);
            }
        }
        Ok(claimed)
    }

    async fn mark_mail_sent(
        &self,
        id: Uuid,
        lease_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let res = mail_outbox::Entity::update_many()
            .col_expr(
                mail_outbox::Column::Status,
                Expr::value(MailStatus::Sent.as_str()),
            )
            .col_expr(
                mail_outbox::Column::Attempts,
                Expr::col(mail_outbox::Column::Attempts).add(1),
            )
            .col_expr(mail_outbox::Column::Sealed, Expr::value(None::<Vec<u8>>))
            .col_expr(mail_outbox::Column::SentAt, Expr::value(micros(at)))
            .col_expr(mail_outbox::Column::LeaseId, Expr::value(None::<Uuid>))
            .col_expr(mail_outbox::Column::LeaseUntil, Expr::value(None::<i64>))
            .col_expr(mail_outbox::Column::LastError, Expr::value(None::<String>))
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::LeaseId.eq(lease_id))
            .filter(mail_outbox::Column::Status.eq(MailStatus::Pending.as_str()))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    async fn mark_mail_failed(
        &self,
        id: Uuid,
        lease_id: Uuid,
        attempts: u32,
        error: &str,
        retry_at: Option<OffsetDateTime>,
    ) -> StoreResult<bool> {
        let mut update = mail_outbox::Entity::update_many()
            .col_expr(
                mail_outbox::Column::Attempts,
                Expr::value(i32::try_from(attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(mail_outbox::Column::LastError, Expr::value(error))
            .col_expr(mail_outbox::Column::LeaseId, Expr::value(None::<Uuid>))
            .col_expr(mail_outbox::Column::LeaseUntil, Expr::value(None::<i64>));
        update = match retry_at {
            Some(t) => update.col_expr(mail_outbox::Column::NextAttemptAt, Expr::value(micros(t))),
            None => update
                .col_expr(
                    mail_outbox::Column::Status,
                    Expr::value(MailStatus::Failed.as_str()),
                )
                .col_expr(mail_outbox::Column::Sealed, Expr::value(None::<Vec<u8>>)),
        };
        let res = update
            .filter(mail_outbox::Column::Id.eq(id))
            .filter(mail_outbox::Column::LeaseId.eq(lease_id))
            .filter(mail_outbox::Column::Status.eq(MailStatus::Pending.as_str()))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    async fn get_mail(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<OutboxMessage>> {
        mail_outbox::Entity::find()
            .filter(mail_outbox::Column::RealmId.eq(realm_id))
            .filter(mail_outbox::Column::Id.eq(id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(OutboxMessage::try_from)
            .transpose()
    }

    async fn list_mail(&self, realm_id: Uuid, limit: u32) -> StoreResult<Vec<OutboxMessage>> {
        let rows = mail_outbox::Entity::find()
            .filter(mail_outbox::Column::RealmId.eq(realm_id))
            .order_by_desc(mail_outbox::Column::Id)
            .limit(u64::from(limit))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn purge_mail(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = mail_outbox::Entity::delete_many()
            .filter(mail_outbox::Column::Status.ne(MailStatus::Pending.as_str()))
            .filter(mail_outbox::Column::CreatedAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    async fn get_mail_template(
        &self,
        realm_id: Uuid,
        kind: MailKind,
    ) -> StoreResult<Option<MailTemplate>> {
        mail_template::Entity::find()
            .filter(mail_template::Column::RealmId.eq(realm_id))
            .filter(mail_template::Column::Kind.eq(kind.as_str()))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(MailTemplate::try_from)
            .transpose()
    }

    async fn put_mail_template(&self, t: &MailTemplate) -> StoreResult<()> {
        let row = mail_template::Model {
            realm_id: t.realm_id,
            kind: t.kind.as_str().to_owned(),
            subject: t.source.subject.clone(),
            text_body: t.source.text.clone(),
            html_body: t.source.html.clone(),
            updated_at: micros(t.updated_at),
        };
        mail_template::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([mail_template::Column::RealmId, mail_template::Column::Kind])
                    .update_columns([
                        mail_template::Column::Subject,
                        mail_template::Column::TextBody,
                        mail_template::Column::HtmlBody,
                        mail_template::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn delete_mail_template(&self, realm_id: Uuid, kind: MailKind) -> StoreResult<bool> {
        let res = mail_template::Entity::delete_many()
            .filter(mail_template::Column::RealmId.eq(realm_id))
            .filter(mail_template::Column::Kind.eq(kind.as_str()))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected > 0)
    }

    async fn insert_email_token(&self, t: &EmailToken) -> StoreResult<()> {
        let row = email_token::Model {
            id: t.id,
            realm_id: t.realm_id,
            user_id: t.user_id,
            purpose: t.purpose.as_str().to_owned(),
            token_hash: t.token_hash.clone(),
            email: t.email.clone(),
            created_at: micros(t.created_at),
            expires_at: micros(t.expires_at),
            used_at: micros_opt(t.used_at),
        };
        email_token::Entity::insert(row.into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("email token already exists"))?;
        Ok(())
    }

    async fn get_email_token(
        &self,
        realm_id: Uuid,
        purpose: EmailTokenPurpose,
        token_hash: &[u8],
    ) -> StoreResult<Option<EmailToken>> {
        email_token::Entity::find()
            .filter(email_token::Column::RealmId.eq(realm_id))
            .filter(email_token::Column::Purpose.eq(purpose.as_str()))
            .filter(email_token::Column::TokenHash.eq(token_hash.to_vec()))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(EmailToken::try_from)
            .transpose()
    }

    async fn consume_email_token(
        &self,
        realm_id: Uuid,
        purpose: EmailTokenPurpose,
        token_hash: &[u8],
        now: OffsetDateTime,
    ) -> StoreResult<Option<EmailToken>> {
        let spent = email_token::Entity::update_many()
            .col_expr(email_token::Column::UsedAt, Expr::value(micros(now)))
            .filter(email_token::Column::RealmId.eq(realm_id))
            .filter(email_token::Column::Purpose.eq(purpose.as_str()))
            .filter(email_token::Column::TokenHash.eq(token_hash.to_vec()))
            .filter(email_token::Column::UsedAt.is_null())
            .filter(email_token::Column::ExpiresAt.gt(micros(now)))
            .exec_with_returning(&self.writer)
            .await
            .map_err(db_err)?;
        spent
            .into_iter()
            .next()
            .map(EmailToken::try_from)
            .transpose()
    }

    async fn spend_email_tokens(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
        at: OffsetDateTime,
    ) -> StoreResult<u64> {
        let res = email_token::Entity::update_many()
            .col_expr(email_token::Column::UsedAt, Expr::value(micros(at)))
            .filter(email_token::Column::RealmId.eq(realm_id))
            .filter(email_token::Column::UserId.eq(user_id))
            .filter(email_token::Column::Purpose.eq(purpose.as_str()))
            .filter(email_token::Column::UsedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    async fn purge_email_tokens(&self, before: OffsetDateTime) -> StoreResult<u64> {
        let res = email_token::Entity::delete_many()
            .filter(email_token::Column::ExpiresAt.lt(micros(before)))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }
}
