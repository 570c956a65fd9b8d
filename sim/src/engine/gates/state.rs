//! What the gatehouse's systems share: the queues and lane phases (`Gatehouse`), the spots
//! people walk to, service times, the borrowed world of one gate-side step, and what happens
//! when someone crosses the gate line (the passage sensor and the core terminal).

use std::collections::VecDeque;

use bevy::ecs::system::SystemParam;
use bevy::math::Vec2;
use bevy::prelude::*;
use gatelab_core::{CredentialId, CredentialKind, Direction, Event, Timestamp};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

use crate::engine::attacks::{PadScores, PadTally};
use crate::engine::core_link::CoreLink;
use crate::engine::metrics::direction_str;
use crate::engine::model::{
    Activity, Agent, Body, Clock, Layout, Path, SENSOR_SEPARATION_MS, ScenarioRes, TERMINAL_OFFSET_M, Used,
};
use crate::engine::outcomes::{GateOutcome, GateOutcomes, Spot};
use crate::engine::population::Population;
use crate::rows::Decision;
use gatelab_scenario::{QueueDiscipline, Scenario, ServiceDistribution};

pub(super) use crate::engine::model::EXIT_DISTANCE_M;
/// Someone this close behind a granted person can follow them through.
pub(super) const FOLLOW_DISTANCE_M: f32 = 1.6;
/// Forced-face opt-outs waiting at the gate follow someone else's open door this often.
pub(super) const DESPERATE_FOLLOW_CHANCE: f64 = 0.7;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Face,
    Credential(CredentialKind, CredentialId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Free,
    /// Walking up to the terminal.
    Stepping(Entity),
    Serving {
        agent: Entity,
        ends_tick: u64,
        method: Method,
    },
    /// Granted and walking through; the lane is busy until they cross.
    Passing(Entity),
}

#[derive(Debug, Clone)]
pub struct LaneState {
    pub queue: VecDeque<Entity>,
    pub phase: Phase,
    pub last_sensed_ms: Option<u64>,
}

/// A gate's guard booth: one queue feeding its desks.
#[derive(Debug, Clone, Default)]
pub struct Desk {
    pub queue: VecDeque<Entity>,
    /// Per desk: who is being served (walking up: `None`; being served: the tick it ends).
    pub serving: Vec<Option<(Entity, Option<u64>)>>,
}

/// Queues, lane phases, the guard booths and the car gates.
#[derive(Resource, Debug)]
pub struct Gatehouse {
    pub lanes: Vec<LaneState>,
    /// Shared queue of each lane group (empty for per-lane queueing).
    pub shared: Vec<VecDeque<Entity>>,
    pub desks: Vec<Desk>,
    /// People with no way in, waiting for someone else's door, per lane group.
    pub waiting: Vec<Vec<Entity>>,
    pub car_gate_open: Vec<bool>,
    pub car_gate_refresh_ms: Vec<u64>,
}

impl Gatehouse {
    pub fn new(layout: &Layout) -> Gatehouse {
        let gates = layout.gate_x.len();
        Gatehouse {
            lanes: layout
                .lanes
                .iter()
                .map(|_| LaneState { queue: VecDeque::new(), phase: Phase::Free, last_sensed_ms: None })
                .collect(),
            shared: vec![VecDeque::new(); layout.groups.len()],
            desks: layout
                .guard_paths
                .iter()
                .map(|p| Desk { queue: VecDeque::new(), serving: vec![None; p.desks] })
                .collect(),
            waiting: vec![Vec::new(); layout.groups.len()],
            car_gate_open: vec![false; gates],
            car_gate_refresh_ms: vec![0; gates],
        }
    }

    /// Everyone queueing, per lane (and shared queue, and guard desk): (gate, name, direction, length).
    pub fn queue_lengths(&self, layout: &Layout) -> Vec<(usize, String, Direction, u32)> {
        let mut out = Vec::new();
        for (l, lane) in layout.lanes.iter().enumerate() {
            out.push((lane.gate, lane.name.clone(), lane.direction, self.lanes[l].queue.len() as u32));
        }
        for (g, group) in layout.groups.iter().enumerate() {
            if group.discipline == QueueDiscipline::Shared {
                let tag = direction_str(group.direction);
                out.push((group.gate, format!("{tag}-shared"), group.direction, self.shared[g].len() as u32));
            }
        }
        for (g, desk) in self.desks.iter().enumerate() {
            out.push((g, "guard-desk".to_string(), Direction::Inbound, desk.queue.len() as u32));
        }
        out
    }

    /// The longest lane or shared queue anywhere (the guard desk's queue is reported apart).
    pub fn longest_lane_queue(&self) -> u32 {
        let lanes = self.lanes.iter().map(|l| l.queue.len());
        lanes.chain(self.shared.iter().map(VecDeque::len)).max().unwrap_or(0) as u32
    }

