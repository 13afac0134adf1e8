//! `cargo xtask bench scale [--seconds N] [--server-binary PATH]
//! [--one-instance]`: what sharing state through Redis costs, and what a
//! second instance brings, on PostgreSQL.
//!
//! A throwaway PostgreSQL cluster and Redis server (as `cargo xtask test`
//! starts them), one database, and three set-ups measured in turn, three
//! rounds each, the order turning from round to round:
//!
//! 1. one instance, Redis off (the edge's state in process);
//! 2. the same instance with `PORTCULLIS_REDIS_URL` (limiters, blocks and
//!    nonces in Redis, change notices on);
//! 3. two instances with Redis, the load generator's connections split
//!    between them (two processes starting their measured phase at one
//!    instant), their rates added.
//!
//! Each set-up is measured on the token endpoint (`client_credentials`,
//! Basic) and on `POST /api/v1/authz/check` (the admin's own checks), with
//! the rate-limit policy raised so that everything is counted and nothing
//! refused. The report (stdout and `target/bench-scale-report.md`) gives the
//! median of the rounds, p99 latencies, and each set-up's rate against the
//! first's; the goal is Redis costing under 10% of one instance's rate.
//! On a 2-core machine the second instance shares the same two cores, so it
//! shows the cost of sharing, not a gain.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use super::oidc::{REALM, bench_client, oauth_with, settle};
use super::report::Outcome;
use super::{Options, build_binaries, measure, publish};
use crate::process::{self, TempDir, check_interrupted};
use crate::server::Server;
use crate::services::{Kind, Services};

/// Rounds of every set-up.
const ROUNDS: usize = 3;
/// Connections in all (split between two instances).
const CONNECTIONS: usize = 32;
/// Time the load generators get for their set-up before the agreed start.
const START_MARGIN: Duration = Duration::from_secs(5);
/// Check bodies sent in turn.
const BODIES: usize = 1_000;

/// The set-ups, in the order measured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    OneLocal,
    OneRedis,
    TwoRedis,
}

impl Setup {
    fn label(self) -> &'static str {
        match self {
            Setup::OneLocal => "one instance, Redis off",
            Setup::OneRedis => "one instance, Redis on",
            Setup::TwoRedis => "two instances, Redis on",
        }
    }
}

/// One set-up's figures on one endpoint: each round's rate (requests/s)
/// and p99 (ms), and whether anything failed.
#[derive(Default)]
struct Series {
    rates: Vec<f64>,
    p99s: Vec<f64>,
    non_2xx: f64,
    failed: Option<String>,
}

impl Series {
    fn add(&mut self, outcomes: &[Outcome]) {
        let mut rate = 0.0;
        let mut p99: f64 = 0.0;
        for o in outcomes {
            match o {
                Outcome::Done(v) => {
                    rate += v.get("rate").and_then(Value::as_f64).unwrap_or(0.0);
                    p99 = p99.max(v.get("p99_ms").and_then(Value::as_f64).unwrap_or(0.0));
                    self.non_2xx += v.get("non_2xx").and_then(Value::as_f64).unwrap_or(0.0);
                }
                Outcome::Failed(e) => self.failed = Some(e.clone()),
                Outcome::Skipped(_) => {}
            }
        }
        self.rates.push(rate);
        self.p99s.push(p99);
    }

    fn rate(&self) -> Option<f64> {
        median(&self.rates)
    }
}

fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| *x > 0.0).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

