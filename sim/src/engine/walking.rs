//! Walking: a social force model (Helbing & Molnár 1995) with a driving term towards each
//! agent's goal, exponential repulsion from other people within 2 m (weaker from behind) and
//! from the lane channels' walls. Neighbours come from a uniform grid, so a step costs
//! O(n log n). It also notices who crosses the gate line, which the passage sensor reports.
//! Farther than [`PLAZA_RADIUS_M`](super::model::PLAZA_RADIUS_M) from the gate people walk their
//! path alone at free speed and are not integrated; they join the crowd when they reach it.
//!
//! In a scenario's own site ([`super::ground`]) everyone walks instead, from their building
//! entrance or street edge, in the collision-free speed model of `gatelab-walk` (the model the
//! validation cases hold): down the site's floor field while approaching, then straight to the
//! place the gate gives them (in the queue, at the terminal, through the lane), each gate's
//! people in one crowd, stepped at the model's own time step.

use std::collections::HashMap;

use bevy::math::Vec2;
use bevy::prelude::*;
use gatelab_core::Direction;
use gatelab_walk::{Crowd, ModelParams, Route};

use super::model::{Activity, Agent, Body, Clock, Goal, Layout, OnTheWay, SimSet};

/// Relaxation time towards the desired velocity, s.
const TAU_S: f32 = 0.5;
/// Person–person repulsion strength (m/s²) and range (m).
const PERSON_A: f32 = 2.0;
const PERSON_B: f32 = 0.3;
/// Sum of two body radii, m.
const BODY_DIAMETER: f32 = 0.4;
/// Wall repulsion strength and range.
const WALL_A: f32 = 5.0;
const WALL_B: f32 = 0.1;
const BODY_RADIUS: f32 = 0.2;
/// Interactions beyond this are ignored; also the grid cell size.
const CUTOFF_M: f32 = 2.0;
/// Weight of people behind (0) versus ahead (1).
const ANISOTROPY: f32 = 0.3;
/// Nobody is pushed faster than this factor of their free speed.
const MAX_SPEED_FACTOR: f32 = 1.3;

/// Agents that crossed the gate line this step, in the order they crossed, and the work done.
#[derive(Resource, Debug, Default)]
pub struct Crossings {
    pub entities: Vec<Entity>,
    /// Agent positions integrated so far (agent-steps).
    pub agent_steps: u64,
}

#[derive(Debug)]
pub struct WalkingPlugin;

impl Plugin for WalkingPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Crossings>();
        // Crowds walk a site's ground; on open ground (the stylised gates) their system would
        // return at once every step, so it is not added.
        if app.world().get_resource::<Layout>().is_none_or(|l| l.ground.is_some()) {
            app.add_systems(FixedUpdate, (enter_plaza, step_walkers, step_crowds).chain().in_set(SimSet::Walking));
        } else {
            app.add_systems(FixedUpdate, (enter_plaza, step_walkers).chain().in_set(SimSet::Walking));
        }
    }
}

#[derive(Default)]
struct Scratch {
    entities: Vec<Entity>,
    pos: Vec<Vec2>,
    vel: Vec<Vec2>,
    goal: Vec<Vec2>,
    v0: Vec<f32>,
    order: Vec<(i64, u32)>,
    next_vel: Vec<Vec2>,
}

/// Grid cell of a position. Positions stay within ±8 km (scenario validation), so shifting by
/// an offset before truncating gives floor() without a libm call, to within a millimetre.
fn cell_key(p: Vec2) -> (i32, i32) {
    const SHIFT: f32 = 4096.0;
    (((p.x / CUTOFF_M) + SHIFT) as i32 - SHIFT as i32, ((p.y / CUTOFF_M) + SHIFT) as i32 - SHIFT as i32)
}

fn pack(cx: i32, cy: i32) -> i64 {
    (i64::from(cx) << 32) | i64::from(cy as u32)
}

