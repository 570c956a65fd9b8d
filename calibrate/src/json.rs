//! JSON logs for a mapping with `[source] format = "json"`: a file of one or more JSON documents
//! one after another (one document, JSON Lines, or pages of a search saved back to back), each
//! holding an array of flat records at a dotted path (`records = "AcsEvent.InfoList"`).
//!
//! Memory is bounded by the largest single document ([`MAX_DOCUMENT_BYTES`]), not by the file:
//! [`Documents`] cuts the byte stream into documents by counting brackets outside strings, and
//! only then is one document parsed — its records borrowed as raw text, one parsed at a time, so
//! each record's line in the file is known exactly.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};

use serde_json::value::RawValue;

/// The largest JSON document read whole: a search page holds tens of events (a few KiB); a
/// document this large is a whole log saved as one array and should be saved as pages.
pub const MAX_DOCUMENT_BYTES: usize = 256 << 20;

/// Where a piece of the file starts (1-based line and byte column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At {
    pub line: u64,
    pub column: u64,
}

/// What [`Documents::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// A document (an object or array) is in the buffer; it may be cut short by the end of the
    /// file, which the parser then reports with its position.
    Document(At),
    /// A byte that starts no document (the rest of its line is skipped).
    Junk(At, u8),
}

#[derive(Debug)]
pub(crate) enum SplitError {
    Io(std::io::Error),
    /// A document over the cap, starting at this line.
    TooLarge(u64),
}

/// Documents one after another in a byte stream.
pub(crate) struct Documents<R> {
    input: BufReader<R>,
    at: At,
    pub bytes: u64,
}

impl<R: Read> Documents<R> {
    pub fn new(input: R) -> Self {
        Documents { input: BufReader::with_capacity(1 << 16, input), at: At { line: 1, column: 1 }, bytes: 0 }
    }

    fn step(&mut self, b: u8) {
        if b == b'\n' {
            self.at.line += 1;
            self.at.column = 1;
        } else {
            self.at.column += 1;
        }
    }

    /// The next document into `buf` (at most `cap` bytes), or `None` at the end of the file.
    pub fn next(&mut self, buf: &mut Vec<u8>, cap: usize) -> Result<Option<Piece>, SplitError> {
        buf.clear();
        // Whitespace between documents, and a byte-order mark at the start.
        let start = loop {
            let chunk = self.input.fill_buf().map_err(SplitError::Io)?;
            let Some(&b) = chunk.first() else { return Ok(None) };
            if self.bytes == 0 && chunk.starts_with(b"\xef\xbb\xbf") {
                self.input.consume(3);
                self.bytes += 3;
                continue;
            }
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {
                    self.step(b);
                    self.input.consume(1);
                    self.bytes += 1;
                }
                b'{' | b'[' => break self.at,
                _ => {
                    let at = self.at;
                    self.skip_line()?;
                    return Ok(Some(Piece::Junk(at, b)));
                }
            }
        };
        let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
        loop {
            let chunk = self.input.fill_buf().map_err(SplitError::Io)?;
            if chunk.is_empty() {
                return Ok(Some(Piece::Document(start)));
            }
            let mut used = 0;
            let mut done = false;
            for &b in chunk {
                used += 1;
                if b == b'\n' {
                    self.at.line += 1;
                    self.at.column = 1;
                } else {
                    self.at.column += 1;
                }
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            done = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if buf.len() + used > cap {
                return Err(SplitError::TooLarge(start.line));
            }
            buf.extend_from_slice(&chunk[..used]);
            self.input.consume(used);
            self.bytes += used as u64;
            if done {
                return Ok(Some(Piece::Document(start)));
            }
        }
    }

    /// Skips to just after the next line break (or the end of the file).
    fn skip_line(&mut self) -> Result<(), SplitError> {
        loop {
            let chunk = self.input.fill_buf().map_err(SplitError::Io)?;
            if chunk.is_empty() {
                return Ok(());
            }
            match memchr::memchr(b'\n', chunk) {
                Some(p) => {
                    self.input.consume(p + 1);
                    self.bytes += p as u64 + 1;
                    self.at.line += 1;
                    self.at.column = 1;
                    return Ok(());
                }
                None => {
                    let n = chunk.len();
                    self.input.consume(n);
                    self.bytes += n as u64;
                }
            }
        }
    }
}

/// A JSON parse error at its place in the file: the document starts at `doc`, the error is at
/// (`line`, `column`) of the document. The message without serde_json's own position.
pub(crate) fn locate(doc: At, e: &serde_json::Error) -> (At, String) {
    let line = doc.line + e.line().saturating_sub(1) as u64;
    let column = if e.line() <= 1 { doc.column + e.column().saturating_sub(1) as u64 } else { e.column() as u64 };
    let text = e.to_string();
    let message = text.rsplit_once(" at line ").map_or(text.as_str(), |(m, _)| m).to_string();
    (At { line, column }, message)
}

