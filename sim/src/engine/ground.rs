//! The compound's own site as the ground people walk on (`[site]` in the scenario).
//!
//! Each gate stands in its site gate, in a frame of its own: the gate line on y = 0 about the
//! gate's `gate_x`, the compound's side (where the building entrances are) at y < 0 — the
//! frame every other plugin already uses. So the lanes, their queues and the booth are the
//! stylised gate's, placed side by side across the drawn opening; whatever of the opening the
//! lanes and the guard's door do not use is closed (the gate's housing). People appear at the
//! site's building entrances (outbound trips, by the entrances' shares) and street edges
//! (inbound), and walk in the collision-free speed model of `gatelab-walk` — the model the
//! validation cases hold — round the site's obstacles on a floor field to the gate, then to
//! their place in the queue. Each gate's people walk in their own crowd: two gates of one site
//! do not meet.
//!
//! A [`GateGround`] depends only on the site and the gate's lanes, so it is computed once per
//! lane configuration and shared by every replication (the planner runs hundreds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow, bail};
use bevy::math::Vec2 as V;
use gatelab_core::Direction;
use gatelab_scenario::Scenario;
use gatelab_site::{Site, SourceKind};
use gatelab_walk::field::FloorField;
use gatelab_walk::{Segment, Vec2, Walkable};
use geo::{BooleanOps, LineString, MultiPolygon, Polygon};

use super::model::{CHANNEL_HALF_LENGTH_M, GATE_SPACING_M, Layout, TERMINAL_OFFSET_M};

/// Floor fields' cell, m: a fifth of a shoulder width, fine enough for lanes 0.6 m wide...
const FIELD_CELL_M: f64 = 0.2;
/// ...unless the site is so large that a field would have more cells than this: then the cell
/// grows (the estate's 330 m × 270 m: 0.3 m). The lanes are entered by aiming, not by the field,
/// which only has to lead round buildings and planters to the lanes' mouth.
const FIELD_MAX_CELLS: f64 = 1_000_000.0;
/// The grounds kept for reuse hold at most this many field cells in all (24 bytes each): a
/// plan over many lane counts of a large site would otherwise keep every one.
const CACHE_MAX_CELLS: usize = 40_000_000;
/// Inbound trips start at the street edges nearest the gate: those within this of the nearest
/// (by walk), not at another gate's pavement.
const STREET_REACH_M: f64 = 30.0;
/// The approach field's goal lies this far in front of the lane cabinets, m; so does the
/// first place of a queue.
pub const MOUTH_M: f32 = 0.3;
/// People choose their lane this far (floor-field metres) before the lanes' mouth.
pub const DECISION_TRAVEL_M: f64 = 6.5;
/// People appear within this of their source's point (two arrivals never stand on one spot).
const SOURCE_SPREAD_M: f64 = 1.0;
/// Least clearance from a wall for a place someone appears or stands at, m.
const CLEARANCE_M: f64 = 0.3;

/// One gate's ground, in the simulation's frame.
#[derive(Debug)]
pub struct GateGround {
    /// The site's walkable area, less the gate's cabinets (between and beside the lanes).
    pub walkable: Arc<Walkable>,
    /// Towards the lanes' mouth, from the compound's side ([0], outbound) and the street's ([1]).
    pub approach: [Arc<FloorField>; 2],
    /// Building entrances: cumulative share, the points drawn.
    pub homes: Vec<(f64, Vec<Vec2>)>,
    /// Street edges (inbound trips start there), the points drawn.
    pub streets: Vec<Vec<Vec2>>,
    /// What stays open across the line: each lane and the guard's door, (x0, x1), by x.
    pub openings: Vec<(f64, f64)>,
    /// By lane of the layout (empty for other gates' lanes): the line its queue stands on,
    /// from the terminal outwards.
    pub spines: Vec<Vec<Vec2>>,
    /// The booth's queue lines behind its first desk, on the compound's side ([0]) and the
    /// street's.
    pub desk_spines: [Vec<Vec2>; 2],
}

impl GateGround {
    /// The `k`-th place (0: first behind the terminal) of lane `lane`'s queue: along its spine,
    /// `spacing` apart from just outside the lane's mouth (the channel is the served person's
    /// alone), beyond the spine's end straight on.
    pub fn queue_place(&self, lane: usize, k: usize, spacing: f32) -> V {
        let first = CHANNEL_HALF_LENGTH_M + MOUTH_M - TERMINAL_OFFSET_M;
        place_on(&self.spines[lane], f64::from(first) + f64::from(spacing) * k as f64)
    }

