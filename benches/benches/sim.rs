//! The rush-hour simulation's speed: the 5,000-resident public-rental estate's 3-hour morning
//! peak (07:00–10:00), one replication, one core, release build, in two forms:
//!
//! 1. stylised (`public-rental-estate`): then JuPedSim 1.4.2 (PyPI `jupedsim`,
//!    collision-free speed model) on a single-bottleneck corridor with the same number of
//!    agents, the same time step and the same arrival window;
//! 2. on its drawn site (`public-rental-estate-site`, `scenarios/sites/public-rental-estate.dxf`):
//!    the ground's one-off cost, then the run with free flow far from the queues (the shipped
//!    setting) and with everyone resolved (`free_flow_beyond_m = 0`), then JuPedSim on *the same
//!    geometry* — the site's walkable polygon, the same people appearing at the same times at
//!    the site's building entrances and street edges and walking to their gate's opening, at
//!    our model's time step (0.05 s). JuPedSim only walks (no terminals, no queues' service).
//!
//! Prints both times, agent-steps per second and the ratios.
//!
//! `cargo bench -p gatelab-benches --bench sim` (JuPedSim is installed by `cargo xtask setup`;
//! set `GATELAB_SKIP_JUPEDSIM=1` to time only gatelab, `GATELAB_SKIP_SITE=1` for the stylised
//! estate only).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gatelab_sim::engine::{Keep, Simulation};
use gatelab_site::SourceKind;

const RUNS: usize = 5;
/// Runs of the site with free flow (each a few seconds); the fully resolved run is timed once.
const SITE_RUNS: usize = 3;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn main() {
    // Criterion-style arguments (`--bench`, filters) are accepted and ignored.
    let root = workspace();
    stylised(&root);
    if std::env::var_os("GATELAB_SKIP_SITE").is_none() {
        println!();
        site();
    }
}

fn new_sim(scenario: &gatelab_scenario::Scenario, keep: Keep) -> Simulation {
    match Simulation::new(scenario, scenario.run.seed, keep) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn listed(v: &[f64]) -> String {
    v.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(", ")
}

fn stylised(root: &Path) {
    let mut scenario = gatelab_benches::shipped_scenario("public-rental-estate");
    scenario.run.start = "07:00".into();
    scenario.run.duration_min = 180;
    let mut times = Vec::new();
    let mut setups = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let started = Instant::now();
        // Building the app is registration day: every person, card, consent and enrolment
        // through every terminal, each audited and checked.
        let mut sim = new_sim(&scenario, Keep::NOTHING);
        setups.push(started.elapsed().as_secs_f64());
        sim.run_to_end(&|_| {});
        let rep = sim.finish();
        times.push(started.elapsed().as_secs_f64());
        last = Some(rep);
    }
    setups.sort_by(f64::total_cmp);
    let Some(rep) = last else { return };
    times.sort_by(f64::total_cmp);
    let ours = times[RUNS / 2];
    let agents = rep.figures.arrivals as u64;
    println!("gatelab sim — {} 07:00–10:00, 1 replication, dt {} s, one core", scenario.name, scenario.run.dt_s);
    println!(
        "  agents {agents}, passages {}, Bevy updates {} (idle ticks skipped), agent-steps {}",
        rep.figures.passages, rep.updates, rep.agent_steps
    );
    println!(
        "  wall {ours:.3} s (median of {RUNS}: {}), {:.0} agent-steps/s; aim < 0.5 s: {}",
        times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(", "),
        rep.agent_steps as f64 / ours,
        if ours < 0.5 { "met" } else { "NOT met" }
    );
    println!("  of which registration day (building the app) {:.3} s (median)", setups[RUNS / 2]);
    if std::env::var_os("GATELAB_SKIP_JUPEDSIM").is_some() {
        return;
    }
    match jupedsim(root, agents, scenario.run.dt_s) {
        Ok((theirs, steps)) => {
            println!(
                "jupedsim 1.4.2 — corridor 150 m × 4 m, 1 m bottleneck, {agents} agents over 3 h, dt {} s",
                scenario.run.dt_s
            );
            println!("  wall {theirs:.3} s, {steps} agent-steps, {:.0} agent-steps/s", steps as f64 / theirs);
            println!("ratio gatelab / jupedsim wall time: {:.3}", ours / theirs);
        }
        Err(why) => println!("jupedsim not run: {why}"),
    }
}

