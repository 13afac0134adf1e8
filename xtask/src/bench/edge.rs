//! What the edge defences cost (issue 16), the last part of `cargo xtask
//! bench`: a cheap endpoint, `POST /api/v1/auth/validate`, and the token
//! endpoint (`client_credentials`, the client authenticated with HTTP
//! Basic, so that the client limiter applies) on a server with the edge
//! defences on against a server with them off
//! (`PORTCULLIS_EDGE_DEFENCES=off`), **loaded at the same time**.
//!
//! On a shared 2-core machine the rate of one server measured twice in a
//! row varies by up to 30%: a 5% effect drowns in it when the two sides
//! are measured one after the other. Two servers loaded together meet the
//! same noise at the same moment and share the cores fairly, so the ratio
//! of their rates is the ratio of their costs per request.
//!
//! 1. Set-up: a server on SQLite in a temporary directory. As the bootstrap
//!    admin, xtask registers the confidential client of `bench oidc`, reads
//!    the default rate-limit policy (`GET /api/v1/security/rate-limits`)
//!    and writes it with every quota multiplied by [`QUOTA_FACTOR`] to a
//!    policy file (`PORTCULLIS_RATE_LIMITS_FILE`): the server with the
//!    defences on keeps every limiter's books but refuses nothing, so what
//!    is measured is the bookkeeping, not refusals.
//! 2. The database is copied for two servers, `x` and `y`.
//! 3. [`ROUNDS`] rounds. Each starts `x` then `y` (with the policy file),
//!    one with the defences off, lets them settle, and loads both together
//!    for `--seconds` with half of [`CONNECTIONS`] each: validate and the
//!    token endpoint from the load generator (its measured phases begin at
//!    one agreed instant, `--start-at`), then both from `wrk` (Debian's,
//!    installed with apt-get when missing). The defences are on in `x` in
//!    odd rounds and in `y` in even ones: two servers loaded together are
//!    not served alike (a control run found the first one 4.5% slower with
//!    nothing to tell them apart), and the alternation cancels that out.
//! 4. A control (unless `--no-control`): `x` and `y` both with the
//!    defences off, wrk's validate [`ROUNDS`] times, "on" alternating as in
//!    the measurement: the ratios two identical servers show are the
//!    method's own error.
//! 5. The report gives each measurement's median ratio over its rounds,
//!    and every round's.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::edge_report::{EdgeCost, Pair};
use super::oidc::{
    CLIENT_ID, CONNECTIONS, REALM, SCOPE, admin_token, bench_client, http_json, http_request,
    settle,
};
use super::report::Outcome;
use crate::process::{self, Job, TempDir, check_interrupted, which};
use crate::server::Server;
use crate::services::apt;

/// Rounds of each paired measurement: even, the defences alternating
/// between the two servers.
pub(super) const ROUNDS: usize = 6;
/// Every quota of the default policy is multiplied by this (saturating at
/// `u32::MAX`): the token group's client quota becomes 30 million a minute.
pub(super) const QUOTA_FACTOR: u64 = 10_000;
/// Connections each server gets (half of the benchmark's usual load each).
pub(super) const SIDE_CONNECTIONS: usize = CONNECTIONS / 2;
/// Time the load generators get for their set-up before the agreed start.
const START_MARGIN: Duration = Duration::from_secs(6);
/// The endpoint of token validation.
const VALIDATE: &str = "/api/v1/auth/validate";
/// The default realm's rate-limit policy.
const RATE_LIMITS: &str = "/api/v1/security/rate-limits";

