//! The gate terminal: a sans-IO state machine in the style of `quinn-proto`.
//!
//! `handle(now, event)` returns the actions to carry out (grant or deny, open or close the door,
//! alarms) and the audit records to keep; `poll_timeout()` says when the terminal next needs to
//! be woken with [`Event::Tick`] (door timers, template deletion deadlines). It owns no clock,
//! thread or I/O, so the simulation, the host runner, the firmware and proptest drive the very
//! same code.
//!
//! Each terminal is also a template store with its own replica of the consent ledger and of the
//! credential directory, fed by [`AdminCommand`]s that the compound broadcasts to every terminal
//! (see [`crate::compound::Compound`]).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::audit::{
    AlarmKind, AuditEvent, AuditRecord, Component, DecisionReason, DeletionReason, Digest, DiscardReason,
    EnrollRefusal, ExportKind, MatchOutcome, OpenCause, Source, UncontrolledCause,
};
use crate::consent::{self, ConsentLedger, ConsentRecord};
use crate::domain::{
    CompoundId, Credential, CredentialId, CredentialKind, Person, PersonId, PersonKind, TerminalId, Timestamp,
};
use crate::policy::{FaultMode, Policy};
use crate::sync::{Downlink, LinkKey, Replica, SyncRefusal, Uplink};
use crate::template::{Candidate, Precision, Probe, TemplateError, TemplateStore};

/// Static settings of one terminal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TerminalConfig {
    pub id: TerminalId,
    pub compound: CompoundId,
    /// Embedding dimension of the gallery (128 for the simulation, 512 for the ONNX embedder).
    pub dim: usize,
    pub precision: Precision,
    /// Cosine similarity at or above which a probe matches (FIGURES.md: 0.35–0.45 for fr_feature).
    pub match_threshold: f32,
    /// How long the door stays open after the last grant if nobody passes.
    pub door_open_ms: u64,
    /// After the door is commanded shut, passages within this time still belong to the window
    /// (the leaf is still closing: that is where tailgaters slip through).
    pub door_close_grace_ms: u64,
    /// A door still sensed open this long after it was commanded shut raises "held open".
    pub held_open_alarm_ms: u64,
    /// The terminal has a face camera. One without (a card-only lane, the guard's door) never
    /// holds templates: enrolments are not sent to it, and it ignores any that arrive.
    #[serde(default = "has_camera")]
    pub camera: bool,
}

fn has_camera() -> bool {
    true
}

impl TerminalConfig {
    pub fn new(id: TerminalId, compound: CompoundId, dim: usize) -> TerminalConfig {
        TerminalConfig {
            id,
            compound,
            dim,
            precision: Precision::Int8,
            match_threshold: 0.40,
            door_open_ms: 4_000,
            door_close_grace_ms: 1_500,
            held_open_alarm_ms: 15_000,
            camera: true,
        }
    }
}

/// What the compound's management tells every terminal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminCommand {
    RegisterPerson(Person),
    /// Moved out or left: credentials revoked, consent ended, template deleted.
    PersonLeft(PersonId),
    IssueCredential(Credential),
    RevokeCredential(CredentialId),
    RecordConsent(ConsentRecord),
    WithdrawConsent(PersonId),
    /// Enrol a face. The embedding is used once and never leaves the terminal.
    Enroll {
        person: PersonId,
        embedding: Vec<f32>,
    },
    /// Someone asked for templates or face images to be exported: always refused and audited (C6).
    ExportRequest(ExportKind),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A card, ID card, PIN or visitor pass at the reader of the given kind. `frame_captured`:
    /// the camera also caught the person's face (it is discarded unprocessed, C3).
    CredentialPresented {
        kind: CredentialKind,
        credential: CredentialId,
        frame_captured: bool,
    },
    /// The camera captured a face and the extractor turned it into an embedding.
    FaceProbe {
        embedding: Vec<f32>,
    },
    /// The passage sensor counted one person through.
    PassageSensed,
    /// The door's position sensor changed.
    DoorSensor {
        open: bool,
    },
    ComponentFault(Component),
    ComponentRecovered(Component),
    /// A guard opens this door for someone (a visitor registered at the booth, a trolley).
    GuardOverride {
        credential: CredentialId,
    },
    /// Time passed; nothing else happened.
    Tick,
    Admin(AdminCommand),
    /// A frame from the compound's authority ([`crate::sync::Downlink::seal`]'s bytes), for a
    /// terminal provisioned with a link key ([`Terminal::attach_authority`]).
    FromAuthority(Vec<u8>),
    /// A face probe whose presentation-attack detection ran on the terminal's camera:
    /// `liveness` is the PAD model's bona fide probability (0–1). Below `policy.liveness_min`
    /// (or not a number) it is refused as a suspected spoof before any matching; the score is
    /// never stored or audited (C6). A camera without PAD sends [`Event::FaceProbe`].
    ScoredFaceProbe {
        embedding: Vec<f32>,
        liveness: f32,
    },
}

impl Event {
    /// The event with any embedding emptied: for reports and error messages, which must never
    /// echo biometric data (C6), even data that was only an input.
    pub fn without_biometrics(&self) -> Event {
        match self {
            Event::FaceProbe { .. } => Event::FaceProbe { embedding: Vec::new() },
            Event::ScoredFaceProbe { liveness, .. } => {
                Event::ScoredFaceProbe { embedding: Vec::new(), liveness: *liveness }
            }
            Event::Admin(AdminCommand::Enroll { person, .. }) => {
                Event::Admin(AdminCommand::Enroll { person: *person, embedding: Vec::new() })
            }
            // May carry enrolments.
            Event::FromAuthority(_) => Event::FromAuthority(Vec::new()),
            other => other.clone(),
        }
    }
}

