//! The validation cases: each a geometry, a crowd and a measurement, with the band it must fall
//! in and, beside it, where the band comes from and why that width. Multi-seed means; a case
//! fails when its mean leaves the band. `gatelab validate` prints them as a table; the tests in
//! `walk/tests/` assert them.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::crowd::{Crowd, ModelParams, Route, StepEvents};
use crate::field::{DEFAULT_CELL_M, FloorField};
use crate::geometry::{Segment, Walkable};
use crate::lane::{DEFAULT_REACH_M, ServicePoint};
use crate::speeds::{self, RIMEA_7_BANDS};
use crate::trajectory::TrajectoryWriter;
use crate::vec2::Vec2;

/// What a validation run uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub params: ModelParams,
    /// Seeds of the replications; every case averages over them.
    pub seeds: Vec<u64>,
    /// Where to write each case's first replication as `CASE.txt` (PedPy's text format).
    pub trajectories: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self { params: ModelParams::default(), seeds: vec![1, 2, 3], trajectories: None }
    }
}

/// One case's outcome: one row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    pub case: &'static str,
    /// What was measured, with its figure(s).
    pub measured: String,
    /// The figure the band is about (in the band's unit).
    pub value: f64,
    pub band: String,
    pub pass: bool,
    /// Where the band comes from.
    pub source: &'static str,
}

/// A validation case by name.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(&Settings) -> Result<Vec<CaseReport>, String>,
}

/// Every case, in the order the table prints them.
pub const CASES: [Case; 8] = [
    Case { name: "rimea-1", what: "one person, 2 m × 40 m corridor, 1.33 m/s", run: rimea_1 },
    Case { name: "rimea-4", what: "periodic corridor: speed and specific flow by density", run: rimea_4 },
    Case { name: "rimea-6", what: "20 people round a 2 m wide left corner", run: rimea_6 },
    Case { name: "rimea-7", what: "free speeds by age group", run: rimea_7 },
    Case { name: "rimea-9", what: "1,000 people, 30 × 20 m room, 4 doors then 2", run: rimea_9 },
    Case { name: "rimea-12", what: "150 people, room → corridor → room", run: rimea_12 },
    Case { name: "bottleneck", what: "specific flow through doorways 0.8–2.5 m", run: bottleneck },
    Case { name: "lane", what: "a lane with a fixed service time under a saturated queue", run: lane },
];

/// Runs the named cases (all when `only` is empty).
pub fn run(settings: &Settings, only: &[String]) -> Result<Vec<CaseReport>, String> {
    for name in only {
        if !CASES.iter().any(|c| c.name == name) {
            let known: Vec<&str> = CASES.iter().map(|c| c.name).collect();
            return Err(format!("no validation case '{name}' — the cases are: {}", known.join(", ")));
        }
    }
    let mut out = Vec::new();
    for case in CASES.iter().filter(|c| only.is_empty() || only.iter().any(|n| n == c.name)) {
        out.extend((case.run)(settings)?);
    }
    Ok(out)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn rng_for(seed: u64, salt: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt)
}

/// `n` people dropped uniformly at random in `[min, max]`, at least a body apart and inside
/// the area.
fn scatter(
    rng: &mut ChaCha8Rng,
    area: &Walkable,
    min: Vec2,
    max: Vec2,
    n: usize,
    gap: f64,
) -> Result<Vec<Vec2>, String> {
    let mut out: Vec<Vec2> = Vec::with_capacity(n);
    let mut tries = 0u64;
    while out.len() < n {
        tries += 1;
        if tries > 2_000_000 {
            return Err(format!("could not place {n} people {gap} m apart in ({min:?})–({max:?})"));
        }
        let p = Vec2::new(rng.random_range(min.x..max.x), rng.random_range(min.y..max.y));
        if area.contains(p)
            && area.nearest_wall(p).is_none_or(|(d, _)| d > gap / 2.0)
            && out.iter().all(|q| (*q - p).length() > gap)
        {
            out.push(p);
        }
    }
    Ok(out)
}

/// Writes trajectories of one replication when asked.
struct Recorder {
    writer: Option<TrajectoryWriter<BufWriter<File>>>,
}

