//! Extractors: JSON bodies with problem+json rejections, the realm a route
//! addresses, the bearer principal, the caller's rights, path ids and
//! request metadata. Route modules share these; none borrows from another.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::header;
use axum::http::request::Parts;
use portcullis_core::Principal;
use portcullis_core::access::{Allowed, Requester, Right};
use portcullis_core::accounts::RequestMeta;
use portcullis_core::authz::Caller;
use portcullis_core::model::Realm;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

pub use crate::body::{Json, OptionalJson};

/// The cookie that carries a session's canary (see `portcullis_core::risk`).
pub const CANARY_COOKIE: &str = "portcullis_canary";

/// Path parameters by name (routes are mounted under more than one prefix, so
/// handlers read parameters by name rather than by position).
#[derive(Debug)]
pub struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A path parameter that must be a UUID naming a `what`; anything else is a 404.
    pub fn id(&self, name: &str, what: &'static str) -> Result<Uuid, ApiError> {
        self.get(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| ApiError::from(portcullis_core::Error::NotFound(what)))
    }

    /// A path parameter as text.
    pub fn text(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::from(portcullis_core::Error::NotFound("route")))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::from(portcullis_core::Error::NotFound("route")))?;
        Ok(Params(
            raw.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        ))
    }
}

/// The realm a request addresses: the `{realm}` path parameter, or the default
/// realm on the short paths.
#[derive(Debug, Clone)]
pub struct RealmCtx(pub Arc<Realm>);

impl FromRequestParts<AppState> for RealmCtx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(r) = parts.extensions.get::<RealmCtx>() {
            return Ok(r.clone());
        }
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::from(portcullis_core::Error::NotFound("route")))?;
        let realms = state.core.realms();
        let realm = match params.iter().find(|(name, _)| *name == "realm") {
            Some((_, name)) => realms.by_name(name).await?,
            None => realms.default_realm().await?,
        };
        let ctx = RealmCtx(realm);
        parts.extensions.insert(ctx.clone());
        Ok(ctx)
    }
}

/// The caller, authenticated by a bearer access token of the addressed
/// realm, after the zero-trust checks of its session and device (see
/// `portcullis_core::zero_trust`).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let RealmCtx(realm) = RealmCtx::from_request_parts(parts, state).await?;
        if let Some(crate::edge::Signed(who)) = parts.extensions.get()
            && who.realm.id == realm.id
        {
            // Verified and counted at the edge.
            return Ok(Authenticated(who.clone()));
        }
        // Zero trust: the token, its session and the request's device are
        // checked on every request (in memory).
        let meta = ClientMeta::device_of(parts);
        let principal = bearer_principal(state, realm, &parts.headers, &meta).await?;
        crate::edge::admit_principal(state, &parts.extensions, &principal).await?;
        Ok(Authenticated(principal))
    }
}

/// The caller a bearer access token of `realm` names. A 401 challenges as
/// RFC 6750 section 3 says: `Bearer realm="..."` when no token came, and with
/// `error="invalid_token"` when the token presented is bad, expired or revoked.
pub(crate) async fn bearer_principal(
    state: &AppState,
    realm: Arc<Realm>,
    headers: &axum::http::HeaderMap,
    meta: &RequestMeta,
) -> Result<Principal, ApiError> {
    let name = realm.name.to_string();
    let token = bearer_token(headers).map_err(|e| e.bearer_challenge(&name, false))?;
    state
        .core
        .accounts()
        .authenticate_request(realm, token, meta)
        .await
        .map_err(|e| ApiError::from(e).bearer_challenge(&name, true))
}

/// The authenticated caller with the request's id and address, for the
/// services that record who did what.
#[derive(Debug, Clone)]
pub struct Ctx(pub Requester);

impl Ctx {
    /// The caller, borrowed, as core's services take it.
    pub fn caller(&self) -> Caller<'_> {
        self.0.caller()
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(who) = Authenticated::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ip = client_ip(parts);
        Ok(Ctx(Requester::new(who, request_id, ip)))
    }
}

