//! The rush-hour simulation: a headless Bevy app (`MinimalPlugins`, a fixed timestep, systems
//! chained in one deterministic order) whose every terminal is a `gatelab-core` terminal.
//!
//! One plugin per concern — [`arrivals`], [`walking`], lanes/queues, terminals, guards
//! ([`gates`]), [`faults`], [`metrics`] — and [`core_link`] as the only place the core is
//! called. Time is whole ticks of `dt`; when nobody is walking the clock jumps straight to the
//! next thing due (an arrival, a service end, a door timer), which changes no result.

pub mod arrivals;
pub mod attacks;
pub mod capture;
pub mod core_link;
pub mod faces;
pub mod faults;
pub mod gates;
pub mod ground;
pub mod los_map;
pub mod metrics;
pub mod model;
pub mod network;
pub mod outcomes;
pub mod population;
pub mod registration;
pub mod service_level;
pub mod trajectories;
pub mod walking;

use std::time::Duration;

pub use self::core_link::Trace;
use anyhow::{Context, Result};
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;
use gatelab_core::checker::Violation;
use gatelab_core::{Direction, TerminalConfig, Timestamp};

use self::core_link::CoreLink;
use self::gates::Gatehouse;
use self::metrics::{Completed, Group, Metrics, Via};
use self::model::{Activity, Clock, Layout, Rngs, ScenarioRes, SimSet, Used};
use self::population::{COMPOUND, Population};
pub use self::registration::{SharedRegistration, Sharing};
use crate::figures::{
    AtBooth, AtLanes, AttackFigures, Figures, GateFigures, NetworkFigures, QueueAreaFigures, Residents, Tailgating,
    Visitors, Waits,
};
use crate::rows::{PassageRow, QueueRow};
use gatelab_scenario::Scenario;

/// After the window closes, people already at the gate are let through for at most this long.
pub const DRAIN_MS: u64 = 30 * 60_000;

/// What one replication produced.
#[derive(Debug, Clone)]
pub struct Replication {
    pub figures: Figures,
    /// Each gate's own figures, in the scenario's gate order.
    pub gates: Vec<GateFigures>,
    pub passages: Vec<PassageRow>,
    pub queue: Vec<QueueRow>,
    pub audit_jsonl: Option<Vec<u8>>,
    /// The terminals' input, when [`Keep::trace`] asked for it.
    pub trace: Option<Trace>,
    /// What the viewer draws, sampled through the run, when [`Keep::frames`] asked for it.
    pub recording: Option<crate::record::Recording>,
    pub violations: Vec<Violation>,
    /// Simulation updates actually run (idle stretches are skipped).
    pub updates: u64,
    pub agent_steps: u64,
    /// Everyone's arrival as drawn, when [`Keep::arrivals`] asked for it.
    pub arrivals: Option<Vec<arrivals::Arrived>>,
    /// What the LAN and the consent lease did, for a scenario with a `[network]` (the costs
    /// against a perfect LAN are filled in by the runner, which runs that twin).
    pub network: Option<NetworkFigures>,
    /// Presentation attacks and the liveness check, for a scenario with `[attacks]` (the cost
    /// of false refusals is filled in by the runner, which runs the twin without the check).
    pub attacks: Option<AttackFigures>,
    /// Positions, passages and geometry, when [`Keep::trajectories`] asked for them.
    pub trajectories: Option<trajectories::TrajectoryFiles>,
    /// In a site: each gate's level-of-service map (empty in open ground).
    pub density_maps: Vec<los_map::DensityMap>,
}

/// Nearest-rank percentile of sorted values; NaN if there are none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// What a replication keeps beyond its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keep {
    /// passages.csv and queue.csv rows.
    pub rows: bool,
    /// The audit log as JSON Lines.
    pub audit: bool,
    /// Every event each terminal received, for replay on the firmware (`gatelab-rig replay`).
    pub trace: bool,
    /// A recording for `gatelab view --replay` (frames and events; needs `rows`).
    pub frames: bool,
    /// Everyone's arrival as drawn ([`arrivals::Arrived`]), to show common random numbers.
    pub arrivals: bool,
    /// Bodies' positions in a window, and who passed when (`gatelab run --trajectories`).
    pub trajectories: Option<trajectories::TrajectoryWindow>,
}

