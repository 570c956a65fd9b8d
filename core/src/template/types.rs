//! What every part of the matcher shares: dimensions, precision, errors, normalising and
//! quantising an embedding, and the ranked candidate list a search fills.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::domain::PersonId;

/// Embedding dimensions the product uses (synthetic sim embeddings, the ONNX embedder).
pub const COMMON_DIMS: [usize; 2] = [128, 512];
/// Larger embeddings are refused: nothing we run produces them and it bounds memory per probe.
pub const MAX_DIM: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F32,
    Int8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateError {
    /// The embedding's length is not the store's dimension.
    WrongDimension { expected: u32, got: u32 },
    /// NaN or infinity in the embedding.
    NotFinite,
    /// All zeros: nothing to normalise.
    ZeroVector,
    /// The dimension is 0 or above [`MAX_DIM`].
    UnsupportedDimension { dim: u32 },
}

impl core::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TemplateError::WrongDimension { expected, got } => {
                write!(f, "embedding has {got} values but the store holds {expected}-d templates")
            }
            TemplateError::NotFinite => f.write_str("embedding contains NaN or infinity"),
            TemplateError::ZeroVector => f.write_str("embedding is all zeros"),
            TemplateError::UnsupportedDimension { dim } => {
                write!(f, "dimension {dim} is not supported (1..={MAX_DIM})")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for TemplateError {}

pub(super) fn check_dim(dim: usize) -> Result<(), TemplateError> {
    if dim == 0 || dim > MAX_DIM {
        return Err(TemplateError::UnsupportedDimension { dim: dim.min(u32::MAX as usize) as u32 });
    }
    Ok(())
}

// On Helium `any_not_finite` and `max_abs` work on the floats' bits: non-negative floats order
// as their bits (NaN and ±∞ are those at or above ∞'s), and an integer maximum vectorises
// where `any` (early exit) and a float maximum (kept in order) do not. Elsewhere the plain
// forms are cheaper. The same answers either way.
#[cfg(all(target_arch = "arm", feature = "arm-mve"))]
const INFINITY_BITS: u32 = 0x7f80_0000;

/// Whether any value is NaN or ±∞.
#[cfg(all(target_arch = "arm", feature = "arm-mve"))]
fn any_not_finite(values: &[f32]) -> bool {
    values.iter().map(|v| v.to_bits() & !(1 << 31)).max().unwrap_or(0) >= INFINITY_BITS
}
#[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
fn any_not_finite(values: &[f32]) -> bool {
    values.iter().any(|v| !v.is_finite())
}

/// The largest |v|, NaNs skipped (as `f32::max` does), 0 for none.
#[cfg(all(target_arch = "arm", feature = "arm-mve"))]
fn max_abs(values: &[f32]) -> f32 {
    let bits = values.iter().map(|v| v.to_bits() & !(1 << 31)).max().unwrap_or(0);
    if bits > INFINITY_BITS {
        // A NaN (never from `normalize_into`): skipped, the plain way.
        return values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    }
    f32::from_bits(bits)
}
#[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
fn max_abs(values: &[f32]) -> f32 {
    values.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// L2-normalise `embedding` into `out` (cleared first).
pub fn normalize_into(embedding: &[f32], dim: usize, out: &mut Vec<f32>) -> Result<(), TemplateError> {
    check_dim(dim)?;
    if embedding.len() != dim {
        return Err(TemplateError::WrongDimension {
            expected: dim as u32,
            got: embedding.len().min(u32::MAX as usize) as u32,
        });
    }
    if any_not_finite(embedding) {
        return Err(TemplateError::NotFinite);
    }
    // Accumulate in f64 so huge-but-finite inputs cannot overflow to infinity.
    let norm_sq: f64 = embedding.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    if norm_sq == 0.0 {
        return Err(TemplateError::ZeroVector);
    }
    let inv = 1.0 / libm::sqrt(norm_sq);
    out.clear();
    out.extend(embedding.iter().map(|&v| (f64::from(v) * inv) as f32));
    Ok(())
}

/// Symmetric per-vector int8 quantisation of a normalised template: `v ≈ q · scale`.
pub fn quantize_into(normalized: &[f32], out: &mut Vec<i8>) -> f32 {
    let max_abs = max_abs(normalized);
    out.clear();
    if max_abs == 0.0 {
        out.resize(normalized.len(), 0);
        return 0.0;
    }
    let to_q = 127.0 / max_abs;
    out.extend(normalized.iter().map(|&v| round_half_away(v * to_q).clamp(-127, 127) as i8));
    max_abs / 127.0
}

/// `libm::roundf` (half away from zero) for the quantiser's range, in integer arithmetic that
/// LLVM vectorises: every compound enrols each face once per camera terminal, and the library
/// call per component was a tenth of registration day. `x - trunc(x)` is exact in f32 below
/// 2^23, so the result is `roundf`'s bit for bit; NaN gives 0, as `roundf(NaN) as i8` does.
#[inline]
fn round_half_away(x: f32) -> i32 {
    let t = x as i32;
    let frac = x - t as f32;
    if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    }
}

/// One search hit: cosine similarity in [-1, 1].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub person: PersonId,
    pub score: f32,
}

