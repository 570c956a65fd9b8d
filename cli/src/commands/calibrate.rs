//! `gatelab calibrate`: gate logs → a scenario fragment (and a report), through
//! `gatelab-calibrate`; this module picks the format, draws the progress bar and prints.

use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gatelab_calibrate::{Format, Options, fragment};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{CalibrateArgs, LogFormat};

/// Logs smaller than this finish before a bar would be worth drawing.
const BAR_FROM_BYTES: u64 = 8 << 20;

/// The layout of `log` from its header: passages.csv has `t_s` and `agent`.
pub(crate) fn sniff(log: &Path) -> Result<LogFormat> {
    let file = std::fs::File::open(log).with_context(|| format!("could not open {}", log.display()))?;
    let mut header = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut header)
        .with_context(|| format!("could not read {}", log.display()))?;
    let names: Vec<&str> = header.trim().split(',').map(str::trim).collect();
    Ok(if names.contains(&"t_s") && names.contains(&"agent") { LogFormat::Passages } else { LogFormat::Gatelab })
}

pub fn calibrate(args: CalibrateArgs) -> Result<ExitCode> {
    let CalibrateArgs {
        logs,
        out,
        report,
        format,
        mapping,
        retry_window_s,
        resolution_min,
        saturation_headway_s,
        strict,
        quiet,
    } = args;
    if !(retry_window_s.is_finite() && retry_window_s >= 0.0) {
        bail!("--retry-window-s {retry_window_s}: give zero or more seconds (20 is usual)");
    }
    if !(1..=60).contains(&resolution_min) {
        bail!("--resolution-min {resolution_min}: give 1 to 60 minutes (5 shows a morning's peak)");
    }
    if !(saturation_headway_s.is_finite() && saturation_headway_s > 0.0) {
        bail!("--saturation-headway-s {saturation_headway_s}: give a positive number of seconds (8 is usual)");
    }
    let format = match (format, &mapping) {
        (Some(LogFormat::Mapped) | None, Some(file)) => {
            Format::Mapped(Box::new(gatelab_calibrate::mapping::Mapping::load(file)?))
        }
        (Some(LogFormat::Mapped), None) => bail!("--format mapped needs --mapping FILE (see calibrate/mappings/)"),
        (Some(_), Some(_)) => bail!("--mapping is for --format mapped; drop one of them"),
        (Some(LogFormat::Passages), None) => Format::Passages,
        (Some(LogFormat::Gatelab), None) => Format::Gatelab,
        (None, None) => match sniff(&logs[0])? {
            LogFormat::Passages => Format::Passages,
            _ => Format::Gatelab,
        },
    };
    let total: u64 = logs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let bar = if quiet || total < BAR_FROM_BYTES { ProgressBar::hidden() } else { ProgressBar::new(total) };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} reading logs [{bar:40}] {bytes}/{total_bytes} ({elapsed}, ~{eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let options = Options { retry_window_s, resolution_min, saturation_headway_s, ..Options::default() };
    let started = std::time::Instant::now();
    let result = gatelab_calibrate::calibrate(&logs, &format, options, strict, &mut |done, _| bar.set_position(done));
    bar.finish_and_clear();
    let cal = result?;
    let text = fragment::write(&cal);
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    }
    std::fs::write(&out, &text).with_context(|| format!("could not write {}", out.display()))?;

    println!(
        "read {} events from {} log(s) ({} format) in {:.1} s; {} day(s), gates: {}",
        cal.events,
        cal.files.len(),
        format.name(),
        started.elapsed().as_secs_f64(),
        cal.days,
        cal.gates.join(", ")
    );
    let skipped = cal.issues.total();
    if skipped > 0 {
        println!("skipped {skipped} rows:");
        for (kind, n) in &cal.issues.counts {
            println!("  {n:>8}  {kind}");
        }
        for issue in cal.issues.listed.iter().take(10) {
            println!("  {issue}");
        }
        if cal.issues.listed.len() > 10 {
            println!("  … {} more listed in the report", skipped - 10);
        }
    }
    if cal.issues.ignored > 0 {
        println!("ignored {} rows the mapping marks `ignore`", cal.issues.ignored);
    }
    let saturated = cal.rows.iter().filter(|r| r.saturated_out.is_some() || r.saturated_in.is_some()).count();
    println!(
        "demand: {} rows of {} min, {} arrivals of residents{}",
        cal.rows.len(),
        resolution_min,
        cal.counts.resident_arrivals,
        if saturated > 0 { format!(", {saturated} rows SATURATED (arrivals reconstructed)") } else { String::new() }
    );
    for f in &cal.service {
        match &f.fitted {
            Some(fit) => {
                let best = fit.best();
                println!(
                    "service {:<14} n = {:>6}  mean {:.2} s  cv {:.2}  {} (KS D {:.3}; other family KS D {:.3})",
                    f.kind.label(),
                    fit.n,
                    best.mean,
                    best.cv,
                    best.family.as_str(),
                    best.ks,
                    if best.family == fit.lognormal.family { fit.gamma.ks } else { fit.lognormal.ks }
                );
            }
            None => println!("service {:<14} not estimated ({} saturated headways)", f.kind.label(), f.histogram.len()),
        }
    }
    println!("wrote {}", out.display());
    if let Some(dir) = report {
        let files = gatelab_calibrate::report::write(&cal, &dir)?;
        println!("report: {}", files[0].display());
    }
    println!("next: add include = [\"{}\"] at the top of a scenario (relative to it)", out.display());
    Ok(ExitCode::SUCCESS)
}
