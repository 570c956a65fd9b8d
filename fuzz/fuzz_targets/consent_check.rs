//! The consent checker (`gatelab_core::checker`) over any log of audit records, under both
//! built-in policies.
//!
//! The input is a postcard-encoded `Vec<AuditRecord>` (the records' wire form, so the target
//! follows the format as it changes; small varint ids make the fuzzer reuse persons,
//! credentials and terminals). Invariants: nothing panics; the streaming `Checker` and `check`
//! give the same report; every violation points at a record already seen; the policy's own
//! violations come first and are those of the empty log; the rules whose breach is one record
//! (C6: an export let through, C7: a gate held open for all) are reported exactly once per such
//! record; the log read back from its JSON Lines form is judged the same.
#![no_main]

use gatelab_core::audit::{AuditEvent, OpenCause, UncontrolledCause, jsonl};
use gatelab_core::{AuditRecord, Checker, Policy, Rule, check};
use gatelab_fuzz::rechain;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(log) = postcard::from_bytes::<Vec<AuditRecord>>(data) else { return };
    for policy in [Policy::compliant(), Policy::forced_face()] {
        judge(&log, &policy);
    }
});

fn judge(log: &[AuditRecord], policy: &Policy) {
    let of_policy = check(&[], policy).violations;
    assert!(of_policy.iter().all(|v| v.record.is_none()));

    let mut checker = Checker::new(policy);
    assert_eq!(checker.violations(), of_policy.as_slice());
    for (i, r) in log.iter().enumerate() {
        let before = checker.violations().len();
        checker.observe(i, r);
        for v in &checker.violations()[before..] {
            let at = v.record.unwrap_or_else(|| panic!("record {i} gave a violation without a record: {v}"));
            assert!(at <= i, "record {i} gave a violation at the later record {at}: {v}");
            assert!(!v.message.is_empty());
            let _ = v.to_string();
        }
    }
    let streamed = checker.finish();
    let report = check(log, policy);
    assert_eq!(streamed, report);
    assert_eq!(report.records, log.len());
    assert_eq!(&report.violations[..of_policy.len()], of_policy.as_slice());

    let at_record =
        |rule: Rule, i: usize| report.violations.iter().filter(|v| v.rule == rule && v.record == Some(i)).count();
    for (i, r) in log.iter().enumerate() {
        match r.event {
            AuditEvent::ExportAttempt { refused: false, .. } => assert_eq!(at_record(Rule::C6, i), 1),
            AuditEvent::ExportAttempt { refused: true, .. } => assert_eq!(at_record(Rule::C6, i), 0),
            AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll } => assert_eq!(at_record(Rule::C7, i), 1),
            AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen } => {
                assert_eq!(at_record(Rule::C7, i), 1)
            }
            _ => {}
        }
    }

    if let Some(i) = report.first_broken_link {
        assert!(i < log.len() && at_record(Rule::C8, i) >= 1, "broken link at {i} is not a C8 violation there");
    }
    assert_eq!(check(&rechain(log), policy).first_broken_link, None, "a correctly chained log verifies");

    let mut text = Vec::new();
    jsonl::write(&mut text, log).expect("writing to memory");
    let read = jsonl::read(text.as_slice()).expect("a written log reads");
    assert_eq!(check(&read, policy), report);
}
