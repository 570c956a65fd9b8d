//! The consent ledger: separate, explicit consent records for face use at one compound (C1),
//! withdrawal (C4) and retention (C5).
//!
//! The ledger only holds records that passed [`validate`]; a defective record is refused with
//! a [`ConsentDefect`] that the terminal audits. Each terminal keeps a replica, fed by the
//! compound's admin commands, so a terminal can decide alone (and on a microcontroller).

use alloc::collections::BTreeMap;
use serde::{Deserialize, Serialize};

use crate::domain::{CompoundId, ConsentId, Person, PersonId, Timestamp};
use crate::policy::Policy;

/// What the consent is for. Only `FaceAccess` allows a face template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    FaceAccess,
    /// Anything else (marketing, "smart community" services): never enough for a template.
    Other,
}

/// How the consent was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentForm {
    /// Its own notice and its own signature, just for face use.
    Separate,
    /// A clause in a lease, property-management contract or app terms.
    Bundled,
}

/// Who gave the consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantor {
    /// The person themselves.
    Subject,
    /// A parent or guardian: required under 14, refused otherwise.
    Guardian(PersonId),
    /// Anyone else (landlord, property manager, employer): never valid.
    ThirdParty(PersonId),
}

/// The kind of grantor, as written to the audit log (the log keeps no third-party ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantorKind {
    Subject,
    AdultGuardian,
    MinorGuardian,
    ThirdParty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub id: ConsentId,
    pub person: PersonId,
    pub purpose: Purpose,
    pub scope: CompoundId,
    pub form: ConsentForm,
    /// An affirmative act (signature, tick box left unticked by default), not silence.
    pub explicit: bool,
    pub grantor: Grantor,
    pub given_at: Timestamp,
    /// Retention the person agreed to; capped by the policy's maximum.
    pub retention_ms: u64,
}

impl ConsentRecord {
    /// The valid kind: a separate, explicit consent to face access at `scope`, given by `grantor`
    /// (the subject, or an adult guardian for a child under 14).
    pub fn face_access(
        id: ConsentId,
        person: PersonId,
        scope: CompoundId,
        grantor: Grantor,
        given_at: Timestamp,
        retention_ms: u64,
    ) -> ConsentRecord {
        ConsentRecord {
            id,
            person,
            purpose: Purpose::FaceAccess,
            scope,
            form: ConsentForm::Separate,
            explicit: true,
            grantor,
            given_at,
            retention_ms,
        }
    }
}

/// Why a consent record cannot allow a face template. Each variant is a C1 clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentDefect {
    UnknownPerson,
    WrongPurpose,
    OtherCompound,
    Bundled,
    NotExplicit,
    GivenByThirdParty,
    MinorWithoutGuardian,
    GuardianNotAnAdult,
    GuardianForAdult,
    /// Given "in the future" relative to the terminal's clock.
    FromTheFuture,
}

impl ConsentDefect {
    pub fn describe(self) -> &'static str {
        match self {
            ConsentDefect::UnknownPerson => "the person is not registered at this compound",
            ConsentDefect::WrongPurpose => "the consent is not for face access",
            ConsentDefect::OtherCompound => "the consent was given for another compound",
            ConsentDefect::Bundled => "the consent was bundled with other terms instead of being separate",
            ConsentDefect::NotExplicit => "the consent was not an explicit, affirmative act",
            ConsentDefect::GivenByThirdParty => "the consent was given by someone else (e.g. a landlord)",
            ConsentDefect::MinorWithoutGuardian => "the person is under 14 and no guardian consented",
            ConsentDefect::GuardianNotAnAdult => "the guardian who consented is not an adult",
            ConsentDefect::GuardianForAdult => "a guardian consented for a person aged 14 or more",
            ConsentDefect::FromTheFuture => "the consent is dated after the time it was recorded",
        }
    }
}

/// Check a record against C1. `guardian` is the registered person named as guardian, if any.
pub fn validate(
    record: &ConsentRecord,
    compound: CompoundId,
    subject: Option<&Person>,
    guardian: Option<&Person>,
    now: Timestamp,
) -> Result<GrantorKind, ConsentDefect> {
    let subject = subject.ok_or(ConsentDefect::UnknownPerson)?;
    if record.purpose != Purpose::FaceAccess {
        return Err(ConsentDefect::WrongPurpose);
    }
    if record.scope != compound {
        return Err(ConsentDefect::OtherCompound);
    }
    if record.form != ConsentForm::Separate {
        return Err(ConsentDefect::Bundled);
    }
    if !record.explicit {
        return Err(ConsentDefect::NotExplicit);
    }
    if record.given_at > now {
        return Err(ConsentDefect::FromTheFuture);
    }
    match record.grantor {
        Grantor::ThirdParty(_) => Err(ConsentDefect::GivenByThirdParty),
        Grantor::Subject if subject.is_minor() => Err(ConsentDefect::MinorWithoutGuardian),
        Grantor::Subject => Ok(GrantorKind::Subject),
        Grantor::Guardian(_) if !subject.is_minor() => Err(ConsentDefect::GuardianForAdult),
        Grantor::Guardian(_) => match guardian {
            None => Err(ConsentDefect::MinorWithoutGuardian),
            Some(g) if g.age_years < 18 => Err(ConsentDefect::GuardianNotAnAdult),
            Some(_) => Ok(GrantorKind::AdultGuardian),
        },
    }
}

/// A consent the ledger accepted, with its retention deadline already capped by policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveConsent {
    pub record: ConsentRecord,
    pub retention_until: Timestamp,
}

/// Active face consents of one compound, one per person (a newer one replaces the older).
#[derive(Clone, Debug, Default)]
pub struct ConsentLedger {
    active: BTreeMap<PersonId, ActiveConsent>,
}

impl ConsentLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// Store an already validated record; returns the retention deadline.
    pub fn accept(&mut self, record: ConsentRecord, policy: &Policy) -> Timestamp {
        let retention = record.retention_ms.min(policy.max_retention_ms);
        let retention_until = record.given_at.plus_ms(retention);
        self.active.insert(record.person, ActiveConsent { record, retention_until });
        retention_until
    }

    /// Withdraw; true if there was an active consent.
    pub fn withdraw(&mut self, person: PersonId) -> bool {
        self.active.remove(&person).is_some()
    }

    /// The person's consent if it exists and its retention has not run out.
    pub fn active(&self, person: PersonId, now: Timestamp) -> Option<&ActiveConsent> {
        self.active.get(&person).filter(|c| now < c.retention_until)
    }

    /// The person's consent as stored, even if its retention has run out (for persistence).
    pub(crate) fn stored(&self, person: PersonId) -> Option<&ActiveConsent> {
        self.active.get(&person)
    }

    /// Put back a consent read from storage.
    pub(crate) fn restore(&mut self, consent: ActiveConsent) {
        self.active.insert(consent.record.person, consent);
    }

    /// Drop consents whose retention has run out; the caller deletes the templates.
    pub fn expire(&mut self, now: Timestamp) {
        self.active.retain(|_, c| now < c.retention_until);
    }

    pub fn len(&self) -> usize {
        self.active.len()
    }

    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }
}
