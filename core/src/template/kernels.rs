//! Portable kernels: dot products written so LLVM vectorises them, and the scans over a
//! contiguous gallery built on them. The f32 sum order is fixed by the code
//! (32 independent lanes, then a fixed reduction), not by the instruction set, so every
//! target computes bit-identical scores.

use alloc::vec::Vec;

use crate::domain::PersonId;

use super::types::{Candidate, offer};

pub const LANES: usize = 32;

#[inline(always)]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ac, ar) = a[..n].as_chunks::<LANES>();
    let (bc, br) = b[..n].as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ac.iter().zip(bc) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    for (i, (x, y)) in ar.iter().zip(br).enumerate() {
        acc[i] += x * y;
    }
    reduce(acc)
}

/// Pairwise reduction of the lanes in a fixed order.
#[inline(always)]
pub fn reduce(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

/// Bytes per step of the int8 kernel.
#[cfg_attr(all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve")), allow(dead_code))]
pub const I8_STEP: usize = 32;

#[inline(always)]
#[cfg_attr(all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve")), allow(dead_code))]
pub fn dot_i8(probe: &[i16], t: &[i8]) -> i32 {
    // Products of two int8 values fit in i16; adjacent pairs are summed into i32 lanes. That
    // is the shape of x86's pmaddwd and Arm's SMLAD, which LLVM picks when it sees it.
    // Integer sums are exact, so any vector order gives the same result.
    let mut acc = [0i32; I8_STEP / 2];
    let n = probe.len().min(t.len());
    let (pc, pr) = probe[..n].split_at(n - n % I8_STEP);
    let (tc, tr) = t[..n].split_at(n - n % I8_STEP);
    for (x, y) in pc.chunks_exact(I8_STEP).zip(tc.chunks_exact(I8_STEP)) {
        for j in 0..I8_STEP / 2 {
            let lo = i32::from(x[2 * j] * i16::from(y[2 * j]));
            let hi = i32::from(x[2 * j + 1] * i16::from(y[2 * j + 1]));
            acc[j] += lo + hi;
        }
    }
    let tail: i32 = pr.iter().zip(tr).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
    acc.iter().sum::<i32>() + tail
}

/// Scan a contiguous gallery. Generic so that one body serves every instruction set.
#[inline(always)]
pub(super) fn scan_f32(
    values: &[f32],
    dim: usize,
    persons: &[PersonId],
    probe: &[f32],
    k: usize,
    threshold: f32,
    top: &mut Vec<Candidate>,
) {
    for (t, &person) in values.chunks_exact(dim).zip(persons) {
        let score = dot_f32(probe, t);
        if score >= threshold {
            offer(top, k, Candidate { person, score });
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve")), allow(dead_code))]
pub(super) fn scan_i8(
    values: &[i8],
    scales: &[f32],
    dim: usize,
    persons: &[PersonId],
    probe: &[i16],
    probe_scale: f32,
    k: usize,
    threshold: f32,
    top: &mut Vec<Candidate>,
) {
    for ((t, &scale), &person) in values.chunks_exact(dim).zip(scales).zip(persons) {
        let score = dot_i8(probe, t) as f32 * (probe_scale * scale);
        if score >= threshold {
            offer(top, k, Candidate { person, score });
        }
    }
}
