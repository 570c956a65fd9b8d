//! One ONNX Runtime environment per process (ONNX Runtime allows no more), loaded with
//! `ort::init_from` so that a missing or wrong library is an error with the fix, never a panic.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;

use crate::error::FaceError;

static ENVIRONMENT: OnceLock<Result<Environment, (PathBuf, String)>> = OnceLock::new();

/// The process's environment, loading `library` the first time.
pub fn environment(library: &Path) -> Result<&'static Environment, FaceError> {
    let env = ENVIRONMENT.get_or_init(|| {
        if !library.is_file() {
            return Err((library.to_path_buf(), "the file does not exist".into()));
        }
        let builder = ort::init_from(library).map_err(|e| (library.to_path_buf(), e.to_string()))?;
        builder.with_name("gatelab").build().map_err(|e| (library.to_path_buf(), e.to_string()))
    });
    env.as_ref().map_err(|(path, reason)| FaceError::Runtime { path: path.clone(), reason: reason.clone() })
}

/// A single-threaded session for `model` (one core each, deterministic and comparable).
pub fn session(library: &Path, model: &Path) -> Result<Session, FaceError> {
    let env = environment(library)?;
    if !model.is_file() {
        return Err(FaceError::Model { path: model.to_path_buf(), reason: "the file does not exist".into() });
    }
    let fail = |e: ort::Error| FaceError::Model { path: model.to_path_buf(), reason: e.to_string() };
    let builder = Session::builder(env).map_err(fail)?;
    let mut builder = builder.with_intra_threads(1).map_err(|e| fail(e.into()))?;
    builder.commit_from_file(model).map_err(fail)
}
