//! Queueing formulas beside every simulated configuration: Erlang C for M/M/c and the usual
//! M/D/c approximation (half the M/M/c wait: Cosmetatos' first-order rule), per lane group.

use gatelab_scenario::Scenario;

/// Erlang C: probability that an arrival waits, for c servers at offered load a = λ/μ (< c).
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let c_f = f64::from(c);
    if a <= 0.0 {
        return 0.0;
    }
    if a >= c_f {
        return 1.0;
    }
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / c_f / (1.0 - a / c_f);
    last / (sum + last)
}

/// Mean and 95th percentile of the wait in queue for M/M/c; None when unstable (ρ ≥ 1).
pub fn mmc_wait(c: u32, lambda: f64, mean_service_s: f64) -> Option<(f64, f64)> {
    let mu = 1.0 / mean_service_s;
    let capacity = f64::from(c) * mu;
    if lambda >= capacity {
        return None;
    }
    let p_wait = erlang_c(c, lambda / mu);
    let mean = p_wait / (capacity - lambda);
    // P(W > t) = C·exp(−(cμ − λ)t).
    let p95 = if p_wait <= 0.05 { 0.0 } else { (p_wait / 0.05).ln() / (capacity - lambda) };
    Some((mean, p95))
}

/// Smallest c with the M/M/c p95 wait at or below `target_s`, trying 1..=max.
pub fn erlang_c_lanes(lambda: f64, mean_service_s: f64, target_s: f64, max: u32) -> Option<u32> {
    (1..=max).find(|&c| mmc_wait(c, lambda, mean_service_s).is_some_and(|(_, p95)| p95 <= target_s))
}

/// The analytic view of one lane group: its busiest-hour arrival rate and mean time per person.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupLoad {
    pub gate: String,
    pub direction: String,
    pub lanes: u32,
    pub arrivals_per_hour: f64,
    pub mean_service_s: f64,
}

/// Estimate each lane group's load from the scenario (busiest hour of the profile).
pub fn loads(scenario: &Scenario) -> Vec<GroupLoad> {
    let p = &scenario.population;
    let residents = f64::from(scenario.residents());
    let s = &scenario.service;
    let start_h = scenario.start_min() / 60;
    let end_h = (scenario.start_min() + scenario.run.duration_min).div_ceil(60);
    let in_window = |h: u8| u32::from(h) >= start_h && u32::from(h) < end_h;
    let peak = |pick: fn(&(u8, f64, f64)) -> f64| {
        scenario.demand.profile.iter().filter(|r| in_window(r.0)).map(pick).fold(0.0, f64::max)
    };
    // Who uses which credential at a lane: enrolled residents their face (if the lane has a
    // camera), the others a card; food couriers their ID. Crossing the door adds about a second.
    const PASS_S: f64 = 1.0;
    let face_share = 1.0 - p.opt_out_share;
    let mut out = Vec::new();
    for g in &scenario.gates {
        let camera = g.terminal == gatelab_scenario::TerminalKind::FaceAndCard;
        let resident_service = if camera { face_share * s.face_s + (1.0 - face_share) * s.card_s } else { s.card_s };
        type Pick = fn(&gatelab_scenario::DemandRow) -> f64;
        for (direction, lanes, rate, pick) in [
            ("out", g.lanes_out, peak(|r| r.1), (|r| r.outbound) as Pick),
            ("in", g.lanes_in, peak(|r| r.2), |r| r.inbound),
        ] {
            if lanes == 0 {
                continue;
            }
            let residents_per_hour = if scenario.demand.rows.is_empty() {
                residents * rate * g.share
            } else {
                peak_of_rows(scenario, &g.name, g.share, pick)
            };
            let (mut lambda, mut work) = (residents_per_hour, residents_per_hour * resident_service);
            if direction == "in" {
                let food = p.food_couriers_per_hour * g.share;
                let fixed = p.couriers_per_hour * p.couriers_with_card_share * g.share;
                lambda += food + fixed;
                work += food * s.id_card_s + fixed * s.id_card_s;
            }
            let mean_service_s = if lambda > 0.0 { work / lambda + PASS_S } else { s.card_s + PASS_S };
            out.push(GroupLoad {
                gate: g.name.clone(),
                direction: direction.to_string(),
                lanes,
                arrivals_per_hour: lambda,
                mean_service_s,
            });
        }
    }
    out
}

/// The busiest moment of `demand.rows` in the window at gate `gate`: its own rows plus its share
/// of the compound's, trips per hour.
fn peak_of_rows(scenario: &Scenario, gate: &str, share: f64, pick: fn(&gatelab_scenario::DemandRow) -> f64) -> f64 {
    let rows = &scenario.demand.rows;
    let (w0, w1) = (scenario.start_min(), scenario.start_min() + scenario.run.duration_min);
    let at = |t: u32| -> f64 {
        rows.iter()
            .filter(|r| {
                let (a, b) = r.span_min();
                a <= t && t < b
            })
            .map(|r| match &r.gate {
                None => pick(r) * share,
                Some(g) if g == gate => pick(r),
                Some(_) => 0.0,
            })
            .sum()
    };
    rows.iter().map(|r| r.span_min()).filter(|&(a, b)| a < w1 && b > w0).map(|(a, _)| at(a.max(w0))).fold(0.0, f64::max)
}

/// The analytic p95 wait of a deployment: the worst lane group, M/M/c and M/D/c (≈ half).
/// None if some group is overloaded (ρ ≥ 1).
pub fn estimate(scenario: &Scenario) -> (Option<f64>, Option<f64>) {
    let mut worst: Option<f64> = Some(0.0);
    for g in loads(scenario) {
        match mmc_wait(g.lanes, g.arrivals_per_hour / 3600.0, g.mean_service_s) {
            Some((_, p95)) => worst = worst.map(|w| w.max(p95)),
            None => worst = None,
        }
    }
    (worst, worst.map(|w| w / 2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        // M/M/1, λ = 0.035, μ = 0.05: Wq = 46.67 s.
        let (mean, _) = mmc_wait(1, 0.035, 20.0).unwrap();
        assert!((mean - 46.6667).abs() < 1e-3);
        // M/M/2, a = 1.4: C = 0.5765.
        assert!((erlang_c(2, 1.4) - 0.576_47).abs() < 1e-4);
        assert!(mmc_wait(1, 0.06, 20.0).is_none(), "ρ = 1.2 is unstable");
        // p95 with 2 lanes 81.5 s, with 3 lanes 17.5 s.
        assert_eq!(erlang_c_lanes(0.07, 20.0, 30.0, 8), Some(3));
    }
}
