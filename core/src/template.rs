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
    //! (16 independent lanes, then a fixed reduction), not by the instruction set, so every
    //! target computes bit-identical scores.

    pub const LANES: usize = 16;

    #[inline(always)]
    pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let (ac, ar) = a.split_at(a.len() - a.len() % LANES);
        let (bc, br) = b.split_at(ac.len().min(b.len()));
        for (x, y) in ac.chunks_exact(LANES).zip(bc.chunks_exact(LANES)) {
            for i in 0..LANES {
                acc[i] += x[i] * y[i];
            }
        }
        for (i, (x, y)) in ar.iter().zip(br).enumerate() {
            acc[i] += x * y;
        }
        // Pairwise reduction in a fixed order.
        let mut width = LANES / 2;
        while width > 0 {
            for i in 0..width {
                acc[i] += acc[i + width];
            }
            width /= 2;
        }
        acc[0]
    }

    #[inline(always)]
    pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
        // Integer addition is associative, so LLVM may reorder freely: results are exact.
        a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
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
fn scan_i8(
    values: &[i8],
    scales: &[f32],
    dim: usize,
    persons: &[PersonId],
    probe: &[i8],
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
    //! Runtime dispatch to AVX2 for the same scan bodies (the default x86_64 target is SSE2).
    use super::*;

    #[target_feature(enable = "avx2")]
    fn scan_f32_avx2(v: &[f32], dim: usize, p: &[PersonId], q: &[f32], k: usize, th: f32, top: &mut Vec<Candidate>) {
        scan_f32(v, dim, p, q, k, th, top)
    }

    #[target_feature(enable = "avx2")]
    fn scan_i8_avx2(
        v: &[i8],
        s: &[f32],
        dim: usize,
        p: &[PersonId],
        q: &[i8],
        qs: f32,
        k: usize,
        th: f32,
        top: &mut Vec<Candidate>,
    ) {
        scan_i8(v, s, dim, p, q, qs, k, th, top)
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
        q: &[i8],
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

#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
use self::{scan_f32 as dispatch_f32, scan_i8 as dispatch_i8};
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
                self.values_i8[range].copy_from_slice(&self.scratch_q);
            }
        }
        self.deadlines[slot] = deadline;
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
            Precision::Int8 => dispatch_i8(
                &self.values_i8,
                &self.scales,
                self.dim,
                &self.persons,
                &probe.quantized,
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
