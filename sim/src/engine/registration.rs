//! Registration day, done once and shared by the runs that would repeat it.
//!
//! A plan runs every lane count with the same replication seeds (common random numbers), so
//! each lane count registers the same residents, cards, consents and faces, command for
//! command. Only the terminals differ. A terminal's state after registration depends only
//! on its own config, the policy and the command sequence, so the runs of one replication
//! share a [`SharedRegistration`]:
//! - the first run registers as usual and keeps the commands, the population it drew and
//!   every terminal's state and answers;
//! - a later run takes the terminals it has in common (same config, id included) as they
//!   are, replays the commands into the new ones only, and feeds every terminal's answers
//!   to its own consent checker and audit log in the order a live registration would. Its
//!   checker, counts and audit bytes come out the same as if it had registered itself.
//!
//! The commands depend on the terminals' answers (a refused consent is not followed by an
//! enrolment). A run whose terminals answer any command differently from the first run's
//! registers itself instead. Scenarios with a `[network]` (commands go through the
//! authority) and runs keeping a terminal trace always register themselves.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gatelab_core::{Action, AdminCommand, Compound, Policy, Terminal, TerminalConfig, TerminalId, Timestamp};
use gatelab_scenario::Scenario;
use rand_chacha::ChaCha8Rng;

use super::core_link::{AdminLogged, CoreLink, Reply};
use super::model::Rngs;
use super::population::{COMPOUND, Population};

/// Registration days of one replication, shared by the runs of its lane counts (and any
/// other configuration whose registration is the same). Cheap to create; safe to share
/// between threads. Dropping it frees the days.
#[derive(Debug, Default)]
pub struct SharedRegistration {
    days: Mutex<Vec<Arc<Day>>>,
    /// Runs that took a day rather than registering themselves.
    taken: AtomicUsize,
}

/// What a [`SharedRegistration`] holds and saved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sharing {
    /// Registration days done in full (one per replication and registration).
    pub days: usize,
    /// Terminals registered in them, each once.
    pub terminals: usize,
    /// Runs that took a day instead of registering themselves.
    pub taken: usize,
}

impl SharedRegistration {
    pub fn new() -> SharedRegistration {
        SharedRegistration::default()
    }

    /// What the runs shared so far.
    pub fn sharing(&self) -> Sharing {
        let days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        let terminals = days.iter().map(|d| d.terminals.lock().unwrap_or_else(PoisonError::into_inner).len()).sum();
        Sharing { days: days.len(), terminals, taken: self.taken.load(Ordering::Relaxed) }
    }

    fn find(&self, key: &DayKey) -> Option<Arc<Day>> {
        self.days.lock().unwrap_or_else(PoisonError::into_inner).iter().find(|d| d.key == *key).cloned()
    }

    fn keep(&self, day: Day) {
        let mut days = self.days.lock().unwrap_or_else(PoisonError::into_inner);
        // Another run of the same day may have finished first: both days are the same.
        if !days.iter().any(|d| d.key == day.key) {
            days.push(Arc::new(day));
        }
    }
}

/// What a registration depends on besides the terminals: the seed and the whole scenario
/// but its lane counts (which only add or remove terminals).
#[derive(Debug, PartialEq)]
struct DayKey {
    seed: u64,
    scenario: Scenario,
}

impl DayKey {
    fn new(scenario: &Scenario, seed: u64) -> DayKey {
        let mut scenario = scenario.clone();
        for gate in &mut scenario.gates {
            gate.lanes_in = 0;
            gate.lanes_out = 0;
        }
        DayKey { seed, scenario }
    }
}

#[derive(Debug)]
struct Day {
    key: DayKey,
    /// Every admin command in order, and whether the first run's terminals refused it.
    commands: Vec<(Timestamp, AdminCommand)>,
    refused: Vec<bool>,
    population: Population,
    /// The population stream after registration (the run draws on from there).
    population_rng: ChaCha8Rng,
    terminals: Mutex<Vec<Arc<RegisteredTerminal>>>,
}

/// One terminal after registration day, and its answers to each command.
#[derive(Debug)]
struct RegisteredTerminal {
    terminal: Terminal,
    actions: Vec<Action>,
    /// Where each command's answers end in `actions`.
    ends: Vec<usize>,
    /// The commands it refused.
    refused: Vec<bool>,
}

