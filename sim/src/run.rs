//! `gatelab run`: replications of a scenario (in parallel, one seed per replication so the
//! result does not depend on the thread count), the output files and the summary table.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::engine::model::splitmix;
use crate::engine::{Keep, Replication, simulate_keeping};
use crate::progress::Progress;
use crate::summary::Summary;
use gatelab_scenario::Scenario;

/// The built-in default scenario: the seed story's Dongcheng compound.
pub const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/dongcheng.toml");
pub const DEFAULT_SCENARIO_NAME: &str = "dongcheng (built in)";

/// Seed of replication `r` of a run seeded with `seed`.
pub fn replication_seed(seed: u64, r: u32) -> u64 {
    splitmix(seed ^ splitmix(u64::from(r) + 1))
}

/// Mean and 95 % interval over replications ([`stat`], [`stat_non_negative`]); `ci95` is null
/// for one replication.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Stat {
    pub mean: f64,
    pub ci95: Option<[f64; 2]>,
    /// Replications where the figure exists (a group can be empty).
    pub n: usize,
}

/// The two-sided 95 % Student t quantile for `df` degrees of freedom (statrs; t(39) = 2.023).
pub fn t975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(f64::NAN, |t| t.inverse_cdf(0.975))
}

/// Mean and 95 % interval of a figure that can take any sign (a difference of waits): Student's
/// t over the replications.
pub fn stat(values: impl IntoIterator<Item = f64>) -> Stat {
    let v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return Stat { mean: f64::NAN, ci95: None, n };
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Stat { mean, ci95: None, n };
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Stat { mean, ci95: Some([mean - half, mean + half]), n }
}

/// [`stat`] for a figure that is never negative — a count, a rate, a wait or its percentile,
/// i.e. every figure of a run. The mean of non-negative values is itself non-negative, so the t
/// interval is intersected with [0, ∞): it keeps (at least) its 95 % coverage and never shows an
/// impossible value, as a skewed, mostly-zero figure's plain t interval would (couriers' p95
/// wait of 0.47 s had [−0.42, 1.37]). Chosen over a bootstrap percentile interval, which is as
/// range-respecting but covers far less than 95 % at the 2–10 replications planners run.
pub fn stat_non_negative(values: impl IntoIterator<Item = f64>) -> Stat {
    let mut s = stat(values);
    if let Some([lo, hi]) = s.ci95 {
        s.ci95 = Some([lo.max(0.0), hi]);
    }
    s
}

/// What a run produced, across replications.
#[derive(Debug)]
pub struct RunResult {
    pub scenario: Scenario,
    pub seed: u64,
    pub replications: Vec<Replication>,
}

impl RunResult {
    /// Every figure over the replications (`summary.json`).
    pub fn summary(&self) -> Summary {
        Summary::of(self)
    }

    pub fn summary_json(&self) -> Value {
        self.summary().to_json()
    }

    /// The table printed at the end of a run.
    pub fn render_table(&self) -> String {
        let mut out = self.summary().render_table(self.scenario.run.duration_min);
        let first = &self.replications[0];
        if !first.violations.is_empty() {
            let _ = writeln!(out, "consent violations in the first replication (rule: reason):");
            for v in first.violations.iter().take(6) {
                let _ = writeln!(out, "  {:?}: {}", v.rule, v.message);
            }
            if first.violations.len() > 6 {
                let _ = writeln!(out, "  … {} more in audit.jsonl (gatelab check-consent)", first.violations.len() - 6);
            }
        }
        out
    }

    /// Write summary.json, passages.csv, queue.csv and audit.jsonl (the last three from the
    /// first replication) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir).with_context(|| format!("could not create the output folder {}", dir.display()))?;
        let first = &self.replications[0];
        let summary = dir.join("summary.json");
        let mut text = serde_json::to_string_pretty(&self.summary_json())?;
        text.push('\n');
        fs::write(&summary, text).with_context(|| format!("could not write {}", summary.display()))?;
        let passages = dir.join("passages.csv");
        write_csv(&passages, &first.passages)?;
        let queue = dir.join("queue.csv");
        write_csv(&queue, &first.queue)?;
        let audit = dir.join("audit.jsonl");
        fs::write(&audit, first.audit_jsonl.as_deref().unwrap_or_default())
            .with_context(|| format!("could not write {}", audit.display()))?;
        Ok(vec![summary, passages, queue, audit])
    }
}

fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut writer = csv::Writer::from_path(path).with_context(|| format!("could not create {}", path.display()))?;
    for row in rows {
        writer.serialize(row).with_context(|| format!("could not write {}", path.display()))?;
    }
    writer.flush().with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}

/// Run `replications` replications of `scenario` seeded from `seed`, in parallel. Details
/// (rows, audit log) are kept for the first replication only.
pub fn run(scenario: &Scenario, seed: u64, replications: u32, progress: &dyn Progress) -> Result<RunResult> {
    run_keeping(scenario, seed, replications, progress, Keep::ALL)
}

/// [`run`], choosing what the first replication keeps (e.g. the terminals' trace).
pub fn run_keeping(
    scenario: &Scenario,
    seed: u64,
    replications: u32,
    progress: &dyn Progress,
    first: Keep,
) -> Result<RunResult> {
    let ticks = u64::from(scenario.run.duration_min) * 60_000 / (scenario.run.dt_s * 1000.0).round().max(1.0) as u64;
    progress.start(ticks * u64::from(replications), &format!("simulating {} × {}", replications, scenario.name));
    let results: Result<Vec<Replication>> = (0..replications)
        .into_par_iter()
        .map(|r| {
            let done = Cell::new(0u64);
            let report = |tick: u64| {
                let delta = tick.saturating_sub(done.get());
                done.set(tick.max(done.get()));
                progress.advance(delta);
            };
            let keep = if r == 0 { first } else { Keep::NOTHING };
            simulate_keeping(scenario, replication_seed(seed, r), keep, &report)
                .with_context(|| format!("replication {r} of scenario {:?}", scenario.name))
        })
        .collect();
    progress.finish();
    let mut replications = results?;
    if let Some(trace) = replications.first_mut().and_then(|r| r.trace.as_mut()) {
        // Name the run's seed (the one a user can re-run with), not the replication's.
        trace.header.origin = format!("scenario {:?}, seed {seed}, replication 0", scenario.name);
    }
    if let Some(recording) = replications.first_mut().and_then(|r| r.recording.as_mut()) {
        // The run's seed: `gatelab view --seed` takes it and shows replication 0.
        recording.header.seed = seed;
    }
    Ok(RunResult { scenario: scenario.clone(), seed, replications })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quantiles the README's 40- and 60-replication intervals rest on (two-sided 95 %, from
    /// any t table): the old table stopped at 30 degrees of freedom and fell back to 1.96.
    #[test]
    fn student_t_quantiles_match_the_tables() {
        for (df, want) in [(1, 12.706), (2, 4.303), (9, 2.262), (30, 2.042), (39, 2.023), (59, 2.001)] {
            assert!((t975(df) - want).abs() < 5e-4, "t(0.975, {df}) = {} not {want}", t975(df));
        }
    }

    #[test]
    fn forty_replications_use_t39_not_the_normal_quantile() {
        let values: Vec<f64> = (0..40).map(|i| f64::from(i % 5)).collect();
        let s = stat(values.iter().copied());
        let mean = values.iter().sum::<f64>() / 40.0;
        let sd = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 39.0).sqrt();
        let [lo, hi] = s.ci95.unwrap();
        assert!(((hi - lo) / 2.0 - 2.0227 * sd / 40f64.sqrt()).abs() < 1e-3, "{s:?}");
    }

    #[test]
    fn a_non_negative_figure_never_has_a_negative_bound() {
        // Couriers' p95 wait: zero in most replications, a few seconds in one.
        let p95 = [0.0, 0.0, 0.0, 0.0, 2.35];
        let plain = stat(p95);
        assert!(plain.ci95.unwrap()[0] < 0.0, "the plain t interval crosses zero: {plain:?}");
        let s = stat_non_negative(p95);
        let [lo, hi] = s.ci95.unwrap();
        assert_eq!(lo, 0.0);
        assert_eq!(hi, plain.ci95.unwrap()[1]);
        assert_eq!(s.mean, plain.mean);
        // Away from zero it is the t interval unchanged.
        assert_eq!(stat_non_negative([10.0, 12.0, 11.0]), stat([10.0, 12.0, 11.0]));
    }
}
