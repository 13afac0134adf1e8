//! `cargo xtask bench oidc [--seconds N] [--portcullis-only] [--server-binary PATH]`:
//! the OAuth 2.0 client_credentials grant and token introspection of
//! Portcullis against Node's `oidc-provider` (panva's), both on loopback,
//! driven one after the other by the same load generator with the same
//! settings. Figures, ratios and goals in a table (stdout and
//! `target/bench-oidc-report.md`); a measurement, never a pass/fail test.
//!
//! 1. The release server and the load generator are built. Portcullis
//!    starts on SQLite in a temporary directory; as the bootstrap admin,
//!    xtask registers one confidential client (`client_secret_basic`, the
//!    `client_credentials` grant, scope `api:read`). The load generator's
//!    `oauth-token` then `oauth-introspect` run against the default realm's
//!    `/realms/main/oauth2/...`; the server stops.
//! 2. `bench/oidc` (oidc-provider, pinned by its `package-lock.json`) is
//!    installed with `npm ci` when `node_modules` is missing or older than
//!    the lock file (Node.js and npm from Debian's packages when missing).
//!    `provider.js` configures it like our realm: the same client, EdDSA
//!    JWT access tokens (RFC 9068) living 15 minutes, its in-memory
//!    storage, introspection enabled. `oauth-token` runs against it.
//! 3. oidc-provider refuses to introspect JWT access tokens (its
//!    introspection endpoint answers `unsupported_token_type` to them), so
//!    it restarts issuing opaque access tokens, kept in its memory, and
//!    `oauth-introspect` runs against those; `oauth-token` runs once more
//!    there (a diagnostic: issuing without signing).
//!
//! Goals (Portcullis, per measurement): at least ten times oidc-provider's
//! rate, with p99 under 10 ms.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::report::{Outcome, field, number};
use super::{Options, build_binaries, publish};
use crate::process::{
    self, Job, TempDir, check_interrupted, free_port, tail, which, workspace_root,
};
use crate::server::{self, Server};
use crate::services::apt;

/// Connections of every measurement, for both servers.
pub(super) const CONNECTIONS: usize = 64;
/// Tokens introspected round-robin.
const POOL: usize = 1_000;
/// The client both servers know.
pub(super) const CLIENT_ID: &str = "bench";
/// The scope it asks for.
pub(super) const SCOPE: &str = "api:read";
/// The realm the server bootstraps (`PORTCULLIS_DEFAULT_REALM` is unset).
pub(super) const REALM: &str = "main";
/// Goals: at least this many times oidc-provider's rate...
const GOAL_RATIO: f64 = 10.0;
/// ...with p99 under this many milliseconds.
const GOAL_P99_MS: f64 = 10.0;
/// How long oidc-provider may take to listen.
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything one run measured.
struct Figures {
    seconds: u64,
    ours_token: Outcome,
    ours_introspect: Outcome,
    /// JWT access tokens, as ours.
    peer_token: Outcome,
    /// Opaque access tokens: the only ones oidc-provider introspects.
    peer_introspect: Outcome,
    /// Opaque access tokens issued (diagnostic).
    peer_token_opaque: Outcome,
    node_version: Option<String>,
    /// Seconds Portcullis kept busy after issuing tokens.
    settle_ours: Option<f64>,
}

