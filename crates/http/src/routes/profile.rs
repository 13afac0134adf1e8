//! Profiles: the realm's profile schema (`/api/v1/identity/profile-schema`),
//! a user's profile for administrators (`/api/v1/identity/users/{id}/profile`,
//! seed 000) and for the user (`/api/v1/auth/me/profile`).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use portcullis_core::profile::{Document, ProfileRead, ProfileSchema};
use portcullis_proto::{Problem, ProfileSchemaChange, ProfileView};

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Authenticated, Json, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(
        r,
        "/identity/profile-schema",
        get(profile_schema_get).put(profile_schema_put),
    );
    r = realm_route(
        r,
        "/identity/users/{id}/profile",
        get(user_profile_get).put(user_profile_put),
    );
    r = realm_route(
        r,
        "/auth/me/profile",
        get(me_profile_get).patch(me_profile_patch),
    );
    r
}

pub(crate) fn profile_view(p: ProfileRead) -> ProfileView {
    ProfileView {
        user_id: p.user_id,
        schema_version: p.schema_version,
        profile: p.profile,
        archived: p.archived,
        updated_at: p.updated_at,
        verification: p
            .verification
            .map(|v| portcullis_proto::ProfileVerification {
                identity_verification: v.identity.as_str().to_owned(),
                phone_number_verified: v.phone_number_verified,
            }),
    }
}

/// The realm's profile schema (version 0, the built-in fields, when it
/// never set one).
#[utoipa::path(get, path = "/api/v1/identity/profile-schema", tag = "profiles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The schema in force", body = Object),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn profile_schema_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
) -> Result<axum::Json<ProfileSchema>, ApiError> {
    let admin = state.core.users().require_admin(&who).await?;
    Ok(axum::Json(state.core.profiles().schema(&admin).await?))
}

/// Replace the realm's profile schema; every stored profile is migrated
/// to it (values it refuses are archived, never lost).
#[utoipa::path(put, path = "/api/v1/identity/profile-schema", tag = "profiles",
    security(("bearer" = [])), request_body = Object,
    responses(
        (status = 200, description = "Stored, profiles migrated", body = ProfileSchemaChange),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The schema changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid schema (every problem named by its path) or a version not greater than the current one", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn profile_schema_put(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    Json(schema): Json<ProfileSchema>,
) -> Result<axum::Json<ProfileSchemaChange>, ApiError> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let change = state.core.profiles().put_schema(&admin, schema).await?;
    Ok(axum::Json(ProfileSchemaChange {
        schema: serde_json::to_value(&change.schema).unwrap_or_default(),
        migrated: change.migrated,
        deferred: change.deferred,
    }))
}

/// A user's profile, as administrators read it.
#[utoipa::path(get, path = "/api/v1/identity/users/{id}/profile", tag = "profiles",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The profile", body = ProfileView),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this realm", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_profile_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<ProfileView>, ApiError> {
    let admin = state.core.users().require_admin(&who).await?;
    let id = params.id("id", "user")?;
    let read = state.core.profiles().get_as_admin(&admin, id).await?;
    Ok(axum::Json(profile_view(read)))
}

/// Replace the fields administrators edit in a user's profile.
#[utoipa::path(put, path = "/api/v1/identity/users/{id}/profile", tag = "profiles",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = Object,
    responses(
        (status = 200, description = "The profile after the change", body = ProfileView),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The profile changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong, unknown or missing field named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_profile_put(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<Document>,
) -> Result<axum::Json<ProfileView>, ApiError> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let id = params.id("id", "user")?;
    let read = state
        .core
        .profiles()
        .replace_as_admin(&admin, id, body)
        .await?;
    Ok(axum::Json(profile_view(read)))
}

/// The caller's own profile.
#[utoipa::path(get, path = "/api/v1/auth/me/profile", tag = "profiles",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = ProfileView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_profile_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<ProfileView>, ApiError> {
    let read = state.core.profiles().get_own(&who).await?;
    Ok(axum::Json(profile_view(read)))
}

/// Change fields of the caller's own profile (a JSON merge patch: `null`
/// removes a field).
#[utoipa::path(patch, path = "/api/v1/auth/me/profile", tag = "profiles",
    security(("bearer" = [])), request_body = Object,
    responses(
        (status = 200, description = "The profile after the change", body = ProfileView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The profile changed meanwhile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong, unknown or read-only field named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_profile_patch(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<Document>,
) -> Result<axum::Json<ProfileView>, ApiError> {
    let read = state.core.profiles().merge_own(&who, body).await?;
    Ok(axum::Json(profile_view(read)))
}
