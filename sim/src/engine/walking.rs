//! Walking: a social force model (Helbing & Molnár 1995) with a driving term towards each
//! agent's goal, exponential repulsion from other people within 2 m (weaker from behind) and
//! from the lane channels' walls. Neighbours come from a uniform grid, so a step costs
//! O(n log n). It also notices who crosses the gate line, which the passage sensor reports.
//! Farther than [`PLAZA_RADIUS_M`](super::model::PLAZA_RADIUS_M) from the gate people walk their
//! path alone at free speed and are not integrated; they join the crowd when they reach it.

use bevy::math::Vec2;
use bevy::prelude::*;

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
        app.init_resource::<Crossings>()
            .add_systems(FixedUpdate, (enter_plaza, step_walkers).chain().in_set(SimSet::Walking));
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
        let to_goal = s.goal[i] - p;
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