/// Runs the benchmark.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let opts = Options::parse(args, "--portcullis-only")?;
    process::install_signal_handler()?;
    let binary = build_binaries(&opts)?;

    let skipped = || Outcome::Skipped("--portcullis-only");
    let mut figures = Figures {
        seconds: opts.seconds,
        ours_token: Outcome::Failed("not run".to_owned()),
        ours_introspect: Outcome::Failed("not run".to_owned()),
        peer_token: skipped(),
        peer_introspect: skipped(),
        peer_token_opaque: skipped(),
        node_version: None,
        settle_ours: None,
    };
    let seconds = opts.seconds.to_string();

    if let Err(err) = portcullis(&binary, &seconds, &mut figures) {
        eprintln!("xtask: Portcullis measurement failed: {err:#}");
        let why = format!("{err:#}");
        for outcome in [&mut figures.ours_token, &mut figures.ours_introspect] {
            if matches!(outcome, Outcome::Failed(w) if w == "not run") {
                *outcome = Outcome::Failed(why.clone());
            }
        }
    }
    check_interrupted()?;

    if !opts.skip {
        if let Err(err) = oidc_provider(&seconds, &mut figures) {
            eprintln!("xtask: oidc-provider measurement failed: {err:#}");
            let why = format!("{err:#}");
            for outcome in [
                &mut figures.peer_token,
                &mut figures.peer_introspect,
                &mut figures.peer_token_opaque,
            ] {
                if matches!(outcome, Outcome::Skipped(_)) {
                    *outcome = Outcome::Failed(why.clone());
                }
            }
        }
        check_interrupted()?;
    }

    let markdown = markdown(&figures);
    publish(&markdown, "bench-oidc-report.md")?;
    let all = [
        &figures.ours_token,
        &figures.ours_introspect,
        &figures.peer_token,
        &figures.peer_introspect,
        &figures.peer_token_opaque,
    ];
    if all.iter().any(|o| matches!(o, Outcome::Failed(_))) {
        eprintln!("xtask: some measurements could not be taken (see the report)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The load generator's `oauth-*` scenario `scenario` against `addr`.
pub(super) fn oauth(
    scenario: &str,
    addr: SocketAddr,
    prefix: &str,
    secret: &str,
    seconds: &str,
) -> Outcome {
    oauth_with(scenario, addr, prefix, secret, seconds, CONNECTIONS, None)
}

/// [`oauth`] with `connections`, its measured phase beginning at `start_at`
/// (Unix milliseconds) when given.
pub(super) fn oauth_with(
    scenario: &str,
    addr: SocketAddr,
    prefix: &str,
    secret: &str,
    seconds: &str,
    connections: usize,
    start_at: Option<u64>,
) -> Outcome {
    let addr = addr.to_string();
    let connections = connections.to_string();
    let start_at = start_at.map(|ms| ms.to_string());
    let pool = POOL.to_string();
    let mut args = vec![
        scenario,
        "--addr",
        &addr,
        "--client-id",
        CLIENT_ID,
        "--scope",
        SCOPE,
        "--seconds",
        seconds,
        "--connections",
        &connections,
        "--pool",
        &pool,
    ];
    if !prefix.is_empty() {
        args.extend(["--prefix", prefix]);
    }
    if let Some(at) = &start_at {
        args.extend(["--start-at", at]);
    }
    eprintln!("xtask: {scenario} against {addr}{prefix}, {connections} connections, {seconds} s");
    super::measure_env(&args, &[("LOADGEN_CLIENT_SECRET", secret)])
}

/// Portcullis on SQLite: the client, then tokens and introspections.
fn portcullis(binary: &Path, seconds: &str, figures: &mut Figures) -> Result<()> {
    let password = format!("Lg-{}-Q7!", process::random_hex(12)?);
    let dir = TempDir::new("portcullis-bench-oidc")?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    eprintln!("xtask: starting the server on SQLite");
    let server = Server::start(binary, dir.path(), &url, &password)?;
    let addr = server.addr();

    let secret = bench_client(addr, &password)?.1;

    let prefix = format!("/realms/{REALM}");
    settle(server.cpu_ticks(), || server.cpu_ticks(), "set-up");
    figures.ours_token = oauth("oauth-token", addr, &prefix, &secret, seconds);
    check_interrupted()?;
    figures.settle_ours = settle(server.cpu_ticks(), || server.cpu_ticks(), "issuing tokens");
    figures.ours_introspect = oauth("oauth-introspect", addr, &prefix, &secret, seconds);
    if let Err(err) = server.stop() {
        eprintln!("xtask: stopping the server: {err:#}");
    }
    Ok(())
}

/// Logs in as the bootstrap admin (`password`) and registers the
/// confidential client [`CLIENT_ID`] (`client_secret_basic`, the
/// `client_credentials` grant, scope [`SCOPE`]); the admin's access token
/// and the client's secret.
pub(super) fn bench_client(addr: SocketAddr, password: &str) -> Result<(String, String)> {
    let access = admin_token(addr, password)?;
    let created = http_json(
        addr,
        "/api/v1/clients",
        Some(&access),
        &json!({"name": "Bench", "client_id": CLIENT_ID, "scopes": [SCOPE]}),
    )?;
    let secret = match created {
        (201, value) => value
            .get("client_secret")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("the new client has no client_secret")?,
        (status, value) => bail!("creating the client: {status} {value}"),
    };
    Ok((access, secret))
}

/// The bootstrap admin's access token (`password`).
pub(crate) fn admin_token(addr: SocketAddr, password: &str) -> Result<String> {
    let login = http_json(
        addr,
        "/api/v1/auth/login",
        None,
        &json!({"email": server::ADMIN_EMAIL, "password": password}),
    )?;
    match login {
        (200, value) => value
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .context("the login answer has no access_token"),
        (status, value) => bail!("logging in as the admin: {status} {value}"),
    }
}

/// oidc-provider: JWT tokens, then (restarted) opaque tokens and their
/// introspection.
fn oidc_provider(seconds: &str, figures: &mut Figures) -> Result<()> {
    let dir = workspace_root().join("bench/oidc");
    figures.node_version = Some(ensure_node()?);
    npm_ci(&dir)?;
    let secret = process::random_hex(32)?;
    let logs = TempDir::new("portcullis-bench-oidc-node")?;

    let peer = Node::start(&dir, logs.path(), &secret, "jwt")?;
    figures.peer_token = oauth("oauth-token", peer.addr, "", &secret, seconds);
    peer.stop();
    check_interrupted()?;

    let peer = Node::start(&dir, logs.path(), &secret, "opaque")?;
    figures.peer_introspect = oauth("oauth-introspect", peer.addr, "", &secret, seconds);
    check_interrupted()?;
    figures.peer_token_opaque = oauth("oauth-token", peer.addr, "", &secret, seconds);
    peer.stop();
    Ok(())
}

/// Node.js and npm, installed from Debian's packages if missing; returns
/// `node --version`.
fn ensure_node() -> Result<String> {
    if which("node").is_none() || which("npm").is_none() {
        apt::ensure_packages(
            &["nodejs", "npm"],
            "the oidc benchmark runs oidc-provider on Node.js",
        )?;
    }
    let out = Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .context("running node --version")?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let major: Option<u32> = version
        .strip_prefix('v')
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok());
    match major {
        Some(major) if major >= 20 => {
            if major < 22 {
                eprintln!(
                    "xtask: Node.js {version}: oidc-provider 9 supports Node.js 22 LTS and later, \
                     and warns (but runs) on 20"
                );
            }
            Ok(version)
        }
        _ => bail!(
            "Node.js {version} is too old for oidc-provider 9 (Node.js 20.19 or later needed, \
             22 LTS supported): install a newer Node.js"
        ),
    }
}

/// `npm ci` in `dir` when `node_modules` is missing or older than
/// `package-lock.json`.
fn npm_ci(dir: &Path) -> Result<()> {
    let modified = |path: &Path| -> Option<SystemTime> { path.metadata().ok()?.modified().ok() };
    let lock = modified(&dir.join("package-lock.json"))
        .with_context(|| format!("{} has no package-lock.json", dir.display()))?;
    // npm records what it installed in node_modules/.package-lock.json.
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    if installed.is_some_and(|installed| installed >= lock) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing oidc-provider (npm ci in {})",
        dir.display()
    );
    process::run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
    )
}

