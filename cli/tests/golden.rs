//! The outputs of fixed-seed commands, byte for byte: SHA-256 of every file they write, compared
//! with `tests/golden/outputs.sha256` (recorded before the workspace was reshaped, issue 16).
//! A refactoring that moves code must leave these bytes alone; a change that means to alter an
//! output re-records them (`GATELAB_BLESS=1 cargo test -p gatelab-sim --test golden`) and says
//! why in its commit.
//!
//! Every command runs in a scratch folder with relative paths (`scenarios/…`, `out/…`), so no
//! checkout path reaches a file. The face evaluation runs ONNX Runtime, whose float kernels
//! depend on the CPU's vector extensions: its hashes are compared only on a CPU with the
//! extensions they were recorded on (the file records them), and skipped, saying so, elsewhere.
//! The simulation's are compared wherever FMA and AVX2 are as they were (glibc's libm picks its
//! exp/log/sin by them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

mod common;

use common::{scratch, text};
use sha2::{Digest, Sha256};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden_file() -> PathBuf {
    root().join("tests/golden/outputs.sha256")
}

/// The CPU's vector extensions ONNX Runtime's kernels choose between.
fn cpu_features() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> =
        info.lines().find(|l| l.starts_with("flags")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    ["avx2", "fma", "avx512f", "avx512bw", "avx512vnni", "avx_vnni", "amx_tile"]
        .iter()
        .filter(|f| flags.contains(f))
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

fn gatelab(dir: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_gatelab"))
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", "2")
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(o.status.success(), "gatelab {}: {}", args.join(" "), text(&o));
}

/// SHA-256 of `bytes`, with the checkout's own path (which `plan` writes into `spec.json`, where
/// `sweep` needs it) replaced by `<root>`: another clone writes the same file.
fn digest(bytes: &[u8]) -> String {
    static ROOT: LazyLock<String> = LazyLock::new(|| root().canonicalize().unwrap().to_string_lossy().into_owned());
    let text = String::from_utf8_lossy(bytes);
    let normalised =
        if text.contains(ROOT.as_str()) { text.replace(ROOT.as_str(), "<root>").into_bytes() } else { bytes.to_vec() };
    Sha256::digest(&normalised).iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of every file under `dir`, keyed by `label/relative path`.
fn hash_tree(label: &str, dir: &Path, out: &mut BTreeMap<String, String>) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                out.insert(format!("{label}/{rel}"), digest(&std::fs::read(&path).unwrap()));
            }
        }
    }
}

fn simulation_outputs(dir: &Path) -> BTreeMap<String, String> {
    std::os::unix::fs::symlink(root().join("scenarios"), dir.join("scenarios")).unwrap();
    let mut hashes = BTreeMap::new();
    let runs: [(&str, &[&str]); 2] = [
        (
            "run-dongcheng",
            &["run", "scenarios/dongcheng.toml", "--duration-min", "30", "--replications", "3", "--seed", "11"],
        ),
        (
            "run-forced-face",
            &[
                "run",
                "scenarios/dongcheng-forced-face.toml",
                "--duration-min",
                "30",
                "--replications",
                "2",
                "--seed",
                "5",
            ],
        ),
    ];
    for (label, args) in runs {
        let out = format!("out/{label}");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--quiet", "--out", &out]);
        let trace = format!("out/{label}.trace");
        let record = format!("out/{label}.rec");
        if label == "run-dongcheng" {
            all.extend(["--export-trace", &trace, "--record", &record]);
        }
        gatelab(dir, &all);
        hash_tree(label, &dir.join(&out), &mut hashes);
    }
    for file in ["run-dongcheng.trace", "run-dongcheng.rec"] {
        hashes.insert(format!("run-dongcheng/{file}"), digest(&std::fs::read(dir.join("out").join(file)).unwrap()));
    }
    let plan = [
        "plan",
        "scenarios/courier-surge.toml",
        "--target-wait-p95",
        "30",
        "--lanes",
        "1..2",
        "--replications",
        "3",
        "--duration-min",
        "30",
        "--quiet",
        "--out",
        "out/plan",
    ];
    gatelab(dir, &plan);
    hash_tree("plan", &dir.join("out/plan"), &mut hashes);
    for i in 0..3 {
        let shard = format!("out/shard-{i}");
        gatelab(dir, &["sweep", "out/plan/spec.json", "--shard", &format!("{i}/3"), "--quiet", "--out", &shard]);
        hash_tree(&format!("shard-{i}"), &dir.join(&shard), &mut hashes);
    }
    gatelab(dir, &["merge", "out/shard-0", "out/shard-1", "out/shard-2", "--out", "out/merged"]);
    hash_tree("merged", &dir.join("out/merged"), &mut hashes);
    // Two gates, a registration day per replication and lane count: held so that making the
    // planner faster (issue 22) cannot move a byte of its answer.
    let tianjin = [
        "plan",
        "scenarios/tianjin-wenhuacun.toml",
        "--target-wait-p95",
        "30",
        "--lanes",
        "1..3",
        "--replications",
        "2",
        "--duration-min",
        "30",
        "--quiet",
        "--out",
        "out/plan-tianjin",
    ];
    gatelab(dir, &tianjin);
    hash_tree("plan-tianjin", &dir.join("out/plan-tianjin"), &mut hashes);
    hashes
}

