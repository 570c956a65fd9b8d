//! A compound's gate policy, as data. The terminal obeys it and the consent checker judges it:
//! a compliant policy must yield zero violations, the "forced face" one must be caught.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::domain::CredentialKind;

/// Three years: the longest retention any rule we follow tolerates (BIPA §15(a)).
pub const MAX_LAWFUL_RETENTION_MS: u64 = 3 * 365 * 24 * 3600 * 1000;

/// What a terminal does when its camera or matcher fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultMode {
    /// Face is refused, cards/ID/PIN keep working (C7-compliant).
    DegradeToNonFace,
    /// The door is held open for everyone, as guards did at rush hour (violates C7).
    OpenForAll,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Short name used in reports ("compliant", "forced-face", ...).
    pub name: String,
    /// Residents may use a non-face credential instead of their face (C2).
    pub face_optional: bool,
    /// Non-face credentials every resident is issued (C2 needs at least one).
    pub resident_non_face: Vec<CredentialKind>,
    /// Opting out of face needs an extra registration step, e.g. calling a hotline (violates C2).
    pub non_face_extra_registration: bool,
    /// Frames captured while someone uses a card are dropped unprocessed (C3).
    pub discard_incidental_frames: bool,
    /// Upper bound on template retention whatever a consent record asks (C5).
    pub max_retention_ms: u64,
    /// A withdrawal or expiry must have removed the template from every store within this (C4, C5).
    pub deletion_bound_ms: u64,
    /// Behaviour on camera or matcher faults (C7).
    pub on_fault: FaultMode,
}

impl Policy {
    /// The default: face optional, cards for every resident, frames of card users discarded,
    /// one-year retention, deletion everywhere within one minute, degrade to cards on faults.
    pub fn compliant() -> Policy {
        Policy {
            name: String::from("compliant"),
            face_optional: true,
            resident_non_face: alloc::vec![CredentialKind::IcCard, CredentialKind::IdCard, CredentialKind::Pin],
            non_face_extra_registration: false,
            discard_incidental_frames: true,
            max_retention_ms: 365 * 24 * 3600 * 1000,
            deletion_bound_ms: 60_000,
            on_fault: FaultMode::DegradeToNonFace,
        }
    }

    /// The seed story, deliberately non-compliant: face is the only way in for residents, the
    /// terminal keeps a photo of everyone who swipes a card, and when the scanner breaks the
    /// gate is simply held open.
    pub fn forced_face() -> Policy {
        Policy {
            name: String::from("forced-face"),
            face_optional: false,
            resident_non_face: Vec::new(),
            non_face_extra_registration: true,
            discard_incidental_frames: false,
            max_retention_ms: 365 * 24 * 3600 * 1000,
            deletion_bound_ms: 60_000,
            on_fault: FaultMode::OpenForAll,
        }
    }

    /// Look up a built-in policy by name.
    pub fn builtin(name: &str) -> Option<Policy> {
        match name {
            "compliant" => Some(Policy::compliant()),
            "forced-face" => Some(Policy::forced_face()),
            _ => None,
        }
    }

    /// Whether residents may pass with this non-face credential kind.
    pub fn accepts_resident_non_face(&self, kind: CredentialKind) -> bool {
        self.face_optional && self.resident_non_face.contains(&kind)
    }
}
