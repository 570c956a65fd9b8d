//! From sorted units to the plan: per-group p95 waits with intervals, the opt-out gap, the
//! recommendation, the analytic cross-check and the sensitivity.

use std::collections::BTreeMap;

use serde::Serialize;

use gatelab_scenario::Scenario;
use gatelab_sim::QueuingLevel;
use gatelab_sim::figures::{AttackFigures, Figures, NetworkFigures};
use gatelab_sim::stats::{Stat, stat, stat_non_negative};

use crate::analytic;
use crate::search::{self, BoothDecision, NonMonotone, Verdict};
use crate::spec::{Config, FACTORS, Factor, SweepSpec};
use crate::units::{Detail, UnitResult};

/// Per configuration, over replications.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigSummary {
    pub config: Config,
    pub label: String,
    pub replications: usize,
    /// Every group's p95 wait, whatever way they took (visitors: mostly the booth).
    pub wait_s_p95: BTreeMap<&'static str, Stat>,
    pub wait_s_p95_all: Stat,
    /// The groups the lanes serve, through the lanes only, all gates together.
    pub at_lanes_wait_s_p95: BTreeMap<&'static str, Stat>,
    /// Everyone served at a booth, all gates together.
    pub at_booth_wait_s_p95: Stat,
    /// Opt-outs' p95 minus face users' p95 (C2: should not be positive).
    pub opt_out_gap_s: Stat,
    pub throughput_per_min: Stat,
    pub uncontrolled_passages: Stat,
    pub consent_violations: Stat,
    pub erlang_c_p95_s: Option<f64>,
    pub md_c_p95_s: Option<f64>,
    pub why_they_differ: String,
    /// The busiest 15 minutes' density in the most crowded queue area (persons per m²), and
    /// its level of service.
    pub queue_density_worst_15_min_per_m2: Stat,
    pub queuing_level: QueuingLevel,
    /// The lanes' verdict: every lane-served group at every gate and direction, and every
    /// queue area at the chosen level of service.
    pub lanes: Verdict,
    /// The booths' verdict against the booth's target.
    pub booth: Verdict,
    /// The lanes meet the target (`lanes` is `meets`).
    pub meets_target: bool,
    /// With the scenario's `[costs]`.
    pub cost: Option<f64>,
    /// Presentation attacks and the liveness check (scenarios with `[attacks]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attacks: Option<AttackFigures<Stat>>,
    /// What the LAN and the consent lease did, with the outages' cost in p95 wait against the
    /// same replications on a perfect LAN (scenarios with a `[network]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkFigures<Stat>>,
}

/// The groups every plan reports, with how to read their p95 from a replication's figures.
/// Reads one group's p95 wait out of a replication's figures.
pub type GroupWait = fn(&Figures) -> f64;

pub const GROUPS: [(&str, GroupWait); 4] = [
    ("face_users", |f| f.enrolled.wait_s_p95),
    ("opt_outs", |f| f.opt_out.wait_s_p95),
    ("visitors", |f| f.visitors.wait_s_p95),
    ("couriers", |f| f.couriers.wait_s_p95),
];

/// The groups the lane count decides, through the lanes.
pub const LANE_GROUPS: [(&str, GroupWait); 3] = [
    ("face_users", |f| f.at_lanes.face_users_wait_s_p95),
    ("opt_outs", |f| f.at_lanes.opt_outs_wait_s_p95),
    ("couriers", |f| f.at_lanes.couriers_wait_s_p95),
];