    /// How far along lane `lane`'s queue line (from the terminal) the point of it nearest `p` is, m.
    pub fn along_spine(&self, lane: usize, p: V) -> f64 {
        let p = w(p);
        let spine = &self.spines[lane];
        let mut walked = 0.0;
        let mut best = (f64::INFINITY, 0.0);
        for (i, seg) in spine.windows(2).enumerate() {
            // The last piece goes on straight (places beyond the line's end stand there).
            let end = if i + 2 == spine.len() { seg[0] + (seg[1] - seg[0]).normalize_or_zero() * 1e4 } else { seg[1] };
            let piece = Segment::new(seg[0], end);
            let c = piece.closest(p);
            let d = (p - c).length();
            if d < best.0 {
                best = (d, walked + (c - seg[0]).length());
            }
            walked += (seg[1] - seg[0]).length();
        }
        best.1
    }

    /// How far along lane `lane`'s queue line it leaves the region `inside` (having entered it),
    /// m; where it never does within 500 m, that far.
    pub fn spine_leaves(&self, lane: usize, inside: impl Fn(V) -> bool) -> f64 {
        const STEP_M: f64 = 0.05;
        let mut entered = false;
        for k in 0..10_000 {
            let s = k as f64 * STEP_M;
            let now = inside(place_on(&self.spines[lane], s));
            if now {
                entered = true;
            } else if entered {
                return s;
            }
        }
        10_000.0 * STEP_M
    }

    /// The `k`-th place of the booth's queue on `direction`'s side, behind its first desk.
    pub fn desk_place(&self, direction: Direction, k: usize, spacing: f32) -> V {
        place_on(&self.desk_spines[usize::from(direction == Direction::Inbound)], f64::from(spacing) * (k as f64 + 1.0))
    }

    /// The opening across the line that `x` is in.
    pub fn opening_at(&self, x: f64) -> Option<(f64, f64)> {
        self.openings.iter().copied().find(|&(a, b)| (a..=b).contains(&x))
    }

    pub fn approach(&self, direction: Direction) -> &Arc<FloorField> {
        match direction {
            Direction::Outbound => &self.approach[0],
            Direction::Inbound => &self.approach[1],
        }
    }

    /// Where someone starting a trip appears: `u` (four uniform numbers in [0, 1)) picks the
    /// source by share, the point along it, and the direction and distance about it.
    pub fn origin(&self, direction: Direction, u: [f64; 4]) -> V {
        let points = match direction {
            Direction::Outbound => {
                let i = self.homes.iter().position(|(c, _)| u[0] < *c).unwrap_or(self.homes.len() - 1);
                &self.homes[i].1
            }
            Direction::Inbound => {
                &self.streets[((u[0] * self.streets.len() as f64) as usize).min(self.streets.len() - 1)]
            }
        };
        let along = along_line(points, u[1]);
        let angle = u[2] * std::f64::consts::TAU;
        let spread = along + Vec2::new(angle.cos(), angle.sin()) * (SOURCE_SPREAD_M * u[3].sqrt());
        // Not through a wall (a street edge ends at the fence).
        let base = settle(&self.walkable, along).unwrap_or(along);
        let p = settle(&self.walkable, spread).filter(|&q| self.walkable.clear_path(base, q, 0.0)).unwrap_or(base);
        V::new(p.x as f32, p.y as f32)
    }
}

/// The site the scenario walks in.
#[derive(Debug)]
pub struct Ground {
    pub file: String,
    pub gates: Vec<Arc<GateGround>>,
    /// `site.free_flow_beyond_m` of the scenario.
    pub free_flow_beyond_m: f64,
}

/// The point `left` metres along a queue's line (beyond its end, straight on).
fn place_on(spine: &[Vec2], mut left: f64) -> V {
    for (i, w) in spine.windows(2).enumerate() {
        let len = (w[1] - w[0]).length();
        if left <= len || i + 2 == spine.len() {
            return v(w[0] + (w[1] - w[0]).normalize_or_zero() * left);
        }
        left -= len;
    }
    v(spine[0])
}

/// A point at fraction `t` of a polyline's length (a point source: that point).
fn along_line(points: &[Vec2], t: f64) -> Vec2 {
    let total: f64 = points.windows(2).map(|w| (w[1] - w[0]).length()).sum();
    let mut left = t.clamp(0.0, 1.0) * total;
    for w in points.windows(2) {
        let len = (w[1] - w[0]).length();
        if left <= len && len > 0.0 {
            return w[0] + (w[1] - w[0]) * (left / len);
        }
        left -= len;
    }
    points.last().copied().unwrap_or(Vec2::ZERO)
}