/// The records of one parsed document at `path`, borrowed from it: `Ok(None)` when the last
/// key of the path is absent (a page without matches), `Err` with why when the document is not
/// shaped as the path says.
pub(crate) fn records<'a>(doc: &'a RawValue, path: &[String]) -> Result<Option<Vec<&'a RawValue>>, String> {
    let mut here = doc;
    for (i, key) in path.iter().enumerate() {
        let object: BTreeMap<String, &'a RawValue> = serde_json::from_str(here.get())
            .map_err(|_| format!("{:?} is not an object, so it has no {key:?}", path_text(&path[..i])))?;
        match object.get(key) {
            Some(v) => here = v,
            // A page with no matches leaves the list out (the guide marks it optional).
            None if i + 1 == path.len() => return Ok(None),
            None => {
                let keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
                return Err(format!(
                    "no {key:?} at {:?} (its keys: {}); is this the right file, or the mapping's [source] records?",
                    path_text(&path[..i]),
                    keys.join(", ")
                ));
            }
        }
    }
    serde_json::from_str::<Vec<&'a RawValue>>(here.get())
        .map(Some)
        .map_err(|_| format!("{:?} is not an array of records", path_text(path)))
}

fn path_text(path: &[String]) -> String {
    if path.is_empty() { "the document".to_string() } else { path.join(".") }
}

/// A record's value as text: a string as it is, a number in decimal (so a value map can say
/// `"75" = "face"`), `true`/`false`; `None` for null. An object or array is an error.
pub(crate) fn text(value: &serde_json::Value) -> Result<Option<String>, &'static str> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        serde_json::Value::Array(_) => Err("an array"),
        serde_json::Value::Object(_) => Err("an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, cap: usize) -> Vec<Result<(Piece, String), String>> {
        let mut docs = Documents::new(text.as_bytes());
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match docs.next(&mut buf, cap) {
                Ok(None) => break,
                Ok(Some(p)) => out.push(Ok((p, String::from_utf8(buf.clone()).unwrap()))),
                Err(SplitError::TooLarge(line)) => {
                    out.push(Err(format!("too large at {line}")));
                    break;
                }
                Err(SplitError::Io(e)) => panic!("{e}"),
            }
        }
        out
    }

    #[test]
    fn documents_are_cut_at_their_closing_bracket_whatever_their_strings_hold() {
        let text = "\u{feff}{\"a\":\"}{\\\"\"}\n  {\"b\":[1,{\"c\":2}]}{\"d\":3}\nx junk\n[]";
        let got = pieces(text, 1 << 20);
        let at = |line, column| At { line, column };
        assert_eq!(
            got,
            [
                Ok((Piece::Document(at(1, 1)), "{\"a\":\"}{\\\"\"}".to_string())),
                Ok((Piece::Document(at(2, 3)), "{\"b\":[1,{\"c\":2}]}".to_string())),
                Ok((Piece::Document(at(2, 20)), "{\"d\":3}".to_string())),
                Ok((Piece::Junk(at(3, 1), b'x'), String::new())),
                Ok((Piece::Document(at(4, 1)), "[]".to_string())),
            ]
        );
        assert_eq!(
            pieces("{\"a\":1}\n{\"b\":\"0123456789\"}", 12),
            [Ok((Piece::Document(at(1, 1)), "{\"a\":1}".to_string())), Err("too large at 2".to_string())]
        );
    }

    #[test]
    fn records_are_found_at_their_path_and_a_page_without_matches_has_none() {
        let path = ["AcsEvent".to_string(), "InfoList".to_string()];
        let parsed = |doc: &'static str| -> &'static RawValue { serde_json::from_str(doc).unwrap() };
        let doc = parsed(r#"{"AcsEvent":{"numOfMatches":2,"InfoList":[{"minor":75},{"minor":1}]}}"#);
        let found = records(doc, &path).unwrap().unwrap();
        assert_eq!(found.iter().map(|r| r.get()).collect::<Vec<_>>(), [r#"{"minor":75}"#, r#"{"minor":1}"#]);
        assert!(records(parsed(r#"{"AcsEvent":{"responseStatusStrg":"NO MATCH"}}"#), &path).unwrap().is_none());
        let e = records(parsed(r#"{"statusCode":4,"statusString":"Invalid Operation"}"#), &path).unwrap_err();
        assert!(e.contains("\"AcsEvent\"") && e.contains("statusString"), "{e}");
        assert!(records(parsed(r#"{"AcsEvent":{"InfoList":3}}"#), &path).unwrap_err().contains("not an array"));
        assert_eq!(records(parsed("[{\"a\":1}]"), &[]).unwrap().unwrap().len(), 1);
    }
}
