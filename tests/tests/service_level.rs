//! The queue area's level of service and spill-back, measured on the simulation's own queue:
//! one lane serving a card every 10 s in front of a queue area 3 m deep. People in a lane's
//! queue stand [`QUEUE_SPACING_M`] apart from the terminal spot outwards, so a full area holds
//! a known number of them, and a queue longer than that must be reported as spilling back by
//! how far its last place reaches. (Fruin's levels themselves are tested in gatelab-walk.)

use gatelab_scenario::Scenario;
use gatelab_sim::QueuingLevel;
use gatelab_sim::engine::model::{CHANNEL_HALF_LENGTH_M, QUEUE_SPACING_M, TERMINAL_OFFSET_M};
use gatelab_sim::run::replication_seed;
use gatelab_sim::stats::stat;

const DEPTH_M: f64 = 3.0;
const LANE_WIDTH_M: f64 = 0.9;

/// One outbound card lane with deterministic 10-s service, `per_hour` people leaving.
fn one_lane(per_hour: f64) -> Scenario {
    let rate = per_hour / 1000.0;
    Scenario::parse(&format!(
        r#"
name = "queue-area"
description = "one lane in front of a 3 m queue area"
[run]
start = "07:00"
duration_min = 40
dt_s = 0.1
seed = 3
replications = 1
[population]
households = 1000
owners = 1000
renters = 0
opt_out_share = 1.0
[[gates]]
name = "gate"
lanes_in = 0
lanes_out = 1
terminal = "card_only"
door_open_s = 3.0
lane_width_m = {LANE_WIDTH_M}
walk_distance_m = 15.0
share = 1.0
queue_area_depth_m = {DEPTH_M}
[demand]
profile = [[7, {rate}, 0.0]]
[behaviour]
walk_speed_mean = 1.34
walk_speed_sd = 0.26
tailgating_propensity = 0.0
face_retries = 0
[service]
card_s = 10.0
distribution = "deterministic"
[policy]
name = "compliant"
"#
    ))
    .unwrap_or_else(|e| panic!("test scenario: {e}"))
}

fn areas(scenario: &Scenario, replications: u32) -> Vec<gatelab_sim::figures::QueueAreaFigures> {
    (0..replications)
        .map(|r| {
            let rep = gatelab_sim::engine::simulate(scenario, replication_seed(11, r), false, &|_| {})
                .unwrap_or_else(|e| panic!("{e:#}"));
            let gate = &rep.gates[0];
            assert!(gate.inbound_queue_area.area_m2.is_nan(), "no inbound lanes: nothing measured");
            gate.outbound_queue_area
        })
        .collect()
}

#[test]
fn a_saturated_lane_fills_its_queue_area_at_the_queue_spacing_and_spills_back() {
    // 540 an hour against 360 served: the queue grows by about 3 a minute.
    let figures = areas(&one_lane(540.0), 3);
    let area_m2 = (LANE_WIDTH_M + 2.0) * DEPTH_M;
    // Queue places inside the area: distances TERMINAL_OFFSET + k·spacing between the cabinet
    // end and the far edge.
    let (near, far) = (f64::from(CHANNEL_HALF_LENGTH_M), f64::from(CHANNEL_HALF_LENGTH_M) + DEPTH_M);
    let places = (1..100)
        .map(|k| f64::from(TERMINAL_OFFSET_M) + k as f64 * f64::from(QUEUE_SPACING_M))
        .filter(|d| (near..=far).contains(d))
        .count() as f64;
    let expected = places / area_m2;
    let density = stat(figures.iter().map(|f| f.density_worst_15_min_per_m2));
    eprintln!(
        "saturated: {places} places, expected {expected:.3} /m², measured {:.3} {:?}",
        density.mean, density.ci95
    );
    // People stepping up between places and walkers crossing to the back of the queue move the
    // count by a person or so either way: ±25 %.
    assert!(
        (0.75 * expected..=1.25 * expected).contains(&density.mean),
        "busiest 15 minutes {:.3} /m², a full area holds {expected:.3}",
        density.mean
    );
    assert_eq!(QueuingLevel::of_density(density.mean), QueuingLevel::A, "one file in a 2.9 m wide area");
    for f in &figures {
        assert!((f.area_m2 - area_m2).abs() < 1e-5, "{} m²", f.area_m2);
        // 3 more a minute: the 4 to 5 places beyond the area fill within a few minutes.
        assert!(f.spill_back_first_min < 10.0, "{f:?}");
        // When the window closes about 120 people wait: their last place is tens of metres out.
        assert!(f.spill_back_longest_m > 10.0, "{f:?}");
        assert!(f.spill_back_minutes > 20.0, "{f:?}");
    }
}

#[test]
fn a_lane_with_spare_capacity_never_spills_back() {
    // 90 an hour against 360 served: rarely more than one waits.
    let figures = areas(&one_lane(90.0), 3);
    for f in &figures {
        assert!(f.spill_back_first_min.is_nan() && f.spill_back_longest_m == 0.0, "{f:?}");
        assert!(f.density_worst_15_min_per_m2 < 0.15, "{f:?}");
        assert_eq!(f.minutes_at_d_or_worse, 0.0);
    }
}
