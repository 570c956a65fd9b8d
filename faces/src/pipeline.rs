//! Photo → template: decode (image crate) → black border → detect (fr_detect, Ultra-Light
//! RFB-320: boxes already decoded, softmaxed scores) → squared box → 68 landmarks (fr_landmark,
//! 64×64 grey) → 5 points → similarity warp to the ArcFace 112×112 crop → embed (fr_feature or
//! your own ArcFace-style model) → L2-normalised vector for a core template.
//!
//! Frames live only in memory here and are dropped on return: nothing is written (C3/C6).

use std::path::{Path, PathBuf};

use ort::session::Session;
use ort::value::Tensor;
use serde::{Deserialize, Serialize};

use crate::align::{ARCFACE_112, Similarity, warp_rgb};
use crate::error::FaceError;
use crate::{paths, runtime};

const DET_W: usize = 320;
const DET_H: usize = 240;
const DET_SCORE: f32 = 0.65;
const DET_NMS_IOU: f64 = 0.4;
const DET_TOP_K: usize = 750;
const LMK: usize = 64;

/// The embedding model and its preprocessing, so an ArcFace-style model of your own plugs in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderConfig {
    pub model: PathBuf,
    /// Square input side (the aligned crop is warped to this size; the ArcFace template scales).
    pub input_size: u32,
    pub mean: f32,
    pub std: f32,
    /// "rgb" or "bgr".
    pub channel_order: String,
    pub output_dim: usize,
}

impl EmbedderConfig {
    /// fr_feature.onnx: 112×112 RGB, (x − 127)/128, NCHW → 512.
    pub fn fr_feature(models: &Path) -> EmbedderConfig {
        EmbedderConfig {
            model: models.join("fr_feature.onnx"),
            input_size: 112,
            mean: 127.0,
            std: 128.0,
            channel_order: "rgb".into(),
            output_dim: 512,
        }
    }
}

/// The presentation-attack detection (PAD, "liveness") model and its preprocessing, so a
/// MiniFASNet-style model of your own plugs in: the detector's box scaled by `box_scale` about
/// its centre (shrunk to fit, then shifted inside the photo), resized to `input_size`², NCHW,
/// `(v − mean) / std`; the output's softmax at `live_class` is the bona fide probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PadConfig {
    pub model: PathBuf,
    pub input_size: u32,
    pub box_scale: f32,
    pub mean: f32,
    pub std: f32,
    /// "rgb" or "bgr".
    pub channel_order: String,
    /// Which output class is a live (bona fide) presentation.
    pub live_class: usize,
}

impl PadConfig {
    /// fr_liveness.onnx (faceplugin-face-recognition-js 0.0.1, as its `lib/fr_liveness.js`
    /// prepares it): the box ×2.7, 128×128 raw RGB 0–255, 3 logits, class 0 = live.
    pub fn fr_liveness(models: &Path) -> PadConfig {
        PadConfig {
            model: models.join("fr_liveness.onnx"),
            input_size: 128,
            box_scale: 2.7,
            mean: 0.0,
            std: 1.0,
            channel_order: "rgb".into(),
            live_class: 0,
        }
    }
}

/// A photo's face, embedded, with its liveness score when a PAD model is loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub embedding: Vec<f32>,
    /// The PAD model's bona fide probability in [0, 1].
    pub liveness: Option<f32>,
}

/// A detected face in image pixels, with its landmarks' five points.
#[derive(Clone, Debug, PartialEq)]
pub struct Face {
    pub score: f32,
    pub box_xyxy: [f64; 4],
    pub five: [[f32; 2]; 5],
}

