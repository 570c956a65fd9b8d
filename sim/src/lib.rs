//! The host side of gatelab: scenarios, the Bevy rush-hour simulation whose every terminal is a
//! `gatelab-core` terminal ([`engine`]), runs with replications and output files ([`run`]),
//! policies and the consent checker over audit logs.
//!
//! The binary (`src/main.rs`) is a thin clap layer over these functions.

pub mod check;
pub mod engine;
pub mod faces_cli;
pub mod faces_plots;
pub mod plan;
pub mod policy_file;
pub mod record;
pub mod run;
pub mod scenario;
pub mod store;
#[cfg(feature = "viewer")]
pub mod viewer;
