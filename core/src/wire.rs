//! The wire protocol between the host runner (`gatelab-rig`) and a terminal's firmware.
//!
//! One frame = COBS( `VERSION` ‖ postcard(message) ‖ CRC-32/ISO-HDLC of both, little endian ) ‖ 0x00.
//! The version byte sits outside the postcard body so a peer of another version is told so
//! instead of seeing a malformed message. The same code runs on both ends: the host encodes
//! [`HostMsg`]s and decodes [`TargetMsg`]s, the firmware the other way round.
//!
//! **No target → host message can carry a template or an image (C6).** Everything a
//! [`TargetMsg`] holds must implement [`Disclosable`], a sealed trait implemented only for
//! scalars, identifiers and the records listed below. Each composite's implementation is
//! checked by the compiler through an exhaustive destructuring of all its fields and variants,
//! so adding an embedding to an audit record, an action or a reply stops the build. Floats, byte
//! strings and sequences are never `Disclosable`:
//!
//! ```compile_fail,E0277
//! fn send<T: gatelab_core::wire::Disclosable>(_: &T) {}
//! send(&vec![0.1f32; 128]); // an embedding
//! ```
//! ```compile_fail,E0277
//! fn send<T: gatelab_core::wire::Disclosable>(_: &T) {}
//! let enroll = gatelab_core::AdminCommand::Enroll { person: gatelab_core::PersonId(1), embedding: vec![0.0; 128] };
//! send(&enroll);
//! ```

use alloc::vec::Vec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::audit::{
    AlarmKind, AuditEvent, AuditRecord, Component, DecisionReason, DeletionReason, Digest, DiscardReason,
    EnrollRefusal, ExportKind, MatchOutcome, OpenCause, Source, UncontrolledCause,
};
use crate::consent::{ConsentDefect, ConsentForm, GrantorKind, Purpose};
use crate::domain::{
    ConsentId, CredentialId, CredentialKind, Direction, GateId, PersonId, PersonKind, TerminalId, Timestamp,
};
use crate::policy::Policy;
use crate::sync::{SyncRefusal, Uplink};
use crate::template::TemplateError;
use crate::terminal::{Action, AdminRejection, Event, TerminalConfig};

/// Bumped on any change to the messages below.
pub const VERSION: u8 = 5;

/// Largest decoded frame (version + body + CRC) either side accepts. A 512-d embedding is
/// about 2.1 KB of postcard; anything larger is refused as oversize, never buffered.
pub const MAX_FRAME: usize = 4096;

/// Largest COBS-encoded frame, without the 0x00 delimiter.
pub const MAX_ENCODED: usize = MAX_FRAME + MAX_FRAME / 254 + 1;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Host → target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HostMsg {
    /// Answered with [`TargetMsg::Hello`].
    Hello,
    /// Replace the terminal by a fresh one (as a newly installed device). Answered with `Done`.
    Configure { config: TerminalConfig, policy: Policy },
    /// One event at `now`: answered with zero or more [`TargetMsg::Action`]s, then `Done`.
    Event { now: Timestamp, event: Event },
    /// Run a measurement on the target: answered with [`TargetMsg::Bench`].
    Bench(BenchRequest),
    /// Answered with [`TargetMsg::Status`].
    Status,
    /// Like `Configure`, but the terminal keeps its registry, consents and templates in the
    /// target's storage ([`crate::persist`], geometries [`STORAGE_IDENTITY`] and
    /// [`STORAGE_BIOMETRIC`]) under `key`: after a reset, the same message recovers them. The
    /// restart's audit actions come first, then `Done`. Refused where a board has no storage.
    ConfigurePersistent { config: TerminalConfig, policy: Policy, key: KeyMaterial },
    /// Link the configured terminal to its compound's authority with its provisioned link key
    /// ([`crate::sync`]): from now on it takes admin commands only as authority frames
    /// ([`Event::FromAuthority`]) and matches faces only under the lease. A persistent terminal
    /// resumes from the version on its storage. Its actions (the lapsed lease, the first
    /// request) come back, then `Done`.
    AttachAuthority { now: Timestamp, key: KeyMaterial },
}

/// A terminal's storage key on its way to the target (host → target only; never printed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMaterial(pub [u8; 32]);

