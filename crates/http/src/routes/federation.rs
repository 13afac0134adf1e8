//! Federation over the REST API: the identity-provider registry
//! (`/api/v1/identity-providers`), users' links to providers (their own at
//! `/api/v1/auth/social-accounts`, anyone's for administrators), and the
//! API client's side of a social sign-in (`GET /api/v1/auth/social/{alias}`
//! to start, `POST /api/v1/auth/social/exchange` for the tokens, `POST
//! /api/v1/auth/social/{alias}/link` to link another provider). The
//! callback is served by the pages (`pages::social`). Rules live in
//! `portcullis_core::federation`; the upstream protocol in
//! `portcullis_oidc::upstream`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{delete, get, post};
use portcullis_core::access::{ProvidersManage, ProvidersRead};
use portcullis_core::accounts::LoginOutcome;
use portcullis_core::federation::{
    IdentityProvider, LinkedAccount, NewProvider, ProviderConfig, ProviderKind, UpstreamAuth,
};
use portcullis_core::model::Realm;
use portcullis_core::{Error, FieldError};
use portcullis_oidc::upstream::flow::{self, BINDING_COOKIE};
use portcullis_proto::*;
use secrecy::SecretString;

use super::realm_route;
use super::respond::{canary_headers, mfa_required_response, token_response};
use crate::error::ApiError;
use crate::extract::{Admin, Authenticated, ClientMeta, Json, Params, RealmCtx};
use crate::state::AppState;

/// The routes of this module.
pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(
        r,
        "/identity-providers",
        get(providers_list).post(provider_post),
    );
    r = realm_route(
        r,
        "/identity-providers/{alias}",
        get(provider_get).put(provider_put).delete(provider_delete),
    );
    r = realm_route(
        r,
        "/identity/users/{id}/social-accounts",
        get(user_links_get),
    );
    r = realm_route(
        r,
        "/identity/users/{id}/social-accounts/{link}",
        delete(user_link_delete),
    );
    r = realm_route(r, "/auth/social-accounts", get(my_links_get));
    r = realm_route(r, "/auth/social-accounts/{id}", delete(my_link_delete));
    r = realm_route(r, "/auth/social/exchange", post(social_exchange_post));
    r = realm_route(r, "/auth/social/{alias}", get(social_start));
    realm_route(r, "/auth/social/{alias}/link", post(social_link_post))
}

type Answer<T> = Result<axum::Json<T>, ApiError>;

/// The callback URL of a provider: the redirect URI to register upstream.
pub(crate) fn callback_of(s: &AppState, realm: &Realm, alias: &str) -> String {
    let settings = s.core.settings();
    flow::callback_url(
        &settings.public_url,
        realm,
        settings.default_realm.as_str(),
        alias,
    )
}

