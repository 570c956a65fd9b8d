//! Support for the fuzz targets in `fuzz_targets/`.
//!
//! The scenario parser is compiled here from the simulator's own source file instead of
//! depending on `gatelab-sim`: that crate pulls in Bevy, plotters and ONNX Runtime, which would
//! make every instrumented fuzz build many minutes longer. `sim/src/scenario.rs` needs only
//! serde, toml and `gatelab-core`, so the code under test is byte for byte the product's.

#[path = "../../sim/src/scenario.rs"]
pub mod scenario;
