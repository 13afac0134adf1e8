//! What the edge defences cost (issue 16), the last part of `cargo xtask
//! bench`: a cheap endpoint, `POST /api/v1/auth/validate`, and the token
//! endpoint (`client_credentials`, the client authenticated with HTTP
//! Basic, so that the client limiter applies) against the server with the
//! edge defences on and with them off (`PORTCULLIS_EDGE_DEFENCES=off`), on
//! the same database, with the same connections, back to back.
//!
//! 1. Set-up: a server on SQLite in a temporary directory. As the bootstrap
//!    admin, xtask registers the confidential client of `bench oidc`, reads
//!    the default rate-limit policy (`GET /api/v1/security/rate-limits`)
//!    and writes it with every quota multiplied by [`QUOTA_FACTOR`] to a
//!    policy file (`PORTCULLIS_RATE_LIMITS_FILE`): the server with the
//!    defences on keeps every limiter's books but refuses nothing, so what
//!    is measured is the bookkeeping, not refusals.
//! 2. [`ROUNDS`] rounds on that database, each starting the server with
//!    the defences on, then with them off (both with the policy file), so
//!    on, off, on, off. Each server is left to settle, then takes the load
//!    generator's `validate` and `oauth-token` for `--seconds` each with
//!    [`CONNECTIONS`] connections; in the first round, `wrk` (Debian's,
//!    installed with apt-get when missing) drives validate as well.
//! 3. The report takes each side's best run (the highest rate): on a
//!    shared 2-core machine noise only ever slows a run down.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::oidc::{
    CONNECTIONS, REALM, admin_token, bench_client, http_json, http_request, oauth, settle,
};
use super::report::{EdgeCost, Outcome, Stack};
use crate::process::{self, Job, TempDir, check_interrupted, which};
use crate::server::Server;
use crate::services::apt;

/// Rounds of on then off.
pub(super) const ROUNDS: usize = 2;
/// Every quota of the default policy is multiplied by this (saturating at
/// `u32::MAX`): the token group's client quota becomes 30 million a minute.
pub(super) const QUOTA_FACTOR: u64 = 10_000;
/// The endpoint of token validation.
const VALIDATE: &str = "/api/v1/auth/validate";
/// The default realm's rate-limit policy.
const RATE_LIMITS: &str = "/api/v1/security/rate-limits";

/// Measures both endpoints on both sides; a set-up failure is recorded in
/// the result.
pub(super) fn measure(binary: &Path, seconds: &str) -> EdgeCost {
    let mut cost = EdgeCost::default();
    if let Err(err) = rounds(binary, seconds, &mut cost) {
        eprintln!("xtask: edge defences: {err:#}");
        cost.failed = Some(format!("{err:#}"));
    }
    cost
}

fn rounds(binary: &Path, seconds: &str, cost: &mut EdgeCost) -> Result<()> {
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
            for stack in [Stack::On, Stack::Off] {
                cost.wrk
                    .push(stack, Outcome::Failed(format!("wrk: {err:#}")));
            }
        }
    }
    let prefix = format!("/realms/{REALM}");
    for round in 1..=ROUNDS {
        for stack in [Stack::On, Stack::Off] {
            check_interrupted()?;
            let mut settings = vec![("PORTCULLIS_RATE_LIMITS_FILE", policy.as_str())];
            if stack == Stack::Off {
                settings.push(("PORTCULLIS_EDGE_DEFENCES", "off"));
            }
            eprintln!(
                "xtask: edge defences {}, round {round} of {ROUNDS}",
                stack.name()
            );
            let server = Server::start_logging(
                binary,
                dir.path(),
                &url,
                &password,
                "warn",
                None,
                &settings,
            )?;
            let addr = server.addr();
            let ticks = || server.cpu_ticks();
            settle(server.cpu_ticks(), ticks, "start-up");
            cost.validate
                .push(stack, validate(addr, &password, seconds));
            check_interrupted()?;
            settle(server.cpu_ticks(), ticks, "validations");
            cost.token
                .push(stack, oauth("oauth-token", addr, &prefix, &secret, seconds));
            if round == 1 && cost.wrk_version.is_some() {
                check_interrupted()?;
                settle(server.cpu_ticks(), ticks, "issuing tokens");
                let outcome =
                    wrk_validate(addr, &password, seconds, dir.path()).unwrap_or_else(|err| {
                        eprintln!("xtask: wrk: {err:#}");
                        Outcome::Failed(format!("{err:#}"))
                    });
                cost.wrk.push(stack, outcome);
            }
            if let Err(err) = server.stop() {
                eprintln!("xtask: stopping the server: {err:#}");
            }
        }
    }
    Ok(())
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
fn relaxed_policy(addr: SocketAddr, access: &str) -> Result<Value> {
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

/// The load generator's `validate` (a fresh account's access token).
fn validate(addr: SocketAddr, password: &str, seconds: &str) -> Outcome {
    let addr = addr.to_string();
    let connections = CONNECTIONS.to_string();
    eprintln!("xtask: validate against {addr}, {CONNECTIONS} connections, {seconds} s");
    let args = [
        "validate",
        "--addr",
        &addr,
        "--seconds",
        seconds,
        "--connections",
        &connections,
    ];
    super::measure(&args, password)
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

/// wrk against validate with the admin's access token, from a Lua script
/// that makes each request a POST with the JSON body; figures in the shape
/// of the load generator's.
fn wrk_validate(addr: SocketAddr, password: &str, seconds: &str, dir: &Path) -> Result<Outcome> {
    let token = admin_token(addr, password)?;
    let body = json!({ "token": token });
    // wrk does not look at the answers: check one first.
    let (status, answer) = http_json(addr, VALIDATE, None, &body)?;
    if status != 200 || answer.get("active") != Some(&Value::Bool(true)) {
        bail!("POST {VALIDATE}: {status} {answer}");
    }
    let script = dir.join("validate.lua");
    std::fs::write(&script, lua_script(&body.to_string()))
        .with_context(|| format!("writing {}", script.display()))?;
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .to_string();
    let connections = CONNECTIONS.to_string();
    let url = format!("http://{addr}{VALIDATE}");
    eprintln!(
        "xtask: wrk against {url}, {threads} threads, {CONNECTIONS} connections, {seconds} s"
    );
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        &threads,
        "-c",
        &connections,
        "-d",
        &format!("{seconds}s"),
    ])
    .arg("--latency")
    .arg("-s")
    .arg(&script)
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
        object.insert("connections".to_owned(), Value::from(CONNECTIONS));
        object.insert("threads".to_owned(), Value::from(threads));
    }
    Ok(Outcome::Done(value))
}

/// A wrk script sending `body` as a JSON POST.
fn lua_script(body: &str) -> String {
    // A long bracket: the JSON holds no `]==]`.
    format!(
        "wrk.method = \"POST\"\n\
         wrk.body = [==[{body}]==]\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n"
    )
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
    fn lua_scripts_post_json() {
        let script = lua_script("{\"token\":\"a.b.c\"}");
        assert!(script.contains("wrk.method = \"POST\""), "{script}");
        assert!(
            script.contains("wrk.body = [==[{\"token\":\"a.b.c\"}]==]"),
            "{script}"
        );
    }
}
