//! Every way the face pipeline can fail, each naming the file and the fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(
        "ONNX Runtime could not be loaded from {path}: {reason}. Run `cargo xtask setup` (it fetches \
         libonnxruntime 1.31.1 from PyPI into the cache) or point GATELAB_ORT_LIB at a libonnxruntime.so 1.31"
    )]
    Runtime { path: PathBuf, reason: String },
    #[error(
        "model {path} could not be loaded: {reason}. Run `cargo xtask setup` to fetch the models, or check \
         the file is a complete ONNX model (a truncated download fails like this)"
    )]
    Model { path: PathBuf, reason: String },
    #[error("model {path} does not look like a {role}: {reason}")]
    ModelShape { path: PathBuf, role: &'static str, reason: String },
    #[error("inference with {path} failed: {reason}")]
    Inference { path: PathBuf, reason: String },
    #[error("image {path} could not be read: {reason}. Use a PNG, JPEG or WebP file (recognised by content)")]
    Image { path: PathBuf, reason: String },
    #[error("no face found in {path}; use a frontal photo where the face is at least 40 pixels wide")]
    NoFace { path: PathBuf },
    #[error("{count} faces found in {path}; enrolment and verification need exactly one person in the picture")]
    SeveralFaces { path: PathBuf, count: usize },
}
