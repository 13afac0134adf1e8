//! Compares the server's answers to `POST /api/v1/authz/check` with our
//! engine's decisions on the generated snapshot. One JSON line.
//!
//! ```sh
//! cargo run --release --example verify -- --answers answers.jsonl
//! ```
//!
//! Each answer line (written by `xtask loadgen authz-check --verify`) holds
//! the request's index among the generated requests, the server's
//! `allowed` and `reason`, and the UTC hour and ISO weekday read just
//! before the request was sent and just after its answer. Our engine
//! decides the same request the way the server does: no attributes in the
//! request (the stored ones apply), the context's hour and weekday those of
//! the server's clock, at `synthetic::NOW` (the seeding shifted every
//! validity window by the clock's distance from it). When the hour changed
//! during the request, either hour's decision is accepted.

use std::io::BufRead as _;

use portcullis_authz_bench::{SEED, main_with, progress};
use portcullis_policy::synthetic::{self, NOW, SampleRequest, Shape};
use portcullis_policy::{CheckRequest, CompiledRealm, Context, Decision};
use serde_json::{Value, json};

fn main() -> std::process::ExitCode {
    main_with(run)
}

fn decide(realm: &CompiledRealm, r: &SampleRequest, hour: u8, day: u8) -> Decision {
    let context = Context {
        ip: r.context.ip,
        hour,
        day,
        extra: serde_json::Map::new(),
    };
    realm.check(&CheckRequest {
        subject: r.subject,
        subject_attributes: None,
        action: &r.action,
        resource: &r.resource,
        context: &context,
        now: NOW,
        explain: false,
    })
}

fn run() -> Result<Value, String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let path = match argv.as_slice() {
        [flag, path] if flag == "--answers" => path.clone(),
        _ => return Err("usage: verify --answers FILE".into()),
    };
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let answers: Vec<Value> = std::io::BufReader::new(file)
        .lines()
        .map(|l| {
            let l = l.map_err(|e| e.to_string())?;
            serde_json::from_str(&l).map_err(|e| format!("{path}: {e}"))
        })
        .collect::<Result<_, String>>()?;
    let count = answers
        .iter()
        .filter_map(|a| a.get("i").and_then(Value::as_u64))
        .max()
        .map_or(0, |m| m as usize + 1);

    progress("verify: generating and compiling the realm");
    let shape = Shape::benchmark();
    let snapshot = synthetic::realm(&shape, SEED);
    let requests = synthetic::requests(&shape, &snapshot, count, SEED);
    let realm = CompiledRealm::compile(&snapshot).map_err(|e| e.to_string())?;

    let (mut checked, mut allowed, mut failed, mut boundary) = (0u64, 0u64, 0u64, 0u64);
    let (mut mismatched, mut reason_differs) = (0u64, 0u64);
    let mut examples = Vec::new();
    for a in &answers {
        let field = |k: &str| a.get(k).and_then(Value::as_u64);
        let (Some(i), Some(status)) = (field("i"), field("status")) else {
            return Err(format!("bad answer line: {a}"));
        };
        if status != 200 {
            failed += 1;
            continue;
        }
        let Some(r) = requests.get(i as usize) else {
            return Err(format!("answer for request {i}, of {count}"));
        };
        let http = a.get("allowed").and_then(Value::as_bool);
        let http_reason = a.get("reason").and_then(Value::as_str).unwrap_or("");
        let time = |h: &str, d: &str| {
            let h = field(h).and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
            let d = field(d).and_then(|v| u8::try_from(v).ok()).unwrap_or(1);
            (h, d)
        };
        let before = time("hour", "day");
        let after = time("hour_after", "day_after");
        let ours = decide(&realm, r, before.0, before.1);
        let ours_after = if after == before {
            ours.clone()
        } else {
            boundary += 1;
            decide(&realm, r, after.0, after.1)
        };
        checked += 1;
        allowed += u64::from(http == Some(true));
        let same = http == Some(ours.allowed) || http == Some(ours_after.allowed);
        if !same {
            mismatched += 1;
        } else if http_reason != ours.reason.as_str() && http_reason != ours_after.reason.as_str() {
            reason_differs += 1;
        }
        if (!same || http_reason != ours.reason.as_str()) && examples.len() < 5 {
            examples.push(json!({
                "i": i,
                "request": { "subject": r.subject, "action": r.action, "resource": r.resource,
                             "ip": r.context.ip, "hour": before.0, "day": before.1 },
                "http": { "allowed": http, "reason": http_reason },
                "ours": { "allowed": ours.allowed, "reason": ours.reason.as_str() },
            }));
        }
    }
    Ok(json!({
        "checked": checked,
        "allowed": allowed,
        "mismatched": mismatched,
        "reason_differs": reason_differs,
        "non_200": failed,
        "hour_changed": boundary,
        "examples": examples,
    }))
}
