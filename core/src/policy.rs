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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// A terminal linked to the compound's authority matches faces only while its last
    /// confirmed contact is younger than this ([`crate::sync`]); shorter than
    /// `deletion_bound_ms`, so a withdrawal stops matches everywhere within the bound even on a
    /// terminal that is cut off.
    #[serde(default = "default_lease_ms")]
    pub lease_ms: u64,
    /// A face probe whose presentation-attack detection scored it below this (the PAD model's
    /// bona fide probability, 0–1) is refused as a suspected spoof, before any matching; the
    /// person's card still opens (C7). Probes sent without a score (a camera without PAD) are
    /// not judged. 0 turns the check off.
    #[serde(default = "default_liveness_min")]
    pub liveness_min: f32,
}

/// The PAD model's own decision point: live more likely than not (fr_liveness.onnx gives the
/// live class's softmax). Measured bona fide pass rate at it: see README ("liveness").
pub const DEFAULT_LIVENESS_MIN: f32 = 0.5;

fn default_liveness_min() -> f32 {
    DEFAULT_LIVENESS_MIN
}

/// Half the default deletion bound: a terminal renews every third of it, so two lost answers
/// in a row still do not lapse it.
pub const DEFAULT_LEASE_MS: u64 = 30_000;

fn default_lease_ms() -> u64 {
    DEFAULT_LEASE_MS
}

/// A policy that cannot be run as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// `lease_ms` must be shorter than `deletion_bound_ms` (and not zero).
    LeaseNotShorterThanBound { lease_ms: u64, deletion_bound_ms: u64 },
    /// The core could not build a terminal for it.
    Unusable,
    /// `liveness_min` must be a probability, 0 to 1.
    LivenessNotAProbability,
}

impl core::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PolicyError::LeaseNotShorterThanBound { lease_ms, deletion_bound_ms } => write!(
                f,
                "lease_ms = {lease_ms} must be above 0 and below deletion_bound_ms = {deletion_bound_ms}: a terminal cut off from the authority would otherwise still match a withdrawn person after the deletion bound — shorten the lease (e.g. half the bound)"
            ),
            PolicyError::Unusable => f.write_str("the policy cannot be run"),
            PolicyError::LivenessNotAProbability => f.write_str(
                "liveness_min must be a probability from 0 to 1 (the PAD model's bona fide score; 0 turns the check off, 0.5 is the default)",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PolicyError {}

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
            lease_ms: DEFAULT_LEASE_MS,
            liveness_min: DEFAULT_LIVENESS_MIN,
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
            lease_ms: DEFAULT_LEASE_MS,
            liveness_min: DEFAULT_LIVENESS_MIN,
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

    /// Whether the policy can be run: the lease is shorter than the deletion bound, the
    /// liveness threshold a probability.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.lease_ms == 0 || self.lease_ms >= self.deletion_bound_ms {
            return Err(PolicyError::LeaseNotShorterThanBound {
                lease_ms: self.lease_ms,
                deletion_bound_ms: self.deletion_bound_ms,
            });
        }
        if !(0.0..=1.0).contains(&self.liveness_min) {
            return Err(PolicyError::LivenessNotAProbability);
        }
        Ok(())
    }

    /// Whether residents may pass with this non-face credential kind.
    pub fn accepts_resident_non_face(&self, kind: CredentialKind) -> bool {
        self.face_optional && self.resident_non_face.contains(&kind)
    }
}
