//! The real pipeline on real photos: ONNX Runtime 1.31 and the fr_* models from the cache that
//! `cargo xtask setup` fills (PyPI + npm), on `../shared/faces/bbt` (8 identities × 5).

use std::path::{Path, PathBuf};

use gatelab_faces::{FaceError, Pipeline};

fn bbt() -> PathBuf {
    std::env::var_os("GATELAB_BBT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/faces/bbt"))
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Genuine and impostor cosines over labelled photos: (identity, files).
fn scores(pipeline: &mut Pipeline, people: &[(String, Vec<PathBuf>)]) -> (Vec<f32>, Vec<f32>) {
    let embedded: Vec<Vec<Vec<f32>>> = people
        .iter()
        .map(|(_, files)| files.iter().map(|f| pipeline.embed_file(f).unwrap_or_else(|e| panic!("{e}"))).collect())
        .collect();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (i, a) in embedded.iter().enumerate() {
        for (j, b) in embedded.iter().enumerate() {
            for (x, ea) in a.iter().enumerate() {
                for (y, eb) in b.iter().enumerate() {
                    if (i, x) < (j, y) {
                        if i == j { genuine.push(cos(ea, eb)) } else { impostor.push(cos(ea, eb)) }
                    }
                }
            }
        }
    }
    (genuine, impostor)
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

fn sorted_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    v.sort();
    v
}

#[test]
fn genuine_pairs_score_high_impostors_low_on_bbt() {
    let dir = bbt();
    if !dir.is_dir() {
        // The field notes sit beside the checkout; the face_recognition photos below always run.
        eprintln!("{} not present beside this checkout: bbt part not run", dir.display());
        return;
    }
    let mut pipeline = Pipeline::default_models().unwrap_or_else(|e| panic!("{e}"));
    let people: Vec<(String, Vec<PathBuf>)> = sorted_files(&dir)
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), sorted_files(&p)))
        .collect();
    let (genuine, impostor) = scores(&mut pipeline, &people);
    eprintln!(
        "bbt: genuine {} pairs mean {:.3}; impostor {} pairs mean {:.3}",
        genuine.len(),
        mean(&genuine),
        impostor.len(),
        mean(&impostor)
    );
    assert_eq!((genuine.len(), impostor.len()), (80, 700));
    assert!(mean(&genuine) >= 0.6, "genuine mean {}", mean(&genuine));
    assert!(mean(&impostor) <= 0.1, "impostor mean {}", mean(&impostor));
    // FNMR at the threshold where FMR ≤ 1 %.
    let mut imp = impostor.clone();
    imp.sort_by(|a, b| b.total_cmp(a));
    let threshold = imp[(imp.len() as f32 * 0.01).floor() as usize];
    let fnmr = genuine.iter().filter(|&&g| g <= threshold).count() as f32 / genuine.len() as f32;
    assert!(fnmr <= 0.05, "FNMR {fnmr} at threshold {threshold}");
}

#[test]
fn obama_matches_obama_not_biden() {
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    assert!(photos.join("biden.jpg").is_file(), "{} missing: run `cargo xtask setup`", photos.display());
    let mut pipeline = Pipeline::default_models().unwrap_or_else(|e| panic!("{e}"));
    let obama = ["obama.jpg", "obama2.jpg", "obama3.jpg"].map(|f| photos.join(f)).to_vec();
    let people = vec![("obama".to_string(), obama), ("biden".to_string(), vec![photos.join("biden.jpg")])];
    let (genuine, impostor) = scores(&mut pipeline, &people);
    eprintln!("face_recognition photos: genuine {genuine:?}; impostor {impostor:?}");
    assert!(mean(&genuine) >= 0.6, "genuine {genuine:?}");
    assert!(mean(&impostor) <= 0.1, "impostor {impostor:?}");
}

