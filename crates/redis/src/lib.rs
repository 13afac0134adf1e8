//! State that several Portcullis instances share through Redis
//! (`PORTCULLIS_REDIS_URL`): the edge's limiter windows, strikes, blocks and
//! single-use values ([`RedisEdgeState`]), the change notices that tell
//! the other instances to drop a cache or read revocations at once
//! ([`RedisNotices`], [`listen`]), and the cache they share ([`RedisCache`]).
//!
//! One multiplexed connection per instance carries every command; it
//! reconnects by itself with a backoff, and every command has a response
//! timeout, so a Redis that stops answering costs a request at most that
//! long. What each feature does while Redis cannot be reached is its own
//! documented choice (docs/operations.md): the limiters and blocks fall
//! back to this instance's own tables, single-use values are refused (fail
//! closed).
//!
//! Standalone Redis (or Valkey) servers are supported, over TCP
//! (`redis://`), TLS (`rediss://`, rustls) or a Unix socket
//! (`redis+unix://`), and a primary found through Redis Sentinel
//! (`redis+sentinel://`, followed through failovers); the
//! scripts touch several keys at once, so Redis Cluster is not.

mod cache;
mod edge;
mod leases;
mod notices;
mod scripts;
mod sentinel;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use portcullis_core::clock::{Clock as _, SystemClock, Tick};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use cache::RedisCache;
pub use edge::RedisEdgeState;
pub use notices::{RedisNotices, listen};

/// How long a command may take before it counts as failed.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one connection attempt may take.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Warnings about an unreachable Redis are logged at most this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The span of one Redis call, for traces (`debug`, so it costs nothing
/// unless traces are exported).
fn span(operation: &'static str) -> tracing::Span {
    tracing::debug_span!(
        "redis",
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = operation
    )
}

/// Whether `url` is a well-formed `redis+sentinel://` URL
/// (`redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]`).
pub fn is_sentinel_url(url: &str) -> bool {
    sentinel::SentinelUrl::parse(url).is_some()
}

/// Why a Redis URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("PORTCULLIS_REDIS_URL: {0}")]
pub struct UrlError(String);

/// A connection to one Redis server, shared by every user of it in this
/// instance (cheap to clone).
#[derive(Clone)]
pub struct Redis {
    /// The connection, and the client the subscriber makes its own from;
    /// replaced when Sentinel names another primary.
    link: Arc<std::sync::RwLock<Link>>,
    /// Bumped each time the link is replaced (the subscriber follows).
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// Prefix of every key (`portcullis:`), so that one Redis can serve
    /// other applications too.
    prefix: Arc<str>,
    /// Where it is (`host:port`, never the password), for logs.
    addr: Arc<str>,
    health: Arc<Health>,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("addr", &self.addr)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The connection to the primary and its client.
#[derive(Clone)]
struct Link {
    conn: ConnectionManager,
    client: redis::Client,
}

/// The multiplexed connection of `client`, made lazily, with the timeouts
/// and the reconnection backoff of every connection here.
fn manager(client: redis::Client) -> redis::RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(2))
        .set_number_of_retries(3);
    ConnectionManager::new_lazy_with_config(client, config)
}

/// Whether the last command succeeded, and when a failure was last logged.
#[derive(Debug)]
struct Health {
    down: AtomicBool,
    /// Whether a command has succeeded yet (the gauge is set then).
    seen: AtomicBool,
    /// When a failure was last logged, if ever.
    warned: std::sync::Mutex<Option<Tick>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            down: AtomicBool::new(false),
            seen: AtomicBool::new(false),
            warned: std::sync::Mutex::new(None),
        }
    }
}

impl Redis {
    /// A connection to the server of `url`, made in the background: the
    /// instance starts even when Redis is down and connects once it is up.
    /// Only a URL that cannot work is an error.
    pub fn open(url: &str) -> Result<Self, UrlError> {
        Self::open_with_prefix(url, "portcullis:")
    }

