//! `gatelab run`: simulate the rush hour, write the run's files, print the summary.

use std::process::ExitCode;

use anyhow::{Context, Result};
use gatelab_sim::engine::Keep;

use crate::args::{Format, RunArgs};
use crate::progress::Bar;

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let RunArgs { scenario: path, seed, replications, duration_min, out, format, quiet, export_trace, record } = args;
    let (mut scenario, label) = super::load_scenario(path.as_deref())?;
    if let Some(minutes) = duration_min {
        scenario.run.duration_min = minutes;
        scenario.validate().map_err(|e| anyhow::anyhow!("--duration-min {minutes}: {}", e.message))?;
    }
    let seed = seed.unwrap_or(scenario.run.seed);
    let replications = replications.unwrap_or(scenario.run.replications);
    anyhow::ensure!(replications > 0, "--replications 0: at least one replication");
    let started = std::time::Instant::now();
    let keep = Keep { trace: export_trace.is_some(), frames: record.is_some(), ..Keep::ALL };
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
