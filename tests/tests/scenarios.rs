//! The shipped scenarios parse and validate; malformed ones are refused naming the field.

use gatelab_sim::scenario::{Scenario, parse_clock};
use gatelab_tests::workspace;

const SHIPPED: [&str; 5] =
    ["dongcheng", "dongcheng-forced-face", "tianjin-wenhuacun", "public-rental-estate", "courier-surge"];

#[test]
fn every_shipped_scenario_is_valid_and_names_a_known_policy() {
    for name in SHIPPED {
        let s = Scenario::load(&workspace(&format!("scenarios/{name}.toml"))).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(s.name, name);
        assert!(gatelab_core::Policy::builtin(&s.policy.name).is_some(), "{name}: policy {}", s.policy.name);
    }
    let forced = Scenario::load(&workspace("scenarios/dongcheng-forced-face.toml")).unwrap();
    assert_eq!(forced.policy.name, "forced-face");
}

fn broken(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(workspace("scenarios/dongcheng.toml")).unwrap();
    assert!(text.contains(from), "{from}");
    let err = Scenario::parse(&text.replacen(from, to, 1)).unwrap_err();
    format!("{err:#}")
}

#[test]
fn bad_values_are_refused_naming_the_field() {
    assert!(broken("opt_out_share = 0.15", "opt_out_share = 1.5").contains("population.opt_out_share"));
    assert!(broken("start = \"07:00\"", "start = \"7am\"").contains("run.start"));
    assert!(broken("lanes_in = 1\nlanes_out = 1", "lanes_in = 0\nlanes_out = 0").contains("gates[0] (north).lanes_in"));
    assert!(broken("gate = \"north\"", "gate = \"south\"").contains("faults.outages[0].gate"));
    assert!(broken("share = 1.0", "share = 0.5").contains("add up to 1"));
    assert!(broken("dt_s = 0.1", "dt_s = 5.0").contains("run.dt_s"));
    // Unknown or mistyped keys are named by the TOML layer, with the line.
    let msg = broken("households = 240", "housholds = 240");
    assert!(msg.contains("housholds"), "{msg}");
    let msg = broken("owners = 380", "owners = \"many\"");
    assert!(msg.contains("owners") || msg.contains("line"), "{msg}");
}

#[test]
fn clock_times_are_strict() {
    assert_eq!(parse_clock("07:45"), Some(465));
    for bad in ["7:45", "24:00", "07:60", "0745", "ab:cd"] {
        assert_eq!(parse_clock(bad), None, "{bad}");
    }
}
