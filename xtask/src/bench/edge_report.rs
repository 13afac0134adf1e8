//! The figures of [`super::edge`] and their section of the report.

use std::fmt::Write as _;

use serde_json::Value;

use super::report::{Outcome, error_count, number};

/// One round: both servers loaded at once.
#[derive(Debug)]
pub struct Pair {
    /// The server with the edge defences on (in the control: a second
    /// server with them off).
    pub on: Outcome,
    /// The server with them off.
    pub off: Outcome,
}

impl Pair {
    /// Requests/s on over off.
    fn ratio(&self) -> Option<f64> {
        let (on, off) = (self.on.rate()?, self.off.rate()?);
        (off > 0.0).then(|| on / off)
    }

    /// How late the later load generator began (`late_ms`), when it was.
    fn late_ms(&self) -> u64 {
        let late = |o: &Outcome| o.field("late_ms").unwrap_or(0.0);
        late(&self.on).max(late(&self.off)) as u64
    }
}

/// The rounds of one measurement.
#[derive(Debug, Default)]
pub struct Paired {
    pairs: Vec<Pair>,
}

impl Paired {
    /// Records a round.
    pub fn push(&mut self, pair: Pair) {
        self.pairs.push(pair);
    }

    fn ratios(&self) -> Vec<f64> {
        self.pairs.iter().filter_map(Pair::ratio).collect()
    }

    /// The median of the rounds' ratios.
    fn median_ratio(&self) -> Option<f64> {
        median(self.ratios())
    }

    /// The median rate of one side.
    fn median_rate(&self, side: impl Fn(&Pair) -> &Outcome) -> Option<f64> {
        median(self.pairs.iter().filter_map(|p| side(p).rate()).collect())
    }

    fn outcomes(&self) -> impl Iterator<Item = (&'static str, &Outcome)> {
        self.pairs
            .iter()
            .flat_map(|p| [("on", &p.on), ("off", &p.off)])
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values.get(n / 2 - 1)? + values.get(n / 2)?) / 2.0),
    }
}

fn percent(ratio: f64) -> String {
    format!("{:.1}%", ratio * 100.0)
}

/// What the edge defences cost: see [`super::edge`].
#[derive(Debug, Default)]
pub struct EdgeCost {
    /// `POST /api/v1/auth/validate`, our load generator.
    pub validate: Paired,
    /// The token endpoint (`client_credentials`, Basic), our load generator.
    pub token: Paired,
    /// Validate, driven by wrk.
    pub wrk_validate: Paired,
    /// The token endpoint, driven by wrk.
    pub wrk_token: Paired,
    /// Validate from wrk against two servers with the defences off.
    pub control: Paired,
    /// `wrk -v`'s version, once installed.
    pub wrk_version: Option<String>,
    /// Why wrk could not be used, if it could not.
    pub wrk_failed: Option<String>,
    /// Why the measurement stopped, if it did.
    pub failed: Option<String>,
}

impl EdgeCost {
    fn rows(&self) -> [(String, &Paired, bool); 5] {
        let wrk = self.wrk_version.as_deref().unwrap_or("wrk");
        let token = format!(
            "`POST /realms/{}/oauth2/token`, client_credentials, Basic",
            super::oidc::REALM
        );
        [
            (
                "`POST /api/v1/auth/validate` (ours)".to_owned(),
                &self.validate,
                true,
            ),
            (format!("{token} (ours)"), &self.token, true),
            (
                format!("`POST /api/v1/auth/validate` ({wrk})"),
                &self.wrk_validate,
                true,
            ),
            (format!("{token} ({wrk})"), &self.wrk_token, true),
            (
                format!("Control: validate ({wrk}), both servers **off**"),
                &self.control,
                false,
            ),
        ]
    }

    /// True if a measurement could not be taken (the control counts when
    /// it was asked for).
    pub fn any_failed(&self, control: bool) -> bool {
        self.failed.is_some()
            || self.wrk_failed.is_some()
            || self.rows().iter().any(|(_, p, goal)| {
                (*goal || control)
                    && (p.pairs.len() < super::edge::ROUNDS
                        || p.outcomes().any(|(_, o)| !matches!(o, Outcome::Done(_))))
            })
    }

