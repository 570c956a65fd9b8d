//! A scripted rush hour at one pedestrian gate, driven through real `gatelab-core` terminals.
//!
//! It stands in for the crowd simulation until that lands: no walking or queueing, just the
//! seed story's cast in a fixed order — residents who use their face, residents who refuse it,
//! renters, children whose guardian consented, couriers with ID cards, a scanner that breaks at
//! 08:00, a resident who withdraws at 08:15 and tailgaters — so that the same script run under
//! the compliant and the forced-face policy shows what the consent checker catches.
//! Deterministic: no randomness beyond a fixed hash.

use gatelab_core::audit::{AuditRecord, Component};
use gatelab_core::consent::Grantor;
use gatelab_core::*;
use serde::Serialize;

pub const DIM: usize = 128;
const HOUR: u64 = 3_600_000;
const MINUTE: u64 = 60_000;
const DAY: u64 = 24 * HOUR;
const COMPOUND: CompoundId = CompoundId(1);

/// Size of the scripted morning.
#[derive(Clone, Copy, Debug)]
pub struct Script {
    pub residents: u32,
    pub couriers: u32,
}

impl Default for Script {
    fn default() -> Self {
        Script { residents: 60, couriers: 6 }
    }
}

/// What happened, in numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub grants: u64,
    pub denials: u64,
    pub passages: u64,
    pub uncontrolled_passages: u64,
    pub tailgating_detected: u64,
    pub templates_enrolled: u64,
    pub templates_deleted: u64,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} grants, {} denials, {} passages ({} uncontrolled, {} tailgaters detected), {} templates stored, {} deleted",
            self.grants,
            self.denials,
            self.passages,
            self.uncontrolled_passages,
            self.tailgating_detected,
            self.templates_enrolled,
            self.templates_deleted
        )
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A fixed pseudo-random embedding for `person`; `variant > 0` adds capture noise.
pub fn embedding(person: u32, variant: u32) -> Vec<f32> {
    (0..DIM as u64)
        .map(|i| {
            let base = splitmix(u64::from(person) << 20 | i) as f32 / u64::MAX as f32 * 2.0 - 1.0;
            let noise =
                splitmix(u64::from(person) << 40 | u64::from(variant) << 20 | i) as f32 / u64::MAX as f32 * 2.0 - 1.0;
            base + if variant == 0 { 0.0 } else { 0.25 * noise }
        })
        .collect()
}

struct Run {
    compound: Compound,
    log: Vec<AuditRecord>,
    outcome: Outcome,
}

impl Run {
    fn take(&mut self, out: Vec<(TerminalId, Action)>) -> (bool, bool) {
        let (mut granted, mut denied) = (false, false);
        for (_, a) in out {
            match a {
                Action::Audit(r) => {
                    match r.event {
                        AuditEvent::TemplateStored { .. } => self.outcome.templates_enrolled += 1,
                        AuditEvent::TemplateDeleted { .. } => self.outcome.templates_deleted += 1,
                        AuditEvent::Passage => self.outcome.passages += 1,
                        AuditEvent::UncontrolledPassage { cause } => {
                            self.outcome.passages += 1;
                            self.outcome.uncontrolled_passages += 1;
                            if cause == audit::UncontrolledCause::Tailgating {
                                self.outcome.tailgating_detected += 1;
                            }
                        }
                        _ => {}
                    }
                    self.log.push(r);
                }
                Action::Grant { .. } => {
                    self.outcome.grants += 1;
                    granted = true;
                }
                Action::Deny { .. } => {
                    self.outcome.denials += 1;
                    denied = true;
                }
                _ => {}
            }
        }
        (granted, denied)
    }
    fn admin(&mut self, now: u64, cmd: AdminCommand) {
        let mut out = Vec::new();
        self.compound.admin(Timestamp(now), &cmd, &mut out);
        self.take(out);
    }
    fn event(&mut self, at: TerminalId, now: u64, event: Event) -> bool {
        let mut out = Vec::new();
        self.advance(now);
        self.compound.handle(at, Timestamp(now), event, &mut out);
        self.take(out).0
    }
    fn advance(&mut self, now: u64) {
        let mut out = Vec::new();
        self.compound.advance_to(Timestamp(now), &mut out);
        self.take(out);
    }
}

fn card_of(person: u32) -> CredentialId {
    CredentialId(100_000 + u64::from(person))
}

