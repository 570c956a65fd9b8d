//! The gatehouse: lane choice and queues (`LanesPlugin`), the terminals' service and the
//! passage sensor (`GatesPlugin`), and the guard's booth and car gate (`GuardsPlugin`).
//!
//! Nothing here decides who may pass: an agent presents a face or a credential, the core
//! terminal answers, and the answer opens the door or not. What the sim adds is time: walking
//! up, presenting, retrying, giving up, queueing, following someone through.

use std::collections::VecDeque;

use bevy::ecs::system::SystemParam;
use bevy::math::Vec2;
use bevy::prelude::*;
use gatelab_core::audit::DecisionReason;
use gatelab_core::{CredentialId, CredentialKind, Direction, Event, Timestamp};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

use super::core_link::CoreLink;
use super::metrics::{Metrics, QUEUE_SAMPLE_S, QueueRow, clock_text, direction_str};
use super::model::{
    Activity, Agent, AgentKind, Body, Clock, DECISION_DISTANCE_M, Goal, Layout, Path, QUEUE_SPACING_M, Rngs,
    SENSOR_SEPARATION_MS, ScenarioRes, SimSet, TERMINAL_OFFSET_M, Used,
};
use super::population::Population;
use crate::rows::Decision;
use gatelab_scenario::{QueueDiscipline, Scenario, ServiceDistribution};

/// How far beyond the gate line people walk before they are gone.
const EXIT_DISTANCE_M: f32 = 3.0;
/// Someone this close behind a granted person can follow them through.
const FOLLOW_DISTANCE_M: f32 = 1.6;
/// Forced-face opt-outs waiting at the gate follow someone else's open door this often.
const DESPERATE_FOLLOW_CHANCE: f64 = 0.7;

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

#[derive(Debug, Clone, Default)]
pub struct Desk {
    pub queue: VecDeque<Entity>,
    pub serving: Option<(Entity, Option<u64>)>,
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
            desks: vec![Desk::default(); gates],
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
    fn longest_queue(&self, layout: &Layout, gate: usize) -> usize {
        let lanes =
            layout.lanes.iter().enumerate().filter(|(_, l)| l.gate == gate).map(|(i, _)| self.lanes[i].queue.len());
        let shared =
            layout.groups.iter().enumerate().filter(|(_, g)| g.gate == gate).map(|(i, _)| self.shared[i].len());
        lanes.chain(shared).max().unwrap_or(0)
    }
}

#[derive(Debug)]
pub struct LanesPlugin;
#[derive(Debug)]
pub struct GatesPlugin;
#[derive(Debug)]
pub struct GuardsPlugin;

impl Plugin for LanesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            FixedUpdate,
            (
                choose_way_in.in_set(SimSet::Decide),
                update_goals.in_set(SimSet::Goals),
                sample_queues.in_set(SimSet::Metrics),
            ),
        );
    }
}

impl Plugin for GatesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(FixedUpdate, run_lanes.in_set(SimSet::Lanes));
    }
}

impl Plugin for GuardsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(FixedUpdate, run_guards.in_set(SimSet::Guards));
    }
}