impl RegisteredTerminal {
    fn answers(&self, command: usize) -> &[Action] {
        let start = if command == 0 { 0 } else { self.ends[command - 1] };
        &self.actions[start..self.ends[command]]
    }

    fn new(terminal: Terminal, actions: Vec<Action>, ends: Vec<usize>) -> RegisteredTerminal {
        let mut registered = RegisteredTerminal { terminal, actions, ends, refused: Vec::new() };
        registered.refused = (0..registered.ends.len())
            .map(|c| registered.answers(c).iter().any(|a| matches!(a, Action::AdminRejected(_))))
            .collect();
        registered
    }
}

impl Day {
    fn terminal(&self, config: &TerminalConfig) -> Option<Arc<RegisteredTerminal>> {
        self.terminals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|t| t.terminal.config() == config)
            .cloned()
    }

    /// A terminal that was not in any run of this day so far: the commands replayed into it.
    fn register_terminal(&self, config: &TerminalConfig, policy: &Policy) -> Option<Arc<RegisteredTerminal>> {
        let mut terminal = Terminal::new(config.clone(), policy.clone()).ok()?;
        let mut actions = Vec::new();
        let mut ends = Vec::with_capacity(self.commands.len());
        for (at, command) in &self.commands {
            if terminal.takes_broadcast(command) {
                actions.extend(terminal.handle_admin(*at, command));
            }
            ends.push(actions.len());
        }
        let registered = Arc::new(RegisteredTerminal::new(terminal, actions, ends));
        let mut terminals = self.terminals.lock().unwrap_or_else(PoisonError::into_inner);
        match terminals.iter().find(|t| t.terminal.config() == config) {
            // Registered meanwhile by another run: the same terminal.
            Some(other) => Some(other.clone()),
            None => {
                terminals.push(registered.clone());
                Some(registered)
            }
        }
    }
}

/// Register `scenario`'s population into `core` (a new, unlinked compound of `configs`),
/// sharing the work through `shared` with the other runs of the same day. Returns the core
/// and the population; `rngs` is left where registration leaves it.
pub fn register(
    shared: &SharedRegistration,
    scenario: &Scenario,
    seed: u64,
    policy: &Policy,
    configs: Vec<TerminalConfig>,
    keep_audit: bool,
    rngs: &mut Rngs,
) -> anyhow::Result<(CoreLink, Population)> {
    let key = DayKey::new(scenario, seed);
    if let Some(day) = shared.find(&key)
        && let Some(terminals) = terminals_of(&day, &configs, policy)
    {
        let compound =
            Compound::from_terminals(COMPOUND, policy.clone(), terminals.iter().map(|t| t.terminal.clone()).collect());
        let mut core = CoreLink::new(compound, keep_audit);
        // The checker and the audit log see every answer in the order a live broadcast gives.
        for command in 0..day.commands.len() {
            let mut reply = Reply::default();
            for t in &terminals {
                core.absorb_answers(t.terminal.id(), t.answers(command), &mut reply);
            }
        }
        rngs.population = day.population_rng.clone();
        shared.taken.fetch_add(1, Ordering::Relaxed);
        return Ok((core, day.population.clone()));
    }
    let mut core = CoreLink::new(compound(policy, configs)?, keep_audit);
    core.log_admin();
    let population = Population::register(scenario, policy, rngs, &mut core);
    let log = core.take_admin_log();
    shared.keep(day_of(key, log, &core, &population, rngs));
    Ok((core, population))
}

/// A new compound of the scenario's terminals, none registered yet.
pub(super) fn compound(policy: &Policy, configs: Vec<TerminalConfig>) -> anyhow::Result<Compound> {
    Compound::new(COMPOUND, policy.clone(), configs)
        .map_err(|e| anyhow::anyhow!("the scenario's terminals could not be built: {e:?}"))
}

