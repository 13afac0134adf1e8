//! Middleware: request ids and trace spans, security headers, HTTP metrics.
//!
//! Each is a plain tower service with a named future rather than an
//! `axum::middleware::from_fn` closure: those box a future and clone their
//! inner stack on every request, which cost about a fifth of the throughput
//! of a token request (docs/benchmarks.md). The request id, security headers,
//! panic guard, timeout and body limit wrap the router once ([`crate::app`]);
//! only the metrics, which need the matched route template, wrap each route.

use portcullis_core::clock::Stopwatch;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

/// Header carrying the request id.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn acceptable_request_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// A new request id: a UUIDv7, so ids sort by time. Each thread keeps its
/// own counter ([`uuid::Uuid::now_v7`] shares one behind a mutex that every
/// request of every core would take); ids stay unique through their random
/// bits, and ordered within a thread.
fn new_request_id() -> HeaderValue {
    thread_local! {
        static CONTEXT: uuid::ContextV7 = const { uuid::ContextV7::new() };
    }
    let id = CONTEXT.with(|context| uuid::Uuid::new_v7(uuid::Timestamp::now(context)));
    let mut buf = uuid::Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or(HeaderValue::from_static("invalid"))
}

/// Links a request's span to its trace: reads the W3C `traceparent` (and
/// `tracestate`) headers, makes the span a child of the caller's span, and
/// records the trace id in the span's `trace_id` field, so that every log
/// line of the request carries it.
pub type TraceContextLink = fn(&axum::http::HeaderMap, &tracing::Span);

static TRACE_CONTEXT: OnceLock<TraceContextLink> = OnceLock::new();

/// Installs the [`TraceContextLink`] of the process, once, where the tracing
/// subscriber is installed (the binary's telemetry); without one, requests
/// start traces of their own and log no trace id. Returns `false` when one
/// was installed already (it stays).
pub fn set_trace_context_link(link: TraceContextLink) -> bool {
    TRACE_CONTEXT.set(link).is_ok()
}

/// Honours a sane incoming `X-Request-Id` or makes one, runs the request in a
/// span carrying it, logs one line per request, and returns the id.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestId { inner }
    }
}

/// The service of [`RequestIdLayer`].
#[derive(Debug, Clone)]
pub(crate) struct RequestId<S> {
    inner: S,
}

impl<S, ResBody> Service<Request> for RequestId<S>
where
    S: Service<Request, Response = axum::http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = RequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = match req.headers().get(&X_REQUEST_ID) {
            Some(v) if acceptable_request_id(v) => v.clone(),
            _ => new_request_id(),
        };
        req.headers_mut().insert(X_REQUEST_ID.clone(), id.clone());
        let span = tracing::info_span!(
            "request",
            request_id = %id.to_str().unwrap_or_default(),
            method = %req.method(),
            path = %req.uri().path(),
            trace_id = tracing::field::Empty,
            otel.kind = "server",
        );
        if let Some(link) = TRACE_CONTEXT.get() {
            link(req.headers(), &span);
        }
        RequestIdFuture {
            inner: self.inner.call(req).instrument(span),
            id: Some(id),
            started: Stopwatch::start(),
        }
    }
}

pin_project! {
    /// The response future of [`RequestId`].
    pub(crate) struct RequestIdFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        id: Option<HeaderValue>,
        started: Stopwatch,
    }
}

impl<F, ResBody, E> Future for RequestIdFuture<F>
where
    F: Future<Output = Result<axum::http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut res = ready!(this.inner.as_mut().poll(cx))?;
        this.inner.span().in_scope(|| {
            tracing::info!(
                status = res.status().as_u16(),
                latency_ms = this.started.elapsed().as_secs_f64() * 1000.0,
                "request"
            );
        });
        if let Some(id) = this.id.take() {
            res.headers_mut().insert(X_REQUEST_ID.clone(), id);
        }
        Poll::Ready(Ok(res))
    }
}

/// Whether responses carry `Strict-Transport-Security`: only when the server
/// is reached over https (its public URL says so), as browsers ignore it
/// over plain http and a local http setup must stay reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hsts(pub bool);

impl Hsts {
    /// HSTS when `public_url` is an https URL.
    pub(crate) fn for_public_url(public_url: &str) -> Self {
        Hsts(
            public_url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
        )
    }
}

