//! Support for the fuzz targets in `fuzz_targets/`.
//!
//! The scenario parser is the product's own crate, `gatelab-scenario` (serde, toml and
//! `gatelab-core` only: no Bevy, plotters or ONNX Runtime in an instrumented build).

pub use gatelab_scenario as scenario;

use std::collections::BTreeMap;

use gatelab_core::AuditRecord;
use gatelab_core::audit::{AuditEvent, Digest, Source};

/// Each source's records hash-chained as a terminal writes them (seq, time and event kept):
/// a source's first record links to the genesis digest, every later one to the record before,
/// except a restart (`Restarted` with seq 0), which begins a new chain from the genesis digest.
/// A log that starts mid-stream anchors on its first record, so any stretch of a real log,
/// chained here, verifies.
pub fn rechain(log: &[AuditRecord]) -> Vec<AuditRecord> {
    let mut heads: BTreeMap<Source, Digest> = BTreeMap::new();
    log.iter()
        .map(|r| {
            let head = heads.entry(r.source).or_insert(Digest::GENESIS);
            if r.seq == 0 && matches!(r.event, AuditEvent::Restarted { .. }) {
                *head = Digest::GENESIS;
            }
            let record = AuditRecord::chained(head, r.seq, r.at, r.source, r.event);
            *head = record.digest;
            record
        })
        .collect()
}
