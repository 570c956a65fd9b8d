//! The only door between the simulation and `gatelab-core`: agents' actions go in as core
//! events, core actions come back as door states and decisions, and every audit record goes to
//! the streaming consent checker (and, when asked, to the run's `audit.jsonl`).
//!
//! With a `[network]` section the terminals are linked to the compound's [`Authority`]: admin
//! commands are submitted to it and reach each terminal as authenticated frames over the
//! [`Lan`], delivered at once while the link is up and lost while it is down (the protocol
//! resends and asks again). Terminals then match faces only under their consent lease.

use std::collections::{BTreeMap, VecDeque};

use bevy::prelude::*;
use gatelab_core::audit::{AuditEvent, DecisionReason, OpenCause, UncontrolledCause};
use gatelab_core::checker::Checker;
use gatelab_core::sync::{Authority, AuthorityAction, Uplink};
use gatelab_core::trace::{self, TRACE_VERSION, TraceEntry, TraceHeader};
use gatelab_core::{
    Action, AdminCommand, AuditRecord, Compound, CredentialKind, Event, PersonId, TerminalId, Timestamp,
};

use super::network::Lan;

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
    /// The authority and the LAN, when the scenario has a `[network]`.
    net: Option<Box<Net>>,
    /// Every admin command and what each terminal answered, while registration day is being
    /// recorded to be shared ([`super::registration`]).
    admin_log: Option<Vec<AdminLogged>>,
}

/// One admin command of an unlinked compound, as [`CoreLink::admin`] carried it out.
#[derive(Debug)]
pub(super) struct AdminLogged {
    pub at: Timestamp,
    pub command: AdminCommand,
    /// Each terminal's actions, in terminal order.
    pub actions: Vec<(TerminalId, Action)>,
    pub rejected: bool,
}

/// The compound's master key in the simulation (every terminal's link key derives from it).
const MASTER_KEY: [u8; 32] = *b"gatelab simulated compound key!!";

/// The authority side of a networked run, and what it measured.
#[derive(Debug)]
struct Net {
    authority: Authority,
    lan: Lan,
    frames: VecDeque<(TerminalId, Vec<u8>)>,
    uplinks: VecDeque<Uplink>,
    /// Camera terminals: since when their lease has been lapsed (`None`: live).
    lapsed_since: BTreeMap<TerminalId, Option<u64>>,
    /// The simulated window, milliseconds since midnight: lapses are counted inside it.
    window: (u64, u64),
    tally: NetworkTally,
}

/// What the network did to one replication.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NetworkTally {
    /// Minutes of lapsed consent leases summed over the face terminals, inside the window.
    pub lapsed_terminal_min: f64,
    /// Face probes refused because the terminal's lease had lapsed.
    pub faces_refused_lapsed: u64,
    /// Frames (both ways) lost to a down link.
    pub frames_lost: u64,
    /// Frames delivered (both ways).
    pub frames_delivered: u64,
}

impl Net {
    fn lapse_ended(&mut self, terminal: TerminalId, at_ms: u64) {
        if let Some(slot) = self.lapsed_since.get_mut(&terminal)
            && let Some(since) = slot.take()
        {
            self.tally.lapsed_terminal_min += minutes_inside(self.window, since, at_ms);
        }
    }
}

