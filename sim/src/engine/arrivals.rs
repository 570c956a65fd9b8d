//! Arrivals: residents leaving and coming home by the demand profile, visitors, couriers and
//! food couriers, each a non-homogeneous Poisson stream with hourly rates. Each arrival is a new
//! agent at its door (or at the street), heading for a gate chosen by the gates' shares.

use bevy::math::Vec2;
use bevy::prelude::*;
use gatelab_core::Direction;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, Normal};

use super::core_link::CoreLink;
use super::model::{
    Activity, Agent, AgentKind, Body, Clock, DECISION_DISTANCE_M, Goal, Layout, Means, OnTheWay, PLAZA_RADIUS_M, Rngs,
    ScenarioRes, SimSet, Used,
};
use super::population::{Population, TRIP_COOLDOWN_MS};

const HOUR_MS: u64 = 3_600_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    ResidentsOut,
    ResidentsIn,
    Visitors,
    Couriers,
    FoodCouriers,
    /// Not a trip: an enrolled resident withdraws consent at the property office.
    Withdrawals,
}

const STREAMS: [Stream; 6] = [
    Stream::ResidentsOut,
    Stream::ResidentsIn,
    Stream::Visitors,
    Stream::Couriers,
    Stream::FoodCouriers,
    Stream::Withdrawals,
];

/// One Poisson arrival stream: who, at which gate (`None`: by the gates' shares), and its rate —
/// the hourly per-resident profile (`segments: None`) or piecewise-constant rows
/// (`[from_ms, to_ms)`, arrivals per ms).
#[derive(Clone, Debug)]
struct StreamSpec {
    kind: Stream,
    gate: Option<usize>,
    segments: Option<Vec<(u64, u64, f64)>>,
}

/// The arrival streams of `scenario`: the six base streams (their random streams keep their
/// indices whatever the demand), then, with `demand.rows`, residents out and in at each gate that
/// has rows of its own.
fn streams(scenario: &ScenarioRes) -> Vec<StreamSpec> {
    let s = &scenario.0;
    let rows = &s.demand.rows;
    let segments = |gate: Option<&str>, pick: fn(&gatelab_scenario::DemandRow) -> f64| {
        let mut v: Vec<(u64, u64, f64)> = rows
            .iter()
            .filter(|r| r.gate.as_deref() == gate)
            .map(|r| {
                let (a, b) = r.span_min();
                (u64::from(a) * 60_000, u64::from(b) * 60_000, pick(r) / HOUR_MS as f64)
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v
    };
    let mut out: Vec<StreamSpec> = STREAMS
        .iter()
        .map(|&kind| {
            let segments = match kind {
                _ if rows.is_empty() => None,
                Stream::ResidentsOut => Some(segments(None, |r| r.outbound)),
                Stream::ResidentsIn => Some(segments(None, |r| r.inbound)),
                _ => None,
            };
            StreamSpec { kind, gate: None, segments }
        })
        .collect();
    for (g, gate) in s.gates.iter().enumerate() {
        if rows.iter().any(|r| r.gate.as_deref() == Some(gate.name.as_str())) {
            for (kind, pick) in [
                (Stream::ResidentsOut, (|r| r.outbound) as fn(&gatelab_scenario::DemandRow) -> f64),
                (Stream::ResidentsIn, |r| r.inbound),
            ] {
                out.push(StreamSpec { kind, gate: Some(g), segments: Some(segments(Some(&gate.name), pick)) });
            }
        }
    }
    out
}

#[derive(Resource, Debug)]
pub struct Arrivals {
    streams: Vec<StreamSpec>,
    next_ms: Vec<Option<u64>>,
    /// Arrivals stop here (the end of the simulated window).
    end_ms: u64,
    /// Cumulative gate shares, for picking a gate.
    gate_cumulative: Vec<f64>,
    pub spawned: u64,
    /// Arrivals dropped because every candidate person was already on a trip.
    pub suppressed: u64,
    /// Everyone who arrived, when [`super::Keep::arrivals`] asked for it.
    pub log: Option<Vec<Arrived>>,
    /// When each arrival happened (ms since midnight), in order: the peaks in the summary.
    pub times: Vec<u64>,
}

/// One person's arrival as drawn: what common random numbers hold equal across configurations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrived {
    pub serial: u64,
    pub at_ms: u64,
    pub kind: AgentKind,
    pub gate: usize,
    pub direction: Direction,
    pub person: Option<u64>,
    pub face: bool,
    pub credential: Option<u64>,
    /// The first numbers of the person's own stream (service times and choices come from it).
    pub draws: [u64; 4],
}

#[derive(Debug)]
pub struct ArrivalsPlugin;

impl Plugin for ArrivalsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, setup_arrivals).add_systems(FixedUpdate, spawn_arrivals.in_set(SimSet::Arrivals));
    }
}

