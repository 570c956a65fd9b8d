//! Metrics: one row per passage or denied attempt, queue lengths every few seconds, and the
//! counters a planner asks for (tailgating, false accepts and rejects, uncontrolled passages).

use bevy::prelude::*;
use gatelab_core::Direction;
use gatelab_core::audit::DecisionReason;

use super::model::{Agent, AgentKind, Layout, SimSet, Used};
use super::outcomes::{GateOutcome, GateOutcomes, Spot};
use super::trajectories::AgentRow;
pub use crate::rows::QueueRow;
use crate::rows::{Decision, PassageRow};

/// Seconds between queue-length samples.
pub const QUEUE_SAMPLE_S: u64 = 10;

/// Which planner group a passage counts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Enrolled,
    OptOut,
    /// Residents who could have used face but did not this time (fault, retries, no consent).
    OtherResident,
    Visitor,
    Courier,
}

/// The way through the gate line a passage took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// A lane's terminal, by someone who can use it (face or a credential; also when they
    /// followed someone through or the door was open for all).
    Lane,
    /// Served at the guard booth, then let through by the guard.
    Booth,
    /// The car gate opened for the queue, or anything else no terminal or guard decided.
    Other,
}

#[derive(Clone, Copy, Debug)]
pub struct Completed {
    pub at_ms: u64,
    /// When they reached the gate area (the quarter of an hour their wait is counted in).
    pub joined_ms: u64,
    pub wait_s: f64,
    pub group: Group,
    pub gate: usize,
    pub direction: Direction,
    pub via: Via,
    /// What let them in (face, a card, a guard, …).
    pub used: Used,
}

#[derive(Resource, Debug, Default)]
pub struct Metrics {
    pub keep_rows: bool,
    pub rows: Vec<PassageRow>,
    pub queue_rows: Vec<QueueRow>,
    pub completed: Vec<Completed>,
    pub queue_max: u32,
    pub denied_attempts: u64,
    pub false_accepts: u64,
    pub false_rejects: u64,
    pub face_attempts: u64,
    pub tailgating_attempts: u64,
    pub tailgating_undetected: u64,
    pub car_gate_openings: u64,
    /// One row per passage for `agents.csv`, when trajectories are kept.
    pub agent_rows: Option<Vec<AgentRow>>,
}

pub fn clock_text(ms: u64) -> String {
    let tenths = ms / 100;
    format!("{:02}:{:02}:{:02}.{}", tenths / 36_000, tenths / 600 % 60, tenths / 10 % 60, tenths % 10)
}

pub fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "in",
        Direction::Outbound => "out",
    }
}

/// Time lost between reaching the gate area and being served: the free walk is not waiting.
fn wait_seconds(agent: &Agent, service_start_ms: u64) -> f64 {
    let joined = agent.joined_ms.unwrap_or(service_start_ms);
    service_start_ms.saturating_sub(joined + agent.walk_allowance_ms) as f64 / 1000.0
}

impl Metrics {
    fn row(
        agent: &Agent,
        now_ms: u64,
        gate: &str,
        lane: &str,
        credential: &'static str,
        decision: Decision,
    ) -> PassageRow {
        let joined = agent.joined_ms.unwrap_or(now_ms);
        let start = agent.service_start_ms.unwrap_or(now_ms).max(joined);
        PassageRow {
            time: clock_text(now_ms),
            t_s: now_ms as f64 / 1000.0,
            agent: agent.serial,
            kind: agent.kind.as_str().into(),
            gate: gate.to_string(),
            lane: lane.to_string(),
            direction: direction_str(agent.direction).into(),
            credential: credential.into(),
            decision,
            wait_s: wait_seconds(agent, start),
            service_s: now_ms.saturating_sub(start) as f64 / 1000.0,
            tailgated: agent.tailgating,
        }
    }

