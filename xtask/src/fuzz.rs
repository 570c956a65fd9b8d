//! `cargo xtask fuzz [SECONDS]` and the fuzz smoke of `cargo xtask test`: build the cargo-fuzz
//! targets in `fuzz/` and run each for a fixed time from its committed corpus.
//!
//! Stable Rust only: `--sanitizer none` leaves cargo-fuzz with the SanitizerCoverage passes
//! (`-Cpasses=sancov-module` and `-Cllvm-args=-sanitizer-coverage-*`), which are stable `-C`
//! flags; AddressSanitizer would need `-Zsanitizer`. The product code forbids `unsafe` outside
//! the SIMD kernels, which no target reaches, so there is no memory error for ASan to find; the
//! targets look for panics (overflow included: fuzz builds have debug assertions) and broken
//! invariants.
//!
//! Each target starts from `fuzz/corpus/<target>/` and, where there is one, the dictionary
//! `fuzz/dicts/<target>.dict`. The committed corpus is only read: libFuzzer writes what it finds into a temporary folder
//! (the first corpus argument), removed afterwards, so a run leaves the clone as it was. A
//! crash fails the run; its input is saved in `fuzz/artifacts/<target>/` (ignored by git).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The targets, in `fuzz/Cargo.toml`'s `[[bin]]`s.
pub const TARGETS: [&str; 7] =
    ["wire_decode", "scenario_parse", "audit_parse", "consent_check", "storage_open", "sync_frame", "site_loaders"];

/// Seconds per target when `GATELAB_FUZZ_SECONDS` is not set.
pub const DEFAULT_SECONDS: u64 = 45;

/// The cargo-fuzz release `setup` installs.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Arguments every cargo-fuzz build and run gets (see the module docs).
const FUZZ_FLAGS: [&str; 2] = ["--sanitizer", "none"];

pub fn fuzz_dir() -> PathBuf {
    crate::workspace_root().join("fuzz")
}

/// `GATELAB_FUZZ_SECONDS`, else [`DEFAULT_SECONDS`].
pub fn seconds_from_env() -> Result<u64, String> {
    match std::env::var("GATELAB_FUZZ_SECONDS") {
        Ok(s) => parse_seconds(&s),
        Err(_) => Ok(DEFAULT_SECONDS),
    }
}

pub fn parse_seconds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("fuzz: {s:?} is not a number of seconds (a whole number, 1 or more)")),
    }
}

/// Install cargo-fuzz from crates.io unless `cargo fuzz` already runs. Idempotent.
pub fn ensure_cargo_fuzz(cargo: &str) -> Result<(), String> {
    let installed = Command::new(cargo).args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    crate::run("install cargo-fuzz", cargo, &["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION, "--locked"])
}

/// What one target's run came to.
#[derive(Debug)]
pub struct Outcome {
    pub target: &'static str,
    pub executions: Option<u64>,
    pub seconds: f64,
}

/// Build every target, then run each for `seconds`; fails on the first crash.
pub fn smoke(cargo: &str, target_dir: &Path, seconds: u64) -> Result<Vec<Outcome>, String> {
    ensure_cargo_fuzz(cargo)?;
    let dir = fuzz_dir();
    let target_dir = target_dir.join("fuzz");
    let target_dir = target_dir.to_string_lossy().into_owned();
    let mut build = vec!["fuzz", "build"];
    build.extend(FUZZ_FLAGS);
    build.extend(["--target-dir", &target_dir]);
    crate::run_in(&dir, "fuzz build", cargo, &build)?;

    let mut outcomes = Vec::new();
    for target in TARGETS {
        let outcome = run_target(cargo, &dir, &target_dir, target, seconds)?;
        let runs = outcome.executions.map_or_else(|| "? runs".into(), |n| format!("{n} runs"));
        eprintln!("    fuzz {}: {runs} in {:.0} s, no crash", outcome.target, outcome.seconds);
        outcomes.push(outcome);
    }
    let total: u64 = outcomes.iter().filter_map(|o| o.executions).sum();
    eprintln!("    fuzz: {total} executions over {} targets, no crash", outcomes.len());
    Ok(outcomes)
}

fn run_target(
    cargo: &str,
    dir: &Path,
    target_dir: &str,
    target: &'static str,
    seconds: u64,
) -> Result<Outcome, String> {
    let scratch = std::env::temp_dir().join(format!("gatelab-fuzz-{}-{target}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("could not create {}: {e}", scratch.display()))?;
    let corpus = dir.join("corpus").join(target);
    let (scratch_arg, corpus_arg) = (scratch.to_string_lossy().into_owned(), corpus.to_string_lossy().into_owned());
    let max_time = format!("-max_total_time={seconds}");
    let mut args = vec!["fuzz", "run"];
    args.extend(FUZZ_FLAGS);
    args.extend(["--target-dir", target_dir, target, &scratch_arg, &corpus_arg, "--"]);
    // A unit that takes 10 s is a hang; the wire target gets frames up to twice MAX_FRAME.
    args.extend([max_time.as_str(), "-timeout=10", "-print_final_stats=1", "-max_len=8192"]);
    // A target's dictionary (words of its input language), where it has one.
    let dict = dir.join("dicts").join(format!("{target}.dict"));
    let dict_arg = format!("-dict={}", dict.display());
    if dict.is_file() {
        args.push(&dict_arg);
    }
    eprintln!("\n==> fuzz {target}: {cargo} {}", args.join(" "));
    let start = Instant::now();
    let output = Command::new(cargo)
        .args(&args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("fuzz {target}: could not start {cargo}: {e}"));
    let _ = std::fs::remove_dir_all(&scratch);
    let output = output?;
    let log = String::from_utf8_lossy(&output.stderr);
    let outcome = Outcome { target, executions: executions(&log), seconds: start.elapsed().as_secs_f64() };
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        eprintln!("{}", tail.join("\n"));
        return Err(format!(
            "fuzz {target} failed ({}): the input is in fuzz/artifacts/{target}/; reproduce with \
             `cd fuzz && cargo fuzz run --sanitizer none {target} artifacts/{target}/<file>`",
            output.status
        ));
    }
    Ok(outcome)
}

/// libFuzzer's `stat::number_of_executed_units` (printed with `-print_final_stats=1`).
pub fn executions(log: &str) -> Option<u64> {
    log.lines()
        .rev()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_executions_from_libfuzzer_stats() {
        let log = "#1234 DONE cov: 10\nDone 1234 runs in 2 second(s)\nstat::number_of_executed_units: 1234\n\
                   stat::average_exec_per_sec:     617\n";
        assert_eq!(executions(log), Some(1234));
        assert_eq!(executions("Done 5 runs"), None);
    }

    #[test]
    fn seconds_must_be_a_positive_whole_number() {
        assert_eq!(parse_seconds("60"), Ok(60));
        assert_eq!(parse_seconds(" 5\n"), Ok(5));
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("1.5").is_err());
        assert!(parse_seconds("").is_err());
    }

    #[test]
    fn every_target_has_a_source_file_and_a_corpus() {
        let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(manifest.contains(&format!("name = \"{target}\"")), "{target} is not a [[bin]] of fuzz/Cargo.toml");
            assert!(fuzz_dir().join("fuzz_targets").join(format!("{target}.rs")).is_file(), "{target}: no source");
            let seeds = std::fs::read_dir(fuzz_dir().join("corpus").join(target)).map(|d| d.count()).unwrap_or(0);
            assert!(seeds > 0, "{target}: no seed corpus");
        }
    }
}