impl core::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyMaterial(…)")
    }
}

/// The target's identity partition (persons, consents, links): 256 KiB of 16 KiB sectors.
pub const STORAGE_IDENTITY: crate::flash::Geometry =
    crate::flash::Geometry { page_size: 32, sector_size: 16 * 1024, sectors: 16 };
/// The target's biometric partition (sealed templates): 768 KiB of 32 KiB sectors.
pub const STORAGE_BIOMETRIC: crate::flash::Geometry =
    crate::flash::Geometry { page_size: 32, sector_size: 32 * 1024, sectors: 24 };

/// What a target measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BenchKind {
    /// A fixed, known number of instructions: gives ticks per instruction under QEMU's icount.
    Calibrate,
    /// One int8 1:N search (top-1) over `gallery` random templates of `dim`.
    Search,
    /// One full gate decision: a face probe through the terminal (consent, search, decision,
    /// door, audit) with `gallery` enrolled persons.
    GateDecision,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchRequest {
    pub kind: BenchKind,
    pub dim: u16,
    pub gallery: u32,
    /// Measurements taken; the report gives the smallest and the sum.
    pub repeats: u16,
    pub seed: u64,
}

/// Target → host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TargetMsg {
    /// Sent at boot and on [`HostMsg::Hello`]. An unasked `Hello` means the target reset.
    Hello(TargetInfo),
    Action(Action),
    /// End of the reply to one request.
    Done(Done),
    Bench(BenchReport),
    Status(LinkStatus),
    /// The request could not be read or carried out; nothing in the terminal changed.
    Error {
        error: LinkError,
        status: LinkStatus,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Board {
    /// QEMU's `mps2-an500` (Cortex-M7, 25 MHz, no cycle counter).
    QemuMps2An500,
    /// ST NUCLEO-H743ZI(2) (Cortex-M7 at 64 MHz after reset on HSI).
    NucleoH743zi,
    /// QEMU's `mps3-an547` (Cortex-M55 with Helium, no cycle counter).
    QemuMps3An547,
    /// ST NUCLEO-N657X0-Q (STM32N657: Cortex-M55 with Helium, 64 MHz after reset on HSI).
    NucleoN657x0,
}

/// What a target's `ticks` count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TickSource {
    /// The DWT cycle counter: real CPU cycles.
    DwtCycles,
    /// SysTick under QEMU `-icount`: proportional to instructions executed, not to time.
    SysTickIcount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    pub version: u8,
    pub board: Board,
    pub ticks: TickSource,
    pub heap_bytes: u32,
    pub max_frame: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Actions sent before this.
    pub actions: u32,
    /// Ticks spent in the core for this request.
    pub ticks: u64,
    /// When the terminal next needs a tick.
    pub poll_timeout: Option<Timestamp>,
    pub audit_records: u64,
    /// Heap bytes free after the request (memory stays bounded under load).
    pub heap_free: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchReport {
    pub request: BenchRequest,
    pub ticks: TickSource,
    /// Smallest single measurement.
    pub min_ticks: u64,
    pub total_ticks: u64,
    /// Multiply-accumulates in one measurement (search kinds) or instructions (calibration).
    pub work: u64,
    /// Best match of the last search, so the work cannot be optimised away and can be checked.
    pub best: Option<PersonId>,
}

/// Why a frame was refused. Each is counted in [`LinkStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkError {
    /// Not valid COBS, too short, or the CRC does not match.
    Corrupt,
    /// The peer speaks another protocol version.
    Version { got: u8, want: u8 },
    /// Longer than [`MAX_FRAME`]: dropped up to the next delimiter.
    Oversize,
    /// Good frame, but not a message of this version.
    Malformed,
    /// An event arrived before any `Configure`.
    NotConfigured,
    /// The configuration cannot be built (dimension, memory, no storage on this board).
    BadConfig,
    /// The terminal's storage failed; reconfigure (what a reboot does) to recover.
    Storage,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    pub frames: u32,
    pub corrupt: u32,
    pub version: u32,
    pub oversize: u32,
    pub malformed: u32,
    pub refused: u32,
}

