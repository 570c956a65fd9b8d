//! What to sweep: the spec (`spec.json`), its configurations and factors, and which shard a
//! process runs.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use gatelab_scenario::Scenario;
use gatelab_sim::QueuingLevel;

/// What to sweep. `plan` builds one from its arguments and writes it, with the runs it made,
/// as `spec.json`; `sweep` reads one (TOML by hand, or that JSON) and runs a shard of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Scenario file (relative paths are relative to the spec file), or absent for the built-in.
    #[serde(default)]
    pub scenario: Option<PathBuf>,
    /// The p95 wait every group passing through the lanes must meet, seconds.
    pub target_wait_p95_s: f64,
    /// The p95 wait at the guard booth (default: `target_wait_p95_s`).
    #[serde(default)]
    pub booth_target_wait_p95_s: Option<f64>,
    /// The worst level of service (Fruin's queuing levels) a gate's queue area may reach over
    /// its busiest 15 minutes (default D).
    #[serde(default)]
    pub los: QueuingLevel,
    /// Lanes per gate and direction, from..=to.
    pub lanes_from: u32,
    pub lanes_to: u32,
    /// Desks at every booth to try when today's miss the booth's target (default: today's
    /// most + 1 ..= + 3).
    #[serde(default)]
    pub desks_from: Option<u32>,
    #[serde(default)]
    pub desks_to: Option<u32>,
    /// Replications each configuration starts with (all it gets without `max_replications`).
    pub replications: u32,
    /// The sequential rule's cap: replications are added, `replications` at a time, to a
    /// configuration whose verdict is not yet clear, up to this many.
    #[serde(default)]
    pub max_replications: Option<u32>,
    /// Let lane counts differ between gates and directions (a greedy search with a check).
    #[serde(default)]
    pub per_gate: bool,
    /// Seed (default: the scenario's).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Lane count at which to vary the inputs for the sensitivity table (hand-written specs).
    #[serde(default)]
    pub sensitivity_lanes: Option<u32>,
    /// Simulate only this many minutes from the scenario's start (a quicker plan).
    #[serde(default)]
    pub duration_min: Option<u32>,
    /// The runs a plan made, in order (set by `plan`): a sweep of this spec runs exactly these,
    /// so its merged shards give the plan's own bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<Run>,
}

/// A configuration and how many replications of it a plan ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub config: Config,
    pub replications: u32,
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
    /// The policy's `liveness_min` (only for scenarios with `[attacks]`, where it matters).
    LivenessThreshold,
}

/// The inputs every sensitivity analysis varies.
pub const FACTORS: [Factor; 5] =
    [Factor::OptOutShare, Factor::CameraMtbf, Factor::Tailgating, Factor::CourierVolume, Factor::DoorOpenTime];

/// The inputs varied for `scenario`: [`FACTORS`], and the liveness threshold when its cameras
/// run presentation-attack detection.
pub fn factors(scenario: &Scenario) -> Vec<Factor> {
    let mut out = FACTORS.to_vec();
    if scenario.attacks.is_some() {
        out.push(Factor::LivenessThreshold);
    }
    out
}

impl Factor {
    pub fn label(self) -> &'static str {
        match self {
            Factor::OptOutShare => "opt-out share",
            Factor::CameraMtbf => "camera MTBF",
            Factor::Tailgating => "tailgating propensity",
            Factor::CourierVolume => "courier volume",
            Factor::DoorOpenTime => "door-open time",
            Factor::LivenessThreshold => "liveness threshold",
        }
    }
}

/// A deployment to simulate: lanes per gate and direction, desks at the booths, possibly with
/// one input moved low or high.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Config {
    /// Lanes of each lane group: for each gate in the scenario's order, outbound then inbound;
    /// 0 where the gate has no lane that way.
    pub lanes: Vec<u32>,
    /// Desks at every booth; `None`: each gate's own `booth_desks` (today's).
    #[serde(default)]
    pub desks: Option<u32>,
    /// (factor, high?) for sensitivity runs.
    pub vary: Option<(Factor, bool)>,
}

