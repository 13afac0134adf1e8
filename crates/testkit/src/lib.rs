//! Test harness: spawns a Portcullis app on `127.0.0.1:0` with a fresh
//! database (SQLite in a temporary directory, or a new PostgreSQL database
//! when `TEST_POSTGRES_URL` is set) and a [`TestClock`], and talks to it
//! through a small typed client. Tests move the clock instead of sleeping.

pub mod dns;
pub mod sms;
pub mod smtp;
pub mod standin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use portcullis_core::{Portcullis, Settings, TestClock};
use portcullis_crypto::{Argon2Params, MasterKey};
use portcullis_proto::TokenResponse;
use portcullis_store::SqlStore;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Environment variable with a PostgreSQL superuser URL for tests.
pub const POSTGRES_URL_VAR: &str = "TEST_POSTGRES_URL";
/// When set to 1, PostgreSQL tests fail instead of skipping without a URL.
pub const REQUIRE_POSTGRES_VAR: &str = "TEST_REQUIRE_POSTGRES";
/// Environment variable with the URL of a Redis server for tests.
pub const REDIS_URL_VAR: &str = "TEST_REDIS_URL";
/// When set to 1, Redis tests fail instead of skipping without a URL.
pub const REQUIRE_REDIS_VAR: &str = "TEST_REQUIRE_REDIS";

/// Email of the bootstrap administrator of every test app.
pub const ADMIN_EMAIL: &str = "admin@portcullis.test";
/// Password of the bootstrap administrator of every test app.
pub const ADMIN_PASSWORD: &str = "bootstrap-operator-secret-42";

/// Which database a test app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the server named by `TEST_POSTGRES_URL`.
    Postgres,
}

/// A running app.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub base: String,
    /// Listen address.
    pub addr: SocketAddr,
    /// HTTP client (no cookies, no redirects followed).
    pub http: reqwest::Client,
    /// The app's clock.
    pub clock: TestClock,
    /// The domain, for white-box checks.
    pub core: Portcullis,
    /// The backend in use.
    pub backend: Backend,
    /// What a peer on the same database needs: its URL, the master key
    /// and the settings (the public URL, so tokens are valid on both).
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
    revocation_sync: tokio::task::JoinHandle<()>,
    mail_worker: Option<tokio::task::JoinHandle<()>>,
    notices: Option<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Shared {
    database_url: String,
    master_key: MasterKey,
    settings: Settings,
    /// The Redis URL and this app family's own key prefix, if any.
    redis: Option<(String, String)>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        self.revocation_sync.abort();
        if let Some(w) = &self.mail_worker {
            w.abort();
        }
        if let Some(n) = &self.notices {
            n.abort();
        }
    }
}

/// From address of test apps' mail.
pub const MAIL_FROM: &str = "Portcullis Test <noreply@portcullis.test>";

/// How a test app sends mail and checks domains.
#[derive(Default)]
pub struct AppOptions {
    /// SMTP server to deliver to (`smtp://127.0.0.1:PORT`); `None` keeps
    /// mail queued. With one, the app runs the real delivery worker.
    pub smtp_url: Option<String>,
    /// MX look-ups for signup checks (`None`: no check).
    pub mx: Option<Arc<dyn portcullis_core::ports::MxResolver>>,
    /// A DNS server (a [`dns::DnsStandIn`]) the app's TXT look-ups ask
    /// (`None`: domains are verified by administrators only).
    pub dns_server: Option<SocketAddr>,
    /// Sends SMS codes (`None`: SMS is not offered).
    pub sms: Option<Arc<dyn portcullis_core::ports::SmsSender>>,
    /// GeoIP look-ups (`None`: the GeoIP checks do not fire).
    pub geoip: Option<Arc<dyn portcullis_core::risk::GeoIp>>,
    /// Reach PostgreSQL through this loopback port instead of the server's
    /// own (a proxy the test can cut, to take the database away).
    pub postgres_port: Option<u16>,
    /// A Redis server (see [`redis_url`]) for the edge's shared state, as
    /// `PORTCULLIS_REDIS_URL`; the app and its peers get a key prefix of
    /// their own in it.
    pub redis: Option<String>,
}

/// The Redis URL for tests, `None` to skip. Panics when Redis is required
/// but not configured, so CI cannot skip silently.
pub fn redis_url() -> Option<String> {
    service_url(REDIS_URL_VAR, REQUIRE_REDIS_VAR, "Redis")
}

