//! The crowd: the collision-free speed model (Tordeux, Chraibi & Seyfried 2016, the model
//! JuPedSim ships as `CollisionFreeSpeedModel`). First order: each step a person picks a
//! direction — the floor field's, bent by exponential repulsion from neighbours and walls — and
//! a speed from the free space ahead, v = min(v0, max(0, (s − l)/T)), where s is the distance to
//! the nearest person in front within a shoulder's width to either side, l a body's depth and T
//! the time gap. Two changes to the published model, both for doorways: of two people who would
//! block each other (side by side at a door, both turned inwards) only the one farther from the
//! goal on the floor field yields — without it the model deadlocks at 0.8 m doors — and a
//! person's blocking strip is the shoulder width (0.45 m) rather than the body depth.
//! All persons move at once (each step reads only the previous positions), so the result does
//! not depend on the order of the persons, and a seed fixes every position.
//!
//! Barriers are lane gates: a closed barrier stops everyone but the persons released through
//! it, as a person standing there would. Measurement lines count crossings.

use std::sync::Arc;

use crate::field::FloorField;
use crate::geometry::{Segment, WALL_QUERY_M, Walkable};
use crate::vec2::Vec2;

/// Neighbours farther than this neither repel nor limit speed (free-space look-ahead is at most
/// l + v0·T ≈ 2 m); also the side of the neighbour grid's cells.
const CUTOFF_M: f64 = 2.0;
/// A person whose centre comes this close to their route's goal has arrived.
pub const ARRIVE_M: f64 = 0.3;
/// A floor field's travel is never less than the straight distance to its goal, less a cell's
/// half-diagonal (≤ 1.5 m for the coarsest field a site gets): farther than this down the
/// field, nobody is within [`ARRIVE_M`] of the goal after one step.
const ARRIVE_CHECK_WITHIN_M: f64 = 5.0;

/// The model's parameters: chosen so the validation cases pass (see `validation.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelParams {
    /// T: the time gap people keep to the person in front, s.
    pub time_gap_s: f64,
    /// Body radius, m: l = 2 r is the body's depth, the least distance kept to the person in front.
    pub radius_m: f64,
    /// Shoulder width, m: someone ahead whose centre is less than this to the side blocks you.
    pub shoulder_m: f64,
    /// Strength and range of the neighbours' push on the direction.
    pub neighbour_strength: f64,
    pub neighbour_range_m: f64,
    /// Strength and range of the walls' push on the direction.
    pub wall_strength: f64,
    pub wall_range_m: f64,
    /// Time step, s.
    pub dt_s: f64,
}

impl Default for ModelParams {
    /// Tuned against the validation cases (`gatelab validate`): JuPedSim's CFSM defaults
    /// (T 1 s, r 0.2 m, range 0.1 m) gave specific flows of 1.1–1.4 /(m·s) through doorways,
    /// under the lab's 1.6–2.4; a shorter time gap and a slimmer body raise them, a longer
    /// neighbour range keeps dense corridors at Weidmann's speeds. The margins left are printed
    /// by the validation table (the tightest ≈ 0.04 m/s and 0.04 /(m·s)).
    fn default() -> Self {
        Self {
            time_gap_s: 0.6,
            radius_m: 0.15,
            shoulder_m: 0.45,
            neighbour_strength: 8.0,
            neighbour_range_m: 0.15,
            wall_strength: 5.0,
            wall_range_m: 0.02,
            dt_s: 0.05,
        }
    }
}

/// Where a person is heading.
#[derive(Debug, Clone)]
pub enum Route {
    /// Down a floor field; arrives at its goal.
    Field(Arc<FloorField>),
    /// A fixed heading (a periodic corridor); never arrives.
    Heading(Vec2),
}

