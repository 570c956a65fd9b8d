//! Every figure a run reports, named once. [`Figures<f64>`] is one replication (`units.jsonl`,
//! `summary.json`'s `per_replication`); [`Figures<Stat>`] is the mean and 95 % interval of each
//! over replications (`summary.json`). Both are the same type, so a figure added here reaches
//! the replication, the summary and both files at once; only the printed table picks and labels.

use serde::{Deserialize, Serialize};

use crate::stats::{Stat, stat, stat_non_negative};

/// One figure: a field of this type is a leaf of its figures struct.
pub type Leaf<T> = T;

/// Declares a figures struct generic over its leaf type, with `map` and `for_each` over its
/// leaves in declaration order. A field is a [`Leaf`] (one figure) or a nested figures struct.
macro_rules! figures_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* $field:ident: $kind:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
        pub struct $name<T = f64> {
            $($(#[$field_meta])* pub $field: $kind<T>,)*
        }

        impl<T> $name<T> {
            /// The same figures with `f` applied to each leaf, in declaration order.
            pub fn map<U>(self, f: &mut impl FnMut(T) -> U) -> $name<U> {
                $name { $($field: figures_struct!(@map $kind self.$field, f),)* }
            }

            /// Visits each leaf in declaration order.
            pub fn for_each(&self, f: &mut impl FnMut(&T)) {
                $(figures_struct!(@each $kind self.$field, f);)*
            }
        }

        impl $name<f64> {
            /// Each figure's `stat` over `replications` (its column of values, in order).
            pub fn stats_with<'a>(
                replications: impl IntoIterator<Item = &'a $name<f64>>,
                stat: impl Fn(Vec<f64>) -> Stat,
            ) -> $name<Stat> {
                let mut columns: Vec<Vec<f64>> = Vec::new();
                for figures in replications {
                    let mut k = 0;
                    figures.for_each(&mut |&value| {
                        if columns.len() <= k {
                            columns.push(Vec::new());
                        }
                        columns[k].push(value);
                        k += 1;
                    });
                }
                let mut columns = columns.into_iter();
                $name::<()>::default().map(&mut |()| stat(columns.next().unwrap_or_default()))
            }
        }
    };
    (@map Leaf $value:expr, $f:ident) => { $f($value) };
    (@map $nested:ident $value:expr, $f:ident) => { $value.map($f) };
    (@each Leaf $value:expr, $f:ident) => { $f(&$value) };
    (@each $nested:ident $value:expr, $f:ident) => { $value.for_each($f) };
}

figures_struct! {
    /// What a run measured; `NaN` where a group had nobody (`null` in JSON).
    pub struct Figures {
        arrivals: Leaf,
        /// Arrivals in the busiest 15 minutes (what p95 waits are made of).
        arrivals_busiest_15_min: Leaf,
        /// Peak-hour factor: arrivals in the busiest hour over four times its busiest 15 minutes
        /// (1: even; 0.25: the whole hour in one quarter).
        peak_hour_factor: Leaf,
        passages: Leaf,
        /// Passages per minute in the busiest 15 minutes.
        throughput_per_min: Leaf,
        wait_s: Waits,
        queue_max: Leaf,
        tailgating: Tailgating,
        uncontrolled_passages: Leaf,
        opt_out: Residents,
        enrolled: Residents,
        visitors: Visitors,
        couriers: Visitors,
        /// Passages through a lane's terminal: what the lane count controls.
        at_lanes: AtLanes,
        /// Passages served at a guard booth: what its desks control.
        at_booth: AtBooth,
        face_attempts: Leaf,
        false_accepts: Leaf,
        false_rejects: Leaf,
        denied_attempts: Leaf,
        car_gate_openings: Leaf,
        camera_failures: Leaf,
        unserved_at_end: Leaf,
        consent_withdrawals: Leaf,
        /// Resident trips not made because every drawn person was already out (demand too
        /// high for the population): should be 0.
        arrivals_suppressed: Leaf,
        consent_violations: Leaf,
    }
}

