//! The planner's decisions hold up: common random numbers across configurations, the sequential
//! rule, a monotone recommendation that the booth does not sway, the booth sized in desks, and
//! lane counts per gate.

use gatelab_plan::{self as plan, Config, SweepSpec, Verdict};
use gatelab_scenario::Scenario;
use gatelab_sim::engine::{Keep, Replication, SharedRegistration, simulate_keeping, simulate_sharing};
use gatelab_sim::progress::Silent;
use gatelab_tests::{queue_scenario, shipped};

fn planned(spec: SweepSpec, scenario: &Scenario) -> plan::Plan {
    spec.validate(scenario).unwrap_or_else(|e| panic!("{e:#}"));
    let (_, result) = plan::plan(spec, scenario, false, &Silent).unwrap_or_else(|e| panic!("{e:#}"));
    result
}

fn replications_of(result: &plan::Plan, lanes: u32) -> usize {
    result
        .configurations
        .iter()
        .find(|c| c.config.desks.is_none() && c.config.uniform_lanes() == Some(lanes))
        .map_or(0, |c| c.replications)
}

/// Arrival times, kinds, gates, credentials and each person's own stream (which their service
/// times and choices come from) are the same with 1 and with 3 lanes: differences between
/// configurations are then the configurations' own. (With the old shared streams a tailgater's
/// coin flip or a service draw shifted everyone after it.)
#[test]
fn every_person_arrives_and_draws_the_same_whatever_the_lane_count() {
    let mut scenario = shipped("tianjin-wenhuacun");
    scenario.run.duration_min = 60;
    scenario.faults.camera_mtbf_h = 2.0;
    scenario.faults.camera_mttr_min = 10.0;
    let keep = Keep { arrivals: true, ..Keep::NOTHING };
    let arrivals = |lanes: u32| {
        let s = Config::uniform(&scenario, lanes).apply(&scenario);
        let rep = simulate_keeping(&s, 11, keep, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
        (rep.arrivals.unwrap_or_default(), rep.figures)
    };
    let (one, f1) = arrivals(1);
    let (three, f3) = arrivals(3);
    assert!(one.len() > 200, "{} arrivals", one.len());
    assert!(one.iter().any(|a| a.face) && one.iter().any(|a| a.credential.is_some()));
    for (a, b) in one.iter().zip(&three) {
        assert_eq!(a, b, "arrival {} differs between 1 and 3 lanes", a.serial);
    }
    assert_eq!(one.len(), three.len());
    // The configurations do differ in what they change.
    assert!(f1.wait_s.p95 > f3.wait_s.p95, "1 lane {} s vs 3 lanes {} s", f1.wait_s.p95, f3.wait_s.p95);
}

/// Each person's service time at the terminal is their own draw: with walking and faults off
/// (so a passage is exactly its service), everyone who passed by the same credential with 1 and
/// with 3 lanes took exactly as long. A draw that depended on the queue — a coin flip taken only
/// when someone stood behind — would shift the person's stream and change it.
#[test]
fn every_person_is_served_as_long_whatever_the_lane_count() {
    let mut scenario = shipped("tianjin-wenhuacun");
    scenario.run.duration_min = 60;
    scenario.behaviour.walking = false;
    scenario.faults.camera_mtbf_h = 0.0;
    scenario.faults.outages.clear();
    let keep = Keep { rows: true, ..Keep::NOTHING };
    let served = |lanes: u32| -> std::collections::BTreeMap<u64, (String, f64)> {
        let s = Config::uniform(&scenario, lanes).apply(&scenario);
        let rep = simulate_keeping(&s, 11, keep, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
        rep.passages
            .iter()
            .filter(|p| {
                !p.decision.is_denied() && ["face", "ic_card", "id_card", "pin"].contains(&p.credential.as_ref())
            })
            .map(|p| (p.agent, (p.credential.to_string(), p.service_s)))
            .collect()
    };
    let (one, three) = (served(1), served(3));
    let same: Vec<(&u64, f64, f64)> = one
        .iter()
        .filter_map(|(serial, (credential, s1))| {
            let (c3, s3) = three.get(serial)?;
            (c3 == credential).then_some((serial, *s1, *s3))
        })
        .collect();
    assert!(same.len() > 200, "{} people passed by the same credential", same.len());
    for (serial, s1, s3) in &same {
        assert_eq!(s1, s3, "person {serial} was served for {s1} s with 1 lane, {s3} s with 3");
    }
}

/// A clear case stops at the start; a configuration whose interval straddles the target gets
/// more replications, up to the cap.
#[test]
fn the_sequential_rule_stops_early_when_clear_and_adds_replications_when_not() {
    // M/M/c at λ = 0.07/s, 20 s: p95 wait about 81 s with 2 lanes, 17.5 s with 3, ~3 s with 4.
    let scenario = queue_scenario(1, 0.07 * 3600.0, 20.0, "exponential", 4);
    let clear = SweepSpec { seed: Some(5), max_replications: Some(12), ..SweepSpec::new(40.0, 2, 4, 3) };
    let result = planned(clear, &scenario);
    assert_eq!(
        result.recommended.as_ref().and_then(|r| r.config.uniform_lanes()),
        Some(3),
        "{}",
        plan::render_table(&result)
    );
    for lanes in 2..=4 {
        assert_eq!(replications_of(&result, lanes), 3, "clear at the start: {}", plan::render_table(&result));
    }
    // A target at 3 lanes' own p95: its interval straddles it.
    let borderline = SweepSpec { seed: Some(5), max_replications: Some(12), ..SweepSpec::new(17.5, 2, 4, 3) };
    let result = planned(borderline, &scenario);
    let table = plan::render_table(&result);
    assert!(replications_of(&result, 3) > 3, "borderline gets more: {table}");
    assert!(replications_of(&result, 3) <= 12, "never past the cap: {table}");
    assert_eq!(replications_of(&result, 2), 3, "clearly failing stops at the start: {table}");
}

/// A booth that cannot keep up is sized in desks, and the lanes are decided without it.
#[test]
fn a_booth_bottleneck_is_sized_in_desks_and_the_lanes_without_it() {
    let mut scenario = shipped("dongcheng");
    scenario.run.duration_min = 60;
    // Registration of 60 s at 80 visitors an hour: one desk is loaded past saturation.
    scenario.population.visitors_per_hour = 80.0;
    scenario.service.visitor_registration_s = 60.0;
    let spec = SweepSpec { max_replications: Some(9), ..SweepSpec::new(45.0, 1, 3, 3) };
    let result = planned(spec, &scenario);
    let table = plan::render_table(&result);
    let booth = result.booth.as_ref().unwrap_or_else(|| panic!("the booth was sized: {table}"));
    assert_eq!(booth.today, Verdict::Fails, "{table}");
    assert!(booth.desks_needed.is_some_and(|d| d >= 2), "{table}");
    assert!(!booth.busy.is_empty(), "the report says when the booth needs help: {table}");
    let lanes = result.recommended.as_ref().and_then(|r| r.config.uniform_lanes());
    assert!(lanes.is_some(), "{table}");
    assert!(
        result.decision.starts_with(&format!("lanes: {}; booth: add a desk", lanes.unwrap_or(0))),
        "{}",
        result.decision
    );
}

/// With the target on the lane-served groups, visitors (who wait at the booth) do not decide
/// the lane count, and no larger lane count in the range fails it.
#[test]
fn the_estate_recommendation_is_monotone_and_independent_of_the_booth() {
    let mut scenario = shipped("public-rental-estate");
    scenario.run.start = "06:30".into();
    scenario.run.duration_min = 90;
    let spec = || SweepSpec { max_replications: Some(10), ..SweepSpec::new(30.0, 1, 4, 3) };
    let result = planned(spec(), &scenario);
    let table = plan::render_table(&result);
    let rec = result.recommended.as_ref().and_then(|r| r.config.uniform_lanes());
    let Some(rec) = rec else { panic!("no recommendation: {table}") };
    for c in result.configurations.iter().filter(|c| c.config.desks.is_none() && c.config.vary.is_none()) {
        let lanes = c.config.uniform_lanes().unwrap_or(0);
        if lanes >= rec {
            assert_eq!(c.lanes, Verdict::Meets, "{} lanes: {table}", lanes);
        }
    }
    // The estate prices its lanes and desks: every configuration has a cost, and the cheapest
    // that meets both targets is the recommendation with the booth's desks.
    assert!(result.configurations.iter().all(|c| c.cost.is_some_and(|x| x > 0.0)), "{table}");
    let booth = result.booth.as_ref().unwrap_or_else(|| panic!("{table}"));
    let chosen = match booth.desks_needed {
        Some(d) => booth.lanes.with_desks(Some(d)),
        None => booth.lanes.clone(),
    };
    if booth.today == Verdict::Meets || booth.desks_needed.is_some() {
        let cheapest = result.cheapest.as_ref().unwrap_or_else(|| panic!("no cheapest: {table}"));
        assert_eq!(cheapest.config, chosen, "{table}");
        assert_eq!(Some(cheapest.cost), chosen.cost(&scenario));
    }
    // Visitors twice as many and twice as slow to register: the booth drowns, the lanes do not move.
    let mut busy = scenario.clone();
    busy.population.visitors_per_hour *= 2.0;
    busy.service.visitor_registration_s *= 2.0;
    let again = planned(spec(), &busy);
    assert_eq!(
        again.recommended.as_ref().and_then(|r| r.config.uniform_lanes()),
        Some(rec),
        "{table}\n{}",
        plan::render_table(&again)
    );
}

/// Per gate: Tianjin's east gate takes most of the traffic; its lanes and the west gate's are
/// sized apart, and one more lane everywhere still meets the target.
#[test]
fn a_per_gate_plan_gives_a_busy_gate_more_lanes_than_a_quiet_one() {
    let mut scenario = shipped("tianjin-wenhuacun");
    scenario.run.duration_min = 60;
    scenario.gates[0].share = 0.85;
    scenario.gates[1].share = 0.15;
    // A compound four times the size: the east gate's one lane out is loaded to ρ ≈ 0.8.
    let p = &mut scenario.population;
    (p.households, p.owners, p.renters, p.children, p.elderly) =
        (p.households * 4, p.owners * 4, p.renters * 4, p.children * 4, p.elderly * 4);
    let spec = SweepSpec { per_gate: true, max_replications: Some(9), ..SweepSpec::new(10.0, 1, 4, 3) };
    let result = planned(spec, &scenario);
    let table = plan::render_table(&result);
    let rec = result.recommended.as_ref().unwrap_or_else(|| panic!("no recommendation: {table}"));
    let (east, west) = (&rec.per_gate[0], &rec.per_gate[1]);
    assert!(east.1 > west.1, "east out {} vs west out {}: {table}", east.1, west.1);
    assert!(rec.config.uniform_lanes().is_none(), "{table}");
    // The check: one lane more everywhere was run and still meets the target.
    let more: Vec<u32> = rec.config.lanes.iter().map(|&l| if l > 0 { (l + 1).min(4) } else { 0 }).collect();
    let check = result.configurations.iter().find(|c| c.config.lanes == more && c.config.desks.is_none());
    assert!(check.is_some_and(|c| c.lanes == Verdict::Meets), "{table}");
}

/// What a replication put out, as bytes: figures, rows, audit log, violations.
fn outputs(rep: &Replication) -> (String, String, String, Vec<u8>, String) {
    (
        format!("{:?} {:?} {}", rep.figures, rep.gates, rep.updates),
        format!("{:?}", rep.passages),
        format!("{:?}", rep.queue),
        rep.audit_jsonl.clone().unwrap_or_default(),
        format!("{:?}", rep.violations),
    )
}

/// A plan's lane counts share one registration day per replication (issue 22): the runs that
/// take it — fewer lanes than the first run, and more, and after a night's re-confirmation —
/// put out the same figures, rows, audit log (hash chain included) and checker verdicts, byte
/// for byte, as runs that register everyone themselves.
#[test]
fn lane_counts_sharing_registration_day_put_out_the_same_bytes() {
    let mut scenario = shipped("tianjin-reconfirmation");
    scenario.run.duration_min = 15;
    // Registration through a network's authority is never shared.
    scenario.network = None;
    let shared = SharedRegistration::new();
    let mut terminals = 0;
    for lanes in [2, 1, 3] {
        let s = Config::uniform(&scenario, lanes).apply(&scenario);
        let own = simulate_keeping(&s, 5, Keep::ALL, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
        let taken = simulate_sharing(&s, 5, Keep::ALL, &shared, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
        let (own, taken) = (outputs(&own), outputs(&taken));
        assert!(own.3.len() > 100_000, "{lanes} lanes: an audit log of {} bytes", own.3.len());
        assert!(own == taken, "{lanes} lanes: a run taking the shared registration day differs from its own");
        terminals += 4 * lanes as usize + 2 * s.gates.len();
    }
    let sharing = shared.sharing();
    assert_eq!((sharing.days, sharing.taken), (1, 2), "one replication: one registration day, taken twice");
    let registered = sharing.terminals;
    // Lanes keep their terminal ids from one lane count to the next where the lanes before
    // them are the same: those were registered once.
    assert!(registered < terminals, "{registered} terminals registered for {terminals} in the runs");
}
