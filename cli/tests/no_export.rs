//! No export path (C6): every file and every stream `gatelab` writes is enumerated here, and
//! each is shown unable to carry a template or a face image:
//!
//! | interface | what it is | why no template |
//! |---|---|---|
//! | `run`: summary.json, passages.csv, queue.csv, audit.jsonl | figures, rows, audit records | scanned below; audit records are `Disclosable` |
//! | `run --export-trace` | the terminals' *input*, synthetic faces | only the simulation's own generated vectors, never a photo's |
//! | `plan`: plan.json, plan.csv, report.html, spec.json | figures and SVG plots | scanned; no raster image |
//! | `faces eval --out`: eval.json, det/histogram .png/.svg | score statistics, plots | scanned; PNGs are 640×480 plots |
//! | `faces enroll/verify/identify/withdraw` (stdout) | verdicts | scanned |
//! | `faces` store folder | the core's journal | AES-256-GCM-SIV (core `power_loss` tests); its audit.jsonl scanned |
//! | `faces export` | an export request | refused by the core, audited |
//! | `check-consent` (stdout, JSON) | violations | scanned |
//! | `calibrate`: FRAGMENT.toml, report/index.html, report/*.png | counts, rates, fits, plots | scanned; the log's person ids never appear; PNGs are 860×380 plots |
//! | wire protocol (firmware → host) | `TargetMsg` | only `Disclosable` types compile (`core::wire`) |
//! | `gatelab-rig replay.json` | comparisons | events echoed `without_biometrics()` |
//!
//! A new output file fails the exact-list checks below until it is classified here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gatelab(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab")).current_dir(dir).args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios").join(format!("{name}.toml")).display().to_string()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gatelab-no-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Embedding dimensions are 64 and up; anything shorter cannot hold a usable template.
const TEMPLATE_MIN_DIM: usize = 64;

/// A JSON value holding an array of at least `TEMPLATE_MIN_DIM` numbers that are not all
/// integers (counts and histograms are integers; a template is a float vector).
fn float_vector_in(v: &serde_json::Value) -> Option<usize> {
    match v {
        serde_json::Value::Array(items) => {
            let numbers: Vec<f64> = items.iter().filter_map(|x| x.as_f64()).collect();
            if numbers.len() >= TEMPLATE_MIN_DIM && numbers.iter().any(|x| x.fract() != 0.0) {
                return Some(numbers.len());
            }
            items.iter().find_map(float_vector_in)
        }
        serde_json::Value::Object(m) => m.values().find_map(float_vector_in),
        _ => None,
    }
}

/// Fails if `text` (of a file named `name`) could carry a template or a face image.
fn assert_carries_no_biometrics(name: &str, text: &str) {
    if name.ends_with(".json") {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert_eq!(float_vector_in(&v), None, "{name} holds a float vector");
    } else if name.ends_with(".jsonl") {
        for (i, line) in text.lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{name}:{}: {e}", i + 1));
            assert_eq!(float_vector_in(&v), None, "{name}:{} holds a float vector", i + 1);
        }
    } else if name.ends_with(".csv") {
        for (i, line) in text.lines().enumerate() {
            let floats = line.split(',').filter(|f| f.parse::<f64>().is_ok_and(|x| x.fract() != 0.0)).count();
            assert!(floats < TEMPLATE_MIN_DIM, "{name}:{}: {floats} float columns", i + 1);
        }
    } else if name.ends_with(".html") || name.ends_with(".svg") {
        assert!(!text.contains("data:image/"), "{name} embeds a raster image");
        assert!(!text.contains("<img"), "{name} shows an image");
    } else {
        // Plain text (stdout).
        let numbers = text.split(|c: char| c.is_whitespace() || c == ',').filter(|w| w.parse::<f64>().is_ok()).count();
        assert!(numbers < TEMPLATE_MIN_DIM, "{name}: {numbers} numbers printed");
    }
}

fn scan(dir: &Path, name: &str) {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_carries_no_biometrics(name, &text);
}

/// The scanner is not blind: a template in any of these shapes is caught.
#[test]
fn the_scanner_catches_a_template() {
    let template: Vec<f32> = (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) / 400.0).collect();
    let json = serde_json::to_string(&serde_json::json!({ "person": 7, "t": template })).unwrap();
    let csv = template.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",");
    let printed = template.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ");
    for (name, text) in [
        ("x.json", json.as_str()),
        ("x.jsonl", json.as_str()),
        ("x.csv", csv.as_str()),
        ("stdout", printed.as_str()),
        ("r.html", "<img src=\"data:image/png;base64,AAAA\">"),
    ] {
        let caught = std::panic::catch_unwind(|| assert_carries_no_biometrics(name, text)).is_err();
        assert!(caught, "{name}: a template got through");
    }
}

