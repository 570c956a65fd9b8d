//! A compound: its policy and all its terminals. Admin commands (registration, consent,
//! withdrawal, enrolment) are broadcast to every terminal, so a withdrawal deletes the template
//! from every store at once (C4); gate events go to the one terminal they happened at.
//!
//! Still sans-IO: the caller supplies `now` and carries out the returned actions. A driver that
//! models propagation delay can call [`Terminal::handle`] per terminal itself instead.

use alloc::vec::Vec;

use crate::domain::{CompoundId, TerminalId, Timestamp};
use crate::policy::Policy;
use crate::sync::LinkKey;
use crate::template::TemplateError;
use crate::terminal::{Action, AdminCommand, Event, Terminal, TerminalConfig};
use crate::trace::TraceEntry;

#[derive(Debug)]
pub struct Compound {
    id: CompoundId,
    policy: Policy,
    terminals: Vec<Terminal>,
    /// Every event delivered to any terminal, when recording (see [`Compound::record`]).
    trace: Option<Vec<TraceEntry>>,
    /// The earliest timer of any terminal, kept up to date by every call that feeds one: a
    /// driver asks each step, terminals change only when fed.
    next_timeout: Option<Timestamp>,
}

impl Compound {
    /// A compound with one terminal per config, all under `policy`.
    pub fn new(
        id: CompoundId,
        policy: Policy,
        configs: impl IntoIterator<Item = TerminalConfig>,
    ) -> Result<Compound, TemplateError> {
        let mut terminals = Vec::new();
        for mut config in configs {
            config.compound = id;
            terminals.push(Terminal::new(config, policy.clone())?);
        }
        let mut compound = Compound { id, policy, terminals, trace: None, next_timeout: None };
        compound.refresh_timeout();
        Ok(compound)
    }

    /// A compound of terminals already set up elsewhere (a simulation's registration day,
    /// done once and cloned for several runs). Each terminal must belong to compound `id`.
    pub fn from_terminals(id: CompoundId, policy: Policy, terminals: Vec<Terminal>) -> Compound {
        debug_assert!(terminals.iter().all(|t| t.config().compound == id));
        let mut compound = Compound { id, policy, terminals, trace: None, next_timeout: None };
        compound.refresh_timeout();
        compound
    }

    pub fn id(&self) -> CompoundId {
        self.id
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn terminals(&self) -> &[Terminal] {
        &self.terminals
    }
    pub fn terminal(&self, id: TerminalId) -> Option<&Terminal> {
        self.terminals.iter().find(|t| t.id() == id)
    }

    /// Start recording every event each terminal receives (for replay on another
    /// implementation of the terminal, e.g. the firmware).
    pub fn record(&mut self) {
        self.trace.get_or_insert_with(Vec::new);
    }

    /// The events recorded so far, in delivery order (empty when not recording).
    pub fn take_trace(&mut self) -> Vec<TraceEntry> {
        self.trace.as_mut().map(core::mem::take).unwrap_or_default()
    }

    /// Broadcast an admin command to every terminal, appending `(terminal, action)` pairs.
    /// Enrolments go only to terminals with a camera (the others must never hold templates).
    pub fn admin(&mut self, now: Timestamp, cmd: &AdminCommand, out: &mut Vec<(TerminalId, Action)>) {
        for (i, t) in self.terminals.iter_mut().enumerate().filter(|(_, t)| t.takes_broadcast(cmd)) {
            if let Some(trace) = &mut self.trace {
                trace.push(TraceEntry { terminal: i as u16, at: now, event: Event::Admin(cmd.clone()) });
            }
            let id = t.id();
            out.extend(t.handle_admin(now, cmd).map(|a| (id, a)));
        }
        self.refresh_timeout();
    }

    /// Link every terminal to the compound's authority (see [`Terminal::attach_authority`]),
    /// each with its key derived from `master`: from now on admin commands reach them only as
    /// authority frames ([`Event::FromAuthority`]), and [`Compound::admin`] is refused by each.
    /// Not recorded in a trace (a replay provisions keys itself).
    pub fn link(&mut self, now: Timestamp, master: &[u8; 32], out: &mut Vec<(TerminalId, Action)>) {
        for t in &mut self.terminals {
            let id = t.id();
            let key = LinkKey::derive(master, self.id, id);
            out.extend(t.attach_authority(now, key, 0, 0).map(|a| (id, a)));
        }
        self.refresh_timeout();
    }

    /// Deliver a gate event to one terminal. Returns false if no such terminal exists.
    pub fn handle(
        &mut self,
        terminal: TerminalId,
        now: Timestamp,
        event: Event,
        out: &mut Vec<(TerminalId, Action)>,
    ) -> bool {
        let Some((i, t)) = self.terminals.iter_mut().enumerate().find(|(_, t)| t.id() == terminal) else {
            return false;
        };
        deliver(&mut self.trace, i, t, now, event, out);
        self.refresh_timeout();
        true
    }

    /// The earliest time any terminal needs a tick.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.next_timeout
    }

    fn refresh_timeout(&mut self) {
        self.next_timeout = self.terminals.iter().filter_map(Terminal::poll_timeout).min();
    }

    /// Fire every timer due up to `now` in time order (ties: terminal order), then tick every
    /// terminal at `now`, so audit records come out ordered by time.
    pub fn advance_to(&mut self, now: Timestamp, out: &mut Vec<(TerminalId, Action)>) {
        // Each timer either fires once or moves forward; the bound only guards against a bug
        // turning into an endless loop.
        let mut budget = 64 * self.terminals.len() + 64;
        while budget > 0 {
            budget -= 1;
            let due = self
                .terminals
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.poll_timeout().filter(|&at| at <= now).map(|at| (at, i)))
                .min();
            let Some((at, i)) = due else { break };
            let t = &mut self.terminals[i];
            let at = at.max(t.now());
            deliver(&mut self.trace, i, t, at, Event::Tick, out);
        }
        for (i, t) in self.terminals.iter_mut().enumerate() {
            deliver(&mut self.trace, i, t, now, Event::Tick, out);
        }
        self.refresh_timeout();
    }
}

/// Hand one event to one terminal, recording it first when a trace is kept.
fn deliver(
    trace: &mut Option<Vec<TraceEntry>>,
    index: usize,
    t: &mut Terminal,
    now: Timestamp,
    event: Event,
    out: &mut Vec<(TerminalId, Action)>,
) {
    if let Some(trace) = trace {
        trace.push(TraceEntry { terminal: index as u16, at: now, event: event.clone() });
    }
    let id = t.id();
    out.extend(t.handle(now, event).map(|a| (id, a)));
}
