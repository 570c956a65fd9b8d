//! The consent checker: reads an audit log (from the simulation, the host or a target board)
//! plus the compound's policy and reports every violation of C1–C8 (`shared/RULES.md`) with the
//! rule, the record index and one sentence.
//!
//! It knows only the log format and the policy, never a terminal's internals, and it recomputes
//! every deadline itself instead of trusting what the log claims. It streams: feed records one
//! at a time with [`Checker::observe`], so logs of any length are checked in one pass.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::audit::{
    AuditEvent, AuditRecord, DecisionReason, Digest, MatchOutcome, OpenCause, Source, UncontrolledCause,
};
use crate::consent::{ConsentForm, GrantorKind, Purpose};
use crate::domain::{ConsentId, CredentialId, CredentialKind, PersonId, PersonKind, TerminalId, Timestamp};
use crate::policy::{FaultMode, MAX_LAWFUL_RETENTION_MS, Policy};

/// One of the invariants of `shared/RULES.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    C1,
    C2,
    C3,
    C4,
    C5,
    C6,
    C7,
    C8,
}

impl Rule {
    pub const ALL: [Rule; 8] = [Rule::C1, Rule::C2, Rule::C3, Rule::C4, Rule::C5, Rule::C6, Rule::C7, Rule::C8];

    pub fn title(self) -> &'static str {
        match self {
            Rule::C1 => "separate, explicit consent before any template",
            Rule::C2 => "a non-face way in that is no worse",
            Rule::C3 => "non-consenting people are never matched, their frames never kept",
            Rule::C4 => "withdrawal deletes everywhere within a bound",
            Rule::C5 => "retention ends with the purpose or the limit",
            Rule::C6 => "biometric data never leaves",
            Rule::C7 => "faults degrade to non-face, never to open-for-all",
            Rule::C8 => "every biometric operation audited, log complete",
        }
    }
}

impl core::fmt::Display for Rule {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub rule: Rule,
    /// 0-based index of the record at fault; `None` for the policy itself.
    pub record: Option<usize>,
    pub message: String,
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.record {
            Some(i) => write!(f, "{} at record {}: {}", self.rule, i, self.message),
            None => write!(f, "{} in the policy: {}", self.rule, self.message),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub policy: String,
    pub records: usize,
    pub violations: Vec<Violation>,
    /// 0-based index of the first record whose hash-chain link does not verify (also reported
    /// as a C8 violation): that record, or the one before it, was edited, dropped or inserted.
    #[serde(default)]
    pub first_broken_link: Option<usize>,
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
    pub fn count(&self, rule: Rule) -> usize {
        self.violations.iter().filter(|v| v.rule == rule).count()
    }
}

/// The smallest [`Source`] in its derived order (terminals sort before management).
const FIRST_SOURCE: Source =
    Source::Terminal(TerminalId { gate: crate::domain::GateId(0), direction: crate::domain::Direction::Inbound });

/// Check a whole log.
pub fn check(log: &[AuditRecord], policy: &Policy) -> Report {
    let mut checker = Checker::new(policy);
    for (i, r) in log.iter().enumerate() {
        checker.observe(i, r);
    }
    checker.finish()
}

#[derive(Clone, Copy, Debug)]
struct PersonInfo {
    kind: PersonKind,
}

#[derive(Clone, Copy, Debug)]
struct CredentialInfo {
    kind: CredentialKind,
    expires_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug)]
struct ConsentInfo {
    /// Why the consent cannot allow a template, if it cannot.
    defect: Option<&'static str>,
    retention_until: Timestamp,
    /// When it was withdrawn (the first withdrawal record seen).
    withdrawn_at: Option<(Timestamp, usize)>,
}

/// Why a template must be gone by a time, and which record created that duty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Duty {
    Withdrawal,
    PersonLeft,
    Retention,
    StayEnded,
}

#[derive(Clone, Copy, Debug)]
struct TemplateInfo {
    deadline: Timestamp,
    duty: Duty,
    origin: usize,
    /// Under an authority: the log version from which a replica knows of the duty (every
    /// version about the person so far).
    version: Option<u64>,
    /// Already reported late: report once.
    reported: bool,
}

/// A terminal linked to an authority: its lease as the checker recomputes it.
#[derive(Clone, Copy, Debug)]
struct Lease {
    /// Its lease runs until then (`None`: lapsed).
    until: Option<Timestamp>,
    /// The authority log version it has applied, by its last renewal.
    version: u64,
}

