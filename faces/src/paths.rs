//! Where the runtime library and the models live: the per-user cache `cargo xtask setup` fills
//! (`$GATELAB_CACHE`, else `$XDG_CACHE_HOME/gatelab`, else `~/.cache/gatelab`), unless
//! `GATELAB_ORT_LIB` / `GATELAB_MODELS` say otherwise.

use std::path::PathBuf;

pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";

pub fn cache_dir() -> PathBuf {
    // The platform's cache folder (`$XDG_CACHE_HOME`, else `~/.cache` on Linux) from `dirs`,
    // or `$GATELAB_CACHE` when set: the same rule in xtask and gatelab-faces.
    match std::env::var_os("GATELAB_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("gatelab"),
    }
}

/// gatelab's own Python interpreter, which `cargo xtask setup` creates as a venv in the cache
/// with the pinned packages the tests and benchmarks compare against (`onnxruntime`, `numpy`,
/// `faiss-cpu`, `jupedsim`); `GATELAB_PYTHON` names another. Never the PATH's `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("GATELAB_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("venv").join("bin").join("python"))
}

/// The ONNX Runtime shared library to load.
pub fn runtime_library() -> PathBuf {
    std::env::var_os("GATELAB_ORT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("onnxruntime").join(RUNTIME_FILE))
}

/// The folder holding fr_detect.onnx, fr_landmark.onnx and fr_feature.onnx.
pub fn models_dir() -> PathBuf {
    std::env::var_os("GATELAB_MODELS").map(PathBuf::from).unwrap_or_else(|| cache_dir().join("models"))
}
