//! Draws `scenarios/sites/public-rental-estate.dxf`, the 5,000-resident estate's site, with the
//! `dxf` crate: `cargo run -p gatelab-site --example draw_estate`. In millimetres, under the
//! layer convention (`gatelab site --help`).
//!
//! A 320 m × 260 m estate (8.3 ha, about what 2,000 households take in a Chinese city): sixteen
//! residential slabs of 55 m × 14 m in four rows, each with its entrance in the middle of its
//! south face; a clubhouse and a kindergarten; a screen planter behind the main gate; the fence
//! all round with four pedestrian gates — the main gate south (20 m opening), west and east
//! side gates (14 m), a north gate (12 m) — each opening onto a stretch of city pavement (4 m)
//! whose two ends are where people from the street come from. The pavements are not joined:
//! in a drawing only the street side in front of each gate matters.

use dxf::Drawing;
use dxf::enums::{AcadVersion, Units};
use dxf::tables::Layer;

mod common;
use common::{closed, line, point, rect};

/// The estate's inside, m.
const W: f64 = 320.0;
const H: f64 = 260.0;
/// The fence's thickness, m.
const FENCE: f64 = 0.3;
/// The pavement outside a gate: how deep, and how far it runs each side of the opening.
const PAVEMENT: f64 = 4.0;
const PAVEMENT_RUN: f64 = 30.0;

/// A gate in the fence: on side `side` ('S', 'W', 'E', 'N') from `a` to `b` along it.
struct Gate {
    name: &'static str,
    side: char,
    a: f64,
    b: f64,
}

const GATES: [Gate; 4] = [
    Gate { name: "gate-1", side: 'S', a: 150.0, b: 170.0 },
    Gate { name: "gate-2", side: 'W', a: 120.0, b: 134.0 },
    Gate { name: "gate-3", side: 'E', a: 60.0, b: 74.0 },
    Gate { name: "gate-4", side: 'N', a: 236.0, b: 248.0 },
];

/// Maps (along the side, outwards from the fence line) to the drawing's (x, y).
fn on_side(side: char, along: f64, out: f64) -> (f64, f64) {
    match side {
        'S' => (along, -out),
        'N' => (along, H + out),
        'W' => (-out, along),
        _ => (W + out, along),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut drawing = Drawing::new();
    drawing.header.version = AcadVersion::R2000;
    drawing.header.default_drawing_units = Units::Millimeters;
    let mut entities = Vec::new();
    let mut layers: Vec<String> = vec!["walkable".into(), "obstacles".into()];

    // The walkable outline: the estate's inside with a pavement in front of each gate, walked
    // anticlockwise round the rectangle (south, east, north, west sides).
    let mut outline = vec![(0.0, 0.0)];
    let bump = |side: char, a: f64, b: f64, reverse: bool| {
        let (lo, hi) = (a - PAVEMENT_RUN, b + PAVEMENT_RUN);
        let mut pts = vec![
            on_side(side, lo, 0.0),
            on_side(side, lo, PAVEMENT),
            on_side(side, hi, PAVEMENT),
            on_side(side, hi, 0.0),
        ];
        if reverse {
            pts.reverse();
        }
        pts
    };
    outline.extend(bump('S', GATES[0].a, GATES[0].b, false));
    outline.push((W, 0.0));
    outline.extend(bump('E', GATES[2].a, GATES[2].b, false));
    outline.push((W, H));
    outline.extend(bump('N', GATES[3].a, GATES[3].b, true));
    outline.push((0.0, H));
    outline.extend(bump('W', GATES[1].a, GATES[1].b, true));
    entities.push(closed("walkable", &outline));

    for gate in &GATES {
        let (lo, hi) = (gate.a - PAVEMENT_RUN - 1.0, gate.b + PAVEMENT_RUN + 1.0);
        // The fence each side of the opening, along the pavement (elsewhere the outline is the fence).
        for (x0, x1) in [(lo, gate.a), (gate.b, hi)] {
            let (p, q) = (on_side(gate.side, x0, 0.0), on_side(gate.side, x1, 0.0));
            let (r, s) = (on_side(gate.side, x0, -FENCE), on_side(gate.side, x1, -FENCE));
            let xs = [p.0, q.0, r.0, s.0];
            let ys = [p.1, q.1, r.1, s.1];
            let min = |v: [f64; 4]| v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = |v: [f64; 4]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            entities.push(rect("obstacles", min(xs), min(ys), max(xs), max(ys)));
        }
        let layer = format!("gate:{}", gate.name);
        entities.push(line(&layer, on_side(gate.side, gate.a, -FENCE / 2.0), on_side(gate.side, gate.b, -FENCE / 2.0)));
        layers.push(layer);
        // The street's two ends of the pavement in front of it.
        for (end, along) in [("left", gate.a - PAVEMENT_RUN), ("right", gate.b + PAVEMENT_RUN)] {
            let layer = format!("street:{} {end}", gate.name);
            entities.push(line(&layer, on_side(gate.side, along, 0.0), on_side(gate.side, along, PAVEMENT)));
            layers.push(layer);
        }
        // Where its queue may stand: 6 m deep inside, 2 m wider than the opening each side.
        let (p, q) = (on_side(gate.side, gate.a - 2.0, -FENCE), on_side(gate.side, gate.b + 2.0, -FENCE - 6.0));
        let layer = format!("queue:{}", gate.name);
        entities.push(rect(&layer, p.0.min(q.0), p.1.min(q.1), p.0.max(q.0), p.1.max(q.1)));
        layers.push(layer);
    }

    // Sixteen slabs, four rows of four; the entrance mid-south face. The columns leave a 20 m
    // road north from the main gate (x 150–170).
    let columns = [15.0, 85.0, 180.0, 250.0];
    let rows = [35.0, 90.0, 145.0, 200.0];
    for (r, &y) in rows.iter().enumerate() {
        for (c, &x) in columns.iter().enumerate() {
            entities.push(rect("obstacles", x, y, x + 55.0, y + 14.0));
            let layer = format!("source:block {}-{}", r + 1, c + 1);
            entities.push(point(&layer, (x + 27.5, y)));
            layers.push(layer);
        }
    }
    entities.push(rect("obstacles", 20.0, 228.0, 60.0, 250.0)); // clubhouse
    entities.push(rect("obstacles", 270.0, 10.0, 305.0, 28.0)); // kindergarten
    entities.push(rect("obstacles", 154.0, 14.0, 166.0, 16.0)); // the screen planter behind the main gate
    entities.push(rect("obstacles", 140.0, 110.0, 180.0, 135.0)); // the central garden's pond

    // Not part of the convention (a check lists them as skipped): the carriageway outside the main gate.
    entities.push(rect("road", 100.0, -16.0, 220.0, -4.0));
    layers.push("road".into());

    for layer in layers {
        drawing.add_layer(Layer { name: layer, ..Default::default() });
    }
    for e in entities {
        drawing.add_entity(e);
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sites/public-rental-estate.dxf");
    drawing.save_file(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
