//! Planning speed: `gatelab plan` over 8 lane counts × 20 replications of the Tianjin
//! scenario's 3-hour peak (160 simulations), on all cores (rayon). Aim: under 10 s on 2 cores
//! (issue 22; it was 30 s before).
//!
//! Side by side in the same run, twice in turn: the units alone (registration day shared by
//! each replication's lane counts, as the plan runs them) and the same 160 simulations each
//! registering everyone itself (as before), with their figures checked equal to the plan's.
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

    // Side by side, twice in turn (this machine's speed drifts): the plan again, and the same
    // simulations each registering everyone itself.
    let seed = spec.seed.unwrap_or(scenario.run.seed);
    let mut same = true;
    for round in 1..=2 {
        let started = Instant::now();
        let own: Result<Vec<String>, String> = spec
            .units(&scenario)
            .par_iter()
            .map(|(config, r)| {
                let s = config.apply(&scenario);
                let keep = Keep { rows: *r == 0, ..Keep::NOTHING };
                let rep =
                    simulate_keeping(&s, replication_seed(seed, *r), keep, &|_| {}).map_err(|e| format!("{e:#}"))?;
                Ok(format!("{:?} {:?}", rep.figures, rep.gates))
            })
            .collect();
        let own_wall = started.elapsed().as_secs_f64();
        let own = own.unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(2);
        });
        same &= own.iter().zip(&units).all(|(o, u)| *o == format!("{:?} {:?}", u.figures, u.gates));
        let started = Instant::now();
        if let Err(e) = plan::run_units(&spec, &scenario, (0, 1), &gatelab_sim::progress::Silent) {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
        let shared_wall = started.elapsed().as_secs_f64();
        println!(
            "round {round}: every run registering itself {own_wall:.1} s; registration day shared by a replication's lane counts {shared_wall:.1} s; ratio {:.2}",
            shared_wall / own_wall
        );
    }
    println!("same figures with and without sharing: {}", if same { "yes" } else { "NO" });
    if !same {
        std::process::exit(1);
    }
}