/// The `Set-Cookie` of the binding cookie: `Path=/` (the callback may be
/// under `/api/v1`, the confirmation page under `/realms`), ten minutes,
/// `HttpOnly`; `SameSite=None; Secure` when the callback comes as a
/// cross-site POST (Apple), else `Lax`.
fn binding_cookie(s: &AppState, value: &str, form_post: bool) -> String {
    use axum_extra::extract::cookie::{Cookie, SameSite};
    let secure = form_post || s.core.settings().public_url.starts_with("https://");
    let same_site = if form_post {
        SameSite::None
    } else {
        SameSite::Lax
    };
    Cookie::build((BINDING_COOKIE, value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .secure(secure)
        .max_age(time::Duration::minutes(10))
        .build()
        .encoded()
        .to_string()
}

/// Starts an upstream sign-in in the browser of `headers` (its binding
/// cookie, or a new one): the provider's authorization URL and the
/// `Set-Cookie` of the binding cookie.
pub(crate) async fn go_upstream(
    s: &AppState,
    realm: &Realm,
    provider: &IdentityProvider,
    next: portcullis_core::federation::Continuation,
    headers: &HeaderMap,
) -> Result<(String, String), flow::Failure> {
    let binding = crate::routes::pages::cookie_of(headers, BINDING_COOKIE);
    let callback = callback_of(s, realm, &provider.alias);
    let started = flow::start(
        &s.core,
        &s.upstream,
        provider,
        next,
        binding.as_deref(),
        &callback,
    )
    .await?;
    let cookie = binding_cookie(
        s,
        secrecy::ExposeSecret::expose_secret(&started.binding),
        started.form_post,
    );
    Ok((started.location, cookie))
}

fn provider_view(s: &AppState, realm: &Realm, p: &IdentityProvider) -> IdentityProviderView {
    IdentityProviderView {
        id: p.id,
        alias: p.alias.clone(),
        kind: p.kind.as_str().to_owned(),
        display_name: p.label().to_owned(),
        enabled: p.enabled,
        has_secret: p.secret.is_some(),
        redirect_uri: callback_of(s, realm, &p.alias),
        config: p.config.clone(),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

fn link_view(l: &LinkedAccount) -> SocialAccountView {
    SocialAccountView {
        id: l.account.id,
        provider: l.alias.clone(),
        kind: l.kind.as_str().to_owned(),
        subject: l.account.subject.clone(),
        email: l.account.email.clone(),
        name: l.account.name.clone(),
        created_at: l.account.created_at,
        last_login_at: l.account.last_login_at,
    }
}

/// The request as core's input; a bad `kind` is named with the other
/// fields core checks.
fn new_provider(body: IdentityProviderRequest, alias: String) -> Result<NewProvider, ApiError> {
    let Some(kind) = ProviderKind::parse(&body.kind) else {
        return Err(Error::Validation(vec![FieldError::new(
            "kind",
            "must be one of: oidc, oauth2, google, github, facebook, microsoft, apple",
        )])
        .into());
    };
    let client_auth = body.client_auth.unwrap_or(if kind == ProviderKind::Apple {
        UpstreamAuth::SignedSecret
    } else {
        UpstreamAuth::ClientSecretBasic
    });
    Ok(NewProvider {
        alias,
        kind,
        display_name: body.display_name,
        enabled: body.enabled.unwrap_or(true),
        client_secret: body.client_secret.map(SecretString::from),
        config: ProviderConfig {
            issuer: body.issuer,
            authorization_endpoint: body.authorization_endpoint,
            token_endpoint: body.token_endpoint,
            userinfo_endpoint: body.userinfo_endpoint,
            jwks_uri: body.jwks_uri,
            emails_endpoint: body.emails_endpoint,
            client_id: body.client_id,
            client_auth,
            scopes: body.scopes,
            prompt: body.prompt,
            allowed_algs: body.allowed_algs,
            field_map: body.field_map,
            tenant: body.tenant,
            team_id: body.team_id,
            key_id: body.key_id,
            trust_email: body.trust_email,
            allow_signup: body.allow_signup.unwrap_or(true),
            auto_link: body.auto_link,
            trust_upstream_mfa: body.trust_upstream_mfa,
            default_roles: body.default_roles,
            mappers: body.mappers,
        },
    })
}

/// List the realm's identity providers (`identity-providers:read:all`).
#[utoipa::path(get, path = "/api/v1/identity-providers", tag = "federation", security(("bearer" = [])),
    responses((status = 200, body = IdentityProviderList), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn providers_list(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersRead>,
) -> Answer<IdentityProviderList> {
    let list = s.core.federation().list(&admin).await?;
    let realm = admin.realm();
    Ok(axum::Json(IdentityProviderList {
        items: list.iter().map(|p| provider_view(&s, realm, p)).collect(),
    }))
}

/// Add an identity provider (`identity-providers:manage:all`). The secret
/// is stored encrypted and never shown again.
#[utoipa::path(post, path = "/api/v1/identity-providers", tag = "federation", security(("bearer" = [])),
    request_body = IdentityProviderRequest,
    responses((status = 201, body = IdentityProviderView),
        (status = 409, description = "Alias taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn provider_post(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersManage>,
    Json(body): Json<IdentityProviderRequest>,
) -> Result<(StatusCode, axum::Json<IdentityProviderView>), ApiError> {
    // A preset's alias defaults to its kind (`google`, `github`, ...), the
    // paths the seeds write (`/api/v1/auth/social/google`).
    let alias = match (&body.alias, ProviderKind::parse(&body.kind)) {
        (Some(a), _) => a.clone(),
        (None, Some(k)) if !matches!(k, ProviderKind::Oidc | ProviderKind::Oauth2) => {
            k.as_str().to_owned()
        }
        _ => String::new(),
    };
    let new = new_provider(body, alias)?;
    let created = s.core.federation().create(&admin, new).await?;
    let view = provider_view(&s, admin.realm(), &created);
    Ok((StatusCode::CREATED, axum::Json(view)))
}

/// One identity provider (`identity-providers:read:all`).
#[utoipa::path(get, path = "/api/v1/identity-providers/{alias}", tag = "federation", security(("bearer" = [])),
    params(("alias" = String, Path, description = "The provider's alias")),
    responses((status = 200, body = IdentityProviderView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn provider_get(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersRead>,
    p: Params,
) -> Answer<IdentityProviderView> {
    let provider = s.core.federation().get(&admin, p.text("alias")?).await?;
    Ok(axum::Json(provider_view(&s, admin.realm(), &provider)))
}

/// Replace an identity provider's settings (`identity-providers:manage:all`);
/// without `client_secret` the stored secret stays.
#[utoipa::path(put, path = "/api/v1/identity-providers/{alias}", tag = "federation", security(("bearer" = [])),
    params(("alias" = String, Path, description = "The provider's alias")),
    request_body = IdentityProviderRequest,
    responses((status = 200, body = IdentityProviderView),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn provider_put(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersManage>,
    p: Params,
    Json(body): Json<IdentityProviderRequest>,
) -> Answer<IdentityProviderView> {
    let alias = p.text("alias")?.to_owned();
    if body.alias.as_deref().is_some_and(|a| a != alias) {
        return Err(Error::Validation(vec![FieldError::new(
            "alias",
            "cannot change: delete the provider and add it again",
        )])
        .into());
    }
    let new = new_provider(body, alias.clone())?;
    let updated = s.core.federation().replace(&admin, &alias, new).await?;
    Ok(axum::Json(provider_view(&s, admin.realm(), &updated)))
}

/// Delete an identity provider and every link to it
/// (`identity-providers:manage:all`).
#[utoipa::path(delete, path = "/api/v1/identity-providers/{alias}", tag = "federation", security(("bearer" = [])),
    params(("alias" = String, Path, description = "The provider's alias")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn provider_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersManage>,
    p: Params,
) -> Result<StatusCode, ApiError> {
    s.core.federation().delete(&admin, p.text("alias")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's links to identity providers (`identity-providers:read:all`).
#[utoipa::path(get, path = "/api/v1/identity/users/{id}/social-accounts", tag = "federation", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user")),
    responses((status = 200, body = SocialAccountList), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_links_get(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersRead>,
    p: Params,
) -> Answer<SocialAccountList> {
    let user = p.id("id", "user")?;
    let links = s.core.federation().user_accounts(&admin, user).await?;
    Ok(axum::Json(SocialAccountList {
        items: links.iter().map(link_view).collect(),
    }))
}

/// Remove a user's link (`identity-providers:manage:all`).
#[utoipa::path(delete, path = "/api/v1/identity/users/{id}/social-accounts/{link}", tag = "federation", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The user"), ("link" = uuid::Uuid, Path, description = "The link")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_link_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<ProvidersManage>,
    p: Params,
) -> Result<StatusCode, ApiError> {
    let user = p.id("id", "user")?;
    let link = p.id("link", "social account")?;
    s.core.federation().admin_unlink(&admin, user, link).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user's links to identity providers.
#[utoipa::path(get, path = "/api/v1/auth/social-accounts", tag = "federation", security(("bearer" = [])),
    responses((status = 200, body = SocialAccountList), (status = 401, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn my_links_get(
    State(s): State<AppState>,
    Authenticated(who): Authenticated,
) -> Answer<SocialAccountList> {
    let links = s.core.federation().my_accounts(&who).await?;
    Ok(axum::Json(SocialAccountList {
        items: links.iter().map(link_view).collect(),
    }))
}

/// Remove one of the signed-in user's links; refused (409) when it is the
/// account's last way to sign in.
#[utoipa::path(delete, path = "/api/v1/auth/social-accounts/{id}", tag = "federation", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The link")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last way to sign in", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn my_link_delete(
    State(s): State<AppState>,
    Authenticated(who): Authenticated,
    p: Params,
) -> Result<StatusCode, ApiError> {
    let id = p.id("id", "social account")?;
    s.core.federation().unlink_mine(&who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn query_param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn redirect_with_cookie(location: &str, cookie: &str) -> Response {
    let mut res = StatusCode::FOUND.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(cookie) {
        h.append(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn upstream_problem(e: flow::Failure) -> ApiError {
    match e {
        flow::Failure::Core(e) => e.into(),
        flow::Failure::Upstream(u) => {
            tracing::warn!(error = %u, "an upstream provider failed at the start of a sign-in");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "upstream",
                flow::message(&flow::Failure::Upstream(u)),
            )
        }
    }
}

/// Start a sign-in through an identity provider for an API client (SPA,
/// mobile app): `client_id`, one of its registered `redirect_uri`s, a
/// PKCE `code_challenge` (S256) and an optional `state`. The browser is
/// sent to the provider; the callback sends it back to `redirect_uri`
/// with a `code` for `POST /api/v1/auth/social/exchange`, or with an
/// RFC 6749 `error`.
#[utoipa::path(get, path = "/api/v1/auth/social/{alias}", tag = "federation",
    params(("alias" = String, Path, description = "The provider's alias (`google`, `github`, ...)"),
        ("client_id" = String, Query, description = "The OAuth client"),
        ("redirect_uri" = String, Query, description = "One of its registered redirect URIs"),
        ("code_challenge" = String, Query, description = "PKCE S256 challenge"),
        ("code_challenge_method" = String, Query, description = "S256"),
        ("state" = Option<String>, Query, description = "Echoed to the redirect URI")),
    responses((status = 302, description = "To the provider"),
        (status = 404, description = "No enabled provider has this alias", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn social_start(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    headers: HeaderMap,
    p: Params,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    let alias = p.text("alias")?;
    let provider = s.core.federation().for_sign_in(realm.id, alias).await?;
    let query: Vec<(String, String)> =
        url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
            .take(32)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let q = |name| query_param(&query, name);
    let next = flow::client_continuation(
        &s.core,
        &realm,
        q("client_id"),
        q("redirect_uri"),
        q("state"),
        q("code_challenge"),
        q("code_challenge_method"),
    )
    .await?;
    let (location, cookie) = go_upstream(&s, &realm, &provider, next, &headers)
        .await
        .map_err(upstream_problem)?;
    Ok(redirect_with_cookie(&location, &cookie))
}

/// Exchange the code of a social sign-in for the answer of
/// `/api/v1/auth/login`: tokens, or `mfa_required` when the realm asks
/// for a second factor.
#[utoipa::path(post, path = "/api/v1/auth/social/exchange", tag = "federation",
    request_body = SocialExchangeRequest,
    responses((status = 200, description = "Tokens, or a second step", body = LoginResponse),
        (status = 400, description = "Invalid, expired or spent code, or wrong verifier", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn social_exchange_post(
    State(s): State<AppState>,
    RealmCtx(realm): RealmCtx,
    ClientMeta(meta): ClientMeta,
    Json(body): Json<SocialExchangeRequest>,
) -> Result<(HeaderMap, axum::Json<LoginResponse>), ApiError> {
    let verifier = SecretString::from(body.code_verifier);
    let outcome = s
        .core
        .federation()
        .exchange(&realm, &body.code, &verifier, &body.client_id, &meta)
        .await?;
    Ok(match outcome {
        LoginOutcome::Tokens(tokens) => (
            canary_headers(&s, &tokens),
            axum::Json(LoginResponse::Tokens(Box::new(token_response(*tokens)))),
        ),
        LoginOutcome::MfaRequired(required) => (
            HeaderMap::new(),
            axum::Json(LoginResponse::MfaRequired(mfa_required_response(required))),
        ),
    })
}

/// Link another provider to the signed-in account: answers the provider's
/// URL to send the browser to (and sets the browser's binding cookie);
/// the callback then sends it to `redirect_uri` with `linked={alias}`, or
/// with an RFC 6749 `error`.
#[utoipa::path(post, path = "/api/v1/auth/social/{alias}/link", tag = "federation", security(("bearer" = [])),
    params(("alias" = String, Path, description = "The provider's alias")),
    request_body = SocialLinkRequest,
    responses((status = 200, body = SocialLinkStart),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn social_link_post(
    State(s): State<AppState>,
    Authenticated(who): Authenticated,
    headers: HeaderMap,
    p: Params,
    Json(body): Json<SocialLinkRequest>,
) -> Result<(HeaderMap, axum::Json<SocialLinkStart>), ApiError> {
    let realm = who.realm.clone();
    let provider = s
        .core
        .federation()
        .for_sign_in(realm.id, p.text("alias")?)
        .await?;
    let next = flow::link_continuation(
        &s.core,
        &realm,
        who.user_id,
        &body.client_id,
        &body.redirect_uri,
        body.state.as_deref(),
    )
    .await?;
    let (location, cookie) = go_upstream(&s, &realm, &provider, next, &headers)
        .await
        .map_err(upstream_problem)?;
    let mut out = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        out.insert(header::SET_COOKIE, v);
    }
    Ok((
        out,
        axum::Json(SocialLinkStart {
            authorization_url: location,
        }),
    ))
}
