//! What to sweep: the spec (`spec.json`), its configurations and factors, and which shard a
//! process runs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use gatelab_scenario::Scenario;

/// What to sweep. `plan` builds one from its arguments; `sweep` reads it from a TOML file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Scenario file (relative paths are relative to the spec file), or absent for the built-in.
    #[serde(default)]
    pub scenario: Option<PathBuf>,
    /// The p95 wait every group must meet, seconds.
    pub target_wait_p95_s: f64,
    /// Lanes per gate and direction, from..=to.
    pub lanes_from: u32,
    pub lanes_to: u32,
    pub replications: u32,
    /// Seed (default: the scenario's).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Lane count at which to vary the inputs for the sensitivity table (none if absent).
    #[serde(default)]
    pub sensitivity_lanes: Option<u32>,
    /// Simulate only this many minutes from the scenario's start (a quicker plan).
    #[serde(default)]
    pub duration_min: Option<u32>,
}

/// One input varied for the sensitivity analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    OptOutShare,
    CameraMtbf,
    Tailgating,
    CourierVolume,
    DoorOpenTime,
}

pub const FACTORS: [Factor; 5] =
    [Factor::OptOutShare, Factor::CameraMtbf, Factor::Tailgating, Factor::CourierVolume, Factor::DoorOpenTime];

impl Factor {
    pub fn label(self) -> &'static str {
        match self {
            Factor::OptOutShare => "opt-out share",
            Factor::CameraMtbf => "camera MTBF",
            Factor::Tailgating => "tailgating propensity",
            Factor::CourierVolume => "courier volume",
            Factor::DoorOpenTime => "door-open time",
        }
    }
}

/// A deployment to simulate: a lane count, possibly with one input moved low or high.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Config {
    pub lanes: u32,
    /// (factor, high?) for sensitivity runs.
    pub vary: Option<(Factor, bool)>,
}

impl Config {
    pub fn label(&self) -> String {
        match self.vary {
            None => format!("{} lane(s)", self.lanes),
            Some((f, high)) => format!("{} lane(s), {} {}", self.lanes, f.label(), if high { "high" } else { "low" }),
        }
    }

    /// The scenario with this deployment applied.
    pub fn apply(&self, base: &Scenario) -> Scenario {
        let mut s = base.clone();
        for g in &mut s.gates {
            if g.lanes_out > 0 {
                g.lanes_out = self.lanes;
            }
            if g.lanes_in > 0 {
                g.lanes_in = self.lanes;
            }
        }
        if let Some((factor, high)) = self.vary {
            let scale = if high { 1.5 } else { 0.5 };
            match factor {
                Factor::OptOutShare => {
                    s.population.opt_out_share = (s.population.opt_out_share * scale).clamp(0.0, 1.0);
                    if base.population.opt_out_share == 0.0 && high {
                        s.population.opt_out_share = 0.1;
                    }
                }
                Factor::CameraMtbf => {
                    // Shorter MTBF is the pessimistic side; a camera that never fails gets one.
                    let base_h = if s.faults.camera_mtbf_h > 0.0 { s.faults.camera_mtbf_h } else { 200.0 };
                    s.faults.camera_mtbf_h = base_h * if high { 1.5 } else { 0.5 };
                    if s.faults.camera_mttr_min <= 0.0 {
                        s.faults.camera_mttr_min = 30.0;
                    }
                }
                Factor::Tailgating => {
                    s.behaviour.tailgating_propensity = (s.behaviour.tailgating_propensity * scale).clamp(0.0, 1.0)
                }
                Factor::CourierVolume => {
                    s.population.couriers_per_hour *= scale;
                    s.population.food_couriers_per_hour *= scale;
                }
                Factor::DoorOpenTime => s.gates.iter_mut().for_each(|g| g.door_open_s *= scale),
            }
        }
        s
    }
}

impl SweepSpec {
    /// Check the numbers a planner can get wrong; the message says what to do.
    pub fn validate(&self, scenario: &Scenario) -> Result<()> {
        ensure!(
            self.lanes_from >= 1 && self.lanes_from <= self.lanes_to,
            "lanes {}..{}: the range is empty; give FROM..TO with 1 <= FROM <= TO, e.g. --lanes 1..4",
            self.lanes_from,
            self.lanes_to
        );
        ensure!(self.lanes_to <= 16, "lanes up to {}: at most 16 lanes per gate and direction", self.lanes_to);
        ensure!(self.replications >= 2, "--replications {}: at least 2, for the intervals", self.replications);
        let fastest = scenario.service.face_s.min(scenario.service.card_s);
        ensure!(
            self.target_wait_p95_s.is_finite() && self.target_wait_p95_s >= fastest,
            "--target-wait-p95 {} s is below the fastest transaction at the terminal ({fastest} s): no number of \
             lanes can promise that; aim for at least {fastest} s",
            self.target_wait_p95_s
        );
        if let Some(l) = self.sensitivity_lanes {
            ensure!((1..=16).contains(&l), "sensitivity_lanes = {l}: 1..=16");
        }
        Ok(())
    }