/// Trips per hour of `stream` during hour-of-day `hour`.
fn rate_per_hour(scenario: &ScenarioRes, stream: Stream, hour: u64) -> f64 {
    let s = &scenario.0;
    let residents = f64::from(s.residents());
    let profile = |pick: fn(&(u8, f64, f64)) -> f64| {
        s.demand.profile.iter().find(|row| u64::from(row.0) == hour).map_or(0.0, pick) * residents
    };
    match stream {
        Stream::ResidentsOut => profile(|r| r.1),
        Stream::ResidentsIn => profile(|r| r.2),
        Stream::Visitors => s.population.visitors_per_hour,
        Stream::Couriers => s.population.couriers_per_hour,
        Stream::FoodCouriers => s.population.food_couriers_per_hour,
        Stream::Withdrawals => s.population.withdrawals_per_hour,
    }
}

/// Next event of `spec`'s Poisson process after `from_ms`: exact, by inverting the integrated
/// piecewise-constant rate (an exponential budget of "expected arrivals" spent along the rows).
fn next_of(scenario: &ScenarioRes, spec: &StreamSpec, from_ms: u64, end_ms: u64, rng: &mut ChaCha8Rng) -> Option<u64> {
    let Some(segments) = &spec.segments else { return next_arrival(scenario, spec.kind, from_ms, end_ms, rng) };
    let mut budget: f64 = Exp1.sample(rng);
    for &(a, b, rate) in segments {
        let (a, b) = (a.max(from_ms), b.min(end_ms));
        if b <= a || rate <= 0.0 {
            continue;
        }
        let span = (b - a) as f64;
        if rate * span >= budget {
            return Some(a + (budget / rate).ceil() as u64);
        }
        budget -= rate * span;
    }
    None
}

/// Next event of a Poisson process with piecewise-constant hourly rates, after `from_ms`.
fn next_arrival(
    scenario: &ScenarioRes,
    stream: Stream,
    from_ms: u64,
    end_ms: u64,
    rng: &mut ChaCha8Rng,
) -> Option<u64> {
    let mut budget: f64 = Exp1.sample(rng);
    let mut t = from_ms;
    while t < end_ms {
        let hour = t / HOUR_MS;
        let segment_end = ((hour + 1) * HOUR_MS).min(end_ms);
        let rate = rate_per_hour(scenario, stream, hour % 24) / HOUR_MS as f64;
        let span = (segment_end - t) as f64;
        if rate * span >= budget {
            return Some(t + (budget / rate).ceil() as u64);
        }
        budget -= rate * span;
        t = segment_end;
    }
    None
}

fn setup_arrivals(
    mut commands: Commands,
    scenario: Res<ScenarioRes>,
    clock: Res<Clock>,
    mut rngs: ResMut<Rngs>,
    keep: Res<super::KeepRes>,
) {
    let end_ms = clock.start_ms + clock.end_tick * clock.dt_ms;
    let streams = streams(&scenario);
    rngs.ensure_arrival_streams(streams.len());
    let next_ms = streams
        .iter()
        .enumerate()
        .map(|(i, spec)| next_of(&scenario, spec, clock.start_ms, end_ms, &mut rngs.arrivals[i]))
        .collect();
    let mut acc = 0.0;
    let gate_cumulative = scenario
        .0
        .gates
        .iter()
        .map(|g| {
            acc += g.share;
            acc
        })
        .collect();
    let log = keep.0.arrivals.then(Vec::new);
    commands.insert_resource(Arrivals {
        streams,
        next_ms,
        end_ms,
        gate_cumulative,
        spawned: 0,
        suppressed: 0,
        log,
        times: Vec::new(),
    });
}

