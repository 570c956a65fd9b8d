//! `gatelab run`: replications of a scenario (in parallel, one seed per replication so the
//! result does not depend on the thread count), the output files and the summary table.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::engine::model::splitmix;
use crate::engine::{Keep, Replication, Simulation};
use crate::progress::Progress;
use crate::summary::Summary;
use gatelab_scenario::Scenario;

/// The built-in default scenario: the seed story's Dongcheng compound.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/dongcheng.toml");
pub const DEFAULT_SCENARIO_NAME: &str = "dongcheng (built in)";

/// Seed of replication `r` of a run seeded with `seed`.
pub fn replication_seed(seed: u64, r: u32) -> u64 {
    splitmix(seed ^ splitmix(u64::from(r) + 1))
}

/// What a run produced, across replications.
#[derive(Debug)]
pub struct RunResult {
    pub scenario: Scenario,
    pub seed: u64,
    pub replications: Vec<Replication>,
}

impl RunResult {
    /// Every figure over the replications (`summary.json`).
    pub fn summary(&self) -> Summary {
        Summary::of(&self.scenario, self.seed, &self.replications)
    }

    pub fn summary_json(&self) -> Value {
        self.summary().to_json()
    }

    /// The table printed at the end of a run.
    pub fn render_table(&self) -> String {
        let mut out = self.summary().render_table(self.scenario.run.duration_min);
        let first = &self.replications[0];
        if !first.violations.is_empty() {
            let _ = writeln!(out, "consent violations in the first replication (rule: reason):");
            for v in first.violations.iter().take(6) {
                let _ = writeln!(out, "  {:?}: {}", v.rule, v.message);
            }
            if first.violations.len() > 6 {
                let _ = writeln!(out, "  … {} more in audit.jsonl (gatelab check-consent)", first.violations.len() - 6);
            }
        }
        out
    }

    /// Write summary.json, passages.csv, queue.csv and audit.jsonl (the last three from the
    /// first replication) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir).with_context(|| format!("could not create the output folder {}", dir.display()))?;
        let first = &self.replications[0];
        let summary = dir.join("summary.json");
        let mut text = serde_json::to_string_pretty(&self.summary_json())?;
        text.push('\n');
        fs::write(&summary, text).with_context(|| format!("could not write {}", summary.display()))?;
        let passages = dir.join("passages.csv");
        write_csv(&passages, &first.passages)?;
        let queue = dir.join("queue.csv");
        write_csv(&queue, &first.queue)?;
        let audit = dir.join("audit.jsonl");
        fs::write(&audit, first.audit_jsonl.as_deref().unwrap_or_default())
            .with_context(|| format!("could not write {}", audit.display()))?;
        Ok(vec![summary, passages, queue, audit])
    }
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("could not create {}", path.display()))?;
    for row in rows {
        writer.serialize(row).with_context(|| format!("could not write {}", path.display()))?;
    }
    writer.flush().with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}

/// The scenario with every link up, when `scenario` has LAN outages: each replication is also
/// run on it with the same seed, and what the outages cost in p95 wait is the difference —
/// common random numbers, so free of the replications' own noise.
pub fn perfect_lan_twin(scenario: &Scenario) -> Option<Scenario> {
    let network = scenario.network.as_ref().filter(|n| n.has_outages())?;
    let mut twin = scenario.clone();
    twin.network = Some(gatelab_scenario::Network { outage_mtbf_h: 0.0, outages: Vec::new(), ..network.clone() });
    Some(twin)
}

/// The scenario with the liveness check off (`liveness_min` 0), when `scenario` has
/// `[attacks]`: what false refusals cost live people is the difference (same seed).
pub fn no_liveness_twin(scenario: &Scenario) -> Option<Scenario> {
    scenario.attacks.as_ref()?;
    let mut twin = scenario.clone();
    let mut policy = scenario.policy().ok()?;
    policy.liveness_min = 0.0;
    twin.policy.resolved = Some(policy);
    Some(twin)
}