    pub fn configs(&self) -> Vec<Config> {
        let mut out: Vec<Config> =
            (self.lanes_from..=self.lanes_to).map(|lanes| Config { lanes, vary: None }).collect();
        if let Some(lanes) = self.sensitivity_lanes {
            for f in FACTORS {
                for high in [false, true] {
                    out.push(Config { lanes, vary: Some((f, high)) });
                }
            }
        }
        out
    }

    /// Every unit, in the one canonical order.
    pub fn units(&self) -> Vec<(Config, u32)> {
        self.configs().into_iter().flat_map(|c| (0..self.replications).map(move |r| (c, r))).collect()
    }

    /// The scenario the sweep is about, with `duration_min` applied and validated.
    pub fn load_scenario(&self, spec_dir: &Path) -> Result<Scenario> {
        let mut scenario = match &self.scenario {
            Some(p) => {
                let path = if p.is_relative() { spec_dir.join(p) } else { p.clone() };
                Scenario::load(&path)?
            }
            None => Scenario::parse_named(gatelab_sim::run::DEFAULT_SCENARIO, gatelab_sim::run::DEFAULT_SCENARIO_NAME)?,
        };
        if let Some(minutes) = self.duration_min {
            scenario.run.duration_min = minutes;
            scenario.validate().map_err(|e| anyhow::anyhow!("duration_min = {minutes}: {}", e.message))?;
        }
        Ok(scenario)
    }

    /// Read a sweep spec (TOML). A relative scenario path is made absolute against the spec's
    /// folder, so shard folders can be merged anywhere.
    pub fn load(path: &Path) -> Result<SweepSpec> {
        let text =
            fs::read_to_string(path).with_context(|| format!("could not read the sweep spec {}", path.display()))?;
        // TOML when written by hand; JSON as `plan` writes it (spec.json).
        let parsed: Result<SweepSpec> = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).map_err(anyhow::Error::from)
        } else {
            toml::from_str(&text).map_err(anyhow::Error::from)
        };
        let mut spec = parsed.with_context(|| format!("{} is not a valid sweep spec", path.display()))?;
        if let Some(p) = &spec.scenario
            && p.is_relative()
        {
            let dir = path.parent().unwrap_or(Path::new("."));
            let joined = dir.join(p);
            spec.scenario =
                Some(joined.canonicalize().with_context(|| format!("scenario {} not found", joined.display()))?);
        }
        Ok(spec)
    }
}

/// Which shard this process is: `--shard I/N` (0 ≤ I < N), else Slurm's array variables, else
/// a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX` with `GATELAB_SHARDS`, else the whole sweep.
pub fn shard_from(arg: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<(u32, u32)> {
    let parse = |i: &str, n: &str, source: &str| -> Result<(u32, u32)> {
        let i: u32 = i.trim().parse().with_context(|| format!("{source}: shard index {i:?} is not a number"))?;
        let n: u32 = n.trim().parse().with_context(|| format!("{source}: shard count {n:?} is not a number"))?;
        ensure!(n >= 1 && i < n, "{source}: shard {i} of {n}: the index counts from 0 and must be below the count");
        Ok((i, n))
    };
    if let Some(arg) = arg {
        let (i, n) = arg.split_once('/').context("--shard I/N, e.g. --shard 0/3 (the first of three)")?;
        return parse(i, n, "--shard");
    }
    if let (Some(i), Some(n)) = (env("SLURM_ARRAY_TASK_ID"), env("SLURM_ARRAY_TASK_COUNT")) {
        // Slurm arrays may start at any index; --array=0-(N-1) is what the README's script uses.
        let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
        let offset: u32 = min.trim().parse().unwrap_or(0);
        let i: u32 = i.trim().parse().context("SLURM_ARRAY_TASK_ID is not a number")?;
        return parse(&(i.saturating_sub(offset)).to_string(), &n, "SLURM_ARRAY_TASK_ID/COUNT");
    }
    if let Some(i) = env("JOB_COMPLETION_INDEX") {
        let n = env("GATELAB_SHARDS").context(
            "JOB_COMPLETION_INDEX is set (Kubernetes Indexed Job) but GATELAB_SHARDS is not: set it to the Job's completions",
        )?;
        return parse(&i, &n, "JOB_COMPLETION_INDEX/GATELAB_SHARDS");
    }
    Ok((0, 1))
}