/// One pedestrian.
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: u32,
    pub pos: Vec2,
    /// Unit direction of the last step.
    pub dir: Vec2,
    /// Speed of the last step, m/s.
    pub speed: f64,
    /// Free (desired) speed, m/s.
    pub v0: f64,
    /// Index into the crowd's routes.
    pub route: usize,
    /// A point to walk straight to and stop at, instead of the route (a place in a queue, a
    /// terminal): the simulation moves it as the queue moves. Never arrives.
    pub target: Option<Vec2>,
    /// With a target: who goes first where two would block each other — the lower rank (a
    /// place nearer the head of a queue); NaN: nobody gives way to or for this person.
    pub rank: f64,
}

/// How quickly someone heading for a target slows down on reaching it: speed at most
/// distance / this, s (they stop at their place rather than overshoot it).
const TARGET_SLOWING_S: f64 = 0.5;

/// A lane's gate: closed to all but the persons released through it.
#[derive(Debug, Clone)]
pub struct Barrier {
    pub segment: Segment,
    released: Vec<u32>,
}

/// What one step produced.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StepEvents {
    /// (person, time) of each arrival at its goal; the person has left the crowd.
    pub arrived: Vec<(u32, f64)>,
    /// (line, person, time of crossing, interpolated within the step).
    pub crossed: Vec<(usize, u32, f64)>,
    /// (barrier, person) of each released person passing their barrier.
    pub passed: Vec<(usize, u32)>,
}

/// The crowd in a walkable area.
#[derive(Debug, Clone)]
pub struct Crowd {
    params: ModelParams,
    area: Arc<Walkable>,
    routes: Vec<Route>,
    persons: Vec<Person>,
    barriers: Vec<Barrier>,
    lines: Vec<Segment>,
    /// `Some((x0, length))`: x wraps into [x0, x0 + length) — a periodic corridor.
    periodic_x: Option<(f64, f64)>,
    time_s: f64,
    steps: u64,
    agent_steps: u64,
    next_id: u32,
    scratch_cells: Vec<(u64, u32)>,
    /// `Some(m)`: [`Crowd::with_free_flow_beyond`].
    free_beyond_m: Option<f64>,
}

impl Crowd {
    pub fn new(area: Arc<Walkable>, params: ModelParams) -> Self {
        Self {
            params,
            area,
            routes: Vec::new(),
            persons: Vec::new(),
            barriers: Vec::new(),
            lines: Vec::new(),
            periodic_x: None,
            time_s: 0.0,
            steps: 0,
            agent_steps: 0,
            next_id: 0,
            scratch_cells: Vec::new(),
            free_beyond_m: None,
        }
    }

    /// Far from the queues, people walk in free flow: someone on a floor field, with no
    /// target, whose way left is more than `margin_m` beyond the farthest place anyone is
    /// heading for (the queues' tails; 0 without) is stepped by the same model but sees no
    /// neighbours — and is not seen by them. A planning shortcut for large sites, where people
    /// walk hundreds of metres to a gate at a few per minute and the neighbour search is most
    /// of the cost; the validation cases run without it.
    pub fn with_free_flow_beyond(mut self, margin_m: f64) -> Self {
        self.free_beyond_m = Some(margin_m);
        self
    }

    /// Makes x periodic over [x0, x0 + length). Give the area walls beyond both ends (a metre
    /// or more): positions wrap before they reach them.
    pub fn with_periodic_x(mut self, x0: f64, length: f64) -> Self {
        self.periodic_x = Some((x0, length));
        self
    }

    pub fn params(&self) -> &ModelParams {
        &self.params
    }

    pub fn area(&self) -> &Walkable {
        &self.area
    }

    pub fn add_route(&mut self, route: Route) -> usize {
        self.routes.push(route);
        self.routes.len() - 1
    }

    pub fn add_barrier(&mut self, segment: Segment) -> usize {
        self.barriers.push(Barrier { segment, released: Vec::new() });
        self.barriers.len() - 1
    }

    pub fn barrier(&self, index: usize) -> &Barrier {
        &self.barriers[index]
    }

    /// Lets `person` through barrier `barrier` once.
    pub fn release(&mut self, barrier: usize, person: u32) {
        let released = &mut self.barriers[barrier].released;
        if !released.contains(&person) {
            released.push(person);
        }
    }

