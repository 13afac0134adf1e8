//! The HTTP scenarios: set-up (accounts, logins) untimed, then every
//! connection sends requests back to back until the deadline.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use hyper::body::Bytes;
use serde_json::{Value, json};

use super::Options;
use super::client::Conn;
use super::hash::per_second;
use crate::process::random_hex;

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const VALIDATE: &str = "/api/v1/auth/validate";

/// Bound on the untimed set-up (registrations and first logins).
const SETUP_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound on one request in the measured phase; a timeout counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What each connection does in the measured phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Log in with the correct password, again and again.
    Login,
    /// Validate one access token.
    Validate,
    /// Rotate a refresh token, chaining each response's token to the next request.
    Refresh,
}

impl Scenario {
    /// Parses a scenario's name.
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "login" => Self::Login,
            "validate" => Self::Validate,
            "refresh" => Self::Refresh,
            other => bail!(
                "unknown scenario {other} (hash, login, validate, refresh, authz-check, oauth-token, oauth-introspect)"
            ),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Validate => "validate",
            Self::Refresh => "refresh",
        }
    }
}

/// An account to log in with.
#[derive(Clone, Debug)]
pub(super) struct Account {
    pub(super) email: String,
    pub(super) password: String,
}

impl Account {
    fn login_body(&self) -> Bytes {
        Bytes::from(json!({"email": self.email, "password": self.password}).to_string())
    }
}

/// Runs `scenario` against `addr` and returns its figures.
pub async fn run(scenario: Scenario, addr: SocketAddr, opts: &Options) -> Result<Value> {
    let connections = opts.connections;
    let workers = tokio::time::timeout(SETUP_TIMEOUT, set_up(scenario, addr, connections))
        .await
        .with_context(|| format!("set-up took longer than {SETUP_TIMEOUT:?}"))??;

    let late_ms = opts.wait_for_start().await;
    let start = Instant::now();
    let deadline = start + opts.duration;
    let cap = (opts.max_requests / connections as u64).max(1);
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(w.run(deadline, cap)))
        .collect();
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(task.await.context("load task")?);
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut report = stats.report(scenario.name(), connections, seconds);
    if let Some(object) = report.as_object_mut() {
        object.insert("late_ms".to_owned(), Value::from(late_ms));
    }
    Ok(report)
}

/// Registers accounts, connects, and logs in where the scenario needs a token.
async fn set_up(scenario: Scenario, addr: SocketAddr, connections: usize) -> Result<Vec<Worker>> {
    // Logins and refreshes get an account (so a session family) per connection.
    let users = if scenario == Scenario::Validate {
        1
    } else {
        connections
    };
    let accounts = accounts(addr, users).await?;
    if accounts.is_empty() {
        bail!("no account to log in with");
    }

    let shared_token = if scenario == Scenario::Validate {
        let account = accounts.first().context("no account")?;
        let mut conn = Conn::connect(addr).await?;
        Some(login(&mut conn, account).await?.0)
    } else {
        None
    };
    let mut setups = Vec::with_capacity(connections);
    for i in 0..connections {
        let account = accounts
            .get(i % accounts.len())
            .context("no account")?
            .clone();
        let shared_token = shared_token.clone();
        setups.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let token = match scenario {
                Scenario::Login => String::new(),
                Scenario::Validate => shared_token.unwrap_or_default(),
                Scenario::Refresh => login(&mut conn, &account).await?.1,
            };
            anyhow::Ok(Worker {
                scenario,
                addr,
                conn,
                account,
                token,
            })
        }));
    }
    let mut workers = Vec::with_capacity(connections);
    for setup in setups {
        workers.push(setup.await.context("set-up task")??);
    }
    Ok(workers)
}

