//! The `gatelab` command: parses arguments ([`args`]), hands each command to its module in
//! [`commands`], which calls the libraries (`gatelab-plan`, `gatelab-sim`, `gatelab-faces`,
//! `gatelab-scenario`, `gatelab-core`) and prints. The only crate that knows clap and draws
//! progress bars ([`progress`]); the viewer is behind the `viewer` feature.

pub mod args;
pub mod check;
pub mod commands;
pub mod faces_plots;
pub mod los_map;
pub mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, PlanArgs};

/// Parse the command line, run the command, and turn an error into a message and exit status 2.
pub fn main() -> ExitCode {
    quiet_on_closed_pipe();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `gatelab … | head` closes the pipe early: the next `println!` panics on EPIPE. Like any
/// Unix tool killed by SIGPIPE, end quietly with status 141 instead of a panic's message.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => commands::plan::plan(PlanArgs::defaults()),
        Some(Command::Plan(args)) => commands::plan::plan(args),
        Some(Command::Sweep(args)) => commands::plan::sweep(args),
        Some(Command::Merge(args)) => commands::plan::merge(args),
        Some(Command::Run(args)) => commands::run::run(args),
        Some(Command::View(args)) => commands::view::view(args),
        Some(Command::Faces(args)) => commands::faces::faces(args),
        Some(Command::Calibrate(args)) => commands::calibrate::calibrate(args),
        Some(Command::Validate(args)) => commands::validate::validate(args),
        Some(Command::Site { command }) => commands::site::site(command),
        Some(Command::Check(args)) => check::command(args),
        Some(Command::Describe) => commands::files::describe(),
        Some(Command::Policy { command }) => commands::files::policy(command),
        Some(Command::Scenario { command }) => commands::files::scenario(command),
        Some(Command::Serve(args)) => commands::serve::serve(args),
    }
}
