//! Recorded terminal input: every event each terminal of a compound received, in the order it
//! received them, so another implementation of the terminal (the firmware under QEMU or on a
//! board) can be fed the very same stream and its decisions compared one by one.
//!
//! On disk (std): JSON Lines, a [`TraceHeader`] first, then one [`TraceEntry`] per line.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::policy::Policy;
use crate::terminal::{Event, TerminalConfig};

/// Bumped when the format changes.
pub const TRACE_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceHeader {
    pub trace_version: u32,
    /// Where the events came from (scenario name, seed), for people reading the file.
    pub origin: String,
    pub policy: Policy,
    /// Entry `terminal` fields index this list.
    pub terminals: Vec<TerminalConfig>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub terminal: u16,
    pub at: Timestamp,
    pub event: Event,
}

/// The trace at `factor` times its gate-event rate: the gate events (cards, faces, passages,
/// doors, faults, ticks) of the whole trace are repeated `factor` times and squeezed into the
/// original span, so each terminal gets `factor` times as many per second from the same
/// residents; admin commands (registration, consent) stay as they were. Order is by time,
/// stable, so per-terminal order within a copy is kept.
pub fn flood(entries: &[TraceEntry], factor: u32) -> Vec<TraceEntry> {
    let factor = u64::from(factor.max(1));
    let is_gate = |e: &TraceEntry| !matches!(e.event, Event::Admin(_));
    let Some(start) = entries.iter().filter(|e| is_gate(e)).map(|e| e.at.0).min() else {
        return entries.to_vec();
    };
    let end = entries.iter().filter(|e| is_gate(e)).map(|e| e.at.0).max().unwrap_or(start);
    let span = end - start + 1;
    let mut out: Vec<TraceEntry> = entries.iter().filter(|e| !is_gate(e)).cloned().collect();
    for copy in 0..factor {
        out.extend(entries.iter().filter(|e| is_gate(e)).map(|e| TraceEntry {
            terminal: e.terminal,
            at: Timestamp(start + (e.at.0 - start + copy * span) / factor),
            event: e.event.clone(),
        }));
    }
    out.sort_by_key(|e| e.at);
    out
}

#[cfg(feature = "std")]
pub mod jsonl {
    //! Reading and writing trace files.

    use super::*;
    use std::io::{BufRead, Write};

    #[derive(Debug)]
    pub enum ReadError {
        Io { line: usize, source: std::io::Error },
        Empty,
        Malformed { line: usize, source: serde_json::Error },
        Version { found: u32 },
        UnknownTerminal { line: usize, terminal: u16, terminals: usize },
    }

    impl core::fmt::Display for ReadError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                ReadError::Io { line, source } => write!(f, "line {line}: could not read: {source}"),
                ReadError::Empty => f.write_str(
                    "empty: a trace starts with a header line; make one with `gatelab run SCENARIO --export-trace FILE`",
                ),
                ReadError::Malformed { line: 1, source } => write!(
                    f,
                    "line 1: not a trace header ({source}); make a trace with `gatelab run SCENARIO --export-trace FILE`"
                ),
                ReadError::Malformed { line, source } => write!(f, "line {line}: not a trace entry ({source})"),
                ReadError::Version { found } => write!(
                    f,
                    "line 1: trace format {found}, this build reads {TRACE_VERSION}: re-export it with this gatelab"
                ),
                ReadError::UnknownTerminal { line, terminal, terminals } => write!(
                    f,
                    "line {line}: terminal {terminal} but the header lists {terminals} terminals"
                ),
            }
        }
    }

    impl std::error::Error for ReadError {}

    pub fn write_header(mut w: impl Write, header: &TraceHeader) -> std::io::Result<()> {
        serde_json::to_writer(&mut w, header)?;
        w.write_all(b"\n")
    }

    pub fn write_entry(mut w: impl Write, entry: &TraceEntry) -> std::io::Result<()> {
        serde_json::to_writer(&mut w, entry)?;
        w.write_all(b"\n")
    }

    /// Read a whole trace; blank lines are skipped.
    pub fn read(reader: impl BufRead) -> Result<(TraceHeader, Vec<TraceEntry>), ReadError> {
        let mut header: Option<TraceHeader> = None;
        let mut entries = Vec::new();
        for (i, text) in reader.lines().enumerate() {
            let line = i + 1;
            let text = text.map_err(|source| ReadError::Io { line, source })?;
            if text.trim().is_empty() {
                continue;
            }
            match &header {
                None => {
                    let h: TraceHeader =
                        serde_json::from_str(&text).map_err(|source| ReadError::Malformed { line, source })?;
                    if h.trace_version != TRACE_VERSION {
                        return Err(ReadError::Version { found: h.trace_version });
                    }
                    header = Some(h);
                }
                Some(h) => {
                    let e: TraceEntry =
                        serde_json::from_str(&text).map_err(|source| ReadError::Malformed { line, source })?;
                    if usize::from(e.terminal) >= h.terminals.len() {
                        return Err(ReadError::UnknownTerminal {
                            line,
                            terminal: e.terminal,
                            terminals: h.terminals.len(),
                        });
                    }
                    entries.push(e);
                }
            }
        }
        let header = header.ok_or(ReadError::Empty)?;
        Ok((header, entries))
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::jsonl::{ReadError, read};

    #[test]
    fn bad_traces_say_what_is_wrong_and_where() {
        assert!(matches!(read(&b""[..]), Err(ReadError::Empty)));
        assert!(matches!(read(&b"{\"not\": 1}\n"[..]), Err(ReadError::Malformed { line: 1, .. })));
        let header = r#"{"trace_version":1,"origin":"t","policy":{"name":"compliant","face_optional":true,"resident_non_face":["ic_card"],"non_face_extra_registration":false,"discard_incidental_frames":true,"max_retention_ms":1,"deletion_bound_ms":1,"on_fault":"degrade_to_non_face"},"terminals":[]}"#;
        let text = format!("{header}\n{{\"terminal\":0,\"at\":5,\"event\":\"tick\"}}\n");
        let err = read(text.as_bytes()).unwrap_err();
        assert!(matches!(err, ReadError::UnknownTerminal { line: 2, terminal: 0, terminals: 0 }), "{err}");
        let future = header.replace("\"trace_version\":1", "\"trace_version\":99");
        let err = read(future.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("re-export"), "{err}");
        let (h, e) = read(format!("{header}\n\n").as_bytes()).unwrap();
        assert_eq!((h.origin.as_str(), e.len()), ("t", 0));
    }
}
