//! `gatelab`: size, test and check face-recognition gates of residential compounds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use gatelab_sim::scenario::Scenario;
use gatelab_sim::{check, policy_file, run as sim_run};

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
        With no command, gatelab runs the built-in Dongcheng scenario (one gate, short-term \
        renters, residents who refuse face, a guard who opens the car gate, the scanner away for \
        repair) and prints the summary and where the files went.",
    after_help = "Examples:\n  \
        gatelab                                            # the built-in Dongcheng morning, files in gatelab-out/\n  \
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
        None => run_scenario(None, None, None, None, PathBuf::from("gatelab-out"), Format::Text, false),
        Some(Command::Run { scenario, seed, replications, duration_min, out, format, quiet }) => {
            run_scenario(scenario, seed, replications, duration_min, out, format, quiet)
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

fn run_scenario(
    path: Option<PathBuf>,
    seed: Option<u64>,
    replications: Option<u32>,
    duration_min: Option<u32>,
    out: PathBuf,
    format: Format,
    quiet: bool,
) -> Result<ExitCode> {
    let (mut scenario, label) = match &path {
        Some(p) => (Scenario::load(p)?, p.display().to_string()),
        None => (
            Scenario::parse_named(sim_run::DEFAULT_SCENARIO, sim_run::DEFAULT_SCENARIO_NAME)?,
            sim_run::DEFAULT_SCENARIO_NAME.to_string(),
        ),
    };
    if let Some(minutes) = duration_min {
        scenario.run.duration_min = minutes;
        scenario.validate().map_err(|e| anyhow::anyhow!("--duration-min {minutes}: {}", e.message))?;
    }
    let seed = seed.unwrap_or(scenario.run.seed);
    let replications = replications.unwrap_or(scenario.run.replications);
    anyhow::ensure!(replications > 0, "--replications 0: at least one replication");
    let started = std::time::Instant::now();
    let result = sim_run::run(&scenario, seed, replications, !quiet && format == Format::Text)?;
    let files = result.write(&out)?;
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
