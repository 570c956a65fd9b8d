//! The pages, rendered on the server: plain HTML forms that work without script, and a few
//! lines of script for the live progress (server-sent events). No front-end toolchain.

use std::collections::BTreeMap;
use std::fmt::Write;

use gatelab_scenario::{OutageKind, Scenario, TerminalKind};
use serde_json::Value;

use crate::store::{Meta, RunState, Settings};

pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:76em;padding:0 1em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#f3f3f3}\
.err{color:#b00020;font-weight:600}.ok{color:#176a2c;font-weight:600}.muted{color:#777}\
form.inline{display:inline}fieldset{margin:.6em 0;border:1px solid #ccc}label{margin-right:1em}\
input[type=number]{width:6em}.cols{display:grid;grid-template-columns:1fr 1fr;gap:1.5em}\
.site svg{max-width:100%;height:auto;border:1px solid #ddd}.maps svg{max-width:100%;height:auto}\
progress{width:24em}.sentence{font-size:1.1em;background:#f6f8fa;padding:.6em;border-left:4px solid #2d6cdf}";

pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — gatelab</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head>\
         <body><p class=\"muted\"><a href=\"/\">gatelab workbench</a></p>\n{body}\n</body></html>\n",
        esc(title)
    )
}

/// The start page: every alternative, and ways to make one.
pub fn index(
    alternatives: &[(String, Meta, Option<RunState>, Option<String>)],
    shipped: &[String],
    note: &str,
) -> String {
    let mut b = String::from("<h1>Alternatives</h1>\n");
    if !note.is_empty() {
        let _ = writeln!(b, "<p class=\"err\" id=\"note\">{}</p>", esc(note));
    }
    if alternatives.is_empty() {
        b.push_str("<p>None yet: start from a shipped scenario or upload your own.</p>\n");
    } else {
        b.push_str("<table id=\"alternatives\"><tr><th>alternative</th><th>from</th><th>last plan</th><th>decision</th></tr>\n");
        for (id, meta, run, decision) in alternatives {
            let state = run.as_ref().map_or("not planned", |r| r.state.as_str());
            let _ = writeln!(
                b,
                "<tr><td><a href=\"/a/{id}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&meta.name),
                esc(&meta.from),
                esc(state),
                esc(decision.as_deref().unwrap_or(""))
            );
        }
        b.push_str("</table>\n");
    }
    b.push_str("<h2>Start from a shipped scenario</h2>\n<form method=\"post\" action=\"/new\" id=\"new\">\n<select name=\"shipped\">");
    for s in shipped {
        let _ = write!(b, "<option value=\"{0}\">{0}</option>", esc(s));
    }
    b.push_str(
        "</select> <input name=\"name\" placeholder=\"name (optional)\"> <button type=\"submit\">Create</button></form>\n\
         <h2>Upload your own</h2>\n<form method=\"post\" action=\"/upload\" enctype=\"multipart/form-data\" id=\"upload\">\n\
         <p><label>scenario (.toml) <input type=\"file\" name=\"scenario\" accept=\".toml\"></label>\
         <label>site drawing it names (.dxf, .geojson, .toml) <input type=\"file\" name=\"site\"></label>\
         <label>gate log to calibrate from (passages.csv or gatelab's CSV layout) <input type=\"file\" name=\"log\" accept=\".csv\"></label>\
         <input name=\"name\" placeholder=\"name (optional)\"> <button type=\"submit\">Upload</button></p></form>\n",
    );
    if alternatives.len() >= 2 {
        b.push_str("<h2>Compare two</h2>\n<form method=\"get\" action=\"/compare\" id=\"compare\">");
        for (field, pick) in [("a", 0), ("b", 1)] {
            let _ = write!(b, "<select name=\"{field}\">");
            for (k, (id, meta, _, _)) in alternatives.iter().enumerate() {
                let selected = if k == pick { " selected" } else { "" };
                let _ = write!(b, "<option value=\"{id}\"{selected}>{} ({id})</option>", esc(&meta.name));
            }
            b.push_str("</select> ");
        }
        b.push_str("<button type=\"submit\">Compare</button></form>\n");
    }
    layout("Alternatives", &b)
}

fn field_error(errors: &BTreeMap<String, String>, key: &str) -> String {
    errors.get(key).map(|m| format!(" <span class=\"err\" data-field=\"{key}\">{}</span>", esc(m))).unwrap_or_default()
}

fn number(name: &str, value: impl std::fmt::Display, step: &str, errors: &BTreeMap<String, String>) -> String {
    format!(
        "<input type=\"number\" name=\"{name}\" id=\"{name}\" value=\"{value}\" step=\"{step}\">{}",
        field_error(errors, name)
    )
}

fn select(name: &str, options: &[(&str, &str)], chosen: &str) -> String {
    let mut s = format!("<select name=\"{name}\" id=\"{name}\">");
    for (value, label) in options {
        let selected = if *value == chosen { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{}\"{selected}>{}</option>", esc(value), esc(label));
    }
    s.push_str("</select>");
    s
}

/// The alternative's page: the site, the what-if form, the run and its result.
#[allow(clippy::too_many_arguments)]
pub fn alternative(
    id: &str,
    meta: &Meta,
    scenario: &Scenario,
    site_svg: Option<&str>,
    errors: &BTreeMap<String, String>,
    run: Option<&RunState>,
    live: Option<(bool, u64, u64, String)>,
    plan: Option<&Value>,
    files: &[String],
) -> String {
    let mut b = format!(
        "<h1 id=\"title\">{}</h1>\n<p class=\"muted\">{} · from {} · <a href=\"/a/{id}/files/scenario.toml\" download>scenario.toml</a></p>\n",
        esc(&meta.name),
        esc(&scenario.name),
        esc(&meta.from)
    );
    if let Some(top) = errors.get("") {
        let _ = writeln!(b, "<p class=\"err\" id=\"error\">{}</p>", esc(top));
    }
    if let Some(svg) = site_svg {
        let _ = writeln!(b, "<h2>The site, to scale</h2>\n<div class=\"site\">{svg}</div>");
    }
    // The what-if form.
    let _ = write!(b, "<h2>What if</h2>\n<form method=\"post\" action=\"/a/{id}/edit\" id=\"edit\">\n");
    let _ = writeln!(b, "<p><label>name <input name=\"name\" value=\"{}\"></label></p>", esc(&meta.name));
    b.push_str("<table><tr><th>gate</th><th>lanes out</th><th>lanes in</th><th>terminal</th></tr>\n");
    for (g, gate) in scenario.gates.iter().enumerate() {
        let terminal = match gate.terminal {
            TerminalKind::FaceAndCard => "face_and_card",
            TerminalKind::CardOnly => "card_only",
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>",
            esc(&gate.name),
            number(&format!("gate{g}_lanes_out"), gate.lanes_out, "1", errors),
            number(&format!("gate{g}_lanes_in"), gate.lanes_in, "1", errors),
            select(
                &format!("gate{g}_terminal"),
                &[("face_and_card", "face and card"), ("card_only", "card only (no face)")],
                terminal
            ),
            field_error(errors, &format!("gate{g}_terminal"))
        );
    }
    b.push_str("</table>\n");
    let _ = writeln!(
        b,
        "<p><label>residents refusing face (share) {}</label></p>",
        number("opt_out_share", scenario.population.opt_out_share, "0.01", errors)
    );
    let policy = scenario.policy.name.as_str();
    let mut policies = vec![("compliant", "compliant"), ("forced-face", "forced-face (not compliant)")];
    if !policies.iter().any(|(p, _)| *p == policy) {
        policies.push((policy, policy));
    }
    let _ = writeln!(
        b,
        "<p><label>policy {}</label>{}</p>",
        select("policy", &policies, policy),
        field_error(errors, "policy")
    );
    let outages: Vec<String> = scenario
        .faults
        .outages
        .iter()
        .map(|o| {
            let kind = match o.kind {
                OutageKind::ScannerRemoved => "scanner removed",
                OutageKind::GalleryOutage => "gallery outage",
            };
            format!("{kind}{} {}–{}", o.gate.as_ref().map(|g| format!(" at {g}")).unwrap_or_default(), o.from, o.to)
        })
        .collect();
    let gates: Vec<(&str, &str)> = scenario.gates.iter().map(|g| (g.name.as_str(), g.name.as_str())).collect();
    let _ = writeln!(
        b,
        "<fieldset><legend>fault day</legend><p class=\"muted\">now: {}</p><p>{} at {} from <input name=\"fault_from\" value=\"{}\" size=\"5\"> to <input name=\"fault_to\" value=\"{}\" size=\"5\">{}</p></fieldset>",
        esc(&if outages.is_empty() { "none".to_owned() } else { outages.join("; ") }),
        select(
            "fault",
            &[
                ("keep", "keep as it is"),
                ("none", "no outage"),
                ("scanner_removed", "scanner removed at one gate"),
                ("gallery_outage", "gallery outage (no face anywhere)")
            ],
            "keep"
        ),
        select("fault_gate", &gates, gates.first().map_or("", |g| g.0)),
        esc(&scenario.run.start),
        esc(&end_of(scenario)),
        field_error(errors, "fault")
    );
    let s = &meta.settings;
    let los: Vec<(&str, &str)> = ["A", "B", "C", "D", "E", "F"].iter().map(|l| (*l, *l)).collect();
    let _ = writeln!(
        b,
        "<fieldset><legend>plan</legend><p><label>target p95 wait, s {}</label><label>level of service at worst {}</label>{}</p>\
         <p><label>lanes from {}</label><label>to {}</label><label>replications {}</label><label>minutes simulated {}</label>\
         <label><input type=\"checkbox\" name=\"sensitivity\" value=\"on\"{}> sensitivity runs</label></p></fieldset>",
        number("target_wait_p95", s.target_wait_p95, "any", errors),
        select("los", &los, &s.los),
        field_error(errors, "los"),
        number("lanes_from", s.lanes_from, "1", errors),
        number("lanes_to", s.lanes_to, "1", errors),
        number("replications", s.replications.map(|r| r.to_string()).unwrap_or_default(), "1", errors),
        number("duration_min", s.duration_min.map(|r| r.to_string()).unwrap_or_default(), "1", errors),
        if s.sensitivity { " checked" } else { "" }
    );
    b.push_str(
        "<p><button type=\"submit\" name=\"action\" value=\"save\">Save</button> \
         <button type=\"submit\" name=\"action\" value=\"run\" id=\"run\">Save and plan</button></p></form>\n",
    );
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"/a/{id}/copy\" class=\"inline\"><button type=\"submit\" id=\"copy\">Keep a copy to try something else</button></form> \
         <form method=\"post\" action=\"/a/{id}/record\" class=\"inline\"><button type=\"submit\" id=\"record\">Watch a run (the first half hour)</button></form>"
    );
    // The run.
    b.push_str("<h2>Plan</h2>\n<div id=\"status\">");
    match (&live, run) {
        (Some((running, done, total, label)), _) => {
            let _ = write!(
                b,
                "<p id=\"state\">{}</p><p><progress id=\"bar\" value=\"{done}\" max=\"{}\"></progress> <span id=\"count\">{done}/{total}</span> <span class=\"muted\" id=\"label\">{}</span></p>\
                 <form method=\"post\" action=\"/a/{id}/cancel\" class=\"inline\"><button type=\"submit\" id=\"cancel\">Cancel</button></form>",
                if *running { "running" } else { "queued" },
                total.max(&1),
                esc(label)
            );
        }
        (None, Some(r)) => {
            let class = if r.state == "done" {
                "ok"
            } else if r.state == "failed" {
                "err"
            } else {
                "muted"
            };
            let _ = write!(
                b,
                "<p id=\"state\" class=\"{class}\">{}{}</p>",
                esc(&r.state),
                if r.wall_s > 0.0 { format!(" in {:.1} s", r.wall_s) } else { String::new() }
            );
            if !r.message.is_empty() {
                let _ = write!(b, "<pre id=\"message\">{}</pre>", esc(&r.message));
            }
        }
        (None, None) => b.push_str("<p id=\"state\" class=\"muted\">not planned yet</p>"),
    }
    b.push_str("</div>\n");
    if live.is_some() {
        let _ = writeln!(
            b,
            "<script>const es=new EventSource('/a/{id}/events');es.onmessage=e=>{{const p=JSON.parse(e.data);\
             document.getElementById('state').textContent=p.state;const bar=document.getElementById('bar');\
             if(bar){{bar.max=Math.max(p.total,1);bar.value=p.done;document.getElementById('count').textContent=p.done+'/'+p.total;\
             document.getElementById('label').textContent=p.label;}}if(p.final){{es.close();location.reload();}}}};</script>"
        );
    }
    if let Some(plan) = plan {
        b.push_str(&result(id, plan, files, true));
    }
    if !files.is_empty() {
        b.push_str("<h2>Files</h2>\n<ul id=\"files\">");
        for f in files {
            let _ = write!(b, "<li><a href=\"/a/{id}/files/{0}\">{0}</a></li>", esc(f));
        }
        b.push_str("</ul>\n");
    }
    layout(&meta.name, &b)
}

fn end_of(s: &Scenario) -> String {
    let (h, m) = s
        .run
        .start
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
        .unwrap_or((7, 0));
    let end = (h * 60 + m + s.run.duration_min).min(24 * 60 - 1);
    format!("{:02}:{:02}", end / 60, end % 60)
}

fn num(v: &Value) -> String {
    v.as_f64().filter(|x| x.is_finite()).map_or_else(|| "–".to_owned(), |x| format!("{x:.1}"))
}

/// A plan's result as the report shows it: the sentence, the p95 per group against lanes, the
/// level of service, the consent checker's verdict, the maps.
pub fn result(id: &str, plan: &Value, files: &[String], embed_report: bool) -> String {
    let mut b = String::new();
    let _ = writeln!(b, "<p class=\"sentence\" id=\"sentence\">{}</p>", esc(plan["sentence"].as_str().unwrap_or("")));
    let _ = writeln!(b, "<p id=\"decision\"><b>{}</b></p>", esc(plan["decision"].as_str().unwrap_or("")));
    let configs = plan["configurations"].as_array().cloned().unwrap_or_default();
    let groups: Vec<String> = configs
        .iter()
        .flat_map(|c| {
            c["at_lanes_wait_s_p95"].as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()
        })
        .fold(Vec::new(), |mut acc, g| {
            if !acc.contains(&g) {
                acc.push(g);
            }
            acc
        });
    b.push_str("<table id=\"configurations\"><tr><th>configuration</th><th>runs</th>");
    for g in &groups {
        let _ = write!(b, "<th>{} p95 at the lanes, s</th>", esc(g));
    }
    b.push_str("<th>booth p95, s</th><th>everyone p95, s</th><th>queue area, worst 15 min</th><th>lanes</th><th>consent violations</th></tr>\n");
    let mut violations = 0.0;
    for c in configs.iter().filter(|c| c["config"]["vary"].is_null()) {
        let _ = write!(b, "<tr><td>{}</td><td>{}</td>", esc(c["label"].as_str().unwrap_or("")), c["replications"]);
        for g in &groups {
            let _ = write!(b, "<td>{}</td>", num(&c["at_lanes_wait_s_p95"][g]["mean"]));
        }
        let v = c["consent_violations"]["mean"].as_f64().unwrap_or(0.0);
        violations += v;
        let _ = writeln!(
            b,
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            num(&c["at_booth_wait_s_p95"]["mean"]),
            num(&c["wait_s_p95_all"]["mean"]),
            esc(c["queuing_level"].as_str().unwrap_or("")),
            esc(&c["lanes"].as_str().map(str::to_lowercase).unwrap_or_default()),
            num(&c["consent_violations"]["mean"]),
        );
    }
    b.push_str("</table>\n");
    let _ = writeln!(
        b,
        "<p id=\"consent\" class=\"{}\">consent checker: {}</p>",
        if violations == 0.0 { "ok" } else { "err" },
        if violations == 0.0 {
            "no rule broken in any run (C1–C8)".to_owned()
        } else {
            format!("{violations:.1} violations per run on average — this policy breaks the consent rules")
        }
    );
    let maps: Vec<&String> = files.iter().filter(|f| f.starts_with("plan/los_map_") && f.ends_with(".svg")).collect();
    if !maps.is_empty() {
        b.push_str("<div class=\"maps\">");
        for m in maps {
            let _ = write!(b, "<img src=\"/a/{id}/files/{0}\" alt=\"{0}\" style=\"max-width:100%\">", esc(m));
        }
        b.push_str("</div>\n");
    }
    if files.iter().any(|f| f == "plan/report.html") {
        let _ = writeln!(
            b,
            "<p><a href=\"/a/{id}/files/plan/report.html\" id=\"report\">the full report</a> (queue over time, p95 per group vs lanes, sensitivity)</p>"
        );
        if embed_report {
            let _ = writeln!(
                b,
                "<iframe src=\"/a/{id}/files/plan/report.html\" title=\"the plan's report\" id=\"report-frame\" \
                 style=\"width:100%;height:60em;border:1px solid #ccc\"></iframe>"
            );
        }
    }
    b
}

/// Two alternatives side by side.
pub fn compare(sides: [(String, Meta, Option<Value>, Vec<String>); 2]) -> String {
    let mut b = String::from("<h1>Compare</h1>\n<div class=\"cols\" id=\"comparison\">");
    for (id, meta, plan, files) in &sides {
        let _ = write!(b, "<div><h2><a href=\"/a/{id}\">{}</a></h2>", esc(&meta.name));
        match plan {
            Some(p) => b.push_str(&result(id, p, files, false)),
            None => b.push_str("<p class=\"muted\">not planned yet</p>"),
        }
        b.push_str("</div>");
    }
    b.push_str("</div>\n");
    layout("Compare", &b)
}

/// A page saying what went wrong and how to go on.
pub fn problem(title: &str, message: &str) -> String {
    layout(
        title,
        &format!(
            "<h1>{}</h1>\n<p class=\"err\" id=\"error\">{}</p>\n<p><a href=\"/\">back</a></p>",
            esc(title),
            esc(message)
        ),
    )
}

/// The settings a form asked for, or what is wrong with them (by field).
pub fn settings_from(form: &BTreeMap<String, String>, was: &Settings) -> (Settings, BTreeMap<String, String>) {
    let mut errors = BTreeMap::new();
    let mut s = was.clone();
    let mut get = |key: &str, parse: &dyn Fn(&str) -> Option<()>| {
        if let Some(v) = form.get(key)
            && parse(v.trim()).is_none()
        {
            errors.insert(key.to_owned(), format!("{v:?} is not a valid value"));
        }
    };
    let target = form.get("target_wait_p95").and_then(|v| v.trim().parse::<f64>().ok());
    get("target_wait_p95", &|v| v.parse::<f64>().ok().filter(|x| *x > 0.0 && x.is_finite()).map(|_| ()));
    get("lanes_from", &|v| v.parse::<u32>().ok().filter(|x| (1..=16).contains(x)).map(|_| ()));
    get("lanes_to", &|v| v.parse::<u32>().ok().filter(|x| (1..=16).contains(x)).map(|_| ()));
    get("replications", &|v| {
        if v.is_empty() { Some(()) } else { v.parse::<u32>().ok().filter(|x| (1..=200).contains(x)).map(|_| ()) }
    });
    get("duration_min", &|v| {
        if v.is_empty() { Some(()) } else { v.parse::<u32>().ok().filter(|x| (1..=1440).contains(x)).map(|_| ()) }
    });
    if let Some(t) = target.filter(|x| *x > 0.0 && x.is_finite()) {
        s.target_wait_p95 = t;
    }
    if let Some(l) = form.get("los") {
        if ["A", "B", "C", "D", "E", "F"].contains(&l.as_str()) {
            s.los = l.clone();
        } else {
            errors.insert("los".into(), format!("{l:?}: choose a level from A to F"));
        }
    }
    let parse_u32 = |k: &str| form.get(k).and_then(|v| v.trim().parse::<u32>().ok());
    if let Some(v) = parse_u32("lanes_from").filter(|x| (1..=16).contains(x)) {
        s.lanes_from = v;
    }
    if let Some(v) = parse_u32("lanes_to").filter(|x| (1..=16).contains(x)) {
        s.lanes_to = v;
    }
    if s.lanes_from > s.lanes_to {
        errors.insert("lanes_to".into(), format!("must be at least 'lanes from' ({})", s.lanes_from));
    }
    if form.contains_key("replications") {
        s.replications = parse_u32("replications").filter(|x| (1..=200).contains(x));
    }
    if form.contains_key("duration_min") {
        s.duration_min = parse_u32("duration_min").filter(|x| (1..=1440).contains(x));
    }
    s.sensitivity = form.get("sensitivity").is_some_and(|v| v == "on");
    (s, errors)
}

/// The player of a recorded run: the stage to scale on a canvas, everyone as a dot coloured by
/// who they are, play/pause, speed and a slider to seek.
pub fn watch(id: &str, name: &str, recorded: bool) -> String {
    if !recorded {
        return layout(
            name,
            &format!(
                "<h1>{}</h1><p class=\"muted\">no run recorded yet</p><form method=\"post\" action=\"/a/{id}/record\"><button type=\"submit\" id=\"record\">Record one</button></form>",
                esc(name)
            ),
        );
    }
    let body = format!(
        "<h1>{}: a recorded run</h1>\n<p><a href=\"/a/{id}\">back to the alternative</a></p>\n\
         <p><button id=\"play\">pause</button> <label>speed <select id=\"speed\"><option>1</option><option>4</option>\
         <option selected>16</option><option>64</option></select>×</label> <input type=\"range\" id=\"seek\" min=\"0\" value=\"0\" style=\"width:30em\"> \
         <span id=\"clock\"></span> <span id=\"through\" class=\"muted\"></span></p>\n\
         <canvas id=\"stage\" width=\"1100\" height=\"620\" style=\"border:1px solid #ccc;max-width:100%\"></canvas>\n<p id=\"legend\"></p>\n\
         <script>{PLAYER}</script><script>play('/a/{id}/recording.json');</script>",
        esc(name)
    );
    layout(name, &body)
}

const PLAYER: &str = r#"
const COLOURS = {enrolled_face:'#2d6cdf', opt_out_card:'#e08e0b', renter:'#7b3fb5', other_resident:'#6b7785', visitor:'#1a9e5a', courier:'#c0392b'};
async function play(url) {
  const rec = await (await fetch(url)).json();
  const cv = document.getElementById('stage'), g = cv.getContext('2d');
  // Framed on the lanes, as far out as the plaza reaches (a site's whole ground is larger).
  const xs = rec.lanes.length ? rec.lanes.map(l => l.x) : rec.gates.map(q => q.x);
  const r = Math.min(rec.radius, 40), xm = (Math.min(...xs) + Math.max(...xs)) / 2;
  const half = Math.max((Math.max(...xs) - Math.min(...xs)) / 2 + r, r * cv.width / cv.height);
  const x0 = xm - half, s = Math.min(cv.width / (2 * half), cv.height / (2 * r));
  const px = x => (x - x0) * s, py = y => cv.height / 2 - y * s;
  document.getElementById('legend').innerHTML = rec.looks.map(l => `<span style="color:${COLOURS[l]}">&#9679; ${l.replace(/_/g,' ')}</span>`).join(' &nbsp; ');
  const seek = document.getElementById('seek'); seek.max = rec.frames.length - 1;
  let k = 0, running = true, last = performance.now(), acc = 0;
  document.getElementById('play').onclick = e => { running = !running; e.target.textContent = running ? 'pause' : 'play'; };
  seek.oninput = () => { k = +seek.value; draw(); };
  function draw() {
    const f = rec.frames[k];
    g.fillStyle = '#fafafa'; g.fillRect(0, 0, cv.width, cv.height);
    g.strokeStyle = '#999'; g.lineWidth = 1; g.beginPath(); g.moveTo(0, py(0)); g.lineTo(cv.width, py(0)); g.stroke();
    g.strokeStyle = '#555'; g.lineWidth = 2;
    for (const [a, b, c, d] of rec.walls) { g.beginPath(); g.moveTo(px(a), py(b)); g.lineTo(px(c), py(d)); g.stroke(); }
    g.fillStyle = 'rgba(45,108,223,0.12)';
    for (const l of rec.lanes) g.fillRect(px(l.x - l.width / 2), py(1), l.width * s, 2 * s);
    const d = f[1];
    for (let i = 0; i < d.length; i += 3) {
      g.fillStyle = COLOURS[rec.looks[d[i + 2]]]; g.beginPath(); g.arc(px(d[i]), py(d[i + 1]), Math.max(2, 0.22 * s), 0, 6.283); g.fill();
    }
    const t = f[0] / 1000, hh = Math.floor(t / 3600), mm = Math.floor(t / 60) % 60, ss = Math.floor(t) % 60;
    document.getElementById('clock').textContent = `${String(hh).padStart(2,'0')}:${String(mm).padStart(2,'0')}:${String(ss).padStart(2,'0')}`;
    document.getElementById('through').textContent = `${f[2]} through`;
    seek.value = k;
  }
  function tick(now) {
    const speed = +document.getElementById('speed').value;
    if (running && rec.frames.length > 1) {
      acc += (now - last) * speed;
      const step = rec.frames[1][0] - rec.frames[0][0];
      while (acc >= step && k < rec.frames.length - 1) { acc -= step; k++; }
      draw();
    }
    last = now; requestAnimationFrame(tick);
  }
  draw(); requestAnimationFrame(tick);
}
"#;
