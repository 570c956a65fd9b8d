//! Floor fields: for one goal, the travel distance from every walkable grid cell, solved from the
//! eikonal equation |∇T| = F(x) by fast marching (Sethian 1996; Vadere's floor fields are the
//! same idea). People walk down its gradient, so they route around holes and corners without a
//! graph. The slowness F rises near walls so the shortest route keeps a shoulder's width off
//! them instead of grazing every corner. Computed once per layout and goal; shared read-only.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::geometry::{Segment, WALL_QUERY_M, Walkable};
use crate::vec2::Vec2;

/// Default grid side, m: a 0.8 m doorway is eight cells wide.
pub const DEFAULT_CELL_M: f64 = 0.1;
/// Within this distance of a wall the route costs more …
const WALL_BAND_M: f64 = 0.4;
/// … up to this factor at the wall itself.
const WALL_SLOWNESS: f64 = 2.0;

/// Why a floor field cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FieldError {
    #[error("goal '{0}' touches no walkable cell — put it inside the walkable area or on its edge")]
    GoalOutside(String),
    #[error("the grid would have {0} cells (limit 20,000,000) — use a coarser cell or a smaller area")]
    TooLarge(usize),
}

/// The travel distance to one goal over a grid.
#[derive(Debug, Clone)]
pub struct FloorField {
    name: String,
    origin: Vec2,
    cell: f64,
    nx: usize,
    ny: usize,
    /// Travel distance (wall-weighted metres); infinite where blocked or unreachable.
    time: Vec<f64>,
    /// Unit direction of travel per cell (zero where blocked or unreachable).
    dir: Vec<Vec2>,
    goal: Vec<Segment>,
}

#[derive(PartialEq)]
struct Trial(f64, usize);

impl Eq for Trial {}

impl Ord for Trial {
    // Smallest time first; ties to the smaller cell index so the march is deterministic.
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then_with(|| o.1.cmp(&self.1))
    }
}

impl PartialOrd for Trial {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl FloorField {
    /// The field towards a goal made of segments (a door, a lane's mouth, a corridor's end).
    pub fn new(area: &Walkable, name: &str, goal: &[Segment], cell: f64) -> Result<Self, FieldError> {
        let (min, max) = area.bounds();
        let nx = ((max.x - min.x) / cell).ceil() as usize + 1;
        let ny = ((max.y - min.y) / cell).ceil() as usize + 1;
        if nx.saturating_mul(ny) > 20_000_000 {
            return Err(FieldError::TooLarge(nx.saturating_mul(ny)));
        }
        let origin = min;
        let centre = |i: usize, j: usize| origin + Vec2::new((i as f64 + 0.5) * cell, (j as f64 + 0.5) * cell);
        let n = nx * ny;
        let mut slowness = vec![f64::INFINITY; n];
        for j in 0..ny {
            let mut left_inside = None;
            for i in 0..nx {
                let c = centre(i, j);
                // With no wall within reach of this centre, none lies between it and the one to
                // its left (closer than the reach): both are inside or both outside. Only cells
                // near walls ask the polygon (a scan of all its edges).
                let inside = match left_inside {
                    Some(was) if cell < 0.5 * WALL_QUERY_M && area.walls_near(c).next().is_none() => was,
                    _ => area.contains(c),
                };
                left_inside = Some(inside);
                if inside {
                    let d = area.nearest_wall(c).map_or(f64::INFINITY, |(d, _)| d);
                    slowness[j * nx + i] = 1.0 + (WALL_SLOWNESS - 1.0) * (1.0 - d / WALL_BAND_M).max(0.0);
                }
            }
        }
        let mut time = vec![f64::INFINITY; n];
        let mut known = vec![false; n];
        let mut heap = BinaryHeap::new();
        for j in 0..ny {
            for i in 0..nx {
                let k = j * nx + i;
                if slowness[k].is_finite() {
                    let d = goal.iter().map(|s| s.distance(centre(i, j))).fold(f64::INFINITY, f64::min);
                    if d <= cell {
                        time[k] = d;
                        heap.push(Trial(d, k));
                    }
                }
            }
        }
        if heap.is_empty() {
            return Err(FieldError::GoalOutside(name.to_owned()));
        }
        while let Some(Trial(t, k)) = heap.pop() {
            if known[k] || t > time[k] {
                continue;
            }
            known[k] = true;
            let (i, j) = (k % nx, k / nx);
            for (ni, nj) in neighbours(i, j, nx, ny) {
                let m = nj * nx + ni;
                if known[m] || !slowness[m].is_finite() {
                    continue;
                }
                let tx = axis_min(&time, &known, ni, nj, nx, ny, true);
                let ty = axis_min(&time, &known, ni, nj, nx, ny, false);
                let f = slowness[m] * cell;
                let candidate = solve_eikonal(tx, ty, f);
                if candidate < time[m] {
                    time[m] = candidate;
                    heap.push(Trial(candidate, m));
                }
            }
        }
        let mut dir = vec![Vec2::ZERO; n];
        for j in 0..ny {
            for i in 0..nx {
                let k = j * nx + i;
                if !time[k].is_finite() {
                    continue;
                }
                let gx = gradient(&time, i, j, nx, ny, true, cell);
                let gy = gradient(&time, i, j, nx, ny, false, cell);
                let mut d = Vec2::new(-gx, -gy).normalize_or_zero();
                if d == Vec2::ZERO {
                    // A seed cell on the goal: head straight for it.
                    let c = centre(i, j);
                    let nearest = goal
                        .iter()
                        .map(|s| s.closest(c))
                        .min_by(|a, b| (*a - c).length().total_cmp(&(*b - c).length()))
                        .unwrap_or(c);
                    d = (nearest - c).normalize_or_zero();
                }
                dir[k] = d;
            }
        }
        Ok(Self { name: name.to_owned(), origin, cell, nx, ny, time, dir, goal: goal.to_vec() })
    }

