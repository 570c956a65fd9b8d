//! The target side of the wire protocol: frames in, a `gatelab-core` terminal in the middle,
//! frames out. No hardware here — the board supplies bytes, a tick counter and the heap's
//! free space — so the very same service runs on every board and over every link.

use alloc::vec::Vec;

use gatelab_core::audit::AuditEvent;
use gatelab_core::wire::{
    self, BenchKind, BenchReport, BenchRequest, Done, Frame, FrameReader, HostMsg, LinkError, LinkStatus, TargetInfo,
    TargetMsg,
};
use gatelab_core::{
    Action, AdminCommand, CompoundId, Event, Gate, GateId, PersonId, Policy, Precision, Probe, TemplateStore, Terminal,
    TerminalConfig, Timestamp,
};

use gatelab_core::flash::MemFlash;
use gatelab_core::journal::StorageKey;
use gatelab_core::persist::PersistentTerminal;
use gatelab_core::sync::LinkKey;

use crate::fixtures::{self, Vectors};

/// A free-running tick counter (cycles, or instructions under QEMU's icount).
pub trait Clock {
    fn ticks(&mut self) -> u64;
    /// What the ticks count.
    fn source(&self) -> wire::TickSource;
}

type Region = &'static mut [u8];
type Stored = PersistentTerminal<MemFlash<Region>, MemFlash<Region>>;

/// The terminal the host configured: in RAM only, or with its state in the board's storage.
// One per service, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Active {
    Plain(Terminal),
    Persistent(Stored),
}

impl Active {
    fn terminal(&self) -> &Terminal {
        match self {
            Active::Plain(t) => t,
            Active::Persistent(p) => p.terminal(),
        }
    }
}

pub struct Service {
    info: TargetInfo,
    terminal: Option<Active>,
    /// The storage regions while no persistent terminal holds them.
    storage: Option<(Region, Region)>,
    reader: FrameReader,
    scratch: Vec<u8>,
    out: Vec<u8>,
    actions: Vec<Action>,
    status: LinkStatus,
    heap_free: fn() -> usize,
}

impl Service {
    pub fn new(info: TargetInfo, heap_free: fn() -> usize, storage: Option<(Region, Region)>) -> Service {
        Service {
            info,
            terminal: None,
            storage,
            reader: FrameReader::new(),
            scratch: Vec::with_capacity(wire::MAX_FRAME),
            out: Vec::with_capacity(256),
            actions: Vec::with_capacity(16),
            status: LinkStatus::default(),
            heap_free,
        }
    }

    /// The unasked `Hello` a target sends at boot: the host learns of every reset this way.
    pub fn hello(&mut self, send: &mut impl FnMut(&[u8])) {
        self.reply(&TargetMsg::Hello(self.info), send);
    }

    /// Feed received bytes; replies go out through `send` as whole frames.
    pub fn on_bytes(&mut self, bytes: &[u8], clock: &mut impl Clock, send: &mut impl FnMut(&[u8])) {
        for &b in bytes {
            let decoded = match self.reader.push(b) {
                None => continue,
                Some(Frame::Oversize) => Err(LinkError::Oversize),
                Some(Frame::Complete(frame)) => {
                    let msg = wire::decode::<HostMsg>(frame, &mut self.scratch);
                    self.reader.consumed();
                    msg
                }
            };
            match decoded {
                Ok(msg) => {
                    self.status.frames = self.status.frames.saturating_add(1);
                    self.handle(msg, clock, send);
                }
                Err(error) => self.refuse(error, send),
            }
        }
    }

    fn refuse(&mut self, error: LinkError, send: &mut impl FnMut(&[u8])) {
        self.status.count(error);
        // A frame lost on the link is an input the terminal never saw: audit it, so the log
        // shows the gap (the host's mirror audits the same when it gets the refusal).
        let lost_input = matches!(
            error,
            LinkError::Corrupt | LinkError::Version { .. } | LinkError::Oversize | LinkError::Malformed
        );
        if lost_input && let Some(active) = self.terminal.as_mut() {
            let now = active.terminal().now();
            match active {
                Active::Plain(t) => self.actions.extend(t.record_dropped_inputs(now, 1)),
                Active::Persistent(p) => {
                    if let Ok(actions) = p.record_dropped_inputs(now, 1) {
                        self.actions.extend(actions.iter().cloned());
                    }
                }
            }
            self.send_actions(send);
        }
        self.reply(&TargetMsg::Error { error, status: self.status }, send);
    }

    fn reply(&mut self, msg: &TargetMsg, send: &mut impl FnMut(&[u8])) {
        self.out.clear();
        // Target messages are small and bounded; a failure here would be a protocol bug, and
        // the host notices the missing reply by its timeout.
        if wire::encode_target(msg, &mut self.out).is_ok() {
            send(&self.out);
        }
    }