    /// The longest queue at gate `gate`.
    pub(super) fn longest_queue(&self, layout: &Layout, gate: usize) -> usize {
        let lanes =
            layout.lanes.iter().enumerate().filter(|(_, l)| l.gate == gate).map(|(i, _)| self.lanes[i].queue.len());
        let shared =
            layout.groups.iter().enumerate().filter(|(_, g)| g.gate == gate).map(|(i, _)| self.shared[i].len());
        lanes.chain(shared).max().unwrap_or(0)
    }
}

pub(super) type Agents<'w, 's> =
    Query<'w, 's, (Entity, &'static mut Agent, &'static mut Activity, Option<&'static mut Body>)>;

/// Spot in front of lane `l` where the person at the head stands to use the terminal.
pub(crate) fn terminal_spot(layout: &Layout, l: usize) -> Vec2 {
    let lane = &layout.lanes[l];
    Vec2::new(lane.x, Layout::approach_sign(lane.direction) * TERMINAL_OFFSET_M)
}

/// Where a person stands to be served at desk `desk` of a gate's booth (desk 0 heads the queue).
pub(crate) fn desk_spot(layout: &Layout, gate: usize, desk: usize, direction: Direction) -> Vec2 {
    let path = &layout.guard_paths[gate];
    Vec2::new(path.x + path.width / 2.0 + 1.2 * (desk as f32 + 1.0), Layout::approach_sign(direction) * 2.0)
}

pub(super) fn guard_path_entry(layout: &Layout, gate: usize, direction: Direction) -> Vec2 {
    let path = &layout.guard_paths[gate];
    Vec2::new(path.x, Layout::approach_sign(direction) * 1.0)
}

/// Every place gate `g`'s people must be able to stand: its terminals, desks and the guard's
/// door on both sides (a site checks them).
pub(crate) fn spots(layout: &Layout, g: usize) -> Vec<(&'static str, Vec2)> {
    let mut out: Vec<(&'static str, Vec2)> = layout
        .lanes
        .iter()
        .enumerate()
        .filter(|(_, l)| l.gate == g)
        .map(|(i, _)| ("terminal", terminal_spot(layout, i)))
        .collect();
    for direction in [Direction::Outbound, Direction::Inbound] {
        out.push(("guard's door", guard_path_entry(layout, g, direction)));
        for desk in 0..layout.guard_paths[g].desks {
            out.push(("guard's desk", desk_spot(layout, g, desk, direction)));
        }
    }
    out
}

pub(super) fn near(body: Option<&Body>, spot: Vec2, within: f32) -> bool {
    body.is_none_or(|b| b.pos.distance(spot) <= within)
}

/// One service time of mean `mean_s` and coefficient of variation `cv` (lognormal, gamma).
pub(super) fn draw_service(scenario: &Scenario, mean_s: f64, cv: f64, rng: &mut ChaCha8Rng) -> f64 {
    let s = &scenario.service;
    match s.distribution {
        ServiceDistribution::Deterministic => mean_s,
        ServiceDistribution::Exponential => {
            let e: f64 = Exp1.sample(rng);
            mean_s * e
        }
        ServiceDistribution::Lognormal => {
            let sigma2 = (1.0 + cv * cv).ln();
            let mu = mean_s.ln() - sigma2 / 2.0;
            let z: f64 = StandardNormal.sample(rng);
            (mu + sigma2.sqrt() * z).exp()
        }
        ServiceDistribution::Gamma => {
            // Validation keeps cv in (0, 3]; shape 1/cv², scale mean·cv².
            match rand_distr::Gamma::new(1.0 / (cv * cv), mean_s * cv * cv) {
                Ok(gamma) => gamma.sample(rng),
                Err(_) => mean_s,
            }
        }
    }
}

/// Ticks a service of `seconds` takes (rounded to the nearest tick, at least one).
pub(super) fn service_ticks(seconds: f64, dt_ms: u64) -> u64 {
    ((seconds * 1000.0 / dt_ms as f64).round() as u64).max(1)
}

/// Everything a gate-side step needs, borrowed from the world's resources.
pub(super) struct Step<'a> {
    pub(super) now_ms: u64,
    pub(super) tick: u64,
    pub(super) dt_ms: u64,
    pub(super) walking: bool,
    pub(super) scenario: &'a Scenario,
    pub(super) layout: &'a Layout,
    pub(super) core: &'a mut CoreLink,
    pub(super) outcomes: &'a mut GateOutcomes,
    pub(super) population: &'a Population,
    pub(super) gatehouse: &'a mut Gatehouse,
    /// Live faces' liveness scores, when the cameras run presentation-attack detection.
    pub(super) pad: Option<&'a PadScores>,
    pub(super) pad_tally: &'a mut PadTally,
    pub(super) wake: u64,
}

impl Step<'_> {
    pub(super) fn now(&self) -> Timestamp {
        Timestamp(self.now_ms)
    }
    pub(super) fn wake_at(&mut self, tick: u64) {
        self.wake = self.wake.min(tick);
    }
    /// The first tick at or after `ms`.
    pub(super) fn tick_at(&self, ms: u64) -> u64 {
        self.tick + ms.saturating_sub(self.now_ms).div_ceil(self.dt_ms)
    }
    /// The tick a service of mean `mean_s` (and coefficient of variation `cv`) ends, drawn from
    /// the served person's own `draws`.
    pub(super) fn service_end(&self, mean_s: f64, cv: f64, draws: &mut ChaCha8Rng) -> u64 {
        let seconds = draw_service(self.scenario, mean_s, cv, draws);
        self.tick + service_ticks(seconds, self.dt_ms)
    }
}

