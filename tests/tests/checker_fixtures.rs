//! Each rule C1–C8 has a hand-written violating log and a passing one (`tests/fixtures/audit/`).
//! The violating log must be caught with exactly that rule named; the passing one must be clean.

use gatelab_cli::check::check_file;
use gatelab_core::{Policy, Rule};
use gatelab_tests::fixture;

#[test]
fn every_rule_has_a_caught_violation_and_a_clean_pass() {
    let policy = Policy::compliant();
    for rule in Rule::ALL {
        let name = format!("{rule}").to_lowercase();
        let fail = check_file(&fixture(&format!("audit/{name}-fail.jsonl")), &policy).expect("fixture parses");
        let rules: Vec<Rule> = fail.violations.iter().map(|v| v.rule).collect();
        assert!(!rules.is_empty(), "{name}-fail.jsonl: nothing caught");
        assert!(
            rules.iter().all(|r| *r == rule),
            "{name}-fail.jsonl: expected only {rule}, got {:#?}",
            fail.violations
        );
        assert!(fail.violations.iter().all(|v| v.record.is_some() && !v.message.is_empty()));

        let pass = check_file(&fixture(&format!("audit/{name}-pass.jsonl")), &policy).expect("fixture parses");
        assert!(pass.is_clean(), "{name}-pass.jsonl: {:#?}", pass.violations);
    }
}

#[test]
fn violations_point_at_the_offending_record() {
    let policy = Policy::compliant();
    let report = check_file(&fixture("audit/c6-fail.jsonl"), &policy).unwrap();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].record, Some(2));
    let report = check_file(&fixture("audit/c8-fail.jsonl"), &policy).unwrap();
    assert!(report.violations.iter().any(|v| v.record == Some(3) && v.message.contains("sequence number 4")));
}

#[test]
fn a_malformed_line_is_named() {
    let err = check_file(&fixture("audit/malformed.jsonl"), &Policy::compliant()).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("malformed.jsonl"), "{msg}");
    assert!(msg.contains("line 3"), "{msg}");
}

#[test]
fn a_missing_log_is_an_error_naming_it() {
    let err = check_file(&fixture("audit/does-not-exist.jsonl"), &Policy::compliant()).unwrap_err();
    assert!(format!("{err:#}").contains("does-not-exist.jsonl"));
}

#[test]
fn an_edited_record_breaks_the_hash_chain_there() {
    let policy = Policy::compliant();
    let honest = check_file(&fixture("audit/c4-pass.jsonl"), &policy).unwrap();
    assert_eq!(honest.first_broken_link, None);
    // The deletion's reason was changed after the fact: only the chain can tell.
    let edited = check_file(&fixture("audit/chain-edited.jsonl"), &policy).unwrap();
    assert_eq!(edited.first_broken_link, Some(5), "{:#?}", edited.violations);
    assert!(edited.violations.iter().all(|v| v.rule == Rule::C8), "{:#?}", edited.violations);
    assert!(edited.violations[0].message.contains("hash chain breaks at sequence number 5"));
}

#[test]
fn an_inserted_record_with_a_forged_link_breaks_the_chain_at_the_next_record() {
    let policy = Policy::compliant();
    // c4-fail never deletes the withdrawn template (C4). Someone inserted the missing deletion
    // with a correct link and renumbered what followed: the rules are then satisfied...
    let forged = check_file(&fixture("audit/chain-inserted.jsonl"), &policy).unwrap();
    assert_eq!(forged.count(Rule::C4), 0);
    // ...but the record after the insertion no longer links to its predecessor.
    assert_eq!(forged.first_broken_link, Some(6), "{:#?}", forged.violations);
    assert!(!forged.is_clean());
}