/// Registers `n` fresh accounts. If the server refuses a registration, the
/// accounts made so far are shared; if it refuses the first, the account
/// named in `LOADGEN_EMAIL` and `LOADGEN_PASSWORD` is used by everyone.
async fn accounts(addr: SocketAddr, n: usize) -> Result<Vec<Account>> {
    let nonce = random_hex(6)?;
    let mut conn = Conn::connect(addr).await?;
    let mut accounts = Vec::with_capacity(n);
    for i in 0..n {
        let account = Account {
            email: format!("bench-{nonce}-{i}@bench.test"),
            password: format!("Pw-{}-k9!", random_hex(12)?),
        };
        let body = json!({"email": account.email, "password": account.password, "name": format!("Bench {i}")});
        let (status, response) = conn
            .post_json(REGISTER, Bytes::from(body.to_string()))
            .await?;
        if status == 201 {
            accounts.push(account);
            continue;
        }
        let why = format!(
            "registration answered {status} ({})",
            String::from_utf8_lossy(&response)
        );
        if !accounts.is_empty() {
            eprintln!(
                "loadgen: {why}; sharing the {} accounts made so far",
                accounts.len()
            );
            return Ok(accounts);
        }
        let fallback = std::env::var("LOADGEN_EMAIL")
            .ok()
            .zip(std::env::var("LOADGEN_PASSWORD").ok());
        let Some((email, password)) = fallback else {
            bail!("{why}, and LOADGEN_EMAIL/LOADGEN_PASSWORD are not set");
        };
        eprintln!("loadgen: {why}; using {email} for every connection");
        return Ok(vec![Account { email, password }]);
    }
    Ok(accounts)
}

/// Logs in; returns the access and refresh tokens.
pub(super) async fn login(conn: &mut Conn, account: &Account) -> Result<(String, String)> {
    let (status, body) = conn.post_json(LOGIN, account.login_body()).await?;
    if status != 200 {
        bail!(
            "login as {} failed: {status} {}",
            account.email,
            String::from_utf8_lossy(&body)
        );
    }
    let value: Value = serde_json::from_slice(&body).context("login response is not JSON")?;
    let token = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("login response has no {name}"))
    };
    Ok((token("access_token")?, token("refresh_token")?))
}

/// One connection's state in the measured phase.
struct Worker {
    scenario: Scenario,
    addr: SocketAddr,
    conn: Conn,
    account: Account,
    /// The access token (validate) or the next refresh token (refresh).
    token: String,
}

impl Worker {
    async fn run(mut self, deadline: Instant, cap: u64) -> Stats {
        let mut stats = Stats::default();
        let login_body = self.account.login_body();
        let validate_body = Bytes::from(json!({"token": self.token}).to_string());
        while Instant::now() < deadline && stats.sent < cap {
            let (path, body) = match self.scenario {
                Scenario::Login => (LOGIN, login_body.clone()),
                Scenario::Validate => (VALIDATE, validate_body.clone()),
                Scenario::Refresh => (
                    REFRESH,
                    Bytes::from(json!({"refresh_token": self.token}).to_string()),
                ),
            };
            stats.sent += 1;
            let sent_at = Instant::now();
            let response = tokio::time::timeout(REQUEST_TIMEOUT, self.conn.post_json(path, body))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}")));
            match response {
                Ok((status, body)) if (200..300).contains(&status) => {
                    let micros = sent_at.elapsed().as_micros();
                    match self.accept(&body) {
                        Ok(()) => {
                            stats.ok += 1;
                            stats
                                .latencies_us
                                .push(u32::try_from(micros).unwrap_or(u32::MAX));
                        }
                        Err(err) => {
                            stats.bad_body += 1;
                            stats.note(format!("{path}: {err:#}"));
                            if !self.recover(&mut stats).await {
                                break;
                            }
                        }
                    }
                }
                Ok((status, body)) => {
                    *stats.statuses.entry(status).or_default() += 1;
                    stats.note(format!(
                        "{path}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                    if !self.recover(&mut stats).await {
                        break;
                    }
                }
                Err(err) => {
                    stats.transport_errors += 1;
                    stats.note(format!("{err:#}"));
                    match Conn::connect(self.addr).await {
                        Ok(conn) => self.conn = conn,
                        Err(err) => {
                            stats.note(format!("reconnecting: {err:#}"));
                            break;
                        }
                    }
                    if !self.recover(&mut stats).await {
                        break;
                    }
                }
            }
        }
        stats
    }

