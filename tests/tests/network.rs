//! The simulation on a real network (`[network]`): terminals linked to the compound's authority,
//! LAN outages, the consent lease, and the Tianjin re-confirmation. Each test runs the real
//! Bevy simulation with the real core (authority, link frames with their tags, leases) and reads
//! the audit log it wrote.

use std::collections::{BTreeMap, BTreeSet};

use gatelab_core::audit::{AuditEvent, DeletionReason, MatchOutcome, Source};
use gatelab_core::{AuditRecord, PersonId, Policy, TerminalId};
use gatelab_scenario::{LinkOutage, Network, Scenario};
use gatelab_sim::figures::NetworkFigures;
use gatelab_tests::{audit_log, run_window, shipped};

const MINUTE: u64 = 60_000;

fn at(hh_mm: &str) -> u64 {
    u64::from(gatelab_scenario::parse_clock(hh_mm).unwrap()) * MINUTE
}

/// Tianjin with every link up (an empty `[network]`) and the given outages.
fn networked(outages: Vec<LinkOutage>) -> Scenario {
    let mut s = shipped("tianjin-wenhuacun");
    s.network = Some(Network { outages, ..Network::default() });
    s
}

fn outage(gate: &str, lane: &str, from: &str, to: &str) -> LinkOutage {
    LinkOutage { gate: Some(gate.into()), lane: Some(lane.into()), from: from.into(), to: to.into() }
}

fn clean(log: &[AuditRecord], name: &str) {
    let report = gatelab_core::check(log, &Policy::compliant());
    assert!(report.is_clean(), "{name}: {:#?}", &report.violations[..report.violations.len().min(5)]);
}

