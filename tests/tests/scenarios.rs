//! The shipped scenarios parse, validate and run; malformed ones are refused with the file,
//! line, field and a hint, and nothing panics.

use gatelab_core::audit::{AuditEvent, UncontrolledCause};
use gatelab_scenario::{Scenario, parse_clock};
use gatelab_tests::{audit_log, run_window, shipped, workspace};

const SHIPPED: [&str; 9] = [
    "dongcheng",
    "dongcheng-forced-face",
    "dongcheng-spoofing",
    "tianjin-wenhuacun",
    "tianjin-reconfirmation",
    "public-rental-estate",
    "courier-surge",
    "compound-entrance",
    "public-rental-estate-site",
];

#[test]
fn every_shipped_scenario_is_valid_and_names_a_known_policy() {
    for name in SHIPPED {
        let s = shipped(name);
        assert_eq!(s.name, name);
        assert!(gatelab_core::Policy::builtin(&s.policy.name).is_some(), "{name}: policy {}", s.policy.name);
    }
    assert_eq!(shipped("dongcheng-forced-face").policy.name, "forced-face");
}

#[test]
fn every_shipped_scenario_runs_and_only_forced_face_breaks_consent_rules() {
    for name in SHIPPED {
        let scenario = shipped(name);
        // The busiest hour of the morning, short enough for a test.
        let start = if name.starts_with("tianjin") { "07:15" } else { "07:45" };
        let minutes = match name {
            "public-rental-estate" => 30,
            // Walking its drawn site: every trip from a block's entrance, 150–200 m on average.
            "public-rental-estate-site" => 15,
            _ => 45,
        };
        let rep = run_window(scenario, start, minutes, 1);
        let f = rep.figures;
        assert!(f.passages > 20.0, "{name}: only {} passages", f.passages);
        assert_eq!(f.unserved_at_end, 0.0, "{name}: people left at the gate");
        assert_eq!(f.passages, f.arrivals, "{name}: everyone who came got through");
        // Every row of the log is readable and the streaming check agrees with a full check.
        let log = audit_log(&rep);
        let policy = gatelab_core::Policy::builtin(&shipped(name).policy.name).unwrap();
        let report = gatelab_core::check(&log, &policy);
        assert_eq!(report.violations.len() as f64, f.consent_violations, "{name}");
        if name == "dongcheng-forced-face" {
            assert!(f.consent_violations > 0.0, "{name} must be flagged");
            assert!(report.count(gatelab_core::Rule::C2) > 0, "{name}: C2");
        } else {
            assert!(report.is_clean(), "{name}: {:#?}", &report.violations[..report.violations.len().min(5)]);
        }
    }
}

#[test]
fn guard_bypass_through_the_car_gate_is_counted_and_audited() {
    // Dongcheng with the scanner gone and a guard who opens the car gate above 3 people queueing.
    let mut s = shipped("dongcheng");
    s.policy.guard_opens_car_gate_above_queue = Some(3);
    s.population.owners = 1500;
    s.service.card_s = 6.0;
    let rep = run_window(s, "08:00", 40, 3);
    assert!(rep.figures.car_gate_openings > 0.0, "{:?}", rep.figures);
    let car_gate_rows = rep.passages.iter().filter(|r| r.lane == "car-gate").count();
    assert!(car_gate_rows > 0);
    let audited = audit_log(&rep)
        .iter()
        .filter(|r| r.event == AuditEvent::UncontrolledPassage { cause: UncontrolledCause::GuardBypass })
        .count();
    // Every passage through the guard's paths (car gate, booth door) is an audited bypass.
    let guard_rows = rep.passages.iter().filter(|r| r.lane == "car-gate" || r.lane == "guard-door").count();
    assert_eq!(audited, guard_rows);
    assert_eq!(rep.figures.consent_violations, 0.0, "a guard bypass is counted, not a consent breach");
}

#[test]
fn withdrawals_delete_templates_everywhere_in_the_simulation() {
    let mut s = shipped("tianjin-wenhuacun");
    s.population.withdrawals_per_hour = 20.0;
    let rep = run_window(s, "07:00", 30, 8);
    assert!(rep.figures.consent_withdrawals > 0.0);
    let log = audit_log(&rep);
    let deleted = log
        .iter()
        .filter(|r| {
            matches!(
                r.event,
                AuditEvent::TemplateDeleted { reason: gatelab_core::audit::DeletionReason::Withdrawn, .. }
            )
        })
        .count();
    // Tianjin's two face terminals at each of two gates... every camera terminal deletes it.
    assert!(
        deleted as f64 >= rep.figures.consent_withdrawals,
        "{deleted} deletions for {} withdrawals",
        rep.figures.consent_withdrawals
    );
    assert_eq!(rep.figures.consent_violations, 0.0);
}