/// The caller of an administrative route: a token of the addressed realm
/// ([`Ctx`]), or a token of the default realm on another realm's routes,
/// whose holder then acts there on behalf of the server. Whether that
/// holder may (it must hold `realms:manage:all` in the default realm) is
/// decided with the right, by core's `Access`; the audit records of what it
/// does name its own realm beside it.
#[derive(Debug, Clone)]
pub struct AdminCtx(pub Requester);

impl FromRequestParts<AppState> for AdminCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let RealmCtx(realm) = RealmCtx::from_request_parts(parts, state).await?;
        let realms = state.core.realms();
        let default = realms.default_realm().await?;
        let foreign = realm.id != default.id
            && bearer_token(&parts.headers)
                .ok()
                .and_then(unverified_issuer)
                .is_some_and(|iss| iss == realms.issuer(&default));
        if !foreign {
            let Ctx(requester) = Ctx::from_request_parts(parts, state).await?;
            return Ok(AdminCtx(requester));
        }
        let meta = ClientMeta::device_of(parts);
        let who = bearer_principal(state, default, &parts.headers, &meta).await?;
        crate::edge::admit_principal(state, &parts.extensions, &who).await?;
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(AdminCtx(Requester::across(
            who,
            realm,
            request_id,
            client_ip(parts),
        )))
    }
}

/// The `iss` claim of a compact JWS, read without verifying anything: only
/// to choose the realm whose keys then verify the token. `None` for
/// anything that is not a JWS of a reasonable size with a string `iss`.
fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: String,
    }
    if token.len() > 16 * 1024 {
        return None;
    }
    let mut segments = token.split('.');
    let (_, Some(payload), Some(_), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok().map(|c| c.iss)
}

/// The authenticated caller holding the right `R` in its realm (for
/// example `Admin<RolesManage>`), decided by core's
/// [`portcullis_core::access::Access`] before the handler runs: 401 without
/// a valid token, 403 without the right. The handler passes the
/// [`Allowed`] value to the administrative method, which cannot be called
/// without it.
#[derive(Debug)]
pub struct Admin<R: Right>(pub Allowed<R>);

impl<R: Right> FromRequestParts<AppState> for Admin<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AdminCtx(requester) = AdminCtx::from_request_parts(parts, state).await?;
        Ok(Admin(state.core.access().allow::<R>(requester).await?))
    }
}

/// The token of an `Authorization: Bearer` header, or a 401 problem.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::from(portcullis_core::Error::NotAuthenticated(
                "a bearer access token is required",
            ))
        })
}

/// The client's IP: as the edge resolved it (through trusted proxies), or
/// as the socket saw it.
fn client_ip(parts: &Parts) -> Option<String> {
    if let Some(crate::edge::ClientAddr(ip)) = parts.extensions.get() {
        return Some(ip.to_string());
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
}

/// Client IP and User-Agent.
#[derive(Debug, Clone)]
pub struct ClientMeta(pub RequestMeta);

impl ClientMeta {
    /// What the zero-trust check reads of a request's head: its device
    /// (User-Agent, Accept-Language) and address, without the cookies.
    pub(crate) fn device_of(parts: &Parts) -> RequestMeta {
        Self::device(&parts.headers, client_ip(parts))
    }

    /// The device headers (User-Agent, and Accept-Language cut to 256
    /// characters), with the address when known.
    pub(crate) fn device(headers: &axum::http::HeaderMap, ip: Option<String>) -> RequestMeta {
        let header = |name| {
            headers
                .get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
        };
        RequestMeta {
            ip,
            user_agent: header(header::USER_AGENT).map(str::to_owned),
            accept_language: header(header::ACCEPT_LANGUAGE).map(|v| v.chars().take(256).collect()),
            canary: None,
        }
    }

    /// What a request's head tells of its client.
    pub(crate) fn of(parts: &Parts) -> RequestMeta {
        let canary = axum_extra::extract::CookieJar::from_headers(&parts.headers)
            .get(CANARY_COOKIE)
            .map(|c| c.value().to_owned());
        RequestMeta {
            canary,
            ..Self::device_of(parts)
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientMeta(Self::of(parts)))
    }
}
