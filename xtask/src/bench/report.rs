//! The benchmark's figures and their Markdown table.

use std::fmt::Write as _;
use std::process::Command;

use serde_json::Value;

use crate::loadgen::hash::{M_COST, P_COST, T_COST};

/// What became of one measurement.
#[derive(Debug)]
pub enum Outcome {
    /// The load generator's JSON (or a plain number for RSS).
    Done(Value),
    /// It could not be taken; why.
    Failed(String),
    /// Not asked for; why.
    Skipped(&'static str),
}

impl Outcome {
    pub(super) fn value(&self) -> Option<&Value> {
        match self {
            Self::Done(value) => Some(value),
            _ => None,
        }
    }

    pub(super) fn field(&self, name: &str) -> Option<f64> {
        self.value()?.get(name)?.as_f64()
    }

    pub(super) fn rate(&self) -> Option<f64> {
        self.field("rate")
    }
}

/// Every measurement of a run.
pub struct Report {
    cores: usize,
    seconds: u64,
    pub hash: Outcome,
    pub rss_kib: Outcome,
    pub login: Outcome,
    pub validate: Outcome,
    pub refresh_sqlite: Outcome,
    pub refresh_postgres: Outcome,
}

impl Report {
    /// An empty report: nothing measured yet.
    pub fn new(cores: usize, seconds: u64) -> Self {
        let pending = || Outcome::Failed("not run".to_owned());
        Self {
            cores,
            seconds,
            hash: pending(),
            rss_kib: pending(),
            login: pending(),
            validate: pending(),
            refresh_sqlite: pending(),
            refresh_postgres: pending(),
        }
    }

    /// Marks every SQLite measurement as failed for `why`.
    pub fn fail_sqlite(&mut self, why: &str) {
        for outcome in [
            &mut self.rss_kib,
            &mut self.login,
            &mut self.validate,
            &mut self.refresh_sqlite,
        ] {
            *outcome = Outcome::Failed(why.to_owned());
        }
    }

    fn all(&self) -> [(&'static str, &Outcome); 6] {
        [
            ("argon2id hashing", &self.hash),
            ("idle RSS", &self.rss_kib),
            ("login (SQLite)", &self.login),
            ("validate (SQLite)", &self.validate),
            ("refresh (SQLite)", &self.refresh_sqlite),
            ("refresh (PostgreSQL)", &self.refresh_postgres),
        ]
    }

    /// True if a measurement could not be taken.
    pub fn any_failed(&self) -> bool {
        self.all()
            .iter()
            .any(|(_, o)| matches!(o, Outcome::Failed(_)))
    }

    /// The report as Markdown: a header, the table, then errors.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "# Portcullis load benchmark\n");
        let _ = writeln!(
            md,
            "Commit {}, {}; {} cores shared by the server and the load generator; {} s per load test. \
             Figures from one run, not assertions.\n",
            command_line("git", &["rev-parse", "--short", "HEAD"]),
            command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            self.cores,
            self.seconds,
        );
        md.push_str("| Measurement | Result | Goal | Met | p50 | p99 | Non-2xx / errors |\n");
        md.push_str("|---|---:|---|---|---:|---:|---|\n");

        let conns = |o: &Outcome| {
            o.field("connections")
                .map_or(String::new(), |c| format!(", {c} conn."))
        };
        let hash_threads = self
            .hash
            .field("threads")
            .map_or(String::new(), |t| format!(", {t} threads"));
        self.row(
            &mut md,
            &format!("Argon2id hashes/s (m={M_COST} KiB, t={T_COST}, p={P_COST}{hash_threads})"),
            &self.hash,
            self.hash.rate().map(number),
            None,
        );
        self.row(
            &mut md,
            &format!("Logins/s (SQLite{})", conns(&self.login)),
            &self.login,
            self.login.rate().map(number),
            None,
        );
        let ratio = self
            .login
            .rate()
            .zip(self.hash.rate())
            .filter(|(_, h)| *h > 0.0)
            .map(|(l, h)| l / h);
        let ratio_outcome = match ratio {
            Some(_) => Outcome::Done(Value::Null),
            None => Outcome::Failed(String::new()),
        };
        self.row(
            &mut md,
            "Logins/s as a share of hashes/s",
            &ratio_outcome,
            ratio.map(|r| format!("{:.1}%", r * 100.0)),
            Some(("≥ 90%", ratio.map(|r| r >= 0.9))),
        );
        self.rate_row(
            &mut md,
            &format!("Validate requests/s (SQLite{})", conns(&self.validate)),
            &self.validate,
            20_000.0,
        );
        self.rate_row(
            &mut md,
            &format!(
                "Refresh rotations/s (SQLite{})",
                conns(&self.refresh_sqlite)
            ),
            &self.refresh_sqlite,
            5_000.0,
        );
        self.rate_row(
            &mut md,
            &format!(
                "Refresh rotations/s (PostgreSQL{})",
                conns(&self.refresh_postgres)
            ),
            &self.refresh_postgres,
            3_000.0,
        );
        let rss_mb = self
            .rss_kib
            .value()
            .and_then(Value::as_f64)
            .map(|kib| kib * 1024.0 / 1e6);
        self.row(
            &mut md,
            "Idle RSS after start-up (SQLite)",
            &self.rss_kib,
            rss_mb.map(|mb| format!("{mb:.1} MB")),
            Some(("≤ 40 MB", rss_mb.map(|mb| mb <= 40.0))),
        );

        md.push_str("\n## Errors and notes\n\n");
        let mut clean = true;
        for (name, outcome) in self.all() {
            match outcome {
                Outcome::Failed(why) => {
                    clean = false;
                    let _ = writeln!(md, "- {name}: **not measured**: {why}");
                }
                Outcome::Skipped(why) => {
                    let _ = writeln!(md, "- {name}: skipped ({why})");
                }
                Outcome::Done(value) => {
                    let errors = error_count(value);
                    if errors > 0 {
                        clean = false;
                        let statuses = value
                            .get("statuses")
                            .map(Value::to_string)
                            .unwrap_or_default();
                        let first = value
                            .get("first_error")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        let _ = writeln!(
                            md,
                            "- {name}: **{errors} failed requests** of {} sent (non-2xx by status {statuses}, \
                             transport errors {}, bad bodies {}); first: `{first}`",
                            value.get("sent").unwrap_or(&Value::Null),
                            value.get("transport_errors").unwrap_or(&Value::Null),
                            value.get("bad_body").unwrap_or(&Value::Null),
                        );
                    }
                }
            }
        }
        if clean {
            md.push_str("- Every request succeeded (no non-2xx responses, no transport errors).\n");
        }
        md
    }

