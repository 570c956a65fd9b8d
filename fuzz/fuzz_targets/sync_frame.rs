//! The authority link (`gatelab_core::sync`), the input a terminal takes from the LAN: frames
//! anyone plugged into the compound's network can send.
//!
//! The first byte picks what the rest is: (0) a frame as it arrives, handed to a linked terminal
//! — unless it is one of the seeds' authentic frames it cannot carry this terminal's tag, so it
//! must be refused, counted and audited with the state unchanged; (1) a frame body, decoded, re-addressed and sealed with the right key, so
//! the authenticated path (entries of any kind, versions, gaps, heads) runs — the terminal
//! never claims a version beyond the frame's head nor goes back; (2) a terminal's report to the
//! authority, which must refuse it (bad tag) without changing what it believes.
#![no_main]

use gatelab_core::sync::{Authority, Downlink, LinkKey, Uplink};
use gatelab_core::*;
use libfuzzer_sys::fuzz_target;

const COMPOUND: CompoundId = CompoundId(5);
const MASTER: [u8; 32] = [0x42; 32];

fn lane() -> TerminalId {
    Gate { id: GateId(1) }.inbound()
}

fn linked() -> Terminal {
    let mut t = Terminal::new(TerminalConfig::new(lane(), COMPOUND, 8), Policy::compliant()).expect("8-d terminal");
    let _ = t.attach_authority(Timestamp(0), LinkKey::derive(&MASTER, COMPOUND, lane()), 0, 1).count();
    t
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode % 3 {
        0 => {
            let mut t = linked();
            let before = t.stats().sync_refused;
            let authentic = Downlink::open(rest, &LinkKey::derive(&MASTER, COMPOUND, lane())).is_ok();
            let _ = t.handle(Timestamp(1_000), Event::FromAuthority(rest.to_vec())).count();
            if !authentic {
                assert_eq!(t.stats().sync_refused, before + 1, "an unauthenticated frame was not refused");
                assert_eq!(t.sync_version(), Some(0));
                assert!(t.store().is_empty());
            }
        }
        1 => {
            let Ok(mut down) = Downlink::decode_body(rest) else { return };
            down.compound = COMPOUND;
            down.terminal = lane();
            let mut t = linked();
            let frame = down.seal(&LinkKey::derive(&MASTER, COMPOUND, lane()));
            let _ = t.handle(Timestamp(1_000), Event::FromAuthority(frame)).count();
            let applied = t.sync_version().unwrap_or(0);
            assert!(applied <= down.head, "applied {applied} beyond the head {}", down.head);
            assert!(applied == 0 || down.first == 1, "applied entries after a gap");
        }
        _ => {
            let Ok(up) = Uplink::decode(rest) else { return };
            let mut authority =
                Authority::new(COMPOUND, Policy::compliant(), &MASTER, [(lane(), true)]).expect("valid policy");
            let _ = authority.handle_uplink(Timestamp(1_000), &up).count();
            assert!(authority.acked(lane()).unwrap_or(0) <= authority.head());
        }
    }
});