#[derive(Clone, Copy, Debug)]
struct SourceInfo {
    next_seq: u64,
    /// Digest of the source's last record: what the next one must link to.
    chain_head: Digest,
    last_at: Timestamp,
    /// Grants not yet used by a passage.
    open_grants: u64,
    /// Set once the source shows it is linked to an authority (a lease record).
    lease: Option<Lease>,
}

/// Streaming checker; see the module docs.
#[derive(Debug)]
pub struct Checker {
    policy: Policy,
    records: usize,
    persons: BTreeMap<PersonId, PersonInfo>,
    left: BTreeMap<PersonId, (Timestamp, usize)>,
    credentials: BTreeMap<CredentialId, CredentialInfo>,
    by_holder: BTreeSet<(PersonId, CredentialId)>,
    consents: BTreeMap<PersonId, ConsentInfo>,
    templates: BTreeMap<(PersonId, Source), TemplateInfo>,
    due: BTreeSet<(Timestamp, PersonId, Source)>,
    sources: BTreeMap<Source, SourceInfo>,
    violations: Vec<Violation>,
    first_broken_link: Option<usize>,
    /// The authority's newest logged version (`None`: no authority in this log). Once one
    /// is seen, the compound's timeline (persons, cards, consents) is the management's
    /// records; a linked terminal's own records of them are its replica's view.
    logged: Option<u64>,
    /// Per person, the newest log version that concerned them.
    person_version: BTreeMap<PersonId, u64>,
    /// Each linked terminal's view of who has an active consent (by consent id).
    replica_consents: BTreeMap<(Source, PersonId), ConsentId>,
    /// Terms of every consent record seen: defect and retention end.
    consent_terms: BTreeMap<ConsentId, (Option<&'static str>, Timestamp)>,
    /// Overdue templates on linked terminals that had not yet applied the duty's version:
    /// they must be gone by the terminal's next renewal that covers it.
    deferred: BTreeSet<(Source, PersonId)>,
    /// A source between its `Restarted` record and its first record that is not recovery.
    recovering: Option<Source>,
    /// Overdue templates on linked terminals, judged at the terminal's next own record.
    overdue_waiting: BTreeSet<(Source, PersonId)>,
}

fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{} s", ms / 1000) } else { format!("{}.{:03} s", ms / 1000, ms % 1000) }
}

impl Checker {
    pub fn new(policy: &Policy) -> Checker {
        let mut c = Checker {
            policy: policy.clone(),
            records: 0,
            persons: BTreeMap::new(),
            left: BTreeMap::new(),
            credentials: BTreeMap::new(),
            by_holder: BTreeSet::new(),
            consents: BTreeMap::new(),
            templates: BTreeMap::new(),
            due: BTreeSet::new(),
            sources: BTreeMap::new(),
            violations: Vec::new(),
            first_broken_link: None,
            logged: None,
            person_version: BTreeMap::new(),
            replica_consents: BTreeMap::new(),
            consent_terms: BTreeMap::new(),
            deferred: BTreeSet::new(),
            recovering: None,
            overdue_waiting: BTreeSet::new(),
        };
        c.check_policy();
        c
    }

    fn flag(&mut self, rule: Rule, record: Option<usize>, message: String) {
        self.violations.push(Violation { rule, record, message });
    }

    fn check_policy(&mut self) {
        let p = self.policy.clone();
        if !p.face_optional {
            self.flag(Rule::C2, None, format!("policy '{}' makes face the only way in for residents", p.name));
        }
        if !p.resident_non_face.iter().any(|k| k.is_personal_non_face()) {
            self.flag(
                Rule::C2,
                None,
                format!("policy '{}' issues residents no card, ID or PIN to use instead of their face", p.name),
            );
        }
        if p.non_face_extra_registration {
            self.flag(Rule::C2, None, format!("policy '{}' makes residents who refuse face register again (e.g. by hotline) before they get a card", p.name));
        }
        if !p.discard_incidental_frames {
            self.flag(Rule::C3, None, format!("policy '{}' keeps the camera frames of people who use a card", p.name));
        }
        if p.max_retention_ms > MAX_LAWFUL_RETENTION_MS {
            self.flag(
                Rule::C5,
                None,
                format!(
                    "policy '{}' keeps templates up to {}, longer than the 3-year limit",
                    p.name,
                    secs(p.max_retention_ms)
                ),
            );
        }
        if p.lease_ms == 0 || p.lease_ms >= p.deletion_bound_ms {
            self.flag(
                Rule::C4,
                None,
                format!(
                    "policy '{}' lets a terminal cut off from the authority match faces for {} (its lease), not less than the deletion bound ({})",
                    p.name,
                    secs(p.lease_ms),
                    secs(p.deletion_bound_ms)
                ),
            );
        }
        if p.on_fault == FaultMode::OpenForAll {
            self.flag(
                Rule::C7,
                None,
                format!("policy '{}' holds the gate open for everyone when the camera or matcher fails", p.name),
            );
        }
    }

