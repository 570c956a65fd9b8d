//! Runtime dispatch to AVX2 (the default x86_64 target is SSE2). The f32 scan is the shared
//! body compiled with AVX2 enabled; the int8 dot product is written with intrinsics because
//! LLVM does not find the widen-multiply-add-pairs sequence on its own. Integer sums are
//! exact, so both paths give identical scores.
use super::kernels::{self, scan_f32, scan_i8};
use super::types::*;
use crate::domain::PersonId;
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
