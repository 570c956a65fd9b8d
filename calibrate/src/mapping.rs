//! A column mapping: how to read any CSV export — or a JSON log — as gate events, written in
//! TOML so that a vendor's export is read without code. `calibrate/mappings/` ships two to copy
//! and adjust: `hikvision-isapi-acsevent.toml` (the JSON of a Hikvision terminal's event
//! search, documented by Hikvision) and `hikvision-ivms4200-ac-events.toml` (an iVMS-4200 CSV
//! export, whose headings are unverified).
//!
//! ```toml
//! [columns]                 # the export's column names
//! time = "Time"
//! gate = "Device Name"      # or: gate_name = "north" for a log of one gate
//! lane = "Card Reader"      # optional: the terminal / reader (needed for service times)
//! direction = "Card Reader" # a column may feed several fields
//! credential = "Event Types"
//! result = "Event Types"
//! person = "Employee ID"    # optional; only used to join retries, never written out
//!
//! [time]
//! format = "%Y-%m-%d %H:%M:%S"  # chrono strftime; %z in it reads an offset
//! shift = "+00:00"              # added to every time to get the compound's local clock
//!
//! [direction]               # the export's value = "in" | "out" | "ignore"
//! "Entrance Reader" = "in"
//! [credential]              # value = face | ic_card | pin | id_card | other | ignore
//! "Access Granted by Face" = "face"
//! [result]                  # value = granted | denied | ignore
//! "Access Granted by Face" = "granted"
//! ```
//!
//! A JSON log says so in a `[source]` table; `[columns]` then names keys of its records:
//!
//! ```toml
//! [source]
//! format = "json"               # "csv" is the default
//! records = "AcsEvent.InfoList" # dotted path to each document's array of flat records
//! keep = { major = "5" }        # optional: read only records with these values (others: ignored)
//! [columns]
//! time = "time"
//! gate_name = "north"
//! lane = "cardReaderNo"
//! direction = "cardReaderNo"
//! credential = "minor"
//! result = "minor"
//! [time]
//! format = "%Y-%m-%dT%H:%M:%S%:z"
//! shift = "+08:00"
//! [credential]
//! "75" = "face"                 # numbers are matched as their decimal text
//! ```
//!
//! The file may hold one document or several one after another (each page of a search saved
//! back to back, or JSON Lines); each document is read whole, up to 256 MiB.
//!
//! A value the mapping does not list is an `unknown value` issue naming the line (add it, or
//! map it to `ignore` to skip such rows silently, e.g. door-held-open alarms). A row whose
//! credential or result maps to `ignore` is skipped before its direction is looked at.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::CalibrateError;
use crate::event::{Credential, Direction};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// How the log is written: CSV (the default, without this table) or JSON.
    #[serde(default)]
    pub source: Option<Source>,
    pub columns: Columns,
    pub time: TimeSpec,
    #[serde(default)]
    pub direction: BTreeMap<String, String>,
    #[serde(default)]
    pub credential: BTreeMap<String, String>,
    #[serde(default)]
    pub result: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    pub time: String,
    #[serde(default)]
    pub gate: Option<String>,
    /// The gate's name when the export has no gate column (a log of one gate).
    #[serde(default)]
    pub gate_name: Option<String>,
    #[serde(default)]
    pub lane: Option<String>,
    pub direction: String,
    pub credential: String,
    pub result: String,
    #[serde(default)]
    pub person: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// "csv" or "json".
    pub format: String,
    /// JSON: the dotted path from a document to its array of records; none (or "") when each
    /// document is itself the array.
    #[serde(default)]
    pub records: Option<String>,
    /// JSON: read only records whose key has this value (a number matched as its decimal
    /// text); the others are skipped and counted as ignored.
    #[serde(default)]
    pub keep: BTreeMap<String, toml::Value>,
}

/// A JSON source, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonSource {
    /// The keys from a document to its array of records.
    pub records: Vec<String>,
    /// (key, value) every record read must have.
    pub keep: Vec<(String, String)>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub format: String,
    /// "+08:00" or "-05:30": added to every parsed time (after converting a time with an offset
    /// to UTC) to give the compound's local clock.
    #[serde(default)]
    pub shift: Option<String>,
}

/// What a value maps to, or that the row is to be skipped silently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapped<T> {
    To(T),
    Ignore,
}

/// A mapping checked and ready: every target value parsed once.
#[derive(Clone, Debug)]
pub struct Ready {
    /// `Some` for a JSON log; `None` for CSV.
    pub json: Option<JsonSource>,
    pub columns: Columns,
    pub format: String,
    pub has_offset: bool,
    pub shift_s: i64,
    pub direction: BTreeMap<String, Mapped<Direction>>,
    pub credential: BTreeMap<String, Mapped<Credential>>,
    pub result: BTreeMap<String, Mapped<bool>>,
}

