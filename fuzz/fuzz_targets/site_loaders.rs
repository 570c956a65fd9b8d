//! The site loaders (`gatelab-site`): a `[site]` table, a GeoJSON FeatureCollection or a DXF
//! drawing, as text, through the checks into a site.
//!
//! The first byte picks the reader; the rest is the text. Invariants: nothing panics; a refusal
//! names at least one problem, each with its place and its fix; an accepted site has ground to
//! walk on, gates on its edges and queue areas with an area.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let kind = ["toml", "geojson", "dxf"][usize::from(which) % 3];
    match gatelab_site::parse(kind, text) {
        Ok(site) => {
            assert!(site.walkable.area() > 0.0);
            for gate in &site.gates {
                assert!(site.walkable.wall_distance(gate.line.a) <= gatelab_site::check::SNAP_M);
                assert!(site.walkable.wall_distance(gate.line.b) <= gatelab_site::check::SNAP_M);
            }
            assert!(site.queues.iter().all(|q| q.area_m2 > 0.0));
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(!e.at.is_empty() && !e.problem.is_empty() && !e.fix.is_empty(), "{e}");
            }
        }
    }
});
