//! Real PedPy (the venv `cargo xtask setup` makes) reads the trajectories the bottleneck case
//! writes: every point inside the walkable area, everyone counted at the door, and the flow it
//! measures at the door line is the flow the validation table reports.

use std::path::PathBuf;
use std::process::Command;

use gatelab_walk::validation::{self, Settings};
use wkt::ToWkt;

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("GATELAB_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("GATELAB_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("gatelab"));
    cache.join("venv").join("bin").join("python")
}

const SCRIPT: &str = r#"
import json, sys
import pedpy
traj = pedpy.load_trajectory(trajectory_file=__import__("pathlib").Path(sys.argv[1]))
area = pedpy.WalkableArea(sys.argv[2])
x, y0, y1 = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
line = pedpy.MeasurementLine([(x, y0), (x, y1)])
_, crossing = pedpy.compute_n_t(traj_data=traj, measurement_line=line)
frames = sorted(crossing["frame"].tolist())
flow = 160.0 / ((frames[179] - frames[19]) / traj.frame_rate)
print(json.dumps({"valid": bool(pedpy.is_trajectory_valid(traj_data=traj, walkable_area=area)),
                  "people": int(traj.data["id"].nunique()), "crossed": len(frames),
                  "frame_rate": traj.frame_rate, "flow": flow}))
"#;

#[test]
fn pedpy_reads_the_trajectories_and_measures_the_same_flow() {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `cargo xtask setup` (it creates gatelab's Python with PedPy 1.5.1)",
        python.display()
    );
    let dir = std::env::temp_dir().join(format!("gatelab-pedpy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = Settings { seeds: vec![1], trajectories: Some(dir.clone()), ..Settings::default() };
    let reports = validation::run(&settings, &["bottleneck".to_owned()]).unwrap();
    let ours = reports.iter().find(|r| r.measured.starts_with("b 1.0")).expect("the 1 m door's row").value;
    let (area, door) = validation::bottleneck_area(1.0).unwrap();
    let file = validation::trajectory_path(&dir, "bottleneck-1");
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&file)
        .arg(area.polygon().wkt_string())
        .args([door.a.x, door.a.y.min(door.b.y), door.a.y.max(door.b.y)].map(|v| v.to_string()))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "PedPy failed: {}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("PedPy: {got}; ours: J {ours:.3} /s");
    assert_eq!(got["valid"], true, "PedPy finds points outside the walkable area");
    assert_eq!(got["people"], 200);
    assert_eq!(got["crossed"], 200);
    assert_eq!(got["frame_rate"], 20.0);
    let flow = got["flow"].as_f64().unwrap();
    // PedPy counts a crossing at the frame after it; ours is interpolated inside the step.
    assert!((flow - ours).abs() <= 0.02 * ours, "PedPy {flow:.3} /s vs ours {ours:.3} /s");
}