/// The figures of the run: by set-up, the token endpoint's and the check's.
struct Figures {
    seconds: u64,
    token: Vec<(Setup, Series)>,
    check: Vec<(Setup, Series)>,
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let opts = Options::parse(args, "--one-instance")?;
    process::install_signal_handler()?;
    let binary = build_binaries(&opts)?;
    let services = Services::start(&[Kind::Postgres, Kind::Redis])?;
    let env = services.env();
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .with_context(|| format!("{name} was not set by the services"))
    };
    let (database, redis) = (var("TEST_POSTGRES_URL")?, var("TEST_REDIS_URL")?);
    let mut setups = vec![Setup::OneLocal, Setup::OneRedis, Setup::TwoRedis];
    if opts.skip {
        setups.pop();
    }
    let mut figures = Figures {
        seconds: opts.seconds,
        token: setups.iter().map(|s| (*s, Series::default())).collect(),
        check: setups.iter().map(|s| (*s, Series::default())).collect(),
    };
    let bench = Bench::prepare(&binary, &database, &redis)?;
    let seconds = opts.seconds.to_string();
    for round in 0..ROUNDS {
        // The order turns from round to round, so that whatever drifts
        // during the run (the database grows) favours no set-up.
        let mut order: Vec<usize> = (0..setups.len()).collect();
        order.rotate_left(round % setups.len().max(1));
        for i in order {
            let Some(setup) = setups.get(i) else {
                continue;
            };
            check_interrupted()?;
            eprintln!(
                "xtask: scale, round {} of {ROUNDS}: {}",
                round + 1,
                setup.label()
            );
            let servers = bench.start(*setup)?;
            let addrs: Vec<SocketAddr> = servers.iter().map(Server::addr).collect();
            let token = bench.split(&addrs, |addr, conns, at| {
                let prefix = format!("/realms/{REALM}");
                oauth_with(
                    "oauth-token",
                    addr,
                    &prefix,
                    &bench.secret,
                    &seconds,
                    conns,
                    at,
                )
            });
            if let Some((_, s)) = figures.token.get_mut(i) {
                s.add(&token);
            }
            check_interrupted()?;
            let check = bench.split(&addrs, |addr, conns, at| {
                bench.check(addr, &seconds, conns, at)
            });
            if let Some((_, s)) = figures.check.get_mut(i) {
                s.add(&check);
            }
            for server in servers {
                if let Err(err) = server.stop() {
                    eprintln!("xtask: stopping the server: {err:#}");
                }
            }
        }
    }
    drop(services);
    publish(&markdown(&figures), "bench-scale-report.md")?;
    let failed = figures
        .token
        .iter()
        .chain(&figures.check)
        .any(|(_, s)| s.failed.is_some() || s.rate().is_none());
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What every set-up shares: the server, its settings, the client and the
/// check bodies.
struct Bench<'a> {
    binary: &'a Path,
    database: &'a str,
    redis: &'a str,
    dir: TempDir,
    password: String,
    master_key: String,
    secret: String,
    bodies: String,
}

impl<'a> Bench<'a> {
    /// Migrates the database, creates the client, and writes the relaxed
    /// policy and the check bodies.
    fn prepare(binary: &'a Path, database: &'a str, redis: &'a str) -> Result<Self> {
        let dir = TempDir::new("portcullis-bench-scale")?;
        let mut bench = Self {
            binary,
            database,
            redis,
            password: format!("Lg-{}-Q7!", process::random_hex(12)?),
            master_key: process::random_hex(32)?,
            secret: String::new(),
            bodies: dir
                .path()
                .join("bodies.jsonl")
                .to_string_lossy()
                .into_owned(),
            dir,
        };
        eprintln!("xtask: scale: set-up on PostgreSQL (the client, the policy, the check bodies)");
        let server = bench.server("setup", false)?;
        let (access, secret) = bench_client(server.addr(), &bench.password)?;
        bench.secret = secret;
        let policy = super::edge::relaxed_policy(server.addr(), &access)?;
        std::fs::write(bench.policy_file(), policy.to_string()).context("writing the policy")?;
        server.stop()?;
        let bodies: Vec<String> = (0..BODIES)
            .map(|n| {
                json!({"action": "read", "resource": {"type": "documents", "id": n.to_string()}})
                    .to_string()
            })
            .collect();
        std::fs::write(&bench.bodies, bodies.join("\n")).context("writing the check bodies")?;
        Ok(bench)
    }

    fn policy_file(&self) -> std::path::PathBuf {
        self.dir.path().join("rate-limits.json")
    }

    /// An instance in `dir/name` on the shared database and master key,
    /// with Redis or without.
    fn server(&self, name: &str, with_redis: bool) -> Result<Server> {
        let dir = self.dir.path().join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let policy = self.policy_file();
        let policy = policy.to_string_lossy();
        let mut settings = vec![("PORTCULLIS_MASTER_KEY", self.master_key.as_str())];
        if policy_exists(&self.policy_file()) {
            settings.push(("PORTCULLIS_RATE_LIMITS_FILE", &policy));
        }
        if with_redis {
            settings.push(("PORTCULLIS_REDIS_URL", self.redis));
        }
        let server = Server::start_logging(
            self.binary,
            &dir,
            self.database,
            &self.password,
            "warn",
            None,
            &settings,
        )?;
        settle(server.cpu_ticks(), || server.cpu_ticks(), "start-up");
        Ok(server)
    }

