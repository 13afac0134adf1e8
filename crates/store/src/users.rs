//! [`UserStore`] for [`SqlStore`].

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{Email, Page, User, UserQuery};
use portcullis_core::ports::{StoreResult, UserStore};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::SqlStore;
use crate::authz::{bump_revision, delete_user_policies};
use crate::convert::{all, conflict, db_err, micros, micros_opt, user_row};
use crate::entities::user;

const DUPLICATE_EMAIL: &str = "email already in use in this realm";

/// Both backends bind `OFFSET` and `LIMIT` as signed 64-bit integers.
const MAX_ROWS: u64 = i64::MAX.unsigned_abs();

/// `LIKE` pattern matching strings that start with `prefix` literally.
fn prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl UserStore for SqlStore {
    /// A user created with attributes changes what conditions see, so it
    /// bumps the realm's authorization revision in the same transaction.
    async fn create_user(&self, u: &User) -> StoreResult<()> {
        let row = user_row(u).into_active_model();
        if u.attributes.is_empty() {
            user::Entity::insert(row)
                .exec_without_returning(&self.writer)
                .await
                .map_err(conflict(DUPLICATE_EMAIL))?;
            return Ok(());
        }
        let txn = self.begin_write().await?;
        bump_revision(&txn, u.realm_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        user::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(conflict(DUPLICATE_EMAIL))?;
        txn.commit().await.map_err(db_err)
    }

    async fn get_user(&self, realm_id: Uuid, id: Uuid) -> StoreResult<Option<User>> {
        user::Entity::find()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.eq(id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(User::try_from)
            .transpose()
    }

    async fn get_user_by_email(&self, realm_id: Uuid, email: &Email) -> StoreResult<Option<User>> {
        user::Entity::find()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::EmailCanonical.eq(email.canonical()))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(User::try_from)
            .transpose()
    }

    async fn list_users(&self, realm_id: Uuid, query: &UserQuery) -> StoreResult<Page<User>> {
        let mut select = user::Entity::find().filter(user::Column::RealmId.eq(realm_id));
        if let Some(prefix) = query.email_prefix.as_deref().filter(|p| !p.is_empty()) {
            let pattern = LikeExpr::new(prefix_pattern(&prefix.to_lowercase())).escape('\\');
            select = select.filter(Expr::col(user::Column::EmailCanonical).like(pattern));
        }
        let total = select.clone().count(&self.reader).await.map_err(db_err)?;
        let rows = select
            .order_by_asc(user::Column::Id)
            .offset(Ord::min(query.offset, MAX_ROWS))
            .limit(Ord::min(query.limit, MAX_ROWS))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(Page {
            items: all(rows)?,
            total,
        })
    }

    async fn update_user(&self, u: &User) -> StoreResult<()> {
        let changes = user::ActiveModel {
            email: Set(u.email.as_str().to_owned()),
            email_canonical: Set(u.email.canonical()),
            name: Set(u.name.clone()),
            password_hash: Set(u.password_hash.clone()),
            active: Set(u.active),
            email_verified: Set(u.email_verified),
            updated_at: Set(micros(u.updated_at)),
            last_login_at: Set(micros_opt(u.last_login_at)),
            ..Default::default()
        };
        let res = user::Entity::update_many()
            .set(changes)
            .filter(user::Column::RealmId.eq(u.realm_id))
            .filter(user::Column::Id.eq(u.id))
            .exec(&self.writer)
            .await
            .map_err(conflict(DUPLICATE_EMAIL))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Deleting a user deletes its memberships and grants (by cascade) and
    /// the policies attached to it, so it bumps the realm's authorization
    /// revision in the same transaction (first, to lock the realm's row in
    /// the same order as authorization changes do).
    async fn delete_user(&self, realm_id: Uuid, id: Uuid) -> StoreResult<bool> {
        // Dropping the transaction on an early return rolls it back.
        let txn = self.begin_write().await?;
        if bump_revision(&txn, realm_id).await?.is_none() {
            return Ok(false);
        }
        let res = user::Entity::delete_many()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.eq(id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            return Ok(false);
        }
        delete_user_policies(&txn, realm_id, id).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_pattern;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(prefix_pattern("a_b%c\\"), "a\\_b\\%c\\\\%");
        assert_eq!(prefix_pattern("alice"), "alice%");
    }
}
