//! `GatesPlugin`: the terminals' service — stepping up, presenting a face or a card to the
//! core terminal, retries and giving up, followers and tailgaters, the passage.

use bevy::prelude::*;
use gatelab_core::audit::DecisionReason;
use gatelab_core::{CredentialKind, Event};
use rand::RngExt;

use crate::engine::model::{Activity, Agent, AgentKind, Layout, Path, SimSet, Used};
use crate::engine::population::Population;
use gatelab_scenario::QueueDiscipline;

use super::state::*;
use crate::engine::outcomes::GateOutcome;

#[derive(Debug)]
pub struct GatesPlugin;

impl Plugin for GatesPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(FixedUpdate, run_lanes.in_set(SimSet::Lanes));
    }
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
    let retries = step.scenario.behaviour.face_retries;
    match method {
        Method::Face => {
            let Some(template) = agent.template else { return Outcome::Retry };
            let embedding = step.population.faces.probe(step.population.template(template), &mut agent.draws);
            step.outcomes.push(GateOutcome::FaceAttempt);
            let event = match step.pad {
                Some(scores) => Event::ScoredFaceProbe { embedding, liveness: scores.live(&mut agent.draws) },
                None => Event::FaceProbe { embedding },
            };
            let reply = step.core.send(now, lane.terminal, event);
            if step.pad.is_some() && super::super::attacks::judged(reply.deny) {
                step.pad_tally.live_presentations += 1;
                if reply.deny == Some(DecisionReason::SuspectedSpoof) {
                    step.pad_tally.live_refused += 1;
                }
            }
            if let Some((person, _)) = reply.grant {
                if Some(person) != agent.person {
                    step.outcomes.push(GateOutcome::FalseAccept);
                }
                agent.used = Used::Face;
                return Outcome::Granted;
            }
            step.outcomes.push(GateOutcome::Denied {
                agent: agent.clone(),
                at_ms: step.now_ms,
                lane: l,
                credential: "face",
                reason: reply.deny,
            });
            match reply.deny {
                Some(DecisionReason::NoFaceMatch) => {
                    step.outcomes.push(GateOutcome::FalseReject);
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
            step.outcomes.push(GateOutcome::Denied {
                agent: agent.clone(),
                at_ms: step.now_ms,
                lane: l,
                credential: credential_str(kind),
                reason: reply.deny,
            });
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
    // Each would-be follower flips their own coin (common random numbers).
    let flip = |agents: &mut Agents, e: Entity, chance: f64| {
        agents.get_mut(e).is_ok_and(|(_, mut a, _, _)| a.draws.random_bool(chance))
    };
    if let Some(&c) = next
        && agents.get(c).is_ok_and(|(_, _, _, body)| near(body, spot, FOLLOW_DISTANCE_M))
        && flip(agents, c, propensity)
    {
        if shared {
            step.gatehouse.shared[group].pop_front();
        } else {
            step.gatehouse.lanes[l].queue.pop_front();
        }
        follow.push(c);
    }
    if let Some(&w) = step.gatehouse.waiting[group].first()
        && flip(agents, w, DESPERATE_FOLLOW_CHANCE)
    {
        step.gatehouse.waiting[group].remove(0);
        follow.push(w);
    }
    for e in follow {
        if let Ok((_, mut agent, _, _)) = agents.get_mut(e) {
            agent.tailgating = true;
            agent.used = Used::Tailgate;
        }
        step.outcomes.push(GateOutcome::TailgateAttempt);
        start_passing(step, agents, e, l);
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
                let (mean, cv) = match method {
                    Method::Face => (s.face_s + s.face_decision_s, s.face_cv.unwrap_or(s.cv)),
                    Method::Credential(CredentialKind::IdCard, _) => (s.id_card_s, s.id_card_cv.unwrap_or(s.cv)),
                    Method::Credential(..) => (s.card_s, s.card_cv.unwrap_or(s.cv)),
                };
                let Ok((_, mut agent, _, _)) = agents.get_mut(e) else { continue };
                let ends_tick = step.service_end(mean, cv, &mut agent.draws);
                agent.service_start_ms.get_or_insert(step.now_ms);
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

fn run_lanes(
    mut commands: Commands,
    mut world: GateWorld,
    crossings: Res<crate::engine::walking::Crossings>,
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
    let exit_m = step.layout.exit_distance_m();
    world.clock.wake_at(wake);
    // Off the stage: through and far enough, or at once when nobody walks.
    for (e, agent, activity, body) in agents.iter() {
        let Activity::Leaving { .. } = *activity else { continue };
        if body.is_none_or(|b| b.pos.y * Layout::approach_sign(agent.direction) < -exit_m) {
            commands.entity(e).despawn();
        }
    }
}
