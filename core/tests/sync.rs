//! The authority link on its own: what a terminal and the authority accept, refuse and audit,
//! the lease's effect on faces and cards, and the checker's lease rules on hand-made logs.

use gatelab_core::audit::{AuditEvent, DecisionReason, Source};
use gatelab_core::consent::Grantor;
use gatelab_core::sync::{Authority, AuthorityAction, Downlink, LinkKey, SyncRefusal, Uplink};
use gatelab_core::terminal::AdminRejection;
use gatelab_core::*;

const DIM: usize = 8;
const COMPOUND: CompoundId = CompoundId(3);
const MASTER: [u8; 32] = [7; 32];
const LEASE: u64 = 30_000;

fn lane() -> TerminalId {
    Gate { id: GateId(1) }.inbound()
}

fn face(p: u32) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[p as usize % DIM] = 1.0;
    v
}

/// One authority and one linked terminal, delivering everything at once.
struct Pair {
    authority: Authority,
    terminal: Terminal,
    log: Vec<AuditRecord>,
    /// While set, nothing reaches the other side.
    cut: bool,
}

impl Pair {
    fn new() -> Pair {
        let authority = Authority::new(COMPOUND, Policy::compliant(), &MASTER, [(lane(), true)]).unwrap();
        let mut terminal = Terminal::new(TerminalConfig::new(lane(), COMPOUND, DIM), Policy::compliant()).unwrap();
        let actions: Vec<Action> =
            terminal.attach_authority(Timestamp(0), LinkKey::derive(&MASTER, COMPOUND, lane()), 0, 1).collect();
        let mut pair = Pair { authority, terminal, log: Vec::new(), cut: false };
        pair.terminal_did(Timestamp(0), actions);
        pair
    }

    fn authority_did(&mut self, now: Timestamp, actions: Vec<AuthorityAction>) {
        for a in actions {
            match a {
                AuthorityAction::Audit(r) => self.log.push(r),
                AuthorityAction::Send { frame, .. } if !self.cut => {
                    let actions: Vec<Action> = self.terminal.handle(now, Event::FromAuthority(frame)).collect();
                    self.terminal_did(now, actions);
                }
                AuthorityAction::Send { .. } => {}
            }
        }
    }

    fn terminal_did(&mut self, now: Timestamp, actions: Vec<Action>) -> Vec<Action> {
        let mut rest = Vec::new();
        for a in actions {
            match a {
                Action::Audit(r) => self.log.push(r),
                Action::ToAuthority(up) if !self.cut => {
                    let actions: Vec<_> = self.authority.handle_uplink(now, &up).collect();
                    self.authority_did(now, actions);
                }
                Action::ToAuthority(_) => {}
                other => rest.push(other),
            }
        }
        rest
    }

    fn submit(&mut self, now: u64, command: AdminCommand) -> Result<u64, AdminRejection> {
        let (actions, result) = self.authority.submit(Timestamp(now), command);
        let actions: Vec<_> = actions.collect();
        self.authority_did(Timestamp(now), actions);
        result
    }

    fn event(&mut self, now: u64, event: Event) -> Vec<Action> {
        let actions: Vec<Action> = self.terminal.handle(Timestamp(now), event).collect();
        self.terminal_did(Timestamp(now), actions)
    }

    /// Run both sides' timers up to `now`.
    fn advance(&mut self, now: u64) {
        loop {
            let next = [self.authority.poll_timeout(), self.terminal.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t.0 <= now => {
                    let actions: Vec<_> = self.authority.tick(t).collect();
                    self.authority_did(t, actions);
                    let actions: Vec<Action> = self.terminal.handle(t, Event::Tick).collect();
                    self.terminal_did(t, actions);
                }
                _ => break,
            }
        }
        self.event(now, Event::Tick);
    }