    /// The section of the report.
    pub fn markdown(&self, seconds: u64) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "\n## Cost of the edge defences\n");
        let _ = writeln!(
            md,
            "Two servers on copies of one SQLite database, one with the edge defences on \
             (client address, limiter group and realm, blocks, the address, anonymous, client \
             and account limiters with their headers, HMAC verification), its rate-limit \
             policy the default with every quota multiplied by {factor} so that it counts but \
             refuses nothing, the other with them off (`PORTCULLIS_EDGE_DEFENCES=off`), \
             **loaded at the same time**, {conns} connections each, {seconds} s a round, \
             {rounds} rounds, the defences on in the first server started in odd rounds and \
             in the second in even ones. Loaded together, both meet the machine's noise at \
             the same moment and share its cores: the ratio of their rates is the ratio of \
             their costs. Measured one after the other, the rate of one server varies by up \
             to 30% from run to run on this 2-core machine; and of two identical servers \
             loaded together, one can be served a few percent better than the other, which \
             the alternation cancels out. The control runs two servers with the defences off \
             the same way: its spread is the method's own. The security headers and core's \
             checks are on in every server.\n",
            factor = number(super::edge::QUOTA_FACTOR as f64),
            conns = super::edge::SIDE_CONNECTIONS,
            rounds = super::edge::ROUNDS,
        );
        md.push_str(
            "| Endpoint (load generator) | On, req/s (median) | Off, req/s (median) | On/off (median) | Rounds' range | Goal | Met |\n",
        );
        md.push_str("|---|---:|---:|---:|---:|---|---|\n");
        for (label, paired, goal) in self.rows() {
            let rate = |side: fn(&Pair) -> &Outcome| {
                paired
                    .median_rate(side)
                    .map_or("not measured".to_owned(), number)
            };
            let ratio = paired.median_ratio();
            let ratios = paired.ratios();
            let range = match (
                ratios.iter().copied().reduce(f64::min),
                ratios.iter().copied().reduce(f64::max),
            ) {
                (Some(lo), Some(hi)) => format!("{} – {}", percent(lo), percent(hi)),
                _ => "–".to_owned(),
            };
            let (goal, met) = if goal {
                ("≥ 95%", super::oidc::met(ratio.map(|r| r >= 0.95)))
            } else {
                ("≈ 100%", "–")
            };
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} | {range} | {goal} | {met} |",
                rate(|p| &p.on),
                rate(|p| &p.off),
                ratio.map_or("–".to_owned(), percent),
            );
        }
        md.push_str("\nEvery round, on/off:\n\n");
        for (label, paired, _) in self.rows() {
            let rounds: Vec<String> = paired
                .pairs
                .iter()
                .map(|p| match (p.on.rate(), p.off.rate()) {
                    (Some(on), Some(off)) => format!(
                        "{} / {} ({})",
                        number(on),
                        number(off),
                        percent(on / off.max(f64::MIN_POSITIVE))
                    ),
                    _ => "not measured".to_owned(),
                })
                .collect();
            let rounds = if rounds.is_empty() {
                "none".to_owned()
            } else {
                rounds.join("; ")
            };
            let _ = writeln!(md, "- {label}: {rounds}");
        }
        md.push('\n');
        self.problems(&mut md);
        md
    }

    /// Failures, refusals and late starts, or the line saying there were none.
    fn problems(&self, md: &mut String) {
        if let Some(why) = &self.failed {
            let _ = writeln!(md, "- **Stopped**: {why}");
        }
        if let Some(why) = &self.wrk_failed {
            let _ = writeln!(md, "- wrk: **not measured**: {why}");
        }
        let mut clean = self.failed.is_none();
        for (label, paired, _) in self.rows() {
            for (side, outcome) in paired.outcomes() {
                match outcome {
                    Outcome::Failed(why) => {
                        clean = false;
                        let _ = writeln!(md, "- {label}, {side}: **not measured**: {why}");
                    }
                    Outcome::Skipped(why) => {
                        let _ = writeln!(md, "- {label}, {side}: skipped ({why})");
                    }
                    Outcome::Done(value) if error_count(value) > 0 => {
                        clean = false;
                        let _ = writeln!(
                            md,
                            "- {label}, {side}: **{} failed requests** (non-2xx by status {}); \
                             first: `{}`",
                            error_count(value),
                            value
                                .get("statuses")
                                .map(Value::to_string)
                                .unwrap_or_default(),
                            value
                                .get("first_error")
                                .and_then(Value::as_str)
                                .unwrap_or(""),
                        );
                    }
                    Outcome::Done(_) => {}
                }
            }
            let late = paired.pairs.iter().map(Pair::late_ms).max().unwrap_or(0);
            if late > 0 {
                let _ = writeln!(
                    md,
                    "- {label}: a load generator's set-up overran the agreed start by up to \
                     {late} ms (that long, one server was loaded alone)"
                );
            }
        }
        if clean {
            md.push_str(
                "- Non-2xx responses: 0 in every round, on both sides: the server with the \
                 defences on refused nothing, so the ratio is the cost of the bookkeeping.\n",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(rate: f64) -> Outcome {
        Outcome::Done(json!({
            "rate": rate, "p50_ms": 1.0, "p99_ms": 3.0, "sent": 100,
            "non_2xx": 0, "transport_errors": 0, "bad_body": 0, "late_ms": 0
        }))
    }

    fn paired(rates: &[(f64, f64)]) -> Paired {
        let mut p = Paired::default();
        for (on, off) in rates {
            p.push(Pair {
                on: run(*on),
                off: run(*off),
            });
        }
        p
    }

    #[test]
    fn medians_of_the_rounds_ratios_decide() {
        let rounds = [
            (19_000.0, 20_000.0),
            (9_000.0, 20_000.0),
            (20_000.0, 20_000.0),
            (19_800.0, 20_000.0),
            (19_600.0, 20_000.0),
            (19_600.0, 20_000.0),
        ];
        let mut cost = EdgeCost {
            validate: paired(&rounds),
            token: paired(&[(5_000.0, 6_000.0); 6]),
            wrk_validate: paired(&rounds),
            wrk_token: paired(&rounds),
            control: paired(&[(20_000.0, 20_000.0); 6]),
            wrk_version: Some("wrk 4.1.0".to_owned()),
            ..EdgeCost::default()
        };
        let md = cost.markdown(10);
        // Ratios 95, 45, 100, 99, 98, 98: the median is 98%, the outlier
        // does not decide.
        assert!(
            md.contains("| 19,600 | 20,000 | 98.0% | 45.0% – 100.0% | ≥ 95% | yes |"),
            "{md}"
        );
        assert!(
            md.contains("| 5,000 | 6,000 | 83.3% | 83.3% – 83.3% | ≥ 95% | **no** |"),
            "{md}"
        );
        assert!(
            md.contains("| 100.0% | 100.0% – 100.0% | ≈ 100% | – |"),
            "{md}"
        );
        assert!(
            md.contains("19,000 / 20,000 (95.0%); 9,000 / 20,000 (45.0%)"),
            "{md}"
        );
        assert!(md.contains("Non-2xx responses: 0 in every round"), "{md}");
        assert!(!cost.any_failed(true));

        cost.token.push(Pair {
            on: Outcome::Failed("loadgen: refused".to_owned()),
            off: Outcome::Done(json!({"rate": 1.0, "late_ms": 250})),
        });
        let md = cost.markdown(10);
        assert!(
            md.contains("(ours), on: **not measured**: loadgen: refused"),
            "{md}"
        );
        assert!(
            md.contains("overran the agreed start by up to 250 ms"),
            "{md}"
        );
        assert!(cost.any_failed(true));
        assert_eq!(median(vec![3.0, 1.0, 2.0, 4.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }
}