/// Security headers on every response; `no-store` so tokens are never cached.
/// Pages and documents that need another `Content-Security-Policy` or
/// `Cache-Control` set their own, which are kept (none that carries a token
/// or a secret sets one). HSTS when `hsts` says the server is on https.
pub(crate) fn security_headers<B>(
    hsts: Hsts,
    mut res: axum::http::Response<B>,
) -> axum::http::Response<B> {
    let h = res.headers_mut();
    if hsts.0 {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        );
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Counts requests by method, route template and status, with a latency
/// histogram. Wraps each route (the template is known only once routed).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MetricsLayer;

impl<S> Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Metered { inner }
    }
}

/// The service of [`MetricsLayer`].
#[derive(Debug, Clone)]
pub(crate) struct Metered<S> {
    inner: S,
}

impl<S, ResBody> Service<Request> for Metered<S>
where
    S: Service<Request, Response = axum::http::Response<ResBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let method = method_label(req.method());
        let route = req.extensions().get::<MatchedPath>().cloned();
        MeteredFuture {
            inner: self.inner.call(req),
            method,
            route,
            started: Stopwatch::start(),
        }
    }
}

pin_project! {
    /// The response future of [`Metered`].
    pub(crate) struct MeteredFuture<F> {
        #[pin]
        inner: F,
        method: &'static str,
        route: Option<MatchedPath>,
        started: Stopwatch,
    }
}

impl<F, ResBody, E> Future for MeteredFuture<F>
where
    F: Future<Output = Result<axum::http::Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let res = ready!(this.inner.poll(cx))?;
        let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
        record(
            route,
            this.method,
            res.status().as_u16(),
            this.started.elapsed().as_secs_f64(),
        );
        Poll::Ready(Ok(res))
    }
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

/// Counts a request to `route` and records its latency. Each thread keeps
/// the handles of the routes, methods and statuses it has seen: looking a
/// metric up by name and labels costs more than the rest of a cheap
/// request's bookkeeping, and a map shared by every core (its lock, the
/// handles' reference counts) would move between their caches on every
/// request. Handles registered by several threads with the same labels
/// count into the same metric. Routes are the router's templates, so the
/// maps stay small.
fn record(route: &str, method: &'static str, status: u16, seconds: f64) {
    thread_local! {
        static HANDLES: RefCell<HashMap<String, Vec<RouteMetrics>>> = RefCell::default();
    }
    HANDLES.with_borrow_mut(|handles| {
        let known = handles.get(route).and_then(|all| {
            all.iter()
                .find(|h| h.method == method && h.status == status)
        });
        if let Some(h) = known {
            h.requests.increment(1);
            h.duration.record(seconds);
            return;
        }
        let h = RouteMetrics {
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
        h.requests.increment(1);
        h.duration.record(seconds);
        handles.entry(route.to_owned()).or_default().push(h);
    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_only_for_an_https_public_url() {
        assert!(Hsts::for_public_url("https://id.example.com").0);
        assert!(Hsts::for_public_url("HTTPS://id.example.com/base").0);
        assert!(!Hsts::for_public_url("http://localhost:8080").0);
        assert!(!Hsts::for_public_url("").0);
        assert!(!Hsts::for_public_url("https:").0);
        let res = |hsts| {
            security_headers(hsts, axum::http::Response::new(()))
                .headers()
                .get(header::STRICT_TRANSPORT_SECURITY)
                .cloned()
        };
        assert_eq!(
            res(Hsts(true)).unwrap(),
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(res(Hsts(false)), None);
    }

    #[test]
    fn threads_count_into_the_same_metric() {
        let handle = install_metrics_recorder();
        let route = "/test/threads-count-into-the-same-metric";
        let threads: Vec<_> = (0..3)
            .map(|_| std::thread::spawn(move || record(route, "GET", 200, 0.001)))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        record(route, "GET", 200, 0.002);
        record(route, "GET", 404, 0.002);
        let text = handle.render();
        let count = |status: &str| {
            text.lines()
                .find(|l| {
                    l.starts_with("portcullis_http_requests_total{")
                        && l.contains(&format!("route=\"{route}\""))
                        && l.contains(&format!("status=\"{status}\""))
                })
                .and_then(|l| l.rsplit(' ').next())
                .map(str::to_owned)
        };
        assert_eq!(count("200").as_deref(), Some("4"), "{text}");
        assert_eq!(count("404").as_deref(), Some("1"), "{text}");
        assert!(text.contains(&format!(
            "portcullis_http_request_duration_seconds_count{{method=\"GET\",route=\"{route}\"}} 5"
        )));
    }
}