    /// Person `p`: an owner with card 100 + p, consenting and enrolled.
    fn resident(&mut self, now: u64, p: u32) {
        let person = Person { id: PersonId(p), kind: PersonKind::Owner, household: None, age_years: 40 };
        self.submit(now, AdminCommand::RegisterPerson(person)).unwrap();
        let card = Credential {
            id: CredentialId(100 + u64::from(p)),
            holder: PersonId(p),
            kind: CredentialKind::IcCard,
            expires_at: None,
        };
        self.submit(now, AdminCommand::IssueCredential(card)).unwrap();
        let consent = ConsentRecord::face_access(
            ConsentId(u64::from(p)),
            PersonId(p),
            COMPOUND,
            Grantor::Subject,
            Timestamp(now),
            86_400_000,
        );
        self.submit(now, AdminCommand::RecordConsent(consent)).unwrap();
        self.submit(now, AdminCommand::Enroll { person: PersonId(p), embedding: face(p) }).unwrap();
    }

    fn face_decision(&mut self, now: u64, p: u32) -> Option<DecisionReason> {
        let actions = self.event(now, Event::FaceProbe { embedding: face(p) });
        actions.iter().find_map(|a| match a {
            Action::Grant { .. } => Some(DecisionReason::FaceMatched),
            Action::Deny { reason, .. } => Some(*reason),
            _ => None,
        })
    }

    fn refusals(&self) -> Vec<SyncRefusal> {
        self.log
            .iter()
            .filter_map(|r| match r.event {
                AuditEvent::SyncRefused { reason } => Some(reason),
                _ => None,
            })
            .collect()
    }

    fn check(&self) -> Report {
        check(&self.log, &Policy::compliant())
    }
}

#[test]
fn entries_reach_the_terminal_and_the_lease_lets_it_match() {
    let mut pair = Pair::new();
    pair.resident(1_000, 1);
    assert_eq!(pair.terminal.sync_version(), Some(pair.authority.head()));
    assert!(pair.terminal.store().contains(PersonId(1)));
    assert!(pair.terminal.lease_live());
    assert_eq!(pair.face_decision(2_000, 1), Some(DecisionReason::FaceMatched));
    // Delivered everywhere: the authority no longer holds the embedding.
    assert_eq!(pair.authority.held_embeddings(), 0);
    let report = pair.check();
    assert!(report.is_clean(), "{:#?}", report.violations);
}

#[test]
fn a_cut_off_terminal_stops_matching_within_the_lease_and_cards_still_work() {
    let mut pair = Pair::new();
    pair.resident(1_000, 1);
    pair.cut = true;
    // The withdrawal cannot reach it…
    pair.submit(5_000, AdminCommand::WithdrawConsent(PersonId(1))).unwrap();
    pair.advance(5_000 + LEASE + 1_000);
    assert!(!pair.terminal.lease_live());
    // …but its lease has lapsed: no face is matched, the card still opens (C7).
    assert_eq!(pair.face_decision(5_000 + LEASE + 2_000, 1), Some(DecisionReason::LeaseLapsed));
    let card = Event::CredentialPresented {
        kind: CredentialKind::IcCard,
        credential: CredentialId(101),
        frame_captured: false,
    };
    assert!(pair.event(5_000 + LEASE + 3_000, card).iter().any(|a| matches!(a, Action::Grant { .. })));
    assert!(pair.log.iter().any(|r| matches!(r.event, AuditEvent::LeaseLapsed { last_contact: Some(_) })));
    // Contact returns: the deletion is applied before the lease runs again.
    pair.cut = false;
    pair.advance(200_000);
    assert!(!pair.terminal.store().contains(PersonId(1)));
    let deleted = pair.log.iter().rposition(|r| matches!(r.event, AuditEvent::TemplateDeleted { .. })).unwrap();
    let renewed = pair.log.iter().rposition(|r| matches!(r.event, AuditEvent::LeaseRenewed { .. })).unwrap();
    assert!(deleted < renewed, "renewed its lease before deleting");
    assert!(pair.terminal.lease_live());
    assert_eq!(pair.face_decision(201_000, 1), Some(DecisionReason::NoFaceMatch));
    let report = pair.check();
    assert!(report.is_clean(), "{:#?}", report.violations);
}

