//! `/api/v1/organizations/{id}/domains`, `/invitations` and `/dashboard`:
//! an organization's verified e-mail domains, its invitations by e-mail
//! and its dashboard (the realm's organizations permissions, or
//! administration of the organization); `/api/v1/organizations/
//! invitations/accept` and `/api/v1/auth/me/organizations` for the
//! signed-in user.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use portcullis_core::access::{OrganizationsManage, OrganizationsRead};
use portcullis_core::orgs::{Invitation, OrgDomain, VerifyMethod};
use portcullis_proto::{
    AcceptInvitationRequest, AddOrganizationDomainRequest, CreateInvitationRequest, InvitationList,
    InvitationView, MyInvitationView, MyMembershipView, MyOrganizationsView,
    OrganizationDashboardView, OrganizationDomainList, OrganizationDomainView,
    OrganizationEventView, Problem, TxtRecordView, UpdateOrganizationDomainRequest,
    VerifyOrganizationDomainRequest,
};

use super::orgs::{org_admin, org_view};
use super::realm_route;
use crate::error::ApiError;
use crate::extract::{AdminCtx, Authenticated, Json, OptionalJson, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(
        r,
        "/organizations/{id}/domains",
        get(domains_list).post(domain_post),
    );
    r = realm_route(
        r,
        "/organizations/{id}/domains/{domain}",
        delete(domain_delete).patch(domain_patch),
    );
    r = realm_route(
        r,
        "/organizations/{id}/domains/{domain}/verify",
        post(domain_verify_post),
    );
    r = realm_route(
        r,
        "/organizations/{id}/invitations",
        get(invitations_list).post(invitation_post),
    );
    r = realm_route(
        r,
        "/organizations/{id}/invitations/{invitation}",
        delete(invitation_delete),
    );
    r = realm_route(
        r,
        "/organizations/invitations/accept",
        post(invitation_accept_post),
    );
    r = realm_route(r, "/organizations/{id}/dashboard", get(dashboard_get));
    r = realm_route(r, "/auth/me/organizations", get(me_organizations_get));
    r
}

fn domain_view(d: OrgDomain) -> OrganizationDomainView {
    OrganizationDomainView {
        txt_record: TxtRecordView {
            name: d.record_name(),
            value: d.challenge,
        },
        domain: d.domain,
        verified: d.verified_at.is_some(),
        verified_at: d.verified_at,
        verified_by: d.verified_by,
        auto_join: d.auto_join,
        role: d.join_role,
        created_at: d.created_at,
    }
}

fn invitation_view(i: Invitation) -> InvitationView {
    InvitationView {
        id: i.id,
        organization_id: i.organization_id,
        email: i.email,
        role: i.role,
        created_at: i.created_at,
        expires_at: i.expires_at,
    }
}

/// List an organization's e-mail domains.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/domains", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 200, description = "The domains, by name", body = OrganizationDomainList),
        (status = 403, description = "The caller neither holds organizations:read:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn domains_list(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<OrganizationDomainList>, ApiError> {
    let admin = org_admin::<OrganizationsRead>(&state, who, &params).await?;
    let items = state.core.organizations().domains(&admin).await?;
    Ok(axum::Json(OrganizationDomainList {
        items: items.into_iter().map(domain_view).collect(),
    }))
}

/// Claim an e-mail domain: answers with the TXT record to publish.
#[utoipa::path(post, path = "/api/v1/organizations/{id}/domains", tag = "organizations",
    security(("bearer" = [])), request_body = AddOrganizationDomainRequest,
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 201, description = "Claimed, not verified yet", body = OrganizationDomainView),
        (status = 403, description = "The caller neither holds organizations:manage:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Claimed already, or verified by another organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid domain (a wildcard, a public suffix) or role, every one named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn domain_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<AddOrganizationDomainRequest>,
) -> Result<(StatusCode, axum::Json<OrganizationDomainView>), ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let d = state
        .core
        .organizations()
        .add_domain(&admin, &body.domain, body.auto_join, body.role.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(domain_view(d))))
}

/// Change a domain's policy (`auto_join`, `role`).
#[utoipa::path(patch, path = "/api/v1/organizations/{id}/domains/{domain}", tag = "organizations",
    security(("bearer" = [])), request_body = UpdateOrganizationDomainRequest,
    params(("id" = String, Path, description = "Organization id or name"),
           ("domain" = String, Path, description = "The domain")),
    responses(
        (status = 200, description = "Changed", body = OrganizationDomainView),
        (status = 403, description = "The caller neither holds organizations:manage:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or domain", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown role", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn domain_patch(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<UpdateOrganizationDomainRequest>,
) -> Result<axum::Json<OrganizationDomainView>, ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let d = state
        .core
        .organizations()
        .set_domain_policy(
            &admin,
            params.text("domain")?,
            body.auto_join,
            body.role.as_deref(),
        )
        .await?;
    Ok(axum::Json(domain_view(d)))
}

