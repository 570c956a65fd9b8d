//! Service-time fits: lognormal and gamma by maximum likelihood, compared by AIC, each with its
//! Kolmogorov–Smirnov statistic. Densities and CDFs are statrs's.
//!
//! - Lognormal MLE is closed-form: μ and σ are the mean and (1/n) standard deviation of ln x.
//! - Gamma MLE: the shape k solves ln k − ψ(k) = ln x̄ − mean(ln x); started from the
//!   Choi–Wette approximation and refined by Newton steps (ψ from statrs, ψ' by a central
//!   difference of it); the rate is k / x̄.
//! - Both have two parameters, so AIC = 4 − 2 ln L and the lower AIC is the higher likelihood.

use statrs::distribution::{Continuous, ContinuousCDF, Gamma, LogNormal};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Lognormal,
    Gamma,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Lognormal => "lognormal",
            Family::Gamma => "gamma",
        }
    }
}

/// One fitted distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    pub family: Family,
    /// Lognormal: μ, σ of ln x. Gamma: shape k, rate β.
    pub params: (f64, f64),
    pub log_likelihood: f64,
    pub aic: f64,
    /// Kolmogorov–Smirnov D: the largest gap between the empirical and fitted CDFs.
    pub ks: f64,
    pub mean: f64,
    pub cv: f64,
}

impl Fit {
    pub fn pdf(&self, x: f64) -> f64 {
        match self.family {
            Family::Lognormal => LogNormal::new(self.params.0, self.params.1).map_or(0.0, |d| d.pdf(x)),
            Family::Gamma => Gamma::new(self.params.0, self.params.1).map_or(0.0, |d| d.pdf(x)),
        }
    }
    pub fn cdf(&self, x: f64) -> f64 {
        match self.family {
            Family::Lognormal => LogNormal::new(self.params.0, self.params.1).map_or(0.0, |d| d.cdf(x)),
            Family::Gamma => Gamma::new(self.params.0, self.params.1).map_or(0.0, |d| d.cdf(x)),
        }
    }
}

/// Both fits of one sample, and the better by AIC.
#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub n: usize,
    pub lognormal: Fit,
    pub gamma: Fit,
}

impl Fitted {
    pub fn best(&self) -> &Fit {
        if self.gamma.aic < self.lognormal.aic { &self.gamma } else { &self.lognormal }
    }
    pub fn of(&self, family: Family) -> &Fit {
        match family {
            Family::Lognormal => &self.lognormal,
            Family::Gamma => &self.gamma,
        }
    }
}

/// The fewest positive samples worth fitting.
pub const MIN_SAMPLES: usize = 30;

/// Fit both families to `samples` (seconds, positive); `None` with fewer than [`MIN_SAMPLES`]
/// or a sample without spread.
pub fn fit(samples: &[f64]) -> Option<Fitted> {
    let mut xs: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite() && *x > 0.0).collect();
    if xs.len() < MIN_SAMPLES {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let mean_ln = xs.iter().map(|x| x.ln()).sum::<f64>() / n;
    let var_ln = xs.iter().map(|x| (x.ln() - mean_ln).powi(2)).sum::<f64>() / n;
    if var_ln <= 0.0 {
        return None;
    }
    let sigma = var_ln.sqrt();
    let lognormal = LogNormal::new(mean_ln, sigma).ok()?;
    let lognormal = summarise(
        &xs,
        Family::Lognormal,
        (mean_ln, sigma),
        |x| lognormal.ln_pdf(x),
        |x| lognormal.cdf(x),
        (mean_ln + var_ln / 2.0).exp(),
        (var_ln.exp() - 1.0).sqrt(),
    );
    let shape = gamma_shape(mean.ln() - mean_ln)?;
    let rate = shape / mean;
    let gamma = Gamma::new(shape, rate).ok()?;
    let gamma =
        summarise(&xs, Family::Gamma, (shape, rate), |x| gamma.ln_pdf(x), |x| gamma.cdf(x), mean, 1.0 / shape.sqrt());
    Some(Fitted { n: xs.len(), lognormal, gamma })
}

