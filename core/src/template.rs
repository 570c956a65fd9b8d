//! Template store and 1:N matcher.
//!
//! Templates are L2-normalised embeddings keyed by [`PersonId`] only: no name, card or household
//! sits next to them (C6). A store holds either f32 templates (host) or int8 ones with one scale
//! per template (terminals, firmware). Search is an exact linear scan, which is what terminals of
//! 1k–100k people do and what makes results reproducible: ties are broken by the smaller
//! person id, so the same gallery and probe give the same answer on every machine.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::domain::{PersonId, Timestamp};

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

fn check_dim(dim: usize) -> Result<(), TemplateError> {
    if dim == 0 || dim > MAX_DIM {
        return Err(TemplateError::UnsupportedDimension { dim: dim.min(u32::MAX as usize) as u32 });
    }
    Ok(())
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
    if embedding.iter().any(|v| !v.is_finite()) {
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
    let max_abs = normalized.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    out.clear();
    if max_abs == 0.0 {
        out.resize(normalized.len(), 0);
        return 0.0;
    }
    let to_q = 127.0 / max_abs;
    out.extend(normalized.iter().map(|&v| libm::roundf(v * to_q).clamp(-127.0, 127.0) as i8));
    max_abs / 127.0
}

/// A probe prepared once for a search: normalised, and quantised when the store is int8.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    normalized: Vec<f32>,
    quantized: Vec<i8>,
    /// The quantised probe widened to i16 once, so the scan only widens the gallery side.
    widened: Vec<i16>,
    /// The widened probe packed for the Armv7E-M kernel, and its accumulator start.
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    pairs: Vec<u32>,
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    pairs_bias: i32,
    scale: f32,
}

impl Probe {
    pub fn new(embedding: &[f32], dim: usize) -> Result<Probe, TemplateError> {
        let mut probe = Probe::default();
        probe.prepare(embedding, dim)?;
        Ok(probe)
    }

    /// Re-use this probe's buffers for a new embedding (no allocation in steady state).
    pub fn prepare(&mut self, embedding: &[f32], dim: usize) -> Result<(), TemplateError> {
        normalize_into(embedding, dim, &mut self.normalized)?;
        self.scale = quantize_into(&self.normalized, &mut self.quantized);
        self.widened.clear();
        self.widened.extend(self.quantized.iter().map(|&q| i16::from(q)));
        #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
        {
            self.pairs_bias = arm_dsp::pack_probe(&self.widened, &mut self.pairs);
        }
        Ok(())
    }

