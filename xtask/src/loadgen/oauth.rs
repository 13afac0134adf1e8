//! The OAuth 2.0 scenarios, for any authorization server (Portcullis or a
//! peer such as oidc-provider), as one confidential client authenticating
//! with `client_secret_basic`:
//!
//! - `oauth-token`: `POST {prefix}/oauth2/token` with
//!   `grant_type=client_credentials&scope=...`; a success is a 200 whose
//!   body holds an `access_token` and `"token_type":"Bearer"`.
//! - `oauth-introspect`: first (untimed) `--pool` tokens are obtained with
//!   that grant, then `POST {prefix}/oauth2/introspect` with `token=...`,
//!   the connections taking the pool's tokens round-robin; a success is a
//!   200 whose body has `"active":true`.
//!
//! Options: `--addr` (loopback), `--prefix` (the path before `/oauth2/`,
//! e.g. `/realms/main`; empty by default), `--client-id`, the secret in
//! `--client-secret` or `LOADGEN_CLIENT_SECRET`, `--scope` (default
//! `api:read`), `--pool` (default 1,000), `--connections`, `--seconds`.
//! Every connection sends back to back until the deadline; latencies and
//! counts as in the other scenarios.
//!
//! The load generator shares the machine's cores with the server it
//! measures, so what it spends per request is taken from the server. These
//! scenarios therefore write each request in one piece over a bare
//! connection and parse the answer with `httparse` ([`super::raw`]), all on
//! one thread (a single-threaded runtime: no task is ever handed to another
//! thread). On the 2-core machine of docs/benchmarks.md the hyper client on
//! a two-thread runtime used about 60% of a core at 57,000 tokens/s and left
//! Portcullis a fifth of the machine idle between them; this uses about 40%
//! at 72,000. A single-threaded server such as oidc-provider measures the
//! same either way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use hyper::body::Bytes;
use serde_json::Value;

use super::Options;
use super::raw::RawConn;
use super::scenario::{Stats, contains};

/// Bound on the untimed set-up (the introspection pool).
const SETUP_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound on one request in the measured phase; a timeout counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections that fill the introspection pool.
const POOL_CONNECTIONS: usize = 8;

/// What the OAuth scenarios need beyond the common options.
#[derive(Clone, Debug)]
pub struct OAuthOptions {
    /// The path before `/oauth2/token` and `/oauth2/introspect`.
    pub prefix: String,
    pub client_id: Option<String>,
    /// `--client-secret`; else `LOADGEN_CLIENT_SECRET`.
    pub client_secret: Option<String>,
    /// The `scope` of token requests.
    pub scope: String,
    /// Tokens to introspect, round-robin.
    pub pool: usize,
}

impl Default for OAuthOptions {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            client_id: None,
            client_secret: None,
            scope: "api:read".to_owned(),
            pool: 1_000,
        }
    }
}

/// Which of the two scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Token,
    Introspect,
}

impl Kind {
    /// The scenario for a name, if it is one of these.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "oauth-token" => Some(Self::Token),
            "oauth-introspect" => Some(Self::Introspect),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Token => "oauth-token",
            Self::Introspect => "oauth-introspect",
        }
    }
}

/// The client's requests: paths, the Basic credentials, the token body.
struct Client {
    token_path: String,
    introspect_path: String,
    basic: String,
    token_body: Bytes,
}

impl Client {
    fn new(opts: &OAuthOptions) -> Result<Self> {
        let id = opts
            .client_id
            .as_deref()
            .context("--client-id is required")?;
        let secret = match &opts.client_secret {
            Some(secret) => secret.clone(),
            None => std::env::var("LOADGEN_CLIENT_SECRET")
                .context("--client-secret or LOADGEN_CLIENT_SECRET is required")?,
        };
        let prefix = opts.prefix.trim_end_matches('/');
        if !prefix.is_empty() && !prefix.starts_with('/') {
            bail!("--prefix must start with '/': {prefix}");
        }
        let basic = basic_authorization(id, &secret);
        Ok(Self {
            token_path: format!("{prefix}/oauth2/token"),
            introspect_path: format!("{prefix}/oauth2/introspect"),
            basic,
            token_body: Bytes::from(format!(
                "grant_type=client_credentials&scope={}",
                form_encode(&opts.scope)
            )),
        })
    }

    /// One token request; its access token, or why it failed.
    async fn token(&self, conn: &mut RawConn) -> Result<String> {
        let answer = conn.post(&self.token_body).await?;
        let (status, body) = (answer.status, answer.body);
        if status != 200 {
            bail!(
                "{}: {status} {}",
                self.token_path,
                String::from_utf8_lossy(&body)
            );
        }
        let value: Value = serde_json::from_slice(&body).context("token response is not JSON")?;
        value
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("token response has no access_token")
    }
}

/// Runs `kind` against `addr`; returns its figures.
pub async fn run(kind: Kind, addr: SocketAddr, opts: &Options) -> Result<Value> {
    let client = Arc::new(Client::new(&opts.oauth)?);
    let connections = opts.connections;

    let bodies: Arc<Vec<Bytes>> = match kind {
        Kind::Token => Arc::new(Vec::new()),
        Kind::Introspect => {
            let pool = opts.oauth.pool.max(1);
            let tokens = tokio::time::timeout(SETUP_TIMEOUT, fill_pool(&client, addr, pool))
                .await
                .with_context(|| format!("set-up took longer than {SETUP_TIMEOUT:?}"))??;
            Arc::new(
                tokens
                    .iter()
                    .map(|t| Bytes::from(format!("token={}", form_encode(t))))
                    .collect(),
            )
        }
    };

    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(RawConn::connect(addr, client.path(kind), &client.basic).await?);
    }
    let late_ms = opts.wait_for_start().await;
    let start = Instant::now();
    let deadline = start + opts.duration;
    let cap = (opts.max_requests / connections as u64).max(1);
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(w, conn)| {
            let worker = Worker {
                kind,
                conn,
                client: client.clone(),
                bodies: bodies.clone(),
                next: w,
                step: connections,
            };
            tokio::spawn(worker.run(deadline, cap))
        })
        .collect();
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(task.await.context("load task")?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut report = stats.report(kind.name(), connections, seconds);
    if let Some(object) = report.as_object_mut() {
        object.insert("path".to_owned(), Value::from(client.path(kind)));
        object.insert("late_ms".to_owned(), Value::from(late_ms));
        if kind == Kind::Introspect {
            object.insert("pool".to_owned(), Value::from(bodies.len()));
        }
    }
    Ok(report)
}

