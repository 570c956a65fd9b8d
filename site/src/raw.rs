//! What a reader collects before validation: features in metres with where each came from, so a
//! problem found later can name the file and the layer, feature or table it sits in.

use gatelab_walk::Vec2;

/// Where a feature came from: "layer 'gate:east' (LINE 2F)", "feature 3 ('east')",
/// "[[site.gates]] 2 ('east')".
pub type Origin = String;

/// A ring or a line as read: its points and whether the source closed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub points: Vec<Vec2>,
    pub closed: bool,
}

/// A source's kind as drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawSourceKind {
    /// A building entrance: residents start (outbound) and end (inbound) there.
    Residents,
    /// A street edge: visitors, couriers and food couriers appear there.
    Street,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RawSource {
    pub name: String,
    pub kind: RawSourceKind,
    pub shape: Shape,
    pub share: Option<f64>,
    pub origin: Origin,
}

/// Everything a site file said, in metres.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSite {
    /// The file (for messages).
    pub file: String,
    /// Outlines of the walkable area with the holes given with them (WKT or GeoJSON polygons
    /// may carry holes; DXF outlines do not).
    pub walkable: Vec<(Shape, Vec<Shape>, Origin)>,
    pub obstacles: Vec<(Shape, Origin)>,
    pub gates: Vec<(String, Shape, Origin)>,
    pub sources: Vec<RawSource>,
    pub queues: Vec<(String, Shape, Origin)>,
    /// What was read but is not part of the convention, and why it was left out.
    pub skipped: Vec<String>,
    /// How coordinates were turned into metres (units, projection), for the report.
    pub notes: Vec<String>,
}

/// The role a layer (DXF) or a `layer` property (GeoJSON) names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Walkable,
    Obstacle,
    Gate(String),
    Source(String),
    Street(String),
    Queue(String),
}

/// The layer convention: `walkable`, `obstacles`, `gate:<name>`, `source:<name>`,
/// `street:<name>`, `queue:<gate>` (case-insensitive; names keep their case).
pub fn role_of(layer: &str) -> Option<Role> {
    let trimmed = layer.trim();
    let lower = trimmed.to_ascii_lowercase();
    if lower == "walkable" {
        return Some(Role::Walkable);
    }
    if lower == "obstacles" || lower == "obstacle" {
        return Some(Role::Obstacle);
    }
    let (prefix, name) = trimmed.split_once(':')?;
    let name = name.trim().to_owned();
    if name.is_empty() {
        return None;
    }
    match prefix.trim().to_ascii_lowercase().as_str() {
        "gate" => Some(Role::Gate(name)),
        "source" => Some(Role::Source(name)),
        "street" => Some(Role::Street(name)),
        "queue" => Some(Role::Queue(name)),
        _ => None,
    }
}

/// The convention in one line, for messages.
pub const CONVENTION: &str = "walkable (one closed outline), obstacles (closed outlines: buildings, fences, planters), \
    gate:<name> (a line across the opening), source:<name> (a building entrance), street:<name> (a street edge), \
    queue:<gate> (a closed outline in front of the gate)";

impl RawSite {
    /// Files a feature under its role.
    pub fn add(&mut self, role: Role, shape: Shape, share: Option<f64>, origin: Origin) {
        match role {
            Role::Walkable => self.walkable.push((shape, Vec::new(), origin)),
            Role::Obstacle => self.obstacles.push((shape, origin)),
            Role::Gate(name) => self.gates.push((name, shape, origin)),
            Role::Source(name) => {
                self.sources.push(RawSource { name, kind: RawSourceKind::Residents, shape, share, origin })
            }
            Role::Street(name) => {
                self.sources.push(RawSource { name, kind: RawSourceKind::Street, shape, share, origin })
            }
            Role::Queue(gate) => self.queues.push((gate, shape, origin)),
        }
    }

    /// Applies `f` to every point (a unit scale, a projection, a shift).
    pub fn map_points(&mut self, f: impl Fn(Vec2) -> Vec2) {
        let map = |s: &mut Shape| s.points.iter_mut().for_each(|p| *p = f(*p));
        for (outline, holes, _) in &mut self.walkable {
            map(outline);
            holes.iter_mut().for_each(map);
        }
        self.obstacles.iter_mut().for_each(|(s, _)| map(s));
        self.gates.iter_mut().for_each(|(_, s, _)| map(s));
        self.sources.iter_mut().for_each(|s| map(&mut s.shape));
        self.queues.iter_mut().for_each(|(_, s, _)| map(s));
    }

    /// Every point, for bounds.
    pub fn points(&self) -> impl Iterator<Item = Vec2> + '_ {
        let walk =
            self.walkable.iter().flat_map(|(o, h, _)| o.points.iter().chain(h.iter().flat_map(|s| s.points.iter())));
        walk.chain(self.obstacles.iter().flat_map(|(s, _)| s.points.iter()))
            .chain(self.gates.iter().flat_map(|(_, s, _)| s.points.iter()))
            .chain(self.sources.iter().flat_map(|s| s.shape.points.iter()))
            .chain(self.queues.iter().flat_map(|(_, s, _)| s.points.iter()))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layer_convention() {
        assert_eq!(role_of("Walkable"), Some(Role::Walkable));
        assert_eq!(role_of("OBSTACLES"), Some(Role::Obstacle));
        assert_eq!(role_of("gate:East Gate"), Some(Role::Gate("East Gate".into())));
        assert_eq!(role_of("Queue: East Gate"), Some(Role::Queue("East Gate".into())));
        assert_eq!(role_of("street:north"), Some(Role::Street("north".into())));
        assert_eq!(role_of("gate:"), None);
        assert_eq!(role_of("0"), None);
        assert_eq!(role_of("dimensions"), None);
    }
}
