//! `cargo xtask bench [--seconds N] [--no-postgres] [--server-binary PATH]`:
//! a load benchmark of the release server, reported as figures next to their
//! goals in a table (stdout and `target/bench-report.md`). Never a pass/fail
//! test: it fails only when a measurement could not be taken at all.
//!
//! Measured, in order: raw Argon2id hashing (idle machine), then a server on
//! SQLite (idle RSS, logins, token validation, refresh rotations), then a
//! server on a throwaway PostgreSQL cluster (refresh rotations). Every
//! server's rate limits are raised (every quota times
//! [`edge::QUOTA_FACTOR`]) so that the load is counted, never refused. The load
//! generator is this crate's hidden `loadgen` subcommand, built with
//! `--release` and run in its own process.
//!
//! `cargo xtask bench authz ...` is the authorization benchmark: see
//! [`authz`]. `cargo xtask bench oidc ...` compares the OAuth endpoints with
//! Node's oidc-provider: see [`oidc`]. `cargo xtask bench edge ...` measures
//! what the edge defences cost, two servers loaded at once: see [`edge`].
//! `cargo xtask bench scale ...` measures one and two instances on
//! PostgreSQL, with Redis and without: see [`scale`].

mod authz;
mod edge;
mod edge_report;
mod oidc;
mod report;
mod scale;

/// Blocking HTTP/1.1 requests over a fresh connection, for setting a server
/// up (the schemathesis run uses them too).
pub(crate) use oidc::{admin_token, http_request};

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::process::{self, Job, TempDir, check_interrupted, target_dir};
use crate::server::{self, Server};
use crate::services::Postgres;
use report::{Outcome, Report};

/// Connections for cheap endpoints (validate, refresh).
const CHEAP_CONNECTIONS: usize = 64;

/// Options every benchmark takes: `--seconds N` (1 to 600, default 10),
/// `--server-binary PATH` (a prebuilt server to measure instead of building
/// `portcullis`), and one switch of its own that leaves a part out.
struct Options {
    seconds: u64,
    /// Whether the benchmark's own switch was given.
    skip: bool,
    server_binary: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String], switch: &str) -> Result<Self> {
        let mut opts = Self {
            seconds: 10,
            skip: false,
            server_binary: None,
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--seconds" => {
                    let value = it.next().context("--seconds needs a value")?;
                    opts.seconds = value
                        .parse()
                        .ok()
                        .filter(|s| (1..=600).contains(s))
                        .with_context(|| format!("--seconds must be 1..=600, not {value}"))?;
                }
                "--server-binary" => {
                    let path = it.next().context("--server-binary needs a path")?;
                    let path = std::fs::canonicalize(path)
                        .with_context(|| format!("--server-binary {path}"))?;
                    opts.server_binary = Some(path);
                }
                other if other == switch => opts.skip = true,
                other => {
                    bail!("unknown option {other} (--seconds N, {switch}, --server-binary PATH)")
                }
            }
        }
        Ok(opts)
    }
}

/// Builds the release server (unless `--server-binary` names one) and the
/// release load generator; returns the server's path.
fn build_binaries(opts: &Options) -> Result<PathBuf> {
    let binary = match &opts.server_binary {
        Some(path) => path.clone(),
        None => {
            eprintln!("xtask: building the server (release)");
            process::run(process::cargo().args(["build", "--release", "-p", "portcullis-server"]))?;
            target_dir().join("release").join("portcullis")
        }
    };
    eprintln!("xtask: building the load generator (release)");
    process::run(process::cargo().args(["build", "--release", "-p", "xtask"]))?;
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    Ok(binary)
}