figures_struct! {
    /// Waits of everyone, seconds.
    pub struct Waits {
        mean: Leaf,
        p50: Leaf,
        p95: Leaf,
        p99: Leaf,
        max: Leaf,
    }
}

figures_struct! {
    pub struct Tailgating {
        attempts: Leaf,
        detected: Leaf,
        undetected: Leaf,
    }
}

figures_struct! {
    /// A group of residents: how many there are, how often they passed, their p95 wait.
    pub struct Residents {
        persons: Leaf,
        passages: Leaf,
        wait_s_p95: Leaf,
    }
}

figures_struct! {
    /// People from outside (visitors, couriers): passages and p95 wait.
    pub struct Visitors {
        passages: Leaf,
        wait_s_p95: Leaf,
    }
}

figures_struct! {
    /// Passages through lanes and the p95 wait of each group that uses them.
    pub struct AtLanes {
        passages: Leaf,
        wait_s_p95: Leaf,
        face_users_wait_s_p95: Leaf,
        opt_outs_wait_s_p95: Leaf,
        couriers_wait_s_p95: Leaf,
    }
}

figures_struct! {
    /// Passages served at the booth (visitors, couriers without a card, people stuck).
    pub struct AtBooth {
        passages: Leaf,
        wait_s_p95: Leaf,
    }
}

figures_struct! {
    /// The space in front of one gate's lanes in one direction where their queue stands: how
    /// crowded it got (Fruin's queuing levels judge the space per person) and whether the queue
    /// spilled beyond it. NaN throughout for a direction the gate has no lanes in, and when
    /// walking is off (nobody stands anywhere).
    pub struct QueueAreaFigures {
        area_m2: Leaf,
        /// Most people inside at once.
        people_max: Leaf,
        /// The mean density over the busiest 15 minutes, persons per m² (its inverse is the
        /// space per person the level of service is read from).
        density_worst_15_min_per_m2: Leaf,
        /// Minutes with less than 0.7 m² per person (Fruin's level D or worse).
        minutes_at_d_or_worse: Leaf,
        /// Minutes from the window's start when the queue first reached beyond the area (NaN:
        /// never).
        spill_back_first_min: Leaf,
        /// How far beyond the area's far edge the queue's last place reached at most, m.
        spill_back_longest_m: Leaf,
        /// Minutes the queue reached beyond the area.
        spill_back_minutes: Leaf,
    }
}

impl QueueAreaFigures<f64> {
    /// A direction with no lanes: nothing to measure.
    pub fn none() -> QueueAreaFigures<f64> {
        QueueAreaFigures::<()>::default().map(&mut |()| f64::NAN)
    }
}

figures_struct! {
    /// What the compound's LAN and the consent lease did (scenarios with a `[network]`).
    pub struct NetworkFigures {
        /// Minutes of lapsed consent leases summed over the face terminals, inside the window:
        /// terminal-minutes when no face could be matched.
        lease_lapsed_terminal_min: Leaf,
        /// Face probes refused because their terminal's lease had lapsed (those people then
        /// used their card, ID or PIN, or went to the booth).
        faces_refused_under_lapsed_lease: Leaf,
        frames_delivered: Leaf,
        frames_lost: Leaf,
        /// Face consents that lapsed at the night's re-confirmation (templates deleted).
        consents_lapsed_at_reconfirmation: Leaf,
        /// Passages let in by face, and by card, ID or PIN at the lanes: the shift to cards.
        passages_by_face: Leaf,
        passages_by_credential: Leaf,
        /// p95 wait of everyone with every link up (same seed: common random numbers), and what
        /// the outages cost over it (NaN when the scenario has no outage).
        wait_s_p95_perfect_lan: Leaf,
        wait_s_p95_cost: Leaf,
        /// The same for the residents who use their face (the ones the lapses push to cards).
        face_users_wait_s_p95_cost: Leaf,
    }
}

