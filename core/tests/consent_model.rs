//! Model-based property test of the consent invariants (shared/RULES.md C1–C5, C7, C8).
//!
//! Random sequences of move-in / consent / enrol / withdraw / card and face presentations /
//! passages / faults / time advance / card renewal and revocation / move-out / export attempts
//! run against a compound of two terminals (one f32 store, one int8 store) and against a small
//! reference model written independently of the core, under one of three policies: compliant,
//! the seed story's forced-face, and compliant but open-for-all on faults. After every step the
//! stores must hold exactly the templates the model allows, every decision and every door opening
//! must be the model's, and the consent checker, fed the audit log as it grows, must have found
//! exactly the violations the model predicts, rule by rule: none under the compliant policy.
//!
//! 10,000 sequences by default; `PROPTEST_CASES` raises (or lowers) it.

use std::collections::{BTreeMap, BTreeSet};

use gatelab_core::audit::{self, AuditEvent, Component, DiscardReason, ExportKind, MatchOutcome, OpenCause};
use gatelab_core::consent::{ConsentForm, Grantor, Purpose};
use gatelab_core::terminal::AdminRejection;
use gatelab_core::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

const DIM: usize = 32;
const COMPOUND: CompoundId = CompoundId(7);
const MAX_PERSONS: u32 = 8;
/// Persons sit on axes 0..MAX_PERSONS, strangers on axes from here: exactly orthogonal, so a
/// stranger can never match by chance and any match is the code's doing.
const STRANGER_AXIS: usize = 16;
const SECOND: u64 = 1000;
const DAY: u64 = 86_400 * SECOND;
const MAX_RETENTION_MS: u64 = 365 * DAY;
/// `TerminalConfig::new`'s door timings, which the model's doors follow.
const DOOR_OPEN_MS: u64 = 4_000;
const DOOR_CLOSE_GRACE_MS: u64 = 1_500;

/// The policy a sequence runs under.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum PolicyKind {
    #[default]
    Compliant,
    /// The seed story: face only for residents, frames of card users kept, open for all on faults.
    ForcedFace,
    /// Compliant except that a fault holds the door open for everyone.
    OpenForAll,
}

impl PolicyKind {
    fn policy(self) -> Policy {
        let mut policy = match self {
            PolicyKind::Compliant => Policy::compliant(),
            PolicyKind::ForcedFace => Policy::forced_face(),
            PolicyKind::OpenForAll => {
                let mut p = Policy::compliant();
                p.name = "open-for-all".into();
                p.on_fault = gatelab_core::policy::FaultMode::OpenForAll;
                p
            }
        };
        policy.max_retention_ms = MAX_RETENTION_MS;
        policy
    }
    fn face_only_for_residents(self) -> bool {
        self == PolicyKind::ForcedFace
    }
    fn keeps_frames(self) -> bool {
        self == PolicyKind::ForcedFace
    }
    fn opens_on_fault(self) -> bool {
        self != PolicyKind::Compliant
    }
    /// What the checker must say about the policy itself, before any record.
    fn policy_violations(self) -> &'static [Rule] {
        match self {
            PolicyKind::Compliant => &[],
            // Face not optional, no card for residents, a hotline to opt out; frames kept; open on faults.
            PolicyKind::ForcedFace => &[Rule::C2, Rule::C2, Rule::C2, Rule::C3, Rule::C7],
            PolicyKind::OpenForAll => &[Rule::C7],
        }
    }
}

/// Why a door is open, widest last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum DoorCause {
    Grant,
    Guard,
    Fault,
}

impl DoorCause {
    fn open_cause(self) -> OpenCause {
        match self {
            DoorCause::Grant => OpenCause::Grant,
            DoorCause::Guard => OpenCause::GuardOverride,
            DoorCause::Fault => OpenCause::FaultOpenAll,
        }
    }
}

/// One door-open window as the model sees it: grants admit their holders, a guard or a fault
/// admits anyone; a window only widens while it is open.
#[derive(Clone, Copy, Debug)]
struct DoorModel {
    cause: DoorCause,
    grants: u32,
    passages: u32,
    close_at: u64,
    closing_since: Option<u64>,
}