/// Where someone heading for `goal` walks now: a goal inside a lane channel (the terminal, the
/// line) is reached through the lane's mouth — someone beside the cabinet, pushed there by the
/// crowd, first steps out in front of it; otherwise straight. Without this, a person pressed
/// against the outside of a channel wall pulls towards the terminal through it for ever and
/// the queue behind never moves.
fn via_lane_mouth(layout: &Layout, p: Vec2, goal: Vec2) -> Vec2 {
    use super::model::CHANNEL_HALF_LENGTH_M as H;
    if goal.y.abs() >= H || p.y.abs() >= H + 0.3 {
        return goal;
    }
    let Some(lane) = layout.lanes.iter().find(|l| (goal.x - l.x).abs() <= l.width / 2.0) else { return goal };
    if (p.x - lane.x).abs() <= lane.width / 2.0 {
        return goal;
    }
    Vec2::new(lane.x, if p.y < 0.0 { -(H + 0.5) } else { H + 0.5 })
}

/// People reaching the plaza become bodies, heading for the gate at their free speed.
fn enter_plaza(
    mut commands: Commands,
    mut clock: ResMut<Clock>,
    layout: Res<Layout>,
    arriving: Query<(Entity, &OnTheWay, &Agent)>,
) {
    let mut next = u64::MAX;
    for (entity, way, agent) in arriving.iter() {
        if way.enter_tick <= clock.tick {
            let towards = Vec2::new(layout.gate_x[agent.gate], 0.0) - way.at;
            let vel = towards.normalize_or_zero() * way.v0;
            commands.entity(entity).remove::<OnTheWay>().insert((Body { pos: way.at, vel, v0: way.v0 }, Goal(way.at)));
        } else {
            next = next.min(way.enter_tick);
        }
    }
    clock.wake_at(next);
}

fn step_walkers(
    mut clock: ResMut<Clock>,
    layout: Res<Layout>,
    mut crossings: ResMut<Crossings>,
    mut walkers: Query<(Entity, &mut Body, &Goal, &mut Activity, &Agent)>,
    mut scratch: Local<Scratch>,
) {
    if layout.ground.is_some() {
        return;
    }
    crossings.entities.clear();
    let s = &mut *scratch;
    s.entities.clear();
    s.pos.clear();
    s.vel.clear();
    s.goal.clear();
    s.v0.clear();
    for (entity, body, goal, _, _) in walkers.iter() {
        s.entities.push(entity);
        s.pos.push(body.pos);
        s.vel.push(body.vel);
        s.goal.push(goal.0);
        s.v0.push(body.v0);
    }
    if s.entities.is_empty() {
        return;
    }
    // Something is walking: the next tick must run.
    clock.busy = true;
    crossings.agent_steps += s.entities.len() as u64;
    let dt = clock.dt_s();
    s.order.clear();
    s.order.extend(s.pos.iter().enumerate().map(|(i, &p)| {
        let (cx, cy) = cell_key(p);
        (pack(cx, cy), i as u32)
    }));
    s.order.sort_unstable();
    s.next_vel.clear();
    for i in 0..s.pos.len() {
        let p = s.pos[i];
        let v = s.vel[i];
        let to_goal = via_lane_mouth(&layout, p, s.goal[i]) - p;
        let distance = to_goal.length();
        // Slow down on arrival so that people stop at their spot in the queue.
        let desired_speed = s.v0[i].min(distance / TAU_S);
        let desired = if distance > 1e-3 { to_goal / distance * desired_speed } else { Vec2::ZERO };
        let mut force = (desired - v) / TAU_S;
        let heading = if v.length_squared() > 1e-6 { v.normalize() } else { to_goal.normalize_or_zero() };
        let (cx, cy) = cell_key(p);
        for dx in -1..=1 {
            let lo = pack(cx + dx, cy - 1);
            let hi = pack(cx + dx, cy + 1);
            let start = s.order.partition_point(|&(k, _)| k < lo);
            for &(k, j) in &s.order[start..] {
                if k > hi {
                    break;
                }
                let j = j as usize;
                if j == i {
                    continue;
                }
                let d = p - s.pos[j];
                let dist = d.length();
                if !(1e-6..CUTOFF_M).contains(&dist) {
                    continue;
                }
                let n = d / dist;
                let cos_phi = -n.dot(heading);
                let weight = ANISOTROPY + (1.0 - ANISOTROPY) * (1.0 + cos_phi) / 2.0;
                force += n * (PERSON_A * ((BODY_DIAMETER - dist) / PERSON_B).exp() * weight);
            }
        }
        // The lane channels are short walls across the gate line: only people near it feel them.
        let near_gate = p.y.abs() < 2.5;
        for &(a, b) in layout.walls.iter().filter(|_| near_gate) {
            let ab = b - a;
            let t = ((p - a).dot(ab) / ab.length_squared()).clamp(0.0, 1.0);
            let d = p - (a + ab * t);
            let dist = d.length();
            if dist < 1.0 && dist > 1e-6 {
                force += d / dist * (WALL_A * ((BODY_RADIUS - dist) / WALL_B).exp());
            }
        }
        let mut next = v + force * dt;
        let cap = s.v0[i] * MAX_SPEED_FACTOR;
        if next.length() > cap {
            next = next.normalize() * cap;
        }
        s.next_vel.push(next);
    }
    // Same query, nothing spawned or despawned since: iteration order matches the snapshot.
    for (i, (entity, mut body, _, mut activity, agent)) in walkers.iter_mut().enumerate() {
        let before = body.pos;
        body.vel = s.next_vel[i];
        body.pos = before + body.vel * dt;
        if let Activity::Passing { path, crossed: false } = *activity {
            // The gate line is y = 0; people cross it away from the side they came from.
            let side = Layout::approach_sign(agent.direction);
            if body.pos.y * side <= 0.0 {
                *activity = Activity::Passing { path, crossed: true };
                crossings.entities.push(entity);
            }
        }
    }
}

