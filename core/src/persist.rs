//! A terminal whose registry, consent ledger and templates survive power loss.
//!
//! [`PersistentTerminal`] wraps a [`Terminal`] and two [`Journal`]s on two flash regions kept
//! apart (C6): the **identity** partition (persons, cards, consents, and which template handle
//! belongs to whom) and the **biometric** partition (templates under opaque handles — no person
//! id, no name). Each partition has its own key, derived from the terminal's key.
//!
//! The audit records a `handle` call produces are the change feed: each one that changes
//! durable state is written through before the actions are returned, so nothing the caller
//! acts on can be lost by a power cut. Orders that make every cut safe:
//!
//! - **Enrol**: template under a fresh handle (biometric), then the person → handle link
//!   (identity; the commit point). Cut before the link: an orphan template, erased at recovery.
//! - **Withdraw / delete**: consent or link deleted first (the commit point), then the template
//!   record, erased physically ([`Journal::delete`]). Cut in between: recovery finds a template
//!   without live consent and the first sweep deletes it before any face is matched.
//!
//! Recovery ([`PersistentTerminal::open`]) recomputes every deadline from the restored ledger
//! and cards (never trusting a stored deadline), restarts at the latest time it had persisted
//! (so a clock reset by power loss cannot postpone a deletion) and audits a `Restarted` record.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::audit::AuditEvent;
use crate::consent::ActiveConsent;
use crate::domain::{Credential, Person, PersonId, Timestamp};
use crate::flash::Flash;
use crate::journal::{Journal, JournalError, Key, OpenReport, StorageKey};
use crate::policy::Policy;
use crate::template::TemplateError;
use crate::terminal::{Action, AdminCommand, Event, Restored, Terminal, TerminalConfig};

const IDENTITY: u8 = 1;
const BIOMETRIC: u8 = 2;

const CLASS_PERSON: u8 = 1;
const CLASS_CREDENTIAL: u8 = 2;
const CLASS_CONSENT: u8 = 3;
const CLASS_LINK: u8 = 4;
const CLASS_META: u8 = 5;
/// The authority log version applied (written after the entries' own records, before the
/// acknowledgement that reports it leaves).
const CLASS_SYNC: u8 = 6;
const CLASS_TEMPLATE: u8 = 16;

/// Room asked for before a registry, card, consent or link record (postcard of the largest:
/// a consent record with its retention).
const IDENTITY_RECORD_MAX: usize = 96;

/// Persist the terminal's time at least this often, so a restart cannot go further back.
const WATERMARK_EVERY_MS: u64 = 3_600_000;

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Meta {
    boot: u32,
    watermark: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistError {
    /// The identity partition (registry, consents, links).
    Identity(JournalError),
    /// The biometric partition (templates).
    Biometric(JournalError),
    /// The stored configuration cannot make a terminal (bad dimension).
    Config(TemplateError),
}

impl core::fmt::Display for PersistError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PersistError::Identity(e) => write!(f, "identity storage: {e}"),
            PersistError::Biometric(e) => write!(f, "template storage: {e}"),
            PersistError::Config(TemplateError::WrongDimension { expected, got }) => write!(
                f,
                "the stored templates are {got}-d, this terminal is configured for {expected}-d (another embedder?); nothing was changed"
            ),
            PersistError::Config(e) => write!(f, "terminal configuration: {e:?}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PersistError {}

/// What recovery found, per partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub identity: OpenReport,
    pub biometric: OpenReport,
    /// Templates dropped at recovery: unreadable, or stored without a link (an enrolment cut
    /// short), or linked to a template that is gone.
    pub orphans: u32,
}

/// See the module docs. After any error, drop it and [`PersistentTerminal::open`] again (what a
/// reboot does): the flash is consistent, the RAM state may not be.
pub struct PersistentTerminal<I, B> {
    terminal: Terminal,
    identity: Journal<I>,
    biometric: Journal<B>,
    links: BTreeMap<PersonId, u64>,
    next_handle: u64,
    meta: Meta,
    /// The authority log version on flash.
    sync_version: u64,
    scratch: Vec<u8>,
    out: Vec<Action>,
}

impl<I, B> core::fmt::Debug for PersistentTerminal<I, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PersistentTerminal")
            .field("terminal", &self.terminal.id())
            .field("templates", &self.links.len())
            .field("boot", &self.meta.boot)
            .finish_non_exhaustive()
    }
}

