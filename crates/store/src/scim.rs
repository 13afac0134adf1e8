//! [`ScimStore`] for [`SqlStore`]: SCIM user names and external ids on
//! `users`, the rest of a user's SCIM record in `scim_users`, groups' SCIM
//! names in `scim_groups`; SCIM filters as SQL conditions on indexed
//! columns.

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::model::{Page, User};
use portcullis_core::ports::{ScimStore, StoreResult};
use portcullis_core::scim::{
    ScimCond, ScimGroupRecord, ScimUserQuery, ScimUserRecord, ScimValue, UserField,
};
use portcullis_scim::CompareOp;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{
    attributes, conflict, corrupt, db_err, instant, micros, micros_opt, user_row,
};
use crate::entities::{group, scim_group, scim_user, user};

const DUPLICATE_USER: &str = "userName or e-mail address already in use in this realm";
const DUPLICATE_GROUP: &str = "displayName already in use in this realm";

/// Both backends bind `OFFSET` and `LIMIT` as signed 64-bit integers.
const MAX_ROWS: u64 = i64::MAX.unsigned_abs();

/// `LIKE` pattern for `co`, `sw` or `ew` of `text`, taken literally.
fn like(op: CompareOp, text: &str) -> LikeExpr {
    let mut p = String::with_capacity(text.len() + 2);
    if matches!(op, CompareOp::Co | CompareOp::Ew) {
        p.push('%');
    }
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    if matches!(op, CompareOp::Co | CompareOp::Sw) {
        p.push('%');
    }
    LikeExpr::new(p).escape('\\')
}

/// `expr op value` for a comparable expression.
fn compare(expr: SimpleExpr, op: CompareOp, value: sea_orm::Value) -> SimpleExpr {
    match op {
        CompareOp::Eq => expr.eq(value),
        CompareOp::Ne => expr.clone().is_null().or(expr.ne(value)),
        CompareOp::Gt => expr.gt(value),
        CompareOp::Ge => expr.gte(value),
        CompareOp::Lt => expr.lt(value),
        CompareOp::Le => expr.lte(value),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let text = match value {
                sea_orm::Value::String(Some(s)) => s.to_string(),
                other => format!("{other:?}"),
            };
            expr.like(like(op, &text))
        }
    }
}

fn col(c: user::Column) -> SimpleExpr {
    Expr::col((user::Entity, c))
}

/// `users.id IN (SELECT user_id FROM scim_users WHERE realm_id = ? AND
/// cond)`: a condition on the Enterprise User columns.
fn in_scim_users(realm_id: Uuid, cond: SimpleExpr) -> SimpleExpr {
    col(user::Column::Id).in_subquery(
        Query::select()
            .column(scim_user::Column::UserId)
            .from(scim_user::Entity)
            .and_where(Expr::col(scim_user::Column::RealmId).eq(realm_id))
            .and_where(cond)
            .take(),
    )
}

fn text(value: &ScimValue) -> sea_orm::Value {
    match value {
        ScimValue::Text(s) => s.clone().into(),
        ScimValue::Bool(b) => (*b).into(),
        ScimValue::Time(t) => micros(*t).into(),
        ScimValue::Id(id) => (*id).into(),
    }
}

/// The expression a field sorts and compares by.
fn field_expr(field: UserField) -> SimpleExpr {
    match field {
        UserField::Id => col(user::Column::Id),
        UserField::UserName => Func::coalesce([
            col(user::Column::ScimUserNameCanonical),
            col(user::Column::EmailCanonical),
        ])
        .into(),
        UserField::Email => col(user::Column::EmailCanonical),
        UserField::ExternalId => col(user::Column::ExternalId),
        UserField::DisplayName => Func::lower(col(user::Column::Name)).into(),
        UserField::Active => col(user::Column::Active),
        UserField::Created => col(user::Column::CreatedAt),
        UserField::LastModified => col(user::Column::UpdatedAt),
        UserField::EmployeeNumber => Expr::col(scim_user::Column::EmployeeNumber),
        UserField::Department => Expr::col(scim_user::Column::Department),
        UserField::Manager => Expr::col(scim_user::Column::ManagerId),
    }
}

fn is_enterprise(field: UserField) -> bool {
    matches!(
        field,
        UserField::EmployeeNumber | UserField::Department | UserField::Manager
    )
}

