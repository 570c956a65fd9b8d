//! `gatelab plan`, `sweep` and `merge`: one planning job, in one process or split over a cluster.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use gatelab_plan::{self as plan, SweepSpec};

use crate::args::{MergeArgs, PlanArgs, SweepArgs};
use crate::progress::Bar;

/// Sweep, recommend, then vary the inputs at the recommended deployment.
pub fn plan(args: PlanArgs) -> Result<ExitCode> {
    plan_watched(args, None)
}

/// `gatelab plan`, reporting to `watcher` instead of a progress bar (and printing nothing)
/// when one is given: the browser's workbench plans through here.
pub fn plan_watched(args: PlanArgs, watcher: Option<&dyn gatelab_sim::progress::Progress>) -> Result<ExitCode> {
    let (lanes_from, lanes_to) = args.lanes;
    let scenario_path = match &args.scenario {
        Some(p) => {
            Some(p.canonicalize().with_context(|| format!("scenario {} not found; check the path", p.display()))?)
        }
        None => None,
    };
    let mut spec = SweepSpec {
        scenario: scenario_path,
        target_wait_p95_s: args.target_wait_p95,
        booth_target_wait_p95_s: args.booth_target_wait_p95,
        los: args.los,
        lanes_from,
        lanes_to,
        desks_from: args.desks.map(|d| d.0),
        desks_to: args.desks.map(|d| d.1),
        replications: 0,
        max_replications: Some(args.max_replications),
        per_gate: args.per_gate,
        seed: args.seed,
        sensitivity_lanes: None,
        duration_min: args.duration_min,
        runs: Vec::new(),
    };
    let scenario = spec.load_scenario(Path::new("."))?;
    spec.replications = args.replications.unwrap_or(scenario.run.replications.max(3));
    spec.max_replications = Some(args.max_replications.max(spec.replications));
    spec.validate(&scenario)?;
    if args.slurm {
        return super::cluster::slurm(&args, &spec, &scenario);
    }
    if let Some(file) = &args.k8s_manifest {
        return super::cluster::k8s_manifest(&args, &spec, file);
    }
    let started = std::time::Instant::now();
    let bar = Bar::new(args.quiet);
    let (spec, result) = plan::plan(spec, &scenario, !args.no_sensitivity, watcher.unwrap_or(&bar))?;
    let mut files = plan::write_outputs(&args.out, &result)?;
    files.push(plan::write_spec(&args.out, &spec)?);
    files.extend(los_maps(&args.out, &spec, &scenario, &result)?);
    if watcher.is_some() {
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", plan::render_table(&result));
    println!(
        "planned {} configuration(s), {} run(s) in all, in {:.1} s",
        result.configurations.len(),
        spec.runs.iter().map(|r| r.replications).sum::<u32>(),
        started.elapsed().as_secs_f64()
    );
    println!("files:");
    for f in &files {
        println!("  {}", f.display());
    }
    println!("open the report: {}", args.out.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}

/// In a site: the recommended deployment's level-of-service maps (its replications run again
/// with the plan's seeds: the same runs), written beside the report and drawn in it.
fn los_maps(
    out: &Path,
    spec: &SweepSpec,
    scenario: &gatelab_scenario::Scenario,
    result: &plan::Plan,
) -> Result<Vec<std::path::PathBuf>> {
    let (Some(_), Some(rec)) = (&scenario.site, &result.recommended) else { return Ok(Vec::new()) };
    let mut s = rec.config.apply(scenario);
    if let Some(minutes) = spec.duration_min {
        s.run.duration_min = minutes;
    }
    let replications = u32::try_from(rec.replications).unwrap_or(u32::MAX).max(1);
    let run = gatelab_sim::run::run_keeping(
        &s,
        result.seed,
        replications,
        &Bar::new(true),
        gatelab_sim::engine::Keep::NOTHING,
    )
    .context("the level-of-service map of the recommended deployment")?;
    let maps: Vec<&[gatelab_sim::engine::los_map::DensityMap]> =
        run.replications.iter().map(|r| r.density_maps.as_slice()).collect();
    let maps = gatelab_sim::engine::los_map::mean(&maps);
    let files = crate::los_map::write(out, &maps)?;
    let report = out.join("report.html");
    let html = std::fs::read_to_string(&report).with_context(|| format!("could not read {}", report.display()))?;
    let mut section = format!("<h2>Level of service at the peak ({})</h2>\n", rec.label);
    for map in &maps {
        section.push_str(&crate::los_map::svg(map)?);
        section.push('\n');
    }
    let html = match html.rfind("</body>") {
        Some(at) => format!("{}{section}{}", &html[..at], &html[at..]),
        None => html + &section,
    };
    std::fs::write(&report, html).with_context(|| format!("could not write {}", report.display()))?;
    Ok(files)
}

/// One shard of a sweep into a folder.
pub fn sweep(args: SweepArgs) -> Result<ExitCode> {
    let spec = SweepSpec::load(&args.spec)?;
    let scenario = spec.load_scenario(Path::new("."))?;
    spec.validate(&scenario)?;
    anyhow::ensure!(
        !spec.per_gate || !spec.runs.is_empty(),
        "{}: per_gate is a search whose next run depends on the last; run `gatelab plan --per-gate`, then shard \
         the spec.json it writes (its runs)",
        args.spec.display()
    );
    let shard = plan::shard_from(args.shard.as_deref(), &|k| std::env::var(k).ok())?;
    let units = plan::run_units(&spec, &scenario, shard, &Bar::new(args.quiet))?;
    plan::write_shard(&args.out, &spec, &units)?;
    println!("shard {}/{}: {} run(s) written to {}", shard.0, shard.1, units.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Shard folders → the plan's files.
pub fn merge(args: MergeArgs) -> Result<ExitCode> {
    let (spec, units) = plan::read_shards(&args.shards)?;
    let scenario = spec.load_scenario(Path::new("."))?;
    plan::check_complete(&spec, &scenario, &units)?;
    let result = plan::summarise(&spec, &scenario, &units);
    let files = plan::write_outputs(&args.out, &result)?;
    print!("{}", plan::render_table(&result));
    for f in files {
        println!("  {}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}