/// A queue's line from `start` (the terminal): straight `back` while there is room to stand,
/// then along the obstacle it met, towards the side (`side_x`, ±1) people come from.
fn spine(area: &Walkable, start: Vec2, back: Vec2, side_x: f64) -> Vec<Vec2> {
    const STEP_M: f64 = 0.1;
    const ROOM_M: f64 = 0.25;
    let roomy = |q: Vec2| area.contains(q) && area.wall_distance(q) >= ROOM_M;
    let run = |from: Vec2, dir: Vec2| {
        // Through the lane channel first: its walls are nearer than the room asked for elsewhere.
        let mut p = from;
        let mut n = 0;
        while n < 2000 {
            let q = p + dir * STEP_M;
            if !area.contains(q) || (n > 20 && !roomy(q)) {
                break;
            }
            p = q;
            n += 1;
        }
        p
    };
    let bend = run(start, back);
    let side = Vec2::new(side_x, 0.0);
    let end = run(bend, side);
    let mut line = vec![start, bend];
    if (end - bend).length() > 0.05 {
        line.push(end);
    } else {
        line.push(bend + back);
    }
    line
}

/// The nearest place to `p` inside the area with room to stand (drawn entrances sit on a
/// building's wall; a street edge on the area's edge).
fn settle(area: &Walkable, p: Vec2) -> Option<Vec2> {
    let roomy = |q: Vec2| area.contains(q) && area.wall_distance(q) >= CLEARANCE_M;
    if roomy(p) {
        return Some(p);
    }
    (1..=30).flat_map(|r| (0..24).map(move |k| (r, k))).find_map(|(r, k)| {
        let angle = f64::from(k) * std::f64::consts::TAU / 24.0;
        let q = p + Vec2::new(angle.cos(), angle.sin()) * (0.1 * f64::from(r));
        roomy(q).then_some(q)
    })
}

/// Grounds computed so far, by site, gate and lanes, oldest first.
#[derive(Default)]
struct GroundCache {
    grounds: HashMap<String, Arc<GateGround>>,
    order: std::collections::VecDeque<String>,
}

impl GroundCache {
    fn cells(ground: &GateGround) -> usize {
        ground.approach.iter().map(|f| f.cells()).sum()
    }

    /// Keeps `ground`, dropping the oldest while the kept ones' fields exceed the budget
    /// (results never depend on what is kept: a dropped ground is computed again alike).
    fn insert(&mut self, key: String, ground: Arc<GateGround>) {
        self.order.push_back(key.clone());
        self.grounds.insert(key, ground);
        let mut total: usize = self.grounds.values().map(|g| Self::cells(g)).sum();
        while total > CACHE_MAX_CELLS && self.order.len() > 1 {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some(dropped) = self.grounds.remove(&oldest) {
                total -= Self::cells(&dropped);
            }
        }
    }
}

fn cache() -> &'static Mutex<GroundCache> {
    static CACHE: std::sync::OnceLock<Mutex<GroundCache>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn sites() -> &'static Mutex<HashMap<std::path::PathBuf, Arc<Site>>> {
    static SITES: std::sync::OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<Site>>>> = std::sync::OnceLock::new();
    SITES.get_or_init(Default::default)
}

/// Reads and checks the scenario's site (once per process and file).
pub fn load_site(scenario: &Scenario) -> Result<Option<Arc<Site>>> {
    let Some(spec) = &scenario.site else { return Ok(None) };
    let path = spec.path.clone().unwrap_or_else(|| spec.file.clone().into());
    if let Some(site) = sites().lock().map_err(|_| anyhow!("the site cache was poisoned"))?.get(&path) {
        return Ok(Some(site.clone()));
    }
    let site = Arc::new(
        gatelab_site::load(&path)
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("site.file = {:?} in scenario {:?}", spec.file, scenario.name))?,
    );
    sites().lock().map_err(|_| anyhow!("the site cache was poisoned"))?.insert(path, site.clone());
    Ok(Some(site))
}

