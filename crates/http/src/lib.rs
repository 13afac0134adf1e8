//! The Portcullis HTTP layer: one axum router per resource, the extractors and
//! middleware every request passes through, RFC 9457 errors, and the OpenAPI
//! document. Handlers are thin: parse input, call one core service, map the
//! result. No SQL and no business rules here; only this crate knows axum.

mod body;
mod cookie_mode;
mod edge;
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
pub use middleware::{TraceContextLink, install_metrics_recorder, set_trace_context_link};
pub use state::AppState;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole application router with its middleware, outermost first (drawn
/// in docs/architecture.md, "Request path"): request id and trace span,
/// security headers, panic guard, timeout and body limit around the router,
/// metrics around each route, then authentication and rights inside the
/// handlers' extractors.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(routes::auth::router())
        .merge(routes::mfa::router())
        .merge(routes::risk::router())
        .merge(routes::security::router())
        .merge(routes::service_keys::router())
        .merge(routes::users::router())
        .merge(routes::orgs::router())
        .merge(routes::org_extras::router())
        .merge(routes::scim::router())
        .merge(routes::profile::router())
        .merge(routes::verification::router())
        .merge(routes::avatars::router())
        .merge(routes::user_pages::router())
        .merge(routes::authz::router())
        .merge(routes::bff::router())
        .merge(routes::clients::router())
        .merge(routes::federation::router())
        .merge(routes::mail::router())
        .merge(routes::links::router())
        .merge(routes::oauth::router())
        .merge(routes::pages::router())
        .merge(routes::realms::router())
        .merge(routes::transfer::router())
        .merge(routes::ops::router())
        .merge(openapi::router())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(middleware::MetricsLayer)
        .with_state(state.clone());
    let hsts = middleware::Hsts::for_public_url(&state.core.settings().public_url);
    // Off only to measure what the defences cost (`edge_defences`): no
    // blocks, rate limits, signed requests or trusted proxies then.
    let defences = state.core.settings().edge_defences;
    with_edge(routes, hsts, defences.then_some(state))
}

/// `routes` behind the middleware every request passes through first.
fn with_edge(routes: Router, hsts: middleware::Hsts, state: Option<AppState>) -> Router {
    // Layers given to `Router::layer` wrap every route separately, and are
    // cloned with it on every request; these wrap the router once.
    let edge = tower::ServiceBuilder::new()
        .layer(middleware::RequestIdLayer)
        .map_response(move |res| middleware::security_headers(hsts, res))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            error::panic_response,
        ))
        .option_layer(state.map(edge::EdgeLayer::new))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .service(routes);
    Router::new().fallback_service(edge)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn app() -> Router {
        app_with(middleware::Hsts(false))
    }

    fn app_with(hsts: middleware::Hsts) -> Router {
        with_edge(
            Router::new()
                .route("/ok", get(|| async { "ok" }))
                .route(
                    "/own-policy",
                    get(|| async {
                        (
                            [
                                (header::CONTENT_SECURITY_POLICY, "default-src 'self'"),
                                (header::CACHE_CONTROL, "public, max-age=60"),
                            ],
                            "page",
                        )
                    }),
                )
                .route(
                    "/panic",
                    get(|| async {
                        if true {
                            panic!("a handler bug");
                        }
                        "unreachable"
                    }),
                ),
            hsts,
            None,
        )
    }

    async fn get_path(path: &str, request_id: Option<&str>) -> axum::response::Response {
        let mut req = Request::get(path);
        if let Some(id) = request_id {
            req = req.header("x-request-id", id);
        }
        app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn every_answer_has_an_id_and_the_security_headers() {
        let res = get_path("/ok", None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        let id = h["x-request-id"].to_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        // Ids are made afresh for each request.
        let other = get_path("/ok", None).await;
        assert_ne!(other.headers()["x-request-id"], id);
    }

    #[tokio::test]
    async fn hsts_only_behind_https() {
        for (hsts, expected) in [
            (true, Some("max-age=31536000; includeSubDomains")),
            (false, None),
        ] {
            let res = app_with(middleware::Hsts(hsts))
                .oneshot(Request::get("/ok").body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(
                res.headers()
                    .get(header::STRICT_TRANSPORT_SECURITY)
                    .map(|v| v.to_str().unwrap()),
                expected
            );
        }
    }

    #[tokio::test]
    async fn sane_ids_are_kept_and_others_replaced() {
        let res = get_path("/ok", Some("client-42.a:b_c")).await;
        assert_eq!(res.headers()["x-request-id"], "client-42.a:b_c");
        for bad in ["<script>", &"a".repeat(129)] {
            let res = get_path("/ok", Some(bad)).await;
            assert_ne!(res.headers()["x-request-id"], bad);
        }
    }

    #[tokio::test]
    async fn a_page_keeps_its_own_policy_and_caching() {
        let res = get_path("/own-policy", None).await;
        assert_eq!(
            res.headers()[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'"
        );
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=60");
        assert_eq!(res.headers()[header::X_FRAME_OPTIONS], "DENY");
    }

    #[tokio::test]
    async fn a_panic_is_a_problem_with_the_same_headers() {
        let res = get_path("/panic", Some("boom-1")).await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()["x-request-id"], "boom-1");
        assert_eq!(res.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}