impl Recorder {
    fn new(settings: &Settings, file: &str, description: &str, first: bool) -> Result<Self, String> {
        let Some(dir) = settings.trajectories.as_ref().filter(|_| first) else { return Ok(Self { writer: None }) };
        let path = dir.join(format!("{file}.txt"));
        let f = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let rate = 1.0 / settings.params.dt_s;
        let writer = TrajectoryWriter::new(BufWriter::new(f), description, rate, 1).map_err(|e| e.to_string())?;
        Ok(Self { writer: Some(writer) })
    }

    fn record(&mut self, crowd: &Crowd) -> Result<(), String> {
        if let Some(w) = self.writer.as_mut() {
            w.record(crowd).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), String> {
        if let Some(w) = self.writer {
            w.finish().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

fn field(area: &Walkable, name: &str, goal: &[Segment]) -> Result<Arc<FloorField>, String> {
    FloorField::new(area, name, goal, DEFAULT_CELL_M).map(Arc::new).map_err(|e| e.to_string())
}

/// Steps until everyone has arrived or `limit_s` passes; calls `each` after every step.
fn run_until_empty(
    crowd: &mut Crowd,
    limit_s: f64,
    recorder: &mut Recorder,
    mut each: impl FnMut(&mut Crowd, &StepEvents),
) -> Result<f64, String> {
    recorder.record(crowd)?;
    while !crowd.persons().is_empty() && crowd.time_s() < limit_s {
        let events = crowd.step();
        each(crowd, &events);
        recorder.record(crowd)?;
    }
    Ok(crowd.time_s())
}

// RiMEA 3.0 test 1; band 26–34 s as RiMEA states it for 40 m at 1.33 m/s (30 s ± the
// guideline's allowance; Vadere's `rimea_01` asserts the same). One person, so one replication.
fn rimea_1(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let area = Arc::new(Walkable::rectangle(Vec2::new(0.0, 0.0), Vec2::new(40.0, 2.0)).map_err(|e| e.to_string())?);
    let end = Segment::new(Vec2::new(40.0, 0.0), Vec2::new(40.0, 2.0));
    let mut crowd = Crowd::new(area.clone(), settings.params);
    let route = crowd.add_route(Route::Field(field(&area, "corridor end", &[end])?));
    // The person's body starts in the corridor; the 40 m are measured from x = 0 to x = 40.
    let start_line = crowd.add_line(Segment::new(Vec2::new(0.5, 0.0), Vec2::new(0.5, 2.0)));
    let end_line = crowd.add_line(Segment::new(Vec2::new(39.5, 0.0), Vec2::new(39.5, 2.0)));
    crowd.add(Vec2::new(0.3, 1.0), 1.33, route);
    let mut recorder = Recorder::new(settings, "rimea-1", "RiMEA 1: one person, 2 m x 40 m corridor", true)?;
    let (mut t_start, mut t_end) = (None, None);
    run_until_empty(&mut crowd, 120.0, &mut recorder, |_, ev| {
        for &(line, _, t) in &ev.crossed {
            if line == start_line {
                t_start = Some(t);
            } else if line == end_line {
                t_end = Some(t);
            }
        }
    })?;
    recorder.finish()?;
    // Lines 39 m apart: scale to the corridor's 40 m at the speed walked.
    let travel = match (t_start, t_end) {
        (Some(a), Some(b)) => (b - a) * 40.0 / 39.0,
        _ => f64::INFINITY,
    };
    Ok(vec![CaseReport {
        case: "rimea-1",
        measured: format!("travel time {travel:.1} s"),
        value: travel,
        band: "26–34 s".into(),
        pass: (26.0..=34.0).contains(&travel),
        source: "RiMEA 3.0 test 1",
    }])
}

/// A periodic corridor at one density: the mean speed after the first 10 s.
fn corridor_speed(settings: &Settings, density: f64, seed: u64, first: bool) -> Result<f64, String> {
    const LENGTH: f64 = 20.0;
    const WIDTH: f64 = 5.0;
    // Walls a few metres beyond both ends: positions wrap long before they come near them.
    let area =
        Arc::new(Walkable::rectangle(Vec2::new(-3.0, 0.0), Vec2::new(LENGTH + 3.0, WIDTH)).map_err(|e| e.to_string())?);
    let mut crowd = Crowd::new(area.clone(), settings.params).with_periodic_x(0.0, LENGTH);
    let east = crowd.add_route(Route::Heading(Vec2::new(1.0, 0.0)));
    let mut rng = rng_for(seed, 4_000 + (density * 100.0) as u64);
    let n = (density * LENGTH * WIDTH).round() as usize;
    let gap = 2.0 * settings.params.radius_m * 1.02;
    for p in scatter(&mut rng, &area, Vec2::new(0.0, 0.0), Vec2::new(LENGTH, WIDTH), n, gap)? {
        let v0 = speeds::weidmann_free_speed(&mut rng);
        crowd.add(p, v0, east);
    }
    let name = format!("rimea-4-density-{density}");
    let mut recorder =
        Recorder::new(settings, &name, &format!("RiMEA 4: periodic corridor at {density} persons/m2"), first)?;
    recorder.record(&crowd)?;
    let (mut sum, mut count) = (0.0, 0u64);
    while crowd.time_s() < 70.0 - 1e-9 {
        crowd.step();
        recorder.record(&crowd)?;
        if crowd.time_s() > 10.0 {
            for p in crowd.persons() {
                sum += p.speed * p.dir.x;
                count += 1;
            }
        }
    }
    recorder.finish()?;
    Ok(sum / count.max(1) as f64)
}

// RiMEA 3.0 test 4 asks for the fundamental diagram without a threshold; the band: Weidmann's
// curve ± 0.2 m/s (about the spread between the lab data sets Weidmann pooled at one density),
// and the specific flow's peak where Zhang et al. (2012) found it across their experiments:
// 1.0–2.0 persons/(m·s) at 1.3–2.3 persons/m².
fn rimea_4(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let densities = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0];
    let mut out = Vec::new();
    let mut flows = Vec::new();
    for &rho in &densities {
        let speeds: Vec<f64> = settings
            .seeds
            .iter()
            .enumerate()
            .map(|(i, &s)| corridor_speed(settings, rho, s, i == 0))
            .collect::<Result<_, _>>()?;
        let v = mean(&speeds);
        flows.push((rho, rho * v));
        // The issue lists 0.5, 1, 2 and 3 for the speed; 1.5 and 2.5 only locate the peak.
        if [0.5, 1.0, 2.0, 3.0].contains(&rho) {
            let w = speeds::weidmann_speed(rho);
            out.push(CaseReport {
                case: "rimea-4",
                measured: format!("ρ {rho:.1}/m²: mean speed {v:.2} m/s (Weidmann {w:.2})"),
                value: v,
                band: format!("{:.2}–{:.2} m/s", w - 0.2, w + 0.2),
                pass: (v - w).abs() <= 0.2,
                source: "Weidmann 1993 ± 0.2 m/s",
            });
        }
    }
    let &(rho_peak, j_peak) = flows.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or(&(0.0, 0.0));
    out.push(CaseReport {
        case: "rimea-4",
        measured: format!("peak specific flow {j_peak:.2} /(m·s) at ρ {rho_peak:.1}/m²"),
        value: j_peak,
        band: "1.0–2.0 /(m·s) at 1.3–2.3 /m²".into(),
        pass: (1.0..=2.0).contains(&j_peak) && (1.3..=2.3).contains(&rho_peak),
        source: "Zhang et al. 2012",
    });
    Ok(out)
}

/// 2 m wide: 12 m east, then 12 m north (the corner's outer walls at x = 12, y = 0).
pub(crate) fn left_corner() -> Result<Walkable, String> {
    Walkable::from_corners(
        &[
            Vec2::new(0.0, 0.0),
            Vec2::new(12.0, 0.0),
            Vec2::new(12.0, 12.0),
            Vec2::new(10.0, 12.0),
            Vec2::new(10.0, 2.0),
            Vec2::new(0.0, 2.0),
        ],
        &[],
    )
    .map_err(|e| e.to_string())
}

// RiMEA 3.0 test 6: "nobody passes through walls" — a hard requirement, so the band is zero
// positions outside the walkable area, and everyone must arrive (a model that froze people at
// the corner would pass the first half trivially).
fn rimea_6(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let area = Arc::new(left_corner()?);
    let goal = Segment::new(Vec2::new(10.0, 12.0), Vec2::new(12.0, 12.0));
    let floor = field(&area, "corridor end", &[goal])?;
    let (mut outside, mut arrived, mut total, mut times) = (0u64, 0usize, 0usize, Vec::new());
    for (i, &seed) in settings.seeds.iter().enumerate() {
        let mut rng = rng_for(seed, 6);
        let mut crowd = Crowd::new(area.clone(), settings.params);
        let route = crowd.add_route(Route::Field(floor.clone()));
        for p in scatter(&mut rng, &area, Vec2::new(0.3, 0.3), Vec2::new(6.0, 1.7), 20, 0.4)? {
            let v0 = speeds::weidmann_free_speed(&mut rng);
            crowd.add(p, v0, route);
        }
        total += 20;
        let mut recorder = Recorder::new(settings, "rimea-6", "RiMEA 6: 20 people round a left corner", i == 0)?;
        let end = run_until_empty(&mut crowd, 120.0, &mut recorder, |c, ev| {
            outside += c.persons().iter().filter(|p| !c.area().contains(p.pos)).count() as u64;
            arrived += ev.arrived.len();
        })?;
        recorder.finish()?;
        times.push(end);
    }
    Ok(vec![CaseReport {
        case: "rimea-6",
        measured: format!(
            "{outside} positions in walls; {arrived}/{total} arrived, last after {:.1} s (mean)",
            mean(&times)
        ),
        value: outside as f64,
        band: "0 in walls, all arrive".into(),
        pass: outside == 0 && arrived == total,
        source: "RiMEA 3.0 test 6",
    }])
}

// RiMEA 3.0 test 7: speeds assigned by age must follow the demographic table; JuPedSim's
// test bounds them per group. Every draw inside its group's band, and the draws spread over at
// least 90 % of it (a table collapsed to one speed per group would pass the first check alone).
fn rimea_7(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let mut out = Vec::new();
    let seed = settings.seeds.first().copied().unwrap_or(1);
    let mut rng = rng_for(seed, 7);
    for band in &RIMEA_7_BANDS {
        let (mut lo, mut hi, mut bad) = (f64::INFINITY, f64::NEG_INFINITY, 0u32);
        for k in 0..10_000u32 {
            let (age, impaired) = match band.ages {
                Some((from, to)) => (from + k % (to.min(100) - from), false),
                None => (20 + k % 60, true),
            };
            let v = speeds::demographic_free_speed(age, impaired, &mut rng);
            let home = speeds::band_for(age, impaired);
            if !(home.min..=home.max).contains(&v) || home.label != band.label {
                bad += 1;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let covered = (hi - lo) / (band.max - band.min);
        out.push(CaseReport {
            case: "rimea-7",
            measured: format!("{}: 10,000 draws {lo:.2}–{hi:.2} m/s, {bad} outside", band.label),
            value: f64::from(bad),
            band: format!("{:.2}–{:.2} m/s, ≥ 90 % covered", band.min, band.max),
            pass: bad == 0 && covered >= 0.9,
            source: "RiMEA 3.0 test 7 (JuPedSim's bounds)",
        });
    }
    Ok(out)
}

/// A 30 × 20 m room with 1 m doors near the corners of its 20 m walls, each a 1 m passage to
/// the outside; `right_open` false locks the two on the right.
fn room_with_doors(right_open: bool) -> Result<(Walkable, Vec<Segment>), String> {
    let mut outline = vec![Vec2::new(0.0, 0.0), Vec2::new(30.0, 0.0)];
    let mut goals = Vec::new();
    // Door centres 2.5 m from the corners.
    let doors = [(2.0, 3.0), (17.0, 18.0)];
    if right_open {
        for &(y0, y1) in &doors {
            outline.extend([Vec2::new(30.0, y0), Vec2::new(31.0, y0), Vec2::new(31.0, y1), Vec2::new(30.0, y1)]);
            goals.push(Segment::new(Vec2::new(31.0, y0), Vec2::new(31.0, y1)));
        }
    }
    outline.extend([Vec2::new(30.0, 20.0), Vec2::new(0.0, 20.0)]);
    for &(y0, y1) in doors.iter().rev() {
        outline.extend([Vec2::new(0.0, y1), Vec2::new(-1.0, y1), Vec2::new(-1.0, y0), Vec2::new(0.0, y0)]);
        goals.push(Segment::new(Vec2::new(-1.0, y0), Vec2::new(-1.0, y1)));
    }
    Ok((Walkable::from_corners(&outline, &[]).map_err(|e| e.to_string())?, goals))
}

/// RiMEA 9's room (four doors, or two with the right ones locked), its doors' outer ends, and
/// the 1,000 people of replication `seed` (position, free speed): the benchmark runs it too.
pub type Room = (Walkable, Vec<Segment>, Vec<(Vec2, f64)>);

pub fn rimea_9_room(right_open: bool, seed: u64) -> Result<Room, String> {
    let (area, goals) = room_with_doors(right_open)?;
    let mut rng = rng_for(seed, 9);
    let people = scatter(&mut rng, &area, Vec2::new(0.3, 0.3), Vec2::new(29.7, 19.7), 1_000, 0.4)?
        .into_iter()
        .map(|p| (p, speeds::weidmann_free_speed(&mut rng)))
        .collect();
    Ok((area, goals, people))
}

fn evacuate_room(settings: &Settings, right_open: bool, seed: u64, first: bool) -> Result<f64, String> {
    let (area, goals, people) = rimea_9_room(right_open, seed)?;
    let area = Arc::new(area);
    let exits = field(&area, "nearest door", &goals)?;
    let mut crowd = Crowd::new(area.clone(), settings.params);
    let route = crowd.add_route(Route::Field(exits));
    for (p, v0) in people {
        crowd.add(p, v0, route);
    }
    let name = if right_open { "rimea-9-four-doors" } else { "rimea-9-two-doors" };
    let mut recorder = Recorder::new(settings, name, "RiMEA 9: 1000 people leave a 30 m x 20 m room", first)?;
    let end = run_until_empty(&mut crowd, 1_200.0, &mut recorder, |_, _| {})?;
    recorder.finish()?;
    if !crowd.persons().is_empty() {
        return Err(format!("rimea-9: {} people still in the room after 1,200 s", crowd.persons().len()));
    }
    Ok(end)
}

// RiMEA 3.0 test 9: with two of four doors locked the evacuation time "about doubles";
// JuPedSim's test reads that as a ratio in 1.6–2.4 (FIGURES.md), which is the band here.
fn rimea_9(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let mut four = Vec::new();
    let mut two = Vec::new();
    for (i, &seed) in settings.seeds.iter().enumerate() {
        four.push(evacuate_room(settings, true, seed, i == 0)?);
        two.push(evacuate_room(settings, false, seed, i == 0)?);
    }
    let ratio = mean(&two) / mean(&four);
    Ok(vec![CaseReport {
        case: "rimea-9",
        measured: format!("4 doors {:.0} s, 2 doors {:.0} s: ratio {ratio:.2}", mean(&four), mean(&two)),
        value: ratio,
        band: "ratio 1.6–2.4".into(),
        pass: (1.6..=2.4).contains(&ratio),
        source: "RiMEA 3.0 test 9 (JuPedSim's band)",
    }])
}

// RiMEA 3.0 test 12: the jam forms in front of the bottleneck and not behind it. A person counts
// as congested in a step when crowded (≥ 2 others within 0.8 m, about ≥ 1.5 /m²) and slowed below
// half their free speed. Bands: in the second room at most 1 % of person-steps congested; within
// 3 m in front of the corridor at least 10 %. The corridor itself is the bottleneck and carries
// its capacity flow, at which the fundamental diagram puts speeds near half the free speed, so
// its share is printed, not bounded.
fn rimea_12(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let area = Arc::new(
        Walkable::from_corners(
            &[
                Vec2::new(0.0, 0.0),
                Vec2::new(10.0, 0.0),
                Vec2::new(10.0, 4.5),
                Vec2::new(15.0, 4.5),
                Vec2::new(15.0, 0.0),
                Vec2::new(25.0, 0.0),
                Vec2::new(25.0, 10.0),
                Vec2::new(15.0, 10.0),
                Vec2::new(15.0, 5.5),
                Vec2::new(10.0, 5.5),
                Vec2::new(10.0, 10.0),
                Vec2::new(0.0, 10.0),
            ],
            &[],
        )
        .map_err(|e| e.to_string())?,
    );
    let goal = Segment::new(Vec2::new(25.0, 0.0), Vec2::new(25.0, 10.0));
    let floor = field(&area, "far wall", &[goal])?;
    let (mut front, mut front_congested, mut after, mut after_congested) = (0u64, 0u64, 0u64, 0u64);
    let (mut corridor, mut corridor_congested) = (0u64, 0u64);
    for (i, &seed) in settings.seeds.iter().enumerate() {
        let mut rng = rng_for(seed, 12);
        let mut crowd = Crowd::new(area.clone(), settings.params);
        let route = crowd.add_route(Route::Field(floor.clone()));
        for p in scatter(&mut rng, &area, Vec2::new(0.3, 0.3), Vec2::new(9.7, 9.7), 150, 0.4)? {
            let v0 = speeds::weidmann_free_speed(&mut rng);
            crowd.add(p, v0, route);
        }
        let mut recorder = Recorder::new(settings, "rimea-12", "RiMEA 12: room, corridor, room", i == 0)?;
        run_until_empty(&mut crowd, 600.0, &mut recorder, |c, _| {
            let persons = c.persons();
            for p in persons {
                let crowded = persons.iter().filter(|q| q.id != p.id && (q.pos - p.pos).length() < 0.8).count() >= 2;
                let congested = crowded && p.speed < 0.5 * p.v0;
                if (10.0..15.0).contains(&p.pos.x) {
                    corridor += 1;
                    corridor_congested += u64::from(congested);
                } else if p.pos.x >= 15.0 {
                    after += 1;
                    after_congested += u64::from(congested);
                } else if p.pos.x >= 7.0 {
                    front += 1;
                    front_congested += u64::from(congested);
                }
            }
        })?;
        recorder.finish()?;
        if !crowd.persons().is_empty() {
            return Err(format!("rimea-12: {} people never reached the second room's wall", crowd.persons().len()));
        }
    }
    let share_front = front_congested as f64 / front.max(1) as f64;
    let share_after = after_congested as f64 / after.max(1) as f64;
    let share_corridor = corridor_congested as f64 / corridor.max(1) as f64;
    Ok(vec![CaseReport {
        case: "rimea-12",
        measured: format!(
            "congested person-steps: {:.1} % in front, {:.2} % in the corridor, {:.2} % in room 2",
            share_front * 100.0,
            share_corridor * 100.0,
            share_after * 100.0
        ),
        value: share_after,
        band: "≥ 10 % in front, ≤ 1 % in room 2".into(),
        pass: share_front >= 0.10 && share_after <= 0.01,
        source: "RiMEA 3.0 test 12",
    }])
}

/// Where the bottleneck case counts passages: across the door, halfway through the wall.
pub const BOTTLENECK_DOOR_X: f64 = 10.2;

/// The bottleneck case's geometry: a room 10 m deep and 8 m wide, a 0.4 m thick wall with a door
/// of `width` centred on y = 4 m, an exit area 4 m deep; the door's measuring line.
pub fn bottleneck_area(width: f64) -> Result<(Walkable, Segment), String> {
    let (y0, y1) = (4.0 - width / 2.0, 4.0 + width / 2.0);
    let area = Walkable::from_corners(
        &[
            Vec2::new(0.0, 0.0),
            Vec2::new(10.0, 0.0),
            Vec2::new(10.0, y0),
            Vec2::new(10.4, y0),
            Vec2::new(10.4, 0.0),
            Vec2::new(14.4, 0.0),
            Vec2::new(14.4, 8.0),
            Vec2::new(10.4, 8.0),
            Vec2::new(10.4, y1),
            Vec2::new(10.0, y1),
            Vec2::new(10.0, 8.0),
            Vec2::new(0.0, 8.0),
        ],
        &[],
    )
    .map_err(|e| e.to_string())?;
    Ok((area, Segment::new(Vec2::new(BOTTLENECK_DOOR_X, y0), Vec2::new(BOTTLENECK_DOOR_X, y1))))
}

fn bottleneck_flow(settings: &Settings, width: f64, seed: u64, first: bool) -> Result<f64, String> {
    let (area, door_line) = bottleneck_area(width)?;
    let area = Arc::new(area);
    let goal = Segment::new(Vec2::new(14.4, 0.0), Vec2::new(14.4, 8.0));
    let mut crowd = Crowd::new(area.clone(), settings.params);
    let route = crowd.add_route(Route::Field(field(&area, "exit", &[goal])?));
    let door = crowd.add_line(door_line);
    let mut rng = rng_for(seed, 13 + (width * 10.0) as u64);
    const N: usize = 200;
    for p in scatter(&mut rng, &area, Vec2::new(0.3, 0.3), Vec2::new(9.5, 7.7), N, 0.4)? {
        let v0 = speeds::weidmann_free_speed(&mut rng);
        crowd.add(p, v0, route);
    }
    let mut recorder = Recorder::new(
        settings,
        &format!("bottleneck-{width}"),
        &format!("bottleneck: 200 people through a {width} m door"),
        first,
    )?;
    let mut times = Vec::with_capacity(N);
    run_until_empty(&mut crowd, 900.0, &mut recorder, |_, ev| {
        times.extend(ev.crossed.iter().filter(|c| c.0 == door).map(|c| c.2));
    })?;
    recorder.finish()?;
    if times.len() < N {
        return Err(format!("bottleneck {width} m: only {} of {N} people passed the door", times.len()));
    }
    // Steady state: the 20th to the 180th passage (the first build the jam, the last drain it).
    let (a, b) = (times[19], times[179]);
    Ok(160.0 / (b - a))
}

// Lab bottleneck flows (Kretz 2006, Müller 1981, Liddle/Seyfried 2009, as tabulated in JuPedSim's
// validation data, FIGURES.md): specific flow 1.6–2.4 /(m·s) across the studies for widths
// 0.8–2.5 m, and the flow must rise with the width.
fn bottleneck(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let mut out = Vec::new();
    let mut flows = Vec::new();
    for width in [0.8, 1.0, 1.2, 1.8, 2.5] {
        let js: Vec<f64> = settings
            .seeds
            .iter()
            .enumerate()
            .map(|(i, &s)| bottleneck_flow(settings, width, s, i == 0))
            .collect::<Result<_, _>>()?;
        let j = mean(&js);
        flows.push(j);
        let specific = j / width;
        out.push(CaseReport {
            case: "bottleneck",
            measured: format!("b {width:.1} m: J {j:.2} /s, J/b {specific:.2} /(m·s)"),
            value: j,
            band: "J/b 1.6–2.4 /(m·s)".into(),
            pass: (1.6..=2.4).contains(&specific),
            source: "Kretz 2006; Müller 1981; Liddle/Seyfried 2009",
        });
    }
    let rising = flows.windows(2).all(|w| w[1] > w[0]);
    out.push(CaseReport {
        case: "bottleneck",
        measured: format!("J by width: {}", flows.iter().map(|j| format!("{j:.2}")).collect::<Vec<_>>().join(" < ")),
        value: f64::from(u8::from(rising)),
        band: "rising with b".into(),
        pass: rising,
        source: "same",
    });
    Ok(out)
}

/// A saturated lane: 60 people in a room feed one 0.6 m lane with a barrier and a terminal.
/// Returns the passages per second between the 10th and the 50th.
fn lane_throughput(settings: &Settings, service_s: f64, seed: u64, first: bool) -> Result<f64, String> {
    let area = Arc::new(
        Walkable::from_corners(
            &[
                Vec2::new(0.0, 0.0),
                Vec2::new(8.0, 0.0),
                Vec2::new(8.0, 2.7),
                Vec2::new(11.0, 2.7),
                Vec2::new(11.0, 0.0),
                Vec2::new(14.0, 0.0),
                Vec2::new(14.0, 6.0),
                Vec2::new(11.0, 6.0),
                Vec2::new(11.0, 3.3),
                Vec2::new(8.0, 3.3),
                Vec2::new(8.0, 6.0),
                Vec2::new(0.0, 6.0),
            ],
            &[],
        )
        .map_err(|e| e.to_string())?,
    );
    let goal = Segment::new(Vec2::new(14.0, 0.0), Vec2::new(14.0, 6.0));
    let mut crowd = Crowd::new(area.clone(), settings.params);
    let route = crowd.add_route(Route::Field(field(&area, "exit", &[goal])?));
    let barrier = crowd.add_barrier(Segment::new(Vec2::new(9.5, 2.7), Vec2::new(9.5, 3.3)));
    let mut terminal = ServicePoint::new(&crowd, barrier, Vec2::new(-1.0, 0.0), DEFAULT_REACH_M);
    let mut rng = rng_for(seed, 15);
    const N: usize = 60;
    for p in scatter(&mut rng, &area, Vec2::new(0.3, 0.3), Vec2::new(7.7, 5.7), N, 0.4)? {
        // One free speed for all: the walk-through bound below is computed for it.
        crowd.add(p, speeds::WEIDMANN_MEAN, route);
    }
    let mut recorder = Recorder::new(
        settings,
        &format!("lane-service-{service_s}"),
        &format!("a lane serving in {service_s} s"),
        first,
    )?;
    let mut passed = Vec::with_capacity(N);
    recorder.record(&crowd)?;
    while !crowd.persons().is_empty() && crowd.time_s() < 900.0 {
        terminal.update(&mut crowd, || service_s);
        let ev = crowd.step();
        let now = crowd.time_s();
        passed.extend(ev.passed.iter().map(|_| now));
        recorder.record(&crowd)?;
    }
    recorder.finish()?;
    if passed.len() < 50 {
        return Err(format!("lane with service {service_s} s: only {} of {N} people passed", passed.len()));
    }
    Ok(40.0 / (passed[49] - passed[9]))
}

// A terminal's service time is what the simulation's lanes are sized on, so a saturated lane
// must pass one person per service time (± 5 %, the resolution of a 40-passage measurement at a
// 0.05 s step plus walking jitter); when service is quicker than walking through, walking
// bounds it: one person per (T + l / v0), the time gap plus a body length at free speed.
fn lane(settings: &Settings) -> Result<Vec<CaseReport>, String> {
    let p = settings.params;
    let walk_bound = 1.0 / (p.time_gap_s + 2.0 * p.radius_m / speeds::WEIDMANN_MEAN);
    let mut out = Vec::new();
    for service in [2.0, 3.5, 5.0] {
        let q = mean(
            &settings
                .seeds
                .iter()
                .enumerate()
                .map(|(i, &s)| lane_throughput(settings, service, s, i == 0))
                .collect::<Result<Vec<_>, _>>()?,
        );
        let expect = 1.0 / service;
        out.push(CaseReport {
            case: "lane",
            measured: format!("service {service:.1} s: {:.2} /min (1/s {:.2} /min)", q * 60.0, expect * 60.0),
            value: q,
            band: format!("{:.2}–{:.2} /min", expect * 0.95 * 60.0, expect * 1.05 * 60.0),
            pass: (q - expect).abs() <= 0.05 * expect,
            source: "the lane model's definition",
        });
    }
    let quick = 0.3;
    let q = mean(
        &settings
            .seeds
            .iter()
            .enumerate()
            .map(|(i, &s)| lane_throughput(settings, quick, s, i == 0))
            .collect::<Result<Vec<_>, _>>()?,
    );
    out.push(CaseReport {
        case: "lane",
        measured: format!("service {quick:.1} s: {:.1} /min (walking allows {:.1})", q * 60.0, walk_bound * 60.0),
        value: q,
        band: format!("≤ {:.1} /min, < 1/s", walk_bound * 1.05 * 60.0),
        pass: q <= walk_bound * 1.05 && q < 0.95 / quick,
        source: "the lane model's definition",
    });
    Ok(out)
}

/// The report as a plain table: case | measured | band | pass.
pub fn table(reports: &[CaseReport]) -> String {
    let w_case = reports.iter().map(|r| r.case.chars().count()).max().unwrap_or(4).max(4);
    let w_meas = reports.iter().map(|r| r.measured.chars().count()).max().unwrap_or(8).max(8);
    let w_band = reports.iter().map(|r| r.band.chars().count()).max().unwrap_or(4).max(4);
    let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    let mut out = format!("{} | {} | {} | pass\n", pad("case", w_case), pad("measured", w_meas), pad("band", w_band));
    for r in reports {
        out.push_str(&format!(
            "{} | {} | {} | {}\n",
            pad(r.case, w_case),
            pad(&r.measured, w_meas),
            pad(&r.band, w_band),
            if r.pass { "yes" } else { "NO" }
        ));
    }
    out
}

/// Where a case's trajectories go, for callers that list them.
pub fn trajectory_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(format!("{file}.txt"))
}
