//! Planning: sweep the deployment (lanes per gate and direction), find the smallest one whose
//! p95 wait meets the target for every group, set it beside Erlang C / M/D/c, and show which
//! inputs move the wait most.
//!
//! A sweep is a list of *units* — (configuration, replication) — each simulated on its own with
//! a seed fixed by the replication alone (common random numbers across configurations). Units
//! can run in one process (`plan`), in parallel on all cores, or sharded over machines
//! (`sweep --shard I/N`, Slurm job arrays, Kubernetes Indexed Jobs); `merge` sorts them and
//! writes the same bytes whatever the split.

pub mod analytic;
pub mod report;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use gatelab_scenario::Scenario;
use gatelab_sim::engine::{Figures, Keep, simulate_keeping};
use gatelab_sim::progress::Progress;
use gatelab_sim::run::{Stat, replication_seed, stat, stat_non_negative};

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

/// What one unit produced. Figures for every replication; the details the report draws only
/// for replication 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnitResult {
    pub config: Config,
    pub replication: u32,
    pub figures: Figures,
    #[serde(default)]
    pub detail: Option<Detail>,
}

/// What the report plots for one configuration (from its first replication).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// (seconds since midnight, lane label, queue length).
    pub queue: Vec<(f64, String, u32)>,
    /// (credential, wait seconds) for every passage.
    pub waits: Vec<(String, f64)>,
    /// (lane label, passages).
    pub passages_per_lane: Vec<(String, u64)>,
    /// Length of the simulated window, hours.
    pub hours: f64,
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

/// The planner's whole job in one process: run the sweep, recommend, then (with `sensitivity`)
/// vary the inputs at the recommended deployment, reusing every unit already run. Returns the
/// spec as run (with its `sensitivity_lanes` set, so `sweep` can reproduce it) and the plan.
pub fn plan(
    mut spec: SweepSpec,
    scenario: &Scenario,
    sensitivity: bool,
    progress: &dyn Progress,
) -> Result<(SweepSpec, Plan)> {
    let mut units = run_units(&spec, scenario, (0, 1), progress)?;
    if sensitivity {
        let first = summarise(&spec, scenario, &units);
        spec.sensitivity_lanes = Some(first.recommended.as_ref().map_or(spec.lanes_to, |r| r.lanes));
        // Only the varied configurations are new; the sweep already ran the others.
        let extra: Vec<_> = spec.units().into_iter().filter(|(c, _)| c.vary.is_some()).collect();
        units.extend(run_list(&extra, &spec, scenario, progress)?);
        units.sort_by_key(|u| (u.config, u.replication));
    }
    let result = summarise(&spec, scenario, &units);
    Ok((spec, result))
}

/// `DIR/spec.json`, which `gatelab sweep` shards to get the very same plan.
pub fn write_spec(dir: &Path, spec: &SweepSpec) -> Result<PathBuf> {
    let path = dir.join("spec.json");
    fs::write(&path, serde_json::to_string_pretty(spec)? + "\n")
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(path)
}

/// Simulate the units of shard `shard` of `n` (round-robin over the canonical order), in
/// parallel; results come back in canonical order.
pub fn run_units(
    spec: &SweepSpec,
    scenario: &Scenario,
    shard: (u32, u32),
    progress: &dyn Progress,
) -> Result<Vec<UnitResult>> {
    let mine: Vec<(Config, u32)> =
        spec.units().into_iter().enumerate().filter(|(u, _)| *u as u32 % shard.1 == shard.0).map(|(_, x)| x).collect();
    run_list(&mine, spec, scenario, progress)
}

