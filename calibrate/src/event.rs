//! One attempt at a gate, whatever log it came from, and the names it refers to (interned, so
//! a million events carry small numbers, not strings).

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    In,
    Out,
}

impl Direction {
    pub fn parse(text: &str) -> Option<Direction> {
        match text.trim().to_ascii_lowercase().as_str() {
            "in" | "inbound" | "entry" | "enter" => Some(Direction::In),
            "out" | "outbound" | "exit" | "leave" => Some(Direction::Out),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// How the person tried to get through. The first four are terminal transactions (a service
/// time at a lane); `Other` is anything no terminal served (a follower, the guard, the car gate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Credential {
    Face,
    IcCard,
    Pin,
    IdCard,
    Other,
}

impl Credential {
    /// gatelab's spellings (`passages.csv`, the gatelab layout, a mapping's targets).
    pub fn parse(text: &str) -> Option<Credential> {
        match text.trim() {
            "face" => Some(Credential::Face),
            "ic_card" | "card" => Some(Credential::IcCard),
            "pin" => Some(Credential::Pin),
            "id_card" => Some(Credential::IdCard),
            "tailgate" | "guard" | "car_gate" | "open_for_all" | "none" | "other" => Some(Credential::Other),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Credential::Face => "face",
            Credential::IcCard => "ic_card",
            Credential::Pin => "pin",
            Credential::IdCard => "id_card",
            Credential::Other => "other",
        }
    }
    /// The scenario's service-time field this credential's transactions calibrate.
    pub fn service_kind(self) -> Option<ServiceKind> {
        match self {
            Credential::Face => Some(ServiceKind::Face),
            Credential::IcCard | Credential::Pin => Some(ServiceKind::Card),
            Credential::IdCard => Some(ServiceKind::IdCard),
            Credential::Other => None,
        }
    }
    pub const ALL: [Credential; 5] =
        [Credential::Face, Credential::IcCard, Credential::Pin, Credential::IdCard, Credential::Other];
}

/// The scenario's three terminal service times: `face_s`, `card_s` (IC card and PIN), `id_card_s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKind {
    Face,
    Card,
    IdCard,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 3] = [ServiceKind::Face, ServiceKind::Card, ServiceKind::IdCard];
    pub fn index(self) -> usize {
        self as usize
    }
    /// The scenario's mean field (`face_s`); the coefficient of variation is `<prefix>_cv`.
    pub fn field(self) -> &'static str {
        match self {
            ServiceKind::Face => "face_s",
            ServiceKind::Card => "card_s",
            ServiceKind::IdCard => "id_card_s",
        }
    }
    pub fn cv_field(self) -> &'static str {
        match self {
            ServiceKind::Face => "face_cv",
            ServiceKind::Card => "card_cv",
            ServiceKind::IdCard => "id_card_cv",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ServiceKind::Face => "face",
            ServiceKind::Card => "IC card / PIN",
            ServiceKind::IdCard => "ID card",
        }
    }
}

/// One attempt at a gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// 1-based line in its file (the header is line 1).
    pub line: u64,
    /// Days since 1970-01-01 in the compound's local time; 0 for a log without dates.
    pub day: i64,
    /// Seconds since that day's midnight, the compound's local clock.
    pub t_s: f64,
    /// Index into [`Names::gates`].
    pub gate: u32,
    /// Index into [`Names::lanes`] (a terminal or reader); `None` when no terminal was involved
    /// (the guard's door, the car gate).
    pub lane: Option<u32>,
    pub direction: Direction,
    pub credential: Credential,
    pub granted: bool,
    /// A hash of the log's person id (the id itself is dropped on reading).
    pub person: Option<u64>,
    /// A resident (counts for demand), when the log says; `None`: assumed a resident.
    pub resident: Option<bool>,
    /// Seconds the person queued before being served, when the log has it (the queue signal).
    pub wait_s: Option<f64>,
    /// Seconds the transaction took, when the log has it.
    pub service_s: Option<f64>,
}

/// Gate and lane names, interned in the order first seen.
#[derive(Debug, Default, Clone)]
pub struct Names {
    pub gates: Vec<String>,
    /// (gate index, lane name).
    pub lanes: Vec<(u32, String)>,
    gate_index: HashMap<String, u32>,
    /// Per gate: lane name → index.
    lane_index: Vec<HashMap<String, u32>>,
}

impl Names {
    pub fn gate(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.gate_index.get(name) {
            return i;
        }
        let i = self.gates.len() as u32;
        self.gates.push(name.to_string());
        self.gate_index.insert(name.to_string(), i);
        i
    }
    pub fn lane(&mut self, gate: u32, name: &str) -> u32 {
        let g = gate as usize;
        if self.lane_index.len() <= g {
            self.lane_index.resize_with(g + 1, HashMap::new);
        }
        // A lookup without allocating for the common case (the lane was seen before).
        if let Some(&i) = self.lane_index[g].get(name) {
            return i;
        }
        let i = self.lanes.len() as u32;
        self.lanes.push((gate, name.to_string()));
        self.lane_index[g].insert(name.to_string(), i);
        i
    }
}

/// FNV-1a of a person id: stable across runs, and the id text is never kept.
pub fn hash_person(id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
