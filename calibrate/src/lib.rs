//! `gatelab calibrate`: read a compound's own gate event logs and write a scenario fragment —
//! demand rows at any resolution (reconstructed where a lane was saturated), service times per
//! credential kind fitted from the headways of saturated lanes, the credential mix, opt-out,
//! retry and forgotten-card shares — plus an HTML/PNG report of the fits.
//!
//! This crate knows the scenario's schema (`gatelab-scenario`), csv, statrs and plotters; it must
//! never know Bevy or the simulation: a compound calibrates on any laptop, and the simulation
//! reads the fragment like any scenario text.
//!
//! The pipeline, streamed (a log is never held in memory, only the current day's arrivals and
//! headways, time-of-day bins and at most 2,000,000 service samples per kind):
//! [`read`] turns rows of `passages.csv`, the gatelab CSV layout or a mapped vendor export (CSV,
//! or JSON a document at a time) into
//! [`Event`]s, reporting bad rows as [`Issue`]s; [`analyse::Analysis`] groups retries into
//! arrivals, finds saturated lanes and collects headways; [`analyse::Analysis::finish`] bins the
//! demand and fits the service times ([`fit`]); [`fragment`] writes the TOML and [`report`] the
//! report. Person ids are hashed on reading and only join attempts: nothing per person leaves.

pub mod analyse;
pub mod event;
pub mod fit;
pub mod fragment;
pub mod json;
pub mod mapping;
pub mod read;
pub mod report;
pub mod synth;

pub use analyse::{Analysis, Calibration, Options};
pub use event::{Credential, Direction, Event};
pub use read::{Format, Issue, IssueKind};

use std::path::PathBuf;

/// Why a calibration stopped. Every variant names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("{file}: could not read it ({source}); check the path and permissions")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{file}: the header lacks the column(s) {missing:?}; a {format} log needs the columns {expected:?} (found {found:?}) — pick the right --format, or write a --mapping"
    )]
    Columns { file: PathBuf, format: String, missing: Vec<String>, expected: Vec<String>, found: Vec<String> },
    #[error("{file}: the log is empty (no header, or no rows); export the events again")]
    Empty { file: PathBuf },
    #[error(
        "{file}:{line}: {kind}: {why} (--strict stops at the first bad row; without it the row is skipped and counted)"
    )]
    Strict { file: PathBuf, line: u64, kind: IssueKind, why: String },
    #[error(
        "{file}:{line}: a JSON document over {limit_mib} MiB starts here; save each page of the event search as its own document (one after another in one file, or a file each) and read them again"
    )]
    TooLarge { file: PathBuf, line: u64, limit_mib: usize },
    #[error("{file}: not a column mapping: {why}; see calibrate/mappings/ for an example")]
    Mapping { file: PathBuf, why: String },
    #[error("no usable event in {files} log(s) ({skipped} rows skipped); see the list of skipped rows")]
    NoEvents { files: usize, skipped: u64 },
    #[error("could not write {file} ({why})")]
    Write { file: PathBuf, why: String },
}

/// Calibrate from `logs` (each read streamed, in the order given): the calibration, with the
/// skipped rows in `issues`. Rows are means over the days the logs cover; logs without dates
/// (`passages.csv`, times without a date) are one day each. `progress(bytes_read, bytes_total)` is called now and then.
pub fn calibrate(
    logs: &[PathBuf],
    format: &Format,
    options: Options,
    strict: bool,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Calibration, CalibrateError> {
    let total: u64 = logs.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let mut analysis = Analysis::new(options);
    let mut issues = read::Issues::default();
    let mut done = 0;
    for (index, path) in logs.iter().enumerate() {
        let file = std::fs::File::open(path).map_err(|source| CalibrateError::Io { file: path.clone(), source })?;
        let mut names = std::mem::take(&mut analysis.names);
        let stats = read::read_log(
            path,
            file,
            format,
            read::Sink { names: &mut names, issues: &mut issues, strict },
            &mut |bytes| progress(done + bytes, total),
            &mut |mut event| {
                // A log without dates is one day; several such logs are several days.
                if event.day == 0 {
                    event.day = index as i64;
                }
                analysis.event(&event)
            },
        );
        analysis.names = names;
        done += stats?.bytes;
        analysis.end_of_file();
    }
    if analysis.events == 0 {
        return Err(CalibrateError::NoEvents { files: logs.len(), skipped: issues.total() });
    }
    let files = logs.iter().map(|p| p.display().to_string()).collect();
    Ok(analysis.finish(files, issues))
}