#[test]
fn forged_foreign_replayed_and_malformed_frames_are_refused_and_change_nothing() {
    let mut pair = Pair::new();
    pair.resident(1_000, 1);
    let version = pair.terminal.sync_version();
    let withdraw = vec![Some(AdminCommand::WithdrawConsent(PersonId(1)))];
    let next = version.unwrap() + 1;
    let body = |terminal, nonce| Downlink {
        compound: COMPOUND,
        terminal,
        nonce,
        head: next,
        first: next,
        entries: withdraw.clone(),
    };
    // Someone on the LAN with a key of their own.
    let forged = body(lane(), None).seal(&LinkKey::derive(&[9; 32], COMPOUND, lane()));
    // A frame for another terminal of this compound.
    let other = Gate { id: GateId(2) }.inbound();
    let foreign = body(other, None).seal(&LinkKey::derive(&MASTER, COMPOUND, other));
    // Authentic, but addressed elsewhere (as if a key were shared).
    let misaddressed = body(other, None).seal(&LinkKey::derive(&MASTER, COMPOUND, lane()));
    // Claims entries past its own head.
    let mut future = body(lane(), None);
    future.head = version.unwrap();
    let future = future.seal(&LinkKey::derive(&MASTER, COMPOUND, lane()));
    for (frame, why) in [
        (forged, SyncRefusal::BadTag),
        (foreign, SyncRefusal::BadTag),
        (misaddressed, SyncRefusal::WrongAddress),
        (future, SyncRefusal::FutureVersion),
        (vec![1, 2, 3], SyncRefusal::Malformed),
        (vec![0; 40], SyncRefusal::BadTag),
    ] {
        let before = pair.terminal.stats().sync_refused;
        pair.event(2_000, Event::FromAuthority(frame));
        assert_eq!(pair.terminal.stats().sync_refused, before + 1, "{why:?} not counted");
        assert_eq!(pair.refusals().last(), Some(&why));
    }
    assert_eq!(pair.terminal.sync_version(), version);
    assert!(pair.terminal.store().contains(PersonId(1)), "a refused frame changed state");
    // A replay of an old, authentic answer: nothing new, not the open request.
    let old = Downlink { compound: COMPOUND, terminal: lane(), nonce: Some(1), head: 1, first: 1, entries: vec![None] }
        .seal(&LinkKey::derive(&MASTER, COMPOUND, lane()));
    pair.event(3_000, Event::FromAuthority(old));
    assert_eq!(pair.refusals().last(), Some(&SyncRefusal::Replayed));
    assert_eq!(pair.terminal.sync_version(), version);
}

#[test]
fn admin_commands_from_the_gate_side_are_refused() {
    let mut pair = Pair::new();
    pair.resident(1_000, 1);
    let withdraw = AdminCommand::WithdrawConsent(PersonId(1));
    let actions = pair.event(2_000, Event::Admin(withdraw.clone()));
    assert!(actions.contains(&Action::AdminRejected(AdminRejection::NotFromAuthority)));
    assert_eq!(pair.refusals().last(), Some(&SyncRefusal::AdminOutsideAuthority));
    // Nor a forged re-enrolment of someone who withdrew.
    pair.submit(3_000, withdraw).unwrap();
    let enroll = AdminCommand::Enroll { person: PersonId(1), embedding: face(1) };
    let actions: Vec<Action> = pair.terminal.handle_admin(Timestamp(4_000), &enroll).collect();
    assert!(actions.contains(&Action::AdminRejected(AdminRejection::NotFromAuthority)));
    assert!(!pair.terminal.store().contains(PersonId(1)));
}

