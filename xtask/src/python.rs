//! gatelab's own Python: a virtual environment in the cache (`$GATELAB_CACHE/venv`, default
//! `~/.cache/gatelab/venv`) holding every Python package the tests and benchmarks use, pinned.
//! Tests and benches run its interpreter (`gatelab_faces::paths::python`), never the PATH's: a
//! Debian or Ubuntu system Python refuses `pip install` (PEP 668), and a package in a shared
//! Python can be removed or upgraded by anything else on the machine.
//!
//! `ensure` is idempotent and repairs: a broken venv is rebuilt, a missing or wrong package is
//! reinstalled, each with one line saying so. Remove it all with `rm -rf ~/.cache/gatelab/venv`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Installed with their dependencies: (distribution, version, why).
const PACKAGES: [(&str, &str, &str); 5] = [
    ("onnxruntime", "1.31.1", "the face parity test and benchmark reference"),
    ("numpy", "2.4.6", "the face parity test"),
    ("faiss-cpu", "1.15.1", "the 1:N search benchmark's reference"),
    ("shapely", "2.2.0", "JuPedSim's geometry"),
    ("pedpy", "1.5.1", "reads the walking model's trajectories in the validation test"),
];

/// Installed without their declared dependencies: JuPedSim 1.4.2 declares its visualiser's
/// (PySide6, VTK, matplotlib: 1.4 GB) though the simulation needs only numpy, shapely and
/// Deprecated.
const PACKAGES_NO_DEPS: [(&str, &str, &str); 3] = [
    ("jupedsim", "1.4.2", "the simulation benchmark's reference"),
    ("Deprecated", "1.2.18", "JuPedSim imports it"),
    ("wrapt", "1.17.3", "Deprecated imports it"),
];

/// Modules that must import once everything is installed.
const IMPORTS: &str = "import onnxruntime, numpy, faiss, shapely, jupedsim, pedpy";

pub fn venv_dir() -> PathBuf {
    crate::faces::cache_dir().join("venv")
}

pub fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

fn quiet_ok(cmd: &mut Command) -> bool {
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The Python that creates the venv: the PATH's `python3`.
fn base_python() -> Result<&'static str, String> {
    if quiet_ok(Command::new("python3").arg("--version")) {
        Ok("python3")
    } else {
        Err(String::from(
            "no Python 3 found: gatelab's tests and benchmarks compare against Python's onnxruntime and \
             JuPedSim. Install it (Debian/Ubuntu, as root: apt-get install python3 python3-venv), then rerun \
             `cargo xtask setup`",
        ))
    }
}

/// The packages whose installed version is not the pinned one (or that are missing).
fn missing_packages(python: &Path) -> Vec<String> {
    let wanted: Vec<String> =
        PACKAGES.iter().chain(PACKAGES_NO_DEPS.iter()).map(|(name, version, _)| format!("{name}=={version}")).collect();
    // Written out with explicit indentation: a `\` line continuation would eat it.
    let script = concat!(
        "import sys, importlib.metadata as m\n",
        "for spec in sys.argv[1:]:\n",
        "    name, version = spec.split('==')\n",
        "    try:\n",
        "        ok = m.version(name) == version\n",
        "    except m.PackageNotFoundError:\n",
        "        ok = False\n",
        "    if not ok:\n",
        "        print(spec)\n",
    );
    match Command::new(python).arg("-c").arg(script).args(&wanted).stderr(Stdio::null()).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect(),
        _ => wanted,
    }
}

fn create(base: &str, venv: &Path) -> Result<(), String> {
    let made = Command::new(base).args(["-m", "venv", "--clear"]).arg(venv).status();
    if made.is_ok_and(|s| s.success()) {
        return Ok(());
    }
    // Debian and Ubuntu ship `venv` (ensurepip) apart from Python itself.
    let debian = Path::new("/usr/bin/apt-get").exists();
    if debian {
        eprintln!("setup: `{base} -m venv` failed; installing Debian's python3-venv with apt");
        let apt = crate::run("apt-get update", "apt-get", &["update", "-qq"])
            .and_then(|()| crate::run("install python3-venv", "apt-get", &["install", "-y", "-qq", "python3-venv"]));
        if apt.is_ok()
            && Command::new(base).args(["-m", "venv", "--clear"]).arg(venv).status().is_ok_and(|s| s.success())
        {
            return Ok(());
        }
    }
    Err(format!(
        "could not create the virtual environment {} with `{base} -m venv`: install Python's venv module \
         (Debian/Ubuntu, as root: apt-get install python3-venv), then rerun `cargo xtask setup`",
        venv.display()
    ))
}

