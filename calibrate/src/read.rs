//! Reading logs, streamed: a `csv::Reader` over a buffered file, one row at a time, so a 2 GB
//! export needs no more memory than a small one. Three layouts:
//!
//! - [`Format::Passages`]: gatelab's own `passages.csv` (`gatelab run --out DIR`): `t_s`,
//!   `agent`, `kind`, `gate`, `lane`, `direction`, `credential`, `decision`, `wait_s`,
//!   `service_s`. Its `wait_s` is a queue signal: arrivals are reconstructed exactly.
//! - [`Format::Gatelab`]: the documented gatelab CSV layout for any terminal's export:
//!   `time` (`YYYY-MM-DD HH:MM:SS[.fff]`, a `T` between date and time also reads, or
//!   `HH:MM:SS[.f]` for a one-day log), `gate`, `direction` (`in`/`out`), `credential`
//!   (`face`, `ic_card`, `pin`, `id_card`, `other`), `result` (`granted`, `denied` or
//!   `denied:<reason>`); optional `person` (a pseudonymous id, only used to join retries),
//!   `lane` (the terminal or reader; without it a gate and direction count as one lane) and
//!   `wait_s` (seconds queued, if a queue camera or the terminal gives it).
//! - [`Format::Mapped`]: any CSV through a [`crate::mapping`] file — or, when the mapping has
//!   `[source] format = "json"`, a file of JSON documents whose records the mapping names
//!   (read a document at a time, each at most 256 MiB; see [`crate::json`]).
//!
//! Bad rows never panic: each becomes an [`Issue`] (kind, line, why) and is skipped and
//! counted, or, with `strict`, stops the read with the first one.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::rc::Rc;

use crate::CalibrateError;
use crate::event::{Credential, Direction, Event, Names, hash_person};
use crate::mapping::{JsonSource, Mapped, Ready};

/// Which layout a log has.
#[derive(Clone, Debug)]
pub enum Format {
    Passages,
    Gatelab,
    Mapped(Box<Ready>),
}

impl Format {
    pub fn name(&self) -> &'static str {
        match self {
            Format::Passages => "passages",
            Format::Gatelab => "gatelab",
            Format::Mapped(_) => "mapped",
        }
    }
}

pub const PASSAGES_COLUMNS: [&str; 10] =
    ["t_s", "agent", "kind", "gate", "lane", "direction", "credential", "decision", "wait_s", "service_s"];
pub const GATELAB_COLUMNS: [&str; 5] = ["time", "gate", "direction", "credential", "result"];
pub const GATELAB_OPTIONAL: [&str; 3] = ["person", "lane", "wait_s"];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IssueKind {
    /// A time that does not parse.
    BadTime,
    /// Earlier than the row before it in the same file.
    OutOfOrder,
    /// The same row again at the same time.
    Duplicate,
    /// A direction, credential or result value the layout (or mapping) does not know.
    UnknownValue,
    /// A row with too few fields, or a field that is not what its column holds.
    BadRow,
}

impl fmt::Display for IssueKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IssueKind::BadTime => "unparseable time",
            IssueKind::OutOfOrder => "time out of order",
            IssueKind::Duplicate => "duplicated row",
            IssueKind::UnknownValue => "unknown value",
            IssueKind::BadRow => "bad row",
        })
    }
}

/// One skipped row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub file: String,
    pub line: u64,
    pub kind: IssueKind,
    pub why: String,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.kind, self.why)
    }
}

/// Skipped rows: counts by kind, and the first [`Issues::KEEP`] in full (a broken 2 GB export
/// must not fill memory with its complaints).
#[derive(Clone, Debug, Default)]
pub struct Issues {
    pub listed: Vec<Issue>,
    pub counts: std::collections::BTreeMap<IssueKind, u64>,
    /// Rows a mapping said to `ignore` (not an issue, but counted).
    pub ignored: u64,
}

impl Issues {
    pub const KEEP: usize = 200;
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
    fn push(&mut self, issue: Issue) {
        *self.counts.entry(issue.kind).or_default() += 1;
        if self.listed.len() < Issues::KEEP {
            self.listed.push(issue);
        }
    }
}

/// What one file gave.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadStats {
    pub rows: u64,
    pub events: u64,
    pub bytes: u64,
}

/// Where each needed column is in the header.
struct Columns {
    idx: Vec<Option<usize>>,
}

impl Columns {
    fn find(
        file: &Path,
        format: &str,
        header: &csv::StringRecord,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Columns, CalibrateError> {
        let at = |name: &str| header.iter().position(|h| h.trim().trim_start_matches('\u{feff}') == name);
        let missing: Vec<String> = required.iter().filter(|c| at(c).is_none()).map(|c| c.to_string()).collect();
        if !missing.is_empty() {
            return Err(CalibrateError::Columns {
                file: file.to_path_buf(),
                format: format.to_string(),
                missing,
                expected: required.iter().map(|c| c.to_string()).collect(),
                found: header.iter().map(str::to_string).collect(),
            });
        }
        Ok(Columns { idx: required.iter().chain(optional).map(|c| at(c)).collect() })
    }
}

fn field(record: &csv::StringRecord, at: Option<usize>) -> Option<&str> {
    at.and_then(|i| record.get(i)).map(str::trim)
}

/// `HH:MM:SS[.f]` → seconds.
fn parse_clock(text: &str) -> Option<f64> {
    let mut parts = text.split(':');
    let h: u32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    (parts.next().is_none() && h < 24 && m < 60 && (0.0..61.0).contains(&s)).then(|| f64::from(h * 3600 + m * 60) + s)
}

/// The gatelab layout's time: `YYYY-MM-DD HH:MM:SS[.fff]` (or with `T`), or `HH:MM:SS[.f]`.
pub fn parse_gatelab_time(text: &str) -> Option<(i64, f64)> {
    let text = text.trim();
    match text.split_once([' ', 'T']) {
        None => Some((0, parse_clock(text)?)),
        Some((date, clock)) => {
            let mut ymd = date.split('-');
            let y: i32 = ymd.next()?.parse().ok()?;
            let m: u32 = ymd.next()?.parse().ok()?;
            let d: u32 = ymd.next()?.parse().ok()?;
            let date = chrono::NaiveDate::from_ymd_opt(y, m, d)?;
            let day = date.signed_duration_since(chrono::NaiveDate::default()).num_days();
            Some((day, parse_clock(clock.trim_end_matches('Z'))?))
        }
    }
}

/// `granted`, `undetected` and `uncontrolled:…` are passages; `denied` / `denied:<reason>` not.
fn parse_result(text: &str) -> Option<bool> {
    match text.split_once(':').map_or(text, |(head, _)| head) {
        "granted" | "undetected" | "uncontrolled" => Some(true),
        "denied" => Some(false),
        _ => None,
    }
}

/// Where a read puts what it finds besides events: the names it interns, the rows it skips,
/// and whether the first bad row stops it.
#[derive(Debug)]
pub struct Sink<'a> {
    pub names: &'a mut Names,
    pub issues: &'a mut Issues,
    pub strict: bool,
}

