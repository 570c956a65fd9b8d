//! The terminal state machine: door windows, tailgating, forced and held-open doors, degrading
//! on faults, clock steps, and no panic on any input sequence.

use gatelab_core::audit::{AlarmKind, AuditEvent, Component, DecisionReason, OpenCause, UncontrolledCause, jsonl};
use gatelab_core::consent::{ConsentForm, Grantor, Purpose};
use gatelab_core::policy::FaultMode;
use gatelab_core::*;
use proptest::prelude::*;

const DIM: usize = 8;

fn terminal(policy: Policy) -> Terminal {
    let config = TerminalConfig::new(Gate { id: GateId(3) }.inbound(), CompoundId(1), DIM);
    Terminal::new(config, policy).unwrap()
}

fn run(t: &mut Terminal, now: u64, e: Event) -> Vec<Action> {
    t.handle(Timestamp(now), e).collect()
}

fn audits(actions: &[Action]) -> Vec<AuditEvent> {
    actions.iter().filter_map(|a| if let Action::Audit(r) = a { Some(r.event) } else { None }).collect()
}

/// A terminal with person 1 (owner, card 11) and person 2 (owner, card 12, enrolled face).
fn populated(policy: Policy) -> Terminal {
    let mut t = terminal(policy);
    for p in [1u32, 2] {
        let person = Person { id: PersonId(p), kind: PersonKind::Owner, household: None, age_years: 40 };
        run(&mut t, 0, Event::Admin(AdminCommand::RegisterPerson(person)));
        let card = Credential {
            id: CredentialId(10 + u64::from(p)),
            holder: PersonId(p),
            kind: CredentialKind::IcCard,
            expires_at: None,
        };
        run(&mut t, 0, Event::Admin(AdminCommand::IssueCredential(card)));
    }
    let consent = ConsentRecord::face_access(
        ConsentId(1),
        PersonId(2),
        CompoundId(1),
        Grantor::Subject,
        Timestamp(0),
        10 * 86_400_000,
    );
    run(&mut t, 0, Event::Admin(AdminCommand::RecordConsent(consent)));
    run(&mut t, 0, Event::Admin(AdminCommand::Enroll { person: PersonId(2), embedding: face(2) }));
    assert!(t.store().contains(PersonId(2)));
    t
}

fn face(p: u32) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[p as usize % DIM] = 1.0;
    v
}

fn card(p: u32) -> Event {
    Event::CredentialPresented {
        kind: CredentialKind::IcCard,
        credential: CredentialId(10 + u64::from(p)),
        frame_captured: false,
    }
}

#[test]
fn one_grant_one_passage_then_the_door_shuts() {
    let mut t = populated(Policy::compliant());
    let a = run(&mut t, 1_000, card(1));
    assert!(a.contains(&Action::Grant { person: PersonId(1), credential: CredentialKind::IcCard }));
    assert!(a.contains(&Action::OpenDoor { cause: OpenCause::Grant }));
    assert!(audits(&a).contains(&AuditEvent::DoorOpened { cause: OpenCause::Grant }));
    let a = run(&mut t, 2_000, Event::PassageSensed);
    assert!(audits(&a).contains(&AuditEvent::Passage));
    assert!(a.contains(&Action::CloseDoor), "the door shuts as soon as everyone granted is through");
}

#[test]
fn a_follower_in_the_same_window_is_a_detected_tailgater() {
    let mut t = populated(Policy::compliant());
    run(&mut t, 1_000, card(1));
    run(&mut t, 2_000, Event::PassageSensed);
    let a = run(&mut t, 2_400, Event::PassageSensed);
    assert!(audits(&a).contains(&AuditEvent::UncontrolledPassage { cause: UncontrolledCause::Tailgating }));
    assert!(a.contains(&Action::Alarm(AlarmKind::Tailgating)));
    assert_eq!(t.stats().tailgating_detected, 1);
    // Two grants in one window cover two passages.
    let mut t = populated(Policy::compliant());
    run(&mut t, 1_000, card(1));
    run(&mut t, 1_200, Event::FaceProbe { embedding: face(2) });
    run(&mut t, 2_000, Event::PassageSensed);
    let a = run(&mut t, 2_100, Event::PassageSensed);
    assert!(audits(&a).contains(&AuditEvent::Passage));
    assert_eq!(t.stats().tailgating_detected, 0);
}