    /// Grid cells (each holds a travel time and a direction).
    pub fn cells(&self) -> usize {
        self.nx * self.ny
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn goal(&self) -> &[Segment] {
        &self.goal
    }

    /// Distance from `p` to the goal segments themselves.
    pub fn distance_to_goal(&self, p: Vec2) -> f64 {
        self.goal.iter().map(|s| s.distance(p)).fold(f64::INFINITY, f64::min)
    }

    /// Travel distance (wall-weighted) from the cell holding `p`; infinite if unreachable.
    pub fn travel(&self, p: Vec2) -> f64 {
        self.cell_index(p).map_or(f64::INFINITY, |k| self.time[k])
    }

    fn cell_index(&self, p: Vec2) -> Option<usize> {
        let fx = (p.x - self.origin.x) / self.cell;
        let fy = (p.y - self.origin.y) / self.cell;
        if fx < 0.0 || fy < 0.0 {
            return None;
        }
        let (i, j) = (fx as usize, fy as usize);
        (i < self.nx && j < self.ny).then_some(j * self.nx + i)
    }

    /// Which way to walk from `p`: the directions of the four surrounding cell centres,
    /// bilinearly weighted (blocked cells left out), as a unit vector; zero if none is reachable.
    pub fn direction(&self, p: Vec2) -> Vec2 {
        let fx = (p.x - self.origin.x) / self.cell - 0.5;
        let fy = (p.y - self.origin.y) / self.cell - 0.5;
        let i0 = fx.floor();
        let j0 = fy.floor();
        let (tx, ty) = (fx - i0, fy - j0);
        let mut sum = Vec2::ZERO;
        for (di, dj, w) in
            [(0, 0, (1.0 - tx) * (1.0 - ty)), (1, 0, tx * (1.0 - ty)), (0, 1, (1.0 - tx) * ty), (1, 1, tx * ty)]
        {
            let (i, j) = (i0 as i64 + di, j0 as i64 + dj);
            if i < 0 || j < 0 || i as usize >= self.nx || j as usize >= self.ny {
                continue;
            }
            sum += self.dir[j as usize * self.nx + i as usize] * w;
        }
        let d = sum.normalize_or_zero();
        if d != Vec2::ZERO {
            return d;
        }
        self.cell_index(p).map_or(Vec2::ZERO, |k| self.dir[k])
    }

    /// Whether every walkable cell of the area can reach the goal.
    pub fn unreachable_cells(&self, area: &Walkable) -> usize {
        let mut count = 0;
        for j in 0..self.ny {
            for i in 0..self.nx {
                let c = self.origin + Vec2::new((i as f64 + 0.5) * self.cell, (j as f64 + 0.5) * self.cell);
                if !self.time[j * self.nx + i].is_finite() && area.contains(c) {
                    count += 1;
                }
            }
        }
        count
    }
}

fn neighbours(i: usize, j: usize, nx: usize, ny: usize) -> impl Iterator<Item = (usize, usize)> {
    let mut out = [(usize::MAX, usize::MAX); 4];
    if i > 0 {
        out[0] = (i - 1, j);
    }
    if i + 1 < nx {
        out[1] = (i + 1, j);
    }
    if j > 0 {
        out[2] = (i, j - 1);
    }
    if j + 1 < ny {
        out[3] = (i, j + 1);
    }
    out.into_iter().filter(|&(a, _)| a != usize::MAX)
}

/// The smaller known time of the two neighbours along one axis.
fn axis_min(time: &[f64], known: &[bool], i: usize, j: usize, nx: usize, ny: usize, along_x: bool) -> f64 {
    let mut best = f64::INFINITY;
    let candidates = if along_x {
        [(i > 0).then(|| j * nx + i - 1), (i + 1 < nx).then(|| j * nx + i + 1)]
    } else {
        [(j > 0).then(|| (j - 1) * nx + i), (j + 1 < ny).then(|| (j + 1) * nx + i)]
    };
    for k in candidates.into_iter().flatten() {
        if known[k] && time[k] < best {
            best = time[k];
        }
    }
    best
}

/// First-order upwind update: the T with (T − tx)² + (T − ty)² = f², or the one-sided one.
fn solve_eikonal(tx: f64, ty: f64, f: f64) -> f64 {
    let (a, b) = if tx <= ty { (tx, ty) } else { (ty, tx) };
    if !b.is_finite() || b - a >= f {
        return a + f;
    }
    let s = a + b;
    let disc = s * s - 2.0 * (a * a + b * b - f * f);
    (s + disc.max(0.0).sqrt()) / 2.0
}

/// Central difference where both neighbours are reachable, one-sided where only one is.
fn gradient(time: &[f64], i: usize, j: usize, nx: usize, ny: usize, along_x: bool, cell: f64) -> f64 {
    let here = time[j * nx + i];
    let (lo, hi) = if along_x {
        (
            (i > 0).then(|| time[j * nx + i - 1]).filter(|t| t.is_finite()),
            (i + 1 < nx).then(|| time[j * nx + i + 1]).filter(|t| t.is_finite()),
        )
    } else {
        (
            (j > 0).then(|| time[(j - 1) * nx + i]).filter(|t| t.is_finite()),
            (j + 1 < ny).then(|| time[(j + 1) * nx + i]).filter(|t| t.is_finite()),
        )
    };
    match (lo, hi) {
        (Some(l), Some(h)) => (h - l) / (2.0 * cell),
        (Some(l), None) => (here - l) / cell,
        (None, Some(h)) => (h - here) / cell,
        (None, None) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l_corridor() -> Walkable {
        // RiMEA 6's corner: 2 m wide, 12 m east then 12 m north.
        crate::validation::left_corner().unwrap()
    }

    #[test]
    fn the_field_routes_round_the_corner() {
        let area = l_corridor();
        let goal = [Segment::new(Vec2::new(10.0, 12.0), Vec2::new(12.0, 12.0))];
        let field = FloorField::new(&area, "exit", &goal, DEFAULT_CELL_M).unwrap();
        assert_eq!(field.unreachable_cells(&area), 0);
        // Along the first leg people head east, along the second north.
        let east = field.direction(Vec2::new(3.0, 1.0));
        assert!(east.x > 0.95, "{east:?}");
        let north = field.direction(Vec2::new(11.0, 6.0));
        assert!(north.y > 0.95, "{north:?}");
        // The travel distance from the start is about the shortest path's length (19.1 m round
        // the inner corner, a little more for the walls' cost) and falls along the way.
        let start = field.travel(Vec2::new(1.0, 1.0));
        assert!((19.1..21.0).contains(&start), "{start}");
        assert!(field.travel(Vec2::new(11.0, 6.0)) < field.travel(Vec2::new(5.0, 1.0)));
    }

    #[test]
    fn a_goal_outside_is_refused_by_name() {
        let area = l_corridor();
        let goal = [Segment::new(Vec2::new(30.0, 30.0), Vec2::new(31.0, 30.0))];
        let err = FloorField::new(&area, "lane east-in-1", &goal, DEFAULT_CELL_M).unwrap_err();
        assert!(err.to_string().contains("lane east-in-1"), "{err}");
    }

    #[test]
    fn holes_make_people_walk_round() {
        let pillar = vec![Vec2::new(4.0, 1.0), Vec2::new(6.0, 1.0), Vec2::new(6.0, 5.0), Vec2::new(4.0, 5.0)];
        let area = Walkable::from_corners(
            &[Vec2::new(0.0, 0.0), Vec2::new(10.0, 0.0), Vec2::new(10.0, 6.0), Vec2::new(0.0, 6.0)],
            &[pillar],
        )
        .unwrap();
        let goal = [Segment::new(Vec2::new(10.0, 0.0), Vec2::new(10.0, 6.0))];
        let field = FloorField::new(&area, "east", &goal, DEFAULT_CELL_M).unwrap();
        // Above the pillar's middle the way round is over it, below it under it.
        let d = field.direction(Vec2::new(3.0, 4.0));
        assert!(d.y > 0.3, "{d:?}");
        let d = field.direction(Vec2::new(3.0, 2.0));
        assert!(d.y < -0.3, "{d:?}");
        let detour = field.travel(Vec2::new(3.0, 3.0));
        assert!(detour > 7.0 + 0.5, "{detour}");
    }
}