fn faces_outputs(dir: &Path) -> Option<BTreeMap<String, String>> {
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    if !photos.join("biden.jpg").is_file() {
        return None;
    }
    for (who, files) in [("obama", ["obama.jpg", "obama2.jpg", "obama3.jpg"].as_slice()), ("biden", &["biden.jpg"])] {
        std::fs::create_dir_all(dir.join("set").join(who)).unwrap();
        for f in files {
            std::fs::copy(photos.join(f), dir.join("set").join(who).join(f)).unwrap();
        }
    }
    gatelab(dir, &["faces", "eval", "set", "--out", "out/eval", "--emit-calibration", "out/eval/calibration.toml"]);
    let mut hashes = BTreeMap::new();
    hash_tree("faces-eval", &dir.join("out/eval"), &mut hashes);
    Some(hashes)
}

fn parse(text: &str) -> (String, BTreeMap<String, String>) {
    let mut features = String::new();
    let mut hashes = BTreeMap::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("# cpu: ") {
            features = f.to_string();
        } else if let Some((hash, name)) = line.split_once("  ") {
            hashes.insert(name.to_string(), hash.to_string());
        }
    }
    (features, hashes)
}

#[test]
fn fixed_seed_outputs_are_byte_identical_to_the_recorded_ones() {
    let dir = scratch("golden");
    let mut got = simulation_outputs(&dir);
    let faces = faces_outputs(&dir);
    let features = cpu_features();
    if let Some(f) = &faces {
        got.extend(f.clone());
    }
    if std::env::var_os("GATELAB_BLESS").is_some() {
        let mut text = format!(
            "# SHA-256 of fixed-seed outputs (cli/tests/golden.rs); faces-eval/ recorded on this CPU\n# cpu: {features}\n"
        );
        for (name, hash) in &got {
            text.push_str(&format!("{hash}  {name}\n"));
        }
        std::fs::create_dir_all(golden_file().parent().unwrap()).unwrap();
        std::fs::write(golden_file(), text).unwrap();
        eprintln!("recorded {} hashes in {}", got.len(), golden_file().display());
        return;
    }
    let recorded = std::fs::read_to_string(golden_file()).expect("tests/golden/outputs.sha256 is committed");
    let (recorded_features, want) = parse(&recorded);
    let compare_faces = faces.is_some() && recorded_features == features;
    // The simulation's floats go through the C library's exp/log/sin, which glibc picks at run
    // time by FMA and AVX2: compare its outputs wherever those two match the recording's CPU
    // (virtually every x86 machine CI runs on), and say so where they do not.
    let libm_flags = |f: &str| ["fma", "avx2"].map(|x| f.split(',').any(|y| y == x));
    let compare_sim = libm_flags(&recorded_features) == libm_flags(&features);
    if !compare_sim {
        eprintln!(
            "simulation outputs not compared: recorded on a CPU with [{recorded_features}], this one has \
             [{features}] (FMA/AVX2 differ, so glibc's libm may round differently)"
        );
    }
    if !compare_faces {
        eprintln!(
            "faces-eval/ not compared: {}",
            if faces.is_none() {
                "no test photos (run `cargo xtask setup`)".to_string()
            } else {
                format!("recorded on a CPU with [{recorded_features}], this one has [{features}]")
            }
        );
    }
    let mut differences = Vec::new();
    for (name, hash) in &want {
        let compared = if name.starts_with("faces-eval/") { compare_faces } else { compare_sim };
        if !compared {
            continue;
        }
        match got.get(name) {
            Some(h) if h == hash => {}
            Some(_) => differences.push(format!("{name}: different bytes")),
            None => differences.push(format!("{name}: no longer written")),
        }
    }
    for name in got.keys().filter(|n| !want.contains_key(*n) && (compare_sim || n.starts_with("faces-eval/"))) {
        differences.push(format!("{name}: new file"));
    }
    assert!(
        differences.is_empty(),
        "outputs differ from tests/golden/outputs.sha256 (re-record with GATELAB_BLESS=1 only if the change is meant):\n{}",
        differences.join("\n")
    );
    std::fs::remove_dir_all(&dir).ok();
}