/// Run JuPedSim on the equivalent corridor; returns (wall seconds, agent-steps).
fn jupedsim(root: &Path, agents: u64, dt: f64) -> Result<(f64, u64), String> {
    // gatelab's venv, where `cargo xtask setup` installs JuPedSim 1.4.2.
    let python = gatelab_faces::paths::python();
    let has = Command::new(&python).args(["-c", "import jupedsim"]).status().is_ok_and(|s| s.success());
    if !has {
        return Err(format!("{} cannot import jupedsim: run `cargo xtask setup`", python.display()));
    }
    let dir = std::env::temp_dir().join(format!("gatelab-jupedsim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let input = dir.join("corridor.json");
    let output = dir.join("result.json");
    let py = root.join("benches/py");
    let status = Command::new(&python)
        .arg(py.join("make_corridor_input.py"))
        .args(["--agents", &agents.to_string(), "--duration", "10800", "--seed", "1", "--dt", &dt.to_string()])
        .arg("--output")
        .arg(&input)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("make_corridor_input.py failed".into());
    }
    let status = Command::new(&python)
        .arg(py.join("jupedsim_corridor.py"))
        .args(["--model", "collision_free", "--input"])
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&output).map_err(|e| format!("no result from jupedsim_corridor.py ({e})"))?;
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        return Err(format!("jupedsim_corridor.py failed: {text}"));
    }
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let wall = v["wall_s"].as_f64().ok_or("no wall_s")?;
    let steps = v["agent_steps"].as_u64().ok_or("no agent_steps")?;
    Ok((wall, steps))
}

/// The estate on its drawn site: our run with and without free flow, then JuPedSim on the same
/// polygon with the same people.
fn site() {
    let mut scenario = gatelab_benches::shipped_scenario("public-rental-estate-site");
    scenario.run.start = "07:00".into();
    scenario.run.duration_min = 180;
    // The first build reads and checks the drawing and computes every gate's floor fields;
    // later ones (every replication, every plan unit of the same lanes) reuse them.
    let started = Instant::now();
    let mut sim = new_sim(&scenario, Keep { arrivals: true, ..Keep::NOTHING });
    let first_build = started.elapsed().as_secs_f64();
    sim.run_to_end(&|_| {});
    let first = sim.finish();
    let arrived = first.arrivals.clone().unwrap_or_default();
    let time_one = |scenario: &gatelab_scenario::Scenario| {
        let started = Instant::now();
        let mut sim = new_sim(scenario, Keep::NOTHING);
        let build = started.elapsed().as_secs_f64();
        sim.run_to_end(&|_| {});
        let rep = sim.finish();
        (started.elapsed().as_secs_f64(), build, rep)
    };
    let mut walls = Vec::new();
    let mut builds = Vec::new();
    let mut last = None;
    for _ in 0..SITE_RUNS {
        let (wall, build, rep) = time_one(&scenario);
        walls.push(wall);
        builds.push(build);
        last = Some(rep);
    }
    let Some(rep) = last else { return };
    let ours = median(walls.clone());
    println!(
        "gatelab sim — {} 07:00–10:00 on scenarios/sites/public-rental-estate.dxf, 1 replication, one core",
        scenario.name
    );
    println!(
        "  agents {}, passages {}, unserved {}, agent-steps {} (crowd step 0.05 s), wait p95 {:.1} s",
        rep.figures.arrivals,
        rep.figures.passages,
        rep.figures.unserved_at_end,
        rep.agent_steps,
        rep.figures.wait_s.p95
    );
    println!(
        "  site read and checked, every gate's floor fields computed (once per lane configuration): {:.3} s",
        first_build - median(builds.clone())
    );
    println!(
        "  free flow beyond {} m of the queues (shipped): wall {ours:.3} s (median of {SITE_RUNS}: {}), {:.0} \
         agent-steps/s; aim < 1.5 s: {}",
        scenario.site.as_ref().map_or(0.0, |s| s.free_flow_beyond_m),
        listed(&walls),
        rep.agent_steps as f64 / ours,
        if ours < 1.5 { "met" } else { "NOT met" }
    );
    println!("    of which registration day {:.3} s (median)", median(builds));
    let mut exact = scenario.clone();
    if let Some(site) = exact.site.as_mut() {
        site.free_flow_beyond_m = 0.0;
    }
    let (exact_wall, _, exact_rep) = time_one(&exact);
    println!(
        "  everyone resolved (free_flow_beyond_m = 0): wall {exact_wall:.3} s, {:.0} agent-steps/s, wait p95 {:.1} s; \
         free flow / resolved: {:.3}",
        exact_rep.agent_steps as f64 / exact_wall,
        exact_rep.figures.wait_s.p95,
        ours / exact_wall
    );
    if std::env::var_os("GATELAB_SKIP_JUPEDSIM").is_some() {
        return;
    }
    match jupedsim_site(&scenario, &arrived) {
        Ok((theirs, steps, left)) => {
            println!(
                "jupedsim 1.4.2 — the same site polygon, {} agents at the same times and gates, entrance → opening, dt 0.05 s",
                arrived.len()
            );
            println!(
                "  wall {theirs:.3} s, {steps} agent-steps, {:.0} agent-steps/s{}",
                steps as f64 / theirs,
                if left > 0 { format!(" ({left} still walking at the cap)") } else { String::new() }
            );
            println!(
                "ratio gatelab / jupedsim wall time: {:.3} with free flow (aim ≤ 0.1), {:.3} everyone resolved",
                ours / theirs,
                exact_wall / theirs
            );
        }
        Err(why) => println!("jupedsim not run: {why}"),
    }
}