impl Config {
    /// `lanes` lanes at every gate in every direction it has lanes, today's desks.
    pub fn uniform(scenario: &Scenario, lanes: u32) -> Config {
        let lanes = scenario
            .gates
            .iter()
            .flat_map(|g| [g.lanes_out, g.lanes_in])
            .map(|today| if today > 0 { lanes } else { 0 })
            .collect();
        Config { lanes, desks: None, vary: None }
    }

    /// The one lane count of every group, if they are all the same.
    pub fn uniform_lanes(&self) -> Option<u32> {
        let mut used = self.lanes.iter().copied().filter(|&l| l > 0);
        let first = used.next()?;
        used.all(|l| l == first).then_some(first)
    }

    /// Lanes installed in all (both directions of every gate).
    pub fn total_lanes(&self) -> u32 {
        self.lanes.iter().sum()
    }

    /// This deployment without the varied input.
    pub fn base(&self) -> Config {
        Config { vary: None, ..self.clone() }
    }

    pub fn with_desks(&self, desks: Option<u32>) -> Config {
        Config { desks, ..self.clone() }
    }

    /// "3 lane(s)", or per gate "east 3/2, west 2/1" (out/in), with desks and the varied input.
    pub fn label(&self, scenario: &Scenario) -> String {
        let mut s = match self.uniform_lanes() {
            Some(l) => format!("{l} lane(s)"),
            None => scenario
                .gates
                .iter()
                .zip(self.lanes.chunks(2))
                .map(|(g, l)| format!("{} {}/{}", g.name, l[0], l.get(1).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", "),
        };
        if let Some(d) = self.desks {
            s.push_str(&format!(", {d} desk(s)"));
        }
        if let Some((f, high)) = self.vary {
            s.push_str(&format!(", {} {}", f.label(), if high { "high" } else { "low" }));
        }
        s
    }

    /// What the deployment costs with the scenario's `[costs]` (lanes by terminal kind, desks).
    pub fn cost(&self, scenario: &Scenario) -> Option<f64> {
        let costs = scenario.costs.as_ref()?;
        let mut total = 0.0;
        for (g, lanes) in scenario.gates.iter().zip(self.lanes.chunks(2)) {
            let per_lane = match g.terminal {
                gatelab_scenario::TerminalKind::FaceAndCard => costs.lane_face_and_card,
                gatelab_scenario::TerminalKind::CardOnly => costs.lane_card_only,
            };
            total += per_lane * f64::from(lanes.iter().sum::<u32>());
            total += costs.booth_desk * f64::from(self.desks.unwrap_or(g.booth_desks));
        }
        Some(total)
    }

    /// The scenario with this deployment applied.
    pub fn apply(&self, base: &Scenario) -> Scenario {
        let mut s = base.clone();
        for (g, lanes) in s.gates.iter_mut().zip(self.lanes.chunks(2)) {
            if g.lanes_out > 0 {
                g.lanes_out = lanes[0];
            }
            if g.lanes_in > 0 {
                g.lanes_in = lanes.get(1).copied().unwrap_or(0);
            }
            if let Some(d) = self.desks {
                g.booth_desks = d;
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
                Factor::LivenessThreshold => {
                    if let Ok(mut policy) = s.policy() {
                        let base = if policy.liveness_min > 0.0 { policy.liveness_min } else { 0.5 };
                        policy.liveness_min = (base * scale as f32).clamp(0.0, 1.0);
                        s.policy.resolved = Some(policy);
                    }
                }
            }
        }
        s
    }
}

impl SweepSpec {
    /// A uniform sweep of `lanes_from..=lanes_to` with a fixed number of replications; the
    /// other fields at their defaults (the scenario's seed and length, today's desks).
    pub fn new(target_wait_p95_s: f64, lanes_from: u32, lanes_to: u32, replications: u32) -> SweepSpec {
        SweepSpec {
            scenario: None,
            target_wait_p95_s,
            booth_target_wait_p95_s: None,
            los: QueuingLevel::default(),
            lanes_from,
            lanes_to,
            desks_from: None,
            desks_to: None,
            replications,
            max_replications: None,
            per_gate: false,
            seed: None,
            sensitivity_lanes: None,
            duration_min: None,
            runs: Vec::new(),
        }
    }

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
        if let Some(max) = self.max_replications {
            ensure!(
                max >= self.replications,
                "--max-replications {max} is below --replications {}: the cap must be at least the start",
                self.replications
            );
            ensure!(max <= 1000, "--max-replications {max}: at most 1,000");
        }
        let (from, to) = self.desk_range(scenario);
        ensure!(
            (1..=8).contains(&from) && from <= to && to <= 8,
            "desks {from}..{to}: give FROM..TO with 1 <= FROM <= TO <= 8, e.g. --desks 2..3"
        );
        let booth = self.booth_target();
        ensure!(booth.is_finite() && booth > 0.0, "--booth-target-wait-p95 {booth}: a positive number of seconds");
        ensure!(
            self.runs.is_empty() || self.runs.iter().all(|r| r.config.lanes.len() == 2 * scenario.gates.len()),
            "the spec's runs were planned for a scenario with a different number of gates"
        );
        Ok(())
    }