    /// Record a finished passage (the agent is through).
    pub fn passage(&mut self, agent: &Agent, now_ms: u64, via: Via, gate: &str, lane: &str, decision: Decision) {
        let joined = agent.joined_ms.unwrap_or(now_ms);
        let wait_s = wait_seconds(agent, agent.service_start_ms.unwrap_or(now_ms).max(joined));
        let group = match agent.kind {
            AgentKind::Visitor => Group::Visitor,
            AgentKind::Courier | AgentKind::FoodCourier => Group::Courier,
            _ if agent.opt_out => Group::OptOut,
            _ if agent.means.face => Group::Enrolled,
            _ => Group::OtherResident,
        };
        self.completed.push(Completed {
            at_ms: now_ms,
            joined_ms: joined,
            wait_s,
            group,
            gate: agent.gate,
            direction: agent.direction,
            via,
            used: agent.used,
        });
        if self.keep_rows {
            self.rows.push(Metrics::row(agent, now_ms, gate, lane, agent.used.as_str(), decision));
        }
    }

    /// Record a refused attempt (the agent is still trying).
    pub fn denied(
        &mut self,
        agent: &Agent,
        now_ms: u64,
        gate: &str,
        lane: &str,
        credential: &'static str,
        why: Option<DecisionReason>,
    ) {
        self.denied_attempts += 1;
        if self.keep_rows {
            let row = Metrics::row(agent, now_ms, gate, lane, credential, Decision::Denied(why));
            self.rows.push(PassageRow { tailgated: false, ..row });
        }
    }
}

/// The record's one system: take this step's gate outcomes, in order, into rows and counters.
#[derive(Debug)]
pub struct MetricsPlugin;

impl Plugin for MetricsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<GateOutcomes>().add_systems(FixedUpdate, record_outcomes.in_set(SimSet::Metrics));
    }
}

fn record_outcomes(mut outcomes: ResMut<GateOutcomes>, mut metrics: ResMut<Metrics>, layout: Res<Layout>) {
    for outcome in outcomes.0.drain(..) {
        match outcome {
            GateOutcome::Passed { agent, at_ms, spot, decision } => {
                if agent.tailgating && !decision.is_uncontrolled() {
                    // A follower the passage sensor or the terminal did not tell apart.
                    metrics.tailgating_undetected += 1;
                }
                let lane = match spot {
                    Spot::Lane(l) => layout.lanes[l].name.as_str(),
                    Spot::GuardDoor => "guard-door",
                    Spot::CarGate => "car-gate",
                };
                // A lane serves those who can use it; someone with no way in who slipped through
                // behind another waited for a door, not for the lane.
                let could_use_lane = agent.means.face || agent.means.credential.is_some();
                let via = match spot {
                    Spot::Lane(_) if could_use_lane => Via::Lane,
                    _ if agent.used == Used::Guard => Via::Booth,
                    _ => Via::Other,
                };
                if let Some(rows) = metrics.agent_rows.as_mut() {
                    let joined = agent.joined_ms.unwrap_or(at_ms);
                    rows.push(AgentRow {
                        id: agent.serial,
                        group: agent.kind.as_str().into(),
                        gate: layout.gate_names[agent.gate].clone(),
                        lane: lane.into(),
                        direction: direction_str(agent.direction),
                        arrival_s: joined as f64 / 1000.0,
                        service_start_s: agent.service_start_ms.unwrap_or(at_ms).max(joined) as f64 / 1000.0,
                        passage_s: at_ms as f64 / 1000.0,
                        outcome: decision.to_string(),
                    });
                }
                metrics.passage(&agent, at_ms, via, &layout.gate_names[agent.gate], lane, decision);
            }
            GateOutcome::Denied { agent, at_ms, lane, credential, reason } => {
                let lane = &layout.lanes[lane].name;
                metrics.denied(&agent, at_ms, &layout.gate_names[agent.gate], lane, credential, reason);
            }
            GateOutcome::FaceAttempt => metrics.face_attempts += 1,
            GateOutcome::FalseAccept => metrics.false_accepts += 1,
            GateOutcome::FalseReject => metrics.false_rejects += 1,
            GateOutcome::TailgateAttempt => metrics.tailgating_attempts += 1,
            GateOutcome::CarGateOpened => metrics.car_gate_openings += 1,
            GateOutcome::Queues { longest, lengths } => {
                metrics.queue_max = metrics.queue_max.max(longest);
                if metrics.keep_rows {
                    metrics.queue_rows.extend(lengths.into_iter().flatten());
                }
            }
        }
    }
}