/// What this replication keeps, for the plugins that keep it.
#[derive(Resource, Debug, Clone, Copy)]
pub struct KeepRes(pub Keep);

impl Keep {
    pub const ALL: Keep =
        Keep { rows: true, audit: true, trace: false, frames: false, arrivals: false, trajectories: None };
    pub const NOTHING: Keep =
        Keep { rows: false, audit: false, trace: false, frames: false, arrivals: false, trajectories: None };
}

/// Build the Bevy app for one replication of `scenario`.
pub fn build_app(scenario: &Scenario, seed: u64, keep: Keep) -> Result<App> {
    build_app_sharing(scenario, seed, keep, None)
}

/// [`build_app`], taking registration day from `shared` when another run of the same
/// replication has done it (see [`registration`]).
pub fn build_app_sharing(
    scenario: &Scenario,
    seed: u64,
    keep: Keep,
    shared: Option<&SharedRegistration>,
) -> Result<App> {
    let policy = scenario
        .policy()
        .with_context(|| format!("policy.name = {:?} in scenario {:?}", scenario.policy.name, scenario.name))?;
    let layout = ground::place(Layout::new(scenario), scenario)?;
    let dim = scenario.matcher.dim;
    let configs: Vec<TerminalConfig> = layout
        .lanes
        .iter()
        .map(|l| (l.terminal, scenario.gates[l.gate].door_open_s, l.has_camera))
        .chain(layout.guard_paths.iter().flat_map(|p| {
            let open = scenario.gates[p.gate].door_open_s;
            [(p.inbound, open, false), (p.outbound, open, false)]
        }))
        .map(|(id, door_open_s, camera)| {
            let mut config = TerminalConfig::new(id, COMPOUND, dim);
            config.match_threshold = scenario.matcher.threshold;
            config.door_open_ms = (door_open_s * 1000.0).round() as u64;
            config.camera = camera;
            config
        })
        .collect();
    let mut rngs = Rngs::new(seed);
    let dt_ms = (scenario.run.dt_s * 1000.0).round().max(1.0) as u64;
    let start_ms = u64::from(scenario.start_min()) * 60_000;
    if scenario.network.is_some() && keep.trace {
        anyhow::bail!(
            "scenario {:?} has a [network]: a terminal trace for the rig replays unlinked terminals only \
             (the rig tests the linked firmware with its own authority); run without --trace",
            scenario.name
        );
    }
    // A trace records what each terminal received, registration included: it registers itself.
    let (mut core, mut population) = match shared.filter(|_| scenario.network.is_none() && !keep.trace) {
        Some(shared) => registration::register(shared, scenario, seed, &policy, configs, keep.audit, &mut rngs)?,
        None => {
            let mut compound = registration::compound(&policy, configs)?;
            if keep.trace {
                compound.record();
            }
            let mut core = CoreLink::new(compound, keep.audit);
            if let Some(network) = &scenario.network {
                let window = (start_ms, start_ms + u64::from(scenario.run.duration_min) * 60_000);
                core.connect(Timestamp(0), network::Lan::new(network, &layout, &rngs), window)?;
            }
            let population = Population::register(scenario, &policy, &mut rngs, &mut core);
            (core, population)
        }
    };
    let mut lapsed_at_reconfirmation = 0;
    if let Some(rc) = &scenario.reconfirmation {
        let at = Timestamp(u64::from(gatelab_scenario::parse_clock(&rc.at).unwrap_or(0)) * 60_000);
        core.advance(at);
        lapsed_at_reconfirmation =
            population.reconfirm(at, rc.not_resigned_share, &mut rngs.reconfirmation(), &mut core);
    }
    if scenario.network.is_some() {
        // The night before the window: requests, resends, links down and up.
        core.advance(Timestamp(start_ms));
    }
    let end_tick = u64::from(scenario.run.duration_min) * 60_000 / dt_ms;
    let clock = Clock { tick: 0, dt_ms, start_ms, end_tick, next_tick: u64::MAX, busy: false, finished: false };
    let gatehouse = Gatehouse::new(&layout);

    let mut app = App::new();
    // No task pool: every system runs on this thread, in order (determinism, and ticking idle
    // pools 100,000 times costs more than it brings).
    app.add_plugins(MinimalPlugins.build().disable::<bevy::app::TaskPoolPlugin>())
        .insert_resource(TimeUpdateStrategy::FixedTimesteps(1))
        .insert_resource(Time::<Fixed>::from_duration(Duration::from_millis(dt_ms)))
        .insert_resource(ScenarioRes(scenario.clone()))
        .insert_resource(clock)
        .insert_resource(KeepRes(keep))
        .insert_resource(rngs)
        .insert_resource(layout)
        .insert_resource(core)
        .insert_resource(population)
        .insert_resource(LapsedAtReconfirmation(lapsed_at_reconfirmation))
        .insert_resource(gatehouse)
        .insert_resource(Metrics {
            keep_rows: keep.rows || keep.frames,
            agent_rows: keep.trajectories.map(|_| Vec::new()),
            ..Metrics::default()
        })
        .insert_resource(Started(false))
        .configure_sets(
            FixedUpdate,
            (
                SimSet::Clock,
                SimSet::Faults,
                SimSet::Arrivals,
                SimSet::Walking,
                SimSet::Decide,
                SimSet::Guards,
                SimSet::Lanes,
                SimSet::Goals,
                SimSet::Metrics,
                SimSet::Plan,
            )
                .chain(),
        )
        .add_systems(FixedUpdate, (advance_clock.in_set(SimSet::Clock), plan_next_tick.in_set(SimSet::Plan)))
        .add_plugins((
            faults::FaultsPlugin,
            arrivals::ArrivalsPlugin,
            walking::WalkingPlugin,
            gates::LanesPlugin,
            gates::GatesPlugin,
            gates::GuardsPlugin,
            metrics::MetricsPlugin,
            service_level::ServiceLevelPlugin,
            los_map::LosMapPlugin,
            attacks::AttacksPlugin,
        ));
    if let Some(scores) = scenario.attacks.as_ref().and_then(attacks::PadScores::new) {
        app.insert_resource(scores);
    }
    if keep.frames {
        // Reads the state after each step; changes nothing in it.
        app.add_plugins(capture::RecorderPlugin);
    }
    if let Some(window) = keep.trajectories {
        anyhow::ensure!(
            window.every_ms > 0 && window.every_ms.is_multiple_of(dt_ms) && window.from_ms.is_multiple_of(dt_ms),
            "trajectories every {} ms from {} ms: both must be whole steps of {dt_ms} ms (the scenario's run.dt_s)",
            window.every_ms,
            window.from_ms
        );
        // Reads the state after each step; changes nothing in it.
        app.insert_resource(trajectories::Trajectories::new(window)).add_plugins(trajectories::TrajectoryPlugin);
    }
    Ok(app)
}

