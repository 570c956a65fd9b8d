//! Power loss at every write point: a persistent terminal runs a random sequence of move-ins,
//! consents, enrolments, re-enrolments, withdrawals, move-outs, retention expiries (time jumps)
//! and compactions; power is cut at write point k (the write torn) for every k the run has;
//! the terminal is rebuilt from what the flash holds. Then:
//!
//! - the templates and consents are those of the operations completed before the cut, with the
//!   one in flight either wholly applied or not at all (no partial template: each one scores
//!   bit for bit as the never-cut reference does);
//! - no completed withdrawal or move-out is lost: that person is never matched again;
//! - ledger and store agree (every template has its person and live consent);
//! - a torn write is never mistaken for tampering; a tampered or swapped record is refused.

use gatelab_core::audit::{AuditEvent, DecisionReason};
use gatelab_core::consent::Grantor;
use gatelab_core::flash::{Flash, FlashError, Geometry, MemFlash, Outage, PowerCut};
use gatelab_core::journal::{JournalError, StorageKey};
use gatelab_core::persist::{PersistError, PersistentTerminal};
use gatelab_core::*;
use proptest::prelude::*;

const DIM: usize = 16;
const PERSONS: u32 = 4;
const DAY: u64 = 86_400_000;

const IDENTITY: Geometry = Geometry { page_size: 32, sector_size: 1024, sectors: 6 };
const BIOMETRIC: Geometry = Geometry { page_size: 32, sector_size: 512, sectors: 8 };

#[derive(Clone, Debug)]
enum Op {
    MoveIn(u32),
    /// Consent with a short (2-day) or long (60-day) retention.
    Consent(u32, bool),
    Enroll(u32),
    Withdraw(u32),
    Leave(u32),
    /// Time passes (retention deadlines fall due).
    Advance(u64),
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PERSONS;
    prop_oneof![
        2 => p.clone().prop_map(Op::MoveIn),
        3 => (p.clone(), any::<bool>()).prop_map(|(p, s)| Op::Consent(p, s)),
        4 => p.clone().prop_map(Op::Enroll),
        2 => p.clone().prop_map(Op::Withdraw),
        1 => p.prop_map(Op::Leave),
        1 => (1u64..4 * DAY).prop_map(Op::Advance),
        1 => Just(Op::Compact),
    ]
}

fn person(p: u32) -> PersonId {
    PersonId(100 + p)
}

fn face(p: u32) -> Vec<f32> {
    (0..DIM).map(|i| ((p as usize * 7 + i * 5) % 11) as f32 - 5.0 + if i == p as usize { 9.0 } else { 0.0 }).collect()
}

fn config() -> TerminalConfig {
    TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), DIM)
}

fn key() -> StorageKey {
    StorageKey::new([7; 32])
}

/// The event an op becomes at time `now` (`None`: a compaction).
fn event(op: &Op, now: Timestamp) -> Option<Event> {
    Some(Event::Admin(match *op {
        Op::MoveIn(p) => AdminCommand::RegisterPerson(Person {
            id: person(p),
            kind: PersonKind::Owner,
            household: None,
            age_years: 40,
        }),
        Op::Consent(p, short) => AdminCommand::RecordConsent(ConsentRecord::face_access(
            ConsentId(u64::from(p) + now.0),
            person(p),
            CompoundId(1),
            Grantor::Subject,
            now,
            if short { 2 * DAY } else { 60 * DAY },
        )),
        Op::Enroll(p) => AdminCommand::Enroll { person: person(p), embedding: face(p) },
        Op::Withdraw(p) => AdminCommand::WithdrawConsent(person(p)),
        Op::Leave(p) => AdminCommand::PersonLeft(person(p)),
        Op::Advance(_) => return Some(Event::Tick),
        Op::Compact => return None,
    }))
}

