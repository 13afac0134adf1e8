//! Traces over OTLP/HTTP (`otlp_endpoint`): the `tracing` spans of requests,
//! database and Redis calls, password hashing and policy evaluation, sent by
//! the OpenTelemetry SDK's batch processor (a thread of its own, so a slow
//! or absent receiver never delays a request: spans beyond its queue are
//! dropped).
//!
//! Which spans go: those of Portcullis's own crates at `debug` and above
//! (the fine-grained ones are `debug`, so without an exporter they cost
//! nothing: no layer enables them), with the `info` and louder events inside
//! them as span events. Database calls become spans from the store's query
//! reports ([`SqlStore::observe_queries`]), each timed as the statement ran,
//! with its parameterized text and never its values.
//!
//! The W3C `traceparent` header is honoured on the way in, exporter or not:
//! a request continues its caller's trace, and every log line of the
//! request carries the trace id (`trace_id`).

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    Span as _, SpanKind, Status, TraceContextExt as _, TraceId, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::HeaderExtractor;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use portcullis_store::{QueryEvent, SqlStore};
use tracing::Metadata;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::config::OtlpEndpoint;

/// How long one export may take before the batch is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest statement text a database span carries.
const MAX_STATEMENT: usize = 2048;

/// The trace exporter of the process, if any; [`Telemetry::shutdown`] sends
/// what is still queued.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// The tracer of the exporter, once started: the store's query reports
/// become spans through it.
static TRACER: OnceLock<Tracer> = OnceLock::new();

impl Telemetry {
    /// No exporter: requests still honour `traceparent` in their logs.
    pub(crate) fn off() -> Self {
        Telemetry { provider: None }
    }

    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Links each request's span to its caller's trace (see the module).
    pub(crate) fn link_requests(&self) {
        let link: portcullis_http::TraceContextLink = if self.exporting() {
            link_exported
        } else {
            link_logged
        };
        portcullis_http::set_trace_context_link(link);
    }

    /// Sends the spans still queued and stops the exporter.
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider
            && let Err(e) = provider.shutdown()
        {
            eprintln!("traces: the last spans may be lost: {e}");
        }
    }
}

/// Starts the exporter to `endpoint`; the tracer goes into the subscriber's
/// OpenTelemetry layer, filtered by [`exported`].
pub(crate) fn start(endpoint: &OtlpEndpoint) -> anyhow::Result<(Tracer, Telemetry)> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.traces_url())
        .with_timeout(EXPORT_TIMEOUT)
        .build()?;
    let mut resource = Resource::builder()
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("portcullis");
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer("portcullis");
    // A second exporter in one process (never done) keeps the first's tracer.
    let _ = TRACER.set(tracer.clone());
    Ok((
        tracer,
        Telemetry {
            provider: Some(provider),
        },
    ))
}

/// Makes every SQL statement `store` runs within a traced request a span,
/// when traces are exported.
pub(crate) fn observe_store(store: &mut SqlStore) {
    if let Some(tracer) = TRACER.get() {
        let tracer = tracer.clone();
        store.observe_queries(move |query| database_span(&tracer, query));
    }
}

/// The spans and events the exporter gets: Portcullis's own spans at `debug`
/// and above, and its events at `info` and above.
pub(crate) fn exported(metadata: &Metadata<'_>) -> bool {
    let ours = metadata.target().starts_with("portcullis");
    let level = *metadata.level();
    ours && (level <= tracing::Level::INFO
        || (metadata.is_span() && level <= tracing::Level::DEBUG))
}

fn caller(headers: &axum::http::HeaderMap) -> Option<Context> {
    if !headers.contains_key("traceparent") {
        return None;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    cx.span().span_context().is_valid().then_some(cx)
}

/// With an exporter: the request's span continues the caller's trace, or
/// starts one; either way its trace id goes into the logs.
fn link_exported(headers: &axum::http::HeaderMap, span: &tracing::Span) {
    if let Some(cx) = caller(headers) {
        // Fails only for a span no layer records: nothing to link then.
        let _ = span.set_parent(cx);
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// Without an exporter: the caller's trace id, if it sent one, goes into
/// the logs.
fn link_logged(headers: &axum::http::HeaderMap, span: &tracing::Span) {
    if let Some(cx) = caller(headers) {
        let trace_id = cx.span().span_context().trace_id();
        span.record("trace_id", tracing::field::display(trace_id));
    }
}

/// One database span, as a child of the current span, timed as the
/// statement ran; statements outside any traced span are not reported.
fn database_span(tracer: &Tracer, query: &QueryEvent<'_>) {
    let parent = tracing::Span::current().context();
    if !parent.span().span_context().is_valid() {
        return;
    }
    // Span times are wall-clock times by definition (the SDK reads the
    // system clock for every other span too).
    #[allow(clippy::disallowed_methods)]
    let end = std::time::SystemTime::now();
    let start = end.checked_sub(query.elapsed).unwrap_or(end);
    let operation = query
        .sql
        .split_whitespace()
        .next()
        .unwrap_or("QUERY")
        .to_ascii_uppercase();
    let text: String = query.sql.chars().take(MAX_STATEMENT).collect();
    let mut span = tracer
        .span_builder(operation.clone())
        .with_kind(SpanKind::Client)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("db.system.name", query.system),
            KeyValue::new("db.operation.name", operation),
            KeyValue::new("db.query.text", text),
        ])
        .start_with_context(tracer, &parent);
    if query.failed {
        span.set_status(Status::error("the statement failed"));
    }
    span.end_with_timestamp(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_spans_and_louder_events_are_exported() {
        use tracing::callsite::Identifier;
        use tracing::field::FieldSet;
        use tracing::metadata::Kind;
        struct Site;
        impl tracing::callsite::Callsite for Site {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static SITE: Site = Site;
        let meta = |target: &'static str, level, kind| {
            Metadata::new(
                "x",
                target,
                level,
                None,
                None,
                None,
                FieldSet::new(&[], Identifier(&SITE)),
                kind,
            )
        };
        use tracing::Level;
        assert!(exported(&meta(
            "portcullis_http::middleware",
            Level::INFO,
            Kind::SPAN
        )));
        assert!(exported(&meta(
            "portcullis_redis",
            Level::DEBUG,
            Kind::SPAN
        )));
        assert!(!exported(&meta(
            "portcullis_redis",
            Level::TRACE,
            Kind::SPAN
        )));
        assert!(exported(&meta("portcullis_core", Level::WARN, Kind::EVENT)));
        assert!(!exported(&meta(
            "portcullis_core",
            Level::DEBUG,
            Kind::EVENT
        )));
        assert!(!exported(&meta("sqlx::query", Level::INFO, Kind::SPAN)));
        assert!(!exported(&meta("hyper", Level::ERROR, Kind::EVENT)));
    }
}
