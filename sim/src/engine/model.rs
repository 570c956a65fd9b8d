//! The simulation's shared vocabulary: the clock, the compound's layout, agents and their
//! activities, and the seeded random streams. Plugins own behaviour; this file owns data.

use bevy::math::Vec2;
use bevy::prelude::*;
use gatelab_core::{CredentialId, CredentialKind, Direction, GateId, PersonId, TerminalId, Timestamp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use gatelab_scenario::{QueueDiscipline, Scenario};

/// Simulated time: whole ticks of `dt_ms` from the scenario's start, so time is exact integer
/// milliseconds and a seed fixes every result.
#[derive(Resource, Debug, Clone)]
pub struct Clock {
    pub tick: u64,
    pub dt_ms: u64,
    /// Milliseconds since midnight of the simulated day at tick 0.
    pub start_ms: u64,
    /// The run ends after this tick.
    pub end_tick: u64,
    /// The tick the next update will run at; systems may only pull it closer (see `plan`).
    pub next_tick: u64,
    /// Set by the planner when something must run at the very next tick (agents moving).
    pub busy: bool,
    pub finished: bool,
}

impl Clock {
    pub fn now_ms(&self) -> u64 {
        self.start_ms + self.tick * self.dt_ms
    }
    pub fn now(&self) -> Timestamp {
        Timestamp(self.now_ms())
    }
    pub fn dt_s(&self) -> f32 {
        self.dt_ms as f32 / 1000.0
    }
    /// The first tick at or after `ms` (milliseconds since midnight).
    pub fn tick_at(&self, ms: u64) -> u64 {
        ms.saturating_sub(self.start_ms).div_ceil(self.dt_ms)
    }
    /// Ask to be woken at `tick` (a later request never delays an earlier one).
    pub fn wake_at(&mut self, tick: u64) {
        let tick = tick.max(self.tick + 1);
        self.next_tick = self.next_tick.min(tick);
    }
}

/// The replication's random streams. Everything about one person — who they are, their
/// credentials, walking speed, service times, coin flips — comes from that person's own
/// [`Agent::draws`], seeded from their arrival stream; each lane's camera faults come from that
/// lane's own stream. So for one seed the same people arrive at the same times with the same
/// draws whatever the lane count, and differences between configurations are the
/// configurations' own (common random numbers).
#[derive(Resource, Debug)]
pub struct Rngs {
    pub population: ChaCha8Rng,
    /// One stream per arrival stream (residents out, in, visitors, ...), by index.
    pub arrivals: Vec<ChaCha8Rng>,
    seed: u64,
}

impl Rngs {
    pub fn new(seed: u64) -> Rngs {
        // Arrival streams are made as the arrivals plugin names them (`ensure_arrival_streams`).
        Rngs { population: stream(seed, 1), arrivals: Vec::new(), seed }
    }

    /// At least `n` arrival streams, stream k seeded by (seed, 100 + k): the six base streams,
    /// then any a gate's demand rows add.
    pub fn ensure_arrival_streams(&mut self, n: usize) {
        while self.arrivals.len() < n {
            let k = self.arrivals.len() as u64;
            self.arrivals.push(stream(self.seed, 100 + k));
        }
    }

    /// The camera-fault stream of the lane named `(gate, direction, index_in_group)`: the same
    /// lane fails at the same times whatever the number of lanes beside it.
    pub fn lane_faults(&self, lane: &Lane) -> ChaCha8Rng {
        let direction = match lane.direction {
            Direction::Inbound => 0,
            Direction::Outbound => 1,
        };
        stream(self.seed, 1 << 32 | (lane.gate as u64) << 17 | direction << 16 | lane.index_in_group as u64)
    }

    /// The link-outage stream of the terminal at `(gate, direction, slot)` (`slot` a lane's
    /// index in its group, or 999 for the guard path): like [`Rngs::lane_faults`], independent
    /// of the lanes beside it, and of every other stream, so a perfect LAN changes no draw.
    pub fn link_outages(&self, gate: usize, direction: Direction, slot: usize) -> ChaCha8Rng {
        let direction = match direction {
            Direction::Inbound => 0,
            Direction::Outbound => 1,
        };
        stream(self.seed, 2 << 32 | (gate as u64) << 17 | direction << 16 | slot as u64)
    }

    /// The presentation attacks' stream (when, where, whose photo, their scores).
    pub fn attacks(&self) -> ChaCha8Rng {
        stream(self.seed, 4 << 32)
    }

    /// The re-confirmation's draw (which households did not re-sign).
    pub fn reconfirmation(&self) -> ChaCha8Rng {
        stream(self.seed, 3 << 32)
    }
}

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(splitmix(seed ^ splitmix(n)))
}

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The run's scenario, shared read-only by every plugin.
#[derive(Resource, Debug, Clone)]
pub struct ScenarioRes(pub Scenario);