/// An image in memory: RGB, row-major.
#[derive(Clone, Debug)]
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Rgb {
    /// Decode a PNG, JPEG or WebP, recognised by its content whatever its extension (a `.jpg`
    /// that is really WebP is common in downloaded folders); grey images are replicated to RGB.
    pub fn open(path: &Path) -> Result<Rgb, FaceError> {
        let fail = |reason: String| FaceError::Image { path: path.to_path_buf(), reason };
        let reader =
            image::ImageReader::open(path).and_then(|r| r.with_guessed_format()).map_err(|e| fail(e.to_string()))?;
        if reader.format().is_none() {
            return Err(fail("not a picture (its first bytes are no PNG, JPEG or WebP signature)".into()));
        }
        let img = reader.decode().map_err(|e| fail(e.to_string()))?;
        let rgb = img.to_rgb8();
        Ok(Rgb { width: rgb.width() as usize, height: rgb.height() as usize, pixels: rgb.into_raw() })
    }

    /// The image inside a black border of `pad` pixels (tight face crops need room to be found).
    pub fn padded(&self, pad: usize) -> Rgb {
        let (w, h) = (self.width + 2 * pad, self.height + 2 * pad);
        let mut pixels = vec![0u8; w * h * 3];
        for y in 0..self.height {
            let src = &self.pixels[y * self.width * 3..(y + 1) * self.width * 3];
            let at = ((y + pad) * w + pad) * 3;
            pixels[at..at + src.len()].copy_from_slice(src);
        }
        Rgb { width: w, height: h, pixels }
    }
}

/// OpenCV INTER_LINEAR resize of the `channels`-channel float image region
/// [x0, x0+w) × [y0, y0+h) to `out_w` × `out_h` (half-pixel centres, edge clamp).
#[allow(clippy::too_many_arguments)]
fn resize_bilinear(
    src: &[f32],
    stride: usize,
    channels: usize,
    (x0, y0, w, h): (usize, usize, usize, usize),
    out_w: usize,
    out_h: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; out_w * out_h * channels];
    let axis = |d: usize, size: usize, out: usize| {
        let s = ((d as f64 + 0.5) * (size as f64 / out as f64) - 0.5).clamp(0.0, (size - 1) as f64);
        let i = s.floor() as usize;
        (i, (s - i as f64) as f32, (i + 1).min(size - 1))
    };
    for dy in 0..out_h {
        let (iy, fy, iy1) = axis(dy, h, out_h);
        for dx in 0..out_w {
            let (ix, fx, ix1) = axis(dx, w, out_w);
            for c in 0..channels {
                let at = |x: usize, y: usize| src[((y0 + y) * stride + x0 + x) * channels + c];
                let top = at(ix, iy) * (1.0 - fx) + at(ix1, iy) * fx;
                let bottom = at(ix, iy1) * (1.0 - fx) + at(ix1, iy1) * fx;
                out[(dy * out_w + dx) * channels + c] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}

fn iou(a: &[f64; 4], b: &[f64; 4]) -> f64 {
    let inter = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let area = |r: &[f64; 4]| (r[2] - r[0]) * (r[3] - r[1]);
    inter / (area(a) + area(b) - inter)
}

/// What a photo with several faces means when reading a folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MultiFace {
    /// Take the largest face (the person the photo is of, in a labelled folder).
    #[default]
    Largest,
    /// Skip the photo, saying so.
    Skip,
    /// Stop with an error.
    Error,
}

/// The ONNX sessions: detector, landmarks, embedder, and the PAD model when loaded.
#[derive(Debug)]
pub struct Pipeline {
    detector: Session,
    landmarks: Session,
    embedder: Session,
    config: EmbedderConfig,
    paths: [PathBuf; 3],
    pad: Option<(Session, PadConfig)>,
}

fn infer_fail(path: &Path) -> impl Fn(ort::Error) -> FaceError + '_ {
    move |e| FaceError::Inference { path: path.to_path_buf(), reason: e.to_string() }
}

impl Pipeline {
    /// fr_detect + fr_landmark from the models folder, and the given embedder.
    pub fn load(library: &Path, models: &Path, embedder: EmbedderConfig) -> Result<Pipeline, FaceError> {
        let detect = models.join("fr_detect.onnx");
        let landmark = models.join("fr_landmark.onnx");
        let pipeline = Pipeline {
            detector: runtime::session(library, &detect)?,
            landmarks: runtime::session(library, &landmark)?,
            embedder: runtime::session(library, &embedder.model)?,
            paths: [detect, landmark, embedder.model.clone()],
            config: embedder,
            pad: None,
        };
        if pipeline.embedder.inputs().is_empty() || pipeline.embedder.outputs().is_empty() {
            return Err(FaceError::ModelShape {
                path: pipeline.paths[2].clone(),
                role: "face embedder",
                reason: "it has no input or no output".into(),
            });
        }
        Ok(pipeline)
    }

