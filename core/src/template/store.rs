//! The store and its search: the gallery of one terminal, probes, and the scan dispatched to
//! the best kernel the target has.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::types::*;
use crate::domain::{PersonId, Timestamp};

#[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
use super::arm_dsp;
#[cfg(all(target_arch = "arm", feature = "arm-mve"))]
use super::arm_mve;
#[cfg(not(all(feature = "std", target_arch = "x86_64")))]
use super::kernels::scan_f32 as dispatch_f32;
#[cfg(not(any(
    all(feature = "std", target_arch = "x86_64"),
    all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve"))
)))]
use super::kernels::scan_i8 as dispatch_i8;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::x86::{f32 as dispatch_f32, i8 as dispatch_i8};

/// A probe prepared once for a search: normalised, and quantised when the store is int8.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub(super) normalized: Vec<f32>,
    pub(super) quantized: Vec<i8>,
    /// The quantised probe widened to i16 once, so the scan only widens the gallery side.
    #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
    pub(super) widened: Vec<i16>,
    /// The widened probe packed for the Armv7E-M kernel, and its accumulator start.
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    pub(super) pairs: Vec<u32>,
    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
    pub(super) pairs_bias: i32,
    pub(super) scale: f32,
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
        // The Helium kernel reads the int8 probe itself.
        #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
        {
            self.widened.clear();
            self.widened.extend(self.quantized.iter().map(|&q| i16::from(q)));
        }
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

/// The gallery of one store (one terminal). Slots are dense; removal swaps the last slot in.
#[derive(Clone, Debug)]
pub struct TemplateStore {
    pub(super) dim: usize,
    pub(super) precision: Precision,
    pub(super) persons: Vec<PersonId>,
    pub(super) deadlines: Vec<Timestamp>,
    pub(super) values_f32: Vec<f32>,
    pub(super) values_i8: Vec<i8>,
    pub(super) scales: Vec<f32>,
    /// At least every int8 scale in `scales` (never lowered on removal): bounds scores from
    /// above, so a scan can skip templates that cannot reach the threshold.
    pub(super) scale_max: f32,
    pub(super) slot_of: BTreeMap<PersonId, usize>,
    pub(super) next_deadline: Timestamp,
    pub(super) scratch_norm: Vec<f32>,
    pub(super) scratch_q: Vec<i8>,
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
                #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
                {
                    let rows = self.scales.len().saturating_add(additional);
                    self.values_i8.reserve(arm_mve::stored_len(rows, self.dim).saturating_sub(self.values_i8.len()));
                }
                #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
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
                        // The Helium kernel's layout keeps whole groups of rows.
                        #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
                        self.values_i8.resize(arm_mve::stored_len(slot + 1, self.dim), 0);
                        #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
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
                #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
                arm_mve::put(&mut self.values_i8, self.dim, slot, &self.scratch_q);
                #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
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
                #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
                arm_mve::get(&self.values_i8, self.dim, slot, out);
                #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
                out.extend(self.values_i8[range].iter().map(|&v| v as u8));
                #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
                {
                    // Undo the Arm kernel's byte offset: flash holds the same bytes everywhere.
                    // Only the body was offset (all of a 128- or 512-d row, none of a 100-d one).
                    let body = arm_dsp::body_len(self.dim);
                    out[start..start + body].iter_mut().step_by(2).for_each(|b| *b ^= 0x80);
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
                #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
                {
                    self.values_i8.resize(arm_mve::stored_len(slot + 1, self.dim), 0);
                    self.scratch_q.clear();
                    self.scratch_q.extend(values.iter().map(|&b| b as i8));
                    arm_mve::put(&mut self.values_i8, self.dim, slot, &self.scratch_q);
                }
                #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
                {
                    let start = self.values_i8.len();
                    self.values_i8.extend(values.iter().map(|&b| b as i8));
                    #[cfg(all(target_arch = "arm", feature = "arm-dsp"))]
                    arm_dsp::to_store_layout(&mut self.values_i8[start..]);
                    let _ = start;
                }
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
                #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
                {
                    // Zeroed behind: a removed template leaves no copy in the padding.
                    if slot < last {
                        arm_mve::move_row(&mut self.values_i8, dim, last, slot);
                    } else {
                        arm_mve::clear(&mut self.values_i8, dim, slot);
                    }
                    self.values_i8.truncate(arm_mve::stored_len(last, dim));
                }
                #[cfg(not(all(target_arch = "arm", feature = "arm-mve")))]
                {
                    self.values_i8.copy_within(last * dim..(last + 1) * dim, slot * dim);
                    self.values_i8.truncate(last * dim);
                }
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
                let bound = Bound { threshold, scale_max: self.scale_max };
                let view = arm_dsp::ProbeView {
                    widened: &probe.widened,
                    pairs: &probe.pairs,
                    pairs_bias: probe.pairs_bias,
                    scale: probe.scale,
                };
                arm_dsp::i8(&self.values_i8, &self.scales, self.dim, &self.persons, view, k, bound, top)
            }
            #[cfg(all(target_arch = "arm", feature = "arm-mve"))]
            Precision::Int8 => {
                let bound = Bound { threshold, scale_max: self.scale_max };
                let view = arm_mve::ProbeView { quantized: &probe.quantized, scale: probe.scale };
                arm_mve::i8(&self.values_i8, &self.scales, self.dim, &self.persons, view, k, bound, top)
            }
            #[cfg(not(all(target_arch = "arm", any(feature = "arm-dsp", feature = "arm-mve"))))]
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
