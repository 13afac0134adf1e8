//! `/api/v1/organizations`: a realm's organizations and their members
//! (`organizations:read:all` / `organizations:manage:all`).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use portcullis_core::access::{OrgAllowed, OrganizationsManage, OrganizationsRead};
use portcullis_core::orgs::{Member, NewOrganization, OrgPatch, Organization};
use portcullis_proto::{
    AddOrganizationMemberRequest, CreateOrganizationRequest, OrganizationList,
    OrganizationMemberList, OrganizationMemberView, OrganizationView, Problem,
    UpdateOrganizationRequest,
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{Admin, AdminCtx, Json, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/organizations", get(orgs_list).post(org_post));
    r = realm_route(
        r,
        "/organizations/{id}",
        get(org_get).patch(org_patch).delete(org_delete),
    );
    r = realm_route(
        r,
        "/organizations/{id}/users",
        get(members_list).post(member_post),
    );
    r = realm_route(r, "/organizations/{id}/users/{user}", delete(member_delete));
    r
}

pub(crate) fn org_view(o: Organization) -> OrganizationView {
    OrganizationView {
        id: o.id,
        name: o.name,
        display_name: o.display_name,
        description: o.description,
        parent_id: o.parent_id,
        attributes: o.attributes,
        created_at: o.created_at,
        updated_at: o.updated_at,
    }
}

fn member_view(m: Member) -> OrganizationMemberView {
    OrganizationMemberView {
        user_id: m.membership.user_id,
        email: m.email.to_string(),
        name: m.name,
        role: m.membership.role,
        joined_at: m.membership.created_at,
    }
}

/// Query of the organization list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrgListQuery {
    /// Page number, from 1 (default 1).
    page: Option<u64>,
    /// Page size, 1-200 (default 50).
    per_page: Option<u64>,
    /// Only organizations whose name or display name contains this
    /// (case-insensitive).
    search: Option<String>,
    /// Only the children of this organization (id or name).
    parent: Option<String>,
    /// Only the organization whose verified e-mail domain this is (where
    /// the domain's addresses are routed): one item or none.
    domain: Option<String>,
}

/// Query of a member list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Page number, from 1 (default 1).
    page: Option<u64>,
    /// Page size, 1-200 (default 50).
    per_page: Option<u64>,
}

/// The right `R` on the organization of the path: the realm's permission,
/// or administration of that organization (delegated), decided before the
/// organization is looked up.
pub(crate) async fn org_admin<R: portcullis_core::access::Right>(
    state: &AppState,
    who: portcullis_core::access::Requester,
    params: &Params,
) -> Result<OrgAllowed<R>, ApiError> {
    let key = params.text("id")?;
    Ok(state.core.access().allow_org::<R>(who, key).await?)
}

fn bad_query(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-query", e.body_text())
}

