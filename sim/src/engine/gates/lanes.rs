//! `LanesPlugin`: choosing a way in (a lane, the shared queue, the booth, or waiting aside),
//! the queue-slot goals people walk to, and the queue-length samples.

use bevy::math::Vec2;
use bevy::prelude::*;
use rand::RngExt;

use crate::engine::metrics::{QUEUE_SAMPLE_S, QueueRow, clock_text, direction_str};
use crate::engine::model::{
    Activity, Agent, AgentKind, Body, Clock, DECISION_DISTANCE_M, Goal, Layout, Path, QUEUE_SPACING_M, ScenarioRes,
    SimSet, TERMINAL_OFFSET_M, Used,
};
use crate::engine::outcomes::{GateOutcome, GateOutcomes};
use gatelab_scenario::QueueDiscipline;

use super::state::*;

#[derive(Debug)]
pub struct LanesPlugin;

impl Plugin for LanesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            FixedUpdate,
            (
                choose_way_in.in_set(SimSet::Decide),
                // After the goals (which move no one between queues), before the record drains
                // this step's outcomes.
                (update_goals, sample_queues).chain().in_set(SimSet::Goals),
            ),
        );
    }
}

fn choose_way_in(
    scenario: Res<ScenarioRes>,
    clock: Res<Clock>,
    layout: Res<Layout>,
    mut gatehouse: ResMut<Gatehouse>,
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
        let decided = match (&layout.ground, body) {
            // In a site: a few metres' walk before the lanes, whichever way they came.
            (Some(ground), Some(b)) => {
                let field = ground.gates[agent.gate].approach(agent.direction);
                field.travel(gatelab_walk::Vec2::new(f64::from(b.pos.x), f64::from(b.pos.y)))
                    <= crate::engine::ground::DECISION_TRAVEL_M
            }
            _ => near(body, Vec2::new(layout.gate_x[agent.gate], sign * DECISION_DISTANCE_M), 1.5),
        };
        if !decided {
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
                    && agent.draws.random_bool(0.5);
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
                Activity::AtDesk { gate } => desk_spot(&layout, gate, 0, agent.direction),
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
            let place = match &layout.ground {
                // In a site the line bends where it meets a wall.
                Some(ground) => ground.gates[lane.gate].queue_place(l, k, QUEUE_SPACING_M),
                None => slot(terminal_spot(&layout, l), sign, k),
            };
            set(e, place);
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
        for (k, serving) in desk.serving.iter().enumerate() {
            if let Some((e, _)) = *serving
                && let Ok((agent, _, _)) = goals.get(e)
            {
                set(e, desk_spot(&layout, gate, k, agent.direction));
            }
        }
        // The queue lines up behind the first desk.
        for (k, &e) in desk.queue.iter().enumerate() {
            let Ok((agent, _, _)) = goals.get(e) else { continue };
            let sign = Layout::approach_sign(agent.direction);
            let spot = match &layout.ground {
                Some(ground) => ground.gates[gate].desk_place(agent.direction, k, QUEUE_SPACING_M),
                None => {
                    desk_spot(&layout, gate, 0, agent.direction)
                        + Vec2::new(0.0, sign * QUEUE_SPACING_M * (k + 1) as f32)
                }
            };
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

/// Every step: the longest lane queue; every QUEUE_SAMPLE_S: each queue's length, into the
/// metrics (which only record; the queues are the lanes' own).
/// Report the longest lane queue every step and every queue's length every
/// [`QUEUE_SAMPLE_S`] seconds, as an outcome the record takes.
fn sample_queues(
    mut clock: ResMut<Clock>,
    mut outcomes: ResMut<GateOutcomes>,
    mut next_sample_ms: Local<u64>,
    gatehouse: Res<Gatehouse>,
    layout: Res<Layout>,
    keep: Res<crate::engine::KeepRes>,
) {
    let now = clock.now_ms();
    let sample = now >= *next_sample_ms;
    if sample {
        *next_sample_ms = now - now % (QUEUE_SAMPLE_S * 1000) + QUEUE_SAMPLE_S * 1000;
    }
    // The rows are written only where the run keeps them (a plan keeps its first replication's).
    let lengths = (sample && (keep.0.rows || keep.0.frames)).then(|| {
        gatehouse
            .queue_lengths(&layout)
            .into_iter()
            .map(|(gate, lane, direction, queue)| QueueRow {
                time: clock_text(now),
                t_s: now as f64 / 1000.0,
                gate: layout.gate_names[gate].clone(),
                lane,
                direction: direction_str(direction),
                queue,
            })
            .collect()
    });
    outcomes.push(GateOutcome::Queues { longest: gatehouse.longest_lane_queue(), lengths });
    let next = clock.tick_at(*next_sample_ms);
    clock.wake_at(next);
}