    /// Checks a 2xx response's body and takes the next token from it.
    fn accept(&mut self, body: &[u8]) -> Result<()> {
        match self.scenario {
            Scenario::Login => Ok(()),
            Scenario::Validate => {
                // The cheap test first: the load generator shares the CPU.
                if contains(body, b"\"active\":true") {
                    return Ok(());
                }
                let value: Value = serde_json::from_slice(body).context("not JSON")?;
                if value.get("active").and_then(Value::as_bool) == Some(true) {
                    Ok(())
                } else {
                    bail!("token not active: {}", String::from_utf8_lossy(body))
                }
            }
            Scenario::Refresh => {
                let value: Value = serde_json::from_slice(body).context("not JSON")?;
                let token = value
                    .get("refresh_token")
                    .and_then(Value::as_str)
                    .context("no refresh_token in the response")?;
                token.clone_into(&mut self.token);
                Ok(())
            }
        }
    }

    /// After a failed refresh the chain is broken: log in again for a new
    /// family. Returns false when the connection should give up.
    async fn recover(&mut self, stats: &mut Stats) -> bool {
        if self.scenario != Scenario::Refresh {
            return true;
        }
        match login(&mut self.conn, &self.account).await {
            Ok((_, refresh)) => {
                self.token = refresh;
                true
            }
            Err(err) => {
                stats.note(format!("logging in again: {err:#}"));
                false
            }
        }
    }
}

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Counts and latencies of one connection, then of all.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) sent: u64,
    pub(super) ok: u64,
    pub(super) statuses: BTreeMap<u16, u64>,
    pub(super) bad_body: u64,
    pub(super) transport_errors: u64,
    pub(super) latencies_us: Vec<u32>,
    first_error: Option<String>,
}

impl Stats {
    pub(super) fn note(&mut self, message: String) {
        if self.first_error.is_none() {
            let mut message = message;
            message.truncate(300);
            self.first_error = Some(message);
        }
    }

    pub(super) fn merge(&mut self, other: Self) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.bad_body += other.bad_body;
        self.transport_errors += other.transport_errors;
        self.latencies_us.extend(other.latencies_us);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub(super) fn report(mut self, scenario: &str, connections: usize, seconds: f64) -> Value {
        self.latencies_us.sort_unstable();
        let percentile = |q: f64| -> Option<f64> {
            let n = self.latencies_us.len();
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
            self.latencies_us
                .get(rank)
                .map(|us| f64::from(*us) / 1000.0)
        };
        let non_2xx: u64 = self.statuses.values().sum();
        let statuses: BTreeMap<String, u64> = self
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect();
        json!({
            "scenario": scenario,
            "connections": connections,
            "seconds": seconds,
            "sent": self.sent,
            "ok": self.ok,
            "rate": per_second(self.ok, seconds),
            "p50_ms": percentile(0.50),
            "p99_ms": percentile(0.99),
            "non_2xx": non_2xx,
            "statuses": statuses,
            "bad_body": self.bad_body,
            "transport_errors": self.transport_errors,
            "first_error": self.first_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_errors_are_reported() {
        let mut stats = Stats {
            latencies_us: (1..=100).rev().map(|i| i * 1000).collect(),
            ok: 100,
            ..Stats::default()
        };
        stats.statuses.insert(429, 2);
        let report = stats.report("validate", 4, 2.0);
        assert_eq!(report["p50_ms"], 50.0);
        assert_eq!(report["p99_ms"], 99.0);
        assert_eq!(report["rate"], 50.0);
        assert_eq!(report["non_2xx"], 2);
        assert_eq!(report["statuses"]["429"], 2);
    }

    #[test]
    fn empty_run_has_no_percentiles() {
        let report = Stats::default().report("refresh", 1, 1.0);
        assert!(report["p50_ms"].is_null());
    }
}