#[test]
fn the_authority_refuses_bad_reports_and_bad_commands() {
    let mut pair = Pair::new();
    pair.resident(1_000, 1);
    let key = LinkKey::derive(&MASTER, COMPOUND, lane());
    let head = pair.authority.head();
    let stranger = Gate { id: GateId(9) }.outbound();
    for (up, why) in [
        (Uplink::new(&LinkKey::derive(&[1; 32], COMPOUND, lane()), COMPOUND, lane(), 0, 5), SyncRefusal::BadTag),
        (Uplink::new(&key, COMPOUND, lane(), head + 5, 5), SyncRefusal::FutureVersion),
        (Uplink::new(&key, COMPOUND, stranger, 0, 5), SyncRefusal::UnknownTerminal),
    ] {
        let actions: Vec<_> = pair.authority.handle_uplink(Timestamp(2_000), &up).collect();
        assert!(!actions.iter().any(|a| matches!(a, AuthorityAction::Send { .. })), "{why:?} answered");
        let refused: Vec<_> = actions
            .iter()
            .filter_map(|a| match a {
                AuthorityAction::Audit(r) => Some(r.event),
                _ => None,
            })
            .collect();
        assert_eq!(refused, vec![AuditEvent::SyncRefused { reason: why }]);
    }
    assert_eq!(pair.authority.acked(lane()), Some(head), "a refused report changed what it believes");
    assert!(Uplink::decode(&[0xff; 3]).is_err());
    // The desk learns at once what a terminal would refuse, and nothing is logged.
    let stranger_enrol = AdminCommand::Enroll { person: PersonId(77), embedding: face(77) };
    assert!(pair.submit(2_000, stranger_enrol).is_err());
    assert_eq!(pair.authority.head(), head);
    // A lease as long as the deletion bound is refused.
    let mut policy = Policy::compliant();
    policy.lease_ms = policy.deletion_bound_ms;
    assert!(Authority::new(COMPOUND, policy, &MASTER, [(lane(), true)]).is_err());
}

#[test]
fn card_only_lanes_never_receive_an_embedding() {
    let card_lane = Gate { id: GateId(1) }.outbound();
    let mut authority =
        Authority::new(COMPOUND, Policy::compliant(), &MASTER, [(lane(), true), (card_lane, false)]).unwrap();
    let person = Person { id: PersonId(1), kind: PersonKind::Owner, household: None, age_years: 40 };
    let consent =
        ConsentRecord::face_access(ConsentId(1), PersonId(1), COMPOUND, Grantor::Subject, Timestamp(0), 86_400_000);
    let mut frames = Vec::new();
    for command in [
        AdminCommand::RegisterPerson(person),
        AdminCommand::RecordConsent(consent),
        AdminCommand::Enroll { person: PersonId(1), embedding: face(1) },
    ] {
        let (actions, result) = authority.submit(Timestamp(0), command);
        frames.extend(actions.filter_map(|a| match a {
            AuthorityAction::Send { to, frame } if to == card_lane => Some(frame),
            _ => None,
        }));
        result.unwrap();
    }
    let key = LinkKey::derive(&MASTER, COMPOUND, card_lane);
    let last = Downlink::open(frames.last().unwrap(), &key).unwrap();
    assert_eq!(last.entries.last(), Some(&None), "the enrolment must reach a card-only lane as a gap filler");
    // Held for the camera lane that has not acknowledged it yet.
    assert_eq!(authority.held_embeddings(), 1);
}

// ---- the checker's lease rules, on hand-made logs ------------------------------------------

struct Log {
    records: Vec<AuditRecord>,
    heads: std::collections::BTreeMap<Source, (u64, gatelab_core::audit::Digest)>,
}

impl Log {
    fn new() -> Log {
        Log { records: Vec::new(), heads: Default::default() }
    }
    fn add(&mut self, at: u64, source: Source, event: AuditEvent) {
        let (seq, prev) = self.heads.get(&source).copied().unwrap_or((0, gatelab_core::audit::Digest::GENESIS));
        let r = AuditRecord::chained(&prev, seq, Timestamp(at), source, event);
        self.heads.insert(source, (seq + 1, r.digest));
        self.records.push(r);
    }
}

