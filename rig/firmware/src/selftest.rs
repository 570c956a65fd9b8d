//! On-target tests of the core: what must hold on the Cortex-M7 itself, where the int8 kernel
//! is hand-written assembly and the heap is a few MiB. Results go out over semihosting; the
//! exit status says whether all passed (`gatelab-rig selftest` runs this under QEMU).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use cortex_m_semihosting::{debug, hprintln};
use gatelab_core::audit::{AuditEvent, Component, MatchOutcome, OpenCause, UncontrolledCause};
use gatelab_core::consent::{ConsentRecord, Grantor};
use gatelab_core::template::{normalize_into, quantize_into};
use gatelab_core::wire::{self, HostMsg, TargetMsg};
use gatelab_core::{
    Action, AdminCommand, CompoundId, ConsentId, Credential, CredentialId, CredentialKind, Event, Gate, GateId, Person,
    PersonId, PersonKind, Policy, Precision, Probe, TemplateStore, Terminal, TerminalConfig, Timestamp,
};

use crate::fixtures::{self, Vectors};
use crate::service::Clock;

type Outcome = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(format!($($msg)*));
        }
    };
}

/// The score the portable definition gives: both sides quantised, exact integer dot product,
/// one float multiply — what every target must reproduce bit for bit.
fn reference_score(probe: &[f32], template: &[f32]) -> f32 {
    let (mut np, mut nt, mut qp, mut qt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let dim = probe.len();
    let _ = normalize_into(probe, dim, &mut np);
    let _ = normalize_into(template, dim, &mut nt);
    let sp = quantize_into(&np, &mut qp);
    let st = quantize_into(&nt, &mut qt);
    let dot: i32 = qp.iter().zip(&qt).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
    dot as f32 * (sp * st)
}

fn int8_kernel_matches_the_portable_definition() -> Outcome {
    let mut v = Vectors(0x1234_5678);
    // Dimensions below, at and around the kernel's steps and limits, with and without tails.
    for dim in [1, 3, 4, 15, 16, 60, 63, 64, 65, 100, 127, 128, 130, 192, 256, 384, 500, 512, 516, 576, 640, 1024] {
        let mut store = TemplateStore::new(dim, Precision::Int8).map_err(|e| format!("dim {dim}: {e}"))?;
        let gallery: Vec<Vec<f32>> = (0..9).map(|_| v.vector(dim)).collect();
        for (i, t) in gallery.iter().enumerate() {
            store.insert(PersonId(i as u32), t, Timestamp::NEVER).map_err(|e| format!("dim {dim}: {e}"))?;
        }
        // Extreme probes too: one spike (max |p| at one place) and a flat one (every |p| = 127).
        let mut probes = Vec::from([v.vector(dim), gallery[4].clone()]);
        probes.push((0..dim).map(|i| if i == dim / 2 { 1.0 } else { 0.001 }).collect());
        probes.push((0..dim).map(|i| if i % 3 == 0 { -1.0 } else { 1.0 }).collect());
        for (pi, p) in probes.iter().enumerate() {
            let probe = Probe::new(p, dim).map_err(|e| format!("dim {dim}: {e}"))?;
            let hits = store.search(&probe, gallery.len(), -2.0).map_err(|e| format!("dim {dim}: {e}"))?;
            ensure!(hits.len() == gallery.len(), "dim {dim}: {} hits", hits.len());
            for h in hits {
                let want = reference_score(p, &gallery[h.person.0 as usize]);
                ensure!(
                    h.score.to_bits() == want.to_bits(),
                    "dim {dim}, probe {pi}, template {}: kernel {} vs definition {want}",
                    h.person.0,
                    h.score
                );
            }
            // With a threshold the kernel skips rows that cannot reach it: exactly the rows the
            // definition puts at or above it must come back.
            for th in [1e-6, 0.02, 0.1, 0.5, 0.99] {
                let hits = store.search(&probe, gallery.len(), th).map_err(|e| format!("dim {dim}: {e}"))?;
                let want = gallery.iter().filter(|t| reference_score(p, t) >= th).count();
                ensure!(
                    hits.len() == want,
                    "dim {dim}, probe {pi}, threshold {th}: {} hits, the definition {want}",
                    hits.len()
                );
            }
        }
    }
    Ok(())
}

/// Removal swaps the last row into the hole: the moved rows must still be found, the removed never.
fn store_survives_removals_and_reinsertions() -> Outcome {
    let mut v = Vectors(99);
    let dim = 128;
    let mut store = TemplateStore::new(dim, Precision::Int8).map_err(|e| format!("{e}"))?;
    let vectors: Vec<Vec<f32>> = (0..50).map(|_| v.vector(dim)).collect();
    for (i, t) in vectors.iter().enumerate() {
        store.insert(PersonId(i as u32), t, Timestamp::NEVER).map_err(|e| format!("{e}"))?;
    }
    for i in (0..50).step_by(3) {
        ensure!(store.remove(PersonId(i)), "remove {i}");
    }
    for i in (0..50u32).step_by(3) {
        let probe = Probe::new(&vectors[i as usize], dim).map_err(|e| format!("{e}"))?;
        let hits = store.search(&probe, 1, 0.99).map_err(|e| format!("{e}"))?;
        ensure!(hits.is_empty(), "removed person {i} still matches: {hits:?}");
    }
    for i in (1..50u32).step_by(3) {
        let probe = Probe::new(&vectors[i as usize], dim).map_err(|e| format!("{e}"))?;
        let hits = store.search(&probe, 1, 0.9).map_err(|e| format!("{e}"))?;
        ensure!(hits.first().map(|c| c.person) == Some(PersonId(i)), "person {i} not found first: {hits:?}");
    }
    Ok(())
}

fn terminal_grants_withdraws_and_leaves_a_clean_log() -> Outcome {
    let dim = 128;
    let config = TerminalConfig::new(Gate { id: GateId(7) }.inbound(), CompoundId(1), dim);
    let policy = Policy::compliant();
    let mut t = Terminal::new(config, policy.clone()).map_err(|e| format!("{e}"))?;
    let mut log = Vec::new();
    let mut v = Vectors(7);
    let mut now = Timestamp(1_000);
    let feed = |t: &mut Terminal, now: Timestamp, e: Event, log: &mut Vec<_>| -> Vec<Action> {
        let actions: Vec<Action> = t.handle(now, e).collect();
        log.extend(actions.iter().filter_map(|a| match a {
            Action::Audit(r) => Some(r.clone()),
            _ => None,
        }));
        actions
    };
    let faces: Vec<Vec<f32>> = (0..3).map(|_| v.vector(dim)).collect();
    for i in 0..3u32 {
        let person = PersonId(i);
        let cmds = fixtures::enrolled_owner(person, 100 + u64::from(i), now, 86_400_000, faces[i as usize].clone());
        for c in cmds {
            feed(&mut t, now, Event::Admin(c), &mut log);
        }
    }
    ensure!(t.store().len() == 3, "3 templates stored, found {}", t.store().len());
    now = now.plus_ms(10_000);
    let a = feed(&mut t, now, Event::FaceProbe { embedding: faces[1].clone() }, &mut log);
    ensure!(a.iter().any(|a| matches!(a, Action::Grant { person: PersonId(1), .. })), "face of 1 not granted: {a:?}");
    now = now.plus_ms(10_000);
    feed(&mut t, now, Event::Tick, &mut log);
    let a = feed(
        &mut t,
        now,
        Event::CredentialPresented {
            kind: CredentialKind::IcCard,
            credential: CredentialId(102),
            frame_captured: true,
        },
        &mut log,
    );
    ensure!(a.iter().any(|a| matches!(a, Action::Grant { person: PersonId(2), .. })), "card of 2 not granted: {a:?}");
    now = now.plus_ms(10_000);
    feed(&mut t, now, Event::Tick, &mut log);
    feed(&mut t, now, Event::Admin(AdminCommand::WithdrawConsent(PersonId(1))), &mut log);
    ensure!(!t.store().contains(PersonId(1)), "withdrawn template still stored");
    now = now.plus_ms(10_000);
    let a = feed(&mut t, now, Event::FaceProbe { embedding: faces[1].clone() }, &mut log);
    let matched = log.iter().rev().find_map(|r| match r.event {
        AuditEvent::MatchAttempt { outcome } => Some(outcome),
        _ => None,
    });
    ensure!(matched == Some(MatchOutcome::NoMatch), "withdrawn face still matched: {matched:?} {a:?}");
    // Template deadlines: a day's retention ends, and the store empties itself when the driver
    // wakes it at the time it asked for.
    let until = now.plus_ms(2 * 86_400_000);
    while let Some(at) = t.poll_timeout().filter(|&at| at <= until) {
        feed(&mut t, at, Event::Tick, &mut log);
    }
    ensure!(t.store().is_empty(), "retention over, {} templates left", t.store().len());
    let report = gatelab_core::check(&log, &policy);
    ensure!(report.is_clean(), "consent checker on the target's log: {:?}", report.violations);
    Ok(())
}

/// Issue 14 on the target: a fault inside a grant's window and inside a guard's override window
/// (policy open-for-all) widens the window, audits `DoorOpened { FaultOpenAll }` at the fault and
/// says so in `OpenDoor`; the granted person passes as granted, the next as fault-open; the
/// checker flags C7 at the door record even when told the policy is compliant.
fn a_fault_inside_an_open_window_is_audited_as_open_for_all() -> Outcome {
    let dim = 16;
    let mut policy = Policy::compliant();
    policy.on_fault = gatelab_core::policy::FaultMode::OpenForAll;
    for guard_window in [false, true] {
        let config = TerminalConfig::new(Gate { id: GateId(8) }.inbound(), CompoundId(1), dim);
        let mut t = Terminal::new(config, policy.clone()).map_err(|e| format!("{e}"))?;
        let mut log = Vec::new();
        let feed = |t: &mut Terminal, ms: u64, e: Event, log: &mut Vec<_>| -> Vec<Action> {
            let actions: Vec<Action> = t.handle(Timestamp(ms), e).collect();
            log.extend(actions.iter().filter_map(|a| match a {
                Action::Audit(r) => Some(r.clone()),
                _ => None,
            }));
            actions
        };
        let face = Vectors(3).vector(dim);
        for c in fixtures::enrolled_owner(PersonId(1), 11, Timestamp(0), 86_400_000, face) {
            feed(&mut t, 0, Event::Admin(c), &mut log);
        }
        let guard = Person { id: PersonId(9), kind: PersonKind::Guard, household: None, age_years: 50 };
        feed(&mut t, 0, Event::Admin(AdminCommand::RegisterPerson(guard)), &mut log);
        let key = Credential {
            id: CredentialId(99),
            holder: PersonId(9),
            kind: CredentialKind::GuardOverride,
            expires_at: None,
        };
        feed(&mut t, 0, Event::Admin(AdminCommand::IssueCredential(key)), &mut log);
        let (opener, first) = if guard_window {
            (
                Event::GuardOverride { credential: CredentialId(99) },
                AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen },
            )
        } else {
            (
                Event::CredentialPresented {
                    kind: CredentialKind::IcCard,
                    credential: CredentialId(11),
                    frame_captured: false,
                },
                AuditEvent::Passage,
            )
        };
        feed(&mut t, 1_000, opener, &mut log);
        let a = feed(&mut t, 1_500, Event::ComponentFault(Component::Camera), &mut log);
        ensure!(
            a.contains(&Action::OpenDoor { cause: OpenCause::FaultOpenAll }),
            "guard window {guard_window}: the fault did not open the door for everyone: {a:?}"
        );
        let door = log.iter().position(|r| r.event == AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll });
        let Some(door) = door else { return Err(format!("guard window {guard_window}: no DoorOpened(FaultOpenAll)")) };
        let passages: Vec<AuditEvent> = (0..2u64)
            .flat_map(|i| feed(&mut t, 2_000 + i, Event::PassageSensed, &mut log))
            .filter_map(|a| match a {
                Action::Audit(r) => Some(r.event),
                _ => None,
            })
            .collect();
        let fault_open = AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen };
        ensure!(passages == [first, fault_open], "guard window {guard_window}: passages audited as {passages:?}");
        let report = gatelab_core::check(&log, &Policy::compliant());
        ensure!(
            report.violations.iter().any(|v| v.rule == gatelab_core::Rule::C7 && v.record == Some(door)),
            "guard window {guard_window}: no C7 at the door record: {:?}",
            report.violations
        );
    }
    Ok(())
}

