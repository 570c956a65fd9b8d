//! What happens at the gates, as the gatehouse reports it: passages, refusals and the counts a
//! planner asks for. The gatehouse's plugins push [`GateOutcome`]s during a step; the metrics
//! record drains them in `SimSet::Metrics` (and the recorder reads what it recorded), so the
//! gate logic never writes the record and the record never looks into the gates, queue lengths
//! included.

use bevy::prelude::*;
use gatelab_core::audit::DecisionReason;

use super::model::Agent;
use crate::rows::{Decision, QueueRow};

/// Where at a gate someone passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spot {
    /// A lane, by index into `Layout::lanes`.
    Lane(usize),
    /// The guard's door beside the lanes.
    GuardDoor,
    /// The car gate a guard opened.
    CarGate,
}

#[derive(Clone, Debug)]
pub enum GateOutcome {
    /// Someone went through (`agent` as they crossed the gate line).
    Passed { agent: Agent, at_ms: u64, spot: Spot, decision: Decision },
    /// A terminal refused an attempt (`agent` as they presented); they may try again.
    Denied { agent: Agent, at_ms: u64, lane: usize, credential: &'static str, reason: Option<DecisionReason> },
    /// A face was presented to a terminal.
    FaceAttempt,
    /// The terminal matched a face to someone else.
    FalseAccept,
    /// The terminal found no match for an enrolled face.
    FalseReject,
    /// Someone set off to follow another person through a door.
    TailgateAttempt,
    /// A guard opened the car gate for a queue.
    CarGateOpened,
    /// The queues this step: the longest lane queue, and every queue's length when a sample is
    /// due (every `QUEUE_SAMPLE_S` seconds).
    Queues { longest: u32, lengths: Option<Vec<QueueRow>> },
}

/// This step's outcomes, in the order they happened.
#[derive(Resource, Debug, Default)]
pub struct GateOutcomes(pub Vec<GateOutcome>);

impl GateOutcomes {
    pub fn push(&mut self, outcome: GateOutcome) {
        self.0.push(outcome);
    }
}
