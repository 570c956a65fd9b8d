//! `gatelab-faces`: the real face pipeline on ONNX Runtime — decode, detect, landmarks, align,
//! embed — turning photos into `gatelab-core` templates. std-only; the firmware never sees it.

pub mod align;
pub mod error;
pub mod paths;
pub mod pipeline;
pub mod runtime;

pub use error::FaceError;
pub use pipeline::{EmbedderConfig, Pipeline, Rgb};
