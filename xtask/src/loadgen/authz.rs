//! The `authz-check` scenario: `POST /api/v1/authz/check` with request
//! bodies read from a file (JSON lines, written by `cargo xtask bench
//! authz`), as the account in `LOADGEN_EMAIL`/`LOADGEN_PASSWORD` (an admin:
//! it checks for other subjects).
//!
//! Three modes:
//! - closed loop (default): every connection sends back to back until the
//!   deadline; the figure is the maximum throughput;
//! - `--rate R`: an open-loop schedule of R requests/s in all: request `k`
//!   is due at `k / R` seconds, on connection `k mod N`. A pacing thread
//!   hands each connection its requests' due instants (it sleeps with the
//!   operating system's timer; tokio's one-millisecond timer would send the
//!   requests due within each millisecond as one burst). When the previous
//!   answer on the connection came after a request's due instant, the
//!   request's latency counts from that instant, so a server that falls
//!   behind shows its queueing in p99 instead of silently receiving less
//!   (no coordinated omission); otherwise it counts from the actual send;
//! - `--verify FILE`: each of the first `--max-requests` bodies is sent
//!   once; the answers (index, status, `allowed`, `reason`, and the UTC hour
//!   and weekday before sending and after the answer) go to FILE as JSON
//!   lines, for `bench/authz`'s `verify` to compare with our engine.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use hyper::body::Bytes;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::Options;
use super::client::Conn;
use super::scenario::{Account, Stats, login};

const CHECK: &str = "/api/v1/authz/check";
/// Bound on one request; a timeout counts as a transport error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What `authz-check` needs beyond the common options.
#[derive(Clone, Debug, Default)]
pub struct AuthzOptions {
    /// Request bodies, one JSON object per line.
    pub bodies: Option<PathBuf>,
    /// Requests per second in all (paced); `None`: closed loop.
    pub rate: Option<f64>,
    /// Where to write the answers of a verification pass.
    pub verify: Option<PathBuf>,
}

/// Runs the scenario; returns its figures.
pub async fn run(addr: SocketAddr, opts: &Options) -> Result<Value> {
    let path = opts
        .authz
        .bodies
        .as_ref()
        .context("authz-check needs --bodies FILE")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let bodies: Arc<Vec<Bytes>> = Arc::new(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| Bytes::from(l.to_owned()))
            .collect(),
    );
    if bodies.is_empty() {
        bail!("{} holds no request body", path.display());
    }
    let account = Account {
        email: std::env::var("LOADGEN_EMAIL").context("LOADGEN_EMAIL is not set")?,
        password: std::env::var("LOADGEN_PASSWORD").context("LOADGEN_PASSWORD is not set")?,
    };
    let mut conn = Conn::connect(addr).await?;
    let (token, _) = login(&mut conn, &account).await?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).context("token header")?;

    let connections = opts.connections;
    let mut conns = Vec::with_capacity(connections);
    let mut drivers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (conn, driver) = Conn::connect_driven(addr).await?;
        conns.push(conn);
        drivers.push(driver);
    }

    if let Some(out) = &opts.authz.verify {
        let n = usize::try_from(opts.max_requests)
            .unwrap_or(usize::MAX)
            .min(bodies.len());
        for driver in drivers {
            tokio::spawn(driver);
        }
        return verify(conns, bearer, bodies, n, out).await;
    }

    let late_ms = opts.wait_for_start().await;
    let start = Instant::now();
    let deadline = start + opts.duration;
    let cap = (opts.max_requests / connections as u64).max(1);
    let mut permits = Vec::with_capacity(connections);
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(drivers)
        .enumerate()
        .map(|(w, (conn, driver))| {
            let worker = Worker {
                conn,
                bearer: bearer.clone(),
                bodies: bodies.clone(),
                next: w,
                step: connections,
            };
            let pace = opts.authz.rate.map(|_| {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                permits.push(tx);
                rx
            });
            // One task drives the connection and sends on it.
            tokio::spawn(async move {
                let work = worker.run(deadline, cap, pace);
                tokio::pin!(work);
                tokio::select! {
                    stats = &mut work => stats,
                    // The connection closed: the worker's next request fails.
                    _ = driver => work.await,
                }
            })
        })
        .collect();
    let pacer = opts
        .authz
        .rate
        .map(|rate| std::thread::spawn(move || pace(rate, start, deadline, permits)));
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(task.await.context("load task")?);
    }
    if let Some(pacer) = pacer {
        pacer
            .join()
            .map_err(|_| anyhow::anyhow!("the pacer thread panicked"))?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let mut report = stats.report("authz-check", connections, seconds);
    if let (Some(rate), Some(obj)) = (opts.authz.rate, report.as_object_mut()) {
        obj.insert("target_rate".into(), json!(rate));
    }
    if let Some(obj) = report.as_object_mut() {
        obj.insert("late_ms".into(), json!(late_ms));
    }
    Ok(report)
}

struct Worker {
    conn: Conn,
    bearer: HeaderValue,
    bodies: Arc<Vec<Bytes>>,
    next: usize,
    step: usize,
}