/// The site in JuPedSim's terms (site coordinates): the walkable polygon, per gate an exit
/// beyond the opening on each side, and each arrival at its source; returns (wall seconds,
/// agent-steps, agents left at the cap).
fn jupedsim_site(
    scenario: &gatelab_scenario::Scenario,
    arrived: &[gatelab_sim::engine::arrivals::Arrived],
) -> Result<(f64, u64, u64), String> {
    use gatelab_walk::Vec2;
    use wkt::ToWkt;
    let python = gatelab_faces::paths::python();
    let has = Command::new(&python).args(["-c", "import jupedsim"]).status().is_ok_and(|s| s.success());
    if !has {
        return Err(format!("{} cannot import jupedsim: run `cargo xtask setup`", python.display()));
    }
    let spec = scenario.site.as_ref().ok_or("the scenario has no site")?;
    let path = spec.path.clone().unwrap_or_else(|| spec.file.clone().into());
    let site = gatelab_site::load(&path).map_err(|e| e.to_string())?;
    let homes: Vec<Vec2> =
        site.sources.iter().filter(|s| matches!(s.kind, SourceKind::Residents { .. })).map(|s| s.at).collect();
    let centre = homes.iter().fold(Vec2::ZERO, |a, &p| a + p) * (1.0 / homes.len().max(1) as f64);
    let mut exits = Vec::new();
    let mut streets = Vec::new();
    for gate in &scenario.gates {
        let name = gate.site_gate.clone().unwrap_or_else(|| gate.name.clone());
        let line = site.gates.iter().find(|g| g.name == name).ok_or(format!("no gate {name}"))?.line;
        let along = (line.b - line.a).normalize_or_zero();
        let mut inward = along.perp();
        if inward.dot(centre - line.a) < 0.0 {
            inward = inward * -1.0;
        }
        // Leaving: 1–2.5 m beyond the line on the street's side; coming in: on the compound's.
        let band = |sign: f64| {
            let (near, far) = (inward * (sign * 1.0), inward * (sign * 2.5));
            let (a, b) = (line.a + along * 0.3, line.b - along * 0.3);
            vec![
                [(a + near).x, (a + near).y],
                [(b + near).x, (b + near).y],
                [(b + far).x, (b + far).y],
                [(a + far).x, (a + far).y],
            ]
        };
        exits.push(band(-1.0));
        exits.push(band(1.0));
        // Visitors come along the gate's own pavement: its two nearest street edges.
        let mid = (line.a + line.b) * 0.5;
        let mut edges: Vec<Vec2> = site.sources.iter().filter(|s| s.kind == SourceKind::Street).map(|s| s.at).collect();
        edges.sort_by(|p, q| (*p - mid).length().total_cmp(&(*q - mid).length()));
        edges.truncate(2);
        streets.push(edges);
    }
    let mut agents = Vec::new();
    // JuPedSim's clock starts at the first arrival.
    let t0 = arrived.iter().map(|a| a.at_ms).min().unwrap_or(0);
    for a in arrived {
        let r = gatelab_benches::splitmix(a.serial ^ 0x5eed);
        let u = |k: u32| (gatelab_benches::splitmix(r.wrapping_add(u64::from(k))) >> 11) as f64 / (1u64 << 53) as f64;
        // Free speed: the scenario's normal, by Box–Muller, within 0.5–2.0 m/s.
        let z = (-2.0 * u(1).max(1e-12).ln()).sqrt() * (std::f64::consts::TAU * u(2)).cos();
        let speed = (scenario.behaviour.walk_speed_mean + scenario.behaviour.walk_speed_sd * z).clamp(0.5, 2.0);
        let (at, exit) = match a.direction {
            gatelab_core::Direction::Outbound => (homes[(r % homes.len() as u64) as usize], 2 * a.gate),
            gatelab_core::Direction::Inbound => {
                let edges = &streets[a.gate];
                (edges[(r % edges.len() as u64) as usize], 2 * a.gate + 1)
            }
        };
        agents.push(serde_json::json!([at.x, at.y, speed, exit, (a.at_ms - t0) as f64 / 1000.0]));
    }
    let params = gatelab_walk::ModelParams::default();
    let model = [params.dt_s, params.radius_m, params.time_gap_s, params.neighbour_range_m];
    let cap_s = f64::from(scenario.run.duration_min) * 60.0 + 1800.0;
    let wkt = site.walkable.polygon().wkt_string();
    let v =
        gatelab_benches::run_jupedsim(&python, wkt, serde_json::json!(exits), serde_json::json!(agents), model, cap_s)?;
    let wall = v["wall_s"].as_f64().ok_or("no wall_s")?;
    let steps = v["agent_steps"].as_u64().ok_or("no agent_steps")?;
    let left = v["left"].as_u64().unwrap_or(0);
    Ok((wall, steps, left))
}
