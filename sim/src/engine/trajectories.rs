//! Trajectories a pedestrian engineer can analyse: every body's position at a fixed frame rate
//! inside a time window (ids are the agents' serials, never reused), and one row per person
//! through the gate with when they reached it, were served and passed. [`TrajectoryFiles`]
//! writes them with the geometry beside them — the walkable area, a measurement line across
//! each lane at the gate line, the queue areas — in the formats PedPy reads. The plugin only
//! reads the state.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bevy::prelude::*;
use serde::Serialize;

use super::model::{Agent, Body, Clock, Layout, SimSet};

/// Which positions to keep: every `every_ms` (a multiple of the step) from `from_ms` to `to_ms`
/// (milliseconds since midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrajectoryWindow {
    pub every_ms: u64,
    pub from_ms: u64,
    pub to_ms: u64,
}

/// One body in one frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrajectoryRow {
    pub id: u64,
    pub frame: u64,
    pub x: f32,
    pub y: f32,
}

/// One person through a gate (`agents.csv`), joined to the trajectories on `id`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentRow {
    pub id: u64,
    pub group: String,
    pub gate: String,
    /// The lane's name, or `guard-door` / `car-gate`.
    pub lane: String,
    pub direction: &'static str,
    /// When they reached the gate area, seconds since midnight.
    pub arrival_s: f64,
    pub service_start_s: f64,
    pub passage_s: f64,
    pub outcome: String,
}

/// What a run with trajectories keeps.
#[derive(Resource, Debug, Clone)]
pub struct Trajectories {
    pub window: TrajectoryWindow,
    pub rows: Vec<TrajectoryRow>,
    /// Farthest any body stood from the gate line, m (the walkable area reaches beyond it).
    pub reach_m: f32,
}

impl Trajectories {
    pub fn new(window: TrajectoryWindow) -> Trajectories {
        Trajectories { window, rows: Vec::new(), reach_m: 0.0 }
    }
}

#[derive(Debug)]
pub struct TrajectoryPlugin;

impl Plugin for TrajectoryPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(FixedUpdate, record_positions.in_set(SimSet::Metrics));
    }
}

fn record_positions(clock: Res<Clock>, bodies: Query<(&Agent, &Body)>, mut kept: ResMut<Trajectories>) {
    let now = clock.now_ms();
    let w = kept.window;
    if now < w.from_ms || now > w.to_ms || !(now - w.from_ms).is_multiple_of(w.every_ms) {
        return;
    }
    let frame = (now - w.from_ms) / w.every_ms;
    let start = kept.rows.len();
    let mut reach = kept.reach_m;
    for (agent, body) in bodies.iter() {
        reach = reach.max(body.pos.y.abs());
        kept.rows.push(TrajectoryRow { id: agent.serial, frame, x: body.pos.x, y: body.pos.y });
    }
    kept.reach_m = reach;
    // One order whatever the world's iteration order: by id within a frame.
    kept.rows[start..].sort_unstable_by_key(|r| r.id);
}

/// The trajectory files of one replication.
#[derive(Debug, Clone)]
pub struct TrajectoryFiles {
    pub frame_rate: f64,
    pub rows: Vec<TrajectoryRow>,
    pub agents: Vec<AgentRow>,
    /// The walkable area, measurement lines (one per lane, the layout's lane order) and queue
    /// areas (one per lane group), as WKT.
    pub walkable_area: String,
    pub measurement_lines: Vec<(String, String, String)>,
    pub queue_areas: Vec<String>,
}

/// A polygon's WKT from its outer ring and holes (each ring closed here).
fn polygon_wkt(outer: &[[f32; 2]], holes: &[Vec<[f32; 2]>]) -> String {
    let ring = |r: &[[f32; 2]]| {
        let mut points: Vec<String> = r.iter().map(|[x, y]| format!("{x} {y}")).collect();
        points.push(format!("{} {}", r[0][0], r[0][1]));
        format!("({})", points.join(", "))
    };
    let rings: Vec<String> = std::iter::once(ring(outer)).chain(holes.iter().map(|h| ring(h))).collect();
    format!("POLYGON ({})", rings.join(", "))
}

fn rectangle(x0: f32, y0: f32, x1: f32, y1: f32) -> Vec<[f32; 2]> {
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
}