type Agents<'w, 's> = Query<'w, 's, (Entity, &'static mut Agent, &'static mut Activity, Option<&'static mut Body>)>;

/// Spot in front of lane `l` where the person at the head stands to use the terminal.
fn terminal_spot(layout: &Layout, l: usize) -> Vec2 {
    let lane = &layout.lanes[l];
    Vec2::new(lane.x, Layout::approach_sign(lane.direction) * TERMINAL_OFFSET_M)
}

fn desk_spot(layout: &Layout, gate: usize, direction: Direction) -> Vec2 {
    let path = &layout.guard_paths[gate];
    Vec2::new(path.x + path.width / 2.0 + 1.2, Layout::approach_sign(direction) * 2.0)
}

fn guard_path_entry(layout: &Layout, gate: usize, direction: Direction) -> Vec2 {
    let path = &layout.guard_paths[gate];
    Vec2::new(path.x, Layout::approach_sign(direction) * 1.0)
}

fn near(body: Option<&Body>, spot: Vec2, within: f32) -> bool {
    body.is_none_or(|b| b.pos.distance(spot) <= within)
}

fn draw_service(scenario: &Scenario, mean_s: f64, rng: &mut ChaCha8Rng) -> f64 {
    let s = &scenario.service;
    match s.distribution {
        ServiceDistribution::Deterministic => mean_s,
        ServiceDistribution::Exponential => {
            let e: f64 = Exp1.sample(rng);
            mean_s * e
        }
        ServiceDistribution::Lognormal => {
            let sigma2 = (1.0 + s.cv * s.cv).ln();
            let mu = mean_s.ln() - sigma2 / 2.0;
            let z: f64 = StandardNormal.sample(rng);
            (mu + sigma2.sqrt() * z).exp()
        }
    }
}

/// Ticks a service of `seconds` takes (rounded to the nearest tick, at least one).
fn service_ticks(seconds: f64, dt_ms: u64) -> u64 {
    ((seconds * 1000.0 / dt_ms as f64).round() as u64).max(1)
}

// ---- choosing a way in ----------------------------------------------------------------------

fn choose_way_in(
    scenario: Res<ScenarioRes>,
    clock: Res<Clock>,
    layout: Res<Layout>,
    mut gatehouse: ResMut<Gatehouse>,
    mut rngs: ResMut<Rngs>,
    mut agents: Query<(Entity, &mut Agent, &mut Activity, Option<&Body>)>,
) {
    let now = clock.now_ms();
    let threshold = scenario.0.policy.guard_opens_car_gate_above_queue;
    for (entity, mut agent, mut activity, body) in agents.iter_mut() {
        if *activity != Activity::Approaching || (scenario.0.behaviour.walking && body.is_none()) {
            // Not there yet (still on the path to the plaza).
            continue;
        }
        let sign = Layout::approach_sign(agent.direction);
        let decision_point = Vec2::new(layout.gate_x[agent.gate], sign * DECISION_DISTANCE_M);
        if !near(body, decision_point, 1.5) {
            continue;
        }
        agent.joined_ms = Some(now);
        let group = layout.group_of(agent.gate, agent.direction);
        let has_means = agent.means.face || agent.means.credential.is_some();
        *activity = match group {
            Some(group) if has_means => {
                let g = &layout.groups[group];
                let (len, lane) = match g.discipline {
                    QueueDiscipline::Shared => (gatehouse.shared[group].len(), None),
                    QueueDiscipline::PerLane => {
                        // The shortest queue; among equals, the nearest lane.
                        let here = body.map_or(Vec2::ZERO, |b| b.pos);
                        let (len, _, l) = g
                            .lanes
                            .iter()
                            .map(|&l| {
                                let busy = usize::from(gatehouse.lanes[l].phase != Phase::Free);
                                let metres = (terminal_spot(&layout, l).distance(here) * 10.0) as u32;
                                (gatehouse.lanes[l].queue.len() + busy, metres, l)
                            })
                            .min()
                            .unwrap_or((0, 0, g.lanes[0]));
                        (len, Some(l))
                    }
                };
                let car_gate = gatehouse.car_gate_open[agent.gate]
                    && threshold.is_some_and(|n| len > n as usize / 2)
                    && rngs.behaviour.random_bool(0.5);
                if car_gate {
                    agent.used = Used::CarGate;
                    Activity::ToGuardPath { gate: agent.gate }
                } else {
                    match lane {
                        Some(l) => gatehouse.lanes[l].queue.push_back(entity),
                        None => gatehouse.shared[group].push_back(entity),
                    }
                    Activity::Queued { group, lane }
                }
            }
            Some(group) if !matches!(agent.kind, AgentKind::Visitor | AgentKind::Courier) => {
                // No card the gate takes and no face: wait for someone else's door.
                gatehouse.waiting[group].push(entity);
                Activity::Waiting { group, since_ms: now }
            }
            _ => {
                gatehouse.desks[agent.gate].queue.push_back(entity);
                Activity::AtDesk { gate: agent.gate }
            }
        };
        // Waiting counts from here, less the time the walk to where they are going takes at
        // free speed: walking is not waiting.
        if let Some(b) = body {
            let to = match *activity {
                Activity::Queued { lane: Some(l), .. } => terminal_spot(&layout, l),
                Activity::Queued { group, lane: None } => {
                    let g = &layout.groups[group];
                    let x = g.lanes.iter().map(|&l| layout.lanes[l].x).sum::<f32>() / g.lanes.len() as f32;
                    Vec2::new(x, Layout::approach_sign(agent.direction) * TERMINAL_OFFSET_M)
                }
                Activity::AtDesk { gate } => desk_spot(&layout, gate, agent.direction),
                Activity::ToGuardPath { gate } => guard_path_entry(&layout, gate, agent.direction),
                _ => b.pos,
            };
            agent.walk_allowance_ms = (b.pos.distance(to) / b.v0 * 1000.0) as u64;
        }
    }
}

fn update_goals(layout: Res<Layout>, gatehouse: Res<Gatehouse>, mut goals: Query<(&Agent, &Activity, &mut Goal)>) {
    // People in a queue line up behind the terminal spot, one spacing apart.
    let slot = |base: Vec2, sign: f32, k: usize| base + Vec2::new(0.0, sign * QUEUE_SPACING_M * (k as f32 + 1.0));
    let mut targets: Vec<(Entity, Vec2)> = Vec::new();
    let mut set = |e: Entity, at: Vec2| targets.push((e, at));
    for (l, lane) in layout.lanes.iter().enumerate() {
        let sign = Layout::approach_sign(lane.direction);
        for (k, &e) in gatehouse.lanes[l].queue.iter().enumerate() {
            set(e, slot(terminal_spot(&layout, l), sign, k));
        }
    }
    for (g, group) in layout.groups.iter().enumerate() {
        let sign = Layout::approach_sign(group.direction);
        let xs = || group.lanes.iter().map(|&l| layout.lanes[l].x);
        let centre = xs().sum::<f32>() / group.lanes.len() as f32;
        let base = Vec2::new(centre, sign * (TERMINAL_OFFSET_M + 1.0));
        for (k, &e) in gatehouse.shared[g].iter().enumerate() {
            set(e, slot(base, sign, k));
        }
        // Those with no way in stand aside, next to the lanes.
        let edge = xs().fold(f32::INFINITY, f32::min) - 1.2;
        for (k, &e) in gatehouse.waiting[g].iter().enumerate() {
            set(e, Vec2::new(edge - 0.6 * (k % 4) as f32, sign * (2.0 + 0.6 * (k / 4) as f32)));
        }
    }
    for (gate, desk) in gatehouse.desks.iter().enumerate() {
        let queue = desk.serving.map(|(e, _)| e).into_iter().chain(desk.queue.iter().copied());
        for (k, e) in queue.enumerate() {
            let Ok((agent, _, _)) = goals.get(e) else { continue };
            let sign = Layout::approach_sign(agent.direction);
            let spot = desk_spot(&layout, gate, agent.direction) + Vec2::new(0.0, sign * QUEUE_SPACING_M * k as f32);
            set(e, spot);
        }
    }
    for &(e, at) in targets.iter() {
        if let Ok((_, _, mut goal)) = goals.get_mut(e) {
            goal.0 = at;
        }
    }
    for (agent, activity, mut goal) in goals.iter_mut() {
        let sign = Layout::approach_sign(agent.direction);
        let through = |x: f32| Vec2::new(x, -sign * (EXIT_DISTANCE_M + 2.0));
        goal.0 = match *activity {
            Activity::Approaching => Vec2::new(layout.gate_x[agent.gate], sign * DECISION_DISTANCE_M),
            Activity::AtTerminal { lane } => terminal_spot(&layout, lane),
            Activity::ToGuardPath { gate } => guard_path_entry(&layout, gate, agent.direction),
            Activity::Passing { path, .. } | Activity::Leaving { path } => match path {
                Path::Lane(l) => through(layout.lanes[l].x),
                Path::Guard(g) => through(layout.guard_paths[g].x),
            },
            Activity::Queued { .. } | Activity::Waiting { .. } | Activity::AtDesk { .. } => continue,
        };
    }
}

// ---- terminals and passages -----------------------------------------------------------------

/// Everything a gate-side step needs, borrowed from the world's resources.
struct Step<'a> {
    now_ms: u64,
    tick: u64,
    dt_ms: u64,
    walking: bool,
    scenario: &'a Scenario,
    layout: &'a Layout,
    core: &'a mut CoreLink,
    metrics: &'a mut Metrics,
    rngs: &'a mut Rngs,
    population: &'a Population,
    gatehouse: &'a mut Gatehouse,
    wake: u64,
}

