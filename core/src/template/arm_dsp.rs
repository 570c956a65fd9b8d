//! Cortex-M4/M7 (Armv7E-M) int8 kernel with the DSP extension, at under one instruction per
//! multiply-accumulate.
//!
//! A template word holds bytes `b0 b1 b2 b3`. Stored with the even bytes offset by 128
//! (`u = b + 128`, unsigned), its 16-bit halves read as `u0 + 256·b1` and `u2 + 256·b3`
//! exactly. With the probe packed as `A = (p1, p3)` and `B = (256·p0 − p1, 256·p2 − p3)`:
//!
//! `SMLAD(w, A) + SMLAD(UXTB16(w), B) = 256·(p0·b0 + p1·b1 + p2·b2 + p3·b3) + 32768·(p0 + p2)`
//!
//! so four multiply-accumulates cost three instructions, and the constant is folded into the
//! accumulator's start. Integer arithmetic throughout: scores equal every other target's
//! bit for bit (the on-target self-test checks this against the portable kernel).
use super::types::*;
use crate::domain::PersonId;
use alloc::vec::Vec;
use core::arch::asm;

/// Template bytes per loop iteration (a 512-d row takes four).
const STEP: usize = 128;
/// Longest body per row: |Σ p·b| ≤ 127²·512 keeps 256·Σ inside an i32 (the accumulator
/// wraps freely on the way, only the final value must fit).
const MAX_BODY: usize = 512;

/// Bytes of a `dim`-long row the kernel handles; the rest is summed plainly.
pub fn body_len(dim: usize) -> usize {
    if !dim.is_multiple_of(4) { 0 } else { (dim - dim % STEP).min(MAX_BODY) }
}

/// The stored form of a quantised template: even bytes of the body offset by 128.
pub fn to_store_layout(q: &mut [i8]) {
    let body = body_len(q.len());
    for b in q[..body].iter_mut().step_by(2) {
        *b = (*b as u8 ^ 0x80) as i8;
    }
}

/// The widened probe's body as `A, B` word pairs per group of four (LDM needs words), and
/// the accumulator's start value `−32768·Σ p_even`.
pub fn pack_probe(widened: &[i16], pairs: &mut Vec<u32>) -> i32 {
    let body = body_len(widened.len());
    pairs.clear();
    let pair = |lo: i32, hi: i32| u32::from(lo as i16 as u16) | (u32::from(hi as i16 as u16) << 16);
    let mut even_sum = 0i32;
    for g in widened[..body].chunks_exact(4) {
        let [p0, p1, p2, p3] = [g[0], g[1], g[2], g[3]].map(i32::from);
        pairs.push(pair(p1, p3));
        // |p| ≤ 127, so 256·p0 − p1 fits in an i16.
        pairs.push(pair(256 * p0 - p1, 256 * p2 - p3));
        even_sum += p0 + p2;
    }
    even_sum.wrapping_mul(-32768)
}

/// `dots[r] = acc + 256·Σ p·t_r` for `rows` consecutive stored templates of `stride` bytes,
/// over the first `body` bytes of each (a non-zero multiple of 128). The row loop is in the
/// assembly too: the inner loop needs every register, and a row loop in Rust around it
/// spilled and refilled them for every template.
///
/// # Safety
/// `v` must be word-aligned with `rows · stride` readable bytes (`stride` ≥ `body`, a
/// multiple of 4), `pairs` must hold `body / 2` words, `dots` room for `rows` values, and
/// `rows` ≥ 1.
#[inline(always)]
unsafe fn dot_rows(v: *const i8, rows: usize, stride: usize, body: usize, pairs: *const u32, acc: i32, dots: *mut i32) {
    // SAFETY: each inner iteration reads 128 template bytes from `tp` and 64 probe words from
    // `pp` with word-aligned LDM; `tp` covers the first `body` bytes of each row and skips
    // `stride - body` to the next; `pp` restarts at `pairs` every row; one result per row
    // goes to the next of `rows` slots in `dots`, and the loop ends when that pointer
    // reaches the end. The six words pushed at the start are popped at the end.
    unsafe {
        let dots_end = dots.add(rows);
        let skip = stride - body;
        asm!(
            "push {{r0, r1, r2, r3, r4, r5}}",
            "mov {pp}, r2",
            "mov {acc}, r3",
            "add {end}, {tp}, r4",
            "2:",
            // 16 template bytes, 8 probe words: 16 multiply-accumulates in 15 instructions.
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            // Seven more times: 128 bytes per iteration. Written out, not `.rept`: the
            // compiler sizes inline assembly by its lines when it places literal pools.
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "ldm {tp}!, {{r4, r5, r8, r9}}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r4, r0, {acc}",
            "uxtb16 r4, r4",
            "smlad {acc}, r4, r1, {acc}",
            "smlad {acc}, r5, r2, {acc}",
            "uxtb16 r5, r5",
            "smlad {acc}, r5, r3, {acc}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {acc}, r8, r0, {acc}",
            "uxtb16 r8, r8",
            "smlad {acc}, r8, r1, {acc}",
            "smlad {acc}, r9, r2, {acc}",
            "uxtb16 r9, r9",
            "smlad {acc}, r9, r3, {acc}",
            "cmp {tp}, {end}",
            // The body is beyond a 16-bit branch's reach.
            "bne.w 2b",
            // Row done: store it, then set up the next (pointers, accumulator, end).
            "ldm sp, {{r0, r1, r2, r3, r4, r5}}",
            "str {acc}, [r0], #4",
            "str r0, [sp]",
            "add {tp}, {tp}, r5",
            "mov {pp}, r2",
            "mov {acc}, r3",
            "add {end}, {tp}, r4",
            "cmp r0, r1",
            "bne.w 2b",
            "add sp, sp, #24",
            tp = inout(reg) v => _,
            pp = out(reg) _,
            end = out(reg) _,
            acc = out(reg) _,
            inout("r0") dots => _,
            inout("r1") dots_end => _,
            inout("r2") pairs => _,
            inout("r3") acc => _,
            inout("r4") body => _,
            inout("r5") skip => _,
            out("r8") _,
            out("r9") _,
        );
    }
}