impl Worker {
    /// Sends until the deadline or `cap` requests: back to back, or, when
    /// paced, once per permit (the permit carries the scheduled instant).
    async fn run(
        mut self,
        deadline: Instant,
        cap: u64,
        mut pace: Option<UnboundedReceiver<Instant>>,
    ) -> Stats {
        let mut stats = Stats::default();
        let mut previous_done = Instant::now();
        loop {
            let scheduled = match &mut pace {
                Some(permits) => {
                    let Some(at) = permits.recv().await else {
                        break;
                    };
                    if previous_done > at {
                        at
                    } else {
                        Instant::now()
                    }
                }
                None => {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    now
                }
            };
            if stats.sent >= cap {
                break;
            }
            let body = self
                .bodies
                .get(self.next % self.bodies.len())
                .cloned()
                .unwrap_or_default();
            self.next += self.step;
            stats.sent += 1;
            let response = tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.conn.post_json_as(CHECK, body, Some(&self.bearer)),
            )
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}")));
            previous_done = Instant::now();
            match response {
                Ok((200, body)) if contains(&body, b"\"allowed\":") => {
                    stats.ok += 1;
                    let micros = scheduled.elapsed().as_micros();
                    stats
                        .latencies_us
                        .push(u32::try_from(micros).unwrap_or(u32::MAX));
                }
                Ok((200, body)) => {
                    stats.bad_body += 1;
                    stats.note(format!("{CHECK}: {}", String::from_utf8_lossy(&body)));
                }
                Ok((status, body)) => {
                    *stats.statuses.entry(status).or_default() += 1;
                    stats.note(format!(
                        "{CHECK}: {status} {}",
                        String::from_utf8_lossy(&body)
                    ));
                }
                Err(err) => {
                    stats.transport_errors += 1;
                    stats.note(format!("{err:#}"));
                    break;
                }
            }
        }
        stats
    }
}

/// The paced schedule: request `k` is due at `start + k / rate`, and goes
/// to connection `k mod n`. This runs on its own thread, sleeping with the
/// operating system's timer (tens of microseconds) rather than tokio's (one
/// millisecond): with tokio's, the twenty requests due within each
/// millisecond at 20,000/s left together, a burst that is the load
/// generator's artefact, not the load asked for.
fn pace(rate: f64, start: Instant, deadline: Instant, permits: Vec<UnboundedSender<Instant>>) {
    /// Requests due within this much of now leave together.
    const SLACK: Duration = Duration::from_micros(20);
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut k = 0u32;
    loop {
        let due = start + interval * k;
        if due >= deadline {
            break;
        }
        let now = Instant::now();
        if due > now + SLACK {
            std::thread::sleep(due - now);
            continue;
        }
        // A worker that stopped (transport error) takes no more permits.
        if let Some(worker) = permits.get(k as usize % permits.len()) {
            let _ = worker.send(due);
        }
        k += 1;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The UTC hour and ISO weekday (1 = Monday) now.
fn utc_hour_and_day() -> (u64, u64) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    // 1970-01-01 was a Thursday (4).
    ((secs % 86_400) / 3600, (days + 3) % 7 + 1)
}

/// Sends bodies `0..n` once each, spread over the connections, and writes
/// the answers to `out`.
async fn verify(
    conns: Vec<Conn>,
    bearer: HeaderValue,
    bodies: Arc<Vec<Bytes>>,
    n: usize,
    out: &PathBuf,
) -> Result<Value> {
    let step = conns.len();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(w, mut conn)| {
            let bodies = bodies.clone();
            let bearer = bearer.clone();
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for i in (w..n).step_by(step) {
                    let body = bodies.get(i).cloned().unwrap_or_default();
                    let (hour, day) = utc_hour_and_day();
                    let (status, response) = tokio::time::timeout(
                        REQUEST_TIMEOUT,
                        conn.post_json_as(CHECK, body, Some(&bearer)),
                    )
                    .await
                    .map_err(|_| anyhow::anyhow!("no response within {REQUEST_TIMEOUT:?}"))??;
                    let (hour_after, day_after) = utc_hour_and_day();
                    let value: Value = serde_json::from_slice(&response).unwrap_or(Value::Null);
                    answers.push(json!({
                        "i": i,
                        "status": status,
                        "allowed": value.get("allowed"),
                        "reason": value.get("reason"),
                        "error": if status == 200 { Value::Null } else { value.clone() },
                        "hour": hour, "day": day,
                        "hour_after": hour_after, "day_after": day_after,
                    }));
                }
                anyhow::Ok(answers)
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(n);
    for task in tasks {
        answers.extend(task.await.context("verify task")??);
    }
    answers.sort_by_key(|a| a.get("i").and_then(Value::as_u64));
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for a in &answers {
        writeln!(w, "{a}").with_context(|| format!("writing {}", out.display()))?;
    }
    w.flush()
        .with_context(|| format!("writing {}", out.display()))?;
    let ok = answers
        .iter()
        .filter(|a| a.get("status").and_then(Value::as_u64) == Some(200))
        .count();
    Ok(json!({ "scenario": "authz-check-verify", "sent": answers.len(), "ok": ok }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_and_day_are_in_range() {
        let (hour, day) = utc_hour_and_day();
        assert!(hour < 24);
        assert!((1..=7).contains(&day));
    }
}
