//! The rush-hour simulation's speed: the 5,000-resident public-rental estate's 3-hour morning
//! peak (07:00–10:00), one replication, one core, release build; then JuPedSim 1.4.2 (PyPI
//! `jupedsim`, collision-free speed model) on a single-bottleneck corridor with the same number
//! of agents, the same time step and the same arrival window, in the same command. Prints both
//! times, agent-steps per second and the ratio.
//!
//! `cargo bench -p gatelab-benches --bench sim` (JuPedSim is installed with pip if missing; set
//! `GATELAB_SKIP_JUPEDSIM=1` to time only gatelab).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gatelab_sim::engine::{Keep, Simulation};

const RUNS: usize = 5;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn main() {
    // Criterion-style arguments (`--bench`, filters) are accepted and ignored.
    let root = workspace();
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
        let mut sim = match Simulation::new(&scenario, scenario.run.seed, Keep::NOTHING) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::exit(2);
            }
        };
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
    match jupedsim(&root, agents, scenario.run.dt_s) {
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