    /// [`Redis::open`] with another key prefix (tests give each their own).
    ///
    /// A `redis+sentinel://` URL names sentinels and a master name instead
    /// of a server: the primary is asked of them now and every second after
    /// (a task spawned here, so call it within the Tokio runtime), and the
    /// connection follows it through failovers.
    pub fn open_with_prefix(url: &str, prefix: &str) -> Result<Self, UrlError> {
        if url.starts_with("redis+sentinel://") {
            let parsed = sentinel::SentinelUrl::parse(url).ok_or_else(|| {
                UrlError(
                    "a Sentinel URL is redis+sentinel://[:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]"
                        .to_owned(),
                )
            })?;
            // Until the sentinels name the primary, commands go to the
            // first sentinel, which refuses them: Redis counts as down.
            let (host, port) = parsed.nodes.first().cloned().unwrap_or_default();
            let first = redis::Client::open(redis::ConnectionAddr::Tcp(host, port))
                .map_err(|e| UrlError(describe(&e)))?;
            let redis =
                Self::with_client(first, prefix, format!("sentinel master {}", parsed.master))?;
            redis.generation.store(0, Ordering::Release);
            tokio::spawn(sentinel::follow(redis.clone(), parsed));
            return Ok(redis);
        }
        let client = redis::Client::open(url).map_err(|e| UrlError(describe(&e)))?;
        let addr = client.get_connection_info().addr().to_string();
        let redis = Self::with_client(client, prefix, addr)?;
        redis.generation.store(1, Ordering::Release);
        Ok(redis)
    }

    fn with_client(client: redis::Client, prefix: &str, addr: String) -> Result<Self, UrlError> {
        let conn = manager(client.clone()).map_err(|e| UrlError(describe(&e)))?;
        Ok(Self {
            link: Arc::new(std::sync::RwLock::new(Link { conn, client })),
            generation: Arc::default(),
            prefix: prefix.into(),
            addr: addr.into(),
            health: Arc::default(),
        })
    }

    /// Moves every command to the server of `info` (Sentinel named a new
    /// primary); the subscriber follows within seconds.
    fn relink(&self, info: redis::ConnectionInfo) -> redis::RedisResult<()> {
        let client = redis::Client::open(info)?;
        let conn = manager(client.clone())?;
        match self.link.write() {
            Ok(mut link) => *link = Link { conn, client },
            Err(poisoned) => *poisoned.into_inner() = Link { conn, client },
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The connection to the primary (cheap: a handle).
    fn conn(&self) -> ConnectionManager {
        match self.link.read() {
            Ok(link) => link.conn.clone(),
            Err(poisoned) => poisoned.into_inner().conn.clone(),
        }
    }

    /// The client of the primary, and the link's generation.
    fn client(&self) -> (redis::Client, u64) {
        let generation = self.generation.load(Ordering::Acquire);
        match self.link.read() {
            Ok(link) => (link.client.clone(), generation),
            Err(poisoned) => (poisoned.into_inner().client.clone(), generation),
        }
    }

    /// The link's generation: 0 until Sentinel named a primary.
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Where the server is (`host:port`), for logs and `--help` output.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `PING`: whether the server answers now.
    pub async fn ping(&self) -> bool {
        // Behind Sentinel, give the sentinels a moment to name the primary.
        for _ in 0..20 {
            if self.generation() > 0 {
                break;
            }
            portcullis_core::clock::wait(Duration::from_millis(100)).await;
        }
        let mut conn = self.conn();
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
        self.record("ping", pong.as_ref().map(|_| ()).map_err(Clone::clone))
            .is_ok()
    }

    /// Whether a failure should be logged now (one every [`WARN_EVERY`]).
    fn due_warning(&self) -> bool {
        let now = SystemClock.tick();
        let Ok(mut warned) = self.health.warned.lock() else {
            return true;
        };
        if warned.is_some_and(|at| now.since(at) < WARN_EVERY) {
            return false;
        }
        *warned = Some(now);
        true
    }

    /// A key under this instance's prefix.
    fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{parts}", self.prefix)
    }

    /// Counts a command's result; logs failures at most every ten seconds,
    /// and the recovery once.
    fn record<T>(
        &self,
        operation: &'static str,
        r: redis::RedisResult<T>,
    ) -> redis::RedisResult<T> {
        match &r {
            Ok(_) => {
                if self.health.down.swap(false, Ordering::Relaxed) {
                    tracing::info!(redis = %self.addr, "redis answers again");
                    metrics::gauge!("portcullis_redis_up").set(1.0);
                } else if !self.health.seen.swap(true, Ordering::Relaxed) {
                    metrics::gauge!("portcullis_redis_up").set(1.0);
                }
            }
            Err(e) => {
                metrics::counter!("portcullis_redis_errors_total", "operation" => operation)
                    .increment(1);
                if !self.health.down.swap(true, Ordering::Relaxed) {
                    metrics::gauge!("portcullis_redis_up").set(0.0);
                }
                if self.due_warning() {
                    tracing::warn!(
                        redis = %self.addr,
                        operation,
                        error = %describe(e),
                        "redis cannot be used: shared state falls back as documented"
                    );
                }
            }
        }
        r
    }
}

/// An error as text, without the URL (which may hold a password).
fn describe(e: &redis::RedisError) -> String {
    let mut text = e.to_string();
    if let Some(detail) = e.detail()
        && detail.contains('@')
    {
        text = format!("{:?}", e.kind());
    }
    text
}