    pub fn dim(&self) -> usize {
        self.normalized.len()
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
fn offer(top: &mut Vec<Candidate>, k: usize, c: Candidate) {
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

pub(crate) mod kernels {
    //! Dot products written so LLVM vectorises them. The f32 sum order is fixed by the code
    //! (32 independent lanes, then a fixed reduction), not by the instruction set, so every
    //! target computes bit-identical scores.

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
    #[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
    pub const I8_STEP: usize = 32;

    #[inline(always)]
    #[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
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
}

/// Scan a contiguous gallery. Generic so that one body serves every instruction set.
#[inline(always)]
fn scan_f32(
    values: &[f32],
    dim: usize,
    persons: &[PersonId],
    probe: &[f32],
    k: usize,
    threshold: f32,
    top: &mut Vec<Candidate>,
) {
    for (t, &person) in values.chunks_exact(dim).zip(persons) {
        let score = kernels::dot_f32(probe, t);
        if score >= threshold {
            offer(top, k, Candidate { person, score });
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
#[cfg_attr(all(target_arch = "arm", feature = "arm-dsp"), allow(dead_code))]
fn scan_i8(
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
        let score = kernels::dot_i8(probe, t) as f32 * (probe_scale * scale);
        if score >= threshold {
            offer(top, k, Candidate { person, score });
        }
    }
}

#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[allow(unsafe_code, clippy::too_many_arguments)]
mod x86 {
    //! Runtime dispatch to AVX2 (the default x86_64 target is SSE2). The f32 scan is the shared
    //! body compiled with AVX2 enabled; the int8 dot product is written with intrinsics because
    //! LLVM does not find the widen-multiply-add-pairs sequence on its own. Integer sums are
    //! exact, so both paths give identical scores.
    use super::*;
    use core::arch::x86_64::*;

    /// [`kernels::dot_f32`] with its 32 lanes held in four 8-wide registers: the same products
    /// added in the same order per lane, then the same reduction, so bit-identical scores.
    #[target_feature(enable = "avx2")]
    fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
        const LANES: usize = kernels::LANES;
        let n = a.len().min(b.len());
        let body = n - n % LANES;
        let mut acc = [_mm256_setzero_ps(); LANES / 8];
        let mut i = 0;
        while i < body {
            for (r, reg) in acc.iter_mut().enumerate() {
                // SAFETY: i + LANES <= body <= n, so the 8 floats at i + 8r are in bounds.
                unsafe {
                    let x = _mm256_loadu_ps(a.as_ptr().add(i + 8 * r));
                    let y = _mm256_loadu_ps(b.as_ptr().add(i + 8 * r));
                    *reg = _mm256_add_ps(*reg, _mm256_mul_ps(x, y));
                }
            }
            i += LANES;
        }
        let mut lanes = [0.0f32; LANES];
        for (r, reg) in acc.iter().enumerate() {
            // SAFETY: lanes has room for 8 floats at 8r for every r < LANES / 8.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr().add(8 * r), *reg) };
        }
        for (j, (x, y)) in a[body..n].iter().zip(&b[body..n]).enumerate() {
            lanes[j] += x * y;
        }
        kernels::reduce(lanes)
    }

    #[target_feature(enable = "avx2")]
    fn scan_f32_avx2(v: &[f32], dim: usize, p: &[PersonId], q: &[f32], k: usize, th: f32, top: &mut Vec<Candidate>) {
        let ahead = (PREFETCH_BYTES_AHEAD_F32 / 4).div_ceil(dim.max(1)) * dim;
        for (row, (t, &person)) in v.chunks_exact(dim).zip(p).enumerate() {
            prefetch_row(v, row * dim + ahead, dim);
            let score = dot_f32_avx2(q, t);
            if score >= th {
                offer(top, k, Candidate { person, score });
            }
        }
    }

    /// Hint the cache lines of `v[start..start + len]` in; out-of-range parts are skipped.
    #[inline(always)]
    fn prefetch_row<T>(v: &[T], start: usize, len: usize) {
        let step = (64 / core::mem::size_of::<T>()).max(1);
        let end = (start + len).min(v.len());
        let mut at = start;
        while at < end {
            // SAFETY: prefetch is a hint and never faults; the address is inside `v`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(v.as_ptr().add(at).cast()) };
            at += step;
        }
    }

    /// `probe · t` for a widened probe and an int8 template of the same length.
    #[target_feature(enable = "avx2")]
    fn dot_i8_avx2(probe: &[i16], t: &[i8]) -> i32 {
        let n = probe.len().min(t.len());
        let body = n - n % 32;
        let (mut acc0, mut acc1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut i = 0;
        while i < body {
            // SAFETY: i + 32 <= body <= n, so all loads below are in bounds; loadu has no
            // alignment requirement.
            unsafe {
                let t0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(t.as_ptr().add(i).cast()));
                let t1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(t.as_ptr().add(i + 16).cast()));
                let p0 = _mm256_loadu_si256(probe.as_ptr().add(i).cast());
                let p1 = _mm256_loadu_si256(probe.as_ptr().add(i + 16).cast());
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, t0));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, t1));
            }
            i += 32;
        }
        let acc = _mm256_add_epi32(acc0, acc1);
        let sum128 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
        let sum64 = _mm_add_epi32(sum128, _mm_unpackhi_epi64(sum128, sum128));
        let sum32 = _mm_add_epi32(sum64, _mm_shuffle_epi32::<0b01>(sum64));
        let tail: i32 = probe[body..n].iter().zip(&t[body..n]).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
        _mm_cvtsi128_si32(sum32) + tail
    }

    const PREFETCH_BYTES_AHEAD: usize = 4096;
    /// f32 rows are 4× larger: look further ahead so DRAM latency is covered at 2 KB per row.
    const PREFETCH_BYTES_AHEAD_F32: usize = 8192;

    #[target_feature(enable = "avx2")]
    fn scan_i8_avx2(
        v: &[i8],
        s: &[f32],
        dim: usize,
        p: &[PersonId],
        q: &[i16],
        qs: f32,
        k: usize,
        th: f32,
        top: &mut Vec<Candidate>,
    ) {
        // Rows this far ahead are prefetched: the hardware prefetcher alone leaves the scan
        // short of DRAM bandwidth once the gallery no longer fits in cache.
        let ahead = PREFETCH_BYTES_AHEAD.div_ceil(dim.max(1)) * dim;
        for (row, ((t, &scale), &person)) in v.chunks_exact(dim).zip(s).zip(p).enumerate() {
            prefetch_row(v, row * dim + ahead, dim);
            let score = dot_i8_avx2(q, t) as f32 * (qs * scale);
            if score >= th {
                offer(top, k, Candidate { person, score });
            }
        }
    }

    pub fn f32(v: &[f32], dim: usize, p: &[PersonId], q: &[f32], k: usize, th: f32, top: &mut Vec<Candidate>) {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { scan_f32_avx2(v, dim, p, q, k, th, top) }
        } else {
            scan_f32(v, dim, p, q, k, th, top)
        }
    }

    pub fn i8(
        v: &[i8],
        s: &[f32],
        dim: usize,
        p: &[PersonId],
        q: &[i16],
        qs: f32,
        k: usize,
        th: f32,
        top: &mut Vec<Candidate>,
    ) {
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { scan_i8_avx2(v, s, dim, p, q, qs, k, th, top) }
        } else {
            scan_i8(v, s, dim, p, q, qs, k, th, top)
        }
    }
}

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
#[allow(unsafe_code, clippy::too_many_arguments)]
mod arm_dsp {
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
    use super::*;
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
    unsafe fn dot_rows(
        v: *const i8,
        rows: usize,
        stride: usize,
        body: usize,
        pairs: *const u32,
        acc: i32,
        dots: *mut i32,
    ) {
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

    /// The search threshold and an upper bound of the gallery's scales.
    #[derive(Clone, Copy, Debug)]
    pub struct Bound {
        pub threshold: f32,
        pub scale_max: f32,
    }

    impl Bound {
        /// The smallest accumulator (256·dot) whose row could score `threshold` or more:
        /// a row's score is `fl(fl(dot) · fl(qs · scale))`, monotone in `dot` and in `scale`,
        /// so a row below this cannot reach the threshold whatever its own scale. `i32::MIN`
        /// when nothing can be ruled out.
        fn min_accumulator(self, qs: f32) -> i32 {
            let c_max = qs * self.scale_max;
            let th = self.threshold;
            if !(th > 0.0 && c_max > 0.0 && c_max.is_finite()) {
                return i32::MIN;
            }
            let guess = libm::ceilf(th / c_max);
            if !(guess < (i32::MAX >> 8) as f32) {
                return i32::MIN;
            }
            // Step down past the rounding of the division, then up to the first passing dot.
            let mut x = (guess as i32 - 2).max(0);
            while x < i32::MAX >> 8 && (x as f32) * c_max < th {
                x += 1;
            }
            x.saturating_mul(256)
        }
    }

    pub fn i8(
        v: &[i8],
        s: &[f32],
        dim: usize,
        p: &[PersonId],
        probe: &Probe,
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
                let score = stored_dot(&probe.widened, t, body) as f32 * (qs * scale);
                if score >= th {
                    offer(top, k, Candidate { person, score });
                }
            }
            return;
        }
        let tail_probe = &probe.widened[body..];
        // The tail is not in the accumulator: only whole-row bodies can be ruled out early.
        let floor = if body == dim { bound.min_accumulator(qs) } else { i32::MIN };
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
}