    fn handle(&mut self, msg: HostMsg, clock: &mut impl Clock, send: &mut impl FnMut(&[u8])) {
        match msg {
            HostMsg::Hello => self.hello(send),
            HostMsg::Status => self.reply(&TargetMsg::Status(self.status), send),
            HostMsg::Configure { config, policy } => {
                // Drop the old terminal first: a new one must fit in the heap on its own.
                self.release_terminal();
                match Terminal::new(config, policy) {
                    Ok(t) => {
                        self.terminal = Some(Active::Plain(t));
                        self.done(0, 0, send);
                    }
                    Err(_) => self.refuse(LinkError::BadConfig, send),
                }
            }
            HostMsg::ConfigurePersistent { config, policy, key } => {
                self.release_terminal();
                let Some((identity, biometric)) = self.storage.take() else {
                    return self.refuse(LinkError::BadConfig, send);
                };
                let flashes = MemFlash::over(wire::STORAGE_IDENTITY, identity)
                    .and_then(|i| MemFlash::over(wire::STORAGE_BIOMETRIC, biometric).map(|b| (i, b)));
                let Ok((identity, biometric)) = flashes else {
                    return self.refuse(LinkError::BadConfig, send);
                };
                let key = StorageKey::new(key.0);
                match PersistentTerminal::open(config, policy, identity, biometric, &key) {
                    Ok((p, restart, _)) => {
                        self.terminal = Some(Active::Persistent(p));
                        let n = restart.len() as u32;
                        for a in restart {
                            self.reply(&TargetMsg::Action(a), send);
                        }
                        self.done(n, 0, send);
                    }
                    // The regions went with the failed open; a reset gives them back.
                    Err(_) => self.refuse(LinkError::Storage, send),
                }
            }
            HostMsg::Event { now, event } => {
                let Some(active) = self.terminal.as_mut() else {
                    return self.refuse(LinkError::NotConfigured, send);
                };
                if let Event::Admin(AdminCommand::Enroll { embedding, .. }) = &event {
                    // Room for the template, its copy while normalising, and the gallery growing.
                    if embedding.len() * 8 + 1024 > (self.heap_free)() {
                        return self.refuse(LinkError::BadConfig, send);
                    }
                }
                let t0 = clock.ticks();
                let stored = match active {
                    Active::Plain(t) => {
                        self.actions.extend(t.handle(now, event));
                        Ok(())
                    }
                    Active::Persistent(p) => p.handle(now, event).map(|a| self.actions.extend(a.iter().cloned())),
                };
                let spent = clock.ticks().wrapping_sub(t0);
                if stored.is_err() {
                    self.actions.clear();
                    return self.refuse(LinkError::Storage, send);
                }
                let n = self.send_actions(send);
                self.done(n, spent, send);
            }
            HostMsg::AttachAuthority { now, key } => {
                let link = LinkKey::provisioned(key.0);
                let attached = match self.terminal.as_mut() {
                    None => return self.refuse(LinkError::NotConfigured, send),
                    Some(Active::Plain(t)) => {
                        self.actions.extend(t.attach_authority(now, link, 0, 0));
                        Ok(())
                    }
                    Some(Active::Persistent(p)) => {
                        p.attach_authority(now, link).map(|a| self.actions.extend(a.iter().cloned()))
                    }
                };
                if attached.is_err() {
                    self.actions.clear();
                    return self.refuse(LinkError::Storage, send);
                }
                let n = self.send_actions(send);
                self.done(n, 0, send);
            }
            HostMsg::Bench(request) => match bench(request, clock, self.heap_free) {
                Ok(report) => self.reply(&TargetMsg::Bench(report), send),
                Err(e) => self.refuse(e, send),
            },
        }
    }

    /// Send the collected actions, one frame each; returns how many.
    fn send_actions(&mut self, send: &mut impl FnMut(&[u8])) -> u32 {
        let n = self.actions.len() as u32;
        // Moved out and back so `reply` can borrow the service; the buffer keeps its room.
        let mut actions = core::mem::take(&mut self.actions);
        for a in actions.drain(..) {
            self.reply(&TargetMsg::Action(a), send);
        }
        self.actions = actions;
        n
    }

    /// Drop the terminal; a persistent one gives its storage regions back.
    fn release_terminal(&mut self) {
        if let Some(Active::Persistent(p)) = self.terminal.take() {
            let (identity, biometric) = p.into_flash();
            self.storage = Some((identity.into_inner(), biometric.into_inner()));
        }
    }