impl Step<'_> {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_ms)
    }
    fn wake_at(&mut self, tick: u64) {
        self.wake = self.wake.min(tick);
    }
    /// The first tick at or after `ms`.
    fn tick_at(&self, ms: u64) -> u64 {
        self.tick + ms.saturating_sub(self.now_ms).div_ceil(self.dt_ms)
    }
    fn service_end(&mut self, mean_s: f64) -> u64 {
        let seconds = draw_service(self.scenario, mean_s, &mut self.rngs.service);
        self.tick + service_ticks(seconds, self.dt_ms)
    }
}

fn credential_str(kind: CredentialKind) -> &'static str {
    Used::Credential(kind).as_str()
}

/// The agent crosses the gate line: the passage sensor (if it can tell them apart from the
/// person before) reports to the terminal, and the passage is recorded.
fn cross(step: &mut Step, agents: &mut Agents, e: Entity) {
    let Ok((_, agent, mut activity, _)) = agents.get_mut(e) else { return };
    let Activity::Passing { path, .. } = *activity else { return };
    let now = step.now();
    let gate_name = &step.layout.gate_names[agent.gate];
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
            if agent.tailgating && !decision.is_uncontrolled() {
                step.metrics.tailgating_undetected += 1;
            }
            step.metrics.passage(&agent, step.now_ms, gate_name, &lane.name, decision);
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
            let name = if guard_path.car_gate { "car-gate" } else { "guard-door" };
            step.metrics.passage(&agent, step.now_ms, gate_name, name, decision);
        }
    }
    *activity = Activity::Leaving { path };
}

