//! The rush-hour simulation: a headless Bevy app whose every terminal is a `gatelab-core`
//! terminal ([`engine`]), runs with replications, their statistics and output files ([`run`]),
//! recordings for the viewer ([`record`]) and the viewer itself (feature `viewer`).
//!
//! It knows Bevy, the core, the scenario crate and the walking crate (today only for Fruin's
//! queuing levels, [`QueuingLevel`]); never ONNX Runtime, plotters, clap or a
//! terminal progress bar (long work reports through [`progress::Progress`]). The planner
//! (`gatelab-plan`) and the `gatelab` binary (`gatelab-cli`) sit on top of it.

pub mod engine;
pub mod figures;
pub mod progress;
pub mod record;
pub mod rows;
pub mod run;
pub mod stats;
pub mod summary;
#[cfg(feature = "viewer")]
pub mod viewer;

pub use gatelab_walk::QueuingLevel;