    pub fn is_released(&self, barrier: usize, person: u32) -> bool {
        self.barriers[barrier].released.contains(&person)
    }

    pub fn add_line(&mut self, segment: Segment) -> usize {
        self.lines.push(segment);
        self.lines.len() - 1
    }

    /// Adds a person standing at `pos`, facing their route; returns their id.
    pub fn add(&mut self, pos: Vec2, v0: f64, route: usize) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        let dir = self.desired(route, None, pos);
        self.persons.push(Person { id, pos, dir, speed: 0.0, v0, route, target: None, rank: f64::NAN });
        id
    }

    pub fn persons(&self) -> &[Person] {
        &self.persons
    }

    /// Sends the person at `index` of [`Crowd::persons`] down `route`, or straight to `target`
    /// with `rank` when given (between steps: positions belong to the model).
    pub fn steer(&mut self, index: usize, route: usize, target: Option<Vec2>, rank: f64) {
        let person = &mut self.persons[index];
        person.route = route;
        person.target = target;
        person.rank = if target.is_some() { rank } else { f64::NAN };
    }

    /// Removes the persons `keep` refuses (those who left the simulation), keeping the order.
    pub fn retain(&mut self, keep: impl FnMut(&Person) -> bool) {
        self.persons.retain(keep);
    }

    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Person-positions integrated so far.
    pub fn agent_steps(&self) -> u64 {
        self.agent_steps
    }

    fn desired(&self, route: usize, target: Option<Vec2>, pos: Vec2) -> Vec2 {
        if let Some(t) = target {
            return (t - pos).normalize_or_zero();
        }
        match &self.routes[route] {
            Route::Field(field) => field.direction(pos),
            Route::Heading(h) => h.normalize_or_zero(),
        }
    }

    /// From `a` to `b`, the shorter way round a periodic corridor.
    fn delta(&self, a: Vec2, b: Vec2) -> Vec2 {
        let mut d = b - a;
        if let Some((_, length)) = self.periodic_x {
            if d.x > length / 2.0 {
                d.x -= length;
            } else if d.x < -length / 2.0 {
                d.x += length;
            }
        }
        d
    }

    fn cell_of(&self, p: Vec2) -> (i64, i64) {
        let (min, _) = self.area.bounds();
        let mut cx = ((p.x - min.x) / CUTOFF_M).floor() as i64;
        if let Some((x0, length)) = self.periodic_x {
            let n = (length / CUTOFF_M).floor().max(1.0) as i64;
            cx = (((p.x - x0) / (length / n as f64)).floor() as i64).rem_euclid(n);
        }
        (cx, ((p.y - min.y) / CUTOFF_M).floor() as i64)
    }

    fn key(cx: i64, cy: i64) -> u64 {
        ((cx as u64 & 0xffff_ffff) << 32) | (cy as u64 & 0xffff_ffff)
    }

    /// Neighbour cells of a cell (3 × 3, wrapped and de-duplicated on a periodic corridor).
    /// Everyone else in the grid cells `around` (from the step's sorted `cells`), with their
    /// index, in cell order.
    fn neighbours<'a>(
        &'a self,
        cells: &'a [(u64, u32)],
        around: &'a [(i64, i64)],
        id: u32,
    ) -> impl Iterator<Item = (usize, &'a Person)> + 'a {
        around
            .iter()
            .flat_map(move |&(cx, cy)| {
                let key = Self::key(cx, cy);
                let start = cells.partition_point(|&(k, _)| k < key);
                cells[start..].iter().take_while(move |&&(k, _)| k == key).map(|&(_, j)| j as usize)
            })
            .map(|j| (j, &self.persons[j]))
            .filter(move |(_, other)| other.id != id)
    }

    fn around(&self, (cx, cy): (i64, i64)) -> ([(i64, i64); 9], usize) {
        let mut out = [(0, 0); 9];
        let mut n = 0;
        for dy in -1..=1 {
            for dx in -1..=1 {
                let mut x = cx + dx;
                if let Some((_, length)) = self.periodic_x {
                    let cells = (length / CUTOFF_M).floor().max(1.0) as i64;
                    x = x.rem_euclid(cells);
                }
                let c = (x, cy + dy);
                if !out[..n].contains(&c) {
                    out[n] = c;
                    n += 1;
                }
            }
        }
        (out, n)
    }

    /// One time step: every person moves; arrivals leave.
    pub fn step(&mut self) -> StepEvents {
        let p = self.params;
        let l = 2.0 * p.radius_m;
        let dt = p.dt_s;
        // How far each person still has to go on a floor field: of two people who would block
        // each other (side by side at a door, both turned inwards), only the one behind yields.
        let remaining: Vec<f64> = self
            .persons
            .iter()
            .map(|q| match &self.routes[q.route] {
                _ if q.target.is_some() => q.rank,
                Route::Field(field) => field.travel(q.pos),
                Route::Heading(_) => f64::NAN,
            })
            .collect();
        let horizon = self.free_beyond_m.map(|margin| {
            let tails = self.persons.iter().filter(|q| q.target.is_some() && q.rank.is_finite());
            margin + tails.map(|q| q.rank).fold(0.0, f64::max)
        });
        let free = |i: usize| {
            horizon.is_some_and(|h| {
                let q = &self.persons[i];
                q.target.is_none() && matches!(self.routes[q.route], Route::Field(_)) && remaining[i] > h
            })
        };
        let mut cells = std::mem::take(&mut self.scratch_cells);
        cells.clear();
        for (i, person) in self.persons.iter().enumerate() {
            if !free(i) {
                let (cx, cy) = self.cell_of(person.pos);
                cells.push((Self::key(cx, cy), i as u32));
            }
        }
        cells.sort_unstable();
        let mut next: Vec<(Vec2, Vec2, f64)> = Vec::with_capacity(self.persons.len());
        for (i, person) in self.persons.iter().enumerate() {
            let mut e0 = self.desired(person.route, person.target, person.pos);
            if e0 == Vec2::ZERO {
                e0 = person.dir;
            }
            // Direction: the desired one bent by the neighbours' and the walls' pushes.
            let mut push = Vec2::ZERO;
            // In free flow nobody is looked for.
            let (around, n) = if free(i) { ([(0, 0); 9], 0) } else { self.around(self.cell_of(person.pos)) };
            for (j, other) in self.neighbours(&cells, &around[..n], person.id) {
                // Of two heading for targets, the one behind (higher rank) makes way: it does
                // not push the one ahead aside, it is pushed.
                let behind = remaining[j] > remaining[i] || (remaining[j] == remaining[i] && other.id > person.id);
                if person.target.is_some() && other.target.is_some() && behind {
                    continue;
                }
                let d = self.delta(other.pos, person.pos);
                let dist = d.length();
                if dist < CUTOFF_M && dist > 1e-9 {
                    push += d * (p.neighbour_strength * ((l - dist) / p.neighbour_range_m).exp() / dist);
                }
            }
            for wall in self.area.walls_near(person.pos) {
                let c = wall.closest(person.pos);
                let d = person.pos - c;
                let dist = d.length();
                if dist > 1e-9 && dist < 1.0 {
                    push += d * (p.wall_strength * ((p.radius_m - dist) / p.wall_range_m).exp() / dist);
                }
            }
            let mut e = (e0 + push).normalize_or_zero();
            if e == Vec2::ZERO {
                e = e0;
            }
            // Speed: from the free space ahead, within a body's width.
            let mut space = f64::INFINITY;
            for (j, other) in self.neighbours(&cells, &around[..n], person.id) {
                let d = self.delta(person.pos, other.pos);
                let ahead = e.dot(d);
                // People heading for targets give way by rank among themselves, people on a
                // route by what is left of it; between the two, and across routes, nobody.
                let class = |q: &Person| if q.target.is_some() { usize::MAX } else { q.route };
                let yields = class(other) != class(person)
                    || remaining[i].is_nan()
                    || remaining[j].is_nan()
                    || remaining[j] < remaining[i]
                    || (remaining[j] == remaining[i] && other.id < person.id);
                if ahead > 0.0 && yields && e.perp().dot(d).abs() < p.shoulder_m {
                    space = space.min(d.length());
                }
            }
            let mut speed = ((space - l) / p.time_gap_s).clamp(0.0, person.v0);
            if let Some(t) = person.target {
                speed = speed.min((t - person.pos).length() / TARGET_SLOWING_S);
            }
            // A closed barrier ahead stops the person as a person standing there would.
            for (b, barrier) in self.barriers.iter().enumerate() {
                if self.barriers[b].released.contains(&person.id) {
                    continue;
                }
                if let Some(t) = ray_hits(person.pos, e, &barrier.segment) {
                    speed = speed.min(((t - p.radius_m) / p.time_gap_s).max(0.0));
                }
            }
            let mut to = person.pos + e * (speed * dt);
            to = self.keep_off_walls(person.pos, to);
            next.push((to, e, speed));
        }
        self.scratch_cells = cells;
        let mut events = StepEvents::default();
        let t0 = self.time_s;
        for (i, (to, e, speed)) in next.into_iter().enumerate() {
            let from = self.persons[i].pos;
            let id = self.persons[i].id;
            let mut to = to;
            for b in 0..self.barriers.len() {
                if self.barriers[b].segment.crossed_by(from, to) {
                    if let Some(at) = self.barriers[b].released.iter().position(|&r| r == id) {
                        self.barriers[b].released.swap_remove(at);
                        events.passed.push((b, id));
                    } else {
                        to = from;
                    }
                }
            }
            for (li, line) in self.lines.iter().enumerate() {
                if line.crossed_by(from, to) {
                    let frac = crossing_fraction(from, to, line);
                    events.crossed.push((li, id, t0 + frac * dt));
                }
            }
            if let Some((x0, length)) = self.periodic_x {
                to.x = x0 + (to.x - x0).rem_euclid(length);
            }
            let person = &mut self.persons[i];
            person.pos = to;
            person.dir = e;
            person.speed = speed;
        }
        self.agent_steps += self.persons.len() as u64;
        self.steps += 1;
        self.time_s = t0 + dt;
        let now = self.time_s;
        let routes = &self.routes;
        let mut index = 0;
        self.persons.retain(|person| {
            // Far down the field (the way left was measured before this step's move, at most
            // a metre long) nobody can have arrived: the goal's distance is not asked.
            let far = remaining[index].is_finite() && remaining[index] > ARRIVE_CHECK_WITHIN_M;
            index += 1;
            match &routes[person.route] {
                Route::Field(field)
                    if !far && person.target.is_none() && field.distance_to_goal(person.pos) <= ARRIVE_M =>
                {
                    events.arrived.push((person.id, now));
                    false
                }
                _ => true,
            }
        });
        events
    }

    /// A move that would end inside a wall (or closer to one than a quarter body) slides along
    /// it instead, and if that fails too the person stays: nobody ever stands in a wall.
    fn keep_off_walls(&self, from: Vec2, to: Vec2) -> Vec2 {
        let min_gap = self.params.radius_m * 0.25;
        // No wall within reach of `to`, and a short step from inside: still inside (the same
        // answer as the full test below, without the polygon's point-in-polygon scan).
        let step = to - from;
        if step.dot(step) < WALL_QUERY_M * WALL_QUERY_M && self.area.walls_near(to).next().is_none() {
            return to;
        }
        let ok = |q: Vec2| self.area.contains(q) && self.area.nearest_wall(q).is_none_or(|(d, _)| d >= min_gap);
        if ok(to) {
            return to;
        }
        if let Some((_, c)) = self.area.nearest_wall(to) {
            let normal = (from - c).normalize_or_zero();
            let step = to - from;
            let into = step.dot(normal);
            if into < 0.0 {
                let slid = from + (step - normal * into);
                if ok(slid) {
                    return slid;
                }
            }
        }
        from
    }
}