/// The version of a package in `bench/oidc/package-lock.json`.
fn locked_version(package: &str) -> String {
    let path = workspace_root().join("bench/oidc/package-lock.json");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|lock| {
            lock.get("packages")?
                .get(format!("node_modules/{package}"))?
                .get("version")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// oidc-provider running `bench/oidc/provider.js` on a free loopback port.
struct Node {
    job: Job,
    addr: SocketAddr,
}

impl Node {
    /// Starts it with access tokens of `format` (`jwt` or `opaque`) and
    /// waits until it accepts connections.
    fn start(dir: &Path, logs: &Path, secret: &str, format: &str) -> Result<Self> {
        check_interrupted()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
        let log = logs.join(format!("oidc-provider-{format}.log"));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        eprintln!("xtask: starting oidc-provider on {addr} ({format} access tokens)");
        let mut cmd = Command::new("node");
        cmd.arg("provider.js")
            .args(["--port", &addr.port().to_string()])
            .args(["--client-id", CLIENT_ID, "--client-secret", secret])
            .args(["--alg", "EdDSA", "--access-token-format", format])
            .current_dir(dir)
            // Koa and oidc-provider as deployed (no development extras).
            .env("NODE_ENV", "production")
            .env_remove("DEBUG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut job = Job::spawn("oidc-provider", &mut cmd)?;
        let deadline = Instant::now() + NODE_READY_TIMEOUT;
        loop {
            check_interrupted()?;
            if let Some(status) = job.try_wait()? {
                bail!(
                    "oidc-provider exited during start-up ({status}):\n{}",
                    tail(&log, 4000)
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "oidc-provider did not listen within {NODE_READY_TIMEOUT:?}:\n{}",
                    tail(&log, 4000)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { job, addr })
    }

    fn stop(mut self) {
        if let Err(err) = self.job.terminate(Duration::from_secs(10)) {
            eprintln!("xtask: stopping oidc-provider: {err:#}");
        }
    }
}

/// Waits (up to a minute) until a process uses less than a tenth of a core,
/// so that work left from one run does not load the next; returns how long
/// it took.
pub(super) fn settle(
    first: Result<u64>,
    ticks: impl Fn() -> Result<u64>,
    after: &str,
) -> Option<f64> {
    let started = Instant::now();
    let step = Duration::from_millis(500);
    let mut last = first.ok()?;
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(step);
        let now = ticks().ok()?;
        // Clock ticks are 1/100 s: 5 ticks in 0.5 s is a tenth of a core.
        if now.saturating_sub(last) < 5 {
            let seconds = started.elapsed().as_secs_f64();
            eprintln!("xtask: the server settled {seconds:.1} s after {after}");
            return Some(seconds);
        }
        last = now;
    }
    eprintln!("xtask: the server was still busy a minute after {after}");
    None
}

/// `POST path` with a JSON body (and a bearer token) over a fresh
/// connection; the status and the JSON answer (`null` if not JSON).
pub(super) fn http_json(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
    body: &Value,
) -> Result<(u16, Value)> {
    http_request(addr, "POST", path, bearer, &body.to_string())
}

/// `POST path` with a form body and the given headers, over a fresh
/// connection; the status and the JSON answer (`null` if not JSON).
pub(super) fn http_form(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, Value)> {
    http_exchange(addr, "POST", path, headers, body)
}

/// `method path` with a JSON body (empty: none) and a bearer token, over a
/// fresh connection; the status and the JSON answer (`null` if not JSON).
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: &str,
) -> Result<(u16, Value)> {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = Vec::new();
    if let Some(value) = &authorization {
        headers.push(("Authorization", value.as_str()));
    }
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    http_exchange(addr, method, path, &headers, body)
}

/// One request with `headers` and `body` over a fresh connection, read to
/// the end; the status and the JSON answer (`null` if not JSON).
fn http_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, Value)> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).context("connecting")?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .context("read timeout")?;
    let headers: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .with_context(|| format!("sending {method} {path}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .with_context(|| format!("reading the answer to {method} {path}"))?;
    let (status, body) = parse_response(&response).with_context(|| format!("{method} {path}"))?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// The status and body of a whole HTTP/1.1 response (read to the end).
fn parse_response(response: &[u8]) -> Result<(u16, Vec<u8>)> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(response.get(..split).unwrap_or_default()).into_owned();
    let body = response.get(split + 4..).unwrap_or_default();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP response: {head:?}"))?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    if !chunked {
        return Ok((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk")?;
        let size = String::from_utf8_lossy(rest.get(..end).unwrap_or_default()).into_owned();
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        if size == 0 {
            return Ok((status, out));
        }
        let data = rest
            .get(end + 2..end + 2 + size)
            .context("truncated chunk")?;
        out.extend_from_slice(data);
        rest = rest.get(end + 4 + size..).context("truncated chunk")?;
    }
}

/// Milliseconds, readable from microseconds to seconds.
pub(super) fn ms(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.1} ms")
    } else if value >= 1.0 {
        format!("{value:.2} ms")
    } else {
        format!("{:.0} µs", value * 1000.0)
    }
}

pub(super) fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

/// Failed requests of a measurement.
fn errors(o: &Outcome) -> Option<u64> {
    match o {
        Outcome::Done(v) => Some(
            ["non_2xx", "transport_errors", "bad_body"]
                .iter()
                .filter_map(|k| v.get(*k).and_then(Value::as_u64))
                .sum(),
        ),
        _ => None,
    }
}

/// A rate cell: the figure, or why there is none.
fn rate_cell(o: &Outcome) -> String {
    match o {
        Outcome::Done(_) => field(o, "rate").map_or("n/a".to_owned(), number),
        Outcome::Failed(_) => "not measured".to_owned(),
        Outcome::Skipped(_) => "skipped".to_owned(),
    }
}

fn latency_cell(o: &Outcome, name: &str) -> String {
    field(o, name).map_or(String::new(), ms)
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
    let peer = format!("oidc-provider {}", locked_version("oidc-provider"));
    let node = f.node_version.as_deref().unwrap_or("not run");
    let _ = writeln!(md, "# Portcullis against oidc-provider\n");
    let _ = writeln!(
        md,
        "Commit {}, {}; {cores} cores shared by the server and the load generator; {peer} on \
         Node.js {node}; one confidential client (`client_secret_basic`), \
         `grant_type=client_credentials&scope={SCOPE}`, EdDSA JWT access tokens; \
         {CONNECTIONS} keep-alive connections and {} s per measurement, the servers measured \
         one after the other. Figures from one run, not assertions.\n",
        command_line("git", &["rev-parse", "--short", "HEAD"]),
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        f.seconds,
    );
    md.push_str(
        "| Measurement | Portcullis | p50 | p99 | oidc-provider | p50 | p99 | Ratio | Goal | Met |\n",
    );
    md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n");
    let rows = [
        (
            "Tokens/s (client_credentials)",
            &f.ours_token,
            &f.peer_token,
            true,
        ),
        (
            "Introspections/s (oidc-provider: opaque tokens)",
            &f.ours_introspect,
            &f.peer_introspect,
            true,
        ),
        (
            "Tokens/s, oidc-provider issuing opaque tokens (diagnostic)",
            &f.ours_token,
            &f.peer_token_opaque,
            false,
        ),
    ];
    for (label, ours, theirs, goal) in rows {
        let ratio = field(ours, "rate")
            .zip(field(theirs, "rate"))
            .filter(|(_, t)| *t > 0.0)
            .map(|(o, t)| o / t);
        let p99 = field(ours, "p99_ms");
        let (goal, ok) = if goal {
            (
                format!("≥ {GOAL_RATIO:.0}×, p99 < {GOAL_P99_MS:.0} ms"),
                met(ratio
                    .zip(p99)
                    .map(|(r, p)| r >= GOAL_RATIO && p < GOAL_P99_MS)),
            )
        } else {
            ("(diagnostic)".to_owned(), "")
        };
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {goal} | {ok} |",
            rate_cell(ours),
            latency_cell(ours, "p50_ms"),
            latency_cell(ours, "p99_ms"),
            rate_cell(theirs),
            latency_cell(theirs, "p50_ms"),
            latency_cell(theirs, "p99_ms"),
            ratio.map_or("n/a".to_owned(), |r| format!("{r:.1}×")),
        );
    }

    md.push_str("\n| Goal | Result | Met |\n|---|---:|---|\n");
    for (what, ours, theirs) in [
        ("Tokens/s", &f.ours_token, &f.peer_token),
        ("Introspections/s", &f.ours_introspect, &f.peer_introspect),
    ] {
        let ratio = field(ours, "rate")
            .zip(field(theirs, "rate"))
            .filter(|(_, t)| *t > 0.0)
            .map(|(o, t)| o / t);
        let p99 = field(ours, "p99_ms");
        let _ = writeln!(
            md,
            "| {what}, Portcullis / oidc-provider ≥ {GOAL_RATIO:.0} | {} | {} |",
            ratio.map_or("n/a".to_owned(), |r| format!("{r:.1}×")),
            met(ratio.map(|r| r >= GOAL_RATIO)),
        );
        let _ = writeln!(
            md,
            "| {what}, Portcullis p99 < {GOAL_P99_MS:.0} ms | {} | {} |",
            p99.map_or("n/a".to_owned(), ms),
            met(p99.map(|p| p < GOAL_P99_MS)),
        );
    }

    md.push_str("\n## Errors and notes\n\n");
    let mut clean = true;
    for (name, o) in [
        ("Portcullis tokens", &f.ours_token),
        ("Portcullis introspections", &f.ours_introspect),
        ("oidc-provider tokens (JWT)", &f.peer_token),
        ("oidc-provider introspections (opaque)", &f.peer_introspect),
        ("oidc-provider tokens (opaque)", &f.peer_token_opaque),
    ] {
        match o {
            Outcome::Failed(why) => {
                clean = false;
                let _ = writeln!(md, "- {name}: **not measured**: {why}");
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(md, "- {name}: skipped ({why})");
            }
            Outcome::Done(v) => {
                let n = errors(o).unwrap_or(0);
                if n > 0 {
                    clean = false;
                    let _ = writeln!(
                        md,
                        "- {name}: **{n} failed requests** of {} sent (non-2xx by status {}, \
                         transport errors {}, unexpected bodies {}); first: `{}`",
                        v.get("sent").unwrap_or(&Value::Null),
                        v.get("statuses").unwrap_or(&Value::Null),
                        v.get("transport_errors").unwrap_or(&Value::Null),
                        v.get("bad_body").unwrap_or(&Value::Null),
                        v.get("first_error").and_then(Value::as_str).unwrap_or(""),
                    );
                }
            }
        }
    }
    if clean {
        md.push_str(
            "- Every request succeeded: tokens answered 200 with an access token, \
             introspections 200 with `\"active\":true`.\n",
        );
    }
    let _ = writeln!(
        md,
        "- Introspection: each server first issued {} tokens (untimed), which the connections \
         then introspected round-robin. oidc-provider answers `unsupported_token_type` when asked \
         to introspect a JWT access token (by design), so for its introspection it was restarted \
         issuing opaque access tokens, kept in its memory; Portcullis introspected its EdDSA JWTs \
         (signature, expiry, revocation and client checked on every request).",
        number(POOL as f64),
    );
    md.push_str(
        "- oidc-provider runs its JavaScript on one thread: with in-memory storage one process \
         is the only correct set-up (a cluster of workers would need shared storage such as \
         Redis). Portcullis uses both cores; on this machine each shares them with the load \
         generator (one thread, bare HTTP/1.1 connections).\n",
    );
    if let Some(s) = f.settle_ours {
        let _ = writeln!(
            md,
            "- Portcullis was idle {s:.1} s after the token run, before introspection started."
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_parsed_plain_and_chunked() {
        let plain = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(plain).unwrap(), (201, b"{}".to_vec()));
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).unwrap(),
            (200, b"{\"a\":1}".to_vec())
        );
    }

    #[test]
    fn report_shows_ratios_and_goals() {
        let done = |rate: f64, p99: f64| {
            Outcome::Done(json!({
                "rate": rate, "p50_ms": p99 / 2.0, "p99_ms": p99, "sent": 10,
                "non_2xx": 0, "transport_errors": 0, "bad_body": 0
            }))
        };
        let figures = Figures {
            seconds: 10,
            ours_token: done(30_000.0, 5.0),
            ours_introspect: done(40_000.0, 12.0),
            peer_token: done(2_000.0, 40.0),
            peer_introspect: done(5_000.0, 20.0),
            peer_token_opaque: done(3_000.0, 30.0),
            node_version: Some("v20.20.2".to_owned()),
            settle_ours: Some(0.5),
        };
        let md = markdown(&figures);
        assert!(
            md.contains("| 30,000 | 2.50 ms | 5.00 ms | 2,000 | 20.0 ms | 40.0 ms | 15.0× | ≥ 10×, p99 < 10 ms | yes |"),
            "{md}"
        );
        // 8× and a p99 of 12 ms: both goals missed.
        assert!(
            md.contains("| 8.0× | ≥ 10×, p99 < 10 ms | **no** |"),
            "{md}"
        );
        assert!(md.contains("p99 < 10 ms | 12.0 ms | **no** |"), "{md}");
        assert!(md.contains("Every request succeeded"), "{md}");
    }
}