/// List organizations (paginated, searchable).
#[utoipa::path(get, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])), params(OrgListQuery),
    responses(
        (status = 200, description = "A page of organizations, by name", body = OrganizationList),
        (status = 400, description = "The query string does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks organizations:read:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such parent", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A page, page size or search out of range", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn orgs_list(
    State(state): State<AppState>,
    Admin(admin): Admin<OrganizationsRead>,
    query: Result<Query<OrgListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<OrganizationList>, ApiError> {
    let Query(q) = query.map_err(bad_query)?;
    let (page, per_page) = (q.page.unwrap_or(1), q.per_page.unwrap_or(50));
    if let Some(domain) = q.domain.as_deref() {
        let found = state.core.organizations().by_domain(&admin, domain).await?;
        let items: Vec<OrganizationView> = found.into_iter().map(org_view).collect();
        return Ok(axum::Json(OrganizationList {
            total: u64::try_from(items.len()).unwrap_or(u64::MAX),
            items,
            page: 1,
            per_page,
        }));
    }
    let result = state
        .core
        .organizations()
        .list(
            &admin,
            q.search.as_deref(),
            q.parent.as_deref(),
            page,
            per_page,
        )
        .await?;
    Ok(axum::Json(OrganizationList {
        items: result.items.into_iter().map(org_view).collect(),
        total: result.total,
        page,
        per_page,
    }))
}

/// Create an organization.
#[utoipa::path(post, path = "/api/v1/organizations", tag = "organizations",
    security(("bearer" = [])), request_body = CreateOrganizationRequest,
    responses(
        (status = 201, description = "Created", body = OrganizationView),
        (status = 403, description = "The caller lacks organizations:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken in the realm", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (every one named), an unknown parent", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn org_post(
    State(state): State<AppState>,
    Admin(admin): Admin<OrganizationsManage>,
    Json(body): Json<CreateOrganizationRequest>,
) -> Result<(StatusCode, axum::Json<OrganizationView>), ApiError> {
    let org = state
        .core
        .organizations()
        .create(
            &admin,
            NewOrganization {
                name: body.name,
                display_name: body.display_name,
                description: body.description,
                parent: body.parent,
                attributes: body.attributes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(org_view(org))))
}

/// Get an organization by id or name.
#[utoipa::path(get, path = "/api/v1/organizations/{id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 200, description = "The organization", body = OrganizationView),
        (status = 403, description = "The caller neither holds organizations:read:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn org_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<OrganizationView>, ApiError> {
    let admin = org_admin::<OrganizationsRead>(&state, who, &params).await?;
    let org = state.core.organizations().get(&admin).await?;
    Ok(axum::Json(org_view(org)))
}

/// Change an organization (the fields present).
#[utoipa::path(patch, path = "/api/v1/organizations/{id}", tag = "organizations",
    security(("bearer" = [])), request_body = UpdateOrganizationRequest,
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 200, description = "Changed", body = OrganizationView),
        (status = 403, description = "The caller lacks organizations:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken in the realm", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, an unknown parent or a cycle", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn org_patch(
    State(state): State<AppState>,
    Admin(admin): Admin<OrganizationsManage>,
    params: Params,
    Json(body): Json<UpdateOrganizationRequest>,
) -> Result<axum::Json<OrganizationView>, ApiError> {
    let org = state
        .core
        .organizations()
        .update(
            &admin,
            params.text("id")?,
            OrgPatch {
                name: body.name,
                display_name: body.display_name,
                description: body.description,
                parent: body.parent,
                attributes: body.attributes,
            },
        )
        .await?;
    Ok(axum::Json(org_view(org)))
}

/// Delete an organization and its memberships.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "The caller lacks organizations:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has child organizations", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn org_delete(
    State(state): State<AppState>,
    Admin(admin): Admin<OrganizationsManage>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .organizations()
        .delete(&admin, params.text("id")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List an organization's members (paginated, oldest first).
#[utoipa::path(get, path = "/api/v1/organizations/{id}/users", tag = "organizations",
    security(("bearer" = [])), params(("id" = String, Path, description = "Organization id or name"), PageQuery),
    responses(
        (status = 200, description = "A page of members", body = OrganizationMemberList),
        (status = 400, description = "The query string does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks organizations:read:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A page or page size out of range", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn members_list(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<OrganizationMemberList>, ApiError> {
    let admin = org_admin::<OrganizationsRead>(&state, who, &params).await?;
    let Query(q) = query.map_err(bad_query)?;
    let (page, per_page) = (q.page.unwrap_or(1), q.per_page.unwrap_or(50));
    let result = state
        .core
        .organizations()
        .members(&admin, page, per_page)
        .await?;
    Ok(axum::Json(OrganizationMemberList {
        items: result.items.into_iter().map(member_view).collect(),
        total: result.total,
        page,
        per_page,
    }))
}

/// Add a member to an organization, or change its role.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/users", tag = "organizations",
    security(("bearer" = [])), request_body = AddOrganizationMemberRequest,
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 201, description = "Added", body = OrganizationMemberView),
        (status = 200, description = "Already a member: its role is now the one given", body = OrganizationMemberView),
        (status = 403, description = "The caller lacks organizations:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a user of the realm, or an unknown role", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn member_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<AddOrganizationMemberRequest>,
) -> Result<(StatusCode, axum::Json<OrganizationMemberView>), ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let (member, added) = state
        .core
        .organizations()
        .put_member(&admin, body.user_id, body.role.as_deref())
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(member_view(member))))
}

/// Remove a member from an organization.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/users/{user}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name"),
           ("user" = uuid::Uuid, Path, description = "The member's user id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The caller lacks organizations:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or member", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn member_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let user = params.id("user", "member")?;
    state
        .core
        .organizations()
        .remove_member(&admin, user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
