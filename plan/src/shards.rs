//! Shard folders: `spec.json` and `units.jsonl` out, every shard of one sweep back in.

use std::fs;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};

use gatelab_scenario::Scenario;

use crate::spec::{Config, SweepSpec};
use crate::units::UnitResult;

/// `DIR/spec.json`, which `gatelab sweep` shards to get the very same plan.
pub fn write_spec(dir: &Path, spec: &SweepSpec) -> Result<PathBuf> {
    let path = dir.join("spec.json");
    fs::write(&path, serde_json::to_string_pretty(spec)? + "\n")
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(path)
}

/// A shard's folder: `spec.json` and `units.jsonl`.
pub fn write_shard(dir: &Path, spec: &SweepSpec, units: &[UnitResult]) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    fs::write(dir.join("spec.json"), serde_json::to_string_pretty(spec)? + "\n")
        .with_context(|| format!("could not write {}", dir.join("spec.json").display()))?;
    let mut out = std::io::BufWriter::new(
        fs::File::create(dir.join("units.jsonl"))
            .with_context(|| format!("could not create units.jsonl in {}", dir.display()))?,
    );
    for u in units {
        serde_json::to_writer(&mut out, u)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// Read shard folders back: the spec they share and all units, checked complete.
pub fn read_shards(dirs: &[PathBuf]) -> Result<(SweepSpec, Vec<UnitResult>)> {
    ensure!(!dirs.is_empty(), "merge needs at least one shard folder");
    let mut spec: Option<SweepSpec> = None;
    let mut units = Vec::new();
    for dir in dirs {
        let path = dir.join("spec.json");
        let text = fs::read_to_string(&path)
            .with_context(|| format!("{} is not a shard folder (no spec.json)", dir.display()))?;
        let this: SweepSpec =
            serde_json::from_str(&text).with_context(|| format!("{} is not a sweep spec", path.display()))?;
        match &spec {
            None => spec = Some(this),
            Some(s) if *s == this => {}
            Some(_) => bail!("{} was made from a different sweep spec than the others", dir.display()),
        }
        let path = dir.join("units.jsonl");
        let file = fs::File::open(&path).with_context(|| format!("could not open {}", path.display()))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("{}:{}", path.display(), i + 1))?;
            if line.trim().is_empty() {
                continue;
            }
            let u: UnitResult = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a unit result (truncated shard?)", path.display(), i + 1))?;
            units.push(u);
        }
    }
    let spec = spec.context("no shard folder given")?;
    units.sort_by(|a, b| (&a.config, a.replication).cmp(&(&b.config, b.replication)));
    Ok((spec, units))
}

/// Check that merged shards make up the sweep exactly (every unit once).
pub fn check_complete(spec: &SweepSpec, scenario: &Scenario, units: &[UnitResult]) -> Result<()> {
    let mut expected: Vec<(Config, u32)> = spec.units(scenario);
    expected.sort();
    let got: Vec<(Config, u32)> = units.iter().map(|u| (u.config.clone(), u.replication)).collect();
    if got != expected {
        let missing = expected.iter().filter(|x| !got.contains(x)).count();
        let extra = got.len() + missing - expected.len();
        bail!(
            "the shards do not make up the sweep: {missing} run(s) missing, {extra} duplicated or foreign; merge every shard of one sweep exactly once"
        );
    }
    Ok(())
}
