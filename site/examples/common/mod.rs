//! Drawing helpers shared by the examples that draw the shipped sites: entities in metres
//! written in millimetres, each on its layer.

use dxf::LwPolylineVertex;
use dxf::Point;
use dxf::entities::{Entity, EntityType, Line, LwPolyline, ModelPoint};

pub const MM: f64 = 1000.0;

pub fn closed(layer: &str, corners: &[(f64, f64)]) -> Entity {
    let mut poly = LwPolyline::default();
    poly.set_is_closed(true);
    for &(x, y) in corners {
        poly.vertices.push(LwPolylineVertex { x: x * MM, y: y * MM, ..Default::default() });
    }
    on(layer, EntityType::LwPolyline(poly))
}

pub fn rect(layer: &str, x0: f64, y0: f64, x1: f64, y1: f64) -> Entity {
    closed(layer, &[(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
}

pub fn line(layer: &str, (x0, y0): (f64, f64), (x1, y1): (f64, f64)) -> Entity {
    on(layer, EntityType::Line(Line::new(Point::new(x0 * MM, y0 * MM, 0.0), Point::new(x1 * MM, y1 * MM, 0.0))))
}

pub fn point(layer: &str, (x, y): (f64, f64)) -> Entity {
    on(layer, EntityType::ModelPoint(ModelPoint::new(Point::new(x * MM, y * MM, 0.0))))
}

pub fn on(layer: &str, specific: EntityType) -> Entity {
    let mut e = Entity::new(specific);
    e.common.layer = layer.to_owned();
    e
}
