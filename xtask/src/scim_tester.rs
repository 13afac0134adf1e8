//! `cargo xtask scim`: the SCIM 2.0 service checked by scim2-tester (PyPI,
//! by Yaal Coop), a compliance tester nobody here wrote. It reads the
//! realm's `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas`, then
//! creates, reads, lists, searches, replaces, patches (add, remove,
//! replace, attribute by attribute) and deletes Users and Groups filled
//! with random values, and checks every answer against RFC 7643/7644.
//!
//! `cargo xtask test` runs it after schemathesis; each check counts as a
//! test. Steps:
//! 1. A virtual environment in `target/scim-tester-venv` with scim2-tester
//!    [`VERSION`] and scim2-client's httpx2 engine, installed with pip
//!    (Debian's `python3-venv` with apt-get when missing).
//! 2. The server binary on a free loopback port, SQLite in a temporary
//!    directory.
//! 3. As the bootstrap administrator: a confidential client whose service
//!    account holds `scim:provision:all`, and its client_credentials token.
//! 4. `xtask/scim/check.py` (`scim2_tester.check_server`), one JSON line per
//!    check; an `ERROR` or `CRITICAL` check fails the run.

use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::bench::admin_token;
use crate::e2e::{Build, Outcome};
use crate::process::{self, TempDir, check_interrupted, workspace_root};
use crate::schemathesis::{build_server, ensure_python_venv, expect, http};
use crate::server::{self, Server};
use crate::test::Counts;

/// The scim2-tester release the run installs.
pub const VERSION: &str = "0.5.2";
/// The scim2-client release (its httpx2 engine) the run installs.
const CLIENT_VERSION: &str = "0.13.2";

/// `cargo xtask scim`.
pub fn run(args: &[String]) -> Result<ExitCode> {
    crate::e2e::run_alone(args, suite)
}

/// Installs the tester, starts a server, runs every check once.
pub fn suite(_args: &[String], build: Build) -> Result<Outcome> {
    let python = ensure_tester()?;
    check_interrupted()?;
    let binary = build_server(build)?;
    check_interrupted()?;
    let dir = TempDir::new("portcullis-scim")?;
    let database_url = format!("sqlite://{}/portcullis.db", dir.path().display());
    let admin_password = format!("Sc-{}-Q7!", process::random_hex(12)?);
    let server = Server::start_logging(
        &binary,
        dir.path(),
        &database_url,
        &admin_password,
        "warn",
        None,
        &[("PORTCULLIS_RATE_LIMITS", "off")],
    )?;
    let addr = server.addr();
    let token = admin_token(addr, &admin_password)?;
    let bearer = Some(token.as_str());
    let client = expect(
        http(
            addr,
            "POST",
            "/api/v1/clients",
            bearer,
            Some(&json!({"name": "scim2-tester", "client_id": "scim2-tester"})),
        )?,
        201,
        "creating the provisioning client",
    )?;
    let field = |key: &str| -> Result<String> {
        client
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("no {key} in {client}"))
    };
    let (sa, secret) = (field("service_account_id")?, field("client_secret")?);
    expect(
        http(
            addr,
            "POST",
            &format!("/api/v1/rbac/users/{sa}/permissions"),
            bearer,
            Some(&json!({"permission": "scim:provision:all"})),
        )?,
        201,
        "granting scim:provision:all",
    )?;
    let url = server::public_url(addr, None);
    let out = Command::new(&python)
        .arg(workspace_root().join("xtask/scim/check.py"))
        .env("PORTCULLIS_SCIM_URL", format!("{url}/scim/v2/realms/main"))
        .env(
            "PORTCULLIS_SCIM_TOKEN_URL",
            format!("{url}/realms/main/oauth2/token"),
        )
        .env("PORTCULLIS_SCIM_CLIENT_ID", "scim2-tester")
        .env("PORTCULLIS_SCIM_CLIENT_SECRET", &secret)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running xtask/scim/check.py")?;
    let mut counts = Counts::default();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(check) = serde_json::from_str::<Value>(line) else {
            println!("{line}");
            continue;
        };
        let status = check.get("status").and_then(Value::as_str).unwrap_or("?");
        let title = check.get("title").and_then(Value::as_str).unwrap_or("?");
        let reason = check.get("reason").and_then(Value::as_str).unwrap_or("");
        match status {
            "ERROR" | "CRITICAL" => {
                counts.failed += 1;
                println!("scim2-tester {title} ... FAILED: {reason}");
            }
            "SKIPPED" => counts.ignored += 1,
            _ => {
                counts.passed += 1;
                println!("scim2-tester {title} ... ok ({status})");
            }
        }
    }
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let panicked = log.contains("panicked");
    if panicked {
        eprintln!("xtask: the server panicked during the SCIM run (see its log)");
    }
    println!(
        "scim2-tester {VERSION}: {} passed; {} failed; {} skipped",
        counts.passed, counts.failed, counts.ignored
    );
    let ok = out.status.success() && counts.failed == 0 && counts.passed > 0 && !panicked;
    drop(server);
    Ok(Outcome { counts, ok })
}

/// The environment's `python`, with scim2-tester installed.
fn ensure_tester() -> Result<std::path::PathBuf> {
    let venv = process::target_dir().join("scim-tester-venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        let system = ensure_python_venv()?;
        eprintln!("xtask: creating a Python environment in {}", venv.display());
        process::run(Command::new(&system).args(["-m", "venv"]).arg(&venv))
            .context("python3 -m venv")?;
    }
    let installed = process::succeeds(Command::new(&python).args([
        "-c",
        &format!(
            "import importlib.metadata as m, sys; sys.exit(m.version('scim2-tester') != '{VERSION}')"
        ),
    ]));
    if !installed {
        eprintln!("xtask: installing scim2-tester {VERSION} with pip");
        process::run(
            Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .arg(format!("scim2-tester=={VERSION}"))
                .arg(format!("scim2-client[httpx2]=={CLIENT_VERSION}")),
        )
        .context("pip install scim2-tester (is PyPI reachable?)")?;
    }
    if !python.is_file() {
        bail!("{} was not created", python.display());
    }
    Ok(python)
}
