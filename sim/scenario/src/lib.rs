//! Compound scenarios (`scenarios/*.toml`): who lives there, the gates, rush-hour demand,
//! behaviour, faults, policy, matcher and run settings. Parsed with serde + toml; every value is
//! checked and an error names the file, the field and what to do.
//!
//! `gatelab run` simulates them (the `gatelab-sim` engine); `gatelab scenario check` only
//! validates. A bad value is reported as `FILE:LINE: field: what is wrong — what to do`.
//!
//! This crate knows the core's types and serde/toml, never Bevy, ONNX Runtime, plotters or clap:
//! the fuzzer, the rig and the planner read scenarios without building the simulation. It also
//! holds policy files ([`policy_file`]) and the calibration files other tools write
//! ([`TerminalCalibration`] from `gatelab-rig bench`, the `[matcher]` table `gatelab faces eval`
//! emits).

pub mod includes;
pub mod policy_file;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub run: RunSettings,
    pub population: Population,
    pub gates: Vec<GateSpec>,
    pub demand: Demand,
    #[serde(default)]
    pub behaviour: Behaviour,
    #[serde(default)]
    pub faults: Faults,
    /// The compound's LAN between its management server and the terminals; absent: terminals
    /// take admin commands in memory, as if the network were perfect and instantaneous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// A consent re-confirmation the night before the window (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconfirmation: Option<Reconfirmation>,
    /// Presentation attacks at the face terminals, and the terminals' liveness check (absent:
    /// the cameras run no presentation-attack detection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attacks: Option<Attacks>,
    pub policy: PolicySpec,
    #[serde(default)]
    pub matcher: MatcherModel,
    #[serde(default)]
    pub service: Service,
    /// What a lane and a booth desk cost, for the planner's cost column (optional).
    #[serde(default)]
    pub costs: Option<Costs>,
    /// The compound's own ground: people walk from its building entrances and street edges to
    /// the gates around its obstacles. Absent: each gate stands in open ground,
    /// `walk_distance_m` from the buildings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteSpec>,
}

/// `[site] file = "sites/compound-entrance.toml"`: a site the `gatelab-site` crate reads (a
/// `.toml` with a `[site]` table, a `.dxf` drawing or a `.geojson`), relative to the scenario.
/// Each gate stands in the site's gate of the same name (or `site_gate`), its lanes side by
/// side across that opening.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteSpec {
    pub file: String,
    /// `file` resolved against the scenario's folder when the scenario was read.
    #[serde(skip)]
    pub path: Option<std::path::PathBuf>,
    /// People more than this many metres (of walk) beyond the farthest place anyone queues
    /// for at their gate walk in free flow: the same model, but their neighbours are not
    /// looked for. On a large site most walking is on near-empty paths and this is most of the
    /// cost; 0 resolves everyone everywhere (slower, for checking the shortcut).
    #[serde(default = "default_free_flow_beyond_m", skip_serializing_if = "is_default_free_flow")]
    pub free_flow_beyond_m: f64,
}

/// Six seconds of walking, ten times the walking model's reach (2 m).
pub const DEFAULT_FREE_FLOW_BEYOND_M: f64 = 30.0;

fn default_free_flow_beyond_m() -> f64 {
    DEFAULT_FREE_FLOW_BEYOND_M
}

fn is_default_free_flow(v: &f64) -> bool {
    *v == DEFAULT_FREE_FLOW_BEYOND_M
}

/// Costs in one currency (which one is the planner's business): per lane in one direction by
/// terminal kind, and per desk staffed at a guard booth.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Costs {
    pub lane_face_and_card: f64,
    pub lane_card_only: f64,
    pub booth_desk: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    /// Wall-clock start of the simulated window, "HH:MM".
    pub start: String,
    pub duration_min: u32,
    /// Fixed timestep in seconds.
    #[serde(default = "default_dt")]
    pub dt_s: f64,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "one")]
    pub replications: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Population {
    pub households: u32,
    pub owners: u32,
    pub renters: u32,
    /// Days left on a renter's card at the start, on average (short-term rentals: a few days).
    #[serde(default = "default_renter_card_days")]
    pub renter_card_days: u32,
    #[serde(default)]
    pub children: u32,
    #[serde(default)]
    pub elderly: u32,
    #[serde(default)]
    pub visitors_per_hour: f64,
    #[serde(default)]
    pub couriers_per_hour: f64,
    #[serde(default)]
    pub food_couriers_per_hour: f64,
    /// Couriers with a card of their own (enrolled fixed couriers); the others register or use ID.
    #[serde(default)]
    pub couriers_with_card_share: f64,
    /// Residents who refuse face enrolment.
    pub opt_out_share: f64,
    /// Residents who forget their card on a given day.
    #[serde(default)]
    pub forget_card_share: f64,
    /// Enrolled residents who withdraw their face consent during the run, per hour: the
    /// terminals must delete their templates everywhere (C4) and they carry on with their card.
    #[serde(default)]
    pub withdrawals_per_hour: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalKind {
    /// Face camera + card/ID/PIN reader.
    FaceAndCard,
    /// Card/ID/PIN only.
    CardOnly,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSpec {
    pub name: String,
    pub lanes_in: u32,
    pub lanes_out: u32,
    pub terminal: TerminalKind,
    pub door_open_s: f64,
    pub lane_width_m: f64,
    /// Walking distance from the compound's buildings (or the street) to the gate.
    pub walk_distance_m: f64,
    /// A car gate next to it that a guard can open (an uncontrolled path).
    #[serde(default)]
    pub car_gate: bool,
    /// Share of all trips that use this gate.
    pub share: f64,
    /// How people queue: one queue per lane (they pick the shortest) or one shared queue that
    /// feeds whichever lane is free (a serpentine, as at airports).
    #[serde(default)]
    pub queue: QueueDiscipline,
    /// Desks staffed at the guard booth today (visitors register there; couriers without a
    /// card and anyone stuck are helped there): each serves one person at a time.
    #[serde(default = "one")]
    pub booth_desks: u32,
    /// How deep the space in front of the lanes is where a queue may stand, on each side, from
    /// the end of the lane cabinets (a pavement before the kerb is typically 3–5 m). The
    /// queue's density there gives the level of service; a queue longer than this spills back
    /// (onto the street, or into the compound's path).
    #[serde(default = "default_queue_area_depth")]
    pub queue_area_depth_m: f64,
    /// With a `[site]`: the site's gate this gate stands in (default: the gate's own name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_gate: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueDiscipline {
    #[default]
    PerLane,
    Shared,
}

/// Residents' trips: either `profile`, trips per resident per hour by hour of day
/// (`[hour, outbound, inbound]`), or `rows` at any resolution down to one minute, in trips per
/// hour for the whole compound or for one gate (what a gate log gives).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demand {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<(u8, f64, f64)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rows: Vec<DemandRow>,
}

/// From `start` ("HH:MM") for `minutes`, residents leave at `outbound` and come home at
/// `inbound` trips per hour — at `gate` if named, else over the whole compound (split by the
/// gates' shares).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandRow {
    pub start: String,
    pub minutes: u32,
    pub outbound: f64,
    pub inbound: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
}