/// A translated SCIM filter as SQL.
fn condition(realm_id: Uuid, cond: &ScimCond) -> SimpleExpr {
    match cond {
        ScimCond::Never => Expr::val(1).eq(0),
        ScimCond::And(l, r) => condition(realm_id, l).and(condition(realm_id, r)),
        ScimCond::Or(l, r) => condition(realm_id, l).or(condition(realm_id, r)),
        ScimCond::Not(inner) => condition(realm_id, inner).not(),
        ScimCond::Present(field) => match field {
            // Every account has an id, a user name, an address, a flag
            // and times.
            UserField::Id
            | UserField::UserName
            | UserField::Email
            | UserField::Active
            | UserField::Created
            | UserField::LastModified => Expr::val(1).eq(1),
            f if is_enterprise(*f) => in_scim_users(realm_id, field_expr(*f).is_not_null()),
            f => field_expr(*f).is_not_null(),
        },
        ScimCond::Compare { field, op, value } => {
            let v = text(value);
            match (field, op) {
                // Index-friendly: each side of the OR reads one index.
                (UserField::UserName, CompareOp::Eq) => col(user::Column::ScimUserNameCanonical)
                    .eq(v.clone())
                    .or(col(user::Column::ScimUserNameCanonical)
                        .is_null()
                        .and(col(user::Column::EmailCanonical).eq(v))),
                (UserField::UserName, CompareOp::Ne) => condition(
                    realm_id,
                    &ScimCond::Compare {
                        field: UserField::UserName,
                        op: CompareOp::Eq,
                        value: value.clone(),
                    },
                )
                .not(),
                (f, op) if is_enterprise(*f) => {
                    if *op == CompareOp::Ne {
                        // Accounts without the value, or with another one.
                        in_scim_users(realm_id, compare(field_expr(*f), CompareOp::Eq, v)).not()
                    } else {
                        in_scim_users(realm_id, compare(field_expr(*f), *op, v))
                    }
                }
                (f, op) => compare(field_expr(*f), *op, v),
            }
        }
    }
}

fn record_of(u: &user::Model, s: Option<scim_user::Model>) -> StoreResult<ScimUserRecord> {
    let mut r = ScimUserRecord {
        user_name: u.scim_user_name.clone(),
        external_id: u.external_id.clone(),
        ..ScimUserRecord::default()
    };
    if let Some(s) = s {
        r.employee_number = s.employee_number;
        r.department = s.department;
        r.manager_id = s.manager_id;
        r.document = attributes(&s.document).map_err(|_| corrupt("scim user document"))?;
    }
    Ok(r)
}