// ---- layout ---------------------------------------------------------------------------------

/// Within this distance of the gate line people walk as bodies in the social-force crowd;
/// farther out, on the paths from the buildings, they walk alone in free flow.
pub const PLAZA_RADIUS_M: f32 = 20.0;
/// Metres between the gate line and the point where people choose a lane.
pub const DECISION_DISTANCE_M: f32 = 8.0;
/// Length of the lane channel (the turnstile cabinet) on each side of the gate line.
pub const CHANNEL_HALF_LENGTH_M: f32 = 1.2;
/// Spacing of people standing in a queue.
pub const QUEUE_SPACING_M: f32 = 0.6;
/// Where a person stands to use the terminal, before the gate line.
pub const TERMINAL_OFFSET_M: f32 = 0.5;
/// Two people crossing the passage sensor closer than this are counted as one (how
/// tailgaters go undetected).
pub const SENSOR_SEPARATION_MS: u64 = 500;
/// How far past the gate line people walk off the stage in open ground.
pub const EXIT_DISTANCE_M: f32 = 3.0;
/// Gap between neighbouring gates' plazas, so that they do not interact.
pub const GATE_SPACING_M: f32 = 60.0;

#[derive(Debug, Clone)]
pub struct Lane {
    pub gate: usize,
    pub index_in_group: usize,
    pub group: usize,
    pub direction: Direction,
    pub terminal: TerminalId,
    pub has_camera: bool,
    /// Centre of the lane on the x axis; the gate line is y = 0.
    pub x: f32,
    pub width: f32,
    pub name: String,
}

/// All lanes of one gate in one direction, and how they queue.
#[derive(Debug, Clone)]
pub struct LaneGroup {
    pub gate: usize,
    pub direction: Direction,
    pub lanes: Vec<usize>,
    pub discipline: QueueDiscipline,
}

/// The guard's way through a gate: the booth's side door, or the car gate if the gate has one.
/// A core terminal per direction audits every passage through it as uncontrolled.
#[derive(Debug, Clone)]
pub struct GuardPath {
    pub gate: usize,
    pub inbound: TerminalId,
    pub outbound: TerminalId,
    pub x: f32,
    pub width: f32,
    pub car_gate: bool,
    /// Desks staffed at this gate's booth.
    pub desks: usize,
}

impl GuardPath {
    pub fn terminal(&self, direction: Direction) -> TerminalId {
        match direction {
            Direction::Inbound => self.inbound,
            Direction::Outbound => self.outbound,
        }
    }
}

/// The space in front of one gate's lanes in one direction where their queue stands: a
/// rectangle across the lane bank (a metre beyond its outer lanes) from the end of the lane
/// cabinets out to the gate's `queue_area_depth_m`, on the side people come from.
#[derive(Debug, Clone, Copy)]
pub struct QueueArea {
    pub gate: usize,
    pub direction: Direction,
    pub x_min: f32,
    pub x_max: f32,
    /// Distance from the gate line of the edge at the cabinets, and of the far edge.
    pub near_m: f32,
    pub far_m: f32,
}

impl QueueArea {
    pub fn area_m2(&self) -> f64 {
        f64::from(self.x_max - self.x_min) * f64::from(self.far_m - self.near_m)
    }

    /// How far from the gate line `p` is on this area's side (negative: across the line).
    pub fn depth_of(&self, p: Vec2) -> f32 {
        p.y * Layout::approach_sign(self.direction)
    }

    pub fn contains(&self, p: Vec2) -> bool {
        let d = self.depth_of(p);
        (self.x_min..=self.x_max).contains(&p.x) && (self.near_m..=self.far_m).contains(&d)
    }
}

/// Beyond the outer lanes, how far a gate's queue area reaches to either side, m.
pub const QUEUE_AREA_MARGIN_M: f32 = 1.0;

#[derive(Resource, Debug, Clone)]
pub struct Layout {
    pub lanes: Vec<Lane>,
    pub groups: Vec<LaneGroup>,
    pub guard_paths: Vec<GuardPath>,
    pub gate_names: Vec<String>,
    /// Centre of each gate's plaza on the x axis.
    pub gate_x: Vec<f32>,
    /// Walking distance from homes (or the street) to each gate.
    pub walk_distance: Vec<f32>,
    /// Wall segments (lane channel sides), for the walking model.
    pub walls: Vec<(Vec2, Vec2)>,
    /// One per lane group, in the groups' order.
    pub queue_areas: Vec<QueueArea>,
    /// The scenario's own site, when it has one: people walk there in the validated crowd
    /// model instead of the open-ground plaza.
    pub ground: Option<std::sync::Arc<super::ground::Ground>>,
}

