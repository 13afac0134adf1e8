//! `/scim/v2/realms/{realm}`: the SCIM 2.0 service provider of a realm
//! (RFC 7643, RFC 7644). Bearer tokens of the realm (a provisioning
//! client's, through its service account) or of a server administrator;
//! the caller needs `scim:provision:all`. Answers are
//! `application/scim+json`; errors are SCIM `Error` messages.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portcullis_core::access::{Allowed, ScimProvision};
use portcullis_core::scim::bulk::{LIMITS as BULK_LIMITS, scim_error};
use portcullis_core::scim::{MAX_BODY, MAX_RESULTS, ScimFailure, ScimResource};
use portcullis_scim::query::SearchRequest;
use portcullis_scim::schema::ResourceSchema;
use portcullis_scim::wire::{Meta, ResourceType, ServiceProviderConfig};
use portcullis_scim::{ListQuery, QueryLimits, ScimError, urn};
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::extract::{AdminCtx, RealmCtx};
use crate::state::AppState;

/// The media type of SCIM messages.
const SCIM_JSON: &str = "application/scim+json";
const BASE: &str = "/scim/v2/realms/{realm}";

pub(crate) fn router() -> Router<AppState> {
    let r = |p: &str| format!("{BASE}{p}");
    Router::new()
        .route(&r("/ServiceProviderConfig"), get(service_provider_config))
        .route(&r("/ResourceTypes"), get(resource_types))
        .route(&r("/ResourceTypes/{id}"), get(resource_type))
        .route(&r("/Schemas"), get(schemas))
        .route(&r("/Schemas/{id}"), get(schema))
        .route(&r("/Users"), get(users_list).post(user_create))
        .route(&r("/Users/.search"), post(users_search))
        .route(
            &r("/Users/{id}"),
            get(user_get)
                .put(user_replace)
                .patch(user_patch)
                .delete(user_delete),
        )
        .route(&r("/Groups"), get(groups_list).post(group_create))
        .route(&r("/Groups/.search"), post(groups_search))
        .route(
            &r("/Groups/{id}"),
            get(group_get)
                .put(group_replace)
                .patch(group_patch)
                .delete(group_delete),
        )
        .route(&r("/Bulk"), post(bulk))
        .route(&r("/.search"), post(root_search))
        .route(&r("/Me"), get(me).put(me).patch(me).delete(me).post(me))
        .route(&r("/{*rest}"), axum::routing::any(unknown))
}

/// Any other path under the service: a SCIM 404.
async fn unknown() -> Scim {
    ScimError::status(404, "no SCIM endpoint at this path").into()
}

/// A SCIM answer or error.
pub(crate) struct Scim(Box<Response>);

impl Scim {
    fn of(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for Scim {
    fn into_response(self) -> Response {
        *self.0
    }
}

fn scim_json(status: StatusCode, body: &impl Serialize) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res
}

fn error_response(e: &ScimError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    scim_json(status, &e.to_response())
}

impl From<ScimError> for Scim {
    fn from(e: ScimError) -> Self {
        Scim::of(error_response(&e))
    }
}

impl From<ApiError> for Scim {
    /// The server's own refusals (401 with its challenge, 403, 429 with
    /// `Retry-After`) as SCIM errors.
    fn from(e: ApiError) -> Self {
        let detail = e.detail().map(str::to_owned);
        let res = e.into_response();
        let status = res.status();
        let detail = if status.is_server_error() {
            "internal error".to_owned()
        } else {
            detail.unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned())
        };
        let mut out = error_response(&ScimError::status(status.as_u16(), detail));
        for h in [header::WWW_AUTHENTICATE, header::RETRY_AFTER] {
            if let Some(v) = res.headers().get(&h) {
                out.headers_mut().insert(h, v.clone());
            }
        }
        Scim::of(out)
    }
}

impl From<ScimFailure> for Scim {
    fn from(f: ScimFailure) -> Self {
        match f {
            ScimFailure::Scim(e) => e.into(),
            ScimFailure::Core(e) => ApiError::from(e).into(),
        }
    }
}

/// The caller, allowed to provision in the addressed realm.
pub(crate) struct Provisioner(Allowed<ScimProvision>);

impl FromRequestParts<AppState> for Provisioner {
    type Rejection = Scim;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Scim> {
        let AdminCtx(requester) = AdminCtx::from_request_parts(parts, state).await?;
        let allowed = state
            .core
            .access()
            .allow::<ScimProvision>(requester)
            .await
            .map_err(ApiError::from)?;
        Ok(Provisioner(allowed))
    }
}

/// A JSON body of at most [`MAX_BODY`] bytes.
fn json_body(body: &Bytes) -> Result<Value, Scim> {
    if body.len() > MAX_BODY {
        return Err(ScimError::status(413, format!("the body exceeds {MAX_BODY} bytes")).into());
    }
    serde_json::from_slice(body)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not JSON: {e}")).into())
}

fn limits() -> QueryLimits {
    QueryLimits {
        max_results: MAX_RESULTS,
        ..QueryLimits::default()
    }
}