    /// The booth's p95 target, seconds.
    pub fn booth_target(&self) -> f64 {
        self.booth_target_wait_p95_s.unwrap_or(self.target_wait_p95_s)
    }

    /// The sequential rule's cap (at least the start).
    pub fn cap(&self) -> u32 {
        self.max_replications.unwrap_or(self.replications).max(self.replications)
    }

    /// Desks to try at the booths.
    pub fn desk_range(&self, scenario: &Scenario) -> (u32, u32) {
        let today = scenario.gates.iter().map(|g| g.booth_desks).max().unwrap_or(1);
        let from = self.desks_from.unwrap_or(today + 1);
        (from, self.desks_to.unwrap_or(from.max(today + 3)))
    }

    /// The configurations of a hand-written spec: every uniform lane count, and the varied
    /// inputs at `sensitivity_lanes`.
    pub fn configs(&self, scenario: &Scenario) -> Vec<Config> {
        let mut out: Vec<Config> =
            (self.lanes_from..=self.lanes_to).map(|lanes| Config::uniform(scenario, lanes)).collect();
        if let Some(lanes) = self.sensitivity_lanes {
            for f in factors(scenario) {
                for high in [false, true] {
                    out.push(Config { vary: Some((f, high)), ..Config::uniform(scenario, lanes) });
                }
            }
        }
        out
    }

    /// Every unit, in the one canonical order: the plan's own runs if it has them, else every
    /// configuration with `replications` each.
    pub fn units(&self, scenario: &Scenario) -> Vec<(Config, u32)> {
        if !self.runs.is_empty() {
            return self.runs.iter().flat_map(|r| (0..r.replications).map(move |k| (r.config.clone(), k))).collect();
        }
        self.configs(scenario).into_iter().flat_map(|c| (0..self.replications).map(move |r| (c.clone(), r))).collect()
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

/// Which shard this process is: `--shard I/N` (0 ≤ I < N), else Slurm's array variables
/// (`SLURM_ARRAY_TASK_ID` of `GATELAB_SHARDS`, or of the array's own count), else a Kubernetes
/// Indexed Job's `JOB_COMPLETION_INDEX` with `GATELAB_SHARDS`, else the whole sweep.
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
    if let Some(i) = env("SLURM_ARRAY_TASK_ID") {
        let i: u32 = i.trim().parse().context("SLURM_ARRAY_TASK_ID is not a number")?;
        // GATELAB_SHARDS names the sweep's shard count, so that a resubmitted index (an array of
        // one, `--array=1`) is still shard 1 of N; without it, the array itself is the sweep.
        if let Some(n) = env("GATELAB_SHARDS") {
            return parse(&i.to_string(), &n, "SLURM_ARRAY_TASK_ID/GATELAB_SHARDS");
        }
        let n = env("SLURM_ARRAY_TASK_COUNT")
            .context("SLURM_ARRAY_TASK_ID is set but neither GATELAB_SHARDS nor SLURM_ARRAY_TASK_COUNT is")?;
        // Slurm arrays may start at any index; --array=0-(N-1) is what the README's script uses.
        let min = env("SLURM_ARRAY_TASK_MIN").unwrap_or_else(|| "0".into());
        let offset: u32 = min.trim().parse().unwrap_or(0);
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