/// Distance along the unit direction `e` from `p` to the segment, if the ray meets it.
fn ray_hits(p: Vec2, e: Vec2, s: &Segment) -> Option<f64> {
    let ab = s.b - s.a;
    let denom = e.cross(ab);
    if denom.abs() < 1e-12 {
        return None;
    }
    let ap = s.a - p;
    let t = ap.cross(ab) / denom;
    let u = ap.cross(e) / denom;
    ((0.0..=CUTOFF_M).contains(&t) && (0.0..=1.0).contains(&u)).then_some(t)
}

/// Where along `from → to` the line is crossed (0..1).
fn crossing_fraction(from: Vec2, to: Vec2, s: &Segment) -> f64 {
    let d = to - from;
    let ab = s.b - s.a;
    let denom = d.cross(ab);
    if denom.abs() < 1e-12 {
        return 0.0;
    }
    ((s.a - from).cross(ab) / denom).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corridor() -> Arc<Walkable> {
        Arc::new(Walkable::rectangle(Vec2::new(0.0, 0.0), Vec2::new(20.0, 2.0)).unwrap())
    }

    #[test]
    fn a_follower_keeps_the_time_gap_behind_a_slow_leader() {
        let area = Arc::new(Walkable::rectangle(Vec2::new(0.0, 0.0), Vec2::new(40.0, 2.0)).unwrap());
        let mut crowd = Crowd::new(area, ModelParams::default());
        let east = crowd.add_route(Route::Heading(Vec2::new(1.0, 0.0)));
        crowd.add(Vec2::new(5.0, 1.0), 1.0, east);
        crowd.add(Vec2::new(2.0, 1.0), 1.5, east);
        for _ in 0..300 {
            crowd.step();
        }
        let [leader, follower] = crowd.persons() else { panic!() };
        let p = crowd.params();
        let gap = leader.pos.x - follower.pos.x;
        // Steady state: v = (s − l)/T with v = the leader's 1 m/s.
        let expected = 2.0 * p.radius_m + 1.0 * p.time_gap_s;
        assert!((gap - expected).abs() < 0.02, "gap {gap}, expected {expected}");
        assert!((follower.speed - 1.0).abs() < 0.01, "{}", follower.speed);
    }

    #[test]
    fn a_closed_barrier_holds_until_release() {
        let area = corridor();
        let mut crowd = Crowd::new(area, ModelParams::default());
        let east = crowd.add_route(Route::Heading(Vec2::new(1.0, 0.0)));
        let gate = crowd.add_barrier(Segment::new(Vec2::new(10.0, 0.0), Vec2::new(10.0, 2.0)));
        let id = crowd.add(Vec2::new(8.0, 1.0), 1.3, east);
        for _ in 0..200 {
            assert!(crowd.step().passed.is_empty());
        }
        let x = crowd.persons()[0].pos.x;
        assert!(x < 10.0 && x > 9.7, "{x}");
        crowd.release(gate, id);
        let mut passed = false;
        for _ in 0..40 {
            passed |= crowd.step().passed == vec![(gate, id)];
        }
        assert!(passed && crowd.persons()[0].pos.x > 10.0);
        assert!(!crowd.is_released(gate, id), "a release is for one passage");
    }

    #[test]
    fn the_periodic_corridor_wraps_and_sees_across_the_seam() {
        let area = Arc::new(Walkable::rectangle(Vec2::new(-2.0, 0.0), Vec2::new(12.0, 2.0)).unwrap());
        let mut crowd = Crowd::new(area, ModelParams::default()).with_periodic_x(0.0, 10.0);
        let east = crowd.add_route(Route::Heading(Vec2::new(1.0, 0.0)));
        // The leader stands just past the seam, the follower just before it.
        crowd.add(Vec2::new(0.2, 1.0), 0.0, east);
        crowd.add(Vec2::new(9.2, 1.0), 1.3, east);
        crowd.step();
        let follower = &crowd.persons()[1];
        // 1 m apart across the seam: speed (1 − l)/T, not free speed.
        let p = crowd.params();
        assert!((follower.speed - (1.0 - 2.0 * p.radius_m) / p.time_gap_s).abs() < 1e-6, "{}", follower.speed);
        for _ in 0..100 {
            crowd.step();
        }
        assert!(crowd.persons().iter().all(|q| (0.0..10.0).contains(&q.pos.x)));
    }

    /// People appearing at the west end of a 120 m corridor every `gap_s` seconds and walking
    /// its floor field east; when each arrived (id, time).
    fn corridor_walk(free_flow: bool, gap_s: f64) -> Vec<(u32, f64)> {
        let area = Arc::new(Walkable::rectangle(Vec2::new(0.0, 0.0), Vec2::new(120.0, 3.0)).unwrap());
        let goal = [Segment::new(Vec2::new(119.5, 0.0), Vec2::new(119.5, 3.0))];
        let field = Arc::new(FloorField::new(&area, "east", &goal, 0.2).unwrap());
        let mut crowd = Crowd::new(area, ModelParams::default());
        if free_flow {
            crowd = crowd.with_free_flow_beyond(30.0);
        }
        let east = crowd.add_route(Route::Field(field));
        let every = (gap_s / crowd.params().dt_s).round() as u64;
        let mut arrived = Vec::new();
        for step in 0..4_000u64 {
            if step % every == 0 && step / every < 20 {
                crowd.add(Vec2::new(1.0, 1.5), 1.2 + 0.01 * (step / every) as f64, east);
            }
            arrived.extend(crowd.step().arrived);
        }
        arrived
    }

    #[test]
    fn free_flow_is_the_model_without_neighbours_and_only_far_from_the_queues() {
        // Five seconds apart (6 m) nobody ever comes within the model's 2 m reach of anyone:
        // free flow beyond 30 m gives the same arrivals to the bit.
        let sparse = corridor_walk(true, 5.0);
        assert_eq!(sparse.len(), 20);
        assert_eq!(sparse, corridor_walk(false, 5.0));
        // A third of a second apart they would keep their time gap: resolved, the followers are
        // held back; in free flow they are not until the last 30 m, so they arrive sooner.
        let (free, resolved) = (corridor_walk(true, 0.35), corridor_walk(false, 0.35));
        assert_eq!((free.len(), resolved.len()), (20, 20));
        let last = |a: &[(u32, f64)]| a.iter().map(|&(_, t)| t).fold(0.0, f64::max);
        assert!(last(&free) < last(&resolved) - 1.0, "free {} s, resolved {} s", last(&free), last(&resolved));
        // Someone heading for a place (a queue's tail) pushes the horizon out: at 100 m of
        // walk left with a place 80 m along the field, everybody is resolved again.
        let area = Arc::new(Walkable::rectangle(Vec2::new(0.0, 0.0), Vec2::new(120.0, 3.0)).unwrap());
        let goal = [Segment::new(Vec2::new(119.5, 0.0), Vec2::new(119.5, 3.0))];
        let field = Arc::new(FloorField::new(&area, "east", &goal, 0.2).unwrap());
        let pair = |with_tail: bool| {
            let mut crowd = Crowd::new(area.clone(), ModelParams::default()).with_free_flow_beyond(30.0);
            let east = crowd.add_route(Route::Field(field.clone()));
            crowd.add(Vec2::new(20.0, 1.5), 1.3, east);
            crowd.add(Vec2::new(19.5, 1.5), 1.3, east);
            if with_tail {
                let tail = crowd.add(Vec2::new(110.0, 1.5), 1.3, east);
                crowd.steer(tail as usize, east, Some(Vec2::new(110.0, 1.5)), 80.0);
            }
            crowd.step();
            crowd.persons()[1].pos.x
        };
        // Free: a step at free speed through the leader's back; resolved: pushed off it.
        assert!((pair(false) - (19.5 + 1.3 * 0.05)).abs() < 1e-9, "free: {}", pair(false));
        assert!(pair(true) < 19.5, "resolved: {}", pair(true));
    }
}
