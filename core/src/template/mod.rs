//! Template store and 1:N matcher.
//!
//! Templates are L2-normalised embeddings keyed by [`PersonId`] only: no name, card or household
//! sits next to them (C6). A store holds either f32 templates (host) or int8 ones with one scale
//! per template (terminals, firmware). Search is an exact linear scan, which is what terminals of
//! 1k–100k people do and what makes results reproducible: ties are broken by the smaller
//! person id, so the same gallery and probe give the same answer on every machine.

mod kernels;
mod store;
mod types;

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
#[allow(unsafe_code, clippy::too_many_arguments)]
mod arm_dsp;
#[cfg(all(target_arch = "arm", feature = "arm-mve"))]
#[allow(unsafe_code, clippy::too_many_arguments)]
mod arm_mve;
#[cfg(all(feature = "arm-dsp", feature = "arm-mve"))]
compile_error!("choose one Arm int8 kernel: `arm-dsp` (Cortex-M4/M7) or `arm-mve` (Cortex-M55)");
#[cfg(test)]
mod tests;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code, clippy::too_many_arguments)]
mod x86;

pub use store::{Probe, TemplateStore};
pub use types::{COMMON_DIMS, Candidate, MAX_DIM, Precision, TemplateError, normalize_into, quantize_into};
