//! `gatelab-faces`: the real face pipeline on ONNX Runtime — decode, detect, landmarks, align,
//! embed — turning photos into `gatelab-core` templates; one terminal's store on disk
//! ([`store`]); and the face operations `gatelab faces` offers ([`ops`]: enrol, verify, identify,
//! withdraw, export refusal, eval), which return what to print and leave printing to the CLI.
//! std-only; the firmware never sees it. It knows the core, never the simulation or the planner.

pub mod align;
pub mod error;
pub mod ops;
pub mod paths;
pub mod pipeline;
pub mod runtime;
pub mod store;

pub use error::FaceError;
pub use pipeline::{EmbedderConfig, MultiFace, PadConfig, Pipeline, Probe, Rgb};
