//! A quick single-thread measurement on the benchmark-sized generated realm
//! (100,000 users, 1,000 roles, 10,000 permissions, 10,000 groups nested up
//! to 5 deep, 100 policies). Ignored by default; run in release:
//!
//! ```sh
//! cargo test --release -p portcullis-policy --test throughput -- --ignored --nocapture
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use portcullis_policy::{CompiledRealm, synthetic};

#[test]
#[ignore = "measurement: run in release with --ignored --nocapture"]
fn single_thread_checks_per_second() {
    let shape = synthetic::Shape::benchmark();
    let started = Instant::now();
    let snapshot = synthetic::realm(&shape, 42);
    let generated = started.elapsed();
    let started = Instant::now();
    let realm = CompiledRealm::compile(&snapshot).unwrap();
    let compiled = started.elapsed();
    let requests = synthetic::requests(&shape, &snapshot, 200_000, 42);
    println!(
        "generated in {generated:?}, compiled in {compiled:?}, heap_bytes {:.1} MB",
        realm.heap_bytes() as f64 / 1e6
    );

    // Warm up, and count outcomes.
    let mut allowed = 0usize;
    let mut reasons = std::collections::BTreeMap::new();
    for r in &requests {
        let d = realm.check(&r.as_check(synthetic::NOW, false));
        allowed += usize::from(d.allowed);
        *reasons.entry(d.reason.as_str()).or_insert(0usize) += 1;
    }
    println!("allowed {allowed} of {}; {reasons:?}", requests.len());

    // Throughput.
    let rounds = 5;
    let started = Instant::now();
    for _ in 0..rounds {
        for r in &requests {
            black_box(realm.check(black_box(&r.as_check(synthetic::NOW, false))));
        }
    }
    let elapsed = started.elapsed();
    let n = rounds * requests.len();
    let per_sec = n as f64 / elapsed.as_secs_f64();
    println!("{n} checks in {elapsed:?}: {per_sec:.0} checks/s");

    // Latency per check (includes ~20 ns of clock reads).
    let mut nanos: Vec<u64> = requests
        .iter()
        .map(|r| {
            let q = r.as_check(synthetic::NOW, false);
            let t = Instant::now();
            black_box(realm.check(black_box(&q)));
            t.elapsed().as_nanos() as u64
        })
        .collect();
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() as f64 * q) as usize).min(nanos.len() - 1)];
    println!(
        "latency p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
        at(0.5),
        at(0.99),
        at(0.999),
        nanos[nanos.len() - 1]
    );

    // With explanations, for comparison.
    let started = Instant::now();
    for r in requests.iter().take(20_000) {
        black_box(realm.check(&r.as_check(synthetic::NOW, true)));
    }
    let explained = 20_000.0 / started.elapsed().as_secs_f64();
    println!("explained: {explained:.0} checks/s");
}
