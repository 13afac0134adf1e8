//! The authorization API: `/api/v1/rbac/...` (roles, permissions, grants,
//! policies), `/api/v1/identity/groups/...` and `/api/v1/authz/...` (checks).
//! Handlers only parse and map; rules live in `portcullis_core::authz`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use portcullis_core::access::{PoliciesManage, PoliciesRead, RolesManage, RolesRead};
use portcullis_core::authz::{ManageGrants, ReadGrants};
use portcullis_proto::*;

use super::authz_views::{
    check_batch_response, check_response, effective_permissions, grants_view, permission_list,
    permission_use, policy_list, policy_view, revision_view, role_list, role_view,
};
use super::realm_route;
use crate::error::ApiError;
use crate::extract::{Admin, Ctx, Json, Params};
use crate::state::AppState;

// The groups' handlers live beside these, under the same paths.
pub(crate) use super::authz_groups::*;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/rbac/roles", get(roles_list).post(role_post));
    r = realm_route(
        r,
        "/rbac/roles/{id}",
        get(role_get).patch(role_patch).delete(role_delete),
    );
    r = realm_route(
        r,
        "/rbac/roles/{id}/permissions",
        post(role_permissions_post).delete(role_permissions_delete),
    );
    r = realm_route(
        r,
        "/rbac/permissions",
        get(permissions_list).post(permission_define_post),
    );
    r = realm_route(
        r,
        "/rbac/permissions/{permission}",
        delete(permission_define_delete),
    );
    r = realm_route(
        r,
        "/rbac/users/{id}/roles",
        get(user_grants_get).post(user_role_post),
    );
    r = realm_route(r, "/rbac/users/{id}/roles/{role}", delete(user_role_delete));
    r = realm_route(
        r,
        "/rbac/users/{id}/permissions",
        post(user_permission_post),
    );
    r = realm_route(
        r,
        "/rbac/users/{id}/permissions/{permission}",
        delete(user_permission_delete),
    );
    r = realm_route(r, "/rbac/policies", get(policies_list).post(policy_post));
    r = realm_route(
        r,
        "/rbac/policies/{id}",
        get(policy_get).patch(policy_patch).delete(policy_delete),
    );
    r = realm_route(r, "/identity/groups", get(groups_list).post(group_post));
    r = realm_route(
        r,
        "/identity/groups/{id}",
        get(group_get).patch(group_patch).delete(group_delete),
    );
    r = realm_route(
        r,
        "/identity/groups/{id}/members",
        get(members_get).post(member_post),
    );
    r = realm_route(
        r,
        "/identity/groups/{id}/members/{user}",
        delete(member_delete),
    );
    r = realm_route(
        r,
        "/identity/groups/{id}/roles",
        get(group_grants_get).post(group_role_post),
    );
    r = realm_route(
        r,
        "/identity/groups/{id}/roles/{role}",
        delete(group_role_delete),
    );
    r = realm_route(
        r,
        "/identity/groups/{id}/permissions",
        post(group_permission_post),
    );
    r = realm_route(
        r,
        "/identity/groups/{id}/permissions/{permission}",
        delete(group_permission_delete),
    );
    r = realm_route(r, "/authz/check", post(check_post));
    r = realm_route(r, "/authz/check-batch", post(check_batch_post));
    r = realm_route(r, "/authz/users/{id}/permissions", get(effective_get));
    r = realm_route(r, "/auth/authorize", post(authorize_post));
    r
}

pub(crate) type Answer<T> = Result<axum::Json<T>, ApiError>;

pub(crate) fn created<T: serde::Serialize>(body: T) -> (StatusCode, axum::Json<T>) {
    (StatusCode::CREATED, axum::Json(body))
}