impl DemandRow {
    /// [start, end) in minutes since midnight (valid rows only).
    pub fn span_min(&self) -> (u32, u32) {
        let start = parse_clock(&self.start).unwrap_or(0);
        (start, start + self.minutes)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Free walking speed, m/s (Weidmann 1993: 1.34).
    pub walk_speed_mean: f64,
    pub walk_speed_sd: f64,
    /// Chance that someone without a grant follows through an open door.
    pub tailgating_propensity: f64,
    /// Face attempts before switching to a card.
    pub face_retries: u32,
    /// Agents walk (social force) from their door to the gate and through it. `false` puts them
    /// straight into the queue and through the door: a pure queueing model, for checking the
    /// simulation against Erlang C and M/D/1.
    #[serde(default = "yes")]
    pub walking: bool,
    /// People without any way in (forced-face opt-outs) wait this long for someone else's door
    /// before they give up and call the guard.
    #[serde(default = "default_patience")]
    pub no_credential_patience_s: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            walk_speed_mean: 1.34,
            walk_speed_sd: 0.26,
            tailgating_propensity: 0.05,
            face_retries: 2,
            walking: true,
            no_credential_patience_s: default_patience(),
        }
    }
}

/// Time at the terminal or the guard desk, per transaction. FIGURES.md: face terminals 30–60
/// persons/min (≈ 1–2 s), card turnstiles 20–30/min (≈ 2–3 s).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    /// One face attempt: step up, look, decision.
    pub face_s: f64,
    /// IC card or PIN at the reader.
    pub card_s: f64,
    /// National ID card at the reader (couriers, food couriers).
    pub id_card_s: f64,
    /// A visitor registering at the guard booth.
    pub visitor_registration_s: f64,
    /// A courier without a card, a renter with an expired card or anyone stuck, at the booth.
    pub desk_help_s: f64,
    /// How service times vary around their means.
    pub distribution: ServiceDistribution,
    /// Coefficient of variation for `lognormal` and `gamma`.
    pub cv: f64,
    /// `cv` for face transactions, when measured apart (`gatelab calibrate` writes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_cv: Option<f64>,
    /// `cv` for IC card and PIN transactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_cv: Option<f64>,
    /// `cv` for national ID card transactions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_card_cv: Option<f64>,
    /// The terminal's own compute time per face decision (search, decision, audit), added to
    /// `face_s`. Usually set through `terminal_calibration`.
    pub face_decision_s: f64,
    /// A file written by `gatelab-rig bench --emit-calibration` (relative to the scenario): the
    /// decision time measured on the terminal's hardware, fitted to this compound's gallery
    /// size and `matcher.dim`, becomes `face_decision_s` (a HIL-calibrated simulation).
    pub terminal_calibration: Option<String>,
}

/// What `gatelab-rig bench --emit-calibration` writes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalCalibration {
    /// Where it was measured ("NUCLEO-H743ZI via probe-rs", "QEMU mps2-an500 …").
    pub source: String,
    /// How counts became seconds (cycles at the board's clock, or instructions at an assumed one).
    pub note: String,
    pub gate_decision: Vec<DecisionPoint>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionPoint {
    pub dim: u16,
    pub gallery: u32,
    pub seconds: f64,
}

impl TerminalCalibration {
    /// Seconds per decision for a gallery of `gallery` templates of `dim`: a least-squares line
    /// through the measured points of that dimension (search cost grows linearly with N).
    pub fn decision_s(&self, dim: usize, gallery: u32) -> Result<f64, String> {
        let points: Vec<(f64, f64)> = self
            .gate_decision
            .iter()
            .filter(|p| usize::from(p.dim) == dim)
            .map(|p| (f64::from(p.gallery), p.seconds))
            .collect();
        match points.as_slice() {
            [] => Err(format!(
                "it has no measurement at dim {dim} (it has {:?}); run `gatelab-rig bench --dims {dim} --emit-calibration FILE`",
                self.gate_decision.iter().map(|p| p.dim).collect::<std::collections::BTreeSet<_>>()
            )),
            [(_, s)] => Ok(*s),
            _ => {
                let n = points.len() as f64;
                let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
                let my = points.iter().map(|p| p.1).sum::<f64>() / n;
                let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
                let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
                let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
                Ok((my + slope * (f64::from(gallery) - mx)).max(0.0))
            }
        }
    }
}