impl TrajectoryFiles {
    /// The stylised gates stand in open ground: the walkable area is the rectangle the run used
    /// (every gate's plaza, out to the farthest body), and the cabinets between neighbouring
    /// lanes — the only ground the lane walls enclose — are its holes. In a site, the site's
    /// ground with the gate's cabinets.
    pub fn new(layout: &Layout, kept: Trajectories, agents: Vec<AgentRow>) -> TrajectoryFiles {
        let xs = layout.gate_x.iter().copied();
        let (lo, hi) = xs.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let half_width = super::model::GATE_SPACING_M / 2.0;
        let reach = (kept.reach_m + 1.0).max(super::model::PLAZA_RADIUS_M + 5.0).ceil();
        let outer = rectangle(lo - half_width, -reach, hi + half_width, reach);
        // Between neighbouring lanes of a gate (in x order: out lanes, then in lanes).
        let h = super::model::CHANNEL_HALF_LENGTH_M;
        let holes: Vec<Vec<[f32; 2]>> = layout
            .lanes
            .windows(2)
            .filter(|pair| pair[0].gate == pair[1].gate)
            .map(|pair| rectangle(pair[0].x + pair[0].width / 2.0, -h, pair[1].x - pair[1].width / 2.0, h))
            .collect();
        let measurement_lines = layout
            .lanes
            .iter()
            .map(|l| {
                let line = format!("LINESTRING ({} 0, {} 0)", l.x - l.width / 2.0, l.x + l.width / 2.0);
                (layout.gate_names[l.gate].clone(), l.name.clone(), line)
            })
            .collect();
        let queue_areas = layout
            .queue_areas
            .iter()
            .map(|a| {
                let s = Layout::approach_sign(a.direction);
                let (y0, y1) = if s > 0.0 { (a.near_m, a.far_m) } else { (-a.far_m, -a.near_m) };
                polygon_wkt(&rectangle(a.x_min, y0, a.x_max, y1), &[])
            })
            .collect();
        TrajectoryFiles {
            frame_rate: 1000.0 / kept.window.every_ms as f64,
            rows: kept.rows,
            agents,
            walkable_area: match &layout.ground {
                // In a site: its ground, in each gate's frame (two gates: a MULTIPOLYGON).
                Some(ground) => {
                    let rings = |w: &gatelab_walk::Walkable| {
                        let pts =
                            |r: Vec<gatelab_walk::Vec2>| r.iter().map(|p| [p.x as f32, p.y as f32]).collect::<Vec<_>>();
                        (pts(w.outline()), w.holes().into_iter().map(pts).collect::<Vec<_>>())
                    };
                    let polygons: Vec<String> = ground
                        .gates
                        .iter()
                        .map(|g| {
                            let (outer, holes) = rings(&g.walkable);
                            polygon_wkt(&outer, &holes)
                        })
                        .collect();
                    if polygons.len() == 1 {
                        polygons[0].clone()
                    } else {
                        let bodies: Vec<&str> = polygons.iter().map(|p| p.trim_start_matches("POLYGON ")).collect();
                        format!("MULTIPOLYGON ({})", bodies.join(", "))
                    }
                }
                None => polygon_wkt(&outer, &holes),
            },
            measurement_lines,
            queue_areas,
        }
    }

    /// Writes `trajectories.txt`, `walkable_area.wkt`, `measurement_lines.wkt` (and
    /// `measurement_lines.csv` naming each line's gate and lane), `queue_areas.wkt` and
    /// `agents.csv` into `dir`.
    pub fn write(&self, dir: &Path, description: &str) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        let path = dir.join("trajectories.txt");
        let file = fs::File::create(&path).with_context(|| format!("could not create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        let written: std::io::Result<()> = (|| {
            gatelab_walk::trajectory::write_header(&mut out, description, self.frame_rate)?;
            for r in &self.rows {
                gatelab_walk::trajectory::write_row(&mut out, r.id, r.frame, f64::from(r.x), f64::from(r.y))?;
            }
            out.flush()
        })();
        written.with_context(|| format!("could not write {}", path.display()))?;
        let mut files = vec![path];
        let lines: Vec<&str> = self.measurement_lines.iter().map(|(_, _, wkt)| wkt.as_str()).collect();
        for (name, text) in [
            ("walkable_area.wkt", self.walkable_area.clone() + "\n"),
            ("measurement_lines.wkt", lines.join("\n") + "\n"),
            ("queue_areas.wkt", self.queue_areas.join("\n") + "\n"),
        ] {
            let path = dir.join(name);
            fs::write(&path, text).with_context(|| format!("could not write {}", path.display()))?;
            files.push(path);
        }
        let path = dir.join("measurement_lines.csv");
        let mut w = csv::Writer::from_path(&path).with_context(|| format!("could not create {}", path.display()))?;
        w.write_record(["gate", "lane", "wkt"])?;
        for (gate, lane, wkt) in &self.measurement_lines {
            w.write_record([gate, lane, wkt])?;
        }
        w.flush().with_context(|| format!("could not write {}", path.display()))?;
        files.push(path);
        let path = dir.join("agents.csv");
        let mut w = csv::Writer::from_path(&path).with_context(|| format!("could not create {}", path.display()))?;
        for row in &self.agents {
            w.serialize(row).with_context(|| format!("could not write {}", path.display()))?;
        }
        w.flush().with_context(|| format!("could not write {}", path.display()))?;
        files.push(path);
        Ok(files)
    }
}
