//! Presentation attacks in the simulation (`[attacks]`): printed photos and phone replays of
//! enrolled residents at the face lanes, against the terminals' liveness check. The real core
//! judges every score; these tests read what it decided.

use gatelab_core::Policy;
use gatelab_core::audit::{AuditEvent, DiscardReason};
use gatelab_scenario::Scenario;
use gatelab_sim::engine::Replication;
use gatelab_tests::{audit_log, run_window, shipped};

fn with_threshold(min: f32) -> Scenario {
    let mut s = shipped("dongcheng-spoofing");
    let mut policy = s.policy().unwrap();
    policy.liveness_min = min;
    s.policy.resolved = Some(policy);
    // More attempts than the shipped four an hour, so every run has some; and no scanner
    // carried away for repair, so every attempt meets a working camera.
    s.attacks.as_mut().unwrap().per_hour = 40.0;
    s.faults.outages.clear();
    s.faults.camera_mtbf_h = 0.0;
    s
}

fn spoof_records(rep: &Replication) -> usize {
    audit_log(rep)
        .iter()
        .filter(|r| r.event == AuditEvent::FrameDiscarded { reason: DiscardReason::SuspectedSpoof })
        .count()
}

#[test]
fn at_the_default_threshold_attacks_and_refusals_are_counted_and_consent_holds() {
    let rep = run_window(shipped("dongcheng-spoofing"), "07:30", 60, 1);
    let a = rep.attacks.expect("an [attacks] scenario reports them");
    assert!(a.attack_presentations > 0.0 && a.live_presentations > 50.0, "{a:?}");
    assert!(a.attacks_accepted <= a.attack_presentations);
    assert!((a.apcer - a.attacks_accepted / a.attack_presentations).abs() < 1e-12);
    assert!((a.bpcer - a.live_refused / a.live_presentations).abs() < 1e-12);
    // Every suspected spoof the core refused is a live face refused or an attack refused.
    let spoofs = spoof_records(&rep) as f64;
    assert!(spoofs >= a.live_refused && spoofs <= a.live_refused + a.attack_presentations - a.attacks_accepted);
    // Live people refused came through on their cards: nobody is left at the gate.
    assert_eq!(rep.figures.passages, rep.figures.arrivals);
    let report = gatelab_core::check(&audit_log(&rep), &Policy::compliant());
    assert!(report.is_clean(), "{:?}", &report.violations[..report.violations.len().min(3)]);
    assert!(shipped("dongcheng").attacks.is_none(), "PAD is simulated only where asked for");
}

#[test]
fn with_the_threshold_at_one_no_attack_gets_in_and_face_users_fall_back_to_cards() {
    let rep = run_window(with_threshold(1.0), "07:30", 60, 2);
    let a = rep.attacks.unwrap();
    assert!(a.attack_presentations >= 10.0, "{a:?}");
    assert_eq!(a.attacks_accepted, 0.0, "an attack got in past a threshold of 1");
    assert_eq!(a.live_refused, a.live_presentations, "no live score reaches 1 either");
    assert_eq!(spoof_records(&rep) as f64, a.live_presentations + a.attack_presentations);
    // Everyone is let in by a card, ID or PIN instead: no face opens the gate, nobody is stuck.
    assert!(rep.passages.iter().all(|p| p.credential != "face" || p.decision.is_denied()), "a face opened the gate");
    assert_eq!(rep.figures.passages, rep.figures.arrivals);
    assert_eq!(rep.figures.unserved_at_end, 0.0);
    let report = gatelab_core::check(&audit_log(&rep), &Policy::compliant());
    assert!(report.is_clean(), "{:?}", &report.violations[..report.violations.len().min(3)]);
}

#[test]
fn with_the_check_off_the_photos_open_the_gate() {
    let off = run_window(with_threshold(0.0), "07:30", 60, 2).attacks.unwrap();
    let on = run_window(with_threshold(0.5), "07:30", 60, 2).attacks.unwrap();
    // Same seed, same attempts: without the check a resident's photo matches like their face.
    assert_eq!(off.attack_presentations, on.attack_presentations);
    assert!(off.apcer > 0.9, "a photo of an enrolled resident matched only {} of the time", off.apcer);
    assert_eq!(off.live_refused, 0.0);
    assert!(on.attacks_accepted < off.attacks_accepted, "the check stopped nothing: {on:?}");
}