#[test]
fn the_door_closes_on_its_timer_and_timeouts_are_announced() {
    let mut t = populated(Policy::compliant());
    run(&mut t, 1_000, card(1));
    let close_at = t.poll_timeout().unwrap();
    assert_eq!(close_at, Timestamp(1_000 + t.config().door_open_ms));
    let a = run(&mut t, close_at.0, Event::Tick);
    assert!(a.contains(&Action::CloseDoor));
    // After the closing grace the window is over: a passage now is unexplained.
    let a = run(&mut t, close_at.0 + 10_000, Event::PassageSensed);
    assert!(audits(&a).contains(&AuditEvent::UncontrolledPassage { cause: UncontrolledCause::Unexplained }));
}

#[test]
fn forced_and_held_open_doors_raise_alarms() {
    let mut t = populated(Policy::compliant());
    let a = run(&mut t, 1_000, Event::DoorSensor { open: true });
    assert!(a.contains(&Action::Alarm(AlarmKind::DoorForced)));
    let a = run(&mut t, 1_500, Event::PassageSensed);
    assert!(audits(&a).contains(&AuditEvent::UncontrolledPassage { cause: UncontrolledCause::DoorForced }));
    run(&mut t, 2_000, Event::DoorSensor { open: false });

    run(&mut t, 10_000, card(1));
    run(&mut t, 10_100, Event::DoorSensor { open: true });
    run(&mut t, 11_000, Event::PassageSensed); // close commanded
    let held_at = t.poll_timeout().unwrap();
    let a = run(&mut t, held_at.0, Event::Tick);
    assert!(a.contains(&Action::Alarm(AlarmKind::DoorHeldOpen)));
    // The alarm fires once; what remains is the template's retention deadline.
    assert_eq!(t.poll_timeout(), Some(Timestamp(10 * 86_400_000)));
}

#[test]
fn faults_degrade_to_cards_and_never_open_the_door() {
    let mut t = populated(Policy::compliant());
    for c in [Component::Camera, Component::Matcher] {
        let a = run(&mut t, 1_000, Event::ComponentFault(c));
        assert!(!a.iter().any(|x| matches!(x, Action::OpenDoor { .. })));
        assert!(!t.face_available());
        let a = run(&mut t, 2_000, Event::FaceProbe { embedding: face(2) });
        assert!(a.iter().any(|x| matches!(x, Action::Deny { reason: DecisionReason::FaceUnavailable, .. })));
        let a = run(&mut t, 3_000, card(1));
        assert!(a.iter().any(|x| matches!(x, Action::Grant { .. })), "cards still work (C7)");
        run(&mut t, 3_500, Event::PassageSensed);
        run(&mut t, 4_000, Event::ComponentRecovered(c));
        assert!(t.face_available());
    }
}

