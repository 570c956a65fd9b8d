//! Terminal event throughput on one core: a rush-hour mix of card presentations, passages, door
//! sensor changes and ticks, with and without face probes (1,000-person int8 gallery, 128-d).
//! Aim: ≥ 1,000,000 events/s for the gate events.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use gatelab_benches::{median_secs, vector};
use gatelab_core::consent::Grantor;
use gatelab_core::*;

const PEOPLE: u32 = 1_000;
const DIM: usize = 128;

fn populated() -> Terminal {
    let config = TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), DIM);
    let mut t = Terminal::new(config, Policy::compliant()).expect("valid config");
    for p in 0..PEOPLE {
        let admin = |cmd| Event::Admin(cmd);
        let person = Person { id: PersonId(p), kind: PersonKind::Owner, household: None, age_years: 40 };
        t.handle(Timestamp(0), admin(AdminCommand::RegisterPerson(person))).for_each(drop);
        let card = Credential {
            id: CredentialId(u64::from(p)),
            holder: PersonId(p),
            kind: CredentialKind::IcCard,
            expires_at: None,
        };
        t.handle(Timestamp(0), admin(AdminCommand::IssueCredential(card))).for_each(drop);
        let (id, person) = (ConsentId(u64::from(p)), PersonId(p));
        let consent =
            ConsentRecord::face_access(id, person, CompoundId(1), Grantor::Subject, Timestamp(0), 300 * 86_400_000);
        t.handle(Timestamp(0), admin(AdminCommand::RecordConsent(consent))).for_each(drop);
        let enroll = AdminCommand::Enroll { person: PersonId(p), embedding: vector(u64::from(p), DIM) };
        t.handle(Timestamp(0), admin(enroll)).for_each(drop);
    }
    t
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
    println!();
    for (name, rate) in figures {
        println!("terminal {name}: {:.2} M events/s on one core", rate / 1e6);
    }
    criterion.final_summary();
}
