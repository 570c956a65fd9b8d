//! `summary.json` and the table `gatelab run` prints, from one type: every figure a run reports
//! is a field here, named as the file names it, computed once from the replications.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use gatelab_scenario::Scenario;

use crate::engine::{Figures, Replication};
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
    pub arrivals: Stat,
    pub passages: Stat,
    /// Busiest 15 minutes.
    pub throughput_per_min: Stat,
    pub wait_s: Waits,
    pub queue_max: Stat,
    pub tailgating: Tailgating,
    pub uncontrolled_passages: Stat,
    pub opt_out: Residents,
    pub enrolled: Residents,
    pub visitors: Visitors,
    pub couriers: Visitors,
    pub face_attempts: Stat,
    pub false_accepts: Stat,
    pub false_rejects: Stat,
    pub denied_attempts: Stat,
    pub car_gate_openings: Stat,
    pub camera_failures: Stat,
    pub unserved_at_end: Stat,
    pub consent_withdrawals: Stat,
    pub arrivals_suppressed: Stat,
    pub consent_violations: Stat,
    /// Violations by rule in the first replication (the one whose audit.jsonl is written).
    pub consent_rules_first_replication: BTreeMap<String, u64>,
    pub per_replication: Vec<Figures>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Window {
    pub start: String,
    pub duration_min: u32,
    pub dt_s: f64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Waits {
    pub mean: Stat,
    pub p50: Stat,
    pub p95: Stat,
    pub p99: Stat,
    pub max: Stat,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Tailgating {
    pub attempts: Stat,
    pub detected: Stat,
    pub undetected: Stat,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Residents {
    pub persons: Stat,
    pub passages: Stat,
    pub wait_s_p95: Stat,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Visitors {
    pub passages: Stat,
    pub wait_s_p95: Stat,
}

impl Summary {
    /// The summary of `replications` of `scenario`, a run seeded with `seed`.
    pub fn of(scenario: &Scenario, seed: u64, replications: &[Replication]) -> Summary {
        let s = |pick: fn(&Figures) -> f64| stat_non_negative(replications.iter().map(|r| pick(&r.figures)));
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
            arrivals: s(|f| f.arrivals),
            passages: s(|f| f.passages),
            throughput_per_min: s(|f| f.throughput_per_min),
            wait_s: Waits {
                mean: s(|f| f.wait_mean),
                p50: s(|f| f.wait_p50),
                p95: s(|f| f.wait_p95),
                p99: s(|f| f.wait_p99),
                max: s(|f| f.wait_max),
            },
            queue_max: s(|f| f.queue_max),
            tailgating: Tailgating {
                attempts: s(|f| f.tailgating_attempts),
                detected: s(|f| f.tailgating_detected),
                undetected: s(|f| f.tailgating_undetected),
            },
            uncontrolled_passages: s(|f| f.uncontrolled_passages),
            opt_out: Residents {
                persons: s(|f| f.opt_out_persons),
                passages: s(|f| f.opt_out_passages),
                wait_s_p95: s(|f| f.opt_out_wait_p95),
            },
            enrolled: Residents {
                persons: s(|f| f.enrolled_persons),
                passages: s(|f| f.enrolled_passages),
                wait_s_p95: s(|f| f.enrolled_wait_p95),
            },
            visitors: Visitors { passages: s(|f| f.visitor_passages), wait_s_p95: s(|f| f.visitor_wait_p95) },
            couriers: Visitors { passages: s(|f| f.courier_passages), wait_s_p95: s(|f| f.courier_wait_p95) },
            face_attempts: s(|f| f.face_attempts),
            false_accepts: s(|f| f.false_accepts),
            false_rejects: s(|f| f.false_rejects),
            denied_attempts: s(|f| f.denied_attempts),
            car_gate_openings: s(|f| f.car_gate_openings),
            camera_failures: s(|f| f.camera_failures),
            unserved_at_end: s(|f| f.unserved_at_end),
            consent_withdrawals: s(|f| f.withdrawals),
            arrivals_suppressed: s(|f| f.arrivals_suppressed),
            consent_violations: s(|f| f.consent_violations),
            consent_rules_first_replication: rules,
            per_replication: replications.iter().map(|r| r.figures).collect(),
        }
    }

    /// `summary.json`'s value: this, keys sorted at every level.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The figures the printed table shows, with their labels, in order.
    pub fn table_rows(&self) -> [(&'static str, Stat); 21] {
        [
            ("arrivals", self.arrivals),
            ("passages", self.passages),
            ("throughput, busiest 15 min (/min)", self.throughput_per_min),
            ("wait p50 (s)", self.wait_s.p50),
            ("wait p95 (s)", self.wait_s.p95),
            ("wait p99 (s)", self.wait_s.p99),
            ("wait max (s)", self.wait_s.max),
            ("longest queue (people)", self.queue_max),
            ("face users: wait p95 (s)", self.enrolled.wait_s_p95),
            ("opt-outs: wait p95 (s)", self.opt_out.wait_s_p95),
            ("visitors: wait p95 (s)", self.visitors.wait_s_p95),
            ("couriers: wait p95 (s)", self.couriers.wait_s_p95),
            ("tailgating attempts", self.tailgating.attempts),
            ("  detected by the sensor", self.tailgating.detected),
            ("  undetected", self.tailgating.undetected),
            ("uncontrolled passages", self.uncontrolled_passages),
            ("false accepts", self.false_accepts),
            ("false rejects", self.false_rejects),
            ("car gate openings", self.car_gate_openings),
            ("consents withdrawn (templates deleted)", self.consent_withdrawals),
            ("consent violations", self.consent_violations),
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
        out
    }
}