/// Read one log, calling `on_event` for each good row in order; bad rows go to `sink.issues`
/// (or stop the read when `sink.strict`). `progress` gets the bytes read so far, now and then.
pub fn read_log<R: Read>(
    file: &Path,
    input: R,
    format: &Format,
    sink: Sink,
    progress: &mut dyn FnMut(u64),
    on_event: &mut dyn FnMut(Event),
) -> Result<ReadStats, CalibrateError> {
    if let Format::Mapped(m) = format
        && let Some(json) = &m.json
    {
        return read_json(file, input, m, json, sink, progress, on_event, crate::json::MAX_DOCUMENT_BYTES);
    }
    let Sink { names, issues, strict } = sink;
    let cut = Rc::new(Cell::new(CutLines::default()));
    let capped = LineCap { inner: input, since_newline: 0, skipping: false, lines: 0, cut: Rc::clone(&cut) };
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).from_reader(std::io::BufReader::with_capacity(1 << 16, capped));
    let header = reader.headers().map_err(|e| match e.kind() {
        csv::ErrorKind::Io(_) => {
            CalibrateError::Io { file: file.to_path_buf(), source: std::io::Error::other(e.to_string()) }
        }
        _ => CalibrateError::Empty { file: file.to_path_buf() },
    })?;
    if header.is_empty() || header.iter().all(|h| h.trim().is_empty()) {
        return Err(CalibrateError::Empty { file: file.to_path_buf() });
    }
    let header = header.clone();
    let cols = match format {
        Format::Passages => Columns::find(file, "passages", &header, &PASSAGES_COLUMNS, &[])?,
        Format::Gatelab => Columns::find(file, "gatelab", &header, &GATELAB_COLUMNS, &GATELAB_OPTIONAL)?,
        Format::Mapped(m) => {
            let c = &m.columns;
            let mut required = vec![c.time.as_str(), c.direction.as_str(), c.credential.as_str(), c.result.as_str()];
            required.extend(c.gate.as_deref());
            let columns = Columns::find(file, "mapped", &header, &required, &[])?;
            let at = |name: &Option<String>| name.as_deref().and_then(|n| header.iter().position(|h| h.trim() == n));
            // Optional columns of the mapping: named, but absent from this export, is an error.
            for (what, name) in [("lane", &c.lane), ("person", &c.person)] {
                if let Some(n) = name
                    && at(name).is_none()
                {
                    return Err(CalibrateError::Columns {
                        file: file.to_path_buf(),
                        format: format!("mapped ({what})"),
                        missing: vec![n.clone()],
                        expected: required.iter().map(|c| c.to_string()).chain([n.clone()]).collect(),
                        found: header.iter().map(str::to_string).collect(),
                    });
                }
            }
            let mut idx = columns.idx;
            idx.truncate(4);
            idx.push(at(&c.gate));
            idx.push(at(&c.lane));
            idx.push(at(&c.person));
            Columns { idx }
        }
    };
    let file_label = file.display().to_string();
    let mut stats = ReadStats::default();
    let mut record = csv::StringRecord::new();
    let mut admit = Admit { file, label: file_label.clone(), strict, last: None, same_time: HashSet::new() };
    let mut line: u64 = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map_or(line + 1, |p| p.line());
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(CalibrateError::Io {
                        file: file.to_path_buf(),
                        source: std::io::Error::other(e.to_string()),
                    });
                }
                admit.issue(issues, at, IssueKind::BadRow, e.to_string())?;
                line = at;
                continue;
            }
        }
        line = record.position().map_or(line + 1, |p| p.line());
        stats.rows += 1;
        if stats.rows % 65_536 == 0 {
            progress(reader.position().byte());
        }
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let parsed = match format {
            Format::Passages => passage_row(&record, &cols, names),
            Format::Gatelab => gatelab_row(&record, &cols, names),
            Format::Mapped(m) => mapped_row(&record, &cols, m, names),
        };
        let row_hash =
            || record.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, f| hash_person(f.as_bytes()) ^ h.rotate_left(7));
        admit.row(issues, &mut stats, line, "", parsed, row_hash, on_event)?;
    }
    stats.bytes = reader.position().byte();
    progress(stats.bytes);
    if stats.rows == 0 {
        return Err(CalibrateError::Empty { file: file.to_path_buf() });
    }
    let cut = cut.get();
    if cut.lines > 0 {
        issues.push(Issue {
            file: file_label,
            line: cut.first_line,
            kind: IssueKind::BadRow,
            why: format!(
                "{} line(s) longer than {} KiB, cut there (a gate log's row is well under 1 KiB: is this the right file?)",
                cut.lines,
                MAX_LINE_BYTES / 1024
            ),
        });
    }
    Ok(stats)
}

/// What becomes of each parsed row: an issue (listed, or the end of a strict read), ignored, or
/// — in time order and not a repeat of a row at the same time — an event.
struct Admit<'a> {
    file: &'a Path,
    label: String,
    strict: bool,
    last: Option<(i64, f64)>,
    /// Rows seen at the current time: an exact repeat among them is a duplicate.
    same_time: HashSet<u64>,
}

