//! Consent that survives the network: the compound's **authority** (the management server: the
//! registration desk, the consent office) and the terminal's side of its link, as sans-IO state
//! machines in the manner of the rest of the core.
//!
//! - The [`Authority`] owns the compound's admin log: every accepted [`AdminCommand`] gets the
//!   next version (1, 2, …). It pushes each terminal what it lacks, resends after a timeout,
//!   and takes every terminal's report of the version it has (a terminal that lost its state
//!   after a repair reports less, and gets the rest again).
//! - A terminal provisioned with a [`LinkKey`] accepts admin commands **only** from
//!   authenticated authority frames ([`Terminal::handle`] with [`Event::FromAuthority`]); it
//!   applies entries exactly in version order (a gap is asked for, duplicates are refused and
//!   audited) and reports what it has durably applied ([`Uplink`]).
//! - **The consent lease**: the terminal matches faces only while its last *confirmed contact*
//!   is younger than `policy.lease_ms`. Confirmed contact = a reply that echoes the nonce of
//!   a request sent at time `s`, after which the terminal has applied everything up to the
//!   reply's head; the lease then runs to `s + lease_ms` (the request's send time, not the
//!   reply's arrival: a delayed reply cannot stretch it). A withdrawal logged at `w` is
//!   therefore either in every reply to requests sent after `w`, or the terminal's lease ends
//!   before `w + lease_ms < w + deletion bound`: no face is matched after the bound, even on
//!   a terminal that is cut off. Cards, ID and PIN keep working without a lease (C7).
//!
//! Frames are postcard bodies followed by an HMAC-SHA-256 tag under a key derived per
//! terminal (HKDF-SHA-256 from the compound's master key, bound to compound and terminal),
//! over a direction label and the body (which carries compound, terminal and versions): a
//! forged, foreign, reflected or edited frame fails the tag; a replayed one carries nothing
//! new and is refused.
//!
//! [`Terminal::handle`]: crate::terminal::Terminal::handle
//! [`Event::FromAuthority`]: crate::terminal::Event::FromAuthority

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditRecord, DeletionReason, EnrollRefusal};
use crate::domain::{CompoundId, PersonId, TerminalId, Timestamp};
use crate::policy::{Policy, PolicyError};
use crate::terminal::{Action, AdminCommand, AdminRejection, Terminal, TerminalConfig};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of a frame's authentication tag (HMAC-SHA-256).
pub const TAG_LEN: usize = 32;

const DOWN: &[u8] = b"gatelab-sync-v1 authority->terminal";
const UP: &[u8] = b"gatelab-sync-v1 terminal->authority";

/// Entries per reply at most, and the body size a reply does not grow past (one entry always
/// goes: an enrolment of a 512-d template is ~2 KiB), so a frame fits the firmware link's
/// 4 KiB frames ([`crate::wire::MAX_FRAME`]) with its envelope.
pub const MAX_ENTRIES_PER_FRAME: usize = 32;
const FRAME_BUDGET: usize = 2 * 1024 + 512;

/// The key of one terminal's link to the authority. Derived, never stored in the clear by the
/// core, never printed, zeroed on drop.
#[derive(Clone)]
pub struct LinkKey([u8; 32]);

impl LinkKey {
    /// A key provisioned at installation (the terminal never sees the master key).
    pub fn provisioned(bytes: [u8; 32]) -> LinkKey {
        LinkKey(bytes)
    }

    /// The key's bytes, to provision a terminal (host side only; never printed).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The key of `terminal` of `compound`, from the compound's master key (HKDF-SHA-256): a
    /// terminal holds only its own key, so a stolen terminal cannot speak for the authority to
    /// another one.
    pub fn derive(master: &[u8; 32], compound: CompoundId, terminal: TerminalId) -> LinkKey {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"gatelab-link-key-v1"), master);
        let info = postcard::to_allocvec(&(compound, terminal)).unwrap_or_default();
        let mut okm = [0u8; 32];
        // 32 bytes is far below HKDF-SHA-256's limit of 8160.
        let _ = hk.expand(&info, &mut okm);
        LinkKey(okm)
    }

    fn mac(&self, direction: &[u8], body: &[u8]) -> HmacSha256 {
        // HMAC takes a key of any length.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(direction);
        mac.update(body);
        mac
    }

    fn tag(&self, direction: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
        self.mac(direction, body).finalize().into_bytes().into()
    }

    /// Constant-time comparison (hmac's `verify_slice`).
    fn verify(&self, direction: &[u8], body: &[u8], tag: &[u8]) -> bool {
        self.mac(direction, body).verify_slice(tag).is_ok()
    }
}