/// One gate's people in a site, and who is who.
struct GateCrowd {
    crowd: Crowd,
    /// The approach routes from the compound's side and the street's.
    approach: [usize; 2],
    /// By crowd id (ids are handed out in order).
    entity_of: Vec<Entity>,
    /// By crowd id: the target last aimed at and where to head for it (`None`: the floor field).
    aims: Vec<Option<(gatelab_walk::Vec2, Option<gatelab_walk::Vec2>, f64)>>,
}

/// How often people check their way to their target again (0.5 s at 0.1-s steps): a wall
/// check per person per step would cost more than the walking.
const AIM_EVERY_TICKS: u64 = 5;
/// A straight way must keep this far from every corner, m (a body's radius and a margin).
const AIM_CLEARANCE_M: f64 = 0.2;

/// Where someone heading for `target` walks now. Into or through a lane (or the guard's door):
/// first to the front of that lane's mouth on their side, then straight in. Elsewhere straight,
/// if no wall is in the way, else down their side's floor field towards the gate (`None`);
/// beyond the line (walking off) always straight.
fn aim_at(
    ground: &super::ground::GateGround,
    pos: gatelab_walk::Vec2,
    target: gatelab_walk::Vec2,
    approach_sign: f32,
    spine: Option<&[gatelab_walk::Vec2]>,
) -> Option<gatelab_walk::Vec2> {
    let h = f64::from(super::model::CHANNEL_HALF_LENGTH_M);
    let here = if pos.y < 0.0 { -1.0 } else { 1.0 };
    let there = if target.y < 0.0 { -1.0 } else { 1.0 };
    let beyond = here * f64::from(approach_sign) < 0.0;
    if beyond {
        return Some(target);
    }
    let into_lane = target.y.abs() <= h + 0.3 || here != there;
    if into_lane {
        // Inside the channel, or in front of the right one: straight in.
        let opening = ground.opening_at(target.x);
        let within = |margin: f64| opening.is_some_and(|(a, b)| (a + margin..=b - margin).contains(&pos.x));
        if (pos.y.abs() < h && within(0.0)) || within(0.15) {
            return Some(target);
        }
        // Along the cabinets' face to the front of it first, a step off the face.
        let front = gatelab_walk::Vec2::new(target.x, here * (h + 0.3));
        if pos.y.abs() < h + 0.25 && pos.y.abs() >= h {
            return Some(gatelab_walk::Vec2::new(pos.x, front.y));
        }
        if ground.walkable.clear_path(pos, front, AIM_CLEARANCE_M) {
            return Some(front);
        }
        return by_field_or(ground, pos, approach_sign, front);
    }
    if (target - pos).length() < 0.5 || ground.walkable.clear_path(pos, target, AIM_CLEARANCE_M) {
        return Some(target);
    }
    // A place in a queue round a corner: the bend of the queue's line in sight nearest to it.
    let spine = spine.unwrap_or(&[]);
    spine
        .iter()
        .copied()
        .filter(|&p| ground.walkable.clear_path(pos, p, AIM_CLEARANCE_M))
        .min_by(|a, b| (*a - target).length().total_cmp(&(*b - target).length()))
        .or_else(|| by_field_or(ground, pos, approach_sign, target))
}