impl Default for Service {
    fn default() -> Self {
        Service {
            face_s: 1.5,
            card_s: 2.5,
            id_card_s: 4.0,
            visitor_registration_s: 45.0,
            desk_help_s: 25.0,
            distribution: ServiceDistribution::Lognormal,
            cv: 0.35,
            face_cv: None,
            card_cv: None,
            id_card_cv: None,
            face_decision_s: 0.0,
            terminal_calibration: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceDistribution {
    /// Always the mean (M/D/c checks).
    Deterministic,
    /// Memoryless (M/M/c checks).
    Exponential,
    /// Realistic: positive, right-skewed.
    Lognormal,
    /// Gamma with the mean and `cv` (shape 1/cv²): what `gatelab calibrate` writes when it fits
    /// a compound's measured service times better than the lognormal.
    Gamma,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Mean time between camera failures per terminal, hours (0: never fails at random).
    #[serde(default)]
    pub camera_mtbf_h: f64,
    #[serde(default)]
    pub camera_mttr_min: f64,
    #[serde(default)]
    pub outages: Vec<Outage>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageKind {
    /// The scanner was carried away for repair: no face at that gate.
    ScannerRemoved,
    /// The compound's gallery is unreachable: no face anywhere.
    GalleryOutage,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub kind: OutageKind,
    /// Gate name; omitted for compound-wide outages.
    #[serde(default)]
    pub gate: Option<String>,
    pub from: String,
    pub to: String,
}

/// `[network]`: every terminal is linked to the compound's authority (the management server)
/// over the LAN. Admin commands reach a terminal only as authenticated entries of the
/// authority's log, and a terminal matches faces only while its consent lease
/// (`policy.lease_ms`) is live; cut off longer than that, it refuses faces and keeps cards, ID
/// and PIN working. Links are up unless an outage below takes them down.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Mean time between random link outages per terminal, hours (0: none at random).
    #[serde(default)]
    pub outage_mtbf_h: f64,
    /// Mean length of a random link outage, minutes.
    #[serde(default)]
    pub outage_mttr_min: f64,
    /// Scheduled link outages (an unplugged switch, a terminal off the LAN for repair).
    #[serde(default)]
    pub outages: Vec<LinkOutage>,
}

impl Network {
    /// Whether any link can go down.
    pub fn has_outages(&self) -> bool {
        self.outage_mtbf_h > 0.0 || !self.outages.is_empty()
    }
}

/// One scheduled link outage: the whole compound (no `gate`), every terminal of a gate, or
/// one lane's terminal (`lane` as the plan names lanes: "in-1", "out-2").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOutage {
    #[serde(default)]
    pub gate: Option<String>,
    #[serde(default)]
    pub lane: Option<String>,
    /// "HH:MM" on the day of the window; may start before the window (the night before is
    /// simulated for the network from midnight on).
    pub from: String,
    pub to: String,
}

/// `[reconfirmation]`: every face consent had to be re-signed by `at`; the households that did
/// not (a share of them, drawn per household) have their consents lapse then, so the authority
/// logs a withdrawal for each enrolled member and every terminal must delete their templates.
/// Tianjin Wenhuacun, 2020: about 50 of 600 households did not re-sign.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reconfirmation {
    /// "HH:MM", before `run.start` (the night before the morning simulated).
    pub at: String,
    /// Share of households that did not re-sign.
    pub not_resigned_share: f64,
}

/// `[attacks]`: the face terminals run presentation-attack detection (PAD) on every probe, and
/// someone tries `per_hour` times an hour to get in with a resident's printed photo or a phone
/// replay. Scores are drawn from Beta distributions given by mean and standard deviation; the
/// policy's `liveness_min` decides. Defaults: bona fide 0.85 ± 0.19 (fr_liveness on the real
/// test photos: 4 of 4 pass 0.5, mean 0.848, sd 0.194); attacks 0.20 ± 0.20 — an ASSUMPTION
/// (no attack captures can be had from the registries): measure yours with `gatelab faces
/// pad-eval --attack`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attacks {
    /// Attack attempts per hour over the whole compound (at its face lanes, at random).
    pub per_hour: f64,
    /// Share of the attempts made with a phone or tablet replay (the rest: printed photos).
    #[serde(default = "half")]
    pub screen_share: f64,
    #[serde(default = "bona_fide_mean")]
    pub bona_fide_mean: f64,
    #[serde(default = "bona_fide_sd")]
    pub bona_fide_sd: f64,
    #[serde(default = "attack_mean")]
    pub attack_mean: f64,
    #[serde(default = "attack_sd")]
    pub attack_sd: f64,
}

fn half() -> f64 {
    0.5
}
fn bona_fide_mean() -> f64 {
    0.85
}
fn bona_fide_sd() -> f64 {
    0.19
}
fn attack_mean() -> f64 {
    0.20
}
fn attack_sd() -> f64 {
    0.20
}

impl Attacks {
    /// The Beta distribution's (α, β) with this mean and standard deviation (validated: the
    /// variance is below mean·(1 − mean)).
    pub fn beta(mean: f64, sd: f64) -> (f64, f64) {
        let k = mean * (1.0 - mean) / (sd * sd) - 1.0;
        (mean * k, (1.0 - mean) * k)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Built-in name or a path relative to the scenario file.
    pub name: String,
    /// The policy `name` stands for, resolved once when the scenario is read (a built-in, or the
    /// file read then); every replication and sweep unit uses this copy. `None` only for a
    /// scenario built in code or decoded from elsewhere: [`Scenario::policy`] resolves it then.
    #[serde(skip)]
    pub resolved: Option<gatelab_core::Policy>,
    /// The guard opens the car gate for everyone when a queue exceeds this many people.
    #[serde(default)]
    pub guard_opens_car_gate_above_queue: Option<u32>,
}

/// Synthetic embeddings: genuine and impostor cosine similarities are drawn from these normal
/// distributions (FIGURES.md: genuine ≈ 0.70, impostor ≈ 0.01 for fr_feature), so FAR/FRR emerge
/// from the real core matcher.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatcherModel {
    /// A file written by `gatelab faces eval --emit-calibration` (relative to the scenario): its
    /// values replace the ones here, so simulated FAR/FRR follow the real model.
    pub calibration: Option<String>,
    pub threshold: f32,
    pub genuine_mean: f64,
    pub genuine_sd: f64,
    pub impostor_mean: f64,
    pub impostor_sd: f64,
    pub dim: usize,
}

impl Default for MatcherModel {
    fn default() -> Self {
        MatcherModel {
            calibration: None,
            threshold: 0.40,
            genuine_mean: 0.70,
            genuine_sd: 0.10,
            impostor_mean: 0.01,
            impostor_sd: 0.08,
            dim: 128,
        }
    }
}

fn default_dt() -> f64 {
    0.1
}
fn default_queue_area_depth() -> f64 {
    5.0
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_patience() -> f64 {
    180.0
}
fn default_renter_card_days() -> u32 {
    180
}

/// Minutes since midnight of "HH:MM".
pub fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && text.len() == 5).then_some(h * 60 + m)
}