fn choose_method(agent: &Agent, has_camera: bool, population: &Population) -> Option<Method> {
    // Someone who withdrew consent since leaving home knows their face no longer opens the gate.
    let still_enrolled = agent.resident.is_none_or(|r| population.residents[r].enrolled);
    if agent.means.face && still_enrolled && has_camera && !agent.face_given_up && agent.template.is_some() {
        return Some(Method::Face);
    }
    agent.means.credential.map(|(kind, id)| Method::Credential(kind, id))
}

enum Outcome {
    Granted,
    /// The door is held open for everyone (a fault under an open-for-all policy).
    OpenForAll,
    /// Denied; the agent tries again (another face attempt or the card).
    Retry,
    /// Nothing worked: off to the guard booth.
    GiveUp,
}

/// Present face or credential to lane `l`'s terminal and read its answer.
fn present(step: &mut Step, agents: &mut Agents, e: Entity, l: usize, method: Method) -> Outcome {
    let Ok((_, mut agent, _, _)) = agents.get_mut(e) else { return Outcome::GiveUp };
    let lane = &step.layout.lanes[l];
    let now = step.now();
    let gate_name = &step.layout.gate_names[agent.gate];
    let retries = step.scenario.behaviour.face_retries;
    match method {
        Method::Face => {
            let Some(template) = agent.template else { return Outcome::Retry };
            let embedding = step.population.faces.probe(step.population.template(template), &mut step.rngs.faces);
            step.metrics.face_attempts += 1;
            let reply = step.core.send(now, lane.terminal, Event::FaceProbe { embedding });
            if let Some((person, _)) = reply.grant {
                if Some(person) != agent.person {
                    step.metrics.false_accepts += 1;
                }
                agent.used = Used::Face;
                return Outcome::Granted;
            }
            step.metrics.denied(&agent, step.now_ms, gate_name, &lane.name, "face", reply.deny);
            match reply.deny {
                Some(DecisionReason::NoFaceMatch) => {
                    step.metrics.false_rejects += 1;
                    agent.face_attempts += 1;
                    agent.face_given_up = agent.face_attempts > retries;
                }
                _ => agent.face_given_up = true,
            }
        }
        Method::Credential(kind, credential) => {
            let frame_captured = lane.has_camera;
            let reply =
                step.core.send(now, lane.terminal, Event::CredentialPresented { kind, credential, frame_captured });
            if reply.grant.is_some() {
                agent.used = Used::Credential(kind);
                return Outcome::Granted;
            }
            step.metrics.denied(&agent, step.now_ms, gate_name, &lane.name, credential_str(kind), reply.deny);
            // It did not work (expired, not accepted): they will not try it again today.
            agent.means.credential = None;
        }
    }
    if step.core.open_for_all(lane.terminal) {
        agent.used = Used::OpenForAll;
        return Outcome::OpenForAll;
    }
    if choose_method(&agent, lane.has_camera, step.population).is_some() { Outcome::Retry } else { Outcome::GiveUp }
}

