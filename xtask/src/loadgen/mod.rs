//! `xtask loadgen SCENARIO [OPTIONS]`, hidden: the load generator that
//! `cargo xtask bench` runs as `cargo run --release -p xtask -- loadgen`, so
//! that a debug build does not skew the figures. Prints one JSON object.
//!
//! Scenarios:
//! - `hash`: raw Argon2id hashes per second on `--threads` threads.
//! - `login`, `validate`, `refresh`: `--connections` keep-alive connections to
//!   `--addr` (loopback only) for `--seconds`, each sending requests back to
//!   back. Accounts are registered first (falling back to the account in
//!   `LOADGEN_EMAIL`/`LOADGEN_PASSWORD` if registration is refused).
//! - `authz-check`: `POST /api/v1/authz/check` with the bodies of `--bodies
//!   FILE`, as the admin in `LOADGEN_EMAIL`/`LOADGEN_PASSWORD`; closed loop,
//!   paced (`--rate R`) or a verification pass (`--verify OUT`), see
//!   [`authz`].
//! - `oauth-token`, `oauth-introspect`: the client_credentials grant and
//!   introspection of any OAuth 2.0 server, as the client `--client-id`
//!   with `client_secret_basic`, see [`oauth`].

pub mod authz;
mod client;
pub mod hash;
pub mod oauth;
mod raw;
mod scenario;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};

pub use scenario::Scenario;

/// Options common to the scenarios.
#[derive(Clone, Debug)]
pub struct Options {
    /// The server (HTTP scenarios); must be a loopback address.
    pub addr: Option<SocketAddr>,
    /// How long the measured phase lasts.
    pub duration: Duration,
    /// When the measured phase begins (`--start-at`, Unix milliseconds),
    /// so that two generators load two servers at the same time; `None`:
    /// right after the set-up.
    pub start_at: Option<SystemTime>,
    /// Concurrent connections (HTTP scenarios).
    pub connections: usize,
    /// Hashing threads (`hash`).
    pub threads: usize,
    /// Upper bound on requests sent in the measured phase, all connections together.
    pub max_requests: u64,
    /// `authz-check` only: bodies, rate, verification.
    pub authz: authz::AuthzOptions,
    /// `oauth-*` only: endpoints, client, scope, token pool.
    pub oauth: oauth::OAuthOptions,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let mut opts = Self {
            addr: None,
            duration: Duration::from_secs(10),
            start_at: None,
            connections: 64,
            threads: cores,
            max_requests: 20_000_000,
            authz: authz::AuthzOptions::default(),
            oauth: oauth::OAuthOptions::default(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().with_context(|| format!("{flag} needs a value"))?;
            let bad = || format!("bad value for {flag}: {value}");
            match flag.as_str() {
                "--addr" => {
                    let addr: SocketAddr = value.parse().with_context(bad)?;
                    if !addr.ip().is_loopback() {
                        bail!("--addr must be a loopback address, not {addr}");
                    }
                    opts.addr = Some(addr);
                }
                "--seconds" => {
                    let secs: f64 = value.parse().with_context(bad)?;
                    if !(secs > 0.0 && secs <= 600.0) {
                        bail!("--seconds must be in (0, 600]");
                    }
                    opts.duration = Duration::from_secs_f64(secs);
                }
                "--start-at" => {
                    let ms: u64 = value.parse().with_context(bad)?;
                    opts.start_at = Some(UNIX_EPOCH + Duration::from_millis(ms));
                }
                "--connections" => {
                    opts.connections = value.parse().with_context(bad)?;
                    if !(1..=1024).contains(&opts.connections) {
                        bail!("--connections must be in 1..=1024");
                    }
                }
                "--threads" => {
                    opts.threads = value.parse().with_context(bad)?;
                    if !(1..=256).contains(&opts.threads) {
                        bail!("--threads must be in 1..=256");
                    }
                }
                "--max-requests" => opts.max_requests = value.parse().with_context(bad)?,
                "--bodies" => opts.authz.bodies = Some(value.into()),
                "--verify" => opts.authz.verify = Some(value.into()),
                "--rate" => {
                    let rate: f64 = value.parse().with_context(bad)?;
                    if !(rate > 0.0 && rate <= 1e7) {
                        bail!("--rate must be in (0, 10,000,000]");
                    }
                    opts.authz.rate = Some(rate);
                }
                "--prefix" => opts.oauth.prefix = value.clone(),
                "--client-id" => opts.oauth.client_id = Some(value.clone()),
                "--client-secret" => opts.oauth.client_secret = Some(value.clone()),
                "--scope" => opts.oauth.scope = value.clone(),
                "--pool" => {
                    opts.oauth.pool = value.parse().with_context(bad)?;
                    if !(1..=1_000_000).contains(&opts.oauth.pool) {
                        bail!("--pool must be in 1..=1,000,000");
                    }
                }
                other => bail!("unknown option {other}"),
            }
        }
        Ok(opts)
    }
}

impl Options {
    /// Waits for `--start-at`; the milliseconds the set-up overran it by
    /// (0 when it did not, or when no start was given).
    pub async fn wait_for_start(&self) -> u64 {
        let Some(at) = self.start_at else {
            return 0;
        };
        match at.duration_since(SystemTime::now()) {
            Ok(wait) => {
                tokio::time::sleep(wait).await;
                0
            }
            Err(late) => u64::try_from(late.duration().as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Entry point of the hidden subcommand. Prints the figures as JSON, or
/// `{"error": ...}` and fails.
pub fn main(args: &[String]) -> Result<ExitCode> {
    match run(args) {
        Ok(result) => {
            println!("{result}");
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            eprintln!("loadgen: error: {err:#}");
            println!("{}", serde_json::json!({ "error": format!("{err:#}") }));
            Ok(ExitCode::FAILURE)
        }
    }
}

fn run(args: &[String]) -> Result<serde_json::Value> {
    let Some((name, rest)) = args.split_first() else {
        bail!(
            "usage: xtask loadgen hash|login|validate|refresh|authz-check|oauth-token|oauth-introspect [--addr A] [--seconds S] [--start-at UNIX_MS] [--connections N] [--threads N] [--bodies FILE] [--rate R] [--verify OUT] [--max-requests N] [--prefix P] [--client-id ID] [--client-secret S] [--scope S] [--pool N]"
        );
    };
    let opts = Options::parse(rest)?;
    if cfg!(debug_assertions) {
        eprintln!(
            "loadgen: warning: this is a debug build; run it with `cargo run --release -p xtask -- loadgen`"
        );
    }
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")
    };
    let result = if name == "hash" {
        hash::run(opts.threads, opts.duration)?
    } else if name == "authz-check" {
        let addr = opts.addr.context("--addr is required")?;
        runtime()?.block_on(authz::run(addr, &opts))?
    } else if let Some(kind) = oauth::Kind::parse(name) {
        let addr = opts.addr.context("--addr is required")?;
        // One thread: see `oauth` for why.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?
            .block_on(oauth::run(kind, addr, &opts))?
    } else {
        let scenario = Scenario::parse(name)?;
        let addr = opts.addr.context("--addr is required")?;
        runtime()?.block_on(scenario::run(scenario, addr, &opts))?
    };
    Ok(result)
}