fn key(class: u8, id: u64) -> Key {
    Key { class, id }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Plain data into a Vec cannot fail.
    postcard::to_allocvec(value).unwrap_or_default()
}

impl<I: Flash, B: Flash> PersistentTerminal<I, B> {
    /// Recover a terminal from its two flash regions (blank flash gives a fresh terminal).
    /// Returns it with the audit actions of its restart. The identity partition always holds a
    /// record once opened, so a wrong key is refused there before anything is written.
    pub fn open(
        config: TerminalConfig,
        policy: Policy,
        identity_flash: I,
        biometric_flash: B,
        terminal_key: &StorageKey,
    ) -> Result<(Self, Vec<Action>, Recovery), PersistError> {
        let (mut identity, ids, id_report) =
            Journal::open(identity_flash, &terminal_key.derive(b"identity"), IDENTITY, true)
                .map_err(PersistError::Identity)?;
        let (mut biometric, mut templates, bio_report) =
            Journal::open(biometric_flash, &terminal_key.derive(b"biometric"), BIOMETRIC, false)
                .map_err(PersistError::Biometric)?;
        let mut state = Restored::default();
        let mut links = BTreeMap::new();
        let mut meta = Meta::default();
        let mut sync_version = 0;
        for (k, value) in &ids {
            match k.class {
                CLASS_PERSON => state.persons.extend(postcard::from_bytes::<Person>(value).ok()),
                CLASS_CREDENTIAL => state.credentials.extend(postcard::from_bytes::<(Credential, bool)>(value).ok()),
                CLASS_CONSENT => state.consents.extend(postcard::from_bytes::<ActiveConsent>(value).ok()),
                CLASS_LINK => {
                    if let Ok(handle) = postcard::from_bytes::<u64>(value) {
                        links.insert(PersonId(k.id as u32), handle);
                    }
                }
                CLASS_META => meta = postcard::from_bytes(value).unwrap_or_default(),
                CLASS_SYNC => sync_version = postcard::from_bytes(value).unwrap_or_default(),
                _ => {}
            }
        }
        let mut recovery = Recovery { identity: id_report, biometric: bio_report, orphans: 0 };
        // Pair links with templates; anything unpaired goes.
        let mut stale_links = Vec::new();
        for (&person, &handle) in &links {
            match templates.remove(&key(CLASS_TEMPLATE, handle)) {
                Some(sealed) => state.templates.push((person, sealed)),
                None => stale_links.push(person),
            }
        }
        // A store made for another dimension or precision is refused before anything is
        // written: reading it with the wrong embedder must not delete it.
        let (dim, precision) = (config.dim, config.precision);
        let expected = match precision {
            crate::template::Precision::F32 => 1 + 4 * dim,
            crate::template::Precision::Int8 => 1 + 4 + dim,
        };
        if let Some((_, sealed)) = state.templates.iter().find(|(_, t)| t.len() != expected) {
            let got = match sealed.first() {
                Some(0) => (sealed.len().saturating_sub(1)) / 4,
                _ => sealed.len().saturating_sub(5),
            };
            return Err(PersistError::Config(TemplateError::WrongDimension { expected: dim as u32, got: got as u32 }));
        }
        let next_handle = links.values().copied().chain(templates.keys().map(|k| k.id)).max().map_or(0, |h| h + 1);
        for orphan in templates.keys() {
            recovery.orphans += 1;
            biometric.delete(*orphan).map_err(PersistError::Biometric)?;
        }
        for person in stale_links {
            recovery.orphans += 1;
            links.remove(&person);
            identity.delete(key(CLASS_LINK, u64::from(person.0))).map_err(PersistError::Identity)?;
        }
        meta.boot = meta.boot.wrapping_add(1);
        let now = state
            .consents
            .iter()
            .map(|c| c.record.given_at)
            .chain(core::iter::once(meta.watermark))
            .max()
            .unwrap_or(Timestamp::ZERO);
        state.now = now;
        meta.watermark = now;
        // Best effort on a full partition: a terminal must boot even then (the boot count and
        // time watermark are then not advanced on flash).
        match identity.put(key(CLASS_META, 0), &encode(&meta)) {
            Ok(()) | Err(JournalError::Full) => {}
            Err(e) => return Err(PersistError::Identity(e)),
        }
        let torn = id_report.torn + bio_report.torn;
        let rejected = id_report.rejected + bio_report.rejected;
        let (terminal, unreadable) =
            Terminal::restore(config, policy, state, meta.boot, torn, rejected).map_err(PersistError::Config)?;
        let mut this = PersistentTerminal {
            terminal,
            identity,
            biometric,
            links,
            next_handle,
            meta,
            sync_version,
            scratch: Vec::new(),
            out: Vec::new(),
        };
        for person in unreadable {
            recovery.orphans += 1;
            this.forget_template(person)?;
        }
        // The restart record, then the first sweep: templates past their deadline or without
        // live consent are deleted (and the deletions persisted) before any face is seen.
        let mut actions = Vec::new();
        this.drive(|t| t.take_pending(), &mut actions)?;
        let tick = this.handle(now, Event::Tick)?.to_vec();
        actions.extend(tick);
        Ok((this, actions, recovery))
    }