#[test]
fn a_presentation_scored_below_the_liveness_threshold_is_refused_and_the_card_still_opens() {
    let mut t = populated(Policy::compliant());
    let min = Policy::compliant().liveness_min;
    for score in [min - 0.01, 0.0, f32::NAN] {
        let a = run(&mut t, 1_000, Event::ScoredFaceProbe { embedding: face(2), liveness: score });
        assert!(
            a.iter().any(|x| matches!(x, Action::Deny { reason: DecisionReason::SuspectedSpoof, .. })),
            "{score}: {a:?}"
        );
        let records = audits(&a);
        assert!(
            records
                .contains(&AuditEvent::FrameDiscarded { reason: gatelab_core::audit::DiscardReason::SuspectedSpoof })
        );
        assert!(
            !records.iter().any(|e| matches!(e, AuditEvent::MatchAttempt { .. })),
            "{score}: a suspected spoof is never searched"
        );
        assert!(!a.iter().any(|x| matches!(x, Action::OpenDoor { .. })));
    }
    assert_eq!(t.stats().presentations_refused, 3);
    // The resident behind it (or the real one) still has a card (C7).
    let a = run(&mut t, 2_000, card(2));
    assert!(a.iter().any(|x| matches!(x, Action::Grant { .. })), "the card opens");
    run(&mut t, 2_500, Event::PassageSensed);
    // At the threshold a live face is matched as before.
    let a = run(&mut t, 9_000, Event::ScoredFaceProbe { embedding: face(2), liveness: min });
    assert!(a.iter().any(|x| matches!(x, Action::Grant { person: PersonId(2), .. })), "{a:?}");
    // A camera without PAD sends unscored probes: not judged.
    run(&mut t, 9_500, Event::PassageSensed);
    let a = run(&mut t, 20_000, Event::FaceProbe { embedding: face(2) });
    assert!(a.iter().any(|x| matches!(x, Action::Grant { .. })));
    // 0 turns the check off.
    let mut off = populated(Policy { liveness_min: 0.0, ..Policy::compliant() });
    let a = run(&mut off, 1_000, Event::ScoredFaceProbe { embedding: face(2), liveness: 0.0 });
    assert!(a.iter().any(|x| matches!(x, Action::Grant { .. })));
}

#[test]
fn open_for_all_policy_holds_the_door_and_audits_every_passage() {
    let mut policy = Policy::compliant();
    policy.on_fault = FaultMode::OpenForAll;
    let mut t = populated(policy);
    let a = run(&mut t, 1_000, Event::ComponentFault(Component::Camera));
    assert!(a.contains(&Action::OpenDoor { cause: OpenCause::FaultOpenAll }));
    for i in 0..5 {
        let a = run(&mut t, 2_000 + i, Event::PassageSensed);
        assert!(audits(&a).contains(&AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen }));
    }
    let a = run(&mut t, 9_000, Event::ComponentRecovered(Component::Camera));
    assert!(a.contains(&Action::CloseDoor));
}

fn open_for_all() -> Policy {
    let mut policy = Policy::compliant();
    policy.on_fault = FaultMode::OpenForAll;
    policy
}

/// Issue 14: a fault inside a grant's window widens it to "open for everyone", and that change
/// is audited at the fault; the granted person passes as granted, the others uncontrolled.
#[test]
fn a_fault_during_a_grant_window_is_audited_as_opening_the_door_for_everyone() {
    let mut t = populated(open_for_all());
    let a = run(&mut t, 1_000, card(1));
    assert!(a.contains(&Action::OpenDoor { cause: OpenCause::Grant }));
    let a = run(&mut t, 1_500, Event::ComponentFault(Component::Camera));
    assert_eq!(
        audits(&a),
        [
            AuditEvent::ComponentFault { component: Component::Camera },
            AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll }
        ]
    );
    assert!(a.contains(&Action::OpenDoor { cause: OpenCause::FaultOpenAll }));
    let mut log: Vec<AuditEvent> = Vec::new();
    for i in 0..3 {
        log.extend(audits(&run(&mut t, 2_000 + i, Event::PassageSensed)));
    }
    let fault_open = AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen };
    assert_eq!(log, [AuditEvent::Passage, fault_open, fault_open], "the granted person is counted once, as granted");
    // Still open long after the grant's own window would have closed.
    let a = run(&mut t, 60_000, Event::PassageSensed);
    assert_eq!(audits(&a), [fault_open]);
    let a = run(&mut t, 61_000, Event::ComponentRecovered(Component::Camera));
    assert!(a.contains(&Action::CloseDoor));
}

