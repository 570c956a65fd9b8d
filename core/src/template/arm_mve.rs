//! Cortex-M55 (Armv8.1-M with the Helium vector extension, MVE) int8 kernel.
//!
//! `VMLADAVA.S8 Rda, Qn, Qm` adds the sixteen products of two vectors of int8 to a scalar
//! accumulator: sixteen multiply-accumulates in one instruction. The scan takes six
//! templates at a time, so each 16 probe bytes are loaded once for six rows: per 96
//! multiply-accumulates, one probe load, six template loads and six VMLADAVA (plus one
//! low-overhead-loop `LE` per 128 bytes of each row). On this target only, the store keeps
//! its int8 templates in groups of six, interleaved by 16 bytes (see [`GROUP`]), so one
//! post-incremented pointer walks all six rows. The sums are exact integers, so scores equal
//! every other target's bit for bit (the on-target self-test checks this against the
//! portable definition).
use super::types::*;
use crate::domain::PersonId;
use alloc::vec::Vec;
use core::arch::asm;
use core::ops::Range;

/// Template bytes per row per loop iteration: eight 16-byte vectors.
const STEP: usize = 128;
/// Below every dot product (|dot| ≤ 127² · 4096 < 2³⁰), and a floor [`scan`] takes.
const NO_FLOOR: i32 = -(1 << 30);
/// Bytes of one row per vector.
const CHUNK: usize = 16;
/// Rows sharing each probe load, and the unit the store keeps int8 templates in: a group of
/// six slots takes `6 · dim` bytes; within it the first [`body_len`] bytes of each row lie in
/// stripes of 96 (16 bytes of row 0, of row 1, …, of row 5, then the next 16 of row 0 …),
/// followed by the six rows' tails one after another. The last group is padded with zeros.
/// Six accumulators, because VMLADAVA's must be even registers and Rust reserves r6.
pub const GROUP: usize = 6;

/// Bytes of a `dim`-long row the vector loop handles; the rest is summed plainly.
fn body_len(dim: usize) -> usize {
    dim - dim % STEP
}

/// Bytes the store keeps for `rows` templates of `dim`: whole groups (saturating, like
/// `reserve`'s arithmetic).
pub fn stored_len(rows: usize, dim: usize) -> usize {
    rows.div_ceil(GROUP).saturating_mul(GROUP * dim)
}

/// The template in `slot` as runs: (offset in the store, range of the template's bytes).
fn runs(dim: usize, slot: usize) -> impl Iterator<Item = (usize, Range<usize>)> {
    let body = body_len(dim);
    let (base, r) = (slot / GROUP * GROUP * dim, slot % GROUP);
    // Byte j of the body (j a multiple of 16) starts stripe j / 16, of 96 bytes each.
    let chunks = (0..body).step_by(CHUNK).map(move |j| (base + j * GROUP + r * CHUNK, j..j + CHUNK));
    let tail = (body < dim).then(|| (base + GROUP * body + r * (dim - body), body..dim));
    chunks.chain(tail)
}

/// Store `template` (`dim` bytes) in `slot`; `values` holds at least `stored_len(slot + 1)`.
pub fn put(values: &mut [i8], dim: usize, slot: usize, template: &[i8]) {
    for (at, range) in runs(dim, slot) {
        values[at..at + range.len()].copy_from_slice(&template[range]);
    }
}

/// The template in `slot`, in order, as bytes appended to `out`.
pub fn get(values: &[i8], dim: usize, slot: usize, out: &mut Vec<u8>) {
    for (at, range) in runs(dim, slot) {
        out.extend(values[at..at + range.len()].iter().map(|&v| v as u8));
    }
}

/// Move the template in `from` to `to`, and zero `from` (a removed template leaves no copy).
pub fn move_row(values: &mut [i8], dim: usize, from: usize, to: usize) {
    for ((src, range), (dst, _)) in runs(dim, from).zip(runs(dim, to)) {
        values.copy_within(src..src + range.len(), dst);
    }
    clear(values, dim, from);
}

/// Zero the template in `slot`.
pub fn clear(values: &mut [i8], dim: usize, slot: usize) {
    for (at, range) in runs(dim, slot) {
        values[at..at + range.len()].fill(0);
    }
}

/// What the int8 scan needs of a prepared probe (the store's `Probe`, seen from here).
#[derive(Clone, Copy, Debug)]
pub struct ProbeView<'a> {
    pub quantized: &'a [i8],
    pub scale: f32,
}

/// Sixteen bytes of the probe and of each of the six rows of a group, multiplied and added.
macro_rules! stripe {
    () => {
        concat!(
            "vldrb.s8 q0, [r1], #16\n",
            "vldrb.s8 q1, [r3], #16\n",
            "vmladava.s8 r0, q1, q0\n",
            "vldrb.s8 q2, [r3], #16\n",
            "vmladava.s8 r2, q2, q0\n",
            "vldrb.s8 q3, [r3], #16\n",
            "vmladava.s8 r4, q3, q0\n",
            "vldrb.s8 q1, [r3], #16\n",
            "vmladava.s8 r8, q1, q0\n",
            "vldrb.s8 q2, [r3], #16\n",
            "vmladava.s8 r10, q2, q0\n",
            "vldrb.s8 q3, [r3], #16\n",
            "vmladava.s8 r12, q3, q0\n",
        )
    };
}