/// `cargo xtask bench edge [--seconds N] [--server-binary PATH]
/// [--no-control]`: the measurement, its report on stdout and in
/// `target/bench-edge-report.md`; fails when a measurement could not be
/// taken.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let opts = super::Options::parse(args, "--no-control")?;
    process::install_signal_handler()?;
    let binary = super::build_binaries(&opts)?;
    let seconds = opts.seconds.to_string();
    let cost = measure(&binary, &seconds, !opts.skip);
    check_interrupted()?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let markdown = format!(
        "# Portcullis edge benchmark\n\n{} cores, `cargo xtask bench edge --seconds {}`.\n{}",
        cores,
        opts.seconds,
        cost.markdown(opts.seconds)
    );
    super::publish(&markdown, "bench-edge-report.md")?;
    if cost.any_failed(!opts.skip) {
        eprintln!("xtask: some measurements could not be taken (see the report)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Measures both endpoints on both sides (and the control when asked); a
/// set-up failure is recorded in the result.
pub(super) fn measure(binary: &Path, seconds: &str, control: bool) -> EdgeCost {
    let mut cost = EdgeCost::default();
    if let Err(err) = rounds(binary, seconds, control, &mut cost) {
        eprintln!("xtask: edge defences: {err:#}");
        cost.failed = Some(format!("{err:#}"));
    }
    cost
}

/// One side's server: its directory (a copy of the set-up's) and settings.
struct Side<'a> {
    binary: &'a Path,
    dir: PathBuf,
    password: &'a str,
    policy: &'a str,
}

impl Side<'_> {
    /// Starts the side's server, the defences on or off, and lets it settle.
    fn start(&self, defences: bool) -> Result<Server> {
        let mut settings = vec![("PORTCULLIS_RATE_LIMITS_FILE", self.policy)];
        if !defences {
            settings.push(("PORTCULLIS_EDGE_DEFENCES", "off"));
        }
        let url = format!("sqlite://{}/bench.db", self.dir.display());
        let server = Server::start_logging(
            self.binary,
            &self.dir,
            &url,
            self.password,
            "warn",
            None,
            &settings,
        )?;
        settle(server.cpu_ticks(), || server.cpu_ticks(), "start-up");
        Ok(server)
    }
}

/// What wrk sends to one server.
struct WrkScripts {
    validate: PathBuf,
    token: PathBuf,
}

