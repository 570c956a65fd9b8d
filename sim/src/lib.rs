//! The host side of gatelab: loading policies, checking audit logs and, until the Bevy crowd
//! simulation lands, a scripted rush hour driven through real `gatelab-core` terminals.
//!
//! The binary (`src/main.rs`) is a thin clap layer over these functions.

pub mod check;
pub mod demo;
pub mod engine;
pub mod policy_file;
pub mod run;
pub mod scenario;