#[allow(clippy::too_many_arguments)]
fn spawn_arrivals(
    mut commands: Commands,
    scenario: Res<ScenarioRes>,
    mut clock: ResMut<Clock>,
    mut rngs: ResMut<Rngs>,
    mut arrivals: ResMut<Arrivals>,
    mut population: ResMut<Population>,
    layout: Res<Layout>,
    mut core: ResMut<CoreLink>,
) {
    let now = clock.now_ms();
    let walking = scenario.0.behaviour.walking;
    let arrivals = &mut *arrivals;
    // Everything due, in order of arrival time (ties by stream): the same order whatever ticks
    // the rest of the simulation asked for.
    while let Some((at, i)) =
        arrivals.next_ms.iter().enumerate().filter_map(|(i, t)| t.filter(|&t| t <= now).map(|t| (t, i))).min()
    {
        let spec = &arrivals.streams[i];
        let (stream, fixed_gate) = (spec.kind, spec.gate);
        let rng = &mut rngs.arrivals[i];
        arrivals.next_ms[i] = next_of(&scenario, spec, at, arrivals.end_ms, rng);
        // One draw per arrival from its stream seeds the person's own numbers.
        let mut draws = ChaCha8Rng::seed_from_u64(rng.random());
        if stream == Stream::Withdrawals {
            withdraw(&mut population, &mut core, &mut draws, now);
            continue;
        }
        let roll: f64 = draws.random();
        let by_share = arrivals.gate_cumulative.iter().position(|&c| roll < c).unwrap_or(layout.gate_x.len() - 1);
        let gate = fixed_gate.unwrap_or(by_share);
        let Some(agent) = make_agent(&scenario, stream, gate, at, &mut population, draws) else {
            arrivals.suppressed += 1;
            continue;
        };
        arrivals.spawned += 1;
        arrivals.times.push(at);
        let mut agent = Agent { serial: arrivals.spawned, ..agent };
        if let Some(log) = &mut arrivals.log {
            let mut peek = agent.draws.clone();
            log.push(Arrived {
                serial: agent.serial,
                at_ms: at,
                kind: agent.kind,
                gate,
                direction: agent.direction,
                person: agent.person.map(|p| u64::from(p.0)),
                face: agent.means.face,
                credential: agent.means.credential.map(|(_, c)| c.0),
                draws: std::array::from_fn(|_| peek.random()),
            });
        }
        let walk = walking.then(|| {
            let lateral: f32 = agent.draws.random_range(-3.0..3.0);
            let v0 = walking_speed(&scenario, &mut agent, &population);
            (lateral, v0)
        });
        // In a site: from a building entrance (outbound) or a street edge (inbound).
        let origin = layout.ground.as_ref().map(|ground| {
            let u: [f64; 4] = std::array::from_fn(|_| agent.draws.random());
            ground.gates[gate].origin(agent.direction, u)
        });
        let direction = agent.direction;
        let mut entity = commands.spawn((agent, Activity::Approaching));
        if let (Some(pos), Some((_, v0))) = (origin, walk) {
            entity.insert((Body { pos, vel: Vec2::ZERO, v0 }, Goal(pos)));
        } else if let Some((lateral, v0)) = walk {
            let sign = Layout::approach_sign(direction);
            let distance = layout.walk_distance[gate].max(DECISION_DISTANCE_M + 1.0);
            let x = layout.gate_x[gate] + lateral;
            if distance > PLAZA_RADIUS_M {
                // Alone on the path: free flow until the plaza, then a body in the crowd.
                let walk_ms = f64::from((distance - PLAZA_RADIUS_M) / v0) * 1000.0;
                let enter_tick = clock.tick_at(now + walk_ms as u64);
                entity.insert(OnTheWay { enter_tick, at: Vec2::new(x, sign * PLAZA_RADIUS_M), v0 });
            } else {
                let pos = Vec2::new(x, sign * distance);
                entity.insert((Body { pos, vel: Vec2::ZERO, v0 }, Goal(pos)));
            }
        }
    }
    if let Some(at) = arrivals.next_ms.iter().flatten().min() {
        let tick = clock.tick_at(*at);
        clock.wake_at(tick);
    }
}

/// An enrolled resident withdraws consent: the compound broadcasts it, every terminal deletes
/// the template (the checker holds them to the policy's bound) and the person uses a card.
fn withdraw(population: &mut Population, core: &mut CoreLink, rng: &mut ChaCha8Rng, now_ms: u64) {
    let enrolled: Vec<usize> = (0..population.residents.len()).filter(|&r| population.residents[r].enrolled).collect();
    if enrolled.is_empty() {
        return;
    }
    let r = enrolled[rng.random_range(0..enrolled.len())];
    let person = population.residents[r].person;
    core.admin(gatelab_core::Timestamp(now_ms), &gatelab_core::AdminCommand::WithdrawConsent(person));
    population.residents[r].enrolled = false;
    population.withdrawn += 1;
}

/// Weidmann free-flow speed, slower for the elderly and children, brisker for couriers.
fn walking_speed(scenario: &ScenarioRes, agent: &mut Agent, population: &Population) -> f32 {
    let b = &scenario.0.behaviour;
    let normal = Normal::new(b.walk_speed_mean, b.walk_speed_sd.max(1e-9)).unwrap_or_else(|_| unreachable!("sd > 0"));
    let mut v = normal.sample(&mut agent.draws);
    if let Some(r) = agent.resident {
        let res = &population.residents[r];
        if res.elderly {
            v *= 0.75;
        } else if res.minor {
            v *= 0.9;
        }
    } else if matches!(agent.kind, AgentKind::Courier | AgentKind::FoodCourier) {
        v *= 1.1;
    }
    v.clamp(0.3, 2.5) as f32
}

