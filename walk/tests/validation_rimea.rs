//! The RiMEA cases (bands and sources beside each case in `src/validation.rs`): three seeds each,
//! the mean inside the band. `gatelab validate` prints the same table.

use gatelab_walk::validation::{self, Settings};

fn assert_case(name: &str) {
    let reports = validation::run(&Settings::default(), &[name.to_owned()]).unwrap_or_else(|e| panic!("{name}: {e}"));
    let table = validation::table(&reports);
    println!("{table}");
    assert!(!reports.is_empty());
    assert!(reports.iter().all(|r| r.pass), "{name} out of its band:\n{table}");
}

#[test]
fn rimea_1_corridor_travel_time() {
    assert_case("rimea-1");
}

#[test]
fn rimea_4_fundamental_diagram() {
    assert_case("rimea-4");
}

#[test]
fn rimea_6_nobody_walks_through_the_corner() {
    assert_case("rimea-6");
}

#[test]
fn rimea_7_demographic_speeds() {
    assert_case("rimea-7");
}

#[test]
fn rimea_9_two_locked_doors_about_double_the_time() {
    assert_case("rimea-9");
}

#[test]
fn rimea_12_the_jam_is_in_front_of_the_bottleneck() {
    assert_case("rimea-12");
}
