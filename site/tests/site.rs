//! Sites from every input form, the shipped drawing, and bad input: each problem an error naming
//! the file, the feature and the fix; nothing panics.

use std::path::Path;

use gatelab_site::{QueuingLevel, SourceKind, load, parse};

/// The test site in metres: pavement y −4…0, fence at y 0 with a 4 m opening at x 24…28,
/// one building, one gate, one entrance, one street edge, one queue area.
const SITE_TOML: &str = r#"
[site]
walkable = [[0, -4], [60, -4], [60, 40], [0, 40]]
obstacles = [
  [[0, 0], [24, 0], [24, 0.2], [0, 0.2]],
  [[28, 0], [60, 0], [60, 0.2], [28, 0.2]],
  [[5, 20], [25, 20], [25, 35], [5, 35]],
]

[[site.gates]]
name = "main"
line = [[24, 0.1], [28, 0.1]]

[[site.sources]]
name = "building A"
at = [[15, 20]]

[[site.sources]]
name = "west"
kind = "street"
at = [[0, -4], [0, 0]]

[[site.queues]]
gate = "main"
area = [[22, 0.2], [30, 0.2], [30, 6], [22, 6]]
"#;

const WALKABLE_M2: f64 = 60.0 * 44.0 - 24.0 * 0.2 - 32.0 * 0.2 - 20.0 * 15.0;