/// Run the script under `policy`; returns the merged audit log and the totals.
pub fn scripted_morning(policy: &Policy, script: Script) -> (Vec<AuditRecord>, Outcome) {
    let gate = Gate { id: GateId(1) };
    let configs = gate.terminals().map(|id| TerminalConfig::new(id, COMPOUND, DIM));
    let compound = match Compound::new(COMPOUND, policy.clone(), configs) {
        Ok(c) => c,
        Err(e) => unreachable!("the demo's fixed configuration is valid: {e}"),
    };
    let mut run = Run { compound, log: Vec::new(), outcome: Outcome::default() };
    let resident_card = policy.resident_non_face.iter().copied().find(|k| k.is_personal_non_face());

    // Registration day (t = 0): everyone is registered; residents get a card if the policy issues
    // one; three in four agree to face use (children through their guardian) and are enrolled.
    let refuses_face = |i: u32| i.is_multiple_of(4);
    for i in 0..script.residents {
        let kind = if i % 5 == 3 { PersonKind::Renter } else { PersonKind::Owner };
        let minor = i % 7 == 6;
        let person = Person {
            id: PersonId(i),
            kind,
            household: Some(HouseholdId(i / 3)),
            age_years: if minor { 10 } else { 40 },
        };
        run.admin(0, AdminCommand::RegisterPerson(person));
        if let Some(card) = resident_card {
            let expires_at = (kind == PersonKind::Renter).then_some(Timestamp(30 * DAY));
            let credential = Credential { id: card_of(i), holder: PersonId(i), kind: card, expires_at };
            run.admin(0, AdminCommand::IssueCredential(credential));
        }
        if !refuses_face(i) {
            let grantor = if minor { Grantor::Guardian(PersonId(i - 1)) } else { Grantor::Subject };
            let record = ConsentRecord::face_access(
                ConsentId(u64::from(i)),
                PersonId(i),
                COMPOUND,
                grantor,
                Timestamp(0),
                365 * DAY,
            );
            run.admin(0, AdminCommand::RecordConsent(record));
            run.admin(0, AdminCommand::Enroll { person: PersonId(i), embedding: embedding(i, 0) });
        }
    }
    for c in 0..script.couriers {
        let id = 10_000 + c;
        let person = Person { id: PersonId(id), kind: PersonKind::Courier, household: None, age_years: 30 };
        run.admin(0, AdminCommand::RegisterPerson(person));
        let credential = Credential {
            id: card_of(id),
            holder: PersonId(id),
            kind: CredentialKind::IdCard,
            expires_at: Some(Timestamp(DAY)),
        };
        run.admin(0, AdminCommand::IssueCredential(credential));
    }

    // The morning: residents leave one every 90 s from 07:00; couriers come in every 10 min.
    let (outbound, inbound) = (gate.outbound(), gate.inbound());
    let start = 7 * HOUR;
    let fault = (8 * HOUR, 8 * HOUR + 30 * MINUTE);
    let withdrawal = (8 * HOUR + 15 * MINUTE, PersonId(1));
    let mut faulted = false;
    let mut withdrawn = false;
    let mut couriers_done = 0;
    for i in 0..script.residents {
        let t = start + u64::from(i) * 90_000;
        if !faulted && t >= fault.0 {
            faulted = true;
            run.event(outbound, fault.0, Event::ComponentFault(Component::Camera));
        }
        if faulted && t >= fault.1 && fault.1 > fault.0 {
            run.event(outbound, fault.1, Event::ComponentRecovered(Component::Camera));
            faulted = false;
        }
        if !withdrawn && t >= withdrawal.0 {
            withdrawn = true;
            run.admin(withdrawal.0, AdminCommand::WithdrawConsent(withdrawal.1));
        }
        while couriers_done < script.couriers && start + u64::from(couriers_done) * 10 * MINUTE <= t {
            let id = 10_000 + couriers_done;
            let at = start + u64::from(couriers_done) * 10 * MINUTE;
            let present = Event::CredentialPresented {
                kind: CredentialKind::IdCard,
                credential: card_of(id),
                frame_captured: true,
            };
            if run.event(inbound, at, present) {
                run.event(inbound, at + 2_000, Event::PassageSensed);
            }
            couriers_done += 1;
        }
        let face_usable = run.compound.terminal(outbound).is_some_and(|t| t.face_available());
        let uses_face = !refuses_face(i) && PersonId(i) != withdrawal.1 && face_usable;
        let granted = if uses_face {
            run.event(outbound, t, Event::FaceProbe { embedding: embedding(i, 1) })
        } else if let Some(kind) = resident_card {
            run.event(outbound, t, Event::CredentialPresented { kind, credential: card_of(i), frame_captured: true })
        } else {
            // No card and no usable face: wait for the door to be open for someone else.
            false
        };
        let door_open = run.compound.terminal(outbound).is_some_and(|t| t.door_commanded_open());
        if granted || door_open {
            run.event(outbound, t + 2_000, Event::PassageSensed);
            // Every tenth person has someone slipping through behind them.
            if i % 10 == 9 {
                run.event(outbound, t + 2_600, Event::PassageSensed);
            }
        }
    }
    run.advance(start + u64::from(script.residents) * 90_000 + HOUR);
    (run.log, run.outcome)
}
