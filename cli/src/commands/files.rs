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
        // A site is checked as the simulation will stand the gates in it.
        let layout = gatelab_sim::engine::ground::place(gatelab_sim::engine::model::Layout::new(&s), &s)
            .with_context(|| format!("{}: [site]", file.display()))?;
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
        if let Some(ground) = &layout.ground {
            println!(
                "  walks in the site {} (its gates: {})",
                ground.file,
                s.gates.iter().map(|g| g.site_gate.as_deref().unwrap_or(&g.name)).collect::<Vec<_>>().join(", ")
            );
        }
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