/// Places the scenario's gates in its site: the layout's gates spaced apart so their frames do
/// not overlap, each gate's lanes and guard's door centred in its opening, and the ground
/// people walk on. A scenario without a site keeps the stylised layout untouched.
pub fn place(mut layout: Layout, scenario: &Scenario) -> Result<Layout> {
    let Some(site) = load_site(scenario)? else { return Ok(layout) };
    let (min, max) = site.walkable.bounds();
    let extent = (max - min).length() as f32;
    let spacing = GATE_SPACING_M.max(2.0 * extent + 20.0);
    let mut gates = Vec::new();
    for (g, spec) in scenario.gates.iter().enumerate() {
        let name = spec.site_gate.clone().unwrap_or_else(|| spec.name.clone());
        let Some(site_gate) = site.gates.iter().find(|s| s.name == name) else {
            let names: Vec<&str> = site.gates.iter().map(|s| s.name.as_str()).collect();
            bail!(
                "gates[{g}] ({:?}): the site {} has no gate {name:?} (it has {}) — name one of them in \
                 `site_gate`, or draw the gate on layer gate:{name}",
                spec.name,
                site.file,
                names.join(", ")
            );
        };
        let centre = g as f32 * spacing;
        let dx = centre - layout.gate_x[g];
        shift_gate(&mut layout, g, dx);
        // Centre what crosses the line (the lanes and the guard's door) in the opening.
        let (lo, hi) = crossing_span(&layout, g);
        shift_gate(&mut layout, g, centre - (lo + hi) / 2.0);
        // The opening's middle stays the frame's origin on the line.
        layout.gate_x[g] = centre;
        let key = format!(
            "{}|{name}|{centre}|{}|{}|{}|{}",
            site.file, spec.lanes_out, spec.lanes_in, spec.lane_width_m, spec.car_gate
        );
        let cached = cache().lock().map_err(|_| anyhow!("the ground cache was poisoned"))?.grounds.get(&key).cloned();
        let ground = match cached {
            Some(ground) => ground,
            None => {
                let ground = Arc::new(
                    gate_ground(&site, &site_gate.line, &layout, g)
                        .with_context(|| format!("gates[{g}] ({:?}) in site {}", spec.name, site.file))?,
                );
                cache().lock().map_err(|_| anyhow!("the ground cache was poisoned"))?.insert(key, ground.clone());
                ground
            }
        };
        gates.push(ground);
    }
    // The viewer draws the ground: its walls, and the cabinets' (the lanes' own walls stay).
    for ground in &gates {
        layout.walls.extend(ground.walkable.walls().iter().map(|s| (v(s.a), v(s.b))));
    }
    let free_flow_beyond_m = scenario.site.as_ref().map_or(0.0, |s| s.free_flow_beyond_m);
    layout.ground = Some(Arc::new(Ground { file: site.file.clone(), gates, free_flow_beyond_m }));
    Ok(layout)
}

fn v(p: Vec2) -> V {
    V::new(p.x as f32, p.y as f32)
}

fn w(p: V) -> Vec2 {
    Vec2::new(f64::from(p.x), f64::from(p.y))
}

/// Moves everything of gate `g` along the gate line by `dx`.
fn shift_gate(layout: &mut Layout, g: usize, dx: f32) {
    layout.gate_x[g] += dx;
    for lane in layout.lanes.iter_mut().filter(|l| l.gate == g) {
        lane.x += dx;
    }
    for path in layout.guard_paths.iter_mut().filter(|p| p.gate == g) {
        path.x += dx;
    }
    for area in layout.queue_areas.iter_mut().filter(|a| a.gate == g) {
        area.x_min += dx;
        area.x_max += dx;
    }
    // The lanes' walls were made in gate order, two per lane.
    let first = layout.lanes.iter().position(|l| l.gate == g).unwrap_or(0);
    let count = layout.lanes.iter().filter(|l| l.gate == g).count();
    for wall in layout.walls.iter_mut().skip(2 * first).take(2 * count) {
        wall.0.x += dx;
        wall.1.x += dx;
    }
}

/// What of gate `g` crosses the line, from the first lane's edge to the guard's door's.
fn crossing_span(layout: &Layout, g: usize) -> (f32, f32) {
    let lanes = layout.lanes.iter().filter(|l| l.gate == g).map(|l| (l.x - l.width / 2.0, l.x + l.width / 2.0));
    let doors = layout.guard_paths.iter().filter(|p| p.gate == g).map(|p| (p.x - p.width / 2.0, p.x + p.width / 2.0));
    lanes.chain(doors).fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)))
}

fn ring(points: &[Vec2]) -> LineString<f64> {
    LineString::from(points.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>())
}

