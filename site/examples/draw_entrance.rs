//! Draws `scenarios/sites/compound-entrance.dxf`, the shipped example site, with the `dxf`
//! crate: `cargo run -p gatelab-site --example draw_entrance`. In millimetres, as Chinese site
//! plans are, under the layer convention (`gatelab site --help`).
//!
//! A 60 m wide entrance: the carriageway (not walkable), a 4 m pavement, the compound's fence
//! with a 14 m pedestrian gate (room for up to four lanes each way and the guard's side door)
//! and a 6 m car gate (closed: its barrier is part of the fence), the
//! guard booth beside it, a planter, a row of parked cars, two buildings with their entrances.

use dxf::Drawing;
use dxf::enums::{AcadVersion, Units};
use dxf::tables::Layer;

mod common;
use common::{line, point, rect};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut drawing = Drawing::new();
    drawing.header.version = AcadVersion::R2000;
    drawing.header.default_drawing_units = Units::Millimeters;
    let entities = [
        // The walkable ground: the pavement (y −4…0) and the compound (y 0…40).
        rect("walkable", 0.0, -4.0, 60.0, 40.0),
        // The fence (0.2 m) with the pedestrian gate's opening at x 16…30; the car gate's
        // barrier (x 31…37) is closed, so it is fence here.
        rect("obstacles", 0.0, 0.0, 16.0, 0.2),
        rect("obstacles", 30.0, 0.0, 60.0, 0.2),
        // The pedestrian gate's housing in the middle of the opening would split it into lanes;
        // the scenario's lane count does that, so only the opening is drawn.
        rect("obstacles", 38.0, 1.0, 41.0, 4.0),   // guard booth
        rect("obstacles", 12.0, 7.0, 16.0, 10.0),  // planter
        rect("obstacles", 41.0, 8.0, 56.0, 12.5),  // parked cars
        rect("obstacles", 5.0, 20.0, 25.0, 35.0),  // building A
        rect("obstacles", 35.0, 20.0, 55.0, 35.0), // building B
        line("gate:main", (16.0, 0.1), (30.0, 0.1)),
        point("source:building A", (15.0, 20.0)),
        point("source:building B", (45.0, 20.0)),
        line("street:west pavement", (0.0, -4.0), (0.0, 0.0)),
        line("street:east pavement", (60.0, -4.0), (60.0, 0.0)),
        rect("queue:main", 15.0, 0.2, 31.0, 6.0),
        // Not part of the convention (a check lists them as skipped): the carriageway and the
        // car gate's barrier.
        rect("road", 0.0, -12.0, 60.0, -4.0),
        line("car gate", (31.0, 0.1), (37.0, 0.1)),
    ];
    for layer in [
        "walkable",
        "obstacles",
        "gate:main",
        "source:building A",
        "source:building B",
        "street:west pavement",
        "street:east pavement",
        "queue:main",
        "road",
        "car gate",
    ] {
        drawing.add_layer(Layer { name: layer.to_owned(), ..Default::default() });
    }
    for e in entities {
        drawing.add_entity(e);
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sites/compound-entrance.dxf");
    drawing.save_file(&out)?;
    println!("wrote {}", out.display());
    Ok(())
}