#[derive(Resource, Debug)]
struct Started(bool);

/// Consents that lapsed at the night's re-confirmation.
#[derive(Resource, Debug)]
struct LapsedAtReconfirmation(u32);

fn advance_clock(mut clock: ResMut<Clock>, mut started: ResMut<Started>, mut core: ResMut<CoreLink>) {
    if started.0 {
        clock.tick = clock.next_tick.max(clock.tick + 1);
    }
    started.0 = true;
    clock.next_tick = u64::MAX;
    clock.busy = false;
    core.advance(clock.now());
}

fn plan_next_tick(mut clock: ResMut<Clock>, core: Res<CoreLink>, agents: Query<&Activity>) {
    let drain_end = clock.end_tick + DRAIN_MS / clock.dt_ms;
    let present = agents.iter().count();
    if (clock.tick >= clock.end_tick && present == 0) || clock.tick >= drain_end {
        clock.finished = true;
        return;
    }
    if clock.busy {
        let next = clock.tick + 1;
        clock.wake_at(next);
    }
    if let Some(at) = core.poll_timeout() {
        let tick = clock.tick_at(at.0);
        clock.wake_at(tick);
    }
    if clock.tick < clock.end_tick {
        let end = clock.end_tick;
        clock.wake_at(end);
    }
    clock.next_tick = clock.next_tick.min(drain_end);
}

/// Run one replication; `keep_details` keeps the rows and the audit log.
pub fn simulate(scenario: &Scenario, seed: u64, keep_details: bool, progress: &dyn Fn(u64)) -> Result<Replication> {
    simulate_keeping(scenario, seed, if keep_details { Keep::ALL } else { Keep::NOTHING }, progress)
}

