//! Before anyone trusts the crowd, the queue must be right: with walking switched off, Poisson
//! arrivals and exponential service at a shared queue, the simulation is an M/M/c queue and its
//! mean wait must match Erlang C; with deterministic service and one lane it must match M/D/1
//! (Pollaczek–Khinchine). FIGURES.md, "Queueing".

use gatelab_scenario::Scenario;
use gatelab_sim::run::replication_seed;
use gatelab_sim::stats::stat;
use gatelab_tests::queue_scenario;

/// Erlang C mean wait in queue for M/M/c: C(c, a) / (cμ − λ).
fn erlang_c_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let p_wait = last / (sum + last);
    p_wait / (f64::from(c) * mu - lambda)
}

/// Mean waits of `replications` independent runs.
fn mean_waits(scenario: &Scenario, seed: u64, replications: u32) -> Vec<f64> {
    (0..replications)
        .map(|r| {
            let rep = gatelab_sim::engine::simulate(scenario, replication_seed(seed, r), false, &|_| {})
                .unwrap_or_else(|e| panic!("{e:#}"));
            assert_eq!(rep.figures.consent_violations, 0.0);
            assert_eq!(rep.figures.unserved_at_end, 0.0, "everyone is served in the drain time");
            rep.figures.wait_s.mean
        })
        .collect()
}

fn check_within_interval(label: &str, waits: Vec<f64>, theory: f64) {
    let s = stat(waits);
    eprintln!("{label}: theory {theory:.2}, sim {:.2} {:?}", s.mean, s.ci95);
    let [lo, hi] = s.ci95.unwrap_or_else(|| panic!("{label}: need several replications"));
    assert!(
        lo <= theory && theory <= hi,
        "{label}: theory {theory:.2} s outside the simulation's 95% interval [{lo:.2}, {hi:.2}] (mean {:.2})",
        s.mean
    );
    // An interval so wide that anything fits would make this test meaningless.
    assert!(hi - lo < 0.5 * theory, "{label}: interval [{lo:.2}, {hi:.2}] too wide to say anything");
}

#[test]
fn mmc_mean_wait_matches_erlang_c_for_1_2_and_4_lanes() {
    let mean_s = 20.0;
    let mu = 1.0 / mean_s;
    for lanes in [1u32, 2, 4] {
        // Utilisation 0.5 per lane: waits heavy-tailed enough at 0.7 that a t interval
        // over 40 replications under-covers.
        let lambda = 0.5 * f64::from(lanes) * mu;
        let scenario = queue_scenario(lanes, lambda * 3600.0, mean_s, "exponential", 16);
        let theory = erlang_c_wait(lanes, lambda, mu);
        check_within_interval(&format!("M/M/{lanes}"), mean_waits(&scenario, 1000 + u64::from(lanes), 60), theory);
    }
}

#[test]
fn md1_mean_wait_matches_pollaczek_khinchine() {
    let mean_s = 20.0;
    let rho = 0.5;
    let lambda = rho / mean_s;
    let scenario = queue_scenario(1, lambda * 3600.0, mean_s, "deterministic", 16);
    let theory = rho * mean_s / (2.0 * (1.0 - rho));
    check_within_interval("M/D/1", mean_waits(&scenario, 2000, 60), theory);
}

#[test]
fn erlang_c_helper_matches_a_textbook_value() {
    // M/M/1: Wq = ρ/(μ − λ); λ = 0.035, μ = 0.05 → 46.67 s.
    assert!((erlang_c_wait(1, 0.035, 0.05) - 46.666_666).abs() < 1e-3);
    // M/M/2 with a = 1.4: C = 0.5765, Wq = C/(2μ − λ) = 0.5765/0.03 = 19.22 s.
    assert!((erlang_c_wait(2, 0.07, 0.05) - 19.215_686).abs() < 1e-3);
}