/// Simulate the given units in parallel; results in the order given.
pub fn run_list(
    mine: &[(Config, u32)],
    spec: &SweepSpec,
    scenario: &Scenario,
    progress: &dyn Progress,
) -> Result<Vec<UnitResult>> {
    let seed = spec.seed.unwrap_or(scenario.run.seed);
    progress.start(mine.len() as u64, &format!("planning {} ({} runs)", scenario.name, mine.len()));
    let results: Result<Vec<UnitResult>> = mine
        .par_iter()
        .map(|&(config, r)| {
            let s = config.apply(scenario);
            s.validate().map_err(|e| anyhow::anyhow!("{}: {}: {}", config.label(), e.field, e.message))?;
            let keep = r == 0;
            // The report needs rows of the first replication, never the audit log.
            let rep = simulate_keeping(&s, replication_seed(seed, r), Keep { rows: keep, ..Keep::NOTHING }, &|_| {})
                .with_context(|| format!("{} replication {r}", config.label()))?;
            progress.advance(1);
            let detail = keep.then(|| Detail {
                queue: rep.queue.iter().map(|q| (q.t_s, format!("{} {}", q.gate, q.lane), q.queue)).collect(),
                waits: rep
                    .passages
                    .iter()
                    .filter(|p| !p.decision.is_denied())
                    .map(|p| (p.credential.to_string(), p.wait_s))
                    .collect(),
                passages_per_lane: {
                    let mut m: BTreeMap<String, u64> = BTreeMap::new();
                    for p in rep.passages.iter().filter(|p| !p.decision.is_denied()) {
                        *m.entry(format!("{} {}", p.gate, p.lane)).or_default() += 1;
                    }
                    m.into_iter().collect()
                },
                hours: f64::from(s.run.duration_min) / 60.0,
            });
            Ok(UnitResult { config, replication: r, figures: rep.figures, detail })
        })
        .collect();
    progress.finish();
    results
}

/// A shard's folder: `spec.json` and `units.jsonl`.
pub fn write_shard(dir: &Path, spec: &SweepSpec, units: &[UnitResult]) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    fs::write(dir.join("spec.json"), serde_json::to_string_pretty(spec)? + "\n")
        .with_context(|| format!("could not write {}", dir.join("spec.json").display()))?;
    let mut out = std::io::BufWriter::new(
        fs::File::create(dir.join("units.jsonl"))
            .with_context(|| format!("could not create units.jsonl in {}", dir.display()))?,
    );
    for u in units {
        serde_json::to_writer(&mut out, u)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Read shard folders back: the spec they share and all units, checked complete.
pub fn read_shards(dirs: &[PathBuf]) -> Result<(SweepSpec, Vec<UnitResult>)> {
    ensure!(!dirs.is_empty(), "merge needs at least one shard folder");
    let mut spec: Option<SweepSpec> = None;
    let mut units = Vec::new();
    for dir in dirs {
        let path = dir.join("spec.json");
        let text = fs::read_to_string(&path)
            .with_context(|| format!("{} is not a shard folder (no spec.json)", dir.display()))?;
        let this: SweepSpec =
            serde_json::from_str(&text).with_context(|| format!("{} is not a sweep spec", path.display()))?;
        match &spec {
            None => spec = Some(this),
            Some(s) if *s == this => {}
            Some(_) => bail!("{} was made from a different sweep spec than the others", dir.display()),
        }
        let path = dir.join("units.jsonl");
        let file = fs::File::open(&path).with_context(|| format!("could not open {}", path.display()))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let u: UnitResult = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a unit result (truncated shard?)", path.display(), i + 1))?;
            units.push(u);
        }
    }
    let spec = spec.context("no shard folder given")?;
    units.sort_by_key(|u| (u.config, u.replication));
    let expected: Vec<(Config, u32)> = {
        let mut e = spec.units();
        e.sort();
        e
    };
    let got: Vec<(Config, u32)> = units.iter().map(|u| (u.config, u.replication)).collect();
    if got != expected {
        let missing = expected.iter().filter(|x| !got.contains(x)).count();
        let extra = got.len() + missing - expected.len();
        bail!(
            "the shards do not make up the sweep: {missing} run(s) missing, {extra} duplicated or foreign; merge every shard of one sweep exactly once"
        );
    }
    Ok((spec, units))
}

/// Per configuration, over replications.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigSummary {
    pub config: Config,
    pub label: String,
    pub wait_s_p95: BTreeMap<&'static str, Stat>,
    pub wait_s_p95_all: Stat,
    /// Opt-outs' p95 minus face users' p95 (C2: should not be positive).
    pub opt_out_gap_s: Stat,
    pub throughput_per_min: Stat,
    pub uncontrolled_passages: Stat,
    pub consent_violations: Stat,
    pub erlang_c_p95_s: Option<f64>,
    pub md_c_p95_s: Option<f64>,
    pub why_they_differ: String,
    pub meets_target: bool,
}