/// The decision rule, in the words the plan files and the README use.
pub const RULE: &str = "A deployment meets the target when the upper end of the 95 % Student-t interval (over \
    replications) of each of these p95 waits is within it: everyone served by a gate's lanes in one direction, and \
    each group that uses the lanes (face users, opt-outs, couriers with a card) over all gates. Replications are added where that \
    interval still straddles the target, up to the cap. Each gate's queue area (the space in front of its lanes) must \
    also stay at the chosen level of service (Fruin's queuing levels, default D) over its busiest 15 minutes: the \
    upper end of that density's interval within the level. The recommendation is the smallest deployment that \
    meets it and from which one lane more never fails it. The guard booth (visitors registering, couriers \
    without a card, anyone stuck) is not served by lanes: it is sized on its own, in desks, against its own \
    target.";

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
    pub booth_target_wait_p95_s: f64,
    /// The worst level of service a queue area may reach over its busiest 15 minutes.
    pub los: QueuingLevel,
    /// Replications each configuration started with, and the sequential rule's cap.
    pub replications: u32,
    pub max_replications: u32,
    pub per_gate: bool,
    pub seed: u64,
    pub rule: &'static str,
    pub recommended: Option<Recommended>,
    pub booth: Option<BoothDecision>,
    /// Where more lanes did worse than fewer, and why.
    pub non_monotone: Vec<NonMonotone>,
    /// The cheapest configuration run that meets both targets (with `[costs]`).
    pub cheapest: Option<Cheapest>,
    /// "lanes: …; booth: …", the decision in one line.
    pub decision: String,
    pub sentence: String,
    pub configurations: Vec<ConfigSummary>,
    pub sensitivity: Vec<Sensitivity>,
    /// The p95 wait per quarter hour at each gate, for the recommended deployment.
    pub by_quarter: Option<ByQuarter>,
    #[serde(skip)]
    pub details: BTreeMap<Config, Detail>,
}

