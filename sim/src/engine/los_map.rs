//! The level-of-service map of a gate in a site: how dense each half-metre of its ground gets
//! over the gate's busiest 15 minutes (the window its queue areas judge the level by), and
//! where the queue stood when it was longest. Sampled at the queue samples' instants (no step
//! added); only in a scenario with a `[site]`, where the ground is the planner's own.

use bevy::prelude::*;

use super::metrics::QUEUE_SAMPLE_S;
use super::model::{Activity, Agent, Body, Clock, Layout, SimSet};

/// The map's cell, m: a person's footprint is about 0.5 × 0.5 m, so a cell holds one.
pub const CELL_M: f64 = 0.5;

/// One gate's samples: per instant, the occupied cells and the queue's positions.
#[derive(Debug, Default, Clone)]
struct GateSamples {
    cells: Vec<Vec<u32>>,
    queued: Vec<Vec<[f32; 2]>>,
}

#[derive(Resource, Debug, Default)]
pub struct DensitySamples {
    gates: Vec<GateSamples>,
}

/// A gate's map: the mean density about each cell (the 1.5 m square centred on it) over its
/// busiest 15 minutes, on a grid over its ground, in the gate's frame (the gate line on y = 0), and the ground to draw it on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DensityMap {
    pub gate: String,
    /// The grid's lower-left corner, m, and its size in cells.
    pub origin: [f64; 2],
    pub cell_m: f64,
    pub nx: usize,
    pub ny: usize,
    /// Persons per m², row by row from the bottom (`ny` rows of `nx`).
    pub density: Vec<f64>,
    /// The walkable ground's outline and its holes (buildings, fence, cabinets).
    pub outline: Vec<[f64; 2]>,
    pub holes: Vec<Vec<[f64; 2]>>,
    /// Where the queued people stood when the queue was longest.
    pub queue_at_longest: Vec<[f32; 2]>,
    /// Replications averaged.
    pub replications: usize,
}

#[derive(Debug)]
pub struct LosMapPlugin;

impl Plugin for LosMapPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<DensitySamples>();
        // The grid is the site's: on open ground the system would return at once every step.
        if app.world().get_resource::<Layout>().is_none_or(|l| l.ground.is_some()) {
            app.add_systems(FixedUpdate, sample_density.in_set(SimSet::Metrics));
        }
    }
}

fn grid(layout: &Layout, gate: usize) -> Option<([f64; 2], usize, usize)> {
    let ground = layout.ground.as_ref()?;
    let (min, max) = ground.gates.get(gate)?.walkable.bounds();
    let nx = ((max.x - min.x) / CELL_M).ceil().max(1.0) as usize;
    let ny = ((max.y - min.y) / CELL_M).ceil().max(1.0) as usize;
    Some(([min.x, min.y], nx, ny))
}

fn sample_density(
    clock: Res<Clock>,
    layout: Res<Layout>,
    mut samples: ResMut<DensitySamples>,
    mut next_sample_ms: Local<u64>,
    bodies: Query<(&Agent, &Body, &Activity)>,
) {
    let Some(ground) = &layout.ground else { return };
    let now = clock.now_ms();
    if now < *next_sample_ms {
        return;
    }
    // The queue areas' instants (their system asks the clock to wake for them).
    *next_sample_ms = now - now % (QUEUE_SAMPLE_S * 1000) + QUEUE_SAMPLE_S * 1000;
    if samples.gates.len() < ground.gates.len() {
        samples.gates.resize(ground.gates.len(), GateSamples::default());
    }
    for gate in samples.gates.iter_mut() {
        gate.cells.push(Vec::new());
        gate.queued.push(Vec::new());
    }
    for (agent, body, activity) in bodies.iter() {
        let Some(([x0, y0], nx, ny)) = grid(&layout, agent.gate) else { continue };
        let i = ((f64::from(body.pos.x) - x0) / CELL_M).floor();
        let j = ((f64::from(body.pos.y) - y0) / CELL_M).floor();
        let gate = &mut samples.gates[agent.gate];
        if (0.0..nx as f64).contains(&i)
            && (0.0..ny as f64).contains(&j)
            && let Some(cells) = gate.cells.last_mut()
        {
            cells.push(j as u32 * nx as u32 + i as u32);
        }
        if matches!(activity, Activity::Queued { .. })
            && let Some(queued) = gate.queued.last_mut()
        {
            queued.push([body.pos.x, body.pos.y]);
        }
    }
}