#[test]
fn embedding_equals_python_onnxruntime_within_1e4() {
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    let mut pipeline = Pipeline::default_models().unwrap_or_else(|e| panic!("{e}"));
    let img = gatelab_faces::Rgb::open(&photos.join("obama.jpg")).unwrap().padded(64);
    let faces = pipeline.detect(&img).unwrap();
    let input = pipeline.aligned_input(&img, &faces[0]);
    let ours = pipeline.embed_input(input.clone()).unwrap();
    let dir = std::env::temp_dir().join(format!("gatelab-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, out) = (dir.join("input.bin"), dir.join("output.bin"));
    std::fs::write(&inp, input.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let script = "import sys, numpy as np, onnxruntime as ort\n\
so = ort.SessionOptions(); so.intra_op_num_threads = 1\n\
s = ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])\n\
x = np.fromfile(sys.argv[2], dtype='<f4').reshape(1, 3, 112, 112)\n\
y = s.run(None, {s.get_inputs()[0].name: x})[0][0].astype(np.float32)\n\
(y / np.linalg.norm(y)).astype('<f4').tofile(sys.argv[3])\n";
    let python = gatelab_faces::paths::python();
    let status = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&pipeline.embedder().model)
        .arg(&inp)
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("{} does not run ({e}): run `cargo xtask setup`", python.display()));
    assert!(status.success(), "Python onnxruntime in {} failed: run `cargo xtask setup`", python.display());
    let theirs: Vec<f32> =
        std::fs::read(&out).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(theirs.len(), ours.len());
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "largest difference per component {worst}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The liveness score against an independent implementation of the package's own
/// preprocessing (`lib/fr_liveness.js`: the box ×2.7 about its centre, shrunk to fit and shifted
/// inside, OpenCV's bilinear resize to 128×128, raw RGB, softmax class 0) in numpy, run by
/// Python onnxruntime on the same decoded pixels.
#[test]
fn liveness_equals_the_packages_preprocessing_in_python_within_1e3() {
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    let mut pipeline = Pipeline::default_models().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("gatelab-pad-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"import sys, numpy as np, onnxruntime as ort
w, h = int(sys.argv[3]), int(sys.argv[4]); x1, y1, x2, y2 = map(float, sys.argv[5:9])
img = np.fromfile(sys.argv[2], dtype=np.uint8).reshape(h, w, 3).astype(np.float32)
bw, bh = abs(x2 - x1), abs(y2 - y1)
scale = min((h - 1) / bh, (w - 1) / bw, 2.7)
nw, nh = bw * scale, bh * scale
cx, cy = min(x1, x2) + bw / 2, min(y1, y2) + bh / 2
left = min(max(cx - nw / 2, 0.0), max(w - 1 - nw, 0.0)); top = min(max(cy - nh / 2, 0.0), max(h - 1 - nh, 0.0))
rx, ry = int(left), int(top); rw = min(max(int(nw), 1), w - rx); rh = min(max(int(nh), 1), h - ry)
crop = img[ry:ry + rh, rx:rx + rw]
def axis(n, size):
    s = np.clip((np.arange(n) + 0.5) * (size / n) - 0.5, 0, size - 1); i = np.floor(s).astype(int)
    return i, (s - i).astype(np.float32), np.minimum(i + 1, size - 1)
iy, fy, iy1 = axis(128, rh); ix, fx, ix1 = axis(128, rw)
top_ = crop[iy][:, ix] * (1 - fx)[None, :, None] + crop[iy][:, ix1] * fx[None, :, None]
bot = crop[iy1][:, ix] * (1 - fx)[None, :, None] + crop[iy1][:, ix1] * fx[None, :, None]
out = top_ * (1 - fy)[:, None, None] + bot * fy[:, None, None]
x = out.transpose(2, 0, 1)[None].astype(np.float32)
so = ort.SessionOptions(); so.intra_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])
z = s.run(None, {s.get_inputs()[0].name: x})[0][0]
e = np.exp(z - z.max()); print(float(e[0] / e.sum()))
"#;
    let python = gatelab_faces::paths::python();
    let model = pipeline.pad().expect("the default pipeline runs PAD").model.clone();
    for name in ["obama.jpg", "obama2.jpg", "biden.jpg"] {
        let img = gatelab_faces::Rgb::open(&photos.join(name)).unwrap();
        let face = pipeline.detect(&img.padded(64)).unwrap().remove(0);
        let face = gatelab_faces::pipeline::Face { box_xyxy: face.box_xyxy.map(|v| v - 64.0), ..face };
        let ours = pipeline.liveness(&img, &face).unwrap().expect("a score");
        let raw = dir.join("rgb.bin");
        std::fs::write(&raw, &img.pixels).unwrap();
        let b = face.box_xyxy;
        let out = std::process::Command::new(&python)
            .args(["-c", script])
            .arg(&model)
            .arg(&raw)
            .args([img.width.to_string(), img.height.to_string()])
            .args(b.iter().map(|v| v.to_string()))
            .output()
            .unwrap_or_else(|e| panic!("{} does not run ({e}): run `cargo xtask setup`", python.display()));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let theirs: f32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert!((ours - theirs).abs() <= 1e-3, "{name}: ours {ours}, Python {theirs}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inputs_are_clear_errors() {
    let mut pipeline = Pipeline::default_models().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("gatelab-faces-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nthis is not a picture").unwrap();
    let err = pipeline.embed_file(&corrupt).unwrap_err();
    assert!(matches!(err, FaceError::Image { .. }) && err.to_string().contains("corrupt.png"), "{err}");
    // A truncated model: refused naming the file.
    let models = gatelab_faces::paths::models_dir();
    let cut = dir.join("fr_feature.onnx");
    let bytes = std::fs::read(models.join("fr_feature.onnx")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let config =
        gatelab_faces::EmbedderConfig { model: cut.clone(), ..gatelab_faces::EmbedderConfig::fr_feature(&models) };
    let err = Pipeline::load(&gatelab_faces::paths::runtime_library(), &models, config).unwrap_err();
    assert!(matches!(err, FaceError::Model { .. }) && err.to_string().contains("fr_feature.onnx"), "{err}");
    // Two people in one photo: refused for enrolment.
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    let (a, b) = (
        image::open(photos.join("obama.jpg")).unwrap().to_rgb8(),
        image::open(photos.join("biden.jpg")).unwrap().to_rgb8(),
    );
    let mut two = image::RgbImage::new(a.width() + b.width(), a.height().max(b.height()));
    image::imageops::replace(&mut two, &a, 0, 0);
    image::imageops::replace(&mut two, &b, i64::from(a.width()), 0);
    let pair = dir.join("two.png");
    two.save(&pair).unwrap();
    let err = pipeline.embed_file(&pair).unwrap_err();
    assert!(matches!(err, FaceError::SeveralFaces { count: 2, .. }), "{err}");
    let blank = dir.join("blank.png");
    image::RgbImage::from_pixel(200, 200, image::Rgb([128, 128, 128])).save(&blank).unwrap();
    let err = pipeline.embed_file(&blank).unwrap_err();
    assert!(matches!(err, FaceError::NoFace { .. }) && err.to_string().contains("blank.png"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
