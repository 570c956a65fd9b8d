//! Recordings: what the viewer needs to draw a run, sampled at a fixed simulated interval, plus
//! every passage and decision in order — written by `gatelab run --record FILE`, played back by
//! `gatelab view --replay FILE` without simulating.
//!
//! This module is the format and its playback; it knows nothing of the engine, whose
//! `engine::capture` fills it by only *reading* the simulation (agents, terminals, doors,
//! counters): a run with the recorder gives the very same results as one without. It is headless
//! (no renderer), so a recording can be made on any machine, including CI, and watched elsewhere.
//!
//! File: the magic line `gatelab-recording\n`, the format version (u32, little-endian), then the
//! [`Recording`] as postcard.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::rows::PassageRow;

const MAGIC: &[u8] = b"gatelab-recording\n";
/// Bump when [`Recording`] changes shape; older files are refused with a clear message.
pub const RECORDING_VERSION: u32 = 1;
/// Simulated milliseconds between two frames (agents walk ~0.7 m in that time; the viewer
/// interpolates between frames).
pub const SAMPLE_MS: u64 = 500;

/// A whole recorded run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub header: Header,
    pub frames: Vec<Frame>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub scenario: String,
    pub seed: u64,
    pub policy: String,
    /// Milliseconds since midnight where the run starts.
    pub start_ms: u64,
    /// The end of the scenario's window (the run may drain a while longer).
    pub window_end_ms: u64,
    pub dt_ms: u64,
    pub sample_ms: u64,
    pub stage: Stage,
    /// gatelab's version that recorded it.
    pub gatelab: String,
}

/// The fixed scenery, in metres: the gate line is y = 0, outbound people come from y < 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub gates: Vec<StageGate>,
    pub lanes: Vec<StageLane>,
    /// Names of the queues in [`Counters::queues`] order (lanes, shared queues, guard desks).
    pub queue_names: Vec<String>,
    /// Lane channel walls.
    pub walls: Vec<[f32; 4]>,
    /// People are drawn within this distance of the gate line.
    pub plaza_radius_m: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageGate {
    pub name: String,
    pub x: f32,
    /// The guard's way through: centre and width on the gate line.
    pub guard_path_x: f32,
    pub guard_path_width: f32,
    pub car_gate: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageLane {
    pub gate: usize,
    pub name: String,
    pub inbound: bool,
    pub x: f32,
    pub width: f32,
    pub has_camera: bool,
}

/// What the viewer draws at one instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Milliseconds since midnight.
    pub t_ms: u64,
    /// Everyone in the plaza (within [`Stage::plaza_radius_m`] of the gate line), by serial.
    pub agents: Vec<AgentDot>,
    /// One per lane, in [`Stage::lanes`] order.
    pub terminals: Vec<TerminalLook>,
    /// Per gate: the guard's side door (or car gate) is open.
    pub guard_door_open: Vec<bool>,
    /// Per gate: the guard holds the car gate open for the crowd.
    pub car_gate_open: Vec<bool>,
    pub counters: Counters,
    /// Passages and refused attempts since the previous frame, in the order they happened.
    pub events: Vec<PassageRow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentDot {
    pub serial: u64,
    pub x: f32,
    pub y: f32,
    pub look: Look,
    /// Following someone through without a grant of their own.
    pub tailgating: bool,
}

/// Who someone is and how they get in, as the viewer colours them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Look {
    /// A resident with an enrolled face (and consent).
    EnrolledFace,
    /// A resident who refused face and uses a card (or PIN).
    OptOutCard,
    /// A short-term renter (card that expires, or face if enrolled).
    Renter,
    /// A resident neither enrolled nor opted out (e.g. a child, or enrolment pending).
    OtherResident,
    Visitor,
    /// Parcel and food couriers.
    Courier,
}

impl Look {
    pub const ALL: [Look; 6] =
        [Look::EnrolledFace, Look::OptOutCard, Look::Renter, Look::OtherResident, Look::Visitor, Look::Courier];

    pub fn as_str(self) -> &'static str {
        match self {
            Look::EnrolledFace => "enrolled_face",
            Look::OptOutCard => "opt_out_card",
            Look::Renter => "renter",
            Look::OtherResident => "other_resident",
            Look::Visitor => "visitor",
            Look::Courier => "courier",
        }
    }
}

