//! The decision: which deployment meets the targets, decided with confidence, monotone in lanes,
//! per gate if asked, and the booth sized on its own.
//!
//! [`decide`] is pure: from the units run so far it walks the search and returns both what it
//! has decided and the runs it still wants. `plan` calls it until nothing is wanted, running
//! what it asks for; `merge` calls it once on the merged units and, the units being the same,
//! reaches the same decisions.
//!
//! The rule, for one configuration: the figures judged are the p95 wait of everyone a gate's
//! lanes in one direction served (what that lane count controls), and the p95 wait at the lanes
//! of each lane-served group — face users, opt-outs, couriers with a card — over all gates (so
//! that no group is left behind). Over the replications, the mean of each replication's figure
//! has a two-sided 95 % Student-t interval ([`stat_non_negative`]). A figure *meets* the target
//! when the interval's upper bound is within it, *fails* when its lower bound is above it, and is
//! *unclear* otherwise; then `replications` more are run, up to the cap. Still unclear at the
//! cap counts as not meeting (the plan says so). A figure no one contributed to meets.

use std::collections::BTreeMap;

use serde::Serialize;

use gatelab_scenario::Scenario;
use gatelab_sim::QueuingLevel;
use gatelab_sim::figures::{AtLanes, GateFigures, QueueAreaFigures};
use gatelab_sim::stats::{Stat, stat, stat_non_negative};

use crate::summary::LANE_GROUPS;

use crate::spec::{Config, SweepSpec};
use crate::units::UnitResult;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Meets,
    Fails,
    /// The interval still straddles the target.
    Unclear,
}

impl Verdict {
    fn and(self, other: Verdict) -> Verdict {
        match (self, other) {
            (Verdict::Fails, _) | (_, Verdict::Fails) => Verdict::Fails,
            (Verdict::Unclear, _) | (_, Verdict::Unclear) => Verdict::Unclear,
            _ => Verdict::Meets,
        }
    }

    fn of(s: &Stat, target: f64) -> Verdict {
        match (s.n, s.ci95) {
            (0, _) => Verdict::Meets,
            (_, Some([_, hi])) if hi <= target => Verdict::Meets,
            (_, Some([lo, _])) if lo > target => Verdict::Fails,
            _ => Verdict::Unclear,
        }
    }
}

/// The units of each configuration, in replication order.
pub type Results<'a> = BTreeMap<Config, Vec<&'a UnitResult>>;

pub fn results(units: &[UnitResult]) -> Results<'_> {
    let mut by: Results = BTreeMap::new();
    for u in units {
        by.entry(u.config.clone()).or_default().push(u);
    }
    for v in by.values_mut() {
        v.sort_by_key(|u| u.replication);
    }
    by
}

/// The lanes of lane group `slot` (gate `slot / 2`, outbound if even) in one replication.
fn at_slot(gates: &[GateFigures], slot: usize) -> Option<&AtLanes> {
    let g = gates.get(slot / 2)?;
    Some(if slot.is_multiple_of(2) { &g.outbound } else { &g.inbound })
}

/// The p95 wait of everyone the lanes of lane group `slot` served, over the replications.
pub fn slot_stat(units: &[&UnitResult], slot: usize) -> Stat {
    stat_non_negative(units.iter().filter_map(|u| Some(at_slot(&u.gates, slot)?.wait_s_p95)))
}

