//! From what a file said to a site the simulation can walk: one walkable polygon (the outline
//! minus every obstacle, by `geo`'s boolean operations), gates on its edges, sources on or in it,
//! queue areas in front of their gates, and every gate reachable from a source and every source
//! reaching a gate (floor fields). Every problem is collected, each naming its feature.

use std::sync::Arc;

use gatelab_walk::field::FloorField;
use gatelab_walk::{Segment, Vec2, Walkable};
use geo::{Area, BooleanOps, LineString, MultiPolygon, Polygon, Validation};

use crate::raw::{RawSite, RawSourceKind, Shape};
use crate::{QueueArea, Site, SiteError, SiteGate, Source, SourceKind};

/// How far a gate's ends or a street edge may be from an edge of the walkable area, m: a
/// drawing's snapping tolerance.
pub const SNAP_M: f64 = 0.5;
/// Floor fields for the reachability check, m per cell.
const REACH_CELL_M: f64 = 0.25;
/// Coordinates farther than this from the origin are shifted to a local origin (the simulation
/// keeps positions within a few kilometres).
const SHIFT_BEYOND_M: f64 = 5_000.0;
/// A compound's entrance area fits in this square, m: a larger drawing has wrong units or
/// coordinates (and its floor fields would not fit in memory).
pub const MAX_EXTENT_M: f64 = 2_000.0;

fn polygon(outline: &Shape, holes: &[Shape]) -> Polygon<f64> {
    let ring = |s: &Shape| LineString::from(s.points.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>());
    Polygon::new(ring(outline), holes.iter().map(ring).collect())
}

fn closed_polygon(
    file: &str,
    what: &str,
    origin: &str,
    shape: &Shape,
    errors: &mut Vec<SiteError>,
) -> Option<Polygon<f64>> {
    if shape.points.len() < 3 {
        errors.push(SiteError::new(
            file,
            origin,
            format!("the {what} has {} corner(s)", shape.points.len()),
            "draw at least three corners",
        ));
        return None;
    }
    if !shape.closed {
        errors.push(SiteError::new(
            file,
            origin,
            format!("the {what} is an open line"),
            "close the polyline (the last corner joins the first)",
        ));
        return None;
    }
    let p = polygon(shape, &[]);
    if let Err(e) = p.check_validation() {
        errors.push(SiteError::new(
            file,
            origin,
            format!("the {what} is not a simple polygon: {e}"),
            "remove the crossing or repeated edges",
        ));
        return None;
    }
    Some(p)
}

/// The point a source is judged by: the point itself, the middle of a line's first segment, the
/// mean corner of a polygon.
fn representative(shape: &Shape) -> Vec2 {
    match shape.points.as_slice() {
        [p] => *p,
        [a, b, ..] if !shape.closed => (*a + *b) * 0.5,
        pts => pts.iter().fold(Vec2::ZERO, |s, p| s + *p) * (1.0 / pts.len().max(1) as f64),
    }
}

/// The least travel to a field's goal from `p` or, for a point on an edge, from just inside it.
fn travel_from(field: &FloorField, area: &Walkable, p: Vec2) -> f64 {
    let mut best = field.travel(p);
    if best.is_finite() && area.contains(p) {
        return best;
    }
    for k in 0..16 {
        let angle = f64::from(k) * std::f64::consts::PI / 8.0;
        for r in [0.2, 0.4, 0.6] {
            let q = p + Vec2::new(angle.cos(), angle.sin()) * r;
            if area.contains(q) {
                best = best.min(field.travel(q));
            }
        }
    }
    best
}

