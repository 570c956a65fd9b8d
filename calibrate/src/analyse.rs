//! From events to a calibration, in one pass over the logs and one small pass over the arrivals.
//!
//! **Arrivals and retries.** Attempts by the same person id are one arrival when each follows
//! the person's previous attempt within the retry window (default 20 s: a retry at a terminal
//! follows the refusal within one service time, a few seconds, while a new trip through the
//! same gate takes minutes — out and back); and a person refused at a gate who gets through the
//! same gate and direction within 10 minutes (the guard's door after waiting) is still that
//! arrival. Without person ids every granted attempt is an arrival and a refused one is taken
//! as retried.
//!
//! **Saturation.** A lane is saturated while people queue at it, so that each passage follows
//! the previous one with no idle time and the headway *is* a service time:
//! - with a queue signal (a `wait_s` in the log, as `passages.csv` has), an attempt by someone
//!   who waited (`wait_s` > 0.05 s), or a retry by the person at the terminal, follows the
//!   previous attempt of its lane back to back;
//! - without one, a run of at least `min_run` (5) consecutive headways of one lane, each no
//!   longer than `saturation_headway_s` (8 s: above any plausible face or card transaction,
//!   1–4 s, yet rarely reached by chance at an idle lane — five such gaps in a row at a lane
//!   seeing one person a minute happen with probability 1e-7) is a saturated run; its first
//!   headway is left out (the lane may have idled before the queue formed).
//!
//! **Service times** are those headways, by the credential of the later attempt (face → `face`,
//! IC card and PIN → `card`, ID card → `id_card`), fitted by [`crate::fit`]. With walking in the
//! scene a headway also holds stepping up and walking through: the lane's cycle, which is what
//! limits its throughput.
//!
//! **Demand under saturation.** A log records services, not arrivals: while a lane queues, the
//! served count per interval is capped at its capacity and late. With a queue signal the
//! arrival is reconstructed exactly, as the first attempt's time less its service and wait.
//! Without one, the arrivals of a saturated run (the union of its lanes' runs, per gate and
//! direction) are conserved — the queue is empty at both ends of a run, so the run served
//! exactly those who arrived in it — and redistributed as a backlog: the rate just after the
//! run carries on through it, and the excess (what was served above that rate) arrived in the
//! run's first half (the midpoint between an instant spike and arrivals at capacity all along).
//! Such rows are flagged in the fragment.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::event::{Credential, Direction, Event, Names, ServiceKind};
use crate::fit::{Family, Fitted, fit};
use crate::read::Issues;

/// Knobs of a calibration, with their defaults (see the module documentation for why).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    pub retry_window_s: f64,
    pub resolution_min: u32,
    pub saturation_headway_s: f64,
    pub min_run: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { retry_window_s: 20.0, resolution_min: 5, saturation_headway_s: 8.0, min_run: 10 }
    }
}

/// A refused person still at the gate: a later passage at the same gate and direction within
/// this long is the same arrival.
const STUCK_JOIN_S: f64 = 600.0;
/// Waits shorter than this are no queue (one simulation step, a sensor's jitter).
const QUEUE_EPS_S: f64 = 0.05;
/// Headways shorter than this are no service (two sensors firing for one person, a follower).
const MIN_SERVICE_S: f64 = 0.2;
/// Windows in which a lane's throughput is compared with its busiest.
const WINDOW_S: f64 = 600.0;
/// The share of its busiest window's throughput at which a lane may be saturated.
const BUSY_SHARE: f64 = 0.9;
/// Samples kept per credential kind for the report's histogram (the fit uses them all).
const HISTOGRAM_KEEP: usize = 100_000;

fn key_s(day: i64, t_s: f64) -> f64 {
    day as f64 * 86_400.0 + t_s
}

#[derive(Debug)]
struct LaneState {
    gate: u32,
    direction: Direction,
    last: f64,
    last_person: Option<u64>,
    /// Index of this lane (and day) in [`Analysis::headways`]'s keys.
    key: u32,
    /// With a queue signal: the open saturated span.
    span: Option<(f64, f64, u32)>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    gate: u32,
    direction: Direction,
    first: f64,
    arrival: f64,
    reconstructed: bool,
    last: f64,
    attempts: u32,
    granted: bool,
    granted_at_lane: bool,
    tried_terminal: bool,
    tried_face: bool,
    final_credential: Credential,
    resident: bool,
}

/// One headway of a lane without a queue signal (24 bytes; one day's are kept).
#[derive(Debug, Clone, Copy)]
struct Headway {
    key: u32,
    headway: f32,
    at: f64,
    kind: Option<ServiceKind>,
}

/// A resident's arrival, as binned: times as seconds since the log's day 0.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    gate: u32,
    direction: Direction,
    first: f64,
    arrival: f64,
}