/// Down the floor field (`None`) while the lanes are still a few metres off; nearer, where the
/// field ends, straight on (the walls let them slide).
fn by_field_or(
    ground: &super::ground::GateGround,
    pos: gatelab_walk::Vec2,
    approach_sign: f32,
    aim: gatelab_walk::Vec2,
) -> Option<gatelab_walk::Vec2> {
    let direction = if approach_sign < 0.0 { Direction::Outbound } else { Direction::Inbound };
    (ground.approach(direction).travel(pos) < 2.0).then_some(aim)
}

#[derive(Default)]
struct SiteCrowds {
    gates: Vec<GateCrowd>,
    /// Model steps per simulation step.
    substeps: u32,
    members: HashMap<Entity, usize>,
}

fn side(direction: Direction) -> usize {
    match direction {
        Direction::Outbound => 0,
        Direction::Inbound => 1,
    }
}

fn to_walk(p: Vec2) -> gatelab_walk::Vec2 {
    gatelab_walk::Vec2::new(f64::from(p.x), f64::from(p.y))
}

fn step_crowds(
    mut clock: ResMut<Clock>,
    layout: Res<Layout>,
    mut crossings: ResMut<Crossings>,
    mut walkers: Query<(Entity, &mut Body, &Goal, &mut Activity, &Agent)>,
    mut state: Local<SiteCrowds>,
) {
    let Some(ground) = &layout.ground else { return };
    crossings.entities.clear();
    let s = &mut *state;
    if s.gates.is_empty() {
        // The model's validated step; as many per simulation step as fit (0.1 s: two).
        let defaults = ModelParams::default();
        s.substeps = (f64::from(clock.dt_s()) / defaults.dt_s).round().max(1.0) as u32;
        let params = ModelParams { dt_s: f64::from(clock.dt_s()) / f64::from(s.substeps), ..defaults };
        s.gates = ground
            .gates
            .iter()
            .map(|g| {
                let mut crowd = Crowd::new(g.walkable.clone(), params);
                if ground.free_flow_beyond_m > 0.0 {
                    crowd = crowd.with_free_flow_beyond(ground.free_flow_beyond_m);
                }
                let approach = [
                    crowd.add_route(Route::Field(g.approach[0].clone())),
                    crowd.add_route(Route::Field(g.approach[1].clone())),
                ];
                GateCrowd { crowd, approach, entity_of: Vec::new(), aims: Vec::new() }
            })
            .collect();
    }
    // Those gone from the stage leave their crowd.
    for gate in &mut s.gates {
        let GateCrowd { crowd, entity_of, .. } = gate;
        crowd.retain(|p| {
            let e = entity_of[p.id as usize];
            let stays = walkers.contains(e);
            if !stays {
                s.members.remove(&e);
            }
            stays
        });
    }
    // Newcomers join theirs where they stand.
    for (entity, body, _, _, agent) in walkers.iter() {
        if s.members.contains_key(&entity) {
            continue;
        }
        let gate = &mut s.gates[agent.gate];
        let route = gate.approach[side(agent.direction)];
        let id = gate.crowd.add(to_walk(body.pos), f64::from(body.v0), route);
        debug_assert_eq!(id as usize, gate.entity_of.len());
        gate.entity_of.push(entity);
        s.members.insert(entity, agent.gate);
    }
    let mut moving = 0u64;
    let replan = clock.tick.is_multiple_of(AIM_EVERY_TICKS);
    for (g, gate) in s.gates.iter_mut().enumerate() {
        for i in 0..gate.crowd.persons().len() {
            let person = &gate.crowd.persons()[i];
            let (id, pos) = (person.id as usize, person.pos);
            let e = gate.entity_of[id];
            let Ok((_, _, goal, activity, agent)) = walkers.get(e) else { continue };
            let route = gate.approach[side(agent.direction)];
            // Approaching: round the obstacles to the gate; then to the place the gate gives.
            let target = (*activity != Activity::Approaching).then(|| to_walk(goal.0));
            if gate.aims.len() <= id {
                gate.aims.resize(id + 1, None);
            }
            let (aim, rank) = match (target, gate.aims[id]) {
                (None, _) => (None, f64::NAN),
                (Some(t), Some((was, aim, rank))) if was == t && !replan => (aim, rank),
                (Some(t), _) => {
                    let gate_ground = &ground.gates[g];
                    let spine = match *activity {
                        Activity::Queued { lane: Some(l), .. } => Some(gate_ground.spines[l].as_slice()),
                        Activity::AtDesk { .. } => {
                            Some(gate_ground.desk_spines[usize::from(agent.direction == Direction::Inbound)].as_slice())
                        }
                        _ => None,
                    };
                    let aim = aim_at(gate_ground, pos, t, Layout::approach_sign(agent.direction), spine);
                    // Nearer the terminal goes first: a place's walk to the lanes (0 inside
                    // them or beyond the line).
                    let depth = t.y * f64::from(Layout::approach_sign(agent.direction));
                    let inside = depth < f64::from(super::model::CHANNEL_HALF_LENGTH_M);
                    let rank = if inside { 0.0 } else { gate_ground.approach(agent.direction).travel(t) };
                    gate.aims[id] = Some((t, aim, rank));
                    (aim, rank)
                }
            };
            gate.crowd.steer(i, route, aim, rank);
        }
        for _ in 0..s.substeps {
            for (id, _) in gate.crowd.step().arrived {
                // At the lanes' mouth without having chosen (cannot happen before the decision
                // distance, but never lose anyone): they rejoin where they stand next step.
                s.members.remove(&gate.entity_of[id as usize]);
            }
        }
        moving += gate.crowd.persons().len() as u64;
        for p in gate.crowd.persons() {
            let e = gate.entity_of[p.id as usize];
            let Ok((_, mut body, _, mut activity, agent)) = walkers.get_mut(e) else { continue };
            body.pos = Vec2::new(p.pos.x as f32, p.pos.y as f32);
            body.vel = Vec2::new((p.dir.x * p.speed) as f32, (p.dir.y * p.speed) as f32);
            if let Activity::Passing { path, crossed: false } = *activity
                && body.pos.y * Layout::approach_sign(agent.direction) <= 0.0
            {
                *activity = Activity::Passing { path, crossed: true };
                crossings.entities.push(e);
            }
        }
    }
    if moving > 0 {
        clock.busy = true;
        crossings.agent_steps += moving * u64::from(s.substeps);
    }
}
