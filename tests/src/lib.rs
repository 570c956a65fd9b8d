//! Shared helpers for the workspace-level tests in `tests/tests/`.

use std::path::PathBuf;

use gatelab_scenario::Scenario;
use gatelab_sim::engine::{Replication, simulate};

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// A path relative to the workspace root.
pub fn workspace(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// A shipped scenario by name (`scenarios/<name>.toml`).
pub fn shipped(name: &str) -> Scenario {
    Scenario::load(&workspace(&format!("scenarios/{name}.toml"))).unwrap_or_else(|e| panic!("{e}"))
}

/// One replication of `scenario` over `minutes` from `start` ("HH:MM"), keeping rows and the
/// audit log.
pub fn run_window(mut scenario: Scenario, start: &str, minutes: u32, seed: u64) -> Replication {
    scenario.run.start = start.to_string();
    scenario.run.duration_min = minutes;
    scenario.validate().unwrap_or_else(|e| panic!("{}: {}", e.field, e.message));
    simulate(&scenario, seed, true, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The audit log of a replication, parsed back.
pub fn audit_log(rep: &Replication) -> Vec<gatelab_core::AuditRecord> {
    let bytes = rep.audit_jsonl.as_deref().unwrap_or_default();
    gatelab_core::audit::jsonl::read(bytes).unwrap_or_else(|e| panic!("the sim wrote an unreadable log: {e}"))
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
