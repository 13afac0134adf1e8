//! Traces over OTLP: the binary, started with `PORTCULLIS_OTLP_ENDPOINT`,
//! sends its spans to a receiver built here on the protocol's own message
//! types (opentelemetry-proto; no Collector package is reachable on this
//! machine), which records what arrived for the assertions.
// These tests wait for a real process: they poll with real deadlines.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
const PASSWORD: &str = "operator chosen secret";
const ADMIN: &str = "admin@portcullis.local";

/// The spans one receiver got, with the `service.name` of their resource.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn spans(&self) -> Vec<(String, Span)> {
        self.0.lock().unwrap().clone()
    }
}

/// An OTLP/HTTP receiver on a free loopback port: `POST /v1/traces` with
/// a protobuf `ExportTraceServiceRequest`, answered as the protocol says.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let keep = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let keep = keep.clone();
            async move {
                let protobuf = headers
                    .get(header::CONTENT_TYPE)
                    .is_some_and(|v| v == "application/x-protobuf");
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return (StatusCode::BAD_REQUEST, "not an ExportTraceServiceRequest")
                        .into_response();
                };
                if !protobuf {
                    return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response();
                }
                let mut spans = keep.0.lock().unwrap();
                for resource in request.resource_spans {
                    let service = resource
                        .resource
                        .as_ref()
                        .and_then(|r| attribute(&r.attributes, "service.name"))
                        .unwrap_or_default();
                    for scope in resource.scope_spans {
                        for span in scope.spans {
                            spans.push((service.clone(), span));
                        }
                    }
                }
                (
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

fn attribute(
    attributes: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    key: &str,
) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    match value.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        AnyValue::BoolValue(b) => Some(b.to_string()),
        other => Some(format!("{other:?}")),
    }
}

struct Running {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// SIGTERM, then waits for a clean exit (the exporter's last flush).
    fn stop(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "exits 0 on SIGTERM, got {status}");
                return;
            }
            assert!(Instant::now() < deadline, "did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The binary on a free port with a fresh SQLite database, logging JSON to
/// a file; `otlp`: the receiver's URL.
async fn start(data: &Path, otlp: Option<&str>) -> (Running, String) {
    let port = free_port();
    let log = data.join("server.log");
    let mut command = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTCULLIS_") || k.starts_with("OTEL_") {
            command.env_remove(k);
        }
    }
    command
        .env("PORTCULLIS_DATA_DIR", data)
        .env("PORTCULLIS_BIND", format!("127.0.0.1:{port}"))
        .env("PORTCULLIS_LOG_FORMAT", "json")
        .env("PORTCULLIS_ARGON2_MEMORY_KIB", "1024")
        .env("PORTCULLIS_ARGON2_ITERATIONS", "1")
        .env("PORTCULLIS_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        // Export every 200 ms instead of every 5 s: the test waits less.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    if let Some(url) = otlp {
        command.env("PORTCULLIS_OTLP_ENDPOINT", url);
    }
    if let Some(redis) = redis_url() {
        command.env("PORTCULLIS_REDIS_URL", redis);
    }
    let running = Running {
        child: command.spawn().unwrap(),
        log,
    };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/health/ready")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(Instant::now() < deadline, "not ready:\n{}", running.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (running, base)
}

/// The Redis of `cargo xtask test` (`TEST_REDIS_URL`), if any: the calls to
/// it are spans too.
fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_ID}-01")
}