/// A scenario that could not be used: where, which field, what is wrong and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file, or `<text>` for a string.
    pub file: String,
    /// 1-based line of the offending value, when it can be found.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `gates[0].lanes_in`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: ", self.file)?,
            None => write!(f, "{}: ", self.file)?,
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A value that failed validation: the field's dotted path and the message with its hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), message: message.into() }
}

impl Scenario {
    /// Read and validate a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: None,
            field: String::new(),
            message: format!("could not read the scenario ({e}); check the path"),
        })?;
        let mut scenario = Scenario::parse_in(&text, &file, path.parent().unwrap_or(Path::new(".")))?;
        if scenario.policy.resolved.is_none() {
            // A policy file, relative to the scenario (as a path given from the working folder
            // is, too: that is how it was read before the scenario knew its own folder).
            let beside = path.parent().unwrap_or(Path::new(".")).join(&scenario.policy.name);
            let spec =
                if beside.exists() { beside.to_string_lossy().into_owned() } else { scenario.policy.name.clone() };
            let policy = policy_file::load(&spec).map_err(|e| ScenarioError {
                file: file.clone(),
                line: locate(&text, "policy.name"),
                field: "policy.name".into(),
                message: format!("{e:#}"),
            })?;
            scenario.policy.resolved = Some(policy);
        }
        // A file named by a field, relative to the scenario; its errors point at that field.
        let (file_ref, text_ref) = (&file, &text);
        let side_file = |field: &'static str, name: &str, what: &str, writer: &str| {
            let at = path.parent().unwrap_or(Path::new(".")).join(name);
            let fail = move |message: String| ScenarioError {
                file: file_ref.clone(),
                line: locate(text_ref, field),
                field: field.into(),
                message,
            };
            let cal = std::fs::read_to_string(&at)
                .map_err(|e| fail(format!("could not read {} ({e}); write it with `{writer}`", at.display())))?;
            let table: toml::Table =
                toml::from_str(&cal).map_err(|e| fail(format!("{} is not {what}: {}", at.display(), e.message())))?;
            Ok::<_, ScenarioError>((table, at, fail))
        };
        if let Some(name) = scenario.matcher.calibration.clone() {
            let (table, at, fail) =
                side_file("matcher.calibration", &name, "a calibration file", "gatelab faces eval --emit-calibration")?;
            let mut m: MatcherModel = table.try_into().map_err(|e: toml::de::Error| {
                fail(format!("{} is not a calibration file: {}", at.display(), e.message()))
            })?;
            m.calibration = Some(name);
            scenario.matcher = m;
            scenario.validate().map_err(|Invalid { field, message }| fail(format!("{field}: {message}")))?;
        }
        if let Some(name) = scenario.service.terminal_calibration.clone() {
            let (table, at, fail) = side_file(
                "service.terminal_calibration",
                &name,
                "a terminal calibration",
                "gatelab-rig bench --emit-calibration FILE",
            )?;
            let c: TerminalCalibration = table.try_into().map_err(|e: toml::de::Error| {
                fail(format!("{} is not a terminal calibration: {}", at.display(), e.message()))
            })?;
            // Every resident's template may be in the gallery: the search cost at that size.
            let gallery = scenario.residents();
            scenario.service.face_decision_s =
                c.decision_s(scenario.matcher.dim, gallery).map_err(|e| fail(format!("{}: {e}", at.display())))?;
        }
        Ok(scenario)
    }

    /// Parse and validate scenario text; errors name `<text>` as the file.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_named(text, "<text>")
    }

    pub fn parse_named(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse_in(text, file, Path::new("."))
    }

    /// Parse and validate scenario text whose `include = [...]` files are relative to `dir`.
    pub fn parse_in(text: &str, file: &str, dir: &Path) -> Result<Scenario, ScenarioError> {
        if let Some(merged) = includes::merge(text, file, dir)? {
            let mut scenario = Scenario::from_merged(merged, text, file)?;
            scenario.resolve_site(dir);
            return Ok(scenario);
        }
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            ScenarioError { file: file.to_string(), line, field: String::new(), message: with_hint(e.message()) }
        })?;
        scenario.validate().map_err(|Invalid { field, message }| ScenarioError {
            file: file.to_string(),
            line: locate(text, &field),
            field,
            message,
        })?;
        scenario.policy.resolved = gatelab_core::Policy::builtin(&scenario.policy.name);
        scenario.resolve_site(dir);
        Ok(scenario)
    }

    /// A scenario merged with its includes: errors name the file that holds the field.
    fn from_merged(merged: includes::Merged, text: &str, file: &str) -> Result<Scenario, ScenarioError> {
        let includes::Merged { table, sources } = merged;
        let origin = |field: &str| -> (String, Option<usize>) {
            if let Some(line) = locate(text, field).filter(|_| field_written(text, field)) {
                return (file.to_string(), Some(line));
            }
            for (name, inc) in &sources {
                if field_written(inc, field) {
                    return (name.clone(), locate(inc, field));
                }
            }
            (file.to_string(), locate(text, field))
        };
        let mut scenario: Scenario = table.try_into().map_err(|e: toml::de::Error| {
            let names: Vec<&str> = sources.iter().map(|(n, _)| n.as_str()).collect();
            ScenarioError {
                file: file.to_string(),
                line: None,
                field: String::new(),
                message: format!("{} (with {} included)", with_hint(e.message()), names.join(", ")),
            }
        })?;
        scenario.validate().map_err(|Invalid { field, message }| {
            let (file, line) = origin(&field);
            ScenarioError { file, line, field, message }
        })?;
        scenario.policy.resolved = gatelab_core::Policy::builtin(&scenario.policy.name);
        Ok(scenario)
    }

    /// The site file, relative to the scenario's folder `dir`.
    fn resolve_site(&mut self, dir: &Path) {
        if let Some(site) = &mut self.site {
            site.path = Some(dir.join(&site.file));
        }
    }

    /// The compound's policy: the one resolved when the scenario was read, else the built-in
    /// of that name, else the policy file `policy.name` names (relative to the working folder).
    pub fn policy(&self) -> anyhow::Result<gatelab_core::Policy> {
        if let Some(p) = &self.policy.resolved {
            return Ok(p.clone());
        }
        policy_file::load(&self.policy.name)
    }

    /// Minutes since midnight at which the run starts (validated).
    pub fn start_min(&self) -> u32 {
        parse_clock(&self.run.start).unwrap_or(0)
    }

    /// Residents: owners and renters (children and the elderly are among them). `validate`
    /// refuses a sum beyond `u32`; unvalidated, it saturates.
    pub fn residents(&self) -> u32 {
        self.population.owners.saturating_add(self.population.renters)
    }

    /// Check every value; the error names the field and the fix.
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(site) = &self.site {
            if site.file.trim().is_empty() {
                return Err(invalid("site.file", "is empty: name the site file (.toml, .dxf or .geojson)"));
            }
            if !self.behaviour.walking {
                return Err(invalid(
                    "site.file",
                    "a site needs people walking in it: remove `behaviour.walking = false` or the [site] table",
                ));
            }
            if !(site.free_flow_beyond_m.is_finite() && site.free_flow_beyond_m >= 0.0) {
                return Err(invalid(
                    "site.free_flow_beyond_m",
                    format!(
                        "is {}: give metres of walk, 0 or more ({DEFAULT_FREE_FLOW_BEYOND_M} is usual; 0 resolves everyone)",
                        site.free_flow_beyond_m
                    ),
                ));
            }
        }
        let share = |field: &str, v: f64| -> Result<(), Invalid> {
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid(field, format!("{v} is not a share; write a number between 0 and 1")));
            }
            Ok(())
        };
        let positive = |field: &str, v: f64| -> Result<(), Invalid> {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(field, format!("{v}: must be a positive number")));
            }
            Ok(())
        };
        let non_negative = |field: &str, v: f64| -> Result<(), Invalid> {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(field, format!("{v}: must be zero or more")));
            }
            Ok(())
        };
        let Some(start) = parse_clock(&self.run.start) else {
            return Err(invalid(
                "run.start",
                format!("{:?}: write the time as \"HH:MM\", e.g. \"07:00\"", self.run.start),
            ));
        };
        if self.run.duration_min == 0 {
            return Err(invalid("run.duration_min", "0: the run must last at least one minute"));
        }
        if self.run.duration_min > 24 * 60 - start {
            return Err(invalid(
                "run.duration_min",
                format!(
                    "{} minutes from {} run past midnight; shorten the run or start earlier (one scenario is one day)",
                    self.run.duration_min, self.run.start
                ),
            ));
        }
        positive("run.dt_s", self.run.dt_s)?;
        if self.run.dt_s > 1.0 || self.run.dt_s < 0.01 {
            return Err(invalid(
                "run.dt_s",
                format!(
                    "{}: use a step between 0.01 and 1 s (0.1 is usual), or walking and doors are not resolved",
                    self.run.dt_s
                ),
            ));
        }
        if self.run.replications == 0 {
            return Err(invalid("run.replications", "0: at least one replication"));
        }
        let p = &self.population;
        let Some(residents) = p.owners.checked_add(p.renters) else {
            return Err(invalid(
                "population.renters",
                format!("owners + renters is more than {}; split the compound", u32::MAX),
            ));
        };
        if residents == 0 {
            return Err(invalid("population.owners", "owners + renters is 0; a compound needs residents"));
        }
        if u64::from(p.children) + u64::from(p.elderly) > u64::from(residents) {
            return Err(invalid(
                "population.children",
                "children + elderly exceed owners + renters; they are counted among the residents",
            ));
        }
        share("population.opt_out_share", p.opt_out_share)?;
        share("population.forget_card_share", p.forget_card_share)?;
        share("population.couriers_with_card_share", p.couriers_with_card_share)?;
        non_negative("population.visitors_per_hour", p.visitors_per_hour)?;
        non_negative("population.couriers_per_hour", p.couriers_per_hour)?;
        non_negative("population.food_couriers_per_hour", p.food_couriers_per_hour)?;
        non_negative("population.withdrawals_per_hour", p.withdrawals_per_hour)?;
        if self.gates.is_empty() {
            return Err(invalid("gates", "no gate; add at least one [[gates]] table"));
        }
        if self.gates.len() > 32 {
            return Err(invalid(
                "gates",
                format!("{} gates; at most 32 per scenario (split the compound)", self.gates.len()),
            ));
        }
        let mut total_share = 0.0;
        for (i, g) in self.gates.iter().enumerate() {
            let f = |name: &str| format!("gates[{i}].{name}");
            if g.lanes_in == 0 && g.lanes_out == 0 {
                return Err(invalid(
                    f("lanes_in"),
                    format!("gate {:?} has no lane; give it at least one in lanes_in or lanes_out", g.name),
                ));
            }
            if g.lanes_in > 16 || g.lanes_out > 16 {
                return Err(invalid(f("lanes_out"), "at most 16 lanes per direction and gate"));
            }
            if self.gates[..i].iter().any(|other| other.name == g.name) {
                return Err(invalid(
                    f("name"),
                    format!("{:?} is used by two gates; give each gate its own name", g.name),
                ));
            }
            positive(&f("door_open_s"), g.door_open_s)?;
            positive(&f("lane_width_m"), g.lane_width_m)?;
            if g.lane_width_m < 0.5 {
                return Err(invalid(
                    f("lane_width_m"),
                    format!("{}: a person needs a lane at least 0.5 m wide", g.lane_width_m),
                ));
            }
            non_negative(&f("walk_distance_m"), g.walk_distance_m)?;
            if g.walk_distance_m > 5000.0 {
                return Err(invalid(
                    f("walk_distance_m"),
                    format!("{} m: at most 5,000 m from the buildings to a gate", g.walk_distance_m),
                ));
            }
            if !(0.5..=200.0).contains(&g.queue_area_depth_m) {
                return Err(invalid(
                    f("queue_area_depth_m"),
                    format!(
                        "{} m: the space in front of the lanes where a queue stands is 0.5 to 200 m deep",
                        g.queue_area_depth_m
                    ),
                ));
            }
            if !(1..=8).contains(&g.booth_desks) {
                return Err(invalid(
                    f("booth_desks"),
                    format!("{}: a booth has 1 to 8 desks (staff serving at once)", g.booth_desks),
                ));
            }
            share(&f("share"), g.share)?;
            total_share += g.share;
        }
        if (total_share - 1.0).abs() > 1e-6 {
            return Err(invalid(
                "gates[0].share",
                format!("the shares of all gates add up to {total_share}; they must add up to 1"),
            ));
        }
        if let Some(c) = &self.costs {
            non_negative("costs.lane_face_and_card", c.lane_face_and_card)?;
            non_negative("costs.lane_card_only", c.lane_card_only)?;
            non_negative("costs.booth_desk", c.booth_desk)?;
        }
        match (self.demand.profile.is_empty(), self.demand.rows.is_empty()) {
            (true, true) => {
                return Err(invalid(
                    "demand.profile",
                    "empty; give [hour, outbound, inbound] rows (trips per resident per hour), or demand.rows",
                ));
            }
            (false, false) => {
                return Err(invalid(
                    "demand.rows",
                    "both demand.profile and demand.rows are given; keep one (rows, at any resolution, replace the hourly profile)",
                ));
            }
            _ => {}
        }
        for (i, row) in self.demand.rows.iter().enumerate() {
            let f = format!("demand.rows[{i}]");
            let Some(start) = parse_clock(&row.start) else {
                return Err(invalid(
                    f,
                    format!("start {:?}: write the time of day as HH:MM, e.g. \"07:30\"", row.start),
                ));
            };
            if row.minutes == 0 || start + row.minutes > 48 * 60 {
                return Err(invalid(
                    f,
                    format!("minutes = {}: at least 1, and the row must end by the next day's end", row.minutes),
                ));
            }
            if !(row.outbound.is_finite() && row.outbound >= 0.0 && row.inbound.is_finite() && row.inbound >= 0.0) {
                return Err(invalid(f, "outbound and inbound are trips per hour: zero or more"));
            }
            if let Some(g) = &row.gate
                && !self.gates.iter().any(|x| &x.name == g)
            {
                let names: Vec<&str> = self.gates.iter().map(|x| x.name.as_str()).collect();
                return Err(invalid(f, format!("gate {g:?} is not a gate of this scenario ({})", names.join(", "))));
            }
            let (a, b) = row.span_min();
            if let Some(j) = self.demand.rows[..i].iter().position(|o| {
                let (c, d) = o.span_min();
                o.gate == row.gate && a < d && c < b
            }) {
                return Err(invalid(
                    f,
                    format!(
                        "{} for {} min overlaps demand.rows[{j}] for the same gate; rows of one gate must not overlap",
                        row.start, row.minutes
                    ),
                ));
            }
        }
        for (i, &(hour, out, inb)) in self.demand.profile.iter().enumerate() {
            if hour > 23 {
                return Err(invalid(
                    format!("demand.profile[{i}]"),
                    format!("hour {hour} is beyond the day; hours run from 0 to 23"),
                ));
            }
            if !(out.is_finite() && out >= 0.0 && inb.is_finite() && inb >= 0.0) {
                return Err(invalid(
                    format!("demand.profile[{i}]"),
                    format!("[{hour}, {out}, {inb}]: trip rates (per resident per hour) must be zero or more"),
                ));
            }
            if out > 10.0 || inb > 10.0 {
                return Err(invalid(
                    format!("demand.profile[{i}]"),
                    format!(
                        "[{hour}, {out}, {inb}]: more than 10 trips per resident per hour; rates are per resident, not totals"
                    ),
                ));
            }
            if self.demand.profile[..i].iter().any(|row| row.0 == hour) {
                return Err(invalid(format!("demand.profile[{i}]"), format!("hour {hour} appears twice")));
            }
        }
        let b = &self.behaviour;
        positive("behaviour.walk_speed_mean", b.walk_speed_mean)?;
        non_negative("behaviour.walk_speed_sd", b.walk_speed_sd)?;
        share("behaviour.tailgating_propensity", b.tailgating_propensity)?;
        non_negative("behaviour.no_credential_patience_s", b.no_credential_patience_s)?;
        if b.face_retries > 10 {
            return Err(invalid("behaviour.face_retries", "at most 10 retries; people give up long before"));
        }
        let fl = &self.faults;
        non_negative("faults.camera_mtbf_h", fl.camera_mtbf_h)?;
        non_negative("faults.camera_mttr_min", fl.camera_mttr_min)?;
        if fl.camera_mtbf_h > 0.0 && fl.camera_mttr_min <= 0.0 {
            return Err(invalid(
                "faults.camera_mttr_min",
                "cameras fail (camera_mtbf_h > 0) but are never repaired; give a repair time",
            ));
        }
        for (i, o) in fl.outages.iter().enumerate() {
            let (from, to) = (parse_clock(&o.from), parse_clock(&o.to));
            if from.is_none() || to.is_none() || from >= to {
                return Err(invalid(
                    format!("faults.outages[{i}]"),
                    format!("from = {:?}, to = {:?}: two \"HH:MM\" times, from before to", o.from, o.to),
                ));
            }
            if let Some(gate) = &o.gate {
                if !self.gates.iter().any(|g| &g.name == gate) {
                    return Err(invalid(
                        format!("faults.outages[{i}]"),
                        format!("gate = {gate:?}: no gate has that name"),
                    ));
                }
            } else if o.kind == OutageKind::ScannerRemoved {
                return Err(invalid(
                    format!("faults.outages[{i}]"),
                    "a scanner_removed outage needs the gate it happened at",
                ));
            }
        }
        if let Some(net) = &self.network {
            non_negative("network.outage_mtbf_h", net.outage_mtbf_h)?;
            non_negative("network.outage_mttr_min", net.outage_mttr_min)?;
            if net.outage_mtbf_h > 0.0 && net.outage_mttr_min <= 0.0 {
                return Err(invalid(
                    "network.outage_mttr_min",
                    "links fail (outage_mtbf_h > 0) but never come back; give a mean outage length",
                ));
            }
            for (i, o) in net.outages.iter().enumerate() {
                let field = format!("network.outages[{i}]");
                let (from, to) = (parse_clock(&o.from), parse_clock(&o.to));
                if from.is_none() || to.is_none() || from >= to {
                    return Err(invalid(
                        field,
                        format!("from = {:?}, to = {:?}: two \"HH:MM\" times, from before to", o.from, o.to),
                    ));
                }
                match (&o.gate, &o.lane) {
                    (None, Some(lane)) => {
                        return Err(invalid(field, format!("lane = {lane:?} needs the gate it belongs to")));
                    }
                    (Some(gate), lane) => {
                        let Some(spec) = self.gates.iter().find(|g| &g.name == gate) else {
                            return Err(invalid(field, format!("gate = {gate:?}: no gate has that name")));
                        };
                        if let Some(lane) = lane {
                            let known = |tag: &str, n: u32| {
                                lane.strip_prefix(tag)
                                    .and_then(|k| k.parse::<u32>().ok())
                                    .is_some_and(|k| (1..=n).contains(&k))
                            };
                            if !known("in-", spec.lanes_in) && !known("out-", spec.lanes_out) {
                                return Err(invalid(
                                    field,
                                    format!(
                                        "lane = {lane:?}: gate {gate:?} has lanes in-1..in-{} and out-1..out-{}",
                                        spec.lanes_in, spec.lanes_out
                                    ),
                                ));
                            }
                        }
                    }
                    (None, None) => {}
                }
            }
        }
        if let Some(rc) = &self.reconfirmation {
            if self.network.is_none() {
                return Err(invalid(
                    "reconfirmation",
                    "the lapsed consents' deletions travel to the terminals over the compound's LAN: add a [network] section (it may be empty: every link up)",
                ));
            }
            share("reconfirmation.not_resigned_share", rc.not_resigned_share)?;
            match parse_clock(&rc.at) {
                Some(at) if at < start => {}
                _ => {
                    return Err(invalid(
                        "reconfirmation.at",
                        format!(
                            "{:?}: an \"HH:MM\" time before run.start = {:?} (the night before the morning simulated)",
                            rc.at, self.run.start
                        ),
                    ));
                }
            }
        }
        if let Some(a) = &self.attacks {
            non_negative("attacks.per_hour", a.per_hour)?;
            share("attacks.screen_share", a.screen_share)?;
            for (field, mean, sd) in [
                ("attacks.bona_fide_mean", a.bona_fide_mean, a.bona_fide_sd),
                ("attacks.attack_mean", a.attack_mean, a.attack_sd),
            ] {
                if !(mean > 0.0 && mean < 1.0 && sd > 0.0 && sd * sd < mean * (1.0 - mean)) {
                    return Err(invalid(
                        field,
                        format!(
                            "mean {mean}, sd {sd}: a score distribution on (0, 1) needs 0 < mean < 1 and sd below √(mean·(1 − mean)) = {:.3}",
                            (mean * (1.0 - mean)).max(0.0).sqrt()
                        ),
                    ));
                }
            }
        }
        if self.policy.guard_opens_car_gate_above_queue == Some(0) {
            return Err(invalid(
                "policy.guard_opens_car_gate_above_queue",
                "0 would keep the car gate open all day; give a queue length, or leave it out",
            ));
        }
        let m = &self.matcher;
        if !(m.threshold > -1.0 && m.threshold < 1.0) {
            return Err(invalid(
                "matcher.threshold",
                format!("{}: a cosine threshold lies between -1 and 1", m.threshold),
            ));
        }
        if m.dim < 8 || m.dim > gatelab_core::template::MAX_DIM {
            return Err(invalid("matcher.dim", format!("{}: 8..={}", m.dim, gatelab_core::template::MAX_DIM)));
        }
        for (field, v) in [("matcher.genuine_mean", m.genuine_mean), ("matcher.impostor_mean", m.impostor_mean)] {
            if !(v.is_finite() && v > -1.0 && v < 1.0) {
                return Err(invalid(field, format!("{v}: a mean cosine similarity lies between -1 and 1")));
            }
        }
        non_negative("matcher.genuine_sd", m.genuine_sd)?;
        non_negative("matcher.impostor_sd", m.impostor_sd)?;
        if m.impostor_mean < 0.0 {
            return Err(invalid(
                "matcher.impostor_mean",
                "the synthetic gallery models impostor similarity of 0 or more",
            ));
        }
        let s = &self.service;
        for (field, v) in [
            ("service.face_s", s.face_s),
            ("service.card_s", s.card_s),
            ("service.id_card_s", s.id_card_s),
            ("service.visitor_registration_s", s.visitor_registration_s),
            ("service.desk_help_s", s.desk_help_s),
        ] {
            positive(field, v)?;
        }
        non_negative("service.cv", s.cv)?;
        for (field, cv) in
            [("service.face_cv", s.face_cv), ("service.card_cv", s.card_cv), ("service.id_card_cv", s.id_card_cv)]
        {
            if let Some(cv) = cv {
                non_negative(field, cv)?;
            }
        }
        if s.distribution == ServiceDistribution::Gamma {
            for (field, cv) in [
                ("service.cv", Some(s.cv)),
                ("service.face_cv", s.face_cv),
                ("service.card_cv", s.card_cv),
                ("service.id_card_cv", s.id_card_cv),
            ] {
                if cv.is_some_and(|cv| cv <= 0.0 || cv > 3.0) {
                    return Err(invalid(
                        field,
                        "a gamma service time needs a coefficient of variation above 0 and at most 3 (use deterministic for 0)",
                    ));
                }
            }
        }
        non_negative("service.face_decision_s", s.face_decision_s)?;
        Ok(())
    }
}

