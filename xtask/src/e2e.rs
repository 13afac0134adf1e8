//! The end-to-end suites in `e2e/`: black-box tests of the real server binary
//! with clients nobody here wrote (openid-client, headless Chromium driven by
//! playwright-core), run by Node's built-in test runner.
//!
//! `cargo xtask e2e [-- PATTERN...]` runs only this suite (each `PATTERN` is
//! a `--test-name-pattern`, a regular expression on test names).
//! `cargo xtask test` runs it after the cargo suites; `cargo xtask test e2e
//! [PATTERN...]` runs it alone (see [`crate::test`]).
//!
//! Steps, each done only when needed:
//! 1. `node` and `npm`: Debian's `nodejs` and `npm` packages with apt-get
//!    when missing; Node.js 18 or newer is required.
//! 2. Chromium: `$CHROMIUM_PATH` if set, else `/usr/bin/chromium`, installing
//!    Debian's `chromium` package when it is missing.
//! 3. `npm ci` in `e2e/` when `node_modules` is missing or older than
//!    `package-lock.json` or `package.json`.
//! 4. The server binary, `target/debug/portcullis` (see [`Build`]).
//! 5. The mail sink, `node e2e/lib/mail-sink.mjs` (see [`MailSink`]): an
//!    SMTP server on a free loopback port that keeps what it receives, and
//!    an HTTP inbox where the suites read it.
//! 6. `portcullis serve` on a free loopback port with SQLite in a temporary
//!    directory, a public URL of `http://localhost:{port}` (WebAuthn refuses
//!    IP addresses as relying parties; `localhost` is a secure context for
//!    Chromium), a random bootstrap administrator password, and the sink as
//!    its SMTP server (`PORTCULLIS_SMTP_URL=smtp://127.0.0.1:{port}`).
//! 7. `node --test` on `e2e/tests/*.test.mjs` with the spec reporter on
//!    standard output and TAP in a file, whose closing counts are the
//!    suite's; the tests get `PORTCULLIS_URL`, `PORTCULLIS_ADMIN_EMAIL`,
//!    `PORTCULLIS_ADMIN_PASSWORD`, `PORTCULLIS_REALM`, `CHROMIUM_PATH` and
//!    `PORTCULLIS_E2E_MAIL_URL` (the sink's inbox).
//! 8. The server and the sink stop (their logs' tails printed when
//!    something failed) and the temporary directory is removed.
//!
//! A suite may start servers of its own on free loopback ports for as long
//! as its file runs: `tests/federation.test.mjs` starts an upstream OpenID
//! Provider (oidc-provider, `lib/upstream-provider.mjs`) and registers it as
//! an identity provider. oidc-provider needs Node.js 20.12 or newer; on an
//! older Node.js that suite is skipped.

use std::ffi::OsString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, Result, bail};

use crate::process::{self, Job, TempDir, check_interrupted, tail, which, workspace_root};
use crate::server::{self, Server};
use crate::services::apt;

/// The host of the server's public URL in the end-to-end suites.
const PUBLIC_HOST: &str = "localhost";
use crate::test::Counts;

/// The realm the server creates on first start (`default_realm`).
const REALM: &str = "main";
/// Where Debian's `chromium` package puts the browser.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";
/// The oldest Node.js the suite's packages support (`engines` in
/// `e2e/package.json`) and whose test runner has reporter destinations.
const MIN_NODE: (u32, u32) = (18, 15);
/// The whole `node --test` run may take this long before it is stopped.
const RUN_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the mail sink may take to listen.
const SINK_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The From address of the server's mail in the suites.
const SMTP_FROM: &str = "Portcullis E2E <noreply@portcullis.test>";

/// How the server binary is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Build {
    /// `cargo build -p portcullis-server`: the least to build when only this
    /// suite runs.
    ServerOnly,
    /// `cargo test --workspace --all-targets --no-run`, which also builds
    /// the binary (the server's integration tests run it): nothing to do
    /// right after the cargo suites, and the same dependency features as
    /// theirs, so no second copy of every dependency in `target/`.
    AsCargoTest,
}

/// What one run of the suite found.
pub struct Outcome {
    /// Test counts from the TAP summary.
    pub counts: Counts,
    /// Whether `node --test` exited successfully with no failed test.
    pub ok: bool,
}

/// `cargo xtask e2e [-- PATTERN...]`.
pub fn run(args: &[String]) -> Result<ExitCode> {
    run_alone(args, suite)
}