/// A saturated stretch of one gate and direction, seconds since day 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub gate: u32,
    pub direction: Direction,
    pub from: f64,
    pub to: f64,
    /// Found from the log's waits (exact arrivals) rather than from headways alone.
    pub by_waits: bool,
}

/// Arrival counts behind the shares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    pub resident_arrivals: u64,
    pub other_arrivals: u64,
    pub retried: u64,
    pub granted_at_lane_by: BTreeMap<Credential, u64>,
    /// Resident arrivals that never tried face.
    pub no_face: u64,
    /// Resident arrivals with no terminal attempt at all, through the guard's door.
    pub guard_only: u64,
    /// Resident arrivals granted at a lane with a card, PIN or ID card.
    pub card_granted: u64,
    pub with_person: u64,
    pub face_events: u64,
    pub guard_events: u64,
}

/// The streaming state: feed it events in each file's order, then [`Analysis::finish`].
#[derive(Debug)]
pub struct Analysis {
    pub options: Options,
    pub names: Names,
    lanes: HashMap<(i64, u32), LaneState>,
    pending: HashMap<u64, Pending>,
    /// The day being gathered: its arrivals, spans and headways are binned when it ends (a new
    /// day, a new file), so memory holds one day of a log, not the log.
    day: Option<i64>,
    arrivals: Vec<Arrival>,
    spans: Vec<Span>,
    /// Headways of lanes without a queue signal, for [`Analysis::runs_without_waits`].
    headways: Vec<Headway>,
    /// (gate, direction) of each lane of the day.
    lane_keys: Vec<(u32, Direction)>,
    /// Time-of-day bins per gate and direction, summed over the days.
    bins: BTreeMap<(u32, Direction), DirBins>,
    /// Saturated spans of every day, merged.
    all_spans: Vec<Span>,
    samples: [Reservoir; 3],
    days: BTreeSet<i64>,
    counts: Counts,
    pub events: u64,
    queue_signal_events: u64,
    named_lanes: bool,
    since_purge: u32,
    now: f64,
}

impl Analysis {
    pub fn new(options: Options) -> Analysis {
        Analysis {
            options,
            names: Names::default(),
            lanes: HashMap::new(),
            pending: HashMap::new(),
            day: None,
            arrivals: Vec::new(),
            spans: Vec::new(),
            headways: Vec::new(),
            lane_keys: Vec::new(),
            bins: BTreeMap::new(),
            all_spans: Vec::new(),
            samples: std::array::from_fn(|k| Reservoir::new(k as u64)),
            days: BTreeSet::new(),
            counts: Counts::default(),
            events: 0,
            queue_signal_events: 0,
            named_lanes: false,
            since_purge: 0,
            now: f64::NEG_INFINITY,
        }
    }

    /// A file ends: its day ends too (files need not follow each other in time).
    pub fn end_of_file(&mut self) {
        self.end_of_day();
        self.now = f64::NEG_INFINITY;
    }

