//! Free walking speeds: Weidmann's (1993) population distribution and the demographic table
//! RiMEA's test 7 asks for (speeds by age group, as JuPedSim's test 7 bounds them).

use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// Weidmann's free speed: mean 1.34 m/s, sd 0.26 m/s (Weidmann 1993; Vadere's defaults).
pub const WEIDMANN_MEAN: f64 = 1.34;
pub const WEIDMANN_SD: f64 = 0.26;

/// Weidmann's fundamental diagram: the mean speed at a density ρ (persons/m²), m/s.
pub fn weidmann_speed(density: f64) -> f64 {
    if density <= 0.0 {
        return WEIDMANN_MEAN;
    }
    (1.34 * (1.0 - (-1.913 * (1.0 / density - 1.0 / 5.4)).exp())).max(0.0)
}

/// A free speed from Weidmann's distribution, kept within 0.5–2.2 m/s (beyond four standard
/// deviations a draw is a tail no one walks, and a near-zero v0 would be a wall in a corridor).
pub fn weidmann_free_speed<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let normal = Normal::new(WEIDMANN_MEAN, WEIDMANN_SD).unwrap_or_else(|_| unreachable!("sd > 0"));
    normal.sample(rng).clamp(0.5, 2.2)
}

/// An age group's walking speeds, m/s: drawn uniformly between the bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedBand {
    pub label: &'static str,
    /// Ages from (inclusive) … to (exclusive); `None` for the impaired, whatever their age.
    pub ages: Option<(u32, u32)>,
    pub min: f64,
    pub max: f64,
}

/// RiMEA test 7's table as JuPedSim bounds it (`Utest/rimea_tests/test_7`, read for
/// `../shared/FIGURES.md`): under 30, 30–50, over 50, and walking-impaired people.
pub const RIMEA_7_BANDS: [SpeedBand; 4] = [
    SpeedBand { label: "under 30", ages: Some((0, 30)), min: 0.58, max: 1.61 },
    SpeedBand { label: "30 to 50", ages: Some((30, 50)), min: 1.41, max: 1.54 },
    SpeedBand { label: "over 50", ages: Some((50, 200)), min: 0.68, max: 1.41 },
    SpeedBand { label: "impaired", ages: None, min: 0.46, max: 0.76 },
];

/// The band a person walks in.
pub fn band_for(age: u32, impaired: bool) -> &'static SpeedBand {
    if impaired {
        return &RIMEA_7_BANDS[3];
    }
    RIMEA_7_BANDS[..3]
        .iter()
        .find(|b| b.ages.is_some_and(|(from, to)| (from..to).contains(&age)))
        .unwrap_or(&RIMEA_7_BANDS[2])
}

/// A free speed by age (and impairment), from RiMEA 7's table.
pub fn demographic_free_speed<R: Rng + ?Sized>(age: u32, impaired: bool, rng: &mut R) -> f64 {
    let band = band_for(age, impaired);
    Uniform::new_inclusive(band.min, band.max).unwrap_or_else(|_| unreachable!("min ≤ max")).sample(rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weidmann_matches_its_table() {
        // ../shared/FIGURES.md: ρ 0.5 → 1.30, 1 → 1.06, 2 → 0.61, 3 → 0.33, 4 → 0.16 m/s.
        for (rho, v) in [(0.5, 1.30), (1.0, 1.06), (2.0, 0.61), (3.0, 0.33), (4.0, 0.16)] {
            assert!((weidmann_speed(rho) - v).abs() < 0.01, "{rho}: {}", weidmann_speed(rho));
        }
        assert_eq!(weidmann_speed(6.0), 0.0);
    }
}
