//! The shared harness of `cargo xtask bench authz`: the realm every engine
//! is given, the requests, memory and time measurement, and the one JSON
//! line each engine's process prints. No peer engine here: casbin-rs and
//! cedar-policy are dev-dependencies, used only by the examples
//! (`examples/{ours,cedar,casbin}.rs`), each run in its own process so that
//! its memory figure is its own.
//!
//! Method (the same for every engine):
//! 1. generate the realm ([`Shape::benchmark`], seed [`SEED`]) and the
//!    requests (seed [`SEED`]); read `VmRSS`;
//! 2. build the engine's in-memory realm, timed; drop what only the build
//!    needed; read `VmRSS` again: the difference is the memory figure;
//! 3. throughput: checks back to back on one thread, cycling through the
//!    requests, until the time box or the check cap is reached;
//! 4. latency: each of the requests (up to the same caps) timed alone,
//!    p50 and p99 (the clock reads add about 20-40 ns to each);
//! 5. agreement: after measuring, our engine decides the same requests and
//!    the share of equal `allowed` answers is reported (our own engine
//!    reports 100% by construction).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use portcullis_policy::model::RealmSnapshot;
use portcullis_policy::synthetic::{self, SampleRequest, Shape};
use portcullis_policy::{CompiledRealm, Decision};
use serde_json::{Value, json};

/// The seed of the realm and of the requests.
pub const SEED: u64 = 42;

/// The benchmark's realm and requests.
pub struct Workload {
    /// The realm's shape.
    pub shape: Shape,
    /// The realm.
    pub snapshot: RealmSnapshot,
    /// The requests, in order.
    pub requests: Vec<SampleRequest>,
}

impl Workload {
    /// The benchmark realm (100,000 users, ...) and `n` requests.
    pub fn generate(n: usize) -> Self {
        let shape = Shape::benchmark();
        let snapshot = synthetic::realm(&shape, SEED);
        let requests = synthetic::requests(&shape, &snapshot, n, SEED);
        Self {
            shape,
            snapshot,
            requests,
        }
    }

    /// Our engine's decision for every request (for the agreement figure).
    pub fn our_decisions(&self) -> Result<Vec<Decision>, String> {
        let realm = CompiledRealm::compile(&self.snapshot).map_err(|e| e.to_string())?;
        Ok(self
            .requests
            .iter()
            .map(|r| realm.check(&r.as_check(synthetic::NOW, false)))
            .collect())
    }
}

/// Options every engine's process takes.
#[derive(Debug, Clone)]
pub struct Options {
    /// Time box of the throughput phase, and again of the latency phase.
    pub seconds: f64,
    /// Requests generated (the latency phase times each at most once).
    pub requests: usize,
    /// Most checks in the throughput phase.
    pub max_checks: u64,
}

