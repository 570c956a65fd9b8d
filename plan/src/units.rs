//! Running units — (configuration, replication) — in parallel, each a simulated replication.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use gatelab_scenario::Scenario;
use gatelab_sim::engine::{Keep, SharedRegistration, simulate_sharing};
use gatelab_sim::figures::{AttackFigures, Figures, GateFigures, NetworkFigures};
use gatelab_sim::progress::Progress;
use gatelab_sim::run::{add_liveness_cost, add_outage_cost, no_liveness_twin, perfect_lan_twin, replication_seed};

use crate::spec::{Config, SweepSpec};

/// What one unit produced. Figures for every replication; the details the report draws only
/// for replication 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitResult {
    pub config: Config,
    pub replication: u32,
    #[serde(with = "gatelab_sim::figures::nan_as_null")]
    pub figures: Figures,
    /// Each gate's own figures (lanes by direction, booth), for the per-gate decisions.
    pub gates: Vec<GateFigures>,
    #[serde(default)]
    pub detail: Option<Detail>,
    /// What the LAN and the consent lease did (scenarios with a `[network]` only), with the
    /// outages' cost against the same replication on a perfect LAN.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "network_nan_as_null")]
    pub network: Option<NetworkFigures>,
    /// Presentation attacks and the liveness check (scenarios with `[attacks]` only), with
    /// what false refusals cost against the same replication without the check.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "attacks_nan_as_null")]
    pub attacks: Option<AttackFigures>,
}

/// JSON writes NaN as `null`; read it back as NaN.
mod attacks_nan_as_null {
    use gatelab_sim::figures::AttackFigures;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(figures: &Option<AttackFigures>, s: S) -> Result<S::Ok, S::Error> {
        figures.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AttackFigures>, D::Error> {
        Ok(Option::<AttackFigures<Option<f64>>>::deserialize(d)?.map(|f| f.map(&mut |v| v.unwrap_or(f64::NAN))))
    }
}

/// JSON writes NaN as `null`; read it back as NaN.
mod network_nan_as_null {
    use gatelab_sim::figures::NetworkFigures;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(figures: &Option<NetworkFigures>, s: S) -> Result<S::Ok, S::Error> {
        figures.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NetworkFigures>, D::Error> {
        Ok(Option::<NetworkFigures<Option<f64>>>::deserialize(d)?.map(|f| f.map(&mut |v| v.unwrap_or(f64::NAN))))
    }
}

/// What the report plots for one configuration (from its first replication).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// (seconds since midnight, lane label, queue length).
    pub queue: Vec<(f64, String, u32)>,
    /// (credential, wait seconds) for every passage.
    pub waits: Vec<(String, f64)>,
    /// (lane label, passages).
    pub passages_per_lane: Vec<(String, u64)>,
    /// Length of the simulated window, hours.
    pub hours: f64,
}

/// Simulate the units of shard `shard` of `n` (round-robin over the canonical order), in
/// parallel; results come back in canonical order.
pub fn run_units(
    spec: &SweepSpec,
    scenario: &Scenario,
    shard: (u32, u32),
    progress: &dyn Progress,
) -> Result<Vec<UnitResult>> {
    let mine: Vec<(Config, u32)> = spec
        .units(scenario)
        .into_iter()
        .enumerate()
        .filter(|(u, _)| *u as u32 % shard.1 == shard.0)
        .map(|(_, x)| x)
        .collect();
    run_list(&mine, spec, scenario, progress)
}

/// Simulate the given units in parallel; results in the order given.
///
/// They run replication by replication: the configurations of one replication register the
/// same people (common random numbers), so they share that registration day
/// ([`SharedRegistration`]), which is dropped once the replication's last unit is done.
pub fn run_list(
    mine: &[(Config, u32)],
    spec: &SweepSpec,
    scenario: &Scenario,
    progress: &dyn Progress,
) -> Result<Vec<UnitResult>> {
    let seed = spec.seed.unwrap_or(scenario.run.seed);
    progress.start(mine.len() as u64, &format!("planning {} ({} runs)", scenario.name, mine.len()));
    let mut order: Vec<usize> = (0..mine.len()).collect();
    order.sort_by_key(|&u| mine[u].1);
    let mut days: BTreeMap<u32, SharedDay> = BTreeMap::new();
    for (_, r) in mine {
        *days.entry(*r).or_default().units_left.get_mut() += 1;
    }
    let results: Result<Vec<(usize, UnitResult)>> = order
        .par_iter()
        .map(|&u| {
            let (config, r) = &mine[u];
            anyhow::ensure!(!progress.cancelled(), "cancelled");
            let r = *r;
            let day = &days[&r];
            let shared = day.take();
            let result = run_unit(config, r, seed, scenario, &shared);
            drop(shared);
            day.done();
            progress.advance(1);
            Ok((u, result?))
        })
        .collect();
    progress.finish();
    let mut results = results?;
    results.sort_by_key(|(u, _)| *u);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// One replication's registration day while units of it are still to run.
#[derive(Default)]
struct SharedDay {
    shared: Mutex<Option<Arc<SharedRegistration>>>,
    units_left: AtomicUsize,
}

impl SharedDay {
    fn take(&self) -> Arc<SharedRegistration> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.get_or_insert_with(|| Arc::new(SharedRegistration::new())).clone()
    }

    /// One unit done; after the last, the day's memory is freed.
    fn done(&self) {
        if self.units_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.lock().unwrap_or_else(PoisonError::into_inner).take();
        }
    }
}

