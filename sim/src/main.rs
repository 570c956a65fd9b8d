//! `gatelab`: size, test and check face-recognition gates of residential compounds.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use gatelab_core::audit::jsonl;
use gatelab_sim::{check, demo, policy_file};

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
        With no command, gatelab describes its core and runs the built-in scripted rush hour under \
        the compliant and the forced-face policy.",
    after_help = "Examples:\n  \
        gatelab                                  # what the core does + the scripted morning under both policies\n  \
        gatelab demo --policy forced-face --audit-out morning.jsonl\n  \
        gatelab check morning.jsonl --policy forced-face\n  \
        gatelab policy show compliant > my-policy.toml   # edit, then: gatelab check LOG --policy my-policy.toml"
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
    /// Run the scripted rush hour through real core terminals and check its audit log.
    Demo {
        /// Built-in policy name (compliant, forced-face) or a policy TOML file.
        #[arg(long, default_value = "compliant")]
        policy: String,
        /// Write the audit log here as JSON Lines (one record per line).
        #[arg(long, value_name = "FILE")]
        audit_out: Option<PathBuf>,
        /// Residents in the script.
        #[arg(long, default_value_t = 60)]
        residents: u32,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Check an audit log (JSON Lines) against C1–C8. Exit status: 0 clean, 1 violations, 2 error.
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
        None => {
            print!("{}", gatelab_core::describe());
            println!();
            for name in ["compliant", "forced-face"] {
                let policy = policy_file::load(name)?;
                let (log, outcome) = demo::scripted_morning(&policy, demo::Script::default());
                let report = gatelab_core::check(&log, &policy);
                println!("scripted morning under '{name}': {outcome}");
                print!("{}", indent(&check::render_text(&report)));
            }
            println!(
                "\nNext: `gatelab demo --policy forced-face --audit-out log.jsonl`, then `gatelab check log.jsonl --policy forced-face`."
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Describe) => {
            print!("{}", gatelab_core::describe());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Demo { policy, audit_out, residents, format }) => {
            let policy = policy_file::load(&policy)?;
            let (log, outcome) = demo::scripted_morning(&policy, demo::Script { residents, ..demo::Script::default() });
            if let Some(path) = &audit_out {
                let file =
                    std::fs::File::create(path).with_context(|| format!("could not create {}", path.display()))?;
                jsonl::write(std::io::BufWriter::new(file), &log)
                    .with_context(|| format!("could not write {}", path.display()))?;
            }
            let report = gatelab_core::check(&log, &policy);
            match format {
                Format::Text => {
                    println!("{outcome}");
                    print!("{}", check::render_text(&report));
                    if let Some(path) = audit_out {
                        println!("audit log: {}", path.display());
                    }
                }
                Format::Json => println!("{}", serde_json::json!({ "outcome": outcome, "report": report })),
            }
            Ok(if report.is_clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
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

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}
