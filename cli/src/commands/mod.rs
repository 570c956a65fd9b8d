//! One module per command (plan, sweep and merge share one: they are one job split three ways).

pub mod calibrate;
pub mod cluster;
pub mod faces;
pub mod files;
pub mod plan;
pub mod run;
pub mod serve;
pub mod site;
pub mod validate;
pub mod view;

use std::path::Path;

use anyhow::Result;
use gatelab_scenario::Scenario;
use gatelab_sim::run::{DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME};

/// The scenario at `path`, or the built-in one; and how to name it.
pub fn load_scenario(path: Option<&Path>) -> Result<(Scenario, String)> {
    Ok(match path {
        Some(p) => (Scenario::load(p)?, p.display().to_string()),
        None => (Scenario::parse_named(DEFAULT_SCENARIO, DEFAULT_SCENARIO_NAME)?, DEFAULT_SCENARIO_NAME.to_string()),
    })
}