fn rounds(binary: &Path, seconds: &str, control: bool, cost: &mut EdgeCost) -> Result<()> {
    let password = format!("Lg-{}-Q7!", process::random_hex(12)?);
    let dir = TempDir::new("portcullis-bench-edge")?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    eprintln!("xtask: edge defences: set-up on SQLite (the client, the policy file)");
    let server = Server::start(binary, dir.path(), &url, &password)?;
    let prepared = prepare(server.addr(), &password, dir.path());
    if let Err(err) = server.stop() {
        eprintln!("xtask: stopping the server: {err:#}");
    }
    let (secret, policy) = prepared?;
    let policy = policy.to_string_lossy().into_owned();
    match ensure_wrk() {
        Ok(version) => cost.wrk_version = Some(version),
        Err(err) => {
            eprintln!("xtask: wrk: {err:#}");
            cost.wrk_failed = Some(format!("{err:#}"));
        }
    }
    let side = |name: &str| -> Result<Side<'_>> {
        Ok(Side {
            binary,
            dir: copy_side(dir.path(), name)?,
            password: &password,
            policy: &policy,
        })
    };
    let [x, y] = [side("x")?, side("y")?];
    let prefix = format!("/realms/{REALM}");
    let token_path = format!("{prefix}/oauth2/token");
    let with_wrk = cost.wrk_version.is_some();
    let scripts = |server: &Server, side: &Side<'_>| -> Result<Option<WrkScripts>> {
        if !with_wrk {
            return Ok(None);
        }
        wrk_scripts(server.addr(), &password, &secret, &side.dir).map(Some)
    };
    for round in 0..ROUNDS {
        check_interrupted()?;
        // The defences alternate between the two servers, which always
        // start and are loaded in the same order: whatever favours one of
        // them cancels out over the (even) number of rounds.
        let x_on = round % 2 == 0;
        eprintln!(
            "xtask: edge defences, round {} of {ROUNDS}: both servers at once, on in {}",
            round + 1,
            if x_on { "the first" } else { "the second" }
        );
        let first = x.start(x_on)?;
        let second = y.start(!x_on)?;
        let (f, s) = (first.addr(), second.addr());
        cost.validate.push(pair(
            x_on,
            |at| validate(f, &password, seconds, at),
            |at| validate(s, &password, seconds, at),
        ));
        check_interrupted()?;
        cost.token.push(pair(
            x_on,
            |at| oauth_token(f, &prefix, &secret, seconds, at),
            |at| oauth_token(s, &prefix, &secret, seconds, at),
        ));
        if let (Some(fw), Some(sw)) = (scripts(&first, &x)?, scripts(&second, &y)?) {
            check_interrupted()?;
            cost.wrk_validate.push(pair(
                x_on,
                |_| wrk(f, VALIDATE, &fw.validate, seconds),
                |_| wrk(s, VALIDATE, &sw.validate, seconds),
            ));
            check_interrupted()?;
            cost.wrk_token.push(pair(
                x_on,
                |_| wrk(f, &token_path, &fw.token, seconds),
                |_| wrk(s, &token_path, &sw.token, seconds),
            ));
        }
        for server in [first, second] {
            if let Err(err) = server.stop() {
                eprintln!("xtask: stopping the server: {err:#}");
            }
        }
    }
    if control && with_wrk {
        check_interrupted()?;
        eprintln!("xtask: edge defences: the control, two servers with them off");
        let first = x.start(false)?;
        let second = y.start(false)?;
        let (f, s) = (first.addr(), second.addr());
        if let (Some(fw), Some(sw)) = (scripts(&first, &x)?, scripts(&second, &y)?) {
            for round in 0..ROUNDS {
                check_interrupted()?;
                eprintln!("xtask: control, round {} of {ROUNDS}", round + 1);
                // "On" alternates as in the measurement.
                cost.control.push(pair(
                    round % 2 == 0,
                    |_| wrk(f, VALIDATE, &fw.validate, seconds),
                    |_| wrk(s, VALIDATE, &sw.validate, seconds),
                ));
            }
        }
        for server in [first, second] {
            if let Err(err) = server.stop() {
                eprintln!("xtask: stopping the server: {err:#}");
            }
        }
    }
    Ok(())
}

/// Runs `first` and `second` at once (started in that order), the first
/// being the server with the defences on when `first_on`; each gets the
/// same start instant (Unix milliseconds, for the load generator's
/// `--start-at`).
fn pair(
    first_on: bool,
    first: impl FnOnce(u64) -> Outcome + Send,
    second: impl FnOnce(u64) -> Outcome + Send,
) -> Pair {
    let at = SystemTime::now() + START_MARGIN;
    let at = at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let joined = |h: std::thread::ScopedJoinHandle<'_, Outcome>| {
        h.join()
            .unwrap_or_else(|_| Outcome::Failed("the measuring thread panicked".to_owned()))
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(move || first(at));
        let b = s.spawn(move || second(at));
        (joined(a), joined(b))
    });
    if first_on {
        Pair { on: a, off: b }
    } else {
        Pair { on: b, off: a }
    }
}

/// Copies the set-up's database and master key into `dir/name`.
fn copy_side(dir: &Path, name: &str) -> Result<PathBuf> {
    let side = dir.join(name);
    std::fs::create_dir_all(&side).with_context(|| format!("creating {}", side.display()))?;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if entry.file_type()?.is_file() && (file.starts_with("bench.db") || file == "master.key") {
            std::fs::copy(entry.path(), side.join(&*file))
                .with_context(|| format!("copying {file} to {}", side.display()))?;
        }
    }
    Ok(side)
}

/// The client's secret and the policy file, written in `dir`.
fn prepare(addr: SocketAddr, password: &str, dir: &Path) -> Result<(String, PathBuf)> {
    let (access, secret) = bench_client(addr, password)?;
    let policy = relaxed_policy(addr, &access)?;
    let file = dir.join("rate-limits.json");
    std::fs::write(&file, policy.to_string())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok((secret, file))
}

