//! The engine's side of recordings: reading the simulation's state into the frames the viewer
//! draws ([`capture_frame`], through the read-only [`SimView`]), and the recorder plugin
//! `build_app` adds when a run records. The file format and playback live in
//! [`crate::record`], which knows nothing of the engine.

use anyhow::Result;
use bevy::prelude::*;
use gatelab_core::Direction;

use super::core_link::CoreLink;
use super::faults::FaultState;
use super::gates::Gatehouse;
use super::metrics::Metrics;
use super::model::{Agent, AgentKind, Body, Clock, Layout, PLAZA_RADIUS_M, ScenarioRes, SimSet};
use super::percentile;
use crate::record::{
    AgentDot, Counters, Frame, Header, Look, Recording, SAMPLE_MS, Stage, StageGate, StageLane, TerminalLook,
    TerminalState,
};

/// The scenery: gates, lanes, queues and walls, as a recording stores it.
pub fn stage(layout: &Layout, gatehouse: &Gatehouse) -> Stage {
    Stage {
        gates: layout
            .gate_x
            .iter()
            .zip(&layout.guard_paths)
            .zip(&layout.gate_names)
            .map(|((&x, path), name)| StageGate {
                name: name.clone(),
                x,
                guard_path_x: path.x,
                guard_path_width: path.width,
                car_gate: path.car_gate,
            })
            .collect(),
        lanes: layout
            .lanes
            .iter()
            .map(|l| StageLane {
                gate: l.gate,
                name: l.name.clone(),
                inbound: l.direction == Direction::Inbound,
                x: l.x,
                width: l.width,
                has_camera: l.has_camera,
            })
            .collect(),
        queue_names: gatehouse
            .queue_lengths(layout)
            .into_iter()
            .map(|(g, name, _, _)| format!("{} {name}", layout.gate_names[g]))
            .collect(),
        walls: layout.walls.iter().map(|(a, b)| [a.x, a.y, b.x, b.y]).collect(),
        // In a site the viewer shows all of its ground, from the buildings to the street.
        plaza_radius_m: layout.ground.as_ref().map_or(PLAZA_RADIUS_M, |ground| {
            let reach = ground.gates.iter().map(|g| {
                let (lo, hi) = g.walkable.bounds();
                lo.y.abs().max(hi.y.abs())
            });
            reach.fold(PLAZA_RADIUS_M, |r, y| r.max(y as f32))
        }),
    }
}

/// How the viewer colours `agent`.
pub fn look_of(agent: &Agent) -> Look {
    match agent.kind {
        AgentKind::Visitor => Look::Visitor,
        AgentKind::Courier | AgentKind::FoodCourier => Look::Courier,
        AgentKind::Renter => Look::Renter,
        AgentKind::Owner if agent.opt_out => Look::OptOutCard,
        AgentKind::Owner if agent.means.face => Look::EnrolledFace,
        AgentKind::Owner => Look::OtherResident,
    }
}

/// Everything [`capture_frame`] reads, and nothing it could write.
#[derive(bevy::ecs::system::SystemParam, Debug)]
pub struct SimView<'w, 's> {
    clock: Res<'w, Clock>,
    layout: Res<'w, Layout>,
    gatehouse: Res<'w, Gatehouse>,
    metrics: Res<'w, Metrics>,
    core: Res<'w, CoreLink>,
    faults: Option<Res<'w, FaultState>>,
    agents: Query<'w, 's, (&'static Agent, &'static Body)>,
}

