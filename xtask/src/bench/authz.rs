//! `cargo xtask bench authz [--seconds N] [--skip-http] [--server-binary PATH]`:
//! the authorization engine against casbin-rs and cedar-policy in process,
//! and the check API over HTTP, on the generated benchmark realm (100,000
//! users, 1,000 roles, 10,000 permissions, 10,000 groups nested up to 5
//! deep, 100 policies; seed 42). Figures next to their goals in a table
//! (stdout and `target/bench-authz-report.md`); a measurement, never a
//! pass/fail test.
//!
//! 1. `bench/authz` (a workspace of its own, so CI never builds the peers)
//!    is built in release into `target/bench-authz`; each engine's example
//!    (`ours`, `cedar`, `casbin`) runs in its own process and prints one
//!    JSON line (build time, RSS growth, checks/s on one thread, p50/p99,
//!    agreement with our decisions). casbin is time-boxed.
//! 2. HTTP: the release server starts on SQLite (migrations, bootstrap
//!    admin) and stops; `bench/authz`'s `seed` writes the same realm into
//!    the database and the requests' bodies to a file; the server starts
//!    again. A verification pass sends the first requests once and
//!    `verify` compares the answers with our engine; then the loadgen's
//!    `authz-check` runs paced at the goal's rate (latency at that rate; see
//!    the loadgen's `authz` module for when it counts from the scheduled
//!    instant), then closed loop (maximum throughput), then both again with
//!    only the requests our engine allows: the server records every denied
//!    check in the audit table, and these runs show what that costs.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use super::report::{Outcome, field, number};
use super::{Options, build_binaries, publish};
use crate::process::{self, Job, TempDir, check_interrupted, target_dir, workspace_root};
use crate::server::{self, Server};

/// Requests generated for each engine and for the HTTP runs.
const REQUESTS: usize = 200_000;
/// Requests of the HTTP verification pass.
const VERIFY: usize = 5_000;
/// Connections of the HTTP runs.
const CONNECTIONS: usize = 64;
/// The HTTP goal's rate.
const GOAL_RATE: f64 = 20_000.0;
/// casbin evaluates its matcher once per rule for every check: at most
/// this many checks per phase.
const CASBIN_CHECKS: usize = 1_000;

/// Everything one run measured.
struct Figures {
    seconds: u64,
    ours: Outcome,
    cedar: Outcome,
    casbin: Outcome,
    seed: Outcome,
    verify: Outcome,
    server_rss_kib: Outcome,
    closed: Outcome,
    paced: Outcome,
    closed_allowed: Outcome,
    paced_allowed: Outcome,
    /// Seconds the server kept busy after the paced run and the closed loop.
    settle_paced: Option<f64>,
    settle_closed: Option<f64>,
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let opts = Options::parse(args, "--skip-http")?;
    process::install_signal_handler()?;
    let bench_target = target_dir().join("bench-authz");
    let examples = bench_target.join("release").join("examples");

    eprintln!(
        "xtask: building bench/authz (release, into {})",
        bench_target.display()
    );
    process::run(
        process::cargo()
            .args(["build", "--release", "--examples", "--manifest-path"])
            .arg(workspace_root().join("bench/authz/Cargo.toml"))
            .env("CARGO_TARGET_DIR", &bench_target),
    )?;

    let seconds = opts.seconds.to_string();
    let casbin_checks = CASBIN_CHECKS.to_string();
    let requests = REQUESTS.to_string();
    let mut figures = Figures {
        seconds: opts.seconds,
        ours: engine(
            &examples,
            "ours",
            &["--seconds", &seconds, "--requests", &requests],
        ),
        cedar: Outcome::Skipped("not run"),
        casbin: Outcome::Skipped("not run"),
        seed: Outcome::Skipped("--skip-http"),
        verify: Outcome::Skipped("--skip-http"),
        server_rss_kib: Outcome::Skipped("--skip-http"),
        closed: Outcome::Skipped("--skip-http"),
        paced: Outcome::Skipped("--skip-http"),
        closed_allowed: Outcome::Skipped("--skip-http"),
        paced_allowed: Outcome::Skipped("--skip-http"),
        settle_paced: None,
        settle_closed: None,
    };
    check_interrupted()?;
    figures.cedar = engine(
        &examples,
        "cedar",
        &["--seconds", &seconds, "--requests", &requests],
    );
    check_interrupted()?;
    figures.casbin = engine(
        &examples,
        "casbin",
        &[
            "--seconds",
            &seconds,
            "--requests",
            &requests,
            "--max-checks",
            &casbin_checks,
        ],
    );
    check_interrupted()?;