/// Gamma MLE shape from s = ln(mean) − mean(ln x) > 0.
fn gamma_shape(s: f64) -> Option<f64> {
    use statrs::function::gamma::digamma;
    if !(s.is_finite() && s > 0.0) {
        return None;
    }
    let mut k = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
    for _ in 0..50 {
        let h = 1e-5 * k;
        let trigamma = (digamma(k + h) - digamma(k - h)) / (2.0 * h);
        let f = k.ln() - digamma(k) - s;
        let df = 1.0 / k - trigamma;
        let next = k - f / df;
        let next = if next > 0.0 { next } else { k / 2.0 };
        if (next - k).abs() < 1e-10 * k {
            k = next;
            break;
        }
        k = next;
    }
    k.is_finite().then_some(k)
}

fn summarise(
    sorted: &[f64],
    family: Family,
    params: (f64, f64),
    ln_pdf: impl Fn(f64) -> f64,
    cdf: impl Fn(f64) -> f64,
    mean: f64,
    cv: f64,
) -> Fit {
    let log_likelihood: f64 = sorted.iter().map(|&x| ln_pdf(x)).sum();
    Fit { family, params, log_likelihood, aic: 4.0 - 2.0 * log_likelihood, ks: ks_statistic(sorted, cdf), mean, cv }
}

/// Kolmogorov–Smirnov D of sorted samples against `cdf`.
pub fn ks_statistic(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted.iter().enumerate().fold(0.0, |d, (i, &x)| {
        let f = cdf(x);
        d.max(f - i as f64 / n).max((i + 1) as f64 / n - f)
    })
}

/// The 5 % critical value of D for n samples (asymptotic, 1.358/√n): a larger D says the family
/// does not fit (with parameters estimated from the same data the test is conservative).
pub fn ks_critical_5pct(n: usize) -> f64 {
    1.358 / (n.max(1) as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use statrs::distribution::ContinuousCDF;

    /// Deterministic quantile samples (stratified, no RNG needed): n points at (i + ½)/n.
    fn quantiles(d: &impl ContinuousCDF<f64, f64>, n: usize) -> Vec<f64> {
        (0..n).map(|i| d.inverse_cdf((i as f64 + 0.5) / n as f64)).collect()
    }

    #[test]
    fn lognormal_samples_are_fitted_as_lognormal_with_their_mean_and_cv() {
        let (mean, cv) = (2.0_f64, 0.35_f64);
        let s2 = (1.0 + cv * cv).ln();
        let xs = quantiles(&LogNormal::new(mean.ln() - s2 / 2.0, s2.sqrt()).unwrap(), 2000);
        let f = fit(&xs).unwrap();
        assert_eq!(f.best().family, Family::Lognormal);
        assert!((f.lognormal.mean - mean).abs() < 0.01 * mean, "{f:?}");
        assert!((f.lognormal.cv - cv).abs() < 0.01 * cv, "{f:?}");
        assert!(f.lognormal.ks < 0.01 && f.gamma.ks > f.lognormal.ks, "{f:?}");
    }

    #[test]
    fn gamma_samples_are_fitted_as_gamma_with_their_shape() {
        let xs = quantiles(&Gamma::new(2.0, 1.0).unwrap(), 2000);
        let f = fit(&xs).unwrap();
        assert_eq!(f.best().family, Family::Gamma);
        assert!((f.gamma.params.0 - 2.0).abs() < 0.05, "{f:?}");
        assert!((f.gamma.mean - 2.0).abs() < 0.02 && (f.gamma.cv - 0.5f64.sqrt()).abs() < 0.01, "{f:?}");
        // An exponential sample is no lognormal: its KS statistic is beyond the 5 % value.
        let exp = quantiles(&Gamma::new(1.0, 1.0).unwrap(), 2000);
        let f = fit(&exp).unwrap();
        assert!(f.lognormal.ks > ks_critical_5pct(2000), "{f:?}");
        assert!(f.gamma.ks < ks_critical_5pct(2000), "{f:?}");
    }

    #[test]
    fn too_few_or_constant_samples_are_not_fitted() {
        assert!(fit(&[1.0; 10]).is_none());
        assert!(fit(&[2.0; 100]).is_none());
        assert!(fit(&[f64::NAN; 100]).is_none());
    }
}