/// The state of the simulation now, as the viewer draws it (without events).
pub fn capture_frame(view: &SimView) -> Frame {
    let now = view.clock.now_ms();
    let mut agents: Vec<AgentDot> = view
        .agents
        .iter()
        .map(|(agent, body)| AgentDot {
            serial: agent.serial,
            x: body.pos.x,
            y: body.pos.y,
            look: look_of(agent),
            tailgating: agent.tailgating,
        })
        .collect();
    // Query order depends on archetype moves; serials make frames comparable.
    agents.sort_unstable_by_key(|a| a.serial);
    let terminals = view
        .layout
        .lanes
        .iter()
        .enumerate()
        .map(|(l, lane)| {
            let camera_down = lane.has_camera && view.faults.as_ref().is_some_and(|f| f.camera_down(l));
            let matcher_down = lane.has_camera && view.faults.as_ref().is_some_and(|f| f.matcher_down(l));
            // A lapsed consent lease (cut off from the authority) refuses faces like a matcher outage.
            let lapsed = lane.has_camera && !view.core.lease_live(lane.terminal);
            let state = if view.core.open_for_all(lane.terminal) || matcher_down || lapsed {
                TerminalState::Degraded
            } else if camera_down {
                TerminalState::CameraBroken
            } else {
                TerminalState::Working
            };
            TerminalLook { state, door_open: view.core.door_open(lane.terminal) }
        })
        .collect();
    let guard_door_open = view
        .layout
        .guard_paths
        .iter()
        .map(|p| view.core.door_open(p.inbound) || view.core.door_open(p.outbound))
        .collect();
    let metrics = &*view.metrics;
    let window_ms = 15 * 60_000;
    let recent = metrics.completed.iter().filter(|c| c.at_ms + window_ms > now).count();
    let mut waits: Vec<f64> = metrics.completed.iter().map(|c| c.wait_s).collect();
    waits.sort_unstable_by(f64::total_cmp);
    let counters = Counters {
        passages: metrics.completed.len() as u64,
        throughput_per_min: recent as f64 / 15.0,
        wait_p95_s: percentile(&waits, 95.0),
        queues: view.gatehouse.queue_lengths(&view.layout).into_iter().map(|(_, _, _, n)| n).collect(),
        tailgating_detected: metrics.tailgating_attempts.saturating_sub(metrics.tailgating_undetected),
        tailgating_undetected: metrics.tailgating_undetected,
        uncontrolled_passages: view.core.counts.uncontrolled,
        consent_violations: view.core.violations_so_far() as u64,
    };
    Frame {
        t_ms: now,
        agents,
        terminals,
        guard_door_open,
        car_gate_open: view.gatehouse.car_gate_open.clone(),
        counters,
        events: Vec::new(),
    }
}

/// Take a frame from a simulation's world (the viewer's live mode).
pub fn capture_world(world: &mut World) -> Result<Frame> {
    world
        .run_system_cached(|view: SimView| capture_frame(&view))
        .map_err(|e| anyhow::anyhow!("could not read the simulation's state: {e}"))
}

/// The scenery of a simulation's world.
pub fn stage_of(world: &World) -> Stage {
    stage(world.resource::<Layout>(), world.resource::<Gatehouse>())
}

/// Added by `build_app` when a run records: samples a frame every [`SAMPLE_MS`] after each step.
/// The header's seed is the one a user re-runs with, which only the caller knows: it is left 0
/// here and named once, by [`super::Simulation::finish_as`].
#[derive(Debug)]
pub struct RecorderPlugin;

/// The recording being made.
#[derive(Resource, Debug)]
pub struct Recorder {
    pub recording: Option<Recording>,
    next_sample_ms: u64,
    /// Passage rows already put into a frame.
    rows_taken: usize,
}

impl Plugin for RecorderPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Recorder { recording: None, next_sample_ms: 0, rows_taken: 0 })
            // After the planner: the step is complete, nothing later in it changes the state.
            .add_systems(FixedUpdate, record_frame.after(SimSet::Plan));
    }
}

fn record_frame(view: SimView, scenario: Res<ScenarioRes>, mut recorder: ResMut<Recorder>) {
    let now = view.clock.now_ms();
    let recorder = &mut *recorder;
    if recorder.recording.is_none() {
        let s = &scenario.0;
        recorder.recording = Some(Recording {
            header: Header {
                scenario: s.name.clone(),
                seed: 0,
                policy: s.policy.name.clone(),
                start_ms: view.clock.start_ms,
                window_end_ms: view.clock.start_ms + view.clock.end_tick * view.clock.dt_ms,
                dt_ms: view.clock.dt_ms,
                sample_ms: SAMPLE_MS,
                stage: stage(&view.layout, &view.gatehouse),
                gatelab: env!("CARGO_PKG_VERSION").to_string(),
            },
            frames: Vec::new(),
        });
    }
    // The last step always closes the recording, so that no event is left out.
    if now < recorder.next_sample_ms && !view.clock.finished {
        return;
    }
    recorder.next_sample_ms = now - now % SAMPLE_MS + SAMPLE_MS;
    let mut frame = capture_frame(&view);
    let rows = &view.metrics.rows;
    frame.events = rows[recorder.rows_taken.min(rows.len())..].to_vec();
    recorder.rows_taken = rows.len();
    if let Some(recording) = &mut recorder.recording {
        recording.frames.push(frame);
    }
}