fn times(ops: &[Op]) -> Vec<Timestamp> {
    let mut now = 1_000_000u64;
    ops.iter()
        .map(|op| {
            now += if let Op::Advance(ms) = op { *ms } else { 1_000 };
            Timestamp(now)
        })
        .collect()
}

type Flashes = (MemFlash<Vec<u8>>, MemFlash<Vec<u8>>);

/// Run `ops` with power failing at `cut`; returns the flash contents and how many ops
/// completed (the next one, if any, was in flight).
fn run_until_cut(ops: &[Op], cut: u64) -> (Flashes, usize) {
    let outage = Outage::at(cut, cut as u32 ^ 0x9e37);
    let mut id = PowerCut::new(MemFlash::blank(IDENTITY).unwrap(), &outage);
    let mut bio = PowerCut::new(MemFlash::blank(BIOMETRIC).unwrap(), &outage);
    let mut done = 0;
    match PersistentTerminal::open(config(), Policy::compliant(), &mut id, &mut bio, &key()) {
        Ok((mut t, _, _)) => {
            for (op, now) in ops.iter().zip(times(ops)) {
                let result = match event(op, now) {
                    Some(e) => t.handle(now, e).map(|_| ()),
                    None => t.compact(),
                };
                match result {
                    Ok(()) => done += 1,
                    Err(e) if is_power_loss(e) => break,
                    Err(e) => panic!("op {op:?} failed without a power cut: {e}"),
                }
            }
        }
        Err(e) if is_power_loss(e) => {}
        Err(e) => panic!("a blank flash failed to open: {e}"),
    }
    (reboot(id.into_inner(), bio.into_inner()), done)
}

fn is_power_loss(e: PersistError) -> bool {
    matches!(
        e,
        PersistError::Identity(JournalError::Flash(FlashError::PowerLost))
            | PersistError::Biometric(JournalError::Flash(FlashError::PowerLost))
    )
}

/// What a reset leaves: the bytes, nothing else.
fn reboot(id: MemFlash<Vec<u8>>, bio: MemFlash<Vec<u8>>) -> Flashes {
    (MemFlash::over(IDENTITY, id.into_inner()).unwrap(), MemFlash::over(BIOMETRIC, bio.into_inner()).unwrap())
}

/// A plain in-memory terminal fed `ops` (the reference), then a tick at `end`.
fn reference(ops: &[Op], at: &[Timestamp], end: Timestamp) -> Terminal {
    let mut t = Terminal::new(config(), Policy::compliant()).unwrap();
    for (op, &now) in ops.iter().zip(at) {
        if let Some(e) = event(op, now) {
            t.handle(now, e).for_each(drop);
        }
    }
    t.handle(end, Event::Tick).for_each(drop);
    t
}

fn templates(t: &Terminal) -> Vec<PersonId> {
    t.store().persons().collect()
}

fn consents(t: &Terminal) -> Vec<PersonId> {
    (0..PERSONS).map(person).filter(|&p| t.ledger().active(p, t.now()).is_some()).collect()
}

fn score(t: &Terminal, p: u32) -> Option<(PersonId, u32)> {
    let probe = Probe::new(&face(p), DIM).unwrap();
    t.store().search(&probe, 1, -1.0).unwrap().first().map(|c| (c.person, c.score.to_bits()))
}

