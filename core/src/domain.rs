//! Who and what a compound's gates deal with: persons, households, credentials, gates.
//!
//! Everything here is plain data; identity data lives here and never next to a template
//! (templates are keyed by [`PersonId`] only, see `template`).

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the driver's epoch. The core never reads a clock:
/// every `now` comes in from the caller (simulation, host runner or firmware tick).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp(0);
    pub const NEVER: Timestamp = Timestamp(u64::MAX);

    /// `self + ms`, saturating at [`Timestamp::NEVER`] so that no input can overflow.
    pub fn plus_ms(self, ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self`, zero if `earlier` is later.
    pub fn ms_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl core::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if *self == Timestamp::NEVER {
            return f.write_str("never");
        }
        let s = self.0 / 1000;
        write!(f, "d{}+{:02}:{:02}:{:02}.{:03}", s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60, self.0 % 1000)
    }
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// A person known to the compound (resident, visitor, courier or guard).
    PersonId(u32)
);
id_type!(
    /// A household (flat); minors' guardians are found in the same household.
    HouseholdId(u32)
);
id_type!(
    /// A non-face credential: card number, ID-card hash, PIN slot, visitor pass.
    CredentialId(u64)
);
id_type!(
    /// One pedestrian or vehicle gate of the compound.
    GateId(u16)
);
id_type!(
    /// A residential compound; consent is given for one compound only.
    CompoundId(u32)
);
id_type!(
    /// A consent record in the ledger.
    ConsentId(u64)
);

/// Under this age a guardian must give consent (PIPL Art. 31).
pub const MINOR_AGE_YEARS: u8 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Owner,
    Renter,
    Visitor,
    Courier,
    Guard,
}

impl PersonKind {
    /// Residents are the people C2 protects: they must always have a non-face way in.
    pub fn is_resident(self) -> bool {
        matches!(self, PersonKind::Owner | PersonKind::Renter)
    }

    /// Kinds whose presence in the compound is time-limited: their template's purpose ends
    /// when their last card expires (C5).
    pub fn is_time_limited(self) -> bool {
        matches!(self, PersonKind::Renter | PersonKind::Visitor | PersonKind::Courier)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub kind: PersonKind,
    pub household: Option<HouseholdId>,
    pub age_years: u8,
}

impl Person {
    pub fn is_minor(&self) -> bool {
        self.age_years < MINOR_AGE_YEARS
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    Face,
    IcCard,
    IdCard,
    Pin,
    VisitorPass,
    GuardOverride,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 6] = [
        CredentialKind::Face,
        CredentialKind::IcCard,
        CredentialKind::IdCard,
        CredentialKind::Pin,
        CredentialKind::VisitorPass,
        CredentialKind::GuardOverride,
    ];

    /// Credentials a person can carry through a terminal themselves without biometrics:
    /// the ones that satisfy C2.
    pub fn is_personal_non_face(self) -> bool {
        matches!(
            self,
            CredentialKind::IcCard | CredentialKind::IdCard | CredentialKind::Pin | CredentialKind::VisitorPass
        )
    }
}

/// A non-face credential. Faces are not credentials in this table: a face is a template in the
/// template store, tied to the person only through consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: CredentialId,
    pub holder: PersonId,
    pub kind: CredentialKind,
    /// Renter and visitor cards expire; owners' usually do not.
    pub expires_at: Option<Timestamp>,
}

impl Credential {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// One terminal: one side of one gate, with its own door, passage sensor, camera and store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TerminalId {
    pub gate: GateId,
    pub direction: Direction,
}

impl core::fmt::Display for TerminalId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let d = match self.direction {
            Direction::Inbound => "in",
            Direction::Outbound => "out",
        };
        write!(f, "gate{}-{}", self.gate.0, d)
    }
}

/// A gate has a terminal on each side (inbound and outbound).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gate {
    pub id: GateId,
}

impl Gate {
    pub fn inbound(self) -> TerminalId {
        TerminalId { gate: self.id, direction: Direction::Inbound }
    }
    pub fn outbound(self) -> TerminalId {
        TerminalId { gate: self.id, direction: Direction::Outbound }
    }
    pub fn terminals(self) -> [TerminalId; 2] {
        [self.inbound(), self.outbound()]
    }
}
