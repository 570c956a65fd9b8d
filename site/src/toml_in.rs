//! The `[site]` table of a site file (or a scenario fragment): the geometry as coordinates in
//! metres or as WKT strings, or a `drawing` (DXF or GeoJSON, relative to the file) with the
//! table adding to it — typically the residents' shares of the drawn building entrances.

use std::path::Path;

use gatelab_walk::Vec2;
use geo::{Coord, LineString, Point, Polygon};
use serde::Deserialize;
use toml::Spanned;
use wkt::TryFromWkt;

use crate::SiteError;
use crate::raw::{RawSite, RawSourceKind, Role, Shape};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    site: SiteSpec,
}

/// The `[site]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    /// A DXF or GeoJSON drawing, relative to this file.
    pub drawing: Option<String>,
    /// The walkable area's outline, [[x, y], …] in metres (closed for you).
    pub walkable: Option<Vec<[f64; 2]>>,
    /// Or as WKT: `POLYGON ((…), (hole …))`.
    pub walkable_wkt: Option<String>,
    #[serde(default)]
    pub obstacles: Vec<Vec<[f64; 2]>>,
    #[serde(default)]
    pub obstacles_wkt: Vec<String>,
    #[serde(default)]
    pub gates: Vec<Spanned<GateGeometry>>,
    #[serde(default)]
    pub sources: Vec<Spanned<SourceSpec>>,
    #[serde(default)]
    pub queues: Vec<Spanned<QueueSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateGeometry {
    pub name: String,
    /// [[x, y], [x, y]]: the line across the opening.
    pub line: Option<Vec<[f64; 2]>>,
    /// Or `LINESTRING (x y, x y)`.
    pub wkt: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    pub name: String,
    /// `residents` (a building entrance; the default) or `street` (visitors and couriers).
    pub kind: Option<String>,
    /// The residents' share leaving from (and returning to) this entrance.
    pub share: Option<f64>,
    /// [[x, y]] a point, or a line; omitted when the drawing has it.
    pub at: Option<Vec<[f64; 2]>>,
    /// Or `POINT (x y)` / `LINESTRING (…)`.
    pub wkt: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    /// The gate this area queues for.
    pub gate: String,
    pub area: Option<Vec<[f64; 2]>>,
    /// Or `POLYGON ((…))`.
    pub wkt: Option<String>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn coords(points: &[[f64; 2]]) -> Vec<Vec2> {
    points.iter().map(|p| Vec2::new(p[0], p[1])).collect()
}

fn ring(ls: &LineString<f64>) -> Shape {
    let mut points: Vec<Vec2> = ls.0.iter().map(|c: &Coord<f64>| Vec2::new(c.x, c.y)).collect();
    let closed = points.len() > 3 && points.first() == points.last();
    if closed {
        points.pop();
    }
    Shape { points, closed: closed || ls.is_closed() }
}

fn wkt_polygon(s: &str, file: &str, at: &str) -> Result<(Shape, Vec<Shape>), SiteError> {
    let polygon = Polygon::<f64>::try_from_wkt_str(s).map_err(|e| {
        SiteError::new(
            file,
            at,
            format!("not a WKT POLYGON ({e})"),
            "write it as POLYGON ((x y, x y, …, x y)) in metres",
        )
    })?;
    Ok((ring(polygon.exterior()), polygon.interiors().iter().map(ring).collect()))
}

fn wkt_line_or_point(s: &str, file: &str, at: &str) -> Result<Shape, SiteError> {
    if let Ok(line) = LineString::<f64>::try_from_wkt_str(s) {
        return Ok(Shape { points: line.0.iter().map(|c| Vec2::new(c.x, c.y)).collect(), closed: false });
    }
    let point = Point::<f64>::try_from_wkt_str(s).map_err(|e| {
        SiteError::new(
            file,
            at,
            format!("not a WKT LINESTRING or POINT ({e})"),
            "write LINESTRING (x y, x y) or POINT (x y)",
        )
    })?;
    Ok(Shape { points: vec![Vec2::new(point.x(), point.y())], closed: false })
}

/// Reads a site TOML file; a `drawing` is read with `read_drawing` and the table adds to it.
pub fn read(
    path: &Path,
    text: &str,
    read_drawing: impl Fn(&Path) -> Result<RawSite, Vec<SiteError>>,
) -> Result<RawSite, Vec<SiteError>> {
    let file = path.display().to_string();
    let parsed: File = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| format!("line {}", line_of(text, s.start))).unwrap_or_else(|| "the file".into());
        vec![SiteError::new(
            &file,
            &line,
            e.message().trim().to_owned(),
            "see `gatelab site --help` for the [site] table's fields",
        )]
    })?;
    let spec = parsed.site;
    let mut errors = Vec::new();
    let mut raw = match &spec.drawing {
        Some(drawing) => {
            let drawing_path = path.parent().unwrap_or(Path::new(".")).join(drawing);
            let mut raw = read_drawing(&drawing_path)?;
            raw.notes.push(format!("drawing {} (from {file})", drawing_path.display()));
            raw
        }
        None => RawSite { file: file.clone(), ..RawSite::default() },
    };
    if let Some(outline) = &spec.walkable {
        raw.walkable.push((Shape { points: coords(outline), closed: true }, Vec::new(), "[site] walkable".into()));
    }
    if let Some(w) = &spec.walkable_wkt {
        match wkt_polygon(w, &file, "[site] walkable_wkt") {
            Ok((outline, holes)) => raw.walkable.push((outline, holes, "[site] walkable_wkt".into())),
            Err(e) => errors.push(e),
        }
    }
    for (i, o) in spec.obstacles.iter().enumerate() {
        raw.add(Role::Obstacle, Shape { points: coords(o), closed: true }, None, format!("[site] obstacles[{i}]"));
    }
    for (i, w) in spec.obstacles_wkt.iter().enumerate() {
        let at = format!("[site] obstacles_wkt[{i}]");
        match wkt_polygon(w, &file, &at) {
            Ok((outline, _)) => raw.add(Role::Obstacle, outline, None, at),
            Err(e) => errors.push(e),
        }
    }
    for gate in &spec.gates {
        let at = format!("line {}: [[site.gates]] '{}'", line_of(text, gate.span().start), gate.get_ref().name);
        let g = gate.get_ref();
        let given = (
            g.line.as_ref().map(|line| Shape { points: coords(line), closed: false }),
            g.wkt.as_ref().map(|w| wkt_line_or_point(w, &file, &at)),
        );
        let shape = match coords_or_wkt(given, &file, &at, "`line` and `wkt`", "give line = [[x, y], [x, y]]") {
            Ok(shape) => shape,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        raw.add(Role::Gate(g.name.clone()), shape, None, at);
    }
    for source in &spec.sources {
        let at = format!("line {}: [[site.sources]] '{}'", line_of(text, source.span().start), source.get_ref().name);
        let s = source.get_ref();
        let kind = match s.kind.as_deref() {
            None | Some("residents") => RawSourceKind::Residents,
            Some("street") => RawSourceKind::Street,
            Some(other) => {
                errors.push(SiteError::new(
                    &file,
                    &at,
                    format!("kind '{other}' is unknown"),
                    "use kind = \"residents\" or \"street\"",
                ));
                continue;
            }
        };
        let shape = match (&s.at, &s.wkt) {
            (Some(points), None) => Some(Shape { points: coords(points), closed: false }),
            (None, Some(w)) => match wkt_line_or_point(w, &file, &at) {
                Ok(shape) => Some(shape),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            },
            (None, None) => None,
            (Some(_), Some(_)) => {
                errors.push(SiteError::new(&file, &at, "has both `at` and `wkt`", "keep one of them"));
                continue;
            }
        };
        match shape {
            Some(shape) => {
                let role = match kind {
                    RawSourceKind::Residents => Role::Source(s.name.clone()),
                    RawSourceKind::Street => Role::Street(s.name.clone()),
                };
                raw.add(role, shape, s.share, at);
            }
            // Only a share for a drawn source.
            None => match raw.sources.iter_mut().find(|d| d.name == s.name) {
                Some(drawn) => drawn.share = s.share,
                None => errors.push(SiteError::new(
                    &file,
                    &at,
                    format!("names no drawn source and gives no position ('{}')", s.name),
                    "give at = [[x, y]], or name a source:<name> of the drawing",
                )),
            },
        }
    }
    for queue in &spec.queues {
        let at = format!("line {}: [[site.queues]] for '{}'", line_of(text, queue.span().start), queue.get_ref().gate);
        let q = queue.get_ref();
        let given = (
            q.area.as_ref().map(|points| Shape { points: coords(points), closed: true }),
            q.wkt.as_ref().map(|w| wkt_polygon(w, &file, &at).map(|(outline, _)| outline)),
        );
        let shape = match coords_or_wkt(given, &file, &at, "`area` and `wkt`", "give area = [[x, y], …]") {
            Ok(shape) => shape,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        raw.add(Role::Queue(q.gate.clone()), shape, None, at);
    }
    if errors.is_empty() { Ok(raw) } else { Err(errors) }
}

/// A shape given either as coordinates or as WKT (already read), never both nor neither.
fn coords_or_wkt(
    given: (Option<Shape>, Option<Result<Shape, SiteError>>),
    file: &str,
    at: &str,
    which: &str,
    example: &str,
) -> Result<Shape, SiteError> {
    match given {
        (Some(shape), None) => Ok(shape),
        (None, Some(read)) => read,
        _ => Err(SiteError::new(file, at, format!("needs exactly one of {which}"), example)),
    }
}
