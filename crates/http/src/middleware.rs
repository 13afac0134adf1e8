//! Middleware: request ids and trace spans, security headers, HTTP metrics.

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;

use crate::state::AppState;

/// Header carrying the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn acceptable_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// Honours a sane incoming `X-Request-Id` or makes one, runs the request in a
/// span carrying it, logs one line per request, and returns the id.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = match req.headers().get(&X_REQUEST_ID) {
        Some(v) if acceptable_request_id(v) => v.clone(),
        _ => HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .unwrap_or(HeaderValue::from_static("invalid")),
    };
    req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or_default(),
        method = %req.method(),
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
    });
    res.headers_mut().insert(X_REQUEST_ID.clone(), id);
    res
}

/// Security headers on every response; `no-store` so tokens are never cached.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_docs = req.uri().path() == "/docs";
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let csp = if is_docs {
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    } else {
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    };
    // Pages set their own policy (with their nonces and form targets).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(csp),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Counts requests by method, route template and status, with a latency histogram.
pub async fn metrics(State(_): State<AppState>, req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let path = req.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let res = next.run(req).await;
    let route = path.as_ref().map_or("unmatched", MatchedPath::as_str);
    let (requests, duration) = route_metrics(route, method, res.status().as_u16());
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    res
}

/// The method as a label: the standard ones by name, any other as `OTHER`,
/// so that a client cannot add label values at will.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "CONNECT" => "CONNECT",
        _ => "OTHER",
    }
}

/// The handles of one route, method and status.
struct RouteMetrics {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// The request counter and latency histogram of a route, method and status.
/// Registered on first use and kept: looking a metric up by name and labels
/// on every request costs more than the rest of a cheap request's
/// bookkeeping. Routes are the router's templates, so the map stays small.
fn route_metrics(route: &str, method: &'static str, status: u16) -> (Counter, Histogram) {
    static HANDLES: LazyLock<RwLock<HashMap<String, Vec<RouteMetrics>>>> =
        LazyLock::new(Default::default);
    let found = |all: &HashMap<String, Vec<RouteMetrics>>| {
        all.get(route)?
            .iter()
            .find(|h| h.method == method && h.status == status)
            .map(|h| (h.requests.clone(), h.duration.clone()))
    };
    if let Some(handles) = found(&HANDLES.read().unwrap_or_else(PoisonError::into_inner)) {
        return handles;
    }
    let mut all = HANDLES.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(handles) = found(&all) {
        return handles;
    }
    let handles = RouteMetrics {
        method,
        status,
        requests: metrics::counter!(
            "portcullis_http_requests_total",
            "method" => method,
            "route" => route.to_owned(),
            "status" => status.to_string()
        ),
        duration: metrics::histogram!(
            "portcullis_http_request_duration_seconds",
            "method" => method,
            "route" => route.to_owned()
        ),
    };
    let answer = (handles.requests.clone(), handles.duration.clone());
    all.entry(route.to_owned()).or_default().push(handles);
    answer
}

/// Installs the process-wide Prometheus recorder once and returns its handle
/// (later calls return the same handle, so several apps in one test process share it).
pub fn install_metrics_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("portcullis_http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        "portcullis_http_requests_total",
        "HTTP requests by method, route and status"
    );
    metrics::describe_histogram!(
        "portcullis_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method and route"
    );
    metrics::describe_counter!(
        "portcullis_logins_total",
        "Password logins by result (success, failure, locked, rate_limited, inactive)"
    );
    metrics::describe_counter!(
        "portcullis_refresh_token_reuse_total",
        "Spent refresh tokens presented again (each revokes a family and its session)"
    );
    metrics::describe_gauge!(
        "portcullis_active_sessions",
        "Sessions neither revoked nor expired, all realms"
    );
}
