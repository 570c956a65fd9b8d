//! Deterministic simulation testing of consent over a real network (in the manner of
//! FoundationDB's): one [`Authority`] and five persistent terminals on simulated flash, joined
//! by a simulated network whose faults are drawn from a seed — message loss, duplication,
//! reordering and delay, partitions of any subset for any length, power cuts at any flash write
//! point and between calls, clock steps — under a random workload of registrations, cards (some
//! expiring), consents, enrolments, withdrawals, move-outs and gate traffic (faces and cards).
//!
//! Every audit record of every producer goes, in the order produced, through one streaming
//! [`Checker`]: a schedule passes only with no C1–C8 finding, in particular no face match later
//! than the deletion bound after a withdrawal, and no match under a lapsed lease. Beside it the
//! harness holds the protocol's own invariants: a terminal never reports a version that is not
//! on its flash, and once the faults stop every terminal converges to the authority's head
//! holding no template of anyone without a live consent.
//!
//! `cargo test -p gatelab-core --release --test dst` runs 10,000 schedules (the default CI run;
//! `GATELAB_DST_SCHEDULES=1000000` for a million). A failure is shrunk to the shortest prefix
//! of its schedule and the fewest fault kinds that still fail, and printed as a line to replay:
//! `GATELAB_DST_SEED=… GATELAB_DST_OPS=… GATELAB_DST_FAULTS=…`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use gatelab_core::audit::AuditEvent;
use gatelab_core::consent::Grantor;
use gatelab_core::flash::{Flash, FlashError, Geometry, MemFlash, Outage, PowerCut};
use gatelab_core::journal::StorageKey;
use gatelab_core::persist::PersistentTerminal;
use gatelab_core::sync::{Authority, AuthorityAction, LinkKey, Uplink};
use gatelab_core::*;

const DIM: usize = 64;
const COMPOUND: CompoundId = CompoundId(7);
const MASTER: [u8; 32] = [0x5a; 32];
const IDENTITY: Geometry = Geometry { page_size: 32, sector_size: 4096, sectors: 24 };
const BIOMETRIC: Geometry = Geometry { page_size: 32, sector_size: 2048, sectors: 24 };

/// SplitMix64: the schedule's only source of randomness.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Which kinds of fault a schedule may use (a bit each), so a failure can be shrunk to the
/// kinds it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Faults(u8);

impl Faults {
    const LOSS: u8 = 1;
    const DUPLICATION: u8 = 2;
    const DELAY: u8 = 4;
    const PARTITION: u8 = 8;
    const CRASH: u8 = 16;
    const CLOCK: u8 = 32;
    pub const ALL: Faults = Faults(63);
    const NAMES: [(u8, &'static str); 6] = [
        (Faults::LOSS, "loss"),
        (Faults::DUPLICATION, "duplication"),
        (Faults::DELAY, "delay"),
        (Faults::PARTITION, "partition"),
        (Faults::CRASH, "crash"),
        (Faults::CLOCK, "clock"),
    ];
    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    fn describe(self) -> String {
        let names: Vec<&str> = Faults::NAMES.iter().filter(|(b, _)| self.has(*b)).map(|(_, n)| *n).collect();
        if names.is_empty() { String::from("none") } else { names.join(",") }
    }
    fn parse(text: &str) -> Faults {
        let mut bits = 0;
        for name in text.split(',') {
            bits |= Faults::NAMES.iter().find(|(_, n)| *n == name.trim()).map_or(0, |(b, _)| *b);
        }
        Faults(bits)
    }
}

/// A flash whose contents outlive the terminal using it (the device's chip, across power cuts).
#[derive(Clone, Debug)]
struct Chip(Rc<RefCell<MemFlash<Vec<u8>>>>);

impl Chip {
    fn blank(geometry: Geometry) -> Chip {
        Chip(Rc::new(RefCell::new(MemFlash::blank(geometry).unwrap())))
    }
}

impl Flash for Chip {
    fn geometry(&self) -> Geometry {
        self.0.borrow().geometry()
    }
    fn read(&mut self, offset: u32, out: &mut [u8]) -> Result<(), FlashError> {
        self.0.borrow_mut().read(offset, out)
    }
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.0.borrow_mut().program(offset, data)
    }
    fn erase(&mut self, sector: u32) -> Result<(), FlashError> {
        self.0.borrow_mut().erase(sector)
    }
}

type Device = PersistentTerminal<PowerCut<Chip>, PowerCut<Chip>>;

