//! Helpers shared by the `gatelab-sim` integration tests (each test binary uses some of them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use gatelab_sim::scenario::Scenario;

/// A fresh scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatelab-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What a command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const RESIDENTS: f64 = 1000.0;

/// A single gate with `lanes` card lanes and one shared queue; `arrivals_per_hour` outbound
/// trips, service `mean_s` drawn from `distribution`.
pub fn queue_scenario(lanes: u32, arrivals_per_hour: f64, mean_s: f64, distribution: &str, hours: u32) -> Scenario {
    let rate = arrivals_per_hour / RESIDENTS;
    let profile: Vec<String> = (4..4 + hours).map(|h| format!("[{h}, {rate}, 0.0]")).collect();
    let text = format!(
        r#"
name = "queue-check"
description = "M/M/c or M/D/1 check"
[run]
start = "04:00"
duration_min = {minutes}
dt_s = 0.1
seed = 1
replications = 1
[population]
households = 1000
owners = 1000
renters = 0
opt_out_share = 1.0
[[gates]]
name = "gate"
lanes_in = 0
lanes_out = {lanes}
terminal = "card_only"
door_open_s = 4.0
lane_width_m = 0.9
walk_distance_m = 0.0
share = 1.0
queue = "shared"
[demand]
profile = [{profile}]
[behaviour]
walk_speed_mean = 1.34
walk_speed_sd = 0.26
tailgating_propensity = 0.0
face_retries = 0
walking = false
[service]
card_s = {mean_s}
distribution = "{distribution}"
[policy]
name = "compliant"
"#,
        minutes = hours * 60,
        profile = profile.join(", "),
    );
    Scenario::parse(&text).unwrap_or_else(|e| panic!("test scenario: {e}"))
}