#[test]
fn run_plan_and_check_outputs_carry_no_template() {
    let dir = temp("run");
    let o = gatelab(
        &dir,
        &["run", &scenario("dongcheng"), "--duration-min", "10", "--replications", "2", "--quiet", "--out", "out"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_carries_no_biometrics("stdout", &String::from_utf8_lossy(&o.stdout));
    let out = dir.join("out");
    assert_eq!(files(&out), set(&["audit.jsonl", "passages.csv", "queue.csv", "summary.json"]));
    for f in files(&out) {
        scan(&out, &f);
    }
    let o = gatelab(&dir, &["check-consent", "out/audit.jsonl", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_carries_no_biometrics("check.json", &String::from_utf8_lossy(&o.stdout));

    let o = gatelab(
        &dir,
        &[
            "plan",
            &scenario("courier-surge"),
            "--lanes",
            "1..2",
            "--replications",
            "2",
            "--duration-min",
            "20",
            "--quiet",
            "--out",
            "plan",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let plan = dir.join("plan");
    assert_eq!(files(&plan), set(&["plan.csv", "plan.json", "report.html", "spec.json"]));
    for f in files(&plan) {
        scan(&plan, &f);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_trace_carries_only_the_simulations_own_inputs() {
    let dir = temp("trace");
    let o = gatelab(
        &dir,
        &["run", &scenario("dongcheng"), "--duration-min", "5", "--quiet", "--out", "out", "--export-trace", "t.jsonl"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let text = std::fs::read_to_string(dir.join("t.jsonl")).unwrap();
    let (header, entries) = gatelab_core::trace::jsonl::read(text.as_bytes()).unwrap();
    // The header says where the vectors came from: a scenario and a seed, nothing else.
    assert!(header.origin.starts_with("scenario "), "{}", header.origin);
    // Embeddings appear only as terminal inputs (enrolments and probes the simulation drew).
    for e in &entries {
        let json = serde_json::to_value(e.event.without_biometrics()).unwrap();
        assert_eq!(float_vector_in(&json), None, "{:?}", e.event);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn faces_outputs_carry_no_template_and_an_export_is_refused() {
    let photos = gatelab_faces::paths::cache_dir().join("face_recognition/test_images");
    assert!(photos.join("biden.jpg").is_file(), "run `cargo xtask setup`");
    let dir = temp("faces");
    // A labelled folder: two identities, two photos each.
    for (who, files) in [("obama", ["obama.jpg", "obama2.jpg"]), ("biden", ["biden.jpg", "biden2.jpg"])] {
        let d = dir.join("eval").join(who);
        std::fs::create_dir_all(&d).unwrap();
        for f in files {
            if photos.join(f).is_file() {
                std::fs::copy(photos.join(f), d.join(f)).unwrap();
            }
        }
    }
    let o = gatelab(&dir, &["faces", "eval", "eval", "--out", "eval-out"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_carries_no_biometrics("stdout", &String::from_utf8_lossy(&o.stdout));
    let out = dir.join("eval-out");
    assert_eq!(files(&out), set(&["det.png", "det.svg", "eval.json", "histogram.png", "histogram.svg"]));
    for f in ["det.svg", "eval.json", "histogram.svg"] {
        scan(&out, f);
    }
    for png in ["det.png", "histogram.png"] {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(out.join(png)).unwrap()));
        let info = decoder.read_info().unwrap().info().clone();
        assert_eq!((info.width, info.height), (640, 480), "{png} is a plot, not a photo or crop");
    }
    let o = gatelab(&dir, &["faces", "embed", &photos.join("obama.jpg").display().to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_carries_no_biometrics("stdout", &String::from_utf8_lossy(&o.stdout));
    let o = gatelab(&dir, &["faces", "export", "--what", "face-images"]);
    assert_eq!(o.status.code(), Some(2), "no store yet: {}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// `calibrate` reads logs that may hold person ids: its fragment, report and stdout hold counts,
/// rates, fits and plots, never an id; and a bad row under --strict names its file and line.
#[test]
fn calibrate_outputs_carry_no_person_id_and_no_template() {
    let dir = temp("calibrate");
    // One saturated lane: 400 people 2–3 s apart, ids easy to look for.
    let mut log = String::from("time,gate,lane,direction,credential,result,person\n");
    for i in 0..400u32 {
        let ms = 7 * 3_600_000 + i * 2_000 + (i * 7919 % 1000);
        let credential = if i % 4 == 0 { "ic_card" } else { "face" };
        log.push_str(&format!(
            "2025-03-04 {:02}:{:02}:{:02}.{:03},east,out-1,out,{credential},granted,RESIDENT-{i:05}\n",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        ));
    }
    std::fs::write(dir.join("gate.csv"), &log).unwrap();
    let o = gatelab(&dir, &["calibrate", "gate.csv", "--out", "site.toml", "--report", "report", "--quiet"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("RESIDENT-"), "stdout names a person");
    assert_eq!(files(&dir), set(&["gate.csv", "report", "site.toml"]));
    let report = dir.join("report");
    assert_eq!(files(&report), set(&["arrivals-0.png", "index.html", "service-card.png", "service-face.png"]));
    for (folder, name) in [(&dir, "site.toml"), (&report, "index.html")] {
        let t = std::fs::read_to_string(folder.join(name)).unwrap();
        assert!(!t.contains("RESIDENT-"), "{name} names a person");
        for (i, line) in t.lines().enumerate() {
            let numbers = line
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .filter(|w| w.parse::<f64>().is_ok())
                .count();
            assert!(numbers < TEMPLATE_MIN_DIM, "{name}:{}: {numbers} numbers", i + 1);
        }
    }
    for png in ["arrivals-0.png", "service-card.png", "service-face.png"] {
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(report.join(png)).unwrap()));
        let info = decoder.read_info().unwrap();
        assert_eq!((info.info().width, info.info().height), (860, 380), "{png} is a plot");
    }

    std::fs::write(dir.join("bad.csv"), log.replacen("2025-03-04 07:00:02", "yesterday", 1)).unwrap();
    let o = gatelab(&dir, &["calibrate", "bad.csv", "--out", "bad.toml", "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("bad.csv:3: unparseable time"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}