/// The replication's maps: per gate, the busiest 15 minutes by `people` (the gate's queue
/// areas' head counts at the same instants).
pub fn maps(world: &mut World, people_per_gate: &[Vec<u32>]) -> Vec<DensityMap> {
    let layout = world.resource::<Layout>().clone();
    let Some(ground) = &layout.ground else { return Vec::new() };
    let samples = std::mem::take(&mut world.resource_mut::<DensitySamples>().gates);
    let window = (15 * 60 / QUEUE_SAMPLE_S) as usize;
    samples
        .iter()
        .enumerate()
        .filter_map(|(g, s)| {
            let (origin, nx, ny) = grid(&layout, g)?;
            let people = people_per_gate.get(g).cloned().unwrap_or_default();
            let n = s.cells.len();
            let w = window.min(n).max(1);
            // The window's start with the most people in the queue areas (the first such).
            let mut sum: u64 = people.iter().take(w).map(|&p| u64::from(p)).sum();
            let (mut best, mut start) = (sum, 0);
            for i in w..people.len().min(n) {
                sum = sum + u64::from(people[i]) - u64::from(people[i - w]);
                if sum > best {
                    (best, start) = (sum, i + 1 - w);
                }
            }
            let mut counts = vec![0u32; nx * ny];
            for cells in s.cells.iter().skip(start).take(w) {
                for &c in cells {
                    counts[c as usize] += 1;
                }
            }
            // Fruin's levels are of space per person over an area, not of one footprint: each
            // cell shows the 1.5 m square about it (3 × 3 cells).
            let smoothed: Vec<u32> = (0..nx * ny)
                .map(|k| {
                    let (i, j) = ((k % nx) as i64, (k / nx) as i64);
                    let mut sum = 0;
                    for (di, dj) in (-1..=1).flat_map(|a| (-1..=1).map(move |b| (a, b))) {
                        let (a, b) = (i + di, j + dj);
                        if (0..nx as i64).contains(&a) && (0..ny as i64).contains(&b) {
                            sum += counts[b as usize * nx + a as usize];
                        }
                    }
                    sum
                })
                .collect();
            let counts = smoothed;
            let scale = 1.0 / (w as f64 * 9.0 * CELL_M * CELL_M);
            let longest = s.queued.iter().max_by_key(|q| q.len()).cloned().unwrap_or_default();
            let walkable = &ground.gates[g].walkable;
            let ring = |r: Vec<gatelab_walk::Vec2>| r.into_iter().map(|p| [p.x, p.y]).collect::<Vec<_>>();
            Some(DensityMap {
                gate: layout.gate_names[g].clone(),
                origin,
                cell_m: CELL_M,
                nx,
                ny,
                density: counts.iter().map(|&c| f64::from(c) * scale).collect(),
                outline: ring(walkable.outline()),
                holes: walkable.holes().into_iter().map(ring).collect(),
                queue_at_longest: longest,
                replications: 1,
            })
        })
        .collect()
}

/// Cell by cell, the mean of the replications' maps of each gate; the queue drawn is the
/// longest any replication had.
pub fn mean(replications: &[&[DensityMap]]) -> Vec<DensityMap> {
    let Some(first) = replications.first() else { return Vec::new() };
    first
        .iter()
        .enumerate()
        .map(|(g, map)| {
            let same: Vec<&DensityMap> = replications.iter().filter_map(|r| r.get(g)).collect();
            let mut out = map.clone();
            out.density = (0..map.density.len())
                .map(|k| same.iter().map(|m| m.density[k]).sum::<f64>() / same.len() as f64)
                .collect();
            out.queue_at_longest = same
                .iter()
                .max_by_key(|m| m.queue_at_longest.len())
                .map(|m| m.queue_at_longest.clone())
                .unwrap_or_default();
            out.replications = same.len();
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(density: Vec<f64>, queue: usize) -> DensityMap {
        DensityMap {
            gate: "g".into(),
            origin: [0.0, 0.0],
            cell_m: CELL_M,
            nx: density.len(),
            ny: 1,
            density,
            outline: Vec::new(),
            holes: Vec::new(),
            queue_at_longest: vec![[0.0, 0.0]; queue],
            replications: 1,
        }
    }

    #[test]
    fn the_mean_is_cell_by_cell_and_keeps_the_longest_queue() {
        let a = [map(vec![0.0, 2.0, 4.0], 3)];
        let b = [map(vec![2.0, 2.0, 0.0], 7)];
        let m = mean(&[&a, &b]);
        assert_eq!(m[0].density, vec![1.0, 2.0, 2.0]);
        assert_eq!(m[0].queue_at_longest.len(), 7);
        assert_eq!(m[0].replications, 2);
    }
}
