//! The deterministic simulation harness of `core/tests/dst.rs` (one authority, five terminals,
//! 200 operations, every fault kind), as schedules per second on one core. Aim: ≥ 2,000.
//!
//! `cargo bench -p gatelab-benches --bench dst`

use std::time::Instant;

#[allow(dead_code)]
#[path = "../../core/tests/dst.rs"]
mod dst;

fn main() {
    let schedules = 2_000u64;
    // Warm the allocator and caches on other seeds.
    for seed in 1_000_000..1_000_020 {
        let _ = dst::run_schedule(seed, 200, dst::Faults::ALL, false);
    }
    let start = Instant::now();
    let mut records = 0;
    for seed in 1..=schedules {
        let tally = dst::run_schedule(seed, 200, dst::Faults::ALL, false).expect("every schedule passes");
        records += tally.records;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "dst: {schedules} schedules × 200 operations, 5 terminals, every fault kind: {:.0} schedules/s on one core ({:.1} ms each, {:.0} audit records each, {:.2} M records/s through the checker)",
        schedules as f64 / secs,
        1e3 * secs / schedules as f64,
        records as f64 / schedules as f64,
        records as f64 / secs / 1e6
    );
}
