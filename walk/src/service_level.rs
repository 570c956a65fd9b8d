//! Level of service in a queue: Fruin's queuing levels, as the TCQSM (3rd ed., exhibit 11-15)
//! tabulates them for waiting areas. A level is judged by the space each standing person has;
//! a planner states the worst level a gate's queue area may reach at its busiest.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Fruin's queuing levels, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub enum QueuingLevel {
    /// ≥ 1.2 m² per person: standing and moving about freely.
    A,
    /// 0.9–1.2 m²: standing free, moving about partly restricted.
    B,
    /// 0.7–0.9 m²: standing free, moving about restricted, others disturbed.
    C,
    /// 0.3–0.7 m²: standing touching others is avoidable, moving about severely restricted.
    #[default]
    D,
    /// 0.2–0.3 m²: standing in touch with others, no moving about.
    E,
    /// < 0.2 m²: close contact, crowd pressure.
    F,
}

impl QueuingLevel {
    pub const ALL: [QueuingLevel; 6] =
        [QueuingLevel::A, QueuingLevel::B, QueuingLevel::C, QueuingLevel::D, QueuingLevel::E, QueuingLevel::F];

    /// The least space per person at this level, m² (0 for F).
    pub fn min_space_m2(self) -> f64 {
        match self {
            QueuingLevel::A => 1.2,
            QueuingLevel::B => 0.9,
            QueuingLevel::C => 0.7,
            QueuingLevel::D => 0.3,
            QueuingLevel::E => 0.2,
            QueuingLevel::F => 0.0,
        }
    }

    /// The highest density still at this level, persons per m² (infinite for F).
    pub fn max_density_per_m2(self) -> f64 {
        1.0 / self.min_space_m2()
    }

    /// The level of a queue where each person has `space_m2` (infinite when nobody stands).
    pub fn of_space(space_m2: f64) -> QueuingLevel {
        QueuingLevel::ALL.into_iter().find(|l| space_m2 >= l.min_space_m2()).unwrap_or(QueuingLevel::F)
    }

    /// The level at `density` persons per m² (0 is A).
    pub fn of_density(density_per_m2: f64) -> QueuingLevel {
        if density_per_m2 <= 0.0 { QueuingLevel::A } else { QueuingLevel::of_space(1.0 / density_per_m2) }
    }

    pub fn letter(self) -> char {
        (b'A' + self as u8) as char
    }
}

impl fmt::Display for QueuingLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.letter())
    }
}

impl FromStr for QueuingLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        QueuingLevel::ALL.into_iter().find(|l| t.eq_ignore_ascii_case(&l.letter().to_string())).ok_or_else(|| {
            format!(
                "{s:?} is not a level of service; use a letter A to F (Fruin's queuing levels: A ≥ 1.2 m² a \
                 person, B ≥ 0.9, C ≥ 0.7, D ≥ 0.3, E ≥ 0.2, F below)"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_levels_follow_fruin_s_queuing_table() {
        let at = |m2: f64| QueuingLevel::of_space(m2).letter();
        let seen: String = [2.0, 1.2, 1.0, 0.9, 0.8, 0.7, 0.5, 0.3, 0.25, 0.2, 0.1].into_iter().map(at).collect();
        assert_eq!(seen, "AABBCCDDEEF");
        assert_eq!(QueuingLevel::of_density(0.0), QueuingLevel::A);
        assert_eq!(QueuingLevel::of_density(2.0), QueuingLevel::D, "0.5 m² a person");
        assert_eq!("c".parse::<QueuingLevel>(), Ok(QueuingLevel::C));
        assert!("G".parse::<QueuingLevel>().unwrap_err().contains("A to F"));
        assert!(QueuingLevel::C < QueuingLevel::D, "better levels sort first");
        assert_eq!(QueuingLevel::F.max_density_per_m2(), f64::INFINITY);
    }
}