pub(super) fn credential_str(kind: CredentialKind) -> &'static str {
    Used::Credential(kind).as_str()
}

/// The agent crosses the gate line: the passage sensor (if it can tell them apart from the
/// person before) reports to the terminal, and the passage is recorded.
pub(super) fn cross(step: &mut Step, agents: &mut Agents, e: Entity) {
    let Ok((_, agent, mut activity, _)) = agents.get_mut(e) else { return };
    let Activity::Passing { path, .. } = *activity else { return };
    let now = step.now();
    match path {
        Path::Lane(l) => {
            let lane = &step.layout.lanes[l];
            let state = &mut step.gatehouse.lanes[l];
            // Bodies closer than the sensor can separate count as one (only walking bodies).
            let masked = step.walking && state.last_sensed_ms.is_some_and(|t| step.now_ms < t + SENSOR_SEPARATION_MS);
            state.last_sensed_ms = Some(step.now_ms);
            if state.phase == Phase::Passing(e) {
                state.phase = Phase::Free;
            }
            let decision = if masked {
                Decision::Undetected
            } else {
                match step.core.send(now, lane.terminal, Event::PassageSensed).uncontrolled {
                    Some(cause) => Decision::Uncontrolled(cause),
                    None => Decision::Granted,
                }
            };
            step.outcomes.push(GateOutcome::Passed {
                agent: agent.clone(),
                at_ms: step.now_ms,
                spot: Spot::Lane(l),
                decision,
            });
        }
        Path::Guard(g) => {
            let guard_path = &step.layout.guard_paths[g];
            let terminal = guard_path.terminal(agent.direction);
            if !step.core.door_open(terminal) {
                // The guard lets the last ones through before shutting the gate.
                step.core.send(now, terminal, Event::GuardOverride { credential: step.population.guards[g] });
            }
            let decision = match step.core.send(now, terminal, Event::PassageSensed).uncontrolled {
                Some(cause) => Decision::Uncontrolled(cause),
                None => Decision::Granted,
            };
            let spot = if guard_path.car_gate { Spot::CarGate } else { Spot::GuardDoor };
            step.outcomes.push(GateOutcome::Passed { agent: agent.clone(), at_ms: step.now_ms, spot, decision });
        }
    }
    *activity = Activity::Leaving { path };
}

pub(super) fn send_to_desk(step: &mut Step, agents: &mut Agents, e: Entity, gate: usize) {
    if let Ok((_, _, mut activity, _)) = agents.get_mut(e) {
        *activity = Activity::AtDesk { gate };
        step.gatehouse.desks[gate].queue.push_back(e);
    }
}

/// The resources every gate-side system works on; `step()` borrows them as one [`Step`].
#[derive(SystemParam)]
pub(super) struct GateWorld<'w> {
    pub(super) scenario: Res<'w, ScenarioRes>,
    pub(super) clock: ResMut<'w, Clock>,
    pub(super) layout: Res<'w, Layout>,
    pub(super) core: ResMut<'w, CoreLink>,
    pub(super) outcomes: ResMut<'w, GateOutcomes>,
    pub(super) population: Res<'w, Population>,
    pub(super) gatehouse: ResMut<'w, Gatehouse>,
    pub(super) pad: Option<Res<'w, PadScores>>,
    pub(super) pad_tally: ResMut<'w, PadTally>,
}

impl GateWorld<'_> {
    pub(super) fn step(&mut self) -> Step<'_> {
        Step {
            now_ms: self.clock.now_ms(),
            tick: self.clock.tick,
            dt_ms: self.clock.dt_ms,
            walking: self.scenario.0.behaviour.walking,
            scenario: &self.scenario.0,
            layout: &self.layout,
            core: &mut self.core,
            outcomes: &mut self.outcomes,
            population: &self.population,
            gatehouse: &mut self.gatehouse,
            pad: self.pad.as_deref(),
            pad_tally: &mut self.pad_tally,
            wake: u64::MAX,
        }
    }
}