/// p95 waits per quarter hour of one configuration, over its replications.
#[derive(Clone, Debug, Serialize)]
pub struct ByQuarter {
    pub config: Config,
    pub label: String,
    /// Each quarter's start, "HH:MM".
    pub start: Vec<String>,
    pub gates: Vec<GateByQuarter>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GateByQuarter {
    pub gate: String,
    pub lanes_wait_s_p95: Vec<Stat>,
    pub booth_wait_s_p95: Vec<Stat>,
}

fn by_quarter(scenario: &Scenario, config: &Config, units: &[&UnitResult]) -> ByQuarter {
    let quarters = units
        .iter()
        .flat_map(|u| {
            u.gates.iter().map(|g| g.lanes_wait_s_p95_by_quarter.len().max(g.booth_wait_s_p95_by_quarter.len()))
        })
        .max()
        .unwrap_or(0);
    let series = |g: usize, pick: fn(&gatelab_sim::figures::GateFigures) -> &Vec<f64>| -> Vec<Stat> {
        (0..quarters)
            .map(|q| {
                stat_non_negative(units.iter().filter_map(|u| u.gates.get(g).and_then(|x| pick(x).get(q).copied())))
            })
            .collect()
    };
    ByQuarter {
        config: config.clone(),
        label: config.label(scenario),
        start: (0..quarters).map(|q| search::quarter_start(scenario, q)).collect(),
        gates: scenario
            .gates
            .iter()
            .enumerate()
            .map(|(g, spec)| GateByQuarter {
                gate: spec.name.clone(),
                lanes_wait_s_p95: series(g, |x| &x.lanes_wait_s_p95_by_quarter),
                booth_wait_s_p95: series(g, |x| &x.booth_wait_s_p95_by_quarter),
            })
            .collect(),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Recommended {
    pub config: Config,
    pub label: String,
    /// Lanes per gate: (gate, outbound, inbound).
    pub per_gate: Vec<(String, u32, u32)>,
    pub at_lanes_wait_s_p95: BTreeMap<&'static str, Stat>,
    pub opt_out_gap_s: Stat,
    pub replications: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Cheapest {
    pub config: Config,
    pub label: String,
    pub cost: f64,
}

fn why_they_differ(sim: f64, mmc: Option<f64>, f: &[&Figures]) -> String {
    let Some(mmc) = mmc else {
        return "Erlang C calls the busiest hour overloaded; the simulation still clears it because demand \
                varies within the window and people queue at the booth or walk round"
            .into();
    };
    let mean = |pick: fn(&Figures) -> f64| f.iter().map(|x| pick(x)).sum::<f64>() / f.len().max(1) as f64;
    let faults = mean(|x| x.camera_failures);
    let tail = mean(|x| x.tailgating.attempts);
    let desk = mean(|x| x.visitors.passages) > 0.0;
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
    let results = search::results(units);
    let decision = search::decide(spec, scenario, &results);
    let gates = scenario.gates.len();
    let mut configurations = Vec::new();
    let mut details = BTreeMap::new();
    for (config, us) in &results {
        let figs: Vec<&Figures> = us.iter().map(|u| &u.figures).collect();
        let s = |pick: fn(&Figures) -> f64| stat_non_negative(figs.iter().map(|f| pick(f)));
        let wait = GROUPS.iter().map(|&(name, pick)| (name, s(pick))).collect();
        let at_lanes = LANE_GROUPS.iter().map(|&(name, pick)| (name, s(pick))).collect();
        let gap = stat(figs.iter().map(|f| f.opt_out.wait_s_p95 - f.enrolled.wait_s_p95));
        let (mmc, mdc) = analytic::estimate(&config.apply(scenario));
        let all = s(|f| f.wait_s.p95);
        if config.vary.is_none()
            && let Some(d) = us.iter().find_map(|u| u.detail.clone())
        {
            details.insert(config.clone(), d);
        }
        let lanes = search::lanes_verdict(config, us, spec.target_wait_p95_s, spec.los);
        let density = (0..config.lanes.len())
            .filter(|&s| config.lanes[s] > 0)
            .map(|s| search::slot_density_stat(us, s))
            .filter(|d| d.n > 0)
            .max_by(|a, b| a.mean.total_cmp(&b.mean))
            .unwrap_or_else(|| stat_non_negative(std::iter::empty()));
        configurations.push(ConfigSummary {
            config: config.clone(),
            label: config.label(scenario),
            replications: us.len(),
            wait_s_p95: wait,
            wait_s_p95_all: all,
            at_lanes_wait_s_p95: at_lanes,
            at_booth_wait_s_p95: s(|f| f.at_booth.wait_s_p95),
            opt_out_gap_s: gap,
            throughput_per_min: s(|f| f.throughput_per_min),
            uncontrolled_passages: s(|f| f.uncontrolled_passages),
            consent_violations: s(|f| f.consent_violations),
            erlang_c_p95_s: mmc,
            md_c_p95_s: mdc,
            why_they_differ: why_they_differ(all.mean, mmc, &figs),
            queue_density_worst_15_min_per_m2: density,
            queuing_level: QueuingLevel::of_density(if density.n > 0 { density.mean } else { 0.0 }),
            lanes,
            booth: search::booth_verdict(us, gates, spec.booth_target()),
            meets_target: lanes == Verdict::Meets,
            cost: config.cost(scenario),
            attacks: scenario
                .attacks
                .as_ref()
                .map(|_| AttackFigures::over(us.iter().filter_map(|u| u.attacks.as_ref()))),
            network: scenario
                .network
                .as_ref()
                .map(|_| NetworkFigures::over(us.iter().filter_map(|u| u.network.as_ref()))),
        });
    }
    let recommended = decision.recommended.as_ref().and_then(|c| {
        let summary = configurations.iter().find(|s| &s.config == c)?;
        Some(Recommended {
            config: c.clone(),
            label: summary.label.clone(),
            per_gate: scenario
                .gates
                .iter()
                .zip(c.lanes.chunks(2))
                .map(|(g, l)| (g.name.clone(), l[0], l.get(1).copied().unwrap_or(0)))
                .collect(),
            at_lanes_wait_s_p95: summary.at_lanes_wait_s_p95.clone(),
            opt_out_gap_s: summary.opt_out_gap_s,
            replications: summary.replications,
        })
    });
    let cheapest = configurations
        .iter()
        .filter(|c| c.config.vary.is_none() && c.lanes == Verdict::Meets && c.booth == Verdict::Meets)
        .filter_map(|c| Some((c, c.cost?)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.config.cmp(&b.0.config)))
        .map(|(c, cost)| Cheapest { config: c.config.clone(), label: c.label.clone(), cost });
    let sensitivity = sensitivity(&configurations);
    let by_quarter = decision.recommended.as_ref().and_then(|c| Some(by_quarter(scenario, c, results.get(c)?)));
    let (decision_line, sentence) = words(spec, &decision, recommended.as_ref(), &configurations);
    Plan {
        scenario: scenario.name.clone(),
        policy: scenario.policy.name.clone(),
        target_wait_p95_s: spec.target_wait_p95_s,
        booth_target_wait_p95_s: spec.booth_target(),
        los: spec.los,
        replications: spec.replications,
        max_replications: spec.cap(),
        per_gate: spec.per_gate,
        seed,
        rule: RULE,
        recommended,
        booth: decision.booth,
        non_monotone: decision.non_monotone,
        cheapest,
        decision: decision_line,
        sentence,
        configurations,
        sensitivity,
        by_quarter,
        details,
    }
}

/// The ±50 % runs beside their base configuration, largest swing first.
fn sensitivity(configurations: &[ConfigSummary]) -> Vec<Sensitivity> {
    let mut out = Vec::new();
    let find = |c: &Config| configurations.iter().find(|s| &s.config == c).map(|s| s.wait_s_p95_all.mean);
    for f in FACTORS.into_iter().chain([Factor::LivenessThreshold]) {
        for base in configurations.iter().filter(|c| c.config.vary.is_none()) {
            let at = |high| find(&Config { vary: Some((f, high)), ..base.config.clone() });
            if let (Some(low), Some(high)) = (at(false), at(true)) {
                out.push(Sensitivity {
                    factor: f,
                    label: f.label(),
                    low_p95_s: low,
                    high_p95_s: high,
                    base_p95_s: base.wait_s_p95_all.mean,
                    swing_s: (high - low).abs(),
                });
            }
        }
    }
    out.sort_by(|a, b| b.swing_s.total_cmp(&a.swing_s).then(a.factor.cmp(&b.factor)));
    out
}

/// The decision in one line, and the sentence a planner reads.
fn words(
    spec: &SweepSpec,
    decision: &search::Decision,
    recommended: Option<&Recommended>,
    configurations: &[ConfigSummary],
) -> (String, String) {
    let target = spec.target_wait_p95_s;
    let (lanes_line, lanes_sentence) = match recommended {
        Some(r) => {
            let worst = r
                .at_lanes_wait_s_p95
                .iter()
                .filter(|(_, s)| s.n > 0)
                .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
                .map(|(k, s)| (k.replace('_', " "), s.mean, s.ci95.map_or(s.mean, |[_, hi]| hi)));
            let what = match r.config.uniform_lanes() {
                Some(l) => format!("{l} lane(s) per gate and direction"),
                None => {
                    let per: Vec<String> =
                        r.per_gate.iter().map(|(g, o, i)| format!("{o} out / {i} in at {g}")).collect();
                    format!("lanes per gate: {}", per.join(", "))
                }
            };
            let gap = r.opt_out_gap_s.mean;
            let (who, mean, hi) = worst.unwrap_or(("everyone".into(), 0.0, 0.0));
            (
                match r.config.uniform_lanes() {
                    Some(l) => format!("lanes: {l}"),
                    None => format!(
                        "lanes: {}",
                        r.per_gate.iter().map(|(g, o, i)| format!("{g} {o}/{i}")).collect::<Vec<_>>().join(", ")
                    ),
                },
                format!(
                    "Install {what}: every group that uses the lanes waits at most {target:.0} s at p95 with 95 % confidence (worst: {who}, {mean:.1} s, upper bound {hi:.1} s, {} replications){}{}.",
                    r.replications,
                    configurations.iter().find(|c| c.config == r.config).map_or(String::new(), |c| format!(
                        ", the queue areas stay at level {} or better (the most crowded holds {:.2} persons/m² over its busiest 15 minutes: level {})",
                        spec.los,
                        c.queue_density_worst_15_min_per_m2.mean,
                        c.queuing_level
                    )),
                    // No opt-outs (everyone enrolled), or no face users: there is no gap to state.
                    if gap.is_finite() {
                        format!(
                            ", and people without face wait {:.1} s {} than face users at p95",
                            gap.abs(),
                            if gap > 0.0 { "longer" } else { "less" }
                        )
                    } else {
                        String::new()
                    }
                ),
            )
        }
        None => {
            let last = decision.evaluated.last().and_then(|c| configurations.iter().find(|s| &s.config == c));
            let worst = last.and_then(|c| {
                c.at_lanes_wait_s_p95
                    .iter()
                    .filter(|(_, s)| s.n > 0)
                    .max_by(|a, b| a.1.mean.total_cmp(&b.1.mean))
                    .map(|(k, s)| (*k, s.mean, c.label.clone()))
            });
            let blocker = match worst {
                Some((group, wait, label)) => {
                    let advice = if group == "opt_outs" {
                        "people without face are held up by the policy, not by lanes: give every resident a card that opens the gate (C2)"
                    } else {
                        "widen the lane range or relax the target"
                    };
                    format!("{} still wait {wait:.0} s at p95 with {label}; {advice}", group.replace('_', " "))
                }
                None => "no configuration was simulated; widen the lane range".into(),
            };
            (
                "lanes: none in range".into(),
                format!(
                    "No lane count from {} to {} is shown to meet a p95 wait of {target:.0} s for every group at the lanes: {blocker}.",
                    spec.lanes_from, spec.lanes_to
                ),
            )
        }
    };
    let booth_target = spec.booth_target();
    let (booth_line, booth_sentence) = match &decision.booth {
        None => (
            "booth: not sized".to_string(),
            " The booth was not sized: a fixed sweep runs no other desk counts (`gatelab plan` sizes it).".to_string(),
        ),
        Some(b) if b.today == Verdict::Meets => {
            let worst = b.today_wait_s_p95.iter().filter(|s| s.n > 0).map(|s| s.mean).fold(0.0, f64::max);
            (
                "booth: today's desks".into(),
                format!(
                    " The booth needs no extra desk: at most {worst:.1} s at p95 there (target {booth_target:.0} s)."
                ),
            )
        }
        Some(b) => {
            let when: Vec<String> = b
                .busy
                .iter()
                .map(|x| {
                    format!(
                        "at {} from {} to {}, or visitors wait {:.0} s at p95",
                        x.gate, x.from, x.to, x.wait_s_p95.mean
                    )
                })
                .collect();
            let when = if when.is_empty() { String::new() } else { format!(" ({})", when.join("; ")) };
            match b.desks_needed {
                Some(d) => (
                    format!("booth: add a desk ({d} desk(s))"),
                    format!(
                        " The booth needs {d} desk(s){when}: lanes do not serve visitors registering or couriers without a card."
                    ),
                ),
                None => {
                    let most = b.tried.last().map_or(0, |t| t.0);
                    (
                        "booth: more desks do not suffice".into(),
                        format!(
                            " Even {most} desk(s) at the booth miss its {booth_target:.0} s target{when}: pre-register visitors or give couriers cards."
                        ),
                    )
                }
            }
        }
    };
    let mut line = format!("{lanes_line}; {booth_line}");
    if !decision.non_monotone.is_empty() {
        line.push_str(&format!("; {} non-monotone result(s), see the report", decision.non_monotone.len()));
    }
    (line, format!("{lanes_sentence}{booth_sentence}"))
}