/// The persistent terminal over RAM-backed flash on the target itself: power cut at every write
/// point of "enrol three, withdraw one, let retention run out", then recovery from the bytes.
fn storage_survives_every_power_cut() -> Outcome {
    use gatelab_core::flash::{FlashError, Geometry, MemFlash, Outage, PowerCut};
    use gatelab_core::journal::{JournalError, StorageKey};
    use gatelab_core::persist::{PersistError, PersistentTerminal};

    const ID: Geometry = Geometry { page_size: 32, sector_size: 2048, sectors: 6 };
    const BIO: Geometry = Geometry { page_size: 32, sector_size: 1024, sectors: 6 };
    let dim = 64;
    let config = TerminalConfig::new(Gate { id: GateId(9) }.inbound(), CompoundId(1), dim);
    let key = StorageKey::new([0x5a; 32]);
    let faces: Vec<Vec<f32>> = (0..3).map(|i| Vectors(40 + i).vector(dim)).collect();
    let mut script: Vec<(Timestamp, Event)> = Vec::new();
    for i in 0..3u32 {
        let at = Timestamp(1_000 + u64::from(i));
        for c in fixtures::enrolled_owner(PersonId(i), 200 + u64::from(i), at, 86_400_000, faces[i as usize].clone()) {
            script.push((at, Event::Admin(c)));
        }
    }
    let withdraw_at = script.len();
    script.push((Timestamp(5_000), Event::Admin(AdminCommand::WithdrawConsent(PersonId(1)))));
    script.push((Timestamp(3 * 86_400_000), Event::Tick));
    let power_lost = |e: &PersistError| {
        matches!(
            e,
            PersistError::Identity(JournalError::Flash(FlashError::PowerLost))
                | PersistError::Biometric(JournalError::Flash(FlashError::PowerLost))
        )
    };
    let mut cut = 0u64;
    loop {
        let outage = Outage::at(cut, cut as u32 + 1);
        let mut id = PowerCut::new(MemFlash::blank(ID).map_err(|e| format!("{e}"))?, &outage);
        let mut bio = PowerCut::new(MemFlash::blank(BIO).map_err(|e| format!("{e}"))?, &outage);
        let mut done = 0;
        match PersistentTerminal::open(config.clone(), Policy::compliant(), &mut id, &mut bio, &key) {
            Ok((mut t, _, _)) => {
                for (at, e) in &script {
                    match t.handle(*at, e.clone()) {
                        Ok(_) => done += 1,
                        Err(e) if power_lost(&e) => break,
                        Err(e) => return Err(format!("step {done} failed without a cut: {e}")),
                    }
                }
            }
            Err(e) if power_lost(&e) => {}
            Err(e) => return Err(format!("blank flash: {e}")),
        }
        if !outage.power_lost() {
            ensure!(cut > 10, "only {cut} write points");
            return Ok(());
        }
        let id = MemFlash::over(ID, id.into_inner().into_inner()).map_err(|e| format!("{e}"))?;
        let bio = MemFlash::over(BIO, bio.into_inner().into_inner()).map_err(|e| format!("{e}"))?;
        let (mut t, _, recovery) = PersistentTerminal::open(config.clone(), Policy::compliant(), id, bio, &key)
            .map_err(|e| format!("cut {cut}: recovery failed: {e}"))?;
        ensure!(recovery.identity.rejected + recovery.biometric.rejected == 0, "cut {cut}: torn read as tampered");
        let now = t.terminal().now();
        for p in t.terminal().store().persons().collect::<Vec<_>>() {
            ensure!(t.terminal().ledger().active(p, now).is_some(), "cut {cut}: template of {p:?} without consent");
        }
        if done > withdraw_at {
            ensure!(!t.terminal().store().contains(PersonId(1)), "cut {cut}: withdrawal lost");
            let a = t.handle(now, Event::FaceProbe { embedding: faces[1].clone() }).map_err(|e| format!("{e}"))?;
            ensure!(!a.iter().any(|a| matches!(a, Action::Grant { .. })), "cut {cut}: withdrawn face granted");
        }
        if done == withdraw_at {
            let enrolled: Vec<_> = t.terminal().store().persons().collect();
            ensure!(enrolled.contains(&PersonId(0)) && enrolled.contains(&PersonId(2)), "cut {cut}: enrolment lost");
        }
        cut += 1;
    }
}