impl Drop for LinkKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl core::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LinkKey(…)")
    }
}

/// Authority → terminal: entries `first..first + entries.len()` of the admin log, whose newest
/// version is `head`. `nonce` echoes the terminal's request it answers (`None`: a push).
/// An entry is `None` where the terminal must not receive it (an enrolment for a terminal
/// without a camera) or where it was purged (an enrolment delivered everywhere, or whose
/// person withdrew): the version still counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Downlink {
    pub compound: CompoundId,
    pub terminal: TerminalId,
    pub nonce: Option<u64>,
    pub head: u64,
    pub first: u64,
    pub entries: Vec<Option<AdminCommand>>,
}

impl Downlink {
    /// The frame: postcard body ‖ tag.
    pub fn seal(&self, key: &LinkKey) -> Vec<u8> {
        let mut frame = postcard::to_allocvec(self).unwrap_or_default();
        let tag = key.tag(DOWN, &frame);
        frame.extend_from_slice(&tag);
        frame
    }

    /// Check the tag, then decode; the tag is checked first so nothing unauthenticated is parsed.
    pub fn open(frame: &[u8], key: &LinkKey) -> Result<Downlink, SyncRefusal> {
        if frame.len() < TAG_LEN {
            return Err(SyncRefusal::Malformed);
        }
        let (body, tag) = frame.split_at(frame.len() - TAG_LEN);
        if !key.verify(DOWN, body, tag) {
            return Err(SyncRefusal::BadTag);
        }
        Downlink::decode_body(body)
    }

    /// Decode a body without authenticating it (the fuzzer's entry; [`Downlink::open`] for use).
    pub fn decode_body(body: &[u8]) -> Result<Downlink, SyncRefusal> {
        let down: Downlink = postcard::from_bytes(body).map_err(|_| SyncRefusal::Malformed)?;
        let last = down.first.checked_add(down.entries.len() as u64).ok_or(SyncRefusal::Malformed)?;
        if down.first == 0 || last.saturating_sub(1) > down.head {
            return Err(SyncRefusal::FutureVersion);
        }
        Ok(down)
    }
}

/// Terminal → authority: "I have durably applied every entry up to `have`", which is at once
/// an acknowledgement, a request for what follows, a gap report and the lease's renewal
/// request (`nonce`, fresh each time, unique across reboots).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uplink {
    pub compound: CompoundId,
    pub terminal: TerminalId,
    pub have: u64,
    pub nonce: u64,
    pub tag: SyncTag,
}

/// An HMAC-SHA-256 tag: computed in core over identifiers and versions only, so it can leave a
/// terminal (it carries nothing biometric, C6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncTag(pub [u8; TAG_LEN]);

impl Uplink {
    fn body(compound: CompoundId, terminal: TerminalId, have: u64, nonce: u64) -> Vec<u8> {
        postcard::to_allocvec(&(compound, terminal, have, nonce)).unwrap_or_default()
    }

    pub fn new(key: &LinkKey, compound: CompoundId, terminal: TerminalId, have: u64, nonce: u64) -> Uplink {
        let tag = SyncTag(key.tag(UP, &Uplink::body(compound, terminal, have, nonce)));
        Uplink { compound, terminal, have, nonce, tag }
    }