/// A serde message with what to do about it.
fn with_hint(message: &str) -> String {
    let message = message.trim_end();
    let hint = if message.contains("unknown field") {
        " — check the spelling against scenarios/README.md or a shipped scenario"
    } else if message.contains("missing field") {
        " — add it (see a shipped scenario for an example)"
    } else if message.contains("invalid type") {
        " — write the value with the type shown (e.g. 1.0 for a number, \"text\" for text)"
    } else {
        ""
    };
    format!("{message}{hint}")
}

/// Whether the table path of `field` (its part before any `[index]`) is written in `text`.
fn field_written(text: &str, field: &str) -> bool {
    let Ok(table) = text.parse::<toml::Table>() else { return false };
    let mut at = &table;
    let parts: Vec<&str> = field.split('.').map(|p| p.split('[').next().unwrap_or(p)).collect();
    for (i, part) in parts.iter().enumerate() {
        match at.get(*part) {
            Some(toml::Value::Table(t)) if i + 1 < parts.len() => at = t,
            Some(_) => return true,
            None => return false,
        }
    }
    true
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Line of the value at a dotted path such as `gates[1].share` or `demand.profile[2]`: the
/// deepest part of the path that is written in the file (defaults are not).
pub fn locate(text: &str, field: &str) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let root = DeValue::Table(doc.get_ref().clone());
    let mut at = &root;
    let mut span = None;
    for part in field.split('.') {
        let (key, indices) = match part.split_once('[') {
            Some((key, rest)) => (key, rest.trim_end_matches(']').split("][").collect::<Vec<_>>()),
            None => (part, Vec::new()),
        };
        let Some(next) = at.get(key) else { break };
        span = Some(next.span());
        at = next.get_ref();
        for index in indices {
            let Some(next) = index.parse::<usize>().ok().and_then(|i| at.get(i)) else { break };
            span = Some(next.span());
            at = next.get_ref();
        }
    }
    span.map(|s| line_of(text, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dongcheng() -> Scenario {
        Scenario::parse(include_str!("../../../scenarios/dongcheng.toml")).unwrap()
    }

    /// A folder of its own under the system's temporary folder, for one test's files.
    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("gatelab-scenario-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("calibrated")).unwrap();
        dir
    }

    const FRAGMENT: &str = "[demand]\nrows = [\n  { start = \"07:00\", minutes = 5, outbound = 120.0, inbound = 6.0, gate = \"main\" },\n]\n\n[service]\ndistribution = \"gamma\"\nface_s = 1.8\nface_cv = 0.4\n\n[population]\nopt_out_share = 0.2\n";

    /// dongcheng.toml without its demand and opt-out share, including `calibrated/site.toml`.
    fn including(dir: &Path) -> std::path::PathBuf {
        let base = include_str!("../../../scenarios/dongcheng.toml");
        let mut text = String::from("include = [\"calibrated/site.toml\"]\n");
        let mut skip = false;
        for line in base.lines() {
            if line.starts_with('[') {
                skip = line.trim() == "[demand]";
            }
            if skip || line.starts_with("opt_out_share") {
                continue;
            }
            text.push_str(line);
            text.push('\n');
        }
        let gate = Scenario::parse(base).unwrap().gates[0].name.clone();
        std::fs::write(dir.join("calibrated/site.toml"), FRAGMENT.replace("\"main\"", &format!("{gate:?}"))).unwrap();
        let path = dir.join("site.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn an_included_fragment_fills_the_scenario_before_validation() {
        let dir = scratch("include");
        let s = Scenario::load(&including(&dir)).unwrap();
        assert_eq!(s.demand.rows.len(), 1);
        assert_eq!(s.service.distribution, ServiceDistribution::Gamma);
        assert_eq!((s.service.face_s, s.service.face_cv), (1.8, Some(0.4)));
        assert_eq!(s.population.opt_out_share, 0.2);
        // The scenario's own tables stay (the card time was not in the fragment).
        assert_eq!(s.service.card_s, Service::default().card_s);
    }

    #[test]
    fn include_errors_name_the_file_that_holds_the_problem() {
        let dir = scratch("include-errors");
        let path = including(&dir);
        // A key set in both: the error names both files.
        let text = std::fs::read_to_string(&path).unwrap().replace("[population]", "[population]\nopt_out_share = 0.1");
        std::fs::write(&path, text).unwrap();
        let e = Scenario::load(&path).unwrap_err();
        assert_eq!(e.field, "population.opt_out_share");
        assert!(e.file.ends_with("site.toml") && e.message.contains("calibrated/site.toml"), "{e}");
        // A bad value in the fragment: the error is the fragment's, with its line.
        let path = including(&dir);
        let bad = FRAGMENT.replace("\"main\"", "\"north\"").replace("face_cv = 0.4", "face_cv = -1.0");
        std::fs::write(dir.join("calibrated/site.toml"), bad).unwrap();
        let e = Scenario::load(&path).unwrap_err();
        assert!(e.file.ends_with("calibrated/site.toml") && e.field == "service.face_cv" && e.line == Some(9), "{e}");
        // A missing fragment: named, with how to make it.
        std::fs::remove_file(dir.join("calibrated/site.toml")).unwrap();
        let e = Scenario::load(&path).unwrap_err();
        assert!(e.field == "include" && e.line == Some(1) && e.message.contains("gatelab calibrate"), "{e}");
    }

    #[test]
    fn gamma_service_needs_a_positive_cv() {
        let mut s = dongcheng();
        s.service.distribution = ServiceDistribution::Gamma;
        assert_eq!(s.validate(), Ok(()));
        s.service.card_cv = Some(0.0);
        assert_eq!(s.validate().unwrap_err().field, "service.card_cv");
    }

    /// Sums of counts near `u32::MAX` overflowed in `validate` (a panic in debug builds; in
    /// release a wrapped sum that could pass). Reproduced by the `scenario_parse` fuzz target
    /// (`fuzz/corpus/scenario_parse/overflow-*`).
    #[test]
    fn counts_near_the_integer_limit_are_refused_without_overflow() {
        let mut s = dongcheng();
        s.run.duration_min = u32::MAX;
        assert_eq!(s.validate().unwrap_err().field, "run.duration_min");
        s.run.duration_min = 24 * 60 - s.start_min();
        assert_eq!(s.validate(), Ok(()));

        let mut s = dongcheng();
        s.population.owners = u32::MAX;
        assert_eq!(s.validate().unwrap_err().field, "population.renters");
        assert_eq!(s.residents(), u32::MAX);

        let mut s = dongcheng();
        (s.population.children, s.population.elderly) = (u32::MAX, u32::MAX);
        assert_eq!(s.validate().unwrap_err().field, "population.children");
    }
}