impl Candidate {
    /// Higher score first; equal scores go to the smaller person id (deterministic ties).
    fn ranks_before(&self, other: &Candidate) -> bool {
        self.score > other.score || (self.score == other.score && self.person < other.person)
    }
}

/// Keep the best `k` candidates, sorted best first.
pub(super) fn offer(top: &mut Vec<Candidate>, k: usize, c: Candidate) {
    if top.len() == k {
        match top.last() {
            Some(worst) if c.ranks_before(worst) => {
                top.pop();
            }
            _ => return,
        }
    }
    let at = top.iter().position(|t| c.ranks_before(t)).unwrap_or(top.len());
    top.insert(at, c);
}

/// The search threshold and an upper bound of the gallery's scales: what lets an Arm kernel
/// skip a row on its integer dot product alone (the early-exit floor).
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
pub struct Bound {
    pub threshold: f32,
    pub scale_max: f32,
}

#[cfg_attr(not(target_arch = "arm"), allow(dead_code))]
impl Bound {
    /// The smallest dot product whose row could score `threshold` or more: a row's score is
    /// `fl(fl(dot) · fl(qs · scale))`, monotone in `dot` and in `scale`, so a row below this
    /// cannot reach the threshold whatever its own scale. `None` when nothing can be ruled out.
    /// Below 2^23 (a kernel may scale it by 256 and stay inside an i32).
    pub fn min_dot(self, qs: f32) -> Option<i32> {
        let c_max = qs * self.scale_max;
        let th = self.threshold;
        if !(th > 0.0 && c_max > 0.0 && c_max.is_finite()) {
            return None;
        }
        let guess = libm::ceilf(th / c_max);
        if guess.is_nan() || guess >= (i32::MAX >> 8) as f32 {
            return None;
        }
        // Step down past the rounding of the division, then up to the first passing dot.
        let mut x = (guess as i32 - 2).max(0);
        while x < i32::MAX >> 8 && (x as f32) * c_max < th {
            x += 1;
        }
        Some(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_rounding_is_roundf_bit_for_bit_over_the_quantiser_range() {
        let reference = |x: f32| libm::roundf(x).clamp(-127.0, 127.0) as i8;
        let ours = |x: f32| round_half_away(x).clamp(-127, 127) as i8;
        // Every half, its two neighbours in f32, and a fine sweep between.
        for k in -260..=260 {
            let half = k as f32 / 2.0;
            for x in [half, f32::from_bits(half.to_bits() + 1), f32::from_bits(half.to_bits().wrapping_sub(1))] {
                assert_eq!(ours(x), reference(x), "x = {x:e}");
            }
        }
        let mut x = -131.0f32;
        while x < 131.0 {
            assert_eq!(ours(x), reference(x), "x = {x:e}");
            x += 0.000_37;
        }
        for x in [f32::NAN, 0.0, -0.0, 0.499_999_97, -0.499_999_97, f32::MIN_POSITIVE] {
            assert_eq!(ours(x), reference(x), "x = {x:e}");
        }
    }
}