impl Admit<'_> {
    fn issue(&self, issues: &mut Issues, line: u64, kind: IssueKind, why: String) -> Result<(), CalibrateError> {
        if self.strict {
            return Err(CalibrateError::Strict { file: self.file.to_path_buf(), line, kind, why });
        }
        issues.push(Issue { file: self.label.clone(), line, kind, why });
        Ok(())
    }

    /// `place` prefixes every issue's why (a JSON record's "record N of document M: ").
    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        issues: &mut Issues,
        stats: &mut ReadStats,
        line: u64,
        place: &str,
        parsed: RowResult,
        row_hash: impl FnOnce() -> u64,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<(), CalibrateError> {
        let mut event = match parsed {
            Ok(Some(e)) => e,
            Ok(None) => {
                issues.ignored += 1;
                return Ok(());
            }
            Err((kind, why)) => return self.issue(issues, line, kind, format!("{place}{why}")),
        };
        event.line = line;
        let now = (event.day, event.t_s);
        if let Some(prev) = self.last {
            if now < prev {
                let why = format!(
                    "{place}{} is before the row above ({}); sort the export by time",
                    clock(now.1),
                    clock(prev.1)
                );
                return self.issue(issues, line, IssueKind::OutOfOrder, why);
            }
            if now != prev {
                self.same_time.clear();
            }
        }
        if !self.same_time.insert(row_hash()) {
            let why = format!("{place}the same row as an earlier one at {}; the export repeats it", clock(now.1));
            return self.issue(issues, line, IssueKind::Duplicate, why);
        }
        self.last = Some(now);
        stats.events += 1;
        on_event(event);
        Ok(())
    }
}

/// A mapped JSON log (see [`crate::json`]): every record of every document, in file order,
/// through the mapping; a document that does not parse, or is not shaped as `[source] records`
/// says, is a bad-row issue at its line and column (the other documents still read).
#[allow(clippy::too_many_arguments)]
fn read_json<R: Read>(
    file: &Path,
    input: R,
    m: &Ready,
    json: &JsonSource,
    sink: Sink,
    progress: &mut dyn FnMut(u64),
    on_event: &mut dyn FnMut(Event),
    cap: usize,
) -> Result<ReadStats, CalibrateError> {
    use crate::json::{Documents, Piece, SplitError};
    let Sink { names, issues, strict } = sink;
    let mut admit = Admit { file, label: file.display().to_string(), strict, last: None, same_time: HashSet::new() };
    let issues_before = issues.total();
    let mut stats = ReadStats::default();
    let mut docs = Documents::new(input);
    let mut buf = Vec::new();
    let mut documents = 0u64;
    let columns = &m.columns;
    let keys: [Option<&str>; 7] = [
        Some(columns.time.as_str()),
        Some(columns.direction.as_str()),
        Some(columns.credential.as_str()),
        Some(columns.result.as_str()),
        columns.gate.as_deref(),
        columns.lane.as_deref(),
        columns.person.as_deref(),
    ];
    loop {
        let doc = match docs.next(&mut buf, cap) {
            Ok(None) => break,
            Ok(Some(Piece::Junk(at, byte))) => {
                let why = format!(
                    "column {}: {:?} starts no JSON document (each document is an object or array); the rest of the line is skipped",
                    at.column,
                    char::from(byte)
                );
                admit.issue(issues, at.line, IssueKind::BadRow, why)?;
                continue;
            }
            Ok(Some(Piece::Document(at))) => at,
            Err(SplitError::Io(source)) => return Err(CalibrateError::Io { file: file.to_path_buf(), source }),
            Err(SplitError::TooLarge(line)) => {
                return Err(CalibrateError::TooLarge { file: file.to_path_buf(), line, limit_mib: cap >> 20 });
            }
        };
        documents += 1;
        progress(docs.bytes);
        // Parsed once: the records are borrowed from this document's text.
        let root = match serde_json::from_slice::<&serde_json::value::RawValue>(&buf) {
            Ok(root) => root,
            Err(e) => {
                let (at, message) = crate::json::locate(doc, &e);
                let why = format!("document {documents}: bad JSON at column {}: {message}", at.column);
                admit.issue(issues, at.line, IssueKind::BadRow, why)?;
                continue;
            }
        };
        let records = match crate::json::records(root, &json.records) {
            Ok(records) => records.unwrap_or_default(),
            Err(why) => {
                admit.issue(issues, doc.line, IssueKind::BadRow, format!("document {documents}: {why}"))?;
                continue;
            }
        };
        // Each record's line: the document's first line plus the line breaks before it.
        let (mut line, mut scanned) = (doc.line, 0usize);
        for (n, raw) in records.iter().enumerate() {
            let offset = (raw.get().as_ptr() as usize).saturating_sub(buf.as_ptr() as usize).min(buf.len());
            line += memchr::memchr_iter(b'\n', &buf[scanned..offset]).count() as u64;
            scanned = offset;
            stats.rows += 1;
            let place = format!("record {} of document {documents}: ", n + 1);
            let parsed = json_record(raw.get(), &keys, json, m, names);
            admit.row(issues, &mut stats, line, &place, parsed, || hash_person(raw.get().as_bytes()), on_event)?;
        }
    }
    stats.bytes = docs.bytes;
    progress(stats.bytes);
    if stats.rows == 0 && issues.total() == issues_before {
        return Err(CalibrateError::Empty { file: file.to_path_buf() });
    }
    Ok(stats)
}

/// One JSON record through the mapping: the `keep` filter, then the mapped fields by key.
fn json_record(raw: &str, keys: &[Option<&str>; 7], json: &JsonSource, m: &Ready, names: &mut Names) -> RowResult {
    let record: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|_| (IssueKind::BadRow, "not an object of keys and values".to_string()))?;
    let value = |key: &str| -> Result<Option<String>, (IssueKind, String)> {
        match record.get(key) {
            None => Ok(None),
            Some(v) => crate::json::text(v)
                .map_err(|what| (IssueKind::BadRow, format!("{key:?} holds {what}, not a single value"))),
        }
    };
    for (key, wanted) in &json.keep {
        if value(key)?.as_deref() != Some(wanted.as_str()) {
            return Ok(None);
        }
    }
    let mut texts: [Option<String>; 7] = Default::default();
    for (text, key) in texts.iter_mut().zip(keys) {
        if let Some(key) = key {
            *text = value(key)?;
        }
    }
    let fields: [Option<&str>; 7] = std::array::from_fn(|i| texts[i].as_deref().map(str::trim));
    let keys_of = || record.keys().map(String::as_str).take(12).collect::<Vec<_>>().join(", ");
    mapped_event(fields, m, names, &|name| {
        (IssueKind::BadRow, format!("no {name:?} in the record (its keys: {})", keys_of()))
    })
}

