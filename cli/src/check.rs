//! `gatelab check-consent`: run the consent checker over a JSON Lines audit log.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, Result};
use gatelab_core::audit::jsonl;
use gatelab_core::{Checker, Policy, Report};
use gatelab_scenario::policy_file;

use crate::args::{CheckArgs, Format};

/// Check the log against the policy; exit 0 clean, 1 with violations.
pub fn command(args: CheckArgs) -> Result<std::process::ExitCode> {
    let policy = policy_file::load(&args.policy)?;
    let report = check_file(&args.log, &policy)?;
    match args.format {
        Format::Text => print!("{}", render_text(&report)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.is_clean() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

/// Check the log at `path` in one streaming pass. Errors name the file and line.
pub fn check_file(path: &Path, policy: &Policy) -> Result<Report> {
    let file = File::open(path).with_context(|| format!("could not open audit log {}", path.display()))?;
    let mut checker = Checker::new(policy);
    let mut index = 0;
    for (i, line) in std::io::BufRead::lines(BufReader::new(file)).enumerate() {
        let line = line.with_context(|| format!("{}: line {}: could not read", path.display(), i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let record =
            jsonl::parse_line(&line, i + 1).with_context(|| format!("{} is not a valid audit log", path.display()))?;
        checker.observe(index, &record);
        index += 1;
    }
    Ok(checker.finish())
}

/// The report as people read it.
pub fn render_text(report: &Report) -> String {
    let mut s = String::new();
    if report.is_clean() {
        s.push_str(&format!(
            "{} records checked against policy '{}': no violations of C1–C8, hash chain intact\n",
            report.records, report.policy
        ));
        return s;
    }
    s.push_str(&format!(
        "{} records checked against policy '{}': {} violation(s)\n",
        report.records,
        report.policy,
        report.violations.len()
    ));
    if let Some(i) = report.first_broken_link {
        s.push_str(&format!(
            "  the hash chain is broken: first at record {i} (0-based); records from there on cannot be trusted\n"
        ));
    }
    for rule in gatelab_core::Rule::ALL {
        let n = report.count(rule);
        if n > 0 {
            s.push_str(&format!("  {rule} ({}): {n}\n", rule.title()));
        }
    }
    for rule in gatelab_core::Rule::ALL {
        let mut of_rule = report.violations.iter().filter(|v| v.rule == rule);
        for v in of_rule.by_ref().take(SHOWN_PER_RULE) {
            s.push_str(&format!("{v}\n"));
        }
        let more = of_rule.count();
        if more > 0 {
            s.push_str(&format!("{rule}: … and {more} more (--format json lists all)\n"));
        }
    }
    s
}

/// Long logs can break a rule thousands of times; the text report shows the first few per rule.
pub const SHOWN_PER_RULE: usize = 8;
