//! Faults: cameras that fail at random (exponential MTBF / MTTR per face terminal) and
//! scheduled outages — a scanner carried away for repair, the gallery unreachable. The core is
//! told through `ComponentFault` / `ComponentRecovered`; what happens next is its policy's call.

use bevy::prelude::*;
use gatelab_core::Event;
use gatelab_core::audit::Component;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

use super::core_link::CoreLink;
use super::model::{Clock, Layout, Rngs, ScenarioRes, SimSet};
use gatelab_scenario::{OutageKind, parse_clock};

#[derive(Resource, Debug, Default)]
pub struct FaultState {
    /// Per lane: the camera failed on its own.
    random_down: Vec<bool>,
    next_change_ms: Vec<Option<u64>>,
    /// Per lane: its own fault stream ([`Rngs::lane_faults`]).
    draws: Vec<ChaCha8Rng>,
    camera_reported_down: Vec<bool>,
    matcher_reported_down: Vec<bool>,
    /// Scheduled windows (from, to, kind, gate), milliseconds since midnight.
    windows: Vec<(u64, u64, OutageKind, Option<usize>)>,
    pub camera_failures: u64,
    /// Nothing can change before this time (the next failure, repair or window edge).
    next_check_ms: u64,
}

impl FaultState {
    /// Lane `lane`'s camera is down (failed, or its scanner taken away), as told to the core.
    pub fn camera_down(&self, lane: usize) -> bool {
        self.camera_reported_down.get(lane).copied().unwrap_or(false)
    }
    /// Lane `lane`'s matcher (the gallery) is unreachable, as told to the core.
    pub fn matcher_down(&self, lane: usize) -> bool {
        self.matcher_reported_down.get(lane).copied().unwrap_or(false)
    }
}

#[derive(Debug)]
pub struct FaultsPlugin;

impl Plugin for FaultsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup_faults).add_systems(FixedUpdate, apply_faults.in_set(SimSet::Faults));
    }
}

fn setup_faults(
    mut commands: Commands,
    scenario: Res<ScenarioRes>,
    layout: Res<Layout>,
    clock: Res<Clock>,
    rngs: Res<Rngs>,
) {
    let faults = &scenario.0.faults;
    let lanes = layout.lanes.len();
    let mut state = FaultState {
        random_down: vec![false; lanes],
        next_change_ms: vec![None; lanes],
        draws: layout.lanes.iter().map(|lane| rngs.lane_faults(lane)).collect(),
        camera_reported_down: vec![false; lanes],
        matcher_reported_down: vec![false; lanes],
        ..FaultState::default()
    };
    if faults.camera_mtbf_h > 0.0 {
        for (l, lane) in layout.lanes.iter().enumerate() {
            if lane.has_camera {
                let span: f64 = Exp1.sample(&mut state.draws[l]);
                let up_ms = faults.camera_mtbf_h * 3_600_000.0 * span;
                state.next_change_ms[l] = Some(clock.start_ms + up_ms as u64);
            }
        }
    }
    for o in &faults.outages {
        let minute = |t: &str| u64::from(parse_clock(t).unwrap_or(0)) * 60_000;
        let gate = o.gate.as_ref().and_then(|name| layout.gate_names.iter().position(|g| g == name));
        state.windows.push((minute(&o.from), minute(&o.to), o.kind, gate));
    }
    commands.insert_resource(state);
}

fn apply_faults(
    scenario: Res<ScenarioRes>,
    mut clock: ResMut<Clock>,
    layout: Res<Layout>,
    mut state: ResMut<FaultState>,
    mut core: ResMut<CoreLink>,
) {
    let now = clock.now_ms();
    if now < state.next_check_ms {
        let tick = clock.tick_at(state.next_check_ms);
        clock.wake_at(tick);
        return;
    }
    let faults = &scenario.0.faults;
    let state = &mut *state;
    for (l, lane) in layout.lanes.iter().enumerate() {
        if !lane.has_camera {
            continue;
        }
        while let Some(at) = state.next_change_ms[l].filter(|&at| at <= now) {
            let down = !state.random_down[l];
            state.random_down[l] = down;
            let mean_ms = if down { faults.camera_mttr_min * 60_000.0 } else { faults.camera_mtbf_h * 3_600_000.0 };
            if down {
                state.camera_failures += 1;
            }
            let span: f64 = Exp1.sample(&mut state.draws[l]);
            state.next_change_ms[l] = Some(at + (mean_ms * span).max(1.0) as u64);
        }
        let in_window = |kind: OutageKind| {
            state
                .windows
                .iter()
                .any(|&(from, to, k, gate)| k == kind && from <= now && now < to && gate.is_none_or(|g| g == lane.gate))
        };
        let camera_down = state.random_down[l] || in_window(OutageKind::ScannerRemoved);
        let matcher_down = in_window(OutageKind::GalleryOutage);
        for (down, reported, component) in [
            (camera_down, &mut state.camera_reported_down[l], Component::Camera),
            (matcher_down, &mut state.matcher_reported_down[l], Component::Matcher),
        ] {
            if down != *reported {
                *reported = down;
                let event = if down { Event::ComponentFault(component) } else { Event::ComponentRecovered(component) };
                core.send(clock.now(), lane.terminal, event);
            }
        }
    }
    let next_change = state.next_change_ms.iter().flatten().copied();
    let edges = state.windows.iter().flat_map(|&(from, to, _, _)| [from, to]).filter(|&t| t > now);
    state.next_check_ms = next_change.chain(edges).min().unwrap_or(u64::MAX);
    let tick = clock.tick_at(state.next_check_ms);
    clock.wake_at(tick);
}
