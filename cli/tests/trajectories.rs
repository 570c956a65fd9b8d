//! `gatelab run --trajectories` on a real run, read by real PedPy (the venv `cargo xtask setup`
//! makes): every position lies in the walkable area written beside it, and at each lane the
//! people PedPy sees cross its measurement line are exactly the passages `passages.csv` lists
//! for that lane.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

mod common;

use common::{scratch, text};

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("GATELAB_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("GATELAB_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(".cache").join("gatelab")
    });
    cache.join("venv").join("bin").join("python")
}

const SCRIPT: &str = r#"
import csv, json, sys, pathlib
import pedpy
out = pathlib.Path(sys.argv[1])
traj = pedpy.load_trajectory(trajectory_file=out / "trajectories.txt")
area = pedpy.WalkableArea((out / "walkable_area.wkt").read_text().strip())
counts = {}
with open(out / "measurement_lines.csv") as f:
    for row in csv.DictReader(f):
        line = pedpy.MeasurementLine(row["wkt"])
        _, crossing = pedpy.compute_n_t(traj_data=traj, measurement_line=line)
        counts[row["gate"] + " " + row["lane"]] = int(crossing["id"].nunique()) if len(crossing) else 0
print(json.dumps({"valid": bool(pedpy.is_trajectory_valid(traj_data=traj, walkable_area=area)),
                  "frame_rate": traj.frame_rate, "people": int(traj.data["id"].nunique()),
                  "crossed": counts}))
"#;

#[test]
fn pedpy_finds_every_position_walkable_and_counts_each_lane_s_passages() {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (it creates gatelab's Python with PedPy 1.5.1)",
        python.display()
    );
    let dir = scratch("trajectories");
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/tianjin-wenhuacun.toml");
    let run = Command::new(env!("CARGO_BIN_EXE_gatelab"))
        .arg("run")
        .arg(&scenario)
        .args(["--replications", "1", "--duration-min", "60", "--quiet", "--trajectories", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run));
    for file in ["trajectories.txt", "walkable_area.wkt", "measurement_lines.wkt", "queue_areas.wkt", "agents.csv"] {
        assert!(dir.join(file).exists(), "{file} not written: {}", text(&run));
    }
    // Ours: the passages through each lane (not the guard's door or the car gate).
    let mut ours: BTreeMap<String, u64> = BTreeMap::new();
    let mut passages = csv::Reader::from_path(dir.join("passages.csv")).unwrap();
    let headers = passages.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (gate, lane, decision) = (col("gate"), col("lane"), col("decision"));
    for row in passages.records() {
        let row = row.unwrap();
        if !row[decision].starts_with("denied") && !["guard-door", "car-gate"].contains(&&row[lane]) {
            *ours.entry(format!("{} {}", &row[gate], &row[lane])).or_default() += 1;
        }
    }
    let agents = csv::Reader::from_path(dir.join("agents.csv")).unwrap().records().count() as u64;
    let out = Command::new(&python).arg("-c").arg(SCRIPT).arg(&dir).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "PedPy failed: {}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("PedPy: {got}; ours: {ours:?}, {agents} agents.csv rows");
    assert_eq!(got["valid"], true, "PedPy finds positions outside the walkable area");
    assert_eq!(got["frame_rate"], 10.0);
    let lines = got["crossed"].as_object().unwrap();
    assert!(ours.keys().all(|k| lines.contains_key(k)), "a line for every lane used: {lines:?}");
    // A lane nobody used has a line that nobody crossed.
    let crossed: BTreeMap<String, u64> =
        lines.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).filter(|&(_, n)| n > 0).collect();
    assert!(ours.values().sum::<u64>() > 100, "a real morning: {ours:?}");
    assert_eq!(crossed, ours, "PedPy's N–t count at each lane's line against passages.csv");
    assert!(agents >= ours.values().sum::<u64>(), "agents.csv has a row per passage");
}
