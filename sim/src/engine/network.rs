//! The compound's LAN (`[network]`): whether each terminal's link to the authority is up.
//! Links go down at random (exponential MTBF / MTTR per terminal, each on its own stream) and in
//! scheduled windows (the whole compound, a gate, one lane). Pure state over time: the core
//! link ([`super::core_link`]) asks it before delivering a frame either way and wakes at its
//! edges; nothing here calls the core.

use gatelab_core::{Direction, TerminalId};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

use super::model::{Layout, Rngs};
use gatelab_scenario::{Network, parse_clock};

/// Which terminals a scheduled window takes off the LAN.
#[derive(Clone, Debug, PartialEq)]
enum Scope {
    Compound,
    Gate(usize),
    Terminal(TerminalId),
}

#[derive(Debug)]
struct Link {
    terminal: TerminalId,
    gate: usize,
    random_down: bool,
    /// When the random process next flips this link.
    next_flip_ms: Option<u64>,
    draws: ChaCha8Rng,
}

/// Every terminal's link, over the day (milliseconds since midnight).
#[derive(Debug)]
pub struct Lan {
    links: Vec<Link>,
    windows: Vec<(u64, u64, Scope)>,
    mtbf_ms: f64,
    mttr_ms: f64,
    /// Random flips are applied up to here.
    now_ms: u64,
}

impl Lan {
    /// The LAN of `layout`'s terminals under `network`, from midnight.
    pub fn new(network: &Network, layout: &Layout, rngs: &Rngs) -> Lan {
        let mtbf_ms = network.outage_mtbf_h * 3_600_000.0;
        let mttr_ms = network.outage_mttr_min * 60_000.0;
        let lanes = layout.lanes.iter().map(|l| (l.terminal, l.gate, l.direction, l.index_in_group));
        let guards = layout.guard_paths.iter().flat_map(|p| {
            [(p.inbound, p.gate, Direction::Inbound, 999), (p.outbound, p.gate, Direction::Outbound, 999)]
        });
        let links = lanes
            .chain(guards)
            .map(|(terminal, gate, direction, slot)| {
                let mut draws = rngs.link_outages(gate, direction, slot);
                let next_flip_ms = (mtbf_ms > 0.0).then(|| {
                    let span: f64 = Exp1.sample(&mut draws);
                    (mtbf_ms * span).max(1.0) as u64
                });
                Link { terminal, gate, random_down: false, next_flip_ms, draws }
            })
            .collect();
        let minute = |t: &str| u64::from(parse_clock(t).unwrap_or(0)) * 60_000;
        let windows = network
            .outages
            .iter()
            .map(|o| {
                let gate = o.gate.as_ref().and_then(|name| layout.gate_names.iter().position(|g| g == name));
                let scope = match (gate, &o.lane) {
                    (None, _) => Scope::Compound,
                    (Some(g), None) => Scope::Gate(g),
                    (Some(g), Some(name)) => layout
                        .lanes
                        .iter()
                        .find(|l| l.gate == g && &l.name == name)
                        .map_or(Scope::Gate(g), |l| Scope::Terminal(l.terminal)),
                };
                (minute(&o.from), minute(&o.to), scope)
            })
            .collect();
        Lan { links, windows, mtbf_ms, mttr_ms, now_ms: 0 }
    }

    /// Apply the random flips due by `now_ms` (time only moves forward).
    pub fn advance(&mut self, now_ms: u64) {
        self.now_ms = self.now_ms.max(now_ms);
        for link in &mut self.links {
            while let Some(at) = link.next_flip_ms.filter(|&at| at <= self.now_ms) {
                link.random_down = !link.random_down;
                let mean = if link.random_down { self.mttr_ms } else { self.mtbf_ms };
                let span: f64 = Exp1.sample(&mut link.draws);
                link.next_flip_ms = Some(at + (mean * span).max(1.0) as u64);
            }
        }
    }

    /// How far [`Lan::advance`] has gone.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Whether `terminal` can reach the authority now (as of the last [`Lan::advance`]).
    pub fn up(&self, terminal: TerminalId) -> bool {
        let Some(link) = self.links.iter().find(|l| l.terminal == terminal) else { return true };
        let now = self.now_ms;
        let in_window = self.windows.iter().any(|(from, to, scope)| {
            *from <= now
                && now < *to
                && match scope {
                    Scope::Compound => true,
                    Scope::Gate(g) => *g == link.gate,
                    Scope::Terminal(t) => *t == terminal,
                }
        });
        !(link.random_down || in_window)
    }

    /// The next time after `now_ms` at which any link may change.
    pub fn next_edge(&self, now_ms: u64) -> Option<u64> {
        let flips = self.links.iter().filter_map(|l| l.next_flip_ms);
        let edges = self.windows.iter().flat_map(|&(from, to, _)| [from, to]);
        flips.chain(edges).filter(|&t| t > now_ms).min()
    }
}
