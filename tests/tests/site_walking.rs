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

/// The public-rental estate on its drawn site, a quarter of an hour of its morning peak, with
/// every walker's position each second.
fn estate_quarter(free_flow_beyond_m: f64) -> (Scenario, gatelab_sim::engine::Replication) {
    let mut s = shipped("public-rental-estate-site");
    s.run.start = "07:30".into();
    s.run.duration_min = 15;
    if let Some(site) = s.site.as_mut() {
        site.free_flow_beyond_m = free_flow_beyond_m;
    }
    let from_ms = START_MS + 30 * 60_000;
    let window = TrajectoryWindow { every_ms: 1000, from_ms, to_ms: from_ms + 60 * 60_000 };
    let keep = Keep { trajectories: Some(window), ..Keep::NOTHING };
    let rep = simulate_keeping(&s, 3, keep, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    (s, rep)
}

#[test]
fn the_estate_walks_from_its_blocks_to_four_gates_and_visitors_come_along_their_own_pavement() {
    let (s, rep) = estate_quarter(gatelab_scenario::DEFAULT_FREE_FLOW_BEYOND_M);
    let f = &rep.figures;
    assert!(f.arrivals > 300.0, "{} arrivals", f.arrivals);
    assert_eq!((f.passages, f.unserved_at_end, f.consent_violations), (f.arrivals, 0.0, 0.0));
    let layout = ground::place(Layout::new(&s), &s).unwrap_or_else(|e| panic!("{e:#}"));
    let site = layout.ground.as_ref().expect("the estate walks in its site");
    // The drawing's distances: from the blocks' entrances to each gate, on average about what
    // the stylised estate assumes (walk_distance_m 180–300), within 50 m either way.
    for (g, gate) in site.gates.iter().enumerate() {
        // (An entrance is drawn on its building's wall: the walk starts just off it.)
        let off_the_wall = |p: Vec2| {
            (0..16)
                .map(|k| f64::from(k) * std::f64::consts::TAU / 16.0)
                .map(|a| gate.approach[0].travel(p + Vec2::new(a.cos(), a.sin()) * 0.6))
                .fold(f64::INFINITY, f64::min)
        };
        let walks: Vec<f64> = gate.homes.iter().map(|(_, p)| off_the_wall(p[0])).collect();
        let mean = walks.iter().sum::<f64>() / walks.len() as f64;
        eprintln!("{}: mean walk from the blocks {mean:.0} m", s.gates[g].name);
        assert!((130.0..=330.0).contains(&mean), "{}: {mean} m", s.gates[g].name);
    }
    // Visitors, couriers and returning residents appear at the ends of their gate's own
    // pavement (≤ 40 m from the opening's middle, a metre's spread, a second's walk), never
    // at another gate's street (≥ 150 m away).
    let files = rep.trajectories.as_ref().expect("trajectories were kept");
    let mut first: std::collections::BTreeMap<u64, (f32, f32)> = Default::default();
    for r in &files.rows {
        first.entry(r.id).or_insert((r.x, r.y));
    }
    let mut inbound = 0;
    for row in files.agents.iter().filter(|r| r.direction == "in") {
        let Some(&(x, y)) = first.get(&row.id) else { continue };
        let g = s.gates.iter().position(|gate| gate.name == row.gate).expect("a gate of the scenario");
        let from_gate = (x - layout.gate_x[g]).hypot(y);
        assert!(from_gate < 44.0 && y > 0.0, "{} ({}) first seen {from_gate:.0} m from its gate", row.id, row.gate);
        inbound += 1;
    }
    assert!(inbound > 20, "{inbound} inbound");
}

#[test]
fn free_flow_far_from_the_queues_moves_nobodys_passage_by_more_than_a_second_or_two() {
    // The shortcut against everyone resolved, on the same arrivals: walkers on the estate's
    // paths hardly ever come within the model's 2 m reach of one another, so it may only
    // move a passage where two happened to walk together (and then by the little a time gap
    // costs). A wrong free step (the model's speed or step) would move every passage by the
    // length of the walk (minutes).
    let (_, free) = estate_quarter(gatelab_scenario::DEFAULT_FREE_FLOW_BEYOND_M);
    let (_, resolved) = estate_quarter(0.0);
    let passages = |rep: &gatelab_sim::engine::Replication| -> std::collections::BTreeMap<u64, f64> {
        rep.trajectories.as_ref().expect("kept").agents.iter().map(|a| (a.id, a.passage_s)).collect()
    };
    let (a, b) = (passages(&free), passages(&resolved));
    assert_eq!(a.len(), b.len(), "the same people");
    let mut moved: Vec<f64> = a.iter().map(|(id, t)| (t - b[id]).abs()).collect();
    moved.sort_by(f64::total_cmp);
    let mean = moved.iter().sum::<f64>() / moved.len() as f64;
    let at = |q: f64| moved[((moved.len() - 1) as f64 * q) as usize];
    eprintln!(
        "{} passages: moved {mean:.3} s on average; median {:.3} s, 90 % {:.2} s, 95 % {:.2} s, at most {:.1} s",
        moved.len(),
        at(0.5),
        at(0.9),
        at(0.95),
        at(1.0)
    );
    // Where two did walk together, or an order at a lane swapped, a passage moves by a service
    // time or two; nothing moves by a walk.
    assert!(mean < 1.0 && at(0.5) < 0.5 && at(0.9) < 5.0, "mean {mean} s, median {} s, 90 % {} s", at(0.5), at(0.9));
}

#[test]
fn a_queue_bent_round_an_obstacle_spills_back_by_its_length_along_the_bend() {
    // One outbound lane at 8 s a person against about 13 a minute: the queue grows by ~6 a
    // minute, runs straight back from the lane to building A's wall and then along it.
    let mut s = entrance(20);
    s.service.face_s = 8.0;
    s.service.card_s = 8.0;
    let rep = simulate_keeping(&s, 5, Keep::NOTHING, &|_| {}).unwrap_or_else(|e| panic!("{e:#}"));
    let layout = ground::place(Layout::new(&s), &s).unwrap_or_else(|e| panic!("{e:#}"));
    let gate = &layout.ground.as_ref().expect("a site").gates[0];
    let lane = layout.lanes.iter().position(|l| l.direction == gatelab_core::Direction::Outbound).expect("a lane out");
    let spine = &gate.spines[lane];
    assert!(spine.len() >= 3, "the queue's line bends: {spine:?}");
    let area = &layout.queue_areas[layout.lanes[lane].group];
    // Measured straight back from the line, the reach could never pass the bend.
    let straight_max = spine[1].y.abs() as f32 - area.far_m;
    let f = &rep.gates[0].outbound_queue_area;
    eprintln!("longest spill {} m; the bend is {straight_max} m past the area", f.spill_back_longest_m);
    assert!(f.spill_back_longest_m > f64::from(straight_max) + 5.0, "{f:?}");
    // And it is the queue's own length: its last place, along the line, past where the line
    // leaves the area.
    let spacing = f64::from(gatelab_sim::engine::model::QUEUE_SPACING_M);
    let leaves = gate.spine_leaves(lane, |p| area.contains(p));
    let longest = f.spill_back_longest_m + leaves;
    let places = rep.figures.queue_max;
    assert!(longest <= places * spacing + 2.0, "{longest} m along the line for {places} in the queue");
}