/// Why an admin command could not be applied (it changes nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminRejection {
    UnknownPerson,
    /// The credential id is already held by someone else.
    CredentialIdTaken,
    UnknownCredential,
    /// Revoking this would leave a resident without any card, ID or PIN (C2): issue the
    /// replacement first, or register the move-out with [`AdminCommand::PersonLeft`].
    LastNonFaceCredential,
    /// Enrolment refused (the reason is audited too).
    EnrollmentRefused(EnrollRefusal),
    ConsentRejected(consent::ConsentDefect),
    ExportRefused,
    /// The terminal's identity storage is full: nothing new can be registered until room is
    /// made (move-outs, withdrawals); withdrawals and move-outs always work.
    StorageFull,
    /// This terminal takes admin commands only from its authority link (it has one).
    NotFromAuthority,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Grant {
        person: PersonId,
        credential: CredentialKind,
    },
    Deny {
        person: Option<PersonId>,
        credential: CredentialKind,
        reason: DecisionReason,
    },
    /// Open (or keep open) the door; `cause` says why, so a driver needs no audit record to
    /// know whether the door now stands open for everyone.
    OpenDoor {
        cause: OpenCause,
    },
    CloseDoor,
    Alarm(AlarmKind),
    AdminRejected(AdminRejection),
    Audit(AuditRecord),
    /// Send this to the compound's authority (acknowledgement, request, lease renewal).
    ToAuthority(Uplink),
}

/// The actions produced by one [`Terminal::handle`] call, drained from a reused buffer.
pub type Actions<'a> = alloc::vec::Drain<'a, Action>;

/// One door-open period: from the first open command until the leaf is shut again.
#[derive(Clone, Copy, Debug)]
struct DoorWindow {
    cause: OpenCause,
    grants: u32,
    passages: u32,
    /// When to command the door shut ([`Timestamp::NEVER`] while held open by a fault).
    close_at: Timestamp,
    /// Set once the door was commanded shut: the window ends then at `closing_until`.
    closing_since: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Door {
    window: Option<DoorWindow>,
    sensed_open: bool,
    held_alarm_raised: bool,
    forced_alarm_raised: bool,
}

#[derive(Clone, Copy, Debug)]
struct CredentialEntry {
    credential: Credential,
    revoked: bool,
}

/// Running totals a driver can read without parsing the audit log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalStats {
    pub grants: u64,
    pub denials: u64,
    pub passages: u64,
    pub uncontrolled_passages: u64,
    pub tailgating_detected: u64,
    pub alarms: u64,
    pub frames_discarded: u64,
    pub templates_deleted: u64,
    pub audit_records: u64,
    /// Authority-link messages refused (forged, foreign, replayed, malformed).
    pub sync_refused: u64,
    /// Face probes refused as suspected spoofs (presentation-attack detection).
    pub presentations_refused: u64,
}

/// `Clone` lets a simulation register a compound once and start several runs from it; a
/// terminal on a device is never cloned (its templates live in one store).
#[derive(Clone, Debug)]
pub struct Terminal {
    config: TerminalConfig,
    policy: Policy,
    now: Timestamp,
    seq: u64,
    /// Digest of the last audit record written (the hash chain's head).
    chain_head: Digest,
    persons: BTreeMap<PersonId, Person>,
    credentials: BTreeMap<CredentialId, CredentialEntry>,
    credentials_by_holder: BTreeSet<(PersonId, CredentialId)>,
    ledger: ConsentLedger,
    store: TemplateStore,
    camera_ok: bool,
    matcher_ok: bool,
    door: Door,
    stats: TerminalStats,
    probe: Probe,
    top: Vec<Candidate>,
    expired: Vec<PersonId>,
    actions: Vec<Action>,
    /// Set by a persistent driver when flash cannot take another template.
    storage_full: bool,
    /// Set by a persistent driver when flash cannot take another registry or consent record.
    identity_full: bool,
    /// The authority link, once provisioned: admin commands come only through it, and faces
    /// are matched only under its lease.
    replica: Option<Replica>,
    /// Writes as the compound's management (the authority's registry), not as a terminal.
    management: bool,
}

/// How many people a door window lets through: a grant admits its holder, a guard override
/// whoever the guard waves on, a fault everyone. A window only ever widens while it is open.
fn breadth(cause: OpenCause) -> u8 {
    match cause {
        OpenCause::Grant => 0,
        OpenCause::GuardOverride => 1,
        OpenCause::FaultOpenAll => 2,
    }
}

/// A terminal's durable state as read back from storage ([`crate::persist`]).
#[derive(Debug, Default)]
pub(crate) struct Restored {
    pub persons: Vec<Person>,
    pub credentials: Vec<(Credential, bool)>,
    pub consents: Vec<consent::ActiveConsent>,
    /// Sealed templates ([`TemplateStore::sealed_copy`] layout).
    pub templates: Vec<(PersonId, Vec<u8>)>,
    pub now: Timestamp,
}

impl Terminal {
    pub fn new(config: TerminalConfig, policy: Policy) -> Result<Terminal, TemplateError> {
        let store = TemplateStore::new(config.dim, config.precision)?;
        Ok(Terminal {
            config,
            policy,
            now: Timestamp::ZERO,
            seq: 0,
            chain_head: Digest::GENESIS,
            persons: BTreeMap::new(),
            credentials: BTreeMap::new(),
            credentials_by_holder: BTreeSet::new(),
            ledger: ConsentLedger::new(),
            store,
            camera_ok: true,
            matcher_ok: true,
            door: Door::default(),
            stats: TerminalStats::default(),
            probe: Probe::default(),
            top: Vec::with_capacity(1),
            expired: Vec::new(),
            actions: Vec::with_capacity(8),
            storage_full: false,
            identity_full: false,
            replica: None,
            management: false,
        })
    }

