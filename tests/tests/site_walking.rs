//! Walking in a drawn site (18, parts 1, 2 and 6): the shipped compound entrance, drawn in CAD
//! (`scenarios/sites/compound-entrance.dxf`). People appear at its building entrances and
//! pavement ends, walk round its obstacles in the validated crowd model, queue in front of the
//! lanes placed across the drawn opening, and all get through; nobody ever stands in a wall;
//! a seed fixes every byte; a gate the drawing lacks, or an opening too narrow for the lanes,
//! is an error naming the file and the fix.

use gatelab_scenario::Scenario;
use gatelab_sim::engine::model::Layout;
use gatelab_sim::engine::trajectories::TrajectoryWindow;
use gatelab_sim::engine::{Keep, ground, simulate_keeping};
use gatelab_tests::shipped;
use gatelab_walk::Vec2;

const START_MS: u64 = 7 * 3_600_000;

fn entrance(minutes: u32) -> Scenario {
    let mut s = shipped("compound-entrance");
    s.run.duration_min = minutes;
    s
}

#[test]
fn people_walk_from_the_drawn_sources_round_the_obstacles_and_all_get_through() {
    let s = entrance(40);
    let window = TrajectoryWindow { every_ms: 1000, from_ms: START_MS, to_ms: START_MS + 40 * 60_000 };
    let keep = Keep { trajectories: Some(window), ..Keep::ALL };
    let rep = simulate_keeping(&s, 4, keep, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    let layout = ground::place(Layout::new(&s), &s).unwrap_or_else(|e| panic!("{e:#}"));
    let site = layout.ground.as_ref().expect("the scenario walks in its site");
    let gate = &site.gates[0];
    let files = rep.trajectories.as_ref().expect("trajectories were kept");
    assert!(files.walkable_area.starts_with("POLYGON"), "{}", &files.walkable_area[..40]);
    // Nobody ever stands in a wall, a building, the planter or a lane cabinet.
    let outside: Vec<_> = files
        .rows
        .iter()
        .filter(|r| !gate.walkable.contains(Vec2::new(f64::from(r.x), f64::from(r.y))))
        .take(5)
        .collect();
    assert!(outside.is_empty(), "positions off the walkable ground: {outside:?}");
    // Everyone appears where the drawing says trips start: leaving at a building's entrance,
    // coming in at a pavement's end: within the spread about the point (1 m), the step off the
    // wall the entrance is drawn on (≤ 0.4 m) and a second's walk before the first frame (the
    // nearest other source is over 20 m away).
    let mut first: std::collections::BTreeMap<u64, (f32, f32)> = Default::default();
    for r in &files.rows {
        first.entry(r.id).or_insert((r.x, r.y));
    }
    // A source is a point or a line: within reach of any of its pieces.
    let near_any = |p: Vec2, sources: &[&Vec<Vec2>]| {
        sources.iter().any(|points| {
            let last = *points.last().unwrap_or(&points[0]);
            let pieces = points.windows(2).map(|w| gatelab_walk::Segment::new(w[0], w[1]));
            pieces.chain(std::iter::once(gatelab_walk::Segment::new(points[0], last))).any(|s| s.distance(p) < 3.5)
        })
    };
    let homes: Vec<&Vec<Vec2>> = gate.homes.iter().map(|(_, pts)| pts).collect();
    let streets: Vec<&Vec<Vec2>> = gate.streets.iter().collect();
    let mut checked = (0, 0);
    for row in &files.agents {
        let Some(&(x, y)) = first.get(&row.id) else { continue };
        let p = Vec2::new(f64::from(x), f64::from(y));
        if row.direction == "out" {
            assert!(near_any(p, &homes), "{} first seen at {p:?}", row.id);
            checked.0 += 1;
        } else {
            assert!(near_any(p, &streets), "{} first seen at {p:?}", row.id);
            checked.1 += 1;
        }
    }
    assert!(checked.0 > 100 && checked.1 > 5, "{checked:?}");
    // The queue stood: somebody waited, and nobody waits forever (everyone who arrived up to
    // ten minutes before the end has passed).
    let f = &rep.figures;
    assert!(f.queue_max >= 2.0, "longest queue {}", f.queue_max);
    assert!(f.passages >= f.arrivals - 40.0, "{} arrivals, {} passages", f.arrivals, f.passages);
    assert!(f.wait_s.p95 < 60.0, "p95 {}", f.wait_s.p95);
    assert_eq!(f.consent_violations, 0.0);
    // The level-of-service map: the densest half-metre of the busiest 15 minutes is where the
    // queue stands, in front of the lanes (within 6 m of the line, across the opening), and
    // the map's people add up to what the ground held on average.
    let map = &rep.density_maps[0];
    let (k, densest) =
        map.density.iter().enumerate().fold((0, 0.0), |best, (k, &d)| if d > best.1 { (k, d) } else { best });
    let (x, y) = (
        map.origin[0] + (k % map.nx) as f64 * map.cell_m + map.cell_m / 2.0,
        map.origin[1] + (k / map.nx) as f64 * map.cell_m + map.cell_m / 2.0,
    );
    // (The opening is 14 m wide about x = 0.)
    assert!(densest > 0.2 && y.abs() < 6.0 && x.abs() < 7.0, "densest {densest} at ({x}, {y})");
    let people: f64 = map.density.iter().sum::<f64>() * map.cell_m * map.cell_m;
    assert!(people > 1.0 && !map.queue_at_longest.is_empty(), "{people} on the ground on average");
    eprintln!("densest {densest:.3} /m² at ({x:.2}, {y:.2}); {people:.1} people on the ground");
}

#[test]
fn a_seed_fixes_every_byte_in_a_site() {
    let s = entrance(20);
    let run = || {
        let rep = simulate_keeping(&s, 9, Keep::ALL, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
        (format!("{:?}", rep.passages), rep.audit_jsonl)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_gate_the_drawing_lacks_and_an_opening_too_narrow_are_named_with_the_fix() {
    let mut s = entrance(10);
    s.gates[0].site_gate = Some("west".into());
    let e = format!("{:#}", ground::place(Layout::new(&s), &s).unwrap_err());
    assert!(e.contains("has no gate \"west\"") && e.contains("main") && e.contains("compound-entrance.dxf"), "{e}");
    let mut s = entrance(10);
    s.gates[0].lanes_out = 6;
    s.gates[0].lanes_in = 5;
    let e = format!("{:#}", ground::place(Layout::new(&s), &s).unwrap_err());
    assert!(e.contains("opening is 14.0 m") && e.contains("draw a wider opening"), "{e}");
    // And the simulation refuses it the same way, rather than walking people through a fence.
    let e = format!("{:#}", simulate_keeping(&s, 1, Keep::NOTHING, &|_| {}).unwrap_err());
    assert!(e.contains("opening"), "{e}");
}

#[test]
fn the_viewer_is_given_the_site_to_draw() {
    let s = entrance(5);
    let rep = simulate_keeping(&s, 2, Keep { frames: true, ..Keep::ALL }, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    let stage = &rep.recording.as_ref().expect("a recording").header.stage;
    // The buildings' walls stand 20–35 m into the compound: the stage reaches them.
    assert!(stage.plaza_radius_m >= 35.0, "{}", stage.plaza_radius_m);
    assert!(stage.walls.iter().any(|[_, y0, _, y1]| y0.min(*y1) < -19.0), "no building walls on the stage");
}

#[test]
fn in_open_ground_a_head_pushed_beside_a_lane_cabinet_still_reaches_its_terminal() {
    // The same compound without its drawing: the stylised gate, the social-force plaza. This
    // seed's morning once pressed the head of the outbound queue against the outside of its
    // lane's cabinet, pulling towards the terminal through the wall for ever (247 of 581
    // through in 40 minutes); the head now steps out in front of the lane's mouth first.
    let mut s = entrance(40);
    s.site = None;
    s.gates[0].walk_distance_m = 35.0;
    let rep = gatelab_tests::run_window(s, "07:00", 40, gatelab_sim::run::replication_seed(2026, 0));
    let f = &rep.figures;
    assert_eq!(f.unserved_at_end, 0.0, "{} arrivals, {} through", f.arrivals, f.passages);
    assert_eq!(f.passages, f.arrivals);
}