/// Minutes of `[from, to)` inside `window`.
fn minutes_inside(window: (u64, u64), from: u64, to: u64) -> f64 {
    let (from, to) = (from.max(window.0), to.min(window.1));
    to.saturating_sub(from) as f64 / 60_000.0
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
            net: None,
            admin_log: None,
        }
    }

    /// Keep every admin command from now on with what the terminals answered (unlinked
    /// compounds only: a linked one's commands go through the authority).
    pub(super) fn log_admin(&mut self) {
        debug_assert!(self.net.is_none());
        self.admin_log = Some(Vec::new());
    }

    /// The admin commands kept since [`CoreLink::log_admin`]; stops keeping them.
    pub(super) fn take_admin_log(&mut self) -> Vec<AdminLogged> {
        self.admin_log.take().unwrap_or_default()
    }

    /// Link every terminal to a new authority of the compound over `lan`, at `now` (before
    /// anyone is registered: the registration goes through the authority's log). `window` is
    /// the simulated window (milliseconds since midnight), where lapsed leases are counted.
    pub fn connect(&mut self, now: Timestamp, lan: Lan, window: (u64, u64)) -> anyhow::Result<()> {
        let terminals: Vec<(TerminalId, bool)> =
            self.compound.terminals().iter().map(|t| (t.id(), t.config().camera)).collect();
        let authority =
            Authority::new(self.compound.id(), self.compound.policy().clone(), &MASTER_KEY, terminals.iter().copied())
                .map_err(|e| anyhow::anyhow!("the compound's authority could not start: {e}"))?;
        let lapsed_since = terminals.iter().filter(|(_, camera)| *camera).map(|&(t, _)| (t, None)).collect();
        self.net = Some(Box::new(Net {
            authority,
            lan,
            frames: VecDeque::new(),
            uplinks: VecDeque::new(),
            lapsed_since,
            window,
            tally: NetworkTally::default(),
        }));
        let mut out = std::mem::take(&mut self.out);
        self.compound.link(now, &MASTER_KEY, &mut out);
        self.absorb(&mut out);
        self.out = out;
        self.pump(now);
        Ok(())
    }

    /// What the network did so far (`None` without a `[network]`); leases still lapsed count
    /// up to the end of the window.
    pub fn network_tally(&self) -> Option<NetworkTally> {
        let net = self.net.as_ref()?;
        let mut tally = net.tally;
        for &since in net.lapsed_since.values().flatten() {
            tally.lapsed_terminal_min += minutes_inside(net.window, since, net.window.1);
        }
        Some(tally)
    }

    pub fn door_open(&self, terminal: TerminalId) -> bool {
        self.doors.contains_key(&terminal)
    }

    /// The terminal's consent lease is live (always, for an unlinked one).
    pub fn lease_live(&self, terminal: TerminalId) -> bool {
        self.compound.terminal(terminal).is_none_or(|t| t.lease_live())
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
        if self.net.is_some() {
            // A request the event's timers sent goes out now, its answer comes back now.
            let pumped = self.pump(now);
            return merge(reply, pumped);
        }
        reply
    }

    /// Broadcast an admin command to every terminal (networked: submit it to the authority,
    /// which pushes it to every terminal it can reach).
    pub fn admin(&mut self, now: Timestamp, cmd: &AdminCommand) -> Reply {
        if let Some(net) = self.net.as_mut() {
            let (actions, result) = net.authority.submit(now, cmd.clone());
            let actions: Vec<AuthorityAction> = actions.collect();
            let mut reply = self.carry_out(actions);
            reply.rejected |= result.is_err();
            let pumped = self.pump(now);
            return merge(reply, pumped);
        }
        let mut out = std::mem::take(&mut self.out);
        self.compound.admin(now, cmd, &mut out);
        if self.admin_log.is_none() {
            let reply = self.absorb(&mut out);
            self.out = out;
            return reply;
        }
        // Registration day being kept: the answers are read in place and move into the log.
        let mut reply = Reply::default();
        for (terminal, action) in &out {
            self.absorb_one(*terminal, action, &mut reply);
        }
        if let Some(log) = &mut self.admin_log {
            log.push(AdminLogged { at: now, command: cmd.clone(), actions: out, rejected: reply.rejected });
        }
        reply
    }

    /// Fire the timers that are due (door closing, template deletion deadlines; networked: the
    /// terminals' requests, the authority's resends, links going down and up), in time order.
    pub fn advance(&mut self, now: Timestamp) {
        if self.net.is_none() {
            if self.compound.poll_timeout().is_some_and(|at| at <= now) {
                let mut out = std::mem::take(&mut self.out);
                self.compound.advance_to(now, &mut out);
                self.absorb(&mut out);
                self.out = out;
            }
            return;
        }
        let mut last = None;
        while let Some(at) = self.poll_timeout().filter(|&at| at <= now) {
            // Every timer fires or moves past `at`; the guard keeps a bug from looping forever.
            if last == Some(at) {
                break;
            }
            last = Some(at);
            self.step_network(at);
        }
        if let Some(net) = self.net.as_mut() {
            net.lan.advance(now.0);
        }
    }

    /// One instant of the networked compound: links, the authority's timers, the terminals'.
    fn step_network(&mut self, at: Timestamp) {
        let Some(net) = self.net.as_mut() else { return };
        net.lan.advance(at.0);
        let actions: Vec<AuthorityAction> = net.authority.tick(at).collect();
        self.carry_out(actions);
        let mut out = std::mem::take(&mut self.out);
        self.compound.advance_to(at, &mut out);
        self.absorb(&mut out);
        self.out = out;
        self.pump(at);
    }

    /// Carry out the authority's actions: its records to the checker, its frames onto the LAN.
    fn carry_out(&mut self, actions: Vec<AuthorityAction>) -> Reply {
        let mut reply = Reply::default();
        for action in actions {
            match action {
                AuthorityAction::Audit(record) => self.record(&record, &mut reply),
                AuthorityAction::Send { to, frame } => {
                    if let Some(net) = self.net.as_mut() {
                        net.frames.push_back((to, frame));
                    }
                }
            }
        }
        reply
    }

    /// Deliver every frame in flight, both ways, until the LAN is quiet: at once over a link
    /// that is up, lost over one that is down.
    fn pump(&mut self, now: Timestamp) -> Reply {
        let mut reply = Reply::default();
        loop {
            let Some(net) = self.net.as_mut() else { return reply };
            if let Some(up) = net.uplinks.pop_front() {
                if !net.lan.up(up.terminal) {
                    net.tally.frames_lost += 1;
                    continue;
                }
                net.tally.frames_delivered += 1;
                let actions: Vec<AuthorityAction> = net.authority.handle_uplink(now, &up).collect();
                reply = merge(reply, self.carry_out(actions));
            } else if let Some((to, frame)) = net.frames.pop_front() {
                if !net.lan.up(to) {
                    net.tally.frames_lost += 1;
                    continue;
                }
                net.tally.frames_delivered += 1;
                let mut out = std::mem::take(&mut self.out);
                self.compound.handle(to, now, Event::FromAuthority(frame), &mut out);
                reply = merge(reply, self.absorb(&mut out));
                self.out = out;
            } else {
                return reply;
            }
        }
    }

    /// The earliest time a terminal (or, networked, the authority or a link) needs waking.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let terminals = self.compound.poll_timeout();
        let Some(net) = self.net.as_ref() else { return terminals };
        let edge = net.lan.next_edge(net.lan.now_ms()).map(Timestamp);
        [terminals, net.authority.poll_timeout(), edge].into_iter().flatten().min()
    }

    /// Carry out the terminals' actions (drained from `out`) and say what they amounted to.
    fn absorb(&mut self, out: &mut Vec<(TerminalId, Action)>) -> Reply {
        let mut reply = Reply::default();
        for (terminal, action) in out.drain(..) {
            self.absorb_one(terminal, &action, &mut reply);
        }
        reply
    }

    /// Carry out actions one terminal produced earlier (a shared registration day's answers),
    /// as [`CoreLink::absorb`] would have, into `reply`.
    pub(super) fn absorb_answers(&mut self, terminal: TerminalId, actions: &[Action], reply: &mut Reply) {
        for action in actions {
            self.absorb_one(terminal, action, reply);
        }
    }

    fn absorb_one(&mut self, terminal: TerminalId, action: &Action, reply: &mut Reply) {
        match action {
            Action::Audit(record) => {
                if let Some(net) = self.net.as_mut() {
                    match record.event {
                        AuditEvent::LeaseLapsed { .. } => {
                            if let Some(slot) = net.lapsed_since.get_mut(&terminal) {
                                slot.get_or_insert(record.at.0);
                            }
                        }
                        AuditEvent::LeaseRenewed { .. } => net.lapse_ended(terminal, record.at.0),
                        _ => {}
                    }
                }
                self.record(record, reply)
            }
            &Action::Grant { person, credential } => reply.grant = Some((person, credential)),
            &Action::Deny { reason, .. } => {
                if reason == DecisionReason::LeaseLapsed
                    && let Some(net) = self.net.as_mut()
                {
                    net.tally.faces_refused_lapsed += 1;
                }
                reply.deny = Some(reason)
            }
            &Action::OpenDoor { cause } => {
                reply.opened = true;
                self.doors.insert(terminal, cause);
            }
            Action::CloseDoor => {
                self.doors.remove(&terminal);
            }
            Action::AdminRejected(_) => reply.rejected = true,
            &Action::ToAuthority(up) => {
                if let Some(net) = self.net.as_mut() {
                    net.uplinks.push_back(up);
                }
            }
            Action::Alarm(_) => {}
        }
    }

    fn record(&mut self, record: &AuditRecord, reply: &mut Reply) {
        let index = self.counts.records as usize;
        self.counts.records += 1;
        if let AuditEvent::UncontrolledPassage { cause } = record.event {
            reply.uncontrolled = Some(cause);
            self.counts.uncontrolled += 1;
        }
        if let Some(checker) = &mut self.checker {
            checker.observe_produced(index, record);
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

/// Both replies of one call: what the pump delivered adds to what the call itself did.
fn merge(first: Reply, then: Reply) -> Reply {
    Reply {
        grant: first.grant.or(then.grant),
        deny: first.deny.or(then.deny),
        uncontrolled: first.uncontrolled.or(then.uncontrolled),
        opened: first.opened || then.opened,
        rejected: first.rejected || then.rejected,
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
