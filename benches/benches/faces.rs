//! The real face pipeline's speed, each figure beside its reference in the same command:
//! embedding one aligned face (our preprocessing included) against Python onnxruntime on the
//! same input, photo → template end to end, and 1:N search at 512-d for N = 10,000 and 100,000
//! against faiss-cpu's IndexFlatIP and 8-bit IndexScalarQuantizer. One thread everywhere.
//!
//! `cargo bench -p gatelab-benches --bench faces` (after `cargo xtask setup`; installs faiss-cpu
//! with pip if missing).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gatelab_benches::{gallery, probes, vector};
use gatelab_core::template::{Precision, Probe};
use gatelab_faces::{Pipeline, Rgb};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn python(args: &[&str]) -> Result<serde_json::Value, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/faces_reference.py");
    let python = gatelab_faces::paths::python();
    let out =
        Command::new(&python).arg(script).args(args).output().map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn write_f32(path: &Path, values: impl Iterator<Item = f32>) {
    let bytes: Vec<u8> = values.flat_map(f32::to_le_bytes).collect();
    std::fs::write(path, bytes).expect("temp file");
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn main() {
    let mut pipeline = match Pipeline::default_models() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    let photo = photos.join("obama.jpg");
    let tmp: PathBuf = std::env::temp_dir().join(format!("gatelab-faces-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");

    // 1. One aligned face → template, our preprocessing (warp + normalise) included.
    let img = Rgb::open(&photo).expect("photo").padded(64);
    let face = pipeline.detect(&img).expect("detect").remove(0);
    for _ in 0..10 {
        let input = pipeline.aligned_input(&img, &face);
        pipeline.embed_input(input).expect("embed");
    }
    let ours: Vec<f64> = (0..100)
        .map(|_| {
            let t = Instant::now();
            let input = pipeline.aligned_input(&img, &face);
            pipeline.embed_input(input).expect("embed");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let ours = median(ours);
    let input_path = tmp.join("aligned.bin");
    write_f32(&input_path, pipeline.aligned_input(&img, &face).into_iter());
    let model = pipeline.embedder().model.to_string_lossy().into_owned();
    println!("embedding one aligned face (112×112 → 512-d), 1 thread, median of 100:");
    match python(&["embed", &model, input_path.to_str().unwrap_or_default(), "100"]) {
        Ok(v) => {
            let theirs = v["median_ms"].as_f64().unwrap_or(f64::NAN);
            println!(
                "  gatelab (warp + normalise + ONNX Runtime) {ours:.3} ms; Python onnxruntime (inference only) {theirs:.3} ms; ratio {:.3} (aim ≤ 1.05)",
                ours / theirs
            );
        }
        Err(e) => println!("  gatelab {ours:.3} ms; Python onnxruntime not run: {e}"),
    }

    // 2. Photo file → template: decode, detect, landmarks, align, embed.
    let e2e: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            pipeline.embed_file(&photo).expect("embed");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let e2e = median(e2e);
    println!("photo → template end to end ({}), median of 30: {e2e:.2} ms", photo.display());

    // 2b. Presentation-attack detection: one face's liveness, and photo → probe with it.
    let original = Rgb::open(&photo).expect("photo");
    let plain_face = pipeline.detect(&original.padded(64)).expect("detect").remove(0);
    let face_here = gatelab_faces::pipeline::Face { box_xyxy: plain_face.box_xyxy.map(|v| v - 64.0), ..plain_face };
    let live: Vec<f64> = (0..100)
        .map(|_| {
            let t = Instant::now();
            pipeline.liveness(&original, &face_here).expect("liveness");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let live = median(live);
    println!(
        "liveness of one face (box ×2.7 → 128×128 → fr_liveness), 1 thread, median of 100: {live:.3} ms = {:.1} % of the embedding's {ours:.3} ms (aim ≤ 25 %)",
        100.0 * live / ours
    );
    let with_pad: Vec<f64> = (0..30)
        .map(|_| {
            let t = Instant::now();
            pipeline.probe_file(&photo).expect("probe");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let with_pad = median(with_pad);
    println!(
        "photo → probe with liveness end to end, median of 30: {with_pad:.2} ms (without: {e2e:.2} ms, ratio {:.3})",
        with_pad / e2e
    );

    // 3. 1:N search, 512-d, top-10, against FAISS on the same unit vectors.
    let dim = 512;
    let probe_vectors: Vec<Vec<f32>> = (0..20).map(|i| unit(vector(1_000_000 + i as u64, dim))).collect();
    let probes_path = tmp.join("probes.bin");
    write_f32(&probes_path, probe_vectors.iter().flatten().copied());
    let probe_set: Vec<Probe> = probes(20, dim);
    println!("1:N search, 512-d, top-10, 1 thread, ms per probe (best of 5 rounds of 20 probes):");
    for n in [10_000usize, 100_000] {
        let mut row = Vec::new();
        for precision in [Precision::F32, Precision::Int8] {
            let store = gallery(n, dim, precision);
            let mut top = Vec::new();
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let t = Instant::now();
                for p in &probe_set {
                    store.search_into(p, 10, -1.0, &mut top).expect("same dimension");
                }
                best = best.min(t.elapsed().as_secs_f64() * 1000.0 / probe_set.len() as f64);
            }
            row.push(best);
        }
        let gallery_path = tmp.join("gallery.bin");
        write_f32(&gallery_path, (0..n).flat_map(|p| unit(vector(p as u64, dim))));
        let faiss = python(&[
            "faiss",
            gallery_path.to_str().unwrap_or_default(),
            &n.to_string(),
            &dim.to_string(),
            probes_path.to_str().unwrap_or_default(),
            "20",
            "5",
        ]);
        let _ = std::fs::remove_file(&gallery_path);
        match faiss {
            Ok(v) => {
                let (flat, sq8) = (v["flat_ms"].as_f64().unwrap_or(f64::NAN), v["sq8_ms"].as_f64().unwrap_or(f64::NAN));
                println!(
                    "  N={n:>7}: gatelab f32 {:.3} vs FAISS flat {flat:.3} (ratio {:.2}, aim ≤ 1.0); gatelab int8 {:.3} vs FAISS SQ8 {sq8:.3} (ratio {:.2}{})",
                    row[0],
                    row[0] / flat,
                    row[1],
                    row[1] / sq8,
                    if n == 100_000 {
                        format!(
                            ", aim ≤ 0.5 and ≤ 2.5 ms: {}",
                            if row[1] / sq8 <= 0.5 && row[1] <= 2.5 { "met" } else { "NOT met" }
                        )
                    } else {
                        String::new()
                    }
                );
            }
            Err(e) => println!("  N={n:>7}: gatelab f32 {:.3}, int8 {:.3}; FAISS not run: {e}", row[0], row[1]),
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