/// The gate's ground: the site turned into the gate's frame, the opening closed beside the
/// lanes, the approach fields, and the sources.
fn gate_ground(site: &Site, line: &Segment, layout: &Layout, g: usize) -> Result<GateGround> {
    let residents: Vec<_> = site.sources.iter().filter(|s| matches!(s.kind, SourceKind::Residents { .. })).collect();
    let streets: Vec<_> = site.sources.iter().filter(|s| matches!(s.kind, SourceKind::Street)).collect();
    if residents.is_empty() || streets.is_empty() {
        bail!(
            "the site needs a building entrance (layer source:<name>, where outbound trips start) and a street \
             edge (layer street:<name>, where inbound trips start); it has {} and {}",
            residents.len(),
            streets.len()
        );
    }
    // The frame: the opening's middle at (gate_x, 0), the compound's side at y < 0.
    let mid = (line.a + line.b) * 0.5;
    let along = (line.b - line.a).normalize_or_zero();
    let homes_at = residents.iter().fold(Vec2::ZERO, |acc, s| acc + s.at) * (1.0 / residents.len() as f64);
    let left = along.cross(homes_at - mid) > 0.0;
    let y_axis = if left { Vec2::new(along.y, -along.x) } else { along.perp() };
    let x_axis = Vec2::new(y_axis.y, -y_axis.x);
    let gate_x = f64::from(layout.gate_x[g]);
    let to_frame = |p: Vec2| Vec2::new((p - mid).dot(x_axis) + gate_x, (p - mid).dot(y_axis));
    let exterior: Vec<Vec2> = site.walkable.outline().into_iter().map(to_frame).collect();
    let holes: Vec<LineString<f64>> =
        site.walkable.holes().iter().map(|h| ring(&h.iter().map(|&p| to_frame(p)).collect::<Vec<_>>())).collect();
    let turned = Polygon::new(ring(&exterior), holes);
    // Close the opening beside the lanes and the door: the gate's housing.
    let half = (line.b - line.a).length() / 2.0;
    let (lo, hi) = crossing_span(layout, g);
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    if lo < gate_x - half - 0.01 || hi > gate_x + half + 0.01 {
        bail!(
            "its lanes and the guard's door need {:.1} m across the line, but the site's opening is {:.1} m — \
             draw a wider opening, or plan fewer or narrower lanes (a car gate takes 4 m, a side door 1 m)",
            hi - lo,
            2.0 * half
        );
    }
    let mut open: Vec<(f64, f64)> = layout
        .lanes
        .iter()
        .filter(|l| l.gate == g)
        .map(|l| (l.x - l.width / 2.0, l.x + l.width / 2.0))
        .chain(layout.guard_paths.iter().filter(|p| p.gate == g).map(|p| (p.x - p.width / 2.0, p.x + p.width / 2.0)))
        .map(|(a, b)| (f64::from(a), f64::from(b)))
        .collect();
    open.sort_by(|a, b| a.0.total_cmp(&b.0));
    let h = f64::from(CHANNEL_HALF_LENGTH_M);
    let mut cabinets = Vec::new();
    let mut x = gate_x - half - 0.05;
    for &(a, b) in open.iter().chain(std::iter::once(&(gate_x + half + 0.05, gate_x + half + 0.05))) {
        if a - x > 1e-3 {
            cabinets.push([x as f32, -h as f32, a as f32, h as f32]);
        }
        x = x.max(b);
    }
    let closed = MultiPolygon::new(
        cabinets
            .iter()
            .map(|&[x0, y0, x1, y1]| {
                let (x0, y0, x1, y1) = (f64::from(x0), f64::from(y0), f64::from(x1), f64::from(y1));
                Polygon::new(
                    ring(&[Vec2::new(x0, y0), Vec2::new(x1, y0), Vec2::new(x1, y1), Vec2::new(x0, y1)]),
                    vec![],
                )
            })
            .collect(),
    );
    let pieces = MultiPolygon::new(vec![turned]).difference(&closed);
    let piece = pieces
        .0
        .into_iter()
        .max_by(|a, b| geo::Area::unsigned_area(a).total_cmp(&geo::Area::unsigned_area(b)))
        .ok_or_else(|| anyhow!("nothing of the site is left walkable once the gate's cabinets stand in it"))?;
    let walkable = Arc::new(Walkable::new(piece).map_err(|e| anyhow!("the site with the gate in it: {e}"))?);
    // The lanes' mouths: across everything that crosses the line, just in front of the cabinets.
    let mouth = |sign: f64| {
        let y = sign * (h + f64::from(MOUTH_M));
        vec![Segment::new(Vec2::new(lo, y), Vec2::new(hi, y))]
    };
    let (min, max) = walkable.bounds();
    let cell = FIELD_CELL_M.max(((max.x - min.x) * (max.y - min.y) / FIELD_MAX_CELLS).sqrt());
    let field = |name: &str, sign: f64| {
        FloorField::new(&walkable, name, &mouth(sign), cell).map(Arc::new).map_err(|e| {
            anyhow!("the approach from the {name}: {e} — is the opening drawn on the walkable area's edge?")
        })
    };
    let approach = [field("compound", -1.0)?, field("street", 1.0)?];
    let mut cumulative = 0.0;
    let total: f64 = residents
        .iter()
        .map(|s| match s.kind {
            SourceKind::Residents { share } => share,
            SourceKind::Street => 0.0,
        })
        .sum();
    let homes = residents
        .iter()
        .map(|s| {
            if let SourceKind::Residents { share } = s.kind {
                cumulative += share / total.max(f64::MIN_POSITIVE);
            }
            (cumulative, s.points.iter().map(|&p| to_frame(p)).collect())
        })
        .collect();
    let streets: Vec<Vec<Vec2>> = streets.iter().map(|s| s.points.iter().map(|&p| to_frame(p)).collect()).collect();
    // Visitors for this gate come along its own pavement, not from another gate's street.
    let walk_from = |points: &Vec<Vec2>| {
        let at = along_line(points, 0.5);
        settle(&walkable, at).map_or(f64::INFINITY, |p| approach[1].travel(p))
    };
    let nearest = streets.iter().map(walk_from).fold(f64::INFINITY, f64::min);
    let streets: Vec<Vec<Vec2>> = if nearest.is_finite() {
        streets.into_iter().filter(|p| walk_from(p) <= nearest + STREET_REACH_M).collect()
    } else {
        streets
    };
    let spines = layout
        .lanes
        .iter()
        .enumerate()
        .map(|(l, lane)| {
            if lane.gate != g {
                return Vec::new();
            }
            let start = w(super::gates::terminal_spot(layout, l));
            let back = Vec2::new(0.0, f64::from(Layout::approach_sign(lane.direction)));
            let from = match lane.direction {
                Direction::Outbound => {
                    residents.iter().fold(Vec2::ZERO, |acc, s| acc + to_frame(s.at)).x / residents.len() as f64
                }
                Direction::Inbound => streets.iter().map(|p| along_line(p, 0.5).x).sum::<f64>() / streets.len() as f64,
            };
            spine(&walkable, start, back, if from < start.x { -1.0 } else { 1.0 })
        })
        .collect();
    let desk_spines = [Direction::Outbound, Direction::Inbound].map(|direction| {
        let start = w(super::gates::desk_spot(layout, g, 0, direction));
        let back = Vec2::new(0.0, f64::from(Layout::approach_sign(direction)));
        // Away from the lanes.
        spine(&walkable, start, back, 1.0)
    });
    let ground = GateGround { walkable, approach, homes, streets, openings: open, spines, desk_spines };
    // Every place the gate's people must reach: the terminals, desks and doors.
    let spots = super::gates::spots(layout, g);
    for (what, p) in spots {
        let p = w(p);
        let field = ground.approach(if p.y < 0.0 { Direction::Outbound } else { Direction::Inbound });
        if !ground.walkable.contains(p) || !field.travel(p).is_finite() {
            bail!(
                "the {what} at ({:.1}, {:.1}) m from the opening's middle is not on walkable ground — leave room in \
                 front of the opening on both sides (3 m deep, and beside it for the guard's desks)",
                p.x - gate_x,
                p.y
            );
        }
    }
    let homes: Vec<&Vec<Vec2>> = ground.homes.iter().map(|(_, p)| p).collect();
    let streets: Vec<&Vec<Vec2>> = ground.streets.iter().collect();
    for (name, sign, sources) in [("building entrance", -1.0, homes), ("street edge", 1.0, streets)] {
        for points in sources {
            let at = along_line(points, 0.5);
            let field = &ground.approach[usize::from(sign > 0.0)];
            if settle(&ground.walkable, at).is_none_or(|p| !field.travel(p).is_finite()) {
                bail!(
                    "a {name} at ({:.1}, {:.1}) m cannot reach the gate on its side — check the drawing's obstacles \
                     and that the {name} is on the {} side of the gate",
                    at.x - gate_x,
                    at.y,
                    if sign < 0.0 { "compound's" } else { "street's" }
                );
            }
        }
    }
    Ok(ground)
}