    /// A terminal rebuilt from storage. Its first audit record (seq 0, a fresh hash chain) is
    /// [`AuditEvent::Restarted`]; templates that fail to load or have no live consent left are
    /// deleted by the first sweep, which the caller runs with a [`Event::Tick`].
    pub(crate) fn restore(
        config: TerminalConfig,
        policy: Policy,
        state: Restored,
        boot: u32,
        torn: u32,
        rejected: u32,
    ) -> Result<(Terminal, Vec<PersonId>), TemplateError> {
        let mut t = Terminal::new(config, policy)?;
        t.now = state.now;
        for p in state.persons {
            t.persons.insert(p.id, p);
        }
        for (credential, revoked) in state.credentials {
            t.credentials.insert(credential.id, CredentialEntry { credential, revoked });
            t.credentials_by_holder.insert((credential.holder, credential.id));
        }
        let consents = state.consents.len() as u32;
        let recovered_consents: Vec<(PersonId, crate::domain::ConsentId)> =
            state.consents.iter().map(|c| (c.record.person, c.record.id)).collect();
        for c in state.consents {
            t.ledger.restore(c);
        }
        let mut unreadable = Vec::new();
        for (person, sealed) in &state.templates {
            // Deadlines are recomputed from what was restored, never trusted from flash.
            let deadline = t.template_deadline(*person);
            if t.store.restore_sealed(*person, sealed, deadline).is_err() {
                unreadable.push(*person);
            }
        }
        t.audit(AuditEvent::Restarted {
            boot,
            persons: t.persons.len() as u32,
            consents,
            templates: t.store.len() as u32,
            torn,
            rejected,
        });
        // What the new life holds, so a log whose last records a power cut lost still says it.
        for (person, consent) in recovered_consents {
            t.audit(AuditEvent::ConsentRecovered { person, consent });
        }
        for (person, _) in &state.templates {
            if !unreadable.contains(person) {
                t.audit(AuditEvent::TemplateRecovered { person: *person });
            }
        }
        Ok((t, unreadable))
    }

    /// While set, enrolments are refused with [`EnrollRefusal::StorageFull`].
    pub fn set_storage_full(&mut self, full: bool) {
        self.storage_full = full;
    }

    /// While set, registrations, new cards and consents are refused with
    /// [`AdminRejection::StorageFull`] (withdrawals, revocations and move-outs still work).
    pub fn set_identity_full(&mut self, full: bool) {
        self.identity_full = full;
    }