fn pip_install(python: &Path, extra: &[&str], packages: &[(&str, &str, &str)]) -> Result<(), String> {
    let specs: Vec<String> = packages.iter().map(|(name, version, _)| format!("{name}=={version}")).collect();
    let status = Command::new(python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(extra)
        .args(&specs)
        .status()
        .map_err(|e| format!("could not run {}: {e}", python.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("pip install {} into {} failed ({status})", specs.join(" "), python.display()))
    }
}

/// Make sure the venv exists, works and holds every pinned package; repair what is not so.
pub fn ensure() -> Result<PathBuf, String> {
    let venv = venv_dir();
    let python = venv_python(&venv);
    let works = python.exists() && quiet_ok(Command::new(&python).args(["-c", "import sys, pip"]));
    if !works {
        let base = base_python()?;
        if venv.exists() {
            eprintln!("setup: the Python environment {} is broken; rebuilding it", venv.display());
        } else {
            eprintln!("setup: creating gatelab's Python environment {} with {base}", venv.display());
        }
        if let Some(parent) = venv.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("could not create {}: {e}", parent.display()))?;
        }
        create(base, &venv)?;
    }
    let missing = missing_packages(&python);
    if !missing.is_empty() {
        eprintln!("setup: installing into {}: {}", venv.display(), missing.join(" "));
        pip_install(&python, &[], &PACKAGES)?;
        pip_install(&python, &["--no-deps"], &PACKAGES_NO_DEPS)?;
        let still = missing_packages(&python);
        if !still.is_empty() {
            return Err(format!("after pip install, {} still lacks {}", venv.display(), still.join(" ")));
        }
    }
    let imports = Command::new(&python).args(["-c", IMPORTS]).output().map_err(|e| e.to_string())?;
    if !imports.status.success() {
        return Err(format!(
            "{} cannot `{IMPORTS}`: {}\n(remove the folder and rerun `cargo xtask setup`)",
            python.display(),
            String::from_utf8_lossy(&imports.stderr).trim()
        ));
    }
    Ok(python)
}

/// Issue 15's check, part of `cargo xtask test`: setup on the system Python (Debian's
/// `/usr/bin/python3`, first on PATH) into a scratch cache, which must build a venv where a
/// shared Python's `pip install` would be refused; a package removed from it is put back by the
/// next setup; the ONNX Runtime parity test passes against it. The scratch cache links the
/// runtime, models and photos of the real one, so nothing is downloaded twice.
pub fn check_setup_on_system_python(cargo: &str, target_dir: &Path) -> Result<(), String> {
    let system = Path::new("/usr/bin/python3");
    eprintln!("\n==> setup on the system Python");
    if !system.exists() {
        eprintln!("    skipped: this machine has no /usr/bin/python3 (not a Debian/Ubuntu layout)");
        return Ok(());
    }
    let start = std::time::Instant::now();
    let scratch = target_dir.join("xtask-system-python");
    let _ = std::fs::remove_dir_all(&scratch);
    let (bin, cache) = (scratch.join("bin"), scratch.join("cache"));
    let io = |e: std::io::Error| format!("setup on the system Python: {e}");
    std::fs::create_dir_all(&bin).map_err(io)?;
    std::fs::create_dir_all(&cache).map_err(io)?;
    std::os::unix::fs::symlink(system, bin.join("python3")).map_err(io)?;
    let real_cache = crate::faces::cache_dir();
    for shared in ["onnxruntime", "models", "face_recognition"] {
        std::os::unix::fs::symlink(real_cache.join(shared), cache.join(shared)).map_err(io)?;
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let xtask = std::env::current_exe().map_err(io)?;
    let setup = |why: &str| -> Result<String, String> {
        let out = Command::new(&xtask)
            .arg("setup")
            .env("PATH", &path)
            .env("GATELAB_CACHE", &cache)
            .env_remove("GATELAB_PYTHON")
            .output()
            .map_err(|e| format!("{why}: could not run {}: {e}", xtask.display()))?;
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        eprint!("{said}");
        if out.status.success() { Ok(said) } else { Err(format!("{why}: setup failed ({})", out.status)) }
    };
    setup("setup from nothing with /usr/bin/python3")?;
    let venv = cache.join("venv");
    let python = venv_python(&venv);
    let base = Command::new(&python).args(["-c", "import sys; print(sys.base_prefix)"]).output().map_err(io)?;
    let base = String::from_utf8_lossy(&base.stdout).trim().to_string();
    if base != "/usr" {
        return Err(format!("the venv {} was built on {base}, not on /usr/bin/python3", venv.display()));
    }
    let removed = Command::new(&python)
        .args(["-m", "pip", "uninstall", "--quiet", "--yes", "onnxruntime"])
        .status()
        .is_ok_and(|s| s.success());
    if !removed {
        return Err("could not uninstall onnxruntime from the scratch venv".into());
    }
    let said = setup("setup after onnxruntime was removed from the venv")?;
    let pinned = PACKAGES.iter().find(|(name, _, _)| *name == "onnxruntime").map(|(n, v, _)| format!("{n}=={v}"));
    if !pinned.is_some_and(|spec| said.contains(&spec)) {
        return Err("setup did not say it reinstalled onnxruntime into the venv".into());
    }
    let status = Command::new(cargo)
        .args(["test", "--workspace", "--locked", "--test", "real_faces", "--"])
        .args(["embedding_equals_python_onnxruntime_within_1e4", "--exact"])
        .env("GATELAB_CACHE", &cache)
        .env_remove("GATELAB_PYTHON")
        .status()
        .map_err(io)?;
    if !status.success() {
        return Err(format!("the parity test failed against the venv built on /usr/bin/python3 ({status})"));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("    setup on the system Python: {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}