/// This run's terminals after registration day, in compound order: those seen before as they
/// were, new ones registered now; `None` if any command would have been answered otherwise.
fn terminals_of(day: &Day, configs: &[TerminalConfig], policy: &Policy) -> Option<Vec<Arc<RegisteredTerminal>>> {
    let terminals = configs
        .iter()
        .map(|config| day.terminal(config).or_else(|| day.register_terminal(config, policy)))
        .collect::<Option<Vec<_>>>()?;
    let same_answers = (0..day.commands.len()).all(|c| terminals.iter().any(|t| t.refused[c]) == day.refused[c]);
    same_answers.then_some(terminals)
}

fn day_of(key: DayKey, log: Vec<AdminLogged>, core: &CoreLink, population: &Population, rngs: &Rngs) -> Day {
    let terminals = core.compound.terminals();
    let index: BTreeMap<TerminalId, usize> = terminals.iter().enumerate().map(|(i, t)| (t.id(), i)).collect();
    // Each terminal's answers, and where each command's end.
    let mut answers: Vec<(Vec<Action>, Vec<usize>)> =
        vec![(Vec::new(), Vec::with_capacity(log.len())); terminals.len()];
    let mut commands = Vec::with_capacity(log.len());
    let mut refused = Vec::with_capacity(log.len());
    for logged in log {
        for (terminal, action) in logged.actions {
            if let Some(&i) = index.get(&terminal) {
                answers[i].0.push(action);
            }
        }
        for (actions, ends) in &mut answers {
            ends.push(actions.len());
        }
        commands.push((logged.at, logged.command));
        refused.push(logged.rejected);
    }
    let terminals = terminals
        .iter()
        .zip(answers)
        .map(|(terminal, (actions, ends))| Arc::new(RegisteredTerminal::new(terminal.clone(), actions, ends)))
        .collect();
    Day {
        key,
        commands,
        refused,
        population: population.clone(),
        population_rng: rngs.population.clone(),
        terminals: Mutex::new(terminals),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Keep, simulate_keeping, simulate_sharing};

    fn scenario() -> Scenario {
        let mut s = Scenario::parse_named(crate::run::DEFAULT_SCENARIO, "default").expect("the built-in scenario");
        s.run.duration_min = 10;
        s.network = None;
        s
    }

    fn audit(s: &Scenario, shared: Option<&SharedRegistration>) -> Vec<u8> {
        let run = match shared {
            Some(shared) => simulate_sharing(s, 3, Keep::ALL, shared, &|_| {}),
            None => simulate_keeping(s, 3, Keep::ALL, &|_| {}),
        };
        run.expect("runs").audit_jsonl.expect("kept")
    }

    /// A run whose terminals would answer a command otherwise than the first run's (so the
    /// office would have gone on differently) registers everyone itself, and comes out as it
    /// would have alone.
    #[test]
    fn a_run_whose_terminals_answer_otherwise_registers_itself() {
        let s = scenario();
        let shared = SharedRegistration::new();
        let alone = audit(&s, None);
        assert_eq!(audit(&s, Some(&shared)), alone);
        assert_eq!(shared.sharing().taken, 0, "the first run registers");
        assert_eq!(audit(&s, Some(&shared)), alone);
        assert_eq!(shared.sharing().taken, 1, "the second run takes the day");
        {
            let mut days = shared.days.lock().expect("not poisoned");
            let day = Arc::get_mut(&mut days[0]).expect("no run holds the day");
            // As if the first run's terminals had refused the first command.
            day.refused[0] = !day.refused[0];
        }
        assert_eq!(audit(&s, Some(&shared)), alone);
        assert_eq!(shared.sharing().taken, 1, "a run that would be answered otherwise registers itself");
    }

    /// Another seed, or a scenario that registers other people, is another day.
    #[test]
    fn another_seed_or_population_is_another_day() {
        let s = scenario();
        let shared = SharedRegistration::new();
        for seed in [3, 4] {
            simulate_sharing(&s, seed, Keep::NOTHING, &shared, &|_| {}).expect("runs");
        }
        let mut fewer = s.clone();
        fewer.population.owners -= 10;
        simulate_sharing(&fewer, 3, Keep::NOTHING, &shared, &|_| {}).expect("runs");
        let sharing = shared.sharing();
        assert_eq!((sharing.days, sharing.taken), (3, 0), "three days, none taken by another");
    }
}
