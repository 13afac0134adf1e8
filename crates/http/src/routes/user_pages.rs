//! A user's own pages (seed 003): `/api/v1/users/{id}/preferences`,
//! `/dashboard` and `/activity`, where `{id}` is the user's id or `me`. A
//! user reads his own; administrators (`users:manage:all`) anyone's in
//! their realm; anyone else gets 404 whether or not the user exists.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use portcullis_core::profile::account::{Activity, Dashboard};
use portcullis_core::profile::model::Preferences;
use portcullis_proto::{
    ActivityEvent, ActivityList, DashboardFactor, DashboardOrganization, DashboardSession,
    DashboardView, PreferencesView, Problem,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::IntoParams;

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Json, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(
        r,
        "/users/{id}/preferences",
        get(preferences_get).patch(preferences_patch),
    );
    r = realm_route(r, "/users/{id}/dashboard", get(dashboard_get));
    r = realm_route(r, "/users/{id}/activity", get(activity_get));
    r
}

fn preferences_view(p: Preferences) -> PreferencesView {
    PreferencesView {
        locale: p.locale,
        time_zone: p.time_zone,
        notifications: p.notifications,
        updated_at: p.updated_at,
    }
}

fn event_view(user: uuid::Uuid, r: portcullis_core::model::AuditRecord) -> ActivityEvent {
    ActivityEvent {
        id: r.id,
        by_self: r.actor == Some(user),
        action: r.action,
        target: r.target,
        actor: r.actor,
        at: r.at,
    }
}

/// A user's preferences.
#[utoipa::path(get, path = "/api/v1/users/{id}/preferences", tag = "profiles",
    security(("bearer" = [])), params(("id" = String, Path, description = "User id, or `me`")),
    responses(
        (status = 200, description = "The preferences", body = PreferencesView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user that the caller may read", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn preferences_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<PreferencesView>, ApiError> {
    let profiles = state.core.profiles();
    let subject = profiles.subject(&who, params.text("id")?, false).await?;
    Ok(axum::Json(preferences_view(
        profiles.preferences(&subject).await?,
    )))
}

/// Change a user's preferences: `locale`, `time_zone` (a value or `null`),
/// `notifications` (names to `true`/`false`; `null` removes one).
#[utoipa::path(patch, path = "/api/v1/users/{id}/preferences", tag = "profiles",
    security(("bearer" = [])), params(("id" = String, Path, description = "User id, or `me`")),
    request_body = Object,
    responses(
        (status = 200, description = "The preferences after the change", body = PreferencesView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user that the caller may change", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong or unknown field named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn preferences_patch(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<Map<String, Value>>,
) -> Result<axum::Json<PreferencesView>, ApiError> {
    let profiles = state.core.profiles();
    let subject = profiles.subject(&who, params.text("id")?, true).await?;
    let prefs = profiles.patch_preferences(&who, &subject, &body).await?;
    Ok(axum::Json(preferences_view(prefs)))
}

fn dashboard_view(d: Dashboard) -> DashboardView {
    let user = d.user.id;
    let mut devices: Vec<String> = d.sessions.iter().filter_map(|s| s.device.clone()).collect();
    devices.sort();
    devices.dedup();
    DashboardView {
        user_id: user,
        email: d.user.email.to_string(),
        name: d.user.name,
        last_login_at: d.user.last_login_at,
        sessions: d
            .sessions
            .into_iter()
            .map(|s| DashboardSession {
                id: s.id,
                device: s.device,
                ip: s.ip,
                created_at: s.created_at,
                last_used_at: s.last_used_at,
            })
            .collect(),
        devices,
        factors: d
            .factors
            .into_iter()
            .map(|f| DashboardFactor {
                id: f.id,
                kind: f.kind.as_str().to_owned(),
                label: Some(f.name).filter(|n| !n.is_empty()),
            })
            .collect(),
        recent_sign_ins: d
            .recent_sign_ins
            .into_iter()
            .map(|r| event_view(user, r))
            .collect(),
        groups: d.groups,
        roles: d.roles,
        organizations: d
            .organizations
            .into_iter()
            .map(|(o, role)| DashboardOrganization {
                id: o.id,
                name: o.name,
                display_name: o.display_name,
                role,
            })
            .collect(),
    }
}

/// A user's dashboard: sessions, devices, factors, recent sign-ins,
/// groups, roles, organizations.
#[utoipa::path(get, path = "/api/v1/users/{id}/dashboard", tag = "profiles",
    security(("bearer" = [])), params(("id" = String, Path, description = "User id, or `me`")),
    responses(
        (status = 200, description = "The dashboard", body = DashboardView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user that the caller may read", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn dashboard_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<DashboardView>, ApiError> {
    let profiles = state.core.profiles();
    let subject = profiles.subject(&who, params.text("id")?, false).await?;
    Ok(axum::Json(dashboard_view(
        profiles.dashboard(&subject).await?,
    )))
}

/// Query of the activity feed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivityQuery {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1-100 (default 20).
    limit: Option<u64>,
}

/// A user's security events (done by or to the user), newest first,
/// paginated with a cursor.
#[utoipa::path(get, path = "/api/v1/users/{id}/activity", tag = "profiles",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "User id, or `me`"), ActivityQuery),
    responses(
        (status = 200, description = "A page of events", body = ActivityList),
        (status = 400, description = "The query string does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user that the caller may read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad cursor or page size", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn activity_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    query: Result<Query<ActivityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ActivityList>, ApiError> {
    let Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", e.body_text()))?;
    let profiles = state.core.profiles();
    let subject = profiles.subject(&who, params.text("id")?, false).await?;
    let Activity { items, next_cursor } = profiles
        .activity(&subject, q.cursor.as_deref(), q.limit.unwrap_or(20))
        .await?;
    let user = subject.user.id;
    Ok(axum::Json(ActivityList {
        items: items.into_iter().map(|r| event_view(user, r)).collect(),
        next_cursor,
    }))
}
