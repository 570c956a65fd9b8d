//! The `gatelab` binary as a user meets it: exit codes, messages, outputs.

use std::path::PathBuf;
use std::process::{Command, Output};

mod common;

use common::{scratch, text};

fn gatelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab")).args(args).output().expect("the binary runs")
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audit").join(name);
    p.to_string_lossy().into_owned()
}

#[test]
fn check_exit_codes_tell_clean_violating_and_broken_logs_apart() {
    let clean = gatelab(&["check-consent", &fixture("c1-pass.jsonl")]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let bad = gatelab(&["check-consent", &fixture("c4-fail.jsonl")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("C4"), "{}", text(&bad));
    let broken = gatelab(&["check-consent", &fixture("malformed.jsonl")]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(text(&broken).contains("line 3"), "{}", text(&broken));
    let unknown_policy = gatelab(&["check-consent", &fixture("c1-pass.jsonl"), "--policy", "nope"]);
    assert_eq!(unknown_policy.status.code(), Some(2));
    assert!(text(&unknown_policy).contains("forced-face"));
}

#[test]
fn check_json_lists_every_violation() {
    let out = gatelab(&["check-consent", &fixture("c2-fail.jsonl"), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["violations"][0]["rule"], "C2");
    assert_eq!(report["violations"][0]["record"], 2);
}

fn scenario(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml"));
    p.to_string_lossy().into_owned()
}

const FILES: [&str; 4] = ["summary.json", "passages.csv", "queue.csv", "audit.jsonl"];

#[test]
fn no_arguments_plans_the_built_in_scenario_and_says_where_the_report_is() {
    let dir = scratch("default");
    let out = Command::new(env!("CARGO_BIN_EXE_gatelab")).current_dir(&dir).output().unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("dongcheng") && t.contains("Erlang C") && t.contains("what moves the p95 wait most"), "{t}");
    for f in ["plan.json", "plan.csv", "report.html", "spec.json"] {
        assert!(dir.join("gatelab-plan").join(f).is_file(), "{f} missing: {t}");
    }
    assert!(t.contains("open the report:"), "{t}");
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("gatelab-plan/plan.json")).unwrap()).unwrap();
    assert_eq!(plan["replications"], 10);
    assert!(plan["configurations"].as_array().is_some_and(|c| c.len() == 14), "4 lane counts + 10 sensitivity runs");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn same_seed_writes_byte_identical_files_whatever_the_thread_count() {
    let dir = scratch("seed");
    let run = |sub: &str, threads: &str| {
        let out = dir.join(sub);
        let o = Command::new(env!("CARGO_BIN_EXE_gatelab"))
            .env("RAYON_NUM_THREADS", threads)
            .args(["run", &scenario("courier-surge"), "--duration-min", "40", "--replications", "3", "--seed", "9"])
            .arg("--out")
            .arg(&out)
            .arg("--export-trace")
            .arg(out.join("terminals.trace"))
            .args(["--quiet"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        out
    };
    let (a, b) = (run("a", "1"), run("b", "2"));
    // The terminals' trace, for replay on the firmware: readable, every terminal named, and as
    // deterministic as the rest.
    let trace = std::fs::read(a.join("terminals.trace")).unwrap();
    let (header, entries) = gatelab_core::trace::jsonl::read(&trace[..]).unwrap();
    assert!(
        header.terminals.len() >= 2 && entries.len() > 100,
        "{} terminals, {} events",
        header.terminals.len(),
        entries.len()
    );
    assert!(header.origin.contains("seed 9"), "{}", header.origin);
    assert_eq!(trace, std::fs::read(b.join("terminals.trace")).unwrap(), "the trace differs between threads");
    for f in FILES {
        let (x, y) = (std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap());
        assert!(!x.is_empty(), "{f} is empty");
        assert!(x == y, "{f} differs between two runs with the same seed");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn summary_json_has_every_figure_a_planner_asks_for() {
    let dir = scratch("summary");
    let o = gatelab(&[
        "run",
        &scenario("dongcheng"),
        "--duration-min",
        "30",
        "--replications",
        "2",
        "--format",
        "json",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on stdout");
    for path in [
        "/arrivals",
        "/passages",
        "/throughput_per_min",
        "/wait_s/p50",
        "/wait_s/p95",
        "/wait_s/p99",
        "/wait_s/max",
        "/queue_max",
        "/tailgating/attempts",
        "/tailgating/detected",
        "/tailgating/undetected",
        "/uncontrolled_passages",
        "/opt_out/persons",
        "/opt_out/passages",
        "/opt_out/wait_s_p95",
        "/enrolled/wait_s_p95",
        "/false_accepts",
        "/false_rejects",
        "/consent_violations",
    ] {
        let stat = v.pointer(path).unwrap_or_else(|| panic!("{path} missing"));
        assert!(stat["mean"].is_number(), "{path}: {stat}");
        assert!(stat["ci95"].is_array(), "{path}: {stat}");
    }
    let passages = std::fs::read_to_string(dir.join("passages.csv")).unwrap();
    assert!(
        passages
            .starts_with("time,t_s,agent,kind,gate,lane,direction,credential,decision,wait_s,service_s,tailgated\n")
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn forced_face_log_fails_check_consent_and_compliant_passes() {
    let dir = scratch("consent");
    for (name, expect) in [("dongcheng-forced-face", 1), ("dongcheng", 0)] {
        let out = dir.join(name);
        let o = gatelab(&[
            "run",
            &scenario(name),
            "--duration-min",
            "75",
            "--replications",
            "1",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let log = out.join("audit.jsonl");
        let policy = if expect == 1 { "forced-face" } else { "compliant" };
        let check = gatelab(&["check-consent", log.to_str().unwrap(), "--policy", policy]);
        assert_eq!(check.status.code(), Some(expect), "{name}: {}", text(&check));
        if expect == 1 {
            // Rule, record and reason for each violation.
            assert!(text(&check).contains("C2 at record"), "{}", text(&check));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_bad_scenario_is_an_error_with_file_line_and_field() {
    let dir = scratch("bad");
    let path = dir.join("bad.toml");
    let text_ok = std::fs::read_to_string(scenario("dongcheng")).unwrap();
    std::fs::write(&path, text_ok.replace("lanes_out = 1", "lanes_out = 1\nlanes_sideways = 2")).unwrap();
    let o = gatelab(&["run", path.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains("bad.toml:") && t.contains("lanes_sideways") && t.contains("check the spelling"), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_teaches_and_policy_show_round_trips() {
    let help = text(&gatelab(&["--help"]));
    assert!(help.contains("Examples:") && help.contains("gatelab run") && help.contains("check-consent"), "{help}");
    let run_help = text(&gatelab(&["run", "--help"]));
    assert!(run_help.contains("summary.json") && run_help.contains("--replications"), "{run_help}");
    let shown = gatelab(&["policy", "show", "compliant"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("on_fault = \"degrade_to_non_face\""));
}

/// Issue 14 as an auditor meets it: a camera fault inside a card holder's door window, under a
/// policy that opens for all on faults. `check-consent` reports C7 on the `DoorOpened
/// { FaultOpenAll }` record and on each fault-open passage, whether told the policy the terminal
/// had or the `compliant` one the compound claims.
#[test]
fn check_consent_flags_a_door_a_fault_opened_during_a_grant() {
    use gatelab_core::audit::{AuditEvent, Component, OpenCause, UncontrolledCause};
    use gatelab_core::*;
    let mut policy = Policy::compliant();
    policy.name = "open-for-all".into();
    policy.on_fault = gatelab_core::policy::FaultMode::OpenForAll;
    let mut t =
        Terminal::new(TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), 8), policy.clone()).unwrap();
    let mut log = Vec::new();
    let mut feed = |t: &mut Terminal, ms: u64, e: Event| {
        log.extend(t.handle(Timestamp(ms), e).filter_map(|a| if let Action::Audit(r) = a { Some(r) } else { None }));
    };
    let person = Person { id: PersonId(1), kind: PersonKind::Owner, household: None, age_years: 40 };
    feed(&mut t, 0, Event::Admin(AdminCommand::RegisterPerson(person)));
    let card = Credential { id: CredentialId(11), holder: PersonId(1), kind: CredentialKind::IcCard, expires_at: None };
    feed(&mut t, 0, Event::Admin(AdminCommand::IssueCredential(card)));
    let present = Event::CredentialPresented {
        kind: CredentialKind::IcCard,
        credential: CredentialId(11),
        frame_captured: false,
    };
    feed(&mut t, 1_000, present);
    feed(&mut t, 1_500, Event::ComponentFault(Component::Camera));
    for i in 0..3 {
        feed(&mut t, 2_000 + i, Event::PassageSensed);
    }
    let door = log.iter().position(|r| r.event == AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll }).unwrap();
    let fault_open = AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen };
    let passages: Vec<usize> = (0..log.len()).filter(|&i| log[i].event == fault_open).collect();
    assert_eq!(passages.len(), 2, "the card holder passes as granted, the two behind uncontrolled");
    let dir = scratch("fault-during-grant");
    let path = dir.join("audit.jsonl");
    let mut bytes = Vec::new();
    gatelab_core::audit::jsonl::write(&mut bytes, &log).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let policy_path = dir.join("open-for-all.toml");
    std::fs::write(&policy_path, gatelab_scenario::policy_file::to_toml(&policy)).unwrap();
    for claimed in ["compliant", policy_path.to_str().unwrap()] {
        let out = gatelab(&["check-consent", path.to_str().unwrap(), "--policy", claimed, "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let c7: Vec<u64> = report["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["rule"] == "C7" && v["record"].is_u64())
            .map(|v| v["record"].as_u64().unwrap())
            .collect();
        let mut want = vec![door as u64];
        want.extend(passages.iter().map(|&i| i as u64));
        assert_eq!(c7, want, "--policy {claimed}: {report}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_prints_the_table_writes_json_and_names_unknown_cases() {
    let dir = std::env::temp_dir().join(format!("gatelab-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("v.json");
    let out = gatelab(&["validate", "rimea-1", "rimea-7", "--seeds", "2", "--json", json.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("case ") && stdout.contains("| pass") && stdout.contains("rimea-7"), "{stdout}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["seeds"], serde_json::json!([1, 2]));
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 5, "one rimea-1 row, four rimea-7 rows");
    assert!(cases.iter().all(|c| c["pass"] == true && c["source"].as_str().is_some_and(|s| !s.is_empty())));
    // A parameter set that breaks the corridor walk fails with status 1 and says so.
    let out = gatelab(&["validate", "rimea-1", "--radius", "4.5"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    let out = gatelab(&["validate", "rimea-99"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rimea-99") && stderr.contains("bottleneck"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn site_check_describes_the_shipped_drawing_draws_it_and_names_problems() {
    let dir = std::env::temp_dir().join(format!("gatelab-site-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let site = format!("{}/../scenarios/sites/compound-entrance.toml", env!("CARGO_MANIFEST_DIR"));
    let (svg, png) = (dir.join("site.svg"), dir.join("site.png"));
    let out = gatelab(&["site", "check", &site, "--svg", svg.to_str().unwrap(), "--png", png.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("walkable 1942.3 m²") && stdout.contains("gate 'main': 14.00 m wide"), "{stdout}");
    assert!(
        stdout.contains("share 0.60") && stdout.contains("D 309") && stdout.contains("skipped: layer 'road'"),
        "{stdout}"
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("<svg") && svg_text.contains("gate main"), "{svg_text}");
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // A gate off the fence: exit 1, the file, the gate and the fix.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[site]\nwalkable = [[0, 0], [20, 0], [20, 10], [0, 10]]\n[[site.gates]]\nname = \"yard\"\nline = [[5, 5], [7, 5]]\n\
         [[site.sources]]\nname = \"a\"\nat = [[2, 2]]\n",
    )
    .unwrap();
    let out = gatelab(&["site", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml") && stderr.contains("'yard'") && stderr.contains("snap both ends"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_site_run_and_plan_draw_the_level_of_service_map_to_scale() {
    let dir = std::env::temp_dir().join(format!("gatelab-los-{}", std::process::id()));
    let scenario = format!("{}/../scenarios/compound-entrance.toml", env!("CARGO_MANIFEST_DIR"));
    let run_dir = dir.join("run");
    let out = gatelab(&[
        "run",
        &scenario,
        "--replications",
        "2",
        "--duration-min",
        "30",
        "--quiet",
        "--out",
        run_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let svg = std::fs::read_to_string(run_dir.join("los_map_main.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("level of service") && svg.contains("5 m"), "{}", &svg[..200]);
    assert!(std::fs::read(run_dir.join("los_map_main.png")).unwrap().starts_with(b"\x89PNG"));
    let csv = std::fs::read_to_string(run_dir.join("los_map_main.csv")).unwrap();
    assert!(csv.starts_with("x_m,y_m,density_per_m2,level") && csv.lines().count() > 20, "{csv}");
    let plan_dir = dir.join("plan");
    let out = gatelab(&[
        "plan",
        &scenario,
        "--lanes",
        "1..2",
        "--replications",
        "2",
        "--max-replications",
        "2",
        "--duration-min",
        "30",
        "--no-sensitivity",
        "--quiet",
        "--out",
        plan_dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let report = std::fs::read_to_string(plan_dir.join("report.html")).unwrap();
    assert!(
        report.contains("Level of service at the peak") && report.contains("busiest 15 minutes (mean of 2"),
        "report without the map"
    );
    assert!(plan_dir.join("los_map_main.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pipe_closed_early_ends_the_command_quietly_as_sigpipe_would() {
    // `gatelab site check … | head -1`: the reader is gone before the first line is printed.
    let site = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sites/compound-entrance.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gatelab"))
        .args(["site", "check"])
        .arg(&site)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
