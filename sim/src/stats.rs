//! Figures over replications: the mean and its 95 % interval.

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

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
