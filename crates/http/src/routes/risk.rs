//! Adaptive security: the caller's known devices, and the realm's risk
//! policy.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use portcullis_core::risk::{KnownDevice, MismatchAction, RiskPolicy};
use portcullis_proto::{DeviceView, Problem, RiskPolicyView};

use super::realm_route;
use crate::error::ApiError;
use crate::extract::{Admin, Authenticated, Json, Params};
use crate::state::AppState;
use portcullis_core::access::RealmsManage;

pub(crate) fn router() -> Router<AppState> {
    let mut r = Router::new();
    r = realm_route(r, "/auth/devices", get(devices_get));
    r = realm_route(r, "/auth/devices/{fingerprint}", delete(device_delete));
    realm_route(r, "/risk-policy", get(policy_get).put(policy_put))
}

fn device_view(d: KnownDevice) -> DeviceView {
    DeviceView {
        fingerprint: d.fingerprint,
        description: d.description,
        first_seen_at: d.first_seen_at,
        last_seen_at: d.last_seen_at,
        last_network: d.last_network,
        country: d.country,
    }
}

fn policy_view(p: RiskPolicy) -> RiskPolicyView {
    RiskPolicyView {
        enabled: p.enabled,
        step_up_at: p.step_up_at,
        block_at: p.block_at,
        notify_new_device: p.notify_new_device,
        on_device_mismatch: p.on_device_mismatch.as_str().to_owned(),
        fresh_auth_max_age: p.fresh_auth_max_age,
    }
}

/// The devices the caller has signed in with, most recent first.
#[utoipa::path(get, path = "/api/v1/auth/devices", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Known devices", body = [DeviceView]),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn devices_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<Vec<DeviceView>>, ApiError> {
    let devices = state.core.risk().devices(&who.realm, who.user_id).await?;
    Ok(axum::Json(devices.into_iter().map(device_view).collect()))
}

/// Forget one of the caller's devices: its next sign-in counts as new.
#[utoipa::path(delete, path = "/api/v1/auth/devices/{fingerprint}", tag = "auth",
    security(("bearer" = [])),
    params(("fingerprint" = String, Path, description = "The device's fingerprint")),
    responses(
        (status = 204, description = "Forgotten"),
        (status = 404, description = "No such device of the caller", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn device_delete(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let fingerprint = params.text("fingerprint")?;
    state
        .core
        .risk()
        .forget_device(&who.realm, who.user_id, fingerprint)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The realm's adaptive-security policy.
#[utoipa::path(get, path = "/api/v1/risk-policy", tag = "realms",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy", body = RiskPolicyView),
        (status = 401, description = "Missing or invalid access token", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn policy_get(
    State(state): State<AppState>,
    Authenticated(who): Authenticated,
) -> Result<axum::Json<RiskPolicyView>, ApiError> {
    Ok(axum::Json(policy_view(
        state.core.risk().policy(&who.realm).await?,
    )))
}

/// Set the realm's adaptive-security policy (`realms:manage:all`).
#[utoipa::path(put, path = "/api/v1/risk-policy", tag = "realms",
    security(("bearer" = [])),
    request_body = RiskPolicyView,
    responses(
        (status = 200, description = "The policy in force", body = RiskPolicyView),
        (status = 403, description = "Not a realm administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Thresholds out of 1..=100, block_at below step_up_at, an unknown on_device_mismatch or fresh_auth_max_age out of 30..=86400", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn policy_put(
    State(state): State<AppState>,
    Admin(admin): Admin<RealmsManage>,
    Json(body): Json<RiskPolicyView>,
) -> Result<axum::Json<RiskPolicyView>, ApiError> {
    let on_device_mismatch = MismatchAction::parse(&body.on_device_mismatch).ok_or_else(|| {
        portcullis_core::Error::field("on_device_mismatch", "must be step_up or end_session")
    })?;
    let policy = RiskPolicy {
        enabled: body.enabled,
        step_up_at: body.step_up_at,
        block_at: body.block_at,
        notify_new_device: body.notify_new_device,
        on_device_mismatch,
        fresh_auth_max_age: body.fresh_auth_max_age,
    };
    let set = state.core.risk().set_policy(&admin, policy).await?;
    Ok(axum::Json(policy_view(set)))
}
