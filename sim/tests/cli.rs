//! The `gatelab` binary as a user meets it: exit codes, messages, outputs.

use std::path::PathBuf;
use std::process::{Command, Output};

fn gatelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab")).args(args).output().expect("the binary runs")
}

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audit").join(name);
    p.to_string_lossy().into_owned()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn check_exit_codes_tell_clean_violating_and_broken_logs_apart() {
    let clean = gatelab(&["check", &fixture("c1-pass.jsonl")]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    let bad = gatelab(&["check", &fixture("c4-fail.jsonl")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("C4"), "{}", text(&bad));
    let broken = gatelab(&["check", &fixture("malformed.jsonl")]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(text(&broken).contains("line 3"), "{}", text(&broken));
    let unknown_policy = gatelab(&["check", &fixture("c1-pass.jsonl"), "--policy", "nope"]);
    assert_eq!(unknown_policy.status.code(), Some(2));
    assert!(text(&unknown_policy).contains("forced-face"));
}

#[test]
fn check_json_lists_every_violation() {
    let out = gatelab(&["check", &fixture("c2-fail.jsonl"), "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["violations"][0]["rule"], "C2");
    assert_eq!(report["violations"][0]["record"], 2);
}

#[test]
fn the_default_run_shows_both_policies() {
    let out = gatelab(&[]);
    assert!(out.status.success());
    let t = text(&out);
    assert!(t.contains("under 'compliant'") && t.contains("no violations"), "{t}");
    assert!(t.contains("under 'forced-face'") && t.contains("C2"), "{t}");
}

#[test]
fn demo_writes_a_log_that_check_reads_back() {
    let dir = std::env::temp_dir().join(format!("gatelab-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("morning.jsonl");
    let log = log.to_str().unwrap();
    let demo = gatelab(&["demo", "--policy", "forced-face", "--audit-out", log]);
    assert_eq!(demo.status.code(), Some(1), "violations found: {}", text(&demo));
    let check = gatelab(&["check", log, "--policy", "forced-face", "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(report["violations"].as_array().is_some_and(|v| v.iter().any(|v| v["rule"] == "C7")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn help_teaches_and_policy_show_round_trips() {
    let help = text(&gatelab(&["--help"]));
    assert!(help.contains("Examples:") && help.contains("gatelab check"), "{help}");
    let shown = gatelab(&["policy", "show", "compliant"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("on_fault = \"degrade_to_non_face\""));
}
