//! Planning speed: `gatelab plan` over 8 lane counts × 20 replications of the Tianjin
//! scenario's 3-hour peak (160 simulations), on all cores (rayon). Aim: under 10 s on 2 cores
//! (issue 22; it was 30 s before).
//!
//! Side by side in the same run: the same 160 simulations each registering everyone itself (as
//! before registration day was shared between a replication's lane counts), with their figures
//! checked equal to the plan's.
//!
//! `cargo bench -p gatelab-benches --bench plan`

use std::time::Instant;

use gatelab_plan::{self as plan, SweepSpec};
use gatelab_sim::engine::{Keep, simulate_keeping};
use gatelab_sim::run::replication_seed;
use rayon::prelude::*;

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
    let threads = rayon::current_num_threads();
    println!(
        "plan: {} simulations of {} ({} from {}) on {threads} thread(s): {wall:.1} s, {:.2} s per simulation-core; aim < 10 s: {}",
        units.len(),
        scenario.name,
        format_args!("{} min", scenario.run.duration_min),
        scenario.run.start,
        wall * threads as f64 / units.len() as f64,
        if wall < 10.0 { "met" } else { "NOT met" }
    );
    println!("peak memory (VmHWM): {}", gatelab_benches::peak_memory());

    let seed = spec.seed.unwrap_or(scenario.run.seed);
    let started = Instant::now();
    let own: Result<Vec<String>, String> = spec
        .units(&scenario)
        .par_iter()
        .map(|(config, r)| {
            let s = config.apply(&scenario);
            let keep = Keep { rows: *r == 0, ..Keep::NOTHING };
            let rep = simulate_keeping(&s, replication_seed(seed, *r), keep, &|_| {}).map_err(|e| format!("{e:#}"))?;
            Ok(format!("{:?} {:?}", rep.figures, rep.gates))
        })
        .collect();
    let own_wall = started.elapsed().as_secs_f64();
    let own = own.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2);
    });
    let same = own.iter().zip(&units).all(|(o, u)| *o == format!("{:?} {:?}", u.figures, u.gates));
    println!(
        "every run registering itself: {own_wall:.1} s; registration day shared by a replication's lane counts: {wall:.1} s; ratio {:.2}; same figures: {}",
        wall / own_wall,
        if same { "yes" } else { "NO" }
    );
    if !same {
        std::process::exit(1);
    }
}
