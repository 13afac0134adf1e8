//! `cargo xtask test [-- FILTER...]`: every test of the workspace, against
//! real services started for the run.
//!
//! Suites run in order: `cargo test --workspace --all-targets`, then the doc
//! tests (both against a throwaway PostgreSQL and Redis, stopped after them), then the
//! end-to-end suites in `e2e/` against the real server binary (see
//! [`crate::e2e`]: Node.js, Chromium and the npm packages are installed when
//! missing), then the schemathesis run against it (see
//! [`crate::schemathesis`]: each operation of the API document counts as a
//! test). The closing line adds up all of them: `N passed, N failed`.
//!
//! Filters: without any, everything runs. Filters go to `cargo test` and
//! select among the cargo suites only: the end-to-end suite, which builds and
//! starts the server and a browser, and the schemathesis run are left out
//! then. The filter `schemathesis` runs that alone (the other filters given
//! with it go to `st run`). The filter `e2e`
//! selects the end-to-end suite alone (no cargo suite, no PostgreSQL); the
//! other filters given with it are `--test-name-pattern`s of Node's test
//! runner (`cargo xtask test e2e consent` runs the end-to-end tests whose
//! names match `consent`). `cargo xtask e2e` is the same as `cargo xtask test
//! e2e`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{ExitCode, Stdio};

use anyhow::{Context as _, Result};

use crate::e2e;
use crate::process::{self, Job, check_interrupted, interrupted};
use crate::schemathesis;
use crate::scim_tester;
use crate::services::{Kind, Services};

/// The services every test run starts.
const SERVICES: &[Kind] = &[Kind::Postgres, Kind::Redis];

