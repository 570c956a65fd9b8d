//! Planning to a decision: the 5,000-resident estate (4 gates, 3-hour peak), target 30 s at the
//! lanes and the booth, lanes 1..5, 5 replications to start and up to 20, no sensitivity —
//! once with one lane count for every gate and direction, once `--per-gate` (the greedy search
//! with its check). Both on all cores (rayon); times, simulations run and the decisions printed
//! side by side in one run.
//!
//! `cargo bench -p gatelab-benches --bench decide`

use std::time::Instant;

use gatelab_plan::{self as plan, SweepSpec};

fn main() {
    let scenario = gatelab_benches::shipped_scenario("public-rental-estate");
    let mut rows = Vec::new();
    for per_gate in [false, true] {
        let spec = SweepSpec { per_gate, max_replications: Some(20), ..SweepSpec::new(30.0, 1, 5, 5) };
        let started = Instant::now();
        let (spec, result) = match plan::plan(spec, &scenario, false, &gatelab_sim::progress::Silent) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(2);
            }
        };
        let wall = started.elapsed().as_secs_f64();
        print!("{}", plan::render_table(&result));
        let runs: u32 = spec.runs.iter().map(|r| r.replications).sum();
        rows.push((
            if per_gate { "per gate" } else { "uniform" },
            wall,
            result.configurations.len(),
            runs,
            result.decision,
        ));
    }
    println!("\nestate to a decision on {} thread(s):", rayon::current_num_threads());
    println!("  {:<10} {:>8} {:>15} {:>12}  decision", "search", "wall s", "configurations", "simulations");
    for (name, wall, configs, runs, decision) in &rows {
        println!("  {name:<10} {wall:>8.1} {configs:>15} {runs:>12}  {decision}");
    }
    println!("  per gate / uniform: {:.2}", rows[1].1 / rows[0].1);
    println!("peak memory (VmHWM): {}", gatelab_benches::peak_memory());
}