impl TryFrom<scim_group::Model> for ScimGroupRecord {
    type Error = StoreError;
    fn try_from(m: scim_group::Model) -> Result<Self, StoreError> {
        Ok(ScimGroupRecord {
            realm_id: m.realm_id,
            group_id: m.group_id,
            display_name: m.display_name,
            external_id: m.external_id,
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

#[async_trait]
impl ScimStore for SqlStore {
    async fn scim_user(
        &self,
        realm_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<(User, ScimUserRecord)>> {
        let Some(u) = user::Entity::find()
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(user::Column::Id.eq(id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let s = scim_user::Entity::find_by_id(id)
            .filter(scim_user::Column::RealmId.eq(realm_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?;
        let record = record_of(&u, s)?;
        Ok(Some((User::try_from(u)?, record)))
    }

    async fn scim_user_id_by_name(
        &self,
        realm_id: Uuid,
        canonical: &str,
    ) -> StoreResult<Option<Uuid>> {
        let row = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::RealmId.eq(realm_id))
            .filter(condition(
                realm_id,
                &ScimCond::Compare {
                    field: UserField::UserName,
                    op: CompareOp::Eq,
                    value: ScimValue::Text(canonical.to_owned()),
                },
            ))
            .into_tuple::<Uuid>()
            .one(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(row)
    }

    async fn save_scim_user(&self, u: &User, r: &ScimUserRecord, create: bool) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        if let Some(m) = r.manager_id {
            let n = user::Entity::find()
                .filter(user::Column::RealmId.eq(u.realm_id))
                .filter(user::Column::Id.eq(m))
                .count(&txn)
                .await
                .map_err(db_err)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
        }
        let name_canonical = r.user_name.as_ref().map(|n| n.to_lowercase());
        if create {
            let mut row = user_row(u);
            row.scim_user_name = r.user_name.clone();
            row.scim_user_name_canonical = name_canonical;
            row.external_id = r.external_id.clone();
            user::Entity::insert(row.into_active_model())
                .exec_without_returning(&txn)
                .await
                .map_err(conflict(DUPLICATE_USER))?;
        } else {
            let changes = user::ActiveModel {
                email: Set(u.email.as_str().to_owned()),
                email_canonical: Set(u.email.canonical()),
                name: Set(u.name.clone()),
                password_hash: Set(u.password_hash.clone()),
                active: Set(u.active),
                email_verified: Set(u.email_verified),
                updated_at: Set(micros(u.updated_at)),
                last_login_at: Set(micros_opt(u.last_login_at)),
                scim_user_name: Set(r.user_name.clone()),
                scim_user_name_canonical: Set(name_canonical),
                external_id: Set(r.external_id.clone()),
                ..Default::default()
            };
            let res = user::Entity::update_many()
                .set(changes)
                .filter(user::Column::RealmId.eq(u.realm_id))
                .filter(user::Column::Id.eq(u.id))
                .exec(&txn)
                .await
                .map_err(conflict(DUPLICATE_USER))?;
            if res.rows_affected == 0 {
                return Err(StoreError::NotFound);
            }
        }
        let row = scim_user::ActiveModel {
            realm_id: Set(u.realm_id),
            user_id: Set(u.id),
            employee_number: Set(r.employee_number.clone()),
            department: Set(r.department.clone()),
            manager_id: Set(r.manager_id),
            document: Set(serde_json::Value::Object(r.document.clone()).to_string()),
        };
        scim_user::Entity::insert(row)
            .on_conflict(
                OnConflict::column(scim_user::Column::UserId)
                    .update_columns([
                        scim_user::Column::EmployeeNumber,
                        scim_user::Column::Department,
                        scim_user::Column::ManagerId,
                        scim_user::Column::Document,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)
    }

    async fn list_scim_users(
        &self,
        realm_id: Uuid,
        q: &ScimUserQuery,
    ) -> StoreResult<Page<(User, ScimUserRecord)>> {
        let mut select = user::Entity::find().filter(user::Column::RealmId.eq(realm_id));
        if let Some(f) = &q.filter {
            select = select.filter(Condition::all().add(condition(realm_id, f)));
        }
        let total = select.clone().count(&self.reader).await.map_err(db_err)?;
        if q.limit == 0 {
            return Ok(Page {
                items: Vec::new(),
                total,
            });
        }
        let order = |desc: bool| {
            if desc {
                sea_orm::Order::Desc
            } else {
                sea_orm::Order::Asc
            }
        };
        select = match q.sort {
            Some((f, desc)) if is_enterprise(f) => select.order_by(
                SimpleExpr::SubQuery(
                    None,
                    Box::new(sea_orm::sea_query::SubQueryStatement::SelectStatement(
                        Query::select()
                            .expr(field_expr(f))
                            .from(scim_user::Entity)
                            .and_where(
                                Expr::col((scim_user::Entity, scim_user::Column::UserId))
                                    .equals((user::Entity, user::Column::Id)),
                            )
                            .take(),
                    )),
                ),
                order(desc),
            ),
            Some((f, desc)) => select.order_by(field_expr(f), order(desc)),
            None => select,
        };
        let rows = select
            .order_by_asc(user::Column::Id)
            .offset(Ord::min(q.offset, MAX_ROWS))
            .limit(Ord::min(q.limit, MAX_ROWS))
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let mut records: std::collections::HashMap<Uuid, scim_user::Model> =
            scim_user::Entity::find()
                .filter(scim_user::Column::RealmId.eq(realm_id))
                .filter(scim_user::Column::UserId.is_in(ids))
                .all(&self.reader)
                .await
                .map_err(db_err)?
                .into_iter()
                .map(|s| (s.user_id, s))
                .collect();
        let mut items = Vec::with_capacity(rows.len());
        for u in rows {
            let record = record_of(&u, records.remove(&u.id))?;
            items.push((User::try_from(u)?, record));
        }
        Ok(Page { items, total })
    }

    async fn scim_groups(&self, realm_id: Uuid) -> StoreResult<Vec<ScimGroupRecord>> {
        scim_group::Entity::find()
            .filter(scim_group::Column::RealmId.eq(realm_id))
            .all(&self.reader)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(ScimGroupRecord::try_from)
            .collect()
    }

    async fn save_scim_group(&self, r: &ScimGroupRecord) -> StoreResult<()> {
        let txn = self.begin_write().await?;
        let n = group::Entity::find()
            .filter(group::Column::RealmId.eq(r.realm_id))
            .filter(group::Column::Id.eq(r.group_id))
            .count(&txn)
            .await
            .map_err(db_err)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        let row = scim_group::ActiveModel {
            realm_id: Set(r.realm_id),
            group_id: Set(r.group_id),
            display_name: Set(r.display_name.clone()),
            display_name_canonical: Set(r.display_name.to_lowercase()),
            external_id: Set(r.external_id.clone()),
            created_at: Set(micros(r.created_at)),
            updated_at: Set(micros(r.updated_at)),
        };
        scim_group::Entity::insert(row)
            .on_conflict(
                OnConflict::column(scim_group::Column::GroupId)
                    .update_columns([
                        scim_group::Column::DisplayName,
                        scim_group::Column::DisplayNameCanonical,
                        scim_group::Column::ExternalId,
                        scim_group::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await
            .map_err(conflict(DUPLICATE_GROUP))?;
        txn.commit().await.map_err(db_err)
    }
}
