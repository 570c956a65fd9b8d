//! The scenario fragment: `[demand] rows`, `[service]` means and coefficients of variation per
//! credential kind with the fitted family, and the `[population]` shares the log supports —
//! each value with a comment saying how it was estimated and from how many events. A scenario
//! includes it with `include = ["FILE"]`. Counts and rates only: nothing per person.

use std::fmt::Write as _;

use crate::analyse::{Calibration, Reconstruction, Row};
use crate::event::{Credential, ServiceKind};
use crate::fit::{Family, ks_critical_5pct};

fn hhmm(min: u32) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn row_comment(r: &Row) -> String {
    let mut c = format!("served {:.0} out, {:.0} in", r.served_out, r.served_in);
    for (dir, flag, rate) in [("out", r.saturated_out, r.outbound), ("in", r.saturated_in, r.inbound)] {
        let arrivals = rate * f64::from(r.minutes) / 60.0;
        match flag {
            Some(Reconstruction::Waits) => {
                let _ = write!(c, "; SATURATED {dir}: {arrivals:.1} arrivals reconstructed from the log's waits");
            }
            Some(Reconstruction::Backlog) => {
                let _ = write!(c, "; SATURATED {dir}: {arrivals:.1} arrivals, backlog estimate (no waits in the log)");
            }
            None => {}
        }
    }
    c
}