/// "HH:MM:SS.s" of seconds since midnight.
pub fn clock(t_s: f64) -> String {
    let tenths = (t_s * 10.0).round().max(0.0) as u64;
    format!("{:02}:{:02}:{:02}.{}", tenths / 36_000, tenths / 600 % 60, tenths / 10 % 60, tenths % 10)
}

type RowResult = Result<Option<Event>, (IssueKind, String)>;

fn required<'a>(
    record: &'a csv::StringRecord,
    cols: &Columns,
    i: usize,
    name: &str,
) -> Result<&'a str, (IssueKind, String)> {
    field(record, cols.idx[i])
        .ok_or_else(|| (IssueKind::BadRow, format!("no {name} field (the row is shorter than the header)")))
}

fn number(text: &str, name: &str) -> Result<f64, (IssueKind, String)> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| (IssueKind::BadRow, format!("{name} {text:?} is not a number")))
}

fn unknown(what: &str, value: &str, allowed: &str) -> (IssueKind, String) {
    (IssueKind::UnknownValue, format!("{what} {value:?} is not one of {allowed}"))
}

fn passage_row(record: &csv::StringRecord, cols: &Columns, names: &mut Names) -> RowResult {
    let t = required(record, cols, 0, "t_s")?;
    let t_s = t
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| (IssueKind::BadTime, format!("t_s {t:?} is not seconds since midnight")))?;
    let agent = required(record, cols, 1, "agent")?;
    let kind = required(record, cols, 2, "kind")?;
    let gate = names.gate(required(record, cols, 3, "gate")?);
    let lane_name = required(record, cols, 4, "lane")?;
    let direction = required(record, cols, 5, "direction")?;
    let direction = Direction::parse(direction).ok_or_else(|| unknown("direction", direction, "in, out"))?;
    let credential = required(record, cols, 6, "credential")?;
    let credential = Credential::parse(credential)
        .ok_or_else(|| unknown("credential", credential, "face, ic_card, pin, id_card, tailgate, guard, …"))?;
    let decision = required(record, cols, 7, "decision")?;
    let granted = parse_result(decision)
        .ok_or_else(|| unknown("decision", decision, "granted, undetected, uncontrolled:…, denied:…"))?;
    let wait_s = number(required(record, cols, 8, "wait_s")?, "wait_s")?;
    let service_s = number(required(record, cols, 9, "service_s")?, "service_s")?;
    let lane = match lane_name {
        "guard-door" | "car-gate" => None,
        name => Some(names.lane(gate, name)),
    };
    Ok(Some(Event {
        line: 0,
        day: 0,
        t_s,
        gate,
        lane,
        direction,
        credential,
        granted,
        person: Some(hash_person(agent.as_bytes())),
        resident: Some(matches!(kind, "owner" | "renter")),
        wait_s: Some(wait_s),
        service_s: Some(service_s),
    }))
}

fn gatelab_row(record: &csv::StringRecord, cols: &Columns, names: &mut Names) -> RowResult {
    let time = required(record, cols, 0, "time")?;
    let (day, t_s) = parse_gatelab_time(time).ok_or_else(|| {
        (IssueKind::BadTime, format!("time {time:?}: write YYYY-MM-DD HH:MM:SS[.fff] (or HH:MM:SS for one day)"))
    })?;
    let gate_name = required(record, cols, 1, "gate")?;
    if gate_name.is_empty() {
        return Err((IssueKind::BadRow, "an empty gate".into()));
    }
    let gate = names.gate(gate_name);
    let direction = required(record, cols, 2, "direction")?;
    let direction = Direction::parse(direction).ok_or_else(|| unknown("direction", direction, "in, out"))?;
    let credential = required(record, cols, 3, "credential")?;
    let credential = Credential::parse(credential)
        .ok_or_else(|| unknown("credential", credential, "face, ic_card, pin, id_card, other"))?;
    let result = required(record, cols, 4, "result")?;
    let granted = parse_result(result).ok_or_else(|| unknown("result", result, "granted, denied, denied:<reason>"))?;
    let person = field(record, cols.idx[5]).filter(|p| !p.is_empty()).map(|p| hash_person(p.as_bytes()));
    // Without a lane column, a gate's direction is one lane.
    let lane_name = field(record, cols.idx[6]).filter(|l| !l.is_empty()).unwrap_or(direction.as_str());
    let wait_s = match field(record, cols.idx[7]).filter(|w| !w.is_empty()) {
        Some(w) => Some(number(w, "wait_s")?),
        None => None,
    };
    Ok(Some(Event {
        line: 0,
        day,
        t_s,
        gate,
        lane: (credential != Credential::Other).then(|| names.lane(gate, lane_name)),
        direction,
        credential,
        granted,
        person,
        resident: None,
        wait_s,
        service_s: None,
    }))
}

fn look_up<T: Copy>(
    table: &std::collections::BTreeMap<String, Mapped<T>>,
    value: &str,
    what: &str,
) -> Result<Mapped<T>, (IssueKind, String)> {
    table.get(value).copied().ok_or_else(|| {
        (
            IssueKind::UnknownValue,
            format!("{what} {value:?} is not in the mapping's [{what}] table; add it (or map it to \"ignore\")"),
        )
    })
}

fn mapped_row(record: &csv::StringRecord, cols: &Columns, m: &Ready, names: &mut Names) -> RowResult {
    let fields: [Option<&str>; 7] = std::array::from_fn(|i| field(record, cols.idx[i]));
    mapped_event(fields, m, names, &|name| {
        (IssueKind::BadRow, format!("no {name} field (the row is shorter than the header)"))
    })
}

