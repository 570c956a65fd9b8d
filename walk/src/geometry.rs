//! The walkable area: one polygon whose holes are buildings, planters, gate housings. Held as a
//! `geo` polygon (validity and containment come from `geo`) plus its wall segments, bucketed on
//! a coarse grid so a position's nearby walls are found without scanning them all.

use geo::{Area, BoundingRect, Contains, Coord, LineString, Polygon, Validation};

use crate::vec2::Vec2;

/// Walls farther than this from a position are never asked for (the model's wall range is
/// centimetres; one metre leaves room for the slide that keeps people off walls).
pub const WALL_QUERY_M: f64 = 1.0;
/// Side of a wall bucket, m, unless the area is so large that this would make more than
/// [`MAX_BUCKETS`] of them (then the side grows).
const BUCKET_M: f64 = 1.0;
const MAX_BUCKETS: f64 = 1_000_000.0;

/// Why a polygon is not a walkable area.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error(
        "the walkable area is not a valid polygon: {0} — close every ring, remove the crossing edges and keep holes inside the outline"
    )]
    Invalid(String),
    #[error("the walkable area is empty (area {0:.3} m²) — give its outline at least three distinct corners")]
    Empty(f64),
    #[error(
        "{what} at ({x:.2}, {y:.2}) is outside the walkable area — move it inside the outline and out of every hole"
    )]
    Outside { what: String, x: f64, y: f64 },
}

/// A wall: a straight piece of the walkable area's boundary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub a: Vec2,
    pub b: Vec2,
}

impl Segment {
    pub fn new(a: Vec2, b: Vec2) -> Self {
        Self { a, b }
    }

    /// The point of the segment closest to `p`.
    pub fn closest(&self, p: Vec2) -> Vec2 {
        let ab = self.b - self.a;
        let len2 = ab.dot(ab);
        if len2 <= 0.0 {
            return self.a;
        }
        let t = ((p - self.a).dot(ab) / len2).clamp(0.0, 1.0);
        self.a + ab * t
    }

    pub fn distance(&self, p: Vec2) -> f64 {
        (p - self.closest(p)).length()
    }

    /// Whether the path from `p` to `q` crosses this segment (touching counts).
    pub fn crossed_by(&self, p: Vec2, q: Vec2) -> bool {
        let d1 = (q - p).cross(self.a - p);
        let d2 = (q - p).cross(self.b - p);
        let d3 = (self.b - self.a).cross(p - self.a);
        let d4 = (self.b - self.a).cross(q - self.a);
        d1 * d2 <= 0.0 && d3 * d4 <= 0.0 && !(d1 == 0.0 && d2 == 0.0)
    }
}

/// The area people may stand in.
#[derive(Debug, Clone)]
pub struct Walkable {
    polygon: Polygon<f64>,
    walls: Vec<Segment>,
    min: Vec2,
    max: Vec2,
    bucket_m: f64,
    buckets_x: usize,
    buckets_y: usize,
    /// Per bucket, the walls within [`WALL_QUERY_M`] of it.
    buckets: Vec<Vec<u32>>,
}