fn parse_shift(text: &str) -> Option<i64> {
    let (sign, rest) = match text.trim().as_bytes().first()? {
        b'+' => (1, &text.trim()[1..]),
        b'-' => (-1, &text.trim()[1..]),
        _ => (1, text.trim()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn source_spec(source: &Source) -> Result<Option<JsonSource>, String> {
    match source.format.as_str() {
        "csv" => {
            if source.records.is_some() || !source.keep.is_empty() {
                return Err("[source] records and keep are for format = \"json\"".into());
            }
            Ok(None)
        }
        "json" => {
            let records = source.records.as_deref().unwrap_or("").trim();
            let records: Vec<String> =
                if records.is_empty() { Vec::new() } else { records.split('.').map(str::to_string).collect() };
            if records.iter().any(|k| k.is_empty()) {
                return Err(format!(
                    "[source] records = {:?}: write the keys joined by dots, e.g. \"AcsEvent.InfoList\"",
                    source.records.as_deref().unwrap_or("")
                ));
            }
            let keep = source
                .keep
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        _ => return Err(format!("[source] keep {k:?}: write a string or a whole number")),
                    };
                    Ok((k.clone(), text))
                })
                .collect::<Result<_, String>>()?;
            Ok(Some(JsonSource { records, keep }))
        }
        other => Err(format!("[source] format = {other:?}: write \"csv\" or \"json\"")),
    }
}

impl Mapping {
    pub fn load(path: &Path) -> Result<Ready, CalibrateError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CalibrateError::Io { file: path.to_path_buf(), source })?;
        Mapping::parse(&text).map_err(|why| CalibrateError::Mapping { file: path.to_path_buf(), why })
    }

    pub fn parse(text: &str) -> Result<Ready, String> {
        let m: Mapping = toml::from_str(text).map_err(|e| e.message().trim_end().to_string())?;
        if m.columns.gate.is_none() && m.columns.gate_name.is_none() {
            return Err("[columns] needs `gate` (a column) or `gate_name` (the one gate of this log)".into());
        }
        let json = match &m.source {
            None => None,
            Some(source) => source_spec(source)?,
        };
        let shift_s = match &m.time.shift {
            None => 0,
            Some(s) => parse_shift(s).ok_or_else(|| format!("[time] shift = {s:?}: write it as \"+08:00\""))?,
        };
        fn targets<T>(
            table: &BTreeMap<String, String>,
            what: &str,
            allowed: &str,
            parse: impl Fn(&str) -> Option<T>,
        ) -> Result<BTreeMap<String, Mapped<T>>, String> {
            table
                .iter()
                .map(|(k, v)| {
                    let to = if v == "ignore" {
                        Mapped::Ignore
                    } else {
                        Mapped::To(parse(v).ok_or_else(|| format!("[{what}] {k:?} = {v:?}: write one of {allowed}"))?)
                    };
                    Ok((k.clone(), to))
                })
                .collect()
        }
        let direction = targets(&m.direction, "direction", "in, out, ignore", Direction::parse)?;
        let credential =
            targets(&m.credential, "credential", "face, ic_card, pin, id_card, other, ignore", Credential::parse)?;
        let result = targets(&m.result, "result", "granted, denied, ignore", |v| match v {
            "granted" => Some(true),
            "denied" => Some(false),
            _ => None,
        })?;
        // A format chrono cannot use is caught now, not on every row.
        let probe = chrono::format::StrftimeItems::new(&m.time.format);
        if probe.clone().any(|item| matches!(item, chrono::format::Item::Error)) {
            return Err(format!(
                "[time] format = {:?} is not a strftime format (e.g. \"%Y-%m-%d %H:%M:%S\")",
                m.time.format
            ));
        }
        Ok(Ready {
            json,
            has_offset: m.time.format.contains("%z") || m.time.format.contains("%:z"),
            format: m.time.format,
            columns: m.columns,
            shift_s,
            direction,
            credential,
            result,
        })
    }
}