/// Start `e` walking through lane `l` (granted, following someone, or through an open door).
fn start_passing(step: &mut Step, agents: &mut Agents, e: Entity, l: usize) {
    if let Ok((_, mut agent, mut activity, _)) = agents.get_mut(e) {
        agent.service_start_ms.get_or_insert(step.now_ms);
        *activity = Activity::Passing { path: Path::Lane(l), crossed: false };
    }
    if !step.walking {
        cross(step, agents, e);
    }
}

/// Someone was just granted at lane `l`: the next in line may follow them through, and so may
/// someone waiting with no way in.
fn followers(step: &mut Step, agents: &mut Agents, l: usize) {
    if !step.walking {
        return;
    }
    let lane = &step.layout.lanes[l];
    let spot = terminal_spot(step.layout, l);
    let group = lane.group;
    let shared = step.layout.groups[group].discipline == QueueDiscipline::Shared;
    let next = if shared { step.gatehouse.shared[group].front() } else { step.gatehouse.lanes[l].queue.front() };
    let propensity = step.scenario.behaviour.tailgating_propensity;
    let mut follow: Vec<Entity> = Vec::new();
    if let Some(&c) = next
        && agents.get(c).is_ok_and(|(_, _, _, body)| near(body, spot, FOLLOW_DISTANCE_M))
        && step.rngs.behaviour.random_bool(propensity)
    {
        if shared {
            step.gatehouse.shared[group].pop_front();
        } else {
            step.gatehouse.lanes[l].queue.pop_front();
        }
        follow.push(c);
    }
    if let Some(&w) = step.gatehouse.waiting[group].first()
        && step.rngs.behaviour.random_bool(DESPERATE_FOLLOW_CHANCE)
    {
        step.gatehouse.waiting[group].remove(0);
        follow.push(w);
    }
    for e in follow {
        if let Ok((_, mut agent, _, _)) = agents.get_mut(e) {
            agent.tailgating = true;
            agent.used = Used::Tailgate;
        }
        step.metrics.tailgating_attempts += 1;
        start_passing(step, agents, e, l);
    }
}

fn send_to_desk(step: &mut Step, agents: &mut Agents, e: Entity, gate: usize) {
    if let Ok((_, _, mut activity, _)) = agents.get_mut(e) {
        *activity = Activity::AtDesk { gate };
        step.gatehouse.desks[gate].queue.push_back(e);
    }
}

/// Nothing worked at the terminal: visitors and couriers go to the booth; residents step aside
/// and wait for someone else's door (or the guard, once their patience runs out).
fn give_up(step: &mut Step, agents: &mut Agents, e: Entity, l: usize) {
    let lane = &step.layout.lanes[l];
    let Ok((_, agent, mut activity, _)) = agents.get_mut(e) else { return };
    if matches!(agent.kind, AgentKind::Owner | AgentKind::Renter) {
        *activity = Activity::Waiting { group: lane.group, since_ms: step.now_ms };
        step.gatehouse.waiting[lane.group].push(e);
    } else {
        send_to_desk(step, agents, e, lane.gate);
    }
}

fn pop_next(step: &mut Step, l: usize) -> Option<Entity> {
    let group = step.layout.lanes[l].group;
    match step.layout.groups[group].discipline {
        QueueDiscipline::Shared => step.gatehouse.shared[group].pop_front(),
        QueueDiscipline::PerLane => step.gatehouse.lanes[l].queue.pop_front(),
    }
}