    /// The day ends: its lanes' spans close, its arrivals are final, its saturated runs are
    /// found and everything is binned.
    fn end_of_day(&mut self) {
        let lanes: Vec<LaneState> = self.lanes.drain().map(|(_, s)| s).collect();
        for mut lane in lanes {
            self.close_lane(&mut lane);
        }
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            self.finalise(p);
        }
        self.runs_without_waits();
        self.bin_day();
        self.day = None;
    }

    pub fn event(&mut self, e: &Event) {
        // Within a file times only grow: a later day means the day before is complete.
        if self.day.is_some_and(|d| e.day > d) {
            self.end_of_day();
        }
        self.day = Some(e.day);
        self.events += 1;
        self.days.insert(e.day);
        let at = key_s(e.day, e.t_s);
        self.now = self.now.max(at);
        if e.wait_s.is_some() {
            self.queue_signal_events += 1;
        }
        if e.person.is_some() {
            self.counts.with_person += 1;
        }
        match e.credential {
            Credential::Face => self.counts.face_events += 1,
            Credential::Other if e.lane.is_none() => self.counts.guard_events += 1,
            _ => {}
        }
        if let Some(lane) = e.lane {
            self.lane_event(e, lane, at);
        }
        self.arrival_event(e, at);
        self.since_purge += 1;
        if self.since_purge >= 4096 {
            self.since_purge = 0;
            self.purge();
        }
    }

    fn lane_event(&mut self, e: &Event, lane: u32, at: f64) {
        let opts = self.options;
        // A follower or an open door is no transaction: it neither ends nor starts a service,
        // and the next person's headway runs from the last one served.
        let Some(kind) = e.credential.service_kind() else { return };
        let kind = Some(kind);
        let next_key = self.lane_keys.len() as u32;
        let state = self.lanes.entry((e.day, lane)).or_insert_with(|| LaneState {
            gate: e.gate,
            direction: e.direction,
            last: f64::NAN,
            last_person: None,
            key: next_key,
            span: None,
        });
        if state.key == next_key {
            self.lane_keys.push((e.gate, e.direction));
        }
        let headway = at - state.last;
        let same_person = e.person.is_some() && e.person == state.last_person;
        state.last = at;
        state.last_person = e.person;
        if !headway.is_finite() {
            return;
        }
        match e.wait_s {
            Some(wait) => {
                let back_to_back = wait > QUEUE_EPS_S || same_person;
                if back_to_back {
                    if let Some(k) = kind
                        && headway >= MIN_SERVICE_S
                    {
                        self.samples[k.index()].push(headway);
                    }
                    state.span = Some(match state.span {
                        Some((from, _, n)) => (from, at, n + 1),
                        None => (at - headway, at, 1),
                    });
                } else if let Some((from, to, n)) = state.span.take()
                    && n as usize >= opts.min_run
                {
                    self.spans.push(Span { gate: state.gate, direction: state.direction, from, to, by_waits: true });
                }
            }
            None => {
                // Runs are found in `finish`, once the service scale is known (two passes).
                self.headways.push(Headway { key: state.key, at, headway: headway as f32, kind });
            }
        }
    }

    /// End a lane's open saturated span (with a queue signal).
    fn close_lane(&mut self, lane: &mut LaneState) {
        if let Some((from, to, n)) = lane.span.take()
            && n as usize >= self.options.min_run
        {
            self.spans.push(Span { gate: lane.gate, direction: lane.direction, from, to, by_waits: true });
        }
    }

    /// Without a queue signal: saturated runs from the lanes' headways, in two passes. The first
    /// finds runs of `min_run` headways each ≤ `saturation_headway_s` and takes the median
    /// headway of each credential kind in them; the second keeps runs of `min_run` headways each
    /// ≤ 3 × that median (a service that long is rare, 0.06 % at a CV of 0.35), within 10-minute
    /// windows in which the lane served at least 90 % of its busiest window (a saturated lane
    /// serves at capacity; one busy at 75 % of it shows short idle gaps that pass the headway
    /// test alone).
    fn runs_without_waits(&mut self) {
        let mut hw = std::mem::take(&mut self.headways);
        if hw.is_empty() {
            return;
        }
        // Lane by lane, in time order (a stable sort keeps each lane's order).
        hw.sort_by_key(|h| h.key);
        let min_run = self.options.min_run;
        let loose = self.options.saturation_headway_s;
        // Maximal stretches of one lane whose headways are each within `limit(i)`, as [a, b).
        let runs = |limit: &dyn Fn(usize) -> f64| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            let mut start = 0;
            for i in 0..hw.len() {
                if i > 0 && hw[i].key != hw[i - 1].key {
                    if i - start >= min_run {
                        out.push((start, i));
                    }
                    start = i;
                }
                if f64::from(hw[i].headway) > limit(i) {
                    if i - start >= min_run {
                        out.push((start, i));
                    }
                    start = i + 1;
                }
            }
            if hw.len().saturating_sub(start) >= min_run {
                out.push((start, hw.len()));
            }
            out
        };
        let mut by_kind: [Vec<f32>; 3] = Default::default();
        for (a, b) in runs(&|_| loose) {
            for h in &hw[a + 1..b] {
                if let Some(k) = h.kind {
                    by_kind[k.index()].push(h.headway);
                }
            }
        }
        let limits: Vec<f64> = by_kind
            .iter_mut()
            .map(|v| {
                if v.is_empty() {
                    return loose;
                }
                let mid = v.len() / 2;
                let (_, median, _) = v.select_nth_unstable_by(mid, f32::total_cmp);
                (3.0 * f64::from(*median)).min(loose)
            })
            .collect();
        // A saturated lane serves at its capacity: only 10-minute windows in which the lane served
        // at least 90 % of its busiest window's count can hold a saturated run (a lane busy at
        // 75 % of capacity has short idle gaps too, and would pass the headway test alone).
        let window = |at: f64| (at / WINDOW_S).floor() as i64;
        let mut busy = vec![false; hw.len()];
        let mut a = 0;
        while a < hw.len() {
            let b = a + hw[a..].iter().take_while(|h| h.key == hw[a].key).count();
            let mut counts: HashMap<i64, u32> = HashMap::new();
            for h in &hw[a..b] {
                *counts.entry(window(h.at)).or_default() += 1;
            }
            let most = counts.values().copied().max().unwrap_or(0);
            for (flag, h) in busy[a..b].iter_mut().zip(&hw[a..b]) {
                *flag = counts.get(&window(h.at)).is_some_and(|&n| f64::from(n) >= BUSY_SHARE * f64::from(most));
            }
            a = b;
        }
        let limit = |i: usize| match hw[i].kind {
            _ if !busy[i] => f64::NEG_INFINITY,
            Some(k) => limits[k.index()],
            None => loose,
        };
        for (a, b) in runs(&limit) {
            for h in &hw[a + 1..b] {
                if let Some(k) = h.kind
                    && f64::from(h.headway) >= MIN_SERVICE_S
                {
                    self.samples[k.index()].push(f64::from(h.headway));
                }
            }
            let (gate, direction) = self.lane_keys[hw[a].key as usize];
            let from = hw[a].at - f64::from(hw[a].headway);
            self.spans.push(Span { gate, direction, from, to: hw[b - 1].at, by_waits: false });
        }
        self.lane_keys.clear();
    }

    /// Bin the day's arrivals by time of day, flag and reconstruct its saturated spans.
    fn bin_day(&mut self) {
        let bin_s = f64::from(self.options.resolution_min) * 60.0;
        let n = (86_400.0 / bin_s).ceil() as usize;
        let index = |t: f64| ((t.rem_euclid(86_400.0) / bin_s).floor() as usize).min(n - 1);
        let mut arrivals = std::mem::take(&mut self.arrivals);
        arrivals.sort_by(|a, b| {
            (a.gate, a.direction, a.first)
                .partial_cmp(&(b.gate, b.direction, b.first))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let mut spans = std::mem::take(&mut self.spans);
        spans.sort_by(|a, b| {
            (a.gate, a.direction, a.from)
                .partial_cmp(&(b.gate, b.direction, b.from))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let merged = merge_spans(&spans);
        let mut keys: BTreeSet<(u32, Direction)> = arrivals.iter().map(|a| (a.gate, a.direction)).collect();
        keys.extend(merged.iter().map(|s| (s.gate, s.direction)));
        for key in keys {
            let bins = self.bins.entry(key).or_insert_with(|| DirBins {
                served: vec![0.0; n],
                arrived: vec![0.0; n],
                saturated: vec![None; n],
            });
            let lo = arrivals.partition_point(|a| (a.gate, a.direction) < key);
            let hi = arrivals.partition_point(|a| (a.gate, a.direction) <= key);
            let group = &arrivals[lo..hi];
            let mut arrived = vec![0.0; n];
            for a in group {
                bins.served[index(a.first)] += 1.0;
                arrived[index(a.arrival)] += 1.0;
            }
            for s in merged.iter().filter(|s| (s.gate, s.direction) == key) {
                let (from, to) = (s.from.rem_euclid(86_400.0), s.from.rem_euclid(86_400.0) + (s.to - s.from));
                for (i, flag) in bins.saturated.iter_mut().enumerate() {
                    let (a, b) = (i as f64 * bin_s, (i + 1) as f64 * bin_s);
                    if from < b && a < to {
                        *flag = Some(match (*flag, s.by_waits) {
                            (Some(Reconstruction::Waits), _) | (_, true) => Reconstruction::Waits,
                            _ => Reconstruction::Backlog,
                        });
                    }
                }
                if !s.by_waits {
                    backlog(&mut arrived, group, s, 0, bin_s, index);
                }
            }
            for (total, day) in bins.arrived.iter_mut().zip(arrived) {
                *total += day;
            }
        }
        self.all_spans.extend(merged);
    }

    fn arrival_event(&mut self, e: &Event, at: f64) {
        let resident = e.resident.unwrap_or(true);
        let Some(person) = e.person else {
            // No id: every passage is an arrival, a refusal is taken as retried.
            if e.granted {
                let p = self.start(e, at, resident);
                self.finalise(p);
            }
            return;
        };
        let window = self.options.retry_window_s;
        if let Some(p) = self.pending.get_mut(&person) {
            let retry = at - p.last <= window;
            let stuck = !p.granted && at - p.last <= STUCK_JOIN_S && p.gate == e.gate && p.direction == e.direction;
            if retry || stuck {
                p.last = at;
                p.attempts += 1;
                p.tried_terminal |= e.lane.is_some();
                p.tried_face |= e.credential == Credential::Face;
                if e.granted && !p.granted {
                    p.granted = true;
                    p.granted_at_lane = e.lane.is_some();
                    p.final_credential = e.credential;
                }
                return;
            }
            let done = *p;
            self.pending.remove(&person);
            self.finalise(done);
        }
        let p = self.start(e, at, resident);
        self.pending.insert(person, p);
    }

    fn start(&self, e: &Event, at: f64, resident: bool) -> Pending {
        let (arrival, reconstructed) = match (e.wait_s, e.service_s) {
            (Some(w), s) => ((at - w - s.unwrap_or(0.0)).max(key_s(e.day, 0.0)), true),
            _ => (at, false),
        };
        Pending {
            gate: e.gate,
            direction: e.direction,
            first: at,
            arrival,
            reconstructed,
            last: at,
            attempts: 1,
            granted: e.granted,
            granted_at_lane: e.granted && e.lane.is_some(),
            tried_terminal: e.lane.is_some(),
            tried_face: e.credential == Credential::Face,
            final_credential: e.credential,
            resident,
        }
    }

    fn finalise(&mut self, p: Pending) {
        if !p.resident {
            self.counts.other_arrivals += 1;
            return;
        }
        let c = &mut self.counts;
        c.resident_arrivals += 1;
        if p.attempts > 1 {
            c.retried += 1;
        }
        if p.granted_at_lane {
            *c.granted_at_lane_by.entry(p.final_credential).or_default() += 1;
            if matches!(p.final_credential, Credential::IcCard | Credential::Pin | Credential::IdCard) && !p.tried_face
            {
                c.card_granted += 1;
            }
        }
        if !p.tried_face {
            c.no_face += 1;
        }
        if !p.tried_terminal {
            c.guard_only += 1;
        }
        let _ = p.reconstructed;
        self.arrivals.push(Arrival { gate: p.gate, direction: p.direction, first: p.first, arrival: p.arrival });
    }

    /// Close the arrivals nobody can join any more (bounded memory on long logs).
    fn purge(&mut self) {
        let horizon = self.now - self.options.retry_window_s.max(STUCK_JOIN_S);
        let done: Vec<u64> = self.pending.iter().filter(|(_, p)| p.last < horizon).map(|(&k, _)| k).collect();
        for k in done {
            if let Some(p) = self.pending.remove(&k) {
                self.finalise(p);
            }
        }
    }

    /// Bin, reconstruct and fit.
    pub fn finish(mut self, files: Vec<String>, issues: Issues) -> Calibration {
        self.end_of_file();
        let opts = self.options;
        let days = self.days.len().max(1);
        let bin_s = f64::from(opts.resolution_min) * 60.0;
        let persons_seen = self.counts.with_person > 0;
        self.named_lanes = self.names.lanes.iter().any(|(_, name)| name != "in" && name != "out");

        // Per gate: the bins from its first arrival to its last, over all days (time of day).
        let mut range: BTreeMap<u32, (usize, usize)> = BTreeMap::new();
        for (&(gate, _), bins) in &self.bins {
            let used = |i: &usize| bins.served[*i] != 0.0 || bins.arrived[*i].abs() > 1e-9;
            let (Some(first), Some(last)) =
                ((0..bins.served.len()).find(used), (0..bins.served.len()).rev().find(used))
            else {
                continue;
            };
            let r = range.entry(gate).or_insert((first, last));
            *r = (r.0.min(first), r.1.max(last));
        }
        let mut rows = Vec::new();
        let per_hour = 60.0 / f64::from(opts.resolution_min) / days as f64;
        for (&gate, &(lo, hi)) in &range {
            let empty = DirBins { served: Vec::new(), arrived: Vec::new(), saturated: Vec::new() };
            let out = self.bins.get(&(gate, Direction::Out)).unwrap_or(&empty);
            let inb = self.bins.get(&(gate, Direction::In)).unwrap_or(&empty);
            let at = |v: &Vec<f64>, i: usize| v.get(i).copied().unwrap_or(0.0);
            let flag = |b: &DirBins, i: usize| b.saturated.get(i).copied().flatten();
            for i in lo..=hi {
                rows.push(Row {
                    gate: self.names.gates[gate as usize].clone(),
                    start_min: (i as f64 * bin_s / 60.0).round() as u32,
                    minutes: opts.resolution_min,
                    served_out: at(&out.served, i) / days as f64,
                    served_in: at(&inb.served, i) / days as f64,
                    outbound: at(&out.arrived, i).max(0.0) * per_hour,
                    inbound: at(&inb.arrived, i).max(0.0) * per_hour,
                    saturated_out: flag(out, i),
                    saturated_in: flag(inb, i),
                });
            }
        }
        let merged = std::mem::take(&mut self.all_spans);

        let fits: Vec<ServiceFit> = ServiceKind::ALL
            .iter()
            .map(|&kind| {
                let samples = std::mem::take(&mut self.samples[kind.index()].kept);
                let fitted = fit(&samples);
                let mut kept = samples;
                if kept.len() > HISTOGRAM_KEEP {
                    let step = kept.len() / HISTOGRAM_KEEP + 1;
                    kept = kept.into_iter().step_by(step).collect();
                }
                ServiceFit { kind, fitted, histogram: kept }
            })
            .collect();
        let total = |family: Family| {
            fits.iter().filter_map(|f| f.fitted.as_ref()).map(|f| f.of(family).log_likelihood).sum::<f64>()
        };
        let any_fit = fits.iter().any(|f| f.fitted.is_some());
        let family = any_fit.then(|| {
            let (ln, ga) = (total(Family::Lognormal), total(Family::Gamma));
            (if ga > ln { Family::Gamma } else { Family::Lognormal }, ln, ga)
        });
        Calibration {
            options: opts,
            files,
            events: self.events,
            days,
            gates: self.names.gates.clone(),
            rows,
            spans: merged,
            service: fits,
            family,
            counts: self.counts,
            persons_seen,
            queue_signal: self.queue_signal_events > 0,
            named_lanes: self.named_lanes,
            issues,
        }
    }
}

/// Up to [`RESERVOIR`] samples, a uniform random subset of all pushed (Algorithm R with a fixed
/// seed): the fits and the KS statistic of a huge log use a bounded, unbiased sample.
#[derive(Debug, Default)]
struct Reservoir {
    kept: Vec<f64>,
    seen: u64,
    state: u64,
}

const RESERVOIR: usize = 2_000_000;

impl Reservoir {
    fn new(seed: u64) -> Reservoir {
        Reservoir { kept: Vec::new(), seen: 0, state: 0x853c_49e6_748f_ea9b ^ seed }
    }
    fn push(&mut self, x: f64) {
        self.seen += 1;
        if self.kept.len() < RESERVOIR {
            self.kept.push(x);
            return;
        }
        // SplitMix64: deterministic, so a calibration is reproducible.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let j = (z ^ (z >> 31)) % self.seen;
        if (j as usize) < RESERVOIR {
            self.kept[j as usize] = x;
        }
    }
}

#[derive(Debug)]
struct DirBins {
    served: Vec<f64>,
    arrived: Vec<f64>,
    saturated: Vec<Option<Reconstruction>>,
}

/// Overlapping spans of one gate and direction become one.
fn merge_spans(sorted: &[Span]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some(last) if last.gate == s.gate && last.direction == s.direction && s.from <= last.to => {
                last.to = last.to.max(s.to);
                last.by_waits &= s.by_waits;
            }
            _ => out.push(*s),
        }
    }
    out
}

/// The backlog reconstruction of one saturated span (see the module documentation): remove the
/// arrivals counted in it, put back the rate after it over the whole span and the excess over
/// its first half.
fn backlog(arrived: &mut [f64], sorted: &[Arrival], span: &Span, lo: i64, bin_s: f64, index: impl Fn(f64) -> usize) {
    let (from, to) = (span.from, span.to);
    let length = to - from;
    if length <= 0.0 {
        return;
    }
    let first = sorted.partition_point(|a| a.first < from);
    let last = sorted.partition_point(|a| a.first <= to);
    let after_end = sorted.partition_point(|a| a.first <= to + bin_s);
    let served = (last - first) as f64;
    let after = (after_end - last) as f64 / bin_s;
    let excess = served - after * length;
    if excess <= 0.0 {
        return;
    }
    let day0 = (from / 86_400.0).floor() * 86_400.0;
    // Spread `count` evenly over [a, b) (seconds since day 0) into the bins it overlaps.
    let spread = |arrived: &mut [f64], a: f64, b: f64, count: f64| {
        let (i, j) = (index(a), index(b));
        for (k, bin) in arrived.iter_mut().enumerate().take(j + 1).skip(i) {
            let (lo_s, hi_s) = (day0 + (lo + k as i64) as f64 * bin_s, day0 + (lo + k as i64 + 1) as f64 * bin_s);
            let overlap = (hi_s.min(b) - lo_s.max(a)).max(0.0);
            *bin += count * overlap / (b - a);
        }
    };
    for a in &sorted[first..last] {
        arrived[index(a.first)] -= 1.0;
    }
    spread(arrived, from, to, after * length);
    spread(arrived, from, from + length / 2.0, excess);
}

/// How a flagged row's arrivals were reconstructed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconstruction {
    /// From the log's waits: exact.
    Waits,
    /// The backlog estimate of a run found from headways.
    Backlog,
}

