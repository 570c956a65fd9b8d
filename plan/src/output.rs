//! The plan's files (`plan.json`, `plan.csv`, `report.html`) and the printed table.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::report;
use crate::summary::Plan;

/// Write plan.json, plan.csv and report.html into `dir`; returns their paths.
pub fn write_outputs(dir: &Path, plan: &Plan) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let json = dir.join("plan.json");
    fs::write(&json, serde_json::to_string_pretty(plan)? + "\n")
        .with_context(|| format!("could not write {}", json.display()))?;
    let csv_path = dir.join("plan.csv");
    let mut w =
        csv::Writer::from_path(&csv_path).with_context(|| format!("could not create {}", csv_path.display()))?;
    w.write_record([
        "configuration",
        "lanes",
        "varied",
        "face_users_p95_s",
        "opt_outs_p95_s",
        "visitors_p95_s",
        "couriers_p95_s",
        "all_p95_s",
        "all_p95_ci_low",
        "all_p95_ci_high",
        "opt_out_gap_s",
        "throughput_per_min",
        "erlang_c_p95_s",
        "md_c_p95_s",
        "meets_target",
        "why_they_differ",
    ])?;
    let num = |x: f64| if x.is_finite() { format!("{x:.3}") } else { String::new() };
    for c in &plan.configurations {
        let g = |k: &str| c.wait_s_p95.get(k).map(|s| num(s.mean)).unwrap_or_default();
        let [lo, hi] = c.wait_s_p95_all.ci95.unwrap_or([f64::NAN, f64::NAN]);
        w.write_record([
            c.label.clone(),
            c.config.lanes.to_string(),
            c.config.vary.map(|(f, h)| format!("{}:{}", f.label(), if h { "high" } else { "low" })).unwrap_or_default(),
            g("face_users"),
            g("opt_outs"),
            g("visitors"),
            g("couriers"),
            num(c.wait_s_p95_all.mean),
            num(lo),
            num(hi),
            num(c.opt_out_gap_s.mean),
            num(c.throughput_per_min.mean),
            c.erlang_c_p95_s.map(num).unwrap_or_else(|| "overloaded".into()),
            c.md_c_p95_s.map(num).unwrap_or_else(|| "overloaded".into()),
            c.meets_target.to_string(),
            c.why_they_differ.clone(),
        ])?;
    }
    w.flush()?;
    let html = dir.join("report.html");
    fs::write(&html, report::html(plan)?).with_context(|| format!("could not write {}", html.display()))?;
    Ok(vec![json, csv_path, html])
}

/// The printed table.
pub fn render_table(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — policy '{}', target p95 wait {:.0} s, {} replications per configuration",
        plan.scenario, plan.policy, plan.target_wait_p95_s, plan.replications
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>9} {:>9} {:>9} {:>9}  {:>9} {:>9}  meets",
        "lanes", "face p95", "opt-out", "visitor", "courier", "Erlang C", "M/D/c"
    );
    for c in plan.configurations.iter().filter(|c| c.config.vary.is_none()) {
        let g =
            |k: &str| c.wait_s_p95.get(k).filter(|s| s.n > 0).map(|s| format!("{:.1}", s.mean)).unwrap_or("—".into());
        let a = |x: Option<f64>| x.map(|v| format!("{v:.1}")).unwrap_or("overload".into());
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>9} {:>9} {:>9}  {:>9} {:>9}  {}",
            c.config.lanes,
            g("face_users"),
            g("opt_outs"),
            g("visitors"),
            g("couriers"),
            a(c.erlang_c_p95_s),
            a(c.md_c_p95_s),
            if c.meets_target { "yes" } else { "no" }
        );
    }
    if !plan.sensitivity.is_empty() {
        let _ = writeln!(out, "  what moves the p95 wait most (±50 %):");
        for s in &plan.sensitivity {
            let _ = writeln!(out, "    {:<24} {:>6.1} s .. {:>6.1} s", s.label, s.low_p95_s, s.high_p95_s);
        }
    }
    let _ = writeln!(out, "{}", plan.sentence);
    out
}