struct Node {
    id: TerminalId,
    camera: bool,
    live: Option<Device>,
    identity: Chip,
    biometric: Chip,
    /// When a terminal that is down starts again (true time, ms).
    restart_at: Option<u64>,
    /// Its clock runs this far ahead of the authority's.
    offset: u64,
    /// Cut off from the network until then.
    cut_off_until: u64,
}

enum Message {
    Down { to: usize, frame: Vec<u8> },
    Up { from: usize, up: Uplink },
}

#[derive(Debug)]
pub struct Failure {
    op: usize,
    what: String,
}

struct World {
    rng: Rng,
    faults: Faults,
    now: u64,
    authority: Authority,
    nodes: Vec<Node>,
    policy: Policy,
    /// In flight: (delivery time, sequence) → message.
    network: BTreeMap<(u64, u64), Message>,
    sent: u64,
    loss: u64,
    duplication: u64,
    max_delay: u64,
    checker: Checker,
    records: usize,
    persons: Vec<Person>,
    cards: Vec<Credential>,
    next_id: u64,
    matches: u64,
    lapsed_refusals: u64,
    /// `GATELAB_DST_TRACE=1`: print every audit record as it is checked (to read a replay).
    trace: bool,
}

fn face(person: PersonId) -> Vec<f32> {
    let mut rng = Rng(u64::from(person.0).wrapping_mul(0x2545_f491_4f6c_dd1d));
    (0..DIM).map(|_| (rng.below(2001) as f32 - 1000.0) / 1000.0).collect()
}

fn terminal_ids() -> Vec<(TerminalId, bool)> {
    let mut ids = Vec::new();
    for gate in 0..2u16 {
        for t in (Gate { id: GateId(gate) }).terminals() {
            ids.push((t, true));
        }
    }
    // A card-only lane: it must never be sent an embedding.
    ids.push((Gate { id: GateId(2) }.inbound(), false));
    ids
}

