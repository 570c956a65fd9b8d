//! `report.html`: one self-contained page (inline SVG made by plotters, no scripts, no external
//! files) with the recommendation in one sentence, p95 wait against lanes with intervals, queue
//! length over time, wait CDF per credential, throughput per lane, the sensitivity tornado and
//! the table with the analytic estimates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use gatelab_sim::figures::{AttackFigures, NetworkFigures};
use gatelab_sim::stats::Stat;

use crate::spec::Config;
use crate::summary::{ConfigSummary, LANE_GROUPS, Plan};

const W: u32 = 760;
const H: u32 = 360;
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot failed: {e:?}")
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// p95 wait per group against lanes, with 95 % intervals, and the target.
fn p95_vs_lanes(plan: &Plan) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        // The lanes phase's configurations (today's desks), by lanes per lane group on average.
        let base: Vec<_> =
            plan.configurations.iter().filter(|c| c.config.vary.is_none() && c.config.desks.is_none()).collect();
        let per_group = |c: &ConfigSummary| {
            let used = c.config.lanes.iter().filter(|&&l| l > 0).count().max(1);
            f64::from(c.config.total_lanes()) / used as f64
        };
        let series = |c: &ConfigSummary, name: &str| -> Option<Stat> {
            if name == "booth" { Some(c.at_booth_wait_s_p95) } else { c.at_lanes_wait_s_p95.get(name).copied() }
        };
        let names: Vec<&str> = LANE_GROUPS.iter().map(|(n, _)| *n).chain(["booth"]).collect();
        let xs: Vec<f64> = base.iter().map(|c| per_group(c)).collect();
        let lo = xs.iter().copied().fold(f64::INFINITY, f64::min).min(1.0e6).floor().max(1.0) as u32;
        let hi = xs.iter().copied().fold(0.0, f64::max).ceil().max(f64::from(lo)) as u32;
        let ymax = base
            .iter()
            .flat_map(|c| names.iter().filter_map(|n| series(c, n)))
            .filter(|s| s.n > 0)
            .map(|s| s.ci95.map_or(s.mean, |[_, h]| h))
            .fold(plan.target_wait_p95_s, f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption("p95 wait at the lanes by group, and at the booth (95 % intervals)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d((f64::from(lo) - 0.3)..(f64::from(hi) + 0.3), 0.0..ymax.max(1.0))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("lanes per gate and direction (mean)")
            .y_desc("p95 wait (s)")
            .x_labels((hi - lo + 1) as usize)
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(f64::from(lo) - 0.3, plan.target_wait_p95_s), (f64::from(hi) + 0.3, plan.target_wait_p95_s)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label("target")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
        for (i, name) in names.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let offset = (i as f64 - 1.5) * 0.05;
            let points: Vec<(f64, f64, [f64; 2])> = base
                .iter()
                .filter_map(|c| {
                    let s = series(c, name)?;
                    (s.n > 0).then(|| (per_group(c) + offset, s.mean, s.ci95.unwrap_or([s.mean, s.mean])))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points.iter().map(|p| (p.0, p.1)), color.stroke_width(2)))
                .map_err(err)?
                .label(name.replace('_', " "))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
            chart
                .draw_series(
                    points.iter().map(|p| ErrorBar::new_vertical(p.0, p.2[0].max(0.0), p.1, p.2[1], color.filled(), 6)),
                )
                .map_err(err)?;
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// p95 wait per quarter hour at each gate's lanes (solid) and booth (thin), mean over the
/// replications of the recommended deployment, with the target.
fn p95_by_quarter(plan: &Plan) -> Result<Option<String>> {
    let Some(bq) = &plan.by_quarter else { return Ok(None) };
    let n = bq.start.len();
    if n == 0 {
        return Ok(None);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let ymax = bq
            .gates
            .iter()
            .flat_map(|g| g.lanes_wait_s_p95.iter().chain(&g.booth_wait_s_p95))
            .filter(|s| s.n > 0)
            .map(|s| s.mean)
            .fold(plan.target_wait_p95_s.max(plan.booth_target_wait_p95_s), f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("p95 wait per 15 minutes, {}", bq.label), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0.0..ymax)
            .map_err(err)?;
        let starts = bq.start.clone();
        chart
            .configure_mesh()
            .x_desc("quarter hour from")
            .y_desc("p95 wait (s)")
            .x_labels(n.min(12))
            .x_label_formatter(&|x| starts.get(x.round().max(0.0) as usize).cloned().unwrap_or_default())
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(-0.5, plan.target_wait_p95_s), (n as f64 - 0.5, plan.target_wait_p95_s)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label("target")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK));
        for (i, g) in bq.gates.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            for (series, width, what) in [(&g.lanes_wait_s_p95, 2, "lanes"), (&g.booth_wait_s_p95, 1, "booth")] {
                let points: Vec<(f64, f64)> =
                    series.iter().enumerate().filter(|(_, s)| s.n > 0).map(|(q, s)| (q as f64, s.mean)).collect();
                if points.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(points, color.stroke_width(width)))
                    .map_err(err)?
                    .label(format!("{} {what}", g.gate))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(width)));
            }
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// Queue length over time, one line per lane (recommended configuration, first replication).
fn queue_over_time(plan: &Plan, shown: &Config, label: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let detail = plan.details.get(shown).cloned().unwrap_or_default();
        let mut series: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for (t, lane, q) in &detail.queue {
            series.entry(lane.as_str()).or_default().push((t / 3600.0, f64::from(*q)));
        }
        let (t0, t1) =
            detail.queue.iter().fold((f64::MAX, f64::MIN), |(a, b), (t, _, _)| (a.min(t / 3600.0), b.max(t / 3600.0)));
        let (t0, t1) = if t0 < t1 { (t0, t1) } else { (0.0, 1.0) };
        let ymax = detail.queue.iter().map(|q| f64::from(q.2)).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("queue length over time, {label} (first replication)"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(t0..t1, 0.0..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("hour of day")
            .y_desc("people queueing")
            .x_label_formatter(&|h| format!("{:02}:{:02}", *h as u32, ((h.fract()) * 60.0).round() as u32 % 60))
            .draw()
            .map_err(err)?;
        for (i, (lane, points)) in series.into_iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(1)))
                .map_err(err)?
                .label(lane.to_string())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Empirical CDF of the wait per credential used.
fn wait_cdf(plan: &Plan, shown: &Config, label: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let detail = plan.details.get(shown).cloned().unwrap_or_default();
        let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        for (credential, w) in &detail.waits {
            by.entry(credential.as_str()).or_default().push(*w);
        }
        let xmax = detail.waits.iter().map(|w| w.1).fold(1.0, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("wait distribution by credential, {label}"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..xmax, 0.0..1.0)
            .map_err(err)?;
        chart.configure_mesh().x_desc("wait (s)").y_desc("share waiting at most this long").draw().map_err(err)?;
        for (i, (credential, mut waits)) in by.into_iter().enumerate() {
            waits.sort_by(f64::total_cmp);
            let n = waits.len() as f64;
            let color = PALETTE[i % PALETTE.len()];
            let points: Vec<(f64, f64)> = waits.iter().enumerate().map(|(k, w)| (*w, (k + 1) as f64 / n)).collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?
                .label(format!("{credential} ({})", waits.len()))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Passages per hour through each lane and guard path.
fn throughput_per_lane(plan: &Plan, shown: &Config, label: &str) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let detail = plan.details.get(shown).cloned().unwrap_or_default();
        let hours = detail.hours.max(1e-9);
        let bars: Vec<(String, f64)> =
            detail.passages_per_lane.iter().map(|(l, n)| (l.clone(), *n as f64 / hours)).collect();
        let ymax = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.15;
        let n = bars.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("throughput per lane, {label} (passages per hour)"), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(60)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..n as f64, 0.0..ymax)
            .map_err(err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|x| labels.get(x.floor() as usize).cloned().unwrap_or_default())
            .y_desc("passages / hour")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, (_, v))| {
                Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.85, *v)], PALETTE[0].filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Tornado: the p95 wait with each input at −50 % and +50 %.
fn tornado(plan: &Plan) -> Result<Option<String>> {
    if plan.sensitivity.is_empty() {
        return Ok(None);
    }
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let base = plan.sensitivity[0].base_p95_s;
        let (lo, hi) = plan.sensitivity.iter().fold((base, base), |(a, b), s| {
            (a.min(s.low_p95_s).min(s.high_p95_s), b.max(s.low_p95_s).max(s.high_p95_s))
        });
        let pad = ((hi - lo) * 0.1).max(0.5);
        // Room on the left for the names.
        let lo = lo - (hi - lo).max(1.0) * 0.45;
        let n = plan.sensitivity.len();
        let mut chart = ChartBuilder::on(&root)
            .caption("what moves the p95 wait most (each input at −50 % / +50 %)", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(20)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0.0..n as f64)
            .map_err(err)?;
        chart.configure_mesh().disable_y_mesh().y_labels(0).x_desc("p95 wait, all passages (s)").draw().map_err(err)?;
        // Factor names beside their bars (axis ticks would not land on every bar).
        chart
            .draw_series(plan.sensitivity.iter().enumerate().map(|(i, s)| {
                let y = (n - 1 - i) as f64 + 0.5;
                Text::new(format!("{}  ", s.label), (lo - pad, y), ("sans-serif", 13).into_font().color(&BLACK))
            }))
            .map_err(err)?;
        for (i, s) in plan.sensitivity.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            chart
                .draw_series([
                    Rectangle::new(
                        [(base.min(s.low_p95_s), y + 0.2), (base.max(s.low_p95_s), y + 0.8)],
                        PALETTE[0].filled(),
                    ),
                    Rectangle::new(
                        [(base.min(s.high_p95_s), y + 0.2), (base.max(s.high_p95_s), y + 0.8)],
                        PALETTE[1].filled(),
                    ),
                ])
                .map_err(err)?;
        }
        chart.draw_series(LineSeries::new([(base, 0.0), (base, n as f64)], BLACK.stroke_width(1))).map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(Some(svg))
}

