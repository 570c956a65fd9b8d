//! Compound scenarios (`scenarios/*.toml`): who lives there, the gates, rush-hour demand,
//! behaviour, faults, policy, matcher and run settings. Parsed with serde + toml; every value is
//! checked and an error names the file, the field and what to do.
//!
//! The Bevy simulation (issue 3) consumes this; today `gatelab scenario check` validates files.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub run: RunSettings,
    pub population: Population,
    pub gates: Vec<GateSpec>,
    pub demand: Demand,
    #[serde(default)]
    pub behaviour: Behaviour,
    #[serde(default)]
    pub faults: Faults,
    pub policy: PolicySpec,
    #[serde(default)]
    pub matcher: MatcherModel,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Wall-clock start of the simulated window, "HH:MM".
    pub start: String,
    pub duration_min: u32,
    /// Fixed timestep in seconds.
    #[serde(default = "default_dt")]
    pub dt_s: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "one")]
    pub replications: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    pub households: u32,
    pub owners: u32,
    pub renters: u32,
    /// Days left on a renter's card at the start, on average (short-term rentals: a few days).
    #[serde(default = "default_renter_card_days")]
    pub renter_card_days: u32,
    #[serde(default)]
    pub children: u32,
    #[serde(default)]
    pub elderly: u32,
    #[serde(default)]
    pub visitors_per_hour: f64,
    #[serde(default)]
    pub couriers_per_hour: f64,
    #[serde(default)]
    pub food_couriers_per_hour: f64,
    /// Couriers with a card of their own (enrolled fixed couriers); the others register or use ID.
    #[serde(default)]
    pub couriers_with_card_share: f64,
    /// Residents who refuse face enrolment.
    pub opt_out_share: f64,
    /// Residents who forget their card on a given day.
    #[serde(default)]
    pub forget_card_share: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    /// Face camera + card/ID/PIN reader.
    FaceAndCard,
    /// Card/ID/PIN only.
    CardOnly,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    pub name: String,
    pub lanes_in: u32,
    pub lanes_out: u32,
    pub terminal: TerminalKind,
    pub door_open_s: f64,
    pub lane_width_m: f64,
    /// Walking distance from the compound's buildings (or the street) to the gate.
    pub walk_distance_m: f64,
    /// A car gate next to it that a guard can open (an uncontrolled path).
    #[serde(default)]
    pub car_gate: bool,
    /// Share of all trips that use this gate.
    pub share: f64,
}

/// Trips per resident per hour by hour of day: `[hour, outbound, inbound]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    pub profile: Vec<(u8, f64, f64)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Free walking speed, m/s (Weidmann 1993: 1.34).
    pub walk_speed_mean: f64,
    pub walk_speed_sd: f64,
    /// Chance that someone without a grant follows through an open door.
    pub tailgating_propensity: f64,
    /// Face attempts before switching to a card.
    pub face_retries: u32,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour { walk_speed_mean: 1.34, walk_speed_sd: 0.26, tailgating_propensity: 0.05, face_retries: 2 }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Mean time between camera failures per terminal, hours (0: never fails at random).
    #[serde(default)]
    pub camera_mtbf_h: f64,
    #[serde(default)]
    pub camera_mttr_min: f64,
    #[serde(default)]
    pub outages: Vec<Outage>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageKind {
    /// The scanner was carried away for repair: no face at that gate.
    ScannerRemoved,
    /// The compound's gallery is unreachable: no face anywhere.
    GalleryOutage,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub kind: OutageKind,
    /// Gate name; omitted for compound-wide outages.
    #[serde(default)]
    pub gate: Option<String>,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Built-in name or a path relative to the scenario file.
    pub name: String,
    /// The guard opens the car gate for everyone when a queue exceeds this many people.
    #[serde(default)]
    pub guard_opens_car_gate_above_queue: Option<u32>,
}

/// Synthetic embeddings: genuine and impostor cosine similarities are drawn from these normal
/// distributions (FIGURES.md: genuine ≈ 0.70, impostor ≈ 0.01 for fr_feature), so FAR/FRR emerge
/// from the real core matcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatcherModel {
    pub threshold: f32,
    pub genuine_mean: f64,
    pub genuine_sd: f64,
    pub impostor_mean: f64,
    pub impostor_sd: f64,
    pub dim: usize,
}

impl Default for MatcherModel {
    fn default() -> Self {
        MatcherModel {
            threshold: 0.40,
            genuine_mean: 0.70,
            genuine_sd: 0.10,
            impostor_mean: 0.01,
            impostor_sd: 0.08,
            dim: 128,
        }
    }
}

fn default_dt() -> f64 {
    0.1
}
fn one() -> u32 {
    1
}
fn default_renter_card_days() -> u32 {
    180
}

/// Minutes since midnight of "HH:MM".
pub fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