/// A lane terminal's condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminalState {
    /// Face and card both work (or a card-only terminal that works).
    Working,
    /// The camera is down (failed, or the scanner was taken away): card only.
    CameraBroken,
    /// The matcher is unreachable, or the door is held open for everyone by a fault.
    Degraded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalLook {
    pub state: TerminalState,
    pub door_open: bool,
}

/// The live counters shown beside the gate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub passages: u64,
    /// Passages in the last 15 simulated minutes, per minute.
    pub throughput_per_min: f64,
    /// p95 of the waits of everyone through so far; NaN before the first passage.
    pub wait_p95_s: f64,
    /// People queueing, in [`Stage::queue_names`] order.
    pub queues: Vec<u32>,
    pub tailgating_detected: u64,
    pub tailgating_undetected: u64,
    pub uncontrolled_passages: u64,
    pub consent_violations: u64,
}

// ---- the file ---------------------------------------------------------------------------------

impl Recording {
    pub fn write_to(&self, mut w: impl Write) -> Result<()> {
        w.write_all(MAGIC)?;
        w.write_all(&RECORDING_VERSION.to_le_bytes())?;
        let body = postcard::to_stdvec(self).context("could not encode the recording")?;
        w.write_all(&body)?;
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("could not create {}", path.display()))?,
        );
        self.write_to(&mut w)
            .and_then(|()| Ok(w.flush()?))
            .with_context(|| format!("could not write {}", path.display()))
    }

    pub fn read_from(mut r: impl Read) -> Result<Recording> {
        let mut bytes = Vec::new();
        r.read_to_end(&mut bytes)?;
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            bail!("not a gatelab recording (make one with `gatelab run SCENARIO --record FILE`)");
        };
        let (version, body) = rest.split_at_checked(4).context("the recording is cut short")?;
        let version = u32::from_le_bytes(version.try_into().context("the recording is cut short")?);
        if version != RECORDING_VERSION {
            bail!(
                "recording format version {version}, this gatelab reads version {RECORDING_VERSION}: \
                 record it again with this gatelab"
            );
        }
        postcard::from_bytes(body).context("the recording is damaged (could not decode it)")
    }

    pub fn load(path: &Path) -> Result<Recording> {
        let file =
            std::fs::File::open(path).with_context(|| format!("could not open the recording {}", path.display()))?;
        Recording::read_from(std::io::BufReader::new(file)).with_context(|| format!("recording {}", path.display()))
    }

    /// Time of the first and the last frame.
    pub fn span_ms(&self) -> (u64, u64) {
        let first = self.frames.first().map_or(self.header.start_ms, |f| f.t_ms);
        let last = self.frames.last().map_or(first, |f| f.t_ms);
        (first, last)
    }
}

// ---- playing it back --------------------------------------------------------------------------

/// Plays a recording at any pace: forward in steps of any size (every event is handed out
/// exactly once, in order), or seek anywhere (no events are handed out for what was skipped).
#[derive(Debug)]
pub struct Player {
    pub recording: Recording,
    /// Frames before this one have been played (their events handed out).
    cursor: usize,
}

impl Player {
    pub fn new(recording: Recording) -> Player {
        Player { recording, cursor: 0 }
    }

    /// The frame shown now: the last one played (the first one before playing starts).
    pub fn frame(&self) -> Option<&Frame> {
        self.recording.frames.get(self.cursor.saturating_sub(1))
    }

    /// The frame after the one shown (for interpolating positions).
    pub fn next_frame(&self) -> Option<&Frame> {
        self.recording.frames.get(self.cursor.max(1))
    }

    pub fn at_end(&self) -> bool {
        self.cursor >= self.recording.frames.len()
    }

    /// Play forward to `t_ms`: the events of every frame reached, in order.
    pub fn play_to(&mut self, t_ms: u64) -> Vec<PassageRow> {
        let frames = &self.recording.frames;
        let mut events = Vec::new();
        while self.cursor < frames.len() && frames[self.cursor].t_ms <= t_ms {
            events.extend(frames[self.cursor].events.iter().cloned());
            self.cursor += 1;
        }
        events
    }

    /// Jump to `t_ms` (backwards or forwards) without handing out the events in between.
    pub fn seek(&mut self, t_ms: u64) {
        self.cursor = self.recording.frames.partition_point(|f| f.t_ms <= t_ms);
    }
}