#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
use self::scan_f32 as dispatch_f32;
#[cfg(not(any(all(feature = "std", target_arch = "x86_64"), all(target_arch = "arm", feature = "arm-dsp"))))]
use self::scan_i8 as dispatch_i8;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use x86::{f32 as dispatch_f32, i8 as dispatch_i8};

/// The gallery of one store (one terminal). Slots are dense; removal swaps the last slot in.
#[derive(Clone, Debug)]
pub struct TemplateStore {
    dim: usize,
    precision: Precision,
    persons: Vec<PersonId>,
    deadlines: Vec<Timestamp>,
    values_f32: Vec<f32>,
    values_i8: Vec<i8>,
    scales: Vec<f32>,
    /// At least every int8 scale in `scales` (never lowered on removal): bounds scores from
    /// above, so a scan can skip templates that cannot reach the threshold.
    scale_max: f32,
    slot_of: BTreeMap<PersonId, usize>,
    next_deadline: Timestamp,
    scratch_norm: Vec<f32>,
    scratch_q: Vec<i8>,
}

impl TemplateStore {
    pub fn new(dim: usize, precision: Precision) -> Result<TemplateStore, TemplateError> {
        check_dim(dim)?;
        Ok(TemplateStore {
            dim,
            precision,
            persons: Vec::new(),
            deadlines: Vec::new(),
            values_f32: Vec::new(),
            values_i8: Vec::new(),
            scales: Vec::new(),
            scale_max: 0.0,
            slot_of: BTreeMap::new(),
            next_deadline: Timestamp::NEVER,
            scratch_norm: Vec::new(),
            scratch_q: Vec::new(),
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn precision(&self) -> Precision {
        self.precision
    }
    pub fn len(&self) -> usize {
        self.persons.len()
    }
    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }
    pub fn contains(&self, person: PersonId) -> bool {
        self.slot_of.contains_key(&person)
    }
    /// Persons with a template, in id order (for audits and tests; never the templates).
    pub fn persons(&self) -> impl Iterator<Item = PersonId> + '_ {
        self.slot_of.keys().copied()
    }
    /// Bytes the gallery occupies (what one exhaustive search reads).
    pub fn gallery_bytes(&self) -> usize {
        self.values_f32.len() * 4 + self.values_i8.len() + self.scales.len() * 4
    }

    /// Reserve room for `additional` templates.
    pub fn reserve(&mut self, additional: usize) {
        self.persons.reserve(additional);
        self.deadlines.reserve(additional);
        match self.precision {
            Precision::F32 => self.values_f32.reserve(additional.saturating_mul(self.dim)),
            Precision::Int8 => {
                self.values_i8.reserve(additional.saturating_mul(self.dim));
                self.scales.reserve(additional);
            }
        }
    }

    /// Insert or replace `person`'s template; `deadline` is when it must be deleted (C5).
    pub fn insert(&mut self, person: PersonId, embedding: &[f32], deadline: Timestamp) -> Result<(), TemplateError> {
        normalize_into(embedding, self.dim, &mut self.scratch_norm)?;
        let slot = match self.slot_of.get(&person) {
            Some(&slot) => slot,
            None => {
                let slot = self.persons.len();
                self.persons.push(person);
                self.deadlines.push(deadline);
                match self.precision {
                    Precision::F32 => self.values_f32.resize(self.values_f32.len() + self.dim, 0.0),
                    Precision::Int8 => {
                        self.values_i8.resize(self.values_i8.len() + self.dim, 0);
                        self.scales.push(0.0);
                    }
                }
                self.slot_of.insert(person, slot);
                slot
            }
        };
        let range = slot * self.dim..(slot + 1) * self.dim;
        match self.precision {
            Precision::F32 => self.values_f32[range].copy_from_slice(&self.scratch_norm),
            Precision::Int8 => {
                self.scales[slot] = quantize_into(&self.scratch_norm, &mut self.scratch_q);
                self.scale_max = self.scale_max.max(self.scales[slot]);
                #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
                arm_dsp::to_store_layout(&mut self.scratch_q);
                self.values_i8[range].copy_from_slice(&self.scratch_q);
            }
        }
        self.deadlines[slot] = deadline;
        self.next_deadline = self.next_deadline.min(deadline);
        Ok(())
    }

    /// `person`'s template as stored, in the portable layout, for persistence (never leaves
    /// the crate: the journal encrypts it on the spot).
    pub(crate) fn sealed_copy(&self, person: PersonId, out: &mut Vec<u8>) -> bool {
        let Some(&slot) = self.slot_of.get(&person) else {
            return false;
        };
        out.clear();
        let range = slot * self.dim..(slot + 1) * self.dim;
        match self.precision {
            Precision::F32 => {
                out.push(0);
                self.values_f32[range].iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
            }
            Precision::Int8 => {
                out.push(1);
                out.extend_from_slice(&self.scales[slot].to_le_bytes());
                let start = out.len();
                out.extend(self.values_i8[range].iter().map(|&v| v as u8));
                #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
                {
                    // Undo the Arm kernel's byte offset: flash holds the same bytes everywhere.
                    out[start..].iter_mut().step_by(2).for_each(|b| *b ^= 0x80);
                }
                let _ = start;
            }
        }
        true
    }

    /// Put back a template written by [`TemplateStore::sealed_copy`]; refuses one of another
    /// precision or dimension, or with a non-finite scale.
    pub(crate) fn restore_sealed(
        &mut self,
        person: PersonId,
        sealed: &[u8],
        deadline: Timestamp,
    ) -> Result<(), TemplateError> {
        let wrong = TemplateError::WrongDimension { expected: self.dim as u32, got: 0 };
        let (values, scale) = match (self.precision, sealed.split_first()) {
            (Precision::F32, Some((0, rest))) if rest.len() == self.dim * 4 => (rest, 0.0),
            (Precision::Int8, Some((1, rest))) if rest.len() == 4 + self.dim => {
                let scale = f32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                if !scale.is_finite() || scale < 0.0 {
                    return Err(wrong);
                }
                (&rest[4..], scale)
            }
            _ => return Err(wrong),
        };
        if self.slot_of.contains_key(&person) {
            self.remove(person);
        }
        let slot = self.persons.len();
        self.persons.push(person);
        self.deadlines.push(deadline);
        match self.precision {
            Precision::F32 => {
                for chunk in values.chunks_exact(4) {
                    let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    self.values_f32.push(if v.is_finite() { v } else { 0.0 });
                }
            }
            Precision::Int8 => {
                let start = self.values_i8.len();
                self.values_i8.extend(values.iter().map(|&b| b as i8));
                #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
                arm_dsp::to_store_layout(&mut self.values_i8[start..]);
                let _ = start;
                self.scales.push(scale);
                self.scale_max = self.scale_max.max(scale);
            }
        }
        self.slot_of.insert(person, slot);
        self.next_deadline = self.next_deadline.min(deadline);
        Ok(())
    }

    /// Delete `person`'s template; true if there was one.
    pub fn remove(&mut self, person: PersonId) -> bool {
        let Some(slot) = self.slot_of.remove(&person) else {
            return false;
        };
        let last = self.persons.len() - 1;
        self.persons.swap_remove(slot);
        self.deadlines.swap_remove(slot);
        let dim = self.dim;
        match self.precision {
            Precision::F32 => {
                self.values_f32.copy_within(last * dim..(last + 1) * dim, slot * dim);
                self.values_f32.truncate(last * dim);
            }
            Precision::Int8 => {
                self.values_i8.copy_within(last * dim..(last + 1) * dim, slot * dim);
                self.values_i8.truncate(last * dim);
                self.scales.swap_remove(slot);
            }
        }
        if slot < last {
            self.slot_of.insert(self.persons[slot], slot);
        }
        true
    }

    pub fn deadline(&self, person: PersonId) -> Option<Timestamp> {
        self.slot_of.get(&person).map(|&s| self.deadlines[s])
    }

    /// Change when `person`'s template must go (card renewed or revoked, consent renewed).
    pub fn set_deadline(&mut self, person: PersonId, deadline: Timestamp) -> bool {
        let Some(&slot) = self.slot_of.get(&person) else {
            return false;
        };
        self.deadlines[slot] = deadline;
        self.recompute_next_deadline();
        true
    }

    /// The earliest deletion deadline in the store, [`Timestamp::NEVER`] if none.
    pub fn next_deadline(&self) -> Timestamp {
        self.next_deadline
    }

    /// Remove every template whose deadline is at or before `now`, calling `on_removed` for each
    /// (in person-id order, so audit logs are reproducible).
    pub fn remove_expired(&mut self, now: Timestamp, mut on_removed: impl FnMut(PersonId)) {
        if now < self.next_deadline {
            return;
        }
        let mut due: Vec<PersonId> =
            self.persons.iter().zip(&self.deadlines).filter(|&(_, &d)| d <= now).map(|(&p, _)| p).collect();
        due.sort_unstable();
        for person in due {
            self.remove(person);
            on_removed(person);
        }
        self.recompute_next_deadline();
    }

    fn recompute_next_deadline(&mut self) {
        self.next_deadline = self.deadlines.iter().copied().min().unwrap_or(Timestamp::NEVER);
    }

    /// 1:N search: the best `k` templates scoring at least `threshold`, best first, into `top`.
    pub fn search_into(
        &self,
        probe: &Probe,
        k: usize,
        threshold: f32,
        top: &mut Vec<Candidate>,
    ) -> Result<(), TemplateError> {
        top.clear();
        if probe.dim() != self.dim {
            return Err(TemplateError::WrongDimension { expected: self.dim as u32, got: probe.dim() as u32 });
        }
        if k == 0 {
            return Ok(());
        }
        match self.precision {
            Precision::F32 => {
                dispatch_f32(&self.values_f32, self.dim, &self.persons, &probe.normalized, k, threshold, top)
            }
            #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
            Precision::Int8 => {
                let bound = arm_dsp::Bound { threshold, scale_max: self.scale_max };
                arm_dsp::i8(&self.values_i8, &self.scales, self.dim, &self.persons, probe, k, bound, top)
            }
            #[cfg(not(all(target_arch = "arm", feature = "arm-dsp")))]
            Precision::Int8 => dispatch_i8(
                &self.values_i8,
                &self.scales,
                self.dim,
                &self.persons,
                &probe.widened,
                probe.scale,
                k,
                threshold,
                top,
            ),
        }
        Ok(())
    }

    /// Convenience form of [`TemplateStore::search_into`] that allocates.
    pub fn search(&self, probe: &Probe, k: usize, threshold: f32) -> Result<Vec<Candidate>, TemplateError> {
        let mut top = Vec::with_capacity(k.min(64));
        self.search_into(probe, k, threshold, &mut top)?;
        Ok(top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_and_probe(precision: Precision, dim: usize) -> (TemplateStore, Probe) {
        let mut store = TemplateStore::new(dim, precision).unwrap();
        let mut x = 0x1234_5678_u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        for p in 0..300 {
            let v: Vec<f32> = (0..dim).map(|_| next()).collect();
            store.insert(PersonId(p), &v, Timestamp::NEVER).unwrap();
        }
        let q: Vec<f32> = (0..dim).map(|_| next()).collect();
        (store, Probe::new(&q, dim).unwrap())
    }

    /// The runtime-dispatched scans give bit-identical results to the portable bodies that the
    /// firmware and other targets run, for dimensions with and without a remainder.
    #[test]
    fn dispatched_and_portable_scans_agree_bit_for_bit() {
        for dim in [7, 32, 100, 128, 512] {
            for precision in [Precision::F32, Precision::Int8] {
                let (store, probe) = store_and_probe(precision, dim);
                let dispatched = store.search(&probe, 300, -2.0).unwrap();
                let mut portable = Vec::new();
                match precision {
                    Precision::F32 => {
                        scan_f32(&store.values_f32, dim, &store.persons, &probe.normalized, 300, -2.0, &mut portable)
                    }
                    Precision::Int8 => scan_i8(
                        &store.values_i8,
                        &store.scales,
                        dim,
                        &store.persons,
                        &probe.widened,
                        probe.scale,
                        300,
                        -2.0,
                        &mut portable,
                    ),
                }
                assert_eq!(dispatched.len(), 300);
                for (a, b) in dispatched.iter().zip(&portable) {
                    assert_eq!(a.person, b.person);
                    assert_eq!(a.score.to_bits(), b.score.to_bits(), "{precision:?} dim {dim}");
                }
            }
        }
    }
}
