//! Project automation for Portcullis, run as `cargo xtask <command>`:
//!
//! - `test [-- FILTER...]`: every test of the workspace, against a throwaway
//!   PostgreSQL cluster and Redis server (installed with apt-get when
//!   missing), then the
//!   end-to-end suites in `e2e/` against the real server (Node.js, Chromium
//!   and npm packages installed when missing), then the schemathesis run.
//! - `e2e [-- PATTERN...]`: the end-to-end suites only.
//! - `schemathesis [-- ARG...]`: schemathesis (PyPI) against the real
//!   server's `/openapi.json`, every operation, valid and invalid input; its
//!   Python environment made in `target/` when missing.
//! - `bench [--seconds N] [--no-postgres] [--server-binary PATH]`: a load
//!   benchmark of the release server, with what the edge defences cost
//!   (against the server with them off; wrk installed with apt-get when
//!   missing); figures in a table, also written to `target/bench-report.md`.
//! - `bench authz [--seconds N] [--skip-http] [--server-binary PATH]`: the
//!   authorization engine against casbin-rs and cedar-policy in process, and
//!   the check API over HTTP; report in `target/bench-authz-report.md`.
//! - `bench oidc [--seconds N] [--portcullis-only] [--server-binary PATH]`:
//!   client_credentials tokens and introspections against Node's
//!   oidc-provider; report in `target/bench-oidc-report.md`.
//! - `bench edge [--seconds N] [--no-control] [--server-binary PATH]`: what
//!   the edge defences cost, two servers loaded at once; report in
//!   `target/bench-edge-report.md`.
//! - `bench scale [--seconds N] [--one-instance] [--server-binary PATH]`:
//!   one and two instances on PostgreSQL, with Redis and without; report in
//!   `target/bench-scale-report.md`.
//!
//! `loadgen` is a hidden command: the load generator `bench` runs as an
//! optimised build (`cargo run --release -p xtask -- loadgen ...`).
// xtask measures and waits in real time: it may read the system clocks and sleep.
#![allow(clippy::disallowed_methods)]

mod bench;
mod e2e;
mod loadgen;
mod process;
mod schemathesis;
mod scim_tester;
mod server;
mod services;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test [-- FILTER...]             run every test: the workspace's against a
                                  throwaway PostgreSQL and Redis, then the end-to-end suites,
                                  then the schemathesis run (filters go to cargo test and
                                  leave those two out; the filter e2e or schemathesis runs
                                  that one alone)
  e2e [-- PATTERN...]             the end-to-end suites in e2e/ only, against the real
                                  server (PATTERN: a regex on test names)
  schemathesis [-- ARG...]        schemathesis against the real server's /openapi.json:
                                  every operation, at least 10,000 cases, no 5xx, every
                                  answer as documented (ARGs go to `st run`)
  scim                            scim2-tester (PyPI) against the real server's SCIM
                                  service: every check of RFC 7643/7644 it has
  bench [--seconds N] [--no-postgres] [--server-binary PATH]
                                  load benchmark of the release server (or of PATH),
                                  with the edge defences' cost (their server off, and
                                  wrk, installed when missing); report in
                                  target/bench-report.md
  bench authz [--seconds N] [--skip-http] [--server-binary PATH]
                                  authorization benchmark: our engine, casbin-rs and
                                  cedar-policy in process on a 100,000-user realm, and
                                  /api/v1/authz/check over HTTP (--skip-http: in process
                                  only); report in target/bench-authz-report.md
  bench oidc [--seconds N] [--portcullis-only] [--server-binary PATH]
                                  token endpoint (client_credentials) and introspection
                                  against Node's oidc-provider, installed with npm;
                                  report in target/bench-oidc-report.md
  bench edge [--seconds N] [--no-control] [--server-binary PATH]
                                  what the edge defences cost: two servers, on and off,
                                  loaded at once; report in target/bench-edge-report.md
  bench scale [--seconds N] [--one-instance] [--server-binary PATH]
                                  token endpoint and /api/v1/authz/check on PostgreSQL:
                                  one instance without and with Redis, two instances
                                  with Redis; report in target/bench-scale-report.md";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.split_first() {
        Some((command, rest)) => match command.as_str() {
            "test" => test::run(rest),
            "e2e" => e2e::run(rest),
            "schemathesis" => schemathesis::run(rest),
            "scim" => scim_tester::run(rest),
            "bench" => bench::run(rest),
            "loadgen" => loadgen::main(rest),
            "help" | "-h" | "--help" => {
                println!("{USAGE}");
                Ok(ExitCode::SUCCESS)
            }
            other => {
                eprintln!("xtask: unknown command {other}\n\n{USAGE}");
                Ok(ExitCode::from(2))
            }
        },
        None => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    match result {
        Ok(_) if process::interrupted() => ExitCode::from(130),
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            if process::interrupted() {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
