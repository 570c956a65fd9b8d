//! The only door between the simulation and `gatelab-core`: agents' actions go in as core
//! events, core actions come back as door states and decisions, and every audit record goes to
//! the streaming consent checker (and, when asked, to the run's `audit.jsonl`).

use std::collections::BTreeMap;

use bevy::prelude::*;
use gatelab_core::audit::{AuditEvent, DecisionReason, OpenCause, UncontrolledCause};
use gatelab_core::checker::Checker;
use gatelab_core::trace::{self, TRACE_VERSION, TraceEntry, TraceHeader};
use gatelab_core::{
    Action, AdminCommand, AuditRecord, Compound, CredentialKind, Event, PersonId, TerminalId, Timestamp,
};

/// What one event at one terminal led to.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reply {
    pub grant: Option<(PersonId, CredentialKind)>,
    pub deny: Option<DecisionReason>,
    /// The terminal recorded an uncontrolled passage (tailgating, guard bypass, fault-open...).
    pub uncontrolled: Option<UncontrolledCause>,
    /// The door was commanded open by this event.
    pub opened: bool,
    /// An admin command was refused.
    pub rejected: bool,
}

/// Totals read from the audit stream.
#[derive(Clone, Copy, Debug, Default)]
pub struct AuditCounts {
    pub records: u64,
    pub uncontrolled: u64,
}

#[derive(Resource)]
pub struct CoreLink {
    pub compound: Compound,
    out: Vec<(TerminalId, Action)>,
    checker: Option<Checker>,
    /// The audit log as JSON Lines, when the run keeps it.
    pub audit_jsonl: Option<Vec<u8>>,
    /// Why each terminal's door is commanded open, as its last `OpenDoor` said; absent when shut.
    doors: BTreeMap<TerminalId, OpenCause>,
    pub counts: AuditCounts,
}

impl std::fmt::Debug for CoreLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreLink").field("counts", &self.counts).finish_non_exhaustive()
    }
}

impl CoreLink {
    pub fn new(compound: Compound, keep_audit: bool) -> CoreLink {
        let checker = Checker::new(compound.policy());
        CoreLink {
            compound,
            out: Vec::new(),
            checker: Some(checker),
            audit_jsonl: keep_audit.then(Vec::new),
            doors: BTreeMap::new(),
            counts: AuditCounts::default(),
        }
    }

    pub fn door_open(&self, terminal: TerminalId) -> bool {
        self.doors.contains_key(&terminal)
    }

    /// The terminal holds its door open for everyone (a fault under an open-for-all policy).
    pub fn open_for_all(&self, terminal: TerminalId) -> bool {
        self.doors.get(&terminal) == Some(&OpenCause::FaultOpenAll)
    }

    /// Deliver a gate event to one terminal (timers due by `now` have fired: the clock system
    /// advances the compound at the start of every step).
    pub fn send(&mut self, now: Timestamp, terminal: TerminalId, event: Event) -> Reply {
        let mut out = std::mem::take(&mut self.out);
        self.compound.handle(terminal, now, event, &mut out);
        let reply = self.absorb(&mut out);
        self.out = out;
        reply
    }

    /// Broadcast an admin command to every terminal.
    pub fn admin(&mut self, now: Timestamp, cmd: &AdminCommand) -> Reply {
        let mut out = std::mem::take(&mut self.out);
        self.compound.admin(now, cmd, &mut out);
        let reply = self.absorb(&mut out);
        self.out = out;
        reply
    }

    /// Fire the terminals' timers that are due (door closing, template deletion deadlines).
    pub fn advance(&mut self, now: Timestamp) {
        if self.compound.poll_timeout().is_some_and(|at| at <= now) {
            let mut out = std::mem::take(&mut self.out);
            self.compound.advance_to(now, &mut out);
            self.absorb(&mut out);
            self.out = out;
        }
    }

    /// The earliest time a terminal needs waking.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.compound.poll_timeout()
    }

    fn absorb(&mut self, out: &mut Vec<(TerminalId, Action)>) -> Reply {
        let mut reply = Reply::default();
        for (terminal, action) in out.drain(..) {
            match action {
                Action::Audit(record) => self.record(&record, &mut reply),
                Action::Grant { person, credential } => reply.grant = Some((person, credential)),
                Action::Deny { reason, .. } => reply.deny = Some(reason),
                Action::OpenDoor { cause } => {
                    reply.opened = true;
                    self.doors.insert(terminal, cause);
                }
                Action::CloseDoor => {
                    self.doors.remove(&terminal);
                }
                Action::AdminRejected(_) => reply.rejected = true,
                // The simulation's terminals take admin commands from the compound in memory;
                // none is linked to an authority.
                Action::Alarm(_) | Action::ToAuthority(_) => {}
            }
        }
        reply
    }

    fn record(&mut self, record: &AuditRecord, reply: &mut Reply) {
        let index = self.counts.records as usize;
        self.counts.records += 1;
        if let AuditEvent::UncontrolledPassage { cause } = record.event {
            reply.uncontrolled = Some(cause);
            self.counts.uncontrolled += 1;
        }
        if let Some(checker) = &mut self.checker {
            checker.observe(index, record);
        }
        if let Some(buf) = &mut self.audit_jsonl {
            // Plain data with string keys: serialising into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *buf, record);
            buf.push(b'\n');
        }
    }

    /// The events recorded since [`gatelab_core::Compound::record`], with the header that
    /// makes them replayable; `None` when not recording.
    pub fn take_trace(&mut self) -> Option<Trace> {
        let entries = self.compound.take_trace();
        if entries.is_empty() {
            return None;
        }
        let header = TraceHeader {
            trace_version: TRACE_VERSION,
            origin: String::new(),
            policy: self.compound.policy().clone(),
            terminals: self.compound.terminals().iter().map(|t| t.config().clone()).collect(),
        };
        Some(Trace { header, entries })
    }

    /// Consent violations the streaming checker has found so far (for live counters).
    pub fn violations_so_far(&self) -> usize {
        self.checker.as_ref().map_or(0, |c| c.violations().len())
    }

    /// The consent checker's verdict on everything audited so far.
    pub fn finish_check(&mut self) -> gatelab_core::checker::Report {
        let checker = self.checker.take().unwrap_or_else(|| Checker::new(self.compound.policy()));
        checker.finish()
    }
}

/// What every terminal received during one replication (see `gatelab_core::trace`).
#[derive(Debug, Clone)]
pub struct Trace {
    pub header: TraceHeader,
    pub entries: Vec<TraceEntry>,
}

impl Trace {
    /// JSON Lines: the header, then one entry per line.
    pub fn write(&self, mut w: impl std::io::Write) -> std::io::Result<()> {
        trace::jsonl::write_header(&mut w, &self.header)?;
        for e in &self.entries {
            trace::jsonl::write_entry(&mut w, e)?;
        }
        Ok(())
    }
}