/// Gives the default realm the default rate-limit policy with every quota
/// multiplied by [`QUOTA_FACTOR`] (`PUT /api/v1/security/rate-limits` as
/// the bootstrap admin), so that a benchmark's load is counted by the
/// limiters but never refused.
pub(super) fn relax_rate_limits(addr: SocketAddr, password: &str) -> Result<()> {
    let access = admin_token(addr, password)?;
    let policy = relaxed_policy(addr, &access)?;
    let (status, answer) =
        http_request(addr, "PUT", RATE_LIMITS, Some(&access), &policy.to_string())?;
    if status != 200 {
        bail!("PUT {RATE_LIMITS}: {status} {answer}");
    }
    Ok(())
}

/// The policy in force in the default realm (read with the admin's access
/// token), every quota multiplied by [`QUOTA_FACTOR`].
pub(super) fn relaxed_policy(addr: SocketAddr, access: &str) -> Result<Value> {
    let (status, view) = http_request(addr, "GET", RATE_LIMITS, Some(access), "")?;
    if status != 200 {
        bail!("GET {RATE_LIMITS}: {status} {view}");
    }
    let mut policy = view
        .get("policy")
        .cloned()
        .with_context(|| format!("GET {RATE_LIMITS}: no policy in {view}"))?;
    scale(&mut policy, QUOTA_FACTOR)?;
    Ok(policy)
}

/// Multiplies every quota of a policy document (each group's `per_ip` and
/// its tiers') by `factor`, saturating at `u32::MAX`.
fn scale(policy: &mut Value, factor: u64) -> Result<()> {
    let scaled = |v: &Value| -> Result<Value> {
        let n = v.as_u64().with_context(|| format!("{v} is not a quota"))?;
        Ok(Value::from(
            n.saturating_mul(factor).min(u64::from(u32::MAX)),
        ))
    };
    let groups = policy
        .get_mut("groups")
        .and_then(Value::as_object_mut)
        .context("the policy has no groups")?;
    for limits in groups.values_mut() {
        let per_ip = limits.get_mut("per_ip").context("a group has no per_ip")?;
        *per_ip = scaled(per_ip)?;
        if let Some(tiers) = limits.get_mut("tiers").and_then(Value::as_object_mut) {
            for quota in tiers.values_mut() {
                *quota = scaled(quota)?;
            }
        }
    }
    Ok(())
}

/// The load generator's `validate` (a fresh account's access token), its
/// measured phase beginning at `start_at`.
fn validate(addr: SocketAddr, password: &str, seconds: &str, start_at: u64) -> Outcome {
    let addr = addr.to_string();
    let connections = SIDE_CONNECTIONS.to_string();
    let start_at = start_at.to_string();
    eprintln!("xtask: validate against {addr}, {connections} connections, {seconds} s");
    let args = [
        "validate",
        "--addr",
        &addr,
        "--seconds",
        seconds,
        "--connections",
        &connections,
        "--start-at",
        &start_at,
    ];
    super::measure(&args, password)
}

/// The load generator's `oauth-token` (`client_credentials`, Basic), its
/// measured phase beginning at `start_at`.
fn oauth_token(
    addr: SocketAddr,
    prefix: &str,
    secret: &str,
    seconds: &str,
    start_at: u64,
) -> Outcome {
    let (connections, at) = (SIDE_CONNECTIONS, Some(start_at));
    super::oidc::oauth_with(
        "oauth-token",
        addr,
        prefix,
        secret,
        seconds,
        connections,
        at,
    )
}

/// wrk, from Debian's packages when missing; its version (`wrk 4.1.0 [epoll]`).
fn ensure_wrk() -> Result<String> {
    if which("wrk").is_none() {
        apt::ensure_packages(&["wrk"], "the benchmark compares with wrk")?;
    }
    // `wrk -v` prints its version and usage, and exits with 1.
    let out = Command::new("wrk")
        .arg("-v")
        .stdin(Stdio::null())
        .output()
        .context("running wrk -v")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let first = text.lines().next().unwrap_or("wrk");
    Ok(first
        .split(" Copyright")
        .next()
        .unwrap_or(first)
        .trim()
        .to_owned())
}