fn wire_round_trips_on_target() -> Outcome {
    let msg = HostMsg::Event {
        now: Timestamp(5),
        event: Event::Admin(AdminCommand::Enroll { person: PersonId(3), embedding: Vectors(3).vector(512) }),
    };
    let mut frame = Vec::new();
    wire::encode_host(&msg, &mut frame).map_err(|e| format!("{e}"))?;
    let back: HostMsg = wire::decode(&frame[..frame.len() - 1], &mut Vec::new()).map_err(|e| format!("{e}"))?;
    ensure!(back == msg, "host message changed on the way");
    let reply = TargetMsg::Action(Action::Grant { person: PersonId(3), credential: CredentialKind::Face });
    frame.clear();
    wire::encode_target(&reply, &mut frame).map_err(|e| format!("{e}"))?;
    let back: TargetMsg = wire::decode(&frame[..frame.len() - 1], &mut Vec::new()).map_err(|e| format!("{e}"))?;
    ensure!(back == reply, "target message changed on the way");
    Ok(())
}

/// Templates go to flash in the portable layout and come back into the store's own (on the
/// M55 interleaved by six): after a withdrawal moved a row, a reopen, every face still matches
/// its person, with and without a tail, in a whole group and in a padded one.
fn templates_read_back_from_storage() -> Outcome {
    use gatelab_core::flash::{Geometry, MemFlash};
    use gatelab_core::journal::StorageKey;
    use gatelab_core::persist::PersistentTerminal;

    const GEOMETRY: Geometry = Geometry { page_size: 32, sector_size: 4096, sectors: 8 };
    let key = StorageKey::new([0x6b; 32]);
    for dim in [100, 128] {
        let config = TerminalConfig::new(Gate { id: GateId(3) }.inbound(), CompoundId(1), dim);
        let blank = || MemFlash::blank(GEOMETRY).map_err(|e| format!("{e}"));
        let (mut t, _, _) = PersistentTerminal::open(config.clone(), Policy::compliant(), blank()?, blank()?, &key)
            .map_err(|e| format!("dim {dim}: {e}"))?;
        let faces: Vec<Vec<f32>> = (0..8).map(|i| Vectors(70 + i).vector(dim)).collect();
        let at = Timestamp(1_000);
        for (i, face) in faces.iter().enumerate() {
            for c in fixtures::enrolled_owner(PersonId(i as u32), 300 + i as u64, at, 86_400_000, face.clone()) {
                t.handle(at, Event::Admin(c)).map_err(|e| format!("dim {dim}: {e}"))?;
            }
        }
        // The last template moves into the withdrawn one's place.
        t.handle(at, Event::Admin(AdminCommand::WithdrawConsent(PersonId(2)))).map_err(|e| format!("{e}"))?;
        let (id, bio) = t.into_flash();
        let (mut t, _, _) = PersistentTerminal::open(config, Policy::compliant(), id, bio, &key)
            .map_err(|e| format!("dim {dim}: reopen: {e}"))?;
        ensure!(t.terminal().store().len() == 7, "dim {dim}: {} templates back", t.terminal().store().len());
        for (i, face) in faces.iter().enumerate() {
            let now = t.terminal().now();
            let actions = t.handle(now, Event::FaceProbe { embedding: face.clone() }).map_err(|e| format!("{e}"))?;
            let granted = actions.iter().find_map(|a| match a {
                Action::Grant { person, .. } => Some(*person),
                _ => None,
            });
            let want = (i != 2).then_some(PersonId(i as u32));
            ensure!(granted == want, "dim {dim}, face {i}: granted {granted:?}, want {want:?}");
        }
    }
    Ok(())
}

