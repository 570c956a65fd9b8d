//! `GuardsPlugin`: the guard's booth (registrations through a camera-less core terminal) and
//! the car-gate rule.

use std::collections::VecDeque;

use bevy::prelude::*;
use gatelab_core::Event;
use rand::RngExt;

use crate::engine::model::{Activity, AgentKind, Path, SimSet, Used};

use super::state::*;
use crate::engine::outcomes::GateOutcome;

#[derive(Debug)]
pub struct GuardsPlugin;

impl Plugin for GuardsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(FixedUpdate, run_guards.in_set(SimSet::Guards));
    }
}

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
        step.outcomes.push(GateOutcome::CarGateOpened);
        // The back half of every queue at this gate may walk over.
        let mut diverted = Vec::new();
        for l in (0..step.layout.lanes.len()).filter(|&l| step.layout.lanes[l].gate == g) {
            let queue = std::mem::take(&mut step.gatehouse.lanes[l].queue);
            let (stay, go) = split_back_half(queue, n / 2, agents);
            step.gatehouse.lanes[l].queue = stay;
            diverted.extend(go);
        }
        for group in (0..step.layout.groups.len()).filter(|&i| step.layout.groups[i].gate == g) {
            let queue = std::mem::take(&mut step.gatehouse.shared[group]);
            let (stay, go) = split_back_half(queue, n / 2, agents);
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

/// Everyone behind the first `keep_front` of `queue` walks over to the car gate on a coin flip
/// of their own.
fn split_back_half(queue: VecDeque<Entity>, keep_front: usize, agents: &mut Agents) -> (VecDeque<Entity>, Vec<Entity>) {
    let mut stay = VecDeque::with_capacity(queue.len());
    let mut go = Vec::new();
    for (k, e) in queue.into_iter().enumerate() {
        if k >= keep_front && agents.get_mut(e).is_ok_and(|(_, mut a, _, _)| a.draws.random_bool(0.5)) {
            go.push(e);
        } else {
            stay.push_back(e);
        }
    }
    (stay, go)
}

/// The guard booth: registration of visitors, couriers without a card and anyone stuck; then
/// the guard opens the side door (or the car gate) for them. One queue feeds the desks.
fn run_desk(step: &mut Step, agents: &mut Agents, g: usize) {
    for k in 0..step.gatehouse.desks[g].serving.len() {
        run_one_desk(step, agents, g, k);
    }
}

fn run_one_desk(step: &mut Step, agents: &mut Agents, g: usize, k: usize) {
    for _ in 0..32 {
        match step.gatehouse.desks[g].serving[k] {
            None => {
                let Some(e) = step.gatehouse.desks[g].queue.pop_front() else { return };
                step.gatehouse.desks[g].serving[k] = Some((e, None));
            }
            Some((e, None)) => {
                let Ok((_, agent, _, body)) = agents.get(e) else {
                    step.gatehouse.desks[g].serving[k] = None;
                    continue;
                };
                if !near(body, desk_spot(step.layout, g, k, agent.direction), 1.2) {
                    return;
                }
                let mean = if agent.kind == AgentKind::Visitor {
                    step.scenario.service.visitor_registration_s
                } else {
                    step.scenario.service.desk_help_s
                };
                let Ok((_, mut agent, _, _)) = agents.get_mut(e) else { continue };
                let ends = step.service_end(mean, step.scenario.service.cv, &mut agent.draws);
                agent.service_start_ms.get_or_insert(step.now_ms);
                step.gatehouse.desks[g].serving[k] = Some((e, Some(ends)));
            }
            Some((e, Some(ends))) => {
                if ends > step.tick {
                    step.wake_at(ends);
                    return;
                }
                step.gatehouse.desks[g].serving[k] = None;
                let Ok((_, mut agent, mut activity, _)) = agents.get_mut(e) else { continue };
                let terminal = step.layout.guard_paths[g].terminal(agent.direction);
                step.core.send(step.now(), terminal, Event::GuardOverride { credential: step.population.guards[g] });
                agent.used = Used::Guard;
                *activity = Activity::ToGuardPath { gate: g };
            }
        }
    }
}