/// Each lane-served group's p95 wait at the lanes, all gates together, over the replications.
pub fn group_stats(units: &[&UnitResult]) -> [(&'static str, Stat); 3] {
    LANE_GROUPS.map(|(name, pick)| (name, stat_non_negative(units.iter().map(|u| pick(&u.figures)))))
}

/// The queue area in front of lane group `slot` in one replication.
fn area_at_slot(gates: &[GateFigures], slot: usize) -> Option<&QueueAreaFigures> {
    let g = gates.get(slot / 2)?;
    Some(if slot.is_multiple_of(2) { &g.outbound_queue_area } else { &g.inbound_queue_area })
}

/// The busiest 15 minutes' density in the queue area of lane group `slot`, over the
/// replications (persons per m²).
pub fn slot_density_stat(units: &[&UnitResult], slot: usize) -> Stat {
    stat_non_negative(units.iter().filter_map(|u| Some(area_at_slot(&u.gates, slot)?.density_worst_15_min_per_m2)))
}

/// A lane group meets the targets when its p95 wait does and its queue area's busiest 15
/// minutes stay at the chosen level of service or better (the density's upper bound at most
/// the level's highest density).
fn slot_verdict(units: &[&UnitResult], slot: usize, target: f64, los: QueuingLevel) -> Verdict {
    Verdict::of(&slot_stat(units, slot), target)
        .and(Verdict::of(&slot_density_stat(units, slot), los.max_density_per_m2()))
}

fn groups_verdict(units: &[&UnitResult], target: f64) -> Verdict {
    group_stats(units).iter().fold(Verdict::Meets, |v, (_, s)| v.and(Verdict::of(s, target)))
}

/// The lanes' verdict: everyone served at each gate and direction (what its lane count
/// controls), and each lane-served group over all gates (so no group is left behind).
pub fn lanes_verdict(config: &Config, units: &[&UnitResult], target: f64, los: QueuingLevel) -> Verdict {
    if units.is_empty() {
        return Verdict::Unclear;
    }
    (0..config.lanes.len())
        .filter(|&s| config.lanes[s] > 0)
        .fold(groups_verdict(units, target), |v, s| v.and(slot_verdict(units, s, target, los)))
}

/// Each booth's p95 wait over the replications, by gate.
pub fn booth_stats(units: &[&UnitResult], gates: usize) -> Vec<Stat> {
    (0..gates)
        .map(|g| stat_non_negative(units.iter().filter_map(|u| u.gates.get(g).map(|x| x.at_booth.wait_s_p95))))
        .collect()
}

pub fn booth_verdict(units: &[&UnitResult], gates: usize, target: f64) -> Verdict {
    if units.is_empty() {
        return Verdict::Unclear;
    }
    booth_stats(units, gates).iter().fold(Verdict::Meets, |v, s| v.and(Verdict::of(s, target)))
}

/// Why a configuration with more lanes did worse than one with fewer.
#[derive(Clone, Debug, Serialize)]
pub struct NonMonotone {
    pub met: Config,
    pub failed: Config,
    /// The gate and direction, or the group over all gates, that did worse.
    pub at: String,
    /// Paired difference of that group's p95 (more lanes minus fewer) over the replications
    /// both ran with the same seeds: mean and 95 % interval.
    pub paired_difference_s: Stat,
    /// "noise" when the paired interval holds zero, else "real".
    pub cause: &'static str,
    pub explanation: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BoothDecision {
    /// Today's desks at the recommended lanes: the booths' p95 and verdict.
    pub lanes: Config,
    pub today_wait_s_p95: Vec<Stat>,
    pub today: Verdict,
    /// Desks at every booth that meet the booth's target (`None`: today's do, or none tried did).
    pub desks_needed: Option<u32>,
    /// Every desk count tried beyond today's, with its verdict.
    pub tried: Vec<(u32, Verdict)>,
    /// Per gate whose booth misses the target today: the quarters of an hour when it does
    /// (start, end as HH:MM), by the mean over replications of each quarter's p95.
    pub busy: Vec<BusyBooth>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BusyBooth {
    pub gate: String,
    pub from: String,
    pub to: String,
    pub wait_s_p95: Stat,
}

/// Everything decided so far, and what is still to run.
#[derive(Clone, Debug)]
pub struct Decision {
    /// Lane configurations in the order the search looked at them.
    pub evaluated: Vec<Config>,
    pub recommended: Option<Config>,
    pub non_monotone: Vec<NonMonotone>,
    /// The booth, once the lanes are decided.
    pub booth: Option<BoothDecision>,
    /// Runs still wanted: configuration and the replications it should have in all.
    pub wanted: Vec<(Config, u32)>,
}

struct Walk<'s, 'r> {
    spec: &'s SweepSpec,
    results: &'s Results<'r>,
    wanted: Vec<(Config, u32)>,
}

impl Walk<'_, '_> {
    fn units(&self, c: &Config) -> &[&UnitResult] {
        self.results.get(c).map_or(&[], |v| v.as_slice())
    }

    /// Ask for more replications of `c` if it has fewer than the start, or its verdict is
    /// unclear below the cap; true when it is settled (nothing more to run).
    fn settled(&mut self, c: &Config, verdict: Verdict) -> bool {
        let have = self.units(c).len() as u32;
        let start = self.spec.replications;
        let want = if have < start {
            Some(start)
        } else if verdict == Verdict::Unclear && have < self.spec.cap() {
            Some((have + start).min(self.spec.cap()))
        } else {
            None
        };
        match want {
            Some(n) => {
                self.wanted.push((c.clone(), n));
                false
            }
            None => true,
        }
    }

    fn lanes_verdict(&self, c: &Config) -> Verdict {
        lanes_verdict(c, self.units(c), self.spec.target_wait_p95_s, self.spec.los)
    }
}

/// Walk the search over the units run so far.
pub fn decide(spec: &SweepSpec, scenario: &Scenario, results: &Results) -> Decision {
    let mut walk = Walk { spec, results, wanted: Vec::new() };
    let mut decision = Decision {
        evaluated: Vec::new(),
        recommended: None,
        non_monotone: Vec::new(),
        booth: None,
        wanted: Vec::new(),
    };
    let lanes_done = if spec.per_gate {
        per_gate(&mut walk, scenario, &mut decision)
    } else {
        uniform(&mut walk, scenario, &mut decision)
    };
    if lanes_done {
        let lanes = decision.recommended.clone().unwrap_or_else(|| Config::uniform(scenario, spec.lanes_to));
        decision.booth = booth(&mut walk, scenario, lanes);
    }
    decision.wanted = walk.wanted;
    decision
}

/// Every lane count of the range at every gate; the recommendation is the smallest from which
/// every larger count meets the target.
fn uniform(walk: &mut Walk, scenario: &Scenario, decision: &mut Decision) -> bool {
    let configs: Vec<Config> =
        (walk.spec.lanes_from..=walk.spec.lanes_to).map(|l| Config::uniform(scenario, l)).collect();
    let mut done = true;
    for c in &configs {
        let v = walk.lanes_verdict(c);
        done &= walk.settled(c, v);
    }
    decision.evaluated = configs.clone();
    if !done {
        return false;
    }
    let verdicts: Vec<Verdict> = configs.iter().map(|c| walk.lanes_verdict(c)).collect();
    let mut start = configs.len();
    while start > 0 && verdicts[start - 1] == Verdict::Meets {
        start -= 1;
    }
    decision.recommended = configs.get(start).cloned();
    // Anything below the recommendation that met the target was followed by a failure.
    for i in (0..start).filter(|&i| verdicts[i] == Verdict::Meets) {
        if let Some(j) = (i + 1..configs.len()).find(|&j| verdicts[j] != Verdict::Meets) {
            decision.non_monotone.extend(explain(walk, scenario, &configs[i], &configs[j]));
        }
    }
    true
}

/// Lane counts per gate and direction: start everyone at the range's start, add a lane to each
/// lane group that misses the target until none does, then check that one more lane everywhere
/// still meets it (monotone); where the check fails, those groups get a lane and the search goes
/// on. Each round runs one configuration, so a 4-gate estate costs a handful of configurations
/// rather than the product of the ranges.
fn per_gate(walk: &mut Walk, scenario: &Scenario, decision: &mut Decision) -> bool {
    let (from, to) = (walk.spec.lanes_from, walk.spec.lanes_to);
    let mut lanes = Config::uniform(scenario, from).lanes;
    let target = walk.spec.target_wait_p95_s;
    let los = walk.spec.los;
    // The lane groups to give a lane: those missing the target; if only a group over all gates
    // misses it, the lane group with the highest upper bound.
    let failing = |walk: &Walk, c: &Config| -> Vec<usize> {
        let units = walk.units(c);
        let used = (0..c.lanes.len()).filter(|&s| c.lanes[s] > 0);
        let slots: Vec<usize> =
            used.clone().filter(|&s| slot_verdict(units, s, target, los) != Verdict::Meets).collect();
        if slots.is_empty() && groups_verdict(units, target) != Verdict::Meets {
            return used
                .max_by(|&a, &b| upper(&slot_stat(units, a)).total_cmp(&upper(&slot_stat(units, b))))
                .into_iter()
                .collect();
        }
        slots
    };
    loop {
        let c = Config { lanes: lanes.clone(), desks: None, vary: None };
        decision.evaluated.push(c.clone());
        let v = walk.lanes_verdict(&c);
        if !walk.settled(&c, v) {
            return false;
        }
        let missing = failing(walk, &c);
        if !missing.is_empty() {
            if missing.iter().any(|&s| lanes[s] >= to) {
                return true; // one lane group misses the target even at the range's end
            }
            missing.iter().for_each(|&s| lanes[s] += 1);
            continue;
        }
        let more: Vec<u32> = lanes.iter().map(|&l| if l > 0 { (l + 1).min(to) } else { 0 }).collect();
        if more == lanes {
            decision.recommended = Some(c);
            return true;
        }
        let check = Config { lanes: more, desks: None, vary: None };
        decision.evaluated.push(check.clone());
        let v = walk.lanes_verdict(&check);
        if !walk.settled(&check, v) {
            return false;
        }
        let worse = failing(walk, &check);
        if worse.is_empty() {
            decision.recommended = Some(c);
            return true;
        }
        decision.non_monotone.extend(explain(walk, scenario, &c, &check));
        worse.iter().for_each(|&s| lanes[s] = (lanes[s] + 1).min(to));
    }
}

/// Today's desks at the decided lanes; if the booths miss their target, one more desk at a time
/// from the range's start until they meet it.
fn booth(walk: &mut Walk, scenario: &Scenario, lanes: Config) -> Option<BoothDecision> {
    let gates = scenario.gates.len();
    let target = walk.spec.booth_target();
    let today_verdict = booth_verdict(walk.units(&lanes), gates, target);
    if !walk.settled(&lanes, today_verdict) {
        return None;
    }
    let today_units = walk.units(&lanes).to_vec();
    let today_wait_s_p95 = booth_stats(&today_units, gates);
    let mut decision = BoothDecision {
        lanes: lanes.clone(),
        today_wait_s_p95: today_wait_s_p95.clone(),
        today: today_verdict,
        desks_needed: None,
        tried: Vec::new(),
        busy: Vec::new(),
    };
    if today_verdict == Verdict::Meets {
        return Some(decision);
    }
    for (g, spec) in scenario.gates.iter().enumerate() {
        if Verdict::of(&today_wait_s_p95[g], target) == Verdict::Meets {
            continue;
        }
        let quarters = today_units.iter().map(|u| u.gates[g].booth_wait_s_p95_by_quarter.len()).max().unwrap_or(0);
        let over: Vec<usize> = (0..quarters)
            .filter(|&q| {
                let s = stat(today_units.iter().filter_map(|u| u.gates[g].booth_wait_s_p95_by_quarter.get(q).copied()));
                s.n > 0 && s.mean > target
            })
            .collect();
        if let (Some(&a), Some(&b)) = (over.first(), over.last()) {
            decision.busy.push(BusyBooth {
                gate: spec.name.clone(),
                from: quarter_start(scenario, a),
                to: quarter_start(scenario, b + 1),
                wait_s_p95: today_wait_s_p95[g],
            });
        }
    }
    let (from, to) = walk.spec.desk_range(scenario);
    for d in from..=to {
        let c = lanes.with_desks(Some(d));
        let v = booth_verdict(walk.units(&c), gates, target);
        if !walk.settled(&c, v) {
            return None;
        }
        decision.tried.push((d, v));
        if v == Verdict::Meets {
            decision.desks_needed = Some(d);
            break;
        }
    }
    Some(decision)
}

/// When quarter hour `q` of the window starts, "HH:MM".
pub fn quarter_start(scenario: &Scenario, q: usize) -> String {
    let ms = (u64::from(scenario.start_min()) + 15 * q as u64) * 60_000;
    gatelab_sim::engine::metrics::clock_text(ms)[..5].to_string()
}

/// Why `failed` (more lanes) did worse than `met`: the lane group (or group over all gates)
/// with the highest upper bound there, and its paired difference over the replications both ran.
fn explain(walk: &Walk, scenario: &Scenario, met: &Config, failed: &Config) -> Option<NonMonotone> {
    let target = walk.spec.target_wait_p95_s;
    let (a, b) = (walk.units(met), walk.units(failed));
    type Pick = Box<dyn Fn(&UnitResult) -> Option<f64>>;
    let mut candidates: Vec<(String, Stat, Pick)> = Vec::new();
    for s in (0..failed.lanes.len()).filter(|&s| failed.lanes[s] > 0) {
        let name = format!("{} {}", scenario.gates[s / 2].name, if s.is_multiple_of(2) { "out" } else { "in" });
        candidates.push((name, slot_stat(b, s), Box::new(move |u| Some(at_slot(&u.gates, s)?.wait_s_p95))));
    }
    for (i, (name, st)) in group_stats(b).into_iter().enumerate() {
        let pick = LANE_GROUPS[i].1;
        candidates.push((name.replace('_', " "), st, Box::new(move |u| Some(pick(&u.figures)))));
    }
    let (where_, _, pick) = candidates
        .into_iter()
        .filter(|(_, st, _)| Verdict::of(st, target) != Verdict::Meets)
        .max_by(|x, y| upper(&x.1).total_cmp(&upper(&y.1)))?;
    let by_rep: BTreeMap<u32, f64> = a.iter().filter_map(|u| Some((u.replication, pick(u)?))).collect();
    let d = stat(b.iter().filter_map(|u| Some(pick(u)? - by_rep.get(&u.replication)?)));
    let noise = d.ci95.is_none_or(|[lo, hi]| lo <= 0.0 && hi >= 0.0);
    let (m, f) = (met.label(scenario), failed.label(scenario));
    let explanation = if noise {
        format!(
            "{m} met the target and {f} did not ({where_}): the same replications differ by {:.1} s on average, \
             within their spread — noise; more replications (--max-replications) settle it",
            d.mean
        )
    } else {
        format!(
            "{m} met the target and {f} did not ({where_}): with the same people the extra lanes add {:.1} s — a \
             real effect (a lane placed further from the approach, or a crowd across the walk to it)",
            d.mean
        )
    };
    Some(NonMonotone {
        met: met.clone(),
        failed: failed.clone(),
        at: where_,
        paired_difference_s: d,
        cause: if noise { "noise" } else { "real" },
        explanation,
    })
}

fn upper(s: &Stat) -> f64 {
    s.ci95.map_or(s.mean, |[_, hi]| hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatelab_sim::figures::{Figures, GateFigures};

    fn scenario() -> Scenario {
        Scenario::parse(include_str!("../../scenarios/dongcheng.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Units of `lanes` lanes whose outbound p95 at the one gate is `p95` in each replication.
    fn units(s: &Scenario, lanes: u32, p95: &[f64]) -> Vec<UnitResult> {
        let nan = Figures::<()>::default().map(&mut |()| f64::NAN);
        p95.iter()
            .enumerate()
            .map(|(r, &v)| {
                let mut gate = GateFigures::default();
                gate.outbound.wait_s_p95 = v;
                gate.inbound.wait_s_p95 = f64::NAN;
                gate.at_booth.wait_s_p95 = f64::NAN;
                UnitResult {
                    config: Config::uniform(s, lanes),
                    replication: r as u32,
                    figures: nan,
                    gates: vec![gate],
                    detail: None,
                    network: None,
                    attacks: None,
                }
            })
            .collect()
    }

    fn decide_on(runs: &[(u32, &[f64])]) -> Decision {
        let s = scenario();
        let all: Vec<UnitResult> = runs.iter().flat_map(|(l, v)| units(&s, *l, v)).collect();
        let spec = SweepSpec::new(30.0, 1, runs.len() as u32, 4);
        decide(&spec, &s, &results(&all))
    }

    #[test]
    fn the_recommendation_is_the_start_of_the_tail_that_meets() {
        let d = decide_on(&[(1, &[50.0, 52.0, 48.0, 51.0]), (2, &[10.0, 12.0, 11.0, 9.0]), (3, &[3.0, 2.0, 4.0, 3.0])]);
        assert!(d.wanted.is_empty());
        assert_eq!(d.recommended.and_then(|c| c.uniform_lanes()), Some(2));
        assert!(d.non_monotone.is_empty());
    }

    #[test]
    fn more_lanes_doing_worse_is_reported_as_noise_or_as_a_real_effect() {
        // 3 lanes do worse than 2 in every replication, by 9–28 s: a real effect.
        let d =
            decide_on(&[(1, &[50.0, 52.0, 48.0, 51.0]), (2, &[10.0, 12.0, 11.0, 9.0]), (3, &[25.0, 40.0, 20.0, 35.0])]);
        assert_eq!(d.recommended, None, "no count from which every larger one meets");
        assert_eq!(d.non_monotone.len(), 1);
        let n = &d.non_monotone[0];
        assert_eq!((n.met.uniform_lanes(), n.failed.uniform_lanes()), (Some(2), Some(3)));
        assert_eq!(n.cause, "real", "{}", n.explanation);
        assert!(n.paired_difference_s.ci95.is_some_and(|[lo, _]| lo > 0.0));
        // One wild replication: the paired interval holds zero — noise.
        let d =
            decide_on(&[(1, &[50.0, 52.0, 48.0, 51.0]), (2, &[10.0, 12.0, 11.0, 9.0]), (3, &[9.0, 14.0, 30.0, 60.0])]);
        let n = &d.non_monotone[0];
        assert_eq!(n.cause, "noise", "{}", n.explanation);
        assert!(n.explanation.contains("--max-replications"));
    }

    #[test]
    fn a_queue_area_more_crowded_than_the_chosen_level_fails_the_lanes() {
        let s = scenario();
        let mut all = units(&s, 1, &[10.0, 12.0, 11.0, 9.0]);
        // About 0.76 m² a person over the busiest 15 minutes: level C.
        for (u, d) in all.iter_mut().zip([1.30, 1.35, 1.25, 1.32]) {
            u.gates[0].outbound_queue_area.density_worst_15_min_per_m2 = d;
        }
        let c = Config::uniform(&s, 1);
        let units: Vec<&UnitResult> = all.iter().collect();
        assert_eq!(lanes_verdict(&c, &units, 30.0, QueuingLevel::D), Verdict::Meets);
        assert_eq!(lanes_verdict(&c, &units, 30.0, QueuingLevel::C), Verdict::Meets, "upper bound 1.39 ≤ 1/0.7");
        assert_eq!(lanes_verdict(&c, &units, 30.0, QueuingLevel::B), Verdict::Fails, "lower bound above 1/0.9");
        assert_eq!(lanes_verdict(&c, &units, 5.0, QueuingLevel::D), Verdict::Fails, "the wait still counts");
        let spec = SweepSpec { los: QueuingLevel::B, ..SweepSpec::new(30.0, 1, 1, 4) };
        assert_eq!(decide(&spec, &s, &results(&all)).recommended, None);
    }

    #[test]
    fn an_unclear_verdict_asks_for_more_replications_up_to_the_cap() {
        let s = scenario();
        let all = units(&s, 1, &[10.0, 40.0, 20.0, 35.0]);
        let spec = SweepSpec { max_replications: Some(12), ..SweepSpec::new(30.0, 1, 1, 4) };
        let d = decide(&spec, &s, &results(&all));
        assert_eq!(d.wanted, vec![(Config::uniform(&s, 1), 8)], "4 more");
        let capped = SweepSpec { max_replications: Some(4), ..spec };
        let d = decide(&capped, &s, &results(&all));
        assert!(d.wanted.is_empty(), "at the cap");
        assert_eq!(d.recommended, None, "unclear at the cap is not a pass");
    }
}