figures_struct! {
    /// Presentation attacks and the terminals' liveness check (scenarios with `[attacks]`), in
    /// ISO/IEC 30107-3's names.
    pub struct AttackFigures {
        attack_presentations: Leaf,
        attacks_accepted: Leaf,
        /// Attack presentation classification error rate: attacks accepted / attack presentations.
        apcer: Leaf,
        /// Of the attacks, those made with a phone or tablet replay.
        screen_presentations: Leaf,
        live_presentations: Leaf,
        /// Live faces refused as suspected spoofs (they then used a card).
        live_refused: Leaf,
        /// Bona fide presentation classification error rate: live refused / live presentations.
        bpcer: Leaf,
        /// Face users' p95 wait with no liveness check (same seed), and what the false refusals
        /// cost them and everyone (mean wait) with it (NaN until the runner fills them in).
        face_users_wait_s_p95_without_check: Leaf,
        face_users_wait_s_p95_cost: Leaf,
        wait_s_mean_cost: Leaf,
    }
}

impl AttackFigures<f64> {
    /// Means and 95 % intervals over replications; the costs are signed.
    pub fn over<'a>(replications: impl IntoIterator<Item = &'a AttackFigures<f64>>) -> AttackFigures<Stat> {
        let replications: Vec<&AttackFigures<f64>> = replications.into_iter().collect();
        let mut over = AttackFigures::stats_with(replications.iter().copied(), stat_non_negative);
        over.face_users_wait_s_p95_cost = stat(replications.iter().map(|r| r.face_users_wait_s_p95_cost));
        over.wait_s_mean_cost = stat(replications.iter().map(|r| r.wait_s_mean_cost));
        over
    }
}

impl NetworkFigures<f64> {
    /// Each figure's mean and 95 % interval over replications: counts and minutes as
    /// [`stat_non_negative`], the costs (differences, either sign) as [`stat`].
    pub fn over<'a>(replications: impl IntoIterator<Item = &'a NetworkFigures<f64>>) -> NetworkFigures<Stat> {
        let replications: Vec<&NetworkFigures<f64>> = replications.into_iter().collect();
        let mut over = NetworkFigures::stats_with(replications.iter().copied(), stat_non_negative);
        over.wait_s_p95_cost = stat(replications.iter().map(|r| r.wait_s_p95_cost));
        over.face_users_wait_s_p95_cost = stat(replications.iter().map(|r| r.face_users_wait_s_p95_cost));
        over
    }
}

/// One gate's own figures in one replication: what a per-gate plan decides on.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GateFigures {
    /// Through the lanes leaving the compound.
    pub outbound: AtLanes,
    /// Through the lanes coming in.
    pub inbound: AtLanes,
    pub at_booth: AtBooth,
    /// p95 wait at the lanes (both directions) per quarter hour from the window's start, by when
    /// people reached the gate (NaN: nobody that quarter).
    pub lanes_wait_s_p95_by_quarter: Vec<f64>,
    /// p95 wait at the booth per quarter hour from the window's start, by when people reached
    /// the gate (NaN: nobody that quarter).
    pub booth_wait_s_p95_by_quarter: Vec<f64>,
    /// The queue areas in front of the outbound and the inbound lanes.
    pub outbound_queue_area: QueueAreaFigures,
    pub inbound_queue_area: QueueAreaFigures,
}

