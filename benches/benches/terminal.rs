//! Terminal event throughput on one core: a rush-hour mix of card presentations, passages, door
//! sensor changes and ticks, with and without face probes (1,000-person int8 gallery, 128-d),
//! and the same with the terminal linked to its compound's authority: every face under the
//! consent lease, renewed through a real [`Authority`] as the stream goes (its answers are part
//! of the measured time). Aim: ≥ 1,000,000 events/s for the gate events, with the lease too.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use gatelab_benches::{median_secs, move_in, vector};
use gatelab_core::sync::{Authority, AuthorityAction, LinkKey};
use gatelab_core::*;

const PEOPLE: u32 = 1_000;
const DIM: usize = 128;

fn populated() -> Terminal {
    let config = TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), DIM);
    let mut t = Terminal::new(config, Policy::compliant()).expect("valid config");
    for p in 0..PEOPLE {
        let enroll = AdminCommand::Enroll { person: PersonId(p), embedding: vector(u64::from(p), DIM) };
        for command in move_in(p).into_iter().chain([enroll]) {
            t.handle(Timestamp(0), Event::Admin(command)).for_each(drop);
        }
    }
    t
}

/// The same people registered through an authority the terminal is linked to.
struct Linked {
    terminal: Terminal,
    authority: Authority,
}

impl Linked {
    fn new() -> Linked {
        let lane = Gate { id: GateId(1) }.inbound();
        let master = [3; 32];
        let authority =
            Authority::new(CompoundId(1), Policy::compliant(), &master, [(lane, true)]).expect("valid policy");
        let mut terminal =
            Terminal::new(TerminalConfig::new(lane, CompoundId(1), DIM), Policy::compliant()).expect("valid config");
        let link = LinkKey::derive(&master, CompoundId(1), lane);
        let ups: Vec<Action> = terminal.attach_authority(Timestamp(0), link, 0, 1).collect();
        let mut linked = Linked { terminal, authority };
        linked.deliver(Timestamp(0), ups);
        for p in 0..PEOPLE {
            let enroll = AdminCommand::Enroll { person: PersonId(p), embedding: vector(u64::from(p), DIM) };
            for command in move_in(p).into_iter().chain([enroll]) {
                let (actions, result) = linked.authority.submit(Timestamp(0), command);
                let actions: Vec<AuthorityAction> = actions.collect();
                result.expect("a valid registration");
                linked.answer(Timestamp(0), actions);
            }
        }
        assert!(linked.terminal.lease_live() && linked.terminal.store().len() == PEOPLE as usize);
        linked
    }

    /// Carry the terminal's reports to the authority and its answers back, at once.
    fn deliver(&mut self, now: Timestamp, actions: impl IntoIterator<Item = Action>) {
        for action in actions {
            if let Action::ToAuthority(up) = action {
                let answers: Vec<AuthorityAction> = self.authority.handle_uplink(now, &up).collect();
                self.answer(now, answers);
            } else {
                black_box(action);
            }
        }
    }

    fn answer(&mut self, now: Timestamp, actions: Vec<AuthorityAction>) {
        for action in actions {
            if let AuthorityAction::Send { frame, .. } = action {
                let actions: Vec<Action> = self.terminal.handle(now, Event::FromAuthority(frame)).collect();
                self.deliver(now, actions);
            }
        }
    }

    fn handle(&mut self, now: Timestamp, event: Event) {
        // Only a request to the authority is collected; every other action is consumed in place.
        let mut ups = Vec::new();
        for action in self.terminal.handle(now, event) {
            match action {
                Action::ToAuthority(_) => ups.push(action),
                other => {
                    black_box(other);
                }
            }
        }
        if !ups.is_empty() {
            self.deliver(now, ups);
        }
    }
}

/// One person every 1.2 s: present, door opens, pass, door closes, a tick in between.
fn stream(len: usize, faces: bool) -> Vec<(Timestamp, Event)> {
    let mut out = Vec::with_capacity(len);
    let mut now = 1_000u64;
    let mut p = 0u32;
    while out.len() < len {
        let present = if faces && p.is_multiple_of(4) {
            Event::FaceProbe { embedding: vector(u64::from(p % PEOPLE), DIM) }
        } else {
            Event::CredentialPresented {
                kind: CredentialKind::IcCard,
                credential: CredentialId(u64::from(p % PEOPLE)),
                frame_captured: p.is_multiple_of(3),
            }
        };
        out.push((Timestamp(now), present));
        out.push((Timestamp(now + 300), Event::DoorSensor { open: true }));
        out.push((Timestamp(now + 900), Event::PassageSensed));
        out.push((Timestamp(now + 1_000), Event::Tick));
        out.push((Timestamp(now + 1_100), Event::DoorSensor { open: false }));
        now += 1_200;
        p += 1;
    }
    out.truncate(len);
    out
}

fn main() {
    let mut criterion = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    let len = 100_000;
    let mut figures = Vec::new();
    for (name, faces) in [("gate_events", false), ("gate_events_with_face_probes", true)] {
        let events = stream(len, faces);
        let mut group = criterion.benchmark_group("terminal");
        group.throughput(Throughput::Elements(len as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                populated,
                |mut t| {
                    for (now, e) in events.iter().cloned() {
                        t.handle(now, e).for_each(|a| {
                            black_box(a);
                        });
                    }
                    t
                },
                criterion::BatchSize::LargeInput,
            )
        });
        group.finish();
        let mut t = populated();
        let span = events.last().map_or(0, |(t, _)| t.0) + 10_000;
        let mut offset = 0;
        let secs = median_secs(7, 1, || {
            // Each pass continues the day where the last one ended: time never steps back.
            for (now, e) in events.iter().cloned() {
                t.handle(now.plus_ms(offset), e).for_each(|a| {
                    black_box(a);
                });
            }
            offset += span;
        });
        figures.push((name, len as f64 / secs));
    }
    // Linked: the lease checked on every face, renewed through the authority every 10 s.
    let events = stream(len, true);
    let mut group = criterion.benchmark_group("terminal");
    group.throughput(Throughput::Elements(len as u64));
    group.bench_function("linked_gate_events_with_face_probes", |b| {
        b.iter_batched(
            Linked::new,
            |mut linked| {
                for (now, e) in events.iter().cloned() {
                    linked.handle(now, e);
                }
                linked
            },
            criterion::BatchSize::LargeInput,
        )
    });
    group.finish();
    let mut linked = Linked::new();
    let span = events.last().map_or(0, |(t, _)| t.0) + 10_000;
    let mut offset = 0;
    let secs = median_secs(7, 1, || {
        for (now, e) in events.iter().cloned() {
            linked.handle(now.plus_ms(offset), e);
        }
        offset += span;
    });
    assert!(
        linked.terminal.lease_live(),
        "the lease lapsed during the stream: the figure would not be of the lease path"
    );
    figures.push(("linked_gate_events_with_face_probes", len as f64 / secs));
    println!();
    for (name, rate) in figures {
        println!("terminal {name}: {:.2} M events/s on one core", rate / 1e6);
    }
    criterion.final_summary();
}