fn errors(kind: &str, text: &str) -> String {
    match parse(kind, text) {
        Ok(site) => panic!("accepted: {site:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn coordinates_in_the_table_make_one_walkable_polygon_with_its_gate_and_queue() {
    let site = parse("toml", SITE_TOML).unwrap();
    assert!((site.walkable.area() - WALKABLE_M2).abs() < 1e-6, "{}", site.walkable.area());
    assert_eq!(site.gates.len(), 1);
    assert_eq!(site.sources.len(), 2);
    assert_eq!(site.sources[0].kind, SourceKind::Residents { share: 1.0 });
    assert_eq!(site.sources[1].kind, SourceKind::Street);
    let queue = &site.queues[0];
    assert!((queue.area_m2 - 8.0 * 5.8).abs() < 1e-9);
    // Fruin: A holds ⌊46.4 / 1.2⌋, D ⌊46.4 / 0.3⌋.
    assert_eq!((queue.holds_at(QueuingLevel::A), queue.holds_at(QueuingLevel::D)), (Some(38), Some(154)));
}

#[test]
fn wkt_gives_the_same_site() {
    let text = r#"
[site]
walkable_wkt = "POLYGON ((0 -4, 60 -4, 60 40, 0 40, 0 -4), (5 20, 25 20, 25 35, 5 35, 5 20))"
obstacles_wkt = ["POLYGON ((0 0, 24 0, 24 0.2, 0 0.2, 0 0))", "POLYGON ((28 0, 60 0, 60 0.2, 28 0.2, 28 0))"]
[[site.gates]]
name = "main"
wkt = "LINESTRING (24 0.1, 28 0.1)"
[[site.sources]]
name = "building A"
wkt = "POINT (15 20)"
[[site.sources]]
name = "west"
kind = "street"
wkt = "LINESTRING (0 -4, 0 0)"
[[site.queues]]
gate = "main"
wkt = "POLYGON ((22 0.2, 30 0.2, 30 6, 22 6, 22 0.2))"
"#;
    let site = parse("toml", text).unwrap();
    assert!((site.walkable.area() - WALKABLE_M2).abs() < 1e-6, "{}", site.walkable.area());
    assert_eq!(site.gates[0].line, parse("toml", SITE_TOML).unwrap().gates[0].line);
}

/// The test site as GeoJSON in lon/lat near Beijing (inverse of a local projection).
fn geojson_lonlat() -> String {
    let (lon0, lat0) = (116.4_f64, 39.9_f64);
    let k = 6_371_008.8 * std::f64::consts::PI / 180.0;
    let ll = |x: f64, y: f64| format!("[{:.10}, {:.10}]", lon0 + x / (k * lat0.to_radians().cos()), lat0 + y / k);
    let ring = |pts: &[(f64, f64)]| {
        let mut v: Vec<String> = pts.iter().map(|&(x, y)| ll(x, y)).collect();
        v.push(ll(pts[0].0, pts[0].1));
        format!("[{}]", v.join(", "))
    };
    let feature = |layer: &str, geometry: String| {
        format!(r#"{{"type": "Feature", "properties": {{"layer": "{layer}"}}, "geometry": {geometry}}}"#)
    };
    let poly = |pts: &[(f64, f64)]| format!(r#"{{"type": "Polygon", "coordinates": [{}]}}"#, ring(pts));
    let features = [
        feature("walkable", poly(&[(0.0, -4.0), (60.0, -4.0), (60.0, 40.0), (0.0, 40.0)])),
        feature("obstacles", poly(&[(0.0, 0.0), (24.0, 0.0), (24.0, 0.2), (0.0, 0.2)])),
        feature("obstacles", poly(&[(28.0, 0.0), (60.0, 0.0), (60.0, 0.2), (28.0, 0.2)])),
        feature("obstacles", poly(&[(5.0, 20.0), (25.0, 20.0), (25.0, 35.0), (5.0, 35.0)])),
        feature(
            "gate:main",
            format!(r#"{{"type": "LineString", "coordinates": [{}, {}]}}"#, ll(24.0, 0.1), ll(28.0, 0.1)),
        ),
        feature("source:building A", format!(r#"{{"type": "Point", "coordinates": {}}}"#, ll(15.0, 20.0))),
        feature(
            "street:west",
            format!(r#"{{"type": "LineString", "coordinates": [{}, {}]}}"#, ll(0.0, -4.0), ll(0.0, 0.0)),
        ),
        feature("queue:main", poly(&[(22.0, 0.2), (30.0, 0.2), (30.0, 6.0), (22.0, 6.0)])),
        feature("trees", format!(r#"{{"type": "Point", "coordinates": {}}}"#, ll(1.0, 1.0))),
    ];
    format!(r#"{{"type": "FeatureCollection", "features": [{}]}}"#, features.join(",\n"))
}

#[test]
fn geojson_in_lon_lat_is_projected_to_the_same_metres() {
    let site = parse("geojson", &geojson_lonlat()).unwrap();
    let rel = (site.walkable.area() - WALKABLE_M2).abs() / WALKABLE_M2;
    assert!(rel < 1e-4, "area {} vs {WALKABLE_M2}", site.walkable.area());
    let gate = site.gates[0].line;
    assert!(((gate.b - gate.a).length() - 4.0).abs() < 1e-3);
    assert!(site.notes.iter().any(|n| n.contains("local equirectangular")), "{:?}", site.notes);
    assert!(site.skipped.iter().any(|s| s.contains("trees")), "{:?}", site.skipped);
}

#[test]
fn the_shipped_drawing_loads_in_millimetres_with_its_shares() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/sites/compound-entrance.toml");
    let site = load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(site.notes.iter().any(|n| n.contains("millimetres")), "{:?}", site.notes);
    assert_eq!(site.gates.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["main"]);
    let shares: Vec<(String, SourceKind)> = site.sources.iter().map(|s| (s.name.clone(), s.kind)).collect();
    assert!(shares.contains(&("building A".into(), SourceKind::Residents { share: 0.6 })), "{shares:?}");
    assert_eq!(site.sources.iter().filter(|s| s.kind == SourceKind::Street).count(), 2);
    // 60 × 44 m less the fence (46 × 0.2), booth 9, planter 12, parked cars 67.5, buildings 600.
    let expected = 2640.0 - 9.2 - 9.0 - 12.0 - 67.5 - 600.0;
    assert!((site.walkable.area() - expected).abs() < 1e-3, "{}", site.walkable.area());
    assert!(site.skipped.iter().any(|s| s.contains("'road'")) && site.skipped.iter().any(|s| s.contains("car gate")));
    assert!((site.queues[0].area_m2 - 92.8).abs() < 1e-6);
}

#[test]
fn bad_geometry_is_named_with_its_fix() {
    // A bow-tie outline.
    let e = errors(
        "toml",
        &SITE_TOML.replace(
            "walkable = [[0, -4], [60, -4], [60, 40], [0, 40]]",
            "walkable = [[0, -4], [60, 40], [60, -4], [0, 40]]",
        ),
    );
    assert!(
        e.contains("[site] walkable") && e.contains("not a simple polygon") && e.contains("remove the crossing"),
        "{e}"
    );
    // A gate in the middle of the yard.
    let e = errors("toml", &SITE_TOML.replace("line = [[24, 0.1], [28, 0.1]]", "line = [[30, 15], [34, 15]]"));
    assert!(e.contains("'main'") && e.contains("not on the boundary or a fence") && e.contains("line 10"), "{e}");
    // A source outside.
    let e = errors("toml", &SITE_TOML.replace("at = [[15, 20]]", "at = [[15, 80]]"));
    assert!(e.contains("building A") && e.contains("outside the walkable area"), "{e}");
    // The opening closed: the yard falls apart from the pavement.
    let e = errors(
        "toml",
        &SITE_TOML.replace("[[0, 0], [24, 0], [24, 0.2], [0, 0.2]]", "[[0, 0], [28.5, 0], [28.5, 0.2], [0, 0.2]]"),
    );
    assert!(e.contains("falls apart into 2 pieces"), "{e}");
    // A building that walls the entrance in: the gate is drawn but nobody can reach it from it.
    let boxed = SITE_TOML.replace("at = [[15, 20]]", "at = [[15, 27]]").replace(
        "[[5, 20], [25, 20], [25, 35], [5, 35]],",
        "[[5, 20], [25, 20], [25, 35], [5, 35], [5, 20.5], [24.5, 20.5], [24.5, 34.5], [5.5, 34.5], [5.5, 20]],",
    );
    let e = errors("toml", &boxed);
    assert!(e.contains("building A") || e.contains("not a simple polygon") || e.contains("reaches no gate"), "{e}");
    // A queue area for a gate the site does not have, and one off the ground.
    let e = errors("toml", &SITE_TOML.replace("gate = \"main\"", "gate = \"north\""));
    assert!(e.contains("'north'") && e.contains("not drawn"), "{e}");
    let e = errors(
        "toml",
        &SITE_TOML.replace(
            "area = [[22, 0.2], [30, 0.2], [30, 6], [22, 6]]",
            "area = [[22, -20], [30, -20], [30, -10], [22, -10]]",
        ),
    );
    assert!(e.contains("on walkable ground"), "{e}");
    // Shares that do not sum to one.
    let two = SITE_TOML.replace("at = [[15, 20]]", "at = [[15, 20]]\nshare = 0.7")
        + "\n[[site.sources]]\nname = \"building B\"\nshare = 0.2\nat = [[40, 20]]\n";
    let e = errors("toml", &two);
    assert!(e.contains("sum to 0.900"), "{e}");
    // An unknown field, with its line.
    let e = errors("toml", &SITE_TOML.replace("name = \"main\"", "name = \"main\"\nlanes = 3"));
    assert!(e.contains("line ") && e.contains("lanes"), "{e}");
    // A WKT that is not a polygon.
    let e = errors("toml", "[site]\nwalkable_wkt = \"LINESTRING (0 0, 1 1)\"\n");
    assert!(e.contains("walkable_wkt") && e.contains("not a WKT POLYGON"), "{e}");
}

#[test]
fn bad_geojson_and_dxf_are_named_with_their_fix() {
    let e = errors("geojson", &geojson_lonlat().replacen(r#""type": "FeatureCollection","#, r#""type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}},"#, 1));
    assert!(e.contains("EPSG::3857") && e.contains("reproject"), "{e}");
    let projected = r#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"layer": "walkable"},
        "geometry": {"type": "Polygon", "coordinates": [[[448000, 4417000], [448060, 4417000], [448060, 4417040], [448000, 4417000]]]}}]}"#;
    let e = errors("geojson", projected);
    assert!(e.contains("not a longitude/latitude") && e.contains("EPSG::32650"), "{e}");
    // Found by the fuzzer: one corner 20° of longitude away (1,700 km) once took 2 GB.
    let far = fuzzer_found_far_corner();
    let e = errors("geojson", &far);
    assert!(e.contains("spans") && e.contains("check the units"), "{e}");
    let e = errors("geojson", r#"{"type": "Point", "coordinates": [1, 2]}"#);
    assert!(e.contains("FeatureCollection"), "{e}");
    let e = errors("geojson", "{ nope");
    assert!(e.contains("not valid GeoJSON"), "{e}");
    let e =
        errors("dxf", "0\nSECTION\n2\nENTITIES\n0\nLINE\n8\nfence\n10\n0\n20\n0\n11\n1\n21\n1\n0\nENDSEC\n0\nEOF\n");
    assert!(e.contains("layers found: fence") && e.contains("'walkable'"), "{e}");
    let e = errors("dxf", "this is not a drawing");
    assert!(e.contains("site.dxf"), "{e}");
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let bases = [SITE_TOML.to_owned(), geojson_lonlat()];
    for round in 0..300 {
        let base = &bases[round % 2];
        let mut bytes = base.clone().into_bytes();
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed as usize) % bytes.len();
            bytes[at] = b"0123456789-.,[]{} \"x\n"[(seed >> 40) as usize % 21];
        }
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(if round % 2 == 0 { "toml" } else { "geojson" }, &text);
        let _ = parse("dxf", &text);
    }
}

fn fuzzer_found_far_corner() -> String {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/corpus/site_loaders/oom-117fc86b0210abd6e3e86adac51f68a09dcba9b1"
    ))
    .unwrap();
    String::from_utf8(text[1..].to_vec()).unwrap()
}