impl<'de> Deserialize<'de> for GateFigures {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<GateFigures, D::Error> {
        #[derive(Deserialize)]
        struct Json {
            outbound: AtLanes<Option<f64>>,
            inbound: AtLanes<Option<f64>>,
            at_booth: AtBooth<Option<f64>>,
            lanes_wait_s_p95_by_quarter: Vec<Option<f64>>,
            booth_wait_s_p95_by_quarter: Vec<Option<f64>>,
            // Absent from units written before the queue areas were measured.
            #[serde(default)]
            outbound_queue_area: Option<QueueAreaFigures<Option<f64>>>,
            #[serde(default)]
            inbound_queue_area: Option<QueueAreaFigures<Option<f64>>>,
        }
        let j = Json::deserialize(d)?;
        let nan = &mut |v: Option<f64>| v.unwrap_or(f64::NAN);
        Ok(GateFigures {
            outbound: j.outbound.map(nan),
            inbound: j.inbound.map(nan),
            at_booth: j.at_booth.map(nan),
            lanes_wait_s_p95_by_quarter: j.lanes_wait_s_p95_by_quarter.into_iter().map(&mut *nan).collect(),
            booth_wait_s_p95_by_quarter: j.booth_wait_s_p95_by_quarter.into_iter().map(&mut *nan).collect(),
            outbound_queue_area: j.outbound_queue_area.map_or_else(QueueAreaFigures::none, |q| q.map(nan)),
            inbound_queue_area: j.inbound_queue_area.map_or_else(QueueAreaFigures::none, |q| q.map(nan)),
        })
    }
}

impl Figures<f64> {
    /// Each figure's mean and 95 % interval over `replications` ([`stat_non_negative`]: every
    /// figure of a run is a count, a rate or a wait).
    pub fn over<'a>(replications: impl IntoIterator<Item = &'a Figures<f64>>) -> Figures<Stat> {
        Figures::stats_with(replications, stat_non_negative)
    }
}

/// Serde helpers for a [`Figures<f64>`] field: JSON writes NaN as `null`; this reads it back as
/// NaN (`#[serde(with = "gatelab_sim::figures::nan_as_null")]`).
pub mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Figures;

    pub fn serialize<S: Serializer>(figures: &Figures<f64>, s: S) -> Result<S::Ok, S::Error> {
        figures.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Figures<f64>, D::Error> {
        Ok(Figures::<Option<f64>>::deserialize(d)?.map(&mut |v| v.unwrap_or(f64::NAN)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbered() -> Figures<f64> {
        let mut k = 0.0;
        Figures::<()>::default().map(&mut |()| {
            k += 1.0;
            k
        })
    }

    #[test]
    fn map_and_for_each_visit_every_leaf_once_in_order() {
        let figures = numbered();
        let mut seen = Vec::new();
        figures.for_each(&mut |&v| seen.push(v));
        let n = seen.len();
        assert_eq!(seen, (1..=n).map(|k| k as f64).collect::<Vec<_>>());
        assert_eq!(figures.wait_s.p95, 8.0, "wait_s is the 6th field, p95 its 3rd leaf");
        assert_eq!(figures.consent_violations, n as f64);
    }

    #[test]
    fn the_summary_of_replications_is_each_figure_s_statistic() {
        let a = numbered();
        let b = a.map(&mut |v| v + 2.0);
        let s = Figures::over([&a, &b]);
        assert_eq!(s.visitors.wait_s_p95.mean, a.visitors.wait_s_p95 + 1.0);
        assert_eq!(s.arrivals.n, 2);
        let empty = Figures { visitors: Visitors { wait_s_p95: f64::NAN, ..a.visitors }, ..a };
        assert_eq!(Figures::over([&empty]).visitors.wait_s_p95.n, 0, "NaN: nobody in the group");
    }

    #[test]
    fn nan_survives_a_json_round_trip_as_null() {
        #[derive(Serialize, Deserialize)]
        struct Line {
            #[serde(with = "nan_as_null")]
            figures: Figures<f64>,
        }
        let figures = Figures { queue_max: f64::NAN, ..numbered() };
        let text = serde_json::to_string(&Line { figures }).unwrap();
        assert!(text.contains("\"queue_max\":null"), "{text}");
        let back: Line = serde_json::from_str(&text).unwrap();
        assert!(back.figures.queue_max.is_nan());
        assert_eq!(back.figures.wait_s, figures.wait_s);
    }
}