    /// Violations found so far.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    pub fn finish(self) -> Report {
        Report {
            policy: self.policy.name,
            records: self.records,
            violations: self.violations,
            first_broken_link: self.first_broken_link,
        }
    }

    /// Feed the record at 0-based position `index` of the log.
    pub fn observe(&mut self, index: usize, r: &AuditRecord) {
        self.observe_linked(index, r, true);
    }

    /// Feed a record its producer hands over in memory the moment it chained it (the
    /// simulation's terminals and authority): its digest is the producer's own computation of
    /// this very record, so the link is taken as made instead of hashed a second time. Every
    /// other check is the same as [`Checker::observe`]'s. A log that was stored, sent or read
    /// back — where an edit could hide — goes through `observe`, which re-hashes every link;
    /// debug builds (the test suite) re-hash here too, so a producer's broken chaining still
    /// fails the tests.
    pub fn observe_produced(&mut self, index: usize, r: &AuditRecord) {
        self.observe_linked(index, r, cfg!(debug_assertions));
    }

    fn observe_linked(&mut self, index: usize, r: &AuditRecord, rehash: bool) {
        self.records = self.records.max(index + 1);
        self.check_sequence(index, r, rehash);
        let src = r.source;
        // A new life: what the store holds is what its `TemplateRecovered` records say (a
        // power cut may have lost the records of the call it interrupted). Recovery finishes
        // what the cut interrupted (the sweep's deletions) before anything else, so deadlines
        // are judged again from its first other record.
        if let AuditEvent::Restarted { .. } = r.event {
            let held: Vec<PersonId> = self.templates.keys().filter(|(_, s)| *s == src).map(|(p, _)| *p).collect();
            for person in held {
                self.remove_template(person, src);
            }
            self.recovering = Some(src);
            let views: Vec<(Source, PersonId)> =
                self.replica_consents.keys().filter(|(s, _)| *s == src).copied().collect();
            for view in views {
                self.replica_consents.remove(&view);
            }
        }
        let recovery_record = matches!(
            r.event,
            AuditEvent::Restarted { .. }
                | AuditEvent::TemplateRecovered { .. }
                | AuditEvent::ConsentRecovered { .. }
                | AuditEvent::TemplateDeleted { .. }
        );
        if !(recovery_record && self.recovering == Some(src)) {
            self.recovering = None;
            self.check_overdue(index, r.at, src);
        }
        // Under an authority, a linked terminal's registry records only mirror the timeline.
        let timeline = self.logged.is_none() || src == Source::Management;
        if src == Source::Management
            && let Some(person) = person_of(&r.event)
        {
            let next = self.logged.map_or(0, |v| v + 1);
            self.person_version.insert(person, next);
        }
        match r.event {
            AuditEvent::PersonRegistered { .. }
            | AuditEvent::PersonLeft { .. }
            | AuditEvent::CredentialIssued { .. }
            | AuditEvent::CredentialRevoked { .. }
                if !timeline => {}
            AuditEvent::ConsentRecorded { person, consent, .. }
            | AuditEvent::ConsentRejected { person, consent, .. }
                if !timeline =>
            {
                let accepted = matches!(r.event, AuditEvent::ConsentRecorded { .. });
                if accepted {
                    self.replica_consents.insert((src, person), consent);
                }
            }
            AuditEvent::ConsentWithdrawn { person } if !timeline => {
                self.replica_consents.remove(&(src, person));
            }
            AuditEvent::PersonRegistered { person, kind, .. } => {
                self.persons.insert(person, PersonInfo { kind });
                self.left.remove(&person);
                self.refresh(person);
            }
            AuditEvent::PersonLeft { person } => {
                self.left.entry(person).or_insert((r.at, index));
                self.refresh(person);
            }
            AuditEvent::CredentialIssued { person, credential, kind, expires_at } => {
                self.credentials.insert(credential, CredentialInfo { kind, expires_at, revoked_at: None });
                self.by_holder.insert((person, credential));
                self.refresh(person);
            }
            AuditEvent::CredentialRevoked { person, credential } => {
                if let Some(c) = self.credentials.get_mut(&credential) {
                    c.revoked_at.get_or_insert(r.at);
                }
                self.refresh(person);
            }
            AuditEvent::ConsentRecorded {
                person,
                consent,
                purpose,
                form,
                explicit,
                grantor,
                subject_minor,
                retention_until,
                ..
            } => {
                let defect = if purpose != Purpose::FaceAccess {
                    Some("it is not for face access")
                } else if form != ConsentForm::Separate {
                    Some("it was bundled with other terms")
                } else if !explicit {
                    Some("it was not explicit")
                } else {
                    match (grantor, subject_minor) {
                        (GrantorKind::ThirdParty, _) => Some("it was given by a third party"),
                        (GrantorKind::MinorGuardian, _) => Some("the guardian was not an adult"),
                        (GrantorKind::Subject, true) => Some("the person is under 14 and no guardian consented"),
                        (GrantorKind::AdultGuardian, false) => Some("a guardian consented for someone aged 14 or more"),
                        _ => None,
                    }
                };
                let limit = r.at.plus_ms(self.policy.max_retention_ms);
                self.consent_terms.insert(consent, (defect, retention_until.min(limit)));
                if retention_until > limit {
                    self.flag(Rule::C5, Some(index), format!("{person}'s consent keeps the template until {retention_until}, beyond the policy's limit ({limit})"));
                }
                self.consents.insert(
                    person,
                    ConsentInfo { defect, retention_until: retention_until.min(limit), withdrawn_at: None },
                );
                self.refresh(person);
            }
            AuditEvent::ConsentWithdrawn { person } => {
                if let Some(c) = self.consents.get_mut(&person) {
                    c.withdrawn_at.get_or_insert((r.at, index));
                } else {
                    self.consents.insert(
                        person,
                        ConsentInfo {
                            defect: Some("it was withdrawn"),
                            retention_until: r.at,
                            withdrawn_at: Some((r.at, index)),
                        },
                    );
                }
                self.refresh(person);
            }
            AuditEvent::ConsentRejected { .. } | AuditEvent::EnrollmentRefused { .. } => {}
            AuditEvent::TemplateStored { person, .. } => {
                let problem = if self.is_linked(src) {
                    self.replica_consent_problem(src, person, r.at)
                } else {
                    self.consent_problem(person, r.at)
                };
                if let Some(why) = problem {
                    self.flag(
                        Rule::C1,
                        Some(index),
                        format!("a template of {person} was stored at {src} without valid face consent: {why}"),
                    );
                }
                let (deadline, duty, origin) = self.required_deadline(person, index);
                let version = self.duty_version(person);
                self.set_template(person, src, TemplateInfo { deadline, duty, origin, version, reported: false });
            }
            AuditEvent::TemplateDeleted { person, .. } => {
                if self.remove_template(person, src).is_none() {
                    self.flag(
                        Rule::C8,
                        Some(index),
                        format!("{src} deleted a template of {person} whose storing was never audited"),
                    );
                }
            }
            AuditEvent::FrameDiscarded { .. } => {}
            AuditEvent::FrameRetained { person } => {
                self.flag(
                    Rule::C3,
                    Some(index),
                    format!("{src} kept the frame of {person} captured while they used a card"),
                );
            }
            AuditEvent::MatchAttempt { outcome: MatchOutcome::Matched(person) } => {
                self.check_match(index, r.at, src, person)
            }
            AuditEvent::MatchAttempt { .. } => {}
            AuditEvent::AccessDecision { person, credential, reason } => {
                self.check_decision(index, r.at, src, person, credential, reason)
            }
            AuditEvent::DoorOpened { cause: OpenCause::FaultOpenAll } => {
                self.flag(
                    Rule::C7,
                    Some(index),
                    format!("{src} was held open for everyone because of a fault instead of falling back to cards"),
                );
            }
            AuditEvent::DoorOpened { .. } | AuditEvent::DoorClosed => {}
            AuditEvent::Passage => {
                let s = self.sources.get_mut(&src);
                match s {
                    Some(s) if s.open_grants > 0 => s.open_grants -= 1,
                    _ => self.flag(Rule::C7, Some(index), format!("{src} logged a controlled passage that no grant covers; it should be an uncontrolled passage")),
                }
            }
            // Evidence of its own: a log whose door record was lost or edited away still shows
            // each person who walked through a door held open by a fault.
            AuditEvent::UncontrolledPassage { cause: UncontrolledCause::FaultOpen } => {
                self.flag(
                    Rule::C7,
                    Some(index),
                    format!("{src} let someone through uncontrolled while a fault held the door open for everyone"),
                );
            }
            AuditEvent::UncontrolledPassage { .. } | AuditEvent::Alarm { .. } => {}
            AuditEvent::ComponentFault { .. } | AuditEvent::ComponentRecovered { .. } => {}
            AuditEvent::ExportAttempt { what, refused } => {
                if !refused {
                    self.flag(Rule::C6, Some(index), format!("{src} let {what:?} be exported"));
                }
            }
            AuditEvent::ClockWentBackwards { .. } | AuditEvent::InputDropped { .. } => {}
            AuditEvent::Restarted { .. } => {}
            AuditEvent::ConsentRecovered { person, consent } => {
                if src != Source::Management {
                    self.replica_consents.insert((src, person), consent);
                }
            }
            AuditEvent::TemplateRecovered { person } => {
                let (deadline, duty, origin) = self.required_deadline(person, index);
                let version = self.duty_version(person);
                self.set_template(person, src, TemplateInfo { deadline, duty, origin, version, reported: false });
            }
            AuditEvent::AdminLogged { version } => {
                if src == Source::Management {
                    self.logged = Some(version);
                }
            }
            AuditEvent::LeaseLapsed { .. } => {
                if let Some(s) = self.sources.get_mut(&src) {
                    let version = s.lease.map_or(0, |l| l.version);
                    s.lease = Some(Lease { until: None, version });
                }
            }
            AuditEvent::LeaseRenewed { contact_at, version } => {
                self.check_renewal(index, r.at, src, contact_at, version)
            }
            AuditEvent::SyncRefused { .. } => {}
        }
    }

    fn is_linked(&self, src: Source) -> bool {
        self.sources.get(&src).is_some_and(|s| s.lease.is_some())
    }

    fn duty_version(&self, person: PersonId) -> Option<u64> {
        self.logged.map(|_| self.person_version.get(&person).copied().unwrap_or(0))
    }

    /// Why a linked terminal may not store `person`'s template by its own replica's view.
    fn replica_consent_problem(&self, src: Source, person: PersonId, at: Timestamp) -> Option<String> {
        let Some(id) = self.replica_consents.get(&(src, person)) else {
            return Some(format!("{src} had recorded no consent of theirs"));
        };
        match self.consent_terms.get(id) {
            None => Some(String::from("its consent record was never seen")),
            Some((Some(defect), _)) => Some(format!("the recorded consent is invalid ({defect})")),
            Some((None, until)) if at >= *until => Some(format!("consent expired at {until}")),
            Some(_) => None,
        }
    }

    /// A linked terminal renewed its lease, having applied the log up to `version`: every
    /// template it holds past its deadline whose duty that version covers had to be gone.
    fn check_renewal(&mut self, index: usize, at: Timestamp, src: Source, contact_at: Timestamp, version: u64) {
        if contact_at > at {
            self.flag(
                Rule::C8,
                Some(index),
                format!("{src} renewed its lease by a contact at {contact_at}, later than the record ({at})"),
            );
        }
        let lease_ms = self.policy.lease_ms;
        if let Some(s) = self.sources.get_mut(&src) {
            s.lease = Some(Lease { until: Some(contact_at.plus_ms(lease_ms)), version });
        }
        let waiting: Vec<PersonId> =
            self.deferred.range((src, PersonId(0))..=(src, PersonId(u32::MAX))).map(|&(_, p)| p).collect();
        for person in waiting {
            let Some(info) = self.templates.get(&(person, src)).copied() else {
                self.deferred.remove(&(src, person));
                continue;
            };
            if info.deadline.plus_ms(self.policy.deletion_bound_ms) >= at {
                self.deferred.remove(&(src, person));
            } else if info.version.is_some_and(|v| v <= version) {
                self.deferred.remove(&(src, person));
                self.report_overdue(person, src, index, at);
            }
        }
    }

    fn check_sequence(&mut self, index: usize, r: &AuditRecord, rehash: bool) {
        let src = r.source;
        // A log may start mid-stream: a source's first record anchors its chain unless it is
        // record 0, which must link to the genesis digest.
        let restarted = r.seq == 0 && matches!(r.event, AuditEvent::Restarted { .. });
        let prev = match self.sources.get_mut(&src) {
            // A new life of a terminal (after a reset): its sequence and chain start afresh.
            Some(s) if restarted => {
                s.next_seq = 1;
                s.chain_head = r.digest;
                // Its clock starts again from the time it had persisted (at most an hour old).
                s.last_at = r.at;
                s.open_grants = 0;
                // A terminal starts again without a lease.
                if let Some(lease) = &mut s.lease {
                    lease.until = None;
                }
                Some(Digest::GENESIS)
            }
            None => {
                self.sources.insert(
                    src,
                    SourceInfo {
                        next_seq: r.seq.saturating_add(1),
                        chain_head: r.digest,
                        last_at: r.at,
                        open_grants: 0,
                        lease: None,
                    },
                );
                (r.seq == 0).then_some(Digest::GENESIS)
            }
            Some(s) => {
                let (expected, last_at, prev) = (s.next_seq, s.last_at, s.chain_head);
                s.next_seq = r.seq.saturating_add(1);
                s.last_at = s.last_at.max(r.at);
                // Resynchronise on the stored digest so each later break is reported where it is.
                s.chain_head = r.digest;
                if r.seq != expected {
                    self.flag(Rule::C8, Some(index), format!("{src}'s record has sequence number {} where {expected} was expected: records are missing or reordered", r.seq));
                }
                if r.at < last_at {
                    self.flag(
                        Rule::C8,
                        Some(index),
                        format!("{src}'s record is dated {}, before its previous record ({last_at})", r.at),
                    );
                }
                Some(prev)
            }
        };
        if rehash
            && let Some(prev) = prev
            && r.link(&prev) != r.digest
        {
            self.first_broken_link.get_or_insert(index);
            self.flag(
                Rule::C8,
                Some(index),
                format!(
                    "{src}'s hash chain breaks at sequence number {}: this record, or the one before it, was edited, removed or inserted",
                    r.seq
                ),
            );
        }
    }

    /// Why `person` may not have a template at `at`, if so.
    fn consent_problem(&self, person: PersonId, at: Timestamp) -> Option<String> {
        let Some(c) = self.consents.get(&person) else {
            return Some(String::from("no consent was recorded"));
        };
        if let Some(defect) = c.defect {
            return Some(format!("the recorded consent is invalid ({defect})"));
        }
        if let Some((t, _)) = c.withdrawn_at {
            return Some(format!("consent was withdrawn at {t}"));
        }
        if at >= c.retention_until {
            return Some(format!("consent expired at {}", c.retention_until));
        }
        None
    }

    /// When `person`'s templates must be gone, by this log's account.
    fn required_deadline(&self, person: PersonId, fallback_origin: usize) -> (Timestamp, Duty, usize) {
        let mut best = (Timestamp::NEVER, Duty::Retention, fallback_origin);
        let mut consider = |t: Timestamp, duty: Duty, origin: usize| {
            if t < best.0 {
                best = (t, duty, origin);
            }
        };
        if let Some(&(t, i)) = self.left.get(&person) {
            consider(t, Duty::PersonLeft, i);
        }
        if let Some(c) = self.consents.get(&person) {
            if let Some((t, i)) = c.withdrawn_at {
                consider(t, Duty::Withdrawal, i);
            }
            consider(c.retention_until, Duty::Retention, fallback_origin);
        }
        if self.persons.get(&person).is_some_and(|p| p.kind.is_time_limited()) {
            // The stay ends when the last card stops being usable: at its expiry, or at its
            // revocation if that came first. A person never seen with a card gives the log no
            // date to hold them to.
            let mut end: Option<Timestamp> = None;
            for (_, id) in self.by_holder.range((person, CredentialId(0))..=(person, CredentialId(u64::MAX))) {
                let Some(c) = self.credentials.get(id).filter(|c| c.kind.is_personal_non_face()) else { continue };
                let until = c.expires_at.unwrap_or(Timestamp::NEVER).min(c.revoked_at.unwrap_or(Timestamp::NEVER));
                end = Some(end.map_or(until, |e| e.max(until)));
            }
            if let Some(end) = end {
                consider(end, Duty::StayEnded, fallback_origin);
            }
        }
        best
    }

    fn set_template(&mut self, person: PersonId, src: Source, info: TemplateInfo) {
        if let Some(old) = self.templates.insert((person, src), info) {
            self.due.remove(&(old.deadline, person, src));
        }
        if !info.reported {
            self.due.insert((info.deadline, person, src));
        }
    }

    fn remove_template(&mut self, person: PersonId, src: Source) -> Option<TemplateInfo> {
        self.deferred.remove(&(src, person));
        self.overdue_waiting.remove(&(src, person));
        let old = self.templates.remove(&(person, src))?;
        self.due.remove(&(old.deadline, person, src));
        Some(old)
    }

    /// Recompute the deadlines of `person`'s templates after their consent or cards changed.
    fn refresh(&mut self, person: PersonId) {
        let stores: Vec<(Source, TemplateInfo)> = self
            .templates
            .range((person, FIRST_SOURCE)..=(person, Source::Management))
            .map(|((_, s), info)| (*s, *info))
            .collect();
        let version = self.duty_version(person);
        for (src, info) in stores {
            let (deadline, duty, origin) = self.required_deadline(person, info.origin);
            let info = TemplateInfo { deadline, duty, origin, version, reported: info.reported };
            self.set_template(person, src, info);
        }
    }

    fn check_overdue(&mut self, index: usize, now: Timestamp, current: Source) {
        let bound = self.policy.deletion_bound_ms;
        // `due` holds only templates not yet reported late, earliest deadline first.
        while let Some(&(deadline, person, src)) = self.due.first() {
            if deadline.plus_ms(bound) >= now {
                break;
            }
            self.due.pop_first();
            if !self.templates.contains_key(&(person, src)) {
                continue;
            }
            if self.is_linked(src) {
                // A linked terminal is judged on its own records: one that is switched off
                // writes none, and deletes at its restart before anything else.
                self.overdue_waiting.insert((src, person));
            } else {
                self.report_overdue(person, src, index, now);
            }
        }
        if !self.is_linked(current) {
            return;
        }
        let waiting: Vec<PersonId> = self
            .overdue_waiting
            .range((current, PersonId(0))..=(current, PersonId(u32::MAX)))
            .map(|&(_, p)| p)
            .collect();
        let lease_version = self.sources.get(&current).and_then(|s| s.lease).map_or(0, |l| l.version);
        for person in waiting {
            self.overdue_waiting.remove(&(current, person));
            let Some(info) = self.templates.get(&(person, current)).copied() else { continue };
            // Its deadline may have moved since (a new consent): then it is queued again.
            if info.deadline.plus_ms(bound) >= now {
                continue;
            }
            // It cannot delete what it has not yet been told: it is held to the duty once it
            // has applied the version that carries it (a lapsed lease keeps it from matching
            // meanwhile; see `check_match`).
            if info.version.is_some_and(|v| v > lease_version) {
                self.deferred.insert((current, person));
            } else {
                self.report_overdue(person, current, index, now);
            }
        }
    }

    fn report_overdue(&mut self, person: PersonId, src: Source, index: usize, now: Timestamp) {
        let bound = self.policy.deletion_bound_ms;
        let Some(info) = self.templates.get_mut(&(person, src)) else { return };
        if info.reported {
            return;
        }
        info.reported = true;
        let info = *info;
        {
            let deadline = info.deadline;
            let (rule, why) = match info.duty {
                Duty::Withdrawal => (Rule::C4, "consent was withdrawn"),
                Duty::PersonLeft => (Rule::C5, "the person left the compound"),
                Duty::Retention => (Rule::C5, "the retention period ended"),
                Duty::StayEnded => (Rule::C5, "the card their stay depended on ended"),
            };
            self.flag(
                rule,
                Some(info.origin),
                format!(
                    "{person}'s template was still in {src} at {now} (record {index}), more than {} after {why} at {deadline}",
                    secs(bound)
                ),
            );
        }
    }

    fn check_match(&mut self, index: usize, at: Timestamp, src: Source, person: PersonId) {
        let bound = self.policy.deletion_bound_ms;
        if let Some(lease) = self.sources.get(&src).and_then(|s| s.lease)
            && lease.until.is_none_or(|until| at >= until)
        {
            self.flag(
                Rule::C4,
                Some(index),
                format!(
                    "{src} matched {person} at {at} while its consent lease had lapsed (no confirmed contact with the authority within {})",
                    secs(self.policy.lease_ms)
                ),
            );
        }
        if !self.templates.contains_key(&(person, src)) {
            self.flag(
                Rule::C8,
                Some(index),
                format!("{src} matched {person} against a template whose storing was never audited (or was deleted)"),
            );
        }
        let Some(c) = self.consents.get(&person).copied() else {
            return self.flag(
                Rule::C3,
                Some(index),
                format!("{src} matched {person}, who never consented to face use"),
            );
        };
        if let Some(defect) = c.defect {
            return self.flag(
                Rule::C3,
                Some(index),
                format!("{src} matched {person}, whose consent is invalid ({defect})"),
            );
        }
        if let Some((t, _)) = c.withdrawn_at {
            if at > t.plus_ms(bound) {
                self.flag(
                    Rule::C4,
                    Some(index),
                    format!("{src} matched {person} at {at}, after they withdrew consent at {t}"),
                );
            }
            return;
        }
        if at > c.retention_until.plus_ms(bound) {
            self.flag(
                Rule::C5,
                Some(index),
                format!("{src} matched {person} at {at}, after their retention ended at {}", c.retention_until),
            );
        }
    }

    /// Whether `person` held a usable card, ID or PIN at `at`; a revocation counts only from
    /// `grace` after it (the time a linked terminal may take to learn of it).
    fn has_valid_non_face(&self, person: PersonId, at: Timestamp, grace: u64) -> bool {
        self.by_holder
            .range((person, CredentialId(0))..=(person, CredentialId(u64::MAX)))
            .filter_map(|(_, id)| self.credentials.get(id))
            .any(|c| {
                c.revoked_at.is_none_or(|t| at < t.plus_ms(grace))
                    && c.kind.is_personal_non_face()
                    && c.expires_at.is_none_or(|t| at < t)
            })
    }

    fn check_decision(
        &mut self,
        index: usize,
        at: Timestamp,
        src: Source,
        person: Option<PersonId>,
        credential: CredentialKind,
        reason: DecisionReason,
    ) {
        if (reason == DecisionReason::CredentialValid || reason == DecisionReason::FaceMatched)
            && let Some(s) = self.sources.get_mut(&src)
        {
            s.open_grants += 1;
        }
        let resident = person.and_then(|p| self.persons.get(&p)).is_some_and(|p| p.kind.is_resident());
        match reason {
            DecisionReason::FaceRequiredByPolicy => {
                self.flag(
                    Rule::C2,
                    Some(index),
                    format!("{src} refused a resident's {credential:?} because policy requires face"),
                );
            }
            DecisionReason::FaceUnavailable if credential != CredentialKind::Face => {
                self.flag(
                    Rule::C7,
                    Some(index),
                    format!("{src} refused a {credential:?} because the face path was down"),
                );
            }
            DecisionReason::FaceMatched if resident => {
                // A linked terminal learns of a revocation within the deletion bound (its lease is
                // shorter): until then its own view still shows the card.
                let grace = if self.is_linked(src) { self.policy.deletion_bound_ms } else { 0 };
                if let Some(p) = person.filter(|&p| !self.has_valid_non_face(p, at, grace)) {
                    self.flag(Rule::C2, Some(index), format!("{p} entered by face at {src} while holding no valid card, ID or PIN: face is their only way in"));
                }
            }
            _ => {}
        }
    }
}

/// The person a registry or consent record is about.
fn person_of(event: &AuditEvent) -> Option<PersonId> {
    match *event {
        AuditEvent::PersonRegistered { person, .. }
        | AuditEvent::PersonLeft { person }
        | AuditEvent::CredentialIssued { person, .. }
        | AuditEvent::CredentialRevoked { person, .. }
        | AuditEvent::ConsentRecorded { person, .. }
        | AuditEvent::ConsentWithdrawn { person }
        | AuditEvent::TemplateStored { person, .. }
        | AuditEvent::TemplateDeleted { person, .. } => Some(person),
        _ => None,
    }
}