/// The groups the target applies to, with how to read their p95 from figures.
/// Reads one group's p95 wait out of a replication's figures.
pub type GroupWait = fn(&Figures) -> f64;

pub const GROUPS: [(&str, GroupWait); 4] = [
    ("face_users", |f| f.enrolled_wait_p95),
    ("opt_outs", |f| f.opt_out_wait_p95),
    ("visitors", |f| f.visitor_wait_p95),
    ("couriers", |f| f.courier_wait_p95),
];

#[derive(Clone, Debug, Serialize)]
pub struct Sensitivity {
    pub factor: Factor,
    pub label: &'static str,
    pub low_p95_s: f64,
    pub high_p95_s: f64,
    pub base_p95_s: f64,
    pub swing_s: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub scenario: String,
    pub policy: String,
    pub target_wait_p95_s: f64,
    pub replications: u32,
    pub seed: u64,
    pub recommended: Option<Recommended>,
    pub sentence: String,
    pub configurations: Vec<ConfigSummary>,
    pub sensitivity: Vec<Sensitivity>,
    #[serde(skip)]
    pub details: BTreeMap<u32, Detail>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Recommended {
    pub lanes: u32,
    pub wait_s_p95: BTreeMap<&'static str, Stat>,
    pub opt_out_gap_s: Stat,
}

fn why_they_differ(sim: f64, mmc: Option<f64>, f: &[&Figures]) -> String {
    let Some(mmc) = mmc else {
        return "Erlang C calls the busiest hour overloaded; the simulation still clears it because demand \
                varies within the window and people queue at the booth or walk round"
            .into();
    };
    let mean = |pick: fn(&Figures) -> f64| f.iter().map(|x| pick(x)).sum::<f64>() / f.len().max(1) as f64;
    let faults = mean(|x| x.camera_failures);
    let tail = mean(|x| x.tailgating_attempts);
    let desk = mean(|x| x.visitor_passages) > 0.0;
    if sim > mmc * 1.2 + 1.0 {
        let mut causes = Vec::new();
        if desk {
            causes.push("visitors and couriers queue at the guard booth, which no lane count shortens".to_string());
        }
        if faults > 0.0 {
            causes.push(format!("{faults:.1} camera failure(s) push face users onto slower cards"));
        }
        causes.push("arrivals bunch within the hour and people walk up in groups".into());
        format!("simulation waits longer: {}", causes.join("; "))
    } else if sim < mmc / 1.2 - 1.0 {
        let mut s = String::from(
            "simulation waits less: service at a terminal is nearly constant, not exponential as M/M/c assumes",
        );
        if tail > 0.0 {
            s.push_str(&format!("; {tail:.1} tailgater(s) per run pass without being served"));
        }
        s
    } else {
        "close: walking spreads arrivals about as much as M/M/c's exponential service exaggerates delays".into()
    }
}

/// Aggregate units into the plan (pure: the same units give the same plan).
pub fn summarise(spec: &SweepSpec, scenario: &Scenario, units: &[UnitResult]) -> Plan {
    let seed = spec.seed.unwrap_or(scenario.run.seed);
    let mut by_config: BTreeMap<Config, Vec<&UnitResult>> = BTreeMap::new();
    for u in units {
        by_config.entry(u.config).or_default().push(u);
    }
    let mut configurations = Vec::new();
    let mut details = BTreeMap::new();
    for (config, us) in &by_config {
        let figs: Vec<&Figures> = us.iter().map(|u| &u.figures).collect();
        let s = |pick: fn(&Figures) -> f64| stat_non_negative(figs.iter().map(|f| pick(f)));
        let mut wait = BTreeMap::new();
        for (name, pick) in GROUPS {
            wait.insert(name, s(pick));
        }
        let meets_target = wait.values().all(|st| st.n == 0 || st.mean <= spec.target_wait_p95_s);
        let gap = stat(figs.iter().map(|f| f.opt_out_wait_p95 - f.enrolled_wait_p95));
        let (mmc, mdc) = analytic::estimate(&config.apply(scenario));
        let all = s(|f| f.wait_p95);
        if config.vary.is_none()
            && let Some(d) = us.iter().find_map(|u| u.detail.clone())
        {
            details.insert(config.lanes, d);
        }
        configurations.push(ConfigSummary {
            config: *config,
            label: config.label(),
            wait_s_p95: wait,
            wait_s_p95_all: all,
            opt_out_gap_s: gap,
            throughput_per_min: s(|f| f.throughput_per_min),
            uncontrolled_passages: s(|f| f.uncontrolled_passages),
            consent_violations: s(|f| f.consent_violations),
            erlang_c_p95_s: mmc,
            md_c_p95_s: mdc,
            why_they_differ: why_they_differ(all.mean, mmc, &figs),
            meets_target,
        });
    }
    let recommended = configurations.iter().filter(|c| c.config.vary.is_none()).find(|c| c.meets_target).map(|c| {
        Recommended { lanes: c.config.lanes, wait_s_p95: c.wait_s_p95.clone(), opt_out_gap_s: c.opt_out_gap_s }
    });
    let mut sensitivity = Vec::new();
    if let Some(lanes) = spec.sensitivity_lanes {
        let base =
            configurations.iter().find(|c| c.config == Config { lanes, vary: None }).map(|c| c.wait_s_p95_all.mean);
        for f in FACTORS {
            let get = |high| {
                configurations
                    .iter()
                    .find(|c| c.config == Config { lanes, vary: Some((f, high)) })
                    .map(|c| c.wait_s_p95_all.mean)
            };
            if let (Some(low), Some(high)) = (get(false), get(true)) {
                sensitivity.push(Sensitivity {
                    factor: f,
                    label: f.label(),
                    low_p95_s: low,
                    high_p95_s: high,
                    base_p95_s: base.unwrap_or(f64::NAN),
                    swing_s: (high - low).abs(),
                });
            }
        }
        sensitivity.sort_by(|a, b| b.swing_s.total_cmp(&a.swing_s).then(a.factor.cmp(&b.factor)));
    }
    let sentence = match &recommended {
        Some(r) => {
            let worst = r.wait_s_p95.iter().filter(|(_, s)| s.n > 0).max_by(|a, b| a.1.mean.total_cmp(&b.1.mean));
            let (who, st) = worst.map(|(k, s)| (*k, s.mean)).unwrap_or(("everyone", 0.0));
            let gap = r.opt_out_gap_s.mean;
            format!(
                "Install {} lane(s) per gate and direction: every group's p95 wait stays within {:.0} s (worst: {} at {:.1} s), and people without face wait {:.1} s {} than face users at p95.",
                r.lanes,
                spec.target_wait_p95_s,
                who.replace('_', " "),
                st,
                gap.abs(),
                if gap > 0.0 { "longer" } else { "less" }
            )
        }
        None => {
            let last = configurations.iter().rfind(|c| c.config.vary.is_none());
            let worst = last.and_then(|c| {
                c.wait_s_p95
                    .iter()
                    .filter(|(_, s)| s.n > 0 && s.mean > spec.target_wait_p95_s)
                    .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
                    .map(|(k, s)| (*k, s.mean, c.config.lanes))
            });
            let (blocker, advice) = match worst {
                Some((group, wait, lanes)) => (
                    format!("{} still wait {wait:.0} s at p95 with {lanes} lanes", group.replace('_', " ")),
                    match group {
                        "opt_outs" => {
                            "people without face are held up by the policy, not by lanes: give every resident a card that opens the gate (C2)"
                        }
                        "visitors" | "couriers" => {
                            "they queue at the guard booth, which lanes do not shorten: staff the booth or pre-register them"
                        }
                        _ => "widen the lane range or relax the target",
                    },
                ),
                None => (String::from("no configuration was simulated"), "widen the lane range"),
            };
            format!(
                "No lane count from {} to {} meets a p95 wait of {:.0} s for every group: {blocker}; {advice}.",
                spec.lanes_from, spec.lanes_to, spec.target_wait_p95_s
            )
        }
    };
    Plan {
        scenario: scenario.name.clone(),
        policy: scenario.policy.name.clone(),
        target_wait_p95_s: spec.target_wait_p95_s,
        replications: spec.replications,
        seed,
        recommended,
        sentence,
        configurations,
        sensitivity,
        details,
    }
}

/// Write plan.json, plan.csv and report.html into `dir`; returns their paths.
pub fn write_outputs(dir: &Path, plan: &Plan) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let json = dir.join("plan.json");
    fs::write(&json, serde_json::to_string_pretty(plan)? + "\n")
        .with_context(|| format!("could not write {}", json.display()))?;
    let csv_path = dir.join("plan.csv");
    let mut w =
        csv::Writer::from_path(&csv_path).with_context(|| format!("could not create {}", csv_path.display()))?;
    w.write_record([
        "configuration",
        "lanes",
        "varied",
        "face_users_p95_s",
        "opt_outs_p95_s",
        "visitors_p95_s",
        "couriers_p95_s",
        "all_p95_s",
        "all_p95_ci_low",
        "all_p95_ci_high",
        "opt_out_gap_s",
        "throughput_per_min",
        "erlang_c_p95_s",
        "md_c_p95_s",
        "meets_target",
        "why_they_differ",
    ])?;
    let num = |x: f64| if x.is_finite() { format!("{x:.3}") } else { String::new() };
    for c in &plan.configurations {
        let g = |k: &str| c.wait_s_p95.get(k).map(|s| num(s.mean)).unwrap_or_default();
        let [lo, hi] = c.wait_s_p95_all.ci95.unwrap_or([f64::NAN, f64::NAN]);
        w.write_record([
            c.label.clone(),
            c.config.lanes.to_string(),
            c.config.vary.map(|(f, h)| format!("{}:{}", f.label(), if h { "high" } else { "low" })).unwrap_or_default(),
            g("face_users"),
            g("opt_outs"),
            g("visitors"),
            g("couriers"),
            num(c.wait_s_p95_all.mean),
            num(lo),
            num(hi),
            num(c.opt_out_gap_s.mean),
            num(c.throughput_per_min.mean),
            c.erlang_c_p95_s.map(num).unwrap_or_else(|| "overloaded".into()),
            c.md_c_p95_s.map(num).unwrap_or_else(|| "overloaded".into()),
            c.meets_target.to_string(),
            c.why_they_differ.clone(),
        ])?;
    }
    w.flush()?;
    let html = dir.join("report.html");
    fs::write(&html, report::html(plan)?).with_context(|| format!("could not write {}", html.display()))?;
    Ok(vec![json, csv_path, html])
}

