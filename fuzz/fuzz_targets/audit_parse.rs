//! The audit log parser (`gatelab_core::audit::jsonl`), which `gatelab check` reads logs with.
//!
//! Invariants: nothing panics; an error names a line of the input; a log that reads is written
//! back and reads again as the same records; reading line by line with `parse_line` (as the
//! streaming CLI does) agrees with reading the whole log.
#![no_main]

use gatelab_core::audit::jsonl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    let whole = jsonl::read(data);
    match &whole {
        Ok(records) => {
            let mut out = Vec::new();
            jsonl::write(&mut out, records).expect("writing to memory");
            let again = jsonl::read(out.as_slice()).expect("a written log reads");
            assert_eq!(&again, records);
            for r in records {
                assert_eq!(jsonl::parse_line(&jsonl::to_line(r), 1).as_ref().ok(), Some(r));
            }
        }
        Err(e) => {
            assert!(e.line() >= 1 && e.line() <= lines, "error at line {} of {lines}: {e}", e.line());
            let _ = e.to_string();
        }
    }
    // The streaming reader's way: lines of valid UTF-8, blank ones skipped.
    if let Ok(text) = std::str::from_utf8(data) {
        let mut streamed = Vec::new();
        let mut first_error = None;
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match jsonl::parse_line(line, i + 1) {
                Ok(r) => streamed.push(r),
                Err(e) => {
                    first_error = Some(e.line());
                    break;
                }
            }
        }
        match (&whole, first_error) {
            (Ok(records), None) => assert_eq!(&streamed, records),
            (Err(e), Some(line)) => assert_eq!(e.line(), line),
            (whole, streamed) => panic!("read gave {whole:?}, line by line {streamed:?}"),
        }
    }
});