fn list_query(raw: Option<String>) -> Result<ListQuery, Scim> {
    let raw = raw.unwrap_or_default();
    if raw.len() > 16 * 1024 {
        return Err(ScimError::status(413, "the query string exceeds 16 KiB").into());
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect();
    Ok(ListQuery::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &limits(),
    )?)
}

fn search_query(body: &Bytes) -> Result<ListQuery, Scim> {
    let value = json_body(body)?;
    let request: SearchRequest = serde_json::from_value(value)
        .map_err(|e| ScimError::invalid_syntax(format!("not a SearchRequest: {e}")))?;
    Ok(request.to_query(&limits())?)
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A resource with its `ETag` (and `Location` when created). `If-None-Match`
/// matching the current tag answers 304.
fn resource(status: StatusCode, r: ScimResource, headers: Option<&HeaderMap>) -> Response {
    if let Some(inm) = headers
        .and_then(|h| h.get(header::IF_NONE_MATCH))
        .and_then(|v| v.to_str().ok())
    {
        let bare = |t: &str| {
            t.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        };
        let current = bare(&r.etag);
        if inm
            .split(',')
            .any(|t| t.trim() == "*" || bare(t) == current)
        {
            let mut res = StatusCode::NOT_MODIFIED.into_response();
            if let Ok(v) = HeaderValue::from_str(&r.etag) {
                res.headers_mut().insert(header::ETAG, v);
            }
            return res;
        }
    }
    let mut res = scim_json(status, &r.body);
    if let Ok(v) = HeaderValue::from_str(&r.etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED
        && let Some(loc) = r.body.pointer("/meta/location").and_then(Value::as_str)
        && let Ok(v) = HeaderValue::from_str(loc)
    {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn meta(resource_type: &str, location: String) -> Option<Meta> {
    Some(Meta {
        resource_type: Some(resource_type.to_owned()),
        location: Some(location),
        ..Meta::default()
    })
}

async fn base(state: &AppState, RealmCtx(realm): &RealmCtx) -> String {
    state.core.scim().base_url(realm.name.as_str())
}

async fn service_provider_config(State(state): State<AppState>, realm: RealmCtx) -> Scim {
    let base = base(&state, &realm).await;
    let mut config = ServiceProviderConfig::new(MAX_RESULTS as u64, Some(BULK_LIMITS));
    config.documentation_uri =
        Some("https://github.com/portcullis-iam/portcullis/blob/main/docs/scim.md".into());
    config.meta = meta(
        "ServiceProviderConfig",
        format!("{base}/ServiceProviderConfig"),
    );
    Scim::of(scim_json(StatusCode::OK, &config))
}

fn resource_type_docs(base: &str) -> Vec<ResourceType> {
    [ResourceType::user(), ResourceType::group()]
        .into_iter()
        .map(|mut t| {
            t.meta = meta("ResourceType", format!("{base}/ResourceTypes/{}", t.id));
            t
        })
        .collect()
}

async fn resource_types(State(state): State<AppState>, realm: RealmCtx) -> Scim {
    let base = base(&state, &realm).await;
    let all = resource_type_docs(&base);
    let n = all.len() as u64;
    Scim::of(scim_json(
        StatusCode::OK,
        &portcullis_scim::wire::ListResponse::new(all, n, 1),
    ))
}

async fn resource_type(
    State(state): State<AppState>,
    realm: RealmCtx,
    Path((_, id)): Path<(String, String)>,
) -> Scim {
    let base = base(&state, &realm).await;
    match resource_type_docs(&base).into_iter().find(|t| t.id == id) {
        Some(t) => Scim::of(scim_json(StatusCode::OK, &t)),
        None => ScimError::status(404, format!("no resource type `{id}`")).into(),
    }
}

fn schema_docs(base: &str) -> Vec<portcullis_scim::schema::Schema> {
    ResourceSchema::documents()
        .into_iter()
        .map(|mut s| {
            s.schemas = vec![urn::SCHEMA.to_owned()];
            s.meta = meta("Schema", format!("{base}/Schemas/{}", s.id));
            s
        })
        .collect()
}

async fn schemas(State(state): State<AppState>, realm: RealmCtx) -> Scim {
    let base = base(&state, &realm).await;
    let all = schema_docs(&base);
    let n = all.len() as u64;
    Scim::of(scim_json(
        StatusCode::OK,
        &portcullis_scim::wire::ListResponse::new(all, n, 1),
    ))
}

async fn schema(
    State(state): State<AppState>,
    realm: RealmCtx,
    Path((_, id)): Path<(String, String)>,
) -> Scim {
    let base = base(&state, &realm).await;
    match schema_docs(&base)
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
    {
        Some(s) => Scim::of(scim_json(StatusCode::OK, &s)),
        None => ScimError::status(404, format!("no schema `{id}`")).into(),
    }
}

async fn me() -> Scim {
    ScimError::status(
        501,
        "/Me is not supported: provisioning clients act on /Users",
    )
    .into()
}

async fn users_list(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    RawQuery(q): RawQuery,
) -> Result<Scim, Scim> {
    let query = list_query(q)?;
    let page = state.core.scim().list_users(&p, &query).await?;
    Ok(Scim::of(scim_json(StatusCode::OK, &page)))
}

async fn users_search(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    body: Bytes,
) -> Result<Scim, Scim> {
    let query = search_query(&body)?;
    let page = state.core.scim().list_users(&p, &query).await?;
    Ok(Scim::of(scim_json(StatusCode::OK, &page)))
}

async fn user_create(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    body: Bytes,
) -> Result<Scim, Scim> {
    let body = json_body(&body)?;
    let r = state.core.scim().create_user(&p, body).await?;
    Ok(Scim::of(resource(StatusCode::CREATED, r, None)))
}

async fn user_get(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Scim, Scim> {
    let query = list_query(q)?;
    let mut r = state.core.scim().get_user(&p, &id).await?;
    r.body = portcullis_scim::query::project(&r.body, ResourceSchema::user(), &query.attributes);
    Ok(Scim::of(resource(StatusCode::OK, r, Some(&headers))))
}

async fn user_replace(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Scim, Scim> {
    let body = json_body(&body)?;
    let r = state
        .core
        .scim()
        .replace_user(&p, &id, body, if_match(&headers).as_deref())
        .await?;
    Ok(Scim::of(resource(StatusCode::OK, r, None)))
}

async fn user_patch(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Scim, Scim> {
    let body = json_body(&body)?;
    let r = state
        .core
        .scim()
        .patch_user(&p, &id, &body, if_match(&headers).as_deref())
        .await?;
    Ok(Scim::of(resource(StatusCode::OK, r, None)))
}

async fn user_delete(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Scim, Scim> {
    state
        .core
        .scim()
        .delete_user(&p, &id, if_match(&headers).as_deref())
        .await?;
    Ok(Scim::of(StatusCode::NO_CONTENT.into_response()))
}

async fn groups_list(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    RawQuery(q): RawQuery,
) -> Result<Scim, Scim> {
    let query = list_query(q)?;
    let page = state.core.scim().list_groups(&p, &query).await?;
    Ok(Scim::of(scim_json(StatusCode::OK, &page)))
}

async fn groups_search(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    body: Bytes,
) -> Result<Scim, Scim> {
    let query = search_query(&body)?;
    let page = state.core.scim().list_groups(&p, &query).await?;
    Ok(Scim::of(scim_json(StatusCode::OK, &page)))
}

async fn group_create(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    body: Bytes,
) -> Result<Scim, Scim> {
    let body = json_body(&body)?;
    let r = state.core.scim().create_group(&p, body).await?;
    Ok(Scim::of(resource(StatusCode::CREATED, r, None)))
}

async fn group_get(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Scim, Scim> {
    let query = list_query(q)?;
    let mut r = state.core.scim().get_group(&p, &id).await?;
    r.body = portcullis_scim::query::project(&r.body, ResourceSchema::group(), &query.attributes);
    Ok(Scim::of(resource(StatusCode::OK, r, Some(&headers))))
}

async fn group_replace(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Scim, Scim> {
    let body = json_body(&body)?;
    let r = state
        .core
        .scim()
        .replace_group(&p, &id, body, if_match(&headers).as_deref())
        .await?;
    Ok(Scim::of(resource(StatusCode::OK, r, None)))
}

async fn group_patch(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Scim, Scim> {
    let body = json_body(&body)?;
    let r = state
        .core
        .scim()
        .patch_group(&p, &id, &body, if_match(&headers).as_deref())
        .await?;
    Ok(Scim::of(resource(StatusCode::OK, r, None)))
}

async fn group_delete(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Scim, Scim> {
    state
        .core
        .scim()
        .delete_group(&p, &id, if_match(&headers).as_deref())
        .await?;
    Ok(Scim::of(StatusCode::NO_CONTENT.into_response()))
}

async fn bulk(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    body: Bytes,
) -> Result<Scim, Scim> {
    let answer = state
        .core
        .scim()
        .bulk(&p, &body)
        .await
        .map_err(|f| Scim::from(scim_error(f)))?;
    Ok(Scim::of(scim_json(StatusCode::OK, &answer)))
}

/// `POST /.search` at the root: users, then groups, as one list.
async fn root_search(
    State(state): State<AppState>,
    Provisioner(p): Provisioner,
    body: Bytes,
) -> Result<Scim, Scim> {
    let query = search_query(&body)?;
    let scim = state.core.scim();
    let users = scim.list_users(&p, &query).await?;
    let users_total = users.total_results;
    let mut resources = users.resources;
    // The groups after the users: the page's rest, from where it starts
    // among them.
    let offset = query.offset() as u64;
    let mut groups_query = query.clone();
    groups_query.start_index = usize::try_from(offset.saturating_sub(users_total))
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    groups_query.count = query.count.saturating_sub(resources.len());
    let groups = scim.list_groups(&p, &groups_query).await?;
    let total = users_total + groups.total_results;
    if offset + (resources.len() as u64) >= users_total {
        resources.extend(groups.resources);
    }
    Ok(Scim::of(scim_json(
        StatusCode::OK,
        &query.response(total, resources),
    )))
}
