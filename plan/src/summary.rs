//! From sorted units to the plan: per-group p95 waits with intervals, the opt-out gap, the
//! recommendation, the analytic cross-check and the sensitivity.

use std::collections::BTreeMap;

use serde::Serialize;

use gatelab_scenario::Scenario;
use gatelab_sim::engine::Figures;
use gatelab_sim::stats::{Stat, stat, stat_non_negative};

use crate::analytic;
use crate::spec::{Config, FACTORS, Factor, SweepSpec};
use crate::units::{Detail, UnitResult};

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
