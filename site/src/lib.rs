//! `gatelab-site`: a compound's own site as geometry.
//!
//! Read from a `[site]` table of coordinates or WKT ([`toml_in`]), a GeoJSON FeatureCollection
//! ([`geojson_in`], lon/lat projected locally or a named projected CRS), or a DXF drawing
//! ([`dxf_in`]) under one layer convention ([`raw::CONVENTION`]); then checked ([`check`]) into a
//! [`Site`]: one walkable polygon with holes, gates on its edges, sources, queue areas, every
//! gate reachable. Every problem names the file, the layer, feature or line, and the fix; a
//! reader never panics (the fuzz target `site_loaders` holds it to that).
//!
//! Knows `geo`, `wkt`, `geojson`, `dxf`, TOML and the walking model's geometry; never Bevy, the
//! scenario's other tables or the simulation.

pub mod check;
pub mod dxf_in;
pub mod geojson_in;
pub mod projection;
pub mod raw;
pub mod toml_in;

use std::fmt;
use std::path::Path;

pub use gatelab_walk::QueuingLevel;
use gatelab_walk::{Segment, Vec2, Walkable};

/// One problem with a site file.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteError {
    pub file: String,
    /// The layer, feature, table or line.
    pub at: String,
    pub problem: String,
    pub fix: String,
}

impl SiteError {
    pub fn new(file: &str, at: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { file: file.to_owned(), at: at.into(), problem: problem.into(), fix: fix.into() }
    }
}

impl fmt::Display for SiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {} — {}", self.file, self.at, self.problem, self.fix)
    }
}

/// Every problem found, one per line.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteErrors(pub Vec<SiteError>);

impl fmt::Display for SiteErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SiteErrors {}

#[derive(Debug, Clone, PartialEq)]
pub struct SiteGate {
    pub name: String,
    /// Across the opening, on the walkable area's edge.
    pub line: Segment,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceKind {
    /// A building entrance and the share of residents living behind it.
    Residents { share: f64 },
    /// A street edge: visitors, couriers and food couriers appear there.
    Street,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub kind: SourceKind,
    /// As drawn (a point, or a line).
    pub points: Vec<Vec2>,
    /// The point it is judged by.
    pub at: Vec2,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueArea {
    pub gate: String,
    pub outline: Vec<Vec2>,
    pub area_m2: f64,
}

impl QueueArea {
    /// How many people the area holds at a queuing level of service (`None` for F: no limit).
    pub fn holds_at(&self, level: QueuingLevel) -> Option<u32> {
        (level != QueuingLevel::F).then(|| (self.area_m2 / level.min_space_m2()).floor() as u32)
    }
}

/// A checked site, in metres about a local origin.
#[derive(Debug, Clone)]
pub struct Site {
    pub file: String,
    pub walkable: Walkable,
    pub gates: Vec<SiteGate>,
    pub sources: Vec<Source>,
    pub queues: Vec<QueueArea>,
    /// Subtracted from every coordinate read (a drawing in national grid coordinates).
    pub offset: Vec2,
    /// How the coordinates were read (units, projection, shift).
    pub notes: Vec<String>,
    /// What was read but left out, and why.
    pub skipped: Vec<String>,
}

/// Reads a drawing: `.dxf`, or `.geojson` / `.json`.
pub fn read_drawing(path: &Path) -> Result<raw::RawSite, Vec<SiteError>> {
    let file = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "dxf" => {
            if !path.exists() {
                return Err(vec![SiteError::new(
                    &file,
                    "the drawing",
                    "does not exist",
                    "check the path (relative to the file naming it)",
                )]);
            }
            dxf_in::read(path)
        }
        "geojson" | "json" => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                vec![SiteError::new(
                    &file,
                    "the file",
                    format!("could not be read ({e})"),
                    "check the path and that it is UTF-8 text",
                )]
            })?;
            geojson_in::read(path, &text)
        }
        _ => Err(vec![SiteError::new(
            &file,
            "the file name",
            format!("'.{ext}' is not a drawing gatelab reads"),
            "give a .dxf, .geojson or .json file",
        )]),
    }
}

/// Loads and checks a site: a `.toml` with a `[site]` table, a `.dxf`, or a `.geojson`.
pub fn load(path: &Path) -> Result<Site, SiteErrors> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    let raw = if ext == "toml" {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            SiteErrors(vec![SiteError::new(&file, "the file", format!("could not be read ({e})"), "check the path")])
        })?;
        toml_in::read(path, &text, read_drawing)
    } else {
        read_drawing(path)
    }
    .map_err(SiteErrors)?;
    check::check(raw).map_err(SiteErrors)
}

/// Checks a site given as text (the fuzz target's entry): `kind` is "toml", "geojson" or "dxf".
pub fn parse(kind: &str, text: &str) -> Result<Site, SiteErrors> {
    let path = Path::new(match kind {
        "toml" => "site.toml",
        "geojson" => "site.geojson",
        _ => "site.dxf",
    });
    let raw = match kind {
        "toml" => toml_in::read(path, text, |p| {
            Err(vec![SiteError::new(
                &p.display().to_string(),
                "the drawing",
                "not read from text",
                "give the geometry in the table",
            )])
        }),
        "geojson" => geojson_in::read(path, text),
        _ => dxf_in::read_text(path, text),
    }
    .map_err(SiteErrors)?;
    check::check(raw).map_err(SiteErrors)
}