    pub fn verify(&self, key: &LinkKey) -> bool {
        key.verify(UP, &Uplink::body(self.compound, self.terminal, self.have, self.nonce), &self.tag.0)
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Uplink, SyncRefusal> {
        postcard::from_bytes(bytes).map_err(|_| SyncRefusal::Malformed)
    }
}

/// Why a link message was refused (audited; state unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRefusal {
    /// Not a frame at all.
    Malformed,
    /// The tag does not verify: not from this compound's authority (or not for this terminal).
    BadTag,
    /// Authentic, but about another compound or terminal.
    WrongAddress,
    /// Versions beyond the head it claims, or beyond what the authority has.
    FutureVersion,
    /// The authority's head is behind what this terminal has applied (a restored or foreign
    /// log): nothing from it is applied.
    AuthorityBehind,
    /// Nothing new and not the answer to the open request: a replayed or duplicated frame.
    Replayed,
    /// An admin command that did not come through the authority link (the gate side of the
    /// wire, or an in-memory broadcast) to a terminal that has one.
    AdminOutsideAuthority,
    /// The authority does not know this terminal.
    UnknownTerminal,
}

// ---- the terminal's side ------------------------------------------------------------------

/// The link state a provisioned terminal keeps (inside [`Terminal`]).
#[derive(Clone, Debug)]
pub(crate) struct Replica {
    pub key: LinkKey,
    /// Every entry up to this version is applied (and, on a persistent terminal, on flash).
    pub applied: u64,
    /// High half of every nonce: the boot count, so no nonce repeats across restarts.
    boot: u32,
    counter: u32,
    /// The latest requests whose answers can renew the lease: (nonce, when it was sent),
    /// oldest first. More than one: on a slow link an answer may come after the next request.
    outstanding: Vec<(u64, Timestamp)>,
    /// The lease runs until then (exclusive); `None` while lapsed.
    pub lease_until: Option<Timestamp>,
    /// When to send the next request.
    pub next_request_at: Timestamp,
}

/// How often a terminal with a live lease asks (a third of the lease: two more tries before it
/// lapses), and how soon it asks again when an answer is missing.
fn renew_every(lease_ms: u64) -> u64 {
    (lease_ms / 3).max(1)
}
/// Requests whose answer is still awaited at most.
const OPEN_REQUESTS: usize = 8;

fn retry_after(lease_ms: u64) -> u64 {
    (lease_ms / 10).clamp(1, 2_000)
}

impl Replica {
    pub fn new(key: LinkKey, applied: u64, boot: u32, now: Timestamp) -> Replica {
        Replica { key, applied, boot, counter: 0, outstanding: Vec::new(), lease_until: None, next_request_at: now }
    }

    pub fn lease_live(&self, now: Timestamp) -> bool {
        self.lease_until.is_some_and(|until| now < until)
    }

    /// A fresh request (ack + renewal) stamped `now`.
    pub fn request(&mut self, now: Timestamp, lease_ms: u64, compound: CompoundId, terminal: TerminalId) -> Uplink {
        self.counter = self.counter.wrapping_add(1);
        let nonce = (u64::from(self.boot) << 32) | u64::from(self.counter);
        if self.outstanding.len() == OPEN_REQUESTS {
            self.outstanding.remove(0);
        }
        self.outstanding.push((nonce, now));
        self.next_request_at = now.plus_ms(retry_after(lease_ms));
        Uplink::new(&self.key, compound, terminal, self.applied, nonce)
    }

    /// The reply `nonce` renews the lease if it answers the open request and everything up to
    /// `head` is applied. Returns the request's send time (the contact) if it did.
    pub fn renew(&mut self, nonce: Option<u64>, head: u64, lease_ms: u64) -> Option<Timestamp> {
        let i = self.outstanding.iter().position(|&(open, _)| Some(open) == nonce)?;
        if self.applied != head {
            return None;
        }
        let (_, sent) = self.outstanding[i];
        // This request and every older one are answered.
        self.outstanding.drain(..=i);
        let until = sent.plus_ms(lease_ms);
        self.lease_until = Some(self.lease_until.map_or(until, |u| u.max(until)));
        self.next_request_at = sent.plus_ms(renew_every(lease_ms));
        Some(sent)
    }

    pub fn answers_open_request(&self, nonce: Option<u64>) -> bool {
        self.outstanding.iter().any(|&(open, _)| Some(open) == nonce)
    }
}

// ---- the authority -------------------------------------------------------------------------

/// What the authority's driver must do.
#[derive(Clone, Debug, PartialEq)]
pub enum AuthorityAction {
    /// Deliver this frame (a [`Downlink`] sealed for `to`) over whatever link there is.
    Send { to: TerminalId, frame: Vec<u8> },
    /// Keep this record (source [`crate::audit::Source::Management`]).
    Audit(AuditRecord),
}