/// Issue 14: the same inside a guard's override window, which used to swallow the fault.
#[test]
fn a_fault_during_a_guard_override_window_opens_the_door_for_everyone() {
    let mut t = populated(open_for_all());
    let guard = Person { id: PersonId(9), kind: PersonKind::Guard, household: None, age_years: 50 };
    run(&mut t, 0, Event::Admin(AdminCommand::RegisterPerson(guard)));
    let key =
        Credential { id: CredentialId(99), holder: PersonId(9), kind: CredentialKind::GuardOverride, expires_at: None };
    run(&mut t, 0, Event::Admin(AdminCommand::IssueCredential(key)));
    let a = run(&mut t, 1_000, Event::GuardOverride { credential: CredentialId(99) });
    assert!(a.contains(&Action::OpenDoor { cause: OpenCause::GuardOverride }));
    let a = run(&mut t, 1_500, Event::ComponentFault(Component::Matcher));
    assert!(audits(&a).contains(&AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll }));
    assert!(a.contains(&Action::OpenDoor { cause: OpenCause::FaultOpenAll }));
    let a = run(&mut t, 30_000, Event::PassageSensed);
    assert_eq!(audits(&a), [AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen }]);
    // A grant inside the wider window does not narrow it.
    let a = run(&mut t, 31_000, card(1));
    assert!(!a.iter().any(|x| matches!(x, Action::OpenDoor { .. })));
    assert!(!audits(&a).iter().any(|e| matches!(e, AuditEvent::DoorOpened { .. })));
    assert!(t.door_commanded_open());
}

/// Under a compliant policy the same fault in the same window changes nothing about the door.
#[test]
fn a_fault_during_a_grant_window_under_a_compliant_policy_leaves_the_window_alone() {
    let mut t = populated(Policy::compliant());
    run(&mut t, 1_000, card(1));
    let a = run(&mut t, 1_500, Event::ComponentFault(Component::Camera));
    assert_eq!(audits(&a), [AuditEvent::ComponentFault { component: Component::Camera }]);
    let a = run(&mut t, 2_000, Event::PassageSensed);
    assert_eq!(audits(&a)[0], AuditEvent::Passage);
}

#[test]
fn a_clock_stepping_back_is_audited_and_does_not_rewind() {
    let mut t = populated(Policy::compliant());
    run(&mut t, 50_000, Event::Tick);
    let a = run(&mut t, 10_000, Event::Tick);
    assert!(audits(&a).contains(&AuditEvent::ClockWentBackwards { reported: Timestamp(10_000) }));
    assert_eq!(t.now(), Timestamp(50_000));
    // A jump forward past the retention deletes the template.
    let a = run(&mut t, 11 * 86_400_000, Event::Tick);
    assert!(audits(&a).iter().any(|e| matches!(e, AuditEvent::TemplateDeleted { person: PersonId(2), .. })));
}

#[test]
fn audit_records_round_trip_through_json_lines_and_postcard() {
    let mut t = populated(Policy::compliant());
    let mut log = Vec::new();
    for (now, e) in [(1_000, card(1)), (1_200, Event::FaceProbe { embedding: face(2) }), (2_000, Event::PassageSensed)]
    {
        log.extend(t.handle(Timestamp(now), e).filter_map(|a| if let Action::Audit(r) = a { Some(r) } else { None }));
    }
    let mut buf = Vec::new();
    jsonl::write(&mut buf, &log).unwrap();
    assert_eq!(jsonl::read(&buf[..]).unwrap(), log);
    for r in &log {
        let bytes = postcard::to_allocvec(r).unwrap();
        assert_eq!(&postcard::from_bytes::<AuditRecord>(&bytes).unwrap(), r);
    }
    let err = jsonl::read(&b"{\"seq\":0}\n"[..]).unwrap_err();
    assert_eq!(err.line(), 1);
    assert!(err.to_string().contains("line 1"));
}

