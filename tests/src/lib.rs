//! Shared helpers for the workspace-level tests in `tests/tests/`.

use std::path::PathBuf;

use gatelab_sim::engine::{Replication, simulate};
use gatelab_sim::scenario::Scenario;

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