/// List roles.
#[utoipa::path(get, path = "/api/v1/rbac/roles", tag = "authorization", security(("bearer" = [])),
    responses((status = 200, body = RoleList), (status = 403, body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn roles_list(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesRead>,
) -> Answer<RoleList> {
    Ok(axum::Json(role_list(
        s.core.authz().list_roles(&admin).await?,
    )))
}

/// Create a role.
#[utoipa::path(post, path = "/api/v1/rbac/roles", tag = "authorization", security(("bearer" = [])),
    request_body = CreateRoleRequest,
    responses((status = 201, body = RoleView), (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn role_post(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    Json(body): Json<CreateRoleRequest>,
) -> Result<(StatusCode, axum::Json<RoleView>), ApiError> {
    Ok(created(role_view(
        s.core.authz().create_role(&admin, body).await?,
    )))
}

/// Get a role by id or name.
#[utoipa::path(get, path = "/api/v1/rbac/roles/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id or name")),
    responses((status = 200, body = RoleView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn role_get(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesRead>,
    p: Params,
) -> Answer<RoleView> {
    Ok(axum::Json(role_view(
        s.core.authz().get_role(&admin, p.text("id")?).await?,
    )))
}

/// Change a role (name, description, permissions, included roles).
#[utoipa::path(patch, path = "/api/v1/rbac/roles/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id or name")), request_body = UpdateRoleRequest,
    responses((status = 200, body = RoleView), (status = 422, description = "Invalid field or a cycle", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn role_patch(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
    Json(body): Json<UpdateRoleRequest>,
) -> Answer<RoleView> {
    Ok(axum::Json(role_view(
        s.core
            .authz()
            .update_role(&admin, p.text("id")?, body)
            .await?,
    )))
}

/// Delete a role (built-in roles cannot be deleted).
#[utoipa::path(delete, path = "/api/v1/rbac/roles/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id or name")),
    responses((status = 200, body = RevisionView), (status = 409, description = "Built-in role", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn role_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
) -> Answer<RevisionView> {
    Ok(axum::Json(revision_view(
        s.core.authz().delete_role(&admin, p.text("id")?).await?,
    )))
}

/// Add permissions to a role.
#[utoipa::path(post, path = "/api/v1/rbac/roles/{id}/permissions", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id or name")), request_body = RolePermissionsRequest,
    responses((status = 200, body = RoleView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn role_permissions_post(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
    Json(body): Json<RolePermissionsRequest>,
) -> Answer<RoleView> {
    Ok(axum::Json(role_view(
        s.core
            .authz()
            .role_permissions(&admin, p.text("id")?, body, true)
            .await?,
    )))
}

/// Remove permissions from a role.
#[utoipa::path(delete, path = "/api/v1/rbac/roles/{id}/permissions", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Role id or name")), request_body = RolePermissionsRequest,
    responses((status = 200, body = RoleView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn role_permissions_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
    Json(body): Json<RolePermissionsRequest>,
) -> Answer<RoleView> {
    Ok(axum::Json(role_view(
        s.core
            .authz()
            .role_permissions(&admin, p.text("id")?, body, false)
            .await?,
    )))
}

/// The realm's permissions: its catalogue and every permission in use.
#[utoipa::path(get, path = "/api/v1/rbac/permissions", tag = "authorization", security(("bearer" = [])),
    responses((status = 200, body = PermissionList),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn permissions_list(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesRead>,
) -> Answer<PermissionList> {
    Ok(axum::Json(permission_list(
        s.core.authz().list_permissions(&admin).await?,
    )))
}

/// Declare a permission in the realm's catalogue, or replace its
/// description. Declaring grants nothing.
#[utoipa::path(post, path = "/api/v1/rbac/permissions", tag = "authorization", security(("bearer" = [])),
    request_body = DefinePermissionRequest,
    responses((status = 201, body = PermissionUse), (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn permission_define_post(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    Json(body): Json<DefinePermissionRequest>,
) -> Result<(StatusCode, axum::Json<PermissionUse>), ApiError> {
    Ok(created(permission_use(
        s.core.authz().define_permission(&admin, body).await?,
    )))
}

/// Remove a permission from the catalogue; grants naming it stay.
#[utoipa::path(delete, path = "/api/v1/rbac/permissions/{permission}", tag = "authorization", security(("bearer" = [])),
    params(("permission" = String, Path, description = "resource:action:scope")),
    responses((status = 200, body = RevisionView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The permission is not resource:action:scope", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn permission_define_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
) -> Answer<RevisionView> {
    Ok(axum::Json(revision_view(
        s.core
            .authz()
            .undefine_permission(&admin, p.text("permission")?)
            .await?,
    )))
}

/// A user's role and permission grants.
#[utoipa::path(get, path = "/api/v1/rbac/users/{id}/roles", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")), responses((status = 200, body = GrantsView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_grants_get(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesRead>,
    p: Params,
) -> Answer<GrantsView> {
    let id = p.id("id", "user")?;
    Ok(axum::Json(grants_view(
        s.core.authz().grants(ReadGrants::User(&admin, id)).await?,
    )))
}

/// Grant a role to a user.
#[utoipa::path(post, path = "/api/v1/rbac/users/{id}/roles", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")), request_body = GrantRoleRequest,
    responses((status = 201, body = RevisionView), (status = 422, description = "Unknown role, expiry in the past", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_role_post(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
    Json(body): Json<GrantRoleRequest>,
) -> Result<(StatusCode, axum::Json<RevisionView>), ApiError> {
    let id = p.id("id", "user")?;
    Ok(created(revision_view(
        s.core
            .authz()
            .grant_role(ManageGrants::User(&admin, id), body)
            .await?,
    )))
}

/// Revoke a user's role.
#[utoipa::path(delete, path = "/api/v1/rbac/users/{id}/roles/{role}", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id"), ("role" = String, Path, description = "Role id or name")),
    responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no such grant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_role_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
) -> Answer<RevisionView> {
    let id = p.id("id", "user")?;
    Ok(axum::Json(revision_view(
        s.core
            .authz()
            .revoke_role(ManageGrants::User(&admin, id), p.text("role")?)
            .await?,
    )))
}

/// Grant (or deny) a permission directly to a user.
#[utoipa::path(post, path = "/api/v1/rbac/users/{id}/permissions", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id")), request_body = GrantPermissionRequest,
    responses((status = 201, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_permission_post(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
    Json(body): Json<GrantPermissionRequest>,
) -> Result<(StatusCode, axum::Json<RevisionView>), ApiError> {
    let id = p.id("id", "user")?;
    Ok(created(revision_view(
        s.core
            .authz()
            .grant_permission(ManageGrants::User(&admin, id), body)
            .await?,
    )))
}

/// Remove a user's direct permission grant.
#[utoipa::path(delete, path = "/api/v1/rbac/users/{id}/permissions/{permission}", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id"), ("permission" = String, Path, description = "resource:action:scope")),
    responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user, or no such grant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The permission is not resource:action:scope", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn user_permission_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<RolesManage>,
    p: Params,
) -> Answer<RevisionView> {
    let id = p.id("id", "user")?;
    Ok(axum::Json(revision_view(
        s.core
            .authz()
            .revoke_permission(ManageGrants::User(&admin, id), p.text("permission")?)
            .await?,
    )))
}

/// List policies.
#[utoipa::path(get, path = "/api/v1/rbac/policies", tag = "authorization", security(("bearer" = [])),
    responses((status = 200, body = PolicyList),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn policies_list(
    State(s): State<AppState>,
    Admin(admin): Admin<PoliciesRead>,
) -> Answer<PolicyList> {
    Ok(axum::Json(policy_list(
        s.core.authz().list_policies(&admin).await?,
    )))
}

/// Create a policy: native fields (`effect`, `actions`, `resources`,
/// `condition` in JSON Logic) or an IAM-style `document`.
#[utoipa::path(post, path = "/api/v1/rbac/policies", tag = "authorization", security(("bearer" = [])),
    request_body = Object,
    responses((status = 201, body = PolicyView), (status = 422, description = "Invalid field, JSON Logic or document", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn policy_post(
    State(s): State<AppState>,
    Admin(admin): Admin<PoliciesManage>,
    Json(body): Json<serde_json::Value>,
) -> Result<(StatusCode, axum::Json<PolicyView>), ApiError> {
    Ok(created(policy_view(
        s.core.authz().create_policy(&admin, body).await?,
    )))
}

/// Get a policy by id or name.
#[utoipa::path(get, path = "/api/v1/rbac/policies/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id or name")), responses((status = 200, body = PolicyView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn policy_get(
    State(s): State<AppState>,
    Admin(admin): Admin<PoliciesRead>,
    p: Params,
) -> Answer<PolicyView> {
    Ok(axum::Json(policy_view(
        s.core.authz().get_policy(&admin, p.text("id")?).await?,
    )))
}

/// Change a policy; fields given replace the stored ones.
#[utoipa::path(patch, path = "/api/v1/rbac/policies/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id or name")), request_body = Object,
    responses((status = 200, body = PolicyView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn policy_patch(
    State(s): State<AppState>,
    Admin(admin): Admin<PoliciesManage>,
    p: Params,
    Json(body): Json<serde_json::Value>,
) -> Answer<PolicyView> {
    Ok(axum::Json(policy_view(
        s.core
            .authz()
            .update_policy(&admin, p.text("id")?, body)
            .await?,
    )))
}

/// Delete a policy.
#[utoipa::path(delete, path = "/api/v1/rbac/policies/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Policy id or name")), responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such policy", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn policy_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<PoliciesManage>,
    p: Params,
) -> Answer<RevisionView> {
    Ok(axum::Json(revision_view(
        s.core.authz().delete_policy(&admin, p.text("id")?).await?,
    )))
}

/// Decide whether a subject may perform an action on a resource.
#[utoipa::path(post, path = "/api/v1/authz/check", tag = "authorization", security(("bearer" = [])),
    request_body = CheckRequestBody,
    responses((status = 200, body = CheckResponseBody), (status = 403, description = "Checking another subject needs authz:check:all", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn check_post(
    State(s): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CheckRequestBody>,
) -> Answer<CheckResponseBody> {
    Ok(axum::Json(check_response(
        s.core.authz().check(&ctx.caller(), body).await?,
    )))
}

/// Decide up to 1,000 checks at one revision.
#[utoipa::path(post, path = "/api/v1/authz/check-batch", tag = "authorization", security(("bearer" = [])),
    request_body = CheckBatchRequest, responses((status = 200, body = CheckBatchResponse)))]
pub(crate) async fn check_batch_post(
    State(s): State<AppState>,
    ctx: Ctx,
    Json(body): Json<CheckBatchRequest>,
) -> Answer<CheckBatchResponse> {
    Ok(axum::Json(check_batch_response(
        s.core.authz().check_batch(&ctx.caller(), body).await?,
    )))
}

/// Query of the effective-permissions read.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EffectiveQuery {
    /// Never answer from a revision older than this.
    min_revision: Option<i64>,
}

/// A user's effective permissions, with their sources; `ETag` is the revision.
#[utoipa::path(get, path = "/api/v1/authz/users/{id}/permissions", tag = "authorization", security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "User id"), EffectiveQuery),
    responses((status = 200, body = EffectivePermissions), (status = 304, description = "Unchanged since the ETag given in If-None-Match"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 400, description = "The query string does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Reading another user's permissions needs authz:check:all", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`min_revision` is ahead of the realm's revision", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn effective_get(
    State(s): State<AppState>,
    ctx: Ctx,
    p: Params,
    headers: HeaderMap,
    query: Result<axum::extract::Query<EffectiveQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad-query", e.body_text()))?;
    let id = p.id("id", "user")?;
    let body = effective_permissions(
        s.core
            .authz()
            .effective_permissions(&ctx.caller(), id, q.min_revision)
            .await?,
    );
    let etag = format!("\"r{}\"", body.revision);
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag)
        });
    let cache = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "private, no-cache".to_owned()),
    ];
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, axum::Json(body)).into_response())
}

/// May the bearer do `action` on `resource`? The decision for the caller itself, with its reason.
#[utoipa::path(post, path = "/api/v1/auth/authorize", tag = "authorization", security(("bearer" = [])),
    request_body = AuthorizeRequest, responses((status = 200, body = CheckResponseBody)))]
pub(crate) async fn authorize_post(
    State(s): State<AppState>,
    ctx: Ctx,
    Json(body): Json<AuthorizeRequest>,
) -> Answer<CheckResponseBody> {
    Ok(axum::Json(check_response(
        s.core.authz().authorize(&ctx.caller(), body).await?,
    )))
}