impl Scenario {
    /// Read and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("could not read scenario {}", path.display()))?;
        Scenario::parse(&text).with_context(|| format!("scenario {} is not valid", path.display()))
    }

    pub fn parse(text: &str) -> Result<Scenario> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Check every value; the error names the field and the fix.
    pub fn validate(&self) -> Result<()> {
        let share = |field: &str, v: f64| -> Result<()> {
            if !(0.0..=1.0).contains(&v) {
                bail!("{field} = {v}: a share must be between 0 and 1");
            }
            Ok(())
        };
        let positive = |field: &str, v: f64| -> Result<()> {
            if !(v.is_finite() && v > 0.0) {
                bail!("{field} = {v}: must be a positive number");
            }
            Ok(())
        };
        if parse_clock(&self.run.start).is_none() {
            bail!("run.start = {:?}: write the time as \"HH:MM\", e.g. \"07:00\"", self.run.start);
        }
        if self.run.duration_min == 0 {
            bail!("run.duration_min = 0: the run must last at least one minute");
        }
        positive("run.dt_s", self.run.dt_s)?;
        if self.run.dt_s > 1.0 {
            bail!("run.dt_s = {}: use a step of at most 1 s, or walking and doors are not resolved", self.run.dt_s);
        }
        if self.run.replications == 0 {
            bail!("run.replications = 0: at least one replication");
        }
        let p = &self.population;
        if p.owners + p.renters == 0 {
            bail!("population: owners + renters is 0; a compound needs residents");
        }
        share("population.opt_out_share", p.opt_out_share)?;
        share("population.forget_card_share", p.forget_card_share)?;
        share("population.couriers_with_card_share", p.couriers_with_card_share)?;
        for (field, v) in [
            ("population.visitors_per_hour", p.visitors_per_hour),
            ("population.couriers_per_hour", p.couriers_per_hour),
            ("population.food_couriers_per_hour", p.food_couriers_per_hour),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                bail!("{field} = {v}: must be zero or more");
            }
        }
        if self.gates.is_empty() {
            bail!("gates: no gate; add at least one [[gates]] table");
        }
        let mut total_share = 0.0;
        for (i, g) in self.gates.iter().enumerate() {
            let f = |name: &str| format!("gates[{i}] ({}).{name}", g.name);
            if g.lanes_in == 0 && g.lanes_out == 0 {
                bail!("{}: a gate needs at least one lane in lanes_in or lanes_out", f("lanes_in"));
            }
            positive(&f("door_open_s"), g.door_open_s)?;
            positive(&f("lane_width_m"), g.lane_width_m)?;
            if !(g.walk_distance_m.is_finite() && g.walk_distance_m >= 0.0) {
                bail!("{} = {}: must be zero or more metres", f("walk_distance_m"), g.walk_distance_m);
            }
            share(&f("share"), g.share)?;
            total_share += g.share;
        }
        if (total_share - 1.0).abs() > 1e-6 {
            bail!("gates[*].share adds up to {total_share}; the shares of all gates must add up to 1");
        }
        if self.demand.profile.is_empty() {
            bail!("demand.profile is empty; give [hour, outbound, inbound] rows");
        }
        for (i, &(hour, out, inb)) in self.demand.profile.iter().enumerate() {
            if hour > 23 || !(out.is_finite() && out >= 0.0) || !(inb.is_finite() && inb >= 0.0) {
                bail!("demand.profile[{i}] = [{hour}, {out}, {inb}]: hour 0–23, trip rates zero or more");
            }
        }
        let b = &self.behaviour;
        positive("behaviour.walk_speed_mean", b.walk_speed_mean)?;
        share("behaviour.tailgating_propensity", b.tailgating_propensity)?;
        for (i, o) in self.faults.outages.iter().enumerate() {
            let (from, to) = (parse_clock(&o.from), parse_clock(&o.to));
            if from.is_none() || to.is_none() || from >= to {
                bail!("faults.outages[{i}]: from = {:?}, to = {:?}: two \"HH:MM\" times, from before to", o.from, o.to);
            }
            if let Some(gate) = &o.gate {
                if !self.gates.iter().any(|g| &g.name == gate) {
                    bail!("faults.outages[{i}].gate = {gate:?}: no gate has that name");
                }
            } else if o.kind == OutageKind::ScannerRemoved {
                bail!("faults.outages[{i}]: a scanner_removed outage needs the gate it happened at");
            }
        }
        let m = &self.matcher;
        if !(m.threshold > -1.0 && m.threshold < 1.0) {
            bail!("matcher.threshold = {}: a cosine threshold lies between -1 and 1", m.threshold);
        }
        if m.dim == 0 || m.dim > gatelab_core::template::MAX_DIM {
            bail!("matcher.dim = {}: 1..={}", m.dim, gatelab_core::template::MAX_DIM);
        }
        Ok(())
    }
}