    if !opts.skip
        && let Err(err) = http(&opts, &examples, &mut figures)
    {
        eprintln!("xtask: HTTP measurement failed: {err:#}");
        let why = format!("{err:#}");
        for outcome in [
            &mut figures.seed,
            &mut figures.verify,
            &mut figures.server_rss_kib,
            &mut figures.closed,
            &mut figures.paced,
            &mut figures.closed_allowed,
            &mut figures.paced_allowed,
        ] {
            if matches!(outcome, Outcome::Skipped(_)) {
                *outcome = Outcome::Failed(why.clone());
            }
        }
    }
    check_interrupted()?;

    let markdown = markdown(&figures);
    publish(&markdown, "bench-authz-report.md")?;
    let all = [
        &figures.ours,
        &figures.cedar,
        &figures.casbin,
        &figures.seed,
        &figures.verify,
        &figures.server_rss_kib,
        &figures.closed,
        &figures.paced,
        &figures.closed_allowed,
        &figures.paced_allowed,
    ];
    if all.iter().any(|o| matches!(o, Outcome::Failed(_))) {
        eprintln!("xtask: some measurements could not be taken (see the report)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one of bench/authz's examples; its JSON line, or why it failed.
fn engine(examples: &Path, name: &str, args: &[&str]) -> Outcome {
    eprintln!("xtask: {name} {}", args.join(" "));
    match json_line(&mut Command::new(examples.join(name)), name, args) {
        Ok(value) => Outcome::Done(value),
        Err(err) => {
            eprintln!("xtask: {name}: {err:#}");
            Outcome::Failed(format!("{err:#}"))
        }
    }
}

/// Runs a command that prints one JSON line last; `{"error": …}` fails.
fn json_line(cmd: &mut Command, name: &str, args: &[&str]) -> Result<Value> {
    check_interrupted()?;
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
    let mut job = Job::spawn(name, cmd)?;
    let mut stdout = job.child_mut().stdout.take().context("stdout")?;
    let mut output = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut output)
        .with_context(|| format!("reading {name}'s output"))?;
    let status = job.wait()?;
    let line = output.lines().rev().find(|l| !l.trim().is_empty());
    let value: Option<Value> = line.and_then(|l| serde_json::from_str(l).ok());
    match value {
        Some(value) => match value.get("error").and_then(Value::as_str) {
            Some(error) => bail!("{error}"),
            None if status.success() => Ok(value),
            None => bail!("{name} failed: {status}"),
        },
        None => bail!("{name} failed ({status}): {}", line.unwrap_or("no output")),
    }
}

/// The HTTP half: seed, verify, closed loop, paced.
fn http(opts: &Options, examples: &Path, figures: &mut Figures) -> Result<()> {
    let binary = build_binaries(opts)?;
    let password = format!("Lg-{}-Q7!", process::random_hex(12)?);
    let dir = TempDir::new("portcullis-bench-authz")?;
    let db = dir.path().join("bench.db");
    let url = format!("sqlite://{}", db.display());

    eprintln!("xtask: starting the server on SQLite (migrations, bootstrap)");
    Server::start(&binary, dir.path(), &url, &password)?.stop()?;

    let bodies = dir.path().join("bodies.jsonl");
    let allowed = dir.path().join("allowed.jsonl");
    eprintln!("xtask: seeding the realm into {}", db.display());
    let seed = json_line(
        &mut Command::new(examples.join("seed")),
        "seed",
        &[
            "--db",
            &db.to_string_lossy(),
            "--admin-email",
            server::ADMIN_EMAIL,
            "--bodies",
            &bodies.to_string_lossy(),
            "--allowed-bodies",
            &allowed.to_string_lossy(),
            "--requests",
            &REQUESTS.to_string(),
        ],
    )?;
    figures.seed = Outcome::Done(seed);

    eprintln!("xtask: starting the server on the seeded database");
    let server = Server::start(&binary, dir.path(), &url, &password)?;
    let addr = server.addr().to_string();
    let bodies = bodies.to_string_lossy().into_owned();
    let answers = dir.path().join("answers.jsonl");
    eprintln!("xtask: verification: {VERIFY} checks over HTTP against our engine");
    let pass = super::loadgen(
        &[
            "authz-check",
            "--addr",
            &addr,
            "--bodies",
            &bodies,
            "--verify",
            &answers.to_string_lossy(),
            "--max-requests",
            &VERIFY.to_string(),
            "--connections",
            "8",
        ],
        &password,
    )?;
    eprintln!("xtask: verification pass: {pass}");
    figures.verify = match json_line(
        &mut Command::new(examples.join("verify")),
        "verify",
        &["--answers", &answers.to_string_lossy()],
    ) {
        Ok(value) => Outcome::Done(value),
        Err(err) => Outcome::Failed(format!("{err:#}")),
    };
    figures.server_rss_kib = match server.rss_kib() {
        Ok(kib) => Outcome::Done(kib.into()),
        Err(err) => Outcome::Failed(format!("{err:#}")),
    };

    let seconds = opts.seconds.to_string();
    let connections = CONNECTIONS.to_string();
    let run = |bodies: &str, rate: Option<&str>| {
        let mut args = vec![
            "authz-check",
            "--addr",
            &addr,
            "--bodies",
            bodies,
            "--seconds",
            &seconds,
            "--connections",
            &connections,
        ];
        if let Some(rate) = rate {
            args.extend(["--rate", rate]);
        }
        super::measure(&args, &password)
    };
    settle(&server, "the verification pass");
    eprintln!("xtask: authz-check paced at {GOAL_RATE}/s, {CONNECTIONS} connections, {seconds} s");
    figures.paced = run(&bodies, Some(&GOAL_RATE.to_string()));
    check_interrupted()?;
    figures.settle_paced = settle(&server, "the paced run");
    eprintln!("xtask: authz-check closed loop, {CONNECTIONS} connections, {seconds} s");
    figures.closed = run(&bodies, None);
    check_interrupted()?;
    figures.settle_closed = settle(&server, "the closed loop");
    eprintln!(
        "xtask: authz-check closed loop, allowed checks only, {CONNECTIONS} connections, {seconds} s"
    );
    let allowed = allowed.to_string_lossy();
    figures.closed_allowed = run(&allowed, None);
    check_interrupted()?;
    settle(&server, "the closed loop of allowed checks");
    eprintln!(
        "xtask: authz-check paced at {GOAL_RATE}/s, allowed checks only, {CONNECTIONS} connections, {seconds} s"
    );
    figures.paced_allowed = run(&allowed, Some(&GOAL_RATE.to_string()));
    if let Err(err) = server.stop() {
        eprintln!("xtask: stopping the server: {err:#}");
    }
    Ok(())
}

/// Waits (up to two minutes) until the server uses less than a tenth of a
/// core, so that work left over from one run (denied checks are audited by
/// records queued by the requests) does not load the next. Returns how
/// long it took.
fn settle(server: &Server, after: &str) -> Option<f64> {
    let started = std::time::Instant::now();
    let step = std::time::Duration::from_millis(500);
    let mut last = server.cpu_ticks().ok()?;
    while started.elapsed() < std::time::Duration::from_secs(120) {
        std::thread::sleep(step);
        let now = server.cpu_ticks().ok()?;
        // Clock ticks are 1/100 s: 5 ticks in 0.5 s is a tenth of a core.
        if now.saturating_sub(last) < 5 {
            let seconds = started.elapsed().as_secs_f64();
            eprintln!("xtask: the server settled {seconds:.1} s after {after}");
            return Some(seconds);
        }
        last = now;
    }
    eprintln!("xtask: the server was still busy two minutes after {after}");
    None
}

/// Microseconds, readable from 0.1 µs to seconds.
fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.2} µs")
    }
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

