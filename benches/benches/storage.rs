//! The terminal's encrypted, power-loss-safe storage (`gatelab_core::persist`) on one core, over
//! in-memory flash (so the figures are the journal's and AES-256-GCM-SIV's cost, not a device's):
//! an enrolment written through (512-d int8), a withdrawal (tombstone, then the sector holding
//! the template compacted and erased), and recovery of a 5,000-resident terminal at boot.

use std::time::Instant;

use gatelab_benches::{median_secs, move_in, vector};
use gatelab_core::flash::{Geometry, MemFlash};
use gatelab_core::journal::StorageKey;
use gatelab_core::persist::PersistentTerminal;
use gatelab_core::*;

const DIM: usize = 512;
const RESIDENTS: u32 = 5_000;
const IDENTITY: Geometry = Geometry { page_size: 32, sector_size: 16 * 1024, sectors: 160 };
const BIOMETRIC: Geometry = Geometry { page_size: 32, sector_size: 64 * 1024, sectors: 64 };

type Stored = PersistentTerminal<MemFlash<Vec<u8>>, MemFlash<Vec<u8>>>;

fn key() -> StorageKey {
    StorageKey::new([9; 32])
}

fn config() -> TerminalConfig {
    TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), DIM)
}

fn blank() -> Stored {
    let flash = |g| MemFlash::blank(g).expect("valid geometry");
    PersistentTerminal::open(config(), Policy::compliant(), flash(IDENTITY), flash(BIOMETRIC), &key())
        .expect("blank flash opens")
        .0
}

fn admit(t: &mut Stored, p: u32) {
    for e in move_in(p).map(Event::Admin) {
        t.handle(Timestamp(1), e).expect("room");
    }
}

fn main() {
    // Enrolment: registry and consent first (not timed), then the template, written through.
    let mut t = blank();
    let mut next = 0u32;
    let enrol = median_secs(5, 200, || {
        admit(&mut t, next);
        let e = Event::Admin(AdminCommand::Enroll { person: PersonId(next), embedding: vector(u64::from(next), DIM) });
        t.handle(Timestamp(1), e).expect("room");
        next += 1;
    });
    // Withdrawal: tombstone, then erase-by-compaction of the template's sector.
    let mut withdrawn = 0u32;
    let withdraw = median_secs(5, 50, || {
        t.handle(Timestamp(2), Event::Admin(AdminCommand::WithdrawConsent(PersonId(withdrawn)))).expect("room");
        withdrawn += 1;
    });
    // Recovery of a full terminal.
    let mut t = blank();
    for p in 0..RESIDENTS {
        admit(&mut t, p);
        let e = Event::Admin(AdminCommand::Enroll { person: PersonId(p), embedding: vector(u64::from(p), DIM) });
        t.handle(Timestamp(1), e).expect("room");
    }
    let (id, bio) = t.into_flash();
    let (id, bio) = (id.into_inner(), bio.into_inner());
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let (i, b) = (MemFlash::over(IDENTITY, id.clone()).unwrap(), MemFlash::over(BIOMETRIC, bio.clone()).unwrap());
        let start = Instant::now();
        let (t, _, _) = PersistentTerminal::open(config(), Policy::compliant(), i, b, &key()).expect("recovers");
        best = best.min(start.elapsed().as_secs_f64());
        assert_eq!(t.terminal().store().len(), RESIDENTS as usize);
    }
    println!(
        "storage enrol (registration, card, consent and a 512-d int8 template, written through): {:.1} µs",
        enrol * 1e6
    );
    println!("storage withdraw (tombstone + erase of the sector): {:.1} µs", withdraw * 1e6);
    println!(
        "storage recovery of {RESIDENTS} residents at {DIM}-d ({:.1} MB of flash): {:.0} ms",
        (IDENTITY.bytes() + BIOMETRIC.bytes()) as f64 / 1e6,
        best * 1e3
    );
}