pub fn check(mut raw: RawSite) -> Result<Site, Vec<SiteError>> {
    let file = raw.file.clone();
    let mut errors = Vec::new();
    // A drawing in national grid coordinates: work about a local origin.
    let (lo, hi) = raw.points().fold((Vec2::splat(f64::INFINITY), Vec2::splat(f64::NEG_INFINITY)), |(lo, hi), p| {
        (Vec2::new(lo.x.min(p.x), lo.y.min(p.y)), Vec2::new(hi.x.max(p.x), hi.y.max(p.y)))
    });
    if lo.x.is_finite() && (hi.x - lo.x > MAX_EXTENT_M || hi.y - lo.y > MAX_EXTENT_M) {
        errors.push(SiteError::new(
            &file,
            "the drawing",
            format!("spans {:.0} × {:.0} m", hi.x - lo.x, hi.y - lo.y),
            format!(
                "draw the entrance area (at most {MAX_EXTENT_M:.0} m across); if it is that small, check the units ($INSUNITS) or the coordinates"
            ),
        ));
        return Err(errors);
    }
    if raw.points().any(|p| !p.x.is_finite() || !p.y.is_finite()) {
        errors.push(SiteError::new(
            &file,
            "the drawing",
            "has a coordinate that is not a number",
            "give every corner finite x and y",
        ));
        return Err(errors);
    }
    let mut offset = Vec2::ZERO;
    if lo.x.is_finite() && (lo.x.abs() > SHIFT_BEYOND_M || lo.y.abs() > SHIFT_BEYOND_M) {
        offset = Vec2::new((lo.x / 100.0).floor() * 100.0, (lo.y / 100.0).floor() * 100.0);
        raw.map_points(|p| p - offset);
        raw.notes.push(format!("shifted by ({:.0}, {:.0}) m to a local origin", -offset.x, -offset.y));
    }
    let outline = match raw.walkable.as_slice() {
        [] => {
            errors.push(SiteError::new(
                &file,
                "the site",
                "has no walkable area",
                "draw its outline (layer 'walkable', or `walkable` in [site])",
            ));
            return Err(errors);
        }
        [(outline, holes, origin)] => {
            if let Some(p) = closed_polygon(&file, "walkable outline", origin, outline, &mut errors) {
                let with_holes = polygon(outline, holes);
                match with_holes.check_validation() {
                    Ok(()) => Some(with_holes),
                    Err(e) => {
                        errors.push(SiteError::new(
                            &file,
                            origin,
                            format!("the walkable area is not valid: {e}"),
                            "keep every hole inside the outline, holes apart",
                        ));
                        let _ = p;
                        None
                    }
                }
            } else {
                None
            }
        }
        many => {
            let origins: Vec<&str> = many.iter().map(|(_, _, o)| o.as_str()).collect();
            errors.push(SiteError::new(
                &file,
                "the site",
                format!("has {} walkable outlines ({})", many.len(), origins.join("; ")),
                "give one outline; draw what is not walkable inside it as obstacles",
            ));
            None
        }
    };
    let obstacles: Vec<Polygon<f64>> = raw
        .obstacles
        .iter()
        .filter_map(|(s, origin)| closed_polygon(&file, "obstacle", origin, s, &mut errors))
        .collect();
    let Some(outline) = outline else { return Err(errors) };
    let mut ground = MultiPolygon::new(vec![outline]);
    for obstacle in &obstacles {
        ground = ground.difference(obstacle);
    }
    let mut pieces: Vec<Polygon<f64>> = ground.0.into_iter().filter(|p| p.unsigned_area() >= 0.01).collect();
    pieces.sort_by(|a, b| b.unsigned_area().total_cmp(&a.unsigned_area()));
    let walkable = match pieces.len() {
        0 => {
            errors.push(SiteError::new(
                &file,
                "obstacles",
                "cover the whole walkable area",
                "draw buildings and fences as outlines inside the walkable area",
            ));
            return Err(errors);
        }
        1 => match Walkable::new(pieces.remove(0)) {
            Ok(w) => w,
            Err(e) => {
                errors.push(SiteError::new(
                    &file,
                    "the walkable area less the obstacles",
                    e.to_string(),
                    "check where obstacles touch the outline",
                ));
                return Err(errors);
            }
        },
        n => {
            let areas: Vec<String> = pieces.iter().map(|p| format!("{:.1} m²", p.unsigned_area())).collect();
            errors.push(SiteError::new(
                &file,
                "the walkable area less the obstacles",
                format!("falls apart into {n} pieces ({})", areas.join(", ")),
                "open a path between them (a gap in the fence, a gate) or leave the cut-off pieces out of the outline",
            ));
            return Err(errors);
        }
    };
    let mut gates = Vec::new();
    for (name, shape, origin) in &raw.gates {
        if gates.iter().any(|g: &SiteGate| &g.name == name) {
            errors.push(SiteError::new(
                &file,
                origin,
                format!("gate '{name}' is drawn twice"),
                "keep one line per gate",
            ));
            continue;
        }
        let [a, b] = shape.points.as_slice() else {
            errors.push(SiteError::new(
                &file,
                origin,
                format!("gate '{name}' has {} points", shape.points.len()),
                "draw the gate as one straight line across its opening",
            ));
            continue;
        };
        if (*b - *a).length() < 0.5 {
            errors.push(SiteError::new(
                &file,
                origin,
                format!("gate '{name}' is {:.2} m wide", (*b - *a).length()),
                "draw it across the whole opening (at least 0.5 m)",
            ));
            continue;
        }
        let (da, db) = (walkable.wall_distance(*a), walkable.wall_distance(*b));
        if da > SNAP_M || db > SNAP_M {
            errors.push(SiteError::new(
                &file,
                origin,
                format!("gate '{name}' is not on the boundary or a fence: its ends are {da:.2} m and {db:.2} m from the nearest edge"),
                format!("snap both ends to the fence or the outline (within {SNAP_M} m)"),
            ));
            continue;
        }
        gates.push(SiteGate { name: name.clone(), line: Segment::new(*a, *b) });
    }
    let mut sources = Vec::new();
    let residents: Vec<&crate::raw::RawSource> =
        raw.sources.iter().filter(|s| s.kind == RawSourceKind::Residents).collect();
    let given = residents.iter().filter(|s| s.share.is_some()).count();
    if given > 0 && given < residents.len() {
        errors.push(SiteError::new(
            &file,
            "sources",
            format!("{given} of {} building entrances have a share", residents.len()),
            "give every source:<name> a share, or none (equal shares)",
        ));
    }
    let total: f64 = residents.iter().filter_map(|s| s.share).sum();
    if given > 0 && given == residents.len() && (total - 1.0).abs() > 0.01 {
        errors.push(SiteError::new(
            &file,
            "sources",
            format!("the residents' shares sum to {total:.3}"),
            "make them sum to 1",
        ));
    }
    for s in &raw.sources {
        if s.shape.points.is_empty() {
            errors.push(SiteError::new(
                &file,
                &s.origin,
                format!("source '{}' has no position", s.name),
                "draw a point or a line",
            ));
            continue;
        }
        let at = representative(&s.shape);
        if !walkable.contains(at) && walkable.wall_distance(at) > SNAP_M {
            errors.push(SiteError::new(
                &file,
                &s.origin,
                format!("source '{}' at ({:.1}, {:.1}) is outside the walkable area", s.name, at.x, at.y),
                "move it onto the walkable ground (a building entrance on its wall, a street edge on the outline)",
            ));
            continue;
        }
        if let Some(share) = s.share
            && !(share > 0.0 && share <= 1.0)
        {
            errors.push(SiteError::new(
                &file,
                &s.origin,
                format!("source '{}' has share {share}", s.name),
                "give a share in (0, 1]",
            ));
            continue;
        }
        let kind = match s.kind {
            RawSourceKind::Residents => {
                SourceKind::Residents { share: s.share.unwrap_or(1.0 / residents.len().max(1) as f64) }
            }
            RawSourceKind::Street => SourceKind::Street,
        };
        sources.push(Source { name: s.name.clone(), kind, points: s.shape.points.clone(), at });
    }
    if raw.sources.is_empty() {
        errors.push(SiteError::new(
            &file,
            "sources",
            "none drawn",
            "draw the building entrances (source:<name>) and the street edges (street:<name>)",
        ));
    }
    if raw.gates.is_empty() {
        errors.push(SiteError::new(
            &file,
            "gates",
            "none drawn",
            "draw each gate as a line across its opening (gate:<name>)",
        ));
    }
    let ground = MultiPolygon::new(vec![walkable.polygon().clone()]);
    let mut queues = Vec::new();
    for (gate, shape, origin) in &raw.queues {
        let Some(g) = gates.iter().find(|g| &g.name == gate) else {
            if !raw.gates.iter().any(|(n, _, _)| n == gate) {
                errors.push(SiteError::new(
                    &file,
                    origin,
                    format!("queue area for gate '{gate}', which is not drawn"),
                    "name a gate of the site (queue:<gate name>)",
                ));
            }
            continue;
        };
        let Some(p) = closed_polygon(&file, "queue area", origin, shape, &mut errors) else { continue };
        let area = p.unsigned_area();
        let inside = ground.intersection(&p).unsigned_area();
        if inside < 0.9 * area {
            errors.push(SiteError::new(
                &file,
                origin,
                format!(
                    "the queue area for '{gate}' is only {:.0} % on walkable ground",
                    100.0 * inside / area.max(1e-9)
                ),
                "draw it on the walkable ground in front of the gate",
            ));
            continue;
        }
        let near = (0..=10).map(|k| g.line.a + (g.line.b - g.line.a) * (f64::from(k) / 10.0)).any(|q| {
            shape
                .points
                .iter()
                .zip(shape.points.iter().cycle().skip(1))
                .any(|(a, b)| Segment::new(*a, *b).distance(q) <= 1.0)
        });
        if !near {
            errors.push(SiteError::new(
                &file,
                origin,
                format!("the queue area for '{gate}' does not touch its gate"),
                "draw it up to the gate line (within 1 m)",
            ));
            continue;
        }
        queues.push(QueueArea { gate: gate.clone(), outline: shape.points.clone(), area_m2: area });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Reachability: every gate from some source, every source to some gate.
    let mut reached = vec![false; sources.len()];
    let area = Arc::new(walkable);
    for gate in &gates {
        let field = match FloorField::new(&area, &gate.name, &[gate.line], REACH_CELL_M) {
            Ok(f) => f,
            Err(e) => {
                errors.push(SiteError::new(
                    &file,
                    format!("gate '{}'", gate.name),
                    e.to_string(),
                    "put the gate line on the walkable area's edge",
                ));
                continue;
            }
        };
        let mut any = false;
        for (i, s) in sources.iter().enumerate() {
            if travel_from(&field, &area, s.at).is_finite() {
                reached[i] = true;
                any = true;
            }
        }
        if !any && !sources.is_empty() {
            errors.push(SiteError::new(
                &file,
                format!("gate '{}'", gate.name),
                "no source can reach it: obstacles close every way to it",
                "open a path to the gate (a gap in a fence, a pavement) or move it",
            ));
        }
    }
    for (s, ok) in sources.iter().zip(&reached) {
        if !ok && !gates.is_empty() {
            errors.push(SiteError::new(
                &file,
                format!("source '{}'", s.name),
                "reaches no gate",
                "open a path from it to a gate",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let walkable = Arc::try_unwrap(area).unwrap_or_else(|a| (*a).clone());
    Ok(Site { file, walkable, gates, sources, queues, offset, notes: raw.notes, skipped: raw.skipped })
}