/// The Dongcheng file with one edit; returns the error text.
fn broken(from: &str, to: &str) -> String {
    let path = workspace("scenarios/dongcheng.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    let err = Scenario::parse_named(&text.replacen(from, to, 1), "dongcheng.toml").unwrap_err();
    err.to_string()
}

/// 1-based line of the first occurrence of `needle` in the Dongcheng file.
fn line_of(needle: &str) -> usize {
    let text = std::fs::read_to_string(workspace("scenarios/dongcheng.toml")).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn bad_values_are_refused_with_file_line_field_and_hint() {
    let cases = [
        // (edit from, edit to, field named, a word of the hint)
        ("opt_out_share = 0.15", "opt_out_share = 1.5", "population.opt_out_share", "between 0 and 1"),
        ("start = \"07:00\"", "start = \"7am\"", "run.start", "HH:MM"),
        ("lanes_in = 1\nlanes_out = 1", "lanes_in = 0\nlanes_out = 0", "gates[0].lanes_in", "at least one"),
        ("gate = \"north\"", "gate = \"south\"", "faults.outages[0]", "no gate has that name"),
        ("share = 1.0", "share = 0.5", "gates[0].share", "add up to 1"),
        ("dt_s = 0.1", "dt_s = 5.0", "run.dt_s", "0.1 is usual"),
        ("couriers_per_hour = 20.0", "couriers_per_hour = -3.0", "population.couriers_per_hour", "zero or more"),
        ("[9, 0.10, 0.05]", "[25, 0.10, 0.05]", "demand.profile[2]", "beyond the day"),
        ("duration_min = 180", "duration_min = 1200", "run.duration_min", "past midnight"),
    ];
    for (from, to, field, hint) in cases {
        let msg = broken(from, to);
        let line = line_of(from.lines().next().unwrap());
        assert!(msg.starts_with(&format!("dongcheng.toml:{line}: {field}: ")), "{msg} (expected line {line})");
        assert!(msg.contains(hint), "{msg}");
    }
    // Unknown and mistyped keys: named by the TOML layer with the line, plus a hint.
    let msg = broken("households = 240", "housholds = 240");
    assert!(msg.starts_with(&format!("dongcheng.toml:{}:", line_of("households"))), "{msg}");
    assert!(msg.contains("housholds") && msg.contains("check the spelling"), "{msg}");
    let msg = broken("owners = 380", "owners = \"many\"");
    assert!(msg.starts_with(&format!("dongcheng.toml:{}:", line_of("owners ="))), "{msg}");
    assert!(msg.contains("invalid type") && msg.contains("write the value"), "{msg}");
}

#[test]
fn garbage_never_panics() {
    let text = std::fs::read_to_string(workspace("scenarios/dongcheng.toml")).unwrap();
    // Every prefix of a valid file, and a few byte-level corruptions: an error, never a panic.
    for cut in (0..text.len()).step_by(7).filter(|&i| text.is_char_boundary(i)) {
        let _ = Scenario::parse(&text[..cut]);
    }
    for (i, junk) in ["\u{0}", "]]", "=", "\"", "nan", "-1e309"].into_iter().enumerate() {
        let mut t = text.clone();
        let at = (i * 97 + 31) % t.len();
        if t.is_char_boundary(at) {
            t.insert_str(at, junk);
        }
        let _ = Scenario::parse(&t);
    }
    let missing = Scenario::load(&workspace("scenarios/no-such.toml")).unwrap_err().to_string();
    assert!(missing.contains("no-such.toml") && missing.contains("check the path"), "{missing}");
}

#[test]
fn clock_times_are_strict() {
    assert_eq!(parse_clock("07:45"), Some(465));
    for bad in ["7:45", "24:00", "07:60", "0745", "ab:cd"] {
        assert_eq!(parse_clock(bad), None, "{bad}");
    }
}

/// The policy is resolved once, when the scenario is read: a policy file named beside the
/// scenario is found whatever the working folder, and a name that is neither built in nor a
/// file is refused at load, at `policy.name`'s line, not later inside a replication.
#[test]
fn the_policy_is_resolved_when_the_scenario_is_read() {
    let dir = std::env::temp_dir().join(format!("gatelab-policy-resolve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(workspace("scenarios/dongcheng.toml")).unwrap();
    let mut open_for_all = gatelab_core::Policy::compliant();
    open_for_all.name = "site-policy".into();
    open_for_all.on_fault = gatelab_core::policy::FaultMode::OpenForAll;
    std::fs::write(dir.join("site-policy.toml"), gatelab_scenario::policy_file::to_toml(&open_for_all)).unwrap();
    let named = text.replace("[policy]\nname = \"compliant\"", "[policy]\nname = \"site-policy.toml\"");
    assert_ne!(named, text, "the shipped scenario's [policy] table moved");
    std::fs::write(dir.join("site.toml"), &named).unwrap();
    let s = Scenario::load(&dir.join("site.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.policy.resolved.as_ref(), Some(&open_for_all));
    assert_eq!(s.policy().unwrap(), open_for_all);

    std::fs::write(dir.join("bad.toml"), text.replace("name = \"compliant\"", "name = \"no-such-policy\"")).unwrap();
    let e = Scenario::load(&dir.join("bad.toml")).unwrap_err();
    assert_eq!(e.field, "policy.name", "{e}");
    assert!(e.line.is_some() && e.to_string().contains("no-such-policy"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// `[demand] rows` at a 5-minute resolution: arrivals follow each row (a Poisson count per row
/// within 4 σ of its expectation over 20 mornings), a gate's own rows send their residents to
/// that gate only, and malformed rows name the row and the fix.
#[test]
fn demand_rows_drive_arrivals_at_any_resolution_and_per_gate() {
    use gatelab_sim::engine::{Keep, simulate_keeping};
    const PROFILE: &str = "profile = [[6, 0.10, 0.02], [7, 0.30, 0.04], [8, 0.30, 0.06], [9, 0.08, 0.05]]";
    // Out: 120/h, 600/h, 120/h, 600/h, … in 5-minute rows; in: 240/h at the west gate only.
    let rows: Vec<String> = (0..6)
        .map(|k| {
            let rate = if k % 2 == 0 { 120.0 } else { 600.0 };
            format!("{{ start = \"07:{:02}\", minutes = 5, outbound = {rate}, inbound = 0.0 }}", 5 * k)
        })
        .chain(["{ start = \"07:00\", minutes = 30, outbound = 0.0, inbound = 240.0, gate = \"west\" }".to_string()])
        .collect();
    let text = std::fs::read_to_string(workspace("scenarios/tianjin-wenhuacun.toml")).unwrap();
    assert!(text.contains(PROFILE), "the Tianjin [demand] changed; update this test");
    let text = text.replace(PROFILE, &format!("rows = [{}]", rows.join(", ")));
    let mut scenario = Scenario::parse_named(&text, "rows.toml").unwrap_or_else(|e| panic!("{e}"));
    scenario.run.start = "07:00".into();
    scenario.run.duration_min = 30;
    scenario.validate().unwrap_or_else(|e| panic!("{}: {}", e.field, e.message));
    let west = scenario.gates.iter().position(|g| g.name == "west").unwrap();
    let mornings = 20;
    let (mut out_per_row, mut inbound_at, mut inbound) = ([0u32; 6], [0u32; 2], 0u32);
    for seed in 0..mornings {
        let keep = Keep { arrivals: true, ..Keep::NOTHING };
        let rep = simulate_keeping(&scenario, seed, keep, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
        for a in rep.arrivals.unwrap_or_default() {
            let resident = matches!(
                a.kind,
                gatelab_sim::engine::model::AgentKind::Owner | gatelab_sim::engine::model::AgentKind::Renter
            );
            if !resident {
                continue;
            }
            let minute = (a.at_ms / 60_000) as u32 - 7 * 60;
            match a.direction {
                gatelab_core::Direction::Outbound => out_per_row[(minute / 5).min(5) as usize] += 1,
                gatelab_core::Direction::Inbound => {
                    inbound += 1;
                    inbound_at[usize::from(a.gate == west)] += 1;
                }
            }
        }
    }
    for (k, &got) in out_per_row.iter().enumerate() {
        let per_hour = if k % 2 == 0 { 120.0 } else { 600.0 };
        let want = per_hour / 12.0 * f64::from(mornings as u32);
        assert!((f64::from(got) - want).abs() < 4.0 * want.sqrt(), "row {k}: {got} arrivals, expected {want}");
    }
    let want_in = 240.0 / 2.0 * f64::from(mornings as u32);
    assert!((f64::from(inbound) - want_in).abs() < 4.0 * want_in.sqrt(), "{inbound} inbound, expected {want_in}");
    assert_eq!(inbound_at[0], 0, "inbound rows name the west gate: nobody comes in at the east gate");

    // Bad rows: the row and the fix.
    let bad = |rows: &str, field: &str, hint: &str| {
        let err = Scenario::parse_named(&text.replace(&format!("rows = [{}]", rows_text(&text)), rows), "rows.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(field) && err.contains(hint), "{err}");
    };
    bad("rows = [{ start = \"7:00\", minutes = 5, outbound = 1.0, inbound = 0.0 }]", "demand.rows[0]", "HH:MM");
    bad(
        "rows = [{ start = \"07:00\", minutes = 5, outbound = 1.0, inbound = 0.0, gate = \"north\" }]",
        "demand.rows[0]",
        "east, west",
    );
    bad(
        "rows = [{ start = \"07:00\", minutes = 10, outbound = 1.0, inbound = 0.0 }, { start = \"07:05\", minutes = 5, outbound = 1.0, inbound = 0.0 }]",
        "demand.rows[1]",
        "overlaps demand.rows[0]",
    );
    bad(
        &format!("{PROFILE}\nrows = [{{ start = \"07:00\", minutes = 5, outbound = 1.0, inbound = 0.0 }}]"),
        "demand.rows",
        "keep one",
    );
}

/// The text between `rows = [` and the matching `]` at the end of its line.
fn rows_text(text: &str) -> String {
    let line = text.lines().find(|l| l.starts_with("rows = [")).unwrap();
    line.trim_start_matches("rows = [").trim_end_matches(']').to_string()
}