    fn done(&mut self, actions: u32, ticks: u64, send: &mut impl FnMut(&[u8])) {
        let (poll_timeout, audit_records) = match &self.terminal {
            Some(a) => (a.terminal().poll_timeout(), a.terminal().stats().audit_records),
            None => (None, 0),
        };
        let heap_free = (self.heap_free)() as u32;
        self.reply(&TargetMsg::Done(Done { actions, ticks, poll_timeout, audit_records, heap_free }), send);
    }
}

/// The default threshold of a terminal (`TerminalConfig::new`).
const MATCH_THRESHOLD: f32 = 0.40;

fn bench(req: BenchRequest, clock: &mut impl Clock, heap_free: fn() -> usize) -> Result<BenchReport, LinkError> {
    let dim = usize::from(req.dim);
    let n = req.gallery as usize;
    let repeats = req.repeats.max(1);
    let mut vectors = Vectors(req.seed | 1);
    let mut report =
        BenchReport { request: req, ticks: clock.source(), min_ticks: u64::MAX, total_ticks: 0, work: 0, best: None };
    let measure = |report: &mut BenchReport, ticks: u64| {
        report.min_ticks = report.min_ticks.min(ticks);
        report.total_ticks = report.total_ticks.saturating_add(ticks);
    };
    match req.kind {
        BenchKind::Calibrate => {
            // Two straight runs of adds; their difference is exactly 4,000 instructions, free
            // of the cost of reading the clock.
            for _ in 0..repeats {
                let t0 = clock.ticks();
                crate::calibrate::adds_1000();
                let t1 = clock.ticks();
                crate::calibrate::adds_5000();
                let t2 = clock.ticks();
                measure(&mut report, (t2 - t1).saturating_sub(t1 - t0));
            }
            report.work = 4_000;
        }
        BenchKind::Search => {
            // Gallery bytes, scales, ids and deadlines, plus slack.
            if n * (dim + 16) + dim * 16 + 4096 > heap_free() {
                return Err(LinkError::BadConfig);
            }
            let mut store = TemplateStore::new(dim, Precision::Int8).map_err(|_| LinkError::BadConfig)?;
            store.reserve(n);
            let mut v = Vec::with_capacity(dim);
            let mut target = Vec::new();
            for i in 0..n {
                vectors.fill(dim, &mut v);
                if i == n / 2 {
                    target.clone_from(&v);
                }
                store.insert(PersonId(i as u32), &v, Timestamp::NEVER).map_err(|_| LinkError::BadConfig)?;
            }
            // The probe: the middle template, slightly disturbed.
            for x in &mut target {
                *x += 0.05 * vectors.unit();
            }
            let probe = Probe::new(&target, dim).map_err(|_| LinkError::BadConfig)?;
            let mut top = Vec::with_capacity(1);
            for _ in 0..repeats {
                let t0 = clock.ticks();
                // Top-1 at the terminals' default threshold, as a gate searches.
                let _ = store.search_into(core::hint::black_box(&probe), 1, MATCH_THRESHOLD, &mut top);
                let t1 = clock.ticks();
                measure(&mut report, t1 - t0);
            }
            report.best = top.first().map(|c| c.person);
            report.work = (n * dim) as u64;
        }
        BenchKind::GateDecision => {
            // Templates, persons, credentials and consent records, plus slack.
            if n * (dim + 256) + dim * 16 + 8192 > heap_free() {
                return Err(LinkError::BadConfig);
            }
            let config = TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), dim);
            let mut terminal = Terminal::new(config, Policy::compliant()).map_err(|_| LinkError::BadConfig)?;
            let mut v = Vec::with_capacity(dim);
            let mut target = Vec::new();
            let now = Timestamp(1_000);
            for i in 0..n as u32 {
                let person = PersonId(i);
                vectors.fill(dim, &mut v);
                if i as usize == n / 2 {
                    target.clone_from(&v);
                }
                let commands = fixtures::enrolled_owner(person, u64::from(i), now, 365 * 24 * 3_600_000, v.clone());
                for c in commands {
                    terminal.handle(now, Event::Admin(c)).for_each(drop);
                }
            }
            for x in &mut target {
                *x += 0.05 * vectors.unit();
            }
            let mut at = now;
            for _ in 0..repeats {
                at = at.plus_ms(60_000); // past the door timer: every decision starts alike
                terminal.handle(at, Event::Tick).for_each(drop);
                let event = Event::FaceProbe { embedding: target.clone() };
                let t0 = clock.ticks();
                let mut best = None;
                for a in terminal.handle(at, core::hint::black_box(event)) {
                    if let Action::Audit(r) = &a
                        && let AuditEvent::MatchAttempt { outcome: gatelab_core::audit::MatchOutcome::Matched(p) } =
                            r.event
                    {
                        best = Some(p);
                    }
                }
                let t1 = clock.ticks();
                measure(&mut report, t1 - t0);
                report.best = best;
            }
            report.work = (n * dim) as u64;
        }
    }
    Ok(report)
}