fn arb_event() -> impl Strategy<Value = Event> {
    let id = 0u64..30;
    let person = (0u32..6).prop_map(PersonId);
    let kind = prop::sample::select(CredentialKind::ALL.to_vec());
    let floats = prop::collection::vec(prop_oneof![any::<f32>(), -1.0f32..1.0], 0..12);
    let admin = prop_oneof![
        (
            person.clone(),
            prop::sample::select(vec![
                PersonKind::Owner,
                PersonKind::Renter,
                PersonKind::Visitor,
                PersonKind::Courier,
                PersonKind::Guard
            ]),
            any::<u8>()
        )
            .prop_map(|(id, kind, age_years)| AdminCommand::RegisterPerson(Person {
                id,
                kind,
                household: None,
                age_years
            })),
        person.clone().prop_map(AdminCommand::PersonLeft),
        (id.clone(), person.clone(), kind.clone(), prop::option::of(any::<u64>())).prop_map(
            |(i, holder, kind, exp)| AdminCommand::IssueCredential(Credential {
                id: CredentialId(i),
                holder,
                kind,
                expires_at: exp.map(Timestamp)
            })
        ),
        id.clone().prop_map(|i| AdminCommand::RevokeCredential(CredentialId(i))),
        (person.clone(), any::<u64>(), any::<u64>(), any::<bool>(), any::<bool>()).prop_map(
            |(p, given, ret, explicit, separate)| {
                AdminCommand::RecordConsent(ConsentRecord {
                    id: ConsentId(given),
                    person: p,
                    purpose: Purpose::FaceAccess,
                    scope: CompoundId(1),
                    form: if separate { ConsentForm::Separate } else { ConsentForm::Bundled },
                    explicit,
                    grantor: Grantor::Subject,
                    given_at: Timestamp(given % 100_000),
                    retention_ms: ret,
                })
            }
        ),
        person.clone().prop_map(AdminCommand::WithdrawConsent),
        (person, floats.clone()).prop_map(|(person, embedding)| AdminCommand::Enroll { person, embedding }),
    ];
    prop_oneof![
        (kind, id.clone(), any::<bool>()).prop_map(|(kind, i, frame_captured)| Event::CredentialPresented {
            kind,
            credential: CredentialId(i),
            frame_captured
        }),
        floats.clone().prop_map(|embedding| Event::FaceProbe { embedding }),
        (floats, any::<f32>()).prop_map(|(embedding, liveness)| Event::ScoredFaceProbe { embedding, liveness }),
        Just(Event::PassageSensed),
        any::<bool>().prop_map(|open| Event::DoorSensor { open }),
        prop_oneof![Just(Component::Camera), Just(Component::Matcher)].prop_map(Event::ComponentFault),
        prop_oneof![Just(Component::Camera), Just(Component::Matcher)].prop_map(Event::ComponentRecovered),
        id.prop_map(|i| Event::GuardOverride { credential: CredentialId(i) }),
        Just(Event::Tick),
        admin.prop_map(Event::Admin),
    ]
}

proptest! {
    /// No input sequence makes the terminal panic, its audit sequence numbers stay gap-free,
    /// and no template ever exists without live consent.
    #[test]
    fn arbitrary_inputs_never_panic(events in prop::collection::vec((prop_oneof![0u64..200_000, any::<u64>()], arb_event()), 1..60)) {
        for precision in [Precision::F32, Precision::Int8] {
            let mut config = TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), DIM);
            config.precision = precision;
            let mut t = Terminal::new(config, Policy::compliant()).unwrap();
            let mut next_seq = 0;
            for (now, e) in events.iter().cloned() {
                for a in t.handle(Timestamp(now), e) {
                    if let Action::Audit(r) = a {
                        prop_assert_eq!(r.seq, next_seq);
                        next_seq += 1;
                    }
                }
                let now = t.now();
                for p in t.store().persons() {
                    prop_assert!(t.ledger().active(p, now).is_some());
                }
                let _ = t.poll_timeout();
            }
        }
    }
}

proptest! {
    /// Whatever bytes arrive (a corrupt wire frame, a garbled log line), decoding either fails
    /// cleanly or yields records the checker digests without panicking.
    #[test]
    fn corrupt_logs_never_panic_the_checker(frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..48), 1..40), text in ".{0,200}") {
        let mut checker = Checker::new(&Policy::forced_face());
        let mut index = 0;
        for frame in &frames {
            if let Ok(record) = postcard::from_bytes::<AuditRecord>(frame) {
                checker.observe(index, &record);
                index += 1;
            }
        }
        if let Ok(record) = jsonl::parse_line(&text, 1) {
            checker.observe(index, &record);
        }
        let report = checker.finish();
        prop_assert!(report.violations.iter().all(|v| !v.message.is_empty()));
    }
}

