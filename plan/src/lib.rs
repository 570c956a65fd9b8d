//! Planning: sweep the deployment (lanes per gate and direction), find the smallest one whose
//! p95 wait meets the target for every group, set it beside Erlang C / M/D/c, and show which
//! inputs move the wait most.
//!
//! A sweep is a list of *units* — (configuration, replication) — each simulated on its own with
//! a seed fixed by the replication alone (common random numbers across configurations). Units
//! can run in one process (`plan`), in parallel on all cores, or sharded over machines
//! (`sweep --shard I/N`, Slurm job arrays, Kubernetes Indexed Jobs); `merge` sorts them and
//! writes the same bytes whatever the split.

pub mod analytic;
pub mod output;
pub mod report;
pub mod shards;
pub mod spec;
pub mod summary;
pub mod units;

use anyhow::Result;
use gatelab_scenario::Scenario;
use gatelab_sim::progress::Progress;

pub use output::{render_table, write_outputs};
pub use shards::{read_shards, write_shard, write_spec};
pub use spec::{Config, FACTORS, Factor, SweepSpec, shard_from};
pub use summary::{ConfigSummary, GROUPS, GroupWait, Plan, Recommended, Sensitivity, summarise};
pub use units::{Detail, UnitResult, run_list, run_units};

/// The planner's whole job in one process: run the sweep, recommend, then (with `sensitivity`)
/// vary the inputs at the recommended deployment, reusing every unit already run. Returns the
/// spec as run (with its `sensitivity_lanes` set, so `sweep` can reproduce it) and the plan.
pub fn plan(
    mut spec: SweepSpec,
    scenario: &Scenario,
    sensitivity: bool,
    progress: &dyn Progress,
) -> Result<(SweepSpec, Plan)> {
    let mut units = run_units(&spec, scenario, (0, 1), progress)?;
    if sensitivity {
        let first = summarise(&spec, scenario, &units);
        spec.sensitivity_lanes = Some(first.recommended.as_ref().map_or(spec.lanes_to, |r| r.lanes));
        // Only the varied configurations are new; the sweep already ran the others.
        let extra: Vec<_> = spec.units().into_iter().filter(|(c, _)| c.vary.is_some()).collect();
        units.extend(run_list(&extra, &spec, scenario, progress)?);
        units.sort_by_key(|u| (u.config, u.replication));
    }
    let result = summarise(&spec, scenario, &units);
    Ok((spec, result))
}