/// Run one replication. `progress(done_ticks)` is called now and then with the clock's tick.
pub fn simulate_keeping(scenario: &Scenario, seed: u64, keep: Keep, progress: &dyn Fn(u64)) -> Result<Replication> {
    let mut sim = Simulation::new(scenario, seed, keep)?;
    sim.run_to_end(progress);
    Ok(sim.finish())
}

/// [`simulate_keeping`], sharing registration day with the other runs of this replication
/// through `shared` (a plan's lane counts): the same bytes out, less work.
pub fn simulate_sharing(
    scenario: &Scenario,
    seed: u64,
    keep: Keep,
    shared: &SharedRegistration,
    progress: &dyn Fn(u64),
) -> Result<Replication> {
    let mut sim = Simulation::new_sharing(scenario, seed, keep, Some(shared))?;
    sim.run_to_end(progress);
    Ok(sim.finish())
}

/// One replication, stepped: the only stepping loop there is. The runner runs it to the end,
/// the viewer steps it to the time its clock shows, the benches time it.
pub struct Simulation {
    /// The app's world after its start-up update. A step is one run of its `FixedUpdate`
    /// schedule (our clock is the fixed timestep): running it directly skips the frame-level
    /// schedules (First … Last, Bevy's own time bookkeeping) that a headless step does not
    /// need, about half the per-step cost.
    world: World,
    /// The `FixedUpdate` schedule, held outside the world: running it in place would take it out
    /// of `Schedules` and put it back (a label lookup, two hash-map operations, a move) on
    /// every one of a run's ~100,000 steps.
    schedule: Schedule,
    steps: u64,
    scenario: String,
    seed: u64,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation").field("scenario", &self.scenario).field("seed", &self.seed).finish_non_exhaustive()
    }
}

impl Simulation {
    pub fn new(scenario: &Scenario, seed: u64, keep: Keep) -> Result<Simulation> {
        Simulation::new_sharing(scenario, seed, keep, None)
    }

    /// [`Simulation::new`], taking registration day from `shared` when another run of the same
    /// replication has done it.
    pub fn new_sharing(
        scenario: &Scenario,
        seed: u64,
        keep: Keep,
        shared: Option<&SharedRegistration>,
    ) -> Result<Simulation> {
        let mut app = build_app_sharing(scenario, seed, keep, shared)?;
        // The first update runs Startup only (Bevy's fixed clock has not advanced yet).
        app.update();
        let mut world = std::mem::take(app.world_mut());
        let schedule = world
            .resource_mut::<Schedules>()
            .remove(FixedUpdate)
            .context("the simulation app has no FixedUpdate schedule")?;
        Ok(Simulation { world, schedule, steps: 0, scenario: scenario.name.clone(), seed })
    }

    pub fn clock(&self) -> &Clock {
        self.world.resource::<Clock>()
    }

    /// When the next step will run (milliseconds since midnight); `None` once the run is over.
    pub fn next_step_ms(&self) -> Option<u64> {
        let c = self.clock();
        if c.finished {
            None
        } else if self.steps == 0 {
            Some(c.now_ms())
        } else {
            Some(c.start_ms + c.next_tick.max(c.tick + 1).saturating_mul(c.dt_ms))
        }
    }

    /// One step (idle stretches are one step: the clock jumps to the next thing due).
    pub fn step(&mut self) {
        self.schedule.run(&mut self.world);
        self.steps += 1;
    }

    /// Every step due at or before `t_ms`.
    pub fn advance_to(&mut self, t_ms: u64) {
        while let Some(next) = self.next_step_ms()
            && next <= t_ms
        {
            self.step();
        }
    }

    /// Step until the run is over, reporting the clock's tick now and then.
    pub fn run_to_end(&mut self, progress: &dyn Fn(u64)) {
        let mut last_report = 0;
        loop {
            self.step();
            // One resource lookup a step: this loop is the whole run.
            let &Clock { tick, end_tick, finished, .. } = self.clock();
            if tick >= last_report + 600 {
                last_report = tick;
                progress(tick.min(end_tick));
            }
            if finished {
                progress(end_tick);
                return;
            }
        }
    }