/// One unit: replication `r` of `config`, and its twins where the scenario needs them.
fn run_unit(
    config: &Config,
    r: u32,
    seed: u64,
    scenario: &Scenario,
    shared: &SharedRegistration,
) -> Result<UnitResult> {
    let s = config.apply(scenario);
    let label = config.label(scenario);
    s.validate().map_err(|e| anyhow::anyhow!("{label}: {}: {}", e.field, e.message))?;
    let keep = r == 0;
    let seed = replication_seed(seed, r);
    // The report needs rows of the first replication, never the audit log.
    let mut rep = simulate_sharing(&s, seed, Keep { rows: keep, ..Keep::NOTHING }, shared, &|_| {})
        .with_context(|| format!("{label} replication {r}"))?;
    if let Some(twin) = perfect_lan_twin(&s) {
        let perfect = simulate_sharing(&twin, seed, Keep::NOTHING, shared, &|_| {})
            .with_context(|| format!("{label} replication {r} on a perfect LAN"))?;
        add_outage_cost(&mut rep, &perfect);
    }
    if let Some(twin) = no_liveness_twin(&s) {
        let unchecked = simulate_sharing(&twin, seed, Keep::NOTHING, shared, &|_| {})
            .with_context(|| format!("{label} replication {r} without the liveness check"))?;
        add_liveness_cost(&mut rep, &unchecked);
    }
    let detail = keep.then(|| Detail {
        queue: rep.queue.iter().map(|q| (q.t_s, format!("{} {}", q.gate, q.lane), q.queue)).collect(),
        waits: rep
            .passages
            .iter()
            .filter(|p| !p.decision.is_denied())
            .map(|p| (p.credential.to_string(), p.wait_s))
            .collect(),
        passages_per_lane: {
            let mut m: BTreeMap<String, u64> = BTreeMap::new();
            for p in rep.passages.iter().filter(|p| !p.decision.is_denied()) {
                *m.entry(format!("{} {}", p.gate, p.lane)).or_default() += 1;
            }
            m.into_iter().collect()
        },
        hours: f64::from(s.run.duration_min) / 60.0,
    });
    Ok(UnitResult {
        config: config.clone(),
        replication: r,
        figures: rep.figures,
        gates: rep.gates,
        detail,
        network: rep.network,
        attacks: rep.attacks,
    })
}
