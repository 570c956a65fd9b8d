//! A DXF drawing (the `dxf` crate reads it) under the layer convention of [`crate::raw::role_of`].
//! LINE, LWPOLYLINE, POLYLINE and POINT entities count; units come from `$INSUNITS`
//! (millimetres, centimetres, metres, …; a unitless drawing is read as metres and says so).

use std::path::Path;

use dxf::entities::EntityType;
use dxf::enums::Units;
use gatelab_walk::Vec2;

use crate::SiteError;
use crate::raw::{CONVENTION, RawSite, Shape, role_of};

/// Metres per drawing unit, and the unit's name.
fn unit_scale(units: Units) -> Option<(f64, &'static str)> {
    Some(match units {
        Units::Unitless => (1.0, "unitless (read as metres)"),
        Units::Meters => (1.0, "metres"),
        Units::Millimeters => (0.001, "millimetres"),
        Units::Centimeters => (0.01, "centimetres"),
        Units::Decimeters => (0.1, "decimetres"),
        Units::Inches => (0.0254, "inches"),
        Units::Feet => (0.3048, "feet"),
        Units::USSurveyFeet => (1200.0 / 3937.0, "US survey feet"),
        Units::Yards => (0.9144, "yards"),
        Units::Kilometers => (1000.0, "kilometres"),
        _ => return None,
    })
}

pub fn read(path: &Path) -> Result<RawSite, Vec<SiteError>> {
    let file = path.display().to_string();
    let drawing = dxf::Drawing::load_file(path).map_err(|e| unreadable(&file, &e))?;
    collect(&file, &drawing)
}

/// A DXF drawing given as text (tests and the fuzz target).
pub fn read_text(path: &Path, text: &str) -> Result<RawSite, Vec<SiteError>> {
    let file = path.display().to_string();
    let drawing = dxf::Drawing::load(&mut text.as_bytes()).map_err(|e| unreadable(&file, &e))?;
    collect(&file, &drawing)
}

fn unreadable(file: &str, e: &dxf::DxfError) -> Vec<SiteError> {
    vec![SiteError::new(
        file,
        "the drawing",
        format!("not a readable DXF file ({e})"),
        "save it from your CAD program as DXF (ASCII or binary), R12 or later",
    )]
}

fn collect(file: &str, drawing: &dxf::Drawing) -> Result<RawSite, Vec<SiteError>> {
    let file = file.to_owned();
    let units = drawing.header.default_drawing_units;
    let Some((scale, unit_name)) = unit_scale(units) else {
        return Err(vec![SiteError::new(
            &file,
            "header $INSUNITS",
            format!("drawing units {units:?} are not a length gatelab reads"),
            "set the drawing units to metres or millimetres (UNITS command) and save again",
        )]);
    };
    let mut raw = RawSite { file: file.clone(), ..RawSite::default() };
    raw.notes.push(format!("drawing units: {unit_name}"));
    let mut layers_seen: Vec<String> = Vec::new();
    for entity in drawing.entities() {
        let layer = entity.common.layer.clone();
        if !layers_seen.contains(&layer) {
            layers_seen.push(layer.clone());
        }
        let Some(role) = role_of(&layer) else { continue };
        let handle = entity.common.handle.0;
        let (kind, shape) = match &entity.specific {
            EntityType::Line(line) => (
                "LINE",
                Shape { points: vec![Vec2::new(line.p1.x, line.p1.y), Vec2::new(line.p2.x, line.p2.y)], closed: false },
            ),
            EntityType::LwPolyline(poly) => (
                "LWPOLYLINE",
                Shape { points: poly.vertices.iter().map(|v| Vec2::new(v.x, v.y)).collect(), closed: poly.is_closed() },
            ),
            EntityType::Polyline(poly) => (
                "POLYLINE",
                Shape {
                    points: poly.vertices().map(|v| Vec2::new(v.location.x, v.location.y)).collect(),
                    closed: poly.is_closed(),
                },
            ),
            EntityType::ModelPoint(point) => {
                ("POINT", Shape { points: vec![Vec2::new(point.location.x, point.location.y)], closed: false })
            }
            other => {
                raw.skipped.push(format!(
                    "layer '{layer}': a {} (handle {handle:X}) — only lines, polylines and points are read; \
                     draw arcs and circles as polylines",
                    entity_name(other)
                ));
                continue;
            }
        };
        let mut shape = shape;
        // A polyline whose last vertex repeats its first is closed whatever its flag says.
        if shape.points.len() > 3 && shape.points.first() == shape.points.last() {
            shape.points.pop();
            shape.closed = true;
        }
        raw.add(role, shape, None, format!("layer '{layer}' ({kind} {handle:X})"));
    }
    for layer in &layers_seen {
        if role_of(layer).is_none() {
            raw.skipped.push(format!("layer '{layer}': not part of the convention, ignored"));
        }
    }
    if raw.walkable.is_empty() {
        let seen = if layers_seen.is_empty() { "none".to_owned() } else { layers_seen.join(", ") };
        return Err(vec![SiteError::new(
            &file,
            "layers",
            format!("no closed outline on a layer 'walkable' (layers found: {seen})"),
            format!("put the walkable area's outline on a layer named 'walkable'; the convention: {CONVENTION}"),
        )]);
    }
    if scale != 1.0 {
        raw.map_points(|p| p * scale);
    }
    Ok(raw)
}

fn entity_name(e: &EntityType) -> String {
    let debug = format!("{e:?}");
    debug.split(['(', ' ', '{']).next().unwrap_or("entity").to_uppercase()
}
