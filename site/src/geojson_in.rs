//! A GeoJSON FeatureCollection (the `geojson` crate reads it): each feature's `layer` property
//! names its role under the DXF layer convention; sources may carry a `share`. Coordinates are
//! longitude/latitude (RFC 7946, no `crs` member, or `crs` naming EPSG:4326 / CRS84), projected
//! locally to metres; or projected metres when a `crs` member names a UTM zone
//! (EPSG:32601–32660, 32701–32760) or a CGCS2000 Gauss–Krüger zone (EPSG:4491–4554).

use std::path::Path;

use gatelab_walk::Vec2;
use geojson::{Feature, GeoJson, GeometryValue};

use crate::SiteError;
use crate::projection::LocalProjection;
use crate::raw::{CONVENTION, RawSite, Shape, role_of};

/// How the file's coordinates are to be read.
#[derive(Debug, Clone, PartialEq)]
enum Crs {
    LonLat,
    Metres(String),
}

fn crs_of(fc: &geojson::FeatureCollection, file: &str) -> Result<Crs, SiteError> {
    let Some(crs) = fc.foreign_members.as_ref().and_then(|m| m.get("crs")) else { return Ok(Crs::LonLat) };
    let name = crs.pointer("/properties/name").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let upper = name.to_ascii_uppercase();
    if upper.ends_with("CRS84") || upper.ends_with(":4326") || upper.ends_with("::4326") {
        return Ok(Crs::LonLat);
    }
    let code: Option<u32> = upper.rsplit(':').next().and_then(|c| c.parse().ok());
    match code {
        Some(c) if (32601..=32660).contains(&c) || (32701..=32760).contains(&c) || (4491..=4554).contains(&c) => {
            Ok(Crs::Metres(name))
        }
        _ => Err(SiteError::new(
            file,
            "the \"crs\" member",
            format!("unknown coordinate reference system '{name}'"),
            "reproject the file to WGS 84 lon/lat (EPSG:4326, the GeoJSON default), a UTM zone (EPSG:326xx) \
             or a CGCS2000 Gauss–Krüger zone (EPSG:4491–4554) — e.g. `ogr2ogr -t_srs EPSG:4326 out.geojson in.geojson`",
        )),
    }
}

fn points(ring: &[geojson::Position]) -> Vec<Vec2> {
    ring.iter()
        .map(|p| {
            Vec2::new(
                p.as_slice().first().copied().unwrap_or(f64::NAN),
                p.as_slice().get(1).copied().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// A GeoJSON ring: closed by repeating its first position; the repeat is dropped here.
fn ring_shape(ring: &[geojson::Position]) -> Shape {
    let mut pts = points(ring);
    let closed = pts.len() > 3 && pts.first() == pts.last();
    if closed {
        pts.pop();
    }
    Shape { points: pts, closed }
}

fn feature_name(i: usize, f: &Feature) -> String {
    let name = f.properties.as_ref().and_then(|p| p.get("name")).and_then(|v| v.as_str());
    match name {
        Some(n) => format!("feature {} ('{n}')", i + 1),
        None => format!("feature {}", i + 1),
    }
}

pub fn read(path: &Path, text: &str) -> Result<RawSite, Vec<SiteError>> {
    let file = path.display().to_string();
    let geojson: GeoJson = text.parse().map_err(|e| {
        vec![SiteError::new(
            &file,
            "the file",
            format!("not valid GeoJSON ({e})"),
            "export the layer as GeoJSON (RFC 7946) from your GIS",
        )]
    })?;
    let GeoJson::FeatureCollection(fc) = geojson else {
        return Err(vec![SiteError::new(
            &file,
            "the file",
            "a single geometry or feature, not a FeatureCollection",
            format!("give a FeatureCollection whose features carry a \"layer\" property: {CONVENTION}"),
        )]);
    };
    let crs = crs_of(&fc, &file).map_err(|e| vec![e])?;
    let mut raw = RawSite { file: file.clone(), ..RawSite::default() };
    let mut errors = Vec::new();
    for (i, feature) in fc.features.iter().enumerate() {
        let origin = feature_name(i, feature);
        let layer = feature.properties.as_ref().and_then(|p| p.get("layer")).and_then(|v| v.as_str());
        let Some(layer) = layer else {
            raw.skipped.push(format!("{origin}: no \"layer\" property, ignored"));
            continue;
        };
        let Some(role) = role_of(layer) else {
            raw.skipped.push(format!("{origin}: layer '{layer}' is not part of the convention, ignored"));
            continue;
        };
        let share = feature.properties.as_ref().and_then(|p| p.get("share")).and_then(|v| v.as_f64());
        let Some(geometry) = &feature.geometry else {
            errors.push(SiteError::new(&file, &origin, "has no geometry", "draw it, or remove the feature"));
            continue;
        };
        let origin = format!("{origin}, layer '{layer}'");
        match &geometry.value {
            GeometryValue::Polygon { coordinates } => {
                let mut rings = coordinates.iter().map(|r| ring_shape(r));
                let Some(outline) = rings.next() else {
                    errors.push(SiteError::new(&file, &origin, "is an empty polygon", "give its outline"));
                    continue;
                };
                let holes: Vec<Shape> = rings.collect();
                if matches!(role, crate::raw::Role::Walkable) {
                    raw.walkable.push((outline, holes, origin));
                } else {
                    raw.add(role, outline, share, origin);
                }
            }
            GeometryValue::LineString { coordinates } => {
                raw.add(role, Shape { points: points(coordinates), closed: false }, share, origin)
            }
            GeometryValue::Point { coordinates } => {
                raw.add(role, Shape { points: points(std::slice::from_ref(coordinates)), closed: false }, share, origin)
            }
            _ => errors.push(SiteError::new(
                &file,
                &origin,
                "is a multi-part geometry or a collection",
                "split it into one Polygon, LineString or Point per feature",
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(bad) = raw.points().find(|p| !p.x.is_finite() || !p.y.is_finite()) {
        return Err(vec![SiteError::new(
            &file,
            "coordinates",
            format!("a position without x and y ({bad:?})"),
            "give every position as [x, y]",
        )]);
    }
    match crs {
        Crs::LonLat => {
            if let Some(p) = raw.points().find(|p| p.x.abs() > 180.0 || p.y.abs() > 90.0) {
                return Err(vec![SiteError::new(
                    &file,
                    "coordinates",
                    format!(
                        "({:.1}, {:.1}) is not a longitude/latitude, and the file names no projected \"crs\"",
                        p.x, p.y
                    ),
                    "add \"crs\": {\"type\": \"name\", \"properties\": {\"name\": \"urn:ogc:def:crs:EPSG::32650\"}} \
                     (your UTM zone) to the FeatureCollection, or export lon/lat (EPSG:4326)",
                )]);
            }
            let (lo, hi) = bounds(&raw);
            let projection = LocalProjection::new((lo.x + hi.x) / 2.0, (lo.y + hi.y) / 2.0);
            raw.map_points(|p| projection.to_metres(p));
            raw.notes.push(projection.describe());
        }
        Crs::Metres(name) => raw.notes.push(format!("coordinates in metres ({name})")),
    }
    Ok(raw)
}

fn bounds(raw: &RawSite) -> (Vec2, Vec2) {
    raw.points().fold((Vec2::splat(f64::INFINITY), Vec2::splat(f64::NEG_INFINITY)), |(lo, hi), p| {
        (Vec2::new(lo.x.min(p.x), lo.y.min(p.y)), Vec2::new(hi.x.max(p.x), hi.y.max(p.y)))
    })
}
