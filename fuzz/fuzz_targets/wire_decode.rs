//! The wire protocol decoder (`gatelab_core::wire`), both directions.
//!
//! The input is used twice: as a raw byte stream cut into frames by `FrameReader`, and as the
//! postcard body of a frame this target builds with a correct version byte and CRC (a fuzzer
//! would almost never guess a CRC-32, so without this the message decoder stays unreached).
//!
//! Invariants: nothing panics; the reader never buffers more than `MAX_ENCODED` bytes; every
//! frame that decodes re-encodes (the encoder accepts whatever the decoder accepted), the new
//! frame has no zero before its delimiter and decodes to the same message.
#![no_main]

use gatelab_core::wire::{self, Frame, FrameReader, HostMsg, LinkError, MAX_ENCODED, TargetMsg, VERSION, decode};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;

fuzz_target!(|data: &[u8]| {
    let mut reader = FrameReader::new();
    for &byte in data {
        match reader.push(byte) {
            Some(Frame::Complete(frame)) => {
                let frame = frame.to_vec();
                reader.consumed();
                both(&frame);
            }
            Some(Frame::Oversize) | None => {}
        }
        assert!(reader.pending() <= MAX_ENCODED);
    }
    both(&framed(data));
});

/// A frame as a peer of this version would send `body`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(body.len() + 5);
    raw.push(VERSION);
    raw.extend_from_slice(body);
    raw.extend_from_slice(&crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC).checksum(&raw).to_le_bytes());
    let mut frame = vec![0; raw.len() + raw.len() / 254 + 1];
    let n = cobs_encode(&raw, &mut frame);
    frame.truncate(n);
    frame
}

/// Consistent Overhead Byte Stuffing, written out here so the target does not trust the
/// library it is checking against.
fn cobs_encode(src: &[u8], dst: &mut [u8]) -> usize {
    let (mut code_at, mut out, mut code) = (0, 1, 1u8);
    for &b in src {
        if b == 0 {
            dst[code_at] = code;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            dst[out] = b;
            out += 1;
            code += 1;
            if code == 0xff {
                dst[code_at] = code;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    out
}

fn both(frame: &[u8]) {
    round_trip::<HostMsg>(frame, wire::encode_host);
    round_trip::<TargetMsg>(frame, wire::encode_target);
}

fn round_trip<M>(frame: &[u8], encode: fn(&M, &mut Vec<u8>) -> Result<(), LinkError>)
where
    M: DeserializeOwned + core::fmt::Debug,
{
    let mut scratch = Vec::new();
    let Ok(msg) = decode::<M>(frame, &mut scratch) else { return };
    let mut out = Vec::new();
    if let Err(e) = encode(&msg, &mut out) {
        panic!("decoded a frame the encoder refuses ({e}): {msg:?}");
    }
    let (&last, body) = out.split_last().expect("a frame");
    assert_eq!(last, 0, "frame ends with the delimiter");
    assert!(!body.contains(&0), "no zero inside a frame");
    let again = decode::<M>(body, &mut scratch).expect("a re-encoded frame decodes");
    // Debug, not PartialEq: an embedding may hold NaN, which is not equal to itself.
    assert_eq!(format!("{again:?}"), format!("{msg:?}"));
    let mut twice = Vec::new();
    encode(&again, &mut twice).expect("encodes again");
    assert_eq!(twice, out, "encoding is deterministic");
}
