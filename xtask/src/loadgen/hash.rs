//! Raw Argon2id throughput with the server's default parameters: the ceiling
//! for logins per second on the same machine. Each thread keeps its working
//! memory between hashes, as the server's hashing threads do, so the ratio
//! measures the login path's overhead and nothing else.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde_json::{Value, json};

/// Memory cost in KiB (the server's default, OWASP's first choice).
pub const M_COST: u32 = 19_456;
/// Iterations.
pub const T_COST: u32 = 2;
/// Lanes.
pub const P_COST: u32 = 1;

/// Hashes on `threads` threads for `duration`; returns hashes per second.
pub fn run(threads: usize, duration: Duration) -> Result<Value> {
    let params = Params::new(M_COST, T_COST, P_COST, Some(32))
        .map_err(|e| anyhow!("argon2 parameters: {e}"))?;
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..threads)
        .map(|i| {
            let params = params.clone();
            thread::spawn(move || -> Result<u64> {
                let mut memory = vec![Block::new(); params.block_count()];
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let salt = [u8::try_from(i % 256).unwrap_or(0); 16];
                let mut out = [0u8; 32];
                let mut count = 0u64;
                while Instant::now() < deadline {
                    argon2
                        .hash_password_into_with_memory(
                            b"correct horse battery staple",
                            &salt,
                            &mut out,
                            &mut memory,
                        )
                        .map_err(|e| anyhow!("argon2: {e}"))?;
                    count += 1;
                }
                Ok(count)
            })
        })
        .collect();
    let mut hashes = 0u64;
    for worker in workers {
        hashes += worker
            .join()
            .map_err(|_| anyhow!("a hashing thread panicked"))?
            .context("hashing")?;
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(json!({
        "scenario": "hash",
        "threads": threads,
        "hashes": hashes,
        "seconds": seconds,
        "rate": per_second(hashes, seconds),
        "m_cost": M_COST,
        "t_cost": T_COST,
        "p_cost": P_COST,
    }))
}

/// `count / seconds`, 0 for an empty interval.
pub fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}