    pub fn terminal(&self) -> &Terminal {
        &self.terminal
    }

    /// Link the terminal to its compound's authority ([`Terminal::attach_authority`]), resuming
    /// from the log version on flash. Call after every [`PersistentTerminal::open`].
    pub fn attach_authority(&mut self, now: Timestamp, key: crate::sync::LinkKey) -> Result<&[Action], PersistError> {
        let (applied, boot) = (self.sync_version, self.meta.boot);
        let mut out = core::mem::take(&mut self.out);
        out.clear();
        let result = self.drive(|t| t.attach_authority(now, key, applied, boot).collect(), &mut out);
        self.out = out;
        result?;
        Ok(&self.out)
    }

    /// The authority log version on flash.
    pub fn durable_sync_version(&self) -> u64 {
        self.sync_version
    }

    /// Feed one event; durable changes are on flash before the actions come back.
    pub fn handle(&mut self, now: Timestamp, event: Event) -> Result<&[Action], PersistError> {
        // Refuse, before the terminal accepts it, what the flash could not hold.
        if let Event::Admin(cmd) = &event {
            match cmd {
                AdminCommand::Enroll { embedding, .. } => {
                    let bytes = 1 + 4 + embedding.len().max(self.terminal.config().dim) * 4;
                    let template = matches!(self.biometric.reserve(bytes), Err(JournalError::Full));
                    // Its link goes to the identity partition.
                    let link = matches!(self.identity.reserve(IDENTITY_RECORD_MAX), Err(JournalError::Full));
                    self.terminal.set_storage_full(template || link);
                }
                AdminCommand::RegisterPerson(_) | AdminCommand::IssueCredential(_) | AdminCommand::RecordConsent(_) => {
                    let full = matches!(self.identity.reserve(IDENTITY_RECORD_MAX), Err(JournalError::Full));
                    self.terminal.set_identity_full(full);
                }
                _ => {}
            }
        }
        let mut out = core::mem::take(&mut self.out);
        out.clear();
        let result = self.drive(|t| t.handle(now, event).collect(), &mut out);
        self.terminal.set_storage_full(false);
        self.terminal.set_identity_full(false);
        self.out = out;
        result?;
        if now >= self.meta.watermark.plus_ms(WATERMARK_EVERY_MS) {
            self.meta.watermark = now;
            // Best effort: a full partition must not stop the gate.
            match self.identity.put(key(CLASS_META, 0), &encode(&self.meta)) {
                Ok(()) | Err(JournalError::Full) => {}
                Err(e) => return Err(PersistError::Identity(e)),
            }
        }
        Ok(&self.out)
    }

    /// Audit `count` inputs the driver dropped.
    pub fn record_dropped_inputs(&mut self, now: Timestamp, count: u32) -> Result<&[Action], PersistError> {
        let mut out = core::mem::take(&mut self.out);
        out.clear();
        let result = self.drive(|t| t.record_dropped_inputs(now, count).collect(), &mut out);
        self.out = out;
        result?;
        Ok(&self.out)
    }