/// The plain sum over a stored template (tail bytes, or a gallery the kernel cannot take).
fn stored_dot(widened: &[i16], t: &[i8], body: usize) -> i32 {
    let mut sum = 0i32;
    for (i, (&p, &b)) in widened.iter().zip(t).enumerate() {
        let b = if i < body && i % 2 == 0 { (b as u8 ^ 0x80) as i8 } else { b };
        sum += i32::from(p) * i32::from(b);
    }
    sum
}

/// Rows per call of the assembly; their dot products wait in a stack buffer.
const CHUNK: usize = 64;

/// What the int8 scan needs of a prepared probe (the store's `Probe`, seen from here).
#[derive(Clone, Copy, Debug)]
pub struct ProbeView<'a> {
    pub widened: &'a [i16],
    pub pairs: &'a [u32],
    pub pairs_bias: i32,
    pub scale: f32,
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
    let body = body_len(dim);
    let qs = probe.scale;
    // Every row starts word-aligned when the gallery does (rows are whole words when the
    // kernel applies); our allocators align, the slice type does not promise it.
    let fast = body > 0 && (v.as_ptr() as usize).is_multiple_of(4) && probe.pairs.len() * 2 >= body;
    if !fast {
        for ((t, &scale), &person) in v.chunks_exact(dim).zip(s).zip(p) {
            let score = stored_dot(probe.widened, t, body) as f32 * (qs * scale);
            if score >= th {
                offer(top, k, Candidate { person, score });
            }
        }
        return;
    }
    let tail_probe = &probe.widened[body..];
    // The tail is not in the accumulator: only whole-row bodies can be ruled out early.
    let floor = if body == dim { bound.min_dot(qs).map_or(i32::MIN, |x| x.saturating_mul(256)) } else { i32::MIN };
    let mut dots = [0i32; CHUNK];
    for ((rows_v, rows_s), rows_p) in v.chunks(CHUNK * dim).zip(s.chunks(CHUNK)).zip(p.chunks(CHUNK)) {
        let rows = (rows_v.len() / dim).min(rows_s.len()).min(rows_p.len());
        if rows == 0 {
            break;
        }
        // SAFETY: `rows_v` holds `rows · dim` bytes and starts word-aligned (the gallery is,
        // and `dim` is a multiple of 4 when `body` > 0); `pairs` holds at least `body / 2`
        // words; `dots` has room for CHUNK ≥ rows values.
        unsafe {
            dot_rows(rows_v.as_ptr(), rows, dim, body, probe.pairs.as_ptr(), probe.pairs_bias, dots.as_mut_ptr())
        };
        for (r, &acc) in dots[..rows].iter().enumerate() {
            if acc < floor {
                continue;
            }
            let (scale, person) = (rows_s[r], rows_p[r]);
            let mut dot = acc >> 8;
            if body < dim {
                let t = &rows_v[r * dim + body..(r + 1) * dim];
                dot += stored_dot(tail_probe, t, 0);
            }
            let score = dot as f32 * (qs * scale);
            if score >= th {
                offer(top, k, Candidate { person, score });
            }
        }
    }
}
