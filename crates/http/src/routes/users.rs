//! `/api/v1/identity/users`: user administration for realm administrators.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use portcullis_core::users::{NewUser, UserUpdate};
use portcullis_proto::{CreateUserRequest, Problem, UpdateUserRequest, UserList, UserView};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::IntoParams;

use super::realm_route;
use super::respond::user_view;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Json, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/identity/users", get(users_list).post(user_post));
    r = realm_route(
        r,
        "/identity/users/{id}",
        get(user_get).put(user_put).delete(user_delete),
    );
    r = realm_route(r, "/identity/users/{id}/deactivate", post(user_deactivate));
    r = realm_route(r, "/identity/users/{id}/reactivate", post(user_reactivate));
    r
}

/// Query of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Page number, from 1 (default 1).
    page: Option<u64>,
    /// Page size, 1-200 (default 50).
    per_page: Option<u64>,
    /// Only users whose email starts with this (case-insensitive).
    email: Option<String>,
}

async fn admin(
    state: &AppState,
    who: &portcullis_core::access::Requester,
) -> Result<portcullis_core::users::RealmAdmin, ApiError> {
    Ok(state.core.users().require_admin(who).await?)
}

/// An administrator who may write: one who authenticated recently.
async fn fresh_admin(
    state: &AppState,
    who: &portcullis_core::access::Requester,
) -> Result<portcullis_core::users::RealmAdmin, ApiError> {
    Ok(state.core.users().require_fresh_admin(who).await?)
}

/// List users (paginated, with an email prefix filter).
#[utoipa::path(get, path = "/api/v1/identity/users", tag = "identity",
    security(("bearer" = [])), params(ListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        (status = 403, description = "Not a realm administrator", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The query string does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A page or page size out of range", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn users_list(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<UserList>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", e.body_text()))?;
    let admin = admin(&state, &who).await?;
    let page = q.page.unwrap_or(1);
    let per_page = q.per_page.unwrap_or(50);
    let result = state
        .core
        .users()
        .list(&admin, q.email.as_deref(), page, per_page)
        .await?;
    Ok(axum::Json(UserList {
        items: result.items.iter().map(user_view).collect(),
        total: result.total,
        page,
        per_page,
    }))
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/identity/users", tag = "identity",
    security(("bearer" = [])), request_body = CreateUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 403, description = "Not a realm administrator", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    Json(body): Json<CreateUserRequest>,
) -> Result<(StatusCode, axum::Json<UserView>), ApiError> {
    let admin = fresh_admin(&state, &who).await?;
    let user = state
        .core
        .users()
        .create(
            &admin,
            NewUser {
                email: body.email,
                password: body.password.map(SecretString::from),
                name: body.name,
                admin: body.admin,
                attributes: body.attributes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(user_view(&user))))
}

/// Get a user.
#[utoipa::path(get, path = "/api/v1/identity/users/{id}", tag = "identity",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "No such user in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = admin(&state, &who).await?;
    let id = params.id("id", "user")?;
    let user = state.core.users().get(&admin, id).await?;
    Ok(axum::Json(user_view(&user)))
}

/// Replace a user's editable fields (email, name, admin).
#[utoipa::path(put, path = "/api/v1/identity/users/{id}", tag = "identity",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Updated", body = UserView),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_put(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<UpdateUserRequest>,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = fresh_admin(&state, &who).await?;
    let id = params.id("id", "user")?;
    let user = state
        .core
        .users()
        .update(
            &admin,
            id,
            UserUpdate {
                email: body.email,
                name: body.name,
                admin: body.admin,
                attributes: body.attributes,
            },
        )
        .await?;
    Ok(axum::Json(user_view(&user)))
}

/// Delete a user and end their sessions.
#[utoipa::path(delete, path = "/api/v1/identity/users/{id}", tag = "identity",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = fresh_admin(&state, &who).await?;
    let id = params.id("id", "user")?;
    state.core.users().delete(&admin, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivate a user: login refused, every session ended at once.
#[utoipa::path(post, path = "/api/v1/identity/users/{id}/deactivate", tag = "identity",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Deactivated", body = UserView),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_deactivate(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = fresh_admin(&state, &who).await?;
    let id = params.id("id", "user")?;
    let user = state.core.users().deactivate(&admin, id).await?;
    Ok(axum::Json(user_view(&user)))
}

/// Reactivate a user.
#[utoipa::path(post, path = "/api/v1/identity/users/{id}/reactivate", tag = "identity",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "Reactivated", body = UserView),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_reactivate(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<UserView>, ApiError> {
    let admin = fresh_admin(&state, &who).await?;
    let id = params.id("id", "user")?;
    let user = state.core.users().reactivate(&admin, id).await?;
    Ok(axum::Json(user_view(&user)))
}