impl LinkStatus {
    pub fn count(&mut self, error: LinkError) {
        let c = match error {
            LinkError::Corrupt => &mut self.corrupt,
            LinkError::Version { .. } => &mut self.version,
            LinkError::Oversize => &mut self.oversize,
            LinkError::Malformed => &mut self.malformed,
            LinkError::NotConfigured | LinkError::BadConfig | LinkError::Storage => &mut self.refused,
        };
        *c = c.saturating_add(1);
    }
    pub fn errors(&self) -> u32 {
        self.corrupt + self.version + self.oversize + self.malformed + self.refused
    }
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkError::Corrupt => f.write_str("corrupt frame (bad COBS or CRC)"),
            LinkError::Version { got, want } => write!(f, "protocol version {got}, this side speaks {want}"),
            LinkError::Oversize => write!(f, "frame longer than {MAX_FRAME} bytes"),
            LinkError::Malformed => f.write_str("frame carries no known message"),
            LinkError::NotConfigured => f.write_str("event before any Configure"),
            LinkError::BadConfig => f.write_str("configuration refused (dimension, memory or no storage)"),
            LinkError::Storage => f.write_str("the terminal's storage failed (reconfigure to recover)"),
        }
    }
}

/// Append one frame carrying a host message, delimiter included.
pub fn encode_host(msg: &HostMsg, out: &mut Vec<u8>) -> Result<(), LinkError> {
    encode(msg, out)
}

/// Append one frame carrying a target message, delimiter included. Only [`Disclosable`]
/// messages can be sent by a terminal.
pub fn encode_target<M: Serialize + Disclosable>(msg: &M, out: &mut Vec<u8>) -> Result<(), LinkError> {
    encode(msg, out)
}

fn encode<M: Serialize>(msg: &M, out: &mut Vec<u8>) -> Result<(), LinkError> {
    let mut raw = Vec::with_capacity(64);
    raw.push(VERSION);
    let mut raw = postcard::to_extend(msg, raw).map_err(|_| LinkError::Malformed)?;
    let crc = CRC.checksum(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    if raw.len() > MAX_FRAME {
        return Err(LinkError::Oversize);
    }
    let start = out.len();
    out.resize(start + cobs::max_encoding_length(raw.len()), 0);
    let n = cobs::encode(&raw, &mut out[start..]);
    out.truncate(start + n);
    out.push(0);
    Ok(())
}

/// Decode one COBS frame (without its delimiter). `scratch` is reused between calls.
pub fn decode<M: DeserializeOwned>(frame: &[u8], scratch: &mut Vec<u8>) -> Result<M, LinkError> {
    if frame.len() > MAX_ENCODED {
        return Err(LinkError::Oversize);
    }
    scratch.clear();
    scratch.resize(frame.len(), 0);
    let n = cobs::decode(frame, scratch).map_err(|_| LinkError::Corrupt)?;
    let raw = &scratch[..n];
    if raw.len() < 5 {
        return Err(LinkError::Corrupt);
    }
    let (body, crc) = raw.split_at(raw.len() - 4);
    if CRC.checksum(body).to_le_bytes() != crc {
        return Err(LinkError::Corrupt);
    }
    if body[0] != VERSION {
        return Err(LinkError::Version { got: body[0], want: VERSION });
    }
    postcard::from_bytes(&body[1..]).map_err(|_| LinkError::Malformed)
}

/// Splits a byte stream into frames at the 0x00 delimiters. A frame longer than
/// [`MAX_ENCODED`] is reported once as [`LinkError::Oversize`] and skipped up to the next
/// delimiter, so memory stays bounded whatever arrives.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    overflowed: bool,
}

/// What one byte completed.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Complete(&'a [u8]),
    Oversize,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader { buf: Vec::with_capacity(256), overflowed: false }
    }

    /// Feed one byte; returns a frame when `byte` was a delimiter ending a non-empty frame.
    pub fn push(&mut self, byte: u8) -> Option<Frame<'_>> {
        if byte != 0 {
            if self.buf.len() < MAX_ENCODED {
                self.buf.push(byte);
            } else {
                self.overflowed = true;
            }
            return None;
        }
        if core::mem::take(&mut self.overflowed) {
            self.buf.clear();
            return Some(Frame::Oversize);
        }
        if self.buf.is_empty() {
            return None;
        }
        Some(Frame::Complete(&self.buf))
    }

    /// Forget the frame just returned (call after handling [`Frame::Complete`]).
    pub fn consumed(&mut self) {
        self.buf.clear();
    }

    /// Bytes of an unfinished frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Data a terminal may send out: identifiers, reasons, counters, times — never a template, an