/// The PostgreSQL URL for tests, `None` to skip. Panics when PostgreSQL is
/// required but not configured, so CI cannot skip silently.
pub fn postgres_url() -> Option<String> {
    service_url(POSTGRES_URL_VAR, REQUIRE_POSTGRES_VAR, "PostgreSQL")
}

/// The URL in `var`, `None` (with a notice) when it is not set and
/// `require` is not `1`; a panic when it is.
fn service_url(var: &str, require: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var(require).as_deref() == Ok("1") {
                #[allow(clippy::panic)]
                {
                    panic!("{require}=1 but {var} is not set");
                }
            }
            eprintln!("{var} not set: skipping a {what} test");
            None
        }
    }
}

/// Fast password hashing for tests (the real parameters are tested in crypto).
pub fn test_settings(public_url: &str) -> Settings {
    let mut s = Settings::with_public_url(public_url);
    s.argon2 = Argon2Params {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    // Tests of other features make many requests from one address; the
    // limiter's own tests set the limits they test.
    s.rate_limits = portcullis_core::edge::RateLimitPolicy::default().scaled(1_000);
    s
}

/// Spawns an app, or returns `None` for PostgreSQL when it is not configured.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Spawns an app after letting the test adjust its settings.
pub async fn spawn_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
) -> Option<TestApp> {
    spawn_app_opts(backend, adjust, AppOptions::default()).await
}

/// Spawns an app with an SMTP sink it delivers to; `None` for PostgreSQL
/// when it is not configured.
pub async fn spawn_mail_app(backend: Backend) -> Option<(TestApp, smtp::SmtpSink)> {
    let sink = smtp::SmtpSink::start().await;
    let app = spawn_app_opts(
        backend,
        |_| {},
        AppOptions {
            smtp_url: Some(sink.url()),
            ..AppOptions::default()
        },
    )
    .await?;
    Some((app, sink))
}

/// Spawns an app with settings adjusted and mail options.
pub async fn spawn_app_opts(
    backend: Backend,
    adjust: impl FnOnce(&mut Settings),
    options: AppOptions,
) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => portcullis_store::testing::fresh_sqlite_url(dir.path()).await,
        Backend::Postgres => {
            let base = postgres_url()?;
            let url = portcullis_store::testing::fresh_postgres_database(&base)
                .await
                .expect("create a fresh PostgreSQL database");
            match options.postgres_port {
                Some(port) => {
                    let mut u = url::Url::parse(&url).expect("PostgreSQL URL");
                    u.set_port(Some(port)).expect("a port");
                    u.to_string()
                }
                None => url,
            }
        }
    };
    let store = SqlStore::connect(&url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let mut settings = test_settings(&base);
    adjust(&mut settings);
    let shared = Shared {
        database_url: url,
        master_key: MasterKey::generate(),
        settings,
        redis: options
            .redis
            .clone()
            .map(|url| (url, format!("test:{}:", uuid::Uuid::now_v7()))),
    };
    let app = start(
        store,
        listener,
        shared,
        TestClock::starting_now(),
        options,
        backend,
        dir,
    )
    .await;
    let boot = app
        .core
        .realms()
        .bootstrap(ADMIN_EMAIL, Some(SecretString::from(ADMIN_PASSWORD)))
        .await
        .expect("bootstrap");
    assert!(boot.created);
    Some(app)
}

