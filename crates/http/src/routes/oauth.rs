//! HTTP adapters of the OAuth 2.0 endpoints under each realm's issuer
//! (`/realms/{realm}/oauth2/...`). The protocol lives in `portcullis-oidc`;
//! errors here are RFC 6749 JSON (`{error, error_description}`), not problem
//! details, and every answer is `Cache-Control: no-store` (set for every
//! response by the security-headers middleware) and `Pragma: no-cache`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
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
            get(userinfo_endpoint).post(userinfo_endpoint),
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
            get(metadata_well_known_first_get),
        )
}

/// An OAuth endpoint's request: its head as it came, rather than copies of
/// its headers made by extractors (what only some grants need, such as the
/// client's address for a refresh, is read only then), and its body, whole.
pub(crate) struct OAuthRequest {
    parts: Parts,
    body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for OAuthRequest {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        match axum::body::to_bytes(body, crate::MAX_BODY_BYTES).await {
            Ok(body) => Ok(Self { parts, body }),
            Err(_) => Err(answer::<()>(
                Err(OAuthError::invalid_request(
                    "the body is too large or could not be read",
                )),
                "",
            )),
        }
    }
}

impl OAuthRequest {
    /// The parts the protocol reads.
    fn request(&self) -> Request<'_> {
        let header = |name| {
            self.parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        Request {
            authorization: header(header::AUTHORIZATION),
            content_type: header(header::CONTENT_TYPE),
            body: &self.body,
        }
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
#[utoipa::path(post, path = "/realms/{realm}/oauth2/token", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    request_body(content = super::oauth_doc::TokenForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "Tokens", body = super::oauth_doc::TokenAnswer),
        (status = 400, description = "A wrong request or grant (RFC 6749 §5.2)", body = super::oauth_doc::OAuthError),
        (status = 401, description = "The client did not authenticate", body = super::oauth_doc::OAuthError),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn token_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    req: OAuthRequest,
) -> Response {
    let meta = || ClientMeta::of(&req.parts);
    let result = portcullis_oidc::token::token(&s.core, &realm, req.request(), meta).await;
    answer(result.map(Body::Json), realm.name.as_str())
}

/// Token introspection (RFC 7662).
#[utoipa::path(post, path = "/realms/{realm}/oauth2/introspect", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    request_body(content = super::oauth_doc::TokenRefForm, content_type = "application/x-www-form-urlencoded"),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "`active`, and the token's claims when it is", body = Object),
        (status = 400, description = "A wrong request", body = super::oauth_doc::OAuthError),
        (status = 401, description = "The caller did not authenticate", body = super::oauth_doc::OAuthError),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn introspect_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    req: OAuthRequest,
) -> Response {
    let signed = req
        .parts
        .extensions
        .get::<crate::edge::Signed>()
        .is_some_and(|p| p.0.realm.id == realm.id);
    let result = if signed {
        portcullis_oidc::introspect::introspect_signed(&s.core, &realm, req.request()).await
    } else {
        portcullis_oidc::introspect::introspect(&s.core, &realm, req.request()).await
    };
    answer(result.map(Body::Json), realm.name.as_str())
}

/// Token revocation (RFC 7009).
#[utoipa::path(post, path = "/realms/{realm}/oauth2/revoke", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    request_body(content = super::oauth_doc::TokenRefForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("basic" = [])),
    responses(
        (status = 200, description = "Revoked, or unknown (RFC 7009 §2.2)"),
        (status = 400, description = "A wrong request", body = super::oauth_doc::OAuthError),
        (status = 401, description = "The client did not authenticate", body = super::oauth_doc::OAuthError),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn revoke_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    req: OAuthRequest,
) -> Response {
    let result = portcullis_oidc::revoke::revoke(&s.core, &realm, req.request()).await;
    answer(result.map(|()| Body::<()>::Empty), realm.name.as_str())
}

/// OAuth 2.0 Authorization Server Metadata (RFC 8414).
#[utoipa::path(get, path = "/realms/{realm}/.well-known/oauth-authorization-server", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    responses(
        (status = 200, description = "The metadata", body = Object),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn metadata_get(State(s): State<AppState>, RealmCtx(realm): RealmCtx) -> Response {
    let issuer = s.core.realms().issuer(&realm);
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(portcullis_oidc::metadata::authorization_server(&issuer)),
    )
        .into_response()
}

/// The same metadata where RFC 8414 §3.1 looks for it: the well-known
/// segment before the issuer's path.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server/realms/{realm}", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    responses(
        (status = 200, description = "The metadata", body = Object),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn metadata_well_known_first_get(
    state: State<AppState>,
    realm: RealmCtx,
) -> Response {
    metadata_get(state, realm).await
}

/// The OpenID Provider configuration (OpenID Connect Discovery 1.0).
#[utoipa::path(get, path = "/realms/{realm}/.well-known/openid-configuration", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    responses(
        (status = 200, description = "The configuration", body = Object),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
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

/// UserInfo (OpenID Connect Core §5.3): the token in the header, or, with
/// POST, in the form body.
#[utoipa::path(method(get, post), path = "/realms/{realm}/oauth2/userinfo", tag = "oauth",
    params(("realm" = String, Path, description = "Realm name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The claims the token's scopes allow", body = Object),
        (status = 400, description = "`invalid_request` (`WWW-Authenticate` says why): an Authorization header that is not Bearer, a token sent twice, a POST body that is not a form"),
        (status = 401, description = "No valid access token (`WWW-Authenticate` says why)"),
        (status = 403, description = "`insufficient_scope` (`WWW-Authenticate` says why): a token not issued to a client for a user, or without the openid scope"),
        (status = 404, description = "No such realm", body = portcullis_proto::Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn userinfo_endpoint(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    req: OAuthRequest,
) -> Response {
    let post = req.parts.method == axum::http::Method::POST;
    let result = portcullis_oidc::userinfo::userinfo(&s.core, &realm, req.request(), post).await;
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
