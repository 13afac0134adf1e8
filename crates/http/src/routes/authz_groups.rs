//! The groups of the authorization API: `/api/v1/identity/groups/...`
//! (groups, their members and their grants). Routed by [`super::authz`].

use axum::extract::State;
use axum::http::StatusCode;
use portcullis_core::access::{GroupsManage, GroupsRead};
use portcullis_core::authz::{ManageGrants, ReadGrants};
use portcullis_proto::*;

use super::authz::{Answer, created};
use super::authz_views::{grants_view, group_list, group_view, member_list, revision_view};
use crate::error::ApiError;
use crate::extract::{Admin, Json, Params};
use crate::state::AppState;

/// List groups.
#[utoipa::path(get, path = "/api/v1/identity/groups", tag = "authorization", security(("bearer" = [])),
    responses((status = 200, body = GroupList),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn groups_list(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsRead>,
) -> Answer<GroupList> {
    Ok(axum::Json(group_list(
        s.core.authz().list_groups(&admin).await?,
    )))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/identity/groups", tag = "authorization", security(("bearer" = [])),
    request_body = CreateGroupRequest, responses((status = 201, body = GroupView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_post(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    Json(body): Json<CreateGroupRequest>,
) -> Result<(StatusCode, axum::Json<GroupView>), ApiError> {
    Ok(created(group_view(
        s.core.authz().create_group(&admin, body).await?,
    )))
}

/// Get a group by id or name.
#[utoipa::path(get, path = "/api/v1/identity/groups/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), responses((status = 200, body = GroupView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_get(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsRead>,
    p: Params,
) -> Answer<GroupView> {
    Ok(axum::Json(group_view(
        s.core.authz().get_group(&admin, p.text("id")?).await?,
    )))
}

/// Change a group (name, description, parent).
#[utoipa::path(patch, path = "/api/v1/identity/groups/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), request_body = UpdateGroupRequest,
    responses((status = 200, body = GroupView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_patch(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
    Json(body): Json<UpdateGroupRequest>,
) -> Answer<GroupView> {
    Ok(axum::Json(group_view(
        s.core
            .authz()
            .update_group(&admin, p.text("id")?, body)
            .await?,
    )))
}

/// Delete a group; its children move to its parent.
#[utoipa::path(delete, path = "/api/v1/identity/groups/{id}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
) -> Answer<RevisionView> {
    Ok(axum::Json(revision_view(
        s.core.authz().delete_group(&admin, p.text("id")?).await?,
    )))
}

/// A group's members.
#[utoipa::path(get, path = "/api/v1/identity/groups/{id}/members", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), responses((status = 200, body = MemberList),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn members_get(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsRead>,
    p: Params,
) -> Answer<MemberList> {
    Ok(axum::Json(member_list(
        s.core.authz().members(&admin, p.text("id")?).await?,
    )))
}

/// Add a member.
#[utoipa::path(post, path = "/api/v1/identity/groups/{id}/members", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), request_body = AddMemberRequest,
    responses((status = 201, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn member_post(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
    Json(body): Json<AddMemberRequest>,
) -> Result<(StatusCode, axum::Json<RevisionView>), ApiError> {
    Ok(created(revision_view(
        s.core
            .authz()
            .add_member(&admin, p.text("id")?, body)
            .await?,
    )))
}

/// Remove a member.
#[utoipa::path(delete, path = "/api/v1/identity/groups/{id}/members/{user}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name"), ("user" = uuid::Uuid, Path, description = "User id")),
    responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group or membership", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn member_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
) -> Answer<RevisionView> {
    let user = p.id("user", "membership")?;
    Ok(axum::Json(revision_view(
        s.core
            .authz()
            .remove_member(&admin, p.text("id")?, user)
            .await?,
    )))
}

/// A group's role and permission grants.
#[utoipa::path(get, path = "/api/v1/identity/groups/{id}/roles", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), responses((status = 200, body = GrantsView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_grants_get(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsRead>,
    p: Params,
) -> Answer<GrantsView> {
    Ok(axum::Json(grants_view(
        s.core
            .authz()
            .grants(ReadGrants::Group(&admin, p.text("id")?))
            .await?,
    )))
}

/// Grant a role to a group.
#[utoipa::path(post, path = "/api/v1/identity/groups/{id}/roles", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), request_body = GrantRoleRequest,
    responses((status = 201, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_role_post(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
    Json(body): Json<GrantRoleRequest>,
) -> Result<(StatusCode, axum::Json<RevisionView>), ApiError> {
    Ok(created(revision_view(
        s.core
            .authz()
            .grant_role(ManageGrants::Group(&admin, p.text("id")?), body)
            .await?,
    )))
}

/// Revoke a group's role.
#[utoipa::path(delete, path = "/api/v1/identity/groups/{id}/roles/{role}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name"), ("role" = String, Path, description = "Role id or name")),
    responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group, or no such grant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_role_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
) -> Answer<RevisionView> {
    Ok(axum::Json(revision_view(
        s.core
            .authz()
            .revoke_role(ManageGrants::Group(&admin, p.text("id")?), p.text("role")?)
            .await?,
    )))
}

/// Grant (or deny) a permission to a group.
#[utoipa::path(post, path = "/api/v1/identity/groups/{id}/permissions", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name")), request_body = GrantPermissionRequest,
    responses((status = 201, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_permission_post(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
    Json(body): Json<GrantPermissionRequest>,
) -> Result<(StatusCode, axum::Json<RevisionView>), ApiError> {
    Ok(created(revision_view(
        s.core
            .authz()
            .grant_permission(ManageGrants::Group(&admin, p.text("id")?), body)
            .await?,
    )))
}

/// Remove a group's direct permission grant.
#[utoipa::path(delete, path = "/api/v1/identity/groups/{id}/permissions/{permission}", tag = "authorization", security(("bearer" = [])),
    params(("id" = String, Path, description = "Group id or name"), ("permission" = String, Path, description = "resource:action:scope")),
    responses((status = 200, body = RevisionView),
        (status = 403, description = "The caller lacks the permission", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such group, or no such grant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A conflicting change: a name taken, or the authorization data kept changing (retry)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The permission is not resource:action:scope", body = Problem, content_type = "application/problem+json")))]
pub(crate) async fn group_permission_delete(
    State(s): State<AppState>,
    Admin(admin): Admin<GroupsManage>,
    p: Params,
) -> Answer<RevisionView> {
    Ok(axum::Json(revision_view(
        s.core
            .authz()
            .revoke_permission(
                ManageGrants::Group(&admin, p.text("id")?),
                p.text("permission")?,
            )
            .await?,
    )))
}
