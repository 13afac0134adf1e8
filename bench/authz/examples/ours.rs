//! Our engine (`portcullis-policy`) on the benchmark realm: one JSON line.
//!
//! ```sh
//! cargo run --release --example ours -- --seconds 10
//! ```

use portcullis_authz_bench::{
    Agreement, Options, Workload, build, main_with, measure, progress, report,
};
use portcullis_policy::{CompiledRealm, synthetic};
use serde_json::json;

fn main() -> std::process::ExitCode {
    main_with(run)
}

fn run() -> Result<serde_json::Value, String> {
    let opts = Options::parse(Options {
        seconds: 10.0,
        requests: 200_000,
        max_checks: u64::MAX,
    })?;
    progress("ours: generating the realm");
    let w = Workload::generate(opts.requests);
    progress("ours: compiling");
    let (realm, built) = build(|| {
        Ok((
            CompiledRealm::compile(&w.snapshot).map_err(|e| e.to_string())?,
            (),
        ))
    })?;
    progress("ours: measuring");
    let speed = measure(&opts, w.requests.len(), |i| {
        w.requests
            .get(i)
            .is_some_and(|r| realm.check(&r.as_check(synthetic::NOW, false)).allowed)
    });
    let ours = w.our_decisions()?;
    let agreement = Agreement::of(&speed.decisions, &ours);
    let mut reasons = std::collections::BTreeMap::<&str, usize>::new();
    for d in &ours {
        *reasons.entry(d.reason.as_str()).or_default() += 1;
    }
    Ok(report(
        "ours",
        &built,
        &speed,
        &agreement,
        json!({
            "heap_mb": realm.heap_bytes() as f64 / 1e6,
            "requests": w.requests.len(),
            "reasons": reasons,
        }),
    ))
}