fn clock_counts(clock: &mut crate::ticks::Ticks) -> Outcome {
    let t0 = clock.ticks();
    crate::calibrate::adds_5000();
    let t1 = clock.ticks();
    ensure!(t1 > t0, "the tick counter did not advance over 5,000 instructions ({t0} → {t1})");
    Ok(())
}

type Test<'a> = (&'a str, &'a dyn Fn(&mut crate::ticks::Ticks) -> Outcome);

pub fn run_and_exit(mut clock: crate::ticks::Ticks) -> ! {
    let clock = &mut clock;
    let tests: [Test; 8] = [
        ("storage_survives_every_power_cut", &|_| storage_survives_every_power_cut()),
        ("int8_kernel_matches_the_portable_definition", &|_| int8_kernel_matches_the_portable_definition()),
        ("store_survives_removals_and_reinsertions", &|_| store_survives_removals_and_reinsertions()),
        ("templates_read_back_from_storage", &|_| templates_read_back_from_storage()),
        ("terminal_grants_withdraws_and_leaves_a_clean_log", &|_| terminal_grants_withdraws_and_leaves_a_clean_log()),
        ("a_fault_inside_an_open_window_is_audited_as_open_for_all", &|_| {
            a_fault_inside_an_open_window_is_audited_as_open_for_all()
        }),
        ("wire_round_trips_on_target", &|_| wire_round_trips_on_target()),
        ("clock_counts", &|c| clock_counts(c)),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        match test(clock) {
            Ok(()) => hprintln!("test {} ... ok", name),
            Err(why) => {
                failed += 1;
                hprintln!("test {} ... FAILED: {}", name, why);
            }
        }
    }
    hprintln!("selftest: {} passed, {} failed", tests.len() - failed, failed);
    debug::exit(if failed == 0 { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
    #[allow(clippy::empty_loop)]
    loop {}
}
