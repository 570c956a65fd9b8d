//! Ten times the rush-hour rate on the host: Dongcheng's morning gate events repeated ten times
//! within the same hour, fed to each terminal. The terminals keep deciding as they did at the
//! normal rate (the same card gets the same answer), their logs stay gap-free and clean, and
//! the heap they use does not grow with the traffic (measured by a counting allocator; this
//! test binary runs only this test, so nothing else allocates meanwhile).

use std::alloc::System;
use std::collections::BTreeMap;

use cap::Cap;
use gatelab_core::audit::{AuditEvent, DecisionReason};
use gatelab_core::trace::{TraceEntry, TraceHeader, flood};
use gatelab_core::{Action, AuditRecord, Checker, CredentialId, Event, Terminal};
use gatelab_sim::engine::Keep;
use gatelab_tests::shipped;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

fn morning_trace() -> (TraceHeader, Vec<TraceEntry>) {
    let mut s = shipped("dongcheng");
    s.run.duration_min = 60;
    let keep = Keep { trace: true, ..Keep::NOTHING };
    let mut result = gatelab_sim::run::run_keeping(&s, s.run.seed, 1, &gatelab_sim::progress::Silent, keep).unwrap();
    let t = result.replications.remove(0).trace.expect("a trace was asked for");
    (t.header, t.entries)
}

/// Card decisions: credential → every reason it got.
type CardAnswers = BTreeMap<CredentialId, Vec<DecisionReason>>;

struct Outcome {
    cards: CardAnswers,
    log: Vec<AuditRecord>,
    /// Most the heap grew, from the first gate event on, across all terminals' traffic.
    growth: usize,
}

fn play(header: &TraceHeader, entries: &[TraceEntry]) -> Outcome {
    let mut terminals: Vec<Terminal> =
        header.terminals.iter().map(|c| Terminal::new(c.clone(), header.policy.clone()).unwrap()).collect();
    let mut cards = CardAnswers::new();
    let mut log = Vec::new();
    let mut baseline: Option<usize> = None;
    let mut growth = 0;
    let mut actions = Vec::new();
    for e in entries {
        let gate = !matches!(e.event, Event::Admin(_));
        let card = match e.event {
            Event::CredentialPresented { credential, .. } => Some(credential),
            _ => None,
        };
        actions.clear();
        actions.extend(terminals[usize::from(e.terminal)].handle(e.at, e.event.clone()));
        for a in &actions {
            if let Action::Audit(r) = a {
                if let (Some(c), AuditEvent::AccessDecision { reason, .. }) = (card, r.event) {
                    let seen = cards.entry(c).or_default();
                    if !seen.contains(&reason) {
                        seen.push(reason);
                    }
                }
                // The log is measured apart from the terminals: account for it as it grows.
                log.push(r.clone());
            }
        }
        if gate {
            let in_use = HEAP.allocated() - log.capacity() * size_of::<AuditRecord>();
            let first = *baseline.get_or_insert(in_use);
            growth = growth.max(in_use.saturating_sub(first));
        }
    }
    Outcome { cards, log, growth }
}

#[test]
fn ten_times_the_rush_hour_rate_is_decided_alike_with_bounded_memory() {
    let (header, entries) = morning_trace();
    let normal = play(&header, &entries);
    let flooded_entries = flood(&entries, 10);
    let gate = |es: &[TraceEntry]| es.iter().filter(|e| !matches!(e.event, Event::Admin(_))).count();
    assert_eq!(gate(&flooded_entries), 10 * gate(&entries));
    let flooded = play(&header, &flooded_entries);

    // Same card, same answer: validity does not depend on how busy the gate is.
    assert!(normal.cards.len() > 20, "the morning has card users: {}", normal.cards.len());
    for (card, reasons) in &flooded.cards {
        assert_eq!(Some(reasons), normal.cards.get(card), "card {card:?} answered differently under the flood");
    }
    // Every terminal's log gap-free, and the consent checker finds nothing.
    let mut next = BTreeMap::new();
    for r in &flooded.log {
        let expected = next.entry(r.source).or_insert(0u64);
        assert_eq!(r.seq, *expected, "gap in {}'s log", r.source);
        *expected += 1;
    }
    let mut checker = Checker::new(&header.policy);
    for (i, r) in flooded.log.iter().enumerate() {
        checker.observe(i, r);
    }
    let report = checker.finish();
    assert!(report.is_clean(), "{:#?}", &report.violations[..report.violations.len().min(5)]);
    // Bounded memory: ten times the traffic, no more heap than the normal rate needed.
    assert!(
        flooded.growth <= normal.growth + 64 * 1024,
        "heap grew by {} bytes under the flood, {} at the normal rate",
        flooded.growth,
        normal.growth
    );
    eprintln!(
        "flood: {} events, heap growth under traffic {} B (normal rate {} B)",
        flooded_entries.len(),
        flooded.growth,
        normal.growth
    );
}