fn check_recovery(ops: &[Op], flashes: Flashes, done: usize) -> Result<(), TestCaseError> {
    let at = times(ops);
    let end = at.last().copied().unwrap_or(Timestamp(1_000_000));
    let (id, bio) = flashes;
    let (mut t, restart, recovery) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key())
        .map_err(|e| TestCaseError::fail(format!("recovery failed after {done} ops: {e}")))?;
    prop_assert_eq!(recovery.identity.rejected + recovery.biometric.rejected, 0, "a torn write read as tampering");
    prop_assert!(
        matches!(restart.first(), Some(Action::Audit(r)) if r.seq == 0 && matches!(r.event, AuditEvent::Restarted { .. })),
        "the first record of a restart is Restarted"
    );
    t.handle(end, Event::Tick).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let recovered = t.terminal();

    let before = reference(&ops[..done], &at[..done], end);
    let after = reference(&ops[..(done + 1).min(ops.len())], &at[..(done + 1).min(ops.len())], end);
    let got = templates(recovered);
    prop_assert!(
        got == templates(&before) || got == templates(&after),
        "templates {:?}, expected {:?} (without the op in flight) or {:?} (with it); {} ops done",
        got,
        templates(&before),
        templates(&after),
        done
    );
    let got_consents = consents(recovered);
    prop_assert!(got_consents == consents(&before) || got_consents == consents(&after));
    let reference = if got == templates(&before) { &before } else { &after };
    for p in 0..PERSONS {
        // No partial template: every one scores exactly as the reference's does.
        prop_assert_eq!(score(recovered, p), score(reference, p), "person {}", p);
        if recovered.store().contains(person(p)) {
            prop_assert!(recovered.ledger().active(person(p), recovered.now()).is_some(), "template without consent");
            prop_assert!(recovered.person(person(p)).is_some(), "template of someone not registered");
        }
    }
    // A completed withdrawal is never undone: that face is never matched again.
    for (i, op) in ops[..done].iter().enumerate() {
        if let Op::Withdraw(p) | Op::Leave(p) = *op {
            // (A later enrolment, even the one in flight, may legitimately bring them back.)
            let later = ops[i + 1..(done + 1).min(ops.len())].iter().any(|o| matches!(o, Op::Enroll(q) if *q == p));
            if !later {
                prop_assert!(!t.terminal().store().contains(person(p)), "withdrawn person {} has a template", p);
                let actions = t
                    .handle(end, Event::FaceProbe { embedding: face(p) })
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(
                    !actions.iter().any(|a| matches!(a, Action::Grant { person: q, .. } if *q == person(p))),
                    "withdrawn person {} matched",
                    p
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn every_power_cut_recovers_to_a_consistent_state(ops in prop::collection::vec(op(), 1..40)) {
        // Learn how many write points the whole run has, then cut at each one.
        let (_, done) = run_until_cut(&ops, u64::MAX);
        prop_assert_eq!(done, ops.len());
        let outage = Outage::never();
        let id = PowerCut::new(MemFlash::blank(IDENTITY).unwrap(), &outage);
        let bio = PowerCut::new(MemFlash::blank(BIOMETRIC).unwrap(), &outage);
        let (mut t, _, _) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
        for (op, now) in ops.iter().zip(times(&ops)) {
            match event(op, now) {
                Some(e) => { t.handle(now, e).unwrap(); }
                None => t.compact().unwrap(),
            }
        }
        let writes = outage.writes();
        for cut in 0..writes {
            let (flashes, done) = run_until_cut(&ops, cut);
            check_recovery(&ops, flashes, done)?;
        }
    }
}

/// A terminal with persons 0 and 1 enrolled, and its flash.
fn enrolled() -> Flashes {
    let (mut t, _, _) = PersistentTerminal::open(
        config(),
        Policy::compliant(),
        MemFlash::blank(IDENTITY).unwrap(),
        MemFlash::blank(BIOMETRIC).unwrap(),
        &key(),
    )
    .unwrap();
    let ops =
        [Op::MoveIn(0), Op::MoveIn(1), Op::Consent(0, false), Op::Consent(1, false), Op::Enroll(0), Op::Enroll(1)];
    for (op, now) in ops.iter().zip(times(&ops)) {
        t.handle(now, event(op, now).unwrap()).unwrap();
    }
    t.into_flash()
}

fn restart_counts(actions: &[Action]) -> (u32, u32) {
    match actions.first() {
        Some(Action::Audit(r)) => match r.event {
            AuditEvent::Restarted { templates, rejected, .. } => (templates, rejected),
            other => panic!("first record after a restart: {other:?}"),
        },
        other => panic!("no restart record: {other:?}"),
    }
}

#[test]
fn templates_are_encrypted_at_rest() {
    let (_, bio) = enrolled();
    let raw = bio.contents();
    // The int8 template of person 0 as the store quantises it would be these bytes in clear;
    // a 6-byte window of the embedding's sign pattern must not appear either.
    let q: Vec<u8> = face(0).iter().map(|v| if *v >= 0.0 { 1 } else { 0xFF }).collect();
    assert!(!raw.windows(6).any(|w| w == &q[..6]), "plaintext pattern found in the biometric partition");
    // No person id in the biometric partition (C6: kept apart from identity data).
    assert!(!raw.windows(4).any(|w| w == 100u32.to_le_bytes() || w == 101u32.to_le_bytes()));
}

#[test]
fn a_tampered_template_record_is_refused_and_audited() {
    let (id, mut bio) = enrolled();
    // Flip one bit inside the first template record's ciphertext (after the sector header
    // page and the record header) and fix up its CRC, as a deliberate attacker would.
    let start = 32 + 16;
    bio.contents_mut()[start + 3] ^= 0x10;
    let len = u16::from_le_bytes([bio.contents()[32 + 12], bio.contents()[32 + 13]]) as usize;
    let crc = crc32(&bio.contents()[32..32 + 16 + len]);
    bio.contents_mut()[32 + 16 + len..32 + 16 + len + 4].copy_from_slice(&crc.to_le_bytes());
    let (id, bio) = reboot(id, bio);
    let (t, restart, recovery) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    assert_eq!(recovery.biometric.rejected, 1);
    assert_eq!(restart_counts(&restart), (1, 1), "one template left, one record rejected");
    assert_eq!(templates(t.terminal()), vec![person(1)]);
}

#[test]
fn another_terminals_key_is_refused_before_anything_is_written() {
    let (id, bio) = enrolled();
    let (id_before, bio_before) = (id.contents().to_vec(), bio.contents().to_vec());
    let mut id = id;
    let mut bio = bio;
    let other = StorageKey::new([8; 32]);
    let err = PersistentTerminal::open(config(), Policy::compliant(), &mut id, &mut bio, &other).unwrap_err();
    assert_eq!(err, PersistError::Identity(JournalError::WrongKey));
    assert_eq!((id.contents(), bio.contents()), (&id_before[..], &bio_before[..]), "refused, and left untouched");
    // The right key still opens both templates.
    let (t, _, recovery) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    assert_eq!(recovery.biometric.rejected, 0);
    assert_eq!(t.terminal().store().len(), 2);
}

#[test]
fn a_record_moved_onto_another_one_is_refused() {
    // Swap the two template records' bodies: each ciphertext is bound to its own header
    // (sequence number) and fails there.
    let (id, mut bio) = enrolled();
    let raw = bio.contents_mut();
    let len = u16::from_le_bytes([raw[32 + 12], raw[32 + 13]]) as usize;
    let record = (16 + len + 4).div_ceil(32) * 32;
    let (a, b) = (32 + 16, 32 + record + 16);
    let first: Vec<u8> = raw[a..a + len].to_vec();
    let second: Vec<u8> = raw[b..b + len].to_vec();
    raw[a..a + len].copy_from_slice(&second);
    raw[b..b + len].copy_from_slice(&first);
    for start in [32, 32 + record] {
        let crc = crc32(&raw[start..start + 16 + len]);
        raw[start + 16 + len..start + 16 + len + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let (id, bio) = reboot(id, bio);
    let (t, _, recovery) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    assert_eq!(recovery.biometric.rejected, 2);
    assert!(t.terminal().store().is_empty(), "a swapped template must never match as its new owner");
}

#[test]
fn withdrawal_erases_the_ciphertext() {
    let (id, bio) = enrolled();
    let before = bio.contents().to_vec();
    let (mut t, _, _) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    let now = Timestamp(50 * DAY);
    let actions = t.handle(now, Event::Admin(AdminCommand::WithdrawConsent(person(0)))).unwrap();
    assert!(
        actions.iter().any(|a| matches!(a, Action::Audit(r) if matches!(r.event, AuditEvent::TemplateDeleted { .. })))
    );
    let (_, bio) = t.into_flash();
    // Every record that was in the biometric partition before is gone from where it was,
    // except those copied forward (the other person's): the withdrawn one's ciphertext is
    // nowhere in the flash.
    let len = u16::from_le_bytes([before[32 + 12], before[32 + 13]]) as usize;
    let first_ciphertext = &before[32 + 16..32 + 16 + len];
    let record_bytes = (16 + len + 4).div_ceil(32) * 32;
    let second_ciphertext = &before[32 + record_bytes + 16..32 + record_bytes + 16 + len];
    let raw = bio.contents();
    let present = |c: &[u8]| raw.windows(c.len()).any(|w| w == c);
    assert!(!present(first_ciphertext), "the withdrawn template's ciphertext is still in flash");
    assert!(!present(second_ciphertext), "records are re-encrypted when moved (fresh sequence number)");
}

#[test]
fn a_clock_reset_after_power_loss_cannot_postpone_a_deletion() {
    let (id, bio) = enrolled();
    let (mut t, _, _) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    // Time passes in hourly events: the terminal keeps a persisted watermark.
    for h in 1..=30 {
        t.handle(Timestamp(h * 3_600_000 * 24), Event::Tick).unwrap();
    }
    let (id, bio) = t.into_flash();
    let (id, bio) = reboot(id, bio);
    let (mut t, _, _) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    assert!(t.terminal().now() >= Timestamp(29 * DAY), "restart time {:?}", t.terminal().now());
    // The board's clock came back at zero; the terminal keeps its own later time.
    let actions = t.handle(Timestamp(0), Event::Tick).unwrap().to_vec();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Audit(r) if matches!(r.event, AuditEvent::ClockWentBackwards { .. })))
    );
    // Forward by days: retention (60 days) runs out and both templates go.
    let actions = t.handle(Timestamp(65 * DAY), Event::Tick).unwrap().to_vec();
    let deleted = actions
        .iter()
        .filter(|a| matches!(a, Action::Audit(r) if matches!(r.event, AuditEvent::TemplateDeleted { .. })))
        .count();
    assert_eq!(deleted, 2);
    let actions = t.handle(Timestamp(65 * DAY), Event::FaceProbe { embedding: face(0) }).unwrap().to_vec();
    assert!(actions.iter().any(|a| matches!(a, Action::Deny { reason: DecisionReason::NoFaceMatch, .. })));
}

#[test]
fn a_full_template_partition_refuses_enrolment_and_keeps_cards_working() {
    let tiny = Geometry { page_size: 32, sector_size: 256, sectors: 3 };
    let (mut t, _, _) = PersistentTerminal::open(
        config(),
        Policy::compliant(),
        MemFlash::blank(IDENTITY).unwrap(),
        MemFlash::blank(tiny).unwrap(),
        &key(),
    )
    .unwrap();
    let mut refused = 0;
    let mut stored = 0;
    let mut now = Timestamp(1_000);
    for p in 0..8 {
        for op in [Op::MoveIn(p), Op::Consent(p, false), Op::Enroll(p)] {
            now = now.plus_ms(1_000);
            let actions = t.handle(now, event(&op, now).unwrap()).unwrap();
            for a in actions {
                if let Action::Audit(r) = a {
                    match r.event {
                        AuditEvent::TemplateStored { .. } => stored += 1,
                        AuditEvent::EnrollmentRefused {
                            reason: gatelab_core::audit::EnrollRefusal::StorageFull,
                            ..
                        } => refused += 1,
                        _ => {}
                    }
                }
            }
        }
    }
    assert!(stored >= 1 && refused >= 1, "stored {stored}, refused {refused}");
    // Withdrawal still works on a full partition (it may use the spare sector).
    t.handle(now.plus_ms(1_000), Event::Admin(AdminCommand::WithdrawConsent(person(0)))).unwrap();
    assert!(!t.terminal().store().contains(person(0)));
}

fn crc32(bytes: &[u8]) -> u32 {
    // The journal's record checksum (CRC-32/ISO-HDLC), which an attacker recomputes.
    crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(bytes)
}

#[test]
fn geometry_semantics_are_enforced() {
    let mut f = MemFlash::blank(IDENTITY).unwrap();
    assert_eq!(f.program(3, &[0; 32]), Err(FlashError::OutOfRange));
    f.program(0, &[0; 32]).unwrap();
    assert_eq!(f.program(0, &[0; 32]), Err(FlashError::NotErased));
    f.erase(0).unwrap();
    f.program(0, &[0; 32]).unwrap();
    assert!(MemFlash::blank(Geometry { page_size: 32, sector_size: 48, sectors: 4 }).is_err());
}

/// Found by the `storage_open` fuzz target: a stray programmed byte in the erased tail of the
/// head sector (a torn write whose header stayed blank, a flipped bit) made the next append
/// program a page twice. The sector is now sealed at recovery and writing goes on elsewhere.
#[test]
fn a_stray_byte_after_the_last_record_does_not_break_the_next_write() {
    let (mut id, bio) = enrolled();
    // Far past the records, inside the first sector's erased tail.
    let at = IDENTITY.sector_size as usize - 40;
    assert_eq!(id.contents()[at], 0xFF);
    id.contents_mut()[at] = 0x5A;
    let (id, bio) = reboot(id, bio);
    let (mut t, _, recovery) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    assert_eq!(recovery.identity.rejected, 0);
    assert_eq!(t.terminal().store().len(), 2);
    let now = Timestamp(3 * DAY);
    for p in 10..40 {
        t.handle(now, event(&Op::MoveIn(p), now).unwrap()).unwrap();
    }
    let (id, bio) = t.into_flash();
    let (id, bio) = reboot(id, bio);
    let (t, _, _) = PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key()).unwrap();
    assert_eq!(t.terminal().store().len(), 2);
    assert!(t.terminal().person(person(39)).is_some());
}

/// Found by the `storage_open` fuzz target: a full identity partition made the next boot fail
/// (recovery writes its boot record). Now a full terminal refuses new registrations (saying
/// why), still boots, and still withdraws.
#[test]
fn a_full_identity_partition_refuses_registration_and_still_boots() {
    let tiny = Geometry { page_size: 32, sector_size: 256, sectors: 4 };
    let open = |id, bio| PersistentTerminal::open(config(), Policy::compliant(), id, bio, &key());
    let (mut t, _, _) = open(MemFlash::blank(tiny).unwrap(), MemFlash::blank(BIOMETRIC).unwrap()).unwrap();
    let mut refused = None;
    for p in 0..64 {
        let now = Timestamp(1_000 + u64::from(p));
        let actions = t.handle(now, event(&Op::MoveIn(p), now).unwrap()).unwrap();
        if actions.contains(&Action::AdminRejected(gatelab_core::terminal::AdminRejection::StorageFull)) {
            refused = Some(p);
            break;
        }
    }
    let first_refused = refused.expect("a 1 KiB partition fills up");
    assert!(t.terminal().person(person(first_refused)).is_none(), "refused means not registered");
    let (id, bio) = t.into_flash();
    let (id, bio) =
        (MemFlash::over(tiny, id.into_inner()).unwrap(), MemFlash::over(BIOMETRIC, bio.into_inner()).unwrap());
    let (mut t, _, _) = open(id, bio).expect("a full terminal still boots");
    assert!(t.terminal().person(person(0)).is_some());
    let now = Timestamp(DAY);
    t.handle(now, Event::Admin(AdminCommand::PersonLeft(person(0)))).expect("move-outs always work");
    assert!(t.terminal().person(person(0)).is_none());
}
