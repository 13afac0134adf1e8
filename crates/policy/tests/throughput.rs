//! A quick single-thread measurement on the benchmark-sized generated realm
//! (100,000 users, 1,000 roles, 10,000 permissions, 10,000 groups nested up
//! to 5 deep, 100 policies). Ignored by default; run in release:
//!
//! ```sh
//! cargo test --release -p portcullis-policy --test throughput -- --ignored --nocapture
//! ```
// A measurement: it reads the real time.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use portcullis_policy::model::{Attachment, Policy, RealmSnapshot};
use portcullis_policy::{CheckRequest, CompiledRealm, Context, Resource, syntax, synthetic};

/// Resident set size in bytes, where /proc tells it.
fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[test]
#[ignore = "measurement: run in release with --ignored --nocapture"]
fn single_thread_checks_per_second() {
    let shape = synthetic::Shape::benchmark();
    let started = Instant::now();
    let snapshot = synthetic::realm(&shape, 42);
    let generated = started.elapsed();
    let rss_before = rss();
    let started = Instant::now();
    let realm = CompiledRealm::compile(&snapshot).unwrap();
    let compiled = started.elapsed();
    if let (Some(before), Some(after)) = (rss_before, rss()) {
        println!(
            "RSS grew by {:.1} MB while compiling",
            (after.saturating_sub(before)) as f64 / 1e6
        );
    }
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

#[test]
#[ignore = "measurement: run in release with --ignored --nocapture"]
fn checks_that_evaluate_a_condition() {
    let statement = syntax::native_statement(&serde_json::json!({
        "effect": "ALLOW", "resource": "sensitive_data",
        "condition": {"and": [{">=": [{"var": "hour"}, 9]}, {"<=": [{"var": "hour"}, 17]},
                              {"in": [{"var": "day"}, [1, 2, 3, 4, 5]]}]}
    }))
    .unwrap();
    let snapshot = RealmSnapshot {
        policies: vec![Policy {
            id: uuid::Uuid::from_u128(1),
            name: "Business Hours Only".into(),
            description: None,
            priority: 100,
            attached_to: Attachment::Realm,
            statements: vec![statement],
            enabled: true,
        }],
        ..RealmSnapshot::default()
    };
    let realm = CompiledRealm::compile(&snapshot).unwrap();
    let resource = Resource::of_kind("sensitive_data");
    let mut attributes = serde_json::Map::new();
    attributes.insert("department".into(), serde_json::json!("sales"));
    let contexts: Vec<Context> = (0..168u32)
        .map(|h| Context {
            ip: Some(std::net::IpAddr::from([10, 0, 0, 1])),
            hour: (h % 24) as u8,
            day: (1 + h / 24) as u8,
            extra: serde_json::Map::new(),
        })
        .collect();
    let n = 500_000;
    let started = Instant::now();
    let mut allowed = 0usize;
    for i in 0..n {
        let q = CheckRequest {
            subject: uuid::Uuid::from_u128(7),
            subject_attributes: Some(&attributes),
            action: "read",
            resource: &resource,
            context: &contexts[i % contexts.len()],
            now: 0,
            explain: false,
        };
        allowed += usize::from(black_box(realm.check(black_box(&q))).allowed);
    }
    let per_sec = n as f64 / started.elapsed().as_secs_f64();
    println!(
        "every check evaluates one JSON Logic condition: {per_sec:.0} checks/s ({allowed} allowed)"
    );
}
