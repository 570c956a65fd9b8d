//! `gatelab serve`: the browser workbench (`gatelab-serve`), planning through the very code
//! path of `gatelab plan`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use clap::Parser;
use gatelab_serve::{Engine, Progress, Settings};

use crate::args::{Cli, Command, ServeArgs};

/// The shipped scenarios beside the sources this binary was built from.
fn shipped_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// `gatelab plan`'s arguments for a workbench plan, parsed by the same parser as the command
/// line: the plan is the one `gatelab plan SCENARIO --out DIR …` makes.
pub fn plan_command(scenario: &Path, settings: &Settings, out: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["gatelab".into(), "plan".into(), scenario.display().to_string()];
    let mut add = |k: &str, v: String| {
        args.push(k.into());
        args.push(v);
    };
    add("--out", out.display().to_string());
    add("--target-wait-p95", settings.target_wait_p95.to_string());
    add("--los", settings.los.clone());
    add("--lanes", format!("{}..{}", settings.lanes_from, settings.lanes_to));
    // Replications given: exactly that many (a quick what-if); else the sequential rule.
    match settings.replications {
        Some(r) => {
            add("--replications", r.to_string());
            add("--max-replications", r.to_string());
        }
        None => add("--max-replications", settings.max_replications.to_string()),
    }
    if let Some(m) = settings.duration_min {
        add("--duration-min", m.to_string());
    }
    if !settings.sensitivity {
        args.push("--no-sensitivity".into());
    }
    args.push("--quiet".into());
    args
}

#[derive(Debug)]
struct Planner;

impl Engine for Planner {
    fn plan(&self, scenario: &Path, settings: &Settings, out: &Path, progress: &dyn Progress) -> Result<()> {
        let cli = Cli::try_parse_from(plan_command(scenario, settings, out)).map_err(|e| anyhow!("{e}"))?;
        let Some(Command::Plan(args)) = cli.command else { unreachable!("a plan command line") };
        super::plan::plan_watched(args, Some(progress)).map(|_| ())
    }

    fn record(&self, scenario: &Path, minutes: u32, recording: &Path, out: &Path) -> Result<()> {
        // `gatelab run`'s own calls, without its printing (the server's output is its log).
        let (mut scenario, _) = super::load_scenario(Some(scenario))?;
        scenario.run.duration_min = scenario.run.duration_min.min(minutes);
        let keep = gatelab_sim::engine::Keep { frames: true, ..gatelab_sim::engine::Keep::ALL };
        let result =
            gatelab_sim::run::run_keeping(&scenario, scenario.run.seed, 1, &gatelab_sim::progress::Silent, keep)?;
        result.write(out)?;
        let kept = result.replications[0].recording.as_ref().context("the run recorded no frames")?;
        kept.save(recording).context("the recording")
    }

    fn calibrate(&self, log: &Path, fragment: &Path) -> Result<String> {
        // `gatelab calibrate`'s own calls with its defaults, without its printing.
        let format = match super::calibrate::sniff(log)? {
            crate::args::LogFormat::Passages => gatelab_calibrate::Format::Passages,
            _ => gatelab_calibrate::Format::Gatelab,
        };
        let options = gatelab_calibrate::Options::default();
        let cal = gatelab_calibrate::calibrate(&[log.to_path_buf()], &format, options, false, &mut |_, _| {})?;
        std::fs::write(fragment, gatelab_calibrate::fragment::write(&cal))
            .with_context(|| format!("could not write {}", fragment.display()))?;
        Ok(format!(
            "{} events read ({} format), {} rows skipped, {} demand rows",
            cal.events,
            format.name(),
            cal.issues.total(),
            cal.rows.len()
        ))
    }

    fn site_svg(&self, scenario: &gatelab_scenario::Scenario) -> Result<Option<String>> {
        let Some(spec) = &scenario.site else { return Ok(None) };
        let path = spec.path.clone().unwrap_or_else(|| spec.file.clone().into());
        let site = gatelab_site::load(&path).map_err(|e| anyhow!("{e}"))?;
        super::site::draw_svg(&site).map(Some)
    }
}

pub fn serve(args: ServeArgs) -> Result<ExitCode> {
    let scenarios = args.scenarios.unwrap_or_else(shipped_folder);
    anyhow::ensure!(
        scenarios.is_dir(),
        "no scenarios folder at {} — give --scenarios DIR (the scenarios/ folder of gatelab's sources)",
        scenarios.display()
    );
    let config = gatelab_serve::Config {
        bind: args.bind,
        port: args.port,
        data: args.data,
        token: args.token,
        scenarios: scenarios.canonicalize().context("the scenarios folder")?,
        max_upload: args.max_upload_mb.saturating_mul(1 << 20),
    };
    gatelab_serve::serve(config, Arc::new(Planner))?;
    Ok(ExitCode::SUCCESS)
}