/// Runs the tests; `args` are test filters (and libtest options), with or
/// without a leading `--`.
pub fn run(args: &[String]) -> Result<ExitCode> {
    let filters: Vec<String> = match args.split_first() {
        Some((first, rest)) if first == "--" => rest.to_vec(),
        _ => args.to_vec(),
    };
    if filters.iter().any(|f| f == "schemathesis") {
        let args: Vec<String> = filters
            .into_iter()
            .filter(|f| f != "schemathesis")
            .collect();
        return schemathesis::run(&args);
    }
    if filters.iter().any(|f| f == "e2e") {
        let patterns: Vec<String> = filters.into_iter().filter(|f| f != "e2e").collect();
        return e2e::run(&patterns);
    }
    process::install_signal_handler()?;

    let mut services = Services::start(SERVICES)?;
    let env = services.env();

    let suites: [(&str, &[&str]); 2] = [
        ("unit and integration tests", &["--all-targets"]),
        ("doc tests", &["--doc"]),
    ];
    let mut totals = Counts::default();
    let mut failures = Vec::new();
    for (label, target_args) in suites {
        if interrupted() {
            break;
        }
        eprintln!("xtask: running {label}");
        let mut cmd = process::cargo();
        cmd.args(["test", "--workspace", "--no-fail-fast"])
            .args(target_args)
            .arg("--")
            .args(&filters)
            .envs(env.iter().map(|(k, v)| (k, v)));
        let (ok, counts) = cargo_test(&mut cmd, label)?;
        totals.add(counts);
        if !ok {
            failures.push(label);
        }
    }

    let stopped = services.stop();
    let mut e2e_failed = false;
    if filters.is_empty() && !interrupted() && stopped.is_ok() {
        eprintln!("xtask: running end-to-end tests");
        match e2e::suite(&[], e2e::Build::AsCargoTest) {
            Ok(outcome) => {
                totals.add(outcome.counts);
                e2e_failed = !outcome.ok;
            }
            Err(err) => {
                eprintln!("xtask: the end-to-end suite could not run: {err:#}");
                e2e_failed = true;
            }
        }
    }
    let mut schemathesis_failed = false;
    if filters.is_empty() && !interrupted() && stopped.is_ok() {
        eprintln!("xtask: running schemathesis");
        match schemathesis::suite(&[], schemathesis::Build::AsCargoTest) {
            Ok(outcome) => {
                totals.add(outcome.counts);
                schemathesis_failed = !outcome.ok;
            }
            Err(err) => {
                eprintln!("xtask: the schemathesis run could not run: {err:#}");
                totals.failed += 1;
                schemathesis_failed = true;
            }
        }
    }
    let mut scim_failed = false;
    if filters.is_empty() && !interrupted() && stopped.is_ok() {
        eprintln!("xtask: running scim2-tester");
        match scim_tester::suite(&[], schemathesis::Build::AsCargoTest) {
            Ok(outcome) => {
                totals.add(outcome.counts);
                scim_failed = !outcome.ok;
            }
            Err(err) => {
                eprintln!("xtask: the SCIM compliance run could not run: {err:#}");
                totals.failed += 1;
                scim_failed = true;
            }
        }
    }
    println!();
    println!("{}", totals.summary());
    stopped.context("stopping services")?;
    check_interrupted()?;
    if !failures.is_empty() {
        if totals.failed == 0 {
            eprintln!(
                "xtask: cargo failed in: {} (a build error or a crashed test binary: see above)",
                failures.join(", ")
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    if e2e_failed {
        eprintln!("xtask: the end-to-end suite failed (see above)");
        return Ok(ExitCode::FAILURE);
    }
    if schemathesis_failed {
        eprintln!("xtask: the schemathesis run failed (see above)");
        return Ok(ExitCode::FAILURE);
    }
    if scim_failed {
        eprintln!("xtask: the SCIM compliance run failed (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs one `cargo test`, streaming its output and summing its results.
fn cargo_test(cmd: &mut std::process::Command, label: &str) -> Result<(bool, Counts)> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let mut job = Job::spawn(&format!("cargo test ({label})"), cmd)?;
    let stdout = job
        .child_mut()
        .stdout
        .take()
        .context("cargo test's piped stdout")?;
    let mut counts = Counts::default();
    let mut reader = BufReader::new(stdout);
    let mut out = std::io::stdout();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .context("reading cargo test's output")?;
        if n == 0 {
            break;
        }
        // A closed stdout (e.g. `| head`) must not stop the run.
        let _ = out.write_all(&line).and_then(|()| out.flush());
        if let Some(result) = Counts::parse(&String::from_utf8_lossy(&line)) {
            counts.add(result);
        }
    }
    let status = job.wait()?;
    Ok((status.success(), counts))
}

/// Test counts: from libtest's `test result:` lines, and from the end-to-end
/// suite's TAP summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
}

impl Counts {
    /// Parses `test result: ok. 3 passed; 0 failed; 1 ignored; ...`.
    fn parse(line: &str) -> Option<Self> {
        let rest = line.trim().strip_prefix("test result:")?;
        let mut counts = Self::default();
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(what), Some(number)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(number) = number.parse::<u64>() else {
                continue;
            };
            match what {
                "passed" => counts.passed = number,
                "failed" => counts.failed = number,
                "ignored" => counts.ignored = number,
                _ => {}
            }
        }
        Some(counts)
    }

    pub fn add(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }

    /// `N passed, N failed` (`, N skipped` when tests were ignored).
    pub fn summary(&self) -> String {
        let mut line = format!("{} passed, {} failed", self.passed, self.failed);
        if self.ignored > 0 {
            line.push_str(&format!(", {} skipped", self.ignored));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ok_and_failed_lines() {
        let ok = "test result: ok. 12 passed; 0 failed; 3 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            Counts::parse(ok),
            Some(Counts {
                passed: 12,
                failed: 0,
                ignored: 3
            })
        );
        let failed =
            "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 5 filtered out";
        assert_eq!(
            Counts::parse(failed),
            Some(Counts {
                passed: 1,
                failed: 2,
                ignored: 0
            })
        );
        assert_eq!(Counts::parse("test foo ... ok"), None);
    }

    #[test]
    fn summary_is_the_plain_closing_line() {
        let mut c = Counts::default();
        c.add(Counts {
            passed: 2,
            failed: 1,
            ignored: 0,
        });
        assert_eq!(c.summary(), "2 passed, 1 failed");
        c.ignored = 4;
        assert_eq!(c.summary(), "2 passed, 1 failed, 4 skipped");
    }
}