/// embedding or an image (C6). Sealed: only this module implements it, see the module docs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` could carry biometric data: a terminal must never send it (C6)",
    note = "only scalars, identifiers and the records listed in gatelab_core::wire are Disclosable"
)]
pub trait Disclosable: sealed::Sealed {}

macro_rules! disclosable {
    ($($t:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Disclosable for $t {}
    )*};
}

/// Each composite below gets a checker whose body names every field of every variant; the
/// compiler then proves each one `Disclosable` (and fails when a field or variant is added).
macro_rules! disclosable_checked {
    ($($t:ty => $check:expr;)*) => {$(
        disclosable!($t);
        const _: fn(&$t) = $check;
    )*};
}

fn need<T: Disclosable + ?Sized>(_: &T) {}

impl<T: Disclosable> sealed::Sealed for Option<T> {}
impl<T: Disclosable> Disclosable for Option<T> {}

// Integers and flags only: no float, no sequence, no string, no bytes.
disclosable!(bool, u8, u16, u32, u64);
disclosable!(PersonId, CredentialId, GateId, ConsentId, Timestamp);
// 32 bytes, but only ever a SHA-256 output computed in core (`AuditRecord::link`) over
// identifiers: no constructor takes template data.
disclosable!(Digest);
// An HMAC tag over ids and versions (`sync::Uplink::new`): no constructor takes template data.
disclosable!(crate::sync::SyncTag, crate::domain::CompoundId);

