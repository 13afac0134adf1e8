//! `cargo xtask schemathesis [-- ARG...]`: hostile input for the whole HTTP
//! API. schemathesis (PyPI) reads `/openapi.json`, generates requests for
//! every operation in it, valid and invalid, and checks every answer
//! against the document: no 5xx, only documented statuses and content
//! types, bodies that fit the documented schemas. docs/testing.md explains
//! the run and how to reproduce a failure.
//!
//! `cargo xtask test` runs it after the end-to-end suites (see
//! [`crate::test`]); `cargo xtask test schemathesis` runs it alone. `ARG`s go
//! to `st run` as they are (such as `--include-path-regex /rbac/` or
//! `--max-examples 5`); without any, the run must generate at least
//! [`MIN_CASES`] cases.
//!
//! Steps:
//! 1. A virtual environment in `target/schemathesis-venv` (`python3 -m
//!    venv`; Debian's `python3-venv` installed with apt-get when the module
//!    is missing) with schemathesis [`VERSION`] installed with pip.
//! 2. The server binary, `target/debug/portcullis` (see [`Build`]), started
//!    on a free loopback port with SQLite in a temporary directory, rate
//!    limits off (`PORTCULLIS_RATE_LIMITS=off`: the run's requests all come
//!    from 127.0.0.1 and would starve; the limiters stay in place, and the
//!    rate-limit policy a run sets through the API applies) and a random
//!    bootstrap administrator password.
//! 3. As the bootstrap administrator (`POST /api/v1/auth/login`): a
//!    confidential client for the run, whose service account is given every
//!    permission of the `realm-admin` role directly, and a scratch realm.
//! 4. `st run` with `xtask/schemathesis/schemathesis.toml` (seed, checks,
//!    examples per operation) and `xtask/schemathesis/hooks.py`, which
//!    authenticates each operation (a client_credentials token of that
//!    client; for the caller's own operations, an account of their own) and
//!    keeps the run from changing the credentials it runs with. Reports
//!    (JUnit, NDJSON) go to `target/schemathesis-report/`.
//! 5. The totals: the cases generated, the operations (each a test in
//!    `cargo xtask test`'s totals), what the hooks did, and whether the
//!    server's log holds a panic; then the server stops.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::bench::{admin_token, http_request};
pub use crate::e2e::Build;
use crate::e2e::Outcome;
use crate::process::{self, Job, TempDir, check_interrupted, tail, which, workspace_root};
use crate::server::{self, Server};
use crate::services::apt;
use crate::test::Counts;

/// The schemathesis release the run installs.
pub const VERSION: &str = "4.32.5";
/// The fewest cases a whole run may generate.
pub const MIN_CASES: u64 = 10_000;
/// The whole `st run` may take this long before it is stopped.
const RUN_TIMEOUT: Duration = Duration::from_secs(900);
/// The realm the run's tokens belong to (the server's default realm).
const REALM: &str = "main";
/// The realm that takes the changes the run would make to [`REALM`] itself.
const SCRATCH_REALM: &str = "schemathesis-scratch";
/// The User-Agent of every request of the run, logins included.
const USER_AGENT: &str = "portcullis-schemathesis";

/// `cargo xtask schemathesis [-- ARG...]`.
pub fn run(args: &[String]) -> Result<ExitCode> {
    crate::e2e::run_alone(args, suite)
}

