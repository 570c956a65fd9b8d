//! Matcher latency on the target: int8 1:N search at 128-d and 512-d for N = 100 / 1,000 /
//! 5,000, and one full gate decision. Cycles where the target has a cycle counter; under QEMU,
//! instructions (SysTick with `-icount`, calibrated against a block of known length).

use std::time::Duration;

use anyhow::{Result, bail};
use gatelab_core::wire::{BenchKind, BenchReport, BenchRequest, LinkError, TickSource};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::client::{RigError, Target};
use crate::transport::Transport;

pub const DIMS: [u16; 2] = [128, 512];
pub const GALLERIES: [u32; 3] = [100, 1_000, 5_000];

#[derive(Debug, Clone, Serialize)]
pub struct BenchRow {
    pub kind: String,
    pub dim: u16,
    pub gallery: u32,
    /// False when the gallery does not fit in the target's RAM (nothing measured).
    pub fits: bool,
    /// Smallest of the repeats, in the target's own ticks.
    pub ticks: Option<u64>,
    /// Ticks converted: cycles (DWT) or instructions (icount).
    pub count: Option<f64>,
    /// "cycles" or "instructions".
    pub unit: String,
    pub multiply_accumulates: u64,
    pub per_mac: Option<f64>,
    /// Wall-clock estimate at the board's clock, only where ticks are cycles.
    pub micros: Option<f64>,
    pub best_match_ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchResults {
    pub target: String,
    pub tick_source: TickSource,
    /// Ticks per instruction (icount) or 1 (cycles).
    pub ticks_per_unit: f64,
    pub rows: Vec<BenchRow>,
}

/// Core clock of the board, where ticks are cycles.
fn clock_hz(board: gatelab_core::wire::Board) -> f64 {
    match board {
        gatelab_core::wire::Board::NucleoH743zi | gatelab_core::wire::Board::NucleoN657x0 => 64e6,
        gatelab_core::wire::Board::QemuMps2An500 | gatelab_core::wire::Board::QemuMps3An547 => 25e6,
    }
}

/// A terminal class's usual top clock, for turning QEMU's instruction counts into seconds:
/// the STM32H743 (Cortex-M7) runs up to 480 MHz, the STM32N657 (Cortex-M55) up to 800 MHz.
pub fn typical_mhz(board: gatelab_core::wire::Board) -> f64 {
    match board {
        gatelab_core::wire::Board::QemuMps2An500 | gatelab_core::wire::Board::NucleoH743zi => 480.0,
        gatelab_core::wire::Board::QemuMps3An547 | gatelab_core::wire::Board::NucleoN657x0 => 800.0,
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
                let name = match kind {
                    BenchKind::Search => "search_int8",
                    BenchKind::GateDecision => "gate_decision",
                    BenchKind::Calibrate => "calibrate",
                };
                let macs = u64::from(dim) * u64::from(gallery);
                let refused_for_memory = |e: &anyhow::Error| {
                    matches!(e.downcast_ref::<RigError>(), Some(RigError::Refused { error: LinkError::BadConfig, .. }))
                };
                let r: BenchReport = match target.bench(req, timeout) {
                    Ok(r) => r,
                    Err(e) if refused_for_memory(&e) => {
                        rows.push(BenchRow {
                            kind: name.into(),
                            dim,
                            gallery,
                            fits: false,
                            ticks: None,
                            count: None,
                            unit: unit.into(),
                            multiply_accumulates: macs,
                            per_mac: None,
                            micros: None,
                            best_match_ok: false,
                        });
                        progress.inc(1);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                let count = r.min_ticks as f64 / ticks_per_unit;
                rows.push(BenchRow {
                    kind: name.into(),
                    dim,
                    gallery,
                    fits: true,
                    ticks: Some(r.min_ticks),
                    count: Some(count),
                    unit: unit.into(),
                    multiply_accumulates: r.work,
                    per_mac: Some(count / r.work.max(1) as f64),
                    micros: (info.ticks == TickSource::DwtCycles).then(|| count / clock_hz(info.board) * 1e6),
                    // The probe is the middle template, disturbed: it must be found.
                    best_match_ok: r.best == Some(gatelab_core::PersonId(gallery / 2)),
                });
                progress.inc(1);
            }
        }
    }
    Ok(BenchResults { target: target.describe(), tick_source: info.ticks, ticks_per_unit, rows })
}

/// The table printed by `gatelab-rig bench`.
pub fn render(results: &BenchResults) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "target: {} — ticks: {:?} ({:.3} ticks per {})",
        results.target,
        results.tick_source,
        results.ticks_per_unit,
        results.rows.first().map(|r| r.unit.trim_end_matches('s')).unwrap_or("unit")
    );
    let _ =
        writeln!(s, "{:<14} {:>5} {:>7} {:>14} {:>10} {:>10}  found", "measure", "dim", "N", "count", "per MAC", "µs");
    for r in &results.rows {
        let (Some(count), Some(per_mac)) = (r.count, r.per_mac) else {
            let _ = writeln!(s, "{:<14} {:>5} {:>7}  does not fit in the target's RAM", r.kind, r.dim, r.gallery);
            continue;
        };
        let micros = r.micros.map(|m| format!("{m:.1}")).unwrap_or_else(|| "—".into());
        let _ = writeln!(
            s,
            "{:<14} {:>5} {:>7} {:>14.0} {:>10.3} {:>10}  {}",
            r.kind,
            r.dim,
            r.gallery,
            count,
            per_mac,
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

/// Several targets' tables side by side: count and count per multiply-accumulate of each, and
/// how many times fewer the last target needs than the first.
pub fn render_side_by_side(results: &[(String, BenchResults)]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let Some((_, first)) = results.first() else { return s };
    let _ = write!(s, "{:<14} {:>5} {:>7}", "measure", "dim", "N");
    for (name, r) in results {
        let unit = r.rows.first().map(|row| row.unit.as_str()).unwrap_or("count");
        let _ = write!(s, " | {:>14} {:>8}", format!("{name} {unit}"), "per MAC");
    }
    let _ = writeln!(s, " | {:>7}", "ratio");
    for row in &first.rows {
        let _ = write!(s, "{:<14} {:>5} {:>7}", row.kind, row.dim, row.gallery);
        let mut counts = Vec::new();
        for (_, r) in results {
            let same = r.rows.iter().find(|o| o.kind == row.kind && o.dim == row.dim && o.gallery == row.gallery);
            match same.and_then(|o| Some((o.count?, o.per_mac?))) {
                Some((count, per_mac)) => {
                    let _ = write!(s, " | {count:>14.0} {per_mac:>8.3}");
                    counts.push(Some(count));
                }
                None => {
                    let _ = write!(s, " | {:>23}", "does not fit");
                    counts.push(None);
                }
            }
        }
        match (counts.first().copied().flatten(), counts.last().copied().flatten()) {
            (Some(a), Some(b)) if results.len() > 1 && b > 0.0 => {
                let _ = writeln!(s, " | {:>6.2}×", a / b);
            }
            _ => {
                let _ = writeln!(s, " | {:>7}", "—");
            }
        }
    }
    let _ = writeln!(
        s,
        "ratio: the first target's count over the last's. Instruction counts under QEMU are not time: \
         no caches, no wait states, no pipeline (see README, \"Choosing terminal hardware\")."
    );
    s
}

/// The file `gatelab-rig bench --emit-calibration` writes is the type a scenario's
/// `[service] terminal_calibration` reads, defined once in `gatelab-scenario`.
pub use gatelab_scenario::{DecisionPoint, TerminalCalibration as Calibration};

/// Seconds per gate decision from the measured rows: cycles at the board's clock, or
/// instructions at `assumed_hz` (one instruction per cycle) when the target only counts those.
pub fn calibration(results: &BenchResults, board: gatelab_core::wire::Board, assumed_hz: f64) -> Calibration {
    let cycles = results.tick_source == TickSource::DwtCycles;
    let hz = if cycles { clock_hz(board) } else { assumed_hz };
    let note = if cycles {
        format!("DWT cycles at the board's {:.0} MHz core clock", hz / 1e6)
    } else {
        format!(
            "instruction counts (QEMU -icount) at an assumed {:.0} MHz and one instruction per cycle: \
             QEMU does not model time; measure on the board for real seconds",
            hz / 1e6
        )
    };
    let gate_decision = results
        .rows
        .iter()
        .filter(|r| r.kind == "gate_decision")
        .filter_map(|r| Some(DecisionPoint { dim: r.dim, gallery: r.gallery, seconds: r.count? / hz }))
        .collect();
    Calibration { source: results.target.clone(), note, gate_decision }
}