    /// A requests-per-second row with a minimum goal.
    fn rate_row(&self, md: &mut String, label: &str, outcome: &Outcome, goal: f64) {
        let rate = outcome.rate();
        self.row(
            md,
            label,
            outcome,
            rate.map(number),
            Some((&format!("≥ {}", number(goal)), rate.map(|r| r >= goal))),
        );
    }

    /// One table row; latency and error columns come from the outcome.
    fn row(
        &self,
        md: &mut String,
        label: &str,
        outcome: &Outcome,
        result: Option<String>,
        goal: Option<(&str, Option<bool>)>,
    ) {
        let result = match outcome {
            Outcome::Failed(_) => "not measured".to_owned(),
            Outcome::Skipped(_) => "skipped".to_owned(),
            Outcome::Done(_) => result.unwrap_or_else(|| "n/a".to_owned()),
        };
        let (goal, met) = match goal {
            Some((goal, Some(true))) => (goal.to_owned(), "yes"),
            Some((goal, Some(false))) => (goal.to_owned(), "**no**"),
            Some((goal, None)) => (goal.to_owned(), "–"),
            None => (String::new(), ""),
        };
        let ms = |name: &str| {
            outcome
                .field(name)
                .map_or(String::new(), |v| format!("{v:.2} ms"))
        };
        let errors = match outcome.value() {
            Some(value) if value.get("sent").is_some() => {
                let n = error_count(value);
                if n == 0 {
                    "0".to_owned()
                } else {
                    format!("**{n}**")
                }
            }
            _ => String::new(),
        };
        let _ = writeln!(
            md,
            "| {label} | {result} | {goal} | {met} | {} | {} | {errors} |",
            ms("p50_ms"),
            ms("p99_ms")
        );
    }
}

/// Failed requests in a load generator result.
pub(super) fn error_count(value: &Value) -> u64 {
    ["non_2xx", "transport_errors", "bad_body"]
        .iter()
        .filter_map(|k| value.get(*k).and_then(Value::as_u64))
        .sum()
}

/// A measured figure of an outcome, if it was measured.
pub(crate) fn field(o: &Outcome, name: &str) -> Option<f64> {
    match o {
        Outcome::Done(v) => v.get(name)?.as_f64(),
        _ => None,
    }
}

/// A rate with thousands separators: `23,456` (or `12.3` below 100).
pub(crate) fn number(value: f64) -> String {
    if value < 100.0 {
        return format!("{value:.1}");
    }
    let digits = format!("{value:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_have_separators() {
        assert_eq!(number(23456.4), "23,456");
        assert_eq!(number(1_234_567.0), "1,234,567");
        assert_eq!(number(512.0), "512");
        assert_eq!(number(42.25), "42.2");
    }

    #[test]
    fn report_shows_goals_and_errors() {
        let mut report = Report::new(2, 10);
        report.hash = Outcome::Done(json!({"rate": 50.0, "threads": 2}));
        report.login =
            Outcome::Done(json!({"rate": 46.0, "sent": 460, "non_2xx": 0, "connections": 4}));
        report.validate = Outcome::Done(json!({
            "rate": 25000.0, "p50_ms": 1.5, "p99_ms": 4.0, "sent": 250_010,
            "non_2xx": 10, "statuses": {"429": 10}, "transport_errors": 0, "bad_body": 0,
            "first_error": "/api/v1/auth/validate: 429", "connections": 64
        }));
        report.rss_kib = Outcome::Done(json!(30_000));
        report.refresh_postgres = Outcome::Skipped("--no-postgres");
        let md = report.markdown();
        assert!(md.contains("| 92.0% | ≥ 90% | yes |"), "{md}");
        assert!(
            md.contains("| 25,000 | ≥ 20,000 | yes | 1.50 ms | 4.00 ms | **10** |"),
            "{md}"
        );
        assert!(md.contains("**10 failed requests**"), "{md}");
        assert!(md.contains("refresh (SQLite): **not measured**"), "{md}");
        assert!(md.contains("30.7 MB"), "{md}");
        assert!(report.any_failed());
    }
}
