//! HTTP adapters of the OAuth 2.0 endpoints under each realm's issuer
//! (`/realms/{realm}/oauth2/...`). The protocol lives in `portcullis-oidc`;
//! errors here are RFC 6749 JSON (`{error, error_description}`), not problem
//! details, and every answer is `Cache-Control: no-store` (set for every
//! response by the security-headers middleware) and `Pragma: no-cache`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_core::model::Realm;
use portcullis_oidc::{OAuthError, Request};
use serde::Serialize;

use crate::extract::{ClientMeta, RealmCtx};
use crate::state::AppState;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/oauth2/token", post(token_post))
        .route("/realms/{realm}/oauth2/introspect", post(introspect_post))
        .route("/realms/{realm}/oauth2/revoke", post(revoke_post))
        .route(
            "/realms/{realm}/oauth2/userinfo",
            get(userinfo_get).post(userinfo_post),
        )
        .route(
            "/realms/{realm}/.well-known/openid-configuration",
            get(openid_configuration_get),
        )
        .route(
            "/realms/{realm}/.well-known/oauth-authorization-server",
            get(metadata_get),
        )
        // RFC 8414 §3.1: the well-known segment before the issuer's path.
        .route(
            "/.well-known/oauth-authorization-server/realms/{realm}",
            get(metadata_get),
        )
}

fn request<'a>(headers: &'a HeaderMap, body: &'a Bytes) -> Request<'a> {
    Request {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        body,
    }
}

/// The body of a successful answer.
enum Body<T> {
    Json(T),
    /// RFC 7009: an empty 200.
    Empty,
}

fn answer<T: Serialize>(result: Result<Body<T>, OAuthError>, realm: &str) -> Response {
    let mut res = match result {
        Ok(Body::Json(body)) => (StatusCode::OK, axum::Json(body)).into_response(),
        Ok(Body::Empty) => StatusCode::OK.into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            let challenge = e.basic_challenge;
            let mut res = (status, axum::Json(e)).into_response();
            if challenge && let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            res
        }
    };
    // `Cache-Control: no-store` comes from the security-headers middleware.
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The token endpoint (RFC 6749 §3.2).
pub(crate) async fn token_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result =
        portcullis_oidc::token::token(&s.core, &realm, request(&headers, &body), &meta).await;
    answer(result.map(Body::Json), realm.name.as_str())
}

/// Token introspection (RFC 7662).
pub(crate) async fn introspect_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result =
        portcullis_oidc::introspect::introspect(&s.core, &realm, request(&headers, &body)).await;
    answer(result.map(Body::Json), realm.name.as_str())
}

/// Token revocation (RFC 7009).
pub(crate) async fn revoke_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = portcullis_oidc::revoke::revoke(&s.core, &realm, request(&headers, &body)).await;
    answer(result.map(|()| Body::<()>::Empty), realm.name.as_str())
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414).
pub(crate) async fn metadata_get(State(s): State<AppState>, RealmCtx(realm): RealmCtx) -> Response {
    let issuer = s.core.realms().issuer(&realm);
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(portcullis_oidc::metadata::authorization_server(&issuer)),
    )
        .into_response()
}

/// The OpenID Provider configuration (OpenID Connect Discovery 1.0).
pub(crate) async fn openid_configuration_get(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
) -> Response {
    let issuer = s.core.realms().issuer(&realm);
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(portcullis_oidc::metadata::openid_configuration(&issuer)),
    )
        .into_response()
}

async fn userinfo(
    s: &AppState,
    realm: &Arc<Realm>,
    headers: &HeaderMap,
    body: &Bytes,
    post: bool,
) -> Response {
    let result =
        portcullis_oidc::userinfo::userinfo(&s.core, realm, request(headers, body), post).await;
    match result {
        Ok(claims) => axum::Json(claims).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::UNAUTHORIZED);
            let mut res = status.into_response();
            if let Ok(v) = HeaderValue::from_str(&e.challenge(realm.name.as_str())) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            res
        }
    }
}

/// UserInfo (OpenID Connect Core §5.3), GET.
pub(crate) async fn userinfo_get(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
) -> Response {
    userinfo(&s, &realm, &headers, &Bytes::new(), false).await
}

/// UserInfo, POST (the token in the header or the form body).
pub(crate) async fn userinfo_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    userinfo(&s, &realm, &headers, &body, true).await
}
