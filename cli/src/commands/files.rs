//! The commands about files a user writes: `scenario check`, `policy show`, and `describe`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use gatelab_scenario::{Scenario, policy_file};

use crate::args::{PolicyCommand, ScenarioCommand};

pub fn describe() -> Result<ExitCode> {
    print!("{}", gatelab_core::describe());
    Ok(ExitCode::SUCCESS)
}

pub fn scenario(command: ScenarioCommand) -> Result<ExitCode> {
    let ScenarioCommand::Check { files } = command;
    for file in files {
        let s = Scenario::load(&file)?;
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

pub fn policy(command: PolicyCommand) -> Result<ExitCode> {
    let PolicyCommand::Show { name } = command;
    let policy = gatelab_core::Policy::builtin(&name)
        .with_context(|| format!("no built-in policy named '{name}'; there are 'compliant' and 'forced-face'"))?;
    print!("{}", policy_file::to_toml(&policy));
    Ok(ExitCode::SUCCESS)
}
