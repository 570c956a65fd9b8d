//! `cargo bench -p gatelab-benches --bench walk`: the walking model alone, on one core — RiMEA 9's
//! room, 1,000 people leaving by four doors at dt 0.05 s — then JuPedSim 1.4.2's collision-free
//! speed model on the same geometry (exported as WKT), the same people (positions, free speeds),
//! the same body radius, time gap, neighbour range and time step, side by side: wall time,
//! agent-steps per second, and the ratio.

use std::sync::Arc;
use std::time::Instant;

use gatelab_walk::field::{DEFAULT_CELL_M, FloorField};
use gatelab_walk::validation::rimea_9_room;
use gatelab_walk::{Crowd, ModelParams, Route, Vec2};
use wkt::ToWkt;

fn main() {
    let params = ModelParams::default();
    let (area, goals, people) = rimea_9_room(true, 1).expect("the room");
    let area = Arc::new(area);
    let started = Instant::now();
    let field = Arc::new(FloorField::new(&area, "nearest door", &goals, DEFAULT_CELL_M).expect("the field"));
    let field_s = started.elapsed().as_secs_f64();
    let mut crowd = Crowd::new(area.clone(), params);
    let route = crowd.add_route(Route::Field(field));
    for &(p, v0) in &people {
        crowd.add(p, v0, route);
    }
    let started = Instant::now();
    while !crowd.persons().is_empty() && crowd.time_s() < 1_200.0 {
        crowd.step();
    }
    let ours = started.elapsed().as_secs_f64();
    println!(
        "gatelab-walk — RiMEA 9 room, 1,000 people, 4 doors, dt {} s: evacuated in {:.1} s simulated; \
         {:.3} s wall ({} steps, {} agent-steps, {:.2} M agent-steps/s); floor field {:.3} s",
        params.dt_s,
        crowd.time_s(),
        ours,
        crowd.steps(),
        crowd.agent_steps(),
        crowd.agent_steps() as f64 / ours / 1e6,
        field_s
    );
    match jupedsim(&area, &goals, &people, &params) {
        Ok(v) => {
            let wall = v["wall_s"].as_f64().unwrap_or(f64::NAN);
            let steps = v["agent_steps"].as_f64().unwrap_or(f64::NAN);
            let left = v["left"].as_u64().unwrap_or(0);
            println!(
                "{} — same room and people: {} after {:.1} s simulated; {:.3} s wall ({} agent-steps, \
                 {:.2} M agent-steps/s)",
                v["engine"].as_str().unwrap_or("jupedsim"),
                if left == 0 { "all out".to_owned() } else { format!("{left} still inside (stuck at the doors)") },
                v["evacuation_s"].as_f64().unwrap_or(f64::NAN),
                wall,
                steps,
                steps / wall / 1e6
            );
            // With people stuck, JuPedSim runs to the cap: its wall time is then not the same
            // work, and the time per agent-step is the fair comparison.
            let ours_per_step = ours / crowd.agent_steps() as f64;
            println!(
                "ratio gatelab-walk / jupedsim: wall time {:.3}, time per agent-step {:.3}",
                ours / wall,
                ours_per_step / (wall / steps)
            );
        }
        Err(why) => println!("jupedsim not run: {why}"),
    }
}

fn jupedsim(
    area: &gatelab_walk::Walkable,
    goals: &[gatelab_walk::Segment],
    people: &[(Vec2, f64)],
    params: &ModelParams,
) -> Result<serde_json::Value, String> {
    let python = gatelab_faces::paths::python();
    // Each door's exit stage: the outer 0.3 m of its passage, as our people arrive within 0.3 m.
    let exits: Vec<Vec<[f64; 2]>> = goals
        .iter()
        .map(|g| {
            let mid = (g.a + g.b) * 0.5;
            let inward = if mid.x < 15.0 { Vec2::new(0.3, 0.0) } else { Vec2::new(-0.3, 0.0) };
            let (a, b) = (g.a, g.b);
            [a, b, b + inward, a + inward].iter().map(|p| [p.x, p.y]).collect()
        })
        .collect();
    // JuPedSim's agents take the door nearest in a straight line (ours follow the floor field's
    // nearest; in an empty room the same door).
    let agents: Vec<[f64; 4]> = people
        .iter()
        .map(|&(p, v0)| {
            let nearest = goals
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.distance(p).total_cmp(&b.1.distance(p)))
                .map_or(0, |(i, _)| i);
            [p.x, p.y, v0, nearest as f64]
        })
        .collect();
    let model = [params.dt_s, params.radius_m, params.time_gap_s, params.neighbour_range_m];
    gatelab_benches::run_jupedsim(
        &python,
        area.polygon().wkt_string(),
        serde_json::json!(exits),
        serde_json::json!(agents),
        model,
        1_200.0,
    )
}
