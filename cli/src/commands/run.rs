//! `gatelab run`: simulate the rush hour, write the run's files, print the summary.

use std::process::ExitCode;

use anyhow::{Context, Result};
use gatelab_sim::engine::Keep;
use gatelab_sim::engine::trajectories::TrajectoryWindow;

use crate::args::{Format, RunArgs};
use crate::progress::Bar;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let RunArgs {
        scenario: path,
        seed,
        replications,
        duration_min,
        out,
        format,
        quiet,
        export_trace,
        record,
        trajectories,
        trajectory_fps,
        trajectory_window,
    } = args;
    let (mut scenario, label) = super::load_scenario(path.as_deref())?;
    if let Some(minutes) = duration_min {
        scenario.run.duration_min = minutes;
        scenario.validate().map_err(|e| anyhow::anyhow!("--duration-min {minutes}: {}", e.message))?;
    }
    let seed = seed.unwrap_or(scenario.run.seed);
    let replications = replications.unwrap_or(scenario.run.replications);
    anyhow::ensure!(replications > 0, "--replications 0: at least one replication");
    let started = std::time::Instant::now();
    let trajectories =
        trajectories.then(|| trajectory_keep(&scenario, trajectory_fps, trajectory_window)).transpose()?;
    let keep = Keep { trace: export_trace.is_some(), frames: record.is_some(), trajectories, ..Keep::ALL };
    let bar = Bar::new(quiet || format != Format::Text);
    let result = gatelab_sim::run::run_keeping(&scenario, seed, replications, &bar, keep)?;
    let mut files = result.write(&out)?;
    if let Some(file) = export_trace {
        let trace = result.replications[0].trace.as_ref().context("the run recorded no terminal events")?;
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(&file)
                .with_context(|| format!("--export-trace: could not create {}", file.display()))?,
        );
        trace
            .write(&mut w)
            .and_then(|()| std::io::Write::flush(&mut w))
            .with_context(|| format!("--export-trace: could not write {}", file.display()))?;
        files.push(file);
    }
    // In a site: each gate's level-of-service map over the replications.
    let maps: Vec<&[gatelab_sim::engine::los_map::DensityMap]> =
        result.replications.iter().map(|r| r.density_maps.as_slice()).collect();
    files.extend(crate::los_map::write(&out, &gatelab_sim::engine::los_map::mean(&maps))?);
    if let Some(kept) = &result.replications[0].trajectories {
        let description = format!("gatelab run of {label}, seed {seed}, replication 0");
        files.extend(kept.write(&out, &description)?);
    }
    if let Some(file) = record {
        let recording = result.replications[0].recording.as_ref().context("the run recorded no frames")?;
        recording.save(&file).context("--record")?;
        files.push(file);
    }
    match format {
        Format::Text => {
            print!("{}", result.render_table());
            println!("scenario: {label}; simulated in {:.1} s", started.elapsed().as_secs_f64());
            println!("files:");
            for f in files {
                println!("  {}", f.display());
            }
            println!(
                "next: gatelab check-consent {} --policy {}",
                out.join("audit.jsonl").display(),
                scenario.policy.name
            );
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&result.summary_json())?),
    }
    Ok(ExitCode::SUCCESS)
}

/// Which positions `--trajectories` keeps: every 1/FPS s inside the window (default the run).
fn trajectory_keep(
    scenario: &gatelab_scenario::Scenario,
    fps: u32,
    window: Option<(u64, u64)>,
) -> Result<TrajectoryWindow> {
    let dt_ms = (scenario.run.dt_s * 1000.0).round().max(1.0) as u64;
    let every_ms = if fps == 0 { 0 } else { 1000 / u64::from(fps) };
    anyhow::ensure!(
        fps > 0 && 1000 % u64::from(fps) == 0 && every_ms.is_multiple_of(dt_ms),
        "--trajectory-fps {fps}: frames must fall on the simulation's steps of {dt_ms} ms (run.dt_s); use a \
         divisor of {} ({})",
        1000 / dt_ms,
        (1..=1000 / dt_ms)
            .filter(|d| (1000 / dt_ms).is_multiple_of(*d))
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let start = u64::from(scenario.start_min()) * 60_000;
    let end = start + u64::from(scenario.run.duration_min) * 60_000 + gatelab_sim::engine::DRAIN_MS;
    let (from_ms, to_ms) = window.unwrap_or((start, end));
    anyhow::ensure!(
        from_ms >= start && from_ms < end,
        "--trajectory-window starts outside the run ({} to the end of its drain)",
        &scenario.run.start
    );
    Ok(TrajectoryWindow { every_ms, from_ms, to_ms })
}