    /// Run `step` on the terminal and write through what its audit records changed.
    fn drive(
        &mut self,
        step: impl FnOnce(&mut Terminal) -> Vec<Action>,
        out: &mut Vec<Action>,
    ) -> Result<(), PersistError> {
        let actions = step(&mut self.terminal);
        for action in &actions {
            if let Action::Audit(record) = action {
                self.write_through(&record.event)?;
            }
        }
        // The version after the entries' effects and before the acknowledgement goes out (the
        // caller sends it only once this returns): a cut in between re-applies entries, whose
        // effects are idempotent, and never reports one that is not on flash.
        if let Some(applied) = self.terminal.sync_version()
            && applied != self.sync_version
        {
            self.put_identity(CLASS_SYNC, 0, &encode(&applied))?;
            self.sync_version = applied;
        }
        out.extend(actions);
        Ok(())
    }

    fn write_through(&mut self, event: &AuditEvent) -> Result<(), PersistError> {
        match *event {
            AuditEvent::PersonRegistered { person, .. } => match self.terminal.person(person) {
                Some(p) => self.put_identity(CLASS_PERSON, u64::from(person.0), &encode(p)),
                None => Ok(()),
            },
            AuditEvent::PersonLeft { person } => self.delete_identity(CLASS_PERSON, u64::from(person.0)),
            AuditEvent::CredentialIssued { credential, .. } | AuditEvent::CredentialRevoked { credential, .. } => {
                match self.terminal.credential_entry(credential) {
                    Some(entry) => self.put_identity(CLASS_CREDENTIAL, credential.0, &encode(&entry)),
                    None => Ok(()),
                }
            }
            AuditEvent::ConsentRecorded { person, .. } => match self.terminal.ledger().stored(person) {
                Some(c) => self.put_identity(CLASS_CONSENT, u64::from(person.0), &encode(c)),
                // Recorded and already expired within the same call (an authority catching a
                // terminal up): no older consent of theirs may come back from flash.
                None => self.delete_identity(CLASS_CONSENT, u64::from(person.0)),
            },
            AuditEvent::ConsentWithdrawn { person } => self.delete_identity(CLASS_CONSENT, u64::from(person.0)),
            AuditEvent::TemplateStored { person, .. } => self.store_template(person),
            AuditEvent::TemplateDeleted { person, .. } => self.forget_template(person),
            _ => Ok(()),
        }
    }

    fn put_identity(&mut self, class: u8, id: u64, value: &[u8]) -> Result<(), PersistError> {
        self.identity.put(key(class, id), value).map_err(PersistError::Identity)
    }

    fn delete_identity(&mut self, class: u8, id: u64) -> Result<(), PersistError> {
        self.identity.delete(key(class, id)).map_err(PersistError::Identity)
    }

    fn store_template(&mut self, person: PersonId) -> Result<(), PersistError> {
        let mut sealed = core::mem::take(&mut self.scratch);
        let present = self.terminal.store().sealed_copy(person, &mut sealed);
        let result = if present { self.write_template(person, &sealed) } else { Ok(()) };
        zeroize::Zeroize::zeroize(&mut sealed);
        self.scratch = sealed;
        result
    }

    fn write_template(&mut self, person: PersonId, sealed: &[u8]) -> Result<(), PersistError> {
        let handle = self.next_handle;
        self.next_handle += 1;
        self.biometric.put(key(CLASS_TEMPLATE, handle), sealed).map_err(PersistError::Biometric)?;
        self.put_identity(CLASS_LINK, u64::from(person.0), &encode(&handle))?;
        // A re-enrolment replaces the old template: erase it.
        if let Some(old) = self.links.insert(person, handle) {
            self.biometric.delete(key(CLASS_TEMPLATE, old)).map_err(PersistError::Biometric)?;
        }
        Ok(())
    }

    fn forget_template(&mut self, person: PersonId) -> Result<(), PersistError> {
        let Some(handle) = self.links.remove(&person) else { return Ok(()) };
        self.delete_identity(CLASS_LINK, u64::from(person.0))?;
        self.biometric.delete(key(CLASS_TEMPLATE, handle)).map_err(PersistError::Biometric)
    }

    /// Compact both partitions (maintenance; erases superseded records).
    pub fn compact(&mut self) -> Result<(), PersistError> {
        self.identity.compact_all().map_err(PersistError::Identity)?;
        self.biometric.compact_all().map_err(PersistError::Biometric)
    }

    /// Give the flash regions back (to reopen them, as a reboot would).
    pub fn into_flash(self) -> (I, B) {
        (self.identity.into_flash(), self.biometric.into_flash())
    }
}
