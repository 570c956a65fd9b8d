//! The rendered viewer (`--features viewer`): a screenshot of the Dongcheng gate at its morning
//! peak, rendered for real (Mesa's Vulkan driver; under Xvfb when it is installed), checked
//! against an independent headless run of the same seed.
//!
//! `cargo test -p gatelab-sim --features viewer --test viewer`

use std::collections::HashSet;
use std::process::Command;

mod common;

use bevy::prelude::*;
use common::{scratch, text};
use gatelab_scenario::Scenario;
use gatelab_sim::engine::model::{Body, Clock};
use gatelab_sim::engine::{Keep, build_app};
use gatelab_sim::record::Look;
use gatelab_sim::run::{DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME, replication_seed};
use gatelab_sim::viewer::look_color;

/// Peak hour of the built-in scenario (the demand profile's busiest hour is 08:00–09:00; the
/// scanner is away then too, so a terminal shows as broken).
const AT: &str = "08:15";
const AT_MS: u64 = (8 * 60 + 15) * 60_000;
const SIZE: (u32, u32) = (1100, 640);

/// People in the plaza at `at_ms` by a plain headless run: every step due by then, then count
/// the bodies. Written apart from the viewer's own stepping, on purpose.
fn headless_count_at(at_ms: u64) -> usize {
    let scenario = Scenario::parse_named(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME).unwrap();
    let mut app = build_app(&scenario, replication_seed(scenario.run.seed, 0), Keep::NOTHING).unwrap();
    app.update();
    let mut stepped = false;
    loop {
        let c = app.world().resource::<Clock>();
        let next_tick = if stepped { c.next_tick.max(c.tick + 1) } else { c.tick };
        if c.finished || c.start_ms + next_tick * c.dt_ms > at_ms {
            break;
        }
        app.world_mut().run_schedule(FixedUpdate);
        stepped = true;
    }
    let world = app.world_mut();
    world.query::<&Body>().iter(world).count()
}

#[test]
fn screenshot_of_the_morning_peak_shows_everyone_the_simulation_has_there() {
    let dir = scratch("viewer-shot");
    let png_path = dir.join("peak.png");
    let size = format!("{}x{}", SIZE.0, SIZE.1);
    let args = ["view", "--screenshot", png_path.to_str().unwrap(), "--at", AT, "--size", &size];
    // Off-screen rendering needs no display; CI runs it under Xvfb anyway when it has one, as a
    // desktop user would.
    let xvfb = Command::new("xvfb-run").arg("--help").output().is_ok();
    let out = if xvfb {
        Command::new("xvfb-run").arg("-a").arg(env!("CARGO_BIN_EXE_gatelab")).args(args).output().unwrap()
    } else {
        Command::new(env!("CARGO_BIN_EXE_gatelab")).args(args).output().unwrap()
    };
    assert!(out.status.success(), "the viewer could not render (cargo xtask setup installs Mesa):\n{}", text(&out));

    // A PNG of the requested size.
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), SIZE);
    assert_eq!(info.color_type, png::ColorType::Rgba);
    let pixel = |x: u32, y: u32| {
        let i = ((y * info.width + x) * 4) as usize;
        [buf[i], buf[i + 1], buf[i + 2]]
    };

    // Not blank: the scenery, the panel and people give many distinct colours.
    let colours: HashSet<[u8; 3]> = (0..info.height)
        .step_by(3)
        .flat_map(|y| (0..info.width).step_by(3).map(move |x| (x, y)))
        .map(|(x, y)| pixel(x, y))
        .collect();
    assert!(colours.len() >= 12, "only {} distinct colours: blank?", colours.len());

    // The counts the viewer wrote: what it drew equals what the simulation has, and what an
    // independent headless run has, at that time.
    let counts: serde_json::Value =
        serde_json::from_slice(&std::fs::read(png_path.with_extension("counts.json")).unwrap()).unwrap();
    let drawn = counts["agents_drawn"].as_u64().unwrap() as usize;
    assert_eq!(counts["at"], AT);
    assert_eq!(counts["sim_agents"].as_u64().unwrap() as usize, drawn, "{counts}");
    let headless = headless_count_at(AT_MS);
    assert!(headless > 0, "the peak has people in the plaza: {headless}");
    assert_eq!(drawn, headless, "the viewer drew {drawn} people, a headless run has {headless} at {AT}");

    // They are on the image where the viewer says, in their kind's colour.
    let agents = counts["agents"].as_array().unwrap();
    let looks: Vec<(Look, [u8; 3])> = Look::ALL
        .iter()
        .map(|&l| {
            let [r, g, b, _] = look_color(l).to_srgba().to_u8_array();
            (l, [r, g, b])
        })
        .collect();
    let near = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 10);
    let mut matching = 0;
    for a in agents {
        let (x, y) = (a["x"].as_f64().unwrap() as u32, a["y"].as_f64().unwrap() as u32);
        let want = looks.iter().find(|(l, _)| l.as_str() == a["look"]).map(|(_, c)| *c).unwrap();
        if x < info.width && y < info.height && near(pixel(x, y), want) {
            matching += 1;
        }
    }
    assert!(
        matching * 10 >= agents.len() * 9,
        "only {matching} of {} people show in their colour where the viewer drew them",
        agents.len()
    );
}

#[test]
fn the_live_viewer_stepping_at_any_pace_gives_the_headless_runs_figures() {
    let mut scenario = Scenario::parse_named(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME).unwrap();
    scenario.run.duration_min = 30;
    let seed = replication_seed(scenario.run.seed, 0);
    let headless = gatelab_sim::engine::simulate(&scenario, seed, false, &|_| {}).unwrap().figures;

    // Uneven chunks of simulated time, as a viewer whose speed and frame rate vary asks for.
    let mut live = gatelab_sim::viewer::LiveSim::new(&scenario, seed).unwrap();
    let mut t = live.clock().start_ms;
    let mut chunk = 1;
    while live.next_step_ms().is_some() {
        t += chunk * 37;
        chunk = chunk % 97 + 13;
        live.advance_to(t);
    }
    let last = live.frame().unwrap().counters;
    assert!(headless.passages > 20.0, "{headless:?}");
    assert_eq!(last.passages as f64, headless.passages);
    assert_eq!(last.tailgating_undetected as f64, headless.tailgating.undetected);
    assert_eq!(last.tailgating_detected as f64, headless.tailgating.detected);
    assert_eq!(last.uncontrolled_passages as f64, headless.uncontrolled_passages);
    assert_eq!(last.consent_violations as f64, headless.consent_violations);
}