#[test]
fn outages_and_clock_jumps_neither_grant_wrongly_nor_skip_deletions() {
    let mut t = populated(Policy::compliant());
    // A renter's card valid for one day.
    let renter = Person { id: PersonId(3), kind: PersonKind::Renter, household: None, age_years: 30 };
    run(&mut t, 0, Event::Admin(AdminCommand::RegisterPerson(renter)));
    let card = Credential {
        id: CredentialId(13),
        holder: PersonId(3),
        kind: CredentialKind::IcCard,
        expires_at: Some(Timestamp(86_400_000)),
    };
    run(&mut t, 0, Event::Admin(AdminCommand::IssueCredential(card)));
    // The matcher (gallery) goes down and stays down across the template's retention deadline.
    run(&mut t, 1_000, Event::ComponentFault(Component::Matcher));
    let a = run(&mut t, 11 * 86_400_000, Event::Tick);
    assert!(
        audits(&a).iter().any(|e| matches!(e, AuditEvent::TemplateDeleted { person: PersonId(2), .. })),
        "the deletion is not postponed by the outage: {a:?}"
    );
    run(&mut t, 11 * 86_400_000 + 1, Event::ComponentRecovered(Component::Matcher));
    let a = run(&mut t, 11 * 86_400_000 + 2, Event::FaceProbe { embedding: face(2) });
    assert!(a.iter().any(|x| matches!(x, Action::Deny { reason: DecisionReason::NoFaceMatch, .. })));
    run(&mut t, 11 * 86_400_000 + 3, Event::Tick);
    // The clock is set back to before the renter's card expired: the terminal keeps its time,
    // so the expired card stays expired.
    let present = Event::CredentialPresented {
        kind: CredentialKind::IcCard,
        credential: CredentialId(13),
        frame_captured: false,
    };
    let a = run(&mut t, 1_000, present);
    assert!(audits(&a).contains(&AuditEvent::ClockWentBackwards { reported: Timestamp(1_000) }));
    assert!(a.iter().any(|x| matches!(x, Action::Deny { reason: DecisionReason::CredentialExpired, .. })), "{a:?}");
    assert!(!a.iter().any(|x| matches!(x, Action::Grant { .. })));
}

/// Issue 14's scenario run through the checker, with the policy the terminal had and with the
/// one a compound claims: C7 points at the door record and at each fault-open passage, and a log
/// edited to drop the door record is still flagged.
#[test]
fn the_checker_flags_a_fault_opened_door_from_the_log_alone() {
    let mut t = populated(open_for_all());
    let mut log = Vec::new();
    let mut feed = |t: &mut Terminal, now: u64, e: Event| {
        log.extend(t.handle(Timestamp(now), e).filter_map(|a| if let Action::Audit(r) = a { Some(r) } else { None }));
    };
    feed(&mut t, 1_000, card(1));
    feed(&mut t, 1_500, Event::ComponentFault(Component::Camera));
    for i in 0..3 {
        feed(&mut t, 2_000 + i, Event::PassageSensed);
    }
    let door = log.iter().position(|r| r.event == AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll });
    let door = door.expect("the widening is audited");
    assert_eq!(log[door].at, Timestamp(1_500));
    let fault_open: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.event == AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen })
        .map(|(i, _)| i)
        .collect();
    assert_eq!(fault_open.len(), 2);
    for policy in [open_for_all(), Policy::compliant()] {
        let report = check(&log, &policy);
        let c7: Vec<Option<usize>> =
            report.violations.iter().filter(|v| v.rule == Rule::C7 && v.record.is_some()).map(|v| v.record).collect();
        let mut want = vec![Some(door)];
        want.extend(fault_open.iter().map(|&i| Some(i)));
        assert_eq!(c7, want, "policy {}: {:#?}", policy.name, report.violations);
    }
    let mut edited = log.clone();
    edited.remove(door);
    let report = check(&edited, &Policy::compliant());
    assert_eq!(report.count(Rule::C7), 2, "{:#?}", report.violations);
    assert!(report.count(Rule::C8) >= 1, "the removal also breaks the hash chain");
}