/// Scan up to `groups` consecutive groups from `group` (each `6 · iterations · 128` bytes:
/// no tails), stopping after the first that has a row whose dot product is at least
/// `floor` (≥ −2³⁰). Returns that group's dot products and how many groups were left,
/// counting it: 0 when every group ran through below the floor. The group loop is in the
/// assembly so the pointers and the floor stay in registers between groups. The
/// accumulators start at `−floor`, so a row reaches the floor when its sum is not negative
/// and one AND of the six sums tests the group (|dot| ≤ 127² · 4096 < 2³⁰: no overflow).
///
/// # Safety
/// `group` must have `groups · 6 · iterations · 128` readable bytes, `probe`
/// `iterations · 128`, and `iterations` and `groups` must be ≥ 1.
#[inline(always)]
unsafe fn scan(
    group: *const i8,
    probe: *const i8,
    iterations: usize,
    groups: usize,
    floor: i32,
) -> ([i32; GROUP], usize) {
    let (a0, a1, a2, a3, a4, a5): (i32, i32, i32, i32, i32, i32);
    let start = -floor;
    let left: usize;
    // SAFETY: each inner iteration reads 128 bytes from the probe pointer and 768 (eight
    // stripes) from the group pointer (post-incremented byte loads, no alignment needed);
    // the probe pointer is moved back after each group, the group pointer runs on through
    // `groups` groups at most, all readable by the caller's guarantee. VMLADAVA's
    // accumulators must be even registers; LE counts down LR, which DLS loads. Q0–Q3
    // (D0–D7) are scratch.
    unsafe {
        asm!(
            "1:",
            "mov r0, r11",
            "mov r2, r11",
            "mov r4, r11",
            "mov r8, r11",
            "mov r10, r11",
            "mov r12, r11",
            "dls lr, r5",
            "2:",
            // Eight stripes: 128 bytes of each row per iteration. Expanded here, not
            // `.rept`: the compiler sizes inline assembly by its lines.
            stripe!(),
            stripe!(),
            stripe!(),
            stripe!(),
            stripe!(),
            stripe!(),
            stripe!(),
            stripe!(),
            "le lr, 2b",
            "sub.w r1, r1, r5, lsl #7",
            // LR is free until the next DLS: the sign of the AND of the six sums.
            "and.w lr, r0, r2",
            "and.w lr, lr, r4",
            "and.w lr, lr, r8",
            "and.w lr, lr, r10",
            "ands.w lr, lr, r12",
            "bpl 3f",
            "subs r9, r9, #1",
            "bne 1b",
            "3:",
            out("r0") a0,
            out("r2") a1,
            out("r4") a2,
            out("r8") a3,
            out("r10") a4,
            out("r12") a5,
            inout("r1") probe => _,
            inout("r3") group => _,
            in("r5") iterations,
            inout("r9") groups => left,
            in("r11") start,
            out("lr") _,
            out("d0") _,
            out("d1") _,
            out("d2") _,
            out("d3") _,
            out("d4") _,
            out("d5") _,
            out("d6") _,
            out("d7") _,
            options(nostack, readonly),
        );
    }
    ([a0, a1, a2, a3, a4, a5].map(|a| a - start), left)
}

/// The plain sum of products (tails, and every row when the body is empty).
fn plain_dot(p: &[i8], t: &[i8]) -> i32 {
    p.iter().zip(t).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum()
}

/// The scan over a gallery in the layout above: `v` holds whole groups for `p.len()` rows.
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
    let size = GROUP * dim;
    let rows = p.len().min(s.len()).min(v.len() / size.max(1) * GROUP);
    if q.len() < dim {
        return;
    }
    let body = body_len(dim);
    let tail = dim - body;
    // The tail is not in the vector sum: only whole rows can be ruled out on it.
    // Every dot product is above −2³⁰, so that floor rules nothing out.
    let floor = if tail == 0 { bound.min_dot(qs).unwrap_or(NO_FLOOR) } else { NO_FLOOR };
    let score = |group: &[i8], row: usize, dot: i32, top: &mut Vec<Candidate>| {
        let mut dot = dot;
        if tail > 0 {
            let at = GROUP * body + row % GROUP * tail;
            dot += plain_dot(&q[body..], &group[at..at + tail]);
        }
        let score = dot as f32 * (qs * s[row]);
        if score >= th {
            offer(top, k, Candidate { person: p[row], score });
        }
    };
    let groups = rows.div_ceil(GROUP);
    let mut g = 0;
    while g < groups {
        // With tails the groups are not back to back for the assembly: one at a time (the
        // floor is off then, so each would stop it anyway).
        let run = if tail == 0 { groups - g } else { 1 };
        let (dots, left) = if body > 0 {
            // SAFETY: `v` holds `groups · 6 · dim` bytes and, for a run of more than one,
            // dim = body; `q` holds at least `body`; `body` is a non-zero multiple of 128.
            unsafe { scan(v[g * size..].as_ptr(), q.as_ptr(), body / STEP, run, floor) }
        } else {
            ([0; GROUP], 1)
        };
        if left == 0 {
            break;
        }
        // The assembly stopped at a group with a row at or above the floor.
        g += run - left;
        let group = &v[g * size..(g + 1) * size];
        let first = g * GROUP;
        // The last group may be padded: only its stored rows are scored.
        for (r, &dot) in dots.iter().enumerate().take(rows - first) {
            if dot >= floor {
                score(group, first + r, dot, top);
            }
        }
        g += 1;
    }
}