impl Walkable {
    /// A walkable area from a polygon with holes; refused if `geo` finds it invalid
    /// (self-intersecting, open, a hole outside) or if it has no area.
    pub fn new(polygon: Polygon<f64>) -> Result<Self, GeometryError> {
        if let Err(e) = polygon.check_validation() {
            return Err(GeometryError::Invalid(e.to_string()));
        }
        let area = polygon.unsigned_area();
        if area <= 1e-6 {
            return Err(GeometryError::Empty(area));
        }
        let rect = polygon.bounding_rect().ok_or(GeometryError::Empty(0.0))?;
        let min = Vec2::new(rect.min().x, rect.min().y);
        let max = Vec2::new(rect.max().x, rect.max().y);
        let mut walls = Vec::new();
        for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
            for line in ring.lines() {
                let a = Vec2::new(line.start.x, line.start.y);
                let b = Vec2::new(line.end.x, line.end.y);
                if a != b {
                    walls.push(Segment::new(a, b));
                }
            }
        }
        let (w, h) = (max.x - min.x, max.y - min.y);
        if !(w.is_finite() && h.is_finite()) {
            return Err(GeometryError::Empty(area));
        }
        let bucket_m = BUCKET_M.max((w * h / MAX_BUCKETS).sqrt());
        let buckets_x = ((w / bucket_m).ceil() as usize).max(1);
        let buckets_y = ((h / bucket_m).ceil() as usize).max(1);
        let mut buckets = vec![Vec::new(); buckets_x * buckets_y];
        for (i, wall) in walls.iter().enumerate() {
            let lo = Vec2::new(wall.a.x.min(wall.b.x), wall.a.y.min(wall.b.y)) - Vec2::splat(WALL_QUERY_M);
            let hi = Vec2::new(wall.a.x.max(wall.b.x), wall.a.y.max(wall.b.y)) + Vec2::splat(WALL_QUERY_M);
            let (x0, y0) = bucket_of(min, bucket_m, buckets_x, buckets_y, lo);
            let (x1, y1) = bucket_of(min, bucket_m, buckets_x, buckets_y, hi);
            for by in y0..=y1 {
                for bx in x0..=x1 {
                    // Keep it only where the wall really comes near the bucket.
                    let centre = min + Vec2::new((bx as f64 + 0.5) * bucket_m, (by as f64 + 0.5) * bucket_m);
                    if wall.distance(centre) <= WALL_QUERY_M + bucket_m * std::f64::consts::FRAC_1_SQRT_2 {
                        buckets[by * buckets_x + bx].push(i as u32);
                    }
                }
            }
        }
        Ok(Self { polygon, walls, min, max, bucket_m, buckets_x, buckets_y, buckets })
    }

    /// An axis-aligned rectangle.
    pub fn rectangle(min: Vec2, max: Vec2) -> Result<Self, GeometryError> {
        Self::new(Polygon::new(ring(&[min, Vec2::new(max.x, min.y), max, Vec2::new(min.x, max.y)]), Vec::new()))
    }

    /// An outline given by its corners (closed for you) with holes given likewise.
    pub fn from_corners(outline: &[Vec2], holes: &[Vec<Vec2>]) -> Result<Self, GeometryError> {
        Self::new(Polygon::new(ring(outline), holes.iter().map(|h| ring(h)).collect()))
    }

    pub fn polygon(&self) -> &Polygon<f64> {
        &self.polygon
    }

    /// The outline's corners (the closing corner not repeated).
    pub fn outline(&self) -> Vec<Vec2> {
        corners(self.polygon.exterior())
    }

    /// Each hole's corners.
    pub fn holes(&self) -> Vec<Vec<Vec2>> {
        self.polygon.interiors().iter().map(corners).collect()
    }

    pub fn walls(&self) -> &[Segment] {
        &self.walls
    }

    pub fn bounds(&self) -> (Vec2, Vec2) {
        (self.min, self.max)
    }

    pub fn area(&self) -> f64 {
        self.polygon.unsigned_area()
    }

    /// Strictly inside: on a wall is not inside.
    pub fn contains(&self, p: Vec2) -> bool {
        self.polygon.contains(&Coord { x: p.x, y: p.y })
    }

    /// The walls that may lie within [`WALL_QUERY_M`] of `p`.
    pub fn walls_near(&self, p: Vec2) -> impl Iterator<Item = &Segment> + '_ {
        let (bx, by) = bucket_of(self.min, self.bucket_m, self.buckets_x, self.buckets_y, p);
        self.buckets[by * self.buckets_x + bx].iter().map(|&i| &self.walls[i as usize])
    }

    /// The nearest wall point within [`WALL_QUERY_M`], if any.
    pub fn nearest_wall(&self, p: Vec2) -> Option<(f64, Vec2)> {
        let mut best: Option<(f64, Vec2)> = None;
        for wall in self.walls_near(p) {
            let c = wall.closest(p);
            let d = (p - c).length();
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, c));
            }
        }
        best
    }

    /// Distance to the nearest wall, scanning every wall (for floor fields: exact anywhere).
    pub fn wall_distance(&self, p: Vec2) -> f64 {
        self.walls.iter().map(|w| w.distance(p)).fold(f64::INFINITY, f64::min)
    }

    /// Whether a body of `clearance` radius can walk straight from `a` to `b`: no wall crosses
    /// the segment and no wall's end (a corner) farther on comes closer than that to it (every
    /// wall is scanned: for occasional queries).
    pub fn clear_path(&self, a: Vec2, b: Vec2, clearance: f64) -> bool {
        let path = Segment::new(a, b);
        // A corner beside the start is one the walker already stands at: walls push them off it.
        let clips = |c: Vec2| path.distance(c) < clearance && (c - a).length() > 2.0 * clearance;
        self.walls.iter().all(|w| !(path.crossed_by(w.a, w.b) || clips(w.a) || clips(w.b)))
    }

    /// Refuses a point outside the area, naming it.
    pub fn require_inside(&self, what: &str, p: Vec2) -> Result<(), GeometryError> {
        if self.contains(p) { Ok(()) } else { Err(GeometryError::Outside { what: what.to_owned(), x: p.x, y: p.y }) }
    }
}