/// Prepares everything, runs schemathesis once against a fresh server with
/// `st_args` added to `st run`, and stops the server. Each operation counts
/// as a test: passed when none of its cases failed.
pub fn suite(st_args: &[String], build: Build) -> Result<Outcome> {
    let st = ensure_schemathesis()?;
    check_interrupted()?;
    let binary = build_server(build)?;
    check_interrupted()?;

    let dir = TempDir::new("portcullis-schemathesis")?;
    let database_url = format!("sqlite://{}/portcullis.db", dir.path().display());
    let admin_password = format!("St-{}-Q7!", process::random_hex(12)?);
    eprintln!(
        "xtask: starting the server on SQLite in {}",
        dir.path().display()
    );
    let server = Server::start_logging(
        &binary,
        dir.path(),
        &database_url,
        &admin_password,
        "warn",
        None,
        &[("PORTCULLIS_RATE_LIMITS", "off")],
    )?;
    let setup = prepare(server.addr(), &admin_password).context("preparing the run")?;

    let report = process::target_dir().join("schemathesis-report");
    if report.exists() {
        std::fs::remove_dir_all(&report)
            .with_context(|| format!("removing {}", report.display()))?;
    }
    std::fs::create_dir_all(&report).with_context(|| format!("creating {}", report.display()))?;
    let stats = report.join("hooks-stats.json");
    let url = server::public_url(server.addr(), None);
    let config = workspace_root().join("xtask/schemathesis/schemathesis.toml");
    let hooks = workspace_root().join("xtask/schemathesis/hooks.py");
    let mut cmd = Command::new(&st);
    cmd.current_dir(&report)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{url}/openapi.json"))
        .args(["--no-color", "--report", "junit,ndjson", "--report-dir"])
        .arg(&report)
        .args(st_args)
        .stdin(Stdio::null())
        .env("SCHEMATHESIS_HOOKS", &hooks)
        // No __pycache__ beside hooks.py in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PORTCULLIS_URL", &url)
        .env("PORTCULLIS_REALM", REALM)
        .env("PORTCULLIS_FUZZ_SCRATCH_REALM", SCRATCH_REALM)
        .env("PORTCULLIS_FUZZ_PASSWORD", &setup.password)
        .env("PORTCULLIS_FUZZ_CLIENT_ID", &setup.client_id)
        .env("PORTCULLIS_FUZZ_CLIENT_SECRET", &setup.client_secret)
        .env("PORTCULLIS_FUZZ_PROTECTED", setup.protected.to_string())
        .env("PORTCULLIS_FUZZ_USER_AGENT", USER_AGENT)
        .env("PORTCULLIS_FUZZ_STATS", &stats);
    eprintln!(
        "xtask: running schemathesis {VERSION}: {} --config-file {} run {url}/openapi.json{}",
        st.display(),
        config.display(),
        st_args.iter().map(|a| format!(" {a}")).collect::<String>()
    );
    let started = Instant::now();
    let ran = run_streaming(&mut cmd);
    let elapsed = started.elapsed();

    let (exited_ok, output) = ran?;
    let cases = generated_cases(&output);
    let junit = junit_counts(&report);
    let hook_stats = std::fs::read_to_string(&stats)
        .ok()
        .and_then(|t| serde_json::from_str::<BTreeMap<String, u64>>(&t).ok())
        .unwrap_or_default();
    let server_log = std::fs::read_to_string(server.log()).unwrap_or_default();
    let panics = server_log
        .lines()
        .filter(|l| l.contains("panicked"))
        .count();

    eprintln!();
    eprintln!(
        "xtask: schemathesis {VERSION}: {} cases generated over {} operations in {:.0} s",
        cases.map_or_else(|| "?".to_owned(), |c| c.to_string()),
        junit.map_or(0, |c| c.passed + c.failed),
        elapsed.as_secs_f64()
    );
    for (what, n) in &hook_stats {
        eprintln!("xtask:   hooks: {what}: {n}");
    }
    eprintln!("xtask:   reports in {}", report.display());
    let mut counts = junit.unwrap_or(Counts {
        passed: 0,
        failed: 1,
        ignored: 0,
    });
    let mut ok = exited_ok && junit.is_some_and(|c| c.failed == 0);
    if panics > 0 {
        eprintln!("xtask: the server's log holds {panics} panic(s)");
        counts.failed += 1;
        ok = false;
    }
    if st_args.is_empty() && cases.is_none_or(|c| c < MIN_CASES) {
        eprintln!("xtask: a whole run must generate at least {MIN_CASES} cases");
        counts.failed += 1;
        ok = false;
    }
    if !ok {
        eprintln!(
            "--- server log ({}), last lines ---\n{}",
            server.log().display(),
            tail(server.log(), 6000)
        );
    }
    let stopped = server.stop();
    drop(dir);
    stopped.context("stopping the server")?;
    Ok(Outcome { counts, ok })
}

