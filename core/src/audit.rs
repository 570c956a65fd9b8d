//! The audit log: one record per biometric operation, access decision, door movement and
//! passage (controlled or not). Records hold identifiers and reasons, never an embedding, a
//! score vector or an image (C8): no type reachable from [`AuditRecord`] can carry one.
//!
//! The log format is the contract between producers (simulation, host runner, firmware) and
//! the consent checker. Serde's externally tagged enums keep it readable as JSON Lines on the
//! host and compact as postcard on the wire.

use serde::{Deserialize, Serialize};

use crate::consent::{ConsentDefect, ConsentForm, GrantorKind, Purpose};
use crate::domain::{ConsentId, CredentialId, CredentialKind, PersonId, PersonKind, TerminalId, Timestamp};
use crate::sync::SyncRefusal;
use crate::template::TemplateError;

/// Who wrote a record. Every terminal is a template store of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Terminal(TerminalId),
    /// The compound's management side (registration desk, guard booth).
    Management,
}

impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Source::Terminal(t) => t.fmt(f),
            Source::Management => f.write_str("management"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Per-source sequence number, starting at 0 with no gaps: a gap means lost records (C8).
    pub seq: u64,
    pub at: Timestamp,
    pub source: Source,
    pub event: AuditEvent,
    /// Link of the source's hash chain: SHA-256 over the previous record's digest and this
    /// record's other fields (see [`AuditRecord::link`]). An edited, dropped, inserted or
    /// reordered record breaks the chain at that point; the checker reports the first break.
    /// A log written without it reads as all-zero and fails verification.
    #[serde(default)]
    pub digest: Digest,
}

impl AuditRecord {
    /// The next record of a chain whose last digest is `prev` ([`Digest::GENESIS`] for seq 0).
    pub fn chained(prev: &Digest, seq: u64, at: Timestamp, source: Source, event: AuditEvent) -> AuditRecord {
        let mut record = AuditRecord { seq, at, source, event, digest: Digest::GENESIS };
        record.digest = record.link(prev);
        record
    }

    /// SHA-256(`prev` ‖ postcard(seq, at, source, event)): what `digest` must be if this record
    /// follows a record whose digest is `prev`. Postcard is canonical, so the host, the firmware
    /// and the checker compute the same bytes.
    pub fn link(&self, prev: &Digest) -> Digest {
        use sha2::Digest as _;
        // The largest event is a few dozen bytes; postcard never needs more than this.
        let mut body = [0u8; 160];
        let used =
            postcard::to_slice(&(self.seq, self.at, self.source, self.event), &mut body).map(|b| b.len()).unwrap_or(0);
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"gatelab-audit-v1");
        hasher.update(prev.0);
        hasher.update(&body[..used]);
        Digest(hasher.finalize().into())
    }
}

/// A SHA-256 digest: hex in JSON, 32 raw bytes in postcard. Only [`AuditRecord::link`] makes
/// one; it is a hash of identifiers, and cannot carry a template (C6, C8).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// What a source's first record (seq 0) links to.
    pub const GENESIS: Digest = Digest([0; 32]);
}

impl core::fmt::Debug for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

