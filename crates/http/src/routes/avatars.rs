//! Avatars: uploads by administrators (`/api/v1/identity/users/{id}/avatar`)
//! and users (`/api/v1/auth/me/avatar`), raw image bodies of at most 2 MiB
//! (PNG, JPEG or WebP, sniffed from the bytes, decoded and re-encoded by
//! core), and the public `GET /realms/{realm}/avatars/{user_id}`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_core::profile::{AvatarError, AvatarInfo, AvatarLimits, UploadError};
use portcullis_proto::{AvatarView, Problem};

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Authenticated, Params, RealmCtx};
use crate::state::AppState;

/// How long browsers and proxies may use an avatar before revalidating it
/// (with its ETag).
const CACHE_CONTROL: &str = "public, max-age=300, must-revalidate";

pub(crate) fn router() -> Router<AppState> {
    let limit = DefaultBodyLimit::max(AvatarLimits::default().max_bytes);
    let mut r = Router::new();
    r = realm_route(
        r,
        "/identity/users/{id}/avatar",
        post(user_avatar_post)
            .delete(user_avatar_delete)
            .layer(limit),
    );
    r = realm_route(
        r,
        "/auth/me/avatar",
        post(me_avatar_post).delete(me_avatar_delete).layer(limit),
    );
    r.route("/realms/{realm}/avatars/{user_id}", get(avatar_get))
}

/// The media types an upload may declare (what it is, is sniffed).
const ACCEPTED: [&str; 4] = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "application/octet-stream",
];

fn upload_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !declared.as_deref().is_some_and(|d| ACCEPTED.contains(&d)) {
        metrics::counter!("portcullis_avatar_uploads_total", "outcome" => "unsupported_type")
            .increment(1);
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send the image as the raw body with Content-Type image/png, image/jpeg or image/webp",
        ));
    }
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            metrics::counter!("portcullis_avatar_uploads_total", "outcome" => "too_large")
                .increment(1);
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                format!(
                    "the image is too large: at most {} bytes are accepted",
                    AvatarLimits::default().max_bytes
                ),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad-request", e.body_text())
        }
    })
}

fn upload_error(e: UploadError) -> ApiError {
    let image = match e {
        UploadError::Other(e) => return e.into(),
        UploadError::Image(image) => image,
    };
    let (status, kind) = match image {
        AvatarError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
        AvatarError::UnsupportedType { .. } => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
        }
        AvatarError::DimensionsTooLarge { .. } => (StatusCode::BAD_REQUEST, "image-too-large"),
        AvatarError::Corrupt => (StatusCode::BAD_REQUEST, "bad-image"),
        AvatarError::Internal => {
            return portcullis_core::Error::Internal("avatar").into();
        }
    };
    ApiError::new(status, kind, image.to_string())
}

fn avatar_view(a: AvatarInfo) -> (StatusCode, axum::Json<AvatarView>) {
    (
        StatusCode::CREATED,
        axum::Json(AvatarView {
            url: a.url,
            etag: a.etag,
            width: a.width,
            height: a.height,
            bytes: a.bytes,
        }),
    )
}

/// Upload a user's avatar (raw body: PNG, JPEG or WebP, at most 2 MiB and
/// 4096 x 4096 pixels); stored as a re-encoded PNG.
#[utoipa::path(post, path = "/api/v1/identity/users/{id}/avatar", tag = "profiles",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses(
        (status = 201, description = "Stored", body = AvatarView),
        (status = 400, description = "Damaged, or more pixels than accepted", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in this realm", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 2 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PNG, JPEG or WebP image", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many uploads being decoded; retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_avatar_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, axum::Json<AvatarView>), ApiError> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let id = params.id("id", "user")?;
    let body = upload_body(&headers, body)?;
    let info = state
        .core
        .profiles()
        .upload_avatar_as_admin(&admin, id, body)
        .await
        .map_err(upload_error)?;
    Ok(avatar_view(info))
}

/// Remove a user's avatar.
#[utoipa::path(delete, path = "/api/v1/identity/users/{id}/avatar", tag = "profiles",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The caller lacks users:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no avatar", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn user_avatar_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = state.core.users().require_fresh_admin(&who).await?;
    let id = params.id("id", "user")?;
    state
        .core
        .profiles()
        .delete_avatar_as_admin(&admin, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload the caller's avatar (as for administrators).
#[utoipa::path(post, path = "/api/v1/auth/me/avatar", tag = "profiles",
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "image/png"),
    responses(
        (status = 201, description = "Stored", body = AvatarView),
        (status = 400, description = "Damaged, or more pixels than accepted", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 2 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a PNG, JPEG or WebP image", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many uploads being decoded; retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_avatar_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, axum::Json<AvatarView>), ApiError> {
    let body = upload_body(&headers, body)?;
    let info = state
        .core
        .profiles()
        .upload_own_avatar(&who, body)
        .await
        .map_err(upload_error)?;
    Ok(avatar_view(info))
}

/// Remove the caller's avatar.
#[utoipa::path(delete, path = "/api/v1/auth/me/avatar", tag = "profiles",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No avatar", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_avatar_delete(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<StatusCode, ApiError> {
    state.core.profiles().delete_own_avatar(&who).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's avatar: a PNG, public, cacheable, revalidated by its ETag.
#[utoipa::path(get, path = "/realms/{realm}/avatars/{user_id}", tag = "profiles",
    params(("realm" = String, Path, description = "Realm name"),
           ("user_id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The avatar", content_type = "image/png"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "No such realm, user or avatar", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn avatar_get(
    State(state): State<AppState>,
    RealmCtx(realm): RealmCtx,
    params: Params,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let user_id = params.id("user_id", "avatar")?;
    let avatar = state
        .core
        .profiles()
        .public_avatar(&realm, user_id)
        .await?
        .ok_or(portcullis_core::Error::NotFound("avatar"))?;
    let etag = avatar.etag();
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*");
    let common = [
        (header::ETAG, header_value(&etag)),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("inline; filename=\"avatar.png\""),
        ),
    ];
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((
        StatusCode::OK,
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/png"))],
        avatar.png,
    )
        .into_response())
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}
