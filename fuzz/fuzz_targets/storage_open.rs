//! Reading a terminal's storage back (`gatelab_core::persist` over `journal` and `flash`), the
//! other input a terminal takes from outside: whatever its flash holds after power loss, wear or
//! tampering.
//!
//! The input is a script and a list of damages. The script (one byte per step: register,
//! consent, enrol, withdraw, move out, time passing, for a handful of people) builds real flash
//! images through a `PersistentTerminal`; the damages then XOR bytes anywhere in them (torn
//! pages, flipped bits, edited records). Invariants: opening never panics; when it succeeds,
//! every template it restored belongs to a registered person with live consent (ledger and
//! store agree), and opening again what it left gives the same templates (recovery is
//! idempotent).
#![no_main]

use gatelab_core::consent::Grantor;
use gatelab_core::flash::{Geometry, MemFlash};
use gatelab_core::journal::StorageKey;
use gatelab_core::persist::PersistentTerminal;
use gatelab_core::*;
use libfuzzer_sys::fuzz_target;

const DIM: usize = 8;
const IDENTITY: Geometry = Geometry { page_size: 32, sector_size: 512, sectors: 6 };
const BIOMETRIC: Geometry = Geometry { page_size: 32, sector_size: 256, sectors: 6 };

fn config() -> TerminalConfig {
    TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), DIM)
}

fn key() -> StorageKey {
    StorageKey::new([3; 32])
}

fn step(byte: u8, now: Timestamp) -> Event {
    let p = PersonId(u32::from(byte & 3));
    Event::Admin(match byte >> 2 & 7 {
        0 | 1 => {
            AdminCommand::RegisterPerson(Person { id: p, kind: PersonKind::Owner, household: None, age_years: 40 })
        }
        2 => AdminCommand::RecordConsent(ConsentRecord::face_access(
            ConsentId(u64::from(byte)),
            p,
            CompoundId(1),
            Grantor::Subject,
            now,
            u64::from(byte >> 5) * 3_600_000,
        )),
        3 | 4 => AdminCommand::Enroll {
            person: p,
            embedding: (0..DIM).map(|i| if i == p.0 as usize { 1.0 } else { 0.1 * i as f32 }).collect(),
        },
        5 => AdminCommand::WithdrawConsent(p),
        6 => AdminCommand::PersonLeft(p),
        _ => return Event::Tick,
    })
}

fn templates<I: gatelab_core::flash::Flash, B: gatelab_core::flash::Flash>(
    t: &PersistentTerminal<I, B>,
) -> Vec<PersonId> {
    t.terminal().store().persons().collect()
}

fuzz_target!(|data: &[u8]| {
    let (script, damage) = data.split_at(data.iter().position(|&b| b == 0xFF).unwrap_or(data.len()));
    let blank = |g| MemFlash::blank(g).expect("valid geometry");
    let Ok((mut t, _, _)) =
        PersistentTerminal::open(config(), Policy::compliant(), blank(IDENTITY), blank(BIOMETRIC), &key())
    else {
        panic!("blank flash must open");
    };
    let mut now = Timestamp(1_000);
    for &b in script.iter().take(64) {
        now = now.plus_ms(if b >> 2 & 7 == 7 { 3_600_000 } else { 1_000 });
        // A full flash is a legitimate outcome of a long script; stop there.
        if t.handle(now, step(b, now)).is_err() {
            break;
        }
    }
    let (id, bio) = t.into_flash();
    let (mut id, mut bio) = (id.into_inner(), bio.into_inner());
    for d in damage.get(1..).unwrap_or_default().chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([d[0], d[1]]));
        let image = if at & 1 == 0 { &mut id } else { &mut bio };
        let len = image.len();
        image[(at >> 1) % len] ^= d[2];
    }
    let (Ok(i), Ok(b)) = (MemFlash::over(IDENTITY, id), MemFlash::over(BIOMETRIC, bio)) else {
        panic!("images keep their size");
    };
    let Ok((t, _, _)) = PersistentTerminal::open(config(), Policy::compliant(), i, b, &key()) else {
        return; // refused (another key's records, a foreign dimension): fine, nothing panicked
    };
    let restored = templates(&t);
    let now = t.terminal().now();
    for p in &restored {
        assert!(t.terminal().person(*p).is_some(), "template of an unregistered person {p:?}");
        assert!(t.terminal().ledger().active(*p, now).is_some(), "template of {p:?} without live consent");
    }
    let (i, b) = t.into_flash();
    let (Ok(i), Ok(b)) = (MemFlash::over(IDENTITY, i.into_inner()), MemFlash::over(BIOMETRIC, b.into_inner())) else {
        panic!("images keep their size");
    };
    match PersistentTerminal::open(config(), Policy::compliant(), i, b, &key()) {
        Ok((again, _, _)) => assert_eq!(templates(&again), restored, "recovery is not idempotent"),
        Err(e) => panic!("what recovery left does not open again: {e}"),
    }
});
