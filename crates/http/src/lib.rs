//! The Portcullis HTTP layer: one axum router per resource, the extractors and
//! middleware every request passes through, RFC 9457 errors, and the OpenAPI
//! document. Handlers are thin: parse input, call one core service, map the
//! result. No SQL and no business rules here; only this crate knows axum.

mod error;
mod extract;
mod middleware;
pub mod openapi;
mod routes;
mod state;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::timeout::TimeoutLayer;

pub use error::ApiError;
pub use middleware::install_metrics_recorder;
pub use state::AppState;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application router with its middleware, in the order of
/// ARCHITECTURE.md: request id and trace span, security headers, panic guard,
/// timeout and body limit around the router, metrics around each route, then
/// authentication inside the handlers' extractors.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(routes::auth::router())
        .merge(routes::mfa::router())
        .merge(routes::risk::router())
        .merge(routes::users::router())
        .merge(routes::authz::router())
        .merge(routes::clients::router())
        .merge(routes::mail::router())
        .merge(routes::links::router())
        .merge(routes::oauth::router())
        .merge(routes::pages::router())
        .merge(routes::realms::router())
        .merge(routes::ops::router())
        .merge(openapi::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::MetricsLayer)
        .with_state(state);
    // Layers given to `Router::layer` wrap every route separately, and are
    // cloned with it on every request; these wrap the router once.
    let edge = tower::ServiceBuilder::new()
        .layer(middleware::RequestIdLayer)
        .map_response(middleware::security_headers)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .service(routes);
    Router::new().fallback_service(edge)
}
