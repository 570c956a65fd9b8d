//! Policies are data: the files in `scenarios/policies/` are the built-ins, and the forced-face
//! story is caught by the checker with the rules named, while the same story under the compliant
//! policy is clean.

use gatelab_core::{Policy, Rule, check};
use gatelab_scenario::policy_file;
use gatelab_tests::{audit_log, run_window, shipped, workspace};

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
    // A lease as long as the deletion bound would let a cut-off terminal match a withdrawn
    // person after the bound: refused, naming both fields.
    let mut text = policy_file::to_toml(&Policy::compliant());
    text = text.replace("lease_ms = 30000", "lease_ms = 60000");
    let err = policy_file::parse(&text).unwrap_err();
    assert!(format!("{err:#}").contains("lease_ms") && format!("{err:#}").contains("deletion_bound_ms"), "{err:#}");
    let err = policy_file::load("no-such-policy").unwrap_err();
    assert!(format!("{err:#}").contains("compliant"), "the error lists what exists: {err:#}");
}

/// 07:00–08:15 at Dongcheng: rush hour, the scanner carried off for repair at 08:00,
/// residents who refuse face, couriers, withdrawals at the office.
fn dongcheng_morning(name: &str) -> (Vec<gatelab_core::AuditRecord>, gatelab_sim::figures::Figures) {
    let rep = run_window(shipped(name), "07:00", 75, 2020);
    (audit_log(&rep), rep.figures)
}

#[test]
fn compliant_morning_has_zero_violations() {
    let policy = Policy::compliant();
    let (log, figures) = dongcheng_morning("dongcheng");
    let report = check(&log, &policy);
    assert!(report.is_clean(), "{:#?}", report.violations);
    assert_eq!(figures.consent_violations, 0.0);
    assert!(figures.passages > 100.0 && figures.face_attempts > 0.0 && figures.uncontrolled_passages > 0.0);
}

#[test]
fn forced_face_is_caught_with_the_rules_named() {
    let policy = Policy::forced_face();
    let (log, figures) = dongcheng_morning("dongcheng-forced-face");
    let report = check(&log, &policy);
    assert_eq!(figures.consent_violations, report.violations.len() as f64);
    // The policy itself and the log both show face as the only way in (C2), frames of card users
    // kept (C3) and the gate held open when the scanner went (C7).
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
fn same_seed_same_bytes_other_seed_other_morning() {
    let a = run_window(shipped("dongcheng"), "07:30", 30, 5);
    let b = run_window(shipped("dongcheng"), "07:30", 30, 5);
    assert_eq!(a.audit_jsonl, b.audit_jsonl);
    assert_eq!(a.passages, b.passages);
    assert_eq!(a.queue, b.queue);
    let c = run_window(shipped("dongcheng"), "07:30", 30, 6);
    assert_ne!(a.passages, c.passages, "the seed must matter");
}