#[derive(Debug)]
struct Peer {
    key: LinkKey,
    /// Whether it has a camera: enrolments go only to those (data minimisation).
    camera: bool,
    /// What it last reported having applied.
    acked: u64,
    /// When to push again if it still lacks entries.
    resend_at: Option<Timestamp>,
}

/// One admin log entry; `command` is `None` once purged (an enrolment's embedding is kept only
/// until every camera terminal has it, or until its person withdraws).
#[derive(Debug)]
struct Logged {
    command: Option<AdminCommand>,
}

/// Counters a driver can read without parsing the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthorityStats {
    pub frames_sent: u64,
    pub uplinks_refused: u64,
    pub embeddings_purged: u64,
}

/// The compound's authority; see the module docs.
#[derive(Debug)]
pub struct Authority {
    compound: CompoundId,
    policy: Policy,
    /// The compound's registry (persons, cards, consents), validating every command before it is
    /// logged, and writing the management side's audit records. It has no camera: it never
    /// holds a template in its store.
    registry: Terminal,
    log: Vec<Logged>,
    peers: BTreeMap<TerminalId, Peer>,
    /// Versions of enrolment entries still holding an embedding, per person.
    held: BTreeMap<PersonId, Vec<u64>>,
    resend_ms: u64,
    stats: AuthorityStats,
    out: Vec<AuthorityAction>,
}

impl Authority {
    /// An authority for `compound` under `policy`, with its terminals (id, has a camera) and
    /// the master key their link keys derive from. Refuses a policy whose lease is not
    /// shorter than its deletion bound.
    pub fn new(
        compound: CompoundId,
        policy: Policy,
        master: &[u8; 32],
        terminals: impl IntoIterator<Item = (TerminalId, bool)>,
    ) -> Result<Authority, PolicyError> {
        policy.validate()?;
        // The registry's terminal id is never on the wire or in its records (they are the
        // management's): any id does.
        let registry_id =
            TerminalId { gate: crate::domain::GateId(u16::MAX), direction: crate::domain::Direction::Inbound };
        let mut config = TerminalConfig::new(registry_id, compound, 1);
        config.camera = false;
        let mut registry = Terminal::new(config, policy.clone()).map_err(|_| PolicyError::Unusable)?;
        registry.speak_for_management();
        let peers = terminals
            .into_iter()
            .map(|(id, camera)| {
                (id, Peer { key: LinkKey::derive(master, compound, id), camera, acked: 0, resend_at: None })
            })
            .collect();
        // Resend well inside the lease, so a lossy link still renews it.
        let resend_ms = (policy.lease_ms / 6).clamp(1, 5_000);
        Ok(Authority {
            compound,
            policy,
            registry,
            log: Vec::new(),
            peers,
            held: BTreeMap::new(),
            resend_ms,
            stats: AuthorityStats::default(),
            out: Vec::new(),
        })
    }