/// Stop claiming a domain.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/domains/{domain}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name"),
           ("domain" = String, Path, description = "The domain")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "The caller neither holds organizations:manage:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or domain", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn domain_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    state
        .core
        .organizations()
        .remove_domain(&admin, params.text("domain")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verify a domain: by its DNS TXT record (`dns`, the default), or on the
/// word of a realm administrator (`admin`).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/domains/{domain}/verify", tag = "organizations",
    security(("bearer" = [])), request_body = VerifyOrganizationDomainRequest,
    params(("id" = String, Path, description = "Organization id or name"),
           ("domain" = String, Path, description = "The domain")),
    responses(
        (status = 200, description = "Verified", body = OrganizationDomainView),
        (status = 403, description = "Not an administrator of the organization, or `admin` without organizations:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or domain", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another organization of the realm verified the domain", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown method, or the TXT record does not hold the value yet", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "DNS did not answer", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn domain_verify_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    OptionalJson(body): OptionalJson<VerifyOrganizationDomainRequest>,
) -> Result<axum::Json<OrganizationDomainView>, ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let method = body
        .method
        .map(|m| VerifyMethod::parse(&m))
        .transpose()
        .map_err(|e| portcullis_core::Error::Validation(vec![e]))?
        .unwrap_or(VerifyMethod::Dns);
    let d = state
        .core
        .organizations()
        .verify_domain(&admin, params.text("domain")?, method)
        .await?;
    Ok(axum::Json(domain_view(d)))
}

/// List an organization's pending invitations.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/invitations", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 200, description = "Invitations not accepted, oldest first", body = InvitationList),
        (status = 403, description = "The caller neither holds organizations:read:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invitations_list(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<InvitationList>, ApiError> {
    let admin = org_admin::<OrganizationsRead>(&state, who, &params).await?;
    let items = state.core.organizations().invitations(&admin).await?;
    Ok(axum::Json(InvitationList {
        items: items.into_iter().map(invitation_view).collect(),
    }))
}

/// Invite an address: a single-use link goes to it (an earlier invitation
/// of the address stops working).
#[utoipa::path(post, path = "/api/v1/organizations/{id}/invitations", tag = "organizations",
    security(("bearer" = [])), request_body = CreateInvitationRequest,
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 201, description = "Invited", body = InvitationView),
        (status = 403, description = "The caller neither holds organizations:manage:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid address or role, every one named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invitation_post(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
    Json(body): Json<CreateInvitationRequest>,
) -> Result<(StatusCode, axum::Json<InvitationView>), ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let inv = state
        .core
        .organizations()
        .invite(&admin, &body.email, body.role.as_deref())
        .await?;
    Ok((StatusCode::CREATED, axum::Json(invitation_view(inv))))
}

/// Withdraw an invitation.
#[utoipa::path(delete, path = "/api/v1/organizations/{id}/invitations/{invitation}", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name"),
           ("invitation" = uuid::Uuid, Path, description = "The invitation's id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 403, description = "The caller neither holds organizations:manage:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization or pending invitation", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invitation_delete(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let admin = org_admin::<OrganizationsManage>(&state, who, &params).await?;
    let id = params.id("invitation", "invitation")?;
    state
        .core
        .organizations()
        .revoke_invitation(&admin, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation with the token of its link, as the signed-in user
/// whose address was invited.
#[utoipa::path(post, path = "/api/v1/organizations/invitations/accept", tag = "organizations",
    security(("bearer" = [])), request_body = AcceptInvitationRequest,
    responses(
        (status = 200, description = "A member now (a member already keeps its role)", body = MyMembershipView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The invitation is for another address", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The token is invalid, expired, replaced or already used", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn invitation_accept_post(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    Json(body): Json<AcceptInvitationRequest>,
) -> Result<axum::Json<MyMembershipView>, ApiError> {
    let (org, membership) = state
        .core
        .organizations()
        .accept_invitation(&who, &body.token)
        .await?;
    Ok(axum::Json(MyMembershipView {
        organization: org_view(org),
        role: membership.role,
    }))
}

/// The caller's organizations and the invitations waiting for it.
#[utoipa::path(get, path = "/api/v1/auth/me/organizations", tag = "organizations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Memberships and live invitations", body = MyOrganizationsView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn me_organizations_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<MyOrganizationsView>, ApiError> {
    let mine = state.core.organizations().mine(&who).await?;
    Ok(axum::Json(MyOrganizationsView {
        memberships: mine
            .memberships
            .into_iter()
            .map(|(org, role)| MyMembershipView {
                organization: org_view(org),
                role,
            })
            .collect(),
        invitations: mine
            .invitations
            .into_iter()
            .map(|(inv, org)| MyInvitationView {
                id: inv.id,
                organization: org_view(org),
                role: inv.role,
                expires_at: inv.expires_at,
            })
            .collect(),
    }))
}

/// An organization's dashboard: members, activity, MFA coverage,
/// invitations and its members' latest security events.
#[utoipa::path(get, path = "/api/v1/organizations/{id}/dashboard", tag = "organizations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Organization id or name")),
    responses(
        (status = 200, description = "The dashboard", body = OrganizationDashboardView),
        (status = 403, description = "The caller neither holds organizations:read:all nor administers the organization", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such organization", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn dashboard_get(
    State(state): State<AppState>,
    AdminCtx(who): AdminCtx,
    params: Params,
) -> Result<axum::Json<OrganizationDashboardView>, ApiError> {
    let admin = org_admin::<OrganizationsRead>(&state, who, &params).await?;
    let d = state.core.organizations().dashboard(&admin).await?;
    Ok(axum::Json(OrganizationDashboardView {
        members: d.stats.members,
        active_members_30d: d.stats.active,
        members_with_mfa: d.stats.with_mfa,
        mfa_coverage: d.mfa_coverage(),
        pending_invitations: d.pending_invitations,
        recent_events: d
            .recent_events
            .into_iter()
            .map(|e| OrganizationEventView {
                id: e.id,
                action: e.action,
                target: e.target,
                actor: e.actor,
                at: e.at,
            })
            .collect(),
    }))
}
