//! A missing ONNX Runtime library is an error that says how to get one (its own process: the
//! runtime loads once per process).

use std::path::Path;

use gatelab_faces::{EmbedderConfig, FaceError, Pipeline};

#[test]
fn a_missing_runtime_library_is_an_error_with_the_fix() {
    let models = gatelab_faces::paths::models_dir();
    let lib = Path::new("/nonexistent/libonnxruntime.so.1.31.1");
    let err = Pipeline::load(lib, &models, EmbedderConfig::fr_feature(&models)).unwrap_err();
    assert!(matches!(err, FaceError::Runtime { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("/nonexistent/libonnxruntime.so.1.31.1") && text.contains("cargo xtask setup"), "{text}");
}