/// One row of a mapped log, its fields given in the order time, direction, credential, result,
/// gate, lane, person (`None`: the row has no such field; `missing` says why for a required
/// one). The credential and result come before the direction, so that a row the mapping
/// ignores (a door alarm, an exit button) needs no direction.
fn mapped_event(
    fields: [Option<&str>; 7],
    m: &Ready,
    names: &mut Names,
    missing: &dyn Fn(&str) -> (IssueKind, String),
) -> RowResult {
    let need = |i: usize, name: &str| fields[i].ok_or_else(|| missing(name));
    let time = need(0, &m.columns.time)?;
    let (day, t_s) = m
        .parse_time(time)
        .ok_or_else(|| (IssueKind::BadTime, format!("{time:?} does not match the mapping's format {:?}", m.format)))?;
    let Mapped::To(credential) = look_up(&m.credential, need(2, &m.columns.credential)?, "credential")? else {
        return Ok(None);
    };
    let Mapped::To(granted) = look_up(&m.result, need(3, &m.columns.result)?, "result")? else {
        return Ok(None);
    };
    let Mapped::To(direction) = look_up(&m.direction, need(1, &m.columns.direction)?, "direction")? else {
        return Ok(None);
    };
    let gate_name = match (&m.columns.gate_name, fields[4]) {
        (_, Some(g)) if !g.is_empty() => g,
        (Some(name), _) => name.as_str(),
        _ => return Err((IssueKind::BadRow, "an empty gate".into())),
    };
    let gate = names.gate(gate_name);
    let lane_name = fields[5].filter(|l| !l.is_empty()).unwrap_or(direction.as_str());
    let person = fields[6].filter(|p| !p.is_empty()).map(|p| hash_person(p.as_bytes()));
    Ok(Some(Event {
        line: 0,
        day,
        t_s,
        gate,
        lane: (credential != Credential::Other).then(|| names.lane(gate, lane_name)),
        direction,
        credential,
        granted,
        person,
        resident: None,
        wait_s: None,
        service_s: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "time,gate,lane,direction,credential,result,person\n";

    fn read(text: &str, strict: bool) -> (Result<ReadStats, CalibrateError>, Issues, Vec<Event>) {
        let mut names = Names::default();
        let mut issues = Issues::default();
        let mut events = Vec::new();
        let r = read_log(
            Path::new("gate.csv"),
            text.as_bytes(),
            &Format::Gatelab,
            Sink { names: &mut names, issues: &mut issues, strict },
            &mut |_| {},
            &mut |e| events.push(e),
        );
        (r, issues, events)
    }

    #[test]
    fn a_good_log_reads_every_row() {
        let text = format!(
            "{HEADER}2025-03-04 07:00:01.5,north,out-1,out,face,granted,p1\n2025-03-04T07:00:03,north,out-1,out,ic_card,denied:credential_expired,\n"
        );
        let (r, issues, events) = read(&text, true);
        assert_eq!(r.unwrap().events, 2);
        assert_eq!(issues.total(), 0);
        assert_eq!((events[0].t_s, events[0].line, events[1].line), (7.0 * 3600.0 + 1.5, 2, 3));
        assert!(events[0].person.is_some() && events[1].person.is_none() && !events[1].granted);
        assert_eq!(events[0].day, 20_151);
    }

    #[test]
    fn wrong_columns_name_the_file_and_the_columns_expected() {
        let (r, _, _) = read("when,where,who\n07:00:00,north,p1\n", false);
        let e = r.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, CalibrateError::Columns { .. }));
        assert!(
            text.contains("gate.csv")
                && text.contains("\"time\"")
                && text.contains("\"result\"")
                && text.contains("when"),
            "{text}"
        );
    }

    #[test]
    fn an_empty_file_or_a_header_alone_is_an_error_naming_the_file() {
        for text in ["", HEADER] {
            let (r, _, _) = read(text, false);
            let e = r.unwrap_err();
            assert!(matches!(e, CalibrateError::Empty { .. }) && e.to_string().contains("gate.csv"), "{e}");
        }
    }

    /// Each bad row is skipped and listed with its line and kind; --strict stops at the first.
    #[test]
    fn bad_rows_are_listed_by_line_and_kind_or_stop_a_strict_read() {
        let rows = [
            "2025-03-04 07:00:01,north,out-1,out,face,granted,p1", // 2: fine
            "2025-03-04 7h01,north,out-1,out,face,granted,p2",     // 3: bad time
            "2025-03-04 07:00:05,north,out-1,out,face,granted,p3", // 4: fine
            "2025-03-04 07:00:05,north,out-1,out,face,granted,p3", // 5: duplicate
            "2025-03-04 07:00:02,north,out-1,out,face,granted,p4", // 6: out of order
            "2025-03-04 07:00:09,north,out-1,out,palm,granted,p5", // 7: unknown credential
            "2025-03-04 07:00:10,north,out-1,sideways,face,granted,p6", // 8: unknown direction
            "2025-03-04 07:00:11,north",                           // 9: short row
            "2025-03-04 07:00:12,north,out-1,out,face,granted,p7", // 10: fine
        ];
        let text = format!("{HEADER}{}\n", rows.join("\n"));
        let (r, issues, events) = read(&text, false);
        assert_eq!(r.unwrap().events, 3);
        assert_eq!(events.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4, 10]);
        let listed: Vec<(u64, IssueKind)> = issues.listed.iter().map(|i| (i.line, i.kind)).collect();
        assert_eq!(
            listed,
            [
                (3, IssueKind::BadTime),
                (5, IssueKind::Duplicate),
                (6, IssueKind::OutOfOrder),
                (7, IssueKind::UnknownValue),
                (8, IssueKind::UnknownValue),
                (9, IssueKind::BadRow),
            ]
        );
        assert!(issues.listed[3].why.contains("palm"), "{:?}", issues.listed[3]);
        assert!(issues.listed[0].to_string().starts_with("gate.csv:3: unparseable time"), "{}", issues.listed[0]);
        let (r, _, events) = read(&text, true);
        let e = r.unwrap_err();
        assert!(matches!(e, CalibrateError::Strict { line: 3, kind: IssueKind::BadTime, .. }), "{e}");
        assert_eq!(events.len(), 1);
    }

    /// A large export of garbage is read streamed: no panic, a bounded list of issues.
    #[test]
    fn a_large_garbage_stream_is_read_with_bounded_issues() {
        struct Garbage {
            left: u64,
            state: u64,
        }
        impl Read for Garbage {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = (buf.len() as u64).min(self.left) as usize;
                for b in &mut buf[..n] {
                    self.state = self.state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    // Printable bytes, commas, quotes and newlines: rows of every shape.
                    *b = b" ,\n\"0123456789:-abcdefghij\xff"[(self.state >> 59) as usize % 27];
                }
                self.left -= n as u64;
                Ok(n)
            }
        }
        let input = HEADER.as_bytes().chain(Garbage { left: 4 << 20, state: 7 });
        let mut names = Names::default();
        let mut issues = Issues::default();
        let r = read_log(
            Path::new("big.csv"),
            input,
            &Format::Gatelab,
            Sink { names: &mut names, issues: &mut issues, strict: false },
            &mut |_| {},
            &mut |_| {},
        );
        assert!(r.is_ok());
        assert!(issues.total() > 1000);
        assert_eq!(issues.listed.len(), Issues::KEEP);
    }

    /// A 2 GiB file without a line break in its middle (a binary export, the wrong file): read
    /// streamed with bounded memory — the long line cut at 64 KiB, reported with its number —
    /// and the rows around it still read. Without the cap the CSV reader would grow one record
    /// to the whole 2 GiB.
    #[test]
    fn a_2_gib_file_with_a_2_gib_line_is_read_in_bounded_memory() {
        struct Filler(u64);
        impl Read for Filler {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n].fill(b'x');
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let peak_kib = || {
            std::fs::read_to_string("/proc/self/status")
                .ok()
                .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmHWM:").map(|v| v.trim().to_string())))
                .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        };
        let before = peak_kib();
        let row = "2025-03-04 07:00:01,north,out-1,out,face,granted,p1\n";
        let later = "2025-03-04 07:00:09,north,out-1,out,ic_card,granted,p2\n";
        let head = format!("{HEADER}{row}").into_bytes();
        let tail = format!("\n{later}").into_bytes();
        let input = head.as_slice().chain(Filler(2 << 30)).chain(tail.as_slice());
        let mut names = Names::default();
        let mut issues = Issues::default();
        let mut events = Vec::new();
        let r = read_log(
            Path::new("huge.csv"),
            input,
            &Format::Gatelab,
            Sink { names: &mut names, issues: &mut issues, strict: false },
            &mut |_| {},
            &mut |e| events.push(e),
        );
        assert_eq!(r.unwrap().events, 2, "{:?}", issues.listed);
        assert_eq!(events.iter().map(|e| e.line).collect::<Vec<_>>(), [2, 4]);
        let cut = issues.listed.iter().find(|i| i.why.contains("longer than 64 KiB")).expect("the cut is reported");
        assert_eq!(cut.line, 3, "{cut}");
        if let (Some(before), Some(after)) = (before, peak_kib()) {
            assert!(after.saturating_sub(before) < 256 * 1024, "peak memory grew by {} KiB", after - before);
        }
    }

    /// An export in the shipped Hikvision mapping's shape: events mapped, alarms ignored, an
    /// event type the mapping lacks reported by line, a missing column named.
    #[test]
    fn a_vendor_export_reads_through_its_mapping() {
        let format = hikvision();
        let text = "Employee ID,Name,Device Name,Card Reader,Event Types,Time\n\
            1001,A,East Gate,Exit Card Reader,Face Authentication Failed,2025-03-04 07:31:10\n\
            1001,A,East Gate,Exit Card Reader,Authenticated via Face,2025-03-04 07:31:12\n\
            ,,East Gate,Exit Card Reader,Door Open Timeout,2025-03-04 07:31:40\n\
            1002,B,East Gate,Entrance Card Reader,Authenticated via Card,2025-03-04 07:32:00\n\
            1003,C,East Gate,Entrance Card Reader,Palm Vein Authenticated,2025-03-04 07:32:05\n";
        let (events, issues) = read_export(text, &format);
        assert_eq!(events.len(), 3);
        assert_eq!(
            (events[0].credential, events[0].granted, events[0].direction),
            (Credential::Face, false, Direction::Out)
        );
        assert_eq!(events[0].person, events[1].person);
        assert_eq!((events[2].credential, events[2].direction), (Credential::IcCard, Direction::In));
        assert_eq!(issues.ignored, 1);
        assert_eq!((issues.listed[0].line, issues.listed[0].kind), (6, IssueKind::UnknownValue));
        assert!(issues.listed[0].why.contains("Palm Vein Authenticated"), "{}", issues.listed[0]);
        let Format::Mapped(m) = &format else { unreachable!() };
        let without_person = text.replacen("Employee ID", "Staff No.", 1);
        let mut names = Names::default();
        let mut issues = Issues::default();
        let sink = Sink { names: &mut names, issues: &mut issues, strict: false };
        let e = read_log(Path::new("export.csv"), without_person.as_bytes(), &format, sink, &mut |_| {}, &mut |_| {})
            .unwrap_err();
        assert!(e.to_string().contains("Employee ID") && e.to_string().contains("export.csv"), "{e}");
        assert!(m.columns.person.is_some());
    }

    /// The shipped Hikvision mapping.
    fn hikvision() -> Format {
        let mapping =
            crate::mapping::Mapping::parse(include_str!("../mappings/hikvision-ivms4200-ac-events.toml")).unwrap();
        Format::Mapped(Box::new(mapping))
    }

    /// The events of an export `text` read in `format`, and what was skipped.
    fn read_export(text: &str, format: &Format) -> (Vec<Event>, Issues) {
        let mut names = Names::default();
        let mut issues = Issues::default();
        let mut events = Vec::new();
        let sink = Sink { names: &mut names, issues: &mut issues, strict: false };
        read_log(Path::new("export.csv"), text.as_bytes(), format, sink, &mut |_| {}, &mut |e| events.push(e)).unwrap();
        (events, issues)
    }

    /// Saved by a spreadsheet: a byte-order mark before the first heading, which is an optional
    /// column of the mapping (the person; the csv reader drops the mark), and the other
    /// spelling of an expired card.
    #[test]
    fn a_vendor_export_with_a_byte_order_mark_reads() {
        let format = hikvision();
        let text = "\u{feff}Employee ID,Name,Device Name,Card Reader,Event Types,Time\n\
            1001,A,East Gate,Exit Card Reader,Authenticated via Face,2025-03-04 07:31:12\n\
            1002,B,East Gate,Entrance Card Reader,Expired Card,2025-03-04 07:32:00\n";
        let (events, issues) = read_export(text, &format);
        assert_eq!(events.len(), 2, "{:?}", issues.listed);
        assert!(events[0].person.is_some(), "the person column is found behind the mark");
        assert_eq!((events[1].credential, events[1].granted), (Credential::IcCard, false));
    }

    /// The shipped Hikvision ISAPI mapping (the JSON of a terminal's event search).
    fn hikvision_isapi() -> Format {
        let mapping =
            crate::mapping::Mapping::parse(include_str!("../mappings/hikvision-isapi-acsevent.toml")).unwrap();
        Format::Mapped(Box::new(mapping))
    }

    /// Two pages of an AcsEvent search saved back to back, as the device writes them (numbers
    /// as numbers, times with their +08:00 offset).
    const ACS_PAGES: &str = r#"{"AcsEvent": {"searchID": "s1", "responseStatusStrg": "MORE", "numOfMatches": 4, "totalMatches": 7,
  "InfoList": [
    {"major": 5, "minor": 76, "time": "2025-03-04T07:31:10+08:00", "cardReaderNo": 1, "doorNo": 1,
     "employeeNoString": "1001", "serialNo": 101, "currentVerifyMode": "cardOrFace"},
    {"major": 5, "minor": 75, "time": "2025-03-04T07:31:12+08:00", "cardReaderNo": 1, "doorNo": 1,
     "employeeNoString": "1001", "serialNo": 102, "currentVerifyMode": "cardOrFace"},
    {"major": 5, "minor": 23, "time": "2025-03-04T07:31:40+08:00", "doorNo": 1, "serialNo": 103},
    {"major": 3, "minor": 1024, "time": "2025-03-04T07:31:50+08:00", "netUser": "admin", "remoteHostAddr": "10.0.0.2", "serialNo": 104}
  ]}}
{"AcsEvent": {"searchID": "s1", "responseStatusStrg": "OK", "numOfMatches": 3, "totalMatches": 7,
  "InfoList": [
    {"major": 5, "minor": 1, "time": "2025-03-04T07:32:00+08:00", "cardNo": "3308812528", "cardReaderNo": 2, "doorNo": 1,
     "employeeNoString": "1002", "serialNo": 105, "currentVerifyMode": "cardOrFace"},
    {"major": 5, "minor": 8, "time": "2025-03-04T07:32:05+08:00", "cardNo": "3308812529", "cardReaderNo": 2, "doorNo": 1, "serialNo": 106},
    {"major": 5, "minor": 75, "time": "2025-03-04T23:59:30+08:00", "cardReaderNo": 1, "doorNo": 1, "employeeNoString": "1003", "serialNo": 107}
  ]}}