fn bucket_of(min: Vec2, side: f64, nx: usize, ny: usize, p: Vec2) -> (usize, usize) {
    let bx = ((p.x - min.x) / side).floor().clamp(0.0, (nx - 1) as f64) as usize;
    let by = ((p.y - min.y) / side).floor().clamp(0.0, (ny - 1) as f64) as usize;
    (bx, by)
}

fn corners(ring: &LineString<f64>) -> Vec<Vec2> {
    let mut out: Vec<Vec2> = ring.0.iter().map(|c| Vec2::new(c.x, c.y)).collect();
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    out
}

fn ring(points: &[Vec2]) -> LineString<f64> {
    LineString::from(points.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bow_tie_is_refused_with_a_fix() {
        let err = Walkable::from_corners(
            &[Vec2::new(0.0, 0.0), Vec2::new(2.0, 2.0), Vec2::new(2.0, 0.0), Vec2::new(0.0, 2.0)],
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, GeometryError::Invalid(_)), "{err}");
        assert!(err.to_string().contains("crossing edges"), "{err}");
    }

    #[test]
    fn holes_are_not_walkable_and_their_walls_are_near() {
        let hole = vec![Vec2::new(4.0, 4.0), Vec2::new(6.0, 4.0), Vec2::new(6.0, 6.0), Vec2::new(4.0, 6.0)];
        let area = Walkable::from_corners(
            &[Vec2::new(0.0, 0.0), Vec2::new(10.0, 0.0), Vec2::new(10.0, 10.0), Vec2::new(0.0, 10.0)],
            &[hole],
        )
        .unwrap();
        assert!(!area.contains(Vec2::new(5.0, 5.0)));
        assert!(area.contains(Vec2::new(3.5, 5.0)));
        assert!((area.area() - 96.0).abs() < 1e-9);
        let (d, at) = area.nearest_wall(Vec2::new(3.5, 5.0)).unwrap();
        assert!((d - 0.5).abs() < 1e-12 && (at.x - 4.0).abs() < 1e-12, "{d} {at:?}");
        assert!(area.require_inside("source 'north'", Vec2::new(5.0, 5.0)).unwrap_err().to_string().contains("north"));
    }

    #[test]
    fn crossing_is_detected_both_ways() {
        let door = Segment::new(Vec2::new(0.0, -1.0), Vec2::new(0.0, 1.0));
        assert!(door.crossed_by(Vec2::new(-0.1, 0.0), Vec2::new(0.1, 0.2)));
        assert!(door.crossed_by(Vec2::new(0.1, 0.0), Vec2::new(-0.1, 0.0)));
        assert!(!door.crossed_by(Vec2::new(-0.3, 0.0), Vec2::new(-0.1, 0.0)));
        assert!(!door.crossed_by(Vec2::new(-0.1, 1.5), Vec2::new(0.1, 1.5)));
    }
}
