//! `/api/v1/security`: the realm's rate-limit policy and the callers
//! blocked in it (`security:read:all` to read, `security:manage:all` to
//! change the policy or lift a block).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use portcullis_core::FieldError;
use portcullis_core::access::{SecurityManage, SecurityRead};
use portcullis_core::edge::admin::PolicyInForce;
use portcullis_core::edge::policy::{GroupLimits, StrikeRules};
use portcullis_core::edge::{Block, Group, RateLimitPolicy};
use portcullis_proto::{
    BlockView, GroupLimitsDoc, Problem, RateLimitPolicyDoc, RateLimitPolicyView, StrikeRulesDoc,
};

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{Admin, Json, Params};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/security/blocks", get(blocks_get));
    r = realm_route(r, "/security/blocks/{id}", delete(block_delete));
    realm_route(
        r,
        "/security/rate-limits",
        get(rate_limits_get)
            .put(rate_limits_put)
            .delete(rate_limits_delete),
    )
}

fn block_view(b: Block) -> BlockView {
    BlockView {
        id: b.id,
        kind: b.subject.kind().to_owned(),
        subject: b.subject.value(),
        reason: b.reason.as_str().to_owned(),
        level: b.level,
        since: b.since,
        until: b.until,
    }
}

fn policy_doc(p: &RateLimitPolicy) -> RateLimitPolicyDoc {
    RateLimitPolicyDoc {
        enabled: p.enabled,
        groups: p
            .groups
            .iter()
            .map(|(g, l)| {
                (
                    g.name().to_owned(),
                    GroupLimitsDoc {
                        window_seconds: l.window_seconds,
                        per_ip: l.per_ip,
                        tiers: l.tiers.clone(),
                    },
                )
            })
            .collect(),
        strikes: StrikeRulesDoc {
            threshold: p.strikes.threshold,
            window_seconds: p.strikes.window_seconds,
            block_seconds: p.strikes.block_seconds.clone(),
            script_input_strikes: p.strikes.script_input_strikes,
        },
    }
}

fn policy_view(p: PolicyInForce) -> RateLimitPolicyView {
    RateLimitPolicyView {
        is_default: p.is_default,
        policy: policy_doc(&p.policy),
    }
}

/// The policy a document describes, and the names of the groups it gives
/// that do not exist.
fn policy_of(doc: RateLimitPolicyDoc) -> (RateLimitPolicy, Vec<FieldError>) {
    let mut errors = Vec::new();
    let mut groups = BTreeMap::new();
    for (name, l) in doc.groups {
        match Group::ALL.into_iter().find(|g| g.name() == name) {
            Some(g) => {
                groups.insert(
                    g,
                    GroupLimits {
                        window_seconds: l.window_seconds,
                        per_ip: l.per_ip,
                        tiers: l.tiers,
                    },
                );
            }
            None => errors.push(FieldError::new(
                format!("groups.{}", name.chars().take(64).collect::<String>()),
                "no such limiter group (login, registration, mail, token, service, admin, general)",
            )),
        }
    }
    let policy = RateLimitPolicy {
        enabled: doc.enabled,
        groups,
        strikes: StrikeRules {
            threshold: doc.strikes.threshold,
            window_seconds: doc.strikes.window_seconds,
            block_seconds: doc.strikes.block_seconds,
            script_input_strikes: doc.strikes.script_input_strikes,
        },
    };
    (policy, errors)
}

/// The callers blocked in the realm now, newest first.
#[utoipa::path(get, path = "/api/v1/security/blocks", tag = "security",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Live blocks", body = [BlockView]),
        (status = 403, description = "Without security:read:all", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn blocks_get(
    State(state): State<AppState>,
    Admin(admin): Admin<SecurityRead>,
) -> Result<axum::Json<Vec<BlockView>>, ApiError> {
    let blocks = state.core.edge().blocks(&admin).await;
    Ok(axum::Json(blocks.into_iter().map(block_view).collect()))
}

/// Lift a block: the caller may send requests again, its strikes start from zero.
#[utoipa::path(delete, path = "/api/v1/security/blocks/{id}", tag = "security",
    security(("bearer" = [])),
    params(("id" = uuid::Uuid, Path, description = "The block's id")),
    responses(
        (status = 200, description = "The block lifted", body = BlockView),
        (status = 403, description = "Without security:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live block in this realm", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn block_delete(
    State(state): State<AppState>,
    Admin(admin): Admin<SecurityManage>,
    params: Params,
) -> Result<axum::Json<BlockView>, ApiError> {
    let id = params.id("id", "block")?;
    let block = state.core.edge().lift_block(&admin, id).await?;
    Ok(axum::Json(block_view(block)))
}

/// The realm's rate-limit policy (its own, or the server's default).
#[utoipa::path(get, path = "/api/v1/security/rate-limits", tag = "security",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy in force", body = RateLimitPolicyView),
        (status = 403, description = "Without security:read:all", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn rate_limits_get(
    State(state): State<AppState>,
    Admin(admin): Admin<SecurityRead>,
) -> Result<axum::Json<RateLimitPolicyView>, ApiError> {
    let p = state.core.edge().rate_limit_policy(&admin).await?;
    Ok(axum::Json(policy_view(p)))
}

/// Set the realm's rate-limit policy (every group must be given).
#[utoipa::path(put, path = "/api/v1/security/rate-limits", tag = "security",
    security(("bearer" = [])),
    request_body = RateLimitPolicyDoc,
    responses(
        (status = 200, description = "The policy in force", body = RateLimitPolicyView),
        (status = 403, description = "Without security:manage:all", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Every wrong field, named", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn rate_limits_put(
    State(state): State<AppState>,
    Admin(admin): Admin<SecurityManage>,
    Json(body): Json<RateLimitPolicyDoc>,
) -> Result<axum::Json<RateLimitPolicyView>, ApiError> {
    let (policy, mut errors) = policy_of(body);
    if !errors.is_empty() {
        if let Err(portcullis_core::Error::Validation(more)) = policy.validate() {
            errors.extend(more);
        }
        return Err(portcullis_core::Error::Validation(errors).into());
    }
    let p = state
        .core
        .edge()
        .set_rate_limit_policy(&admin, policy)
        .await?;
    Ok(axum::Json(policy_view(p)))
}

/// Drop the realm's own policy: the server's default applies again.
#[utoipa::path(delete, path = "/api/v1/security/rate-limits", tag = "security",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The default, now in force", body = RateLimitPolicyView),
        (status = 403, description = "Without security:manage:all", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn rate_limits_delete(
    State(state): State<AppState>,
    Admin(admin): Admin<SecurityManage>,
) -> Result<(StatusCode, axum::Json<RateLimitPolicyView>), ApiError> {
    let p = state.core.edge().reset_rate_limit_policy(&admin).await?;
    Ok((StatusCode::OK, axum::Json(policy_view(p))))
}
