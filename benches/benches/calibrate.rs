//! `gatelab calibrate` on a generated log of about 1,000,000 events (one day, 50 lanes, a
//! saturated morning peak, retries, person ids; the gatelab CSV layout without waits, so the
//! headway-run saturation and the backlog reconstruction both run). The log is written first
//! (to the system's temporary folder, ~75 MB), then calibrated in a fresh process of this
//! benchmark, so that its peak memory is the calibration's alone. Aim: < 2 s, < 200 MB.
//!
//! `cargo bench -p gatelab-benches --bench calibrate`

use std::path::{Path, PathBuf};
use std::time::Instant;

use gatelab_calibrate::synth::{self, Spec};
use gatelab_calibrate::{Format, Options};

const CHILD: &str = "GATELAB_BENCH_CALIBRATE_LOG";

fn spec() -> Spec {
    Spec {
        gate: "estate".into(),
        lanes: 50,
        segments: vec![
            (5.0 * 3600.0, 7.0 * 3600.0, 40_000.0),
            // 50 lanes at 2.5 s serve 72,000/h: the peak hour queues.
            (7.0 * 3600.0, 8.0 * 3600.0, 90_000.0),
            (8.0 * 3600.0, 22.0 * 3600.0, 55_000.0),
        ],
        service_mean_s: 2.5,
        service_cv: 0.35,
        face_share: 0.8,
        retry_share: 0.08,
        seed: 1_000_000,
    }
}

fn calibrate(log: &Path) {
    let started = Instant::now();
    let cal =
        gatelab_calibrate::calibrate(&[log.to_path_buf()], &Format::Gatelab, Options::default(), false, &mut |_, _| {})
            .unwrap_or_else(|e| {
                eprintln!("error: {e}");
                std::process::exit(2)
            });
    let fragment = gatelab_calibrate::fragment::write(&cal);
    let wall = started.elapsed().as_secs_f64();
    let face = cal.fit_of(gatelab_calibrate::event::ServiceKind::Face).map(|f| *f.best());
    println!(
        "calibrate: {} events in {wall:.2} s ({:.0} events/s), peak memory {}",
        cal.events,
        cal.events as f64 / wall,
        gatelab_benches::peak_memory()
    );
    println!(
        "  {} demand rows, {} saturated; face service fitted: {}; fragment {} bytes",
        cal.rows.len(),
        cal.rows.iter().filter(|r| r.saturated_out.is_some()).count(),
        face.map_or("none".into(), |f| format!(
            "{} mean {:.3} s cv {:.3} (true 2.5, 0.35)",
            f.family.as_str(),
            f.mean,
            f.cv
        )),
        fragment.len()
    );
}

fn main() {
    if let Some(log) = std::env::var_os(CHILD) {
        calibrate(Path::new(&log));
        return;
    }
    let log: PathBuf = std::env::temp_dir().join("gatelab-bench-calibrate-1m.csv");
    let started = Instant::now();
    let attempts = synth::generate(&spec());
    let file = std::fs::File::create(&log).unwrap_or_else(|e| {
        eprintln!("error: could not create {}: {e}", log.display());
        std::process::exit(2)
    });
    if let Err(e) = synth::write_gatelab(&attempts, "estate", false, std::io::BufWriter::new(file)) {
        eprintln!("error: could not write {}: {e}", log.display());
        std::process::exit(2)
    }
    let bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    println!(
        "generated {} events ({:.0} MB) in {:.1} s: {}",
        attempts.len(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        log.display()
    );
    drop(attempts);
    let status = std::env::current_exe()
        .and_then(|exe| std::process::Command::new(exe).env(CHILD, &log).status())
        .unwrap_or_else(|e| {
            eprintln!("error: could not start the calibrating process: {e}");
            std::process::exit(2)
        });
    let _ = std::fs::remove_file(&log);
    std::process::exit(status.code().unwrap_or(2));
}