fn terminals() -> [TerminalId; 2] {
    Gate { id: GateId(1) }.terminals()
}

fn card_id(person: u32, generation: u32) -> CredentialId {
    CredentialId((u64::from(person) << 16) | u64::from(generation))
}

fn guard_override_id(person: u32) -> CredentialId {
    CredentialId((u64::from(person) << 16) | 0xFFFF)
}

fn card_kind(kind: PersonKind) -> CredentialKind {
    match kind {
        PersonKind::Visitor => CredentialKind::VisitorPass,
        PersonKind::Courier => CredentialKind::IdCard,
        _ => CredentialKind::IcCard,
    }
}

fn embedding(axis: usize, noise: u8) -> Vec<f32> {
    let mut v = vec![0.0f32; DIM];
    v[axis % DIM] = 1.0;
    // Up to 0.3 on a stranger axis: the cosine to the enrolled template stays above 0.95.
    v[STRANGER_AXIS + axis % (DIM - STRANGER_AXIS)] += f32::from(noise) / 255.0 * 0.3;
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConsentVariant {
    Valid,
    Bundled,
    NotExplicit,
    ByLandlord,
    OtherPurpose,
    OtherCompound,
    /// Given by the guardian named (valid only for a minor with an adult guardian).
    ByGuardian(u32),
}

#[derive(Clone, Debug)]
enum Step {
    MoveIn { kind: PersonKind, age: u8, card_days: Option<u8> },
    GiveConsent { person: u32, variant: ConsentVariant, retention_days: u16 },
    Enroll { person: u32, noise: u8 },
    Withdraw { person: u32 },
    PresentCard { person: u32, frame: bool, at: usize },
    PresentFace { person: u32, noise: u8, at: usize },
    PresentStranger { axis: u8, at: usize },
    GuardOverride { person: u32, at: usize },
    Passages { count: u8, at: usize },
    Fault { component: Component, down: bool, at: usize },
    Advance { ms: u64 },
    RenewCard { person: u32, days: u8 },
    RevokeCard { person: u32 },
    MoveOut { person: u32 },
    Export,
}

#[derive(Clone, Debug)]
struct ModelPerson {
    kind: PersonKind,
    age: u8,
    present: bool,
    card_generation: u32,
    card_expires: Option<u64>,
    card_revoked: bool,
}

impl ModelPerson {
    fn card_valid(&self, now: u64) -> bool {
        self.present && !self.card_revoked && self.card_expires.is_none_or(|t| now < t)
    }
    fn time_limited(&self) -> bool {
        matches!(self.kind, PersonKind::Renter | PersonKind::Visitor | PersonKind::Courier)
    }
    /// When the person's stay ends, by their card (only time-limited kinds have an end).
    fn stay_end(&self) -> u64 {
        if !self.time_limited() {
            return u64::MAX;
        }
        if self.card_revoked {
            return 0;
        }
        self.card_expires.unwrap_or(u64::MAX)
    }
}

#[derive(Clone, Debug, Default)]
struct Model {
    now: u64,
    persons: BTreeMap<u32, ModelPerson>,
    /// Valid face consents: retention deadline.
    consent: BTreeMap<u32, u64>,
    /// Persons whose template must be in every store.
    enrolled: BTreeSet<u32>,
    /// (terminal index, component) currently down.
    down: BTreeSet<(usize, Component)>,
    policy: PolicyKind,
    doors: [Option<DoorModel>; 2],
    /// Violations the checker must have reported so far, by rule.
    expected: BTreeMap<Rule, usize>,
    /// Whether, and why, the last step opened a door.
    opened: Option<OpenCause>,
}

impl Model {
    fn expect(&mut self, rule: Rule) {
        *self.expected.entry(rule).or_default() += 1;
    }
    /// Door timers due by `to` fire: a window closes at its end, and is over a grace later.
    fn run_door_timers(&mut self, to: u64) {
        for door in &mut self.doors {
            if let Some(w) = door {
                if w.closing_since.is_none() && w.close_at <= to {
                    w.closing_since = Some(w.close_at);
                }
                if w.closing_since.is_some_and(|since| since + DOOR_CLOSE_GRACE_MS <= to) {
                    *door = None;
                }
            }
        }
    }
    fn open_door(&mut self, at: usize, cause: DoorCause) {
        let now = self.now;
        let close_at = if cause == DoorCause::Fault { u64::MAX } else { now + DOOR_OPEN_MS };
        let granted = u32::from(cause == DoorCause::Grant);
        let fresh = DoorModel { cause, grants: granted, passages: 0, close_at, closing_since: None };
        let announced = match &mut self.doors[at] {
            None => {
                self.doors[at] = Some(fresh);
                true
            }
            Some(w) if w.closing_since.is_some() && cause < w.cause => {
                *w = fresh;
                true
            }
            Some(w) => {
                let reopened = w.closing_since.take().is_some();
                let widened = cause > w.cause;
                w.cause = w.cause.max(cause);
                w.grants += granted;
                w.close_at = w.close_at.max(close_at);
                reopened || widened
            }
        };
        if announced {
            let cause = self.doors[at].map(|w| w.cause).unwrap();
            self.opened = Some(cause.open_cause());
            if cause == DoorCause::Fault {
                self.expect(Rule::C7);
            }
        }
    }
    fn close_door(&mut self, at: usize) {
        let now = self.now;
        if let Some(w) = &mut self.doors[at] {
            w.closing_since.get_or_insert(now);
        }
    }
    fn passage(&mut self, at: usize) {
        let Some(w) = &mut self.doors[at] else { return };
        w.passages += 1;
        let (cause, passages, grants, closing) = (w.cause, w.passages, w.grants, w.closing_since.is_some());
        if passages <= grants {
            if cause == DoorCause::Grant && passages == grants && !closing {
                self.close_door(at);
            }
        } else if cause == DoorCause::Fault {
            self.expect(Rule::C7);
        }
    }
    fn card_grants(&self, person: u32) -> bool {
        let m = &self.persons[&person];
        m.card_valid(self.now) && !(m.kind.is_resident() && self.policy.face_only_for_residents())
    }
    fn next_id(&self) -> u32 {
        self.persons.len() as u32
    }
    fn present(&self, p: u32) -> bool {
        self.persons.get(&p).is_some_and(|m| m.present)
    }
    fn deadline(&self, p: u32) -> u64 {
        let consent = self.consent.get(&p).copied().unwrap_or(0);
        let stay = self.persons.get(&p).map_or(0, |m| if m.present { m.stay_end() } else { 0 });
        consent.min(stay)
    }
    /// Templates and consents whose time ran out disappear.
    fn expire(&mut self) {
        let now = self.now;
        let gone: Vec<u32> = self.enrolled.iter().copied().filter(|&p| self.deadline(p) <= now).collect();
        for p in gone {
            self.enrolled.remove(&p);
        }
        self.consent.retain(|_, until| now < *until);
    }
    fn face_up(&self, at: usize) -> bool {
        !self.down.contains(&(at, Component::Camera)) && !self.down.contains(&(at, Component::Matcher))
    }
    fn consent_valid(&self, person: u32, variant: ConsentVariant) -> bool {
        let Some(subject) = self.persons.get(&person).filter(|p| p.present) else { return false };
        match variant {
            ConsentVariant::Valid => subject.age >= 14,
            ConsentVariant::ByGuardian(g) => {
                subject.age < 14 && self.persons.get(&g).is_some_and(|g| g.present && g.age >= 18)
            }
            _ => false,
        }
    }
}

struct GateModel;

fn person_in(state: &Model) -> BoxedStrategy<u32> {
    (0..state.next_id().max(1)).boxed()
}

impl ReferenceStateMachine for GateModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        prop_oneof![
            2 => Just(PolicyKind::Compliant),
            1 => Just(PolicyKind::ForcedFace),
            1 => Just(PolicyKind::OpenForAll),
        ]
        .prop_map(|policy| {
            let mut model = Model { policy, ..Model::default() };
            for &rule in policy.policy_violations() {
                model.expect(rule);
            }
            model
        })
        .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Step> {
        let kind = prop_oneof![
            4 => Just(PersonKind::Owner),
            3 => Just(PersonKind::Renter),
            1 => Just(PersonKind::Visitor),
            1 => Just(PersonKind::Courier),
            1 => Just(PersonKind::Guard),
        ];
        let age = prop_oneof![3 => 18u8..90, 1 => 3u8..14, 1 => 14u8..18];
        let card_days = prop_oneof![Just(None), (1u8..60).prop_map(Some)];
        let move_in = (kind, age, card_days).prop_map(|(kind, age, card_days)| Step::MoveIn { kind, age, card_days });
        if state.next_id() == 0 {
            return move_in.boxed();
        }
        let variant = prop_oneof![
            6 => Just(ConsentVariant::Valid),
            1 => Just(ConsentVariant::Bundled),
            1 => Just(ConsentVariant::NotExplicit),
            1 => Just(ConsentVariant::ByLandlord),
            1 => Just(ConsentVariant::OtherPurpose),
            1 => Just(ConsentVariant::OtherCompound),
            2 => person_in(state).prop_map(ConsentVariant::ByGuardian),
        ];
        let at = 0usize..2;
        let component = prop_oneof![Just(Component::Camera), Just(Component::Matcher)];
        let advance = prop_oneof![
            4 => 1u64..10_000,
            2 => 10_000u64..DAY,
            1 => DAY..90 * DAY,
        ];
        let p = || person_in(state);
        prop_oneof![
            3 => move_in,
            4 => (p(), variant, 1u16..800)
                .prop_map(|(person, variant, retention_days)| Step::GiveConsent { person, variant, retention_days }),
            4 => (p(), any::<u8>()).prop_map(|(person, noise)| Step::Enroll { person, noise }),
            2 => p().prop_map(|person| Step::Withdraw { person }),
            5 => (p(), any::<bool>(), at.clone()).prop_map(|(person, frame, at)| Step::PresentCard { person, frame, at }),
            5 => (p(), any::<u8>(), at.clone()).prop_map(|(person, noise, at)| Step::PresentFace { person, noise, at }),
            1 => (0u8..16, at.clone()).prop_map(|(axis, at)| Step::PresentStranger { axis, at }),
            1 => (p(), at.clone()).prop_map(|(person, at)| Step::GuardOverride { person, at }),
            3 => (1u8..4, at.clone()).prop_map(|(count, at)| Step::Passages { count, at }),
            2 => (component, any::<bool>(), at).prop_map(|(component, down, at)| Step::Fault { component, down, at }),
            4 => advance.prop_map(|ms| Step::Advance { ms }),
            1 => (p(), 1u8..60).prop_map(|(person, days)| Step::RenewCard { person, days }),
            1 => p().prop_map(|person| Step::RevokeCard { person }),
            1 => p().prop_map(|person| Step::MoveOut { person }),
            1 => Just(Step::Export),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, step: &Step) -> bool {
        let known = |p: &u32| *p < state.next_id();
        match step {
            Step::MoveIn { .. } => state.next_id() < MAX_PERSONS,
            Step::GiveConsent { person, variant, .. } => {
                known(person) && !matches!(variant, ConsentVariant::ByGuardian(g) if !known(g))
            }
            Step::Enroll { person, .. }
            | Step::Withdraw { person }
            | Step::PresentCard { person, .. }
            | Step::PresentFace { person, .. }
            | Step::GuardOverride { person, .. }
            | Step::RenewCard { person, .. }
            | Step::RevokeCard { person }
            | Step::MoveOut { person } => known(person),
            _ => true,
        }
    }

    fn apply(mut state: Model, step: &Step) -> Model {
        state.opened = None;
        match *step {
            Step::MoveIn { kind, age, card_days } => {
                let id = state.next_id();
                let card_expires = match kind {
                    PersonKind::Owner | PersonKind::Guard => None,
                    _ => card_days.map(|d| state.now + u64::from(d) * DAY),
                };
                let person =
                    ModelPerson { kind, age, present: true, card_generation: 0, card_expires, card_revoked: false };
                state.persons.insert(id, person);
            }
            Step::GiveConsent { person, variant, retention_days } => {
                if state.consent_valid(person, variant) {
                    let retention = (u64::from(retention_days) * DAY).min(MAX_RETENTION_MS);
                    state.consent.insert(person, state.now + retention);
                }
                state.expire();
            }
            Step::Enroll { person, .. } => {
                if state.present(person) && state.consent.contains_key(&person) && state.deadline(person) > state.now {
                    state.enrolled.insert(person);
                }
            }
            Step::Withdraw { person } => {
                state.consent.remove(&person);
                state.enrolled.remove(&person);
            }
            Step::Fault { component, down, at } => {
                if down {
                    if state.down.insert((at, component)) && state.policy.opens_on_fault() {
                        state.open_door(at, DoorCause::Fault);
                    }
                } else if state.down.remove(&(at, component))
                    && state.face_up(at)
                    && state.doors[at].is_some_and(|w| w.cause == DoorCause::Fault)
                {
                    state.close_door(at);
                }
            }
            Step::Advance { ms } => {
                state.now += ms;
                state.run_door_timers(state.now);
                state.expire();
            }
            Step::RenewCard { person, days } => {
                let now = state.now;
                if let Some(m) = state.persons.get_mut(&person).filter(|m| m.present) {
                    m.card_generation += 1;
                    m.card_revoked = false;
                    m.card_expires = match m.kind {
                        PersonKind::Owner | PersonKind::Guard => None,
                        _ => Some(now + u64::from(days) * DAY),
                    };
                }
                state.expire();
            }
            Step::RevokeCard { person } => {
                // A resident's last card cannot be revoked (C2); others' can.
                if let Some(m) = state.persons.get_mut(&person).filter(|m| m.present && !m.kind.is_resident()) {
                    m.card_revoked = true;
                }
                state.expire();
            }
            Step::MoveOut { person } => {
                if let Some(m) = state.persons.get_mut(&person) {
                    m.present = false;
                }
                state.consent.remove(&person);
                state.enrolled.remove(&person);
            }
            Step::PresentCard { person, frame, at } => {
                let m = &state.persons[&person];
                let refused_resident =
                    m.kind.is_resident() && m.card_valid(state.now) && state.policy.face_only_for_residents();
                if frame && state.policy.keeps_frames() {
                    state.expect(Rule::C3);
                }
                if refused_resident {
                    state.expect(Rule::C2);
                }
                if state.card_grants(person) {
                    state.open_door(at, DoorCause::Grant);
                }
            }
            Step::PresentFace { person, at, .. } => {
                if state.face_up(at) && state.enrolled.contains(&person) {
                    let m = &state.persons[&person];
                    let only_face = m.kind.is_resident() && !m.card_valid(state.now);
                    if only_face {
                        state.expect(Rule::C2);
                    }
                    state.open_door(at, DoorCause::Grant);
                }
            }
            Step::GuardOverride { person, at } => {
                let m = &state.persons[&person];
                if m.kind == PersonKind::Guard && m.present {
                    state.open_door(at, DoorCause::Guard);
                }
            }
            Step::Passages { count, at } => {
                for _ in 0..count {
                    state.passage(at);
                }
            }
            Step::PresentStranger { .. } | Step::Export => {}
        }
        state
    }
}

struct Sut {
    compound: Compound,
    now: u64,
    checker: Checker,
    log_len: usize,
}

impl Sut {
    fn feed(&mut self, out: &[(TerminalId, Action)]) {
        for (_, a) in out {
            if let Action::Audit(r) = a {
                self.checker.observe(self.log_len, r);
                self.log_len += 1;
            }
        }
    }
    fn admin(&mut self, cmd: AdminCommand) -> Vec<(TerminalId, Action)> {
        let mut out = Vec::new();
        self.compound.admin(Timestamp(self.now), &cmd, &mut out);
        self.feed(&out);
        out
    }
    fn event(&mut self, at: usize, event: Event) -> Vec<(TerminalId, Action)> {
        let mut out = Vec::new();
        assert!(self.compound.handle(terminals()[at], Timestamp(self.now), event, &mut out));
        self.feed(&out);
        out
    }
}

fn audits(out: &[(TerminalId, Action)]) -> impl Iterator<Item = &AuditEvent> {
    out.iter().filter_map(|(_, a)| match a {
        Action::Audit(r) => Some(&r.event),
        _ => None,
    })
}

fn count(out: &[(TerminalId, Action)], pred: impl Fn(&AuditEvent) -> bool) -> usize {
    audits(out).filter(|e| pred(e)).count()
}

fn decision(out: &[(TerminalId, Action)]) -> Option<Result<PersonId, audit::DecisionReason>> {
    out.iter().find_map(|(_, a)| match a {
        Action::Grant { person, .. } => Some(Ok(*person)),
        Action::Deny { reason, .. } => Some(Err(*reason)),
        _ => None,
    })
}

fn opened(out: &[(TerminalId, Action)]) -> Option<OpenCause> {
    let mut causes = out.iter().filter_map(|(_, a)| match a {
        Action::OpenDoor { cause } => Some(*cause),
        _ => None,
    });
    let first = causes.next();
    assert_eq!(causes.next(), None, "one event opened the door twice: {out:?}");
    first
}

struct GateTest;

impl StateMachineTest for GateTest {
    type SystemUnderTest = Sut;
    type Reference = GateModel;

    fn init_test(model: &Model) -> Sut {
        let [a, b] = terminals();
        let mut fa = TerminalConfig::new(a, COMPOUND, DIM);
        fa.precision = Precision::F32;
        let fb = TerminalConfig::new(b, COMPOUND, DIM);
        let policy = model.policy.policy();
        Sut {
            compound: Compound::new(COMPOUND, policy.clone(), [fa, fb]).expect("valid config"),
            now: 0,
            checker: Checker::new(&policy),
            log_len: 0,
        }
    }

    fn apply(mut sut: Sut, model: &Model, step: Step) -> Sut {
        let now = sut.now;
        let keeps_frames = model.policy.keeps_frames();
        match step {
            Step::MoveIn { kind, age, .. } => {
                let id = model.next_id() - 1;
                let m = &model.persons[&id];
                let person = Person { id: PersonId(id), kind, household: Some(HouseholdId(id / 2)), age_years: age };
                sut.admin(AdminCommand::RegisterPerson(person));
                let card = Credential {
                    id: card_id(id, 0),
                    holder: PersonId(id),
                    kind: card_kind(kind),
                    expires_at: m.card_expires.map(Timestamp),
                };
                let out = sut.admin(AdminCommand::IssueCredential(card));
                assert!(!out.iter().any(|(_, a)| matches!(a, Action::AdminRejected(_))));
                if kind == PersonKind::Guard {
                    let id = guard_override_id(id);
                    let holder = PersonId(model.next_id() - 1);
                    let kind = CredentialKind::GuardOverride;
                    sut.admin(AdminCommand::IssueCredential(Credential { id, holder, kind, expires_at: None }));
                }
            }
            Step::GiveConsent { person, variant, retention_days } => {
                let subject = Grantor::Subject;
                let (purpose, scope, form, explicit, grantor) = match variant {
                    ConsentVariant::Valid => (Purpose::FaceAccess, COMPOUND, ConsentForm::Separate, true, subject),
                    ConsentVariant::Bundled => (Purpose::FaceAccess, COMPOUND, ConsentForm::Bundled, true, subject),
                    ConsentVariant::NotExplicit => {
                        (Purpose::FaceAccess, COMPOUND, ConsentForm::Separate, false, subject)
                    }
                    ConsentVariant::ByLandlord => {
                        (Purpose::FaceAccess, COMPOUND, ConsentForm::Separate, true, Grantor::ThirdParty(PersonId(999)))
                    }
                    ConsentVariant::OtherPurpose => (Purpose::Other, COMPOUND, ConsentForm::Separate, true, subject),
                    ConsentVariant::OtherCompound => {
                        (Purpose::FaceAccess, CompoundId(8), ConsentForm::Separate, true, subject)
                    }
                    ConsentVariant::ByGuardian(g) => {
                        (Purpose::FaceAccess, COMPOUND, ConsentForm::Separate, true, Grantor::Guardian(PersonId(g)))
                    }
                };
                let record = ConsentRecord {
                    id: ConsentId(now),
                    person: PersonId(person),
                    purpose,
                    scope,
                    form,
                    explicit,
                    grantor,
                    given_at: Timestamp(now),
                    retention_ms: u64::from(retention_days) * DAY,
                };
                let out = sut.admin(AdminCommand::RecordConsent(record));
                let accepted = count(&out, |e| matches!(e, AuditEvent::ConsentRecorded { .. }));
                let rejected = count(&out, |e| matches!(e, AuditEvent::ConsentRejected { .. }));
                // C1: every store accepts exactly the consents the model calls separate and explicit.
                assert_eq!(accepted == 2, model.consent_valid(person, variant), "consent {variant:?} for {person}");
                assert_eq!(accepted + rejected, 2);
            }
            Step::Enroll { person, noise } => {
                let embedding = embedding(person as usize, noise);
                let out = sut.admin(AdminCommand::Enroll { person: PersonId(person), embedding });
                let stored = count(&out, |e| matches!(e, AuditEvent::TemplateStored { .. }));
                let refused = count(&out, |e| matches!(e, AuditEvent::EnrollmentRefused { .. }));
                // C8: each store audits the enrolment either way; C1: stored only with consent.
                assert_eq!(stored + refused, 2);
                assert_eq!(stored == 2, model.enrolled.contains(&person));
            }
            Step::Withdraw { person } => {
                let out = sut.admin(AdminCommand::WithdrawConsent(PersonId(person)));
                assert_eq!(count(&out, |e| matches!(e, AuditEvent::ConsentWithdrawn { .. })), 2);
            }
            Step::PresentCard { person, frame, at } => {
                let m = &model.persons[&person];
                let credential = card_id(person, m.card_generation);
                let event = Event::CredentialPresented { kind: card_kind(m.kind), credential, frame_captured: frame };
                let out = sut.event(at, event);
                // C2 and C7: a valid card opens, whatever the face path or consent is doing (but for
                // a resident's under the forced-face policy, which the checker must catch).
                let grants = model.card_grants(person);
                assert_eq!(decision(&out).map(|d| d.is_ok()), Some(grants), "card of {person}: {out:?}");
                // C3: the frame is dropped unprocessed (kept only where the policy breaks C3);
                // nothing is matched.
                let discarded = count(&out, |e| {
                    matches!(e, AuditEvent::FrameDiscarded { reason: DiscardReason::NonFaceCredentialInUse })
                });
                let retained = count(&out, |e| matches!(e, AuditEvent::FrameRetained { .. }));
                assert_eq!(
                    (discarded, retained),
                    if keeps_frames { (0, usize::from(frame)) } else { (usize::from(frame), 0) }
                );
                assert_eq!(count(&out, |e| matches!(e, AuditEvent::MatchAttempt { .. })), 0);
                assert_eq!(opened(&out), model.opened, "door after the card of {person}: {out:?}");
            }
            Step::PresentFace { person, noise, at } => {
                let out = sut.event(at, Event::FaceProbe { embedding: embedding(person as usize, noise) });
                let expected = model.face_up(at) && model.enrolled.contains(&person);
                match decision(&out) {
                    Some(Ok(p)) => {
                        assert!(expected, "face of {person} granted as {p} but the model forbids it");
                        assert_eq!(p, PersonId(person));
                    }
                    Some(Err(reason)) => assert!(!expected, "face of enrolled {person} refused: {reason:?}"),
                    None => panic!("no decision for a face probe"),
                }
                if !model.face_up(at) {
                    // C7: degraded terminals do not process faces at all.
                    assert_eq!(count(&out, |e| matches!(e, AuditEvent::MatchAttempt { .. })), 0);
                }
                assert_eq!(opened(&out), model.opened, "door after the face of {person}: {out:?}");
            }
            Step::PresentStranger { axis, at } => {
                let out =
                    sut.event(at, Event::FaceProbe { embedding: embedding(STRANGER_AXIS + usize::from(axis), 0) });
                // C3: someone who never consented is never matched.
                assert!(matches!(decision(&out), Some(Err(_))));
                assert_eq!(
                    count(&out, |e| matches!(e, AuditEvent::MatchAttempt { outcome: MatchOutcome::Matched(_) })),
                    0
                );
            }
            Step::GuardOverride { person, at } => {
                let m = &model.persons[&person];
                let out = sut.event(at, Event::GuardOverride { credential: guard_override_id(person) });
                let expected = m.kind == PersonKind::Guard && m.present;
                assert_eq!(decision(&out).map(|d| d.is_ok()), Some(expected));
                assert_eq!(opened(&out), model.opened, "door after the guard override of {person}: {out:?}");
            }
            Step::Passages { count: n, at } => {
                for _ in 0..n {
                    let out = sut.event(at, Event::PassageSensed);
                    // C7: every passage is counted and audited, controlled or not.
                    let counted =
                        count(&out, |e| matches!(e, AuditEvent::Passage | AuditEvent::UncontrolledPassage { .. }));
                    assert_eq!(counted, 1);
                    assert_eq!(opened(&out), None);
                }
            }
            Step::Fault { component, down, at } => {
                let event = if down { Event::ComponentFault(component) } else { Event::ComponentRecovered(component) };
                let out = sut.event(at, event);
                // C7: a fault opens the door only where the policy breaks C7, and then it says so.
                assert_eq!(opened(&out), model.opened, "door after {component:?} down = {down}: {out:?}");
            }
            Step::Advance { ms } => {
                sut.now += ms;
                let mut out = Vec::new();
                sut.compound.advance_to(Timestamp(sut.now), &mut out);
                sut.feed(&out);
                assert_eq!(opened(&out), None);
            }
            Step::RenewCard { person, .. } => {
                let m = &model.persons[&person];
                if m.present {
                    // Issue the new card before revoking the old one, as a desk would: the stay
                    // has no gap.
                    let card = Credential {
                        id: card_id(person, m.card_generation),
                        holder: PersonId(person),
                        kind: card_kind(m.kind),
                        expires_at: m.card_expires.map(Timestamp),
                    };
                    sut.admin(AdminCommand::IssueCredential(card));
                    sut.admin(AdminCommand::RevokeCredential(card_id(person, m.card_generation - 1)));
                }
            }
            Step::RevokeCard { person } => {
                let m = &model.persons[&person];
                if m.present {
                    let out = sut.admin(AdminCommand::RevokeCredential(card_id(person, m.card_generation)));
                    let refused = out
                        .iter()
                        .filter(|(_, a)| matches!(a, Action::AdminRejected(AdminRejection::LastNonFaceCredential)))
                        .count();
                    assert_eq!(refused, if m.kind.is_resident() { 2 } else { 0 });
                }
            }
            Step::MoveOut { person } => {
                sut.admin(AdminCommand::PersonLeft(PersonId(person)));
            }
            Step::Export => {
                for what in [ExportKind::Templates, ExportKind::FaceImages] {
                    let out = sut.admin(AdminCommand::ExportRequest(what));
                    let refused =
                        out.iter().filter(|(_, a)| matches!(a, Action::AdminRejected(AdminRejection::ExportRefused)));
                    assert_eq!(refused.count(), 2);
                    assert_eq!(count(&out, |e| matches!(e, AuditEvent::ExportAttempt { refused: true, .. })), 2);
                }
            }
        }
        sut
    }

    fn check_invariants(sut: &Sut, model: &Model) {
        for t in sut.compound.terminals() {
            let stored: BTreeSet<u32> = t.store().persons().map(|p| p.0).collect();
            // C1, C4, C5: every store holds exactly the templates the model allows.
            assert_eq!(stored, model.enrolled, "store {} disagrees with the model at {}", t.id(), model.now);
            for p in &stored {
                let live = model.consent.get(p).is_some_and(|&until| model.now < until);
                assert!(live, "C1: {p} stored without live consent");
            }
            // C2: every resident whose card the model calls valid has a usable non-face credential.
            for (&id, m) in &model.persons {
                if m.kind.is_resident() && m.card_valid(model.now) {
                    let has = t.valid_non_face_credentials(PersonId(id)).next().is_some();
                    assert!(has, "C2: resident {id} has no card at {}", t.id());
                }
            }
        }
        // Everything the checker can see in the log so far: exactly the model's violations.
        let mut found: BTreeMap<Rule, usize> = BTreeMap::new();
        for v in sut.checker.violations() {
            *found.entry(v.rule).or_default() += 1;
        }
        assert_eq!(
            found,
            model.expected,
            "policy {:?}; consent checker: {:#?}",
            model.policy,
            sut.checker.violations()
        );
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        .. Config::default()
    })]

    #[test]
    fn consent_invariants_hold_for_every_sequence(sequential 1..48 => GateTest);
}
