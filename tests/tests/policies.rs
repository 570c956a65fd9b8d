//! Policies are data: the files in `scenarios/policies/` are the built-ins, and the forced-face
//! story is caught by the checker with the rules named, while the same story under the compliant
//! policy is clean.

use gatelab_core::{Policy, Rule, check};
use gatelab_sim::demo::{Script, scripted_morning};
use gatelab_sim::policy_file;
use gatelab_tests::workspace;

#[test]
fn policy_files_are_the_builtins() {
    for name in ["compliant", "forced-face"] {
        let path = workspace(&format!("scenarios/policies/{name}.toml"));
        let from_file = policy_file::load(path.to_str().unwrap()).unwrap();
        assert_eq!(from_file, Policy::builtin(name).unwrap());
        // And what `gatelab policy show` prints reads back the same.
        assert_eq!(policy_file::parse(&policy_file::to_toml(&from_file)).unwrap(), from_file);
    }
}

#[test]
fn a_bad_policy_file_names_the_field() {
    let err = policy_file::parse("name = \"x\"\nface_optional = \"yes\"\n").unwrap_err();
    assert!(format!("{err:#}").contains("face_optional"), "{err:#}");
    let err = policy_file::load("no-such-policy").unwrap_err();
    assert!(format!("{err:#}").contains("compliant"), "the error lists what exists: {err:#}");
}

#[test]
fn compliant_morning_has_zero_violations() {
    let policy = Policy::compliant();
    let (log, outcome) = scripted_morning(&policy, Script::default());
    let report = check(&log, &policy);
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert!(outcome.grants > 0 && outcome.templates_deleted > 0 && outcome.tailgating_detected > 0);
}

#[test]
fn forced_face_is_caught_with_the_rules_named() {
    let policy = Policy::forced_face();
    let (log, _) = scripted_morning(&policy, Script::default());
    let report = check(&log, &policy);
    // The policy itself and the log both show face as the only way in (C2), frames of card users
    // kept (C3) and the gate held open on a fault (C7).
    for rule in [Rule::C2, Rule::C3, Rule::C7] {
        assert!(
            report.violations.iter().any(|v| v.rule == rule && v.record.is_none()),
            "{rule} not flagged on the policy"
        );
        assert!(
            report.violations.iter().any(|v| v.rule == rule && v.record.is_some()),
            "{rule} not flagged in the log"
        );
    }
    // Judged by the compliant policy, the same log still shows what happened at the gate.
    let by_log_only = check(&log, &Policy::compliant());
    assert!(by_log_only.count(Rule::C2) > 0 && by_log_only.count(Rule::C7) > 0);
}

#[test]
fn the_script_is_deterministic() {
    let policy = Policy::compliant();
    let a = scripted_morning(&policy, Script::default());
    let b = scripted_morning(&policy, Script::default());
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}