/// Logs in and checks a permission, both under the caller's trace.
async fn login_and_check(base: &str, request_id: &str) {
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .header("traceparent", traceparent())
        .header("x-request-id", request_id)
        .json(&json!({ "email": ADMIN, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().expect("an access token");
    let check = client
        .post(format!("{base}/api/v1/authz/check"))
        .header("traceparent", traceparent())
        .bearer_auth(token)
        .json(&json!({ "action": "read", "resource": { "type": "document", "id": "d1" } }))
        .send()
        .await
        .unwrap();
    assert!(check.status().is_success(), "{:?}", check.text().await);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_database_calls_hashing_and_checks_are_traced_under_the_callers_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (url, received) = receiver().await;
    let (mut server, base) = start(dir.path(), Some(&url)).await;
    login_and_check(&base, "otlp-login-1").await;

    // Spans arrive in batches every 200 ms; wait for the check's evaluation.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ours = loop {
        let ours: Vec<(String, Span)> = received
            .spans()
            .into_iter()
            .filter(|(_, s)| hex(&s.trace_id) == TRACE_ID)
            .collect();
        if ours.iter().any(|(_, s)| s.name == "authz.evaluate") {
            break ours;
        }
        assert!(
            Instant::now() < deadline,
            "no authz.evaluate span arrived; got {:?}",
            received
                .spans()
                .iter()
                .map(|(_, s)| &s.name)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let named = |name: &'static str| ours.iter().filter(move |(_, s)| s.name == name);

    // The requests continue the caller's trace: children of its span.
    let requests: Vec<&Span> = named("request").map(|(_, s)| s).collect();
    assert_eq!(requests.len(), 2, "one span per request");
    for r in &requests {
        assert_eq!(hex(&r.parent_span_id), PARENT_ID);
        // SpanKind::Server is 2 in the protocol.
        assert_eq!(r.kind, 2, "a server span");
    }
    let login = requests
        .iter()
        .find(|r| attribute(&r.attributes, "path").as_deref() == Some("/api/v1/auth/login"))
        .expect("the login's span");
    assert_eq!(
        attribute(&login.attributes, "request_id").as_deref(),
        Some("otlp-login-1")
    );
    assert!(ours.iter().all(|(service, _)| service == "portcullis"));

    // Inside them: the password's verification, SQL statements, the check.
    let verify = named("password.verify")
        .next()
        .expect("a password.verify span")
        .1
        .clone();
    assert_eq!(
        verify.parent_span_id, login.span_id,
        "verified within the login"
    );
    let statements: Vec<&Span> = ours
        .iter()
        .map(|(_, s)| s)
        .filter(|s| attribute(&s.attributes, "db.system.name").as_deref() == Some("sqlite"))
        .collect();
    assert!(!statements.is_empty(), "database calls are spans");
    for s in &statements {
        let text = attribute(&s.attributes, "db.query.text").unwrap();
        assert!(
            !text.contains(PASSWORD) && !text.contains(ADMIN),
            "values stay out: {text}"
        );
        assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        // SpanKind::Client is 3.
        assert_eq!(s.kind, 3);
    }
    assert!(
        statements.iter().any(|s| s.parent_span_id == login.span_id),
        "the login's statements are its children"
    );
    if redis_url().is_some() {
        let call = named("redis")
            .next()
            .expect("Redis calls are spans")
            .1
            .clone();
        assert_eq!(
            attribute(&call.attributes, "db.system.name").as_deref(),
            Some("redis")
        );
        assert!(attribute(&call.attributes, "db.operation.name").is_some());
    }
    let evaluate = named("authz.evaluate").next().unwrap().1.clone();
    assert_eq!(
        attribute(&evaluate.attributes, "action").as_deref(),
        Some("read")
    );
    assert!(attribute(&evaluate.attributes, "allowed").is_some());
    // No secret reaches the receiver in any attribute.
    for (_, s) in &ours {
        for kv in &s.attributes {
            let v = attribute(std::slice::from_ref(kv), &kv.key).unwrap_or_default();
            assert!(!v.contains(PASSWORD), "{} carries the password", kv.key);
        }
    }

    // The logs of those requests carry the trace id.
    server.stop();
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("otlp-login-1") && l.contains("\"status\""))
        .unwrap_or_else(|| panic!("the login's request line:\n{log}"));
    assert!(
        line.contains(&format!("\"trace_id\":\"{TRACE_ID}\"")),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_exporter_logs_still_carry_the_callers_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = start(dir.path(), None).await;
    login_and_check(&base, "otlp-off-1").await;
    server.stop();
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("otlp-off-1") && l.contains("\"status\""))
        .unwrap_or_else(|| panic!("the login's request line:\n{log}"));
    assert!(
        line.contains(&format!("\"trace_id\":\"{TRACE_ID}\"")),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_receiver_costs_no_request_and_a_bad_endpoint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: requests are answered all the same.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (mut server, base) = start(dir.path(), Some(&dead)).await;
    login_and_check(&base, "otlp-dead-1").await;
    server.stop();

    let o = Command::new(BIN)
        .env("PORTCULLIS_DATA_DIR", dir.path())
        .env("PORTCULLIS_OTLP_ENDPOINT", "grpc://collector:4317")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(text.contains("PORTCULLIS_OTLP_ENDPOINT"), "{text}");
}