impl Client {
    fn path(&self, kind: Kind) -> &str {
        match kind {
            Kind::Token => &self.token_path,
            Kind::Introspect => &self.introspect_path,
        }
    }
}

/// Obtains `n` access tokens over a few connections.
async fn fill_pool(client: &Arc<Client>, addr: SocketAddr, n: usize) -> Result<Vec<String>> {
    let connections = POOL_CONNECTIONS.min(n);
    let mut tasks = Vec::with_capacity(connections);
    for c in 0..connections {
        let client = client.clone();
        // Connection c obtains tokens c, c + connections, ...
        let count = (n - c).div_ceil(connections);
        tasks.push(tokio::spawn(async move {
            let mut conn = RawConn::connect(addr, &client.token_path, &client.basic).await?;
            let mut tokens = Vec::with_capacity(count);
            for _ in 0..count {
                tokens.push(client.token(&mut conn).await?);
            }
            anyhow::Ok(tokens)
        }));
    }
    let mut tokens = Vec::with_capacity(n);
    for task in tasks {
        tokens.extend(task.await.context("pool task")??);
    }
    Ok(tokens)
}

/// One connection's state in the measured phase.
struct Worker {
    kind: Kind,
    conn: RawConn,
    client: Arc<Client>,
    /// Introspection bodies (`token=...`).
    bodies: Arc<Vec<Bytes>>,
    /// The next body to send, and the stride (the connection count).
    next: usize,
    step: usize,
}

impl Worker {
    async fn run(mut self, deadline: Instant, cap: u64) -> Stats {
        let mut stats = Stats::default();
        let path = self.client.path(self.kind).to_owned();
        while Instant::now() < deadline && stats.sent < cap {
            let body = match self.kind {
                Kind::Token => self.client.token_body.clone(),
                Kind::Introspect => {
                    let len = self.bodies.len().max(1);
                    let body = self
                        .bodies
                        .get(self.next % len)
                        .cloned()
                        .unwrap_or_default();
                    self.next = (self.next + self.step) % len;
                    body
                }
            };
            stats.sent += 1;
            let sent_at = Instant::now();
            let response = tokio::time::timeout(REQUEST_TIMEOUT, self.conn.post(&body))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}")))
                .map(|answer| (answer.status, answer.body));
            match response {
                Ok((200, body)) => {
                    let micros = sent_at.elapsed().as_micros();
                    if self.accept(&body) {
                        stats.ok += 1;
                        stats
                            .latencies_us
                            .push(u32::try_from(micros).unwrap_or(u32::MAX));
                    } else {
                        stats.bad_body += 1;
                        stats.note(format!(
                            "{path}: unexpected answer {}",
                            String::from_utf8_lossy(&body)
                        ));
                    }
                }
                Ok((status, body)) => {
                    *stats.statuses.entry(status).or_default() += 1;
                    stats.note(format!(
                        "{path}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                Err(err) => {
                    stats.transport_errors += 1;
                    stats.note(format!("{err:#}"));
                    if let Err(err) = self.conn.reopen().await {
                        stats.note(format!("reconnecting: {err:#}"));
                        break;
                    }
                }
            }
        }
        stats
    }

    /// Whether a 200's body is the answer expected (the cheap test: the
    /// load generator shares the CPU with the server).
    fn accept(&self, body: &[u8]) -> bool {
        match self.kind {
            Kind::Token => {
                contains(body, b"\"access_token\":\"")
                    && contains(body, b"\"token_type\":\"Bearer\"")
            }
            Kind::Introspect => contains(body, b"\"active\":true"),
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic header.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `Authorization` value of `client_secret_basic` (RFC 6749 §2.3.1:
/// the id and the secret are form-urlencoded first).
pub(crate) fn basic_authorization(id: &str, secret: &str) -> String {
    let credentials = format!("{}:{}", form_encode(id), form_encode(secret));
    format!("Basic {}", base64(credentials.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("api:read"), "api%3Aread");
        assert_eq!(form_encode("a b+c/d"), "a+b%2Bc%2Fd");
        assert_eq!(form_encode("Az09-._*"), "Az09-._*");
    }

    #[test]
    fn basic_credentials_are_encoded_then_joined() {
        let client = Client::new(&OAuthOptions {
            prefix: "/realms/main/".to_owned(),
            client_id: Some("bench".to_owned()),
            client_secret: Some("s:cret".to_owned()),
            ..OAuthOptions::default()
        })
        .unwrap();
        // base64("bench:s%3Acret")
        assert_eq!(client.basic, "Basic YmVuY2g6cyUzQWNyZXQ=");
        assert_eq!(client.token_path, "/realms/main/oauth2/token");
        assert_eq!(client.introspect_path, "/realms/main/oauth2/introspect");
        assert_eq!(
            client.token_body,
            "grant_type=client_credentials&scope=api%3Aread"
        );
    }
}