    /// Audit inputs a driver dropped (a flood): one record for `count` of them.
    pub fn record_dropped_inputs(&mut self, now: Timestamp, count: u32) -> Actions<'_> {
        self.actions.clear();
        if now > self.now {
            self.now = now;
        }
        self.audit(AuditEvent::InputDropped { count });
        self.actions.drain(..)
    }

    /// Actions produced outside `handle` (the restart record).
    pub(crate) fn take_pending(&mut self) -> Vec<Action> {
        self.actions.drain(..).collect()
    }

    pub(crate) fn credential_entry(&self, id: CredentialId) -> Option<(Credential, bool)> {
        self.credentials.get(&id).map(|e| (e.credential, e.revoked))
    }

    pub fn id(&self) -> TerminalId {
        self.config.id
    }
    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn store(&self) -> &TemplateStore {
        &self.store
    }
    pub fn ledger(&self) -> &ConsentLedger {
        &self.ledger
    }
    pub fn stats(&self) -> TerminalStats {
        self.stats
    }
    pub fn now(&self) -> Timestamp {
        self.now
    }
    /// True while the camera and matcher both work (face path available).
    pub fn face_available(&self) -> bool {
        self.camera_ok && self.matcher_ok
    }
    pub fn door_commanded_open(&self) -> bool {
        self.door.window.is_some_and(|w| w.closing_since.is_none())
    }
    pub fn person(&self, id: PersonId) -> Option<&Person> {
        self.persons.get(&id)
    }
    /// The person's usable (issued, unrevoked, unexpired) non-face credentials.
    pub fn valid_non_face_credentials(&self, person: PersonId) -> impl Iterator<Item = &Credential> + '_ {
        let now = self.now;
        self.holder_credentials(person)
            .filter(move |e| !e.revoked && !e.credential.is_expired(now) && e.credential.kind.is_personal_non_face())
            .map(|e| &e.credential)
    }

    /// When the terminal next needs [`Event::Tick`], if ever.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next = self.store.next_deadline();
        if let Some(w) = self.door.window {
            let door_timer = match w.closing_since {
                None => w.close_at,
                Some(since) if !self.door.sensed_open => since.plus_ms(self.config.door_close_grace_ms),
                // Still sensed open after the close command: only the held-open alarm is pending.
                Some(since) if !self.door.held_alarm_raised => since.plus_ms(self.config.held_open_alarm_ms),
                Some(_) => Timestamp::NEVER,
            };
            next = next.min(door_timer);
        }
        if let Some(r) = &self.replica {
            next = next.min(r.next_request_at);
            if let Some(until) = r.lease_until {
                next = next.min(until);
            }
        }
        (next != Timestamp::NEVER).then_some(next)
    }

    /// Feed one event at time `now`; returns what to do. Never panics, whatever the input.
    pub fn handle(&mut self, now: Timestamp, event: Event) -> Actions<'_> {
        if let Event::Admin(cmd) = &event {
            return self.handle_admin(now, cmd);
        }
        self.begin(now);
        match event {
            Event::CredentialPresented { kind, credential, frame_captured } => {
                self.on_credential(kind, credential, frame_captured)
            }
            Event::FaceProbe { embedding } => self.on_face(&embedding, None),
            Event::ScoredFaceProbe { embedding, liveness } => self.on_face(&embedding, Some(liveness)),
            Event::PassageSensed => self.on_passage(),
            Event::DoorSensor { open } => self.on_door_sensor(open),
            Event::ComponentFault(c) => self.on_fault(c),
            Event::ComponentRecovered(c) => self.on_recovery(c),
            Event::GuardOverride { credential } => self.on_guard_override(credential),
            Event::FromAuthority(frame) => self.on_authority_frame(&frame),
            Event::Tick | Event::Admin(_) => {}
        }
        self.finish()
    }

    /// Whether a compound's broadcast of `cmd` reaches this terminal: enrolments go only to
    /// terminals with a camera (the others must never hold templates), everything else to all.
    pub fn takes_broadcast(&self, cmd: &AdminCommand) -> bool {
        !matches!(cmd, AdminCommand::Enroll { .. }) || self.config.camera
    }

    /// [`Terminal::handle`] for an admin command the caller keeps: a compound broadcasting one
    /// enrolment to every terminal need not copy its embedding for each. A terminal linked to
    /// an authority refuses it (audited): its admin commands come only through the link.
    pub fn handle_admin(&mut self, now: Timestamp, cmd: &AdminCommand) -> Actions<'_> {
        self.begin(now);
        if self.replica.is_some() {
            self.refuse_sync(SyncRefusal::AdminOutsideAuthority);
            self.reject(AdminRejection::NotFromAuthority);
        } else {
            self.on_admin(cmd);
        }
        self.finish()
    }

    /// Apply an admin command without the link check: the authority's own registry, and a
    /// replica applying an authenticated entry.
    pub(crate) fn apply_entry(&mut self, now: Timestamp, cmd: &AdminCommand) -> Actions<'_> {
        self.begin(now);
        self.on_admin(cmd);
        self.finish()
    }

    /// Write one record of the authority's own (it speaks as management).
    pub(crate) fn record_management(&mut self, now: Timestamp, event: AuditEvent) -> Actions<'_> {
        self.begin(now);
        self.audit(event);
        self.finish()
    }

    /// Make this terminal the authority's registry: its records are the management's.
    pub(crate) fn speak_for_management(&mut self) {
        self.management = true;
    }

    /// Move the clock (timers of the registry).
    pub(crate) fn advance(&mut self, now: Timestamp) {
        self.begin(now);
        self.finish();
    }

    /// When `person`'s template must be gone (see the retention rules).
    pub(crate) fn deadline_of(&self, person: PersonId) -> Timestamp {
        self.template_deadline(person)
    }

    /// Link this terminal to its compound's authority. From now on admin commands are taken
    /// only from authenticated authority frames, and faces are matched only under a live
    /// lease: it starts lapsed (audited) and asks at once. `applied` is the version it has
    /// durably applied, `boot` its boot count (nonces never repeat across restarts).
    pub fn attach_authority(&mut self, now: Timestamp, key: LinkKey, applied: u64, boot: u32) -> Actions<'_> {
        self.begin(now);
        self.replica = Some(Replica::new(key, applied, boot, self.now));
        self.audit(AuditEvent::LeaseLapsed { last_contact: None });
        self.run_timers();
        self.finish()
    }

    /// The version of the authority's log applied, if linked.
    pub fn sync_version(&self) -> Option<u64> {
        self.replica.as_ref().map(|r| r.applied)
    }

    /// Whether a linked terminal's lease is live now (true for an unlinked terminal).
    pub fn lease_live(&self) -> bool {
        self.replica.as_ref().is_none_or(|r| r.lease_live(self.now))
    }

    fn begin(&mut self, now: Timestamp) {
        self.actions.clear();
        if now < self.now {
            // Keep our own monotonic time: a clock stepping back must not undo deadlines.
            self.audit(AuditEvent::ClockWentBackwards { reported: now });
        } else {
            self.now = now;
        }
        self.run_timers();
    }

    fn finish(&mut self) -> Actions<'_> {
        // Admin commands can move deadlines into the past (a card revoked): act on them now.
        self.sweep_templates();
        self.actions.drain(..)
    }

    // ---- audit and decisions -------------------------------------------------------------

    fn audit(&mut self, event: AuditEvent) {
        let source = if self.management { Source::Management } else { Source::Terminal(self.config.id) };
        let record = AuditRecord::chained(&self.chain_head, self.seq, self.now, source, event);
        self.chain_head = record.digest;
        self.seq += 1;
        self.stats.audit_records += 1;
        self.actions.push(Action::Audit(record));
    }

    fn decide(&mut self, person: Option<PersonId>, credential: CredentialKind, reason: DecisionReason) {
        self.audit(AuditEvent::AccessDecision { person, credential, reason });
        match (reason.grants(), person) {
            (true, Some(person)) => {
                self.stats.grants += 1;
                self.actions.push(Action::Grant { person, credential });
                let cause =
                    if reason == DecisionReason::GuardOverride { OpenCause::GuardOverride } else { OpenCause::Grant };
                self.open_door(cause);
            }
            _ => {
                self.stats.denials += 1;
                self.actions.push(Action::Deny { person, credential, reason });
            }
        }
    }

    fn alarm(&mut self, kind: AlarmKind) {
        self.stats.alarms += 1;
        self.audit(AuditEvent::Alarm { kind });
        self.actions.push(Action::Alarm(kind));
    }

    // ---- door ----------------------------------------------------------------------------

    /// Open the door for `cause`, or widen the window already open. Every change of why the door
    /// is open is audited (C7's evidence must not depend on what was open before); a narrower
    /// cause inside a wider open window changes nothing but the grant count.
    fn open_door(&mut self, cause: OpenCause) {
        let close_at = if cause == OpenCause::FaultOpenAll {
            Timestamp::NEVER
        } else {
            self.now.plus_ms(self.config.door_open_ms)
        };
        let granted = u32::from(cause == OpenCause::Grant);
        let fresh = DoorWindow { cause, grants: granted, passages: 0, close_at, closing_since: None };
        let announce = match &mut self.door.window {
            None => {
                self.door.window = Some(fresh);
                self.door.held_alarm_raised = false;
                true
            }
            // The wider reason has ended and the leaf is closing: the door reopens for this one alone.
            Some(w) if w.closing_since.is_some() && breadth(cause) < breadth(w.cause) => {
                *w = fresh;
                true
            }
            Some(w) => {
                let reopened = w.closing_since.take().is_some();
                let widened = breadth(cause) > breadth(w.cause);
                if widened {
                    w.cause = cause;
                }
                w.grants = w.grants.saturating_add(granted);
                w.close_at = w.close_at.max(close_at);
                reopened || widened
            }
        };
        if announce && let Some(w) = self.door.window {
            self.actions.push(Action::OpenDoor { cause: w.cause });
            self.audit(AuditEvent::DoorOpened { cause: w.cause });
        }
    }

    fn close_door(&mut self) {
        if let Some(w) = &mut self.door.window
            && w.closing_since.is_none()
        {
            w.closing_since = Some(self.now);
            self.actions.push(Action::CloseDoor);
            self.audit(AuditEvent::DoorClosed);
        }
    }

    fn run_timers(&mut self) {
        let now = self.now;
        if let Some(w) = self.door.window {
            match w.closing_since {
                None if now >= w.close_at => self.close_door(),
                Some(since) if now >= since.plus_ms(self.config.door_close_grace_ms) && !self.door.sensed_open => {
                    self.door.window = None;
                }
                _ => {}
            }
        }
        let shut_since = self.door.window.and_then(|w| w.closing_since);
        if let Some(since) = shut_since
            && self.door.sensed_open
            && !self.door.held_alarm_raised
            && now >= since.plus_ms(self.config.held_open_alarm_ms)
        {
            self.door.held_alarm_raised = true;
            self.alarm(AlarmKind::DoorHeldOpen);
        }
        self.sweep_templates();
        self.run_link_timers();
    }

    // ---- the authority link --------------------------------------------------------------

    fn run_link_timers(&mut self) {
        let now = self.now;
        let Some(r) = self.replica.as_mut() else { return };
        if let Some(until) = r.lease_until
            && now >= until
        {
            r.lease_until = None;
            let last_contact = Timestamp(until.0.saturating_sub(self.policy.lease_ms));
            self.audit(AuditEvent::LeaseLapsed { last_contact: Some(last_contact) });
        }
        if self.replica.as_ref().is_some_and(|r| now >= r.next_request_at) {
            self.send_request();
        }
    }

    fn send_request(&mut self) {
        let (now, lease, compound, id) = (self.now, self.policy.lease_ms, self.config.compound, self.config.id);
        if let Some(r) = self.replica.as_mut() {
            let up = r.request(now, lease, compound, id);
            self.actions.push(Action::ToAuthority(up));
        }
    }

    fn refuse_sync(&mut self, reason: SyncRefusal) {
        self.stats.sync_refused += 1;
        self.audit(AuditEvent::SyncRefused { reason });
    }

    fn on_authority_frame(&mut self, frame: &[u8]) {
        let Some(r) = self.replica.as_ref() else {
            return self.refuse_sync(SyncRefusal::BadTag);
        };
        let down = match Downlink::open(frame, &r.key) {
            Ok(d) => d,
            Err(why) => return self.refuse_sync(why),
        };
        let applied = r.applied;
        let answers = r.answers_open_request(down.nonce);
        if down.compound != self.config.compound || down.terminal != self.config.id {
            return self.refuse_sync(SyncRefusal::WrongAddress);
        }
        if down.head < applied {
            // An old frame again, or an authority that lost its log.
            let why = if answers { SyncRefusal::AuthorityBehind } else { SyncRefusal::Replayed };
            return self.refuse_sync(why);
        }
        let last = down.first + down.entries.len() as u64 - 1;
        let new = last > applied && down.first <= applied + 1;
        if !new && !answers && down.nonce.is_some() {
            return self.refuse_sync(SyncRefusal::Replayed);
        }
        if new {
            // In version order, each exactly once: those already applied are skipped.
            let skip = (applied + 1 - down.first) as usize;
            for command in down.entries.iter().skip(skip) {
                if let Some(command) = command {
                    self.on_admin(command);
                }
                if let Some(r) = self.replica.as_mut() {
                    r.applied += 1;
                }
            }
        }
        // Deletions the entries made due happen before the lease can run again.
        self.sweep_templates();
        let lease = self.policy.lease_ms;
        let Some(r) = self.replica.as_mut() else { return };
        let applied_now = r.applied;
        if let Some(contact_at) = r.renew(down.nonce, down.head, lease) {
            self.audit(AuditEvent::LeaseRenewed { contact_at, version: applied_now });
        } else if new || down.nonce.is_none() || applied_now < down.head {
            // Acknowledge, and ask for the rest (a gap, a batch that stopped short, a push).
            self.send_request();
        }
    }

    fn on_passage(&mut self) {
        self.stats.passages += 1;
        let Some(w) = self.door.window.as_mut() else {
            let cause =
                if self.door.sensed_open { UncontrolledCause::DoorForced } else { UncontrolledCause::Unexplained };
            self.uncontrolled(cause);
            if cause == UncontrolledCause::Unexplained {
                self.alarm(AlarmKind::UnexplainedPassage);
            }
            return;
        };
        w.passages = w.passages.saturating_add(1);
        let (cause, passages, grants, closing) = (w.cause, w.passages, w.grants, w.closing_since.is_some());
        match cause {
            OpenCause::Grant if passages <= grants => {
                self.audit(AuditEvent::Passage);
                if passages == grants && !closing {
                    // Everyone granted is through: shut now rather than wait for the timer.
                    self.close_door();
                }
            }
            OpenCause::Grant => {
                self.stats.tailgating_detected += 1;
                self.uncontrolled(UncontrolledCause::Tailgating);
                self.alarm(AlarmKind::Tailgating);
            }
            // A window widened by a guard or a fault: those granted before or inside it pass as
            // granted, once each; everyone else is uncontrolled.
            _ if passages <= grants => self.audit(AuditEvent::Passage),
            OpenCause::GuardOverride => self.uncontrolled(UncontrolledCause::GuardBypass),
            OpenCause::FaultOpenAll => self.uncontrolled(UncontrolledCause::FaultOpen),
        }
    }

    fn uncontrolled(&mut self, cause: UncontrolledCause) {
        self.stats.uncontrolled_passages += 1;
        self.audit(AuditEvent::UncontrolledPassage { cause });
    }

    fn on_door_sensor(&mut self, open: bool) {
        if open == self.door.sensed_open {
            return;
        }
        self.door.sensed_open = open;
        if open {
            if self.door.window.is_none() && !self.door.forced_alarm_raised {
                self.door.forced_alarm_raised = true;
                self.alarm(AlarmKind::DoorForced);
            }
        } else {
            self.door.forced_alarm_raised = false;
            self.door.held_alarm_raised = false;
            if self.door.window.is_some_and(|w| w.closing_since.is_some()) {
                self.door.window = None;
            }
        }
    }

    // ---- faults --------------------------------------------------------------------------

    fn on_fault(&mut self, component: Component) {
        let flag = match component {
            Component::Camera => &mut self.camera_ok,
            Component::Matcher => &mut self.matcher_ok,
        };
        if !*flag {
            return;
        }
        *flag = false;
        self.audit(AuditEvent::ComponentFault { component });
        if self.policy.on_fault == FaultMode::OpenForAll {
            self.open_door(OpenCause::FaultOpenAll);
        }
    }

    fn on_recovery(&mut self, component: Component) {
        let flag = match component {
            Component::Camera => &mut self.camera_ok,
            Component::Matcher => &mut self.matcher_ok,
        };
        if *flag {
            return;
        }
        *flag = true;
        self.audit(AuditEvent::ComponentRecovered { component });
        if self.face_available() && self.door.window.is_some_and(|w| w.cause == OpenCause::FaultOpenAll) {
            self.close_door();
        }
    }

    // ---- credentials and faces -----------------------------------------------------------

    fn holder_credentials(&self, person: PersonId) -> impl Iterator<Item = &CredentialEntry> + '_ {
        self.credentials_by_holder
            .range((person, CredentialId(0))..=(person, CredentialId(u64::MAX)))
            .filter_map(|(_, id)| self.credentials.get(id))
    }

    fn on_credential(&mut self, kind: CredentialKind, id: CredentialId, frame_captured: bool) {
        let entry = self.credentials.get(&id).copied().filter(|e| e.credential.kind == kind);
        let holder = entry.map(|e| e.credential.holder);
        if frame_captured {
            // C3: the frame is dropped before anything looks at it, whoever holds the card.
            match holder {
                Some(person) if !self.policy.discard_incidental_frames => {
                    self.audit(AuditEvent::FrameRetained { person })
                }
                _ => {
                    self.stats.frames_discarded += 1;
                    self.audit(AuditEvent::FrameDiscarded { reason: DiscardReason::NonFaceCredentialInUse })
                }
            }
        }
        let Some(entry) = entry else {
            return self.decide(None, kind, DecisionReason::UnknownCredential);
        };
        let person = entry.credential.holder;
        let reason = match self.persons.get(&person) {
            None => DecisionReason::UnknownPerson,
            Some(_) if entry.revoked => DecisionReason::CredentialRevoked,
            Some(_) if entry.credential.is_expired(self.now) => DecisionReason::CredentialExpired,
            Some(_) if !kind.is_personal_non_face() => DecisionReason::CredentialNotAccepted,
            Some(p) if p.kind.is_resident() && !self.policy.face_optional => DecisionReason::FaceRequiredByPolicy,
            Some(p) if p.kind.is_resident() && !self.policy.accepts_resident_non_face(kind) => {
                DecisionReason::CredentialNotAccepted
            }
            Some(_) => DecisionReason::CredentialValid,
        };
        self.decide(Some(person), kind, reason);
    }

    fn on_face(&mut self, embedding: &[f32], liveness: Option<f32>) {
        if !self.lease_live() {
            // Cut off from the authority for longer than the lease: a withdrawal may be
            // waiting; the person uses a card (C7).
            self.stats.frames_discarded += 1;
            self.audit(AuditEvent::FrameDiscarded { reason: DiscardReason::LeaseLapsed });
            return self.decide(None, CredentialKind::Face, DecisionReason::LeaseLapsed);
        }
        if !self.face_available() {
            self.stats.frames_discarded += 1;
            self.audit(AuditEvent::FrameDiscarded { reason: DiscardReason::Degraded });
            return self.decide(None, CredentialKind::Face, DecisionReason::FaceUnavailable);
        }
        // A score that is not a number is no evidence of a live face either.
        if let Some(score) = liveness
            && (score.is_nan() || score < self.policy.liveness_min)
        {
            self.stats.presentations_refused += 1;
            self.stats.frames_discarded += 1;
            self.audit(AuditEvent::FrameDiscarded { reason: DiscardReason::SuspectedSpoof });
            return self.decide(None, CredentialKind::Face, DecisionReason::SuspectedSpoof);
        }
        if self.probe.prepare(embedding, self.config.dim).is_err() {
            self.audit(AuditEvent::MatchAttempt { outcome: MatchOutcome::Rejected });
            return self.decide(None, CredentialKind::Face, DecisionReason::BadProbe);
        }
        let searched = self.store.search_into(&self.probe, 1, self.config.match_threshold, &mut self.top);
        let now = self.now;
        // Defence in depth for C3/C4: a hit without live consent is treated as no match.
        let hit = match searched {
            Ok(()) => self.top.first().map(|c| c.person).filter(|&p| self.ledger.active(p, now).is_some()),
            Err(_) => None,
        };
        match hit {
            Some(person) => {
                self.audit(AuditEvent::MatchAttempt { outcome: MatchOutcome::Matched(person) });
                self.decide(Some(person), CredentialKind::Face, DecisionReason::FaceMatched);
            }
            None => {
                self.audit(AuditEvent::MatchAttempt { outcome: MatchOutcome::NoMatch });
                self.decide(None, CredentialKind::Face, DecisionReason::NoFaceMatch);
            }
        }
    }

    fn on_guard_override(&mut self, id: CredentialId) {
        let entry = self.credentials.get(&id).copied();
        let guard = entry.and_then(|e| self.persons.get(&e.credential.holder).copied());
        let reason = match (entry, guard) {
            (None, _) => DecisionReason::UnknownCredential,
            (Some(_), None) => DecisionReason::UnknownPerson,
            (Some(e), Some(_)) if e.revoked => DecisionReason::CredentialRevoked,
            (Some(e), Some(_)) if e.credential.is_expired(self.now) => DecisionReason::CredentialExpired,
            (Some(e), Some(g)) if e.credential.kind != CredentialKind::GuardOverride || g.kind != PersonKind::Guard => {
                DecisionReason::CredentialNotAccepted
            }
            (Some(_), Some(_)) => DecisionReason::GuardOverride,
        };
        self.decide(entry.map(|e| e.credential.holder), CredentialKind::GuardOverride, reason);
    }

    // ---- retention -----------------------------------------------------------------------

    /// When `person`'s template must be gone: the consent's retention or, for people whose stay
    /// is time-limited, the expiry of their last card, whichever is first (C5).
    fn template_deadline(&self, person: PersonId) -> Timestamp {
        let consent_end = self.ledger.active(person, self.now).map_or(self.now, |c| c.retention_until);
        let stay_end = match self.persons.get(&person) {
            Some(p) if p.kind.is_time_limited() => self.stay_end(person),
            Some(_) => Timestamp::NEVER,
            None => self.now,
        };
        consent_end.min(stay_end)
    }

    /// End of a time-limited person's stay: the expiry of their last usable card. Without one
    /// their stay (and with it the template's purpose) has ended.
    fn stay_end(&self, person: PersonId) -> Timestamp {
        self.holder_credentials(person)
            .filter(|e| !e.revoked && e.credential.kind.is_personal_non_face())
            .map(|e| e.credential.expires_at.unwrap_or(Timestamp::NEVER))
            .max()
            .unwrap_or(self.now)
    }

    fn refresh_deadline(&mut self, person: PersonId) {
        if self.store.contains(person) {
            let deadline = self.template_deadline(person);
            self.store.set_deadline(person, deadline);
        }
    }

    fn sweep_templates(&mut self) {
        let now = self.now;
        if now < self.store.next_deadline() {
            return;
        }
        let mut expired = core::mem::take(&mut self.expired);
        expired.clear();
        self.store.remove_expired(now, |p| expired.push(p));
        for &person in &expired {
            let reason = if self.ledger.active(person, now).is_none() {
                DeletionReason::RetentionExpired
            } else {
                DeletionReason::PurposeEnded
            };
            self.stats.templates_deleted += 1;
            self.audit(AuditEvent::TemplateDeleted { person, reason });
        }
        self.expired = expired;
        self.ledger.expire(now);
    }

    fn delete_template(&mut self, person: PersonId, reason: DeletionReason) {
        if self.store.remove(person) {
            self.stats.templates_deleted += 1;
            self.audit(AuditEvent::TemplateDeleted { person, reason });
        }
    }

    // ---- admin ---------------------------------------------------------------------------

    fn reject(&mut self, why: AdminRejection) {
        self.actions.push(Action::AdminRejected(why));
    }

    fn on_admin(&mut self, cmd: &AdminCommand) {
        let adds_identity = matches!(
            cmd,
            AdminCommand::RegisterPerson(_) | AdminCommand::IssueCredential(_) | AdminCommand::RecordConsent(_)
        );
        if adds_identity && self.identity_full {
            return self.reject(AdminRejection::StorageFull);
        }
        match *cmd {
            AdminCommand::RegisterPerson(person) => {
                self.persons.insert(person.id, person);
                self.audit(AuditEvent::PersonRegistered {
                    person: person.id,
                    kind: person.kind,
                    minor: person.is_minor(),
                });
                self.refresh_deadline(person.id);
            }
            AdminCommand::PersonLeft(person) => {
                if self.persons.remove(&person).is_none() {
                    return self.reject(AdminRejection::UnknownPerson);
                }
                self.delete_template(person, DeletionReason::PersonLeft);
                if self.ledger.withdraw(person) {
                    self.audit(AuditEvent::ConsentWithdrawn { person });
                }
                let held: Vec<CredentialId> =
                    self.holder_credentials(person).filter(|e| !e.revoked).map(|e| e.credential.id).collect();
                for credential in held {
                    if let Some(e) = self.credentials.get_mut(&credential) {
                        e.revoked = true;
                    }
                    self.audit(AuditEvent::CredentialRevoked { person, credential });
                }
                self.audit(AuditEvent::PersonLeft { person });
            }
            AdminCommand::IssueCredential(credential) => {
                if !self.persons.contains_key(&credential.holder) {
                    return self.reject(AdminRejection::UnknownPerson);
                }
                if let Some(old) = self.credentials.get(&credential.id)
                    && old.credential.holder != credential.holder
                {
                    return self.reject(AdminRejection::CredentialIdTaken);
                }
                self.credentials.insert(credential.id, CredentialEntry { credential, revoked: false });
                self.credentials_by_holder.insert((credential.holder, credential.id));
                self.audit(AuditEvent::CredentialIssued {
                    person: credential.holder,
                    credential: credential.id,
                    kind: credential.kind,
                    expires_at: credential.expires_at,
                });
                self.refresh_deadline(credential.holder);
            }
            AdminCommand::RevokeCredential(id) => {
                let Some(entry) = self.credentials.get_mut(&id) else {
                    return self.reject(AdminRejection::UnknownCredential);
                };
                if entry.revoked {
                    return;
                }
                let credential = entry.credential;
                let person = credential.holder;
                let resident = self.persons.get(&person).is_some_and(|p| p.kind.is_resident());
                if resident && credential.kind.is_personal_non_face() {
                    let others = self
                        .holder_credentials(person)
                        .filter(|e| !e.revoked && e.credential.id != id && e.credential.kind.is_personal_non_face())
                        .count();
                    if others == 0 {
                        return self.reject(AdminRejection::LastNonFaceCredential);
                    }
                }
                if let Some(entry) = self.credentials.get_mut(&id) {
                    entry.revoked = true;
                }
                self.audit(AuditEvent::CredentialRevoked { person, credential: id });
                self.refresh_deadline(person);
            }
            AdminCommand::RecordConsent(record) => self.on_consent(record),
            AdminCommand::WithdrawConsent(person) => {
                // Withdrawal needs nothing but the person: as easy as consent (C4).
                self.ledger.withdraw(person);
                self.audit(AuditEvent::ConsentWithdrawn { person });
                self.delete_template(person, DeletionReason::Withdrawn);
            }
            // Data minimisation: no camera, no templates.
            AdminCommand::Enroll { .. } if !self.config.camera => {}
            AdminCommand::Enroll { person, ref embedding } => self.on_enroll(person, embedding),
            AdminCommand::ExportRequest(what) => {
                self.audit(AuditEvent::ExportAttempt { what, refused: true });
                self.reject(AdminRejection::ExportRefused);
            }
        }
    }

    fn on_consent(&mut self, record: ConsentRecord) {
        let subject = self.persons.get(&record.person);
        let guardian = match record.grantor {
            consent::Grantor::Guardian(g) => self.persons.get(&g),
            _ => None,
        };
        match consent::validate(&record, self.config.compound, subject, guardian, self.now) {
            Ok(grantor) => {
                let minor = subject.is_some_and(|p| p.is_minor());
                let retention_until = self.ledger.accept(record, &self.policy);
                self.audit(AuditEvent::ConsentRecorded {
                    person: record.person,
                    consent: record.id,
                    purpose: record.purpose,
                    form: record.form,
                    explicit: record.explicit,
                    grantor,
                    subject_minor: minor,
                    retention_until,
                });
                self.refresh_deadline(record.person);
            }
            Err(defect) => {
                self.audit(AuditEvent::ConsentRejected { person: record.person, consent: record.id, defect });
                self.reject(AdminRejection::ConsentRejected(defect));
            }
        }
    }

    fn on_enroll(&mut self, person: PersonId, embedding: &[f32]) {
        let refusal = if !self.persons.contains_key(&person) {
            Some(EnrollRefusal::UnknownPerson)
        } else if self.ledger.active(person, self.now).is_none() {
            Some(EnrollRefusal::NoValidConsent)
        } else if self.template_deadline(person) <= self.now {
            Some(EnrollRefusal::PurposeEnded)
        } else if self.storage_full {
            Some(EnrollRefusal::StorageFull)
        } else {
            None
        };
        let result = match refusal {
            Some(r) => Err(r),
            None => {
                let deadline = self.template_deadline(person);
                self.store.insert(person, embedding, deadline).map(|()| deadline).map_err(EnrollRefusal::BadEmbedding)
            }
        };
        match result {
            Ok(delete_by) => self.audit(AuditEvent::TemplateStored { person, delete_by }),
            Err(reason) => {
                self.audit(AuditEvent::EnrollmentRefused { person, reason });
                self.reject(AdminRejection::EnrollmentRefused(reason));
            }
        }
    }
}