/// Person 1 registered, consenting and enrolled at the lane; the lane renewed at version 3.
fn linked_log() -> Log {
    let mut log = Log::new();
    let m = Source::Management;
    let t = Source::Terminal(lane());
    log.add(0, t, AuditEvent::LeaseLapsed { last_contact: None });
    log.add(0, m, AuditEvent::PersonRegistered { person: PersonId(1), kind: PersonKind::Owner, minor: false });
    log.add(0, m, AuditEvent::AdminLogged { version: 1 });
    let consent = AuditEvent::ConsentRecorded {
        person: PersonId(1),
        consent: ConsentId(1),
        purpose: consent::Purpose::FaceAccess,
        form: consent::ConsentForm::Separate,
        explicit: true,
        grantor: consent::GrantorKind::Subject,
        subject_minor: false,
        retention_until: Timestamp(86_400_000),
    };
    log.add(0, m, consent);
    log.add(0, m, AuditEvent::AdminLogged { version: 2 });
    log.add(0, m, AuditEvent::AdminLogged { version: 3 });
    log.add(100, t, AuditEvent::PersonRegistered { person: PersonId(1), kind: PersonKind::Owner, minor: false });
    log.add(100, t, consent);
    log.add(100, t, AuditEvent::TemplateStored { person: PersonId(1), delete_by: Timestamp(86_400_000) });
    log.add(100, t, AuditEvent::LeaseRenewed { contact_at: Timestamp(50), version: 3 });
    log
}

#[test]
fn the_checker_flags_a_match_under_a_lapsed_lease() {
    let mut log = linked_log();
    let t = Source::Terminal(lane());
    log.add(10_000, t, AuditEvent::MatchAttempt { outcome: audit::MatchOutcome::Matched(PersonId(1)) });
    assert!(check(&log.records, &Policy::compliant()).is_clean());
    // 30 s after the contact at 50 ms the lease is over, whatever the terminal claims.
    log.add(30_050, t, AuditEvent::MatchAttempt { outcome: audit::MatchOutcome::Matched(PersonId(1)) });
    let report = check(&log.records, &Policy::compliant());
    assert_eq!(report.count(Rule::C4), 1, "{:#?}", report.violations);
    assert!(report.violations[0].message.contains("lease"), "{}", report.violations[0]);
}

#[test]
fn the_checker_flags_a_renewal_that_kept_a_withdrawn_template() {
    let mut log = linked_log();
    let (m, t) = (Source::Management, Source::Terminal(lane()));
    log.add(1_000, m, AuditEvent::ConsentWithdrawn { person: PersonId(1) });
    log.add(1_000, m, AuditEvent::AdminLogged { version: 4 });
    // Cut off: no renewal, no deletion, records long after the bound are fine…
    log.add(100_000, t, AuditEvent::LeaseLapsed { last_contact: Some(Timestamp(50)) });
    assert!(check(&log.records, &Policy::compliant()).is_clean());
    // …but renewing at version 4 with the template still there is not.
    log.add(120_000, t, AuditEvent::LeaseRenewed { contact_at: Timestamp(119_000), version: 4 });
    let report = check(&log.records, &Policy::compliant());
    assert_eq!(report.count(Rule::C4), 1, "{:#?}", report.violations);
    // Deleting first is what a terminal must do.
    let mut good = linked_log();
    good.add(1_000, m, AuditEvent::ConsentWithdrawn { person: PersonId(1) });
    good.add(1_000, m, AuditEvent::AdminLogged { version: 4 });
    good.add(100_000, t, AuditEvent::LeaseLapsed { last_contact: Some(Timestamp(50)) });
    good.add(120_000, t, AuditEvent::ConsentWithdrawn { person: PersonId(1) });
    good.add(120_000, t, AuditEvent::TemplateDeleted { person: PersonId(1), reason: audit::DeletionReason::Withdrawn });
    good.add(120_000, t, AuditEvent::LeaseRenewed { contact_at: Timestamp(119_000), version: 4 });
    let report = check(&good.records, &Policy::compliant());
    assert!(report.is_clean(), "{:#?}", report.violations);
}