    /// The newest version (0 before anything is logged).
    pub fn head(&self) -> u64 {
        self.log.len() as u64
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn stats(&self) -> AuthorityStats {
        self.stats
    }
    /// What `terminal` last reported having applied.
    pub fn acked(&self, terminal: TerminalId) -> Option<u64> {
        self.peers.get(&terminal).map(|p| p.acked)
    }
    /// Persons whose enrolment embedding the authority still holds for delivery.
    pub fn held_embeddings(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }
    /// The registry's view (persons, consents), for drivers and tests.
    pub fn registry(&self) -> &Terminal {
        &self.registry
    }

    /// Log an admin command from the desk: validated against the registry (refused commands
    /// are not logged, and the desk learns why at once), audited, pushed to every terminal.
    /// Returns the actions and the version, or why it was refused.
    pub fn submit(
        &mut self,
        now: Timestamp,
        command: AdminCommand,
    ) -> (alloc::vec::Drain<'_, AuthorityAction>, Result<u64, AdminRejection>) {
        self.out.clear();
        let result = self.accept(now, command);
        let now = self.registry.now();
        self.purge_expired(now);
        if result.is_ok() {
            self.push_all(now);
        }
        (self.out.drain(..), result)
    }

    fn accept(&mut self, now: Timestamp, command: AdminCommand) -> Result<u64, AdminRejection> {
        if let AdminCommand::Enroll { person, .. } = command {
            return self.accept_enrolment(now, person, command);
        }
        let mut rejected = None;
        let records: Vec<Action> = self.registry.apply_entry(now, &command).collect();
        for action in records {
            match action {
                Action::Audit(record) => self.out.push(AuthorityAction::Audit(record)),
                Action::AdminRejected(why) => rejected = Some(why),
                _ => {}
            }
        }
        if let Some(why) = rejected {
            return Err(why);
        }
        if let AdminCommand::ExportRequest(_) = command {
            // Refused and audited by the registry; never logged (nothing to replicate).
            return Err(AdminRejection::ExportRefused);
        }
        let purge = match command {
            AdminCommand::WithdrawConsent(p) => Some((p, DeletionReason::Withdrawn)),
            AdminCommand::PersonLeft(p) => Some((p, DeletionReason::PersonLeft)),
            _ => None,
        };
        let version = self.append(command);
        if let Some((person, reason)) = purge {
            self.purge_person(person, reason);
        }
        Ok(version)
    }

    fn accept_enrolment(
        &mut self,
        now: Timestamp,
        person: PersonId,
        command: AdminCommand,
    ) -> Result<u64, AdminRejection> {
        let refusal = if self.registry.person(person).is_none() {
            Some(EnrollRefusal::UnknownPerson)
        } else if self.registry.ledger().active(person, now).is_none() {
            Some(EnrollRefusal::NoValidConsent)
        } else if self.registry.deadline_of(person) <= now {
            Some(EnrollRefusal::PurposeEnded)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.audit(now, AuditEvent::EnrollmentRefused { person, reason });
            return Err(AdminRejection::EnrollmentRefused(reason));
        }
        // A re-enrolment supersedes what is still held of the previous one.
        for old in self.held.remove(&person).unwrap_or_default() {
            if let Some(entry) = self.log.get_mut(old as usize - 1) {
                entry.command = None;
            }
        }
        let delete_by = self.registry.deadline_of(person);
        self.audit(now, AuditEvent::TemplateStored { person, delete_by });
        let version = self.append(command);
        self.held.entry(person).or_default().push(version);
        self.purge_delivered();
        Ok(version)
    }

    fn append(&mut self, command: AdminCommand) -> u64 {
        self.log.push(Logged { command: Some(command) });
        let version = self.head();
        let now = self.registry.now();
        self.audit(now, AuditEvent::AdminLogged { version });
        version
    }

    fn audit(&mut self, now: Timestamp, event: AuditEvent) {
        let records: Vec<Action> = self.registry.record_management(now, event).collect();
        self.out.extend(records.into_iter().filter_map(|a| match a {
            Action::Audit(r) => Some(AuthorityAction::Audit(r)),
            _ => None,
        }));
    }

    /// Drop every embedding held for `person` (withdrawal, move-out): the log keeps the
    /// versions, the terminals that lack them get a gap filler.
    fn purge_person(&mut self, person: PersonId, reason: DeletionReason) {
        let Some(versions) = self.held.remove(&person) else { return };
        for v in versions {
            if let Some(entry) = self.log.get_mut(v as usize - 1) {
                entry.command = None;
            }
        }
        self.stats.embeddings_purged += 1;
        let now = self.registry.now();
        self.audit(now, AuditEvent::TemplateDeleted { person, reason });
    }

    /// Drop embeddings every camera terminal has acknowledged.
    fn purge_delivered(&mut self) {
        let everywhere = self.peers.values().filter(|p| p.camera).map(|p| p.acked).min().unwrap_or(u64::MAX);
        let done: Vec<PersonId> =
            self.held.iter().filter(|(_, vs)| vs.iter().all(|&v| v <= everywhere)).map(|(&p, _)| p).collect();
        for person in done {
            self.purge_person(person, DeletionReason::Delivered);
        }
    }

    /// A terminal's report arrived (already decoded; [`Uplink::decode`] for bytes).
    pub fn handle_uplink(&mut self, now: Timestamp, up: &Uplink) -> alloc::vec::Drain<'_, AuthorityAction> {
        self.out.clear();
        self.registry.advance(now);
        let now = self.registry.now();
        let refusal = match self.peers.get(&up.terminal) {
            None => Some(SyncRefusal::UnknownTerminal),
            Some(peer) if !up.verify(&peer.key) => Some(SyncRefusal::BadTag),
            Some(_) if up.compound != self.compound => Some(SyncRefusal::WrongAddress),
            Some(_) if up.have > self.head() => Some(SyncRefusal::FutureVersion),
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            self.stats.uplinks_refused += 1;
            self.audit(now, AuditEvent::SyncRefused { reason });
            return self.out.drain(..);
        }
        if let Some(peer) = self.peers.get_mut(&up.terminal) {
            // Take its word, even for less than before: after a repair it may have lost state.
            peer.acked = up.have;
        }
        self.purge_expired(now);
        self.purge_delivered();
        self.send(now, up.terminal, Some(up.nonce));
        self.out.drain(..)
    }

