//! Matcher latency on the target: int8 1:N search at 128-d and 512-d for N = 100 / 1,000 /
//! 5,000, and one full gate decision. Cycles where the target has a cycle counter; under QEMU,
//! instructions (SysTick with `-icount`, calibrated against a block of known length).

use std::time::Duration;

use anyhow::{Result, bail};
use gatelab_core::wire::{BenchKind, BenchReport, BenchRequest, TickSource};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::client::Target;
use crate::transport::Transport;

pub const DIMS: [u16; 2] = [128, 512];
pub const GALLERIES: [u32; 3] = [100, 1_000, 5_000];

#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub kind: String,
    pub dim: u16,
    pub gallery: u32,
    /// Smallest of the repeats, in the target's own ticks.
    pub ticks: u64,
    /// Ticks converted: cycles (DWT) or instructions (icount).
    pub count: f64,
    /// "cycles" or "instructions".
    pub unit: String,
    pub multiply_accumulates: u64,
    pub per_mac: f64,
    /// Wall-clock estimate at the board's clock, only where ticks are cycles.
    pub micros: Option<f64>,
    pub best_match_ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    pub target: String,
    pub tick_source: String,
    /// Ticks per instruction (icount) or 1 (cycles).
    pub ticks_per_unit: f64,
    pub rows: Vec<BenchRow>,
}

/// Core clock of the board, where ticks are cycles.
fn clock_hz(board: gatelab_core::wire::Board) -> f64 {
    match board {
        gatelab_core::wire::Board::NucleoH743zi => 64e6,
        gatelab_core::wire::Board::QemuMps2An500 => 25e6,
    }
}

pub fn run<T: Transport>(
    target: &mut Target<T>,
    dims: &[u16],
    galleries: &[u32],
    repeats: u16,
    timeout: Duration,
    progress: &ProgressBar,
) -> Result<BenchResults> {
    let info = target.info();
    let (ticks_per_unit, unit) = match info.ticks {
        TickSource::DwtCycles => (1.0, "cycles"),
        TickSource::SysTickIcount => {
            let r = target
                .bench(BenchRequest { kind: BenchKind::Calibrate, dim: 0, gallery: 0, repeats: 5, seed: 1 }, timeout)?;
            if r.min_ticks == 0 {
                bail!(
                    "SysTick did not advance over 4,000 instructions: QEMU must run with -icount \
                     (gatelab-rig starts it so for `bench`)"
                );
            }
            (r.min_ticks as f64 / r.work as f64, "instructions")
        }
    };
    let mut rows = Vec::new();
    for &dim in dims {
        for &gallery in galleries {
            for kind in [BenchKind::Search, BenchKind::GateDecision] {
                progress.set_message(format!("{kind:?} {dim}-d × {gallery}"));
                let req = BenchRequest { kind, dim, gallery, repeats, seed: 0x5eed ^ u64::from(gallery) };
                let r: BenchReport = target.bench(req, timeout)?;
                let count = r.min_ticks as f64 / ticks_per_unit;
                rows.push(BenchRow {
                    kind: match kind {
                        BenchKind::Search => "search_int8".into(),
                        BenchKind::GateDecision => "gate_decision".into(),
                        BenchKind::Calibrate => "calibrate".into(),
                    },
                    dim,
                    gallery,
                    ticks: r.min_ticks,
                    count,
                    unit: unit.into(),
                    multiply_accumulates: r.work,
                    per_mac: count / r.work.max(1) as f64,
                    micros: (info.ticks == TickSource::DwtCycles).then(|| count / clock_hz(info.board) * 1e6),
                    // The probe is the middle template, disturbed: it must be found.
                    best_match_ok: r.best == Some(gatelab_core::PersonId(gallery / 2)),
                });
                progress.inc(1);
            }
        }
    }
    Ok(BenchResults { target: target.describe(), tick_source: format!("{:?}", info.ticks), ticks_per_unit, rows })
}

/// The table printed by `gatelab-rig bench`.
pub fn render(results: &BenchResults) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "target: {} — ticks: {} ({:.3} ticks per {})",
        results.target,
        results.tick_source,
        results.ticks_per_unit,
        results.rows.first().map(|r| r.unit.trim_end_matches('s')).unwrap_or("unit")
    );
    let _ =
        writeln!(s, "{:<14} {:>5} {:>7} {:>14} {:>10} {:>10}  found", "measure", "dim", "N", "count", "per MAC", "µs");
    for r in &results.rows {
        let micros = r.micros.map(|m| format!("{m:.1}")).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            s,
            "{:<14} {:>5} {:>7} {:>14.0} {:>10.3} {:>10}  {}",
            r.kind,
            r.dim,
            r.gallery,
            r.count,
            r.per_mac,
            micros,
            if r.best_match_ok { "yes" } else { "NO" }
        );
    }
    let _ = writeln!(
        s,
        "counts are {} (per MAC: per int8 multiply-accumulate; aim ≤ 1.0)",
        results.rows.first().map(|r| r.unit.as_str()).unwrap_or("")
    );
    s
}