/// `target/schemathesis-venv/bin/st`, with schemathesis [`VERSION`]
/// installed: the environment is made when missing, and pip runs when the
/// installed version is another.
fn ensure_schemathesis() -> Result<PathBuf> {
    let venv = process::target_dir().join("schemathesis-venv");
    let python = venv.join("bin").join("python");
    let st = venv.join("bin").join("st");
    if !python.is_file() {
        let system = ensure_python_venv()?;
        eprintln!("xtask: creating a Python environment in {}", venv.display());
        process::run(Command::new(&system).args(["-m", "venv"]).arg(&venv))
            .context("python3 -m venv")?;
    }
    if installed_version(&python).as_deref() != Some(VERSION) || !st.is_file() {
        eprintln!("xtask: installing schemathesis {VERSION} with pip");
        process::run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(format!("schemathesis=={VERSION}")),
        )
        .context("pip install schemathesis (is PyPI reachable?)")?;
    }
    Ok(st)
}

/// The `python3` that can make a virtual environment, installing Debian's
/// `python3-venv` (and `python3`) when it cannot.
pub(crate) fn ensure_python_venv() -> Result<PathBuf> {
    let can_venv = |python: &Path| {
        process::succeeds(Command::new(python).args(["-c", "import venv, ensurepip"]))
    };
    if let Some(python) = which("python3")
        && can_venv(&python)
    {
        return Ok(python);
    }
    apt::ensure_packages(
        &["python3", "python3-venv"],
        "the schemathesis run needs Python's venv module, which is not installed",
    )?;
    let python = which("python3").context("python3 was installed, but is not on PATH")?;
    if !can_venv(&python) {
        bail!(
            "{} still cannot make a virtual environment (import venv, ensurepip)",
            python.display()
        );
    }
    Ok(python)
}

/// The schemathesis version installed for `python`, if any.
fn installed_version(python: &Path) -> Option<String> {
    let out = Command::new(python)
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('schemathesis'))",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Builds the server binary as `build` says; its path.
pub(crate) fn build_server(build: Build) -> Result<PathBuf> {
    let args: &[&str] = match build {
        Build::ServerOnly => &["build", "-p", "portcullis-server"],
        Build::AsCargoTest => &["test", "--workspace", "--all-targets", "--no-run"],
    };
    eprintln!("xtask: building the server (cargo {})", args.join(" "));
    process::run(process::cargo().args(args))?;
    let binary = process::target_dir().join("debug").join("portcullis");
    if !binary.is_file() {
        bail!("{} was not built", binary.display());
    }
    Ok(binary)
}

/// What the bootstrap administrator made for the run.
struct Setup {
    client_id: String,
    client_secret: String,
    /// The password of every account the hooks create.
    password: String,
    /// Values no changing request of the run may name: the client's id and
    /// client_id, and its service account's id.
    protected: Value,
}

/// Logs in as the bootstrap administrator and makes the run's client (its
/// service account holding every permission of `realm-admin`) and the
/// scratch realm.
fn prepare(addr: SocketAddr, admin_password: &str) -> Result<Setup> {
    let token = admin_token(addr, admin_password)?;
    let bearer = Some(token.as_str());
    let client_id = format!("schemathesis-{}", process::random_hex(8)?);
    let new_client = json!({
        "name": "schemathesis",
        "client_id": client_id,
        "grant_types": ["client_credentials"],
    });
    let client = expect(
        http(addr, "POST", "/api/v1/clients", bearer, Some(&new_client))?,
        201,
        "creating the run's client",
    )?;
    let text = |v: &Value, key: &str| -> Result<String> {
        v.get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("no {key} in {v}"))
    };
    let service_account = text(&client, "service_account_id")?;
    let role = expect(
        http(addr, "GET", "/api/v1/rbac/roles/realm-admin", bearer, None)?,
        200,
        "reading the realm-admin role",
    )?;
    let permissions = role
        .get("permissions")
        .and_then(Value::as_array)
        .context("the realm-admin role has no permissions")?;
    for permission in permissions {
        let path = format!("/api/v1/rbac/users/{service_account}/permissions");
        let grant = json!({"permission": permission});
        expect(
            http(addr, "POST", &path, bearer, Some(&grant))?,
            201,
            "granting a permission to the run's service account",
        )?;
    }
    let scratch = json!({"name": SCRATCH_REALM});
    expect(
        http(addr, "POST", "/api/v1/realms", bearer, Some(&scratch))?,
        201,
        "creating the scratch realm",
    )?;
    Ok(Setup {
        client_secret: text(&client, "client_secret")?,
        protected: json!([text(&client, "id")?, client_id, service_account]),
        client_id,
        password: format!("St-{}-Q7!", process::random_hex(12)?),
    })
}