/// Every face match in the log: (terminal, when, whom).
fn face_matches(log: &[AuditRecord]) -> Vec<(TerminalId, u64, PersonId)> {
    log.iter()
        .filter_map(|r| match (r.source, &r.event) {
            (Source::Terminal(t), AuditEvent::MatchAttempt { outcome: MatchOutcome::Matched(p) }) => {
                Some((t, r.at.0, *p))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_perfect_lan_changes_no_wait_and_no_decision() {
    let plain = run_window(shipped("tianjin-wenhuacun"), "07:15", 45, 3);
    let linked = run_window(networked(Vec::new()), "07:15", 45, 3);
    // Same seed, same people, same decisions: the link adds records, not delays.
    assert_eq!(plain.figures.passages, linked.figures.passages);
    assert_eq!(plain.figures.wait_s, linked.figures.wait_s);
    assert_eq!(plain.figures.face_attempts, linked.figures.face_attempts);
    let net: NetworkFigures = linked.network.expect("a [network] scenario reports its network");
    assert_eq!(net.lease_lapsed_terminal_min, 0.0, "every lease live through the window");
    assert_eq!(net.faces_refused_under_lapsed_lease, 0.0);
    assert!(net.frames_delivered > 10_000.0, "registration went over the link: {}", net.frames_delivered);
    assert_eq!(net.frames_lost, 0.0);
    assert!(plain.network.is_none());
    let log = audit_log(&linked);
    clean(&log, "perfect LAN");
    // Registration went through the authority's log, not around it.
    assert!(log.iter().any(|r| r.source == Source::Management && matches!(r.event, AuditEvent::AdminLogged { .. })));
}

#[test]
fn a_terminal_off_the_lan_matches_no_face_and_its_face_users_come_through_on_cards() {
    let seed = 5;
    let up = run_window(networked(Vec::new()), "07:15", 60, seed);
    let cut = run_window(networked(vec![outage("east", "in-1", "07:20", "07:50")]), "07:15", 60, seed);
    let net = cut.network.unwrap();
    // The lease (30 s) outlives the link by at most its length; the renewal comes within a
    // request period (lease/10 while lapsed) of the link's return.
    assert!(
        (29.0..=30.5).contains(&net.lease_lapsed_terminal_min),
        "lapsed {} terminal-min for a 30-min outage",
        net.lease_lapsed_terminal_min
    );
    assert!(net.faces_refused_under_lapsed_lease > 0.0, "nobody tried a face at the cut-off terminal");
    assert!(net.frames_lost > 0.0);
    // Everyone still got through: cards, ID and PIN need no lease (C7).
    assert_eq!(cut.figures.passages, cut.figures.arrivals);
    assert_eq!(cut.figures.unserved_at_end, 0.0);
    let up_net = up.network.unwrap();
    assert!(
        net.passages_by_credential > up_net.passages_by_credential,
        "the refused face users used their cards: {} vs {} with every link up",
        net.passages_by_credential,
        up_net.passages_by_credential
    );
    assert!(net.passages_by_face < up_net.passages_by_face);
    // No face was matched by the cut-off terminal between its lapse and its renewal, and the
    // checker (which recomputes every lease from the records) agrees.
    let log = audit_log(&cut);
    let mut lapsed: Option<(TerminalId, u64)> = None;
    let mut renewed_after = None;
    for r in &log {
        let Source::Terminal(t) = r.source else { continue };
        match r.event {
            AuditEvent::LeaseLapsed { .. } if r.at.0 >= at("07:15") => lapsed = Some((t, r.at.0)),
            AuditEvent::LeaseRenewed { .. } if lapsed.is_some_and(|(l, _)| l == t) && renewed_after.is_none() => {
                renewed_after = Some(r.at.0)
            }
            _ => {}
        }
    }
    let (terminal, since) = lapsed.expect("the cut-off terminal's lease lapsed");
    let until = renewed_after.expect("and was renewed when the link came back");
    assert!((at("07:20")..=at("07:20") + 31_000).contains(&since), "lapsed at {since}");
    assert!(until >= at("07:50"), "renewed at {until}, before the link was back");
    let during = face_matches(&log).into_iter().filter(|&(t, when, _)| t == terminal && when >= since && when < until);
    assert_eq!(during.count(), 0, "a face matched under a lapsed lease");
    clean(&log, "cut-off terminal");
}

#[test]
fn random_outages_are_drawn_per_terminal_from_their_own_stream() {
    let mut s = networked(Vec::new());
    if let Some(n) = &mut s.network {
        n.outage_mtbf_h = 0.5;
        n.outage_mttr_min = 3.0;
    }
    let a = run_window(s.clone(), "07:15", 45, 11);
    let b = run_window(s, "07:15", 45, 11);
    let (na, nb) = (a.network.unwrap(), b.network.unwrap());
    // (Debug text: the costs are NaN here, and NaN is not equal to itself.)
    assert_eq!(format!("{na:?}"), format!("{nb:?}"), "a seed fixes every outage");
    assert!(na.lease_lapsed_terminal_min > 0.0 && na.frames_lost > 0.0, "{na:?}");
    // Arrivals are drawn from their own streams: the outages change who is served how, not
    // who comes.
    let plain = run_window(shipped("tianjin-wenhuacun"), "07:15", 45, 11);
    assert_eq!(a.figures.arrivals, plain.figures.arrivals);
    clean(&audit_log(&a), "random outages");
}

#[test]
fn the_reconfirmation_deletes_everywhere_in_time_and_the_offline_terminal_before_it_matches() {
    let scenario = shipped("tianjin-reconfirmation");
    let rep = run_window(scenario.clone(), "06:30", 60, 1);
    let net = rep.network.unwrap();
    assert!(net.consents_lapsed_at_reconfirmation >= 20.0, "{}", net.consents_lapsed_at_reconfirmation);
    let log = audit_log(&rep);
    clean(&log, "re-confirmation");
    let bound = Policy::compliant().deletion_bound_ms;
    let rc = at("01:00");
    // Who lapsed: the management's withdrawals at the re-confirmation.
    let lapsed: BTreeSet<PersonId> = log
        .iter()
        .filter(|r| r.source == Source::Management && r.at.0 == rc)
        .filter_map(|r| match r.event {
            AuditEvent::ConsentWithdrawn { person } => Some(person),
            _ => None,
        })
        .collect();
    assert_eq!(lapsed.len() as f64, net.consents_lapsed_at_reconfirmation);
    let offline = log
        .iter()
        .find_map(|r| match (r.source, &r.event) {
            (Source::Terminal(t), AuditEvent::LeaseLapsed { last_contact: Some(_) }) if r.at.0 < rc => Some(t),
            _ => None,
        })
        .expect("the unplugged terminal's lease lapsed that night");
    let back = at("07:15");
    let first_renewal_back = log
        .iter()
        .find(|r| {
            r.source == Source::Terminal(offline)
                && r.at.0 >= back
                && matches!(r.event, AuditEvent::LeaseRenewed { .. })
        })
        .map(|r| r.at.0)
        .expect("renewed after the repair");
    // Every camera terminal deleted every lapsed person's template: the reachable ones within
    // the bound, the unplugged one once it was back and before its lease ran again.
    let mut deleted: BTreeMap<TerminalId, BTreeMap<PersonId, u64>> = BTreeMap::new();
    for r in &log {
        if let (Source::Terminal(t), AuditEvent::TemplateDeleted { person, reason: DeletionReason::Withdrawn }) =
            (r.source, &r.event)
            && lapsed.contains(person)
        {
            deleted.entry(t).or_default().entry(*person).or_insert(r.at.0);
        }
    }
    let cameras: BTreeSet<TerminalId> = log
        .iter()
        .filter_map(|r| match (r.source, &r.event) {
            (Source::Terminal(t), AuditEvent::TemplateStored { .. }) => Some(t),
            _ => None,
        })
        .collect();
    assert!(cameras.len() >= 5, "{cameras:?}");
    for t in &cameras {
        let mine = deleted.get(t).map_or(0, |d| d.len());
        assert_eq!(mine, lapsed.len(), "terminal {t}: {mine} of {} lapsed templates deleted", lapsed.len());
        for (&person, &when) in &deleted[t] {
            if *t == offline {
                assert!(
                    when >= back && when <= first_renewal_back,
                    "{person:?} deleted at {when} on the offline terminal"
                );
            } else {
                assert!(when <= rc + bound, "{person:?} deleted at {when} on {t}, past the bound");
            }
        }
    }
    // No lapsed person's face is ever matched after the re-confirmation.
    for (t, when, person) in face_matches(&log) {
        assert!(!(when >= rc && lapsed.contains(&person)), "{person:?} matched at {when} on {t}");
    }
}

#[test]
fn the_next_morning_shows_the_shift_to_cards() {
    let scenario = shipped("tianjin-reconfirmation");
    let mut everyone_resigned = scenario.clone();
    everyone_resigned.reconfirmation.as_mut().unwrap().not_resigned_share = 0.0;
    let (mut face_share_after, mut face_share_before) = (0.0, 0.0);
    for seed in [1, 2, 3] {
        let after = run_window(scenario.clone(), "07:15", 45, seed).network.unwrap();
        let before = run_window(everyone_resigned.clone(), "07:15", 45, seed).network.unwrap();
        assert_eq!(before.consents_lapsed_at_reconfirmation, 0.0);
        let share = |n: &NetworkFigures| n.passages_by_face / (n.passages_by_face + n.passages_by_credential);
        face_share_after += share(&after) / 3.0;
        face_share_before += share(&before) / 3.0;
    }
    // ~8 % of households lapse: the face share falls by several points, not to nothing.
    let drop = face_share_before - face_share_after;
    assert!((0.03..0.20).contains(&drop), "face share {face_share_before:.3} → {face_share_after:.3}");
}

#[test]
fn network_sections_are_validated() {
    let refused = |edit: &dyn Fn(&mut Scenario), field: &str, hint: &str| {
        let mut s = networked(Vec::new());
        edit(&mut s);
        let e = s.validate().expect_err(field);
        assert_eq!(e.field, field);
        assert!(e.message.contains(hint), "{}", e.message);
    };
    refused(
        &|s| s.network.as_mut().unwrap().outages.push(outage("south", "in-1", "07:00", "08:00")),
        "network.outages[0]",
        "no gate",
    );
    refused(
        &|s| s.network.as_mut().unwrap().outages.push(outage("east", "in-3", "07:00", "08:00")),
        "network.outages[0]",
        "in-1..in-1",
    );
    refused(
        &|s| s.network.as_mut().unwrap().outages.push(outage("east", "in-1", "08:00", "07:00")),
        "network.outages[0]",
        "from before to",
    );
    refused(&|s| s.network.as_mut().unwrap().outage_mtbf_h = 2.0, "network.outage_mttr_min", "never come back");
    let mut s = shipped("tianjin-reconfirmation");
    s.network = None;
    assert_eq!(s.validate().unwrap_err().field, "reconfirmation");
    let mut s = shipped("tianjin-reconfirmation");
    s.reconfirmation.as_mut().unwrap().at = "07:00".into();
    assert!(s.validate().unwrap_err().message.contains("before run.start"));
}
