//! Cortex-M55 (Armv8.1-M with the Helium vector extension, MVE) int8 kernel.
//!
//! `VMLADAVA.S8 Rda, Qn, Qm` adds the sixteen products of two vectors of int8 to a scalar
//! accumulator: sixteen multiply-accumulates in one instruction. The scan takes four
//! templates at a time, so each 16 probe bytes are loaded once for four rows: per 64
//! multiply-accumulates, one probe load, four template loads and four VMLADAVA (plus one
//! low-overhead-loop `LE` per 128 bytes of each row). Templates are stored as plain int8 (no
//! layout trick as on the M7), and the sums are exact integers, so scores equal every other
//! target's bit for bit (the on-target self-test checks this against the portable kernel).
use super::types::*;
use crate::domain::PersonId;
use alloc::vec::Vec;
use core::arch::asm;

/// Template bytes per row per loop iteration: eight 16-byte vectors.
const STEP: usize = 128;
/// Rows sharing each probe load.
const ROWS: usize = 4;

/// Bytes of a `dim`-long row the vector loop handles; the rest is summed plainly.
fn body_len(dim: usize) -> usize {
    dim - dim % STEP
}

/// What the int8 scan needs of a prepared probe (the store's `Probe`, seen from here).
#[derive(Clone, Copy, Debug)]
pub struct ProbeView<'a> {
    pub quantized: &'a [i8],
    pub scale: f32,
}

/// The dot products of the probe with four consecutive templates of `stride` bytes, over the
/// first `iterations · 128` bytes of each.
///
/// # Safety
/// `rows` must have `3 · stride + iterations · 128` readable bytes, `probe` `iterations · 128`,
/// and `iterations` ≥ 1.
#[inline(always)]
unsafe fn dot4(rows: *const i8, stride: usize, probe: *const i8, iterations: usize) -> [i32; ROWS] {
    let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
    // SAFETY: each iteration reads 128 bytes from the probe pointer and from each of the four
    // row pointers (post-incremented byte loads, no alignment needed); the caller guarantees
    // `iterations` such blocks are readable. VMLADAVA's accumulators must be even registers;
    // LE counts down LR, which DLS loads. Q0–Q4 (D0–D9) are scratch.
    unsafe {
        asm!(
            "dls lr, r12",
            "2:",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            // Seven more vectors: 128 bytes of each row per iteration. Written out, not
            // `.rept`: the compiler sizes inline assembly by its lines.
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "vldrb.s8 q0, [r1], #16",
            "vldrb.s8 q1, [r3], #16",
            "vmladava.s8 r0, q1, q0",
            "vldrb.s8 q2, [r5], #16",
            "vmladava.s8 r2, q2, q0",
            "vldrb.s8 q3, [r9], #16",
            "vmladava.s8 r4, q3, q0",
            "vldrb.s8 q4, [r10], #16",
            "vmladava.s8 r8, q4, q0",
            "le lr, 2b",
            inout("r0") a0,
            inout("r2") a1,
            inout("r4") a2,
            inout("r8") a3,
            inout("r1") probe => _,
            inout("r3") rows => _,
            inout("r5") rows.add(stride) => _,
            inout("r9") rows.add(2 * stride) => _,
            inout("r10") rows.add(3 * stride) => _,
            in("r12") iterations,
            out("lr") _,
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d4") _,
            out("d5") _,
            out("d6") _,
            out("d7") _,
            out("d8") _,
            out("d9") _,
            options(nostack, readonly),
        );
    }
    [a0, a1, a2, a3]
}

/// The plain sum of products (tails, and the rows after the last group of four).
fn plain_dot(p: &[i8], t: &[i8]) -> i32 {
    p.iter().zip(t).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum()
}

pub fn i8(
    v: &[i8],
    s: &[f32],
    dim: usize,
    p: &[PersonId],
    probe: ProbeView<'_>,
    k: usize,
    bound: Bound,
    top: &mut Vec<Candidate>,
) {
    let th = bound.threshold;
    let qs = probe.scale;
    let q = probe.quantized;
    let rows = (v.len() / dim.max(1)).min(s.len()).min(p.len());
    let body = if q.len() >= dim { body_len(dim) } else { 0 };
    // The tail is not in the vector sum: only whole rows can be ruled out on it.
    let floor = if body == dim && body > 0 { bound.min_dot(qs).unwrap_or(i32::MIN) } else { i32::MIN };
    let score = |row: usize, dot: i32, top: &mut Vec<Candidate>| {
        let mut dot = dot;
        if body < dim {
            dot += plain_dot(&q[body..dim], &v[row * dim + body..(row + 1) * dim]);
        }
        let score = dot as f32 * (qs * s[row]);
        if score >= th {
            offer(top, k, Candidate { person: p[row], score });
        }
    };
    let mut row = 0;
    if body > 0 {
        while row + ROWS <= rows {
            let group = &v[row * dim..(row + ROWS) * dim];
            // SAFETY: `group` holds four rows of `dim` ≥ `body` bytes, so the fourth row's
            // first `body` bytes end inside it; `q` holds at least `body` bytes; `body` is a
            // non-zero multiple of 128.
            let dots = unsafe { dot4(group.as_ptr(), dim, q.as_ptr(), body / STEP) };
            for (r, &dot) in dots.iter().enumerate() {
                if dot >= floor {
                    score(row + r, dot, top);
                }
            }
            row += ROWS;
        }
    }
    for r in row..rows {
        let body_dot = plain_dot(&q[..body], &v[r * dim..r * dim + body]);
        score(r, body_dot, top);
    }
}
