//! `gatelab faces` as an engineer meets it: consent first, withdrawal deletes, nothing but the
//! store is written, and `eval` feeds the simulation. Needs `cargo xtask setup` (runtime, models,
//! the face_recognition 1.3.0 photos).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::text;

fn photos() -> PathBuf {
    gatelab_faces::paths::cache_dir().join("face_recognition/test_images")
}

fn gatelab(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab")).current_dir(dir).args(args).output().expect("runs")
}

fn photo(name: &str) -> String {
    photos().join(name).to_string_lossy().into_owned()
}

const CONSENT: &str = "id = 1\nperson = 7\npurpose = \"face_access\"\nscope = 1\nform = \"separate\"\n\
explicit = true\ngrantor = \"subject\"\ngiven_at = 0\nretention_ms = 31536000000\n";

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn consent_first_withdrawal_deletes_and_only_the_store_is_written() {
    assert!(photos().join("biden.jpg").is_file(), "run `cargo xtask setup`");
    let dir = std::env::temp_dir().join(format!("gatelab-faces-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let consents = std::env::temp_dir().join(format!("gatelab-faces-consents-{}", std::process::id()));
    std::fs::create_dir_all(&consents).unwrap();
    let good = consents.join("consent.toml");
    std::fs::write(&good, CONSENT).unwrap();
    let bundled = consents.join("bundled.toml");
    std::fs::write(&bundled, CONSENT.replace("separate", "bundled")).unwrap();
    let by_landlord = consents.join("landlord.toml");
    std::fs::write(&by_landlord, CONSENT.replace("grantor = \"subject\"", "grantor = { third_party = 99 }")).unwrap();

    for refused in [&bundled, &by_landlord] {
        let o = gatelab(
            &dir,
            &["faces", "enroll", "--person", "7", "--consent", refused.to_str().unwrap(), &photo("obama.jpg")],
        );
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("refused the consent"), "{}", text(&o));
        assert!(files_in(&dir).is_empty(), "a refused enrolment wrote {:?}", files_in(&dir));
    }
    let o = gatelab(
        &dir,
        &[
            "faces",
            "enroll",
            "--person",
            "7",
            "--consent",
            good.to_str().unwrap(),
            &photo("obama.jpg"),
            &photo("obama2.jpg"),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = gatelab(&dir, &["faces", "identify", &photo("obama3.jpg")]);
    assert!(o.status.success() && text(&o).contains("PersonId#7"), "{}", text(&o));
    let o = gatelab(&dir, &["faces", "identify", &photo("biden.jpg")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = gatelab(&dir, &["faces", "verify", "--person", "7", &photo("obama3.jpg")]);
    assert!(o.status.success(), "{}", text(&o));
    let o = gatelab(&dir, &["faces", "withdraw", "--person", "7"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = gatelab(&dir, &["faces", "identify", &photo("obama3.jpg")]);
    assert_eq!(o.status.code(), Some(1), "withdrawn, yet found: {}", text(&o));
    // Photos read, crops made, nothing but the store written.
    assert_eq!(files_in(&dir), vec!["gatelab-faces.store".to_string()]);
    // The store is the core's encrypted journal: no template in clear, no person id next to it.
    let store = dir.join("gatelab-faces.store");
    assert_eq!(files_in(&store), vec!["audit.jsonl", "biometric.flash", "identity.flash", "terminal.key"]);
    // An export is refused and audited; the store's log passes the consent checker, chain and all.
    let o = gatelab(&dir, &["faces", "export", "--what", "templates"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("refused"), "{}", text(&o));
    let log = std::fs::read_to_string(store.join("audit.jsonl")).unwrap();
    assert!(
        log.lines().last().unwrap().contains("\"export_attempt\":{\"what\":\"templates\",\"refused\":true}"),
        "{log}"
    );
    assert!(log.contains("template_deleted") && log.contains("restarted"), "{log}");
    let o = gatelab(&dir, &["check-consent", store.join("audit.jsonl").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    // Another terminal's key: refused, and nothing is changed.
    let key = std::fs::read(store.join("terminal.key")).unwrap();
    let before = std::fs::read(store.join("identity.flash")).unwrap();
    std::fs::write(store.join("terminal.key"), [0x42u8; 32]).unwrap();
    let o = gatelab(&dir, &["faces", "identify", &photo("obama3.jpg")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("another terminal"), "{}", text(&o));
    assert_eq!(std::fs::read(store.join("identity.flash")).unwrap(), before);
    std::fs::write(store.join("terminal.key"), key).unwrap();
    // A damaged partition is refused and left as it was.
    std::fs::write(store.join("biometric.flash"), b"\xff\xff\xff\xffnot a store").unwrap();
    let o = gatelab(&dir, &["faces", "identify", &photo("obama3.jpg")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("left untouched"), "{}", text(&o));
    assert_eq!(std::fs::read(store.join("biometric.flash")).unwrap(), b"\xff\xff\xff\xffnot a store");
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&consents).ok();
}

#[test]
fn eval_writes_its_figures_and_a_calibration_the_simulation_loads() {
    // DIR/<identity>/*: the face_recognition photos (and ../shared's bbt where present).
    let dir = std::env::temp_dir().join(format!("gatelab-faces-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (who, files) in [("obama", vec!["obama.jpg", "obama2.jpg", "obama3.jpg"]), ("biden", vec!["biden.jpg"])] {
        std::fs::create_dir_all(dir.join("set").join(who)).unwrap();
        for f in files {
            std::fs::copy(photos().join(f), dir.join("set").join(who).join(f)).unwrap();
        }
    }
    let out = dir.join("eval");
    let cal = dir.join("calibration.toml");
    let o = gatelab(
        &dir,
        &["faces", "eval", "set", "--out", out.to_str().unwrap(), "--emit-calibration", cal.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(v["genuine_pairs"], 3);
    assert_eq!(v["impostor_pairs"], 3);
    assert!(v["genuine_mean"].as_f64().unwrap() >= 0.6 && v["impostor_mean"].as_f64().unwrap() <= 0.1, "{v}");
    for key in ["threshold", "fmr_at_threshold", "fnmr_at_threshold"] {
        assert!(v[key].is_number(), "{key}: {v}");
    }
    // Three impostor pairs cannot measure FMR 1e-2: said, not invented.
    assert!(v["fnmr_at_fmr"]["1e-2"].is_null(), "{v}");
    for name in ["det.png", "histogram.png"] {
        assert_png_plot(&out.join(name));
    }
    for svg in ["det.svg", "histogram.svg"] {
        let s = std::fs::read_to_string(out.join(svg)).unwrap();
        assert!(s.contains("<svg") && (s.contains("<polyline") || s.contains("<rect")), "{svg} is blank");
    }
    // The simulation loads the calibration and runs with the real model's score distributions.
    let scenario = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/dongcheng.toml"))
        .unwrap()
        .replace("[matcher]                      # fr_feature-like score distributions (FIGURES.md)\nthreshold = 0.40\ngenuine_mean = 0.70\ngenuine_sd = 0.10\nimpostor_mean = 0.01\nimpostor_sd = 0.08\ndim = 128", "[matcher]\ncalibration = \"calibration.toml\"");
    assert!(scenario.contains("calibration = "), "the dongcheng [matcher] table changed; update this test");
    std::fs::write(dir.join("calibrated.toml"), scenario).unwrap();
    let s = gatelab_scenario::Scenario::load(&dir.join("calibrated.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.matcher.dim, 512);
    assert!((f64::from(s.matcher.threshold) - v["threshold"].as_f64().unwrap()).abs() < 1e-3);
    let o = gatelab(
        &dir,
        &["run", "calibrated.toml", "--duration-min", "20", "--replications", "1", "--quiet", "--out", "run"],
    );
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// A 640×480 PNG with a drawing on it: more than a couple of colours on a white background, dark
/// ink (axes and text, rendered with the embedded font) and colour (the curve or the bars).
fn assert_png_plot(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().expect("fits in memory")];
    let info = reader.next_frame(&mut buf).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!((info.width, info.height), (640, 480), "{}", path.display());
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight), "{}", path.display());
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()].chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    let colours: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(colours.len() > 2, "{} has {} colour(s): blank", path.display(), colours.len());
    let count = |f: &dyn Fn(&[u8; 3]) -> bool| pixels.iter().filter(|p| f(p)).count();
    let white = count(&|p| *p == [255, 255, 255]);
    let dark = count(&|p| p.iter().all(|&c| c < 100));
    let coloured = count(&|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 60);
    assert!(white > pixels.len() / 2, "{}: the background is not white", path.display());
    assert!(white < pixels.len() - pixels.len() / 100, "{}: next to nothing drawn", path.display());
    assert!(dark > 300, "{}: only {dark} dark pixels, so no axes", path.display());
    // The caption, above the chart: the embedded font drew text.
    let caption = (0..28)
        .flat_map(|y| pixels[y * 640 + 100..y * 640 + 540].iter())
        .filter(|p| p.iter().all(|&c| c < 128))
        .count();
    assert!(caption > 100, "{}: only {caption} dark pixels where the caption goes, so no text", path.display());
    assert!(coloured > 300, "{}: only {coloured} coloured pixels, so no curve or bars", path.display());
}

/// A folder as people really have them: a WebP named `.jpg`, a PNG named `.jpeg`, a truncated
/// JPEG, a text file, a group photo and a photo without a face. `eval` completes, lists each skip
/// with its reason, and its figures equal the clean folder's; `--strict` stops at the first.
#[test]
fn eval_reads_a_real_world_folder_and_lists_what_it_skipped() {
    let dir = std::env::temp_dir().join(format!("gatelab-faces-messy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (clean, messy) = (dir.join("clean"), dir.join("messy"));
    for (who, files) in [("obama", vec!["obama.jpg", "obama2.jpg", "obama3.jpg"]), ("biden", vec!["biden.jpg"])] {
        for set in [&clean, &messy] {
            std::fs::create_dir_all(set.join(who)).unwrap();
        }
        for f in files {
            std::fs::copy(photos().join(f), clean.join(who).join(f)).unwrap();
        }
    }
    let decoded = |f: &str| image::open(photos().join(f)).unwrap();
    // The same pixels, in other formats under misleading names.
    std::fs::copy(photos().join("obama.jpg"), messy.join("obama/obama.jpg")).unwrap();
    decoded("obama2.jpg").to_rgb8().save_with_format(messy.join("obama/obama2.jpg"), image::ImageFormat::WebP).unwrap();
    decoded("obama3.jpg").to_rgb8().save_with_format(messy.join("obama/obama3.jpeg"), image::ImageFormat::Png).unwrap();
    std::fs::copy(photos().join("biden.jpg"), messy.join("biden/biden.jpg")).unwrap();
    // What cannot be used.
    let jpeg = std::fs::read(photos().join("obama.jpg")).unwrap();
    std::fs::write(messy.join("obama/truncated.jpg"), &jpeg[..200]).unwrap();
    std::fs::write(messy.join("obama/notes.txt"), "photos from the 2009 inauguration\n").unwrap();
    let (a, b) = (decoded("obama.jpg").to_rgb8(), decoded("biden.jpg").to_rgb8());
    let h = a.height().max(b.height());
    let mut group = image::RgbImage::from_pixel(a.width() + b.width(), h, image::Rgb([255, 255, 255]));
    image::imageops::overlay(&mut group, &a, 0, 0);
    image::imageops::overlay(&mut group, &b, i64::from(a.width()), 0);
    group.save_with_format(messy.join("biden/group.jpg"), image::ImageFormat::Png).unwrap();
    image::RgbImage::from_pixel(300, 300, image::Rgb([128, 128, 128])).save(messy.join("biden/wall.png")).unwrap();

    let eval = |set: &Path, out: &str, extra: &[&str]| {
        let mut args = vec!["faces", "eval", set.to_str().unwrap(), "--out", out];
        args.extend(extra);
        let o = gatelab(&dir, &args);
        let json = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(dir.join(out).join("eval.json")).unwrap_or_default(),
        );
        (o, json.unwrap_or_default())
    };
    let (o, want) = eval(&clean, "clean-eval", &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (o, got) = eval(&messy, "messy-eval", &["--multi-face", "skip"]);
    assert!(o.status.success(), "{}", text(&o));
    for key in ["identities", "images", "genuine_pairs", "impostor_pairs", "genuine_mean", "impostor_mean", "threshold"]
    {
        assert_eq!(got[key], want[key], "{key}: {got}");
    }
    let skipped: Vec<(String, String)> = got["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("{got}"))
        .iter()
        .map(|s| (s["file"].as_str().unwrap().to_string(), s["reason"].as_str().unwrap().to_string()))
        .collect();
    let reason = |file: &str| skipped.iter().find(|(f, _)| f.ends_with(file)).map(|(_, r)| r.as_str()).unwrap_or("");
    assert_eq!(skipped.len(), 4, "{skipped:?}");
    assert!(reason("truncated.jpg").starts_with("not a readable picture"), "{skipped:?}");
    assert!(reason("notes.txt").contains("not a picture"), "{skipped:?}");
    assert!(reason("group.jpg").starts_with("2 faces"), "{skipped:?}");
    assert_eq!(reason("wall.png"), "no face found");
    let printed = text(&o);
    assert!(printed.contains("skipped 4 file(s)") && printed.contains("group.jpg"), "{printed}");
    // The default takes a group photo's largest face: one photo more, three skipped.
    let (o, largest) = eval(&messy, "largest-eval", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(largest["images"].as_u64(), want["images"].as_u64().map(|n| n + 1), "{largest}");
    assert_eq!(largest["skipped"].as_array().map(Vec::len), Some(3), "{largest}");
    // --strict: the first problem is an error naming the file.
    let o = gatelab(&dir, &["faces", "eval", messy.to_str().unwrap(), "--strict"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--strict") && text(&o).contains("messy/biden/"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// `../shared/faces/bbt` (TV stills, 150×150 crops), when present; in CI it must be.
fn bbt() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/faces/bbt");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(std::env::var("CI").is_err(), "CI must have ../shared/faces/bbt");
    eprintln!("skipped: no ../shared/faces/bbt here");
    None
}

/// Liveness on real photos: a live capture passes, a photo the PAD model scores low is refused
/// as a suspected spoof at the gate (audited, never matched) and never enrolled.
#[test]
fn a_presentation_below_the_liveness_threshold_is_refused_audited_and_never_enrolled() {
    let Some(bbt) = bbt() else { return };
    let amy = |n: u32| bbt.join(format!("amy/amy{n}.png")).to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("gatelab-faces-pad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let consent = dir.join("consent.toml");
    std::fs::write(&consent, CONSENT).unwrap();
    let store = dir.join("store");
    let store_arg = store.to_str().unwrap();
    // amy1 scores 0.11 with fr_liveness (a low-contrast TV still): no enrolment from it.
    let o = gatelab(
        &dir,
        &["faces", "--store", store_arg, "enroll", "--person", "7", "--consent", consent.to_str().unwrap(), &amy(1)],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("amy1.png") && text(&o).contains("liveness_min"), "{}", text(&o));
    // amy2 and amy3 score 0.97 and 0.99: enrolled.
    let o = gatelab(
        &dir,
        &[
            "faces",
            "--store",
            store_arg,
            "enroll",
            "--person",
            "7",
            "--consent",
            consent.to_str().unwrap(),
            &amy(2),
            &amy(3),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    // The same person, but a presentation the PAD model doubts: refused before any matching.
    let o = gatelab(&dir, &["faces", "--store", store_arg, "identify", &amy(1)]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("suspected presentation attack") && text(&o).contains("card"), "{}", text(&o));
    let log = std::fs::read_to_string(store.join("audit.jsonl")).unwrap();
    let last: Vec<&str> = log.lines().rev().take(2).collect();
    assert!(last.iter().any(|l| l.contains("\"suspected_spoof\"") && l.contains("access_decision")), "{last:?}");
    assert!(last.iter().any(|l| l.contains("frame_discarded")), "{last:?}");
    assert!(!last.iter().any(|l| l.contains("match_attempt")), "refused before any matching: {last:?}");
    assert!(!log.contains("liveness"), "the score is never written (C6)");
    // A live capture of the same person still matches.
    let o = gatelab(&dir, &["faces", "--store", store_arg, "identify", &amy(3)]);
    assert!(o.status.success() && text(&o).contains("PersonId#7"), "{}", text(&o));
    let o = gatelab(&dir, &["check-consent", store.join("audit.jsonl").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// `gatelab faces pad-eval` on the face_recognition photos as bona fide, with `args`.
fn pad_eval(args: &[&str]) -> Output {
    let bona_fide = photos().to_string_lossy().into_owned();
    let all: Vec<&str> =
        ["faces", "pad-eval", "--bona-fide", &bona_fide].into_iter().chain(args.iter().copied()).collect();
    gatelab(std::env::temp_dir().as_path(), &all)
}

/// `pad-eval` on the bona fide photos at hand: BPCER is measured, APCER is said not to be.
#[test]
fn pad_eval_measures_bpcer_and_never_pretends_to_measure_attacks() {
    let dir = std::env::temp_dir().join(format!("gatelab-pad-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out");
    let o = pad_eval(&["--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let printed = text(&o);
    assert!(printed.contains("APCER (attacks accepted) is NOT measured"), "{printed}");
    // The face_recognition photos are real captures: every one passes the default 0.5.
    assert!(printed.contains("4 of 4 live photos pass"), "{printed}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("pad.json")).unwrap()).unwrap();
    assert_eq!(report["attacks_measured"], false);
    assert_eq!(report["bona_fide"], 4);
    assert!(report["points"].as_array().unwrap().iter().all(|p| p["apcer"].is_null()));
    assert!(report["apcer_at_target"].is_null());
    let png = image::load_from_memory(&std::fs::read(out.join("pad-det.png")).unwrap()).unwrap().to_rgb8();
    let drawn = png.pixels().filter(|p| p.0 != [255, 255, 255]).count();
    assert!(drawn > 2_000, "pad-det.png is nearly blank ({drawn} pixels drawn)");
    assert!(std::fs::read_to_string(out.join("pad-det.svg")).unwrap().contains("BPCER"));
    // --emit-calibration: an [attacks] fragment a scenario includes (it sets per_hour itself).
    std::fs::create_dir_all(&dir).unwrap();
    let fragment = dir.join("pad.toml");
    let o = pad_eval(&["--emit-calibration", fragment.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let scenario_text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/dongcheng.toml"))
            .unwrap()
            .replacen("name = \"dongcheng\"", "include = [\"pad.toml\"]\nname = \"dongcheng\"", 1)
            + "\n[attacks]\nper_hour = 2.0\n";
    let scenario_path = dir.join("with-pad.toml");
    std::fs::write(&scenario_path, scenario_text).unwrap();
    let scenario = gatelab_scenario::Scenario::load(&scenario_path).unwrap_or_else(|e| panic!("{e}"));
    let attacks = scenario.attacks.expect("the fragment's [attacks] merged");
    assert!((attacks.bona_fide_mean - report["bona_fide_mean"].as_f64().unwrap()).abs() < 1e-3, "{attacks:?}");
    assert_eq!(attacks.attack_mean, 0.20, "no attacks measured: the scenario's own attack distribution stays");
    // With attack presentations (here: the bbt stills standing in, only to exercise the
    // arithmetic — they are not attacks), APCER is reported beside BPCER.
    if let Some(bbt) = bbt() {
        let o = pad_eval(&["--attack", &bbt.join("amy").to_string_lossy(), "--out", out.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("pad.json")).unwrap()).unwrap();
        assert_eq!(report["attacks"], 5);
        assert!(report["points"].as_array().unwrap().iter().all(|p| p["apcer"].is_number()));
    }
    std::fs::remove_dir_all(&dir).ok();
}