/// The whole page.
pub fn html(plan: &Plan) -> Result<String> {
    // plotters measures text with the one font it is given (no system fonts at run time).
    register_font()?;
    let shown = plan
        .recommended
        .as_ref()
        .map(|r| r.config.clone())
        .or_else(|| {
            plan.configurations.iter().filter(|c| c.config.vary.is_none()).map(|c| c.config.clone()).next_back()
        })
        .unwrap_or_default();
    let label = plan.configurations.iter().find(|c| c.config == shown).map_or(String::new(), |c| c.label.clone());
    let mut figures = vec![
        ("p95 wait vs lanes", p95_vs_lanes(plan)?),
        ("queue length over time", queue_over_time(plan, &shown, &label)?),
        ("wait CDF per credential", wait_cdf(plan, &shown, &label)?),
        ("throughput per lane", throughput_per_lane(plan, &shown, &label)?),
    ];
    if let Some(q) = p95_by_quarter(plan)? {
        figures.insert(1, ("p95 wait per 15 minutes", q));
    }
    if let Some(t) = tornado(plan)? {
        figures.push(("sensitivity", t));
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gatelab plan — {}</title>\n\
         <style>body{{font-family:sans-serif;max-width:820px;margin:2em auto;color:#222}}\
         figure{{margin:1.5em 0}} table{{border-collapse:collapse;font-size:13px}}\
         td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} td.l{{text-align:left}}\
         .rec{{font-size:1.15em;background:#eef6ee;padding:.8em;border-left:4px solid #2ca02c}}</style></head><body>\n",
        escape(&plan.scenario)
    );
    let _ = writeln!(
        out,
        "<h1>Gate plan: {}</h1>\n<p>Policy <b>{}</b>; target p95 wait <b>{:.0} s</b> for everyone the lanes serve, \
         <b>{:.0} s</b> at the guard booth, queue areas at level <b>{}</b> or better; {} to {} replications per configuration, seed {}.</p>\n\
         <p class=\"rec\" id=\"recommendation\"><b>{}</b><br>{}</p>\n<p class=\"rule\">{}</p>",
        escape(&plan.scenario),
        escape(&plan.policy),
        plan.target_wait_p95_s,
        plan.booth_target_wait_p95_s,
        plan.los,
        plan.replications,
        plan.max_replications,
        plan.seed,
        escape(&plan.decision),
        escape(&plan.sentence),
        escape(plan.rule)
    );
    if let Some(net) = plan.configurations.iter().find(|c| c.config == shown).and_then(|c| c.network.as_ref()) {
        let _ = writeln!(out, "{}", network_section(net, &label));
    }
    if let Some(a) = plan.configurations.iter().find(|c| c.config == shown).and_then(|c| c.attacks.as_ref()) {
        let _ = writeln!(out, "{}", attacks_section(a, &label));
    }
    if !plan.non_monotone.is_empty() {
        let _ = writeln!(out, "<h2>Not monotone</h2><ul>");
        for n in &plan.non_monotone {
            let _ = writeln!(out, "<li>{}</li>", escape(&n.explanation));
        }
        let _ = writeln!(out, "</ul>");
    }
    if let Some(c) = &plan.cheapest {
        let _ = writeln!(
            out,
            "<p>Cheapest configuration that meets both targets: <b>{}</b> at {:.0}.</p>",
            escape(&c.label),
            c.cost
        );
    }
    for (title, svg) in &figures {
        let _ = writeln!(out, "<figure class=\"plot\" data-title=\"{}\">{svg}</figure>", escape(title));
    }
    let _ = writeln!(
        out,
        "<h2>Every configuration</h2>\n<table><tr><th>configuration</th><th>reps</th><th>face p95 at lanes</th>\
         <th>opt-out p95 at lanes</th><th>courier p95 at lanes</th><th>booth p95</th><th>visitor p95</th>\
         <th>opt-out − face</th><th>Erlang C p95</th><th>M/D/c p95</th><th>queue area, busiest 15 min</th><th>lanes</th><th>booth</th><th>cost</th>\
         <th class=\"l\">simulation vs formula</th></tr>"
    );
    for c in &plan.configurations {
        let cell = |s: Option<&Stat>| {
            s.filter(|s| s.n > 0)
                .map(|s| match s.ci95 {
                    Some([_, hi]) => format!("{:.1} (≤ {hi:.1})", s.mean),
                    None => format!("{:.1}", s.mean),
                })
                .unwrap_or("—".into())
        };
        let a = |x: Option<f64>| x.map(|v| format!("{v:.1}")).unwrap_or("overloaded".into());
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{:.2} /m² (level {})</td><td>{:?}</td><td>{:?}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            escape(&c.label),
            c.replications,
            cell(c.at_lanes_wait_s_p95.get("face_users")),
            cell(c.at_lanes_wait_s_p95.get("opt_outs")),
            cell(c.at_lanes_wait_s_p95.get("couriers")),
            cell(Some(&c.at_booth_wait_s_p95)),
            cell(c.wait_s_p95.get("visitors")),
            c.opt_out_gap_s.mean,
            a(c.erlang_c_p95_s),
            a(c.md_c_p95_s),
            c.queue_density_worst_15_min_per_m2.mean,
            c.queuing_level,
            c.lanes,
            c.booth,
            c.cost.map(|x| format!("{x:.0}")).unwrap_or_default(),
            escape(&c.why_they_differ)
        );
    }
    let _ = writeln!(
        out,
        "</table>\n<p>Waits are seconds from reaching the gate area to being served, less the free walk. \
         Erlang C treats each gate and direction as M/M/c at its busiest hour; M/D/c is approximated by half \
         the M/M/c wait. Made by <code>gatelab plan</code>.</p>\n</body></html>"
    );
    Ok(out)
}

/// The LAN and the consent lease at the configuration shown: lapsed minutes, faces refused,
/// the shift to cards and what the outages cost in p95 wait against a perfect LAN.
fn network_section(net: &NetworkFigures<Stat>, label: &str) -> String {
    let v = |s: &Stat| if s.n == 0 { "—".to_string() } else { format!("{:.1}", s.mean) };
    let ci = |s: &Stat| s.ci95.map(|[lo, hi]| format!(" [{lo:.1}, {hi:.1}]")).unwrap_or_default();
    let mut out = format!(
        "<h2 id=\"network\">The compound's LAN and the consent lease ({})</h2>\n<table>\
         <tr><td class=\"l\">lapsed leases, face terminals (terminal-minutes in the window)</td><td>{}{}</td></tr>\
         <tr><td class=\"l\">faces refused under a lapsed lease (they used a card, ID or PIN)</td><td>{}{}</td></tr>\
         <tr><td class=\"l\">consents lapsed at the re-confirmation (templates deleted)</td><td>{}</td></tr>\
         <tr><td class=\"l\">passages by face / by card, ID or PIN</td><td>{} / {}</td></tr>",
        escape(label),
        v(&net.lease_lapsed_terminal_min),
        ci(&net.lease_lapsed_terminal_min),
        v(&net.faces_refused_under_lapsed_lease),
        ci(&net.faces_refused_under_lapsed_lease),
        v(&net.consents_lapsed_at_reconfirmation),
        v(&net.passages_by_face),
        v(&net.passages_by_credential),
    );
    if net.wait_s_p95_cost.n > 0 {
        let _ = write!(
            out,
            "<tr><td class=\"l\">p95 wait on a perfect LAN → with the outages (s)</td><td>{} → {:.1}</td></tr>\
             <tr><td class=\"l\">cost of the outages in p95 wait, everyone (s, same seeds)</td><td>{}{}</td></tr>\
             <tr><td class=\"l\">cost of the outages in p95 wait, face users (s)</td><td>{}{}</td></tr>",
            v(&net.wait_s_p95_perfect_lan),
            net.wait_s_p95_perfect_lan.mean + net.wait_s_p95_cost.mean,
            v(&net.wait_s_p95_cost),
            ci(&net.wait_s_p95_cost),
            v(&net.face_users_wait_s_p95_cost),
            ci(&net.face_users_wait_s_p95_cost),
        );
    }
    out.push_str(
        "</table>\n<p>A terminal matches faces only while its lease from the compound's authority is live; \
         cut off longer, it refuses faces and keeps cards, ID and PIN working (C7).</p>",
    );
    out
}

/// Presentation attacks at the configuration shown: APCER, BPCER and what the false refusals
/// cost live people, against the same seeds without the check.
fn attacks_section(a: &AttackFigures<Stat>, label: &str) -> String {
    let v = |s: &Stat, digits: usize| if s.n == 0 { "—".to_string() } else { format!("{:.digits$}", s.mean) };
    let ci =
        |s: &Stat, digits: usize| s.ci95.map(|[lo, hi]| format!(" [{lo:.digits$}, {hi:.digits$}]")).unwrap_or_default();
    format!(
        "<h2 id=\"attacks\">Presentation attacks and the liveness check ({})</h2>\n<table>\
         <tr><td class=\"l\">attack presentations (printed photos, phone replays) / accepted</td><td>{} / {}</td></tr>\
         <tr><td class=\"l\">APCER: attacks accepted</td><td>{}{}</td></tr>\
         <tr><td class=\"l\">BPCER: live faces refused (they used a card)</td><td>{}{}</td></tr>\
         <tr><td class=\"l\">face users' p95 wait without the check → with it (s, same seeds)</td><td>{} → +{}{}</td></tr>\
         </table>\n<p>The attack score distribution is the scenario's; until it comes from the compound's own \
         captures (<code>gatelab faces pad-eval --attack</code>) APCER is a what-if, not a measurement.</p>",
        escape(label),
        v(&a.attack_presentations, 1),
        v(&a.attacks_accepted, 1),
        v(&a.apcer, 3),
        ci(&a.apcer, 3),
        v(&a.bpcer, 3),
        ci(&a.bpcer, 3),
        v(&a.face_users_wait_s_p95_without_check, 1),
        v(&a.face_users_wait_s_p95_cost, 1),
        ci(&a.face_users_wait_s_p95_cost, 1),
    )
}

/// Registers the embedded Noto Sans as plotters' "sans-serif" (all styles fall back to it), once
/// per process; every later call returns the first call's outcome.
///
/// plotters is built with its `ab_glyph` font feature, which knows no font until one is
/// registered: every plotters chart of gatelab (the report's, `faces eval`'s), SVG ones included (they measure their text),
/// must call this before drawing, or fail with `FontUnavailable`.
pub fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font("sans-serif", FontStyle::Normal, notosans::REGULAR_TTF)
                .map_err(|_| "the embedded Noto Sans Regular is not a font plotters can read".to_string())
        })
        .clone()
        .map_err(|e| anyhow!(e))
}