fn blank(kind: AgentKind, direction: Direction, gate: usize, draws: ChaCha8Rng) -> Agent {
    Agent {
        serial: 0,
        kind,
        person: None,
        resident: None,
        courier: None,
        template: None,
        opt_out: false,
        direction,
        gate,
        means: Means::default(),
        joined_ms: None,
        walk_allowance_ms: 0,
        service_start_ms: None,
        face_attempts: 0,
        face_given_up: false,
        tailgating: false,
        used: Used::Nothing,
        draws,
    }
}

fn make_agent(
    scenario: &ScenarioRes,
    stream: Stream,
    gate: usize,
    at_ms: u64,
    population: &mut Population,
    mut draws: ChaCha8Rng,
) -> Option<Agent> {
    let rng = &mut draws;
    match stream {
        Stream::ResidentsOut | Stream::ResidentsIn => {
            let direction = if stream == Stream::ResidentsOut { Direction::Outbound } else { Direction::Inbound };
            let n = population.residents.len();
            let r = (0..32).map(|_| rng.random_range(0..n)).find(|&r| population.residents[r].free_at_ms <= at_ms)?;
            let forgot = rng.random_bool(scenario.0.population.forget_card_share);
            let mut means = population.resident_means(r, forgot);
            if means.credential.is_none() && !means.face && rng.random_bool(0.5) {
                // No way in the gate accepts: half of them try their ID card at the reader anyway.
                means.credential = Some((gatelab_core::CredentialKind::IdCard, population.residents[r].id_card));
            }
            let res = &mut population.residents[r];
            res.free_at_ms = at_ms + TRIP_COOLDOWN_MS;
            Some(Agent {
                person: Some(res.person),
                resident: Some(r),
                opt_out: res.opt_out,
                template: res.template,
                means,
                ..blank(res.kind, direction, gate, draws)
            })
        }
        Stream::Visitors => Some(blank(AgentKind::Visitor, Direction::Inbound, gate, draws)),
        Stream::Couriers => {
            let with_card = rng.random_bool(scenario.0.population.couriers_with_card_share);
            let n = population.couriers.len();
            let pick = (with_card && n > 0)
                .then(|| (0..16).map(|_| rng.random_range(0..n)).find(|&c| population.couriers[c].free_at_ms <= at_ms))
                .flatten();
            let mut agent = blank(AgentKind::Courier, Direction::Inbound, gate, draws);
            if let Some(c) = pick {
                let courier = &mut population.couriers[c];
                courier.free_at_ms = at_ms + TRIP_COOLDOWN_MS;
                agent.person = Some(courier.person);
                agent.means = Means {
                    face: courier.enrolled,
                    credential: Some((gatelab_core::CredentialKind::IdCard, courier.id_card)),
                };
                agent.courier = Some(c);
                agent.template = courier.template;
            }
            Some(agent)
        }
        Stream::Withdrawals => None,
        Stream::FoodCouriers => {
            let n = population.food_couriers.len();
            if n == 0 {
                return None;
            }
            let c = population.next_food_courier % n;
            population.next_food_courier += 1;
            let courier = &population.food_couriers[c];
            let mut agent = blank(AgentKind::FoodCourier, Direction::Inbound, gate, draws);
            agent.person = Some(courier.person);
            agent.means =
                Means { face: false, credential: Some((gatelab_core::CredentialKind::IdCard, courier.id_card)) };
            Some(agent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatelab_scenario::Scenario;
    use rand::SeedableRng;

    #[test]
    fn poisson_stream_follows_the_hourly_profile() {
        let text = include_str!("../../../scenarios/dongcheng.toml");
        let scenario = ScenarioRes(Scenario::parse(text).unwrap_or_else(|e| panic!("{e}")));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (start, end) = (7 * HOUR_MS, 10 * HOUR_MS);
        let mut count = [0u32; 3];
        for _ in 0..20 {
            let mut t = start;
            while let Some(at) = next_arrival(&scenario, Stream::ResidentsOut, t, end, &mut rng) {
                count[((at - start) / HOUR_MS) as usize] += 1;
                t = at;
            }
        }
        // 600 residents × [0.30, 0.35, 0.10] per hour, 20 days.
        for (hour, expected) in [(0, 3600.0), (1, 4200.0), (2, 1200.0)] {
            let got = f64::from(count[hour]);
            assert!((got - expected).abs() < 4.0 * expected.sqrt(), "hour {hour}: {got} vs {expected}");
        }
    }
}
