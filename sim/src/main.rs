//! `gatelab`: size, test and check face-recognition gates of residential compounds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use gatelab_sim::scenario::Scenario;
use gatelab_sim::{check, plan, policy_file, run as sim_run};

#[derive(Parser, Debug)]
#[command(
    name = "gatelab",
    version,
    about = "Size, test and check face-recognition entrance gates of residential compounds.",
    long_about = "Size, test and check face-recognition entrance gates of residential compounds.\n\n\
        Every gate decision is made by gatelab-core, the same sans-IO terminal that runs in the \
        simulation, on a host and on a Cortex-M board, and every run leaves an audit log that the \
        consent checker judges against the rules C1–C8 (separate consent, a non-face way in that is \
        no worse, no processing of non-consenting people, deletion on withdrawal, retention, no \
        export, safe degradation on faults, complete audit).\n\n\
        With no command, gatelab plans the built-in Dongcheng scenario (one gate, short-term \
        renters, residents who refuse face, a guard who opens the car gate, the scanner away for \
        repair): 1 to 4 lanes per gate and direction against a 60 s p95 wait, with the \
        sensitivity table, and says where the report is.",
    after_help = "Examples:\n  \
        gatelab                                            # plan the built-in Dongcheng gate: gatelab-plan/report.html\n  \
        gatelab plan scenarios/public-rental-estate.toml --target-wait-p95 30 --lanes 1..6\n  \
        gatelab run scenarios/tianjin-wenhuacun.toml --replications 20 --out out/tianjin\n  \
        gatelab run scenarios/dongcheng-forced-face.toml --out out/ff && gatelab check-consent out/ff/audit.jsonl\n  \
        gatelab scenario check scenarios/*.toml            # validate your own scenarios\n  \
        gatelab policy show compliant > my-policy.toml     # edit, then: gatelab check-consent LOG --policy my-policy.toml"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print what the core does: modules, dimensions, policies and the consent rules it checks.
    Describe,
    /// Simulate a compound's rush hour: Bevy crowd, real core terminals, consent-checked audit log.
    ///
    /// Writes DIR/summary.json (every figure as mean and 95 % interval over replications),
    /// DIR/passages.csv (one row per passage or denied attempt), DIR/queue.csv (queue length per
    /// lane every 10 s) and DIR/audit.jsonl (the terminals' audit log); the last three are from
    /// the first replication. Same scenario and seed: byte-identical files.
    Run {
        /// Scenario TOML (see scenarios/); the built-in Dongcheng scenario if omitted.
        scenario: Option<PathBuf>,
        /// Seed (default: the scenario's run.seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Replications, run in parallel on all cores (default: the scenario's run.replications).
        #[arg(long)]
        replications: Option<u32>,
        /// Simulate only this many minutes from run.start (a quick look).
        #[arg(long, value_name = "MIN")]
        duration_min: Option<u32>,
        /// Output folder.
        #[arg(long, value_name = "DIR", default_value = "gatelab-out")]
        out: PathBuf,
        /// Print the summary as JSON instead of a table.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Also record every event each terminal received (first replication) into FILE, for
        /// `gatelab-rig replay FILE` to feed to the firmware and compare decisions.
        #[arg(long, value_name = "FILE")]
        export_trace: Option<PathBuf>,
        /// Also record the first replication for `gatelab view --replay FILE`: everyone's
        /// position, the terminals, doors and counters every 0.5 s, and every passage and
        /// decision in order (a compact versioned file; recording changes no result).
        #[arg(long, value_name = "FILE")]
        record: Option<PathBuf>,
    },
    /// Watch a run: the gate area to scale, terminals coloured by state, doors, the guard booth
    /// and car gate, everyone in the plaza coloured by who they are, and live counters.
    ///
    /// Live, it runs the very simulation `gatelab run` runs (same scenario and seed: the same
    /// passages as replication 0 of `gatelab run`). Keys: space pause, → step, ↑/↓ speed ×1…×64,
    /// [ and ] five minutes back or on, Home the start, J then HHMM and Enter jump to a time,
    /// Z/X zoom in on the gate and out, P save a screenshot. Needs a build with
    /// `--features viewer` (e.g. `cargo run --release --features viewer -- view`).
    View {
        /// Scenario TOML; the built-in Dongcheng scenario if omitted.
        scenario: Option<PathBuf>,
        /// Seed, as for `gatelab run` (default: the scenario's run.seed).
        #[arg(long, conflicts_with = "replay")]
        seed: Option<u64>,
        /// Play back a recording made by `gatelab run --record FILE` instead of simulating.
        #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
        replay: Option<PathBuf>,
        /// Simulated seconds per real second: 1, 2, 4 … 64 (↑/↓ change it while watching).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
        speed: u32,
        /// Start at this time of day instead of the beginning (the simulation runs up to it first).
        #[arg(long, value_name = "HH:MM")]
        start: Option<String>,
        /// Start paused.
        #[arg(long)]
        paused: bool,
        /// Render the view at --at off-screen into this PNG, write OUT.counts.json beside it
        /// (people drawn, by kind and where, and the simulation's own count), and exit.
        /// Needs a Vulkan driver (Debian: mesa-vulkan-drivers), no display.
        #[arg(long, value_name = "OUT.png", requires = "at")]
        screenshot: Option<PathBuf>,
        /// Time of day of the screenshot, e.g. 07:45.
        #[arg(long, value_name = "HH:MM", requires = "screenshot")]
        at: Option<String>,
        /// Window (or screenshot) size in pixels.
        #[arg(long, value_name = "WxH", default_value = "1280x720")]
        size: String,
    },
    /// Size the gates: the smallest lanes per gate and direction whose p95 wait meets the target
    /// for face users, opt-outs, visitors and couriers, beside Erlang C / M/D/c, with a
    /// sensitivity table and an HTML report.
    ///
    /// Writes DIR/plan.json (`recommended` and one entry per configuration), DIR/plan.csv,
    /// DIR/report.html (self-contained, SVG plots) and DIR/spec.json, which `gatelab sweep`
    /// can shard over a cluster to get the very same files.
    Plan {
        /// Scenario TOML; the built-in Dongcheng scenario if omitted.
        scenario: Option<PathBuf>,
        /// The p95 wait (seconds) every group must meet.
        #[arg(long, value_name = "SECONDS", default_value_t = 60.0)]
        target_wait_p95: f64,
        /// Lanes per gate and direction to try, FROM..TO.
        #[arg(long, value_name = "FROM..TO", default_value = "1..4")]
        lanes: String,
        /// Replications per configuration (default: the scenario's run.replications, at least 2).
        #[arg(long)]
        replications: Option<u32>,
        #[arg(long)]
        seed: Option<u64>,
        /// Simulate only this many minutes from run.start.
        #[arg(long, value_name = "MIN")]
        duration_min: Option<u32>,
        /// Skip the sensitivity runs (10 more configurations).
        #[arg(long)]
        no_sensitivity: bool,
        #[arg(long, value_name = "DIR", default_value = "gatelab-plan")]
        out: PathBuf,
        #[arg(long)]
        quiet: bool,
    },
    /// Run one shard of a sweep (a spec TOML, e.g. the spec.json `plan` wrote, or your own) into
    /// a folder; `gatelab merge` combines the folders into the plan.
    ///
    /// The shard is --shard I/N (0 <= I < N), else Slurm's SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT, else a Kubernetes Indexed Job's JOB_COMPLETION_INDEX with
    /// GATELAB_SHARDS; without any, the whole sweep.
    Sweep {
        /// Sweep spec: scenario, target_wait_p95_s, lanes_from, lanes_to, replications, and
        /// optionally seed, sensitivity_lanes, duration_min.
        spec: PathBuf,
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        #[arg(long, value_name = "DIR", default_value = "gatelab-shard")]
        out: PathBuf,
        #[arg(long)]
        quiet: bool,
    },
    /// Combine shard folders of one sweep into plan.json, plan.csv and report.html.
    Merge {
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        #[arg(long, value_name = "DIR", default_value = "gatelab-plan")]
        out: PathBuf,
    },
    /// Real faces on ONNX Runtime: enrol (with a separate consent), verify, identify, withdraw,
    /// and evaluate the model on a labelled folder. The runtime and models come from
    /// `cargo xtask setup`; photos are read and dropped, only the store is written.
    Faces {
        #[command(subcommand)]
        command: FacesCommand,
        /// The terminal's store: a folder holding the core's encrypted, power-loss-safe journal
        /// (identity.flash: persons and consents; biometric.flash: templates, AES-256-GCM-SIV;
        /// terminal.key: its key, made on first use, mode 0600). Created on the first enrolment.
        #[arg(long, global = true, value_name = "DIR", default_value = "gatelab-faces.store")]
        store: PathBuf,
        /// Cosine at or above which a face matches (fr_feature: 0.35–0.45; `faces eval` recommends one).
        #[arg(long, global = true, default_value_t = 0.35)]
        threshold: f32,
        /// An embedder of your own: TOML with model, input_size, mean, std, channel_order, output_dim.
        #[arg(long, global = true, value_name = "TOML")]
        embedder: Option<PathBuf>,
    },
    /// Check an audit log (JSON Lines) against C1–C8. Exit status: 0 clean, 1 violations, 2 error.
    #[command(name = "check-consent", alias = "check")]
    Check {
        /// The audit log: one JSON record per line, as written by `demo --audit-out`, the
        /// simulation or the hardware rig.
        log: PathBuf,
        /// The compound's policy: built-in name (compliant, forced-face) or a policy TOML file.
        #[arg(long, default_value = "compliant")]
        policy: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Work with gate policies.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Work with compound scenarios (scenarios/*.toml).
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ScenarioCommand {
    /// Validate scenario files; errors name the field and what to do. Exit 0 if all are valid.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum FacesCommand {
    /// Detect, align and embed each photo (reports the template, never prints it).
    Embed {
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Enrol a person from photos under their consent record (TOML: id, person, purpose =
    /// "face_access", scope = 1, form = "separate", explicit = true, grantor = "subject",
    /// given_at, retention_ms). The core refuses a template without a valid separate consent.
    Enroll {
        #[arg(long)]
        person: u32,
        #[arg(long, value_name = "FILE")]
        consent: PathBuf,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// 1:1: is this the person (the core's best match at or above the threshold)? Exit 0 yes, 1 no.
    Verify {
        #[arg(long)]
        person: u32,
        image: PathBuf,
    },
    /// 1:N through the core's matcher: who is this? Exit 0 found, 1 nobody.
    Identify { image: PathBuf },
    /// Withdraw consent: the template is deleted from the store.
    Withdraw {
        #[arg(long)]
        person: u32,
    },
    /// Ask for the templates or face images to be exported. Always refused (C6), exit 3; the
    /// attempt is recorded in STORE/audit.jsonl. There is no way to get a template out.
    Export {
        #[arg(long, value_enum)]
        what: ExportWhat,
    },
    /// Genuine/impostor scores on DIR/<identity>/*.{png,jpg}: FNMR at FMR 1e-2 and 1e-3, the
    /// threshold to use, a DET curve and a histogram.
    Eval {
        dir: PathBuf,
        /// Write eval.json, det.png and histogram.png (the DET curve and the score histogram,
        /// 640×480) here, and the same plots as det.svg and histogram.svg for HTML.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write the distribution parameters a scenario's synthetic matcher loads.
        #[arg(long, value_name = "FILE")]
        emit_calibration: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum ExportWhat {
    Templates,
    FaceImages,
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Print a built-in policy (compliant, forced-face) as TOML, to start your own from.
    Show { name: String },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => plan_command(PlanArgs {
            scenario: None,
            target: 60.0,
            lanes: "1..4".into(),
            replications: None,
            seed: None,
            duration_min: None,
            sensitivity: true,
            out: PathBuf::from("gatelab-plan"),
            quiet: false,
        }),
        Some(Command::Plan {
            scenario,
            target_wait_p95,
            lanes,
            replications,
            seed,
            duration_min,
            no_sensitivity,
            out,
            quiet,
        }) => plan_command(PlanArgs {
            scenario,
            target: target_wait_p95,
            lanes,
            replications,
            seed,
            duration_min,
            sensitivity: !no_sensitivity,
            out,
            quiet,
        }),
        Some(Command::Sweep { spec, shard, out, quiet }) => {
            let spec = plan::SweepSpec::load(&spec)?;
            let scenario = spec.load_scenario(std::path::Path::new("."))?;
            spec.validate(&scenario)?;
            let shard = plan::shard_from(shard.as_deref(), &|k| std::env::var(k).ok())?;
            let units = plan::run_units(&spec, &scenario, shard, !quiet)?;
            plan::write_shard(&out, &spec, &units)?;
            println!("shard {}/{}: {} run(s) written to {}", shard.0, shard.1, units.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Faces { command, store, threshold, embedder }) => {
            faces_command(command, &store, threshold, embedder)
        }
        Some(Command::Merge { shards, out }) => {
            let (spec, units) = plan::read_shards(&shards)?;
            let scenario = spec.load_scenario(std::path::Path::new("."))?;
            let result = plan::summarise(&spec, &scenario, &units);
            let files = plan::write_outputs(&out, &result)?;
            print!("{}", plan::render_table(&result));
            for f in files {
                println!("  {}", f.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Run { scenario, seed, replications, duration_min, out, format, quiet, export_trace, record }) => {
            run_scenario(RunArgs {
                path: scenario,
                seed,
                replications,
                duration_min,
                out,
                format,
                quiet,
                export_trace,
                record,
            })
        }
        Some(Command::View { scenario, seed, replay, speed, start, paused, screenshot, at, size }) => {
            view_command(ViewCli { scenario, seed, replay, speed, start, paused, screenshot, at, size })
        }
        Some(Command::Describe) => {
            print!("{}", gatelab_core::describe());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Check { log, policy, format }) => {
            let policy = policy_file::load(&policy)?;
            let report = check::check_file(&log, &policy)?;
            match format {
                Format::Text => print!("{}", check::render_text(&report)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
            }
            Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Some(Command::Scenario { command: ScenarioCommand::Check { files } }) => {
            for file in files {
                let s = gatelab_sim::scenario::Scenario::load(&file)?;
                let lanes: u32 = s.gates.iter().map(|g| g.lanes_in + g.lanes_out).sum();
                println!(
                    "{}: ok — '{}', {} residents, {} gate(s), {} lanes, policy '{}'",
                    file.display(),
                    s.name,
                    s.population.owners + s.population.renters,
                    s.gates.len(),
                    lanes,
                    s.policy.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Policy { command: PolicyCommand::Show { name } }) => {
            let policy = gatelab_core::Policy::builtin(&name).with_context(|| {
                format!("no built-in policy named '{name}'; there are 'compliant' and 'forced-face'")
            })?;
            print!("{}", policy_file::to_toml(&policy));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn faces_command(
    command: FacesCommand,
    store: &std::path::Path,
    threshold: f32,
    embedder: Option<PathBuf>,
) -> Result<ExitCode> {
    use gatelab_sim::faces_cli as faces;
    let models = gatelab_faces::paths::models_dir();
    let config = match embedder {
        Some(path) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("could not read {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{} is not an embedder configuration", path.display()))?
        }
        None => gatelab_faces::EmbedderConfig::fr_feature(&models),
    };
    if let FacesCommand::Withdraw { person } = command {
        print!("{}", faces::withdraw(store, person, config.output_dim)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let FacesCommand::Export { what } = command {
        let what = match what {
            ExportWhat::Templates => gatelab_core::audit::ExportKind::Templates,
            ExportWhat::FaceImages => gatelab_core::audit::ExportKind::FaceImages,
        };
        print!("{}", faces::export(store, what, config.output_dim)?);
        return Ok(ExitCode::from(3));
    }
    let mut pipeline = gatelab_faces::Pipeline::load(&gatelab_faces::paths::runtime_library(), &models, config)?;
    let verdict = |(ok, text): (bool, String)| {
        print!("{text}");
        if ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
    };
    Ok(match command {
        FacesCommand::Embed { images } => {
            print!("{}", faces::embed(&mut pipeline, &images)?);
            ExitCode::SUCCESS
        }
        FacesCommand::Enroll { person, consent, images } => {
            print!("{}", faces::enroll(&mut pipeline, store, person, &consent, &images, threshold)?);
            ExitCode::SUCCESS
        }
        FacesCommand::Verify { person, image } => {
            verdict(faces::verify(&mut pipeline, store, person, &image, threshold)?)
        }
        FacesCommand::Identify { image } => verdict(faces::identify(&mut pipeline, store, &image, threshold)?),
        FacesCommand::Withdraw { .. } | FacesCommand::Export { .. } => ExitCode::SUCCESS,
        FacesCommand::Eval { dir, out, emit_calibration } => {
            let (e, genuine, impostor) = faces::eval(&mut pipeline, &dir)?;
            println!(
                "{} identities, {} photos: {} genuine pairs (mean {:.3}), {} impostor pairs (mean {:.3})",
                e.identities, e.images, e.genuine_pairs, e.genuine_mean, e.impostor_pairs, e.impostor_mean
            );
            for (fmr, fnmr) in &e.fnmr_at_fmr {
                match fnmr {
                    Some(v) => println!("  FNMR at FMR {fmr}: {:.3}", v),
                    None => println!("  FNMR at FMR {fmr}: too few impostor pairs to say"),
                }
            }
            println!(
                "  recommended threshold {:.3}: FMR {:.4}, FNMR {:.4}",
                e.threshold, e.fmr_at_threshold, e.fnmr_at_threshold
            );
            if let Some(dir) = out {
                std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
                let json = dir.join("eval.json");
                std::fs::write(&json, serde_json::to_string_pretty(&e)? + "\n")
                    .with_context(|| format!("could not write {}", json.display()))?;
                let plots = gatelab_sim::faces_plots::plots(&genuine, &impostor, e.threshold)?;
                let files: [(&str, &[u8]); 4] = [
                    ("det.png", &plots.det_png),
                    ("histogram.png", &plots.histogram_png),
                    ("det.svg", plots.det_svg.as_bytes()),
                    ("histogram.svg", plots.histogram_svg.as_bytes()),
                ];
                for (name, bytes) in files {
                    let path = dir.join(name);
                    std::fs::write(&path, bytes).with_context(|| format!("could not write {}", path.display()))?;
                }
                println!("  wrote {}/eval.json, det.png, histogram.png (and .svg)", dir.display());
            }
            if let Some(file) = emit_calibration {
                std::fs::write(&file, faces::calibration_toml(&e, pipeline.embedder().output_dim))
                    .with_context(|| format!("could not write {}", file.display()))?;
                println!("  calibration for the simulation: {}", file.display());
            }
            ExitCode::SUCCESS
        }
    })
}

struct PlanArgs {
    scenario: Option<PathBuf>,
    target: f64,
    lanes: String,
    replications: Option<u32>,
    seed: Option<u64>,
    duration_min: Option<u32>,
    sensitivity: bool,
    out: PathBuf,
    quiet: bool,
}

fn parse_lanes(text: &str) -> Result<(u32, u32)> {
    let (a, b) = text.split_once("..").with_context(|| format!("--lanes {text:?}: write FROM..TO, e.g. 1..4"))?;
    let a: u32 = a.trim().parse().with_context(|| format!("--lanes {text:?}: {a:?} is not a lane count"))?;
    let b: u32 = b
        .trim()
        .trim_start_matches('=')
        .parse()
        .with_context(|| format!("--lanes {text:?}: {b:?} is not a lane count"))?;
    Ok((a, b))
}

/// Sweep, recommend, then vary the inputs at the recommended deployment.
fn plan_command(args: PlanArgs) -> Result<ExitCode> {
    let (lanes_from, lanes_to) = parse_lanes(&args.lanes)?;
    let scenario_path = match &args.scenario {
        Some(p) => {
            Some(p.canonicalize().with_context(|| format!("scenario {} not found; check the path", p.display()))?)
        }
        None => None,
    };
    let mut spec = plan::SweepSpec {
        scenario: scenario_path,
        target_wait_p95_s: args.target,
        lanes_from,
        lanes_to,
        replications: 0,
        seed: args.seed,
        sensitivity_lanes: None,
        duration_min: args.duration_min,
    };
    let scenario = spec.load_scenario(std::path::Path::new("."))?;
    spec.replications = args.replications.unwrap_or(scenario.run.replications.max(2));
    spec.validate(&scenario)?;
    let started = std::time::Instant::now();
    let progress = !args.quiet;
    let mut units = plan::run_units(&spec, &scenario, (0, 1), progress)?;
    if args.sensitivity {
        let first = plan::summarise(&spec, &scenario, &units);
        spec.sensitivity_lanes = Some(first.recommended.as_ref().map_or(spec.lanes_to, |r| r.lanes));
        // Only the varied configurations are new; the sweep already ran the others.
        let extra: Vec<_> = spec.units().into_iter().filter(|(c, _)| c.vary.is_some()).collect();
        units.extend(plan::run_list(&extra, &spec, &scenario, progress)?);
        units.sort_by_key(|u| (u.config, u.replication));
    }
    let result = plan::summarise(&spec, &scenario, &units);
    let files = plan::write_outputs(&args.out, &result)?;
    let spec_path = args.out.join("spec.json");
    std::fs::write(&spec_path, serde_json::to_string_pretty(&spec)? + "\n")
        .with_context(|| format!("could not write {}", spec_path.display()))?;
    print!("{}", plan::render_table(&result));
    println!(
        "planned {} configuration(s) × {} replication(s) in {:.1} s",
        result.configurations.len(),
        spec.replications,
        started.elapsed().as_secs_f64()
    );
    println!("files:");
    for f in files.iter().chain([&spec_path]) {
        println!("  {}", f.display());
    }
    println!("open the report: {}", args.out.join("report.html").display());
    Ok(ExitCode::SUCCESS)
}

struct RunArgs {
    path: Option<PathBuf>,
    seed: Option<u64>,
    replications: Option<u32>,
    duration_min: Option<u32>,
    out: PathBuf,
    format: Format,
    quiet: bool,
    export_trace: Option<PathBuf>,
    record: Option<PathBuf>,
}

/// The scenario at `path`, or the built-in one; and how to name it.
fn load_scenario(path: Option<&std::path::Path>) -> Result<(Scenario, String)> {
    Ok(match path {
        Some(p) => (Scenario::load(p)?, p.display().to_string()),
        None => (
            Scenario::parse_named(sim_run::DEFAULT_SCENARIO, sim_run::DEFAULT_SCENARIO_NAME)?,
            sim_run::DEFAULT_SCENARIO_NAME.to_string(),
        ),
    })
}

fn run_scenario(args: RunArgs) -> Result<ExitCode> {
    let RunArgs { path, seed, replications, duration_min, out, format, quiet, export_trace, record } = args;
    let (mut scenario, label) = load_scenario(path.as_deref())?;
    if let Some(minutes) = duration_min {
        scenario.run.duration_min = minutes;
        scenario.validate().map_err(|e| anyhow::anyhow!("--duration-min {minutes}: {}", e.message))?;
    }
    let seed = seed.unwrap_or(scenario.run.seed);
    let replications = replications.unwrap_or(scenario.run.replications);
    anyhow::ensure!(replications > 0, "--replications 0: at least one replication");
    let started = std::time::Instant::now();
    let keep = gatelab_sim::engine::Keep {
        trace: export_trace.is_some(),
        frames: record.is_some(),
        ..gatelab_sim::engine::Keep::ALL
    };
    let result = sim_run::run_keeping(&scenario, seed, replications, !quiet && format == Format::Text, keep)?;
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

struct ViewCli {
    scenario: Option<PathBuf>,
    seed: Option<u64>,
    replay: Option<PathBuf>,
    speed: u32,
    start: Option<String>,
    paused: bool,
    screenshot: Option<PathBuf>,
    at: Option<String>,
    size: String,
}

/// `--at 07:45` → milliseconds since midnight.
fn parse_time_of_day(flag: &str, text: &str) -> Result<u64> {
    let minutes = gatelab_sim::scenario::parse_clock(text)
        .with_context(|| format!("{flag} {text:?}: write the time of day as HH:MM, e.g. 07:45"))?;
    Ok(u64::from(minutes) * 60_000)
}

fn parse_size(text: &str) -> Result<(u32, u32)> {
    let parsed = text.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
    match parsed {
        Some((w, h)) if (64..=8192).contains(&w) && (64..=8192).contains(&h) => Ok((w, h)),
        _ => anyhow::bail!("--size {text:?}: write WIDTHxHEIGHT in pixels (64 to 8192), e.g. 1280x720"),
    }
}

#[cfg(feature = "viewer")]
fn view_command(cli: ViewCli) -> Result<ExitCode> {
    use gatelab_sim::viewer;
    let source = match cli.replay {
        Some(file) => viewer::Source::Replay(file),
        None => {
            let (scenario, _) = load_scenario(cli.scenario.as_deref())?;
            // Shows replication 0 of `gatelab run --seed S`: the passages of its passages.csv.
            let seed = cli.seed.unwrap_or(scenario.run.seed);
            viewer::Source::Live { scenario: Box::new(scenario), seed }
        }
    };
    let screenshot = match (cli.screenshot, cli.at) {
        (Some(out), Some(at)) => Some(viewer::ScreenshotArgs { out, at_ms: parse_time_of_day("--at", &at)? }),
        _ => None,
    };
    let args = viewer::ViewArgs {
        source,
        speed: cli.speed,
        start_ms: cli.start.as_deref().map(|t| parse_time_of_day("--start", t)).transpose()?,
        paused: cli.paused,
        size: parse_size(&cli.size)?,
        screenshot,
    };
    let shot = args.screenshot.clone();
    viewer::run(args)?;
    if let Some(shot) = shot {
        println!("wrote {} and {}", shot.out.display(), shot.out.with_extension("counts.json").display());
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "viewer"))]
fn view_command(cli: ViewCli) -> Result<ExitCode> {
    // Check the arguments anyway, so a typo is reported before the long rebuild.
    parse_size(&cli.size)?;
    for (flag, t) in [("--start", &cli.start), ("--at", &cli.at)] {
        if let Some(t) = t {
            parse_time_of_day(flag, t)?;
        }
    }
    let _ = (cli.scenario, cli.seed, cli.replay, cli.speed, cli.paused, cli.screenshot);
    anyhow::bail!(
        "this gatelab was built without the viewer: rebuild with --features viewer, e.g.\n  \
         cargo run --release --features viewer -- view"
    )
}
