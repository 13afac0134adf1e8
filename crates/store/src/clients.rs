//! [`ClientStore`] for [`SqlStore`].

use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::clients::{AuthMethod, ClientType, GrantType, OAuthClient};
use portcullis_core::ports::{ClientStore, StoreResult};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStore;
use crate::convert::{alg, all, conflict, corrupt, db_err, instant, json_list, micros, parse_list};
use crate::entities::{oauth_client, refresh_token, session};

fn client_row(c: &OAuthClient) -> oauth_client::Model {
    let grants: Vec<String> = c
        .grant_types
        .iter()
        .map(|g| g.as_str().to_owned())
        .collect();
    oauth_client::Model {
        id: c.id,
        realm_id: c.realm_id,
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        client_type: c.client_type.as_str().to_owned(),
        auth_method: c.auth_method.as_str().to_owned(),
        secret_hash: c.secret_hash.clone(),
        redirect_uris: json_list(&c.redirect_uris),
        post_logout_redirect_uris: json_list(&c.post_logout_redirect_uris),
        grant_types: json_list(&grants),
        scopes: json_list(&c.scopes),
        id_token_alg: c.id_token_alg.as_str().to_owned(),
        jwks: c.jwks.as_ref().map(ToString::to_string),
        access_token_ttl: c.access_token_ttl.map(i64::from),
        refresh_token_ttl: c.refresh_token_ttl.map(i64::from),
        require_consent: c.require_consent,
        enabled: c.enabled,
        logo_uri: c.links.logo_uri.clone(),
        policy_uri: c.links.policy_uri.clone(),
        tos_uri: c.links.tos_uri.clone(),
        created_at: micros(c.created_at),
        updated_at: micros(c.updated_at),
    }
}

fn ttl(value: Option<i64>) -> Result<Option<u32>, StoreError> {
    value
        .map(|v| u32::try_from(v).map_err(|_| corrupt("token lifetime")))
        .transpose()
}

impl TryFrom<oauth_client::Model> for OAuthClient {
    type Error = StoreError;
    fn try_from(m: oauth_client::Model) -> Result<Self, StoreError> {
        let grant_types = parse_list(&m.grant_types, "grant types")?
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant type")))
            .collect::<Result<_, _>>()?;
        Ok(OAuthClient {
            id: m.id,
            realm_id: m.realm_id,
            client_id: m.client_id,
            name: m.name,
            client_type: ClientType::parse(&m.client_type).ok_or_else(|| corrupt("client type"))?,
            auth_method: AuthMethod::parse(&m.auth_method)
                .ok_or_else(|| corrupt("client authentication method"))?,
            secret_hash: m.secret_hash,
            redirect_uris: parse_list(&m.redirect_uris, "redirect URIs")?,
            post_logout_redirect_uris: parse_list(
                &m.post_logout_redirect_uris,
                "post-logout redirect URIs",
            )?,
            grant_types,
            scopes: parse_list(&m.scopes, "scopes")?,
            id_token_alg: alg(&m.id_token_alg)?,
            jwks: m
                .jwks
                .as_deref()
                .map(|j| serde_json::from_str(j).map_err(|_| corrupt("client JWKS")))
                .transpose()?,
            access_token_ttl: ttl(m.access_token_ttl)?,
            refresh_token_ttl: ttl(m.refresh_token_ttl)?,
            require_consent: m.require_consent,
            enabled: m.enabled,
            links: portcullis_core::clients::ClientLinks {
                logo_uri: m.logo_uri,
                policy_uri: m.policy_uri,
                tos_uri: m.tos_uri,
            },
            created_at: instant(m.created_at)?,
            updated_at: instant(m.updated_at)?,
        })
    }
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, c: &OAuthClient) -> StoreResult<()> {
        oauth_client::Entity::insert(client_row(c).into_active_model())
            .exec_without_returning(&self.writer)
            .await
            .map_err(conflict("client_id already in use"))?;
        Ok(())
    }

    async fn get_client(
        &self,
        realm_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<OAuthClient>> {
        oauth_client::Entity::find()
            .filter(oauth_client::Column::RealmId.eq(realm_id))
            .filter(oauth_client::Column::ClientId.eq(client_id))
            .one(&self.reader)
            .await
            .map_err(db_err)?
            .map(OAuthClient::try_from)
            .transpose()
    }

    async fn list_clients(&self, realm_id: Uuid) -> StoreResult<Vec<OAuthClient>> {
        let rows = oauth_client::Entity::find()
            .filter(oauth_client::Column::RealmId.eq(realm_id))
            .order_by_asc(oauth_client::Column::ClientId)
            .all(&self.reader)
            .await
            .map_err(db_err)?;
        all(rows)
    }

    async fn update_client(&self, c: &OAuthClient) -> StoreResult<()> {
        // Every column set, then the ones that never change left out.
        let mut row = client_row(c).into_active_model().reset_all();
        // Ids, the realm and the creation time never change.
        row.realm_id = sea_orm::ActiveValue::NotSet;
        row.client_id = sea_orm::ActiveValue::NotSet;
        row.created_at = sea_orm::ActiveValue::NotSet;
        row.id = sea_orm::ActiveValue::NotSet;
        let res = oauth_client::Entity::update_many()
            .set(row)
            .filter(oauth_client::Column::Id.eq(c.id))
            .filter(oauth_client::Column::RealmId.eq(c.realm_id))
            .exec(&self.writer)
            .await
            .map_err(db_err)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_client(
        &self,
        realm_id: Uuid,
        id: Uuid,
        at: OffsetDateTime,
    ) -> StoreResult<Option<Vec<Uuid>>> {
        let txn = self.begin_write().await?;
        let Some(client_id) = oauth_client::Entity::find()
            .select_only()
            .column(oauth_client::Column::ClientId)
            .filter(oauth_client::Column::Id.eq(id))
            .filter(oauth_client::Column::RealmId.eq(realm_id))
            .into_tuple::<String>()
            .one(&txn)
            .await
            .map_err(db_err)?
        else {
            txn.rollback().await.map_err(db_err)?;
            return Ok(None);
        };
        // Its client sessions end, with their refresh tokens (those of
        // sessions revoked before are revoked already).
        let at = micros(at);
        let client_sessions = Query::select()
            .column(session::Column::Id)
            .from(session::Entity)
            .and_where(session::Column::RealmId.eq(realm_id))
            .and_where(session::Column::ClientId.eq(client_id.as_str()))
            .take();
        refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::RevokedAt, Expr::value(at))
            .filter(refresh_token::Column::RealmId.eq(realm_id))
            .filter(refresh_token::Column::SessionId.in_subquery(client_sessions))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .exec(&txn)
            .await
            .map_err(db_err)?;
        let ended: Vec<Uuid> = session::Entity::update_many()
            .col_expr(session::Column::RevokedAt, Expr::value(at))
            .filter(session::Column::RealmId.eq(realm_id))
            .filter(session::Column::ClientId.eq(client_id.as_str()))
            .filter(session::Column::RevokedAt.is_null())
            .exec_with_returning(&txn)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|s| s.id)
            .collect();
        // Its consents and authorization codes go with it (foreign keys
        // `ON DELETE CASCADE`).
        oauth_client::Entity::delete_many()
            .filter(oauth_client::Column::Id.eq(id))
            .filter(oauth_client::Column::RealmId.eq(realm_id))
            .exec(&txn)
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(Some(ended))
    }
}
