//! Operations: health probes and Prometheus metrics.

use portcullis_core::clock::Stopwatch;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live_get))
        .route("/health/ready", get(ready_get))
        .route("/health", get(health_get))
        .route("/metrics", get(metrics_get))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "Alive", body = Object)))]
pub(crate) async fn live_get() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Object),
        (status = 503, description = "Database unreachable", body = Object),
    ))]
pub(crate) async fn ready_get(State(state): State<AppState>) -> impl IntoResponse {
    match state.core.store().ping().await {
        Ok(()) => (StatusCode::OK, axum::Json(json!({ "status": "ok" }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({ "status": "unavailable" })),
            )
        }
    }
}

/// Health of each component.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Every component healthy", body = Object),
        (status = 503, description = "A component is down", body = Object),
    ))]
pub(crate) async fn health_get(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.core.store();
    let started = Stopwatch::start();
    let db = store.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let up = db.is_ok();
    let body = json!({
        "status": if up { "ok" } else { "degraded" },
        "version": env!("CARGO_PKG_VERSION"),
        "components": {
            "database": {
                "status": if up { "ok" } else { "unavailable" },
                "backend": store.backend_name(),
                "latency_ms": latency_ms,
            }
        }
    });
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub(crate) async fn metrics_get(State(state): State<AppState>) -> impl IntoResponse {
    let now = state.core.clock().now();
    state.core.publish_cache_metrics();
    match state.core.store().count_active_sessions(now).await {
        Ok(n) => metrics::gauge!("portcullis_active_sessions").set(n as f64),
        Err(e) => tracing::warn!(error = %e, "could not count active sessions"),
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
