//! `gatelab run --record FILE` and playing a recording back: the replay hands out the live run's
//! event sequence, and recording changes nothing in the run.

use std::process::{Command, Output};

mod common;

use common::{scratch, text};
use gatelab_sim::record::{Player, RECORDING_VERSION, Recording};
use gatelab_sim::rows::PassageRow;

fn gatelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gatelab")).args(args).output().expect("the binary runs")
}

/// The rows as `passages.csv` writes them (same crate, same field order).
fn csv_bytes(rows: &[PassageRow]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).unwrap();
    }
    w.into_inner().unwrap()
}

#[test]
fn replaying_a_recording_gives_the_live_runs_events_and_recording_changes_nothing() {
    let dir = scratch("record");
    let (recorded, plain) = (dir.join("recorded"), dir.join("plain"));
    let file = dir.join("run.gatelab-rec");
    let common = ["run", "--replications", "1", "--duration-min", "40", "--quiet", "--seed", "7"];
    let with =
        gatelab(&[&common[..], &["--out", recorded.to_str().unwrap(), "--record", file.to_str().unwrap()]].concat());
    assert!(with.status.success(), "{}", text(&with));
    assert!(text(&with).contains("run.gatelab-rec"), "the recording is listed: {}", text(&with));
    let without = gatelab(&[&common[..], &["--out", plain.to_str().unwrap()]].concat());
    assert!(without.status.success(), "{}", text(&without));

    // Recording only reads the simulation: a second process without it gives the same bytes.
    let live_passages = std::fs::read(plain.join("passages.csv")).unwrap();
    for f in ["passages.csv", "audit.jsonl", "queue.csv"] {
        assert!(
            std::fs::read(recorded.join(f)).unwrap() == std::fs::read(plain.join(f)).unwrap(),
            "{f} differs when recording"
        );
    }

    let recording = Recording::load(&file).unwrap();
    assert_eq!(recording.header.scenario, "dongcheng");
    assert_eq!(recording.header.seed, 7, "the header names the run's seed");
    assert!(recording.frames.len() > 1000, "a frame every 0.5 s for 40 min: {}", recording.frames.len());
    assert!(recording.frames.iter().any(|f| !f.agents.is_empty()), "people are drawn");

    // Played back at an odd pace (7.3 s steps, not a multiple of the frame interval), the
    // events come out once each, in order: exactly the live run's passages.csv.
    let mut player = Player::new(recording.clone());
    let (start, end) = recording.span_ms();
    let mut events = Vec::new();
    let mut t = start;
    while !player.at_end() {
        events.extend(player.play_to(t));
        t += 7_300;
        assert!(t < end + 3_600_000, "the player never reached the end");
    }
    assert!(events.len() > 50, "a 40 min rush hour has passages: {}", events.len());
    let replayed = csv_bytes(&events);
    assert!(
        replayed == live_passages,
        "replayed events differ from the live run's passages.csv ({} replayed rows)",
        events.len()
    );

    // The counters of the last frame are the run's own figures.
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plain.join("summary.json")).unwrap()).unwrap();
    let last = &recording.frames.last().unwrap().counters;
    assert_eq!(last.passages as f64, summary["passages"]["mean"].as_f64().unwrap());
    assert_eq!(last.uncontrolled_passages as f64, summary["uncontrolled_passages"]["mean"].as_f64().unwrap());
    assert_eq!(last.tailgating_undetected as f64, summary["tailgating"]["undetected"]["mean"].as_f64().unwrap());

    // Seeking back hands out nothing for the skipped stretch; playing on resumes from there.
    player.seek(start + 20 * 60_000);
    let resumed = player.play_to(end);
    assert!(!resumed.is_empty() && resumed.len() < events.len(), "after a seek, only what follows it");
    assert!(events.ends_with(&resumed), "after a seek, playing on gives the rest of the sequence");
}

#[test]
fn a_damaged_or_foreign_file_is_refused_with_a_reason() {
    let dir = scratch("record-bad");
    let foreign = dir.join("foreign.bin");
    std::fs::write(&foreign, b"PK\x03\x04 not a recording").unwrap();
    let e = format!("{:#}", Recording::load(&foreign).unwrap_err());
    assert!(e.contains("not a gatelab recording") && e.contains("--record"), "{e}");

    let newer = dir.join("newer.bin");
    let mut bytes = b"gatelab-recording\n".to_vec();
    bytes.extend((RECORDING_VERSION + 1).to_le_bytes());
    std::fs::write(&newer, &bytes).unwrap();
    let e = format!("{:#}", Recording::load(&newer).unwrap_err());
    assert!(e.contains("version") && e.contains("record it again"), "{e}");

    let cut = dir.join("cut.bin");
    bytes.truncate(b"gatelab-recording\n".len());
    bytes.extend(RECORDING_VERSION.to_le_bytes());
    bytes.extend([1, 2, 3]);
    std::fs::write(&cut, &bytes).unwrap();
    let e = format!("{:#}", Recording::load(&cut).unwrap_err());
    assert!(e.contains("damaged"), "{e}");
}