    /// The default pipeline from the cache `cargo xtask setup` fills, with its PAD model.
    pub fn default_models() -> Result<Pipeline, FaceError> {
        let models = paths::models_dir();
        let library = paths::runtime_library();
        Pipeline::load(&library, &models, EmbedderConfig::fr_feature(&models))?
            .with_pad(&library, PadConfig::fr_liveness(&models))
    }

    /// Run `pad` on every face from now on ([`Pipeline::probe_file`] gives its score).
    pub fn with_pad(mut self, library: &Path, pad: PadConfig) -> Result<Pipeline, FaceError> {
        let session = runtime::session(library, &pad.model)?;
        if session.inputs().is_empty() || session.outputs().is_empty() {
            return Err(FaceError::ModelShape {
                path: pad.model.clone(),
                role: "presentation-attack detector",
                reason: "it has no input or no output".into(),
            });
        }
        self.pad = Some((session, pad));
        Ok(self)
    }

    pub fn pad(&self) -> Option<&PadConfig> {
        self.pad.as_ref().map(|(_, c)| c)
    }

    /// The PAD model's bona fide probability for `face` of `img` (the photo as taken: the box
    /// scaled about its centre reaches into the surroundings, where a phone's or a print's edge
    /// shows). `None` without a PAD model.
    pub fn liveness(&mut self, img: &Rgb, face: &Face) -> Result<Option<f32>, FaceError> {
        let Some((session, config)) = self.pad.as_mut() else { return Ok(None) };
        let size = config.input_size as usize;
        let (w, h) = (img.width as f64, img.height as f64);
        let [x1, y1, x2, y2] = face.box_xyxy;
        let (bw, bh) = ((x2 - x1).abs().max(1.0), (y2 - y1).abs().max(1.0));
        let scale = f64::from(config.box_scale).min((h - 1.0) / bh).min((w - 1.0) / bw);
        let (nw, nh) = (bw * scale, bh * scale);
        let (cx, cy) = (x1.min(x2) + bw / 2.0, y1.min(y2) + bh / 2.0);
        // Shift the scaled box inside the photo rather than cut it (the PAD model was trained so).
        let left = (cx - nw / 2.0).clamp(0.0, (w - 1.0 - nw).max(0.0));
        let top = (cy - nh / 2.0).clamp(0.0, (h - 1.0 - nh).max(0.0));
        let (rx, ry) = (left as usize, top as usize);
        let rw = (nw as usize).clamp(1, img.width - rx);
        let rh = (nh as usize).clamp(1, img.height - ry);
        // Only the box's pixels become floats (a camera frame is a few megapixels).
        let mut region = Vec::with_capacity(rw * rh * 3);
        for y in ry..ry + rh {
            let row = &img.pixels[(y * img.width + rx) * 3..(y * img.width + rx + rw) * 3];
            region.extend(row.iter().map(|&v| f32::from(v)));
        }
        let crop = resize_bilinear(&region, rw, 3, (0, 0, rw, rh), size, size);
        let plane = size * size;
        let bgr = config.channel_order.eq_ignore_ascii_case("bgr");
        let mut input = vec![0.0f32; 3 * plane];
        for (i, px) in crop.chunks_exact(3).enumerate() {
            for (c, value) in px.iter().enumerate() {
                let channel = if bgr { 2 - c } else { c };
                input[channel * plane + i] = (value - config.mean) / config.std;
            }
        }
        let path = config.model.clone();
        let live_class = config.live_class;
        let tensor = Tensor::from_array(([1usize, 3, size, size], input)).map_err(infer_fail(&path))?;
        let outputs = session.run(ort::inputs![tensor]).map_err(infer_fail(&path))?;
        let (_, logits) = outputs[0].try_extract_tensor::<f32>().map_err(infer_fail(&path))?;
        if logits.len() <= live_class {
            return Err(FaceError::ModelShape {
                path,
                role: "presentation-attack detector",
                reason: format!("{} outputs, the configuration names class {live_class} as live", logits.len()),
            });
        }
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = logits.iter().map(|v| (v - top).exp()).sum();
        Ok(Some((logits[live_class] - top).exp() / sum))
    }

    pub fn embedder(&self) -> &EmbedderConfig {
        &self.config
    }