    fn start(&self, setup: Setup) -> Result<Vec<Server>> {
        Ok(match setup {
            Setup::OneLocal => vec![self.server("a", false)?],
            Setup::OneRedis => vec![self.server("a", true)?],
            Setup::TwoRedis => vec![self.server("a", true)?, self.server("b", true)?],
        })
    }

    /// Runs `measure` against every address at once, the connections
    /// split between them and their measured phases starting together.
    fn split(
        &self,
        addrs: &[SocketAddr],
        measure: impl Fn(SocketAddr, usize, Option<u64>) -> Outcome + Sync,
    ) -> Vec<Outcome> {
        if let [addr] = addrs {
            return vec![measure(*addr, CONNECTIONS, None)];
        }
        let at = (SystemTime::now() + START_MARGIN)
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let conns = CONNECTIONS / addrs.len().max(1);
        let measure = &measure;
        std::thread::scope(|s| {
            let handles: Vec<_> = addrs
                .iter()
                .map(|addr| s.spawn(move || measure(*addr, conns, Some(at))))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Outcome::Failed("the measuring thread panicked".to_owned())
                    })
                })
                .collect()
        })
    }

    fn check(&self, addr: SocketAddr, seconds: &str, conns: usize, at: Option<u64>) -> Outcome {
        let addr = addr.to_string();
        let conns = conns.to_string();
        let at = at.map(|ms| ms.to_string());
        let mut args = vec![
            "authz-check",
            "--addr",
            &addr,
            "--bodies",
            &self.bodies,
            "--seconds",
            seconds,
            "--connections",
            &conns,
        ];
        if let Some(at) = &at {
            args.extend(["--start-at", at]);
        }
        eprintln!("xtask: authz-check against {addr}, {conns} connections, {seconds} s");
        measure(&args, &self.password)
    }
}

fn policy_exists(path: &Path) -> bool {
    path.is_file()
}

fn markdown(f: &Figures) -> String {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut out = format!(
        "# Portcullis scale-out benchmark\n\n{cores} cores, `cargo xtask bench scale --seconds {}`: \
         PostgreSQL and Redis started by the tooling, {CONNECTIONS} connections in all (split \
         between two instances), {ROUNDS} rounds of every set-up, medians.\n\n",
        f.seconds
    );
    for (title, series) in [
        ("Token endpoint (`client_credentials`, Basic)", &f.token),
        ("`POST /api/v1/authz/check`", &f.check),
    ] {
        out.push_str(&format!(
            "## {title}\n\n| Set-up | Requests/s | p99 (ms) | Against one instance without Redis | Rounds (req/s) | Non-2xx |\n|---|---:|---:|---:|---|---:|\n"
        ));
        let base = series.first().and_then(|(_, s)| s.rate());
        for (setup, s) in series {
            let rate = s.rate();
            let ratio = match (rate, base) {
                (Some(r), Some(b)) if b > 0.0 => format!("{:.1}%", r / b * 100.0),
                _ => "–".to_owned(),
            };
            let rounds: Vec<String> = s.rates.iter().map(|r| format!("{r:.0}")).collect();
            let cell = |v: Option<f64>, digits: usize| {
                v.map_or_else(|| "failed".to_owned(), |v| format!("{v:.digits$}"))
            };
            out.push_str(&format!(
                "| {} | {} | {} | {ratio} | {} | {} |\n",
                setup.label(),
                cell(rate, 0),
                cell(median(&s.p99s), 2),
                rounds.join(", "),
                s.non_2xx
            ));
            if let Some(e) = &s.failed {
                out.push_str(&format!("\n{}: {e}\n\n", setup.label()));
            }
        }
        out.push('\n');
    }
    let cost = |series: &[(Setup, Series)]| {
        let base = series.first().and_then(|(_, s)| s.rate())?;
        let with = series
            .iter()
            .find(|(s, _)| *s == Setup::OneRedis)
            .and_then(|(_, s)| s.rate())?;
        Some(100.0 - with / base * 100.0)
    };
    out.push_str("Goal: shared state through Redis costs under 10% of one instance's rate.\n\n");
    for (name, series) in [("token endpoint", &f.token), ("check", &f.check)] {
        match cost(series) {
            Some(c) => out.push_str(&format!(
                "- {name}: Redis costs {c:.1}% ({})\n",
                if c < 10.0 { "met" } else { "**not met**" }
            )),
            None => out.push_str(&format!("- {name}: not measured\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_skip_failed_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 0.0, 2.0]), Some(3.0));
        assert_eq!(median(&[]), None);
    }
}
