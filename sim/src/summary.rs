//! `summary.json` and the table `gatelab run` prints: the run's [`Figures`] over its
//! replications, with what identifies the run; the table picks and labels some of them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use gatelab_scenario::Scenario;

use crate::engine::Replication;
use gatelab_walk::QueuingLevel;

use crate::figures::{AttackFigures, Figures, NetworkFigures, QueueAreaFigures};
use crate::stats::{Stat, stat_non_negative};

/// The run's figures over its replications: each a mean with its 95 % interval ([`Stat`]).
/// `summary.json` is this, its keys sorted (as serde_json's map writes them).
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub policy: String,
    pub seed: u64,
    pub replications: usize,
    pub window: Window,
    #[serde(flatten)]
    pub figures: Figures<Stat>,
    /// Presentation attacks and the liveness check (scenarios with `[attacks]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attacks: Option<AttackFigures<Stat>>,
    /// What the LAN and the consent lease did (scenarios with a `[network]` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkFigures<Stat>>,
    /// Per gate: its queue areas' level of service and spill-back.
    pub gates: Vec<GateSummary>,
    /// Violations by rule in the first replication (the one whose audit.jsonl is written).
    pub consent_rules_first_replication: BTreeMap<String, u64>,
    pub per_replication: Vec<Figures>,
}

/// One gate's queue areas over the replications (a direction without lanes is left out).
#[derive(Clone, Debug, Serialize)]
pub struct GateSummary {
    pub gate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_queue_area: Option<QueueAreaSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbound_queue_area: Option<QueueAreaSummary>,
}

/// A queue area's figures over the replications, and the levels of service they mean.
#[derive(Clone, Debug, Serialize)]
pub struct QueueAreaSummary {
    #[serde(flatten)]
    pub figures: QueueAreaFigures<Stat>,
    /// Fruin's queuing level at the mean over replications of the busiest 15 minutes' density.
    pub worst_15_min_level: QueuingLevel,
    /// The worst level any replication's busiest 15 minutes reached.
    pub worst_15_min_level_any_replication: QueuingLevel,
    /// Replications whose queue reached beyond the area.
    pub replications_with_spill_back: usize,
}