/// Runs one suite on its own (`cargo xtask e2e`, `cargo xtask
/// schemathesis`): its arguments with or without a leading `--`, the
/// server built alone, the closing `N passed, N failed` line.
pub fn run_alone(
    args: &[String],
    suite: fn(&[String], Build) -> Result<Outcome>,
) -> Result<ExitCode> {
    let args: Vec<String> = match args.split_first() {
        Some((first, rest)) if first == "--" => rest.to_vec(),
        _ => args.to_vec(),
    };
    process::install_signal_handler()?;
    let outcome = suite(&args, Build::ServerOnly)?;
    println!();
    println!("{}", outcome.counts.summary());
    check_interrupted()?;
    Ok(if outcome.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prepares everything the suite needs, runs it once against a fresh
/// server, and stops the server. Test names matching any of `patterns` run
/// (all when empty).
pub fn suite(patterns: &[String], build: Build) -> Result<Outcome> {
    let e2e = workspace_root().join("e2e");
    let tests = test_files(&e2e.join("tests"))?;
    let node = ensure_node()?;
    let chromium = ensure_chromium()?;
    check_interrupted()?;
    ensure_node_modules(&e2e)?;
    check_interrupted()?;

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
    check_interrupted()?;

    let dir = TempDir::new("portcullis-e2e")?;
    let sink = MailSink::start(&node, &e2e, dir.path())?;
    let smtp_url = format!("smtp://{}", sink.smtp_addr());
    let database_url = format!("sqlite://{}/portcullis.db", dir.path().display());
    // Random, and free of the e-mail's local part, which the server refuses.
    let admin_password = format!("E2e-{}-Q7!", process::random_hex(12)?);
    eprintln!(
        "xtask: starting the server on SQLite in {}",
        dir.path().display()
    );
    let server = Server::start_logging(
        &binary,
        dir.path(),
        &database_url,
        &admin_password,
        "info",
        Some(PUBLIC_HOST),
        &[
            ("PORTCULLIS_SMTP_URL", &smtp_url),
            ("PORTCULLIS_SMTP_FROM", SMTP_FROM),
            // Every suite signs in from 127.0.0.1 again and again: the
            // limiters have their own tests (the HTTP suite), not these.
            ("PORTCULLIS_RATE_LIMITS", "off"),
        ],
    )?;
    let url = server::public_url(server.addr(), Some(PUBLIC_HOST));
    eprintln!("xtask: server ready at {url}; running the end-to-end suite");

    let tap = dir.path().join("results.tap");
    let mut cmd = Command::new(node);
    cmd.current_dir(&e2e)
        .arg("--test")
        .args(["--test-reporter=spec", "--test-reporter-destination=stdout"])
        .arg("--test-reporter=tap")
        .arg(concat_os("--test-reporter-destination=", tap.as_os_str()))
        .args(patterns.iter().map(|p| format!("--test-name-pattern={p}")))
        .args(&tests)
        .stdin(Stdio::null())
        .env("PORTCULLIS_URL", &url)
        .env("PORTCULLIS_ADMIN_EMAIL", server::ADMIN_EMAIL)
        .env("PORTCULLIS_ADMIN_PASSWORD", &admin_password)
        .env("PORTCULLIS_REALM", REALM)
        .env("CHROMIUM_PATH", &chromium)
        .env("PORTCULLIS_E2E_MAIL_URL", sink.inbox_url());
    let ran = run_with_timeout(&mut cmd);
    let counts = std::fs::read_to_string(&tap)
        .map(|text| parse_tap(&text))
        .unwrap_or_default();
    let ok = matches!(ran, Ok(true)) && counts.failed == 0;
    if !ok {
        if let Ok(text) = std::fs::read_to_string(&tap) {
            let failed = failed_tests(&text);
            if !failed.is_empty() {
                eprintln!("xtask: end-to-end tests that failed:");
                for name in failed {
                    eprintln!("    {name}");
                }
            }
        }
        eprintln!(
            "--- server log ({}), last lines ---\n{}",
            server.log().display(),
            tail(server.log(), 6000)
        );
        eprintln!(
            "--- mail sink log ({}), last lines ---\n{}",
            sink.log().display(),
            tail(sink.log(), 2000)
        );
    }
    let stopped = server.stop();
    let sink_stopped = sink.stop();
    drop(dir);
    let ran = ran?;
    stopped.context("stopping the server")?;
    sink_stopped.context("stopping the mail sink")?;
    if !ran && counts.failed == 0 && !process::interrupted() {
        eprintln!(
            "xtask: node --test failed without a failed test (a test file that does not load? see above)"
        );
    }
    Ok(Outcome { counts, ok })
}

/// The suites' SMTP sink: `node e2e/lib/mail-sink.mjs READY_FILE`, an SMTP
/// server (smtp-server, from the Nodemailer project) and an HTTP inbox on
/// free loopback ports, which it writes to `READY_FILE` once it listens.
///
/// xtask owns it, as it owns the server: the server has one SMTP URL for
/// the whole run, while `node --test` runs each test file in a process of
/// its own, in parallel, so a sink started by a test file would not outlive
/// it, and two files could not listen on the same port. The suites read
/// the mail from the inbox (`e2e/lib/mail.mjs`), waiting for a message with
/// a long-polling request rather than by polling.
struct MailSink {
    job: Job,
    smtp: SocketAddr,
    inbox: SocketAddr,
    log: PathBuf,
}

impl MailSink {
    /// Starts the sink with its ready file and log in `dir`, and waits until
    /// it listens.
    fn start(node: &Path, e2e: &Path, dir: &Path) -> Result<Self> {
        let ready = dir.join("mail-sink.json");
        let log = dir.join("mail-sink.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file")?;
        let mut cmd = Command::new(node);
        cmd.current_dir(e2e)
            .arg(e2e.join("lib").join("mail-sink.mjs"))
            .arg(&ready)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut job = Job::spawn("the mail sink", &mut cmd)?;
        let deadline = Instant::now() + SINK_READY_TIMEOUT;
        let ports = loop {
            check_interrupted()?;
            if let Ok(text) = std::fs::read_to_string(&ready) {
                break serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| Some((port_of(&v, "smtp_port")?, port_of(&v, "http_port")?)));
            }
            if let Some(status) = job.try_wait()? {
                bail!(
                    "the mail sink exited during start-up: {status}\n{}",
                    tail(&log, 2000)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the mail sink did not listen within {SINK_READY_TIMEOUT:?}\n{}",
                    tail(&log, 2000)
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let (smtp, inbox) =
            ports.with_context(|| format!("{} is not as expected", ready.display()))?;
        let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Ok(Self {
            job,
            smtp: at(smtp),
            inbox: at(inbox),
            log,
        })
    }

    /// Where the SMTP server listens.
    fn smtp_addr(&self) -> SocketAddr {
        self.smtp
    }

    /// `http://127.0.0.1:{port}`, the inbox the suites read.
    fn inbox_url(&self) -> String {
        format!("http://{}", self.inbox)
    }

    /// The file that holds the sink's output.
    fn log(&self) -> &Path {
        &self.log
    }

    /// Stops the sink (SIGTERM, then SIGKILL after a grace period).
    fn stop(mut self) -> Result<()> {
        self.job.terminate(Duration::from_secs(5))
    }
}

/// A port number under `key` in the sink's ready file.
fn port_of(value: &serde_json::Value, key: &str) -> Option<u16> {
    value
        .get(key)?
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
}

/// `e2e/tests/*.test.mjs`, sorted.
fn test_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.to_string_lossy().ends_with(".test.mjs") {
            files.push(path);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("no *.test.mjs in {}", dir.display());
    }
    Ok(files)
}

/// Runs `cmd` as a job with inherited output; whether it succeeded. Stopped
/// after [`RUN_TIMEOUT`].
fn run_with_timeout(cmd: &mut Command) -> Result<bool> {
    let mut job = Job::spawn("node --test", cmd)?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        if let Some(status) = job.try_wait()? {
            return Ok(status.success());
        }
        if Instant::now() > deadline {
            eprintln!("xtask: the end-to-end suite ran over {RUN_TIMEOUT:?}: stopping it");
            job.terminate(Duration::from_secs(5))?;
            return Ok(false);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The `node` binary, installing Debian's `nodejs` and `npm` when either
/// command is missing. Fails when Node.js is too old for the suite.
fn ensure_node() -> Result<PathBuf> {
    let missing: Vec<&str> = [("node", "nodejs"), ("npm", "npm")]
        .into_iter()
        .filter(|(command, _)| which(command).is_none())
        .map(|(_, package)| package)
        .collect();
    if !missing.is_empty() {
        apt::ensure_packages(
            &missing,
            "the end-to-end suite needs Node.js and npm, which are not installed",
        )?;
    }
    let node = which("node").context("Node.js was installed, but `node` is not on PATH")?;
    which("npm").context("npm was installed, but `npm` is not on PATH")?;
    let out = Command::new(&node)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {} --version", node.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    match parse_node_version(&version) {
        Some(found) if found >= MIN_NODE => Ok(node),
        _ => bail!(
            "the end-to-end suite needs Node.js {}.{} or newer; {} is {version:?}",
            MIN_NODE.0,
            MIN_NODE.1,
            node.display()
        ),
    }
}

/// `v20.20.2` -> `(20, 20)`.
fn parse_node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().strip_prefix('v')?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The Chromium binary: `$CHROMIUM_PATH` when set (never installed), else
/// Debian's, installed when missing.
fn ensure_chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("CHROMIUM_PATH is {}, which is not a file", path.display());
        }
        return Ok(path);
    }
    let path = PathBuf::from(DEBIAN_CHROMIUM);
    if !path.is_file() {
        apt::ensure_packages(
            &["chromium"],
            "the end-to-end suite needs Chromium, which is not installed",
        )?;
        if !path.is_file() {
            bail!("chromium was installed, but there is no {DEBIAN_CHROMIUM}");
        }
    }
    Ok(path)
}

/// `npm ci` in `e2e/` unless `node_modules` is newer than the manifest and
/// the lock file.
fn ensure_node_modules(e2e: &Path) -> Result<()> {
    let installed = modified(&e2e.join("node_modules").join(".package-lock.json"));
    let wanted = [e2e.join("package-lock.json"), e2e.join("package.json")]
        .iter()
        .filter_map(|p| modified(p))
        .max();
    let fresh = match (installed, wanted) {
        (Some(installed), Some(wanted)) => installed >= wanted,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    eprintln!("xtask: installing the end-to-end suite's packages (npm ci in e2e/)");
    let mut cmd = Command::new("npm");
    cmd.current_dir(e2e)
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .env("NPM_CONFIG_UPDATE_NOTIFIER", "false");
    process::run(&mut cmd).context("npm ci in e2e/ (is the npm registry reachable?)")
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn concat_os(prefix: &str, value: &std::ffi::OsStr) -> OsString {
    let mut arg = OsString::from(prefix);
    arg.push(value);
    arg
}

/// The closing counts of Node's TAP reporter (`# pass N`, `# fail N`,
/// `# cancelled N`, `# skipped N`, `# todo N`, unindented). Cancelled tests
/// count as failed, to-do ones as skipped.
fn parse_tap(text: &str) -> Counts {
    let mut counts = Counts::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(what), Some(number), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<u64>() else {
            continue;
        };
        match what {
            "pass" => counts.passed += number,
            "fail" | "cancelled" => counts.failed += number,
            "skipped" | "todo" => counts.ignored += number,
            _ => {}
        }
    }
    counts
}

/// The names of the failed tests and suites in a TAP report (`not ok N -
/// NAME`, at any depth, except to-do ones), indented as nested.
fn failed_tests(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            let rest = trimmed.strip_prefix("not ok ")?;
            let name = rest.split_once(" - ").map_or(rest, |(_, name)| name);
            if name.contains(" # TODO") {
                return None;
            }
            Some(format!(
                "{}{}",
                " ".repeat(indent),
                name.replace("\\#", "#")
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAP: &str = "TAP version 13
# Subtest: oidc
    # Subtest: code flow
    not ok 1 - code flow
      ---
      duration_ms: 10
      ...
    ok 2 - discovery # SKIP not built
    1..2
not ok 1 - oidc
  ---
  ...
ok 2 - chromium \\# smoke
1..2
# tests 3
# suites 1
# pass 1
# fail 1
# cancelled 1
# skipped 1
# todo 2
# duration_ms 812.5
";

    #[test]
    fn tap_summary_counts() {
        let counts = parse_tap(TAP);
        assert_eq!(
            counts,
            Counts {
                passed: 1,
                failed: 2,
                ignored: 3
            }
        );
        assert_eq!(parse_tap("garbage\n# duration_ms 3"), Counts::default());
    }

    #[test]
    fn failed_test_names() {
        assert_eq!(failed_tests(TAP), vec!["    code flow", "oidc"]);
    }

    #[test]
    fn node_versions() {
        assert_eq!(parse_node_version("v20.20.2\n"), Some((20, 20)));
        assert_eq!(parse_node_version("v18.20.4"), Some((18, 20)));
        assert!(parse_node_version("v18.20.4").is_some_and(|v| v >= MIN_NODE));
        assert!(parse_node_version("v18.13.0").is_some_and(|v| v < MIN_NODE));
        assert_eq!(parse_node_version("20"), None);
    }
}