/// Serves an app over a migrated store.
async fn start(
    store: SqlStore,
    listener: TcpListener,
    shared: Shared,
    clock: TestClock,
    options: AppOptions,
    backend: Backend,
    dir: tempfile::TempDir,
) -> TestApp {
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let mailer: Option<Arc<dyn portcullis_core::ports::Mailer>> = match &options.smtp_url {
        Some(url) => Some(Arc::new(
            portcullis_server::mail::SmtpMailer::new(
                &portcullis_server::config::SmtpUrl::parse(url).expect("SMTP URL"),
                MAIL_FROM,
            )
            .expect("SMTP mailer"),
        )),
        None => None,
    };
    let redis = shared.redis.as_ref().map(|(url, prefix)| {
        portcullis_redis::Redis::open_with_prefix(url, prefix).expect("Redis URL")
    });
    let (core, router) = portcullis_server::assemble_with(
        Arc::new(store),
        Arc::new(clock.clone()),
        shared.settings.clone(),
        shared.master_key.clone(),
        portcullis_core::mail::Adapters {
            mailer,
            mx: options.mx,
            sms: options.sms,
            dns: options.dns_server.map(|addr| {
                Arc::new(portcullis_server::dns::DnsTxtResolver::new(Some(addr)).expect("resolver"))
                    as Arc<dyn portcullis_core::ports::TxtResolver>
            }),
            edge: redis.as_ref().map(|redis| {
                Arc::new(portcullis_redis::RedisEdgeState::new(redis.clone()))
                    as Arc<dyn portcullis_core::ports::EdgeState>
            }),
        },
    )
    .expect("assemble");
    if let Some(geoip) = options.geoip {
        core.set_geoip(geoip);
    }
    // As the server does: change notices between the app and its peers,
    // and the caches' shared layer.
    let notices = redis.map(|redis| portcullis_server::share_through_redis(&core, redis));
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    // As the server does: revocations made by a peer on the same database
    // reach this app within a second.
    let revocation_sync = {
        let core = core.clone();
        let every = core.settings().revocation_sync_interval;
        tokio::spawn(async move { core.run_revocation_sync(every).await })
    };
    // Short polls: a retry the test clock made due is sent promptly.
    let mail_worker = core.mail().can_send().then(|| {
        portcullis_server::mail::spawn_mail_worker(core.clone(), StdDuration::from_millis(100))
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    TestApp {
        base,
        addr,
        http,
        clock,
        core,
        backend,
        shared,
        server,
        revocation_sync,
        mail_worker,
        notices,
        _dir: dir,
    }
}

impl TestApp {
    /// A second instance like [`Self::spawn_peer`], but with a clock of its
    /// own that reads `skew` ahead of this app's (behind when negative):
    /// for tests of clock skew between instances.
    pub async fn spawn_skewed_peer(&self, skew: time::Duration) -> TestApp {
        let clock = TestClock::at(portcullis_core::Clock::now(&self.clock) + skew);
        self.peer_with(clock).await
    }

    /// The key prefix of this app and its peers in Redis, if they use one.
    pub fn redis_prefix(&self) -> Option<&str> {
        self.shared
            .redis
            .as_ref()
            .map(|(_, prefix)| prefix.as_str())
    }

    /// A second instance on this app's database, with the same master key,
    /// settings (public URL included: tokens of one are valid on the
    /// other) and clock, listening on its own address: for tests of what
    /// instances that share a database must agree on. Drop it before this
    /// app (a SQLite database lives in this app's directory).
    pub async fn spawn_peer(&self) -> TestApp {
        self.peer_with(self.clock.clone()).await
    }

    /// A second instance on this app's database and settings, on `clock`.
    async fn peer_with(&self, clock: TestClock) -> TestApp {
        let store = SqlStore::connect(&self.shared.database_url)
            .await
            .expect("connect the peer");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        start(
            store,
            listener,
            self.shared.clone(),
            clock,
            AppOptions::default(),
            self.backend,
            tempfile::tempdir().expect("temp dir"),
        )
        .await
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body parsed as JSON (`Null` when empty or not JSON).
    pub json: Value,
    /// Raw body.
    pub text: String,
}

impl Reply {
    /// Reads a response (also one sent with a test's own request builder).
    pub async fn read(res: reqwest::Response) -> Reply {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// Full URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request with an optional JSON body and bearer token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::read(req.send().await.expect("request")).await
    }

    /// `GET` with an optional token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    /// `POST` a JSON body with an optional token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// `DELETE` with an optional token.
    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// Sends raw bytes with a content type.
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self.http.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        Reply::read(req.send().await.expect("request")).await
    }

    /// Registers an account in the default realm; asserts 201.
    pub async fn register(&self, email: &str, password: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(r.status, 201, "register {email}: {}", r.text);
        r.json
    }

    /// Logs in to the default realm; asserts 200.
    pub async fn login(&self, email: &str, password: &str) -> TokenResponse {
        let r = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(r.status, 200, "login {email}: {}", r.text);
        serde_json::from_value(r.json).expect("token response")
    }

    /// An access token of the bootstrap administrator.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.access_token
    }

    /// Registers and logs in a fresh user; returns its tokens.
    pub async fn user(&self, email: &str) -> TokenResponse {
        let password = "a perfectly fine passphrase";
        self.register(email, password).await;
        self.login(email, password).await
    }
}

/// Generates one test per backend from an async test body taking `TestApp`:
/// `backend_tests!(name, |app| async move { ... });`
#[macro_export]
macro_rules! backend_tests {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::spawn_app($crate::Backend::Sqlite)
                    .await
                    .expect("sqlite app");
                ($body)(app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::spawn_app($crate::Backend::Postgres).await else {
                    return;
                };
                ($body)(app).await;
            }
        }
    };
}