    /// The simulation's world, to read (the scenery).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The simulation's world, to query (the viewer's frames, its body count): read only.
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }

    /// What the replication produced (call once the run is over), its trace and recording
    /// named after this replication's own seed.
    pub fn finish(self) -> Replication {
        let origin = format!("scenario {:?}, seed {}", self.scenario, self.seed);
        let seed = self.seed;
        self.finish_as(origin, seed)
    }

    /// [`Simulation::finish`], naming the trace's origin and the recording's seed as the caller
    /// knows them (a run names its own seed, which a user re-runs with, not the replication's).
    pub fn finish_as(mut self, origin: String, recording_seed: u64) -> Replication {
        let mut replication = collect(&mut self.world, self.steps);
        if let Some(trace) = &mut replication.trace {
            trace.header.origin = origin;
        }
        if let Some(recording) = &mut replication.recording {
            recording.header.seed = recording_seed;
        }
        replication
    }
}

const QUARTER_MS: u64 = 15 * 60_000;

/// The most of sorted `times` inside any window of `window_ms`, and where that window starts.
fn busiest_window(times: &[u64], window_ms: u64) -> (usize, u64) {
    let (mut best, mut start, mut lo) = (0, times.first().copied().unwrap_or(0), 0);
    for hi in 0..times.len() {
        while times[hi] - times[lo] >= window_ms {
            lo += 1;
        }
        if hi - lo + 1 > best {
            (best, start) = (hi - lo + 1, times[lo]);
        }
    }
    (best, start)
}

/// Passages through lanes and through the booth (of gate `gate` in `direction`, or all) and
/// their p95 waits.
fn paths(completed: &[Completed], gate: Option<(usize, Option<Direction>)>) -> (AtLanes, AtBooth) {
    let mine = |c: &&Completed| gate.is_none_or(|(g, d)| c.gate == g && d.is_none_or(|d| c.direction == d));
    let p95 = |keep: &dyn Fn(&Completed) -> bool| {
        percentile(&sorted(completed.iter().filter(mine).filter(|c| keep(c)).map(|c| c.wait_s).collect()), 95.0)
    };
    let count = |via: Via| completed.iter().filter(mine).filter(|c| c.via == via).count() as f64;
    let lane_group = |group: Group| p95(&|c: &Completed| c.via == Via::Lane && c.group == group);
    (
        AtLanes {
            passages: count(Via::Lane),
            wait_s_p95: p95(&|c: &Completed| c.via == Via::Lane),
            face_users_wait_s_p95: lane_group(Group::Enrolled),
            opt_outs_wait_s_p95: lane_group(Group::OptOut),
            couriers_wait_s_p95: lane_group(Group::Courier),
        },
        AtBooth { passages: count(Via::Booth), wait_s_p95: p95(&|c: &Completed| c.via == Via::Booth) },
    )
}

