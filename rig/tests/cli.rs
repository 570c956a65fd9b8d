//! `gatelab-rig` as a user meets it: help that teaches, clear errors for bad input.

use std::process::{Command, Output};

fn rig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab-rig")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn help_names_the_targets_and_the_exit_codes() {
    let o = rig(&["--help"]);
    assert!(o.status.success());
    let t = text(&o);
    for word in ["qemu-rtt", "probe", "cargo xtask firmware", "replay", "bench", "selftest"] {
        assert!(t.contains(word), "--help lacks {word}: {t}");
    }
    let t = text(&rig(&["replay", "--help"]));
    assert!(t.contains("1 any mismatch") && t.contains("3 identical but"), "{t}");
}

#[test]
fn bad_traces_are_errors_that_name_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.trace");
    let o = rig(&["replay", missing.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("could not open trace") && text(&o).contains("nothing.trace"), "{}", text(&o));

    let garbage = dir.path().join("garbage.trace");
    std::fs::write(&garbage, "this is not json\n").unwrap();
    let o = rig(&["replay", garbage.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("garbage.trace") && t.contains("line 1") && t.contains("--export-trace"), "{t}");

    let empty = dir.path().join("empty.trace");
    std::fs::write(&empty, "").unwrap();
    let t = text(&rig(&["replay", empty.to_str().unwrap(), "--quiet"]));
    assert!(t.contains("empty") && t.contains("gatelab run SCENARIO --export-trace"), "{t}");
}

#[test]
fn a_missing_firmware_image_says_how_to_build_it() {
    let o = rig(&["info", "--firmware", "/nonexistent/fw.elf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cargo xtask firmware"), "{}", text(&o));
}