/// One demand row of one gate: arrivals per hour and what the log served.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub gate: String,
    pub start_min: u32,
    pub minutes: u32,
    /// Arrivals by their first attempt (what the log shows), per day.
    pub served_out: f64,
    pub served_in: f64,
    /// Arrivals per hour, reconstructed where saturated.
    pub outbound: f64,
    pub inbound: f64,
    pub saturated_out: Option<Reconstruction>,
    pub saturated_in: Option<Reconstruction>,
}

/// Service-time fits of one credential kind.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceFit {
    pub kind: ServiceKind,
    pub fitted: Option<Fitted>,
    /// The samples (thinned to at most 100,000) for the histogram.
    pub histogram: Vec<f64>,
}

/// Everything a calibration found; [`crate::fragment`] and [`crate::report`] write it.
#[derive(Clone, Debug)]
pub struct Calibration {
    pub options: Options,
    pub files: Vec<String>,
    pub events: u64,
    pub days: usize,
    pub gates: Vec<String>,
    pub rows: Vec<Row>,
    pub spans: Vec<Span>,
    pub service: Vec<ServiceFit>,
    /// The family for all kinds, by the summed log-likelihood (lognormal, gamma).
    pub family: Option<(Family, f64, f64)>,
    pub counts: Counts,
    pub persons_seen: bool,
    pub queue_signal: bool,
    pub named_lanes: bool,
    pub issues: Issues,
}