disclosable_checked! {
    Direction => |d| match d { Direction::Inbound | Direction::Outbound => {} };
    TerminalId => |TerminalId { gate, direction }| { need(gate); need(direction) };
    Source => |s| match s { Source::Terminal(t) => need(t), Source::Management => {} };
    PersonKind => |k| match k {
        PersonKind::Owner | PersonKind::Renter | PersonKind::Visitor | PersonKind::Courier | PersonKind::Guard => {}
    };
    CredentialKind => |k| match k {
        CredentialKind::Face | CredentialKind::IcCard | CredentialKind::IdCard | CredentialKind::Pin
        | CredentialKind::VisitorPass | CredentialKind::GuardOverride => {}
    };
    Purpose => |p| match p { Purpose::FaceAccess | Purpose::Other => {} };
    ConsentForm => |f| match f { ConsentForm::Separate | ConsentForm::Bundled => {} };
    GrantorKind => |g| match g {
        GrantorKind::Subject | GrantorKind::AdultGuardian | GrantorKind::MinorGuardian | GrantorKind::ThirdParty => {}
    };
    ConsentDefect => |d| match d {
        ConsentDefect::UnknownPerson | ConsentDefect::WrongPurpose | ConsentDefect::OtherCompound
        | ConsentDefect::Bundled | ConsentDefect::NotExplicit | ConsentDefect::GivenByThirdParty
        | ConsentDefect::MinorWithoutGuardian | ConsentDefect::GuardianNotAnAdult
        | ConsentDefect::GuardianForAdult | ConsentDefect::FromTheFuture => {}
    };
    TemplateError => |e| match e {
        TemplateError::WrongDimension { expected, got } => { need(expected); need(got) }
        TemplateError::UnsupportedDimension { dim } => need(dim),
        TemplateError::NotFinite | TemplateError::ZeroVector => {}
    };
    EnrollRefusal => |r| match r {
        EnrollRefusal::BadEmbedding(e) => need(e),
        EnrollRefusal::UnknownPerson | EnrollRefusal::NoValidConsent | EnrollRefusal::PurposeEnded
        | EnrollRefusal::StorageFull => {}
    };
    DeletionReason => |r| match r {
        DeletionReason::Withdrawn | DeletionReason::RetentionExpired | DeletionReason::PurposeEnded
        | DeletionReason::PersonLeft | DeletionReason::Delivered => {}
    };
    DiscardReason => |r| match r { DiscardReason::NonFaceCredentialInUse | DiscardReason::Degraded | DiscardReason::LeaseLapsed
        | DiscardReason::SuspectedSpoof => {} };
    MatchOutcome => |m| match m { MatchOutcome::Matched(p) => need(p), MatchOutcome::NoMatch | MatchOutcome::Rejected => {} };
    DecisionReason => |r| match r {
        DecisionReason::CredentialValid | DecisionReason::FaceMatched | DecisionReason::GuardOverride
        | DecisionReason::UnknownCredential | DecisionReason::CredentialExpired | DecisionReason::CredentialRevoked
        | DecisionReason::CredentialNotAccepted | DecisionReason::FaceRequiredByPolicy | DecisionReason::NoFaceMatch
        | DecisionReason::FaceUnavailable | DecisionReason::BadProbe | DecisionReason::UnknownPerson
        | DecisionReason::LeaseLapsed | DecisionReason::SuspectedSpoof => {}
    };
    OpenCause => |c| match c { OpenCause::Grant | OpenCause::GuardOverride | OpenCause::FaultOpenAll => {} };
    UncontrolledCause => |c| match c {
        UncontrolledCause::Tailgating | UncontrolledCause::GuardBypass | UncontrolledCause::DoorForced
        | UncontrolledCause::FaultOpen | UncontrolledCause::Unexplained => {}
    };
    AlarmKind => |k| match k {
        AlarmKind::Tailgating | AlarmKind::DoorForced | AlarmKind::DoorHeldOpen | AlarmKind::UnexplainedPassage => {}
    };
    Component => |c| match c { Component::Camera | Component::Matcher => {} };
    ExportKind => |k| match k { ExportKind::Templates | ExportKind::FaceImages => {} };
    AuditEvent => |e| match e {
        AuditEvent::PersonRegistered { person, kind, minor } => { need(person); need(kind); need(minor) }
        AuditEvent::PersonLeft { person } => need(person),
        AuditEvent::CredentialIssued { person, credential, kind, expires_at } => {
            need(person); need(credential); need(kind); need(expires_at)
        }
        AuditEvent::CredentialRevoked { person, credential } => { need(person); need(credential) }
        AuditEvent::ConsentRecorded { person, consent, purpose, form, explicit, grantor, subject_minor, retention_until } => {
            need(person); need(consent); need(purpose); need(form); need(explicit); need(grantor);
            need(subject_minor); need(retention_until)
        }
        AuditEvent::ConsentRejected { person, consent, defect } => { need(person); need(consent); need(defect) }
        AuditEvent::ConsentWithdrawn { person } => need(person),
        AuditEvent::EnrollmentRefused { person, reason } => { need(person); need(reason) }
        AuditEvent::TemplateStored { person, delete_by } => { need(person); need(delete_by) }
        AuditEvent::TemplateDeleted { person, reason } => { need(person); need(reason) }
        AuditEvent::FrameDiscarded { reason } => need(reason),
        AuditEvent::FrameRetained { person } => need(person),
        AuditEvent::MatchAttempt { outcome } => need(outcome),
        AuditEvent::AccessDecision { person, credential, reason } => { need(person); need(credential); need(reason) }
        AuditEvent::DoorOpened { cause } => need(cause),
        AuditEvent::DoorClosed | AuditEvent::Passage => {}
        AuditEvent::UncontrolledPassage { cause } => need(cause),
        AuditEvent::Alarm { kind } => need(kind),
        AuditEvent::ComponentFault { component } => need(component),
        AuditEvent::ComponentRecovered { component } => need(component),
        AuditEvent::ExportAttempt { what, refused } => { need(what); need(refused) }
        AuditEvent::ClockWentBackwards { reported } => need(reported),
        AuditEvent::Restarted { boot, persons, consents, templates, torn, rejected } => {
            need(boot); need(persons); need(consents); need(templates); need(torn); need(rejected)
        }
        AuditEvent::InputDropped { count } => need(count),
        AuditEvent::AdminLogged { version } => need(version),
        AuditEvent::LeaseRenewed { contact_at, version } => { need(contact_at); need(version) }
        AuditEvent::LeaseLapsed { last_contact } => need(last_contact),
        AuditEvent::SyncRefused { reason } => need(reason),
        AuditEvent::TemplateRecovered { person } => need(person),
        AuditEvent::ConsentRecovered { person, consent } => { need(person); need(consent) }
    };
    SyncRefusal => |r| match r {
        SyncRefusal::Malformed | SyncRefusal::BadTag | SyncRefusal::WrongAddress | SyncRefusal::FutureVersion
        | SyncRefusal::AuthorityBehind | SyncRefusal::Replayed | SyncRefusal::AdminOutsideAuthority
        | SyncRefusal::UnknownTerminal => {}
    };
    Uplink => |Uplink { compound, terminal, have, nonce, tag }| {
        need(compound); need(terminal); need(have); need(nonce); need(tag)
    };
    AuditRecord => |AuditRecord { seq, at, source, event, digest }| {
        need(seq); need(at); need(source); need(event); need(digest)
    };
    AdminRejection => |r| match r {
        AdminRejection::EnrollmentRefused(why) => need(why),
        AdminRejection::ConsentRejected(defect) => need(defect),
        AdminRejection::UnknownPerson | AdminRejection::CredentialIdTaken | AdminRejection::UnknownCredential
        | AdminRejection::LastNonFaceCredential | AdminRejection::ExportRefused
        | AdminRejection::StorageFull | AdminRejection::NotFromAuthority => {}
    };
    Action => |a| match a {
        Action::Grant { person, credential } => { need(person); need(credential) }
        Action::Deny { person, credential, reason } => { need(person); need(credential); need(reason) }
        Action::OpenDoor { cause } => need(cause),
        Action::CloseDoor => {}
        Action::Alarm(kind) => need(kind),
        Action::AdminRejected(why) => need(why),
        Action::Audit(record) => need(record),
        Action::ToAuthority(up) => need(up),
    };
    Board => |b| match b { Board::QemuMps2An500 | Board::NucleoH743zi | Board::QemuMps3An547 | Board::NucleoN657x0 => {} };
    TickSource => |t| match t { TickSource::DwtCycles | TickSource::SysTickIcount => {} };
    TargetInfo => |TargetInfo { version, board, ticks, heap_bytes, max_frame }| {
        need(version); need(board); need(ticks); need(heap_bytes); need(max_frame)
    };
    Done => |Done { actions, ticks, poll_timeout, audit_records, heap_free }| {
        need(heap_free);
        need(actions); need(ticks); need(poll_timeout); need(audit_records)
    };
    BenchKind => |k| match k { BenchKind::Calibrate | BenchKind::Search | BenchKind::GateDecision => {} };
    BenchRequest => |BenchRequest { kind, dim, gallery, repeats, seed }| {
        need(kind); need(dim); need(gallery); need(repeats); need(seed)
    };
    BenchReport => |BenchReport { request, ticks, min_ticks, total_ticks, work, best }| {
        need(request); need(ticks); need(min_ticks); need(total_ticks); need(work); need(best)
    };
    LinkError => |e| match e {
        LinkError::Version { got, want } => { need(got); need(want) }
        LinkError::Corrupt | LinkError::Oversize | LinkError::Malformed | LinkError::NotConfigured
        | LinkError::BadConfig | LinkError::Storage => {}
    };
    LinkStatus => |LinkStatus { frames, corrupt, version, oversize, malformed, refused }| {
        need(frames); need(corrupt); need(version); need(oversize); need(malformed); need(refused)
    };
    TargetMsg => |m| match m {
        TargetMsg::Hello(info) => need(info),
        TargetMsg::Action(action) => need(action),
        TargetMsg::Done(done) => need(done),
        TargetMsg::Bench(report) => need(report),
        TargetMsg::Status(status) => need(status),
        TargetMsg::Error { error, status } => { need(error); need(status) }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CompoundId, Gate};
    use crate::terminal::AdminCommand;

    fn frame_of(msg: &HostMsg) -> Vec<u8> {
        let mut out = Vec::new();
        encode_host(msg, &mut out).unwrap();
        out
    }

    fn read_all(bytes: &[u8]) -> Vec<Result<HostMsg, LinkError>> {
        let mut reader = FrameReader::new();
        let mut scratch = Vec::new();
        let mut got = Vec::new();
        for &b in bytes {
            match reader.push(b) {
                Some(Frame::Complete(f)) => {
                    got.push(decode(f, &mut scratch));
                    reader.consumed();
                }
                Some(Frame::Oversize) => got.push(Err(LinkError::Oversize)),
                None => {}
            }
        }
        got
    }

    fn enroll(dim: usize) -> HostMsg {
        HostMsg::Event {
            now: Timestamp(42),
            event: Event::Admin(AdminCommand::Enroll {
                person: PersonId(7),
                embedding: (0..dim).map(|i| i as f32 * 0.01 - 1.0).collect(),
            }),
        }
    }

    #[test]
    fn messages_round_trip_through_frames() {
        let config = TerminalConfig::new(Gate { id: GateId(1) }.inbound(), CompoundId(1), 512);
        let msgs = [HostMsg::Hello, HostMsg::Configure { config, policy: Policy::forced_face() }, enroll(512)];
        let mut bytes = Vec::new();
        for m in &msgs {
            bytes.extend(frame_of(m));
        }
        let got: Vec<_> = read_all(&bytes).into_iter().map(Result::unwrap).collect();
        assert_eq!(got, msgs);
        // A 512-d enrolment fits in one frame.
        assert!(frame_of(&enroll(512)).len() < MAX_ENCODED);
    }

    #[test]
    fn a_flipped_bit_is_a_corrupt_frame_and_the_next_frame_still_reads() {
        let good = frame_of(&enroll(128));
        for at in 0..good.len() - 1 {
            for bit in 0..8 {
                let mut bytes = good.clone();
                bytes[at] ^= 1 << bit;
                bytes.extend(&good);
                let got = read_all(&bytes);
                // The damaged frame may split in two at a new zero, but it never decodes as a
                // message, and the intact frame after it always does.
                assert_eq!(got.last(), Some(&Ok(enroll(128))), "byte {at} bit {bit}");
                assert!(got[..got.len() - 1].iter().all(|r| r.is_err()), "byte {at} bit {bit}: {got:?}");
            }
        }
    }

    #[test]
    fn another_version_is_named() {
        let mut raw = vec![VERSION + 1];
        raw.extend(postcard::to_allocvec(&HostMsg::Hello).unwrap());
        raw.extend(CRC.checksum(&raw).to_le_bytes());
        let mut frame = vec![0; cobs::max_encoding_length(raw.len())];
        let n = cobs::encode(&raw, &mut frame);
        frame.truncate(n);
        let got: Result<HostMsg, _> = decode(&frame, &mut Vec::new());
        assert_eq!(got, Err(LinkError::Version { got: VERSION + 1, want: VERSION }));
    }

    #[test]
    fn oversize_input_is_dropped_with_bounded_memory() {
        let mut reader = FrameReader::new();
        for _ in 0..3 * MAX_ENCODED {
            assert_eq!(reader.push(0x55), None);
        }
        assert!(reader.pending() <= MAX_ENCODED);
        assert_eq!(reader.push(0), Some(Frame::Oversize));
        // The next good frame reads.
        let got = read_all(&frame_of(&HostMsg::Status));
        assert_eq!(got, vec![Ok(HostMsg::Status)]);
        // Encoding something too large is refused rather than sent.
        assert_eq!(encode_host(&enroll(2048), &mut Vec::new()), Err(LinkError::Oversize));
    }

    #[test]
    fn target_messages_round_trip() {
        let msgs = [
            TargetMsg::Hello(TargetInfo {
                version: VERSION,
                board: Board::QemuMps2An500,
                ticks: TickSource::SysTickIcount,
                heap_bytes: 1 << 20,
                max_frame: MAX_FRAME as u32,
            }),
            TargetMsg::Action(Action::Grant { person: PersonId(3), credential: CredentialKind::Face }),
            TargetMsg::Error { error: LinkError::Corrupt, status: LinkStatus { corrupt: 1, ..LinkStatus::default() } },
        ];
        for m in &msgs {
            let mut out = Vec::new();
            encode_target(m, &mut out).unwrap();
            let (last, body) = out.split_last().unwrap();
            assert_eq!(*last, 0);
            assert_eq!(&decode::<TargetMsg>(body, &mut Vec::new()).unwrap(), m);
        }
    }
}
