//! Level of service: how crowded each gate's queue area gets, and when its queue spills out of
//! it. At the queue-length samples' times (every [`QUEUE_SAMPLE_S`] s) it counts everyone
//! inside each lane group's [`QueueArea`] — standing in the queue or walking through — and
//! how far past the area's far edge the queue's last place lies (in a site, along the queue's
//! line, which bends round what it meets). The replication's
//! [`QueueAreaFigures`] come from these samples ([`QueueAreaSamples::figures`]): Fruin's
//! queuing levels judge the space per person (TCQSM), over the worst 15 minutes as planners
//! do, so a single crowded instant does not decide a gate.

use bevy::prelude::*;
use gatelab_walk::QueuingLevel;

use super::metrics::QUEUE_SAMPLE_S;
use super::model::{Activity, Body, Clock, Goal, Layout, SimSet};
use crate::figures::QueueAreaFigures;

/// Samples in the 15-minute window a level of service is judged over.
const WINDOW_SAMPLES: usize = (15 * 60 / QUEUE_SAMPLE_S) as usize;

/// What one queue area held at each sample.
#[derive(Debug, Default, Clone)]
pub struct AreaSamples {
    pub t_ms: Vec<u64>,
    /// People inside the area.
    pub people: Vec<u32>,
    /// How far the queue's last place lies beyond the area's far edge, m (0: inside).
    pub spill_m: Vec<f32>,
}

/// Every queue area's samples, in the layout's lane-group order.
#[derive(Resource, Debug, Default)]
pub struct QueueAreaSamples {
    pub areas: Vec<AreaSamples>,
}

#[derive(Debug)]
pub struct ServiceLevelPlugin;

impl Plugin for ServiceLevelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<QueueAreaSamples>().add_systems(FixedUpdate, sample_queue_areas.in_set(SimSet::Metrics));
    }
}

fn sample_queue_areas(
    mut clock: ResMut<Clock>,
    layout: Res<Layout>,
    mut samples: ResMut<QueueAreaSamples>,
    mut next_sample_ms: Local<u64>,
    mut spine_exits: Local<std::collections::HashMap<usize, f64>>,
    bodies: Query<&Body>,
    queued: Query<(&Activity, &Goal)>,
) {
    let now = clock.now_ms();
    if now >= *next_sample_ms {
        // The same instants as the queue-length samples: no step is added for these.
        *next_sample_ms = now - now % (QUEUE_SAMPLE_S * 1000) + QUEUE_SAMPLE_S * 1000;
        if samples.areas.len() < layout.queue_areas.len() {
            samples.areas.resize(layout.queue_areas.len(), AreaSamples::default());
        }
        let mut people = vec![0u32; layout.queue_areas.len()];
        for body in bodies.iter() {
            for (count, area) in people.iter_mut().zip(&layout.queue_areas) {
                *count += u32::from(area.contains(body.pos));
            }
        }
        let mut spill = vec![0f32; layout.queue_areas.len()];
        for (activity, goal) in queued.iter() {
            if let Activity::Queued { group, lane } = *activity {
                let area = &layout.queue_areas[group];
                let beyond = match (&layout.ground, lane) {
                    // In a site a queue bends round what it meets: measured along its line.
                    (Some(ground), Some(l)) => {
                        let gate = &ground.gates[layout.lanes[l].gate];
                        let leaves =
                            *spine_exits.entry(l).or_insert_with(|| gate.spine_leaves(l, |p| area.contains(p)));
                        (gate.along_spine(l, goal.0) - leaves) as f32
                    }
                    _ => area.depth_of(goal.0) - area.far_m,
                };
                spill[group] = spill[group].max(beyond);
            }
        }
        for ((track, people), spill) in samples.areas.iter_mut().zip(people).zip(spill) {
            track.t_ms.push(now);
            track.people.push(people);
            track.spill_m.push(spill);
        }
    }
    let next = clock.tick_at(*next_sample_ms);
    clock.wake_at(next);
}

impl AreaSamples {
    /// The figures of an area of `area_m2` whose window starts at `start_ms`.
    pub fn figures(&self, area_m2: f64, start_ms: u64) -> QueueAreaFigures {
        let minutes = |n: usize| n as f64 * QUEUE_SAMPLE_S as f64 / 60.0;
        let density: Vec<f64> = self.people.iter().map(|&p| f64::from(p) / area_m2).collect();
        // The busiest 15 minutes' mean density (the whole run if it is shorter).
        let window = WINDOW_SAMPLES.min(density.len()).max(1);
        let mut sum: f64 = density.iter().take(window).sum();
        let mut worst = sum;
        for i in window..density.len() {
            sum += density[i] - density[i - window];
            worst = worst.max(sum);
        }
        let d_or_worse = QueuingLevel::C.max_density_per_m2();
        let first_spill = self.spill_m.iter().position(|&s| s > 0.0);
        QueueAreaFigures {
            area_m2,
            people_max: self.people.iter().copied().max().map_or(0.0, f64::from),
            density_worst_15_min_per_m2: if density.is_empty() { 0.0 } else { worst / window as f64 },
            minutes_at_d_or_worse: minutes(density.iter().filter(|&&d| d > d_or_worse).count()),
            spill_back_first_min: first_spill
                .map_or(f64::NAN, |i| self.t_ms[i].saturating_sub(start_ms) as f64 / 60_000.0),
            spill_back_longest_m: self.spill_m.iter().copied().fold(0.0, f32::max).into(),
            spill_back_minutes: minutes(self.spill_m.iter().filter(|&&s| s > 0.0).count()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(people: &[u32], spill: &[f32]) -> AreaSamples {
        AreaSamples {
            t_ms: (0..people.len() as u64).map(|i| i * QUEUE_SAMPLE_S * 1000).collect(),
            people: people.to_vec(),
            spill_m: spill.to_vec(),
        }
    }

    #[test]
    fn the_worst_fifteen_minutes_are_a_sliding_mean_and_one_crowded_instant_does_not_decide() {
        // 30 minutes of 2 people on 10 m², then one sample of 40, then 30 minutes of 2.
        let mut people = vec![2; 180];
        people.push(40);
        people.extend(vec![2; 180]);
        let f = track(&people, &vec![0.0; people.len()]).figures(10.0, 0);
        assert_eq!(f.people_max, 40.0);
        let expected = (89.0 * 2.0 + 40.0) / 90.0 / 10.0;
        assert!((f.density_worst_15_min_per_m2 - expected).abs() < 1e-12, "{f:?}");
        assert_eq!(QueuingLevel::of_density(f.density_worst_15_min_per_m2), QueuingLevel::A);
        assert_eq!(f.minutes_at_d_or_worse, 1.0 / 6.0, "one 10-s sample above 1/0.7 a m²");
        assert!(f.spill_back_first_min.is_nan() && f.spill_back_longest_m == 0.0 && f.spill_back_minutes == 0.0);
    }

    #[test]
    fn spill_back_reports_its_first_minute_longest_reach_and_duration() {
        let f = track(&[5; 10], &[0.0, 0.0, 0.0, 1.5, 3.0, 0.5, 0.0, 0.0, 2.0, 0.0]).figures(20.0, 0);
        assert_eq!(f.spill_back_first_min, 0.5, "the fourth sample, 30 s in");
        assert_eq!(f.spill_back_longest_m, 3.0);
        assert_eq!(f.spill_back_minutes, 4.0 / 6.0);
        assert_eq!(f.density_worst_15_min_per_m2, 0.25, "shorter than 15 minutes: the whole run");
    }
}