"#;

    fn read_json_text(
        text: &str,
        format: &Format,
        strict: bool,
    ) -> (Result<ReadStats, CalibrateError>, Issues, Vec<Event>) {
        let mut names = Names::default();
        let mut issues = Issues::default();
        let mut events = Vec::new();
        let sink = Sink { names: &mut names, issues: &mut issues, strict };
        let r = read_log(Path::new("events.json"), text.as_bytes(), format, sink, &mut |_| {}, &mut |e| events.push(e));
        (r, issues, events)
    }

    /// Face failures and passes, a card, an expired card: events at Beijing time, the reader
    /// giving lane and direction; the exit button (major 5) and a remote open (major 3)
    /// ignored; each event's line is its record's line.
    #[test]
    fn an_isapi_acs_event_search_reads_through_its_mapping() {
        let (r, issues, events) = read_json_text(ACS_PAGES, &hikvision_isapi(), true);
        assert_eq!(r.unwrap().rows, 7);
        assert_eq!(issues.total(), 0, "{:?}", issues.listed);
        assert_eq!(issues.ignored, 2);
        let got: Vec<_> = events.iter().map(|e| (e.line, e.t_s, e.direction, e.credential, e.granted)).collect();
        let t = |h: f64, m: f64, s: f64| h * 3600.0 + m * 60.0 + s;
        assert_eq!(
            got,
            [
                (3, t(7.0, 31.0, 10.0), Direction::In, Credential::Face, false),
                (5, t(7.0, 31.0, 12.0), Direction::In, Credential::Face, true),
                (12, t(7.0, 32.0, 0.0), Direction::Out, Credential::IcCard, true),
                (14, t(7.0, 32.0, 5.0), Direction::Out, Credential::IcCard, false),
                (15, t(23.0, 59.0, 30.0), Direction::In, Credential::Face, true),
            ]
        );
        // 2025-03-04 in Beijing time, every one (23:59:30+08:00 is not moved to another day).
        assert!(events.iter().all(|e| e.day == 20_151), "{:?}", events.iter().map(|e| e.day).collect::<Vec<_>>());
        assert_eq!(events[0].person, events[1].person);
        assert!(events[0].person.is_some() && events[3].person.is_none());
        assert_eq!(events[0].lane, events[1].lane);
        assert_ne!(events[0].lane, events[2].lane);
        assert_eq!(events[0].gate, events[2].gate);
    }

    /// A page cut short and a page of another shape are issues naming the file, line and
    /// column; the other pages still read. --strict stops at the first.
    #[test]
    fn malformed_json_is_reported_with_its_file_and_position() {
        let broken = ACS_PAGES.replacen(r#""minor": 75, "time""#, r#""minor": 75 "time""#, 1);
        let text = format!("{broken}{{\"statusCode\": 4, \"statusString\": \"Invalid Operation\"}}\n");
        let (r, issues, events) = read_json_text(&text, &hikvision_isapi(), false);
        assert_eq!(r.unwrap().rows, 3);
        assert_eq!(events.len(), 3);
        let listed: Vec<_> = issues.listed.iter().map(|i| (i.line, i.kind)).collect();
        assert_eq!(listed, [(5, IssueKind::BadRow), (17, IssueKind::BadRow)], "{:?}", issues.listed);
        let first = issues.listed[0].to_string();
        assert!(first.starts_with("events.json:5: bad row: document 1: bad JSON at column 30: expected"), "{first}");
        assert!(issues.listed[1].why.contains("\"AcsEvent\"") && issues.listed[1].why.contains("statusString"));
        let (r, _, events) = read_json_text(&text, &hikvision_isapi(), true);
        let e = r.unwrap_err();
        assert!(matches!(e, CalibrateError::Strict { line: 5, kind: IssueKind::BadRow, .. }), "{e}");
        assert!(e.to_string().starts_with("events.json:5: bad row: document 1: bad JSON"), "{e}");
        assert!(events.is_empty());
    }

    /// A record without a key the mapping reads is a bad row numbered by its record and line
    /// (a record the mapping ignores needs no direction); --strict stops at the first.
    #[test]
    fn a_record_missing_a_key_is_reported_by_record() {
        let text = ACS_PAGES
            .replacen(
                r#""minor": 75, "time": "2025-03-04T07:31:12+08:00", "cardReaderNo": 1,"#,
                r#""minor": 75, "time": "2025-03-04T07:31:12+08:00","#,
                1,
            )
            .replacen(r#""minor": 8, "time""#, r#""minr": 8, "time""#, 1);
        let (r, issues, events) = read_json_text(&text, &hikvision_isapi(), false);
        assert_eq!(r.unwrap().events, 3);
        assert_eq!(events.len(), 3);
        let listed: Vec<_> = issues.listed.iter().map(|i| (i.line, i.kind, i.why.as_str())).collect();
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert_eq!((listed[0].0, listed[0].1), (5, IssueKind::BadRow));
        assert!(
            listed[0].2.starts_with("record 2 of document 1: no \"cardReaderNo\" in the record (its keys:"),
            "{}",
            listed[0].2
        );
        assert_eq!((listed[1].0, listed[1].1), (14, IssueKind::BadRow));
        assert!(listed[1].2.starts_with("record 2 of document 2: no \"minor\""), "{}", listed[1].2);
        let (r, _, events) = read_json_text(&text, &hikvision_isapi(), true);
        let e = r.unwrap_err();
        assert!(matches!(e, CalibrateError::Strict { line: 5, kind: IssueKind::BadRow, .. }), "{e}");
        assert_eq!(events.len(), 1);
    }

    /// A value the mapping lacks is an unknown value; JSON Lines read; a page without matches
    /// is no records; a file of no records at all is empty.
    #[test]
    fn json_lines_pages_without_matches_and_unknown_values() {
        let lines = concat!(
            "{\"AcsEvent\":{\"responseStatusStrg\":\"NO MATCH\",\"numOfMatches\":0,\"totalMatches\":0}}\n",
            "{\"AcsEvent\":{\"InfoList\":[{\"major\":5,\"minor\":75,\"time\":\"2025-03-04T07:00:00+08:00\",\"cardReaderNo\":1}]}}\n",
            "{\"AcsEvent\":{\"InfoList\":[{\"major\":5,\"minor\":39,\"time\":\"2025-03-04T07:00:09+08:00\",\"cardReaderNo\":1}]}}\n",
        );
        let (r, issues, events) = read_json_text(lines, &hikvision_isapi(), false);
        assert_eq!((r.unwrap().rows, events.len()), (2, 1));
        assert_eq!((issues.listed[0].line, issues.listed[0].kind), (3, IssueKind::UnknownValue));
        assert!(issues.listed[0].why.contains("\"39\""), "{}", issues.listed[0]);
        let (r, _, _) = read_json_text(&lines[..lines.find('\n').unwrap() + 1], &hikvision_isapi(), false);
        assert!(matches!(r.unwrap_err(), CalibrateError::Empty { .. }));
    }

    /// A document over the cap stops the read, naming the file and the document's line.
    #[test]
    fn a_json_document_over_the_cap_is_refused() {
        let Format::Mapped(m) = hikvision_isapi() else { unreachable!() };
        let json = m.json.clone().unwrap();
        let mut names = Names::default();
        let mut issues = Issues::default();
        let sink = Sink { names: &mut names, issues: &mut issues, strict: false };
        let r = read_json(Path::new("big.json"), ACS_PAGES.as_bytes(), &m, &json, sink, &mut |_| {}, &mut |_| {}, 500);
        let e = r.unwrap_err();
        assert!(matches!(e, CalibrateError::TooLarge { line: 1, .. }), "{e}");
        assert!(e.to_string().starts_with("big.json:1: a JSON document over") && e.to_string().contains("page"), "{e}");
    }

    #[test]
    fn passages_rows_read_with_their_queue_signal_and_residents() {
        let text = "time,t_s,agent,kind,gate,lane,direction,credential,decision,wait_s,service_s,tailgated\n\
            07:00:02.0,25202.0,17,owner,main,out-1,out,face,granted,3.5,1.2,false\n\
            07:00:04.0,25204.0,18,courier,main,guard-door,in,guard,granted,0.0,20.0,false\n\
            07:00:05.0,25205.0,19,renter,main,out-1,out,tailgate,uncontrolled:tailgating,0.0,0.0,true\n";
        let mut names = Names::default();
        let mut issues = Issues::default();
        let mut events = Vec::new();
        read_log(
            Path::new("passages.csv"),
            text.as_bytes(),
            &Format::Passages,
            Sink { names: &mut names, issues: &mut issues, strict: true },
            &mut |_| {},
            &mut |e| events.push(e),
        )
        .unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!((events[0].wait_s, events[0].service_s, events[0].resident), (Some(3.5), Some(1.2), Some(true)));
        assert_eq!((events[1].lane, events[1].resident), (None, Some(false)));
        assert_eq!((events[2].credential, events[2].granted), (Credential::Other, true));
    }
}

/// Longest line read whole. A log row is well under 1 KiB; a file without line breaks (a binary
/// export, a wrong file) would otherwise grow one CSV record to the size of the file.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// Lines cut by [`LineCap`]: how many, and the first one's number.
#[derive(Clone, Copy, Debug, Default)]
struct CutLines {
    lines: u64,
    first_line: u64,
}

/// Passes a byte stream through, keeping at most [`MAX_LINE_BYTES`] of each line (the rest up
/// to the line break is dropped and counted): memory stays bounded whatever the file holds.
struct LineCap<R> {
    inner: R,
    since_newline: usize,
    skipping: bool,
    lines: u64,
    cut: Rc<Cell<CutLines>>,
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            let mut at = 0;
            while at < n {
                let newline = memchr::memchr(b'\n', &buf[at..n]).map(|p| at + p);
                let body_end = newline.unwrap_or(n);
                let body = body_end - at;
                let keep = if self.skipping { 0 } else { body.min(MAX_LINE_BYTES - self.since_newline) };
                if keep < body && !self.skipping {
                    self.skipping = true;
                    let mut cut = self.cut.get();
                    if cut.lines == 0 {
                        cut.first_line = self.lines + 1;
                    }
                    cut.lines += 1;
                    self.cut.set(cut);
                }
                buf.copy_within(at..at + keep, kept);
                kept += keep;
                self.since_newline += keep;
                match newline {
                    Some(p) => {
                        buf[kept] = b'\n';
                        kept += 1;
                        self.lines += 1;
                        self.since_newline = 0;
                        self.skipping = false;
                        at = p + 1;
                    }
                    None => at = n,
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}
