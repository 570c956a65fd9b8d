//! Replay a simulation trace on a target and compare every decision with the host core's.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use gatelab_core::trace::{TraceEntry, TraceHeader};
use gatelab_core::{Action, AuditRecord, Checker, Terminal};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::client::Target;
use crate::transport::Transport;

/// `replay.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// Which target ran the firmware ("QEMU mps2-an500 over UART", …).
    pub target: String,
    pub trace_origin: String,
    pub terminals: usize,
    pub events: u64,
    /// Access decisions (grants and denials) the target made.
    pub decisions: u64,
    /// All actions (decisions, door commands, alarms, audit records).
    pub actions: u64,
    /// Events after which the target's actions or next timer differed from the host core's.
    pub mismatches: u64,
    pub first_mismatch: Option<Mismatch>,
    /// Records in the target's audit log, and what the consent checker found in it.
    pub audit_records: usize,
    pub consent_violations: usize,
    pub violations_by_rule: BTreeMap<String, usize>,
    /// Ticks the target spent inside the core, and what they count.
    pub target_ticks: u64,
    pub tick_source: gatelab_core::wire::TickSource,
    /// Frames from the target that arrived damaged (and were dropped).
    pub corrupt_replies: u32,
    /// Least heap the target had free after any event (bytes).
    pub heap_free_min: u32,
    /// Most the target's heap use grew, within one terminal, from its first gate event (card,
    /// face, passage…) to its fullest point after one: gate traffic must not accumulate memory.
    pub heap_growth_under_traffic: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// 1-based line of the trace file.
    pub line: usize,
    pub terminal: String,
    pub at: gatelab_core::Timestamp,
    /// The event, with any embedding emptied.
    pub event: gatelab_core::Event,
    pub host: Vec<Action>,
    pub target: Vec<Action>,
    pub host_next_timer: Option<gatelab_core::Timestamp>,
    pub target_next_timer: Option<gatelab_core::Timestamp>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "first mismatch: trace line {}, terminal {}, at {}", self.line, self.terminal, self.at)?;
        writeln!(f, "  event:  {}", serde_json::to_string(&self.event).unwrap_or_default())?;
        writeln!(
            f,
            "  host:   {} (next timer {:?})",
            serde_json::to_string(&self.host).unwrap_or_default(),
            self.host_next_timer
        )?;
        write!(
            f,
            "  target: {} (next timer {:?})",
            serde_json::to_string(&self.target).unwrap_or_default(),
            self.target_next_timer
        )
    }
}

/// Feed each terminal's events to the target (a fresh terminal each) and to a host core, in
/// trace order; returns the report and the target's audit log in the simulation's order.
pub fn replay<T: Transport>(
    target: &mut Target<T>,
    header: &TraceHeader,
    entries: &[TraceEntry],
    progress: &ProgressBar,
) -> Result<(ReplayReport, Vec<AuditRecord>)> {
    let mut report = ReplayReport {
        target: target.describe(),
        trace_origin: header.origin.clone(),
        terminals: header.terminals.len(),
        events: 0,
        decisions: 0,
        actions: 0,
        mismatches: 0,
        first_mismatch: None,
        audit_records: 0,
        consent_violations: 0,
        violations_by_rule: BTreeMap::new(),
        target_ticks: 0,
        tick_source: target.info().ticks,
        corrupt_replies: 0,
        heap_free_min: u32::MAX,
        heap_growth_under_traffic: 0,
    };
    // (trace position, order within the reply, record): sorted back into the sim's order.
    let mut audit: Vec<(usize, usize, AuditRecord)> = Vec::new();
    let mut target_actions = Vec::new();
    for (index, config) in header.terminals.iter().enumerate() {
        let mut host = Terminal::new(config.clone(), header.policy.clone())
            .map_err(|e| anyhow::anyhow!("terminal {} of the trace cannot be built: {e}", config.id))?;
        target.configure(config, &header.policy)?;
        let mut heap_at_first_gate_event: Option<u32> = None;
        for (position, entry) in entries.iter().enumerate().filter(|(_, e)| usize::from(e.terminal) == index) {
            let host_actions: Vec<Action> = host.handle(entry.at, entry.event.clone()).collect();
            let done = target
                .event(entry.at, &entry.event, &mut target_actions)
                .with_context(|| format!("trace line {}, terminal {}", position + 2, config.id))?;
            report.events += 1;
            // The target's count, as it reports it: a broken counter must not panic the host.
            report.target_ticks = report.target_ticks.saturating_add(done.ticks);
            report.heap_free_min = report.heap_free_min.min(done.heap_free);
            if !matches!(entry.event, gatelab_core::Event::Admin(_)) {
                let first = *heap_at_first_gate_event.get_or_insert(done.heap_free);
                report.heap_growth_under_traffic =
                    report.heap_growth_under_traffic.max(first.saturating_sub(done.heap_free));
            }
            report.actions += target_actions.len() as u64;
            report.decisions +=
                target_actions.iter().filter(|a| matches!(a, Action::Grant { .. } | Action::Deny { .. })).count()
                    as u64;
            let host_next = host.poll_timeout();
            if host_actions != target_actions || host_next != done.poll_timeout {
                report.mismatches += 1;
                if report.first_mismatch.is_none() {
                    report.first_mismatch = Some(Mismatch {
                        line: position + 2,
                        terminal: config.id.to_string(),
                        at: entry.at,
                        // Inputs are echoed without their embeddings (C6).
                        event: entry.event.without_biometrics(),
                        host: host_actions,
                        target: target_actions.clone(),
                        host_next_timer: host_next,
                        target_next_timer: done.poll_timeout,
                    });
                }
            }
            for (order, a) in target_actions.iter().enumerate() {
                if let Action::Audit(r) = a {
                    audit.push((position, order, r.clone()));
                }
            }
            progress.inc(1);
        }
    }
    report.corrupt_replies = target.corrupt_replies;
    audit.sort_by_key(|(position, order, _)| (*position, *order));
    let log: Vec<AuditRecord> = audit.into_iter().map(|(_, _, r)| r).collect();
    let mut checker = Checker::new(&header.policy);
    for (i, r) in log.iter().enumerate() {
        checker.observe(i, r);
    }
    let verdict = checker.finish();
    report.audit_records = log.len();
    report.consent_violations = verdict.violations.len();
    for v in &verdict.violations {
        *report.violations_by_rule.entry(v.rule.to_string()).or_default() += 1;
    }
    Ok((report, log))
}
