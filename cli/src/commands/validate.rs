//! `gatelab validate`: the walking model's validation cases (`gatelab-walk`), run in parallel,
//! printed as a table, optionally as JSON and trajectories.

use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gatelab_walk::validation::{self, CASES, CaseReport, Settings};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::ValidateArgs;

pub fn validate(args: ValidateArgs) -> Result<ExitCode> {
    let ValidateArgs { cases, seeds, trajectories, json, time_gap, radius, shoulder, neighbour_range } = args;
    let mut settings =
        Settings { seeds: (1..=seeds).collect(), trajectories: trajectories.clone(), ..Settings::default() };
    let p = &mut settings.params;
    for (value, field, name) in [
        (time_gap, &mut p.time_gap_s, "--time-gap"),
        (radius, &mut p.radius_m, "--radius"),
        (shoulder, &mut p.shoulder_m, "--shoulder"),
        (neighbour_range, &mut p.neighbour_range_m, "--neighbour-range"),
    ] {
        if let Some(v) = value {
            if !(v.is_finite() && v > 0.0 && v < 5.0) {
                bail!("{name} {v}: give a positive figure under 5 (seconds or metres)");
            }
            *field = v;
        }
    }
    if let Some(dir) = &trajectories {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    let chosen: Vec<&validation::Case> =
        CASES.iter().filter(|c| cases.is_empty() || cases.iter().any(|n| n == c.name)).collect();
    // Unknown names: the library's message lists the known ones.
    if chosen.len() < cases.len() || chosen.is_empty() {
        validation::run(&settings, &cases).map_err(anyhow::Error::msg)?;
    }
    let bar = ProgressBar::new(chosen.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} validating [{bar:30}] {pos}/{len} cases, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Cases are independent and each is deterministic: run them side by side, print in order.
    let results: Vec<Result<Vec<CaseReport>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = chosen
            .iter()
            .map(|case| {
                let settings = &settings;
                let bar = &bar;
                scope.spawn(move || {
                    let out = (case.run)(settings);
                    bar.inc(1);
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("the case panicked".into()))).collect()
    });
    bar.finish_and_clear();
    let mut reports = Vec::new();
    for (case, result) in chosen.iter().zip(results) {
        reports.extend(result.map_err(|e| anyhow::anyhow!("{}: {e}", case.name))?);
    }
    print!("{}", validation::table(&reports));
    let failed = reports.iter().filter(|r| !r.pass).count();
    if let Some(path) = json {
        let rows: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| {
                serde_json::json!({"case": r.case, "measured": r.measured, "value": r.value,
                    "band": r.band, "pass": r.pass, "source": r.source})
            })
            .collect();
        let doc = serde_json::json!({"seeds": settings.seeds, "params": {
            "time_gap_s": settings.params.time_gap_s, "radius_m": settings.params.radius_m,
            "shoulder_m": settings.params.shoulder_m, "neighbour_range_m": settings.params.neighbour_range_m,
            "dt_s": settings.params.dt_s}, "cases": rows});
        std::fs::write(&path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("could not write {}", path.display()))?;
    }
    if let Some(dir) = trajectories {
        eprintln!("trajectories (PedPy's text format) in {}", dir.display());
    }
    if failed > 0 {
        eprintln!("{failed} of {} rows out of their band", reports.len());
        return Ok(ExitCode::from(1));
    }
    eprintln!("all {} rows inside their bands", reports.len());
    Ok(ExitCode::SUCCESS)
}