/// The body of an answer with status `want`, or an error naming `what`.
pub(crate) fn expect(answer: (u16, Value), want: u16, what: &str) -> Result<Value> {
    let (status, body) = answer;
    if status != want {
        bail!("{what}: status {status}, not {want}: {body}");
    }
    Ok(body)
}

/// `method path` with a JSON body (or none) and a bearer token.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value)> {
    let body = body.map(Value::to_string).unwrap_or_default();
    http_request(addr, method, path, bearer, &body)
}

/// Runs `cmd` as a job, its standard output printed as it comes and kept;
/// whether it succeeded. Stopped after [`RUN_TIMEOUT`].
fn run_streaming(cmd: &mut Command) -> Result<(bool, String)> {
    cmd.stdout(Stdio::piped());
    let mut job = Job::spawn("st run", cmd)?;
    let stdout = job
        .child_mut()
        .stdout
        .take()
        .context("st run's piped stdout")?;
    let kept = Arc::new(Mutex::new(String::new()));
    let reader = {
        let kept = Arc::clone(&kept);
        thread::spawn(move || {
            let mut out = std::io::stdout();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // A closed stdout (e.g. `| head`) must not stop the run.
                let _ = writeln!(out, "{line}").and_then(|()| out.flush());
                if let Ok(mut text) = kept.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        })
    };
    let deadline = Instant::now() + RUN_TIMEOUT;
    let ok = loop {
        if let Some(status) = job.try_wait()? {
            break status.success();
        }
        if Instant::now() > deadline {
            eprintln!("xtask: schemathesis ran over {RUN_TIMEOUT:?}: stopping it");
            job.terminate(Duration::from_secs(5))?;
            break false;
        }
        thread::sleep(Duration::from_millis(100));
    };
    // The pipe closes once st and its children have exited.
    let _ = reader.join();
    let text = kept.lock().map(|t| t.clone()).unwrap_or_default();
    Ok((ok, text))
}

/// The cases of the closing summary: `  13571 generated, 13571 passed`
/// under `Test cases:`.
fn generated_cases(output: &str) -> Option<u64> {
    let mut lines = output.lines().skip_while(|l| l.trim() != "Test cases:");
    lines.next()?;
    let line = lines.next()?;
    let (number, rest) = line.trim().split_once(' ')?;
    rest.starts_with("generated")
        .then(|| number.replace(',', "").parse().ok())
        .flatten()
}

/// Operations passed and failed (with errors) from the JUnit report in
/// `dir` (`junit-*.xml`; its `<testsuites tests= failures= errors=>`).
fn junit_counts(dir: &Path) -> Option<Counts> {
    let file = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| n.starts_with("junit") && n.ends_with(".xml"))
        })?;
    parse_junit(&std::fs::read_to_string(file).ok()?)
}

/// The counts of a JUnit report's `<testsuites>` element.
fn parse_junit(text: &str) -> Option<Counts> {
    let start = text.find("<testsuites")?;
    let element = text.get(start..)?.split('>').next()?;
    let attr = |name: &str| -> Option<u64> {
        let key = format!(" {name}=\"");
        let at = element.find(&key)? + key.len();
        element.get(at..)?.split('"').next()?.parse().ok()
    };
    let tests = attr("tests")?;
    let failed = attr("failures")? + attr("errors").unwrap_or(0);
    let ignored = attr("skipped").unwrap_or(0);
    Some(Counts {
        passed: tests.saturating_sub(failed + ignored),
        failed,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_cases() {
        let out = "Warnings:\n  x\n\nTest cases:\n  13571 generated, 13571 passed\n\nSeed: 1\n";
        assert_eq!(generated_cases(out), Some(13571));
        let failed = "Test cases:\n  2031 generated, 210 found 210 unique failures\n";
        assert_eq!(generated_cases(failed), Some(2031));
        assert_eq!(generated_cases("Test cases:\n  nothing\n"), None);
        assert_eq!(generated_cases("no summary"), None);
    }

    #[test]
    fn junit_totals() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites errors="1" failures="2" skipped="3" tests="260" time="641.2">
  <testsuite name="schemathesis" errors="1" failures="2" skipped="3" tests="260">"#;
        assert_eq!(
            parse_junit(xml),
            Some(Counts {
                passed: 254,
                failed: 3,
                ignored: 3
            })
        );
        assert_eq!(parse_junit("<testsuite tests=\"1\">"), None);
    }
}