fn run_lane(step: &mut Step, agents: &mut Agents, l: usize) {
    let layout = step.layout;
    let lane = &layout.lanes[l];
    // Each pass makes progress; the bound only guards against a modelling bug looping forever.
    for _ in 0..32 {
        match step.gatehouse.lanes[l].phase {
            Phase::Free => {
                let Some(e) = pop_next(step, l) else { return };
                if step.core.open_for_all(lane.terminal) {
                    // Held open for everyone: walk straight through, one per step.
                    if let Ok((_, mut agent, _, _)) = agents.get_mut(e) {
                        agent.used = Used::OpenForAll;
                    }
                    step.gatehouse.lanes[l].phase = Phase::Passing(e);
                    start_passing(step, agents, e, l);
                    if step.walking {
                        return;
                    }
                    continue;
                }
                if let Ok((_, _, mut activity, _)) = agents.get_mut(e) {
                    *activity = Activity::AtTerminal { lane: l };
                }
                step.gatehouse.lanes[l].phase = Phase::Stepping(e);
            }
            Phase::Stepping(e) => {
                let Ok((_, agent, _, body)) = agents.get(e) else {
                    step.gatehouse.lanes[l].phase = Phase::Free;
                    continue;
                };
                if !near(body, terminal_spot(step.layout, l), 0.6) {
                    return;
                }
                let gate = agent.gate;
                let Some(method) = choose_method(agent, lane.has_camera, step.population) else {
                    step.gatehouse.lanes[l].phase = Phase::Free;
                    send_to_desk(step, agents, e, gate);
                    continue;
                };
                let s = &step.scenario.service;
                let mean = match method {
                    Method::Face => s.face_s + s.face_decision_s,
                    Method::Credential(CredentialKind::IdCard, _) => s.id_card_s,
                    Method::Credential(..) => s.card_s,
                };
                let ends_tick = step.service_end(mean);
                if let Ok((_, mut agent, _, _)) = agents.get_mut(e) {
                    agent.service_start_ms.get_or_insert(step.now_ms);
                }
                step.gatehouse.lanes[l].phase = Phase::Serving { agent: e, ends_tick, method };
            }
            Phase::Serving { agent: e, ends_tick, method } => {
                if ends_tick > step.tick {
                    step.wake_at(ends_tick);
                    return;
                }
                match present(step, agents, e, l, method) {
                    Outcome::Granted => {
                        step.gatehouse.lanes[l].phase = Phase::Passing(e);
                        followers(step, agents, l);
                        start_passing(step, agents, e, l);
                        if step.walking {
                            return;
                        }
                    }
                    Outcome::OpenForAll => {
                        step.gatehouse.lanes[l].phase = Phase::Passing(e);
                        start_passing(step, agents, e, l);
                        if step.walking {
                            return;
                        }
                    }
                    Outcome::Retry => step.gatehouse.lanes[l].phase = Phase::Stepping(e),
                    Outcome::GiveUp => {
                        step.gatehouse.lanes[l].phase = Phase::Free;
                        give_up(step, agents, e, l);
                    }
                }
            }
            Phase::Passing(_) => return,
        }
    }
}

/// The resources every gate-side system works on; `step()` borrows them as one [`Step`].
#[derive(SystemParam)]
struct GateWorld<'w> {
    scenario: Res<'w, ScenarioRes>,
    clock: ResMut<'w, Clock>,
    layout: Res<'w, Layout>,
    core: ResMut<'w, CoreLink>,
    metrics: ResMut<'w, Metrics>,
    rngs: ResMut<'w, Rngs>,
    population: ResMut<'w, Population>,
    gatehouse: ResMut<'w, Gatehouse>,
}

impl GateWorld<'_> {
    fn step(&mut self) -> Step<'_> {
        Step {
            now_ms: self.clock.now_ms(),
            tick: self.clock.tick,
            dt_ms: self.clock.dt_ms,
            walking: self.scenario.0.behaviour.walking,
            scenario: &self.scenario.0,
            layout: &self.layout,
            core: &mut self.core,
            metrics: &mut self.metrics,
            rngs: &mut self.rngs,
            population: &self.population,
            gatehouse: &mut self.gatehouse,
            wake: u64::MAX,
        }
    }
}

fn run_lanes(
    mut commands: Commands,
    mut world: GateWorld,
    crossings: Res<super::walking::Crossings>,
    mut agents: Agents,
) {
    let mut step = world.step();
    for &e in &crossings.entities {
        cross(&mut step, &mut agents, e);
    }
    for l in 0..step.layout.lanes.len() {
        run_lane(&mut step, &mut agents, l);
    }
    let wake = step.wake;
    world.clock.wake_at(wake);
    // Off the stage: through and far enough, or at once when nobody walks.
    let population = &mut world.population;
    for (e, agent, activity, body) in agents.iter() {
        let Activity::Leaving { .. } = *activity else { continue };
        if body.is_none_or(|b| b.pos.y * Layout::approach_sign(agent.direction) < -EXIT_DISTANCE_M) {
            if let Some(r) = agent.resident {
                population.residents[r].on_trip = false;
            }
            if let Some(c) = agent.courier {
                population.couriers[c].on_trip = false;
            }
            commands.entity(e).despawn();
        }
    }
}