impl Layout {
    pub fn new(scenario: &Scenario) -> Layout {
        let mut layout = Layout {
            lanes: Vec::new(),
            groups: Vec::new(),
            guard_paths: Vec::new(),
            gate_names: Vec::new(),
            gate_x: Vec::new(),
            walk_distance: Vec::new(),
            walls: Vec::new(),
            queue_areas: Vec::new(),
            ground: None,
        };
        for (g, spec) in scenario.gates.iter().enumerate() {
            let centre = g as f32 * GATE_SPACING_M;
            layout.gate_names.push(spec.name.clone());
            layout.gate_x.push(centre);
            layout.walk_distance.push(spec.walk_distance_m as f32);
            let width = spec.lane_width_m as f32;
            let pitch = width + 0.3;
            let total = spec.lanes_out + spec.lanes_in;
            let mut x = centre - pitch * (total as f32 - 1.0) / 2.0;
            for (direction, count) in [(Direction::Outbound, spec.lanes_out), (Direction::Inbound, spec.lanes_in)] {
                if count == 0 {
                    continue;
                }
                let group = layout.groups.len();
                let mut members = Vec::new();
                for i in 0..count {
                    let id = layout.lanes.len();
                    let tag = match direction {
                        Direction::Inbound => "in",
                        Direction::Outbound => "out",
                    };
                    layout.lanes.push(Lane {
                        gate: g,
                        index_in_group: i as usize,
                        group,
                        direction,
                        terminal: TerminalId { gate: GateId((1000 * (g + 1) + id) as u16), direction },
                        has_camera: spec.terminal == gatelab_scenario::TerminalKind::FaceAndCard,
                        x,
                        width,
                        name: format!("{tag}-{}", i + 1),
                    });
                    for side in [-0.5, 0.5] {
                        let wx = x + side * width;
                        layout
                            .walls
                            .push((Vec2::new(wx, -CHANNEL_HALF_LENGTH_M), Vec2::new(wx, CHANNEL_HALF_LENGTH_M)));
                    }
                    members.push(id);
                    x += pitch;
                }
                let edges = members.iter().map(|&l| {
                    let lane = &layout.lanes[l];
                    (lane.x - lane.width / 2.0, lane.x + lane.width / 2.0)
                });
                let (x_min, x_max) =
                    edges.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), (a, b)| (lo.min(a), hi.max(b)));
                layout.queue_areas.push(QueueArea {
                    gate: g,
                    direction,
                    x_min: x_min - QUEUE_AREA_MARGIN_M,
                    x_max: x_max + QUEUE_AREA_MARGIN_M,
                    near_m: CHANNEL_HALF_LENGTH_M,
                    far_m: CHANNEL_HALF_LENGTH_M + spec.queue_area_depth_m as f32,
                });
                layout.groups.push(LaneGroup { gate: g, direction, lanes: members, discipline: spec.queue });
            }
            let guard_gate = GateId((1000 * (g + 1) + 999) as u16);
            let path_width = if spec.car_gate { 4.0 } else { 1.0 };
            layout.guard_paths.push(GuardPath {
                gate: g,
                inbound: TerminalId { gate: guard_gate, direction: Direction::Inbound },
                outbound: TerminalId { gate: guard_gate, direction: Direction::Outbound },
                x: x + 1.5 + path_width / 2.0,
                width: path_width,
                car_gate: spec.car_gate,
                desks: spec.booth_desks.max(1) as usize,
            });
        }
        layout
    }

    /// How far past the gate line people leave the stage: in a site, once out of the lane
    /// channel (the ground beyond may be a kerb); in open ground, a few metres on.
    pub fn exit_distance_m(&self) -> f32 {
        if self.ground.is_some() { CHANNEL_HALF_LENGTH_M + 0.5 } else { EXIT_DISTANCE_M }
    }

    pub fn group_of(&self, gate: usize, direction: Direction) -> Option<usize> {
        self.groups.iter().position(|g| g.gate == gate && g.direction == direction)
    }

    /// The sign of y on the side people come from (outbound: the compound side, y < 0).
    pub fn approach_sign(direction: Direction) -> f32 {
        match direction {
            Direction::Outbound => -1.0,
            Direction::Inbound => 1.0,
        }
    }
}

