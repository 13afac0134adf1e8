//! `/api/v1/service-keys`: the realm's HMAC service keys
//! (`service-keys:read:all` to list and read, `service-keys:manage:all` to
//! create, rotate, revoke and delete). Secrets are shown once.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use portcullis_core::access::{ServiceKeysManage, ServiceKeysRead};
use portcullis_core::service_keys::{IssuedKey, NewServiceKey, ServiceKey};
use portcullis_proto::{
    Problem, ServiceKeyCreateRequest, ServiceKeyIssued, ServiceKeyRotateRequest, ServiceKeyView,
};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{Admin, Json, OptionalJson, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/service-keys", get(keys_list).post(key_post));
    r = realm_route(r, "/service-keys/{id}", get(key_get).delete(key_delete));
    r = realm_route(r, "/service-keys/{id}/rotate", post(key_rotate_post));
    realm_route(r, "/service-keys/{id}/revoke", post(key_revoke_post))
}

fn view(k: ServiceKey, now: OffsetDateTime) -> ServiceKeyView {
    ServiceKeyView {
        id: k.id,
        name: k.name.clone(),
        status: k.status(now).to_owned(),
        created_at: k.created_at,
        expires_at: k.expires_at,
        revoked_at: k.revoked_at,
        last_used_at: k.last_used_at,
        previous_secret_until: k.previous_until.filter(|u| *u > now),
    }
}

fn issued(state: &AppState, k: IssuedKey) -> ServiceKeyIssued {
    let now = state.core.clock().now();
    ServiceKeyIssued {
        secret: k.secret.expose_secret().to_owned(),
        key: view(k.key, now),
    }
}

/// The realm's service keys, by name.
#[utoipa::path(get, path = "/api/v1/service-keys", tag = "security",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, without secrets", body = [ServiceKeyView]),
        (status = 403, description = "Without service-keys:read:all", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn keys_list(
    State(state): State<AppState>,
    Admin(admin): Admin<ServiceKeysRead>,
) -> Result<axum::Json<Vec<ServiceKeyView>>, ApiError> {
    let now = state.core.clock().now();
    let keys = state.core.service_keys().list(&admin).await?;
    Ok(axum::Json(keys.into_iter().map(|k| view(k, now)).collect()))
}

/// Create a service key; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/service-keys", tag = "security",
    security(("bearer" = [])),
    request_body = ServiceKeyCreateRequest,
    responses(
        (status = 201, description = "The key and its secret", body = ServiceKeyIssued),
        (status = 403, description = "Without service-keys:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A key of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong field, named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn key_post(
    State(state): State<AppState>,
    Admin(admin): Admin<ServiceKeysManage>,
    Json(body): Json<ServiceKeyCreateRequest>,
) -> Result<(StatusCode, axum::Json<ServiceKeyIssued>), ApiError> {
    let new = NewServiceKey {
        name: body.name,
        expires_at: body.expires_at,
    };
    let key = state.core.service_keys().create(&admin, new).await?;
    Ok((StatusCode::CREATED, axum::Json(issued(&state, key))))
}

/// One service key.
#[utoipa::path(get, path = "/api/v1/service-keys/{id}", tag = "security",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key", body = ServiceKeyView),
        (status = 404, description = "No such key in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn key_get(
    State(state): State<AppState>,
    Admin(admin): Admin<ServiceKeysRead>,
    params: Params,
) -> Result<axum::Json<ServiceKeyView>, ApiError> {
    let id = params.id("id", "service key")?;
    let key = state.core.service_keys().get(&admin, id).await?;
    Ok(axum::Json(view(key, state.core.clock().now())))
}

/// Give a key a new secret; the previous one works for the overlap.
#[utoipa::path(post, path = "/api/v1/service-keys/{id}/rotate", tag = "security",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    request_body = ServiceKeyRotateRequest,
    responses(
        (status = 200, description = "The key and its new secret", body = ServiceKeyIssued),
        (status = 404, description = "No such key in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked or expired", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn key_rotate_post(
    State(state): State<AppState>,
    Admin(admin): Admin<ServiceKeysManage>,
    params: Params,
    OptionalJson(body): OptionalJson<ServiceKeyRotateRequest>,
) -> Result<axum::Json<ServiceKeyIssued>, ApiError> {
    let id = params.id("id", "service key")?;
    let overlap = time::Duration::seconds(i64::from(body.overlap_seconds.unwrap_or(86_400)));
    let key = state
        .core
        .service_keys()
        .rotate(&admin, id, overlap)
        .await?;
    Ok(axum::Json(issued(&state, key)))
}

/// Revoke a key: it signs nothing from now on.
#[utoipa::path(post, path = "/api/v1/service-keys/{id}/revoke", tag = "security",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The revoked key", body = ServiceKeyView),
        (status = 404, description = "No such key in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn key_revoke_post(
    State(state): State<AppState>,
    Admin(admin): Admin<ServiceKeysManage>,
    params: Params,
) -> Result<axum::Json<ServiceKeyView>, ApiError> {
    let id = params.id("id", "service key")?;
    let key = state.core.service_keys().revoke(&admin, id).await?;
    Ok(axum::Json(view(key, state.core.clock().now())))
}

/// Delete a key and its service account.
#[utoipa::path(delete, path = "/api/v1/service-keys/{id}", tag = "security",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such key in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn key_delete(
    State(state): State<AppState>,
    Admin(admin): Admin<ServiceKeysManage>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let id = params.id("id", "service key")?;
    state.core.service_keys().delete(&admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
