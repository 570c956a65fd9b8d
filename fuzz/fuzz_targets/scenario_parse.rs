//! The scenario parser (`gatelab-scenario`): `Scenario::parse_named`, `validate`, `locate`.
//!
//! The input is read twice: as TOML text, and as a postcard-encoded `Scenario` (so the fuzzer
//! sets any number in any field directly, which text mutations reach only by luck).
//!
//! Invariants: nothing panics, whatever the text or the values; an error's line lies within the
//! text; a scenario that parses also validates; a valid scenario written as TOML parses again
//! to the same value, and an invalid one is refused naming the same field.
#![no_main]

use gatelab_fuzz::scenario::{Scenario, locate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(scenario) = postcard::from_bytes::<Scenario>(data) {
        values(&scenario);
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let lines = text.split('\n').count();
    match Scenario::parse_named(text, "fuzz.toml") {
        Ok(scenario) => {
            assert_eq!(scenario.validate(), Ok(()));
            let _ = (scenario.start_min(), scenario.residents());
            let written = toml::to_string(&scenario).expect("a parsed scenario serialises");
            let again = Scenario::parse_named(&written, "written.toml")
                .unwrap_or_else(|e| panic!("written back, the scenario no longer parses: {e}\n{written}"));
            // Debug, not PartialEq: NaN is not equal to itself.
            assert_eq!(format!("{again:?}"), format!("{scenario:?}"));
        }
        Err(e) => {
            if let Some(line) = e.line {
                assert!((1..=lines).contains(&line), "error at line {line} of {lines}: {e}");
            }
            assert!(!e.to_string().is_empty());
        }
    }
    // Field paths as `validate` writes them, against whatever the text holds.
    for field in ["run.start", "gates[0].share", "gates[1].lanes_in", "demand.profile[2]", "faults.outages[0]"] {
        if let Some(line) = locate(text, field) {
            assert!((1..=lines).contains(&line));
        }
    }
});

/// Any values at all: `validate` decides, and the TOML form is judged the same.
fn values(scenario: &Scenario) {
    let verdict = scenario.validate();
    let _ = (scenario.start_min(), scenario.residents());
    // TOML cannot hold every value (e.g. integers above i64::MAX); those are not written, or
    // (toml 1 writes a u64 it cannot read back) not read.
    let Ok(written) = toml::to_string(scenario) else { return };
    let parsed = Scenario::parse_named(&written, "written.toml");
    if parsed.as_ref().is_err_and(|e| e.to_string().contains("value was too large")) {
        return;
    }
    match (verdict, parsed) {
        (Ok(()), Ok(mut again)) => {
            // Decoded values carry no resolved policy (it is not part of the file); parsing
            // resolves a built-in name. Compare what the file says.
            again.policy.resolved = scenario.policy.resolved.clone();
            assert_eq!(format!("{again:?}"), format!("{scenario:?}"))
        }
        (Err(invalid), Err(e)) => assert_eq!(e.field, invalid.field, "{e}"),
        (verdict, parsed) => panic!("validate gave {verdict:?}, its TOML form {parsed:?}\n{written}"),
    }
}