/// The fragment's TOML text.
pub fn write(cal: &Calibration) -> String {
    let o = &cal.options;
    let mut t = String::new();
    let _ =
        writeln!(t, "# A scenario fragment written by `gatelab calibrate` (gatelab {}).", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(
        t,
        "# From {} ({} events over {} day(s)); {} rows skipped.",
        cal.files.join(", "),
        cal.events,
        cal.days,
        cal.issues.total()
    );
    let _ = writeln!(
        t,
        "# Include it at the top of a scenario: include = [\"<this file, relative to the scenario>\"], and leave\n\
         # out the keys it sets. Person ids only joined retries: nothing per person is written here."
    );
    t.push('\n');
    t.push_str("[demand]\n");
    let _ = writeln!(
        t,
        "# Residents' arrivals per hour at each gate, per {} minutes, mean over {} day(s): counted once per\n\
         # arrival (attempts by one person within {} s are one arrival), at the first attempt — or, with\n\
         # waits in the log, at the time the person joined the queue.",
        o.resolution_min, cal.days, o.retry_window_s
    );
    if cal.rows.iter().any(|r| r.saturated_in.is_some() || r.saturated_out.is_some()) {
        t.push_str(
            "# SATURATED rows had a queue at the lanes: served counts there are capped and late, so arrivals were\n\
             # reconstructed (from waits: exact; backlog estimate: the run's total kept, the excess over the rate\n\
             # after the run put in its first half — see gatelab-calibrate's documentation).\n",
        );
    }
    t.push_str("rows = [\n");
    for r in &cal.rows {
        let _ = writeln!(
            t,
            "    {{ start = \"{}\", minutes = {}, outbound = {:.1}, inbound = {:.1}, gate = {:?} }}, # {}",
            hhmm(r.start_min),
            r.minutes,
            r.outbound,
            r.inbound,
            r.gate,
            row_comment(r)
        );
    }
    t.push_str("]\n\n");

    t.push_str("[service]\n");
    match cal.family {
        Some((family, ln, ga)) => {
            let _ = writeln!(
                t,
                "distribution = \"{}\" # by AIC over the kinds fitted (both families have 2 parameters): log-likelihood lognormal {:.1}, gamma {:.1}",
                family.as_str(),
                ln,
                ga
            );
            let _ = writeln!(
                t,
                "# Service times are headways between attempts of one lane while it was saturated ({}), by\n\
                 # the later attempt's credential; the fit is by maximum likelihood.",
                if cal.queue_signal {
                    "the next person had waited, or retried at the terminal"
                } else {
                    "runs of ≥ 10 headways within 3 × the median, where the lane served at capacity"
                }
            );
            t.push_str(
                "# A headway is the lane's whole cycle (step up, transaction, walk through): in a scenario with\n\
                 # behaviour.walking = true the simulation adds its own walking on top, so these lean long there.\n",
            );
            if !cal.named_lanes {
                t.push_str("# The log names no lanes: each gate and direction was taken as one lane; with several lanes\n# per direction these headways are too short.\n");
            }
            for kind in ServiceKind::ALL {
                let Some(fitted) = cal.fit_of(kind) else {
                    let n = cal.service.iter().find(|f| f.kind == kind).map_or(0, |f| f.histogram.len());
                    let _ = writeln!(
                        t,
                        "# {}: not estimated — {n} headways of saturated lanes, at least {} needed.",
                        kind.field(),
                        crate::fit::MIN_SAMPLES
                    );
                    continue;
                };
                let f = fitted.of(family);
                let best = fitted.best().family;
                let _ = writeln!(
                    t,
                    "{} = {:.3} # mean of the {} fitted to {} {} headways; KS D = {:.3} (5 % critical {:.3}){}",
                    kind.field(),
                    f.mean,
                    family.as_str(),
                    fitted.n,
                    kind.label(),
                    f.ks,
                    ks_critical_5pct(fitted.n),
                    if best != family {
                        format!("; alone, this kind fits {} better (KS D {:.3})", best.as_str(), fitted.best().ks)
                    } else {
                        String::new()
                    }
                );
                let _ = writeln!(t, "{} = {:.3} # coefficient of variation of that fit", kind.cv_field(), f.cv);
            }
            if cal.fit_of(ServiceKind::Face).is_some() {
                t.push_str("face_decision_s = 0.0 # the measured face time already holds the terminal's decision (drop terminal_calibration)\n");
            }
        }
        None => {
            t.push_str("# No service time estimated: no lane was seen saturated long enough (at least 30 headways).\n");
        }
    }
    t.push('\n');

    let c = &cal.counts;
    let residents = c.resident_arrivals.max(1) as f64;
    t.push_str("[population]\n");
    if c.face_events > 0 {
        let _ = writeln!(
            t,
            "opt_out_share = {:.4} # resident arrivals that never tried face: {} of {} (opt-outs and the not enrolled)",
            c.no_face as f64 / residents,
            c.no_face,
            c.resident_arrivals
        );
    } else {
        t.push_str("# opt_out_share: not estimated — the log has no face attempt (card-only terminals).\n");
    }
    if c.guard_events > 0 {
        let card_users = (c.guard_only + c.card_granted).max(1);
        let _ = writeln!(
            t,
            "forget_card_share = {:.4} # of residents without face, those let in by the guard with no terminal attempt: {} of {}",
            c.guard_only as f64 / card_users as f64,
            c.guard_only,
            card_users
        );
    } else {
        t.push_str("# forget_card_share: not estimated — the log has no guard passages.\n");
    }
    t.push('\n');
    t.push_str("# Observed, for information (the scenario has no field for them):\n");
    let granted: u64 = c.granted_at_lane_by.values().sum();
    let mix: Vec<String> = Credential::ALL
        .iter()
        .filter_map(|k| {
            c.granted_at_lane_by.get(k).map(|n| format!("{} {}", k.as_str(), pct(*n as f64 / granted.max(1) as f64)))
        })
        .collect();
    let _ = writeln!(t, "# credential mix of resident arrivals granted at a lane ({granted}): {}", mix.join(", "));
    if cal.persons_seen {
        let _ = writeln!(
            t,
            "# retry rate: {} of resident arrivals needed more than one attempt ({} of {})",
            pct(c.retried as f64 / residents),
            c.retried,
            c.resident_arrivals
        );
    } else {
        t.push_str("# retry rate: not estimated — the log has no person ids.\n");
    }
    if c.other_arrivals > 0 {
        let _ = writeln!(t, "# visitors and couriers (not in the demand rows): {} arrivals", c.other_arrivals);
    }
    t
}

/// Which family the fragment uses, for callers that want it without parsing the text.
pub fn family(cal: &Calibration) -> Option<Family> {
    cal.family.map(|f| f.0)
}