impl Calibration {
    /// Arrivals in `[from_min, to_min)` of `gate` (or all gates) and direction, per day, from
    /// the rows (reconstructed) and as served.
    pub fn arrivals_between(&self, gate: Option<&str>, direction: Direction, from_min: u32, to_min: u32) -> (f64, f64) {
        let mut fitted = 0.0;
        let mut served = 0.0;
        for r in self.rows.iter().filter(|r| gate.is_none_or(|g| g == r.gate)) {
            let (a, b) = (r.start_min, r.start_min + r.minutes);
            let overlap = f64::from(b.min(to_min).saturating_sub(a.max(from_min))) / f64::from(r.minutes);
            let hours = f64::from(r.minutes) / 60.0;
            match direction {
                Direction::Out => {
                    fitted += overlap * r.outbound * hours;
                    served += overlap * r.served_out;
                }
                Direction::In => {
                    fitted += overlap * r.inbound * hours;
                    served += overlap * r.served_in;
                }
            }
        }
        (fitted, served)
    }

    pub fn fit_of(&self, kind: ServiceKind) -> Option<&Fitted> {
        self.service.iter().find(|f| f.kind == kind).and_then(|f| f.fitted.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{Format, Issues, Sink, read_log};
    use crate::synth::{self, Spec};

    /// Calibrate a log held in memory.
    pub(crate) fn calibrate_text(text: &str, format: &Format, options: Options) -> Calibration {
        let mut analysis = Analysis::new(options);
        let mut issues = Issues::default();
        let mut names = Names::default();
        read_log(
            std::path::Path::new("log.csv"),
            text.as_bytes(),
            format,
            Sink { names: &mut names, issues: &mut issues, strict: false },
            &mut |_| {},
            &mut |e| analysis.event(&e),
        )
        .unwrap();
        analysis.names = names;
        analysis.finish(vec!["log.csv".into()], issues)
    }

    fn log(spec: &Spec, with_wait: bool) -> (String, Vec<synth::Attempt>) {
        let attempts = synth::generate(spec);
        let mut text = Vec::new();
        synth::write_gatelab(&attempts, &spec.gate, with_wait, &mut text).unwrap();
        (String::from_utf8(text).unwrap(), attempts)
    }

    /// 07:00–08:00: 60/h, a 10-minute spike at `spike` per hour from 07:20, 60/h again.
    fn peaked(spike: f64, lanes: u32, seed: u64) -> Spec {
        Spec {
            gate: "north".into(),
            lanes,
            segments: vec![(25_200.0, 26_400.0, 60.0), (26_400.0, 27_000.0, spike), (27_000.0, 28_800.0, 60.0)],
            service_mean_s: 2.5,
            service_cv: 0.35,
            face_share: 0.7,
            retry_share: 0.1,
            seed,
        }
    }

    /// True arrivals in [from, to) seconds.
    fn true_count(spec: &Spec, from: f64, to: f64) -> f64 {
        synth::arrivals(spec).iter().filter(|&&t| t >= from && t < to).count() as f64
    }

    #[test]
    fn an_unsaturated_log_gives_every_arrival_once_and_joins_retries() {
        let spec = peaked(300.0, 2, 1);
        let (text, attempts) = log(&spec, false);
        let cal = calibrate_text(&text, &Format::Gatelab, Options::default());
        let arrivals = synth::arrivals(&spec).len() as u64;
        assert_eq!(cal.counts.resident_arrivals, arrivals, "one arrival per person, retries joined");
        let retried = attempts.iter().filter(|a| !a.granted).count() as u64;
        assert_eq!(cal.counts.retried, retried);
        let (fitted, served) = cal.arrivals_between(Some("north"), Direction::Out, 7 * 60, 8 * 60);
        assert!((fitted - arrivals as f64).abs() < 1e-6 && (served - arrivals as f64).abs() < 1e-6);
        // Per 15 minutes the counts are the log's own (people are served within seconds).
        for q in 0..4 {
            let from = 7 * 60 + 15 * q;
            let (fitted, _) = cal.arrivals_between(Some("north"), Direction::Out, from, from + 15);
            let truth = true_count(&spec, f64::from(from) * 60.0, f64::from(from + 15) * 60.0);
            assert!((fitted - truth).abs() <= 2.0, "quarter {q}: {fitted} vs {truth}");
        }
        let text = crate::fragment::write(&cal);
        assert!(text.contains("gate = \"north\""), "{text}");
        assert!(!text.contains("p1,") && !text.contains("\"p1\""), "no person id in the fragment");
    }

    /// Days are binned as they end and the rows are means per day.
    #[test]
    fn a_log_of_two_days_gives_the_mean_day() {
        let (one, _) = log(&peaked(300.0, 2, 4), false);
        let (two, _) = log(&peaked(300.0, 2, 5), false);
        let second_day: String =
            two.lines().skip(1).map(|l| format!("{}\n", l.replace("2025-03-04", "2025-03-05"))).collect();
        let cal = calibrate_text(&format!("{one}{second_day}"), &Format::Gatelab, Options::default());
        assert_eq!(cal.days, 2);
        let total = (synth::arrivals(&peaked(300.0, 2, 4)).len() + synth::arrivals(&peaked(300.0, 2, 5)).len()) as f64;
        let (fitted, served) = cal.arrivals_between(Some("north"), Direction::Out, 0, 24 * 60);
        assert!(
            (fitted - total / 2.0).abs() < 1e-6 && (served - total / 2.0).abs() < 1e-6,
            "{fitted} {served} vs {total}/2"
        );
    }

    /// One lane at 2.5 s serves 1,440/h; a spike of 3,000/h for 10 minutes queues it for ~20.
    #[test]
    fn a_saturated_lane_is_found_and_its_arrivals_reconstructed_from_waits() {
        let mut spec = peaked(3000.0, 1, 2);
        // Twenty minutes of spike: some 600 headways of saturation, enough for a 5 % check.
        spec.segments = vec![(25_200.0, 26_400.0, 60.0), (26_400.0, 27_600.0, 3000.0), (27_600.0, 28_800.0, 60.0)];
        let (text, _) = log(&spec, true);
        let cal = calibrate_text(&text, &Format::Gatelab, Options::default());
        assert!(cal.rows.iter().any(|r| r.saturated_out == Some(Reconstruction::Waits)));
        // The spike's ten minutes: the served count is capped by the lane, the reconstruction is not.
        let truth = true_count(&spec, 26_400.0, 27_600.0);
        let (fitted, served) = cal.arrivals_between(Some("north"), Direction::Out, 440, 460);
        assert!(served < 0.75 * truth, "naive {served} vs true {truth}: the log alone understates the spike");
        assert!((fitted - truth).abs() <= 0.03 * truth, "reconstructed {fitted} vs true {truth}");
        // Service times from the saturated headways: mean and CV within 5 %.
        let card = cal.fit_of(ServiceKind::Card).unwrap();
        let face = cal.fit_of(ServiceKind::Face).unwrap();
        for f in [card, face] {
            let best = f.best();
            assert!((best.mean - 2.5).abs() < 0.05 * 2.5, "{f:?}");
            assert!((best.cv - 0.35).abs() < 0.05 * 0.35, "{f:?}");
            assert_eq!(best.family, crate::fit::Family::Lognormal, "{f:?}");
        }
    }

    #[test]
    fn without_waits_saturation_is_found_from_headway_runs_and_the_backlog_beats_the_served_count() {
        let mut spec = peaked(3000.0, 1, 3);
        // Twenty minutes of spike, as with waits: some 600 saturated headways.
        spec.segments = vec![(25_200.0, 26_400.0, 60.0), (26_400.0, 27_600.0, 3000.0), (27_600.0, 28_800.0, 60.0)];
        let (text, _) = log(&spec, false);
        let cal = calibrate_text(&text, &Format::Gatelab, Options::default());
        assert!(cal.rows.iter().any(|r| r.saturated_out == Some(Reconstruction::Backlog)));
        let truth = true_count(&spec, 26_400.0, 27_600.0);
        let (fitted, served) = cal.arrivals_between(Some("north"), Direction::Out, 440, 460);
        assert!(
            (fitted - truth).abs() < (served - truth).abs(),
            "backlog {fitted} is nearer the true {truth} than the served {served}"
        );
        // Nothing is lost: the day's arrivals are the log's.
        let (all, all_served) = cal.arrivals_between(Some("north"), Direction::Out, 0, 24 * 60);
        assert!((all - all_served).abs() < 1e-6, "{all} vs {all_served}");
        for kind in [ServiceKind::Card, ServiceKind::Face] {
            let f = cal.fit_of(kind).unwrap();
            let best = f.best();
            eprintln!("{kind:?}: n {} mean {:.3} cv {:.3}", f.n, best.mean, best.cv);
            assert!((best.mean - 2.5).abs() < 0.1 * 2.5 && (best.cv - 0.35).abs() < 0.1 * 0.35, "{f:?}");
        }
    }
}