impl Options {
    /// `--seconds S --requests N --max-checks N`, with the given defaults.
    pub fn parse(defaults: Options) -> Result<Self, String> {
        let mut opts = defaults;
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = || format!("bad value for {flag}: {value}");
            match flag.as_str() {
                "--seconds" => opts.seconds = value.parse().map_err(|_| bad())?,
                "--requests" => opts.requests = value.parse().map_err(|_| bad())?,
                "--max-checks" => opts.max_checks = value.parse().map_err(|_| bad())?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if !(opts.seconds > 0.0 && opts.requests > 0 && opts.max_checks > 0) {
            return Err("--seconds, --requests and --max-checks must be positive".into());
        }
        Ok(opts)
    }
}

/// Resident set size in bytes (`VmRSS` of /proc/self/status), 0 if unknown.
pub fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Time and memory of building an engine's in-memory realm.
#[derive(Debug, Clone, Copy)]
pub struct Build {
    /// Wall time of the build.
    pub seconds: f64,
    /// RSS growth over the build, in bytes.
    pub rss_bytes: u64,
}

/// Builds an engine's realm, measuring time and RSS growth. `build` returns
/// the engine and anything only the build needed, which is dropped before
/// the second RSS reading.
pub fn build<E, T>(build: impl FnOnce() -> Result<(E, T), String>) -> Result<(E, Build), String> {
    let before = rss_bytes();
    let started = Instant::now();
    let (engine, scratch) = build()?;
    let seconds = started.elapsed().as_secs_f64();
    drop(scratch);
    let after = rss_bytes();
    Ok((
        engine,
        Build {
            seconds,
            rss_bytes: after.saturating_sub(before),
        },
    ))
}

/// Throughput and latency of one engine.
#[derive(Debug, Clone)]
pub struct Speed {
    /// Checks in the throughput phase.
    pub checks: u64,
    /// Its duration.
    pub seconds: f64,
    /// Checks timed one by one in the latency phase.
    pub timed: usize,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub p99_us: f64,
    /// Decisions of the requests timed in the latency phase, in order
    /// (requests `0..timed`).
    pub decisions: Vec<bool>,
}

impl Speed {
    /// Checks per second in the throughput phase.
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.checks as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Measures `check(i)` (deciding request `i` of `n`): a throughput phase of
/// back-to-back checks, then each request timed alone, each phase bounded
/// by `opts.seconds` and `opts.max_checks`.
pub fn measure(opts: &Options, n: usize, mut check: impl FnMut(usize) -> bool) -> Speed {
    let budget = Duration::from_secs_f64(opts.seconds);
    // Warm-up (caches, lazily built tables, branch predictors): up to 1,000
    // checks or a tenth of the time box.
    let started = Instant::now();
    for i in 0..n.min(1000) {
        black_box(check(i));
        if started.elapsed() >= budget / 10 {
            break;
        }
    }

    let started = Instant::now();
    let mut checks = 0u64;
    'outer: loop {
        for i in 0..n {
            black_box(check(black_box(i)));
            checks += 1;
            // Reading the clock every 64 checks keeps it out of the figure
            // for fast engines and bounds the overrun for slow ones.
            if checks.is_multiple_of(64)
                && (checks >= opts.max_checks || started.elapsed() >= budget)
            {
                break 'outer;
            }
        }
        if checks >= opts.max_checks || started.elapsed() >= budget {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let cap = usize::try_from(opts.max_checks)
        .unwrap_or(usize::MAX)
        .min(n);
    let mut nanos = Vec::with_capacity(cap);
    let mut decisions = Vec::with_capacity(cap);
    for i in 0..cap {
        let t = Instant::now();
        let allowed = black_box(check(black_box(i)));
        nanos.push(t.elapsed().as_nanos() as u64);
        decisions.push(allowed);
        if started.elapsed() >= budget {
            break;
        }
    }
    nanos.sort_unstable();
    let at = |q: f64| -> f64 {
        let len = nanos.len();
        if len == 0 {
            return 0.0;
        }
        let rank = ((q * len as f64).ceil() as usize).clamp(1, len) - 1;
        nanos.get(rank).copied().unwrap_or(0) as f64 / 1000.0
    };
    Speed {
        checks,
        seconds,
        timed: nanos.len(),
        p50_us: at(0.50),
        p99_us: at(0.99),
        decisions,
    }
}

/// How a peer's decisions compare with ours on the same requests.
#[derive(Debug, Clone, Default)]
pub struct Agreement {
    /// Requests compared.
    pub compared: usize,
    /// Requests with the same `allowed`.
    pub agreed: usize,
    /// Requests the peer allowed.
    pub allowed: usize,
    /// Disagreements by our decision's reason.
    pub by_reason: BTreeMap<String, usize>,
}

impl Agreement {
    /// Compares `theirs` (requests `0..theirs.len()`) with `ours`.
    pub fn of(theirs: &[bool], ours: &[Decision]) -> Self {
        let mut a = Agreement::default();
        for (t, o) in theirs.iter().zip(ours) {
            a.compared += 1;
            a.allowed += usize::from(*t);
            if *t == o.allowed {
                a.agreed += 1;
            } else {
                *a.by_reason.entry(o.reason.as_str().to_owned()).or_default() += 1;
            }
        }
        a
    }

    /// The share of equal answers, 0 to 1.
    pub fn share(&self) -> f64 {
        if self.compared == 0 {
            0.0
        } else {
            self.agreed as f64 / self.compared as f64
        }
    }
}

/// The JSON line an engine's process prints.
pub fn report(
    engine: &str,
    build: &Build,
    speed: &Speed,
    agreement: &Agreement,
    extra: Value,
) -> Value {
    let mut line = json!({
        "engine": engine,
        "build_s": build.seconds,
        "memory_mb": build.rss_bytes as f64 / 1e6,
        "checks": speed.checks,
        "seconds": speed.seconds,
        "checks_per_s": speed.per_second(),
        "timed": speed.timed,
        "p50_us": speed.p50_us,
        "p99_us": speed.p99_us,
        "compared": agreement.compared,
        "allowed": agreement.allowed,
        "agreement": agreement.share(),
        "disagreements_by_our_reason": agreement.by_reason,
    });
    if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    line
}

/// Runs an engine's `main`: prints its JSON line, or `{"error": ...}` and
/// exits with failure.
pub fn main_with(run: impl FnOnce() -> Result<Value, String>) -> std::process::ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            println!("{}", json!({ "error": err }));
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs progress to stderr (stdout carries the JSON line).
pub fn progress(message: &str) {
    eprintln!("  {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measure_reports_percentiles_and_decisions() {
        let opts = Options {
            seconds: 0.05,
            requests: 10,
            max_checks: 1000,
        };
        let speed = measure(&opts, 10, |i| i % 2 == 0);
        assert!(speed.checks > 0);
        assert_eq!(speed.timed, 10);
        assert_eq!(speed.decisions.len(), 10);
        assert!(speed.p50_us <= speed.p99_us);
    }
}
