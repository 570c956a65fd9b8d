//! The plan's files (`plan.json`, `plan.csv`, `report.html`) and the printed table.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::report;
use gatelab_sim::stats::Stat;

use crate::search::Verdict;
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
        "desks",
        "varied",
        "replications",
        "face_users_at_lanes_p95_s",
        "opt_outs_at_lanes_p95_s",
        "couriers_at_lanes_p95_s",
        "booth_p95_s",
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
        "queue_density_worst_15_min_per_m2",
        "queuing_level",
        "lanes_verdict",
        "booth_verdict",
        "cost",
        "why_they_differ",
    ])?;
    let num = |x: f64| if x.is_finite() { format!("{x:.3}") } else { String::new() };
    let verdict = |v: Verdict| format!("{v:?}").to_lowercase();
    for c in &plan.configurations {
        let g = |k: &str| c.wait_s_p95.get(k).map(|s| num(s.mean)).unwrap_or_default();
        let l = |k: &str| c.at_lanes_wait_s_p95.get(k).map(|s| num(s.mean)).unwrap_or_default();
        let [lo, hi] = c.wait_s_p95_all.ci95.unwrap_or([f64::NAN, f64::NAN]);
        w.write_record([
            c.label.clone(),
            c.config.lanes.iter().map(u32::to_string).collect::<Vec<_>>().join(" "),
            c.config.desks.map(|d| d.to_string()).unwrap_or_else(|| "today".into()),
            c.config.vary.map(|(f, h)| format!("{}:{}", f.label(), if h { "high" } else { "low" })).unwrap_or_default(),
            c.replications.to_string(),
            l("face_users"),
            l("opt_outs"),
            l("couriers"),
            num(c.at_booth_wait_s_p95.mean),
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
            num(c.queue_density_worst_15_min_per_m2.mean),
            c.queuing_level.to_string(),
            verdict(c.lanes),
            verdict(c.booth),
            c.cost.map(num).unwrap_or_default(),
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
        "{} — policy '{}', target p95 wait {:.0} s at the lanes, {:.0} s at the booth, queue areas at level {} or better; {} to {} replications per configuration",
        plan.scenario,
        plan.policy,
        plan.target_wait_p95_s,
        plan.booth_target_wait_p95_s,
        plan.los,
        plan.replications,
        plan.max_replications
    );
    let costs = plan.configurations.iter().any(|c| c.cost.is_some());
    let _ = writeln!(
        out,
        "  {:<28} {:>4} {:>13} {:>13} {:>13} {:>13}  {:>8} {:>8} {:>3}  {:<7} {:<7}{}",
        "configuration",
        "reps",
        "face users",
        "opt-outs",
        "couriers",
        "booth",
        "Erlang C",
        "M/D/c",
        "LoS",
        "lanes",
        "booth",
        if costs { "     cost" } else { "" }
    );
    let verdict = |v: Verdict| match v {
        Verdict::Meets => "meets",
        Verdict::Fails => "fails",
        Verdict::Unclear => "unclear",
    };
    // Mean and upper bound: the bound is what the decision reads.
    let cell = |s: Option<&Stat>| {
        s.filter(|s| s.n > 0)
            .map(|s| match s.ci95 {
                Some([_, hi]) => format!("{:.1} ≤{:.1}", s.mean, hi),
                None => format!("{:.1}", s.mean),
            })
            .unwrap_or("—".into())
    };
    for c in plan.configurations.iter().filter(|c| c.config.vary.is_none()) {
        let a = |x: Option<f64>| x.map(|v| format!("{v:.1}")).unwrap_or("overload".into());
        let _ = writeln!(
            out,
            "  {:<28} {:>4} {:>13} {:>13} {:>13} {:>13}  {:>8} {:>8} {:>3}  {:<7} {:<7}{}",
            c.label,
            c.replications,
            cell(c.at_lanes_wait_s_p95.get("face_users")),
            cell(c.at_lanes_wait_s_p95.get("opt_outs")),
            cell(c.at_lanes_wait_s_p95.get("couriers")),
            cell(Some(&c.at_booth_wait_s_p95)),
            a(c.erlang_c_p95_s),
            a(c.md_c_p95_s),
            c.queuing_level.to_string(),
            verdict(c.lanes),
            verdict(c.booth),
            c.cost.map(|x| format!(" {x:>8.0}")).unwrap_or_default()
        );
    }
    if !plan.sensitivity.is_empty() {
        let _ = writeln!(out, "  what moves the p95 wait most (±50 %):");
        for s in &plan.sensitivity {
            let _ = writeln!(out, "    {:<24} {:>6.1} s .. {:>6.1} s", s.label, s.low_p95_s, s.high_p95_s);
        }
    }
    for n in &plan.non_monotone {
        let _ = writeln!(out, "  not monotone: {}", n.explanation);
    }
    if let Some(c) = &plan.cheapest {
        let _ = writeln!(out, "  cheapest that meets both targets: {} at {:.0}", c.label, c.cost);
    }
    let shown = plan.recommended.as_ref().map(|r| &r.config);
    if let Some(c) = plan.configurations.iter().find(|c| Some(&c.config) == shown)
        && let Some(net) = &c.network
    {
        let _ = write!(
            out,
            "  LAN at {}: {:.1} terminal-min of lapsed leases, {:.1} faces refused under them",
            c.label, net.lease_lapsed_terminal_min.mean, net.faces_refused_under_lapsed_lease.mean
        );
        if net.wait_s_p95_cost.n > 0 {
            let _ = write!(out, ", p95 wait +{:.1} s over a perfect LAN", net.wait_s_p95_cost.mean);
        }
        let _ = writeln!(out);
    }
    if let Some(c) = plan.configurations.iter().find(|c| Some(&c.config) == shown)
        && let Some(a) = &c.attacks
    {
        let _ = writeln!(
            out,
            "  attacks at {}: APCER {:.3} ({:.1} of {:.1} accepted), BPCER {:.3}, face users' p95 +{:.1} s for the check",
            c.label,
            a.apcer.mean,
            a.attacks_accepted.mean,
            a.attack_presentations.mean,
            a.bpcer.mean,
            a.face_users_wait_s_p95_cost.mean
        );
    }
    let _ = writeln!(out, "Decision — {}", plan.decision);
    let _ = writeln!(out, "{}", plan.sentence);
    out
}