/// Prints a report and writes it to `target/{file}`.
fn publish(markdown: &str, file: &str) -> Result<()> {
    println!("\n{markdown}");
    let path = target_dir().join(file);
    std::fs::write(&path, markdown).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: report written to {}", path.display());
    Ok(())
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<ExitCode> {
    match args.split_first().map(|(a, r)| (a.as_str(), r)) {
        Some(("authz", rest)) => return authz::run(rest),
        Some(("oidc", rest)) => return oidc::run(rest),
        Some(("edge", rest)) => return edge::run(rest),
        Some(("scale", rest)) => return scale::run(rest),
        _ => {}
    }
    let opts = Options::parse(args, "--no-postgres")?;
    process::install_signal_handler()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let seconds = opts.seconds.to_string();

    let binary = build_binaries(&opts)?;
    // Random, and free of the e-mail's local part, which the server refuses.
    let admin_password = format!("Lg-{}-Q7!", process::random_hex(12)?);

    let mut report = Report::new(cores, opts.seconds);

    eprintln!("xtask: measuring raw Argon2id hashing on {cores} threads");
    report.hash = measure(
        &[
            "hash",
            "--seconds",
            &seconds,
            "--threads",
            &cores.to_string(),
        ],
        &admin_password,
    );

    check_interrupted()?;
    eprintln!("xtask: starting the server on SQLite");
    let sqlite_dir = TempDir::new("portcullis-bench")?;
    let url = format!("sqlite://{}/bench.db", sqlite_dir.path().display());
    match Server::start(&binary, sqlite_dir.path(), &url, &admin_password) {
        Ok(server) => {
            // Idle means idle: let start-up work (the bootstrap hash) settle first.
            std::thread::sleep(std::time::Duration::from_secs(1));
            report.rss_kib = match server.rss_kib() {
                Ok(kib) => Outcome::Done(kib.into()),
                Err(err) => Outcome::Failed(format!("{err:#}")),
            };
            relax_rate_limits(server.addr(), &admin_password);
            let addr = server.addr().to_string();
            let http = |scenario: &str, connections: usize| {
                eprintln!("xtask: {scenario} on SQLite, {connections} connections, {seconds} s");
                let args = [
                    scenario,
                    "--addr",
                    &addr,
                    "--seconds",
                    &seconds,
                    "--connections",
                    &connections.to_string(),
                ];
                measure(&args, &admin_password)
            };
            report.login = http("login", cores * 2);
            report.validate = http("validate", CHEAP_CONNECTIONS);
            report.refresh_sqlite = http("refresh", CHEAP_CONNECTIONS);
            if let Err(err) = server.stop() {
                eprintln!("xtask: stopping the server: {err:#}");
            }
        }
        Err(err) => {
            let why = format!("server on SQLite did not start: {err:#}");
            eprintln!("xtask: {why}");
            report.fail_sqlite(&why);
        }
    }
    drop(sqlite_dir);

    check_interrupted()?;
    report.refresh_postgres = if !opts.skip {
        refresh_on_postgres(&binary, &admin_password, &seconds)
    } else {
        Outcome::Skipped("--no-postgres")
    };
    check_interrupted()?;

    let markdown = report.markdown();
    publish(&markdown, "bench-report.md")?;
    if report.any_failed() {
        eprintln!("xtask: some measurements could not be taken (see the report)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Refresh rotations against a server on a throwaway PostgreSQL cluster.
fn refresh_on_postgres(binary: &Path, admin_password: &str, seconds: &str) -> Outcome {
    let attempt = || -> Result<Outcome> {
        eprintln!("xtask: starting PostgreSQL and the server on it");
        let postgres = Postgres::start()?;
        let data = TempDir::new("portcullis-bench")?;
        let server = Server::start(binary, data.path(), &postgres.url(), admin_password)?;
        relax_rate_limits(server.addr(), admin_password);
        eprintln!("xtask: refresh on PostgreSQL, {CHEAP_CONNECTIONS} connections, {seconds} s");
        let addr = server.addr().to_string();
        let connections = CHEAP_CONNECTIONS.to_string();
        let args = [
            "refresh",
            "--addr",
            &addr,
            "--seconds",
            seconds,
            "--connections",
            &connections,
        ];
        let outcome = measure(&args, admin_password);
        if let Err(err) = server.stop() {
            eprintln!("xtask: stopping the server: {err:#}");
        }
        Ok(outcome)
    };
    attempt().unwrap_or_else(|err| {
        eprintln!("xtask: PostgreSQL run failed: {err:#}");
        Outcome::Failed(format!("{err:#}"))
    })
}

/// Raises every quota of the server's rate limits (see
/// [`edge::relax_rate_limits`]): the load is measured, not refused. If that
/// fails, the measurements go on and show the refusals.
fn relax_rate_limits(addr: std::net::SocketAddr, admin_password: &str) {
    if let Err(err) = edge::relax_rate_limits(addr, admin_password) {
        eprintln!("xtask: raising the rate limits: {err:#}");
    }
}

/// Runs the optimised load generator once; its figures or why it failed.
fn measure(args: &[&str], admin_password: &str) -> Outcome {
    measure_env(args, &[("LOADGEN_PASSWORD", admin_password)])
}

/// [`measure`] with other `LOADGEN_*` variables (`LOADGEN_EMAIL` is the
/// admin's in every case).
fn measure_env(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    match loadgen_env(args, env) {
        Ok(value) => Outcome::Done(value),
        Err(err) => {
            eprintln!("xtask: loadgen {}: {err:#}", args.first().unwrap_or(&""));
            Outcome::Failed(format!("{err:#}"))
        }
    }
}

/// `cargo run --release -p xtask -- loadgen ARGS`, parsing its JSON output.
fn loadgen(args: &[&str], admin_password: &str) -> Result<Value> {
    loadgen_env(args, &[("LOADGEN_PASSWORD", admin_password)])
}

/// [`loadgen`] with the given environment variables.
fn loadgen_env(args: &[&str], env: &[(&str, &str)]) -> Result<Value> {
    check_interrupted()?;
    let mut cmd = process::cargo();
    cmd.args([
        "run",
        "--quiet",
        "--release",
        "-p",
        "xtask",
        "--",
        "loadgen",
    ])
    .args(args)
    .env("LOADGEN_EMAIL", server::ADMIN_EMAIL)
    .envs(env.iter().copied())
    .stdin(Stdio::null())
    .stdout(Stdio::piped());
    let mut job = Job::spawn("loadgen", &mut cmd)?;
    let mut stdout = job.child_mut().stdout.take().context("loadgen's stdout")?;
    let mut output = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut output).context("reading loadgen's output")?;
    let status = job.wait()?;
    let line = output.lines().rev().find(|l| !l.trim().is_empty());
    let value: Option<Value> = line.and_then(|l| serde_json::from_str(l).ok());
    match value {
        Some(value) => match value.get("error").and_then(Value::as_str) {
            Some(error) => bail!("{error}"),
            None if status.success() => Ok(value),
            None => bail!("loadgen failed: {status}"),
        },
        None if status.success() => bail!("loadgen's output is not JSON: {}", line.unwrap_or("")),
        None => bail!("loadgen failed: {status}"),
    }
}
