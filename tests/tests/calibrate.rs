//! The calibration round trip: simulate a scenario with a known 5-minute demand profile and a
//! known lognormal service time, write its `passages.csv` as `gatelab run` does, calibrate from
//! it, and compare what came back with what was simulated — demand per 15 minutes, service mean
//! and CV — and, on a saturated lane, that the served count is wrong and the reconstruction not.

use std::path::{Path, PathBuf};

use gatelab_calibrate::{Calibration, Direction, Format, Options, event::ServiceKind, fragment};
use gatelab_scenario::Scenario;
use gatelab_sim::engine::Keep;

const MEAN_S: f64 = 2.5;
const CV: f64 = 0.35;

/// One gate, card lanes, no walking (a headway is then exactly a service), rows per 5 minutes.
fn scenario(lanes_out: u32, outbound_per_hour: &[f64]) -> Scenario {
    Scenario::parse(&scenario_text(lanes_out, outbound_per_hour)).unwrap_or_else(|e| panic!("test scenario: {e}"))
}

fn scenario_text(lanes_out: u32, outbound_per_hour: &[f64]) -> String {
    let rows: Vec<String> = outbound_per_hour
        .iter()
        .enumerate()
        .map(|(i, rate)| {
            let m = 7 * 60 + 5 * i;
            format!(
                "{{ start = \"{:02}:{:02}\", minutes = 5, outbound = {rate:.1}, inbound = 60.0, gate = \"main\" }}",
                m / 60,
                m % 60
            )
        })
        .collect();
    format!(
        r#"
name = "calibrate-round-trip"
description = "a sharp 5-minute peak, lognormal card service"
[run]
start = "07:00"
duration_min = {minutes}
seed = 19
[population]
households = 20000
owners = 40000
renters = 0
opt_out_share = 1.0
[[gates]]
name = "main"
lanes_in = 1
lanes_out = {lanes_out}
terminal = "card_only"
door_open_s = 3.0
lane_width_m = 0.9
walk_distance_m = 0.0
share = 1.0
[demand]
rows = [{rows}]
[behaviour]
walk_speed_mean = 1.34
walk_speed_sd = 0.26
tailgating_propensity = 0.0
face_retries = 0
walking = false
[service]
card_s = {MEAN_S}
distribution = "lognormal"
cv = {CV}
[policy]
name = "compliant"
"#,
        minutes = 5 * outbound_per_hour.len(),
        rows = rows.join(", "),
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatelab-calibrate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Simulate `replications` replications, write each one's passages.csv into `dir` as `gatelab
/// run` writes it, calibrate from them all (one day each); also each replication's true
/// outbound resident arrival times (seconds since midnight).
fn round_trip(scenario: &Scenario, replications: u32, dir: &Path) -> (Calibration, Vec<Vec<f64>>) {
    let keep = Keep { arrivals: true, ..Keep::ALL };
    let mut logs = Vec::new();
    let mut truth = Vec::new();
    for r in 0..replications {
        let seed = gatelab_sim::run::replication_seed(scenario.run.seed, r);
        let rep = gatelab_sim::engine::simulate_keeping(scenario, seed, keep, &|_| {}).unwrap();
        let path = dir.join(format!("passages-{r}.csv"));
        let mut w = csv::Writer::from_path(&path).unwrap();
        for row in &rep.passages {
            w.serialize(row).unwrap();
        }
        w.flush().unwrap();
        logs.push(path);
        let arrivals = rep.arrivals.as_ref().expect("arrivals kept");
        truth.push(
            arrivals
                .iter()
                .filter(|a| a.direction == gatelab_core::Direction::Outbound)
                .map(|a| a.at_ms as f64 / 1000.0)
                .collect(),
        );
    }
    let cal = gatelab_calibrate::calibrate(&logs, &Format::Passages, Options::default(), true, &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cal.days, replications as usize);
    (cal, truth)
}

/// Mean over replications of the true arrivals in [from, to) minutes.
fn mean_count(truth: &[Vec<f64>], from_min: u32, to_min: u32) -> f64 {
    truth.iter().map(|t| count(t, from_min, to_min)).sum::<f64>() / truth.len() as f64
}

fn count(truth: &[f64], from_min: u32, to_min: u32) -> f64 {
    truth.iter().filter(|&&t| t >= f64::from(from_min) * 60.0 && t < f64::from(to_min) * 60.0).count() as f64
}

/// The profile's expected arrivals in [from, to) minutes.
fn expected(profile: &[f64], from_min: u32, to_min: u32) -> f64 {
    profile
        .iter()
        .enumerate()
        .map(|(i, rate)| {
            let (a, b) = (7 * 60 + 5 * i as u32, 7 * 60 + 5 * i as u32 + 5);
            f64::from(b.min(to_min).saturating_sub(a.max(from_min))) / 60.0 * rate
        })
        .sum()
}

#[test]
fn a_simulated_peak_calibrates_back_to_its_demand_and_service_time() {
    // 2 card lanes serve 2,880/h: the 2,400/h peak queues them, the shoulders do not.
    let profile = [300.0, 300.0, 600.0, 1200.0, 2400.0, 2400.0, 1500.0, 900.0, 600.0, 300.0, 300.0, 300.0];
    let dir = scratch("round-trip");
    // Forty replications: a band of ±1.4 % of the peak quarter. (At ten, 07:30–07:45's
    // simulated mean itself fell 2.7 σ above the profile: the band is the model's, not loose.)
    const R: u32 = 40;
    let (cal, truth) = round_trip(&scenario(2, &profile), R, &dir);
    for q in 0..4 {
        let (from, to) = (7 * 60 + 15 * q, 7 * 60 + 15 * q + 15);
        let (fitted, served) = cal.arrivals_between(Some("main"), Direction::Out, from, to);
        // The simulation's own 95 % band for the mean of R counts of a Poisson process.
        let mean = expected(&profile, from, to);
        let half = 1.96 * (mean / f64::from(R)).sqrt();
        let simulated = mean_count(&truth, from, to);
        eprintln!(
            "quarter {q}: fitted {fitted:.1}, served {served:.1}, simulated {simulated:.1}, band {mean:.0} ± {half:.1}"
        );
        assert!((fitted - mean).abs() <= half, "quarter {q}: fitted {fitted:.1} outside {mean:.1} ± {half:.1}");
        // And the reconstruction is these runs' arrivals, not just near their mean.
        assert!((fitted - simulated).abs() <= 0.01 * simulated, "quarter {q}: {fitted} vs {simulated}");
    }
    // Inbound, 60 per hour: the hour's total.
    let (inbound, _) = cal.arrivals_between(Some("main"), Direction::In, 7 * 60, 8 * 60);
    let half = 1.96 * (60.0 / f64::from(R)).sqrt();
    assert!((inbound - 60.0).abs() <= half, "inbound {inbound:.1} outside 60 ± {half:.1}");
    let card = cal.fit_of(ServiceKind::Card).expect("card service fitted");
    let f = card.of(gatelab_calibrate::fit::Family::Lognormal);
    eprintln!(
        "card service: n {}, mean {:.3} s, cv {:.3}, KS {:.4}; gamma KS {:.4}",
        card.n, f.mean, f.cv, f.ks, card.gamma.ks
    );
    assert!((f.mean - MEAN_S).abs() <= 0.1 * MEAN_S, "mean {} vs {MEAN_S}", f.mean);
    assert!((f.cv - CV).abs() <= 0.1 * CV, "cv {} vs {CV}", f.cv);
    assert_eq!(card.best().family, gatelab_calibrate::fit::Family::Lognormal, "{card:?}");

    // The fragment is a usable part of a scenario: included, it validates and carries the rows.
    let text = fragment::write(&cal);
    std::fs::write(dir.join("fragment.toml"), &text).unwrap();
    // The same scenario without the keys the fragment sets.
    let mut including = String::from("include = [\"fragment.toml\"]\n");
    for line in scenario_text(2, &profile).lines() {
        let set_by_fragment =
            ["[demand]", "rows = [", "card_s", "distribution", "cv ="].iter().any(|k| line.starts_with(k));
        if !set_by_fragment {
            including.push_str(line);
            including.push('\n');
        }
    }
    let path = dir.join("scenario.toml");
    std::fs::write(&path, &including).unwrap();
    match Scenario::load(&path) {
        Ok(s) => assert_eq!(s.demand.rows.len(), cal.rows.len()),
        Err(e) => panic!("{e}\n{text}"),
    }
}

#[test]
fn on_a_saturated_lane_the_served_count_is_wrong_and_the_reconstruction_is_not() {
    // One lane serves 1,440/h; 3,000/h for ten minutes queues it for twenty.
    let profile = [300.0, 300.0, 300.0, 300.0, 3000.0, 3000.0, 300.0, 300.0, 300.0, 300.0, 300.0, 300.0];
    let dir = scratch("saturated");
    let (cal, truth) = round_trip(&scenario(1, &profile), 1, &dir);
    let (from, to) = (7 * 60 + 20, 7 * 60 + 30);
    let (fitted, served) = cal.arrivals_between(Some("main"), Direction::Out, from, to);
    let simulated = count(&truth[0], from, to);
    eprintln!("spike: simulated {simulated}, served {served}, reconstructed {fitted:.1}");
    assert!(served < 0.8 * simulated, "the log's served count {served} should fall short of {simulated}");
    assert!((fitted - simulated).abs() <= 0.02 * simulated, "reconstructed {fitted} vs simulated {simulated}");
    assert!(cal.rows.iter().any(|r| r.saturated_out.is_some()), "the spike's rows are flagged");
}

/// The shipped example is a reproducible round trip: `scenarios/sharp-peak.toml` simulates to
/// the shipped log byte for byte, the log calibrates to the shipped fragment, and the scenario
/// that includes it is valid and keeps the peak.
#[test]
fn the_shipped_example_log_is_reproducible_and_calibrates_to_the_shipped_fragment() {
    let scenario = gatelab_tests::shipped("sharp-peak");
    let rep = gatelab_sim::engine::simulate(
        &scenario,
        gatelab_sim::run::replication_seed(scenario.run.seed, 0),
        true,
        &|_| {},
    )
    .unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in &rep.passages {
        w.serialize(row).unwrap();
    }
    let simulated = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let log = gatelab_tests::workspace("scenarios/calibrated/sharp-peak-passages.csv");
    let shipped_log = std::fs::read_to_string(&log).unwrap();
    assert!(
        simulated == shipped_log,
        "gatelab run scenarios/sharp-peak.toml no longer writes the shipped log; regenerate it (README: Calibrate from your gate log)"
    );

    let cal =
        gatelab_calibrate::calibrate(&[log], &Format::Passages, Options::default(), true, &mut |_, _| {}).unwrap();
    let shipped = std::fs::read_to_string(gatelab_tests::workspace("scenarios/calibrated/sharp-peak.toml")).unwrap();
    let without_source = |t: &str| t.lines().filter(|l| !l.starts_with("# From ")).collect::<Vec<_>>().join("\n");
    assert_eq!(without_source(&fragment::write(&cal)), without_source(&shipped), "recalibrate the shipped fragment");

    let calibrated = gatelab_tests::shipped("sharp-peak-calibrated");
    assert_eq!(calibrated.demand.rows.len(), 12);
    let peak = calibrated.demand.rows.iter().map(|r| r.outbound).fold(0.0, f64::max);
    assert!(peak > 2000.0, "the 07:30 spike survives calibration: {peak}/h");
    assert!(calibrated.service.face_cv.is_some());
}