/// Writes wrk's scripts for the server at `addr` into `dir`: validate
/// with the admin's access token of that server, and a `client_credentials`
/// grant with HTTP Basic. Each is tried once first, as wrk does not look
/// at the answers.
fn wrk_scripts(addr: SocketAddr, password: &str, secret: &str, dir: &Path) -> Result<WrkScripts> {
    let token = admin_token(addr, password)?;
    let body = json!({ "token": token });
    let (status, answer) = http_json(addr, VALIDATE, None, &body)?;
    if status != 200 || answer.get("active") != Some(&Value::Bool(true)) {
        bail!("POST {VALIDATE}: {status} {answer}");
    }
    let validate = dir.join("validate.lua");
    let json_body = body.to_string();
    std::fs::write(
        &validate,
        lua_script(&json_body, &[("Content-Type", "application/json")]),
    )
    .with_context(|| format!("writing {}", validate.display()))?;
    let basic = crate::loadgen::oauth::basic_authorization(CLIENT_ID, secret);
    let form = format!(
        "grant_type=client_credentials&scope={}",
        SCOPE.replace(' ', "+")
    );
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Authorization", basic.as_str()),
    ];
    let token_path = format!("/realms/{REALM}/oauth2/token");
    let (status, answer) = super::oidc::http_form(addr, &token_path, &headers, &form)?;
    if status != 200 || answer.get("access_token").is_none() {
        bail!("POST {token_path}: {status} {answer}");
    }
    let token = dir.join("token.lua");
    std::fs::write(&token, lua_script(&form, &headers))
        .with_context(|| format!("writing {}", token.display()))?;
    Ok(WrkScripts { validate, token })
}

/// wrk against `path` of `addr` with `script`, one thread and
/// [`SIDE_CONNECTIONS`] connections; figures in the shape of the load
/// generator's.
fn wrk(addr: SocketAddr, path: &str, script: &Path, seconds: &str) -> Outcome {
    wrk_run(addr, path, script, seconds).unwrap_or_else(|err| {
        eprintln!("xtask: wrk: {err:#}");
        Outcome::Failed(format!("{err:#}"))
    })
}

fn wrk_run(addr: SocketAddr, path: &str, script: &Path, seconds: &str) -> Result<Outcome> {
    let connections = SIDE_CONNECTIONS.to_string();
    let url = format!("http://{addr}{path}");
    eprintln!("xtask: wrk against {url}, 1 thread, {connections} connections, {seconds} s");
    let mut cmd = Command::new("wrk");
    cmd.args(["-t", "1", "-c", &connections, "-d", &format!("{seconds}s")])
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut job = Job::spawn("wrk", &mut cmd)?;
    let mut stdout = job.child_mut().stdout.take().context("wrk's stdout")?;
    let mut output = String::new();
    stdout
        .read_to_string(&mut output)
        .context("reading wrk's output")?;
    let status = job.wait()?;
    if !status.success() {
        bail!("wrk failed ({status}): {output}");
    }
    let mut value = parse_wrk(&output)?;
    if let Some(object) = value.as_object_mut() {
        object.insert("connections".to_owned(), Value::from(SIDE_CONNECTIONS));
        object.insert("threads".to_owned(), Value::from(1));
    }
    Ok(Outcome::Done(value))
}

/// A wrk script sending `body` as a POST with `headers`.
fn lua_script(body: &str, headers: &[(&str, &str)]) -> String {
    // Long brackets: neither the body nor a header holds `]==]`.
    let mut script = format!("wrk.method = \"POST\"\nwrk.body = [==[{body}]==]\n");
    for (name, value) in headers {
        script.push_str(&format!("wrk.headers[\"{name}\"] = [==[{value}]==]\n"));
    }
    script
}