    /// Faces in `img`, best score first.
    pub fn detect(&mut self, img: &Rgb) -> Result<Vec<Face>, FaceError> {
        let (w, h) = (img.width, img.height);
        let floats: Vec<f32> = img.pixels.iter().map(|&v| f32::from(v)).collect();
        let small = resize_bilinear(&floats, w, 3, (0, 0, w, h), DET_W, DET_H);
        let mut input = vec![0.0f32; 3 * DET_W * DET_H];
        for (i, px) in small.chunks_exact(3).enumerate() {
            for c in 0..3 {
                input[c * DET_W * DET_H + i] = (px[c] - 127.0) / 128.0;
            }
        }
        let path = self.paths[0].clone();
        let tensor = Tensor::from_array(([1usize, 3, DET_H, DET_W], input)).map_err(infer_fail(&path))?;
        let outputs = self.detector.run(ort::inputs!["input" => tensor]).map_err(infer_fail(&path))?;
        let (_, scores) = outputs["scores"].try_extract_tensor::<f32>().map_err(infer_fail(&path))?;
        let (_, boxes) = outputs["boxes"].try_extract_tensor::<f32>().map_err(infer_fail(&path))?;
        let mut candidates: Vec<(f32, [f64; 4])> = scores
            .chunks_exact(2)
            .zip(boxes.chunks_exact(4))
            .filter(|(s, _)| s[1] >= DET_SCORE)
            .map(|(s, b)| {
                let (wf, hf) = (w as f64, h as f64);
                (s[1], [f64::from(b[0]) * wf, f64::from(b[1]) * hf, f64::from(b[2]) * wf, f64::from(b[3]) * hf])
            })
            .collect();
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        candidates.truncate(DET_TOP_K);
        let mut kept: Vec<(f32, [f64; 4])> = Vec::new();
        for c in candidates {
            if kept.iter().all(|k| iou(&k.1, &c.1) <= DET_NMS_IOU) {
                kept.push(c);
            }
        }
        drop(outputs);
        let grey: Vec<f32> = img
            .pixels
            .chunks_exact(3)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect();
        let mut faces = Vec::new();
        for (score, b) in kept {
            // The landmark model's crop: a square of the box's height, same centre, clipped.
            let s = b[3] - b[1];
            let (cx, cy) = ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
            let x1 = (cx - s / 2.0).max(0.0).floor() as usize;
            let y1 = (cy - s / 2.0).max(0.0).floor() as usize;
            let x2 = (cx + s / 2.0).min(w as f64 - 1.0).floor() as usize;
            let y2 = (cy + s / 2.0).min(h as f64 - 1.0).floor() as usize;
            if x2 <= x1 + 1 || y2 <= y1 + 1 {
                continue;
            }
            let (cw, ch) = (x2 - x1, y2 - y1);
            let crop = resize_bilinear(&grey, w, 1, (x1, y1, cw, ch), LMK, LMK);
            let input: Vec<f32> = crop.iter().map(|v| v / 256.0).collect();
            let path = self.paths[1].clone();
            let tensor = Tensor::from_array(([1usize, 1, LMK, LMK], input)).map_err(infer_fail(&path))?;
            let outputs = self.landmarks.run(ort::inputs!["input" => tensor]).map_err(infer_fail(&path))?;
            let (_, out) = outputs["output"].try_extract_tensor::<f32>().map_err(infer_fail(&path))?;
            if out.len() < 136 {
                return Err(FaceError::ModelShape {
                    path,
                    role: "68-landmark model",
                    reason: format!("{} outputs", out.len()),
                });
            }
            let pt = |i: usize| [out[2 * i] * cw as f32 + x1 as f32, out[2 * i + 1] * ch as f32 + y1 as f32];
            let mean = |range: std::ops::Range<usize>| {
                let n = range.len() as f32;
                let (sx, sy) = range.map(pt).fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
                [sx / n, sy / n]
            };
            let five = [mean(36..42), mean(42..48), pt(30), pt(48), pt(54)];
            faces.push(Face { score, box_xyxy: b, five });
        }
        Ok(faces)
    }

    /// The aligned crop of `face` as the embedder's NCHW input.
    pub fn aligned_input(&self, img: &Rgb, face: &Face) -> Vec<f32> {
        let size = self.config.input_size;
        let scale = size as f32 / 112.0;
        let template: Vec<[f32; 2]> = ARCFACE_112.iter().map(|p| [p[0] * scale, p[1] * scale]).collect();
        let m = Similarity::estimate(&face.five, &template);
        let crop = warp_rgb(&img.pixels, img.width as u32, img.height as u32, &m, size);
        let plane = (size * size) as usize;
        let bgr = self.config.channel_order.eq_ignore_ascii_case("bgr");
        let mut input = vec![0.0f32; 3 * plane];
        for (i, px) in crop.iter().enumerate() {
            for (c, value) in px.iter().enumerate() {
                let channel = if bgr { 2 - c } else { c };
                input[channel * plane + i] = (value - self.config.mean) / self.config.std;
            }
        }
        input
    }