    /// Resend to terminals that still lack entries and have not answered; drop held
    /// embeddings whose retention or purpose has ended.
    pub fn tick(&mut self, now: Timestamp) -> alloc::vec::Drain<'_, AuthorityAction> {
        self.out.clear();
        self.registry.advance(now);
        let now = self.registry.now();
        self.purge_expired(now);
        let due: Vec<TerminalId> =
            self.peers.iter().filter(|(_, p)| p.resend_at.is_some_and(|t| t <= now)).map(|(&id, _)| id).collect();
        for id in due {
            self.send(now, id, None);
        }
        self.out.drain(..)
    }

    /// When the authority next needs [`Authority::tick`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let resend = self.peers.values().filter_map(|p| p.resend_at);
        let expiry = self.held.keys().map(|&p| self.registry.deadline_of(p));
        resend.chain(expiry).filter(|&t| t != Timestamp::NEVER).min()
    }

    /// A held embedding whose consent's retention, or whose person's stay, has ended goes
    /// (C5), delivered or not.
    fn purge_expired(&mut self, now: Timestamp) {
        let ended: Vec<PersonId> = self.held.keys().copied().filter(|&p| self.registry.deadline_of(p) <= now).collect();
        for person in ended {
            let reason = if self.registry.ledger().active(person, now).is_none() {
                DeletionReason::RetentionExpired
            } else {
                DeletionReason::PurposeEnded
            };
            self.purge_person(person, reason);
        }
    }

    fn push_all(&mut self, now: Timestamp) {
        let ids: Vec<TerminalId> = self.peers.keys().copied().collect();
        for id in ids {
            self.send(now, id, None);
        }
    }

    /// Send `to` what follows its acknowledged version (nothing new: a bare answer that can
    /// renew its lease).
    fn send(&mut self, now: Timestamp, to: TerminalId, nonce: Option<u64>) {
        let head = self.head();
        let Some(peer) = self.peers.get(&to) else { return };
        if nonce.is_none() && peer.acked >= head {
            return;
        }
        let first = peer.acked + 1;
        let mut entries = Vec::new();
        let mut bytes = 0;
        for v in first..=head {
            let command = match &self.log[v as usize - 1].command {
                Some(AdminCommand::Enroll { .. }) if !peer.camera => None,
                other => other.clone(),
            };
            let size = match &command {
                Some(AdminCommand::Enroll { embedding, .. }) => 16 + 4 * embedding.len(),
                _ => 48,
            };
            if !entries.is_empty() && (entries.len() == MAX_ENTRIES_PER_FRAME || bytes + size > FRAME_BUDGET) {
                break;
            }
            bytes += size;
            entries.push(command);
        }
        let frame = Downlink { compound: self.compound, terminal: to, nonce, head, first, entries }.seal(&peer.key);
        let missing = peer.acked < head;
        if let Some(peer) = self.peers.get_mut(&to) {
            peer.resend_at = missing.then(|| now.plus_ms(self.resend_ms));
        }
        self.stats.frames_sent += 1;
        self.out.push(AuthorityAction::Send { to, frame });
    }
}