// ---- the guard --------------------------------------------------------------------------------

fn run_guards(mut world: GateWorld, mut agents: Agents, mut heading: Local<Vec<(Entity, usize)>>) {
    let mut step = world.step();
    let threshold = step.scenario.policy.guard_opens_car_gate_above_queue;
    let layout = step.layout;
    for g in 0..layout.gate_x.len() {
        car_gate_rule(&mut step, &mut agents, g, threshold);
        let gate_open = step.gatehouse.car_gate_open[g];
        // People with no way in: through the car gate if it is open, else to the booth when
        // their patience runs out ("called the hotline").
        let patience_ms = (step.scenario.behaviour.no_credential_patience_s * 1000.0) as u64;
        for group in (0..layout.groups.len()).filter(|&i| layout.groups[i].gate == g) {
            let waiting = std::mem::take(&mut step.gatehouse.waiting[group]);
            let mut keep = Vec::with_capacity(waiting.len());
            for e in waiting {
                let Ok((_, mut agent, mut activity, _)) = agents.get_mut(e) else { continue };
                let Activity::Waiting { since_ms, .. } = *activity else { continue };
                if gate_open {
                    agent.used = Used::CarGate;
                    *activity = Activity::ToGuardPath { gate: g };
                } else if step.now_ms >= since_ms + patience_ms {
                    *activity = Activity::AtDesk { gate: g };
                    step.gatehouse.desks[g].queue.push_back(e);
                } else {
                    let tick = step.tick_at(since_ms + patience_ms);
                    step.wake_at(tick);
                    keep.push(e);
                }
            }
            step.gatehouse.waiting[group] = keep;
        }
        run_desk(&mut step, &mut agents, g);
    }
    // Whoever reached the guard path walks through it.
    heading.clear();
    heading.extend(agents.iter().filter_map(|(e, _, activity, _)| match activity {
        Activity::ToGuardPath { gate } => Some((e, *gate)),
        _ => None,
    }));
    for &(e, g) in heading.iter() {
        let Ok((_, agent, mut activity, body)) = agents.get_mut(e) else { continue };
        if near(body.as_deref(), guard_path_entry(layout, g, agent.direction), 1.0) {
            *activity = Activity::Passing { path: Path::Guard(g), crossed: false };
            if !step.walking {
                cross(&mut step, &mut agents, e);
            }
        }
    }
    let wake = step.wake;
    world.clock.wake_at(wake);
}

/// "Open the car gate when the queue exceeds N": the guard opens it, people at the back of the
/// queues walk over, and the guard keeps it open until the queues are down to half.
fn car_gate_rule(step: &mut Step, agents: &mut Agents, g: usize, threshold: Option<u32>) {
    let Some(n) = threshold.filter(|_| step.layout.guard_paths[g].car_gate) else { return };
    let n = n as usize;
    let longest = step.gatehouse.longest_queue(step.layout, g);
    let was_open = step.gatehouse.car_gate_open[g];
    if !was_open && longest > n {
        step.gatehouse.car_gate_open[g] = true;
        step.gatehouse.car_gate_refresh_ms[g] = step.now_ms;
        step.metrics.car_gate_openings += 1;
        // The back half of every queue at this gate may walk over.
        let mut diverted = Vec::new();
        for l in (0..step.layout.lanes.len()).filter(|&l| step.layout.lanes[l].gate == g) {
            let queue = std::mem::take(&mut step.gatehouse.lanes[l].queue);
            let (stay, go) = split_back_half(queue, n / 2, &mut step.rngs.behaviour);
            step.gatehouse.lanes[l].queue = stay;
            diverted.extend(go);
        }
        for group in (0..step.layout.groups.len()).filter(|&i| step.layout.groups[i].gate == g) {
            let queue = std::mem::take(&mut step.gatehouse.shared[group]);
            let (stay, go) = split_back_half(queue, n / 2, &mut step.rngs.behaviour);
            step.gatehouse.shared[group] = stay;
            diverted.extend(go);
        }
        for e in diverted {
            if let Ok((_, mut agent, mut activity, _)) = agents.get_mut(e) {
                agent.used = Used::CarGate;
                *activity = Activity::ToGuardPath { gate: g };
            }
        }
    } else if was_open && longest <= n / 2 {
        step.gatehouse.car_gate_open[g] = false;
    }
    if step.gatehouse.car_gate_open[g] {
        if step.now_ms >= step.gatehouse.car_gate_refresh_ms[g] {
            let path = step.layout.guard_paths[g].clone();
            let credential = step.population.guards[g];
            for terminal in [path.inbound, path.outbound] {
                step.core.send(step.now(), terminal, Event::GuardOverride { credential });
            }
            let door_open_ms = (step.scenario.gates[g].door_open_s * 1000.0) as u64;
            step.gatehouse.car_gate_refresh_ms[g] = step.now_ms + (door_open_ms / 2).max(step.dt_ms);
        }
        let tick = step.tick_at(step.gatehouse.car_gate_refresh_ms[g]);
        step.wake_at(tick);
    }
}

