//! [`VerificationStore`] for [`SqlStore`]: phone verifications, identity
//! documents (number and images as core sealed them) and realms' webhook
//! secrets. Verification states are subject attributes of the policy
//! engine (see `authz::snapshot`), so every change of one bumps the realm's
//! authorization revision in its transaction.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::ports::{StoreResult, VerificationStore};
use portcullis_core::verification::model::{
    DocumentStatus, DocumentType, IdentityDocument, PhoneVerification, SealedImage,
};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::authz::bump_revision;
use crate::convert::{all, corrupt, db_err, instant, instant_opt, micros, micros_opt};
use crate::entities::{identity_document as doc, phone_verification as phone, verification_secret};

impl TryFrom<phone::Model> for PhoneVerification {
    type Error = StoreError;
    fn try_from(m: phone::Model) -> Result<Self, StoreError> {
        Ok(PhoneVerification {
            realm_id: m.realm_id,
            user_id: m.user_id,
            phone: m.phone,
            challenge_id: m.challenge_id,
            verified_at: instant_opt(m.verified_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

fn image_of(content_type: Option<String>, sealed: Option<Vec<u8>>) -> Option<SealedImage> {
    Some(SealedImage {
        content_type: content_type?,
        sealed: sealed?,
    })
}

impl TryFrom<doc::Model> for IdentityDocument {
    type Error = StoreError;
    fn try_from(m: doc::Model) -> Result<Self, StoreError> {
        let images = [
            image_of(m.image1_type, m.image1),
            image_of(m.image2_type, m.image2),
        ]
        .into_iter()
        .flatten()
        .collect();
        Ok(IdentityDocument {
            id: m.id,
            realm_id: m.realm_id,
            user_id: m.user_id,
            doc_type: DocumentType::parse(&m.doc_type)
                .ok_or_else(|| corrupt("identity document type"))?,
            country: m.country,
            number_sealed: m.number_sealed,
            status: DocumentStatus::parse(&m.status)
                .ok_or_else(|| corrupt("identity document status"))?,
            reason: m.reason,
            decided_by: m.decided_by,
            decided_at: instant_opt(m.decided_at)?,
            images,
            image_count: u32::try_from(m.image_count)
                .map_err(|_| corrupt("identity document image count"))?,
            images_deleted_at: instant_opt(m.images_deleted_at)?,
            created_at: instant(m.created_at)?,
        })
    }
}

fn doc_row(d: &IdentityDocument) -> doc::Model {
    let image = |n: usize| d.images.get(n);
    doc::Model {
        id: d.id,
        realm_id: d.realm_id,
        user_id: d.user_id,
        doc_type: d.doc_type.as_str().to_owned(),
        country: d.country.clone(),
        number_sealed: d.number_sealed.clone(),
        status: d.status.as_str().to_owned(),
        reason: d.reason.clone(),
        decided_by: d.decided_by.clone(),
        decided_at: micros_opt(d.decided_at),
        image1_type: image(0).map(|i| i.content_type.clone()),
        image1: image(0).map(|i| i.sealed.clone()),
        image2_type: image(1).map(|i| i.content_type.clone()),
        image2: image(1).map(|i| i.sealed.clone()),
        image_count: i32::try_from(d.image_count).unwrap_or(i32::MAX),
        images_deleted_at: micros_opt(d.images_deleted_at),
        created_at: micros(d.created_at),
    }
}

#[async_trait]
impl VerificationStore for SqlStore {
    async fn get_phone_verification(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Option<PhoneVerification>> {
        phone::Entity::find()
            .filter(phone::Column::RealmId.eq(realm_id))
            .filter(phone::Column::UserId.eq(user_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(PhoneVerification::try_from)
            .transpose()
    }

    async fn put_phone_verification(&self, v: &PhoneVerification) -> StoreResult<()> {
        let row = phone::Model {
            realm_id: v.realm_id,
            user_id: v.user_id,
            phone: v.phone.clone(),
            challenge_id: v.challenge_id,
            verified_at: micros_opt(v.verified_at),
            updated_at: micros(v.updated_at),
        };
        let txn = self.begin_write().await?;
        bump_revision(&txn, v.realm_id).await?;
        phone::Entity::insert(row.into_active_model())
            .on_conflict(
                OnConflict::columns([phone::Column::RealmId, phone::Column::UserId])
                    .update_columns([
                        phone::Column::Phone,
                        phone::Column::ChallengeId,
                        phone::Column::VerifiedAt,
                        phone::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn mark_phone_verified(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
        number: &str,
        challenge_id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let txn = self.begin_write().await?;
        bump_revision(&txn, realm_id).await?;
        let done = phone::Entity::update_many()
            .col_expr(phone::Column::VerifiedAt, Expr::value(micros(at)))
            .col_expr(phone::Column::ChallengeId, Expr::value(None::<Uuid>))
            .col_expr(phone::Column::UpdatedAt, Expr::value(micros(at)))
            .filter(phone::Column::RealmId.eq(realm_id))
            .filter(phone::Column::UserId.eq(user_id))
            .filter(phone::Column::Phone.eq(number))
            .filter(phone::Column::ChallengeId.eq(challenge_id))
            .filter(phone::Column::VerifiedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if done.rows_affected == 1 {
            txn.commit().await.map_err(db_err)?;
            Ok(true)
        } else {
            txn.rollback().await.map_err(db_err)?;
            Ok(false)
        }
    }

    async fn delete_phone_verification(&self, realm_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let txn = self.begin_write().await?;
        bump_revision(&txn, realm_id).await?;
        let done = phone::Entity::delete_many()
            .filter(phone::Column::RealmId.eq(realm_id))
            .filter(phone::Column::UserId.eq(user_id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(done.rows_affected > 0)
    }

    async fn insert_document(&self, d: &IdentityDocument) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        bump_revision(&txn, d.realm_id).await?;
        doc::Entity::insert(doc_row(d).into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn get_document(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<IdentityDocument>> {
        doc::Entity::find_by_id(id)
            .filter(doc::Column::RealmId.eq(realm_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(IdentityDocument::try_from)
            .transpose()
    }

    async fn list_documents(
        &self,
        realm_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<Vec<IdentityDocument>> {
        let rows = doc::Entity::find()
            .filter(doc::Column::RealmId.eq(realm_id))
            .filter(doc::Column::UserId.eq(user_id))
            .order_by_desc(doc::Column::CreatedAt)
            .order_by_desc(doc::Column::Id)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn decide_document(
        &self,
        realm_id: Uuid,
        id: Uuid,
        status: DocumentStatus,
        reason: Option<&str>,
        decided_by: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let txn = self.begin_write().await?;
        bump_revision(&txn, realm_id).await?;
        let done = doc::Entity::update_many()
            .col_expr(doc::Column::Status, Expr::value(status.as_str()))
            .col_expr(doc::Column::Reason, Expr::value(reason.map(str::to_owned)))
            .col_expr(doc::Column::DecidedBy, Expr::value(decided_by))
            .col_expr(doc::Column::DecidedAt, Expr::value(micros(at)))
            .filter(doc::Column::RealmId.eq(realm_id))
            .filter(doc::Column::Id.eq(id))
            .filter(doc::Column::Status.eq(DocumentStatus::Pending.as_str()))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if done.rows_affected == 1 {
            txn.commit().await.map_err(db_err)?;
            Ok(true)
        } else {
            txn.rollback().await.map_err(db_err)?;
            Ok(false)
        }
    }

    async fn documents_past_retention(
        &self,
        before: OffsetDateTime,
        limit: u64,
    ) -> StoreResult<Vec<(Uuid, Uuid, Uuid)>> {
        doc::Entity::find()
            .select_only()
            .columns([doc::Column::RealmId, doc::Column::Id, doc::Column::UserId])
            .filter(doc::Column::DecidedAt.lt(micros(before)))
            .filter(doc::Column::ImagesDeletedAt.is_null())
            .filter(doc::Column::Status.ne(DocumentStatus::Pending.as_str()))
            .order_by_asc(doc::Column::DecidedAt)
            .order_by_asc(doc::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn delete_document_images(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = doc::Entity::update_many()
            .col_expr(doc::Column::Image1, Expr::value(None::<Vec<u8>>))
            .col_expr(doc::Column::Image1Type, Expr::value(None::<String>))
            .col_expr(doc::Column::Image2, Expr::value(None::<Vec<u8>>))
            .col_expr(doc::Column::Image2Type, Expr::value(None::<String>))
            .col_expr(doc::Column::ImagesDeletedAt, Expr::value(micros(at)))
            .filter(doc::Column::RealmId.eq(realm_id))
            .filter(doc::Column::Id.eq(id))
            .filter(doc::Column::ImagesDeletedAt.is_null())
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected == 1)
    }

    async fn get_webhook_secret(&self, realm_id: Uuid) -> StoreResult<Option<Vec<u8>>> {
        Ok(verification_secret::Entity::find_by_id(realm_id)
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(|m| m.webhook_secret))
    }

    async fn put_webhook_secret(
        &self,
        realm_id: Uuid,
        sealed: &[u8],
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        let row = verification_secret::ActiveModel {
            realm_id: Set(realm_id),
            webhook_secret: Set(sealed.to_vec()),
            updated_at: Set(micros(at)),
        };
        verification_secret::Entity::insert(row)
            .on_conflict(
                OnConflict::column(verification_secret::Column::RealmId)
                    .update_columns([
                        verification_secret::Column::WebhookSecret,
                        verification_secret::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