impl World {
    fn new(seed: u64, faults: Faults) -> World {
        let mut rng = Rng(seed);
        let policy = Policy::compliant();
        let authority = Authority::new(COMPOUND, policy.clone(), &MASTER, terminal_ids()).unwrap();
        let nodes = terminal_ids()
            .into_iter()
            .map(|(id, camera)| Node {
                id,
                camera,
                live: None,
                identity: Chip::blank(IDENTITY),
                biometric: Chip::blank(BIOMETRIC),
                restart_at: Some(0),
                offset: 0,
                cut_off_until: 0,
            })
            .collect();
        // Each schedule draws its own fault intensities (always drawn, so that a shrunk
        // schedule keeps the same stream).
        let loss = rng.below(300);
        let duplication = rng.below(150);
        let max_delay = rng.range(1, 3_000);
        World {
            faults,
            loss: if faults.has(Faults::LOSS) { loss } else { 0 },
            duplication: if faults.has(Faults::DUPLICATION) { duplication } else { 0 },
            max_delay: if faults.has(Faults::DELAY) { max_delay } else { 1 },
            rng,
            now: 0,
            authority,
            nodes,
            policy,
            network: BTreeMap::new(),
            sent: 0,
            checker: Checker::new(&Policy::compliant()),
            records: 0,
            persons: Vec::new(),
            cards: Vec::new(),
            next_id: 1,
            matches: 0,
            lapsed_refusals: 0,
            trace: false,
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn observe(&mut self, record: &AuditRecord) -> Result<(), String> {
        if self.trace {
            println!("{:>6} {}", self.records, serde_json::to_string(record).unwrap_or_default());
        }
        let before = self.checker.violations().len();
        self.checker.observe(self.records, record);
        self.records += 1;
        match record.event {
            AuditEvent::MatchAttempt { outcome: audit::MatchOutcome::Matched(_) } => self.matches += 1,
            AuditEvent::AccessDecision { reason: audit::DecisionReason::LeaseLapsed, .. } => self.lapsed_refusals += 1,
            _ => {}
        }
        match self.checker.violations().get(before) {
            Some(v) => Err(format!("consent checker: {v}")),
            None => Ok(()),
        }
    }

    // ---- the network -----------------------------------------------------------------------

    fn cut_off(&self, node: usize) -> bool {
        self.nodes[node].cut_off_until > self.now
    }

    fn transmit(&mut self, message: Message, node: usize) {
        if self.cut_off(node) || self.rng.chance(self.loss) {
            return;
        }
        let copies = if self.rng.chance(self.duplication) { 2 } else { 1 };
        for _ in 0..copies {
            let at = self.now + self.rng.range(1, self.max_delay);
            self.sent += 1;
            let message = match &message {
                Message::Down { to, frame } => Message::Down { to: *to, frame: frame.clone() },
                Message::Up { from, up } => Message::Up { from: *from, up: *up },
            };
            self.network.insert((at, self.sent), message);
        }
    }

    fn authority_did(&mut self, actions: Vec<AuthorityAction>) -> Result<(), String> {
        for action in actions {
            match action {
                AuthorityAction::Audit(record) => self.observe(&record)?,
                AuthorityAction::Send { to, frame } => {
                    let node = self.nodes.iter().position(|n| n.id == to).expect("authority sends to its terminals");
                    self.transmit(Message::Down { to: node, frame }, node);
                }
            }
        }
        Ok(())
    }

    // ---- terminals ---------------------------------------------------------------------------

    fn terminal_now(&self, node: usize) -> Timestamp {
        Timestamp(self.now + self.nodes[node].offset)
    }

    /// Feed one event to a live terminal; a power cut takes it down.
    fn feed(&mut self, node: usize, event: Event) -> Result<(), String> {
        let now = self.terminal_now(node);
        let Some(device) = self.nodes[node].live.as_mut() else { return Ok(()) };
        match device.handle(now, event) {
            Ok(actions) => {
                let actions = actions.to_vec();
                let durable = device.durable_sync_version();
                self.terminal_did(node, actions, durable)
            }
            Err(_) => {
                self.power_off(node);
                Ok(())
            }
        }
    }

    fn terminal_did(&mut self, node: usize, actions: Vec<Action>, durable: u64) -> Result<(), String> {
        for action in actions {
            match action {
                Action::Audit(record) => self.observe(&record)?,
                Action::ToAuthority(up) => {
                    if up.have > durable {
                        return Err(format!(
                            "{} acknowledged version {} with only {durable} on its flash",
                            self.nodes[node].id, up.have
                        ));
                    }
                    self.transmit(Message::Up { from: node, up }, node);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn power_off(&mut self, node: usize) {
        self.nodes[node].live = None;
        let down_for = self.rng.range(1_000, 120_000);
        self.nodes[node].restart_at = Some(self.now + down_for);
    }

    fn power_on(&mut self, node: usize) -> Result<(), String> {
        self.nodes[node].restart_at = None;
        // Now and then it comes back from repair with blank flash: it has nothing, and asks
        // the authority for everything again (from version 0).
        let repaired = self.rng.chance(40);
        if repaired && self.faults.has(Faults::CRASH) {
            self.nodes[node].identity = Chip::blank(IDENTITY);
            self.nodes[node].biometric = Chip::blank(BIOMETRIC);
        }
        // Some lives end in a power cut at a random flash write point.
        let cut = self.rng.below(400);
        let crashes = self.faults.has(Faults::CRASH) && self.rng.chance(300);
        let outage = if crashes { Outage::at(cut, cut as u32 ^ 0x9e37) } else { Outage::never() };
        let n = &self.nodes[node];
        let mut config = TerminalConfig::new(n.id, COMPOUND, DIM);
        config.camera = n.camera;
        let key = StorageKey::new([node as u8 + 1; 32]);
        let opened = PersistentTerminal::open(
            config,
            self.policy.clone(),
            PowerCut::new(n.identity.clone(), &outage),
            PowerCut::new(n.biometric.clone(), &outage),
            &key,
        );
        let now = self.terminal_now(node);
        match opened {
            Ok((mut device, actions, _)) => {
                let link = LinkKey::derive(&MASTER, COMPOUND, n.id);
                let attached = device.attach_authority(now, link).map(<[Action]>::to_vec);
                let durable = device.durable_sync_version();
                self.nodes[node].live = Some(device);
                self.terminal_did(node, actions, durable)?;
                match attached {
                    Ok(more) => self.terminal_did(node, more, durable),
                    Err(_) => {
                        self.power_off(node);
                        Ok(())
                    }
                }
            }
            Err(e) if outage.power_lost() => {
                let _ = e;
                self.power_off(node);
                Ok(())
            }
            Err(e) => Err(format!("{} could not start from its flash: {e}", self.nodes[node].id)),
        }
    }

    // ---- time --------------------------------------------------------------------------------

    /// Run every delivery, timer and restart due up to `until`, in time order.
    fn run_until(&mut self, until: u64) -> Result<(), String> {
        for _ in 0..1_000_000 {
            let mut next = u64::MAX;
            if let Some((&(at, _), _)) = self.network.first_key_value() {
                next = next.min(at);
            }
            if let Some(t) = self.authority.poll_timeout() {
                next = next.min(t.0);
            }
            for (i, n) in self.nodes.iter().enumerate() {
                if let Some(t) = n.restart_at {
                    next = next.min(t);
                }
                if let Some(t) = n.live.as_ref().and_then(|d| d.terminal().poll_timeout()) {
                    next = next.min(t.0.saturating_sub(self.nodes[i].offset));
                }
            }
            if next > until {
                self.now = until;
                return Ok(());
            }
            self.now = self.now.max(next);
            self.step_due()?;
        }
        Err(String::from("the world did not settle (a timer that never moves on)"))
    }

    fn step_due(&mut self) -> Result<(), String> {
        let now = self.now;
        if let Some(entry) = self.network.first_entry()
            && entry.key().0 <= now
        {
            match entry.remove() {
                Message::Down { to, frame } => {
                    if !self.cut_off(to) {
                        self.feed(to, Event::FromAuthority(frame))?;
                    }
                }
                Message::Up { from, up } => {
                    if !self.cut_off(from) {
                        let actions: Vec<_> = self.authority.handle_uplink(Timestamp(now), &up).collect();
                        self.authority_did(actions)?;
                    }
                }
            }
            return Ok(());
        }
        if self.authority.poll_timeout().is_some_and(|t| t.0 <= now) {
            let actions: Vec<_> = self.authority.tick(Timestamp(now)).collect();
            return self.authority_did(actions);
        }
        for node in 0..self.nodes.len() {
            if self.nodes[node].restart_at.is_some_and(|t| t <= now) {
                return self.power_on(node);
            }
            let offset = self.nodes[node].offset;
            let due = self.nodes[node]
                .live
                .as_ref()
                .and_then(|d| d.terminal().poll_timeout())
                .is_some_and(|t| t.0.saturating_sub(offset) <= now);
            if due {
                return self.feed(node, Event::Tick);
            }
        }
        Ok(())
    }

    // ---- the workload --------------------------------------------------------------------------

    fn submit(&mut self, command: AdminCommand) -> Result<(), String> {
        let (actions, _) = self.authority.submit(Timestamp(self.now), command);
        let actions: Vec<_> = actions.collect();
        self.authority_did(actions)
    }

    fn any_person(&mut self) -> Option<Person> {
        if self.persons.is_empty() {
            return None;
        }
        let i = self.rng.below(self.persons.len() as u64) as usize;
        Some(self.persons[i])
    }

    fn operation(&mut self) -> Result<(), String> {
        let gap = if self.rng.chance(60) { self.rng.range(20_000, 120_000) } else { self.rng.below(4_000) };
        let to = self.now + gap;
        self.run_until(to)?;
        let roll = self.rng.below(100);
        match roll {
            0..=9 => {
                let id = PersonId(self.fresh_id() as u32);
                let renter = self.rng.chance(300);
                let kind = if renter { PersonKind::Renter } else { PersonKind::Owner };
                let person = Person { id, kind, household: None, age_years: 35 };
                self.persons.push(person);
                self.submit(AdminCommand::RegisterPerson(person))?;
                let expires_at = renter.then(|| Timestamp(self.now + self.rng.range(60_000, 1_200_000)));
                let card = Credential {
                    id: CredentialId(self.fresh_id()),
                    holder: id,
                    kind: CredentialKind::IcCard,
                    expires_at,
                };
                self.cards.push(card);
                self.submit(AdminCommand::IssueCredential(card))
            }
            10..=21 => {
                let Some(p) = self.any_person() else { return Ok(()) };
                let consent = ConsentRecord::face_access(
                    ConsentId(self.fresh_id()),
                    p.id,
                    COMPOUND,
                    Grantor::Subject,
                    Timestamp(self.now),
                    self.rng.range(300_000, 86_400_000),
                );
                self.submit(AdminCommand::RecordConsent(consent))
            }
            22..=33 => {
                let Some(p) = self.any_person() else { return Ok(()) };
                self.submit(AdminCommand::Enroll { person: p.id, embedding: face(p.id) })
            }
            34..=41 => {
                let Some(p) = self.any_person() else { return Ok(()) };
                self.submit(AdminCommand::WithdrawConsent(p.id))
            }
            42..=43 => {
                let Some(p) = self.any_person() else { return Ok(()) };
                self.submit(AdminCommand::PersonLeft(p.id))
            }
            44..=46 => {
                if self.cards.is_empty() {
                    return Ok(());
                }
                let card = self.cards[self.rng.below(self.cards.len() as u64) as usize];
                if self.rng.chance(500) {
                    let spare = Credential { id: CredentialId(self.fresh_id()), expires_at: None, ..card };
                    self.cards.push(spare);
                    self.submit(AdminCommand::IssueCredential(spare))
                } else {
                    self.submit(AdminCommand::RevokeCredential(card.id))
                }
            }
            47..=79 => {
                let Some(p) = self.any_person() else { return Ok(()) };
                let cameras: Vec<usize> = (0..self.nodes.len()).filter(|&i| self.nodes[i].camera).collect();
                let node = cameras[self.rng.below(cameras.len() as u64) as usize];
                self.feed(node, Event::FaceProbe { embedding: face(p.id) })
            }
            80..=87 => {
                if self.cards.is_empty() {
                    return Ok(());
                }
                let card = self.cards[self.rng.below(self.cards.len() as u64) as usize];
                let node = self.rng.below(self.nodes.len() as u64) as usize;
                let event = Event::CredentialPresented { kind: card.kind, credential: card.id, frame_captured: true };
                self.feed(node, event)
            }
            88..=92 => {
                let length = self.rng.range(2_000, 300_000);
                let mask = self.rng.range(1, (1 << self.nodes.len()) - 1);
                if self.faults.has(Faults::PARTITION) {
                    for (i, n) in self.nodes.iter_mut().enumerate() {
                        if mask & (1 << i) != 0 {
                            n.cut_off_until = n.cut_off_until.max(self.now + length);
                        }
                    }
                }
                Ok(())
            }
            93..=95 => {
                let node = self.rng.below(self.nodes.len() as u64) as usize;
                if self.faults.has(Faults::CRASH) && self.nodes[node].live.is_some() {
                    self.power_off(node);
                }
                Ok(())
            }
            _ => {
                let node = self.rng.below(self.nodes.len() as u64) as usize;
                // Forward up to 10 s, or back to the authority's time (which the terminal
                // refuses to follow: it keeps its own later time and audits the step).
                let offset = if self.rng.chance(500) { self.rng.below(10_000) } else { 0 };
                if self.faults.has(Faults::CLOCK) {
                    self.nodes[node].offset = offset;
                }
                Ok(())
            }
        }
    }

    /// Faults stop: every terminal up and reachable, clocks agreeing. Within a few leases
    /// every terminal must hold the authority's head and nothing it must not hold.
    fn heal_and_settle(&mut self) -> Result<(), String> {
        self.loss = 0;
        self.duplication = 0;
        self.faults = Faults(0);
        for node in 0..self.nodes.len() {
            self.nodes[node].cut_off_until = 0;
            self.nodes[node].offset = 0;
            // A clean restart: a life begun under faults may still hold a power cut.
            self.nodes[node].live = None;
            self.nodes[node].restart_at = Some(self.now + 1);
        }
        let until = self.now + 4 * self.policy.lease_ms + 130_000;
        self.run_until(until)?;
        // Every clock at the same time, so the comparison below is of state, not of time.
        let actions: Vec<_> = self.authority.tick(Timestamp(until)).collect();
        self.authority_did(actions)?;
        for node in 0..self.nodes.len() {
            self.feed(node, Event::Tick)?;
        }
        let head = self.authority.head();
        let registry = self.authority.registry();
        for n in &self.nodes {
            let Some(device) = &n.live else {
                return Err(format!("{} is still down after the faults stopped", n.id));
            };
            let t = device.terminal();
            if t.sync_version() != Some(head) {
                return Err(format!("{} has version {:?}, the authority {head}", n.id, t.sync_version()));
            }
            if !t.lease_live() {
                return Err(format!("{}'s lease is still lapsed after the faults stopped", n.id));
            }
            for p in &self.persons {
                let consented = registry.ledger().active(p.id, t.now()).is_some();
                if t.store().contains(p.id) && !consented {
                    return Err(format!("{} still holds a template of {} who has no live consent", n.id, p.id));
                }
                // The replica is the authority's registry: persons, consents, cards.
                let same_consent = t.ledger().active(p.id, t.now()).map(|c| c.record.id)
                    == registry.ledger().active(p.id, t.now()).map(|c| c.record.id);
                let same_person = t.person(p.id) == registry.person(p.id);
                let cards = |x: &Terminal| x.valid_non_face_credentials(p.id).map(|c| c.id).collect::<Vec<_>>();
                if !same_consent || !same_person || cards(t) != cards(registry) {
                    return Err(format!(
                        "{} disagrees with the authority about {} after the faults stopped: consent {:?} vs {:?}, registered {} vs {}, cards {:?} vs {:?} (at {} vs {})",
                        n.id,
                        p.id,
                        t.ledger().active(p.id, t.now()).map(|c| c.record.id),
                        registry.ledger().active(p.id, t.now()).map(|c| c.record.id),
                        t.person(p.id).is_some(),
                        registry.person(p.id).is_some(),
                        cards(t),
                        cards(registry),
                        t.now(),
                        registry.now()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What one schedule did, for the summary line.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub records: usize,
    pub matches: u64,
    pub lapsed_refusals: u64,
}

pub fn run_schedule(seed: u64, ops: usize, faults: Faults, trace: bool) -> Result<Tally, Failure> {
    let mut world = World::new(seed, faults);
    world.trace = trace;
    for op in 0..ops {
        world.operation().map_err(|what| Failure { op, what })?;
    }
    world.heal_and_settle().map_err(|what| Failure { op: ops, what })?;
    Ok(Tally { records: world.records, matches: world.matches, lapsed_refusals: world.lapsed_refusals })
}

/// The shortest prefix and the fewest fault kinds with which `seed` still fails.
fn shrink(seed: u64, failure: &Failure, mut faults: Faults) -> (usize, Faults, String) {
    let mut ops = failure.op + 1;
    let mut what = failure.what.clone();
    for (bit, _) in Faults::NAMES {
        if !faults.has(bit) {
            continue;
        }
        let fewer = Faults(faults.0 & !bit);
        if let Err(f) = run_schedule(seed, ops, fewer, false) {
            faults = fewer;
            ops = ops.min(f.op + 1);
            what = f.what;
        }
    }
    // Shorter prefixes, while they still fail.
    while ops > 1 {
        match run_schedule(seed, ops - 1, faults, false) {
            Err(f) => {
                ops = (ops - 1).min(f.op + 1);
                what = f.what;
            }
            Ok(_) => break,
        }
    }
    (ops, faults, what)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Seeds that once failed, run before the others. 205958, 325358 (found in a 240,000-schedule
/// run): a consent recorded and expired within one catch-up call was never written, so after
/// a restart the consent it had replaced came back from flash.
const REGRESSIONS: [u64; 2] = [205_958, 325_358];

#[test]
fn consent_holds_under_every_schedule() {
    let ops = env_u64("GATELAB_DST_OPS", 200) as usize;
    let faults = std::env::var("GATELAB_DST_FAULTS").map_or(Faults::ALL, |f| Faults::parse(&f));
    let seeds: Vec<u64> = match std::env::var("GATELAB_DST_SEED") {
        Ok(seed) => vec![seed.parse().expect("GATELAB_DST_SEED is a number")],
        Err(_) => {
            let first = env_u64("GATELAB_DST_FIRST_SEED", 1);
            REGRESSIONS.iter().copied().chain(first..first + env_u64("GATELAB_DST_SCHEDULES", 10_000)).collect()
        }
    };
    let trace = std::env::var_os("GATELAB_DST_TRACE").is_some();
    let mut total = Tally::default();
    for &seed in &seeds {
        match run_schedule(seed, ops, faults, trace) {
            Ok(t) => {
                total.records += t.records;
                total.matches += t.matches;
                total.lapsed_refusals += t.lapsed_refusals;
            }
            Err(failure) => {
                let (ops, faults, what) = shrink(seed, &failure, faults);
                panic!(
                    "schedule {seed} failed: {what}\nreplay: GATELAB_DST_SEED={seed} GATELAB_DST_OPS={ops} GATELAB_DST_FAULTS={} cargo test -p gatelab-core --release --test dst",
                    faults.describe()
                );
            }
        }
    }
    println!(
        "{} schedules × {ops} operations (faults: {}): {} audit records checked, {} face matches, {} faces refused under a lapsed lease",
        seeds.len(),
        faults.describe(),
        total.records,
        total.matches,
        total.lapsed_refusals
    );
    // The workload must reach what it is there to test: matches, and lapsed leases refusing faces.
    if seeds.len() >= 100 {
        assert!(total.matches > 0 && total.lapsed_refusals > 0, "the workload never exercised the lease");
    }
}