fn split_back_half(
    queue: VecDeque<Entity>,
    keep_front: usize,
    rng: &mut ChaCha8Rng,
) -> (VecDeque<Entity>, Vec<Entity>) {
    let mut stay = VecDeque::with_capacity(queue.len());
    let mut go = Vec::new();
    for (k, e) in queue.into_iter().enumerate() {
        if k >= keep_front && rng.random_bool(0.5) {
            go.push(e);
        } else {
            stay.push_back(e);
        }
    }
    (stay, go)
}

/// The guard booth: registration of visitors, couriers without a card and anyone stuck; then
/// the guard opens the side door (or the car gate) for them.
fn run_desk(step: &mut Step, agents: &mut Agents, g: usize) {
    for _ in 0..32 {
        match step.gatehouse.desks[g].serving {
            None => {
                let Some(e) = step.gatehouse.desks[g].queue.pop_front() else { return };
                step.gatehouse.desks[g].serving = Some((e, None));
            }
            Some((e, None)) => {
                let Ok((_, agent, _, body)) = agents.get(e) else {
                    step.gatehouse.desks[g].serving = None;
                    continue;
                };
                if !near(body, desk_spot(step.layout, g, agent.direction), 1.2) {
                    return;
                }
                let mean = if agent.kind == AgentKind::Visitor {
                    step.scenario.service.visitor_registration_s
                } else {
                    step.scenario.service.desk_help_s
                };
                let ends = step.service_end(mean);
                if let Ok((_, mut agent, _, _)) = agents.get_mut(e) {
                    agent.service_start_ms.get_or_insert(step.now_ms);
                }
                step.gatehouse.desks[g].serving = Some((e, Some(ends)));
            }
            Some((e, Some(ends))) => {
                if ends > step.tick {
                    step.wake_at(ends);
                    return;
                }
                step.gatehouse.desks[g].serving = None;
                let Ok((_, mut agent, mut activity, _)) = agents.get_mut(e) else { continue };
                let terminal = step.layout.guard_paths[g].terminal(agent.direction);
                step.core.send(step.now(), terminal, Event::GuardOverride { credential: step.population.guards[g] });
                agent.used = Used::Guard;
                *activity = Activity::ToGuardPath { gate: g };
            }
        }
    }
}

/// Every step: the longest lane queue; every QUEUE_SAMPLE_S: each queue's length, into the
/// metrics (which only record; the queues are the lanes' own).
fn sample_queues(
    mut clock: ResMut<Clock>,
    mut metrics: ResMut<Metrics>,
    gatehouse: Res<Gatehouse>,
    layout: Res<Layout>,
) {
    let now = clock.now_ms();
    metrics.queue_max = metrics.queue_max.max(gatehouse.longest_lane_queue());
    if now >= metrics.next_sample_ms {
        metrics.next_sample_ms = now - now % (QUEUE_SAMPLE_S * 1000) + QUEUE_SAMPLE_S * 1000;
        if metrics.keep_rows {
            for (gate, lane, direction, queue) in gatehouse.queue_lengths(&layout) {
                metrics.queue_rows.push(QueueRow {
                    time: clock_text(now),
                    t_s: now as f64 / 1000.0,
                    gate: layout.gate_names[gate].clone(),
                    lane,
                    direction: direction_str(direction),
                    queue,
                });
            }
        }
    }
    let next = clock.tick_at(metrics.next_sample_ms);
    clock.wake_at(next);
}