/// The printed table.
pub fn render_table(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — policy '{}', target p95 wait {:.0} s, {} replications per configuration",
        plan.scenario, plan.policy, plan.target_wait_p95_s, plan.replications
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>9} {:>9} {:>9}  {:>9} {:>9}  meets",
        "lanes", "face p95", "opt-out", "visitor", "courier", "Erlang C", "M/D/c"
    );
    for c in plan.configurations.iter().filter(|c| c.config.vary.is_none()) {
        let g =
            |k: &str| c.wait_s_p95.get(k).filter(|s| s.n > 0).map(|s| format!("{:.1}", s.mean)).unwrap_or("—".into());
        let a = |x: Option<f64>| x.map(|v| format!("{v:.1}")).unwrap_or("overload".into());
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>9} {:>9} {:>9}  {:>9} {:>9}  {}",
            c.config.lanes,
            g("face_users"),
            g("opt_outs"),
            g("visitors"),
            g("couriers"),
            a(c.erlang_c_p95_s),
            a(c.md_c_p95_s),
            if c.meets_target { "yes" } else { "no" }
        );
    }
    if !plan.sensitivity.is_empty() {
        let _ = writeln!(out, "  what moves the p95 wait most (±50 %):");
        for s in &plan.sensitivity {
            let _ = writeln!(out, "    {:<24} {:>6.1} s .. {:>6.1} s", s.label, s.low_p95_s, s.high_p95_s);
        }
    }
    let _ = writeln!(out, "{}", plan.sentence);
    out
}