impl core::fmt::Display for Digest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            let mut hex = [0u8; 64];
            for (i, b) in self.0.iter().enumerate() {
                hex[2 * i] = HEX[usize::from(b >> 4)];
                hex[2 * i + 1] = HEX[usize::from(b & 15)];
            }
            // Only ASCII hex digits were written.
            s.serialize_str(core::str::from_utf8(&hex).unwrap_or_default())
        } else {
            self.0.serialize(s)
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Digest, D::Error> {
        use serde::de::Error;
        if d.is_human_readable() {
            let text: &str = Deserialize::deserialize(d)?;
            let bytes = text.as_bytes();
            if bytes.len() != 64 {
                return Err(D::Error::custom("digest: expected 64 hex digits"));
            }
            let nibble = |c: u8| match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(D::Error::custom("digest: expected lowercase hex digits")),
            };
            let mut out = [0u8; 32];
            for (i, pair) in bytes.chunks_exact(2).enumerate() {
                out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
            }
            Ok(Digest(out))
        } else {
            <[u8; 32]>::deserialize(d).map(Digest)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionReason {
    Withdrawn,
    RetentionExpired,
    /// The card the person's presence depended on expired or was revoked (renters, visitors).
    PurposeEnded,
    PersonLeft,
    /// The authority held an enrolment's embedding only to deliver it: every camera terminal
    /// has it now.
    Delivered,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollRefusal {
    UnknownPerson,
    NoValidConsent,
    /// The card the person's stay depends on has already expired or been revoked.
    PurposeEnded,
    BadEmbedding(TemplateError),
    /// The terminal's flash cannot hold another template (the card path is unaffected).
    StorageFull,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscardReason {
    /// The frame was captured while someone used a card or PIN.
    NonFaceCredentialInUse,
    /// The camera saw a face but the terminal is degraded.
    Degraded,
    /// The camera saw a face but the terminal's consent lease has lapsed.
    LeaseLapsed,
    /// Presentation-attack detection scored the face below `policy.liveness_min` (a photo, a
    /// screen, a mask): not matched.
    SuspectedSpoof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOutcome {
    Matched(PersonId),
    NoMatch,
    /// The probe was malformed (wrong length, NaN) and was not searched.
    Rejected,
}

/// Why access was granted or denied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    CredentialValid,
    FaceMatched,
    GuardOverride,
    UnknownCredential,
    CredentialExpired,
    CredentialRevoked,
    /// The credential kind is not accepted for this person here.
    CredentialNotAccepted,
    /// Policy refuses residents' non-face credentials (violates C2).
    FaceRequiredByPolicy,
    NoFaceMatch,
    /// Camera or matcher down: the person is told to use a card (C7).
    FaceUnavailable,
    BadProbe,
    /// The holder is no longer registered.
    UnknownPerson,
    /// The terminal has lost touch with the authority for longer than its lease: face is off
    /// until it is back in sync, the person is told to use a card (C7).
    LeaseLapsed,
    /// Presentation-attack detection scored the face below `policy.liveness_min`: refused
    /// before any matching, the person is told to use a card (C7).
    SuspectedSpoof,
}

impl DecisionReason {
    pub fn grants(self) -> bool {
        matches!(self, DecisionReason::CredentialValid | DecisionReason::FaceMatched | DecisionReason::GuardOverride)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenCause {
    Grant,
    GuardOverride,
    /// Held open for everyone because of a fault (violates C7).
    FaultOpenAll,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UncontrolledCause {
    /// More passages than grants in one door-open window.
    Tailgating,
    /// Passage through a guard-opened path (car gate, override).
    GuardBypass,
    /// Passage while the door was open without being commanded.
    DoorForced,
    /// Passage while the gate was held open because of a fault.
    FaultOpen,
    /// The passage sensor fired with the door closed.
    Unexplained,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Tailgating,
    DoorForced,
    DoorHeldOpen,
    UnexplainedPassage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Camera,
    Matcher,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    Templates,
    FaceImages,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    PersonRegistered {
        person: PersonId,
        kind: PersonKind,
        minor: bool,
    },
    PersonLeft {
        person: PersonId,
    },
    CredentialIssued {
        person: PersonId,
        credential: CredentialId,
        kind: CredentialKind,
        expires_at: Option<Timestamp>,
    },
    CredentialRevoked {
        person: PersonId,
        credential: CredentialId,
    },
    ConsentRecorded {
        person: PersonId,
        consent: ConsentId,
        purpose: Purpose,
        form: ConsentForm,
        explicit: bool,
        grantor: GrantorKind,
        subject_minor: bool,
        retention_until: Timestamp,
    },
    ConsentRejected {
        person: PersonId,
        consent: ConsentId,
        defect: ConsentDefect,
    },
    ConsentWithdrawn {
        person: PersonId,
    },
    EnrollmentRefused {
        person: PersonId,
        reason: EnrollRefusal,
    },
    TemplateStored {
        person: PersonId,
        /// When the store will delete it at the latest (C5).
        delete_by: Timestamp,
    },
    TemplateDeleted {
        person: PersonId,
        reason: DeletionReason,
    },
    FrameDiscarded {
        reason: DiscardReason,
    },
    /// A frame of a card user was kept or processed (violates C3; only a non-compliant policy).
    FrameRetained {
        person: PersonId,
    },
    MatchAttempt {
        outcome: MatchOutcome,
    },
    AccessDecision {
        person: Option<PersonId>,
        credential: CredentialKind,
        reason: DecisionReason,
    },
    DoorOpened {
        cause: OpenCause,
    },
    DoorClosed,
    Passage,
    UncontrolledPassage {
        cause: UncontrolledCause,
    },
    Alarm {
        kind: AlarmKind,
    },
    ComponentFault {
        component: Component,
    },
    ComponentRecovered {
        component: Component,
    },
    ExportAttempt {
        what: ExportKind,
        refused: bool,
    },
    /// `now` went backwards; the terminal kept its own later time.
    ClockWentBackwards {
        reported: Timestamp,
    },
    /// The terminal started again from its flash (after a reset or power loss): the first
    /// record (seq 0) of a new life, whose hash chain starts afresh. `torn`: writes cut short
    /// by the power loss (ignored); `rejected`: stored records that failed authentication
    /// (edited, swapped or from another terminal: refused).
    Restarted {
        boot: u32,
        persons: u32,
        consents: u32,
        templates: u32,
        torn: u32,
        rejected: u32,
    },
    /// Inputs the terminal dropped because they came faster than it could take them (counted
    /// by the driver, e.g. the firmware's link; audited once per burst).
    InputDropped {
        count: u32,
    },
    /// The authority logged an admin command as this version (source: management). The
    /// management records just before it are that command's; the checker dates deletions by
    /// version through it.
    AdminLogged {
        version: u64,
    },
    /// The terminal's consent lease runs again: a reply to its request sent at `contact_at`
    /// (its own clock), with every entry up to `version` applied. The checker recomputes the
    /// lease's end from the policy, never from the terminal.
    LeaseRenewed {
        contact_at: Timestamp,
        version: u64,
    },
    /// The terminal's lease ran out (or, with `last_contact` empty, it has none yet since it
    /// started): it matches no face until the authority answers it again.
    LeaseLapsed {
        last_contact: Option<Timestamp>,
    },
    /// A message on the authority link was refused; nothing changed.
    SyncRefused {
        reason: SyncRefusal,
    },
    /// After `Restarted`: one record per template the terminal recovered from flash, so the
    /// log says what each store holds in its new life (what the power cut left of an
    /// interrupted call is unknown otherwise).
    TemplateRecovered {
        person: PersonId,
    },
    /// After `Restarted`: one record per consent the terminal recovered from flash.
    ConsentRecovered {
        person: PersonId,
        consent: ConsentId,
    },
}

impl AuditEvent {
    /// Operations on biometric data (C8 lists them).
    pub fn is_biometric_operation(&self) -> bool {
        matches!(
            self,
            AuditEvent::EnrollmentRefused { .. }
                | AuditEvent::TemplateStored { .. }
                | AuditEvent::TemplateDeleted { .. }
                | AuditEvent::TemplateRecovered { .. }
                | AuditEvent::FrameDiscarded { .. }
                | AuditEvent::FrameRetained { .. }
                | AuditEvent::MatchAttempt { .. }
                | AuditEvent::ExportAttempt { .. }
        )
    }
}

#[cfg(feature = "std")]
pub mod jsonl {
    //! JSON Lines: one [`AuditRecord`] per line, the host's on-disk log format.

    use super::AuditRecord;
    use std::io::{BufRead, Write};
    use std::string::String;
    use std::vec::Vec;

    /// A log that could not be read, with the 1-based line at fault.
    #[derive(Debug)]
    pub enum ReadError {
        Io { line: usize, source: std::io::Error },
        Malformed { line: usize, source: serde_json::Error },
    }

    impl core::fmt::Display for ReadError {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self {
                ReadError::Io { line, source } => {
                    write!(f, "line {line}: could not read: {source}")
                }
                ReadError::Malformed { line, source } => write!(
                    f,
                    "line {line}: not an audit record ({source}); each line must be one JSON object \
                     such as {{\"seq\":0,\"at\":0,\"source\":\"management\",\"event\":\"door_closed\"}}"
                ),
            }
        }
    }

    impl std::error::Error for ReadError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            match self {
                ReadError::Io { source, .. } => Some(source),
                ReadError::Malformed { source, .. } => Some(source),
            }
        }
    }

    impl ReadError {
        pub fn line(&self) -> usize {
            match self {
                ReadError::Io { line, .. } | ReadError::Malformed { line, .. } => *line,
            }
        }
    }

    /// Parse one line (1-based `line` for the error).
    pub fn parse_line(text: &str, line: usize) -> Result<AuditRecord, ReadError> {
        serde_json::from_str(text).map_err(|source| ReadError::Malformed { line, source })
    }

    /// Read a whole log; blank lines are skipped.
    pub fn read(reader: impl BufRead) -> Result<Vec<AuditRecord>, ReadError> {
        let mut out = Vec::new();
        for (i, text) in reader.lines().enumerate() {
            let line = i + 1;
            let text = text.map_err(|source| ReadError::Io { line, source })?;
            if text.trim().is_empty() {
                continue;
            }
            out.push(parse_line(&text, line)?);
        }
        Ok(out)
    }

    /// Write records, one per line.
    pub fn write<'a>(
        mut writer: impl Write,
        records: impl IntoIterator<Item = &'a AuditRecord>,
    ) -> std::io::Result<()> {
        for r in records {
            serde_json::to_writer(&mut writer, r)?;
            writer.write_all(b"\n")?;
        }
        Ok(())
    }

    /// One record as a line (no trailing newline).
    pub fn to_line(record: &AuditRecord) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string(record).unwrap_or_default()
    }
}
