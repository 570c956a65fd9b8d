//! Planning: find the smallest deployment — lanes per gate and direction, desks at the booths —
//! whose p95 waits meet the targets with 95 % confidence ([`search`]), set it beside Erlang C /
//! M/D/c, price it, and show which inputs move the wait most.
//!
//! A sweep is a list of *units* — (configuration, replication) — each simulated on its own with
//! a seed fixed by the replication alone; inside a replication every person draws from their own
//! stream, so configurations differ only by what they change (common random numbers). `plan`
//! runs what the search asks for, in parallel on all cores; its `spec.json` lists those runs, so
//! they can be sharded over machines (`sweep --shard I/N`, Slurm job arrays, Kubernetes Indexed
//! Jobs); `merge` sorts them and writes the same bytes whatever the split.

pub mod analytic;
pub mod output;
pub mod report;
pub mod search;
pub mod shards;
pub mod spec;
pub mod summary;
pub mod units;

use anyhow::Result;
use gatelab_scenario::Scenario;
use gatelab_sim::progress::Progress;

pub use output::{render_table, write_outputs};
pub use search::{Verdict, decide};
pub use shards::{check_complete, read_shards, write_shard, write_spec};
pub use spec::{Config, FACTORS, Factor, Run, SweepSpec, factors, shard_from};
pub use summary::{ConfigSummary, GROUPS, GroupWait, LANE_GROUPS, Plan, RULE, Recommended, Sensitivity, summarise};
pub use units::{Detail, UnitResult, run_list, run_units};

/// The planner's whole job in one process: run what the search asks for until it has decided
/// (lanes, then the booth), then (with `sensitivity`) vary the inputs at the recommended
/// deployment. Returns the spec as run — its `runs` list every unit, so `sweep` shards of it
/// merge into the same bytes — and the plan.
pub fn plan(
    mut spec: SweepSpec,
    scenario: &Scenario,
    sensitivity: bool,
    progress: &dyn Progress,
) -> Result<(SweepSpec, Plan)> {
    let mut units: Vec<UnitResult> = Vec::new();
    let decision = loop {
        let decision = search::decide(&spec, scenario, &search::results(&units));
        if decision.wanted.is_empty() {
            break decision;
        }
        let have = |c: &Config| units.iter().filter(|u| &u.config == c).count() as u32;
        let list: Vec<(Config, u32)> =
            decision.wanted.iter().flat_map(|(c, n)| (have(c)..*n).map(move |r| (c.clone(), r))).collect();
        let new = run_list(&list, &spec, scenario, progress)?;
        units.extend(new);
    };
    if sensitivity {
        let base = decision
            .booth
            .as_ref()
            .and_then(|b| b.desks_needed.map(|d| b.lanes.with_desks(Some(d))))
            .or(decision.recommended)
            .unwrap_or_else(|| Config::uniform(scenario, spec.lanes_to));
        let mut extra = Vec::new();
        for f in spec::factors(scenario) {
            for high in [false, true] {
                let c = Config { vary: Some((f, high)), ..base.clone() };
                extra.extend((0..spec.replications).map(|r| (c.clone(), r)));
            }
        }
        units.extend(run_list(&extra, &spec, scenario, progress)?);
    }
    units.sort_by(|a, b| (&a.config, a.replication).cmp(&(&b.config, b.replication)));
    let mut runs: Vec<Run> = Vec::new();
    for u in &units {
        match runs.last_mut() {
            Some(r) if r.config == u.config => r.replications += 1,
            _ => runs.push(Run { config: u.config.clone(), replications: 1 }),
        }
    }
    spec.runs = runs;
    let result = summarise(&spec, scenario, &units);
    Ok((spec, result))
}
