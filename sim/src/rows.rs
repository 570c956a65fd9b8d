//! The rows a run writes — `passages.csv` and `queue.csv` — which a recording also carries. One
//! type each, written by the engine's metrics, read by the planner and played back by the viewer;
//! this module knows nothing of the engine.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use gatelab_core::audit::{DecisionReason, UncontrolledCause};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What became of one attempt at a gate, as `passages.csv` spells it: `granted`, `undetected`
/// (the passage sensor could not tell them from the person before), `uncontrolled:<cause>` or
/// `denied:<reason>`, with the core's own snake_case names for causes and reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Granted,
    Undetected,
    Uncontrolled(UncontrolledCause),
    /// The terminal's reason; `None` (written `other`) when the reply carried none.
    Denied(Option<DecisionReason>),
}

impl Decision {
    pub fn is_denied(self) -> bool {
        matches!(self, Decision::Denied(_))
    }
    pub fn is_uncontrolled(self) -> bool {
        matches!(self, Decision::Uncontrolled(_))
    }
}

/// The serde name of one of the core's unit enum values (`UncontrolledCause::FaultOpen` →
/// `fault_open`): the same spelling as in the audit log, with no second table to keep in step.
fn serde_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::from("other"),
    }
}

fn from_serde_name<T: serde::de::DeserializeOwned>(name: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Granted => f.write_str("granted"),
            Decision::Undetected => f.write_str("undetected"),
            Decision::Uncontrolled(cause) => write!(f, "uncontrolled:{}", serde_name(cause)),
            Decision::Denied(Some(reason)) => write!(f, "denied:{}", serde_name(reason)),
            Decision::Denied(None) => f.write_str("denied:other"),
        }
    }
}

impl FromStr for Decision {
    type Err = String;
    fn from_str(text: &str) -> Result<Decision, String> {
        let unknown = || format!("{text:?} is not a decision (granted, undetected, uncontrolled:…, denied:…)");
        match text.split_once(':') {
            None if text == "granted" => Ok(Decision::Granted),
            None if text == "undetected" => Ok(Decision::Undetected),
            Some(("uncontrolled", name)) => from_serde_name(name).map(Decision::Uncontrolled).ok_or_else(unknown),
            Some(("denied", "other")) => Ok(Decision::Denied(None)),
            Some(("denied", name)) => from_serde_name(name).map(|r| Decision::Denied(Some(r))).ok_or_else(unknown),
            _ => Err(unknown()),
        }
    }
}

impl Serialize for Decision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Decision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Decision, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One row of `passages.csv`: a passage or a denied attempt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PassageRow {
    /// Clock time, "HH:MM:SS.s".
    pub time: String,
    /// Seconds since midnight.
    pub t_s: f64,
    pub agent: u64,
    pub kind: Cow<'static, str>,
    pub gate: String,
    pub lane: String,
    pub direction: Cow<'static, str>,
    pub credential: Cow<'static, str>,
    pub decision: Decision,
    pub wait_s: f64,
    pub service_s: f64,
    pub tailgated: bool,
}

/// One row of `queue.csv`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueRow {
    pub time: String,
    pub t_s: f64,
    pub gate: String,
    /// A lane (`out-1`), a shared queue (`out-shared`) or the guard booth (`guard-desk`).
    pub lane: String,
    pub direction: &'static str,
    pub queue: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_decision_reads_back_as_written_with_the_cores_names() {
        use DecisionReason as R;
        use UncontrolledCause as C;
        let causes = [C::Tailgating, C::GuardBypass, C::DoorForced, C::FaultOpen, C::Unexplained];
        let reasons = [
            R::NoFaceMatch,
            R::FaceUnavailable,
            R::CredentialExpired,
            R::CredentialRevoked,
            R::CredentialNotAccepted,
            R::FaceRequiredByPolicy,
            R::UnknownCredential,
            R::UnknownPerson,
            R::BadProbe,
        ];
        let mut all = vec![Decision::Granted, Decision::Undetected, Decision::Denied(None)];
        all.extend(causes.map(Decision::Uncontrolled));
        all.extend(reasons.map(|r| Decision::Denied(Some(r))));
        for d in all {
            assert_eq!(d.to_string().parse::<Decision>(), Ok(d), "{d}");
        }
        // The spellings passages.csv has always had.
        assert_eq!(Decision::Uncontrolled(C::FaultOpen).to_string(), "uncontrolled:fault_open");
        assert_eq!(Decision::Denied(Some(R::FaceRequiredByPolicy)).to_string(), "denied:face_required_by_policy");
        assert_eq!(Decision::Denied(None).to_string(), "denied:other");
        assert!("denied:".parse::<Decision>().is_err());
        assert!("maybe".parse::<Decision>().is_err());
    }
}
