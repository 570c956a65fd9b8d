//! A compound: its policy and all its terminals. Admin commands (registration, consent,
//! withdrawal, enrolment) are broadcast to every terminal, so a withdrawal deletes the template
//! from every store at once (C4); gate events go to the one terminal they happened at.
//!
//! Still sans-IO: the caller supplies `now` and carries out the returned actions. A driver that
//! models propagation delay can call [`Terminal::handle`] per terminal itself instead.

use alloc::vec::Vec;

use crate::domain::{CompoundId, TerminalId, Timestamp};
use crate::policy::Policy;
use crate::template::TemplateError;
use crate::terminal::{Action, AdminCommand, Event, Terminal, TerminalConfig};

#[derive(Debug)]
pub struct Compound {
    id: CompoundId,
    policy: Policy,
    terminals: Vec<Terminal>,
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
        Ok(Compound { id, policy, terminals })
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

    /// Broadcast an admin command to every terminal, appending `(terminal, action)` pairs.
    /// Enrolments go only to terminals with a camera (the others must never hold templates).
    pub fn admin(&mut self, now: Timestamp, cmd: &AdminCommand, out: &mut Vec<(TerminalId, Action)>) {
        let enrolment = matches!(cmd, AdminCommand::Enroll { .. });
        for t in self.terminals.iter_mut().filter(|t| !enrolment || t.config().camera) {
            let id = t.id();
            out.extend(t.handle(now, Event::Admin(cmd.clone())).map(|a| (id, a)));
        }
    }

    /// Deliver a gate event to one terminal. Returns false if no such terminal exists.
    pub fn handle(
        &mut self,
        terminal: TerminalId,
        now: Timestamp,
        event: Event,
        out: &mut Vec<(TerminalId, Action)>,
    ) -> bool {
        let Some(t) = self.terminals.iter_mut().find(|t| t.id() == terminal) else {
            return false;
        };
        out.extend(t.handle(now, event).map(|a| (terminal, a)));
        true
    }

    /// The earliest time any terminal needs a tick.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.terminals.iter().filter_map(Terminal::poll_timeout).min()
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
            let id = t.id();
            let at = at.max(t.now());
            out.extend(t.handle(at, Event::Tick).map(|a| (id, a)));
        }
        for t in &mut self.terminals {
            let id = t.id();
            out.extend(t.handle(now, Event::Tick).map(|a| (id, a)));
        }
    }
}
