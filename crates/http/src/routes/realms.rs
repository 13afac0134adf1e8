//! `/api/v1/realms`: realm administration (administrators of the default realm),
//! and each realm's published keys.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use portcullis_core::Principal;
use portcullis_core::model::{Realm, RealmName, SigningAlgorithm};
use portcullis_core::realms::{FirstAdmin, NewRealm, RealmPatch, ServerAdmin, new_realm_errors};
use portcullis_core::{Error, FieldError};
use portcullis_proto::{
    CreateRealmRequest, CreatedRealmView, FirstAdminView, Problem, RealmView, UpdateRealmRequest,
};
use secrecy::{ExposeSecret, SecretString};

use crate::error::ApiError;
use crate::extract::{Json, Params, RealmCtx, bearer_principal};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/realms", get(realms_list).post(realm_post))
        .route(
            "/api/v1/realms/{realm}",
            get(realm_get).patch(realm_patch).delete(realm_delete),
        )
        .route("/realms/{realm}/.well-known/jwks.json", get(jwks_get))
}

fn realm_view(state: &AppState, r: &Realm) -> RealmView {
    RealmView {
        id: r.id,
        name: r.name.to_string(),
        display_name: r.display_name.clone(),
        enabled: r.enabled,
        signing_alg: r.signing_alg.as_str().to_owned(),
        password_min_length: r.password_min_length,
        time_zone: r.time_zone.as_str().to_owned(),
        roles_claim: r.roles_claim,
        require_verified_email: r.require_verified_email,
        check_email_mx: r.check_email_mx,
        mfa_required_roles: r.mfa_required_roles.clone(),
        issuer: state.core.realms().issuer(r),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn parse_alg(v: Option<&str>) -> Result<Option<SigningAlgorithm>, FieldError> {
    v.map(|a| {
        a.parse()
            .map_err(|_| FieldError::new("signing_alg", "must be EdDSA, ES256 or RS256"))
    })
    .transpose()
}

/// Realm administration authenticates against the default realm.
pub(crate) async fn server_admin(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<ServerAdmin, ApiError> {
    let who = default_realm_caller(state, headers).await?;
    Ok(state.core.realms().require_server_admin(&who).await?)
}

/// A realm administrator who may change realms: one who authenticated
/// recently.
pub(crate) async fn fresh_server_admin(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<ServerAdmin, ApiError> {
    let who = default_realm_caller(state, headers).await?;
    Ok(state.core.realms().require_fresh_server_admin(&who).await?)
}

/// The caller, authenticated against the default realm with the
/// zero-trust checks.
async fn default_realm_caller(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Principal, ApiError> {
    let default = state.core.realms().default_realm().await?;
    let meta = crate::extract::ClientMeta::device(headers, None);
    bearer_principal(state, default, headers, &meta).await
}

/// List realms.
#[utoipa::path(get, path = "/api/v1/realms", tag = "realms", security(("bearer" = [])),
    responses(
        (status = 200, description = "Every realm", body = Vec<RealmView>),
        (status = 403, description = "Not an administrator of the default realm", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realms_list(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::Json<Vec<RealmView>>, ApiError> {
    let admin = server_admin(&state, &headers).await?;
    let realms = state.core.realms().list(&admin).await?;
    Ok(axum::Json(
        realms.iter().map(|r| realm_view(&state, r)).collect(),
    ))
}

/// Create a realm (with its first signing key).
#[utoipa::path(post, path = "/api/v1/realms", tag = "realms", security(("bearer" = [])),
    request_body = CreateRealmRequest,
    responses(
        (status = 201, description = "Created, with its first administrator when asked for", body = CreatedRealmView),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realm_post(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Json(body): Json<CreateRealmRequest>,
) -> Result<(StatusCode, axum::Json<CreatedRealmView>), ApiError> {
    let admin = fresh_server_admin(&state, &headers).await?;
    let mut errors = Vec::new();
    let name = RealmName::parse(&body.name)
        .map_err(|e| errors.push(e))
        .ok();
    let alg = parse_alg(body.signing_alg.as_deref())
        .map_err(|e| errors.push(e))
        .ok();
    let (Some(name), Some(signing_alg)) = (name, alg) else {
        // Name every wrong field, not only these.
        errors.extend(new_realm_errors(
            body.display_name.as_deref(),
            body.password_min_length,
            body.time_zone.as_deref(),
        ));
        return Err(Error::Validation(errors).into());
    };
    let created = state
        .core
        .realms()
        .create(
            &admin,
            NewRealm {
                name,
                display_name: body.display_name,
                signing_alg,
                password_min_length: body.password_min_length,
                time_zone: body.time_zone,
                roles_claim: body.roles_claim,
                require_verified_email: body.require_verified_email,
                check_email_mx: body.check_email_mx,
                admin: body.admin.map(|a| FirstAdmin {
                    email: a.email,
                    password: a.password.map(SecretString::from),
                    name: a.name,
                }),
            },
        )
        .await?;
    let admin = created.admin.map(|(user, generated)| FirstAdminView {
        id: user.user.id,
        email: user.user.email.to_string(),
        generated_password: generated.map(|p| p.expose_secret().to_owned()),
    });
    let view = CreatedRealmView {
        realm: realm_view(&state, &created.realm),
        admin,
    };
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// Get a realm.
#[utoipa::path(get, path = "/api/v1/realms/{realm}", tag = "realms", security(("bearer" = [])),
    params(("realm" = String, Path, description = "Realm name")),
    responses(
        (status = 200, description = "The realm", body = RealmView),
        (status = 404, description = "No such realm", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realm_get(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    params: Params,
) -> Result<axum::Json<RealmView>, ApiError> {
    server_admin(&state, &headers).await?;
    let realm = state.core.realms().by_name(params.text("realm")?).await?;
    Ok(axum::Json(realm_view(&state, &realm)))
}

/// Update a realm (only the fields present change).
#[utoipa::path(patch, path = "/api/v1/realms/{realm}", tag = "realms", security(("bearer" = [])),
    params(("realm" = String, Path, description = "Realm name")),
    request_body = UpdateRealmRequest,
    responses(
        (status = 200, description = "Updated", body = RealmView),
        (status = 404, description = "No such realm", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realm_patch(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    params: Params,
    Json(body): Json<UpdateRealmRequest>,
) -> Result<axum::Json<RealmView>, ApiError> {
    let admin = fresh_server_admin(&state, &headers).await?;
    let signing_alg = parse_alg(body.signing_alg.as_deref()).map_err(|e| {
        // Name the other wrong settings too (the roles are checked only
        // once the rest is right).
        let mut errors = vec![e];
        errors.extend(new_realm_errors(
            body.display_name.as_deref(),
            body.password_min_length,
            body.time_zone.as_deref(),
        ));
        Error::Validation(errors)
    })?;
    let realm = state
        .core
        .realms()
        .update(
            &admin,
            params.text("realm")?,
            RealmPatch {
                display_name: body.display_name,
                enabled: body.enabled,
                signing_alg,
                password_min_length: body.password_min_length,
                time_zone: body.time_zone,
                roles_claim: body.roles_claim,
                require_verified_email: body.require_verified_email,
                check_email_mx: body.check_email_mx,
                mfa_required_roles: body.mfa_required_roles,
            },
        )
        .await?;
    Ok(axum::Json(realm_view(&state, &realm)))
}

/// Delete a realm and everything in it (not the default realm).
#[utoipa::path(delete, path = "/api/v1/realms/{realm}", tag = "realms", security(("bearer" = [])),
    params(("realm" = String, Path, description = "Realm name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such realm", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The default realm cannot be deleted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn realm_delete(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = fresh_server_admin(&state, &headers).await?;
    state
        .core
        .realms()
        .delete(&admin, params.text("realm")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The realm's public signing keys (JWK set).
#[utoipa::path(get, path = "/realms/{realm}/.well-known/jwks.json", tag = "realms",
    params(("realm" = String, Path, description = "Realm name")),
    responses(
        (status = 200, description = "JWK set", body = Object),
        (status = 404, description = "No such realm", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn jwks_get(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let jwks = state.core.realms().jwks(&realm).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(jwks),
    ))
}