impl QueueAreaSummary {
    /// `None` for a direction without lanes (every replication's figures NaN).
    pub fn over<'a>(replications: impl IntoIterator<Item = &'a QueueAreaFigures>) -> Option<QueueAreaSummary> {
        let replications: Vec<&QueueAreaFigures> = replications.into_iter().collect();
        let figures = QueueAreaFigures::stats_with(replications.iter().copied(), stat_non_negative);
        if figures.area_m2.n == 0 {
            return None;
        }
        let densities = replications.iter().map(|r| r.density_worst_15_min_per_m2).filter(|d| !d.is_nan());
        Some(QueueAreaSummary {
            worst_15_min_level: QueuingLevel::of_density(figures.density_worst_15_min_per_m2.mean),
            worst_15_min_level_any_replication: densities.map(QueuingLevel::of_density).max().unwrap_or_default(),
            replications_with_spill_back: replications.iter().filter(|r| r.spill_back_longest_m > 0.0).count(),
            figures,
        })
    }

    /// One line for the printed table.
    fn line(&self, replications: usize) -> String {
        let f = &self.figures;
        let spill = match self.replications_with_spill_back {
            0 => format!("no spill-back in {replications}"),
            k => format!(
                "spill-back in {k} of {replications}, first at {:.0} min, up to {:.1} m",
                f.spill_back_first_min.mean, f.spill_back_longest_m.mean
            ),
        };
        format!(
            "{:.0} m², busiest 15 min {:.2} /m² = level {} (worst {}), D or worse {:.1} min, {spill}",
            f.area_m2.mean,
            f.density_worst_15_min_per_m2.mean,
            self.worst_15_min_level,
            self.worst_15_min_level_any_replication,
            f.minutes_at_d_or_worse.mean,
        )
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Window {
    pub start: String,
    pub duration_min: u32,
    pub dt_s: f64,
}

impl Summary {
    /// The summary of `replications` of `scenario`, a run seeded with `seed`.
    pub fn of(scenario: &Scenario, seed: u64, replications: &[Replication]) -> Summary {
        let mut rules = BTreeMap::new();
        if let Some(first) = replications.first() {
            for v in &first.violations {
                *rules.entry(format!("{:?}", v.rule)).or_insert(0) += 1;
            }
        }
        Summary {
            scenario: scenario.name.clone(),
            policy: scenario.policy.name.clone(),
            seed,
            replications: replications.len(),
            window: Window {
                start: scenario.run.start.clone(),
                duration_min: scenario.run.duration_min,
                dt_s: scenario.run.dt_s,
            },
            figures: Figures::over(replications.iter().map(|r| &r.figures)),
            attacks: scenario
                .attacks
                .as_ref()
                .map(|_| AttackFigures::over(replications.iter().filter_map(|r| r.attacks.as_ref()))),
            network: scenario
                .network
                .as_ref()
                .map(|_| NetworkFigures::over(replications.iter().filter_map(|r| r.network.as_ref()))),
            gates: scenario
                .gates
                .iter()
                .enumerate()
                .map(|(g, spec)| GateSummary {
                    gate: spec.name.clone(),
                    outbound_queue_area: QueueAreaSummary::over(
                        replications.iter().filter_map(|r| r.gates.get(g)).map(|x| &x.outbound_queue_area),
                    ),
                    inbound_queue_area: QueueAreaSummary::over(
                        replications.iter().filter_map(|r| r.gates.get(g)).map(|x| &x.inbound_queue_area),
                    ),
                })
                .collect(),
            consent_rules_first_replication: rules,
            per_replication: replications.iter().map(|r| r.figures).collect(),
        }
    }

    /// `summary.json`'s value: this, keys sorted at every level.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The figures the printed table shows, with their labels, in order.
    pub fn table_rows(&self) -> [(&'static str, Stat); 23] {
        [
            ("arrivals", self.figures.arrivals),
            ("arrivals, busiest 15 min", self.figures.arrivals_busiest_15_min),
            ("peak-hour factor", self.figures.peak_hour_factor),
            ("passages", self.figures.passages),
            ("throughput, busiest 15 min (/min)", self.figures.throughput_per_min),
            ("wait p50 (s)", self.figures.wait_s.p50),
            ("wait p95 (s)", self.figures.wait_s.p95),
            ("wait p99 (s)", self.figures.wait_s.p99),
            ("wait max (s)", self.figures.wait_s.max),
            ("longest queue (people)", self.figures.queue_max),
            ("face users: wait p95 (s)", self.figures.enrolled.wait_s_p95),
            ("opt-outs: wait p95 (s)", self.figures.opt_out.wait_s_p95),
            ("visitors: wait p95 (s)", self.figures.visitors.wait_s_p95),
            ("couriers: wait p95 (s)", self.figures.couriers.wait_s_p95),
            ("tailgating attempts", self.figures.tailgating.attempts),
            ("  detected by the sensor", self.figures.tailgating.detected),
            ("  undetected", self.figures.tailgating.undetected),
            ("uncontrolled passages", self.figures.uncontrolled_passages),
            ("false accepts", self.figures.false_accepts),
            ("false rejects", self.figures.false_rejects),
            ("car gate openings", self.figures.car_gate_openings),
            ("consents withdrawn (templates deleted)", self.figures.consent_withdrawals),
            ("consent violations", self.figures.consent_violations),
        ]
    }

    /// The table printed at the end of a run (the figures; the caller adds the violations).
    pub fn render_table(&self, duration_min: u32) -> String {
        let mut out = String::new();
        let r = self.replications;
        let _ = writeln!(
            out,
            "{} — policy '{}', {} from {}, {} replication{}, seed {}",
            self.scenario,
            self.policy,
            format_args!("{duration_min} min"),
            self.window.start,
            r,
            if r == 1 { "" } else { "s" },
            self.seed
        );
        let _ = writeln!(out, "  {:<36} {:>10}  {}", "figure", "mean", if r > 1 { "95% interval" } else { "" });
        for (name, st) in self.table_rows() {
            let value = if st.n == 0 { "—".to_string() } else { format!("{:.1}", st.mean) };
            let interval = st.ci95.map(|[lo, hi]| format!("[{lo:.1}, {hi:.1}]")).unwrap_or_default();
            let _ = writeln!(out, "  {name:<36} {value:>10}  {interval}");
        }
        let areas = self.gates.iter().flat_map(|g| {
            [("out", &g.outbound_queue_area), ("in", &g.inbound_queue_area)]
                .into_iter()
                .filter_map(move |(side, area)| Some((&g.gate, side, area.as_ref()?)))
        });
        let mut areas = areas.peekable();
        if areas.peek().is_some() {
            let _ = writeln!(out, "  queue areas (Fruin's queuing levels; replications):");
            for (gate, side, area) in areas {
                let _ = writeln!(out, "    {gate} {side:<3}  {}", area.line(r));
            }
        }
        if let Some(a) = &self.attacks {
            block(&mut out, "presentation attacks and the liveness check", &a.table_rows(), 3);
        }
        if let Some(net) = &self.network {
            block(&mut out, "the compound's LAN and the consent lease", &net.table_rows(), 1);
        }
        out
    }
}

impl NetworkFigures<Stat> {
    /// The network figures the printed table shows, with their labels, in order.
    pub fn table_rows(&self) -> [(&'static str, Stat); 8] {
        [
            ("  lapsed leases (terminal-min)", self.lease_lapsed_terminal_min),
            ("  faces refused, lease lapsed", self.faces_refused_under_lapsed_lease),
            ("  consents lapsed, re-confirmation", self.consents_lapsed_at_reconfirmation),
            ("  passages by face", self.passages_by_face),
            ("  passages by card, ID or PIN", self.passages_by_credential),
            ("  wait p95, perfect LAN (s)", self.wait_s_p95_perfect_lan),
            ("  wait p95 cost of outages (s)", self.wait_s_p95_cost),
            ("  face users: p95 cost (s)", self.face_users_wait_s_p95_cost),
        ]
    }
}

/// A titled block of optional figures under the table (those with no value are left out).
fn block(out: &mut String, title: &str, rows: &[(&str, Stat)], digits: usize) {
    let _ = writeln!(out, "  {title}:");
    for (name, st) in rows.iter().filter(|(_, st)| st.n > 0) {
        let interval = st.ci95.map(|[lo, hi]| format!("[{lo:.digits$}, {hi:.digits$}]")).unwrap_or_default();
        let _ = writeln!(out, "  {name:<36} {:>10.digits$}  {interval}", st.mean);
    }
}

impl AttackFigures<Stat> {
    /// The attack figures the printed table shows, with their labels, in order.
    pub fn table_rows(&self) -> [(&'static str, Stat); 7] {
        [
            ("  attack presentations", self.attack_presentations),
            ("  attacks accepted", self.attacks_accepted),
            ("  APCER (attacks accepted)", self.apcer),
            ("  live face presentations", self.live_presentations),
            ("  BPCER (live refused)", self.bpcer),
            ("  face users: p95 cost of the check (s)", self.face_users_wait_s_p95_cost),
            ("  everyone: mean wait cost (s)", self.wait_s_mean_cost),
        ]
    }
}
