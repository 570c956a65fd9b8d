//! Fetch the face pipeline's runtime and models from package registries into the per-user
//! cache, verify their SHA-256, and do nothing once they are there (works offline).
//!
//! - ONNX Runtime 1.31.1's `libonnxruntime.so` from the PyPI `onnxruntime` wheel (pip download);
//! - `fr_detect.onnx`, `fr_landmark.onnx`, `fr_feature.onnx`, `fr_liveness.onnx` from the npm package
//!   `faceplugin-face-recognition-js@0.0.1` (npm pack). Never vendored: fetched at setup.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";
const RUNTIME_SHA256: &str = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3";
const MODELS: [(&str, &str); 4] = [
    ("fr_detect.onnx", "6c0256ccd3164f844736a401faf936ec2930764a87ae39442180887d0c5c8854"),
    ("fr_landmark.onnx", "f10b0ba1d2a8a099adefede1ebf3733e44fe370715e7303dbeb7f59c02142258"),
    ("fr_feature.onnx", "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"),
    // Presentation-attack detection (MiniFASNet-style, 128×128 raw RGB, 3 classes, 0 = live).
    ("fr_liveness.onnx", "afa783b7e902fdfcf323a7240cac2a1c580c25314ea4161129dc1b0d100dc32d"),
];

/// `$GATELAB_CACHE`, else `$XDG_CACHE_HOME/gatelab`, else `~/.cache/gatelab` (the same rule
/// as `gatelab_faces::paths::cache_dir`).
pub fn cache_dir() -> PathBuf {
    // The platform's cache folder (`$XDG_CACHE_HOME`, else `~/.cache` on Linux) from `dirs`,
    // or `$GATELAB_CACHE` when set: the same rule in xtask and gatelab-faces.
    match std::env::var_os("GATELAB_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("gatelab"),
    }
}

fn sha256(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

fn verified(path: &Path, want: &str) -> bool {
    path.is_file() && sha256(path).is_ok_and(|got| got == want)
}

fn run(what: &str, cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{what}: could not start {:?}: {e}", cmd.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed ({status})")) }
}

/// Make sure the runtime and the three models are in the cache, verified. `python` (gatelab's
/// venv, which has pip whatever the system Python lacks) runs the downloads.
pub fn fetch(python: &Path) -> Result<(), String> {
    let cache = cache_dir();
    let runtime_dir = cache.join("onnxruntime");
    let models_dir = cache.join("models");
    let runtime = runtime_dir.join(RUNTIME_FILE);
    let work = cache.join("download");
    std::fs::create_dir_all(&work).map_err(|e| format!("could not create {}: {e}", work.display()))?;
    if !verified(&runtime, RUNTIME_SHA256) {
        eprintln!("setup: fetching ONNX Runtime 1.31.1 from PyPI into {}", runtime_dir.display());
        run(
            "pip download onnxruntime==1.31.1",
            Command::new(python)
                .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"])
                .args(["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"])
                .args(["onnxruntime==1.31.1", "-d"])
                .arg(&work),
        )?;
        let wheel = std::fs::read_dir(&work)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("onnxruntime-1.31.1")))
            .ok_or("pip downloaded no onnxruntime 1.31.1 wheel")?;
        std::fs::create_dir_all(&runtime_dir).map_err(|e| e.to_string())?;
        // A wheel is a zip; Python's zipfile extracts the one member we need.
        let script = format!(
            "import zipfile,shutil,sys\nz=zipfile.ZipFile(sys.argv[1])\nwith z.open('onnxruntime/capi/{RUNTIME_FILE}') as s, open(sys.argv[2],'wb') as d: shutil.copyfileobj(s,d)"
        );
        run("extract libonnxruntime", Command::new(python).args(["-c", &script]).arg(&wheel).arg(&runtime))?;
        if !verified(&runtime, RUNTIME_SHA256) {
            return Err(format!("{} does not have the expected SHA-256 {RUNTIME_SHA256}", runtime.display()));
        }
    }
    if MODELS.iter().any(|(name, sha)| !verified(&models_dir.join(name), sha)) {
        eprintln!(
            "setup: fetching the face models (npm faceplugin-face-recognition-js@0.0.1) into {}",
            models_dir.display()
        );
        run(
            "npm pack faceplugin-face-recognition-js@0.0.1",
            Command::new("npm").args(["pack", "--silent", "faceplugin-face-recognition-js@0.0.1"]).current_dir(&work),
        )?;
        let tarball = work.join("faceplugin-face-recognition-js-0.0.1.tgz");
        run("unpack the npm tarball", Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(&work))?;
        std::fs::create_dir_all(&models_dir).map_err(|e| e.to_string())?;
        for (name, sha) in MODELS {
            let from = work.join("package/model").join(name);
            let to = models_dir.join(name);
            std::fs::copy(&from, &to).map_err(|e| format!("{} missing from the npm package: {e}", from.display()))?;
            if !verified(&to, sha) {
                return Err(format!("{} does not have the expected SHA-256 {sha}", to.display()));
            }
        }
    }
    // Test photos from the face_recognition 1.3.0 sdist (Obama ×3, Biden), and Python's
    // onnxruntime for the embedding parity test and the benchmark's reference.
    let photos = cache.join("face_recognition").join("test_images");
    if !photos.join("biden.jpg").is_file() {
        eprintln!("setup: fetching the face_recognition 1.3.0 test photos from PyPI into {}", photos.display());
        run(
            "pip download face_recognition==1.3.0",
            Command::new(python)
                .args([
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--no-binary",
                    ":all:",
                    "face_recognition==1.3.0",
                    "-d",
                ])
                .arg(&work),
        )?;
        run(
            "unpack the face_recognition sdist",
            Command::new("tar").arg("xzf").arg(work.join("face_recognition-1.3.0.tar.gz")).arg("-C").arg(&work),
        )?;
        std::fs::create_dir_all(&photos).map_err(|e| e.to_string())?;
        for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
            let from = work.join("face_recognition-1.3.0/tests/test_images").join(name);
            std::fs::copy(&from, photos.join(name)).map_err(|e| format!("{}: {e}", from.display()))?;
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}
