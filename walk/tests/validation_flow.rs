//! Lab bottleneck flows and the lane's service, and the bands' teeth: a model broken on purpose
//! fails them.

use gatelab_walk::validation::{self, Settings};

fn reports(settings: &Settings, name: &str) -> Vec<validation::CaseReport> {
    validation::run(settings, &[name.to_owned()]).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn bottleneck_specific_flow_is_in_the_lab_band_and_rises_with_width() {
    let r = reports(&Settings::default(), "bottleneck");
    let table = validation::table(&r);
    println!("{table}");
    assert_eq!(r.len(), 6);
    assert!(r.iter().all(|c| c.pass), "{table}");
}

#[test]
fn a_saturated_lane_passes_one_person_per_service_time() {
    let r = reports(&Settings::default(), "lane");
    let table = validation::table(&r);
    println!("{table}");
    assert!(r.iter().all(|c| c.pass), "{table}");
}

#[test]
fn the_bands_fail_a_broken_model() {
    // JuPedSim's collision-free speed model defaults (T 1 s, r 0.2 m, range 0.1 m): too slow
    // through doors, which is why ours differ. The bottleneck band must catch it.
    let mut settings = Settings { seeds: vec![1], ..Settings::default() };
    settings.params.time_gap_s = 1.0;
    settings.params.radius_m = 0.2;
    settings.params.shoulder_m = 0.4;
    settings.params.neighbour_range_m = 0.1;
    let r = reports(&settings, "bottleneck");
    println!("{}", validation::table(&r));
    assert!(r.iter().filter(|c| c.measured.starts_with("b ")).all(|c| !c.pass), "{}", validation::table(&r));
    // People who ignore each other ahead (a time gap of zero: everyone at free speed) leave the
    // fundamental diagram.
    let mut settings = Settings { seeds: vec![1], ..Settings::default() };
    settings.params.time_gap_s = 1e-3;
    let r = reports(&settings, "rimea-4");
    println!("{}", validation::table(&r));
    assert!(r.iter().any(|c| !c.pass), "{}", validation::table(&r));
}

#[test]
fn an_unknown_case_is_named_with_the_known_ones() {
    let err = validation::run(&Settings::default(), &["rimea-99".to_owned()]).unwrap_err();
    assert!(err.contains("rimea-99") && err.contains("bottleneck"), "{err}");
}
