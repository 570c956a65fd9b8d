//! Planning speed: `gatelab plan` over 8 lane counts × 20 replications of the Tianjin
//! scenario's 3-hour peak (160 simulations), on all cores (rayon). Aim: under 10 s on 2 cores
//! (issue 22; it was 30 s before).
//!
//! `cargo bench -p gatelab-benches --bench plan`

use std::time::Instant;

use gatelab_plan::{self as plan, SweepSpec};

fn main() {
    let scenario = gatelab_benches::shipped_scenario("tianjin-wenhuacun");
    let spec = SweepSpec { duration_min: Some(180), ..SweepSpec::new(30.0, 1, 8, 20) };
    let mut scenario = scenario;
    scenario.run.duration_min = 180;
    let started = Instant::now();
    let units = match plan::run_units(&spec, &scenario, (0, 1), &gatelab_sim::progress::Silent) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    };
    let result = plan::summarise(&spec, &scenario, &units);
    let wall = started.elapsed().as_secs_f64();
    print!("{}", plan::render_table(&result));
    println!(
        "plan: {} simulations of {} ({} from {}) on {} thread(s): {wall:.1} s, {:.2} s per simulation-core; aim < 10 s: {}",
        units.len(),
        scenario.name,
        format_args!("{} min", scenario.run.duration_min),
        scenario.run.start,
        rayon::current_num_threads(),
        wall * rayon::current_num_threads() as f64 / units.len() as f64,
        if wall < 10.0 { "met" } else { "NOT met" }
    );
    println!("peak memory (VmHWM): {}", gatelab_benches::peak_memory());
}