/// Fill `replication`'s liveness costs from its twin without the check (same seed).
pub fn add_liveness_cost(replication: &mut Replication, unchecked: &Replication) {
    if let Some(a) = &mut replication.attacks {
        a.face_users_wait_s_p95_without_check = unchecked.figures.enrolled.wait_s_p95;
        a.face_users_wait_s_p95_cost = replication.figures.enrolled.wait_s_p95 - unchecked.figures.enrolled.wait_s_p95;
        a.wait_s_mean_cost = replication.figures.wait_s.mean - unchecked.figures.wait_s.mean;
    }
}

/// Fill `replication`'s outage costs from its twin on a perfect LAN (same seed).
pub fn add_outage_cost(replication: &mut Replication, perfect: &Replication) {
    if let Some(net) = &mut replication.network {
        net.wait_s_p95_perfect_lan = perfect.figures.wait_s.p95;
        net.wait_s_p95_cost = replication.figures.wait_s.p95 - perfect.figures.wait_s.p95;
        net.face_users_wait_s_p95_cost = replication.figures.enrolled.wait_s_p95 - perfect.figures.enrolled.wait_s_p95;
    }
}

/// Run `replications` replications of `scenario` seeded from `seed`, in parallel. Details
/// (rows, audit log) are kept for the first replication only.
pub fn run(scenario: &Scenario, seed: u64, replications: u32, progress: &dyn Progress) -> Result<RunResult> {
    run_keeping(scenario, seed, replications, progress, Keep::ALL)
}

/// [`run`], choosing what the first replication keeps (e.g. the terminals' trace).
pub fn run_keeping(
    scenario: &Scenario,
    seed: u64,
    replications: u32,
    progress: &dyn Progress,
    first: Keep,
) -> Result<RunResult> {
    let ticks = u64::from(scenario.run.duration_min) * 60_000 / (scenario.run.dt_s * 1000.0).round().max(1.0) as u64;
    let perfect_lan = perfect_lan_twin(scenario);
    let unchecked = no_liveness_twin(scenario);
    let runs = 1 + u64::from(perfect_lan.is_some()) + u64::from(unchecked.is_some());
    progress.start(
        runs * ticks * u64::from(replications),
        &format!(
            "simulating {} × {}{}",
            replications,
            scenario.name,
            match (perfect_lan.is_some(), unchecked.is_some()) {
                (true, true) => " (and each on a perfect LAN, and without the liveness check)",
                (true, false) => " (and each on a perfect LAN)",
                (false, true) => " (and each without the liveness check)",
                (false, false) => "",
            }
        ),
    );
    let results: Result<Vec<Replication>> = (0..replications)
        .into_par_iter()
        .map(|r| {
            let done = Cell::new(0u64);
            let report = |tick: u64| {
                let delta = tick.saturating_sub(done.get());
                done.set(tick.max(done.get()));
                progress.advance(delta);
            };
            let keep = if r == 0 { first } else { Keep::NOTHING };
            let mut sim = Simulation::new(scenario, replication_seed(seed, r), keep)
                .with_context(|| format!("replication {r} of scenario {:?}", scenario.name))?;
            sim.run_to_end(&report);
            // Named after the run's seed (the one a user can re-run with, and `gatelab view
            // --seed` takes), not the replication's.
            let origin = format!("scenario {:?}, seed {seed}, replication {r}", scenario.name);
            let mut replication = sim.finish_as(origin, seed);
            if let Some(twin) = &perfect_lan {
                done.set(0);
                let mut sim = Simulation::new(twin, replication_seed(seed, r), Keep::NOTHING)
                    .with_context(|| format!("replication {r} of scenario {:?} with a perfect LAN", scenario.name))?;
                sim.run_to_end(&report);
                add_outage_cost(&mut replication, &sim.finish());
            }
            if let Some(twin) = &unchecked {
                done.set(0);
                let mut sim = Simulation::new(twin, replication_seed(seed, r), Keep::NOTHING).with_context(|| {
                    format!("replication {r} of scenario {:?} without the liveness check", scenario.name)
                })?;
                sim.run_to_end(&report);
                add_liveness_cost(&mut replication, &sim.finish());
            }
            Ok(replication)
        })
        .collect();
    progress.finish();
    let replications = results?;
    Ok(RunResult { scenario: scenario.clone(), seed, replications })
}