impl Ready {
    /// (day, seconds since midnight) of a time as the export writes it, in local time.
    pub fn parse_time(&self, text: &str) -> Option<(i64, f64)> {
        use chrono::{DateTime, NaiveDateTime, Timelike};
        let text = text.trim();
        let naive = if self.has_offset {
            DateTime::parse_from_str(text, &self.format).ok()?.naive_utc()
        } else {
            match NaiveDateTime::parse_from_str(text, &self.format) {
                Ok(t) => t,
                // A format without a date: every row is on one (unnamed) day.
                Err(_) => {
                    chrono::NaiveDate::default().and_time(chrono::NaiveTime::parse_from_str(text, &self.format).ok()?)
                }
            }
        };
        let shifted = naive.checked_add_signed(chrono::TimeDelta::seconds(self.shift_s))?;
        let day = shifted.date().signed_duration_since(chrono::NaiveDate::default()).num_days();
        let t = f64::from(shifted.num_seconds_from_midnight()) + f64::from(shifted.nanosecond()) * 1e-9;
        Some((day, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_mapping_reads_and_converts_utc_to_beijing_time() {
        let ready = Mapping::parse(include_str!("../mappings/hikvision-ivms4200-ac-events.toml")).unwrap();
        assert!(ready.credential.values().any(|c| *c == Mapped::To(Credential::Face)));
        let mut utc = ready.clone();
        utc.shift_s = parse_shift("+08:00").unwrap();
        let (day0, t0) = ready.parse_time("2025-03-04 07:31:12").unwrap();
        let (day1, t1) = utc.parse_time("2025-03-04 23:31:12").unwrap();
        assert_eq!(t0, 7.0 * 3600.0 + 31.0 * 60.0 + 12.0);
        assert_eq!((day1, t1), (day0 + 1, t0));
    }

    #[test]
    fn the_shipped_isapi_mapping_reads_json_with_its_offset() {
        let ready = Mapping::parse(include_str!("../mappings/hikvision-isapi-acsevent.toml")).unwrap();
        let json = ready.json.as_ref().unwrap();
        assert_eq!(json.records, ["AcsEvent", "InfoList"]);
        assert_eq!(json.keep, [("major".to_string(), "5".to_string())]);
        assert_eq!(ready.credential["75"], Mapped::To(Credential::Face));
        assert_eq!((ready.result["75"], ready.result["76"]), (Mapped::To(true), Mapped::To(false)));
        assert_eq!((ready.credential["8"], ready.result["8"]), (Mapped::To(Credential::IcCard), Mapped::To(false)));
        assert_eq!(ready.credential["23"], Mapped::Ignore);
        // UTC+8 on the device, Beijing time on the compound: the clock as the device shows it.
        assert_eq!(ready.parse_time("2025-03-04T07:31:12+08:00"), Some((20_151, 7.0 * 3600.0 + 31.0 * 60.0 + 12.0)));
        assert_eq!(ready.parse_time("2025-03-03T23:31:12Z"), None);
        // Without [source] a mapping reads CSV.
        assert!(Mapping::parse(include_str!("../mappings/hikvision-ivms4200-ac-events.toml")).unwrap().json.is_none());
    }

    #[test]
    fn bad_sources_say_what_to_write() {
        let rest = "[columns]\ntime='T'\ngate_name='g'\ndirection='D'\ncredential='C'\nresult='R'\n[time]\nformat='%H:%M:%S'\n";
        let with = |source: &str| Mapping::parse(&format!("[source]\n{source}\n{rest}"));
        assert!(with("format='xml'").unwrap_err().contains("\"csv\" or \"json\""));
        assert!(with("format='csv'\nrecords='a.b'").unwrap_err().contains("format = \"json\""));
        assert!(with("format='json'\nrecords='a..b'").unwrap_err().contains("AcsEvent.InfoList"));
        assert_eq!(with("format='json'").unwrap().json.unwrap().records, Vec::<String>::new());
        assert_eq!(with("format='json'\nkeep={major=5}").unwrap().json.unwrap().keep, [("major".into(), "5".into())]);
        assert!(with("format='csv'").unwrap().json.is_none());
    }

    #[test]
    fn bad_mappings_say_what_to_write() {
        let base = "[columns]\ntime='T'\ndirection='D'\ncredential='C'\nresult='R'\n";
        assert!(Mapping::parse(&format!("{base}[time]\nformat='%H:%M:%S'\n")).unwrap_err().contains("gate_name"));
        let with_gate = format!("{base}gate_name='north'\n[time]\nformat='%H:%M:%S'\n");
        assert!(Mapping::parse(&with_gate).is_ok());
        let bad = format!("{with_gate}[credential]\nFace='fingerprint'\n");
        assert!(Mapping::parse(&bad).unwrap_err().contains("face, ic_card"));
        let bad_shift = with_gate.replace("format='%H:%M:%S'", "format='%H:%M:%S'\nshift='eight'");
        assert!(Mapping::parse(&bad_shift).unwrap_err().contains("+08:00"));
    }
}