/// The figures of wrk's report (`--latency`): requests/s, p50, p99, the
/// requests sent, non-2xx (or 3xx) answers and socket errors.
fn parse_wrk(text: &str) -> Result<Value> {
    let mut rate = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut sent = None;
    let mut non_2xx = 0u64;
    let mut socket_errors = 0u64;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rate = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = wrk_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = wrk_ms(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().context("wrk's non-2xx count")?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            socket_errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        } else if line.contains(" requests in ") {
            sent = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
        }
    }
    let rate = rate.context("no Requests/sec in wrk's output")?;
    let sent = sent.context("no request count in wrk's output")?;
    Ok(json!({
        "scenario": "wrk validate",
        "rate": rate,
        "p50_ms": p50,
        "p99_ms": p99,
        "sent": sent,
        "ok": sent.saturating_sub(non_2xx),
        "non_2xx": non_2xx,
        "statuses": {},
        "transport_errors": socket_errors,
        "bad_body": 0,
    }))
}

/// wrk's `1.23ms`, `456.00us` or `1.02s`, in milliseconds.
fn wrk_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    match unit {
        "us" => Some(number / 1000.0),
        "ms" => Some(number),
        "s" => Some(number * 1000.0),
        "m" => Some(number * 60_000.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "\
Running 10s test @ http://127.0.0.1:40000/api/v1/auth/validate
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.50ms  500.00us  10.00ms   80.00%
    Req/Sec    20.00k     1.00k   22.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.80ms
     90%    2.20ms
     99%    3.50ms
  400123 requests in 10.00s, 100.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  40012.30
Transfer/sec:     10.00MB
";

    #[test]
    fn wrk_reports_are_parsed() {
        let v = parse_wrk(WRK).unwrap();
        assert_eq!(v["rate"], 40012.3);
        assert_eq!(v["p50_ms"], 0.812);
        assert_eq!(v["p99_ms"], 3.5);
        assert_eq!(v["sent"], 400_123);
        assert_eq!(v["non_2xx"], 5);
        assert_eq!(v["transport_errors"], 3);
        assert!(parse_wrk("wrk: connection refused").is_err());
        assert_eq!(wrk_ms("1.02s"), Some(1020.0));
    }

    #[test]
    fn policies_are_scaled_to_u32() {
        let mut policy = json!({
            "enabled": true,
            "groups": {
                "token": {"window_seconds": 60, "per_ip": 6000, "tiers": {"client": 3000}},
                "service": {"window_seconds": 60, "per_ip": 60000, "tiers": {}}
            },
            "strikes": {"threshold": 20}
        });
        scale(&mut policy, QUOTA_FACTOR).unwrap();
        assert_eq!(policy["groups"]["token"]["per_ip"], 60_000_000);
        assert_eq!(policy["groups"]["token"]["tiers"]["client"], 30_000_000);
        assert_eq!(policy["groups"]["service"]["per_ip"], 600_000_000);
        // Windows and strikes are left alone.
        assert_eq!(policy["groups"]["token"]["window_seconds"], 60);
        assert_eq!(policy["strikes"]["threshold"], 20);
        let mut big = json!({"groups": {"x": {"per_ip": 4_000_000_000u64, "tiers": {}}}});
        scale(&mut big, 10).unwrap();
        assert_eq!(big["groups"]["x"]["per_ip"], u64::from(u32::MAX));
    }

    #[test]
    fn lua_scripts_post_with_headers() {
        let script = lua_script(
            "{\"token\":\"a.b.c\"}",
            &[
                ("Content-Type", "application/json"),
                ("Authorization", "Basic YTpi"),
            ],
        );
        assert!(script.contains("wrk.method = \"POST\""), "{script}");
        assert!(
            script.contains("wrk.body = [==[{\"token\":\"a.b.c\"}]==]"),
            "{script}"
        );
        assert!(
            script.contains("wrk.headers[\"Authorization\"] = [==[Basic YTpi]==]"),
            "{script}"
        );
    }
}