// ---- agents ---------------------------------------------------------------------------------

/// Who an agent is, in the groups a planner reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentKind {
    Owner,
    Renter,
    Visitor,
    Courier,
    FoodCourier,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Owner => "owner",
            AgentKind::Renter => "renter",
            AgentKind::Visitor => "visitor",
            AgentKind::Courier => "courier",
            AgentKind::FoodCourier => "food_courier",
        }
    }
}

/// How an agent can get through, as the agent believes before trying.
#[derive(Clone, Copy, Debug, Default)]
pub struct Means {
    /// Enrolled face (and consented).
    pub face: bool,
    /// A personal non-face credential they carry today (IC card, PIN, ID card).
    pub credential: Option<(CredentialKind, CredentialId)>,
}

/// One person making one trip through a gate.
#[derive(Component, Debug, Clone)]
pub struct Agent {
    pub serial: u64,
    pub kind: AgentKind,
    pub person: Option<PersonId>,
    /// Index into the population's residents, for residents.
    pub resident: Option<usize>,
    /// Index into the population's fixed couriers, for them.
    pub courier: Option<usize>,
    /// The enrolled template this person's face would match (residents and couriers who enrolled).
    pub template: Option<usize>,
    pub opt_out: bool,
    pub direction: Direction,
    pub gate: usize,
    pub means: Means,
    /// When the agent reached the gate area (joined a queue, the desk or the waiting spot).
    pub joined_ms: Option<u64>,
    /// Time the walk from there to the terminal takes at free speed: not waiting.
    pub walk_allowance_ms: u64,
    pub service_start_ms: Option<u64>,
    pub face_attempts: u32,
    /// The face route failed (camera down, no match): use the credential.
    pub face_given_up: bool,
    pub tailgating: bool,
    /// The credential used for the passage, for the report.
    pub used: Used,
    /// This person's own random numbers ([`Rngs`]: common random numbers).
    pub draws: ChaCha8Rng,
}

/// What finally got the agent through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Used {
    #[default]
    Nothing,
    Face,
    Credential(CredentialKind),
    Guard,
    CarGate,
    Tailgate,
    OpenForAll,
}

impl Used {
    pub fn as_str(self) -> &'static str {
        match self {
            Used::Nothing => "none",
            Used::Face => "face",
            Used::Credential(CredentialKind::IcCard) => "ic_card",
            Used::Credential(CredentialKind::IdCard) => "id_card",
            Used::Credential(CredentialKind::Pin) => "pin",
            Used::Credential(_) => "other",
            Used::Guard => "guard",
            Used::CarGate => "car_gate",
            Used::Tailgate => "tailgate",
            Used::OpenForAll => "open_for_all",
        }
    }
}

/// Position and velocity of a walking agent.
#[derive(Component, Debug, Clone, Copy)]
pub struct Body {
    pub pos: Vec2,
    pub vel: Vec2,
    /// Desired free walking speed (Weidmann).
    pub v0: f32,
}

/// On the path to the gate, not yet in the plaza: reaches `at` at `enter_tick`.
#[derive(Component, Debug, Clone, Copy)]
pub struct OnTheWay {
    pub enter_tick: u64,
    pub at: Vec2,
    pub v0: f32,
}

/// Where the agent is heading now.
#[derive(Component, Debug, Clone, Copy)]
pub struct Goal(pub Vec2);

/// Which way through the gate line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Lane(usize),
    Guard(usize),
}

#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Walking from home (or the street) to the gate.
    Approaching,
    /// In a lane's (or a group's shared) queue.
    Queued { group: usize, lane: Option<usize> },
    /// Stepping up to and using the terminal of `lane`.
    AtTerminal { lane: usize },
    /// No way in: waiting near the lanes for someone else's door (forced-face opt-outs).
    Waiting { group: usize, since_ms: u64 },
    /// In the guard booth's queue or being served there.
    AtDesk { gate: usize },
    /// Walking to the guard path (car gate or side door) after the guard opened it.
    ToGuardPath { gate: usize },
    /// Walking through the gate line; `sensed` once the passage sensor saw them.
    Passing { path: Path, crossed: bool },
    /// Through: walking off, then gone.
    Leaving { path: Path },
}

/// The order of one simulation step; every system runs in exactly one set, sets run chained.
#[derive(SystemSet, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimSet {
    Clock,
    Faults,
    Arrivals,
    Walking,
    Decide,
    Guards,
    Lanes,
    Goals,
    Metrics,
    Plan,
}