fn collect(world: &mut World, updates: u64) -> Replication {
    let layout = world.resource::<Layout>().clone();
    let gate_count = layout.gate_x.len();
    // With walking off nobody stands anywhere: the queue areas are not measured (NaN).
    let walking = world.resource::<ScenarioRes>().0.behaviour.walking;
    let area_samples = std::mem::take(&mut world.resource_mut::<service_level::QueueAreaSamples>().areas);
    let area_samples = if walking { area_samples } else { Vec::new() };
    let start_ms = world.resource::<Clock>().start_ms;
    let unserved = world.query::<&Activity>().iter(world).count() as f64;
    let agent_steps = world.resource::<walking::Crossings>().agent_steps;
    let (spawned, suppressed, arrived, arrival_times) = {
        let mut a = world.resource_mut::<arrivals::Arrivals>();
        (a.spawned as f64, a.suppressed as f64, a.log.take(), std::mem::take(&mut a.times))
    };
    let camera_failures = world.resource::<faults::FaultState>().camera_failures as f64;
    let (opted_out, enrolled, withdrawn) = {
        let p = world.resource::<Population>();
        (f64::from(p.opted_out), f64::from(p.enrolled), f64::from(p.withdrawn))
    };
    let lapsed_at_reconfirmation = f64::from(world.resource::<LapsedAtReconfirmation>().0);
    let pad = world.contains_resource::<attacks::PadScores>().then(|| *world.resource::<attacks::PadTally>());
    let mut core = world.resource_mut::<CoreLink>();
    let tally = core.network_tally();
    let report = core.finish_check();
    let audit_jsonl = core.audit_jsonl.take();
    let trace = core.take_trace();
    let counts = core.counts;
    let recording = world.get_resource_mut::<capture::Recorder>().and_then(|mut r| r.recording.take());
    let mut metrics = std::mem::take(&mut *world.resource_mut::<Metrics>());

    let waits = |group: Option<Group>| -> Vec<f64> {
        sorted(metrics.completed.iter().filter(|c| group.is_none_or(|g| c.group == g)).map(|c| c.wait_s).collect())
    };
    let all = waits(None);
    let count = |group: Group| metrics.completed.iter().filter(|c| c.group == group).count() as f64;
    let mut times: Vec<u64> = metrics.completed.iter().map(|c| c.at_ms).collect();
    times.sort_unstable();
    let (busiest, _) = busiest_window(&times, QUARTER_MS);
    // The peak hour of arrivals and, inside it, its busiest quarter (the peak-hour factor of
    // traffic engineering: 1 when the hour is even, 0.25 when it all comes in one quarter).
    let (peak_hour, hour_start) = busiest_window(&arrival_times, 4 * QUARTER_MS);
    let in_hour: Vec<u64> =
        arrival_times.iter().copied().filter(|&t| t >= hour_start && t < hour_start + 4 * QUARTER_MS).collect();
    let (peak_quarter, _) = busiest_window(&in_hour, QUARTER_MS);
    let resident = |group: Group, persons: f64| Residents {
        persons,
        passages: count(group),
        wait_s_p95: percentile(&waits(Some(group)), 95.0),
    };
    let outsider =
        |group: Group| Visitors { passages: count(group), wait_s_p95: percentile(&waits(Some(group)), 95.0) };
    let (at_lanes, at_booth) = paths(&metrics.completed, None);
    // p95 wait per quarter hour of one gate's passages by one way, by when people reached it.
    let by_quarter = |g: usize, via: Via| -> Vec<f64> {
        let mut quarters: Vec<Vec<f64>> = Vec::new();
        for c in metrics.completed.iter().filter(|c| c.gate == g && c.via == via) {
            let q = (c.joined_ms.saturating_sub(start_ms) / QUARTER_MS) as usize;
            if quarters.len() <= q {
                quarters.resize(q + 1, Vec::new());
            }
            quarters[q].push(c.wait_s);
        }
        quarters.into_iter().map(|w| percentile(&sorted(w), 95.0)).collect()
    };
    let queue_area = |g: usize, direction: Direction| {
        let k = layout.queue_areas.iter().position(|a| a.gate == g && a.direction == direction);
        k.zip(area_samples.get(k.unwrap_or(0)))
            .map_or_else(QueueAreaFigures::none, |(k, s)| s.figures(layout.queue_areas[k].area_m2(), start_ms))
    };
    let gates = (0..gate_count)
        .map(|g| {
            let (outbound, _) = paths(&metrics.completed, Some((g, Some(Direction::Outbound))));
            let (inbound, _) = paths(&metrics.completed, Some((g, Some(Direction::Inbound))));
            let (_, at_booth) = paths(&metrics.completed, Some((g, None)));
            GateFigures {
                outbound,
                inbound,
                at_booth,
                lanes_wait_s_p95_by_quarter: by_quarter(g, Via::Lane),
                booth_wait_s_p95_by_quarter: by_quarter(g, Via::Booth),
                outbound_queue_area: queue_area(g, Direction::Outbound),
                inbound_queue_area: queue_area(g, Direction::Inbound),
            }
        })
        .collect();
    let figures = Figures {
        arrivals: spawned,
        arrivals_busiest_15_min: busiest_window(&arrival_times, QUARTER_MS).0 as f64,
        peak_hour_factor: if peak_quarter > 0 { peak_hour as f64 / (4.0 * peak_quarter as f64) } else { f64::NAN },
        passages: metrics.completed.len() as f64,
        throughput_per_min: busiest as f64 / 15.0,
        wait_s: Waits {
            mean: if all.is_empty() { f64::NAN } else { all.iter().sum::<f64>() / all.len() as f64 },
            p50: percentile(&all, 50.0),
            p95: percentile(&all, 95.0),
            p99: percentile(&all, 99.0),
            max: all.last().copied().unwrap_or(f64::NAN),
        },
        queue_max: f64::from(metrics.queue_max),
        tailgating: Tailgating {
            attempts: metrics.tailgating_attempts as f64,
            detected: metrics.tailgating_attempts.saturating_sub(metrics.tailgating_undetected) as f64,
            undetected: metrics.tailgating_undetected as f64,
        },
        uncontrolled_passages: counts.uncontrolled as f64,
        opt_out: resident(Group::OptOut, opted_out),
        enrolled: resident(Group::Enrolled, enrolled),
        visitors: outsider(Group::Visitor),
        couriers: outsider(Group::Courier),
        at_lanes,
        at_booth,
        face_attempts: metrics.face_attempts as f64,
        false_accepts: metrics.false_accepts as f64,
        false_rejects: metrics.false_rejects as f64,
        denied_attempts: metrics.denied_attempts as f64,
        car_gate_openings: metrics.car_gate_openings as f64,
        camera_failures,
        unserved_at_end: unserved,
        consent_withdrawals: withdrawn,
        arrivals_suppressed: suppressed,
        consent_violations: report.violations.len() as f64,
    };
    let network = tally.map(|t| NetworkFigures {
        lease_lapsed_terminal_min: t.lapsed_terminal_min,
        faces_refused_under_lapsed_lease: t.faces_refused_lapsed as f64,
        frames_delivered: t.frames_delivered as f64,
        frames_lost: t.frames_lost as f64,
        consents_lapsed_at_reconfirmation: lapsed_at_reconfirmation,
        passages_by_face: metrics.completed.iter().filter(|c| c.used == Used::Face).count() as f64,
        passages_by_credential: metrics.completed.iter().filter(|c| matches!(c.used, Used::Credential(_))).count()
            as f64,
        wait_s_p95_perfect_lan: f64::NAN,
        wait_s_p95_cost: f64::NAN,
        face_users_wait_s_p95_cost: f64::NAN,
    });
    let ratio = |a: u64, b: u64| if b == 0 { f64::NAN } else { a as f64 / b as f64 };
    let attacks = pad.map(|t| AttackFigures {
        attack_presentations: t.attack_presentations as f64,
        attacks_accepted: t.attacks_accepted as f64,
        apcer: ratio(t.attacks_accepted, t.attack_presentations),
        screen_presentations: t.screen_presentations as f64,
        live_presentations: t.live_presentations as f64,
        live_refused: t.live_refused as f64,
        bpcer: ratio(t.live_refused, t.live_presentations),
        face_users_wait_s_p95_without_check: f64::NAN,
        face_users_wait_s_p95_cost: f64::NAN,
        wait_s_mean_cost: f64::NAN,
    });
    // The gates' queue areas' head counts, instant by instant, pick each map's busiest window.
    let people_per_gate: Vec<Vec<u32>> = (0..gate_count)
        .map(|g| {
            let mut total: Vec<u32> = Vec::new();
            for (_, samples) in layout.queue_areas.iter().zip(&area_samples).filter(|(a, _)| a.gate == g) {
                total.resize(total.len().max(samples.people.len()), 0);
                for (t, p) in total.iter_mut().zip(&samples.people) {
                    *t += p;
                }
            }
            total
        })
        .collect();
    let density_maps = los_map::maps(world, &people_per_gate);
    let trajectories = world
        .remove_resource::<trajectories::Trajectories>()
        .map(|kept| trajectories::TrajectoryFiles::new(&layout, kept, metrics.agent_rows.take().unwrap_or_default()));
    Replication {
        density_maps,
        trajectories,
        attacks,
        network,
        figures,
        gates,
        passages: std::mem::take(&mut metrics.rows),
        queue: std::mem::take(&mut metrics.queue_rows),
        audit_jsonl,
        trace,
        recording,
        violations: report.violations,
        updates,
        agent_steps,
        arrivals: arrived,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_window_counts_the_most_arrivals_any_window_holds() {
        let minute = 60_000;
        // 10 arrivals spread over an hour, then 30 in one quarter.
        let mut times: Vec<u64> = (0..10).map(|i| i * 6 * minute).collect();
        times.extend((0..30).map(|i| 60 * minute + i * 30_000));
        assert_eq!(busiest_window(&times, QUARTER_MS), (30, 60 * minute));
        let (hour, start) = busiest_window(&times, 4 * QUARTER_MS);
        assert_eq!(hour, 37, "the burst and the seven arrivals of the hour before it that fit");
        assert_eq!(start, 18 * minute);
        assert_eq!(busiest_window(&[], QUARTER_MS).0, 0);
    }
}