    /// Run the embedder on an NCHW input; L2-normalised.
    pub fn embed_input(&mut self, input: Vec<f32>) -> Result<Vec<f32>, FaceError> {
        let size = self.config.input_size as usize;
        let path = self.paths[2].clone();
        let tensor = Tensor::from_array(([1usize, 3, size, size], input)).map_err(infer_fail(&path))?;
        let outputs = self.embedder.run(ort::inputs![tensor]).map_err(infer_fail(&path))?;
        let (_, raw) = outputs[0].try_extract_tensor::<f32>().map_err(infer_fail(&path))?;
        if raw.len() != self.config.output_dim {
            return Err(FaceError::ModelShape {
                path,
                role: "face embedder",
                reason: format!("it gives {} values, the configuration says {}", raw.len(), self.config.output_dim),
            });
        }
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        Ok(raw.iter().map(|v| v / norm).collect())
    }

    /// The one face in the photo at `path`, embedded. No face or several: an error (enrolment
    /// and verification must never take the wrong person).
    pub fn embed_file(&mut self, path: &Path) -> Result<Vec<f32>, FaceError> {
        self.embed_file_choosing(path, MultiFace::Error)
    }

    /// The face in the photo at `path`, embedded; a photo with several faces is an error unless
    /// `multi` is [`MultiFace::Largest`], which takes the largest face (for evaluation folders).
    pub fn embed_file_choosing(&mut self, path: &Path, multi: MultiFace) -> Result<Vec<f32>, FaceError> {
        let (_, padded, _, face) = self.one_face(path, multi)?;
        let input = self.aligned_input(&padded, &face);
        self.embed_input(input)
    }

    /// The one face in the photo at `path`, embedded, with its liveness score when a PAD
    /// model is loaded (probes and enrolments: several faces are an error).
    pub fn probe_file(&mut self, path: &Path) -> Result<Probe, FaceError> {
        self.probe_file_choosing(path, MultiFace::Error)
    }

    /// [`Pipeline::probe_file`], choosing what a photo with several faces means.
    pub fn probe_file_choosing(&mut self, path: &Path, multi: MultiFace) -> Result<Probe, FaceError> {
        let (img, padded, pad, face) = self.one_face(path, multi)?;
        let input = self.aligned_input(&padded, &face);
        drop(padded);
        let embedding = self.embed_input(input)?;
        let p = pad as f64;
        let unpadded = Face {
            box_xyxy: [face.box_xyxy[0] - p, face.box_xyxy[1] - p, face.box_xyxy[2] - p, face.box_xyxy[3] - p],
            ..face
        };
        let liveness = self.liveness(&img, &unpadded)?;
        Ok(Probe { embedding, liveness })
    }

    /// The photo, the photo inside the border its detection needed, that border, and its face
    /// (in the bordered image).
    fn one_face(&mut self, path: &Path, multi: MultiFace) -> Result<(Rgb, Rgb, usize, Face), FaceError> {
        let img = Rgb::open(path)?;
        // Tight crops need a border to be found: a quarter of the larger side, black (as the
        // warp's outside).
        let pad = (img.width.max(img.height) / 4).min(256);
        let padded = img.padded(pad);
        let faces = self.detect(&padded)?;
        let area = |f: &&Face| (f.box_xyxy[2] - f.box_xyxy[0]) * (f.box_xyxy[3] - f.box_xyxy[1]);
        let face = match faces.len() {
            0 => return Err(FaceError::NoFace { path: path.to_path_buf() }),
            1 => faces[0].clone(),
            _ if multi == MultiFace::Largest => {
                faces.iter().max_by(|a, b| area(a).total_cmp(&area(b))).unwrap_or(&faces[0]).clone()
            }
            count => return Err(FaceError::SeveralFaces { path: path.to_path_buf(), count }),
        };
        Ok((img, padded, pad, face))
    }
}