/// The version of a package in bench/authz's lock file.
fn locked_version(package: &str) -> String {
    let lock = std::fs::read_to_string(workspace_root().join("bench/authz/Cargo.lock"))
        .unwrap_or_default();
    let needle = format!("name = \"{package}\"\nversion = \"");
    lock.split_once(&needle)
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or("?")
        .to_owned()
}

/// The first line a command prints, or `unknown`.
fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn markdown(f: &Figures) -> String {
    let mut md = String::new();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let _ = writeln!(md, "# Portcullis authorization benchmark\n");
    let _ = writeln!(
        md,
        "Commit {}, {}; {cores} cores; realm of 100,000 users, 1,000 roles, 10,000 permissions, \
         10,000 groups nested up to 5 deep, 100 policies (seed 42); {} s per phase. \
         In-process figures are one thread; figures from one run, not assertions.\n",
        command_line("git", &["rev-parse", "--short", "HEAD"]),
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        f.seconds,
    );
    md.push_str("## In process (one thread)\n\n");
    md.push_str("| Engine | Checks/s | p50 | p99 | Memory (RSS growth) | Agreement with ours | Goal | Met |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---|---|\n");
    let rate = |o: &Outcome| field(o, "checks_per_s");
    let mem = |o: &Outcome| field(o, "memory_mb");
    for (label, o) in [
        ("Portcullis (`portcullis-policy`)".to_owned(), &f.ours),
        (
            format!("cedar-policy {}", locked_version("cedar-policy")),
            &f.cedar,
        ),
        (format!("casbin-rs {}", locked_version("casbin")), &f.casbin),
    ] {
        let (goal, ok) = if std::ptr::eq(o, &f.ours) {
            let ok = rate(o)
                .zip(field(o, "p99_us"))
                .map(|(r, p99)| r >= 1_000_000.0 && p99 < 5.0);
            ("≥ 1,000,000/s, p99 < 5 µs", met(ok))
        } else {
            ("", "")
        };
        let cell = |v: Option<f64>, fmt: &dyn Fn(f64) -> String| match o {
            Outcome::Done(_) => v.map_or("n/a".to_owned(), fmt),
            Outcome::Failed(_) => "not measured".to_owned(),
            Outcome::Skipped(_) => "skipped".to_owned(),
        };
        let memory = cell(mem(o), &|m| match field(o, "heap_mb") {
            Some(heap) => format!("{m:.1} MB (heap {heap:.1} MB)"),
            None => format!("{m:.1} MB"),
        });
        let agreement = cell(field(o, "agreement"), &|a| {
            format!(
                "{:.2}% of {}",
                a * 100.0,
                number(field(o, "compared").unwrap_or(0.0))
            )
        });
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {memory} | {agreement} | {goal} | {ok} |",
            cell(rate(o), &number),
            cell(field(o, "p50_us"), &micros),
            cell(field(o, "p99_us"), &micros),
        );
    }
    let ratio =
        |a: Option<f64>, b: Option<f64>| a.zip(b).filter(|(_, b)| *b > 0.0).map(|(a, b)| a / b);
    let speed_cedar = ratio(rate(&f.ours), rate(&f.cedar));
    let speed_casbin = ratio(rate(&f.ours), rate(&f.casbin));
    let memory_cedar = ratio(mem(&f.ours), mem(&f.cedar));
    md.push_str("\n| Comparison | Result | Goal | Met |\n|---|---:|---|---|\n");
    let _ = writeln!(
        md,
        "| Checks/s, ours / cedar | {} | ≥ 25× | {} |",
        speed_cedar.map_or("n/a".into(), |r| format!("{r:.0}×")),
        met(speed_cedar.map(|r| r >= 25.0))
    );
    let _ = writeln!(
        md,
        "| Checks/s, ours / casbin | {} | | |",
        speed_casbin.map_or("n/a".into(), |r| format!("{}×", number(r)))
    );
    let _ = writeln!(
        md,
        "| Memory, ours / cedar (RSS growth) | {} | ≤ 0.5 | {} |",
        memory_cedar.map_or("n/a".into(), |r| format!("{r:.2}")),
        met(memory_cedar.map(|r| r <= 0.5))
    );

    md.push_str("\n## Over HTTP (`POST /api/v1/authz/check`, SQLite, loopback)\n\n");
    md.push_str("| Measurement | Requests/s | p50 | p99 | Errors | Goal | Met |\n");
    md.push_str("|---|---:|---:|---:|---|---|---|\n");
    let ms = |o: &Outcome, k: &str| field(o, k).map_or("".into(), |v| micros(v * 1000.0));
    let errors = |o: &Outcome| match o {
        Outcome::Done(v) => ["non_2xx", "transport_errors", "bad_body"]
            .iter()
            .filter_map(|k| v.get(*k).and_then(Value::as_u64))
            .sum::<u64>()
            .to_string(),
        Outcome::Failed(why) => format!("not measured: {why}"),
        Outcome::Skipped(why) => format!("skipped ({why})"),
    };
    let closed_rate = field(&f.closed, "rate");
    let _ = writeln!(
        md,
        "| Closed loop, {CONNECTIONS} connections | {} | {} | {} | {} | ≥ 20,000/s | {} |",
        closed_rate.map_or("".into(), number),
        ms(&f.closed, "p50_ms"),
        ms(&f.closed, "p99_ms"),
        errors(&f.closed),
        met(closed_rate.map(|r| r >= GOAL_RATE)),
    );
    let paced_rate = field(&f.paced, "rate");
    let paced_p99 = field(&f.paced, "p99_ms");
    let _ = writeln!(
        md,
        "| Paced at {}/s, {CONNECTIONS} connections | {} | {} | {} | {} | p99 < 1 ms at ≥ 20,000/s | {} |",
        number(GOAL_RATE),
        paced_rate.map_or("".into(), number),
        ms(&f.paced, "p50_ms"),
        ms(&f.paced, "p99_ms"),
        errors(&f.paced),
        met(paced_rate
            .zip(paced_p99)
            .map(|(r, p)| r >= GOAL_RATE * 0.99 && p < 1.0)),
    );
    let _ = writeln!(
        md,
        "| Closed loop, allowed checks only, {CONNECTIONS} connections | {} | {} | {} | {} | (diagnostic) | |",
        field(&f.closed_allowed, "rate").map_or("".into(), number),
        ms(&f.closed_allowed, "p50_ms"),
        ms(&f.closed_allowed, "p99_ms"),
        errors(&f.closed_allowed),
    );
    let _ = writeln!(
        md,
        "| Paced at {}/s, allowed checks only, {CONNECTIONS} connections | {} | {} | {} | {} | (diagnostic) | |",
        number(GOAL_RATE),
        field(&f.paced_allowed, "rate").map_or("".into(), number),
        ms(&f.paced_allowed, "p50_ms"),
        ms(&f.paced_allowed, "p99_ms"),
        errors(&f.paced_allowed),
    );

    let denied = field(&f.ours, "allowed")
        .zip(field(&f.ours, "compared"))
        .filter(|(_, n)| *n > 0.0)
        .map_or("most".to_owned(), |(a, n)| {
            format!("{:.0}%", (1.0 - a / n) * 100.0)
        });
    let _ = writeln!(
        md,
        "\nThe server writes an audit row for every denied check ({denied} of these requests \
         are denied); the *allowed checks only* rows replay just the requests our engine \
         allows, to show the check path without those writes."
    );
    md.push_str("\n## Notes\n\n");
    if let Some(rss) = match &f.server_rss_kib {
        Outcome::Done(v) => v.as_f64(),
        _ => None,
    } {
        let _ = writeln!(
            md,
            "- Server RSS with the realm loaded (after the verification pass): {:.1} MB.",
            rss * 1024.0 / 1e6
        );
    }
    match &f.verify {
        Outcome::Done(v) => {
            let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            let _ = writeln!(
                md,
                "- Seeding checked: {} requests over HTTP, **{} with a different `allowed`** than our \
                 engine on the generated snapshot, {} with the same `allowed` but another reason, \
                 {} not answered 200.",
                number(n("checked") as f64),
                n("mismatched"),
                n("reason_differs"),
                n("non_200"),
            );
            if let Some(examples) = v.get("examples").and_then(Value::as_array)
                && !examples.is_empty()
            {
                let _ = writeln!(
                    md,
                    "  First differences: `{}`",
                    Value::Array(examples.clone())
                );
            }
        }
        Outcome::Failed(why) => {
            let _ = writeln!(md, "- Seeding check: **not done**: {why}");
        }
        Outcome::Skipped(why) => {
            let _ = writeln!(md, "- Seeding check: skipped ({why})");
        }
    }
    if let Outcome::Done(v) = &f.seed {
        let _ = writeln!(
            md,
            "- Seeded rows: `{}`",
            v.get("rows").unwrap_or(&Value::Null)
        );
    }
    for (name, o) in [("cedar", &f.cedar), ("casbin", &f.casbin)] {
        if let Outcome::Done(v) = o {
            let left_out = v
                .get("statements_left_out")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let by_reason = v
                .get("disagreements_by_our_reason")
                .cloned()
                .unwrap_or_default();
            let _ = writeln!(
                md,
                "- {name}: {} checks in the throughput phase; {left_out} policy statements \
                 could not be translated; disagreements by our reason: `{by_reason}`.",
                number(field(o, "checks").unwrap_or(0.0)),
            );
        }
        if let Outcome::Failed(why) = o {
            let _ = writeln!(md, "- {name}: **not measured**: {why}");
        }
    }
    if let Outcome::Done(v) = &f.casbin
        && v.get("errors").and_then(Value::as_u64).unwrap_or(0) > 0
    {
        let _ = writeln!(
            md,
            "- casbin returned errors: {} (first: {})",
            v["errors"], v["first_error"]
        );
    }
    for (name, o) in [
        ("closed loop", &f.closed),
        ("paced", &f.paced),
        ("closed loop, allowed only", &f.closed_allowed),
        ("paced, allowed only", &f.paced_allowed),
    ] {
        if let Outcome::Done(v) = o
            && let Some(first) = v.get("first_error").and_then(Value::as_str)
        {
            let _ = writeln!(md, "- HTTP {name}: first error `{first}`");
        }
    }
    for (after, settle) in [
        ("paced run", f.settle_paced),
        ("closed loop", f.settle_closed),
    ] {
        match settle {
            // The first sample is taken half a second after the run.
            Some(s) if s < 1.0 => {
                let _ = writeln!(
                    md,
                    "- The server was idle within 0.5 s of the end of the {after}."
                );
            }
            Some(s) => {
                let _ = writeln!(
                    md,
                    "- After the {after} the server stayed busy for {s:.1} s (writing the audit \
                     rows of denied checks) before the next run started."
                );
            }
            None => {}
        }
    }
    md.push_str(
        "- Latencies in process are per check, timed one by one (the clock adds a few tens of \
         nanoseconds). Over HTTP the load generator shares the 2 cores with the server; in the \
         paced run a request that had to wait for the previous answer on its connection counts \
         from its scheduled instant, otherwise from its actual send.\n",
    );
    md
}
